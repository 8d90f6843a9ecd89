//! End to end: hostile images. Whatever the input, archgate answers with one
//! clear line and exit 2, quickly and in bounded memory, or with a verdict;
//! it never panics, hangs or grows without bound.

use crate::common;

use common::*;
use std::io::Write;
use std::time::Instant;

/// A tar header block for a regular file `name` of `size` bytes (the data
/// that follows is whatever the bomb inflates to).
fn tar_header(name: &str, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_size(size);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// A zstd frame (RFC 8878) of one raw block holding `head`, then RLE blocks
/// of zeros: 4 bytes of blob per 128 KiB of output, so `total` bytes of
/// tar stream from total/32768 bytes of blob, made without compressing.
fn zstd_rle_bomb(head: &[u8], total: u64) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    let block_header = |last: bool, kind: u32, size: u32| {
        let v = (last as u32) | (kind << 1) | (size << 3);
        v.to_le_bytes()[..3].to_vec()
    };
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header descriptor: no content size, no checksum, no dictionary;
    // window descriptor: 2^(10+7) = 128 KiB.
    out.extend_from_slice(&[0x00, 7 << 3]);
    out.extend(block_header(false, 0, head.len() as u32));
    out.extend_from_slice(head);
    let blocks = total.div_ceil(BLOCK);
    for i in 0..blocks {
        out.extend(block_header(i + 1 == blocks, 1, BLOCK as u32));
        out.push(0);
    }
    out
}

/// gzip members: the header, then `members` copies of one member holding
/// 64 MiB of zeros (deflate cannot pass ~1030:1, so the bomb is wide).
fn gzip_member_bomb(head: &[u8], members: usize) -> Vec<u8> {
    let mut first = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    first.write_all(head).unwrap();
    let mut out = first.finish().unwrap();
    let mut zeros = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    zeros.write_all(&vec![0u8; 64 << 20]).unwrap();
    let zeros = zeros.finish().unwrap();
    for _ in 0..members {
        out.extend_from_slice(&zeros);
    }
    out
}

/// Check `img` with archgate's peak RSS measured.
fn check_measured(img: Image, extra: &[&str]) -> Run {
    let t = tmp();
    let r = oci_single(t.path(), "img", img);
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(&r);
    Archgate::new(&args).measure_rss().run()
}

fn bomb_image(layer: Layer) -> Image {
    Image::new("linux/amd64")
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer("amd64"))
        .layer(layer)
}

/// The zstd bomb that took 3.5 minutes: 200 GiB of tar stream from a 6.5 MB
/// blob. The program is in the layer below, so the bomb layer must be read
/// (and refused) before any verdict.
#[test]
fn zstd_bomb_layer_is_refused_quickly() {
    let total = 200u64 << 30;
    let blob = zstd_rle_bomb(&tar_header("zeros", total - 1024), total);
    let img = bomb_image(Layer::prebuilt(
        Compression::Zstd,
        blob,
        &sha256(b"not the real diff id"),
    ));
    let t = Instant::now();
    let run = check_measured(img, &[]);
    eprintln!(
        "zstd bomb refused in {:?}, peak RSS {:.1} MiB",
        t.elapsed(),
        run.peak_rss_mib()
    );
    run.expect_undecided(&["decompression bomb", "--max-layer-ratio"]);
    run.expect_peak_rss_under(64);
}

/// A gzip bomb: 20 GiB from about 20 MB of concatenated gzip members.
#[test]
fn gzip_bomb_layer_is_refused_quickly() {
    let members = 320;
    let head = tar_header("zeros", (members as u64) << 26);
    let img = bomb_image(Layer::prebuilt(
        Compression::Gzip,
        gzip_member_bomb(&head, members),
        &sha256(b"not the real diff id"),
    ));
    let t = Instant::now();
    let run = check_measured(img, &[]);
    eprintln!(
        "gzip bomb refused in {:?}, peak RSS {:.1} MiB",
        t.elapsed(),
        run.peak_rss_mib()
    );
    run.expect_undecided(&["decompression bomb"]);
    run.expect_peak_rss_under(64);
}

/// Raising the bound is how a user gets past a refusal; with the bound high
/// enough, a real (small) zero-filled layer is read and judged.
#[test]
fn raised_layer_bound_reads_a_zero_filled_layer() {
    let zeros = Layer::new().file("data/zeros", vec![0u8; 8 << 20], 0o644);
    let img = bomb_image(zeros.clone());
    // 8 MiB of zeros compress to ~8 KiB: far past 100x, but under the 1 GiB
    // floor every layer may reach, so the default passes.
    check_image(img, &[]).expect(0, "pass", "match");
    // A 4 MiB cap refuses it; a 16 MiB cap lets it through.
    let img = bomb_image(zeros.clone());
    check_image(img, &["--max-layer-size", "4m"]).expect_undecided(&["decompression bomb"]);
    let img = bomb_image(zeros);
    check_image(img, &["--max-layer-size", "16m"]).expect(0, "pass", "match");
}

#[test]
fn malformed_layer_bound_flags_are_usage_errors() {
    for args in [
        ["--max-layer-size", "12q"],
        ["--max-layer-size", "0"],
        ["--max-layer-ratio", "0"],
        ["--max-layer-ratio", "x"],
    ] {
        let mut a = vec!["check"];
        a.extend_from_slice(&args);
        a.push("oci:/nonexistent");
        let run = archgate(&a);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains(args[0]), "{run}");
    }
}
