//! Image sources for `archgate check`: turn image references into
//! (platform, config, RootFs) triples.
//!
//! The one idea: opening an image reads and verifies only the small JSON
//! (indexes, manifests, configs); each platform's filesystem is a `LayerFs`
//! that decompresses layers lazily, top-down, and stops as soon as a question
//! is answered. Every byte that reaches the engine was checked against its
//! digest first.

mod capture;
pub mod command;
pub mod daemon;
mod deep;
mod docker;
mod error;
pub mod gotar;
mod image_ref;
mod layerfs;
mod oci;
mod origin;
pub mod registry;
mod slots;
mod source;
mod stream;
mod unpack;

#[cfg(test)]
mod tests;

pub use crate::digest::Digest;
pub use deep::DeepScan;
pub use error::CheckError;
pub use image_ref::ImageRef;
pub use layerfs::{FsStats, LayerFs};
pub use oci::WalkError;
pub use origin::Origin;
pub use source::SourceError;
pub use source::{BlobKey, BlobSource};
pub use stream::{LayerLimits, LayerSpec};

// Content digests are the crate's (`crate::digest`); the readers here name
// them `super::digest`.
use crate::digest;
use crate::inspect::{ImageConfig, Platform};
use source::{DirSource, TarSource};
use std::sync::Arc;

/// One platform's image: what the engine checks.
#[derive(Debug)]
pub struct PlatformImage {
    /// From the index descriptor when there is one, else the config.
    pub platform: Platform,
    pub config: ImageConfig,
    /// The manifest digest (`sha256:...`), when the source has manifests.
    pub digest: Option<String>,
    pub fs: LayerFs,
    /// How it was made (its history, its provenance attestation), read
    /// only for a platform that fails.
    pub origin: Origin,
}

/// How to open images: settings that are not part of a reference.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Registries: allow plain HTTP (and unverified HTTPS) for registries
    /// that are not on loopback (`--insecure`).
    pub insecure: bool,
    /// How far a compressed layer may inflate.
    pub limits: LayerLimits,
}

/// Open every platform image `r` names (attestation manifests skipped).
/// Only JSON is read here; layers are read when the engine asks.
pub fn open(r: &ImageRef) -> Result<Vec<PlatformImage>, CheckError> {
    open_with(r, &OpenOptions::default())
}

/// [`open`], with options.
pub fn open_with(r: &ImageRef, options: &OpenOptions) -> Result<Vec<PlatformImage>, CheckError> {
    let mut images = open_images(r, options)?;
    for img in &mut images {
        img.fs.set_limits(options.limits);
    }
    Ok(images)
}

/// Open the images of an OCI image layout whose blobs come from `src`: any
/// [`BlobSource`], such as a caller's own store of blobs in memory. Every
/// digest is verified as for a layout on disk; `reference` selects as in
/// `oci:DIR:REF`.
pub fn open_layout_source(
    src: Arc<dyn BlobSource>,
    reference: Option<&str>,
    options: &OpenOptions,
) -> Result<Vec<PlatformImage>, CheckError> {
    let mut images = oci::open_layout(src, reference)?;
    for img in &mut images {
        img.fs.set_limits(options.limits);
    }
    Ok(images)
}

fn open_images(r: &ImageRef, options: &OpenOptions) -> Result<Vec<PlatformImage>, CheckError> {
    match r {
        ImageRef::Registry(reference) => Ok(registry::open(
            reference,
            registry::ClientOptions {
                insecure: options.insecure,
                ..Default::default()
            },
        )?),
        ImageRef::OciLayout { dir, reference } => {
            let src: Arc<dyn BlobSource> = Arc::new(DirSource::new(dir)?);
            Ok(oci::open_layout(src, reference.as_deref())?)
        }
        ImageRef::OciArchive { file, reference } => {
            let src: Arc<dyn BlobSource> = Arc::new(TarSource::open(file)?);
            Ok(oci::open_layout(src, reference.as_deref())?)
        }
        ImageRef::DockerArchive { file } => {
            let src: Arc<dyn BlobSource> = Arc::new(TarSource::open(file)?);
            Ok(docker::open_archive(src)?)
        }
        ImageRef::DockerDaemon { reference } => {
            let d = daemon::open(reference)?;
            for s in &d.skipped {
                tracing::warn!("{r}: skipping {s}");
            }
            Ok(d.images)
        }
    }
}
