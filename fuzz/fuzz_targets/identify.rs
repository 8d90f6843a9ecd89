//! Fuzz the inspection engine on one arbitrary file: `/app`, mode 0755, the
//! image's ENTRYPOINT, checked against a platform picked by the first byte.
//! Then the byte-level parsers directly: `.ARM.attributes`, Go build info and
//! the `#!` line. None of it may panic, hang or allocate without bound.
//!
//! Input layout (so small inputs can stand for large real binaries, whose
//! section headers and build info sit megabytes apart):
//!
//! ```text
//! [0]          platform (index into PLATFORMS, modulo)
//! [1]          low 3 bits: number of zero-filled holes N (0..=7)
//! [2..2+8N]    N holes: u32 LE offset into the content, u32 LE length
//! [2+8N..]     content
//! ```
//!
//! The file is the content with each hole's zeros inserted at its offset
//! (total padding capped at `MAX_PAD`). With N = 0 the file is exactly the
//! bytes after the first two. `scripts/fuzz` seeds this with real ELF files
//! from `target/fixtures`, hollowed out where the engine never reads.
#![no_main]

use archgate::inspect::binary;
use archgate::inspect::{self, ImageConfig, ImageReport, Platform, Report};
use archgate::report;
use archgate::rootfs::mem::MemFs;
use libfuzzer_sys::fuzz_target;

const PLATFORMS: &[(&str, &str, Option<&str>)] = &[
    ("linux", "amd64", None),
    ("linux", "arm64", None),
    ("linux", "arm", Some("v6")),
    ("linux", "arm", Some("v7")),
    ("linux", "386", None),
    ("linux", "ppc64", None),
    ("linux", "s390x", None),
    ("windows", "amd64", None),
];

/// Enough for the largest fixture (busybox, ~2 MB); every byte of padding
/// costs time on every run.
const MAX_PAD: usize = 3 << 20;

/// Rebuild the file from the input layout above.
fn file_of(data: &[u8]) -> Vec<u8> {
    let n = (data[1] & 7) as usize;
    let hdr = 2 + 8 * n;
    if data.len() < hdr {
        return data[2..].to_vec();
    }
    let content = &data[hdr..];
    let mut holes: Vec<(usize, usize)> = data[2..hdr]
        .chunks_exact(8)
        .map(|h| {
            let at = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
            (at.min(content.len()), len)
        })
        .collect();
    holes.sort();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut padded = 0usize;
    for (at, len) in holes {
        let len = len.min(MAX_PAD - padded);
        padded += len;
        out.extend_from_slice(&content[pos..at]);
        out.resize(out.len() + len, 0);
        pos = at;
    }
    out.extend_from_slice(&content[pos..]);
    out
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (os, arch, variant) = PLATFORMS[data[0] as usize % PLATFORMS.len()];
    let platform = Platform::new(os, arch, variant);
    let file = file_of(data);

    // The byte-level parsers, on the file as is.
    let _ = binary::parse_arm_attributes(&file, data[1] & 0x80 != 0);
    let _ = binary::parse_go_buildinfo(&file);
    // parse_shebang is only ever called on a head that starts with `#!`
    // (binary::identify checks first); keep to that contract.
    if file.starts_with(b"#!") {
        let _ = binary::parse_shebang(&file);
    } else {
        let mut s = b"#!".to_vec();
        s.extend_from_slice(&file[..file.len().min(binary::SHEBANG_MAX + 16)]);
        let _ = binary::parse_shebang(&s);
    }
    // Go build info behind its magic, so the string decoding is reached.
    let mut g = binary::GO_BUILDINFO_MAGIC.to_vec();
    g.extend_from_slice(&file[..file.len().min(1 << 16)]);
    let _ = binary::parse_go_buildinfo(&g);

    let mut fs = MemFs::new();
    fs.file("/app", 0o755, file);
    // Where `#!` lines and PT_INTERP usually point, back to the same file, so
    // interpreter and loader chains (and their depth limits) get exercised;
    // plus a link loop.
    for p in [
        "/bin/sh",
        "/usr/bin/env",
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/ld-linux-aarch64.so.1",
        "/lib/ld-linux-armhf.so.3",
        "/lib/ld-linux.so.3",
        "/lib/ld-linux.so.2",
    ] {
        fs.symlink(p, "/app");
    }
    fs.symlink("/loop", "/loop");

    let config = ImageConfig {
        os: os.to_string(),
        architecture: arch.to_string(),
        variant: variant.map(str::to_string),
        entrypoint: vec!["/app".into()],
        cmd: vec!["/app".into(), "/loop".into()],
        env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
        working_dir: None,
        healthcheck: Some(vec!["CMD-SHELL".into(), "true".into()]),
        shell: Vec::new(),
        user: String::new(),
    };
    let result = runtime().block_on(inspect::inspect(&config, &platform, &fs));
    // Whatever the file held, the report renders (it is what users see).
    if let Ok(p) = result {
        let image = ImageReport {
            image: "fuzz".into(),
            platforms: vec![p],
            error: None,
        };
        let r = Report::new(vec![image]);
        for f in [report::Format::Json, report::Format::Human] {
            let _ = report::render(&r, f, true);
        }
    }
});
