//! End-to-end tests of image sources and the layer stack on small images
//! built in a temporary directory.

use super::*;
use crate::rootfs::{Entry, FsError, Kind, RootFs};
use futures::executor::block_on;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------- builders

/// One tar entry of a test layer.
enum E<'a> {
    F(&'a str, u32, Vec<u8>),
    D(&'a str),
    L(&'a str, &'a str),
    H(&'a str, &'a str),
    /// A regular file whose raw name bytes are written as is (for `..`).
    Raw(&'a str, &'a [u8]),
    /// A regular file with its owner uid and gid.
    Owned(&'a str, u32, u32, u32, Vec<u8>),
}

/// A regular file as the layers give it: owned by root, as the test tars
/// write them.
fn root_file(mode: u32, size: u64) -> Entry {
    Entry::file(mode, size).owned_by(0, 0)
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        match e {
            E::F(p, mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).unwrap();
            }
            E::D(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::L(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::H(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Owned(p, mode, uid, gid, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_uid(*uid as u64);
                h.set_gid(*gid as u64);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).unwrap();
            }
            E::Raw(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o755);
                h.set_size(data.len() as u64);
                let raw = &mut h.as_old_mut().name;
                raw[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Comp {
    Plain,
    Gzip,
    Zstd,
}

pub(super) fn compress(data: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::Plain => data.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

fn media_type(c: Comp) -> &'static str {
    match c {
        Comp::Plain => "application/vnd.oci.image.layer.v1.tar",
        Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

fn sha(data: &[u8]) -> String {
    Digest::sha256_of(data).to_string()
}

/// Deterministic, position-dependent bytes (catch off-by-one reads).
pub(super) fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

struct Layer {
    desc: Value,
    diff_id: String,
}

/// An OCI layout under construction.
pub(super) struct Layout {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Layout {
    fn new() -> Layout {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("img");
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { _tmp: tmp, dir }
    }

    fn blob(&self, data: &[u8]) -> (String, u64) {
        let d = sha(data);
        std::fs::write(self.blob_path(&d), data).unwrap();
        (d, data.len() as u64)
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    fn layer(&self, entries: &[E], c: Comp) -> Layer {
        let raw = tar_of(entries);
        let stored = compress(&raw, c);
        let (d, size) = self.blob(&stored);
        Layer {
            desc: json!({"mediaType": media_type(c), "digest": d, "size": size}),
            diff_id: sha(&raw),
        }
    }

    fn config(&self, arch: &str, variant: Option<&str>, layers: &[&Layer]) -> Value {
        let mut cfg = json!({
            "architecture": arch, "os": "linux",
            "config": {"Entrypoint": ["/app"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()}
        });
        if let Some(v) = variant {
            cfg["variant"] = json!(v);
        }
        let bytes = serde_json::to_vec(&cfg).unwrap();
        let (d, size) = self.blob(&bytes);
        json!({"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d, "size": size})
    }

    /// A manifest over `layers` (bottom first); returns its descriptor.
    fn manifest(&self, arch: &str, layers: &[&Layer]) -> Value {
        let config = self.config(arch, None, layers);
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers.iter().map(|l| l.desc.clone()).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&m).unwrap();
        let (d, size) = self.blob(&bytes);
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": size})
    }

    fn index_blob(&self, manifests: Vec<Value>) -> Value {
        let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let bytes = serde_json::to_vec(&idx).unwrap();
        let (d, size) = self.blob(&bytes);
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": size})
    }

    fn write_index(&self, manifests: Vec<Value>) {
        let idx = json!({"schemaVersion": 2, "manifests": manifests});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&idx).unwrap(),
        )
        .unwrap();
    }

    /// One manifest, tagged `latest`.
    fn single(&self, layers: &[&Layer]) -> Value {
        let mut m = self.manifest("amd64", layers);
        m["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
        self.write_index(vec![m.clone()]);
        m
    }

    fn open(&self) -> Result<Vec<PlatformImage>, CheckError> {
        open(&ImageRef::OciLayout {
            dir: self.dir.clone(),
            reference: None,
        })
    }

    pub(super) fn open_one(&self) -> PlatformImage {
        let mut v = self.open().unwrap();
        assert_eq!(v.len(), 1);
        v.pop().unwrap()
    }
}

fn with_platform(mut desc: Value, platform: Value) -> Value {
    desc["platform"] = platform;
    desc
}

fn lstat(fs: &LayerFs, p: &str) -> Option<Entry> {
    block_on(fs.lstat(p.as_bytes())).unwrap()
}

fn read(fs: &LayerFs, p: &str, off: u64, len: usize) -> Vec<u8> {
    block_on(fs.read_at(p.as_bytes(), off, len)).unwrap()
}

fn err_of<T: std::fmt::Debug>(r: Result<T, FsError>) -> String {
    r.unwrap_err().to_string()
}

/// A tar of the whole tree under `dir` (member names relative to it).
fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

// ------------------------------------------------------------------ tests

#[test]
fn layer_fs_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LayerFs>();
    assert_send_sync::<PlatformImage>();
    fn assert_send<T: Send>(_: &T) {}
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, b"x".to_vec())], Comp::Gzip);
    l.single(&[&top]);
    let img = l.open_one();
    let fut = img.fs.lstat(b"/app");
    assert_send(&fut);
    let fut2 = img.fs.read_at(b"/app", 0, 1);
    assert_send(&fut2);
    assert_eq!(block_on(fut).unwrap().unwrap().kind, Kind::File);
    assert_eq!(block_on(fut2).unwrap(), b"x");
}

/// Files carry the owner their tar header gives (containerd chowns each
/// entry to it); a hard link's header lands on the shared inode, as its
/// mode does.
#[test]
fn file_owners_come_from_the_tar_headers() {
    let l = Layout::new();
    let layer = l.layer(
        &[
            E::Owned("app", 0o700, 1000, 1000, b"x".to_vec()),
            E::F("root", 0o755, b"r".to_vec()),
            E::Owned("shared", 0o750, 5, 6, b"s".to_vec()),
            E::H("link", "shared"),
            E::D("dir/"),
        ],
        Comp::Gzip,
    );
    l.single(&[&layer]);
    let img = l.open_one();
    let fs = &img.fs;
    assert_eq!(lstat(fs, "/app").unwrap().owner, Some((1000, 1000)));
    assert_eq!(lstat(fs, "/root").unwrap().owner, Some((0, 0)));
    // The link's header (uid 0, mode 0755) is applied to the shared inode.
    assert_eq!(lstat(fs, "/shared").unwrap().owner, Some((0, 0)));
    assert_eq!(lstat(fs, "/shared").unwrap().mode, 0o755);
    assert_eq!(lstat(fs, "/dir").unwrap().owner, None);
}

#[test]
fn merged_view_with_whiteouts_and_opaque_dirs() {
    let l = Layout::new();
    let bottom = l.layer(
        &[
            E::D("./"),
            E::D("./etc/"),
            E::F("./etc/a", 0o644, b"a".to_vec()),
            E::F("./etc/b", 0o644, b"b".to_vec()),
            E::D("./opt/"),
            E::D("./opt/x/"),
            E::F("./opt/x/y", 0o755, b"y".to_vec()),
            E::F("./opt/keep", 0o644, b"k".to_vec()),
            E::D("./usr/lib/"),
            E::F("./usr/lib/z", 0o644, b"z".to_vec()),
            E::D("./data/"),
            E::F("./data/old/f", 0o644, b"f".to_vec()),
            E::F("./gone/deep/file", 0o644, b"g".to_vec()),
            E::F("./bin/sh", 0o755, b"#!sh".to_vec()),
        ],
        Comp::Gzip,
    );
    let middle = l.layer(
        &[
            E::D("etc/"),
            E::F("etc/.wh.a", 0o644, vec![]),
            E::D("opt/"),
            E::F("opt/.wh..wh..opq", 0o644, vec![]),
            E::F("opt/new", 0o755, b"new".to_vec()),
            E::F(".wh.gone", 0o644, vec![]),
            // Whited out, then made again (a directory over the whiteout):
            // a plain upper directory, merged with the lower one.
            E::F("data/.wh.old", 0o644, vec![]),
            E::D("data/old/"),
            E::F("data/old/g", 0o644, b"g2".to_vec()),
        ],
        Comp::Zstd,
    );
    let top = l.layer(
        &[
            // A file replaces a directory of a lower layer.
            E::F("usr/lib", 0o644, b"not a dir".to_vec()),
            E::L("bin/sh", "busybox"),
            E::F("bin/busybox", 0o755, b"\x7fELF...".to_vec()),
        ],
        Comp::Plain,
    );
    l.single(&[&bottom, &middle, &top]);
    let img = l.open_one();
    let fs = &img.fs;

    assert_eq!(lstat(fs, "/"), Some(Entry::dir(0o755)));
    assert!(lstat(fs, "/etc/a").is_none(), "whited out");
    assert_eq!(lstat(fs, "/etc/b"), Some(root_file(0o644, 1)));
    assert_eq!(lstat(fs, "/etc").map(|e| e.kind), Some(Kind::Dir));
    assert!(
        lstat(fs, "/opt/x/y").is_none(),
        "opaque dir hides lower content"
    );
    assert!(lstat(fs, "/opt/x").is_none());
    assert!(lstat(fs, "/opt/keep").is_none());
    assert_eq!(lstat(fs, "/opt/new"), Some(root_file(0o755, 3)));
    assert_eq!(lstat(fs, "/opt").map(|e| e.kind), Some(Kind::Dir));
    assert!(lstat(fs, "/gone").is_none());
    assert!(
        lstat(fs, "/gone/deep/file").is_none(),
        "whiteout hides everything under it"
    );
    assert_eq!(
        lstat(fs, "/data/old/f"),
        Some(root_file(0o644, 1)),
        "a directory made over its whiteout merges with the lower one"
    );
    assert_eq!(lstat(fs, "/data/old/g"), Some(root_file(0o644, 2)));
    assert_eq!(lstat(fs, "/data/old").map(|e| e.kind), Some(Kind::Dir));
    assert_eq!(lstat(fs, "/usr/lib"), Some(root_file(0o644, 9)));
    assert!(
        lstat(fs, "/usr/lib/z").is_none(),
        "a file replaced the directory"
    );
    assert_eq!(lstat(fs, "/bin/sh"), Some(Entry::symlink("busybox")));
    assert_eq!(read(fs, "/bin/busybox", 0, 100), b"\x7fELF...");
    assert_eq!(read(fs, "/opt/new", 1, 100), b"ew");
    assert!(lstat(fs, "/nope").is_none());
    assert!(matches!(
        block_on(fs.read_at(b"/etc", 0, 1)),
        Err(FsError::NotAFile { .. })
    ));
    assert!(block_on(fs.read_at(b"/etc/a", 0, 1)).is_err());
    assert_eq!(fs.stats().indexed, 3);
}

#[test]
fn implicit_parents_hardlinks_and_dot_dot() {
    let l = Layout::new();
    let bottom = l.layer(&[E::F("lib/libc.so", 0o755, noise(5000, 1))], Comp::Gzip);
    let top = l.layer(
        &[
            // No directory entries at all.
            E::F("a/b/c", 0o644, b"c".to_vec()),
            E::F("usr/bin/busybox", 0o755, noise(3000, 2)),
            E::H("usr/bin/ls", "usr/bin/busybox"),
            // `..` is clamped at the root, as the unpacker does: these land
            // at /evil and /evil2, they are not dropped.
            E::Raw("../evil", b"evil"),
            E::Raw("x/../../evil2", b"evil"),
        ],
        Comp::Gzip,
    );
    l.single(&[&bottom, &top]);
    let img = l.open_one();
    let fs = &img.fs;
    assert_eq!(lstat(fs, "/a"), Some(Entry::dir(0o755)));
    assert_eq!(lstat(fs, "/a/b"), Some(Entry::dir(0o755)));
    assert_eq!(lstat(fs, "/a/b/c"), Some(root_file(0o644, 1)));
    assert_eq!(lstat(fs, "/usr/bin/ls"), Some(root_file(0o755, 3000)));
    assert_eq!(read(fs, "/usr/bin/ls", 100, 50), &noise(3000, 2)[100..150]);
    assert_eq!(read(fs, "/lib/libc.so", 0, 10_000), noise(5000, 1));
    assert_eq!(lstat(fs, "/evil"), Some(root_file(0o755, 4)));
    assert_eq!(lstat(fs, "/evil2"), Some(root_file(0o755, 4)));
    assert!(lstat(fs, "/x").is_none(), "x/.. is lexical");
}

/// The overlayfs snapshotter unpacks a layer into an empty directory: a hard
/// link to a file that only a lower layer has cannot be made, and the pull
/// fails. archgate says so (exit 2) instead of answering from the lower file.
#[test]
fn hardlink_to_a_lower_layer_file_is_an_unpack_failure() {
    let l = Layout::new();
    let bottom = l.layer(&[E::F("lib/libc.so", 0o755, noise(5000, 1))], Comp::Gzip);
    let top = l.layer(
        &[
            E::F("app", 0o755, b"app".to_vec()),
            E::H("./lib/libc-link.so", "./lib/libc.so"),
        ],
        Comp::Gzip,
    );
    l.single(&[&bottom, &top]);
    let img = l.open_one();
    let e = err_of(block_on(img.fs.lstat(b"/app")));
    let d = top.desc["digest"].as_str().unwrap();
    assert!(e.contains(d), "names the layer: {e}");
    assert!(
        e.contains("the runtime could not unpack this layer")
            && e.contains("lib/libc-link.so")
            && e.contains("no such file"),
        "{e}"
    );
}

#[test]
fn top_layer_answers_without_touching_lower_layers() {
    let l = Layout::new();
    let bottom = l.layer(&[E::F("bin/sh", 0o755, b"sh".to_vec())], Comp::Gzip);
    let top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    l.single(&[&bottom, &top]);
    // The bottom layer's blob is gone: answers from the top layer still work.
    let bottom_digest = bottom.desc["digest"].as_str().unwrap().to_string();
    std::fs::remove_file(l.blob_path(&bottom_digest)).unwrap();
    let img = l.open_one();
    let fs = &img.fs;
    assert_eq!(lstat(fs, "/app"), Some(root_file(0o755, 3)));
    assert_eq!(read(fs, "/app", 0, 3), b"app");
    assert_eq!(fs.opens(), vec![0, 1]);
    // Asking about a path only the bottom layer could answer fails, naming
    // the blob, and every later call reports the same error.
    let e = err_of(block_on(fs.lstat(b"/bin/sh")));
    assert!(e.contains(&bottom_digest) && e.contains("not found"), "{e}");
    let e2 = err_of(block_on(fs.lstat(b"/app")));
    assert_eq!(e, e2);
}

#[test]
fn an_image_of_many_small_layers_fits_the_index_bound() {
    // 120 layers, the program in the bottom one: every layer is indexed.
    let l = Layout::new();
    let mut layers = vec![l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip)];
    for i in 1..120 {
        layers.push(l.layer(&[E::F(&format!("etc/f{i}"), 0o644, vec![])], Comp::Gzip));
    }
    l.single(&layers.iter().collect::<Vec<_>>());
    let img = l.open_one();
    assert_eq!(lstat(&img.fs, "/app"), Some(root_file(0o755, 3)));
    let st = img.fs.stats();
    assert_eq!(st.indexed, 120);
    assert!(st.index_bytes < 1 << 20, "{st:?}");
}

#[test]
fn tampered_layer_is_an_error_not_an_answer() {
    let l = Layout::new();
    let bottom = l.layer(
        &[E::F("bin/sh", 0o755, b"SHELL-CONTENT".to_vec())],
        Comp::Plain,
    );
    let top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    l.single(&[&bottom, &top]);
    let d = bottom.desc["digest"].as_str().unwrap().to_string();
    // Same size, one byte changed inside the file's data.
    let mut bytes = std::fs::read(l.blob_path(&d)).unwrap();
    let at = bytes.windows(5).position(|w| w == b"SHELL").unwrap();
    bytes[at] = b'X';
    std::fs::write(l.blob_path(&d), &bytes).unwrap();
    let img = l.open_one();
    let e = err_of(block_on(img.fs.lstat(b"/bin/sh")));
    assert!(e.starts_with(&format!("blob {d} in ")), "{e}");
    assert!(e.contains("digest mismatch (got sha256:"), "{e}");
    assert!(block_on(img.fs.lstat(b"/app")).is_err());
}

#[test]
fn diff_id_mismatch_is_caught() {
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    let wrong = Layer {
        desc: top.desc.clone(),
        diff_id: sha(b"something else"),
    };
    l.single(&[&wrong]);
    let img = l.open_one();
    let e = err_of(block_on(img.fs.lstat(b"/app")));
    assert!(e.contains("uncompressed digest mismatch"), "{e}");
}

#[test]
fn truncated_layers_are_errors() {
    for c in [Comp::Gzip, Comp::Zstd, Comp::Plain] {
        let l = Layout::new();
        let top = l.layer(&[E::F("app", 0o755, noise(200_000, 3))], c);
        l.single(&[&top]);
        let d = top.desc["digest"].as_str().unwrap().to_string();
        let bytes = std::fs::read(l.blob_path(&d)).unwrap();
        std::fs::write(l.blob_path(&d), &bytes[..bytes.len() / 2]).unwrap();
        let img = l.open_one();
        let e = err_of(block_on(img.fs.lstat(b"/app")));
        assert!(e.contains(&d), "{c:?}: {e}");
    }
}

#[test]
fn compression_is_sniffed_whatever_the_media_type() {
    let l = Layout::new();
    let mut top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    top.desc["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar");
    l.single(&[&top]);
    let img = l.open_one();
    assert_eq!(lstat(&img.fs, "/app"), Some(root_file(0o755, 3)));
}

#[test]
fn read_at_is_exact_for_every_range() {
    let big = noise(700_000, 7);
    let data_file = noise(150_000, 8);
    let l = Layout::new();
    let bottom = l.layer(
        &[E::F("lib/data.bin", 0o644, data_file.clone())],
        Comp::Zstd,
    );
    let top = l.layer(
        &[
            E::F("usr/bin/app", 0o755, big.clone()),
            E::F("usr/bin/other", 0o755, noise(1000, 9)),
        ],
        Comp::Gzip,
    );
    l.single(&[&bottom, &top]);
    let img = l.open_one();
    let fs = &img.fs;
    assert_eq!(
        lstat(fs, "/usr/bin/app"),
        Some(root_file(0o755, big.len() as u64))
    );
    let n = big.len() as u64;
    // Served from the captured head and tail: no re-stream.
    for (off, len) in [
        (0, 4096),
        (0, 65536),
        (64, 56 * 4),
        (n - 100, 100),
        (n - 65536, 65536),
        (n - 10, 1000),
    ] {
        let want = &big[off as usize..(off as usize + len).min(big.len())];
        assert_eq!(read(fs, "/usr/bin/app", off, len), want, "({off}, {len})");
    }
    assert_eq!(fs.opens(), vec![0, 1]);
    // Past the head: a re-stream, still exact; nearby reads then hit the
    // window kept from it.
    for (off, len) in [
        (65530, 20),
        (300_000, 5000),
        (300_100, 10),
        (1, n as usize),
        (n, 10),
        (n + 5, 1),
    ] {
        let s = (off as usize).min(big.len());
        let want = &big[s..(s + len).min(big.len())];
        assert_eq!(read(fs, "/usr/bin/app", off, len), want, "({off}, {len})");
    }
    let opens = fs.opens()[1];
    assert!((2..=3).contains(&opens), "re-streams: {opens}");
    // A non-executable file in a lower layer: not captured unless looked up.
    assert_eq!(
        read(fs, "/lib/data.bin", 100_000, 50_000),
        &data_file[100_000..150_000]
    );
    assert_eq!(read(fs, "/lib/data.bin", 0, 0), b"");
}

/// A capture pool of the test's own: what tests running beside it in the
/// same process capture does not change its budget.
fn private_pool() -> &'static crate::check::layerfs::Pool {
    Box::leak(Box::default())
}

#[test]
fn reads_stay_correct_without_capture_budget() {
    let big = noise(300_000, 11);
    let l = Layout::new();
    let top = l.layer(
        &[
            E::F("a", 0o755, big.clone()),
            E::F("b", 0o755, noise(100, 12)),
        ],
        Comp::Gzip,
    );
    l.single(&[&top]);
    let img = l.open_one();
    let specs = vec![LayerSpec {
        key: BlobKey::Digest(Digest::parse(top.desc["digest"].as_str().unwrap()).unwrap()),
        label: "blob".into(),
        digest: Digest::parse(top.desc["digest"].as_str().unwrap()),
        size: top.desc["size"].as_u64(),
        diff_id: Digest::parse(&top.diff_id).unwrap(),
    }];
    let src: std::sync::Arc<dyn BlobSource> =
        std::sync::Arc::new(source::DirSource::new(&l.dir).unwrap());
    let fs = LayerFs::with_budget(src, specs, 0, private_pool());
    // The looked-up path is captured even with no budget...
    assert_eq!(lstat(&fs, "/a"), Some(root_file(0o755, 300_000)));
    assert_eq!(read(&fs, "/a", 10, 10), &big[10..20]);
    assert_eq!(fs.opens(), vec![1]);
    // ...other executables are not, and are re-streamed.
    assert_eq!(read(&fs, "/b", 0, 100), noise(100, 12));
    assert_eq!(fs.opens(), vec![2]);
    drop(img);
}

#[test]
fn lean_captures_once_the_budget_runs_low() {
    let files: Vec<Vec<u8>> = (0..6).map(|i| noise(200_000, 30 + i)).collect();
    let l = Layout::new();
    let entries: Vec<E> = (0..6)
        .map(|i| {
            E::F(
                ["f0", "f1", "f2", "f3", "f4", "f5"][i],
                0o755,
                files[i].clone(),
            )
        })
        .collect();
    let top = l.layer(&entries, Comp::Gzip);
    l.single(&[&top]);
    let d = Digest::parse(top.desc["digest"].as_str().unwrap()).unwrap();
    let specs = vec![LayerSpec {
        key: BlobKey::Digest(d.clone()),
        label: "blob".into(),
        digest: Some(d),
        size: top.desc["size"].as_u64(),
        diff_id: Digest::parse(&top.diff_id).unwrap(),
    }];
    let src: std::sync::Arc<dyn BlobSource> =
        std::sync::Arc::new(source::DirSource::new(&l.dir).unwrap());
    // f0 takes the full plan (128 KiB), f1 and f2 the lean one (32 KiB
    // each), then the budget is spent.
    let fs = LayerFs::with_budget(src, specs, 200 * 1024, private_pool());
    assert!(lstat(&fs, "/nothing").is_none());
    assert_eq!(read(&fs, "/f0", 60_000, 5000), &files[0][60_000..65_000]);
    assert_eq!(read(&fs, "/f1", 0, 4096), &files[1][..4096]);
    assert_eq!(
        read(&fs, "/f2", 200_000 - 16_384, 16_384),
        &files[2][200_000 - 16_384..]
    );
    assert_eq!(fs.opens(), vec![1]);
    assert_eq!(read(&fs, "/f1", 20_000, 10), &files[1][20_000..20_010]);
    assert_eq!(fs.opens(), vec![2]);
    assert_eq!(read(&fs, "/f4", 0, 10), &files[4][..10]);
    assert_eq!(fs.opens(), vec![3]);
}

#[test]
fn go_buildinfo_window_is_captured() {
    let mut bin = noise(1_000_000, 13);
    let at = 640_000; // 16-byte aligned, past head and before tail
    bin[at..at + 14].copy_from_slice(b"\xff Go buildinf:");
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, bin.clone())], Comp::Gzip);
    l.single(&[&top]);
    let img = l.open_one();
    assert_eq!(
        read(&img.fs, "/app", at as u64, 32 * 1024),
        &bin[at..at + 32 * 1024]
    );
    assert_eq!(img.fs.opens(), vec![1]);
}

#[test]
fn nested_index_platforms_and_attestations() {
    let l = Layout::new();
    let amd = l.layer(&[E::F("app", 0o755, b"amd".to_vec())], Comp::Gzip);
    let arm = l.layer(&[E::F("app", 0o755, b"arm".to_vec())], Comp::Gzip);
    let m_amd = with_platform(
        l.manifest("amd64", &[&amd]),
        json!({"architecture": "amd64", "os": "linux"}),
    );
    // The descriptor's platform wins over the config's.
    let m_arm = with_platform(
        l.manifest("arm", &[&arm]),
        json!({"architecture": "arm", "os": "linux", "variant": "v6"}),
    );
    let mut att = with_platform(
        l.manifest("unknown", &[]),
        json!({"architecture": "unknown", "os": "unknown"}),
    );
    att["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": m_amd["digest"]});
    let mut idx = l.index_blob(vec![m_amd.clone(), m_arm.clone(), att]);
    idx["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    l.write_index(vec![idx.clone()]);

    let imgs = l.open().unwrap();
    let plats: Vec<String> = imgs.iter().map(|i| i.platform.to_string()).collect();
    assert_eq!(plats, vec!["linux/amd64", "linux/arm/v6"]);
    assert_eq!(imgs[0].digest.as_deref(), m_amd["digest"].as_str());
    assert_eq!(imgs[0].config.entrypoint, vec!["/app"]);
    assert_eq!(read(&imgs[1].fs, "/app", 0, 10), b"arm");

    let by = |r: &str| {
        open(&ImageRef::OciLayout {
            dir: l.dir.clone(),
            reference: Some(r.into()),
        })
    };
    assert_eq!(by("v1").unwrap().len(), 2);
    // A digest reference may name a nested manifest or the index.
    let one = by(m_arm["digest"].as_str().unwrap()).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].platform.to_string(), "linux/arm/v6");
    assert_eq!(by(idx["digest"].as_str().unwrap()).unwrap().len(), 2);
    let e = by("v2").unwrap_err().to_string();
    assert!(
        e.contains("\"v2\" not found") && e.contains("available: v1"),
        "{e}"
    );
    let e = by(&format!("sha256:{}", "0".repeat(64)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn platform_comes_from_config_without_descriptor_platform() {
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, b"x".to_vec())], Comp::Gzip);
    let config = l.config("aarch64", Some("v8"), &[&top]);
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config["digest"], "size": config["size"]},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": top.desc["digest"], "size": top.desc["size"]}]});
    let (d, size) = l.blob(&serde_json::to_vec(&m).unwrap());
    // No mediaType on the descriptor: sniffed from the blob.
    l.write_index(vec![json!({"digest": d, "size": size})]);
    let img = l.open_one();
    assert_eq!(img.platform.to_string(), "linux/arm64");
}

#[test]
fn bad_json_media_types_and_blobs_are_clear_errors() {
    // Malformed index.json.
    let l = Layout::new();
    std::fs::write(l.dir.join("index.json"), b"{not json").unwrap();
    let e = l.open().unwrap_err().to_string();
    assert!(
        e.starts_with("index.json in ") && e.contains("malformed JSON"),
        "{e}"
    );

    // Unknown manifest media type.
    let l = Layout::new();
    let (d, size) = l.blob(b"{}");
    l.write_index(vec![
        json!({"mediaType": "application/x-weird", "digest": d, "size": size}),
    ]);
    let e = l.open().unwrap_err().to_string();
    assert!(e.contains("application/x-weird") && e.contains(&d), "{e}");

    // Unknown layer media type.
    let l = Layout::new();
    let mut top = l.layer(&[E::F("app", 0o755, b"x".to_vec())], Comp::Gzip);
    top.desc["mediaType"] = json!("application/x-tarball");
    l.single(&[&top]);
    let e = l.open().unwrap_err().to_string();
    assert!(
        e.contains("application/x-tarball") && e.contains(top.desc["digest"].as_str().unwrap()),
        "{e}"
    );

    // Tampered manifest.
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, b"x".to_vec())], Comp::Gzip);
    let m = l.single(&[&top]);
    let md = m["digest"].as_str().unwrap();
    let mut bytes = std::fs::read(l.blob_path(md)).unwrap();
    bytes.push(b' ');
    std::fs::write(l.blob_path(md), &bytes).unwrap();
    let e = l.open().unwrap_err().to_string();
    assert!(
        e.contains(&format!("manifest {md} in")) && e.contains("digest mismatch"),
        "{e}"
    );

    // Missing config blob.
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, b"x".to_vec())], Comp::Gzip);
    let config = l.config("amd64", None, &[&top]);
    std::fs::remove_file(l.blob_path(config["digest"].as_str().unwrap())).unwrap();
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [top.desc]});
    let (d, size) = l.blob(&serde_json::to_vec(&m).unwrap());
    l.write_index(vec![json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": size})]);
    let e = l.open().unwrap_err().to_string();
    assert!(
        e.contains(config["digest"].as_str().unwrap()) && e.ends_with("not found"),
        "{e}"
    );

    // Wrong size in a descriptor.
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, b"x".to_vec())], Comp::Gzip);
    let mut m = l.manifest("amd64", &[&top]);
    m["size"] = json!(m["size"].as_u64().unwrap() + 1);
    l.write_index(vec![m]);
    let e = l.open().unwrap_err().to_string();
    assert!(e.contains("size mismatch"), "{e}");

    // A hostile size is refused before reading.
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, b"x".to_vec())], Comp::Gzip);
    let mut m = l.manifest("amd64", &[&top]);
    m["size"] = json!(1u64 << 40);
    l.write_index(vec![m]);
    let e = l.open().unwrap_err().to_string();
    assert!(e.contains("limit"), "{e}");

    // Digests that would escape the blobs directory are refused.
    let l = Layout::new();
    l.write_index(vec![json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:../../../etc/passwd", "size": 1})]);
    let e = l.open().unwrap_err().to_string();
    assert!(e.contains("invalid or unsupported digest"), "{e}");

    // An empty layout.
    let l = Layout::new();
    l.write_index(vec![]);
    assert!(l
        .open()
        .unwrap_err()
        .to_string()
        .starts_with("no images found in "));

    // Not a layout at all.
    let t = tempfile::tempdir().unwrap();
    let e = open(&ImageRef::OciLayout {
        dir: t.path().to_path_buf(),
        reference: None,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("not an OCI image layout"), "{e}");
}

#[test]
fn oci_archive_is_read_in_place() {
    let l = Layout::new();
    let bottom = l.layer(&[E::F("bin/sh", 0o755, noise(200_000, 21))], Comp::Zstd);
    let top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    l.single(&[&bottom, &top]);
    let archive = l.dir.parent().unwrap().join("img.tar");
    std::fs::write(&archive, tar_dir(&l.dir)).unwrap();

    let r = ImageRef::parse(&archive.display().to_string()).unwrap();
    assert_eq!(
        r,
        ImageRef::OciArchive {
            file: archive.clone(),
            reference: None
        }
    );
    let r2 = ImageRef::parse(&format!("oci-archive:{}:latest", archive.display())).unwrap();
    assert_eq!(
        r2,
        ImageRef::OciArchive {
            file: archive.clone(),
            reference: Some("latest".into())
        }
    );
    for r in [r, r2] {
        let imgs = open(&r).unwrap();
        assert_eq!(imgs.len(), 1);
        let fs = &imgs[0].fs;
        assert_eq!(lstat(fs, "/bin/sh"), Some(root_file(0o755, 200_000)));
        assert_eq!(
            read(fs, "/bin/sh", 100_000, 10),
            &noise(200_000, 21)[100_000..100_010]
        );
    }
    // The bare directory is sniffed too.
    let r = ImageRef::parse(&l.dir.display().to_string()).unwrap();
    assert_eq!(
        r,
        ImageRef::OciLayout {
            dir: l.dir.clone(),
            reference: None
        }
    );
}

#[test]
fn truncated_archive_is_an_error() {
    let l = Layout::new();
    let top = l.layer(&[E::F("app", 0o755, noise(300_000, 22))], Comp::Plain);
    l.single(&[&top]);
    let archive = l.dir.parent().unwrap().join("img.tar");
    let full = tar_dir(&l.dir);
    // Cut inside the big layer blob (the JSON members are small).
    let needle = noise(7, 22);
    let layer_at = full.windows(7).position(|w| w == needle).unwrap();
    std::fs::write(&archive, &full[..layer_at + 1000]).unwrap();
    let r = ImageRef::OciArchive {
        file: archive,
        reference: None,
    };
    let msg = match open(&r) {
        Err(e) => e.to_string(),
        Ok(imgs) => err_of(block_on(imgs[0].fs.lstat(b"/app"))),
    };
    assert!(msg.contains("truncated"), "{msg}");
}

/// Build a `docker save` archive (legacy layout) with one image.
fn docker_archive(dir: &Path, layers: &[(&[E], Comp)], tamper_config: bool) -> PathBuf {
    let mut diff_ids = Vec::new();
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layer_paths = Vec::new();
    for (i, (entries, c)) in layers.iter().enumerate() {
        let raw = tar_of(entries);
        diff_ids.push(sha(&raw));
        let id = format!("{:064x}", i + 1);
        layer_paths.push(format!("{id}/layer.tar"));
        members.push((format!("{id}/layer.tar"), compress(&raw, *c)));
    }
    let cfg = json!({"architecture": "arm64", "os": "linux", "config": {"Cmd": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let cfg_name = format!("{}.json", sha(&cfg_bytes).trim_start_matches("sha256:"));
    let mut stored_cfg = cfg_bytes.clone();
    if tamper_config {
        stored_cfg.push(b'\n');
    }
    members.push((cfg_name.clone(), stored_cfg));
    let manifest = json!([{"Config": cfg_name, "RepoTags": ["app:latest"], "Layers": layer_paths}]);
    members.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));

    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in &members {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    let path = dir.join("docker.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    path
}

#[test]
fn docker_archive_legacy_layout() {
    let t = tempfile::tempdir().unwrap();
    let path = docker_archive(
        t.path(),
        &[
            (
                &[
                    E::F("bin/sh", 0o755, b"sh".to_vec()),
                    E::F("etc/x", 0o644, b"x".to_vec()),
                ],
                Comp::Plain,
            ),
            (
                &[
                    E::F("app", 0o755, b"app".to_vec()),
                    E::F("etc/.wh.x", 0o644, vec![]),
                ],
                Comp::Gzip,
            ),
        ],
        false,
    );
    let r = ImageRef::parse(&path.display().to_string()).unwrap();
    assert_eq!(r, ImageRef::DockerArchive { file: path.clone() });
    assert_eq!(r.to_string(), format!("docker-archive:{}", path.display()));
    let imgs = open(&r).unwrap();
    assert_eq!(imgs.len(), 1);
    let img = &imgs[0];
    assert_eq!(img.platform.to_string(), "linux/arm64");
    assert_eq!(img.digest, None);
    assert_eq!(img.config.cmd, vec!["/app"]);
    assert_eq!(read(&img.fs, "/app", 0, 10), b"app");
    assert_eq!(read(&img.fs, "/bin/sh", 0, 10), b"sh");
    assert!(lstat(&img.fs, "/etc/x").is_none());

    let t2 = tempfile::tempdir().unwrap();
    let bad = docker_archive(
        t2.path(),
        &[(&[E::F("app", 0o755, b"a".to_vec())], Comp::Plain)],
        true,
    );
    let e = open(&ImageRef::DockerArchive { file: bad })
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("config ") && e.contains("digest mismatch"),
        "{e}"
    );
}

#[test]
fn docker_archive_layer_checked_against_diff_id() {
    let t = tempfile::tempdir().unwrap();
    let path = docker_archive(
        t.path(),
        &[(&[E::F("app", 0o755, b"APP-CONTENT".to_vec())], Comp::Plain)],
        false,
    );
    // Flip a byte of the layer's file content inside the archive.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(7).position(|w| w == b"APP-CON").unwrap();
    bytes[at] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    let imgs = open(&ImageRef::DockerArchive { file: path }).unwrap();
    let e = err_of(block_on(imgs[0].fs.lstat(b"/app")));
    assert!(
        e.contains("layer ")
            && e.contains("layer.tar")
            && e.contains("uncompressed digest mismatch"),
        "{e}"
    );
}

/// Peak resident memory of this process so far (Linux), in KiB.
fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A writer that hashes what passes into a file.
struct HashFile {
    f: std::io::BufWriter<std::fs::File>,
    h: digest::Hasher,
    n: u64,
}

impl Write for HashFile {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.f.write(b)?;
        self.h.update(&b[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.f.flush()
    }
}

/// A big gzip layer written in streaming fashion: `count` executables of
/// `size` bytes each under `dir`. Returns the layer.
fn big_layer(l: &Layout, dir: &str, count: usize, size: usize) -> Layer {
    let tmp = l.dir.join("big.tmp");
    let out = HashFile {
        f: std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap()),
        h: digest::Hasher::new(digest::Algorithm::Sha256),
        n: 0,
    };
    struct TarHash<W: Write> {
        w: W,
        h: digest::Hasher,
    }
    impl<W: Write> Write for TarHash<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.w.write(b)?;
            self.h.update(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.w.flush()
        }
    }
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let th = TarHash {
        w: gz,
        h: digest::Hasher::new(digest::Algorithm::Sha256),
    };
    let mut b = tar::Builder::new(th);
    let chunk = noise(size, 99);
    for i in 0..count {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o755);
        h.set_size(size as u64);
        b.append_data(&mut h, format!("{dir}/f{i}"), &chunk[..])
            .unwrap();
    }
    let th = b.into_inner().unwrap();
    let diff_id = th.h.finish().to_string();
    let mut out = th.w.finish().unwrap();
    out.flush().unwrap();
    let d = out.h.finish().to_string();
    let size = out.n;
    drop(out.f);
    std::fs::rename(&tmp, l.blob_path(&d)).unwrap();
    Layer {
        desc: json!({"mediaType": media_type(Comp::Gzip), "digest": d, "size": size}),
        diff_id,
    }
}

/// Runs at a tenth of its full size (~60 MB of layers) by default; set
/// `ARCHGATE_BIG_LAYERS=full` for ~600 MB.
#[test]
fn big_layers_stream_in_bounded_memory() {
    let full = std::env::var("ARCHGATE_BIG_LAYERS").as_deref() == Ok("full");
    let scale = if full { 1 } else { 10 };
    let l = Layout::new();
    let t = std::time::Instant::now();
    // 20000 x 16 KiB executables (many small files) and 120 x 2.5 MiB ones.
    let many = big_layer(&l, "usr/bin", 20_000 / scale, 16 * 1024);
    let large = big_layer(&l, "opt/big", 120 / scale, 2_500_000);
    let top = l.layer(&[E::F("app", 0o755, noise(100_000, 5))], Comp::Gzip);
    l.single(&[&many, &large, &top]);
    eprintln!("built in {:?}", t.elapsed());
    let before = peak_rss_kib();

    let imgs = l.open().unwrap();
    let fs = &imgs[0].fs;
    let t = std::time::Instant::now();
    assert!(lstat(fs, "/app").is_some());
    eprintln!("top lstat {:?} opens {:?}", t.elapsed(), fs.opens());

    let t = std::time::Instant::now();
    assert_eq!(
        lstat(fs, &format!("/usr/bin/f{}", 20_000 / scale - 1)),
        Some(root_file(0o755, 16 * 1024))
    );
    eprintln!(
        "bottom lstat {:?} opens {:?} stats {:?}",
        t.elapsed(),
        fs.opens(),
        fs.stats()
    );
    let want = noise(2_500_000, 99);
    let t = std::time::Instant::now();
    assert_eq!(read(fs, "/opt/big/f7", 0, 4096), &want[..4096]);
    assert_eq!(
        read(fs, "/opt/big/f7", 2_000_000, 100),
        &want[2_000_000..2_000_100]
    );
    eprintln!("mid-file read {:?} opens {:?}", t.elapsed(), fs.opens());
    let t = std::time::Instant::now();
    assert_eq!(
        read(
            fs,
            &format!("/usr/bin/f{}", 20_000 / scale - 1),
            0,
            16 * 1024
        ),
        &want[..16 * 1024]
    );
    eprintln!("captured read {:?} opens {:?}", t.elapsed(), fs.opens());

    // Several platforms at once, on threads.
    let (l2, want) = (&l, &want);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(move || {
                let imgs = l2.open().unwrap();
                assert!(lstat(&imgs[0].fs, "/usr/bin/f3").is_some());
                assert_eq!(
                    read(
                        &imgs[0].fs,
                        &format!("/opt/big/f{}", 100 / scale),
                        1_000_000,
                        10
                    ),
                    &want[1_000_000..1_000_010]
                );
            });
        }
    });
    let after = peak_rss_kib();
    eprintln!(
        "peak RSS before {} MiB, after {} MiB",
        before / 1024,
        after / 1024
    );
    assert!(after < 200 * 1024);
}

// ------------------------------------------------- decompression bounds

/// A zero-filled file inflates far past its layer's blob: with a 1 MiB cap
/// the layer is refused, with one line that says why and names the flags.
#[test]
fn layer_inflating_past_its_bound_is_refused() {
    for c in [Comp::Gzip, Comp::Zstd] {
        let l = Layout::new();
        let top = l.layer(&[E::F("zeros", 0o644, vec![0; 4 << 20])], c);
        l.single(&[&top]);
        let mut img = l.open_one();
        img.fs.set_limits(LayerLimits {
            max_ratio: 100,
            max_size: 1 << 20,
            ..LayerLimits::default()
        });
        let e = err_of(block_on(img.fs.lstat(b"/app")));
        assert!(e.contains("decompression bomb"), "{c:?}: {e}");
        assert!(e.contains("--max-layer-size"), "{c:?}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

/// The same layer passes once the bound is raised, and a plain layer is
/// never bounded (its bytes are real, not inflated).
#[test]
fn raised_bound_and_plain_layers_read_fully() {
    for (c, cap) in [(Comp::Gzip, 8 << 20), (Comp::Plain, 1 << 20)] {
        let l = Layout::new();
        let top = l.layer(
            &[
                E::F("zeros", 0o644, vec![0; 4 << 20]),
                E::F("app", 0o755, b"x".to_vec()),
            ],
            c,
        );
        l.single(&[&top]);
        let mut img = l.open_one();
        img.fs.set_limits(LayerLimits {
            max_ratio: 100,
            max_size: cap,
            ..LayerLimits::default()
        });
        assert_eq!(lstat(&img.fs, "/app"), Some(root_file(0o755, 1)), "{c:?}");
    }
}

#[test]
fn inflate_bound_has_a_floor_and_a_cap() {
    let l = LayerLimits {
        max_ratio: 100,
        max_size: 64 << 30,
        ..LayerLimits::default()
    };
    assert_eq!(l.bound(0), stream::INFLATE_FLOOR);
    assert_eq!(l.bound(100 << 20), 10_000 << 20);
    assert_eq!(l.bound(u64::MAX), 64 << 30);
}

// ------------------------------------------- a failing platform's source

/// A linux/arm64 image of two layers (`/bin/sh` below, `/app` above, a
/// file that is no program, so the platform fails), its config's history
/// with empty entries between, and optionally a provenance attestation
/// whose statement is `statement` (SLSA v1). Returns the layout and the
/// statement blob's path.
pub(super) fn image_with_origin(statement: Option<&[u8]>) -> (Layout, Option<PathBuf>) {
    let l = Layout::new();
    let base = l.layer(
        &[E::F("bin/sh", 0o755, b"#!/bin/nothing\n".to_vec())],
        Comp::Gzip,
    );
    let top = l.layer(&[E::F("app", 0o755, b"not a program".to_vec())], Comp::Gzip);
    let cfg = json!({
        "architecture": "arm64", "os": "linux",
        "config": {"Entrypoint": ["/app"]},
        "history": [
            {"created_by": "ADD rootfs.tar / # buildkit"},
            {"created_by": "CMD [\"sh\"]", "empty_layer": true},
            {"created_by": "COPY app /app # buildkit", "comment": "buildkit.dockerfile.v0"},
            {"created_by": "ENTRYPOINT [\"/app\"]", "empty_layer": true}
        ],
        "rootfs": {"type": "layers", "diff_ids": [base.diff_id, top.diff_id]}
    });
    let (cd, csize) = l.blob(&serde_json::to_vec(&cfg).unwrap());
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": csize},
        "layers": [base.desc, top.desc],
    });
    let (md, msize) = l.blob(&serde_json::to_vec(&m).unwrap());
    let mdesc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": msize,
        "platform": {"architecture": "arm64", "os": "linux"}});
    let mut children = vec![mdesc];
    let mut statement_path = None;
    if let Some(st) = statement {
        let (sd, ssize) = l.blob(st);
        statement_path = Some(l.blob_path(&sd));
        let (ed, esize) = l.blob(b"{}");
        let att = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.docker.attestation.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": esize},
            "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": sd, "size": ssize,
                "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v1"}}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": msize}
        });
        let (ad, asize) = l.blob(&serde_json::to_vec(&att).unwrap());
        children.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ad, "size": asize,
            "annotations": {"vnd.docker.reference.digest": md, "vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"}}));
    }
    let idx = l.index_blob(children);
    l.write_index(vec![idx]);
    (l, statement_path)
}

/// A v1 provenance statement recording `dockerfile`.
pub(super) fn provenance(dockerfile: &str) -> Vec<u8> {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(dockerfile);
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": "https://slsa.dev/provenance/v1",
        "subject": [],
        "predicate": {
            "buildDefinition": {"externalParameters": {"request": {"frontend": "dockerfile.v0"}}},
            "runDetails": {"metadata": {"buildkit_metadata": {"source": {"infos": [
                {"filename": "Dockerfile", "language": "Dockerfile", "data": data}
            ]}}}}
        }
    }))
    .unwrap()
}

pub(super) const BUILT_FROM: &str =
    "FROM busybox AS base\nFROM base\nCOPY app /app\nENTRYPOINT [\"/app\"]\n";

fn checked(l: &Layout, strict: bool) -> crate::inspect::PlatformReport {
    let req = command::Request {
        images: vec![format!("oci:{}", l.dir.display())],
        strict,
        ..Default::default()
    };
    let r = command::run(&req, |spec, e| panic!("{spec}: {e}")).unwrap();
    assert_eq!(r.images[0].platforms.len(), 1);
    r.images[0].platforms[0].clone()
}

fn history_source(p: &crate::inspect::PlatformReport) -> (Option<usize>, Option<usize>, String) {
    let s = p.source.as_ref().expect("a source");
    assert!(
        s.file.is_none() && s.line.is_none() && s.end_line.is_none(),
        "{s:?}"
    );
    (s.layer, s.history, s.instruction.clone())
}

#[test]
fn a_failing_platform_is_explained_from_its_provenance() {
    let (l, _) = image_with_origin(Some(&provenance(BUILT_FROM)));
    let p = checked(&l, false);
    assert_eq!(p.verdict, crate::inspect::Verdict::Fail);
    let s = p.source.unwrap();
    assert_eq!(s.file.as_deref(), Some("Dockerfile"));
    assert_eq!((s.line, s.end_line), (Some(3), Some(3)));
    assert_eq!(s.instruction, "COPY app /app");
    assert_eq!(s.message, "this instruction put /app in the image");
    assert_eq!((s.layer, s.history), (None, None));
}

#[test]
fn without_provenance_the_history_entry_that_made_the_layer() {
    let want = (Some(1), Some(2), "COPY app /app # buildkit".to_string());
    // No attestation at all.
    let (l, _) = image_with_origin(None);
    let p = checked(&l, false);
    assert_eq!(history_source(&p), want);
    assert_eq!(
        p.source.unwrap().message,
        "the image's history says this instruction made layer 2 of 2, where /app comes from"
    );
    // `mode=min`: a statement without the Dockerfile.
    let min = br#"{"predicateType": "https://slsa.dev/provenance/v1", "predicate": {}}"#;
    let (l, _) = image_with_origin(Some(min));
    assert_eq!(history_source(&checked(&l, false)), want);
    // A Dockerfile that cannot be tied to /app: the history still can.
    let (l, _) = image_with_origin(Some(&provenance("FROM scratch\nCOPY x /x\n")));
    assert_eq!(history_source(&checked(&l, false)), want);
    // The statement is gone (a registry that lost it, an export without
    // it).
    let (l, path) = image_with_origin(Some(&provenance(BUILT_FROM)));
    std::fs::remove_file(path.unwrap()).unwrap();
    assert_eq!(history_source(&checked(&l, false)), want);
    // Malformed statements.
    for bad in [&b"{not json"[..], b"[]", br#"{"predicateType": 3}"#] {
        let (l, _) = image_with_origin(Some(bad));
        assert_eq!(history_source(&checked(&l, false)), want);
    }
}

/// A statement changed after it was written (its digest no longer matches)
/// is never read for a source, whatever it claims: the source is the
/// history, which the config's digest covers. Likewise one over the JSON
/// bound, which is not even read whole.
#[test]
fn a_tampered_or_oversized_statement_gives_no_dockerfile_line() {
    let want = (Some(1), Some(2), "COPY app /app # buildkit".to_string());
    let (l, path) = image_with_origin(Some(&provenance(BUILT_FROM)));
    let forged = provenance("FROM scratch\nCOPY app-amd64 /app\n");
    std::fs::write(path.unwrap(), forged).unwrap();
    assert_eq!(history_source(&checked(&l, false)), want);
    // The same length, one byte changed: the digest, not the size, says so.
    let (l, path) = image_with_origin(Some(&provenance(BUILT_FROM)));
    let path = path.unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(history_source(&checked(&l, false)), want);
    // Over the bound (padded with spaces, still valid JSON).
    let mut big = provenance(BUILT_FROM);
    big.extend(std::iter::repeat_n(b' ', (source::JSON_LIMIT + 1) as usize));
    let (l, _) = image_with_origin(Some(&big));
    assert_eq!(history_source(&checked(&l, false)), want);
}

#[test]
fn a_history_that_does_not_match_the_layers_gives_no_source() {
    let (l, _) = image_with_origin(None);
    // Rewrite the config with one history entry too many: the manifest and
    // index digests are rewritten along, so only the counts disagree.
    let idx: Value =
        serde_json::from_slice(&std::fs::read(l.dir.join("index.json")).unwrap()).unwrap();
    let idx_blob: Value = serde_json::from_slice(
        &std::fs::read(l.blob_path(idx["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let mdesc = &idx_blob["manifests"][0];
    let mut m: Value = serde_json::from_slice(
        &std::fs::read(l.blob_path(mdesc["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let mut cfg: Value = serde_json::from_slice(
        &std::fs::read(l.blob_path(m["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    cfg["history"]
        .as_array_mut()
        .unwrap()
        .push(json!({"created_by": "RUN true # buildkit"}));
    let (cd, csize) = l.blob(&serde_json::to_vec(&cfg).unwrap());
    m["config"]["digest"] = json!(cd);
    m["config"]["size"] = json!(csize);
    let (md, msize) = l.blob(&serde_json::to_vec(&m).unwrap());
    l.write_index(vec![
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md, "size": msize}),
    ]);
    let p = checked(&l, false);
    assert_eq!(p.verdict, crate::inspect::Verdict::Fail);
    assert_eq!(p.source, None);
}

mod ahead;
