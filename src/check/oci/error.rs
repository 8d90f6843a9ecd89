//! The walk's own error: why an image's layout, indexes, manifests, configs
//! or blobs could not be read. The registry's and the daemon's errors wrap
//! it; it wraps only the blob source's (`SourceError`), so errors point one
//! way.

use crate::check::source::SourceError;
use std::io;

/// Why an image's indexes, manifests, configs or blobs could not be walked.
/// Every variant names the blob and the image (or the path); all of them mean
/// "could not decide" (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The layout directory or archive itself could not be opened.
    #[error(transparent)]
    Source(#[from] SourceError),

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

    /// Reading a blob failed; `source` is the blob source's error (for a
    /// registry, the registry's own, kept typed).
    #[error("{what} in {image}: {source}")]
    BlobIo {
        what: String,
        image: String,
        #[source]
        source: io::Error,
    },

    #[error("no images found in {image}")]
    NoImages { image: String },
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

impl WalkError {
    pub(crate) fn malformed(what: impl Into<String>, image: &str, message: impl ToString) -> Self {
        WalkError::Malformed {
            what: what.into(),
            image: image.to_string(),
            message: message.to_string(),
        }
    }
}
