//! Why an image could not be opened: a bad reference, or the error of the
//! source that read it. All of them mean "could not decide" (exit 2).
//!
//! The one idea: errors point one way. The walk every source shares has its
//! own type (`oci::WalkError`, with `source::SourceError` for the file
//! itself); the registry's and the daemon's errors wrap it; `CheckError`
//! wraps them all and is imported by none of them.

use super::daemon::DaemonError;
use super::oci::WalkError;
use super::registry::RegistryError;
use super::source::SourceError;

/// An image reference could not be parsed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference { reference: String, reason: String },

    /// A layout or archive (a path, an OCI layout, an archive) could not be
    /// walked.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// A `docker-daemon:` image could not be exported from the engine.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// A registry refused, failed or could not be reached.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<SourceError> for CheckError {
    fn from(e: SourceError) -> Self {
        CheckError::Walk(e.into())
    }
}

impl CheckError {
    /// Whether the message already names the image (its reference, path or
    /// location), so a line about it need not say it again. Only a
    /// registry's own refusals name the registry rather than the image.
    pub fn names_image(&self) -> bool {
        match self {
            CheckError::BadReference { .. } | CheckError::Walk(_) | CheckError::Daemon(_) => true,
            CheckError::Registry(e) => e.names_image(),
        }
    }
}
