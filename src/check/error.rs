//! Why an image could not be opened. Every variant names the failing file,
//! blob or reference; all of them mean "could not decide" (exit 2).

use std::io;
use std::path::PathBuf;

/// An image reference could not be parsed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference { reference: String, reason: String },

    #[error("{}: {reason}", path.display())]
    NotFound { path: PathBuf, reason: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file exists but is not something archgate can read.
    #[error("{}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },

    #[error(
        "reference {reference:?} not found in {image}{}",
        available_list(available)
    )]
    RefNotFound {
        reference: String,
        image: String,
        available: Vec<String>,
    },

    #[error("reference {reference:?} is ambiguous in {image}: it names {count} different images")]
    AmbiguousRef {
        reference: String,
        image: String,
        count: usize,
    },

    #[error("{what} in {image}: not found")]
    MissingBlob { what: String, image: String },

    #[error("{what} in {image}: digest mismatch (got {got})")]
    DigestMismatch {
        what: String,
        image: String,
        got: String,
    },

    #[error("{what} in {image}: size mismatch (expected {expected} bytes, got {got})")]
    SizeMismatch {
        what: String,
        image: String,
        expected: u64,
        got: u64,
    },

    #[error("{what} in {image}: larger than the {limit}-byte limit")]
    TooLarge {
        what: String,
        image: String,
        limit: u64,
    },

    #[error("{what} in {image}: unsupported media type {media_type:?}")]
    UnknownMediaType {
        what: String,
        image: String,
        media_type: String,
    },

    #[error("{what} in {image}: {message}")]
    Malformed {
        what: String,
        image: String,
        message: String,
    },

    #[error("{what} in {image}: {source}")]
    BlobIo {
        what: String,
        image: String,
        #[source]
        source: io::Error,
    },

    #[error("no images found in {image}")]
    NoImages { image: String },

    /// A `docker-daemon:` image could not be exported from the engine.
    #[error(transparent)]
    Daemon(#[from] super::daemon::DaemonError),
    /// A registry refused, failed or could not be reached.
    #[error(transparent)]
    Registry(#[from] super::registry::RegistryError),
}

fn available_list(available: &[String]) -> String {
    if available.is_empty() {
        " (it names no references)".to_string()
    } else {
        let mut shown: Vec<&str> = available.iter().map(String::as_str).take(10).collect();
        if available.len() > 10 {
            shown.push("...");
        }
        format!(" (available: {})", shown.join(", "))
    }
}

impl CheckError {
    pub(crate) fn malformed(what: impl Into<String>, image: &str, message: impl ToString) -> Self {
        CheckError::Malformed {
            what: what.into(),
            image: image.to_string(),
            message: message.to_string(),
        }
    }
}
