//! OCI image layouts (a directory or a tar of one): `index.json`, through
//! nested indexes, to every platform's manifest, config and layers. The walk
//! every source shares (layouts, OCI archives, a registry, a Docker Engine's
//! export), with its own error type (`WalkError`) that the registry's and
//! the daemon's errors wrap.
//!
//! The one idea: every JSON blob is read whole but capped, verified against
//! its descriptor (digest and size) before it is parsed (`read_small`), and
//! parsed with lenient structs that accept both OCI and Docker media types;
//! layers are only described here and read lazily by `LayerFs`.

mod error;

pub use error::WalkError;

use super::digest::Digest;
use super::layerfs::LayerFs;
use super::origin::{Attestation, Origin};
use super::source::{BlobKey, BlobSource, SourceError, JSON_LIMIT};
use super::stream::LayerSpec;
use super::PlatformImage;
use crate::inspect::{ImageConfig, Platform};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::sync::Arc;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Layer media types archgate can read (compression is sniffed anyway).
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];
/// Annotations naming a descriptor (OCI image-spec annotations.md;
/// containerd's image name).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// BuildKit marks attestation manifests with this annotation and value,
/// and names the manifest one is about in the other
/// (`exporter/containerimage/attestations`, `docs/attestations/attestation-storage.md`).
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const ATTESTATION: &str = "attestation-manifest";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// Indexes nest at most this deep, and an image has at most this many
/// platform manifests and layers.
const MAX_DEPTH: usize = 8;
const MAX_IMAGES: usize = 512;
const MAX_LAYERS: usize = 1024;

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub digest: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub platform: Option<DescPlatform>,
    #[serde(default)]
    pub annotations: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DescPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Descriptor {
    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    pub(crate) fn is_attestation(&self) -> bool {
        self.annotation(REFERENCE_TYPE) == Some(ATTESTATION)
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }

    pub(crate) fn platform(&self) -> Option<Platform> {
        let p = self
            .platform
            .as_ref()
            .filter(|p| !p.architecture.is_empty())?;
        let os = if p.os.is_empty() { "linux" } else { &p.os };
        Some(Platform::new(os, &p.architecture, p.variant.as_deref()))
    }

    fn media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or("")
    }
}

#[derive(Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Deserialize)]
struct ManifestDoc {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Just enough to tell what a blob without a media type is.
#[derive(Deserialize)]
struct Sniff {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<IgnoredAny>,
    #[serde(default)]
    config: Option<IgnoredAny>,
    #[serde(rename = "fsLayers", default)]
    fs_layers: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub struct RootFsDoc {
    #[serde(default)]
    rootfs: Option<RootFsInner>,
}

#[derive(Deserialize)]
struct RootFsInner {
    #[serde(default)]
    diff_ids: Option<Vec<String>>,
}

/// Parse JSON, naming the blob on failure.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    image: &str,
) -> Result<T, WalkError> {
    serde_json::from_slice(bytes)
        .map_err(|e| WalkError::malformed(what, image, format!("malformed JSON: {e}")))
}

/// A digest string from a manifest, validated.
pub fn parse_digest(s: &str, what: &str, image: &str) -> Result<Digest, WalkError> {
    Digest::parse(s).ok_or_else(|| {
        WalkError::malformed(what, image, format!("invalid or unsupported digest {s:?}"))
    })
}

/// The config's `rootfs.diff_ids`, validated.
pub fn diff_ids(config: &[u8], what: &str, image: &str) -> Result<Vec<Digest>, WalkError> {
    let doc: RootFsDoc = parse_json(config, what, image)?;
    let ids = doc.rootfs.and_then(|r| r.diff_ids).unwrap_or_default();
    ids.iter().map(|s| parse_digest(s, what, image)).collect()
}

enum Kind {
    Index,
    Manifest,
}

fn classify(media_type: &str) -> Option<Kind> {
    match media_type {
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Manifest),
        _ => None,
    }
}

/// A manifest the source holds only part of (a Docker Engine's store keeps
/// the content of the platforms it pulled, and exports the whole index
/// anyway): skipped, not failed, when the walk is asked to
/// ([`open_partial`]).
#[derive(Debug)]
pub(crate) struct Incomplete {
    /// The platform it is listed under, if any.
    pub platform: Option<Platform>,
    pub digest: Digest,
    /// What is missing (`config sha256:...`, `layer sha256:...`); empty
    /// when the manifest (or index) itself is.
    pub missing: Vec<String>,
}

struct Walker {
    src: Arc<dyn BlobSource>,
    image: String,
    out: Vec<PlatformImage>,
    /// (blob, the platform it is listed under): one manifest listed under
    /// two platforms (the `docker manifest annotate` mistake) is two
    /// platforms to judge, each against its own.
    seen: HashSet<(Digest, Option<String>)>,
    /// `Some`: a manifest whose blobs are not all in the source is recorded
    /// here and skipped; `None`: it is an error when read.
    incomplete: Option<Vec<Incomplete>>,
    /// The attestation manifests the indexes list, by the manifest each is
    /// about (read only if that platform fails, see `origin`).
    attestations: HashMap<Digest, Descriptor>,
}

impl Walker {
    fn read(&self, desc: &Descriptor, d: &Digest, what: &str) -> Result<Vec<u8>, WalkError> {
        read_small(
            &*self.src,
            &BlobKey::Digest(d.clone()),
            what,
            Some(d),
            desc.size,
        )
    }

    /// Read a descriptor's blob and tell whether it is an index or a
    /// manifest (from its media type, else from its content).
    fn load(&self, desc: &Descriptor, d: &Digest) -> Result<(Kind, Vec<u8>), WalkError> {
        let mt = desc.media_type();
        let unsupported = |mt: &str| WalkError::UnknownMediaType {
            what: format!("manifest {d}"),
            image: self.image.clone(),
            media_type: mt.to_string(),
        };
        if !mt.is_empty() {
            let kind = classify(mt).ok_or_else(|| unsupported(mt))?;
            return Ok((kind, self.read(desc, d, &format!("manifest {d}"))?));
        }
        let bytes = self.read(desc, d, &format!("manifest {d}"))?;
        let s: Sniff = parse_json(&bytes, &format!("manifest {d}"), &self.image)?;
        let kind = match s.media_type.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => classify(m).ok_or_else(|| unsupported(m))?,
            None if s.manifests.is_some() => Kind::Index,
            None if s.config.is_some() => Kind::Manifest,
            None if s.fs_layers.is_some() => return Err(unsupported(DOCKER_SCHEMA1[0])),
            None => {
                return Err(WalkError::malformed(
                    format!("manifest {d}"),
                    &self.image,
                    "neither an image index nor a manifest",
                ))
            }
        };
        Ok((kind, bytes))
    }

    fn walk(
        &mut self,
        desc: &Descriptor,
        inherited: Option<&Platform>,
        depth: usize,
    ) -> Result<(), WalkError> {
        if desc.is_attestation() {
            tracing::debug!(digest = %desc.digest, "skipping attestation manifest");
            return Ok(());
        }
        let d = parse_digest(&desc.digest, "descriptor", &self.image)?;
        if depth > MAX_DEPTH {
            return Err(WalkError::malformed(
                format!("index {d}"),
                &self.image,
                format!("indexes nested more than {MAX_DEPTH} deep"),
            ));
        }
        let platform = desc.platform();
        let platform = platform.as_ref().or(inherited);
        if !self
            .seen
            .insert((d.clone(), platform.map(ToString::to_string)))
        {
            return Ok(());
        }
        if let Some(incomplete) = &mut self.incomplete {
            if !self.src.exists(&BlobKey::Digest(d.clone())) {
                incomplete.push(Incomplete {
                    platform: platform.cloned(),
                    digest: d,
                    missing: Vec::new(),
                });
                return Ok(());
            }
        }
        let (kind, bytes) = self.load(desc, &d)?;
        match kind {
            Kind::Index => {
                let what = format!("index {d}");
                let idx: IndexDoc = parse_json(&bytes, &what, &self.image)?;
                let children = idx.manifests.unwrap_or_default();
                for att in children.iter().filter(|c| c.is_attestation()) {
                    if let Some(about) = att.annotation(REFERENCE_DIGEST).and_then(Digest::parse) {
                        self.attestations
                            .entry(about)
                            .or_insert_with(|| att.clone());
                    }
                }
                for child in children {
                    self.walk(&child, platform, depth + 1)?;
                }
                Ok(())
            }
            Kind::Manifest => self.manifest(&d, &bytes, platform),
        }
    }

    fn manifest(
        &mut self,
        d: &Digest,
        bytes: &[u8],
        platform: Option<&Platform>,
    ) -> Result<(), WalkError> {
        let what = format!("manifest {d}");
        let image = self.image.clone();
        let m: ManifestDoc = parse_json(bytes, &what, &image)?;
        if let Some(mt) = m.media_type.as_deref() {
            if DOCKER_SCHEMA1.contains(&mt) {
                return Err(WalkError::UnknownMediaType {
                    what,
                    image,
                    media_type: mt.into(),
                });
            }
        }
        let Some(config) = m.config else {
            return Err(WalkError::malformed(what, &image, "no config"));
        };
        if self.incomplete.is_some() {
            let layers = m.layers.as_deref().unwrap_or_default();
            let missing = self.missing_blobs(&config, layers, &what)?;
            if let (false, Some(incomplete)) = (missing.is_empty(), &mut self.incomplete) {
                incomplete.push(Incomplete {
                    platform: platform.cloned(),
                    digest: d.clone(),
                    missing,
                });
                return Ok(());
            }
        }
        let cmt = config.media_type();
        if !(cmt.is_empty() || cmt == OCI_CONFIG || cmt == DOCKER_CONFIG) {
            // An artifact (signature, SBOM, ...) rather than an image.
            tracing::debug!(manifest = %d, config = cmt, "skipping non-image manifest");
            return Ok(());
        }
        let cd = parse_digest(&config.digest, &what, &image)?;
        let cwhat = format!("config {cd}");
        let cbytes = self.read(&config, &cd, &cwhat)?;
        let cfg =
            ImageConfig::from_json(&cbytes).map_err(|e| WalkError::malformed(&cwhat, &image, e))?;
        let ids = diff_ids(&cbytes, &cwhat, &image)?;
        let platform = platform.cloned().unwrap_or_else(|| cfg.platform());
        if platform.os == "unknown" && platform.arch == "unknown" {
            return Ok(());
        }
        let layers = m.layers.unwrap_or_default();
        if layers.len() > MAX_LAYERS {
            return Err(WalkError::malformed(
                what,
                &image,
                format!("more than {MAX_LAYERS} layers"),
            ));
        }
        if layers.len() != ids.len() {
            return Err(WalkError::malformed(
                cwhat,
                &image,
                format!(
                    "it lists {} diff_ids, but manifest {d} has {} layers",
                    ids.len(),
                    layers.len()
                ),
            ));
        }
        let mut specs = Vec::with_capacity(layers.len());
        for (l, diff_id) in layers.iter().zip(ids) {
            let ld = parse_digest(&l.digest, &what, &image)?;
            if !LAYER_TYPES.contains(&l.media_type()) {
                return Err(WalkError::UnknownMediaType {
                    what: format!("layer {ld}"),
                    image,
                    media_type: l.media_type().to_string(),
                });
            }
            specs.push(LayerSpec {
                key: BlobKey::Digest(ld.clone()),
                label: format!("blob {ld}"),
                digest: Some(ld),
                size: l.size,
                diff_id,
            });
        }
        if self.out.len() >= MAX_IMAGES {
            return Err(WalkError::malformed(
                "index.json",
                &image,
                format!("more than {MAX_IMAGES} images"),
            ));
        }
        let attestation = self
            .attestations
            .get(d)
            .map(|a| Attestation::new(self.src.clone(), a.clone(), d.clone()));
        self.out.push(PlatformImage {
            platform,
            config: cfg,
            digest: Some(d.to_string()),
            fs: LayerFs::new(self.src.clone(), specs),
            origin: Origin::new(&cbytes, attestation),
        });
        Ok(())
    }

    /// The config and layers of a manifest that the source does not hold,
    /// as `config sha256:...` and `layer sha256:...`.
    fn missing_blobs(
        &self,
        config: &Descriptor,
        layers: &[Descriptor],
        what: &str,
    ) -> Result<Vec<String>, WalkError> {
        let mut missing = Vec::new();
        let blobs = std::iter::once(("config", config)).chain(layers.iter().map(|l| ("layer", l)));
        for (role, b) in blobs {
            let bd = parse_digest(&b.digest, what, &self.image)?;
            if !self.src.exists(&BlobKey::Digest(bd.clone())) {
                missing.push(format!("{role} {bd}"));
            }
        }
        Ok(missing)
    }

    /// Every descriptor reachable from `roots` through indexes (for digest
    /// references that name a nested manifest).
    fn find_digest(
        &self,
        roots: &[Descriptor],
        want: &Digest,
        depth: usize,
    ) -> Result<Option<Descriptor>, WalkError> {
        for desc in roots {
            if Digest::parse(&desc.digest).as_ref() == Some(want) {
                return Ok(Some(desc.clone()));
            }
        }
        if depth > MAX_DEPTH {
            return Ok(None);
        }
        for desc in roots {
            if desc.is_attestation()
                || classify(desc.media_type()).is_some_and(|k| matches!(k, Kind::Manifest))
            {
                continue;
            }
            let d = parse_digest(&desc.digest, "descriptor", &self.image)?;
            let (kind, bytes) = self.load(desc, &d)?;
            if let Kind::Index = kind {
                let idx: IndexDoc = parse_json(&bytes, &format!("index {d}"), &self.image)?;
                let children = idx.manifests.unwrap_or_default();
                if let Some(found) = self.find_digest(&children, want, depth + 1)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }
}

/// Open every image of an OCI layout, or those `reference` names (a
/// `ref.name` annotation, a containerd image name, or a digest).
pub fn open_layout(
    src: Arc<dyn BlobSource>,
    reference: Option<&str>,
) -> Result<Vec<PlatformImage>, WalkError> {
    let image = src.location().to_string();
    let key = BlobKey::Path("index.json".into());
    if !src.exists(&key) {
        return Err(SourceError::Unsupported {
            path: image.into(),
            reason: "not an OCI image layout (no index.json)".into(),
        }
        .into());
    }
    let top = read_index(&*src, &image)?;
    let mut w = Walker {
        src,
        image: image.clone(),
        out: Vec::new(),
        seen: HashSet::new(),
        incomplete: None,
        attestations: HashMap::new(),
    };
    let roots = match reference {
        None => top,
        Some(r) => select(&w, top, r)?,
    };
    for d in &roots {
        w.walk(d, None, 0)?;
    }
    if w.out.is_empty() {
        return Err(WalkError::NoImages { image });
    }
    Ok(w.out)
}

/// The descriptors a layout's `index.json` lists.
fn read_index(src: &dyn BlobSource, image: &str) -> Result<Vec<Descriptor>, WalkError> {
    let key = BlobKey::Path("index.json".into());
    let bytes = read_small(src, &key, "index.json", None, None)?;
    let index: IndexDoc = parse_json(&bytes, "index.json", image)?;
    Ok(index.manifests.unwrap_or_default())
}

/// Open every image of an OCI layout whose blobs are all there, and list
/// the manifests that are not complete (a Docker Engine's export); no image
/// at all is not an error here.
pub(crate) fn open_partial(
    src: Arc<dyn BlobSource>,
) -> Result<(Vec<PlatformImage>, Vec<Incomplete>), WalkError> {
    let image = src.location().to_string();
    let top = read_index(&*src, &image)?;
    let mut w = Walker {
        src,
        image,
        out: Vec::new(),
        seen: HashSet::new(),
        incomplete: Some(Vec::new()),
        attestations: HashMap::new(),
    };
    for d in &top {
        w.walk(d, None, 0)?;
    }
    Ok((w.out, w.incomplete.unwrap_or_default()))
}

/// The top-level descriptors a reference names.
fn select(w: &Walker, top: Vec<Descriptor>, r: &str) -> Result<Vec<Descriptor>, WalkError> {
    let not_found = |top: &[Descriptor]| {
        let mut available: Vec<String> = top
            .iter()
            .filter_map(|d| d.annotation(REF_NAME).map(str::to_string))
            .collect();
        available.sort();
        available.dedup();
        WalkError::RefNotFound {
            reference: r.to_string(),
            image: w.image.clone(),
            available,
        }
    };
    if let Some(want) = Digest::parse(r) {
        return match w.find_digest(&top, &want, 0)? {
            Some(d) => Ok(vec![d]),
            None => Err(not_found(&top)),
        };
    }
    for key in [REF_NAME, CONTAINERD_NAME] {
        let mut found: Vec<Descriptor> = top
            .iter()
            .filter(|d| d.annotation(key) == Some(r))
            .cloned()
            .collect();
        found.dedup_by(|a, b| a.digest == b.digest);
        let distinct: HashSet<&str> = found.iter().map(|d| d.digest.as_str()).collect();
        if distinct.len() > 1 {
            return Err(WalkError::AmbiguousRef {
                reference: r.to_string(),
                image: w.image.clone(),
                count: distinct.len(),
            });
        }
        if let Some(d) = found.into_iter().next() {
            return Ok(vec![d]);
        }
    }
    Err(not_found(&top))
}

/// Read a small (JSON) blob whole, capped at `JSON_LIMIT`, verifying its
/// digest and size when they are known. `what` names it in messages
/// (`manifest sha256:...`, `index.json`).
pub fn read_small(
    src: &dyn BlobSource,
    key: &BlobKey,
    what: &str,
    expected: Option<&Digest>,
    expected_size: Option<u64>,
) -> Result<Vec<u8>, WalkError> {
    let image = src.location();
    let io_err = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            WalkError::MissingBlob {
                what: what.to_string(),
                image: image.to_string(),
            }
        } else {
            WalkError::BlobIo {
                what: what.to_string(),
                image: image.to_string(),
                source: e,
            }
        }
    };
    let too_large = || WalkError::TooLarge {
        what: what.to_string(),
        image: image.to_string(),
        limit: JSON_LIMIT,
    };
    if expected_size.is_some_and(|s| s > JSON_LIMIT) {
        return Err(too_large());
    }
    if let Some(size) = src.size(key).map_err(io_err)? {
        if size > JSON_LIMIT {
            return Err(too_large());
        }
    }
    let mut data = Vec::new();
    src.open(key)
        .map_err(io_err)?
        .take(JSON_LIMIT + 1)
        .read_to_end(&mut data)
        .map_err(io_err)?;
    if data.len() as u64 > JSON_LIMIT {
        return Err(too_large());
    }
    if let Some(d) = expected {
        let got = d.compute_like(&data);
        if &got != d {
            return Err(WalkError::DigestMismatch {
                what: what.to_string(),
                image: image.to_string(),
                got: got.to_string(),
            });
        }
    }
    if let Some(s) = expected_size {
        if s != data.len() as u64 {
            return Err(WalkError::SizeMismatch {
                what: what.to_string(),
                image: image.to_string(),
                expected: s,
                got: data.len() as u64,
            });
        }
    }
    Ok(data)
}
