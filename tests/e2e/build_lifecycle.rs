//! `archgate build` when a build does not end normally, on Docker 26:
//! Ctrl-C cancels the solve on the daemon (its RUN process goes away), and a
//! builder connection that dies mid-build fails the build within seconds.
//! Either way exit 2 and nothing exported.
//!
//! The long-running step is `RUN sleep N` on the native platform, with N
//! unique to the test process, so the test can see the daemon's process for
//! it appear and go away in /proc.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::buildenv::{base_images, env, Context};
use common::relay::Relay;
use common::{sleep_pids, wait_until, Archgate, Running};

/// A sleep length no other test uses: the test finds the step's process by it.
fn unique_sleep() -> String {
    format!("{}", 7_000_000 + std::process::id())
}

fn sleep_context(secs: &str) -> Context {
    let bases = base_images();
    let ctx = Context::new();
    ctx.dockerfile(&format!(
        "FROM {}\nRUN --network=none sleep {secs}\n",
        bases.amd64
    ));
    ctx
}

fn spawn_build(addr: &str, ctx: &Context, dest: &Path) -> Running {
    Archgate::new(&["build", "--progress", "plain", "--addr", addr])
        .args(&["--platform", "linux/amd64", "-o"])
        .args(&[format!("type=local,dest={}", dest.display()), ctx.arg()])
        .env("DOCKER_CONFIG", env().docker_config())
        .spawn()
}

/// Wait for the child to exit within `limit` (killed and failed otherwise).
fn wait_exit(child: Running, limit: Duration) -> (i32, String) {
    let run = child.wait(Some(limit));
    (run.code, run.stderr)
}

fn dest_in(ctx: &Context) -> PathBuf {
    ctx.path().with_extension("out")
}

#[test]
fn ctrl_c_cancels_the_solve_on_the_daemon() {
    let secs = unique_sleep();
    let ctx = sleep_context(&secs);
    let dest = dest_in(&ctx);
    let child = spawn_build(&env().addr26(), &ctx, &dest);
    wait_until(
        "the RUN step's process to start",
        Duration::from_secs(90),
        || !sleep_pids(&secs).is_empty(),
    );
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(st.success());
    let (code, err) = wait_exit(child, Duration::from_secs(10));
    assert_eq!(code, 2, "stderr:\n{err}");
    assert!(err.contains("cancelled"), "stderr:\n{err}");
    wait_until(
        "the daemon to stop the cancelled step",
        Duration::from_secs(20),
        || sleep_pids(&secs).is_empty(),
    );
    assert!(!dest.exists(), "{} was created", dest.display());
}

#[test]
fn a_builder_that_dies_mid_build_fails_within_seconds() {
    // A unix socket that relays every connection to the Docker 26 socket
    // until told to drop them all, as if the daemon had died.
    let relay = Relay::to_unix(env().socket26()).listen_unix().start();
    let relay_addr = format!("docker://unix://{}", relay.path().display());
    let secs = unique_sleep();
    let ctx = sleep_context(&secs);
    let dest = dest_in(&ctx);
    let child = spawn_build(&relay_addr, &ctx, &dest);
    wait_until(
        "the RUN step's process to start",
        Duration::from_secs(90),
        || !sleep_pids(&secs).is_empty(),
    );
    let cut = Instant::now();
    relay.cut();
    let (code, err) = wait_exit(child, Duration::from_secs(15));
    assert_eq!(code, 2, "stderr:\n{err}");
    assert!(
        cut.elapsed() < Duration::from_secs(10),
        "took {:?} to notice",
        cut.elapsed()
    );
    assert!(
        err.contains(&relay.path().display().to_string()) || err.contains("connection"),
        "the error should say which builder was lost:\n{err}"
    );
    assert!(!dest.exists(), "{} was created", dest.display());
}

/// The daemon checks the session's health every 5 s and drops a session
/// that fails twice (BuildKit v0.10.4+); a build that outlives that and then
/// exports through the session proves archgate answers it.
#[test]
fn a_long_build_keeps_its_session_and_exports() {
    let bases = base_images();
    let ctx = Context::new();
    ctx.dockerfile(&format!(
        "FROM {}\nRUN --network=none sleep 16 && echo {} > /marker\nCMD [\"/bin/sh\"]\n",
        bases.amd64,
        unique_sleep()
    ));
    let dest = dest_in(&ctx);
    let child = spawn_build(&env().addr26(), &ctx, &dest);
    let (code, err) = wait_exit(child, Duration::from_secs(120));
    assert_eq!(code, 0, "stderr:\n{err}");
    let marker = std::fs::read_to_string(dest.join("marker")).expect("exported /marker");
    assert_eq!(marker.trim(), unique_sleep());
}

/// A docker-container builder whose container is stopped (a reboot, `docker
/// stop`): buildx starts it again before building
/// (`driver/docker-container/driver.go`, `Bootstrap`), and so does archgate,
/// instead of failing on "container ... is not running". A builder of its
/// own, so the test env's stays up for the other tests.
#[test]
fn a_stopped_docker_container_builder_is_started_again() {
    let e = env();
    let name = format!("archgate-stopped-{}", std::process::id());
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = env()
                .docker28()
                .args(["buildx", "rm", "-f", &self.0])
                .output();
        }
    }
    common::buildenv::run_ok(
        e.docker28().args([
            "buildx",
            "create",
            "--name",
            &name,
            "--driver",
            "docker-container",
            "--driver-opt",
            &format!("image={},network=host", e.get("ARCHGATE_BUILDX_IMAGE")),
            "--bootstrap",
        ]),
        "docker buildx create",
    );
    let _remove = Remove(name.clone());
    let container = format!("buildx_buildkit_{name}0");
    let state = || {
        common::buildenv::run_ok(
            e.docker28()
                .args(["inspect", "-f", "{{.State.Status}}", &container]),
            "docker inspect",
        )
        .trim()
        .to_string()
    };
    common::buildenv::run_ok(e.docker28().args(["stop", &container]), "docker stop");
    assert_eq!(state(), "exited");
    let ctx = common::buildenv::two_arch_context(common::buildenv::TWO_PLATFORM_DOCKERFILE);
    let run = common::buildenv::on_buildx_builder(&name)
        .args(&["--platform", "linux/arm64"])
        .run(&ctx.arg());
    run.expect_code(0);
    assert_eq!(state(), "running", "{run}");
}
