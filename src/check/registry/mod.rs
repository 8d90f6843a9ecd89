//! Images in a registry (`docker://NAME[:TAG|@DIGEST]`): the registry is one
//! more `BlobSource`, so its indexes, manifests, configs and layers go
//! through the same walk and the same verification as an OCI layout's.
//!
//! The one idea: the top manifest is fetched by tag (or digest) and presented
//! as a one-entry `index.json`; after that every key is a digest, and the
//! source knows which digests are manifests (the children of an index it
//! served) and which are blobs, so `oci::open_layout` reads a registry exactly
//! as it reads a directory. Manifests and configs are small and capped;
//! layers are streamed from the registry as `LayerFs` reads them, top-down,
//! and never touch the disk.

mod challenge;
mod client;
mod source;

#[cfg(test)]
mod tests;

pub use crate::reference::{
    is_loopback_host, RegistryRef, Target, DOCKER_HUB, DOCKER_HUB_ENDPOINT,
};
pub use client::{Client, ClientOptions, RetryPolicy, MANIFEST_ACCEPT};

use super::digest::Digest;
use super::oci::{self, WalkError, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use super::source::JSON_LIMIT;
use super::PlatformImage;
use crate::docker::credentials::CredentialsError;

use source::RegistrySource;
use std::sync::Arc;

/// Why a registry could not be used. Messages name the registry (or the
/// image) and never hold credentials.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry} ({url}): {detail}")]
    Unreachable {
        registry: String,
        url: String,
        detail: String,
    },

    #[error("{registry} does not answer as a registry: GET {url} gave {detail}")]
    NotARegistry {
        registry: String,
        url: String,
        detail: String,
    },

    #[error(
        "registry {registry} {} ({detail})",
        if *refused { format!("refused the credentials for {repository} from {config}") }
        else { format!("requires credentials for {repository} and none were found in {config}") }
    )]
    Unauthorized {
        registry: String,
        repository: String,
        /// Credentials were sent and rejected (else: none were configured).
        refused: bool,
        config: String,
        detail: String,
    },

    #[error(
        "registry {registry} denied access to {repository} {} ({detail})",
        if *with_credentials { format!("with the credentials from {config}") }
        else { format!("without credentials (none found in {config})") }
    )]
    Denied {
        registry: String,
        repository: String,
        with_credentials: bool,
        config: String,
        detail: String,
    },

    #[error(
        "registry {registry} asks for an authentication scheme archgate does not speak ({schemes})"
    )]
    UnsupportedAuth { registry: String, schemes: String },

    #[error("registry {registry}: getting a token: {reason}")]
    Token { registry: String, reason: String },

    #[error("registry {registry} kept answering 429 too many requests for {what}: gave up after {attempts} attempts")]
    RateLimited {
        registry: String,
        what: String,
        attempts: u32,
    },

    #[error("registry {registry}: {what}: unexpected answer {detail}")]
    Status {
        registry: String,
        what: String,
        detail: String,
    },

    #[error("registry {registry}: {what} is larger than the {limit}-byte limit")]
    TooLarge {
        registry: String,
        what: String,
        limit: u64,
    },

    #[error("{image}: not found: {detail}")]
    NotFound { image: String, detail: String },

    #[error("{image}: the registry says the manifest's digest is {claimed}, but its bytes hash to {got}")]
    ManifestDigest {
        image: String,
        claimed: String,
        got: String,
    },

    #[error(transparent)]
    Credentials(#[from] CredentialsError),

    /// The image's manifests, configs or blobs (named `docker://NAME`)
    /// could not be walked; a registry failure while reading a blob is kept,
    /// typed, as that blob's error.
    #[error(transparent)]
    Walk(#[from] WalkError),
}

impl RegistryError {
    /// Whether the message names the image (`docker://NAME`), not only the
    /// registry.
    pub fn names_image(&self) -> bool {
        matches!(
            self,
            RegistryError::NotFound { .. }
                | RegistryError::ManifestDigest { .. }
                | RegistryError::Walk(_)
        )
    }
}

/// Open every platform image of a registry reference.
pub fn open(r: &RegistryRef, options: ClientOptions) -> Result<Vec<PlatformImage>, RegistryError> {
    let image = format!("docker://{r}");
    let client = Client::connect(r, options)?;
    let reference = r.manifest_reference();
    let fetched = match client.manifest(&reference, JSON_LIMIT)? {
        Ok(m) => m,
        Err(detail) => {
            let what = match &r.target {
                Target::Tag(t) => format!("no tag {t:?} in repository {}", r.repository),
                Target::Digest { digest, .. } => {
                    format!("no manifest {digest} in repository {}", r.repository)
                }
            };
            return Err(RegistryError::NotFound {
                image,
                detail: format!("{what} on registry {} ({detail})", r.domain),
            });
        }
    };
    let digest = match &r.target {
        Target::Digest { digest, .. } => {
            let got = digest.compute_like(&fetched.bytes);
            if &got != digest {
                return Err(WalkError::DigestMismatch {
                    what: format!("manifest {digest}"),
                    image,
                    got: got.to_string(),
                }
                .into());
            }
            got
        }
        Target::Tag(_) => match fetched.digest_header.as_deref().and_then(Digest::parse) {
            Some(claimed) => {
                let got = claimed.compute_like(&fetched.bytes);
                if got != claimed {
                    return Err(RegistryError::ManifestDigest {
                        image,
                        claimed: claimed.to_string(),
                        got: got.to_string(),
                    });
                }
                got
            }
            None => Digest::sha256_of(&fetched.bytes),
        },
    };
    let media_type = match fetched.media_type.as_str() {
        OCI_INDEX | OCI_MANIFEST | DOCKER_LIST | DOCKER_MANIFEST => {
            Some(fetched.media_type.clone())
        }
        // Registries that do not know the type: the walk tells from the
        // content.
        "" | "application/json" | "text/plain" | "application/octet-stream" => None,
        other => {
            return Err(WalkError::UnknownMediaType {
                what: format!("manifest {digest}"),
                image,
                media_type: other.to_string(),
            }
            .into())
        }
    };
    let src = RegistrySource::new(client, image, digest, media_type, fetched.bytes);
    Ok(oci::open_layout(Arc::new(src), None)?)
}
