//! `--load` with a BuildKit daemon that is not a Docker Engine: the
//! exporter's tarball comes back over the session and archgate loads it into
//! the engine at DOCKER_HOST, only when the gate passed: an OCI archive of
//! every platform into an engine with the containerd image store, a
//! `docker` one (one platform) into a graph-driver engine.
//!
//! The "BuildKit daemon" is Docker 26's embedded BuildKit behind a unix
//! socket that does the engine's `/grpc` upgrade itself and then relays
//! bytes, so archgate sees a plain `unix://` BuildKit address.

use crate::common;

use common::buildenv::{
    env, two_arch_context, unique, HARDCODED_DOCKERFILE, TWO_PLATFORM_DOCKERFILE,
};
use common::relay::Relay;
use common::Archgate;

/// A unix socket that does the engine's `/grpc` upgrade on Docker 26 for
/// every connection and then relays bytes.
fn upgrade_relay() -> Relay {
    Relay::to_unix(env().socket26())
        .upgrade_grpc()
        .listen_unix()
        .start()
}

fn image_exists(tag: &str) -> bool {
    env()
        .docker26()
        .args(["image", "inspect", tag])
        .output()
        .expect("docker image inspect")
        .status
        .success()
}

fn load(ctx: &common::buildenv::Context, tag: &str, relay: &Relay) -> (i32, String) {
    let run = Archgate::new(&["build", "--progress", "plain", "--format", "json"])
        .args(&["--addr", &format!("unix://{}", relay.path().display())])
        .args(&["--platform", "linux/arm64", "-t", tag, "--load", &ctx.arg()])
        .env("DOCKER_HOST", env().docker26_host())
        .env("DOCKER_CONFIG", env().docker_config())
        .run();
    (run.code, run.stderr)
}

#[test]
fn load_from_a_buildkit_daemon_reaches_the_engine_after_the_gate() {
    let relay = upgrade_relay();
    let tag = format!("archgate-load/{}:1", unique("load-good"));
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let (code, err) = load(&ctx, &tag, &relay);
    assert_eq!(code, 0, "{err}");
    assert!(image_exists(&tag), "{tag} was not loaded into the engine");
}

#[test]
fn load_is_skipped_when_the_gate_fails() {
    let relay = upgrade_relay();
    let tag = format!("archgate-load/{}:1", unique("load-bad"));
    let ctx = two_arch_context(HARDCODED_DOCKERFILE);
    let (code, err) = load(&ctx, &tag, &relay);
    assert_eq!(code, 1, "{err}");
    assert!(
        !image_exists(&tag),
        "{tag} was loaded despite the failed gate"
    );
}

/// `archgate build --load` of two platforms from the standalone buildkitd
/// into the engine at `engine`.
fn load_two(ctx: &common::buildenv::Context, args: &[&str], engine: &str) -> common::Run {
    Archgate::new(&["build", "--progress", "plain", "--format", "json"])
        .args(&["--addr", env().get("ARCHGATE_BUILDKIT_ADDR")])
        .args(&["--platform", "linux/amd64,linux/arm64", "--load"])
        .args(args)
        .args(&[&ctx.arg()])
        .env("DOCKER_HOST", engine)
        .env("DOCKER_CONFIG", env().docker_config())
        .run()
}

/// `--load` of two platforms from the standalone buildkitd into an engine
/// with the containerd image store (Docker 28): the OCI archive with both,
/// through the engine's image load, as buildx's OCI importer path does; the
/// engine then holds both platforms under the tag.
#[test]
fn two_platforms_load_into_a_containerd_store_engine() {
    let e = env();
    let tag = format!("archgate-load/{}:1", unique("load-two"));
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let run = load_two(&ctx, &["-t", &tag], e.docker28_host());
    assert_eq!(run.code, 0, "{run}");
    for arch in ["amd64", "arm64"] {
        let got = common::buildenv::run_ok(
            e.docker28().args([
                "image",
                "inspect",
                "--platform",
                &format!("linux/{arch}"),
                "--format",
                "{{.Architecture}}",
                &tag,
            ]),
            "docker image inspect --platform",
        );
        assert_eq!(got.trim(), arch, "{run}");
    }
}

/// An engine with the graph-driver store (Docker 20.10) holds one platform
/// per image: two platforms are refused before anything is built, with
/// buildx's words.
#[test]
fn two_platforms_load_into_a_graph_driver_engine_is_refused_first() {
    let e = env();
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let run = load_two(&ctx, &[], e.docker20_host());
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("docker exporter does not currently support exporting manifest lists"),
        "{run}"
    );
    assert!(!run.stderr.contains("#1 "), "nothing was built\n{run}");
}

/// Attestations make an index even of one platform: a graph-driver engine
/// cannot load it, so `--load` with `--provenance` is refused before
/// anything is built (buildx `build/opt.go`); an engine with the
/// containerd store takes it, attestation and all.
#[test]
fn load_with_attestations_needs_a_containerd_store_engine() {
    let e = env();
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let one = |engine: &str, tag: &[&str]| {
        let mut args = vec!["--platform", "linux/amd64", "--provenance", "mode=min"];
        args.extend_from_slice(tag);
        Archgate::new(&["build", "--progress", "plain", "--format", "json"])
            .args(&["--addr", e.get("ARCHGATE_BUILDKIT_ADDR")])
            .args(&["--load"])
            .args(&args)
            .args(&[&ctx.arg()])
            .env("DOCKER_HOST", engine)
            .env("DOCKER_CONFIG", e.docker_config())
            .run()
    };
    let refused = one(e.docker20_host(), &[]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(
        refused
            .stderr
            .contains("docker exporter does not currently support exporting manifest lists")
            && refused.stderr.contains("attestations requested"),
        "{refused}"
    );
    assert!(
        !refused.stderr.contains("#1 "),
        "nothing was built\n{refused}"
    );
    // The engine with the containerd store loads the OCI archive, index,
    // attestation manifest and all.
    let tag = format!("archgate-load/{}:1", unique("load-attest"));
    let loaded = one(e.docker28_host(), &["-t", &tag]);
    assert_eq!(loaded.code, 0, "{loaded}");
    let got = common::buildenv::run_ok(
        e.docker28()
            .args(["image", "inspect", "--format", "{{.Architecture}}", &tag]),
        "docker image inspect",
    );
    assert_eq!(got.trim(), "amd64", "{loaded}");
}
