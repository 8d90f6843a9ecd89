//! `--build-context NAME=oci-layout://DIR[:TAG][@DIGEST]` as buildx 0.29
//! reads it (`build/opt.go` `loadInputs` and `resolveDigest`, BuildKit's
//! `client/ociindex`): the value split at its first `@` (the digest) and
//! then at its first `:` (the tag, `latest` when none); without a digest,
//! the tag looked up in the layout's `index.json` (`io.containerd.image.name`
//! first, then `org.opencontainers.image.ref.name`), else the only manifest
//! it lists. The layout is then served read-only as the session's content
//! store `oci:ID` and the frontend is told `oci-layout://ID:TAG@DIGEST`.
//!
//! Stricter than buildx where buildx would only fail later in the daemon:
//! the directory must exist, the digest must be a digest, and the layout
//! must hold its blob.

use std::path::{Path, PathBuf};

/// An `oci-layout://` context, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciContext {
    /// The layout directory, absolute.
    pub dir: PathBuf,
    pub tag: String,
    /// The manifest or index the context is, `ALG:HEX`.
    pub digest: String,
}

/// The largest `index.json` read.
const MAX_INDEX: u64 = 16 << 20;

const IMAGE_NAME: &str = "io.containerd.image.name";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Resolve `rest`, what follows `oci-layout://`; relative directories are
/// taken from the current directory. The error is the reason only.
pub fn resolve(rest: &str) -> Result<OciContext, String> {
    let (path, digest) = match rest.split_once('@') {
        Some((p, d)) => (p, Some(d)),
        None => (rest, None),
    };
    let (path, tag) = path.split_once(':').unwrap_or((path, "latest"));
    if path.is_empty() {
        return Err("expected oci-layout://DIR[:TAG][@DIGEST]".into());
    }
    if !valid_tag(tag) {
        return Err(format!(
            "invalid tag {tag:?} (a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -)"
        ));
    }
    let dir = std::path::absolute(path).map_err(|e| format!("{path}: {e}"))?;
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{}: not a directory", dir.display())),
        Err(e) => return Err(format!("OCI layout {}: {e}", dir.display())),
    }
    let digest = match digest {
        Some(d) => d.to_string(),
        None => resolve_tag(&dir, tag)?,
    };
    let parsed = crate::digest::Digest::parse(&digest)
        .ok_or_else(|| format!("invalid digest {digest:?}"))?;
    let blob = dir
        .join("blobs")
        .join(parsed.algorithm().name())
        .join(parsed.hex());
    match std::fs::metadata(&blob) {
        Ok(m) if m.is_file() => {}
        _ => {
            return Err(format!(
                "the OCI layout {} has no blob {digest}",
                dir.display()
            ))
        }
    }
    Ok(OciContext {
        dir,
        tag: tag.to_string(),
        digest,
    })
}

/// A tag as the reference grammar has it: `[\w][\w.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// The digest `tag` names in `dir/index.json`, as `ociindex`'s `Get` then
/// `GetSingle` find it.
fn resolve_tag(dir: &Path, tag: &str) -> Result<String, String> {
    let path = dir.join("index.json");
    let text = super::read_regular(&path, MAX_INDEX)?;
    let index: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: not JSON ({e})", path.display()))?;
    let manifests = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let named = |key: &str| {
        manifests.iter().find(|m| {
            m.pointer(&format!("/annotations/{}", key.replace('/', "~1")))
                == Some(&serde_json::json!(tag))
        })
    };
    let found = named(IMAGE_NAME)
        .or_else(|| named(REF_NAME))
        .or(match manifests {
            [only] => Some(only),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "no manifest tagged {tag:?} in {} (it lists {})",
                path.display(),
                manifests.len()
            )
        })?;
    found
        .get("digest")
        .and_then(|d| d.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{}: a manifest without a digest", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest_of(b: &[u8]) -> String {
        crate::digest::Digest::sha256_of(b).to_string()
    }

    /// A layout with one blob per entry of `manifests` (annotations), and
    /// their digests.
    fn layout(dir: &Path, manifests: &[serde_json::Value]) -> Vec<String> {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let mut digests = Vec::new();
        let mut entries = Vec::new();
        for (i, ann) in manifests.iter().enumerate() {
            let body = format!("{{\"n\":{i}}}");
            let d = digest_of(body.as_bytes());
            std::fs::write(blobs.join(&d[7..]), &body).unwrap();
            entries.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": body.len(), "annotations": ann}));
            digests.push(d);
        }
        std::fs::write(
            dir.join("index.json"),
            json!({"schemaVersion": 2, "manifests": entries}).to_string(),
        )
        .unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        digests
    }

    #[test]
    fn a_tag_is_found_by_image_name_then_ref_name_else_the_only_manifest() {
        let t = tempfile::tempdir().unwrap();
        let d = layout(
            t.path(),
            &[
                json!({REF_NAME: "v1"}),
                json!({REF_NAME: "v2"}),
                json!({IMAGE_NAME: "v1"}),
            ],
        );
        let p = t.path().display().to_string();
        let r = resolve(&format!("{p}:v1")).unwrap();
        assert_eq!((r.dir.as_path(), r.tag.as_str()), (t.path(), "v1"));
        assert_eq!(r.digest, d[2], "io.containerd.image.name wins");
        assert_eq!(resolve(&format!("{p}:v2")).unwrap().digest, d[1]);
        // No tag is `latest`; three manifests and none is latest.
        let e = resolve(&p).unwrap_err();
        assert!(
            e.contains("no manifest tagged \"latest\"") && e.contains("lists 3"),
            "{e}"
        );
        // A digest pins it, whatever the tag; it must be in the layout.
        let r = resolve(&format!("{p}:v2@{}", d[0])).unwrap();
        assert_eq!((r.tag.as_str(), r.digest.as_str()), ("v2", d[0].as_str()));
        assert_eq!(resolve(&format!("{p}@{}", d[0])).unwrap().tag, "latest");
        let missing = digest_of(b"missing");
        let e = resolve(&format!("{p}@{missing}")).unwrap_err();
        assert!(e.contains(&format!("has no blob {missing}")), "{e}");
        assert!(resolve(&format!("{p}@sha256:abc"))
            .unwrap_err()
            .contains("invalid digest"));

        // One manifest: it, whatever the tag asked (as buildx).
        let one = tempfile::tempdir().unwrap();
        let d1 = layout(one.path(), &[json!({})]);
        let p1 = one.path().display().to_string();
        assert_eq!(resolve(&p1).unwrap().digest, d1[0]);
        assert_eq!(resolve(&format!("{p1}:other")).unwrap().digest, d1[0]);
    }

    #[test]
    fn a_missing_layout_or_index_or_a_bad_tag_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let e = resolve(&t.path().join("nope").display().to_string()).unwrap_err();
        assert!(e.contains("OCI layout") && e.contains("nope"), "{e}");
        let e = resolve(&t.path().display().to_string()).unwrap_err();
        assert!(e.contains("index.json"), "{e}");
        std::fs::write(t.path().join("index.json"), "{").unwrap();
        let e = resolve(&t.path().display().to_string()).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = resolve(&format!("{}:-x", t.path().display())).unwrap_err();
        assert!(e.contains("invalid tag"), "{e}");
        assert!(resolve(":v1").is_err());
    }
}
