//! The LLB a frontend builds itself: one local source, so that a frontend
//! can read a file the client sent in its session (the Dockerfile), as
//! BuildKit's Dockerfile frontend reads it (`frontend/dockerui/config.go`,
//! `ReadEntrypoint`).
//!
//! A definition is a list of marshalled ops whose digest is the sha256 of
//! their bytes, then a last op with no body whose one input is the result
//! (`client/llb/marshal.go`); per-op metadata is keyed by that digest.

use std::collections::BTreeMap;

use prost::Message;

use super::proto::pb::{op, Definition, Input, Op, OpMetadata, SourceOp};
use crate::digest::Digest;

/// Source attributes (buildkit `solver/pb/attr.go`).
const ATTR_SESSION: &str = "local.session";
const ATTR_FOLLOW_PATHS: &str = "local.followpaths";
const ATTR_SHARED_KEY_HINT: &str = "local.sharedkeyhint";
/// The name progress shows for a vertex (buildkit `client/llb/meta.go`,
/// `WithCustomName`).
const CUSTOM_NAME: &str = "llb.customname";

/// A local source: the client's directory `name` in session `session`,
/// only the files `follow` names transferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub name: String,
    pub session: String,
    pub follow: Vec<String>,
    /// What progress calls the vertex.
    pub shown_as: String,
}

impl Local {
    /// The definition whose result is this directory, and the digest of its
    /// source vertex (where warnings about the files go).
    pub fn definition(&self) -> (Definition, String) {
        let mut attrs = BTreeMap::new();
        attrs.insert(ATTR_SESSION.to_string(), self.session.clone());
        attrs.insert(ATTR_SHARED_KEY_HINT.to_string(), self.name.clone());
        // A JSON array of paths, as `llb.FollowPaths` writes it.
        attrs.insert(
            ATTR_FOLLOW_PATHS.to_string(),
            serde_json::to_string(&self.follow).unwrap_or_else(|_| "[]".into()),
        );
        let source = Op {
            inputs: Vec::new(),
            op: Some(op::Op::Source(SourceOp {
                identifier: format!("local://{}", self.name),
                attrs,
            })),
        };
        let source_bytes = source.encode_to_vec();
        let digest = Digest::sha256_of(&source_bytes).to_string();
        let head = Op {
            inputs: vec![Input {
                digest: digest.clone(),
                index: 0,
            }],
            op: None,
        };
        let mut meta = OpMetadata::default();
        meta.description
            .insert(CUSTOM_NAME.to_string(), self.shown_as.clone());
        let def = Definition {
            def: vec![source_bytes, head.encode_to_vec()],
            metadata: [(digest.clone(), meta)].into_iter().collect(),
            source: None,
        };
        (def, digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::gateway::definition_head;

    fn dockerfile() -> Local {
        Local {
            name: "dockerfile".into(),
            session: "s1".into(),
            follow: vec!["Dockerfile".into(), "dockerfile".into()],
            shown_as: "[internal] load Dockerfile".into(),
        }
    }

    #[test]
    fn a_local_source_is_one_op_and_a_head_naming_it() {
        let (def, digest) = dockerfile().definition();
        assert_eq!(def.def.len(), 2);
        assert_eq!(definition_head(&def).as_deref(), Some(digest.as_str()));
        // The digest is the sha256 of the source op's bytes.
        assert_eq!(Digest::sha256_of(&def.def[0]).to_string(), digest);
        let op = Op::decode(def.def[0].as_slice()).unwrap();
        let Some(op::Op::Source(src)) = op.op else {
            panic!("not a source: {op:?}")
        };
        assert_eq!(src.identifier, "local://dockerfile");
        assert_eq!(src.attrs["local.session"], "s1");
        assert_eq!(src.attrs["local.sharedkeyhint"], "dockerfile");
        assert_eq!(
            src.attrs["local.followpaths"],
            r#"["Dockerfile","dockerfile"]"#
        );
        assert_eq!(
            def.metadata[&digest].description["llb.customname"],
            "[internal] load Dockerfile"
        );
    }

    #[test]
    fn the_same_source_is_the_same_vertex_on_every_run() {
        let a = dockerfile().definition();
        let b = dockerfile().definition();
        assert_eq!(a.1, b.1);
        assert_eq!(a.0.def, b.0.def);
        let mut other = dockerfile();
        other.session = "s2".into();
        assert_ne!(other.definition().1, a.1);
    }
}
