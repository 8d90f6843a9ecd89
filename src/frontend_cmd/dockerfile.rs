//! The Dockerfile the build was started for, read by the frontend itself
//! through the gateway: a local source of the client's `dockerfile`
//! directory in the client's session, then `ReadFile`, as BuildKit's
//! Dockerfile frontend reads it (`frontend/dockerui/config.go`,
//! `ReadEntrypoint`; option names in `frontend/dockerui/attr.go` and
//! `context.go`). archgate lints it and names its lines; when it cannot be
//! read (a remote context, a Dockerfile given as an input), the build goes
//! on without them.

use std::collections::{BTreeMap, HashMap};

use crate::buildkit::gateway::{Gateway, SourceAt};
use crate::buildkit::llb::Local;
use crate::buildkit::proto::gateway::{self as gw, result::Result as ResultArm};
use crate::buildkit::proto::pb::SourceInfo;

/// Frontend options naming the Dockerfile.
const OPT_FILENAME: &str = "filename";
const OPT_DOCKERFILE_KEY: &str = "dockerfilekey";
const OPT_CONTEXT: &str = "context";
const OPT_LOCAL_SESSION: &str = "local-sessionid:";
const DEFAULT_KEY: &str = "dockerfile";
const DEFAULT_NAME: &str = "Dockerfile";
/// The session the client's directories are served on (the daemon sets it
/// for a frontend it starts: `frontend/gateway/gateway.go`).
pub const SESSION_ENV: &str = "BUILDKIT_SESSION_ID";
/// Larger Dockerfiles are not read (BuildKit's own parser reads any size;
/// the lines are a courtesy, not worth a message past gRPC's limits).
const MAX_DOCKERFILE: usize = 2 << 20;

/// A Dockerfile as the build's client sent it.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// Its name as the client gave it (`filename`).
    pub name: String,
    pub text: String,
    /// The vertex that read it (warnings about its lines go there) and the
    /// source info a warning carries.
    pub vertex: String,
    pub info: SourceInfo,
}

impl Dockerfile {
    /// Where a warning about lines `start..=end` points.
    pub fn at(&self, start: u32, end: u32) -> SourceAt {
        SourceAt {
            info: self.info.clone(),
            lines: vec![(start, end)],
        }
    }
}

/// Where the Dockerfile is, from the build's options: its local name, its
/// file name and the session serving it; `None` when it does not come from
/// the client's session.
pub fn locate(
    opts: &BTreeMap<String, String>,
    inputs: &HashMap<String, Vec<u8>>,
    session: Option<&str>,
) -> Option<Local> {
    let key = opts
        .get(OPT_DOCKERFILE_KEY)
        .filter(|k| !k.is_empty())
        .map_or(DEFAULT_KEY, String::as_str);
    // Given as an input (bake, a named context), or with a remote context
    // (git, https): the Dockerfile is not in the session.
    if inputs.contains_key(key) {
        return None;
    }
    if opts
        .get(OPT_CONTEXT)
        .is_some_and(|c| c.contains("://") || c.starts_with("git@"))
    {
        return None;
    }
    let session = opts
        .get(&format!("{OPT_LOCAL_SESSION}{key}"))
        .map(String::as_str)
        .or(session)
        .filter(|s| !s.is_empty())?;
    let name = opts
        .get(OPT_FILENAME)
        .filter(|f| !f.is_empty())
        .map_or(DEFAULT_NAME, String::as_str);
    let mut follow = vec![name.to_string()];
    // `dockerfile` is read when `Dockerfile` is missing (moby/moby#10858).
    if let Some(lower) = lowercase_variant(name) {
        follow.push(lower);
    }
    Some(Local {
        name: key.to_string(),
        session: session.to_string(),
        follow,
        shown_as: format!("[archgate] load {name}"),
    })
}

/// `dir/dockerfile` for `dir/Dockerfile`.
fn lowercase_variant(name: &str) -> Option<String> {
    let (dir, base) = match name.rsplit_once('/') {
        Some((d, b)) => (Some(d), b),
        None => (None, name),
    };
    (base == DEFAULT_NAME).then(|| match dir {
        Some(d) => format!("{d}/dockerfile"),
        None => "dockerfile".to_string(),
    })
}

/// Read the Dockerfile `local` names. `Err` says why it could not be read
/// (logged by the caller; the build goes on).
pub async fn read(gw: &Gateway, local: &Local) -> Result<Dockerfile, String> {
    let (def, vertex) = local.definition();
    let res = gw
        .solve(gw::SolveRequest {
            definition: Some(def.clone()),
            allow_result_return: true,
            allow_result_array_ref: true,
            ..Default::default()
        })
        .await
        .map_err(|s| format!("loading {}: {}", local.name, s.message()))?;
    let id = match res.result.and_then(|r| r.result) {
        Some(ResultArm::Ref(r)) => r.id,
        Some(ResultArm::RefDeprecated(id)) => id,
        _ => return Err(format!("loading {}: no result", local.name)),
    };
    let mut last = String::new();
    for name in &local.follow {
        match gw.read_file(&id, name, MAX_DOCKERFILE).await {
            Ok(Some(data)) => {
                let text = String::from_utf8_lossy(&data).into_owned();
                return Ok(Dockerfile {
                    name: local.follow[0].clone(),
                    text,
                    vertex,
                    info: SourceInfo {
                        filename: local.follow[0].clone(),
                        data,
                        definition: Some(def),
                        language: "Dockerfile".into(),
                    },
                });
            }
            Ok(None) => return Err(format!("{name} is larger than {MAX_DOCKERFILE} bytes")),
            Err(s) => last = format!("reading {name}: {}", s.message()),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_dockerfile_is_where_the_dockerfile_frontend_looks() {
        let none = HashMap::new();
        let l = locate(&opts(&[]), &none, Some("sess")).unwrap();
        assert_eq!(l.name, "dockerfile");
        assert_eq!(l.session, "sess");
        assert_eq!(l.follow, ["Dockerfile", "dockerfile"]);
        let l = locate(
            &opts(&[
                ("filename", "build/app.Dockerfile"),
                ("dockerfilekey", "df"),
            ]),
            &none,
            Some("sess"),
        )
        .unwrap();
        assert_eq!(
            (l.name.as_str(), l.follow.as_slice()),
            ("df", &["build/app.Dockerfile".to_string()][..])
        );
        let l = locate(&opts(&[("filename", "sub/Dockerfile")]), &none, Some("s")).unwrap();
        assert_eq!(l.follow, ["sub/Dockerfile", "sub/dockerfile"]);
        // buildx names a session per local directory.
        let l = locate(
            &opts(&[("local-sessionid:dockerfile", "other")]),
            &none,
            Some("sess"),
        )
        .unwrap();
        assert_eq!(l.session, "other");
    }

    #[test]
    fn a_dockerfile_not_in_the_session_is_not_looked_for() {
        let none = HashMap::new();
        assert!(locate(&opts(&[]), &none, None).is_none());
        assert!(locate(&opts(&[]), &none, Some("")).is_none());
        for ctx in ["https://github.com/o/r.git#main", "git@github.com:o/r.git"] {
            assert!(locate(&opts(&[("context", ctx)]), &none, Some("s")).is_none());
        }
        let input: HashMap<String, Vec<u8>> = [("dockerfile".to_string(), vec![1])].into();
        assert!(locate(&opts(&[]), &input, Some("s")).is_none());
    }
}
