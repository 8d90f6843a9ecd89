//! Test-support image writer: layers, image configs, OCI layouts (single,
//! multi-platform, and buildx's nested-index-with-attestations shape), OCI
//! archives and legacy docker archives, plus helpers that break them.
//!
//! The one idea: everything is content-addressed bytes built in memory and
//! written deterministically (mtime 0, uid/gid 0, sorted nothing, no host
//! metadata), so the same specs always give the same digests and a test can
//! point at exactly the blob it wants to corrupt.
//!
//! Used by the end-to-end tests (`tests/e2e/`) and by `examples/mkimage.rs`;
//! it depends only on crates archgate already uses (tar, flate2, zstd, sha2,
//! hex, serde_json).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

// Media types: https://github.com/opencontainers/image-spec/blob/v1.1.0/media-types.md
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
// Docker's schema 2: https://github.com/distribution/distribution/blob/v2.8.2/docs/spec/manifest-v2-2.md
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
// Attestations as buildx writes them (moby/buildkit exporter/containerimage/attestations.go).
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
pub const ATTESTATION_TYPE_KEY: &str = "vnd.docker.reference.type";
pub const ATTESTATION_TYPE: &str = "attestation-manifest";
pub const ATTESTATION_DIGEST_KEY: &str = "vnd.docker.reference.digest";

/// `sha256:<hex>` of some bytes.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The hex part of a `sha256:<hex>` digest.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

// ---------------------------------------------------------------------------
// Layers

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone)]
enum Node {
    File { data: Vec<u8>, mode: u32 },
    Dir { mode: u32 },
    Symlink { target: String },
    Hardlink { target: String },
}

/// One layer: tar entries in the order given (parents first is up to you, or
/// to `implicit_dirs`, on by default).
#[derive(Debug, Clone)]
pub struct Layer {
    entries: Vec<(String, Node)>,
    compression: Compression,
    implicit_dirs: bool,
    media_type: Option<String>,
    /// Blob bytes and diff ID given as they are (hostile layers the tar
    /// writer cannot make).
    prebuilt: Option<(Vec<u8>, String)>,
    /// A tar stream given as is (see `from_tar`).
    raw: Option<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

impl Layer {
    pub fn new() -> Self {
        Layer {
            entries: Vec::new(),
            compression: Compression::Gzip,
            implicit_dirs: true,
            media_type: None,
            prebuilt: None,
            raw: None,
        }
    }

    /// A layer whose tar stream is exactly these bytes (see `rawtar`).
    pub fn from_tar(tar: Vec<u8>) -> Self {
        Layer {
            raw: Some(tar),
            ..Layer::new()
        }
    }

    /// A layer whose blob is `bytes`, with `diff_id` claimed for it in the
    /// config, stored under `compression`'s media type.
    pub fn prebuilt(compression: Compression, bytes: Vec<u8>, diff_id: &str) -> Self {
        let mut l = Layer::new().compression(compression);
        l.prebuilt = Some((bytes, diff_id.to_string()));
        l
    }

    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Do not add directory entries for parents nobody listed (some tools
    /// write layers like that; readers must cope).
    pub fn without_implicit_dirs(mut self) -> Self {
        self.implicit_dirs = false;
        self
    }

    /// Force the media type written in the manifest (e.g. an unknown one).
    pub fn media_type(mut self, mt: &str) -> Self {
        self.media_type = Some(mt.to_string());
        self
    }

    /// A regular file with these bytes and permission bits.
    pub fn file(mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.entries.push((
            clean(path),
            Node::File {
                data: data.into(),
                mode,
            },
        ));
        self
    }

    /// A regular file copied from disk, mode 0755.
    pub fn file_from(self, path: &str, src: impl AsRef<Path>) -> Self {
        self.file_from_mode(path, src, 0o755)
    }

    /// A regular file copied from disk with this mode.
    pub fn file_from_mode(self, path: &str, src: impl AsRef<Path>, mode: u32) -> Self {
        let src = src.as_ref();
        let data = fs::read(src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
        self.file(path, data, mode)
    }

    /// An executable `#!` script.
    pub fn script(self, path: &str, text: &str) -> Self {
        self.file(path, text.as_bytes().to_vec(), 0o755)
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.entries.push((clean(path), Node::Dir { mode }));
        self
    }

    /// A symlink at `path` whose target is stored as given.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push((
            clean(path),
            Node::Symlink {
                target: target.to_string(),
            },
        ));
        self
    }

    /// A hard link at `path` to `target` (an earlier entry of this layer, as
    /// tar stores it: root-relative, no leading slash).
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push((
            clean(path),
            Node::Hardlink {
                target: clean(target),
            },
        ));
        self
    }

    /// A whiteout hiding `path` of the layers below: `dir/.wh.name`.
    pub fn whiteout(self, path: &str) -> Self {
        let p = clean(path);
        let (dir, name) = match p.rfind('/') {
            Some(i) => (format!("{}/", &p[..i]), &p[i + 1..]),
            None => (String::new(), p.as_str()),
        };
        let wh = format!("{dir}.wh.{name}");
        self.file(&wh, Vec::new(), 0o644)
    }

    /// An opaque whiteout: `dir` shows nothing of the layers below.
    pub fn opaque(self, dir: &str) -> Self {
        let d = clean(dir);
        let wh = if d.is_empty() {
            ".wh..wh..opq".to_string()
        } else {
            format!("{d}/.wh..wh..opq")
        };
        self.file(&wh, Vec::new(), 0o644)
    }

    /// The uncompressed tar stream: its digest is the diff ID.
    pub fn tar_bytes(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut b = tar::Builder::new(Vec::new());
        // Sets, not lists: a layer of 300,000 files must not take minutes.
        let explicit: std::collections::HashSet<&str> = self
            .entries
            .iter()
            .filter(|(_, n)| matches!(n, Node::Dir { .. }))
            .map(|(p, _)| p.as_str())
            .collect();
        let mut seen_dirs: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (path, node) in &self.entries {
            if self.implicit_dirs {
                let parts: Vec<&str> = path.split('/').collect();
                for i in 1..parts.len() {
                    let d = parts[..i].join("/");
                    if !explicit.contains(d.as_str()) && !seen_dirs.contains(&d) {
                        append_dir(&mut b, &d, 0o755);
                        seen_dirs.insert(d);
                    }
                }
            }
            match node {
                Node::Dir { mode } => {
                    if !seen_dirs.contains(path) {
                        append_dir(&mut b, path, *mode);
                        seen_dirs.insert(path.clone());
                    }
                }
                Node::File { data, mode } => {
                    let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
                    b.append_data(&mut h, path, data.as_slice())
                        .expect("tar file");
                }
                Node::Symlink { target } => {
                    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                    b.append_link(&mut h, path, target).expect("tar symlink");
                }
                Node::Hardlink { target } => {
                    // tar writers give a hard link its inode's mode (and
                    // moby applies the header's mode to the shared inode)
                    let mode = self
                        .entries
                        .iter()
                        .find_map(|(p, n)| match n {
                            Node::File { mode, .. } if p == target => Some(*mode),
                            _ => None,
                        })
                        .unwrap_or(0o755);
                    let mut h = header(tar::EntryType::Link, mode, 0);
                    b.append_link(&mut h, path, target).expect("tar hardlink");
                }
            }
        }
        b.into_inner().expect("tar finish")
    }

    /// (media type, blob bytes, diff ID) for an OCI manifest.
    pub fn blob(&self) -> (String, Vec<u8>, String) {
        if let Some((bytes, diff_id)) = &self.prebuilt {
            let mt = match self.compression {
                Compression::None => OCI_LAYER_TAR,
                Compression::Gzip => OCI_LAYER_GZIP,
                Compression::Zstd => OCI_LAYER_ZSTD,
            };
            return (
                self.media_type.clone().unwrap_or_else(|| mt.to_string()),
                bytes.clone(),
                diff_id.clone(),
            );
        }
        let tar = self.tar_bytes();
        let diff_id = sha256(&tar);
        let (mt, bytes) = match self.compression {
            Compression::None => (OCI_LAYER_TAR, tar),
            Compression::Gzip => (OCI_LAYER_GZIP, gzip(&tar)),
            Compression::Zstd => (
                OCI_LAYER_ZSTD,
                zstd::encode_all(tar.as_slice(), 3).expect("zstd"),
            ),
        };
        (
            self.media_type.clone().unwrap_or_else(|| mt.to_string()),
            bytes,
            diff_id,
        )
    }
}

fn clean(path: &str) -> String {
    path.trim_start_matches("./").trim_matches('/').to_string()
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append_dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
    let mut h = header(tar::EntryType::Directory, mode, 0);
    b.append_data(&mut h, format!("{path}/"), io::empty())
        .expect("tar dir");
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

// ---------------------------------------------------------------------------
// Images

/// One platform's image: config fields and layers (bottom first).
#[derive(Debug, Clone)]
pub struct Image {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub healthcheck: Option<Vec<String>>,
    pub user: Option<String>,
    pub layers: Vec<Layer>,
    /// Fields merged into the config's `config` object last (override).
    pub extra_config: Map<String, Value>,
    /// Whether the manifest descriptor in an index carries the platform.
    pub platform_in_index: bool,
    /// Platform written in the index descriptor instead of the config's.
    pub index_platform_override: Option<Value>,
}

impl Image {
    /// `os/arch[/variant]`, e.g. `linux/arm/v7`.
    pub fn new(platform: &str) -> Self {
        let mut it = platform.split('/');
        let os = it.next().unwrap_or("linux").to_string();
        let architecture = it.next().unwrap_or("amd64").to_string();
        let variant = it.next().map(str::to_string);
        Image {
            os,
            architecture,
            variant,
            entrypoint: None,
            cmd: None,
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            working_dir: None,
            healthcheck: None,
            user: None,
            layers: Vec::new(),
            extra_config: Map::new(),
            platform_in_index: true,
            index_platform_override: None,
        }
    }

    pub fn platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    pub fn entrypoint(mut self, argv: &[&str]) -> Self {
        self.entrypoint = Some(argv.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn cmd(mut self, argv: &[&str]) -> Self {
        self.cmd = Some(argv.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Replace Env (None: no Env at all, so the runtime's default PATH applies).
    pub fn env(mut self, env: Option<&[&str]>) -> Self {
        self.env = env.map(|e| e.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn working_dir(mut self, dir: &str) -> Self {
        self.working_dir = Some(dir.to_string());
        self
    }

    /// Healthcheck `Test`, e.g. `["CMD", "/bin/check"]` or `["CMD-SHELL", "..."]`.
    pub fn healthcheck(mut self, test: &[&str]) -> Self {
        self.healthcheck = Some(test.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn layer(mut self, l: Layer) -> Self {
        self.layers.push(l);
        self
    }

    pub fn config_field(mut self, key: &str, value: Value) -> Self {
        self.extra_config.insert(key.to_string(), value);
        self
    }

    /// Leave the platform out of the index descriptor (readers must then
    /// read the config).
    pub fn no_index_platform(mut self) -> Self {
        self.platform_in_index = false;
        self
    }

    /// The image config JSON for these diff IDs.
    pub fn config_json(&self, diff_ids: &[String]) -> Vec<u8> {
        let mut cfg = Map::new();
        if let Some(e) = &self.entrypoint {
            cfg.insert("Entrypoint".into(), json!(e));
        }
        if let Some(c) = &self.cmd {
            cfg.insert("Cmd".into(), json!(c));
        }
        if let Some(e) = &self.env {
            cfg.insert("Env".into(), json!(e));
        }
        if let Some(w) = &self.working_dir {
            cfg.insert("WorkingDir".into(), json!(w));
        }
        if let Some(u) = &self.user {
            cfg.insert("User".into(), json!(u));
        }
        if let Some(h) = &self.healthcheck {
            cfg.insert(
                "Healthcheck".into(),
                json!({"Test": h, "Interval": 30_000_000_000u64}),
            );
        }
        for (k, v) in &self.extra_config {
            cfg.insert(k.clone(), v.clone());
        }
        let mut doc = json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": self.architecture,
            "os": self.os,
            "config": Value::Object(cfg),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": diff_ids.iter().map(|_| json!({"created_by": "archgate test"})).collect::<Vec<_>>(),
        });
        if let Some(v) = &self.variant {
            doc["variant"] = json!(v);
        }
        to_vec(&doc)
    }

    fn index_platform(&self) -> Value {
        if let Some(p) = &self.index_platform_override {
            return p.clone();
        }
        let mut p = json!({"architecture": self.architecture, "os": self.os});
        if let Some(v) = &self.variant {
            p["variant"] = json!(v);
        }
        p
    }
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

// ---------------------------------------------------------------------------
// Content-addressed store

/// Blobs by digest, in insertion order.
#[derive(Debug, Default, Clone)]
pub struct Blobs {
    pub blobs: Vec<(String, Vec<u8>)>,
}

impl Blobs {
    pub fn put(&mut self, data: Vec<u8>) -> (String, u64) {
        let d = sha256(&data);
        let n = data.len() as u64;
        if !self.blobs.iter().any(|(k, _)| *k == d) {
            self.blobs.push((d.clone(), data));
        }
        (d, n)
    }
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> Value {
    json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// What was written for one platform manifest.
#[derive(Debug, Clone)]
pub struct ManifestInfo {
    /// `os/arch[/variant]`, or `unknown/unknown` for an attestation.
    pub platform: String,
    pub digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub attestation: bool,
}

/// Which media-type family the manifests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Oci,
    /// Docker schema 2 manifests and manifest lists (what `docker save` and
    /// older registries hold); layers gzip or plain tar.
    Docker,
}

/// Put one image's config, layers and manifest into `blobs`.
pub fn put_image(blobs: &mut Blobs, img: &Image, flavor: Flavor) -> ManifestInfo {
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_digests = Vec::new();
    for l in &img.layers {
        let (mut mt, bytes, diff_id) = l.blob();
        if flavor == Flavor::Docker && l.media_type.is_none() {
            mt = match l.compression {
                Compression::None => DOCKER_LAYER_TAR.to_string(),
                Compression::Gzip => DOCKER_LAYER_GZIP.to_string(),
                Compression::Zstd => OCI_LAYER_ZSTD.to_string(),
            };
        }
        let (d, n) = blobs.put(bytes);
        layer_descs.push(descriptor(&mt, &d, n));
        layer_digests.push(d);
        diff_ids.push(diff_id);
    }
    let (config_mt, manifest_mt) = match flavor {
        Flavor::Oci => (OCI_CONFIG, OCI_MANIFEST),
        Flavor::Docker => (DOCKER_CONFIG, DOCKER_MANIFEST),
    };
    let (cd, cn) = blobs.put(img.config_json(&diff_ids));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_mt,
        "config": descriptor(config_mt, &cd, cn),
        "layers": layer_descs,
    });
    let (md, _) = blobs.put(to_vec(&manifest));
    ManifestInfo {
        platform: img.platform(),
        digest: md,
        config_digest: cd,
        layer_digests,
        attestation: false,
    }
}

/// A buildx-style attestation manifest (SBOM + provenance in-toto layers) for
/// the platform manifest `subject`.
pub fn put_attestation(blobs: &mut Blobs, subject: &str) -> ManifestInfo {
    let statement = |pt: &str| {
        to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": pt,
            "subject": [{"name": "_", "digest": {"sha256": hex_of(subject)}}],
            "predicate": {},
        }))
    };
    let mut layers = Vec::new();
    let mut layer_digests = Vec::new();
    let mut diff_ids = Vec::new();
    for pt in [
        "https://spdx.dev/Document",
        "https://slsa.dev/provenance/v0.2",
    ] {
        let (d, n) = blobs.put(statement(pt));
        let mut desc = descriptor(IN_TOTO, &d, n);
        desc["annotations"] = json!({"in-toto.io/predicate-type": pt});
        layers.push(desc);
        layer_digests.push(d.clone());
        diff_ids.push(d);
    }
    let config = json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (cd, cn) = blobs.put(to_vec(&config));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &cd, cn),
        "layers": layers,
    });
    let (md, _) = blobs.put(to_vec(&manifest));
    ManifestInfo {
        platform: "unknown/unknown".into(),
        digest: md,
        config_digest: cd,
        layer_digests,
        attestation: true,
    }
}

// ---------------------------------------------------------------------------
// OCI layouts

/// What one top-level `index.json` entry points at.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // test support: built once, moved rarely
pub enum Target {
    /// index.json -> manifest
    Manifest(Image),
    /// index.json -> image index -> per-platform manifests
    Index(Vec<Image>),
    /// index.json -> image index -> per-platform manifests, each followed by
    /// its attestation manifest (platform unknown/unknown), as
    /// `docker buildx build --output type=oci` writes it
    Buildx(Vec<Image>),
    /// index.json lists the per-platform manifests itself, no nested index
    /// (what `oras`/`skopeo copy --all` can produce)
    Flat(Vec<Image>),
}

/// An OCI image layout: one or more tagged targets.
#[derive(Debug, Clone)]
pub struct Layout {
    pub entries: Vec<(Option<String>, Target)>,
    pub flavor: Flavor,
}

/// What was written, so tests can point at blobs.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    /// The digests of the top-level index.json entries, in order.
    pub top: Vec<String>,
    /// Every image manifest (attestations included), in write order.
    pub manifests: Vec<ManifestInfo>,
    /// Nested image indexes.
    pub indexes: Vec<String>,
}

impl Written {
    /// The manifest for `platform` (`os/arch[/variant]`).
    pub fn manifest(&self, platform: &str) -> &ManifestInfo {
        self.manifests
            .iter()
            .find(|m| m.platform == platform && !m.attestation)
            .unwrap_or_else(|| panic!("no manifest for {platform}"))
    }

    /// `dir/blobs/sha256/<hex>` of a digest (for a layout directory).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.path.join("blobs/sha256").join(hex_of(digest))
    }
}

impl Layout {
    pub fn new() -> Self {
        Layout {
            entries: Vec::new(),
            flavor: Flavor::Oci,
        }
    }

    /// index.json -> one manifest.
    pub fn single(img: Image) -> Self {
        Layout::new().add(None, Target::Manifest(img))
    }

    /// index.json -> index -> one manifest per image.
    pub fn multi(imgs: Vec<Image>) -> Self {
        Layout::new().add(None, Target::Index(imgs))
    }

    /// buildx's shape, with attestations.
    pub fn buildx(imgs: Vec<Image>) -> Self {
        Layout::new().add(Some("latest"), Target::Buildx(imgs))
    }

    pub fn add(mut self, ref_name: Option<&str>, t: Target) -> Self {
        self.entries.push((ref_name.map(str::to_string), t));
        self
    }

    pub fn flavor(mut self, f: Flavor) -> Self {
        self.flavor = f;
        self
    }

    /// All blobs plus the index.json bytes.
    pub fn build(&self) -> (Blobs, Vec<u8>, Written) {
        let mut blobs = Blobs::default();
        let mut top = Vec::new();
        let mut top_digests = Vec::new();
        let mut manifests = Vec::new();
        let mut indexes = Vec::new();
        let (index_mt, manifest_mt) = match self.flavor {
            Flavor::Oci => (OCI_INDEX, OCI_MANIFEST),
            Flavor::Docker => (DOCKER_LIST, DOCKER_MANIFEST),
        };
        for (ref_name, target) in &self.entries {
            let mut annotations = Map::new();
            if let Some(r) = ref_name {
                annotations.insert(REF_NAME.into(), json!(r));
                if matches!(target, Target::Buildx(_)) {
                    annotations.insert(
                        CONTAINERD_NAME.into(),
                        json!(format!("docker.io/library/test:{r}")),
                    );
                }
            }
            let mut push_top = |mut desc: Value, annotate: bool| {
                if annotate && !annotations.is_empty() {
                    desc["annotations"] = Value::Object(annotations.clone());
                }
                top_digests.push(desc["digest"].as_str().unwrap().to_string());
                top.push(desc);
            };
            match target {
                Target::Manifest(img) => {
                    let m = put_image(&mut blobs, img, self.flavor);
                    let size = blob_len(&blobs, &m.digest);
                    let mut desc = descriptor(manifest_mt, &m.digest, size);
                    if img.platform_in_index {
                        desc["platform"] = img.index_platform();
                    }
                    push_top(desc, true);
                    manifests.push(m);
                }
                Target::Flat(imgs) => {
                    for img in imgs {
                        let m = put_image(&mut blobs, img, self.flavor);
                        let size = blob_len(&blobs, &m.digest);
                        let mut desc = descriptor(manifest_mt, &m.digest, size);
                        if img.platform_in_index {
                            desc["platform"] = img.index_platform();
                        }
                        push_top(desc, true);
                        manifests.push(m);
                    }
                }
                Target::Index(imgs) | Target::Buildx(imgs) => {
                    let with_att = matches!(target, Target::Buildx(_));
                    let mut descs = Vec::new();
                    let mut atts = Vec::new();
                    for img in imgs {
                        let m = put_image(&mut blobs, img, self.flavor);
                        let size = blob_len(&blobs, &m.digest);
                        let mut desc = descriptor(manifest_mt, &m.digest, size);
                        if img.platform_in_index {
                            desc["platform"] = img.index_platform();
                        }
                        descs.push(desc);
                        if with_att {
                            let a = put_attestation(&mut blobs, &m.digest);
                            let asize = blob_len(&blobs, &a.digest);
                            let mut adesc = descriptor(OCI_MANIFEST, &a.digest, asize);
                            adesc["annotations"] = json!({
                                ATTESTATION_DIGEST_KEY: m.digest,
                                ATTESTATION_TYPE_KEY: ATTESTATION_TYPE,
                            });
                            adesc["platform"] = json!({"architecture": "unknown", "os": "unknown"});
                            atts.push(adesc);
                            manifests.push(m);
                            manifests.push(a);
                        } else {
                            manifests.push(m);
                        }
                    }
                    // buildx lists every platform manifest first, then the attestations
                    descs.extend(atts);
                    let index =
                        json!({"schemaVersion": 2, "mediaType": index_mt, "manifests": descs});
                    let (d, n) = blobs.put(to_vec(&index));
                    indexes.push(d.clone());
                    push_top(descriptor(index_mt, &d, n), true);
                }
            }
        }
        let index_json =
            to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top}));
        (
            blobs,
            index_json,
            Written {
                path: PathBuf::new(),
                top: top_digests,
                manifests,
                indexes,
            },
        )
    }

    /// Write the layout into `dir` (created).
    pub fn write_dir(&self, dir: impl AsRef<Path>) -> Written {
        let dir = dir.as_ref();
        let (blobs, index_json, mut w) = self.build();
        let bdir = dir.join("blobs/sha256");
        fs::create_dir_all(&bdir).expect("mkdir blobs");
        for (d, data) in &blobs.blobs {
            fs::write(bdir.join(hex_of(d)), data).expect("write blob");
        }
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        fs::write(dir.join("index.json"), index_json).expect("index.json");
        w.path = dir.to_path_buf();
        w
    }

    /// Write the layout as a tar (an oci-archive) at `file`.
    pub fn write_archive(&self, file: impl AsRef<Path>) -> Written {
        let file = file.as_ref();
        let (blobs, index_json, mut w) = self.build();
        let mut b = tar::Builder::new(Vec::new());
        append_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        append_file(&mut b, "index.json", &index_json);
        append_dir(&mut b, "blobs", 0o755);
        append_dir(&mut b, "blobs/sha256", 0o755);
        for (d, data) in &blobs.blobs {
            append_file(&mut b, &format!("blobs/sha256/{}", hex_of(d)), data);
        }
        fs::write(file, b.into_inner().expect("tar")).expect("write archive");
        w.path = file.to_path_buf();
        w
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout::new()
    }
}

fn blob_len(blobs: &Blobs, digest: &str) -> u64 {
    blobs
        .blobs
        .iter()
        .find(|(d, _)| d == digest)
        .map(|(_, b)| b.len() as u64)
        .expect("blob")
}

fn append_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
    b.append_data(&mut h, path, data).expect("tar append");
}

// ---------------------------------------------------------------------------
// Docker archives (`docker save`)

/// Write `docker save`'s legacy shape: `manifest.json`, `<hex>.json` config,
/// `<id>/layer.tar` (uncompressed) with `<id>/VERSION` and `<id>/json`, and a
/// `repositories` file. Returns the config digest and the layer IDs.
pub fn write_docker_archive(
    img: &Image,
    repo_tags: &[&str],
    file: impl AsRef<Path>,
) -> (String, Vec<String>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut diff_ids = Vec::new();
    let mut ids = Vec::new();
    let mut layer_paths = Vec::new();
    let mut parent: Option<String> = None;
    for l in &img.layers {
        let tar = l.tar_bytes();
        let diff_id = sha256(&tar);
        // legacy v1 IDs chain the parent in, like docker's v1 ID computation
        let id = hex::encode(Sha256::digest(
            format!("{}{}", parent.clone().unwrap_or_default(), diff_id).as_bytes(),
        ));
        append_dir(&mut b, &id, 0o755);
        append_file(&mut b, &format!("{id}/VERSION"), b"1.0");
        let mut v1 = json!({"id": id, "created": "1970-01-01T00:00:00Z"});
        if let Some(p) = &parent {
            v1["parent"] = json!(p);
        }
        append_file(&mut b, &format!("{id}/json"), &to_vec(&v1));
        append_file(&mut b, &format!("{id}/layer.tar"), &tar);
        layer_paths.push(format!("{id}/layer.tar"));
        diff_ids.push(diff_id);
        parent = Some(id.clone());
        ids.push(id);
    }
    let config = img.config_json(&diff_ids);
    let cd = sha256(&config);
    let config_name = format!("{}.json", hex_of(&cd));
    append_file(&mut b, &config_name, &config);
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": repo_tags,
        "Layers": layer_paths,
    }]);
    append_file(&mut b, "manifest.json", &to_vec(&manifest));
    if let (Some(tag), Some(last)) = (repo_tags.first(), ids.last()) {
        if let Some((repo, t)) = tag.rsplit_once(':') {
            append_file(&mut b, "repositories", &to_vec(&json!({repo: {t: last}})));
        }
    }
    fs::write(file.as_ref(), b.into_inner().expect("tar")).expect("write docker archive");
    (cd, ids)
}

/// Write what `docker save` writes since Docker 25: an OCI layout (index.json,
/// oci-layout, blobs with uncompressed layers) that also holds the legacy
/// `manifest.json`, whose `Config` and `Layers` point into `blobs/sha256/`.
pub fn write_docker_archive_oci(
    img: &Image,
    repo_tags: &[&str],
    file: impl AsRef<Path>,
) -> Written {
    let mut img = img.clone();
    for l in &mut img.layers {
        l.compression = Compression::None;
    }
    let tag = repo_tags
        .first()
        .map(|t| t.rsplit_once(':').map(|(_, t)| t).unwrap_or(t));
    let layout = Layout::new().add(tag, Target::Manifest(img));
    let (blobs, index_json, mut w) = layout.build();
    let m = &w.manifests[0];
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", hex_of(&m.config_digest)),
        "RepoTags": repo_tags,
        "Layers": m.layer_digests.iter().map(|d| format!("blobs/sha256/{}", hex_of(d))).collect::<Vec<_>>(),
    }]);
    let mut b = tar::Builder::new(Vec::new());
    append_dir(&mut b, "blobs", 0o755);
    append_dir(&mut b, "blobs/sha256", 0o755);
    for (d, data) in &blobs.blobs {
        append_file(&mut b, &format!("blobs/sha256/{}", hex_of(d)), data);
    }
    append_file(&mut b, "index.json", &index_json);
    append_file(&mut b, "manifest.json", &to_vec(&manifest));
    append_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    fs::write(file.as_ref(), b.into_inner().expect("tar")).expect("write docker archive");
    w.path = file.as_ref().to_path_buf();
    w
}

// ---------------------------------------------------------------------------
// Breaking things

/// Flip one byte in the middle of a blob of a layout directory (size kept).
pub fn tamper_blob(layout_dir: impl AsRef<Path>, digest: &str) {
    let p = layout_dir
        .as_ref()
        .join("blobs/sha256")
        .join(hex_of(digest));
    let mut data = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let i = data.len() / 2;
    data[i] ^= 0xff;
    fs::write(&p, data).expect("tamper");
}

/// Remove a blob of a layout directory.
pub fn delete_blob(layout_dir: impl AsRef<Path>, digest: &str) {
    let p = layout_dir
        .as_ref()
        .join("blobs/sha256")
        .join(hex_of(digest));
    fs::remove_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// Replace a blob's bytes (keeping its name, so the digest no longer matches).
pub fn replace_blob(layout_dir: impl AsRef<Path>, digest: &str, data: &[u8]) {
    let p = layout_dir
        .as_ref()
        .join("blobs/sha256")
        .join(hex_of(digest));
    fs::write(&p, data).expect("replace blob");
}

/// Overwrite a layout's index.json.
pub fn write_index_json(layout_dir: impl AsRef<Path>, data: &[u8]) {
    fs::write(layout_dir.as_ref().join("index.json"), data).expect("index.json");
}

/// Cut a file down to `len` bytes.
pub fn truncate(file: impl AsRef<Path>, len: u64) {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(file.as_ref())
        .expect("open");
    f.set_len(len).expect("truncate");
}

/// A Go binary with its build info magic blanked: what a binary without build
/// info (`go build` before 1.18, or stripped by hand) looks like to a reader.
pub fn blank_go_buildinfo(mut data: Vec<u8>) -> Vec<u8> {
    const MAGIC: &[u8] = b"\xff Go buildinf:";
    let mut n = 0;
    let mut i = 0;
    while i + MAGIC.len() <= data.len() {
        if &data[i..i + MAGIC.len()] == MAGIC {
            data[i..i + MAGIC.len()].fill(0);
            n += 1;
            i += MAGIC.len();
        } else {
            i += 1;
        }
    }
    assert!(n > 0, "no Go build info magic found");
    data
}
