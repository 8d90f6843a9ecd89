//! Image references in the containers-transports style (`oci:DIR[:REF]`,
//! `oci-archive:FILE[:REF]`, `docker-archive:FILE`, `docker-daemon:NAME[:TAG]`,
//! `docker://NAME[:TAG|@DIGEST]`), or a bare path sniffed for what it holds.
//!
//! The one idea: a path may itself contain `:`, so `oci:A:B:C` is read by
//! asking the filesystem: the whole string if it exists, else the longest
//! prefix ending before a `:` that exists, with the rest as the reference.

use super::error::CheckError;
use super::registry::RegistryRef;
use super::source::{SourceError, TarSource};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where an image to check comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI image layout directory; `reference` selects one entry of its
    /// `index.json` (a `ref.name` annotation or a digest).
    OciLayout {
        dir: PathBuf,
        reference: Option<String>,
    },
    /// A tar of an OCI image layout.
    OciArchive {
        file: PathBuf,
        reference: Option<String>,
    },
    /// `docker save` output (`manifest.json`).
    DockerArchive { file: PathBuf },
    /// An image in a Docker Engine's store: `reference` is `NAME:TAG`,
    /// `NAME[:TAG]@DIGEST` or an image ID (`sha256:...`), normalised by
    /// `daemon::parse_reference`.
    DockerDaemon { reference: String },
    /// An image in a registry, normalised as docker does.
    Registry(RegistryRef),
}

/// Transports known from skopeo that archgate does not read (yet).
const UNSUPPORTED: &[&str] = &["containers-storage:", "dir:", "ostree:", "sif:"];

const FORMS: &str = "use oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE, \
                     docker-daemon:NAME[:TAG], docker://NAME[:TAG|@DIGEST], or a path";

impl ImageRef {
    /// Parse a reference as the user wrote it. Bare paths are looked at to
    /// tell a layout directory from an OCI or docker archive.
    pub fn parse(s: &str) -> Result<ImageRef, CheckError> {
        let bad = |reason: String| CheckError::BadReference {
            reference: s.to_string(),
            reason,
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, reference) =
                split_path_ref(rest, "directory", |p| p.is_dir()).map_err(bad)?;
            return Ok(ImageRef::OciLayout { dir, reference });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, reference) = split_path_ref(rest, "file", |p| p.is_file()).map_err(bad)?;
            return Ok(ImageRef::OciArchive { file, reference });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            if rest.is_empty() {
                return Err(bad("no file named".into()));
            }
            let p = Path::new(rest);
            if !p.is_file() {
                if let Some((left, _)) = rest.rsplit_once(':') {
                    if Path::new(left).is_file() {
                        return Err(bad(format!(
                            "{left} exists, but docker-archive references with :REF are not supported"
                        )));
                    }
                }
                return Err(SourceError::NotFound {
                    path: p.to_path_buf(),
                    reason: "no such file".into(),
                }
                .into());
            }
            return Ok(ImageRef::DockerArchive {
                file: p.to_path_buf(),
            });
        }
        if let Some(rest) = s.strip_prefix("docker-daemon:") {
            let reference = super::daemon::parse_reference(rest).map_err(bad)?;
            return Ok(ImageRef::DockerDaemon { reference });
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            return RegistryRef::parse(rest)
                .map(ImageRef::Registry)
                .map_err(bad);
        }
        if let Some(t) = UNSUPPORTED.iter().find(|t| s.starts_with(*t)) {
            return Err(bad(format!(
                "the {} transport is not supported yet; {FORMS}",
                t.trim_end_matches('/')
            )));
        }
        if s.is_empty() {
            return Err(bad(format!("empty; {FORMS}")));
        }
        sniff(s)
    }
}

/// Split `rest` into an existing path and an optional reference (see the
/// module comment). `exists` says whether a candidate path qualifies.
fn split_path_ref(
    rest: &str,
    noun: &str,
    exists: impl Fn(&Path) -> bool,
) -> Result<(PathBuf, Option<String>), String> {
    if rest.is_empty() || rest.starts_with(':') {
        return Err(format!("no {noun} named"));
    }
    if exists(Path::new(rest)) {
        return Ok((PathBuf::from(rest), None));
    }
    for (i, _) in rest.rmatch_indices(':') {
        let (left, r) = (&rest[..i], &rest[i + 1..]);
        if !left.is_empty() && exists(Path::new(left)) {
            if r.is_empty() {
                return Err(format!("empty reference after {left}:"));
            }
            return Ok((PathBuf::from(left), Some(r.to_string())));
        }
    }
    match rest.split_once(':') {
        Some((left, _)) => Err(format!("no such {noun}: neither {rest} nor {left} exists")),
        None => Err(format!("no such {noun}: {rest}")),
    }
}

/// A bare path: a directory with `oci-layout` (or `index.json`), or a tar
/// with `manifest.json` (docker) or `index.json`/`oci-layout` (OCI).
fn sniff(s: &str) -> Result<ImageRef, CheckError> {
    let p = Path::new(s);
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SourceError::NotFound {
                path: p.to_path_buf(),
                reason: format!("no such file or directory ({FORMS})"),
            }
            .into())
        }
        Err(e) => {
            return Err(SourceError::Io {
                path: p.to_path_buf(),
                source: e,
            }
            .into())
        }
    };
    if meta.is_dir() {
        if p.join("oci-layout").is_file() || p.join("index.json").is_file() {
            return Ok(ImageRef::OciLayout {
                dir: p.to_path_buf(),
                reference: None,
            });
        }
        return Err(SourceError::Unsupported {
            path: p.to_path_buf(),
            reason: "a directory, but not an OCI image layout (no oci-layout or index.json)".into(),
        }
        .into());
    }
    let tar = TarSource::open(p)?;
    if tar.has("manifest.json") {
        return Ok(ImageRef::DockerArchive {
            file: p.to_path_buf(),
        });
    }
    if tar.has("index.json") || tar.has("oci-layout") {
        return Ok(ImageRef::OciArchive {
            file: p.to_path_buf(),
            reference: None,
        });
    }
    Err(SourceError::Unsupported {
        path: p.to_path_buf(),
        reason: "a tar archive, but neither a docker archive (manifest.json) nor an OCI archive (index.json)"
            .into(),
    }
    .into())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_ref = |f: &mut fmt::Formatter<'_>, r: &Option<String>| match r {
            Some(r) => write!(f, ":{r}"),
            None => Ok(()),
        };
        match self {
            ImageRef::OciLayout { dir, reference } => {
                write!(f, "oci:{}", dir.display())?;
                with_ref(f, reference)
            }
            ImageRef::OciArchive { file, reference } => {
                write!(f, "oci-archive:{}", file.display())?;
                with_ref(f, reference)
            }
            ImageRef::DockerArchive { file } => write!(f, "docker-archive:{}", file.display()),
            ImageRef::DockerDaemon { reference } => write!(f, "docker-daemon:{reference}"),
            ImageRef::Registry(r) => write!(f, "docker://{r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_ref_splitting_asks_the_filesystem() {
        let t = tempfile::tempdir().unwrap();
        let plain = t.path().join("img");
        let colon = t.path().join("my:img");
        std::fs::create_dir(&plain).unwrap();
        std::fs::create_dir(&colon).unwrap();
        let (p, c) = (plain.display().to_string(), colon.display().to_string());

        let r = ImageRef::parse(&format!("oci:{p}")).unwrap();
        assert_eq!(
            r,
            ImageRef::OciLayout {
                dir: plain.clone(),
                reference: None
            }
        );
        let r = ImageRef::parse(&format!("oci:{p}:latest")).unwrap();
        assert_eq!(
            r,
            ImageRef::OciLayout {
                dir: plain.clone(),
                reference: Some("latest".into())
            }
        );
        // A reference may contain ':' itself (a digest, name:tag).
        let dg = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("oci:{p}:{dg}")).unwrap();
        assert_eq!(
            r,
            ImageRef::OciLayout {
                dir: plain.clone(),
                reference: Some(dg.clone())
            }
        );
        let r = ImageRef::parse(&format!("oci:{p}:alpine:3.19")).unwrap();
        assert_eq!(
            r,
            ImageRef::OciLayout {
                dir: plain.clone(),
                reference: Some("alpine:3.19".into())
            }
        );
        // A directory whose name holds ':' wins as a whole...
        let r = ImageRef::parse(&format!("oci:{c}")).unwrap();
        assert_eq!(
            r,
            ImageRef::OciLayout {
                dir: colon.clone(),
                reference: None
            }
        );
        // ...and with a reference after it.
        let r = ImageRef::parse(&format!("oci:{c}:v1")).unwrap();
        assert_eq!(
            r,
            ImageRef::OciLayout {
                dir: colon.clone(),
                reference: Some("v1".into())
            }
        );
        assert_eq!(r.to_string(), format!("oci:{c}:v1"));
        // Display round-trips.
        assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);

        let e = ImageRef::parse(&format!("oci:{p}/nope:latest"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("no such directory"), "{e}");
        let e = ImageRef::parse(&format!("oci:{p}:"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty reference"), "{e}");
        assert!(ImageRef::parse("oci:").is_err());
    }

    #[test]
    fn docker_daemon_references() {
        let r = ImageRef::parse("docker-daemon:alpine").unwrap();
        assert_eq!(
            r,
            ImageRef::DockerDaemon {
                reference: "alpine:latest".into()
            }
        );
        assert_eq!(r.to_string(), "docker-daemon:alpine:latest");
        assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
        let dg = format!("sha256:{}", "c".repeat(64));
        let r = ImageRef::parse(&format!("docker-daemon:reg:5000/a/b@{dg}")).unwrap();
        assert_eq!(r.to_string(), format!("docker-daemon:reg:5000/a/b@{dg}"));
        let r = ImageRef::parse(&format!("docker-daemon:{dg}")).unwrap();
        assert_eq!(r, ImageRef::DockerDaemon { reference: dg });
        let e = ImageRef::parse("docker-daemon:").unwrap_err().to_string();
        assert!(e.contains("no image named"), "{e}");
        let e = ImageRef::parse("docker-daemon:App:1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("docker-daemon:App:1") && e.contains("lowercase"),
            "{e}"
        );
    }

    #[test]
    fn docker_references_are_normalised() {
        let r = ImageRef::parse("docker://alpine").unwrap();
        assert_eq!(r.to_string(), "docker://docker.io/library/alpine:latest");
        let r = ImageRef::parse("docker://127.0.0.1:5000/a/b:v1").unwrap();
        let ImageRef::Registry(rr) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(rr.domain, "127.0.0.1:5000");
        assert_eq!(rr.repository, "a/b");
        assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
        let e = ImageRef::parse("docker://").unwrap_err().to_string();
        assert!(e.contains("no image name"), "{e}");
        let e = ImageRef::parse("docker://UPPER").unwrap_err().to_string();
        assert!(
            e.contains("docker://UPPER") && e.contains("lowercase"),
            "{e}"
        );
    }

    #[test]
    fn unsupported_and_missing() {
        let e = ImageRef::parse("containers-storage:alpine")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("containers-storage:") && e.contains("not supported"),
            "{e}"
        );
        let e = ImageRef::parse("/no/such/image").unwrap_err().to_string();
        assert!(
            e.starts_with("/no/such/image: no such file or directory"),
            "{e}"
        );
        let e = ImageRef::parse("docker-archive:/no/such.tar")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such.tar"), "{e}");
        let t = tempfile::tempdir().unwrap();
        let e = ImageRef::parse(&t.path().display().to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an OCI image layout"), "{e}");
    }
}
