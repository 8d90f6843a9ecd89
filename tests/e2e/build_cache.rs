//! `--cache-from`/`--cache-to`, `--provenance`/`--attest` and
//! `--annotation` on the buildx 0.29 `docker-container` builder, with buildx
//! on the same builder as the oracle: the index archgate pushes carries the
//! same manifests, attestation manifests and annotations as buildx's; a
//! build from a registry or local cache, after the builder's own cache was
//! pruned, shows its steps CACHED; a malformed value exits 2 before any
//! builder is asked.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common;
use common::buildenv::{
    env, on_buildx_builder, run_ok, two_arch_context, unique, FileLock, Registry, TWO_PLATFORMS,
    TWO_PLATFORM_DOCKERFILE,
};
use common::Archgate;

fn builder() -> String {
    env().get("ARCHGATE_BUILDX_BUILDER").to_string()
}

/// Drop the builder's whole build cache (`buildctl prune --all` in its
/// container), so the next build starts from a fresh builder state.
fn prune_builder() {
    let container = format!("buildx_buildkit_{}0", builder());
    run_ok(
        env()
            .docker28()
            .args(["exec", &container, "buildctl", "prune", "--all"]),
        "buildctl prune --all",
    );
}

/// What an index holds, for comparing two pushes: per manifest, its
/// platform (attestation manifests by their reference type) and
/// annotations other than the digests that differ between builds.
fn shape(index: &Value) -> (Option<Value>, Vec<String>) {
    let mut rows: Vec<String> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            let mut a: BTreeMap<String, String> = m["annotations"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| *k != "vnd.docker.reference.digest")
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let p = &m["platform"];
            a.insert(
                "platform".into(),
                format!(
                    "{}/{}",
                    p["os"].as_str().unwrap_or(""),
                    p["architecture"].as_str().unwrap_or("")
                ),
            );
            format!("{a:?}")
        })
        .collect();
    rows.sort();
    (index.get("annotations").cloned(), rows)
}

fn buildx_push(ctx: &str, tag: &str, extra: &[&str]) {
    let b = builder();
    let mut args = vec!["buildx", "build", "--builder", &b, "--progress", "quiet"];
    args.extend(["--platform", TWO_PLATFORMS, "-t", tag, "--push"]);
    args.extend(extra);
    args.push(ctx);
    run_ok(env().docker28().args(&args), "docker buildx build --push");
}

const ANNOTATIONS: [&str; 4] = [
    "--annotation",
    "index:org.example.index=yes",
    "--annotation",
    "manifest[linux/arm64]:org.example.arm=only",
];

#[test]
fn pushed_index_has_buildx_attestations_and_annotations() {
    let reg = Registry::anonymous();
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let name = format!("archgate-attest/{}", unique("attest"));
    for (flags, what) in [
        (&[][..], "default"),
        (&["--provenance", "mode=max"][..], "max"),
    ] {
        let bx = format!("{}/{name}:bx-{what}", env().registry());
        let ag = format!("{}/{name}:ag-{what}", env().registry());
        let mut extra: Vec<&str> = ANNOTATIONS.to_vec();
        extra.extend(flags);
        buildx_push(&ctx.arg(), &bx, &extra);
        let run = on_buildx_builder(&builder())
            .two_platforms()
            .args(&extra)
            .args(&["-t", &ag, "--push"])
            .run(&ctx.arg());
        run.expect_code(0);
        // The gate judged the two image platforms, never the attestations.
        run.expect_platform_set(&["linux/amd64", "linux/arm64"]);
        let want = reg.manifest(&name, &format!("bx-{what}"));
        let got = reg.manifest(&name, &format!("ag-{what}"));
        assert_eq!(
            shape(&got),
            shape(&want),
            "{what}: archgate's index differs from buildx's"
        );
        let attestations = got["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
            .count();
        assert_eq!(
            attestations, 2,
            "{what}: one attestation manifest per platform"
        );
        // The per-platform annotation sits on the arm64 manifest only.
        for m in got["manifests"].as_array().unwrap() {
            if m["platform"]["os"] != "linux" {
                continue;
            }
            let d = m["digest"].as_str().unwrap();
            let man = reg.manifest(&name, d);
            let arm = m["platform"]["architecture"] == "arm64";
            assert_eq!(
                man["annotations"]["org.example.arm"].as_str() == Some("only"),
                arm,
                "{d}: {man}"
            );
        }
    }
}

#[test]
fn provenance_false_pushes_the_images_alone() {
    let reg = Registry::anonymous();
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let name = format!("archgate-attest/{}", unique("noprov"));
    let tag = format!("{}/{name}:1", env().registry());
    on_buildx_builder(&builder())
        .two_platforms()
        .args(&["--provenance=false", "-t", &tag, "--push"])
        .run(&ctx.arg())
        .expect_code(0);
    let index = reg.manifest(&name, "1");
    let (_, rows) = shape(&index);
    assert_eq!(rows.len(), 2, "{index}");
    assert!(
        !index.to_string().contains("attestation-manifest"),
        "{index}"
    );
}

/// An SBOM generator that follows BuildKit's protocol
/// (`docs/attestations/sbom-protocol.md`): Debian's static busybox running
/// a script that lists the regular files of `$BUILDKIT_SCAN_SOURCE` into an
/// in-toto statement with an SPDX document, written as
/// `$BUILDKIT_SCAN_DESTINATION/<name>.spdx.json`.
const SCANNER_SCRIPT: &str = r#"set -e
bb=/bin/busybox
src=$BUILDKIT_SCAN_SOURCE
name=$($bb basename "$src")
out="$BUILDKIT_SCAN_DESTINATION/$name.spdx.json"
{
  printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"archgate-test-scan","files":['
  sep=
  for f in $(cd "$src" && $bb find . -type f | $bb sort); do
    printf '%s{"fileName":"%s"}' "$sep" "$f"
    sep=,
  done
  printf ']}}'
} > "$out"
"#;

/// Push the scanner image (linux/amd64, the builder's platform) with
/// buildx, so the builder can pull it as a generator.
fn push_scanner(tag: &str) {
    let ctx = common::buildenv::Context::new();
    ctx.busybox("busybox", "amd64")
        .write("scan.sh", SCANNER_SCRIPT.as_bytes())
        .dockerfile(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY scan.sh /scan.sh\nENTRYPOINT [\"/bin/busybox\", \"sh\", \"/scan.sh\"]\n",
        );
    let b = builder();
    run_ok(
        env().docker28().args([
            "buildx",
            "build",
            "--builder",
            &b,
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64",
            "--provenance=false",
            "-t",
            tag,
            "--push",
            &ctx.arg(),
        ]),
        "docker buildx build --push (scanner)",
    );
}

/// The SPDX statements of an index's attestation manifests: per platform
/// digest the SBOM layers' predicates.
fn sboms(reg: &Registry, name: &str, index: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for m in index["manifests"].as_array().expect("an index") {
        if m["annotations"]["vnd.docker.reference.type"] != "attestation-manifest" {
            continue;
        }
        let man = reg.manifest(name, m["digest"].as_str().unwrap());
        for layer in man["layers"].as_array().expect("layers") {
            if layer["annotations"]["in-toto.io/predicate-type"] != "https://spdx.dev/Document" {
                continue;
            }
            let blob = reg.request(
                "GET",
                &format!("/v2/{name}/blobs/{}", layer["digest"].as_str().unwrap()),
            );
            assert_eq!(blob.status, 200, "{layer}");
            let stmt: Value = serde_json::from_slice(&blob.body).expect("an in-toto statement");
            out.push(stmt["predicate"].clone());
        }
    }
    out
}

/// `--sbom generator=IMAGE`: BuildKit runs the generator on each platform's
/// result and attaches its SPDX document; the index archgate pushes holds
/// the same attestation manifests and the same SBOMs as buildx's.
#[test]
fn sbom_from_a_generator_image_as_buildx_attaches_it() {
    let reg = Registry::anonymous();
    let name = format!("archgate-attest/{}", unique("sbom"));
    let scanner = format!("{}/{name}:scanner", env().registry());
    push_scanner(&scanner);
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let sbom = format!("generator={scanner}");
    let bx = format!("{}/{name}:bx", env().registry());
    buildx_push(&ctx.arg(), &bx, &["--sbom", &sbom]);
    let ag = format!("{}/{name}:ag", env().registry());
    let run = on_buildx_builder(&builder())
        .two_platforms()
        .args(&["--sbom", &sbom, "-t", &ag, "--push"])
        .run(&ctx.arg());
    run.expect_code(0);
    run.expect_platform_set(&["linux/amd64", "linux/arm64"]);
    let want = reg.manifest(&name, "bx");
    let got = reg.manifest(&name, "ag");
    assert_eq!(
        shape(&got),
        shape(&want),
        "archgate's index differs from buildx's"
    );
    let (want, got) = (sboms(&reg, &name, &want), sboms(&reg, &name, &got));
    assert_eq!(got.len(), 2, "one SBOM per platform: {got:?}");
    assert_eq!(got, want, "archgate's SBOMs differ from buildx's");
    // The generator saw each platform's root filesystem (BuildKit adds
    // each file's layer to what the generator wrote).
    for doc in &got {
        let files: Vec<&Value> = doc["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| &f["fileName"])
            .collect();
        assert_eq!(files, [&Value::from("./app")], "{doc}");
    }
}

/// Build with `--cache-to`, prune the builder, build again with
/// `--cache-from`: the COPY steps come from the cache.
/// The prune empties the whole builder: the tests that prune it take turns
/// (across test processes too), so one's prune never lands in the middle of
/// another's build from its cache.
fn round_trip(cache_to: &str, cache_from: &str) {
    let _turn = FileLock::acquire(
        &std::env::temp_dir().join("archgate-e2e-buildx-prune.lock"),
        std::time::Duration::from_secs(600),
    );
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    // A context of its own: no other build's cache can answer for it.
    ctx.write("nonce", unique("nonce").as_bytes());
    ctx.dockerfile(&format!("{TWO_PLATFORM_DOCKERFILE}COPY nonce /nonce\n"));
    let first = on_buildx_builder(&builder())
        .two_platforms()
        .args(&["--cache-to", cache_to])
        .run(&ctx.arg());
    first.expect_code(0);
    prune_builder();
    let second = on_buildx_builder(&builder())
        .two_platforms()
        .args(&["--cache-from", cache_from])
        .run(&ctx.arg());
    second.expect_code(0);
    // Each platform's steps that came from the cache (the vertex's
    // `#N [linux/ARCH ...]` header, then `#N CACHED`). The nonce layer is
    // the same blob for both platforms and BuildKit may keep it for one
    // only; each platform's own binary layer must come from the cache.
    let mut names = BTreeMap::new();
    let mut cached: Vec<String> = Vec::new();
    for l in second.stderr.lines() {
        let Some((n, rest)) = l.split_once(' ') else {
            continue;
        };
        if rest.starts_with("[linux/") {
            names.insert(n.to_string(), rest.to_string());
        } else if rest == "CACHED" {
            cached.extend(names.get(n).cloned());
        }
    }
    for arch in ["amd64", "arm64"] {
        assert!(
            cached
                .iter()
                .any(|c| c.starts_with(&format!("[linux/{arch} 1/2] COPY app-{arch}"))),
            "linux/{arch}: its COPY should come from the cache\n{second}"
        );
    }
}

#[test]
fn registry_cache_hits_on_a_pruned_builder() {
    let r = format!(
        "{}/archgate-cache/{}:cache",
        env().registry(),
        unique("regcache")
    );
    round_trip(&format!("type=registry,ref={r},mode=max"), &r);
}

#[test]
fn local_cache_hits_on_a_pruned_builder() {
    let dir = common::tmp();
    let d = dir.path().join("cache");
    let d = d.display();
    round_trip(
        &format!("type=local,dest={d},mode=max"),
        &format!("type=local,src={d}"),
    );
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cache/index.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
}

#[test]
fn malformed_values_exit_2_before_the_builder() {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    for (flag, value, needle) in [
        ("--cache-to", "mode=max", "invalid --cache-to"),
        ("--cache-from", "type=local", "invalid --cache-from"),
        ("--attest", "mode=max", "invalid --attest"),
        ("--provenance", "mode", "invalid --provenance"),
        ("--annotation", "layer:a=b", "invalid --annotation"),
    ] {
        // An address nothing listens on: exit 2 must come from the flag.
        let run = Archgate::new(&["build", "--addr", "unix:///nonexistent/buildkitd.sock"])
            .args(&[flag, value, &ctx.arg()])
            .run();
        assert_eq!(run.code, 2, "{flag} {value}\n{run}");
        assert!(run.stderr.contains(needle), "{flag} {value}\n{run}");
        assert!(
            !run.stderr.contains("nonexistent"),
            "{flag} {value}: the builder was dialled\n{run}"
        );
        assert_eq!(run.stderr.trim().lines().count(), 1, "{run}");
    }
}
