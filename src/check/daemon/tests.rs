use super::*;
use crate::check::oci::OCI_INDEX;
use crate::check::CheckError;
use crate::docker::testutil::fake_engine;
use crate::rootfs::RootFs;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

#[test]
fn references_are_normalised_like_skopeo() {
    let ok = |s: &str| parse_reference(s).unwrap();
    assert_eq!(ok("alpine"), "alpine:latest");
    assert_eq!(ok("alpine:3.19"), "alpine:3.19");
    assert_eq!(ok("archgate-e2e/app:v1"), "archgate-e2e/app:v1");
    assert_eq!(ok("localhost:5000/app"), "localhost:5000/app:latest");
    assert_eq!(ok("reg.example:5000/a/b:t"), "reg.example:5000/a/b:t");
    let dg = format!("sha256:{}", "a".repeat(64));
    assert_eq!(ok(&format!("app@{dg}")), format!("app@{dg}"));
    assert_eq!(ok(&format!("app:v1@{dg}")), format!("app:v1@{dg}"));
    assert_eq!(ok(&dg), dg);
    assert_eq!(ok(&"b".repeat(64)), format!("sha256:{}", "b".repeat(64)));
    // docker's grammar, as docker:// and -t read it.
    assert_eq!(ok("Myhost/x"), "Myhost/x:latest");
    assert_eq!(ok("[::1]:5000/app"), "[::1]:5000/app:latest");
    assert_eq!(ok("[::1]:5000/app:v2"), "[::1]:5000/app:v2");
    for bad in [
        "",
        "Alpine",
        "app:",
        "app:bad tag",
        "a//b",
        "app@sha256:abc",
        "sha256:xyz",
        "app/../etc",
        "app?x=1",
        "-app",
    ] {
        assert!(parse_reference(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn spool_file_leaves_no_name_behind() {
    let t = tempfile::tempdir().unwrap();
    let mut f = spool_file(t.path()).unwrap();
    f.write_all(b"data").unwrap();
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
}

// ------------------------------------------------------- a fake engine

fn tar_with(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o755);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha(b: &[u8]) -> String {
    Digest::sha256_of(b).to_string()
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap()
}

fn to_vec(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// One image's layer and config: `/app` holds `payload`.
fn image_blobs(arch: &str, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let layer = tar_with(&[("app", payload.to_vec())]);
    let config = to_vec(&json!({
        "architecture": arch, "os": "linux",
        "config": {"Entrypoint": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]},
    }));
    (layer, config)
}

/// Docker 20.10's shape: `<id>/layer.tar`, `<hex>.json`, manifest.json last.
fn docker20_export(arch: &str) -> Vec<u8> {
    let (layer, config) = image_blobs(arch, b"payload");
    let cfg = format!("{}.json", hex(&sha(&config)));
    let manifest = to_vec(&json!([{
        "Config": cfg, "RepoTags": ["app:v1"], "Layers": ["abc/layer.tar"],
    }]));
    tar_with(&[
        ("abc/layer.tar", layer),
        (&cfg, config),
        ("manifest.json", manifest),
    ])
}

/// Docker 26's containerd shape: an index of `arches`, of which only
/// `present` have their manifest, config and layer in the export.
fn containerd_export(arches: &[&str], present: &[&str]) -> Vec<u8> {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut descs = Vec::new();
    for (i, arch) in arches.iter().enumerate() {
        let (layer, config) = image_blobs(arch, format!("payload {i}").as_bytes());
        let manifest = to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha(&layer), "size": layer.len()}],
        }));
        descs.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(&manifest), "size": manifest.len(),
            "platform": {"os": "linux", "architecture": arch},
        }));
        if present.contains(arch) {
            blobs.push((sha(&layer), layer));
            blobs.push((sha(&config), config));
            blobs.push((sha(&manifest), manifest));
        }
    }
    // An attestation whose blob is missing too: skipped silently.
    descs.push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "e".repeat(64)), "size": 10,
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
    }));
    let index = to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs,
    }));
    blobs.push((sha(&index), index.clone()));
    let top = to_vec(&json!({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_INDEX, "digest": sha(&index), "size": index.len(),
        "annotations": {"io.containerd.image.name": "docker.io/library/app:v1"},
    }]}));
    let mut entries: Vec<(String, Vec<u8>)> = blobs
        .into_iter()
        .map(|(d, b)| (format!("blobs/sha256/{}", hex(&d)), b))
        .collect();
    entries.push(("index.json".into(), top));
    entries.push((
        "oci-layout".into(),
        b"{\"imageLayoutVersion\":\"1.0.0\"}".to_vec(),
    ));
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    tar_with(&refs)
}

fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for c in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn docker20_export_is_read_as_a_docker_archive() {
    let (_t, host, h) = fake_engine(vec![chunked(&docker20_export("arm64"), 777)]);
    let d = open_on(&host, "app:v1").unwrap();
    assert_eq!(h.join().unwrap(), "GET /images/app:v1/get HTTP/1.1");
    assert_eq!(d.images.len(), 1);
    assert!(d.skipped.is_empty());
    let img = &d.images[0];
    assert_eq!(img.platform.to_string(), "linux/arm64");
    let data = futures::executor::block_on(img.fs.read_at(b"/app", 0, 100)).unwrap();
    assert_eq!(data, b"payload");
}

#[test]
fn containerd_export_skips_platforms_without_content() {
    let body = containerd_export(&["amd64", "arm64", "s390x"], &["arm64", "s390x"]);
    let mut answer =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    answer.extend_from_slice(&body);
    let (_t, host, _h) = fake_engine(vec![answer]);
    let d = open_on(&host, "app:v1").unwrap();
    let mut got: Vec<String> = d.images.iter().map(|i| i.platform.to_string()).collect();
    got.sort();
    assert_eq!(got, ["linux/arm64", "linux/s390x"]);
    assert_eq!(d.skipped.len(), 1, "{:?}", d.skipped);
    assert_eq!(
        d.skipped[0].platform.as_ref().unwrap().to_string(),
        "linux/amd64"
    );
    assert!(d.skipped[0]
        .to_string()
        .contains("not in the engine's store"));
    assert!(d.images.iter().all(|i| i.digest.is_some()));
}

#[test]
fn containerd_export_with_no_platform_is_an_error() {
    let body = containerd_export(&["amd64"], &[]);
    let (_t, host, _h) = fake_engine(vec![chunked(&body, 4096)]);
    let e = open_on(&host, "app:v1").unwrap_err().to_string();
    assert!(
        e.contains("docker-daemon:app:v1")
            && e.contains("no complete platform")
            && e.contains("linux/amd64"),
        "{e}"
    );
}

#[test]
fn unknown_image_quotes_the_engine() {
    let body = "{\"message\":\"No such image: nope:latest\"}\n";
    let answer = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    let (_t, host, _h) = fake_engine(vec![answer.into_bytes()]);
    // As `check::open` gives it: the engine's refusal, typed, inside
    // check's error.
    let e = CheckError::from(open_on(&host, "nope:latest").unwrap_err());
    let s = e.to_string();
    assert!(
        matches!(
            &e,
            CheckError::Daemon(DaemonError::Engine { status: 404, .. })
        ),
        "{e:?}"
    );
    assert!(
        s.contains("No such image: nope:latest") && !s.contains('\n'),
        "{s}"
    );
}

#[test]
fn truncated_export_is_an_error_not_an_image() {
    let mut answer = chunked(&docker20_export("amd64"), 1000);
    answer.truncate(answer.len() - 700);
    let (_t, host, _h) = fake_engine(vec![answer]);
    let e = open_on(&host, "app:v1").unwrap_err().to_string();
    assert!(e.contains("broke off"), "{e}");

    let body = docker20_export("amd64");
    let mut answer =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    answer.extend_from_slice(&body[..body.len() / 2]);
    let (_t, host, _h) = fake_engine(vec![answer]);
    let e = open_on(&host, "app:v1").unwrap_err().to_string();
    assert!(e.contains("broke off") && e.contains("bytes"), "{e}");
}

#[test]
fn garbage_export_is_refused() {
    let (_t, host, _h) = fake_engine(vec![chunked(b"this is not a tar", 5)]);
    let e = open_on(&host, "app:v1").unwrap_err().to_string();
    assert!(
        e.contains("docker-daemon:app:v1") && !e.contains("/proc/"),
        "{e}"
    );
}

#[test]
fn missing_socket_is_named_quickly() {
    let t = tempfile::tempdir().unwrap();
    let sock = t.path().join("no-such.sock");
    let start = std::time::Instant::now();
    let e = open_on(&EngineHost::Unix(sock.clone()), "app:v1")
        .unwrap_err()
        .to_string();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        e.contains(&sock.display().to_string()) && e.contains("cannot reach"),
        "{e}"
    );
}
