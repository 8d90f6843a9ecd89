//! Fuzz the OCI layer reader: arbitrary bytes become a layer blob in an OCI
//! layout (held in memory, behind the `BlobSource` trait a directory or an
//! archive is read through), with every digest, size and diff_id right, so
//! the reader gets past verification and into decompression and tar
//! parsing. Then `check::open_layout_source` and the engine, plus lstat/read_at through the `RootFs` of
//! every path the tar names. None of it may panic, hang or allocate without
//! bound.
//!
//! Each input is tried twice:
//! - as an uncompressed tar, the only layer of the image (applied as a first
//!   layer: whiteouts delete);
//! - gzip-wrapped, on top of a fixed base layer (applied as an overlayfs
//!   upper, so the fuzzed layer's whiteouts, opaque dirs, implied
//!   directories and same-layer links have something to hide).
//! The paths poked are the names Go's reader (`check::gotar`) sees, as bytes.
#![no_main]

use archgate::check::gotar::TarReader;
use archgate::check::{self, BlobKey, BlobSource};
use archgate::inspect;
use archgate::inspect::resolve::{self, Resolution};
use archgate::rootfs::{clean_abs, Kind, RootFs};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Arc, OnceLock};

const TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Gzip `b` in stored (uncompressed) deflate blocks, written by hand: the
/// point is archgate's handling of a gzip layer, not the inflater, and an
/// instrumented deflater would cost a quarter of every run. The base layer
/// is stored too: inflating compressed blocks through the instrumented
/// zlib-rs cost 15% of every run (perf); inputs that are compressed gzip
/// themselves still take that path.
fn gzip_stored(b: &[u8]) -> Vec<u8> {
    // RFC 1952 member header: magic, CM=deflate, no flags, mtime 0, XFL 0, OS unknown.
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = b.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        // RFC 1951 stored block: BFINAL bit, BTYPE 00, LEN, NLEN.
        out.push(chunks.peek().is_none() as u8);
        let n = c.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    let mut crc = flate2::Crc::new();
    crc.update(b);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out
}

/// The base layer: a small tree the fuzzed layer can shadow or white out.
fn base_layer() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut b = tar::Builder::new(Vec::new());
        let mut add =
            |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>| {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(kind);
                h.set_mode(mode);
                h.set_size(data.len() as u64);
                if let Some(l) = link {
                    h.set_link_name(l).unwrap();
                }
                b.append_data(&mut h, path, data).unwrap();
            };
        let elf = {
            // A minimal x86-64 ELF executable header with one PT_LOAD.
            let mut e = vec![0u8; 120];
            e[..4].copy_from_slice(b"\x7fELF");
            e[4] = 2;
            e[5] = 1;
            e[6] = 1;
            e[16] = 2; // ET_EXEC
            e[18] = 62; // EM_X86_64
            e[20] = 1;
            e[32] = 64; // e_phoff
            e[52] = 64; // e_ehsize
            e[54] = 56; // e_phentsize
            e[56] = 1; // e_phnum
            e[64] = 1; // PT_LOAD
            e[96] = 120; // p_filesz
            e
        };
        add("bin/", tar::EntryType::Directory, 0o755, b"", None);
        add(
            "bin/sh",
            tar::EntryType::Regular,
            0o755,
            b"#!/bin/busybox sh\n",
            None,
        );
        add("bin/busybox", tar::EntryType::Regular, 0o755, &elf, None);
        add("app", tar::EntryType::Regular, 0o755, &elf, None);
        add("etc/", tar::EntryType::Directory, 0o755, b"", None);
        add(
            "etc/passwd",
            tar::EntryType::Regular,
            0o644,
            b"root:x:0:0::/root:/bin/sh\n",
            None,
        );
        add(
            "usr/bin/env",
            tar::EntryType::Symlink,
            0o777,
            b"",
            Some("/bin/busybox"),
        );
        add("lib", tar::EntryType::Symlink, 0o777, b"", Some("usr/lib"));
        add("usr/lib/x", tar::EntryType::Link, 0o755, b"", Some("app"));
        b.into_inner().unwrap()
    })
}

/// An OCI layout held in memory: `index.json` and the blobs by digest.
/// Nothing touches the disk, so a run costs what archgate's reader costs
/// (the layout on tmpfs cost half of every run in file writes).
#[derive(Debug, Default)]
struct MemLayout {
    files: HashMap<String, Vec<u8>>,
}

impl BlobSource for MemLayout {
    fn location(&self) -> &str {
        "fuzz-layout"
    }

    fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        let b = self
            .files
            .get(&key.member_path())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Box::new(io::Cursor::new(b.clone())))
    }

    fn size(&self, key: &BlobKey) -> io::Result<Option<u64>> {
        self.files
            .get(&key.member_path())
            .map(|b| Some(b.len() as u64))
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

/// A one-platform OCI layout whose layers are `layers` (bottom first:
/// media type, blob, uncompressed bytes).
fn layout(layers: &[(&str, &[u8], &[u8])]) -> MemLayout {
    let mut m = MemLayout::default();
    let mut put = |b: &[u8]| -> (String, usize) {
        let d = sha256(b);
        m.files
            .insert(format!("blobs/sha256/{}", &d[7..]), b.to_vec());
        (d, b.len())
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (mt, blob, raw) in layers {
        let (d, n) = put(blob);
        descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": n}));
        diff_ids.push(sha256(raw));
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/app"],
            "Cmd": ["/bin/sh", "/usr/lib/x"],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "Healthcheck": {"Test": ["CMD", "env"]}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    });
    let (cd, cn) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": descs
    });
    let (md, mn) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md,
            "size": mn,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": "latest"}
        }]
    });
    m.files
        .insert("index.json".into(), index.to_string().into_bytes());
    m
}

/// Paths named by the tar headers in `data` (as Go's reader sees them),
/// plus a few fixed ones.
fn paths_in(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        &b"/"[..],
        b"/app",
        b"/bin/sh",
        b"/usr/bin/env",
        b"/usr/lib/x",
        b"/etc/passwd",
        b"/lib",
        b"/nope",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    let mut r = TarReader::new(data);
    for _ in 0..32 {
        let Ok(Some(h)) = r.next_header() else { break };
        let p = clean_abs(&h.name);
        // Whiteout names stand for the path they hide.
        let hidden = String::from_utf8_lossy(&p).replace(".wh.", "");
        out.push(clean_abs(hidden.as_bytes()));
        out.push(p);
        if !h.linkname.is_empty() {
            out.push(clean_abs(&h.linkname));
        }
    }
    out
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

async fn poke<R: RootFs>(fs: &R, paths: &[Vec<u8>]) {
    for p in paths {
        // resolve keeps the RootFs contract (parents are real directories).
        let Ok(Resolution::Found { path, entry, .. }) = resolve::resolve(fs, p, false).await else {
            continue;
        };
        let _ = fs.lstat(&path).await;
        if entry.kind == Kind::File {
            let _ = fs.read_at(&path, 0, 64).await;
            let _ = fs.read_at(&path, entry.size.saturating_sub(3), 4096).await;
            let _ = fs.read_at(&path, entry.size / 2, 1 << 20).await;
            let _ = fs.read_at(&path, u64::MAX - 1, 16).await;
            let _ = fs.read_at(&path, 0, 0).await;
        }
    }
}

fn run(layout: MemLayout, paths: &[Vec<u8>]) {
    let src: Arc<dyn BlobSource> = Arc::new(layout);
    let Ok(images) = check::open_layout_source(src, None, &check::OpenOptions::default()) else {
        return;
    };
    for img in &images {
        runtime().block_on(async {
            let _ = inspect::inspect(&img.config, &img.platform, &img.fs).await;
            poke(&img.fs, paths).await;
        });
    }
}

fuzz_target!(|data: &[u8]| {
    let paths = paths_in(data);
    run(layout(&[(TAR, data, data)]), &paths);

    static BASE_GZ: OnceLock<Vec<u8>> = OnceLock::new();
    let base = base_layer();
    let base_gz = BASE_GZ.get_or_init(|| gzip_stored(base));
    let gz = gzip_stored(data);
    run(
        layout(&[(TAR_GZ, base_gz, base), (TAR_GZ, &gz, data)]),
        &paths,
    );
});
