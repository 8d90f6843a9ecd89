//! End to end against real registries (`docker://`): the testenv's anonymous
//! and htpasswd registries (images pushed with skopeo from the same fixtures
//! as the local-image tests), and, for a registry dying mid-blob, a
//! `docker-registry` process of the test's own. Faults (a tampered blob, a
//! cut connection, rate limiting) are made by a relay in front of a real
//! registry.

use crate::common;

use common::buildenv::{base64, env, Registry};
use common::registry::*;
use common::relay::{Fault, Relay};
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn busybox_image(debarch: &str, platform: &str) -> Image {
    Image::new(platform)
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer(debarch))
}

fn two_platforms() -> Vec<Image> {
    vec![
        busybox_image("amd64", "linux/amd64"),
        busybox_image("arm64", "linux/arm64"),
    ]
}

fn platforms_of(run: &Run) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = run
        .platforms()
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap_or("?").to_string(),
                p["verdict"].as_str().unwrap_or("?").to_string(),
                p["reason"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn pass(p: &str) -> (String, String, String) {
    (p.to_string(), "pass".into(), "match".into())
}

/// Credentials and the forms they travel in must never be shown.
fn assert_no_secret(run: &Run, secret: &str, user: &str) {
    let basic = base64(format!("{user}:{secret}").as_bytes());
    for needle in [secret, basic.as_str()] {
        assert!(
            !run.stdout.contains(needle) && !run.stderr.contains(needle),
            "a credential appears in the output\n{run}"
        );
    }
}

#[test]
fn two_platform_image_passes_from_the_registry() {
    let r = repo_ref(env().registry(), "two_platform_image_passes", "v1");
    push(&Layout::multi(two_platforms()), None, &r, None);
    let run = check_docker(&r, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        platforms_of(&run),
        vec![pass("linux/amd64"), pass("linux/arm64")],
        "{run}"
    );
    for p in run.platforms() {
        assert!(
            p["digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")),
            "{run}"
        );
    }
    // --platform picks one, as for local images.
    let run = check_docker(&r, &["--platform", "linux/arm64"]);
    assert_eq!(platforms_of(&run), vec![pass("linux/arm64")], "{run}");
    let run = check_docker(&r, &["--platform", "linux/s390x"]);
    run.expect_undecided(&["linux/s390x"]);
}

#[test]
fn docker_manifest_list_and_schema2_are_read() {
    let r = repo_ref(env().registry(), "docker_manifest_list", "v1");
    push(
        &Layout::multi(two_platforms()).flavor(Flavor::Docker),
        None,
        &r,
        None,
    );
    let (name, tag) = common::buildenv::repo_and_tag(&r);
    let m = Registry::anonymous().manifest(&name, &tag);
    assert_eq!(
        m["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json",
        "skopeo kept the Docker list: {m}"
    );
    let run = check_docker(&r, &[]);
    assert_eq!(
        (run.code, platforms_of(&run)),
        (0, vec![pass("linux/amd64"), pass("linux/arm64")]),
        "{run}"
    );
}

#[test]
fn single_manifest_by_tag_and_by_digest() {
    let reg = env().registry();
    let r = repo_ref(reg, "single_manifest", "v1");
    push(
        &Layout::single(busybox_image("arm64", "linux/arm64")),
        None,
        &r,
        None,
    );
    check_docker(&r, &[]).expect(0, "pass", "match");
    let (name, tag) = common::buildenv::repo_and_tag(&r);
    let a = Registry::anonymous().request("GET", &format!("/v2/{name}/manifests/{tag}"));
    let digest = sha256(&a.body);
    let by_digest = format!("{reg}/{name}@{digest}");
    let p = check_docker(&by_digest, &[]).expect(0, "pass", "match");
    assert_eq!(p["digest"], digest.as_str());
}

#[test]
fn attestation_manifests_are_skipped() {
    let r = repo_ref(env().registry(), "attestations_skipped", "v1");
    push(&Layout::buildx(two_platforms()), Some("latest"), &r, None);
    // The pushed index really holds buildx's attestation manifests.
    let (name, tag) = common::buildenv::repo_and_tag(&r);
    let m = Registry::anonymous().manifest(&name, &tag);
    let att = m["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["platform"]["os"] == "unknown"
                && d["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
        })
        .count();
    assert_eq!(att, 2, "{m}");
    let run = check_docker(&r, &[]);
    assert_eq!(
        (run.code, platforms_of(&run)),
        (0, vec![pass("linux/amd64"), pass("linux/arm64")]),
        "{run}"
    );
}

#[test]
fn arch_mismatch_from_the_registry() {
    let r = repo_ref(env().registry(), "arch_mismatch", "v1");
    push(
        &Layout::multi(vec![
            busybox_image("amd64", "linux/amd64"),
            busybox_image("amd64", "linux/arm64"),
        ]),
        None,
        &r,
        None,
    );
    let run = check_docker(&r, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        platforms_of(&run),
        vec![
            pass("linux/amd64"),
            ("linux/arm64".into(), "fail".into(), "arch-mismatch".into())
        ],
        "{run}"
    );
}

#[test]
fn loader_missing_from_the_registry() {
    let r = repo_ref(env().registry(), "loader_missing", "v1");
    let img = Image::new("linux/arm64")
        .entrypoint(&["/usr/bin/hello"])
        .layer(glibc_hello_layer("arm64", false));
    push(&Layout::single(img), None, &r, None);
    let p = check_docker(&r, &[]).expect(1, "fail", "loader-missing");
    assert!(
        p["message"]
            .as_str()
            .unwrap_or("")
            .contains(glibc_loader("arm64")),
        "{p:#}"
    );
}

#[test]
fn symlinked_entrypoint_from_the_registry() {
    let r = repo_ref(env().registry(), "symlinked_entrypoint", "v1");
    let img = Image::new("linux/arm64")
        .entrypoint(&["/usr/local/bin/app"])
        .layer(Layer::new().file_from("opt/app/hello", go_hello("arm64")))
        .layer(Layer::new().symlink("usr/local/bin/app", "/opt/app/hello"));
    push(&Layout::single(img), None, &r, None);
    let p = check_docker(&r, &[]).expect(0, "pass", "match");
    assert_eq!(p["resolved"], "/opt/app/hello", "{p:#}");
}

#[test]
fn unknown_tag_and_unknown_name_are_404s() {
    let reg = env().registry();
    let r = repo_ref(reg, "unknown_tag", "v1");
    push(
        &Layout::single(busybox_image("amd64", "linux/amd64")),
        None,
        &r,
        None,
    );
    let (name, _) = common::buildenv::repo_and_tag(&r);
    let run = check_docker(&format!("{reg}/{name}:nope"), &[]);
    run.expect_undecided(&["not found", "no tag \"nope\"", &name]);
    let missing = format!("archgate-e2e/{}", common::buildenv::unique("no_such_name"));
    let run = check_docker(&format!("{reg}/{missing}:v1"), &[]);
    run.expect_undecided(&["not found", &missing]);
}

fn auth_image(test: &str) -> String {
    let e = env();
    let r = repo_ref(e.auth_registry(), test, "v1");
    push(
        &Layout::single(busybox_image("arm64", "linux/arm64")),
        None,
        &r,
        Some((e.auth_user(), e.auth_pass())),
    );
    r
}

#[test]
fn auth_from_docker_config_auths() {
    let e = env();
    let r = auth_image("auth_auths");
    let image = format!("docker://{r}");
    let cfg = docker_config(&json!({"auths": {
        e.auth_registry(): {"auth": base64(format!("{}:{}", e.auth_user(), e.auth_pass()).as_bytes())}
    }}));
    let run = archgate_env(
        &["check", "--format", "json", &image],
        &[
            ("DOCKER_CONFIG", Some(cfg.path().into())),
            ("ARCHGATE_LOG", Some("trace".into())),
        ],
    );
    run.expect(0, "pass", "match");
    assert_no_secret(&run, e.auth_pass(), e.auth_user());

    // Without credentials: 401, said plainly.
    let empty = docker_config(&json!({}));
    let run = archgate_env(
        &["check", "--format", "json", &image],
        &[("DOCKER_CONFIG", Some(empty.path().into()))],
    );
    run.expect_undecided(&[
        e.auth_registry(),
        "requires credentials for",
        "none were found",
    ]);
}

#[test]
fn auth_from_a_credential_helper() {
    let e = env();
    let r = auth_image("auth_helper");
    let image = format!("docker://{r}");
    let (_bin, path) = credential_helper(
        "archgate-e2e",
        e.auth_registry(),
        e.auth_user(),
        e.auth_pass(),
    );
    let cfg = docker_config(&json!({"credHelpers": {e.auth_registry(): "archgate-e2e"}}));
    let run = archgate_env(
        &["check", "--format", "json", &image],
        &[
            ("DOCKER_CONFIG", Some(cfg.path().into())),
            ("PATH", Some(path.clone())),
            ("ARCHGATE_LOG", Some("debug".into())),
        ],
    );
    run.expect(0, "pass", "match");
    assert_no_secret(&run, e.auth_pass(), e.auth_user());
    // credsStore works the same way.
    let cfg = docker_config(&json!({"credsStore": "archgate-e2e"}));
    let run = archgate_env(
        &["check", "--format", "json", &image],
        &[
            ("DOCKER_CONFIG", Some(cfg.path().into())),
            ("PATH", Some(path)),
        ],
    );
    run.expect(0, "pass", "match");
}

#[test]
fn refused_credentials_are_a_clear_401() {
    let e = env();
    let r = auth_image("auth_refused");
    let image = format!("docker://{r}");
    let wrong = "not-the-password-0123456789";
    let cfg = docker_config(&json!({"auths": {
        e.auth_registry(): {"auth": base64(format!("{}:{wrong}", e.auth_user()).as_bytes())}
    }}));
    let run = archgate_env(
        &["check", "--format", "json", &image],
        &[
            ("DOCKER_CONFIG", Some(cfg.path().into())),
            ("ARCHGATE_LOG", Some("trace".into())),
        ],
    );
    assert_no_secret(&run, wrong, e.auth_user());
    // Trace logging may add lines; the error itself is one line.
    assert_eq!(run.code, 2, "{run}");
    let err: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("archgate: "))
        .collect();
    assert_eq!(err.len(), 1, "{run}");
    for n in [e.auth_registry(), "refused the credentials", "401"] {
        assert!(err[0].contains(n), "{n:?}\n{run}");
    }
    let run = archgate_env(
        &["check", "--format", "json", &image],
        &[("DOCKER_CONFIG", Some(cfg.path().into()))],
    );
    run.expect_undecided(&["refused the credentials", "config.json"]);
}

fn go_image_arm64() -> Layout {
    Layout::single(
        Image::new("linux/arm64")
            .entrypoint(&["/hello"])
            .layer(Layer::new().file_from("hello", go_hello("arm64"))),
    )
}

/// A relay to `reg` that flips the byte at `offset` of blob `digest`.
fn flipping(reg: &str, digest: &str, offset: u64) -> Relay {
    Relay::to_tcp(reg)
        .fault(Fault::FlipBodyByte {
            path: format!("/blobs/{digest}"),
            offset,
        })
        .start()
}

#[test]
fn tampered_blobs_are_digest_mismatches() {
    let reg = env().registry();
    let r = repo_ref(reg, "tampered_blob", "v1");
    push(&go_image_arm64(), None, &r, None);
    let (config, layers) = pushed_layers(reg, &r);
    let (_, rest) = r.split_once('/').unwrap();
    // A layer: its gzip MTIME byte, so it still decompresses.
    let relay = flipping(reg, &layers[0], 4);
    let run = check_docker(&format!("{}/{rest}", relay.addr()), &[]);
    run.expect_undecided(&["digest mismatch", &layers[0]]);
    // The config.
    let relay = flipping(reg, &config, 0);
    let run = check_docker(&format!("{}/{rest}", relay.addr()), &[]);
    run.expect_undecided(&["digest mismatch", &config]);
    // The same image straight from the registry passes.
    check_docker(&r, &[]).expect(0, "pass", "match");
}

/// A Go program under a 6 MiB layer: the layers below a layer that big are
/// read ahead, on another thread, while it is read.
fn image_under_a_big_layer(program_on_top: bool) -> Layout {
    let big = Layer::new().compression(Compression::None).file(
        "big.bin",
        noise(6 << 20, 0x2545_f491_4f6c_dd1d),
        0o644,
    );
    let hello = Layer::new().file_from("hello", go_hello("arm64"));
    let img = Image::new("linux/arm64").entrypoint(&["/hello"]);
    Layout::single(if program_on_top {
        img.layer(Layer::new().file("etc/x", b"x".to_vec(), 0o644))
            .layer(big.file_from("hello", go_hello("arm64")))
    } else {
        img.layer(hello).layer(big)
    })
}

#[test]
fn a_tampered_layer_read_ahead_is_a_digest_mismatch_only_when_needed() {
    let reg = env().registry();
    for (tag, on_top) in [("below", false), ("on-top", true)] {
        let r = repo_ref(reg, "read_ahead", tag);
        push(&image_under_a_big_layer(on_top), None, &r, None);
        let (_, layers) = pushed_layers(reg, &r);
        let (_, rest) = r.split_once('/').unwrap();
        let relay = flipping(reg, &layers[0], 4);
        let image = format!("docker://{}/{rest}", relay.addr());
        let log = if on_top { "archgate=debug" } else { "warn" };
        let run = archgate_env(
            &["check", "--format", "json", &image],
            &[("ARCHGATE_LOG", Some(log.into()))],
        );
        if on_top {
            // The program is in the big top layer: the bottom one, read
            // ahead and failing, was never needed (read one layer at a
            // time, it is not even opened).
            run.expect(0, "pass", "match");
            assert!(
                run.stderr.contains("reading ahead failed"),
                "the bottom layer was not read ahead\n{run}"
            );
        } else {
            run.expect_undecided(&["digest mismatch", &layers[0]]);
        }
        check_docker(&r, &[]).expect(0, "pass", "match");
    }
}

#[test]
fn connection_cut_mid_blob_is_undecided() {
    let reg = env().registry();
    let r = repo_ref(reg, "cut_mid_blob", "v1");
    push(&go_image_arm64(), None, &r, None);
    let (_, layers) = pushed_layers(reg, &r);
    let relay = Relay::to_tcp(reg)
        .fault(Fault::CutAfter {
            path: format!("/blobs/{}", layers[0]),
            bytes: 64 * 1024,
        })
        .start();
    let (_, rest) = r.split_once('/').unwrap();
    let run = check_docker(&format!("{}/{rest}", relay.addr()), &[]);
    run.expect_undecided(&[&layers[0]]);
}

#[test]
fn rate_limiting_is_retried_then_given_up() {
    let reg = env().registry();
    let r = repo_ref(reg, "rate_limited", "v1");
    push(
        &Layout::single(busybox_image("arm64", "linux/arm64")),
        None,
        &r,
        None,
    );
    let (_, rest) = r.split_once('/').unwrap();
    // Two 429s (Retry-After: 1) on the manifest, then the real answer.
    let relay = Relay::to_tcp(reg)
        .fault(Fault::TooManyRequests {
            path: "/manifests/".into(),
            times: 2,
        })
        .start();
    let start = Instant::now();
    check_docker(&format!("{}/{rest}", relay.addr()), &[]).expect(0, "pass", "match");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    // Always 429: bounded, then one clear line.
    let relay = Relay::to_tcp(reg)
        .fault(Fault::TooManyRequests {
            path: "/manifests/".into(),
            times: u32::MAX,
        })
        .start();
    let start = Instant::now();
    let run = check_docker(&format!("{}/{rest}", relay.addr()), &[]);
    run.expect_undecided(&["429", "gave up after"]);
    assert!(start.elapsed() < Duration::from_secs(30), "{run}");
}

/// Deterministic pseudo-random bytes (incompressible, cheap to make).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

#[test]
fn registry_killed_mid_blob_is_undecided() {
    let mut own = OwnRegistry::start();
    let r = format!("{}/archgate-e2e/killed:v1", own.addr);
    // The entrypoint below a 32 MB layer: archgate must read (and verify)
    // the whole top layer before it may answer. Not bigger: Debian's
    // docker-registry takes minutes of CPU to receive a 200 MB blob (260 s
    // here, most of the CI run), and the relay holds the rest back anyway
    // (20 ms per read once 8 MB went through).
    let img = Image::new("linux/arm64")
        .entrypoint(&["/hello"])
        .layer(Layer::new().file_from("hello", go_hello("arm64")))
        .layer(Layer::new().compression(Compression::None).file(
            "big.bin",
            noise(32 << 20, 0x9e37_79b9_7f4a_7c15),
            0o644,
        ));
    push(&Layout::single(img), None, &r, None);
    let big = pushed_layers(&own.addr, &r).1[1].clone();

    let (tx, rx) = std::sync::mpsc::channel();
    let relay = Relay::to_tcp(&own.addr)
        .fault(Fault::NotifyAfter {
            path: format!("/blobs/{big}"),
            bytes: 8 << 20,
            tx: std::sync::Arc::new(std::sync::Mutex::new(tx)),
        })
        .start();
    let image = format!("docker://{}/archgate-e2e/killed:v1", relay.addr());
    let handle =
        std::thread::spawn(move || archgate_env(&["check", "--format", "json", &image], &[]));
    rx.recv_timeout(Duration::from_secs(120))
        .expect("archgate never got 8 MB into the big blob");
    own.kill();
    let killed = Instant::now();
    let run = handle.join().expect("the archgate runner");
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "archgate took {:?} after the kill\n{run}",
        killed.elapsed()
    );
    run.expect_undecided(&[&big]);
}
