//! `docker-daemon:` images: exported from a Docker Engine's image store
//! through its API (`GET /images/NAME/get` on `DOCKER_HOST`) and checked
//! exactly like an image archive on disk.
//!
//! The one idea: the export is a tar stream whose index comes last (Docker
//! 20.10 writes `manifest.json` after every layer; Docker 26's containerd
//! store writes `index.json` and `manifest.json` after the blobs), so nothing
//! can be decided while it streams, and a tar stream cannot be seeked back.
//! The export is therefore spooled to an unnamed temporary file (created and
//! unlinked at once, so nothing is left behind even if archgate is killed)
//! and read in place by the same `TarSource`, OCI and docker-archive readers
//! that read `oci-archive:` and `docker-archive:` files: every digest is
//! verified the same way, and nothing of it is held in memory.
//!
//! A multi-platform image in the containerd store usually holds content for
//! only some of its platforms (a pull fetches one); Docker 26 exports the
//! whole index anyway, leaving out the blobs it does not have. Those
//! platforms are skipped (`DaemonImage::skipped`), not failed. (Docker 26.1
//! refuses the export altogether when the missing platform is its own; that
//! refusal is passed on with a hint.)

use super::digest::Digest;
use super::oci::{self, WalkError};
use super::source::{BlobKey, BlobSource, SourceError, TarSource};
use super::{docker, PlatformImage};
use crate::docker::{current_engine, Engine, EngineError, EngineHost, Environment, ExportError};
use crate::inspect::Platform;
use crate::reference::Reference;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Why an image could not be exported from the engine. `reference` is what
/// was asked for (`NAME:TAG`, `NAME@DIGEST` or an image ID).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("docker-daemon:{reference}: cannot tell which docker engine to ask: {reason}")]
    Host { reference: String, reason: String },

    #[error("docker-daemon:{reference}: cannot reach the docker engine at {host}: {reason}")]
    Unreachable {
        reference: String,
        host: String,
        reason: String,
    },

    /// The engine refused (404 for an unknown name), quoting its message.
    #[error("docker-daemon:{reference}: the docker engine at {host} answered {status}: {message}")]
    Engine {
        reference: String,
        host: String,
        status: u16,
        message: String,
    },

    /// The export broke off or is not a readable image archive.
    #[error("docker-daemon:{reference}: exporting from the docker engine at {host}: {reason}")]
    Export {
        reference: String,
        host: String,
        reason: String,
    },

    /// The spooled export is not a tar archive archgate can read.
    #[error("docker-daemon:{reference}: exporting from the docker engine at {host}: the export is not a readable image archive: {source}")]
    Archive {
        reference: String,
        host: String,
        #[source]
        source: SourceError,
    },

    #[error("docker-daemon:{reference}: spooling the export in {}: {source}", dir.display())]
    Spool {
        reference: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "docker-daemon:{reference}: the docker engine holds no complete platform of this image ({})",
        skipped_list(skipped)
    )]
    NothingComplete {
        reference: String,
        skipped: Vec<Skipped>,
    },

    /// The export's index, manifests, configs or blobs (named
    /// `docker-daemon:REFERENCE`) could not be walked.
    #[error(transparent)]
    Walk(#[from] WalkError),
}

fn skipped_list(s: &[Skipped]) -> String {
    s.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A platform of the image that the engine's store has no complete content
/// for (normal for a pulled multi-platform image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// From the index descriptor, when it names one.
    pub platform: Option<Platform>,
    /// The platform manifest's digest.
    pub digest: String,
    /// What is missing, e.g. `manifest not in the engine's store`.
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.platform {
            Some(p) => write!(f, "{p} ({}): {}", self.digest, self.reason),
            None => write!(f, "{}: {}", self.digest, self.reason),
        }
    }
}

/// What an export holds: the platforms to check, and those skipped.
#[derive(Debug)]
pub struct DaemonImage {
    pub images: Vec<PlatformImage>,
    pub skipped: Vec<Skipped>,
}

// ---------------------------------------------------------------------------
// References

/// Normalise what follows `docker-daemon:`: `NAME[:TAG]` (`:latest` added,
/// as skopeo does: the engine would export every tag of a bare repository),
/// `NAME[:TAG]@DIGEST`, or an image ID (`sha256:<64 hex>`, or the 64 hex
/// digits alone). Names follow docker's grammar (`crate::reference`) and
/// are passed on as written: the engine normalises them itself.
pub fn parse_reference(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("no image named; use docker-daemon:NAME[:TAG]".into());
    }
    if s.starts_with("sha256:") {
        return Digest::parse(s)
            .map(|d| d.to_string())
            .ok_or_else(|| format!("{s} is not an image ID (sha256:<64 lowercase hex digits>)"));
    }
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Ok(format!("sha256:{s}"));
    }
    let r = Reference::parse(s)?;
    Ok(if r.tag.is_none() && r.digest.is_none() {
        format!("{s}:latest")
    } else {
        s.to_string()
    })
}

// ---------------------------------------------------------------------------
// Opening

/// Export `reference` (from `parse_reference`) from the engine the docker
/// CLI would use (`DOCKER_HOST`, the current docker context, else the
/// default socket) and open every platform it holds.
pub fn open(reference: &str) -> Result<DaemonImage, DaemonError> {
    let env = Environment::from_process();
    let host = current_engine(&env).map_err(|e| DaemonError::Host {
        reference: reference.to_string(),
        reason: e.to_string(),
    })?;
    open_on(&host, reference)
}

/// `open` on a given engine.
pub fn open_on(host: &EngineHost, reference: &str) -> Result<DaemonImage, DaemonError> {
    let dir = std::env::temp_dir();
    let mut file = spool_file(&dir).map_err(|source| DaemonError::Spool {
        reference: reference.to_string(),
        dir: dir.clone(),
        source,
    })?;
    let fail = |f: ExportError| -> DaemonError {
        let (reference, host) = (reference.to_string(), host.to_string());
        match f {
            ExportError::Unreachable(reason) => DaemonError::Unreachable {
                reference,
                host,
                reason,
            },
            ExportError::Engine { status, message } => DaemonError::Engine {
                reference,
                host,
                status,
                message,
            },
            ExportError::Stream(reason) => DaemonError::Export {
                reference,
                host,
                reason,
            },
            ExportError::Spool(source) => DaemonError::Spool {
                reference,
                dir: dir.clone(),
                source,
            },
        }
    };
    let bytes = export_blocking(host, reference, &mut file).map_err(fail)?;
    tracing::debug!(reference, bytes, "spooled the engine's export");
    let location = format!("docker-daemon:{reference}");
    let src = Spooled::new(file, location).map_err(|source| DaemonError::Archive {
        reference: reference.to_string(),
        host: host.to_string(),
        source,
    })?;
    let src = Arc::new(src);
    let opened = if src.tar.has("index.json") {
        open_index(src.clone())
    } else if src.tar.has("manifest.json") {
        docker::open_archive(src.clone()).map(|images| DaemonImage {
            images,
            skipped: Vec::new(),
        })
    } else {
        return Err(fail(ExportError::Stream(
            "the export holds neither index.json nor manifest.json".into(),
        )));
    };
    match opened {
        Err(WalkError::NoImages { .. }) => Err(fail(ExportError::Stream(
            "the export holds no image for any platform".into(),
        ))),
        Ok(d) if d.images.is_empty() => Err(DaemonError::NothingComplete {
            reference: reference.to_string(),
            skipped: d.skipped,
        }),
        Ok(d) => Ok(d),
        Err(e) => Err(e.into()),
    }
}

/// A fresh file in `dir`, unlinked before anything is written to it.
fn spool_file(dir: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            ".archgate-export-{}-{nanos:x}-{n}",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for a temporary file",
    ))
}

/// The spooled export as a blob source. The file has no name, so its
/// members are read through `/proc/self/fd/N`, which opens the same file
/// afresh (an own offset per reader, so platforms read concurrently).
#[derive(Debug)]
struct Spooled {
    _file: File,
    tar: TarSource,
    location: String,
}

impl Spooled {
    fn new(file: File, location: String) -> Result<Spooled, SourceError> {
        use std::os::fd::AsRawFd;
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let tar = TarSource::open_as(&path, std::path::Path::new("export"))?;
        Ok(Spooled {
            _file: file,
            tar,
            location,
        })
    }
}

impl BlobSource for Spooled {
    fn location(&self) -> &str {
        &self.location
    }
    fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        self.tar.open(key)
    }
    fn size(&self, key: &BlobKey) -> io::Result<Option<u64>> {
        self.tar.size(key)
    }
}

// ---------------------------------------------------------------------------
// The OCI index of a containerd-store export

/// Open every platform manifest whose blobs are all in the export with the
/// OCI walk (verified exactly as for an `oci-archive:`); the others are
/// skipped, saying what the engine's store lacks.
fn open_index(src: Arc<Spooled>) -> Result<DaemonImage, WalkError> {
    let (images, incomplete) = oci::open_partial(src)?;
    let skipped = incomplete
        .into_iter()
        .map(|i| Skipped {
            platform: i.platform,
            digest: i.digest.to_string(),
            reason: if i.missing.is_empty() {
                "manifest not in the engine's store".into()
            } else {
                format!("{} not in the engine's store", i.missing.join(", "))
            },
        })
        .collect();
    Ok(DaemonImage { images, skipped })
}

// ---------------------------------------------------------------------------
// The export

/// Run the engine's export on a current-thread runtime of its own, on a
/// thread of its own (so this works whether or not the caller is inside a
/// runtime). The spool file takes plain blocking writes: this runtime
/// serves nothing else.
fn export_blocking(host: &EngineHost, reference: &str, out: &mut File) -> Result<u64, ExportError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ExportError::Stream(format!("starting a runtime: {e}")))?;
            rt.block_on(async {
                let engine = Engine::new(host).map_err(|e| {
                    ExportError::Unreachable(match e {
                        EngineError::Connect { reason, .. } => reason,
                        other => other.to_string(),
                    })
                })?;
                engine.export(reference, out).await
            })
        })
        .join()
        .unwrap_or_else(|_| Err(ExportError::Stream("the export thread panicked".into())))
    })
}

#[cfg(test)]
mod tests;
