//! `--load` with a BuildKit daemon that is not a Docker Engine: the `docker`
//! exporter's tarball comes back over the session and archgate loads it into
//! the engine at DOCKER_HOST, only when the gate passed.
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
