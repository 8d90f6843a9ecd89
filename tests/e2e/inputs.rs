//! End to end: image sources (OCI layout in all its shapes, OCI archive, docker
//! archive, bare paths, references), platform selection, layer compression,
//! and inputs archgate cannot decide on (exit 2, one line on stderr).

use crate::common;

use common::*;
use std::path::Path;

fn bb(debarch: &str, platform: &str) -> Image {
    Image::new(platform)
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer(debarch))
}

fn platform_names(run: &Run) -> Vec<String> {
    run.platforms()
        .iter()
        .map(|p| p["platform"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// A buildx-shaped two-platform layout: amd64 good, arm64 holding amd64's
/// busybox (bad) unless `good`.
fn buildx_pair(dir: &Path, good: bool) -> Written {
    let arm = if good {
        bb("arm64", "linux/arm64")
    } else {
        bb("amd64", "linux/arm64")
    };
    Layout::buildx(vec![bb("amd64", "linux/amd64"), arm]).write_dir(dir)
}

// ---- shapes of OCI layouts ---------------------------------------------------

#[test]
fn buildx_layout_attestations_are_not_platforms() {
    let t = tmp();
    let dir = t.path().join("x");
    buildx_pair(&dir, true);
    let run = check_json(&[&format!("oci:{}", dir.display())], &[]);
    assert_eq!(run.code, 0, "{run}");
    let mut names = platform_names(&run);
    names.sort();
    assert_eq!(
        names,
        ["linux/amd64", "linux/arm64"],
        "attestation manifests are not platforms\n{run}"
    );
    assert!(!run.stdout.contains("unknown/unknown"), "{run}");
}

#[test]
fn buildx_layout_one_bad_platform_fails_the_image() {
    let t = tmp();
    let dir = t.path().join("x");
    let w = buildx_pair(&dir, false);
    let run = check_json(&[&format!("oci:{}", dir.display())], &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.json()["verdict"], "fail", "{run}");
    for p in run.platforms() {
        match p["platform"].as_str().unwrap() {
            "linux/amd64" => assert_eq!(p["verdict"], "pass", "{run}"),
            "linux/arm64" => {
                assert_eq!(
                    (p["verdict"].as_str(), p["reason"].as_str()),
                    (Some("fail"), Some("arch-mismatch")),
                    "{run}"
                );
                // the manifest digest is reported when the field is there
                if let Some(d) = p.get("digest").and_then(|d| d.as_str()) {
                    assert_eq!(d, w.manifest("linux/arm64").digest, "{run}");
                }
            }
            other => panic!("unexpected platform {other}\n{run}"),
        }
    }
}

#[test]
fn multi_platform_index_without_attestations() {
    let t = tmp();
    let dir = t.path().join("x");
    Layout::multi(vec![
        bb("amd64", "linux/amd64"),
        bb("arm64", "linux/arm64"),
        bb("armhf", "linux/arm/v7"),
    ])
    .write_dir(&dir);
    let run = check_json(&[dir.to_str().unwrap()], &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(platform_names(&run).len(), 3, "{run}");
}

#[test]
fn flat_index_lists_platform_manifests_directly() {
    let t = tmp();
    let dir = t.path().join("x");
    Layout::new()
        .add(
            None,
            Target::Flat(vec![bb("amd64", "linux/amd64"), bb("amd64", "linux/arm64")]),
        )
        .write_dir(&dir);
    let run = check_json(&[&format!("oci:{}", dir.display())], &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(platform_names(&run).len(), 2, "{run}");
}

/// `docker manifest annotate` mistake: one manifest (amd64's) listed under
/// two platforms. The second entry must not vanish from the report: each
/// (platform, manifest) entry is judged against its own platform.
#[test]
fn one_manifest_listed_under_two_platforms_is_two_platforms() {
    let t = tmp();
    let dir = t.path().join("x");
    let mut arm = bb("amd64", "linux/amd64");
    arm.index_platform_override = Some(serde_json::json!({"architecture": "arm64", "os": "linux"}));
    let w = Layout::multi(vec![bb("amd64", "linux/amd64"), arm]).write_dir(&dir);
    assert_eq!(
        w.manifests[0].digest, w.manifests[1].digest,
        "the test needs one manifest digest listed twice"
    );
    let run = check_json(&[&format!("oci:{}", dir.display())], &[]);
    assert_eq!(run.code, 1, "{run}");
    let mut names = platform_names(&run);
    names.sort();
    assert_eq!(names, ["linux/amd64", "linux/arm64"], "{run}");
    for p in run.platforms() {
        let want = match p["platform"].as_str().unwrap() {
            "linux/amd64" => ("pass", "match"),
            _ => ("fail", "arch-mismatch"),
        };
        assert_eq!(
            (
                p["verdict"].as_str().unwrap(),
                p["reason"].as_str().unwrap()
            ),
            want,
            "{run}"
        );
    }
    // --platform selects by platform, not by the first entry of the digest.
    let run = check_json(
        &[&format!("oci:{}", dir.display())],
        &["--platform", "linux/arm64"],
    );
    let p = run.expect(1, "fail", "arch-mismatch");
    assert_eq!(p["platform"], "linux/arm64", "{run}");
}

#[test]
fn platform_comes_from_the_config_when_the_index_has_none() {
    let t = tmp();
    let dir = t.path().join("x");
    Layout::single(bb("amd64", "linux/arm64").no_index_platform()).write_dir(&dir);
    let run = check_json(&[&format!("oci:{}", dir.display())], &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    assert_eq!(p["platform"], "linux/arm64", "{run}");
}

#[test]
fn docker_media_types_are_read() {
    let t = tmp();
    let dir = t.path().join("x");
    Layout::multi(vec![bb("amd64", "linux/amd64"), bb("amd64", "linux/arm64")])
        .flavor(Flavor::Docker)
        .write_dir(&dir);
    let run = check_json(&[&format!("oci:{}", dir.display())], &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(platform_names(&run).len(), 2, "{run}");
}

// ---- --platform ------------------------------------------------------------------

#[test]
fn platform_filter_selects_platforms() {
    let t = tmp();
    let dir = t.path().join("x");
    buildx_pair(&dir, false);
    let r = format!("oci:{}", dir.display());
    let run = check_json(&[&r], &["--platform", "linux/amd64"]);
    assert_eq!(platform_names(&run), ["linux/amd64"], "{run}");
    assert_eq!(run.code, 0, "only the good platform was checked\n{run}");

    let run = check_json(&[&r], &["--platform", "linux/arm64"]);
    run.expect(1, "fail", "arch-mismatch");

    let run = check_json(&[&r], &["--platform", "linux/amd64,linux/arm64"]);
    assert_eq!(platform_names(&run).len(), 2, "{run}");
    let run = check_json(
        &[&r],
        &["--platform", "linux/amd64", "--platform", "linux/arm64"],
    );
    assert_eq!(platform_names(&run).len(), 2, "{run}");
}

#[test]
fn platform_filter_accepts_aliases() {
    let t = tmp();
    let dir = t.path().join("x");
    buildx_pair(&dir, false);
    let r = format!("oci:{}", dir.display());
    let run = check_json(&[&r], &["--platform", "linux/aarch64"]);
    assert_eq!(platform_names(&run), ["linux/arm64"], "{run}");
    let run = check_json(&[&r], &["--platform", "linux/x86_64"]);
    assert_eq!(platform_names(&run), ["linux/amd64"], "{run}");
}

#[test]
fn platform_filter_naming_an_absent_platform_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    buildx_pair(&dir, true);
    let run = check_json(
        &[&format!("oci:{}", dir.display())],
        &["--platform", "linux/riscv64"],
    );
    run.expect_undecided(&["linux/riscv64"]);
}

#[test]
fn bad_platform_argument_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    buildx_pair(&dir, true);
    let run = check_json(
        &[&format!("oci:{}", dir.display())],
        &["--platform", "linux/not-an-arch/v99/x"],
    );
    assert_eq!(run.code, 2, "{run}");
}

// ---- compression and archives ------------------------------------------------------

#[test]
fn zstd_layers() {
    let img = Image::new("linux/arm64")
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer("arm64").compression(Compression::Zstd));
    check_image(img, &[]).expect(0, "pass", "match");
    let img = Image::new("linux/arm64")
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer("amd64").compression(Compression::Zstd));
    check_image(img, &[]).expect(1, "fail", "arch-mismatch");
}

#[test]
fn uncompressed_layers() {
    let img = Image::new("linux/arm64")
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer("arm64").compression(Compression::None));
    check_image(img, &[]).expect(0, "pass", "match");
}

#[test]
fn mixed_compression_layer_stack() {
    // good busybox gzip at the bottom, link in a zstd layer, wrong app uncompressed on top
    let img = Image::new("linux/arm64")
        .entrypoint(&["/bin/sh"])
        .healthcheck(&["CMD", "/app"])
        .layer(
            Layer::new()
                .file_from("bin/busybox", busybox("arm64"))
                .compression(Compression::Gzip),
        )
        .layer(
            Layer::new()
                .symlink("bin/sh", "busybox")
                .compression(Compression::Zstd),
        )
        .layer(
            Layer::new()
                .file_from("app", busybox("amd64"))
                .compression(Compression::None),
        );
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    assert!(find_check(&p, "entrypoint", "pass").is_some(), "{run}");
    assert!(find_check(&p, "healthcheck", "fail").is_some(), "{run}");
}

#[test]
fn oci_archive() {
    let t = tmp();
    let f = t.path().join("x.tar");
    Layout::buildx(vec![bb("amd64", "linux/amd64"), bb("amd64", "linux/arm64")]).write_archive(&f);
    let run = check_json(&[&format!("oci-archive:{}", f.display())], &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(platform_names(&run).len(), 2, "{run}");
}

#[test]
fn docker_archive() {
    let t = tmp();
    let f = t.path().join("x.tar");
    write_docker_archive(&bb("arm64", "linux/arm64"), &["example/busybox:arm64"], &f);
    let run = check_json(&[&format!("docker-archive:{}", f.display())], &[]);
    run.expect(0, "pass", "match");

    let f = t.path().join("bad.tar");
    write_docker_archive(&bb("amd64", "linux/arm64"), &["example/busybox:bad"], &f);
    let run = check_json(&[&format!("docker-archive:{}", f.display())], &[]);
    run.expect(1, "fail", "arch-mismatch");
}

#[test]
fn docker_archive_as_docker_25_saves_it() {
    // `docker save` since Docker 25: an OCI layout plus manifest.json
    let t = tmp();
    let f = t.path().join("x.tar");
    write_docker_archive_oci(&bb("amd64", "linux/arm64"), &["example/busybox:bad"], &f);
    let p = f.to_str().unwrap();
    for r in [
        format!("docker-archive:{p}"),
        format!("oci-archive:{p}"),
        p.to_string(),
    ] {
        check_json(&[&r], &[]).expect(1, "fail", "arch-mismatch");
    }
    let f = t.path().join("good.tar");
    write_docker_archive_oci(&bb("arm64", "linux/arm64"), &["example/busybox:good"], &f);
    check_json(&[f.to_str().unwrap()], &[]).expect(0, "pass", "match");
}

#[test]
fn docker_archive_multi_layer_whiteout() {
    let t = tmp();
    let f = t.path().join("x.tar");
    let img = Image::new("linux/arm64")
        .entrypoint(&["/app"])
        .layer(Layer::new().file_from("app", busybox("arm64")))
        .layer(Layer::new().whiteout("app"));
    write_docker_archive(&img, &["example/gone:1"], &f);
    let run = check_json(&[&format!("docker-archive:{}", f.display())], &[]);
    run.expect(1, "fail", "not-found");
}

#[test]
fn bare_paths_are_sniffed() {
    let t = tmp();
    let dir = t.path().join("layout");
    Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    let oa = t.path().join("oci.tar");
    Layout::single(bb("arm64", "linux/arm64")).write_archive(&oa);
    let da = t.path().join("docker.tar");
    write_docker_archive(&bb("arm64", "linux/arm64"), &["example/x:1"], &da);
    for p in [&dir, &oa, &da] {
        let run = check_json(&[p.to_str().unwrap()], &[]);
        run.expect(0, "pass", "match");
    }
}

#[test]
fn several_images_in_one_run() {
    let t = tmp();
    let good = t.path().join("good");
    let bad = t.path().join("bad.tar");
    Layout::single(bb("arm64", "linux/arm64")).write_dir(&good);
    write_docker_archive(&bb("amd64", "linux/arm64"), &["example/x:1"], &bad);
    let run = check_json(&[good.to_str().unwrap(), bad.to_str().unwrap()], &[]);
    assert_eq!(run.code, 1, "{run}");
    let j = run.json();
    assert_eq!(j["images"].as_array().map(|a| a.len()), Some(2), "{run}");
    assert_eq!(j["images"][0]["platforms"][0]["verdict"], "pass", "{run}");
    assert_eq!(j["images"][1]["platforms"][0]["verdict"], "fail", "{run}");
}

#[test]
fn human_format_is_the_default() {
    let t = tmp();
    let dir = t.path().join("x");
    buildx_pair(&dir, false);
    let run = archgate(&["check", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("linux/arm64"), "{run}");
    assert!(run.stdout.contains("arch-mismatch"), "{run}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&run.stdout).is_err(),
        "human output is not JSON\n{run}"
    );
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `archgate check IMAGE | head -1`: the reader stopped reading; the
    // verdict and its exit code stand, and nothing is said about the pipe.
    let t = tmp();
    let good = t.path().join("good");
    let bad = t.path().join("bad");
    Layout::single(bb("arm64", "linux/arm64")).write_dir(&good);
    Layout::single(bb("amd64", "linux/arm64")).write_dir(&bad);
    for (dir, code) in [(&good, 0), (&bad, 1)] {
        let run = Archgate::new(&["check", dir.to_str().unwrap()])
            .stdout_closed()
            .run();
        assert_eq!(run.code, code, "{run}");
        assert_eq!(run.stderr, "", "{run}");
    }
}

// ---- references --------------------------------------------------------------------

fn tagged_layout(dir: &Path) {
    Layout::new()
        .add(Some("good"), Target::Manifest(bb("arm64", "linux/arm64")))
        .add(Some("bad"), Target::Manifest(bb("amd64", "linux/arm64")))
        .write_dir(dir);
}

#[test]
fn oci_ref_selects_the_tagged_image() {
    let t = tmp();
    let dir = t.path().join("x");
    tagged_layout(&dir);
    check_json(&[&format!("oci:{}:good", dir.display())], &[]).expect(0, "pass", "match");
    check_json(&[&format!("oci:{}:bad", dir.display())], &[]).expect(1, "fail", "arch-mismatch");
}

#[test]
fn oci_archive_ref_selects_the_tagged_image() {
    let t = tmp();
    let f = t.path().join("x.tar");
    Layout::new()
        .add(Some("good"), Target::Manifest(bb("arm64", "linux/arm64")))
        .add(Some("bad"), Target::Manifest(bb("amd64", "linux/arm64")))
        .write_archive(&f);
    check_json(&[&format!("oci-archive:{}:good", f.display())], &[]).expect(0, "pass", "match");
    check_json(&[&format!("oci-archive:{}:bad", f.display())], &[]).expect(
        1,
        "fail",
        "arch-mismatch",
    );
}

#[test]
fn nonexistent_ref_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    tagged_layout(&dir);
    let run = check_json(&[&format!("oci:{}:nope", dir.display())], &[]);
    run.expect_undecided(&["nope"]);
}

// ---- could not decide ------------------------------------------------------------

#[test]
fn nonexistent_path_is_undecided() {
    let t = tmp();
    let p = t.path().join("does-not-exist");
    let p = p.to_str().unwrap();
    check_json(&[p], &[]).expect_undecided(&[p]);
    check_json(&[&format!("oci:{p}")], &[]).expect_undecided(&[p]);
    check_json(&[&format!("oci-archive:{p}")], &[]).expect_undecided(&[p]);
    check_json(&[&format!("docker-archive:{p}")], &[]).expect_undecided(&[p]);
}

#[test]
fn malformed_index_json_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    write_index_json(&dir, b"{\"schemaVersion\": 2, \"manifests\": [");
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&["index.json"]);
}

#[test]
fn index_json_of_the_wrong_shape_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    write_index_json(
        &dir,
        b"{\"schemaVersion\": 2, \"manifests\": {\"not\": \"a list\"}}",
    );
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&["index.json"]);
}

#[test]
fn missing_layer_blob_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    let w = Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    let layer = w.manifest("linux/arm64").layer_digests[0].clone();
    delete_blob(&dir, &layer);
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&[hex_of(&layer)]);
}

#[test]
fn missing_config_blob_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    let w = Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    let cfg = w.manifest("linux/arm64").config_digest.clone();
    delete_blob(&dir, &cfg);
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&[hex_of(&cfg)]);
}

#[test]
fn missing_manifest_blob_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    let w = buildx_pair(&dir, true);
    let m = w.manifest("linux/arm64").digest.clone();
    delete_blob(&dir, &m);
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&[hex_of(&m)]);
}

#[test]
fn tampered_config_blob_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    let w = Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    let cfg = w.manifest("linux/arm64").config_digest.clone();
    tamper_blob(&dir, &cfg);
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&[hex_of(&cfg)]);
}

#[test]
fn tampered_layer_blob_is_undecided() {
    // still a valid gzip stream of a valid tar: only the digest tells
    let t = tmp();
    let dir = t.path().join("x");
    let img = Image::new("linux/arm64")
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer("arm64").compression(Compression::None));
    let w = Layout::single(img).write_dir(&dir);
    let layer = w.manifest("linux/arm64").layer_digests[0].clone();
    let mut data = std::fs::read(w.blob_path(&layer)).unwrap();
    // flip a byte inside busybox's contents, well past the tar headers
    let i = data.len() / 2;
    data[i] ^= 0x01;
    replace_blob(&dir, &layer, &data);
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&[hex_of(&layer)]);
}

#[test]
fn tampered_manifest_blob_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    let w = Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    let m = w.manifest("linux/arm64").digest.clone();
    let text = std::fs::read_to_string(w.blob_path(&m)).unwrap();
    replace_blob(
        &dir,
        &m,
        text.replace("\"schemaVersion\":2", "\"schemaVersion\": 2")
            .as_bytes(),
    );
    check_json(&[&format!("oci:{}", dir.display())], &[]).expect_undecided(&[hex_of(&m)]);
}

#[test]
fn unknown_layer_media_type_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    let img = Image::new("linux/arm64")
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer("arm64").media_type("application/vnd.example.layer.v1+lz4"));
    Layout::single(img).write_dir(&dir);
    check_json(&[&format!("oci:{}", dir.display())], &[])
        .expect_undecided(&["application/vnd.example.layer.v1+lz4"]);
}

#[test]
fn unknown_manifest_media_type_is_undecided() {
    let t = tmp();
    let dir = t.path().join("x");
    Layout::single(bb("arm64", "linux/arm64")).write_dir(&dir);
    let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
    write_index_json(
        &dir,
        index
            .replace(OCI_MANIFEST, "application/vnd.example.manifest.v9+json")
            .as_bytes(),
    );
    check_json(&[&format!("oci:{}", dir.display())], &[])
        .expect_undecided(&["application/vnd.example.manifest.v9+json"]);
}

#[test]
fn truncated_oci_archive_is_undecided() {
    let t = tmp();
    let f = t.path().join("x.tar");
    Layout::single(bb("arm64", "linux/arm64")).write_archive(&f);
    let len = std::fs::metadata(&f).unwrap().len();
    truncate(&f, len / 2);
    let p = f.to_str().unwrap();
    check_json(&[&format!("oci-archive:{p}")], &[]).expect_undecided(&[p]);
    check_json(&[p], &[]).expect_undecided(&[p]);
}

#[test]
fn truncated_docker_archive_is_undecided() {
    let t = tmp();
    let f = t.path().join("x.tar");
    write_docker_archive(&bb("arm64", "linux/arm64"), &["example/x:1"], &f);
    let len = std::fs::metadata(&f).unwrap().len();
    truncate(&f, len / 2);
    let p = f.to_str().unwrap();
    check_json(&[&format!("docker-archive:{p}")], &[]).expect_undecided(&[p]);
}

#[test]
fn a_file_that_is_no_image_is_undecided() {
    let t = tmp();
    let f = t.path().join("notes.txt");
    std::fs::write(&f, "not an image\n").unwrap();
    let p = f.to_str().unwrap();
    check_json(&[p], &[]).expect_undecided(&[p]);
    let d = t.path().join("emptydir");
    std::fs::create_dir(&d).unwrap();
    let p = d.to_str().unwrap();
    check_json(&[p], &[]).expect_undecided(&[p]);
}

#[test]
fn undecided_image_beside_a_failing_one_still_exits_2() {
    // "could not decide" wins: the gate has no verdict for the whole run
    let t = tmp();
    let bad = t.path().join("bad");
    Layout::single(bb("amd64", "linux/arm64")).write_dir(&bad);
    let missing = t.path().join("missing");
    let run = check_json(&[bad.to_str().unwrap(), missing.to_str().unwrap()], &[]);
    run.expect_undecided(&[missing.to_str().unwrap()]);
}

#[test]
fn unknown_transport_is_undecided() {
    let run = check_json(&["nosuch-transport:/tmp/x"], &[]);
    assert_eq!(run.code, 2, "{run}");
}

#[test]
fn no_images_is_a_usage_error() {
    let run = archgate(&["check"]);
    assert_eq!(run.code, 2, "{run}");
}
