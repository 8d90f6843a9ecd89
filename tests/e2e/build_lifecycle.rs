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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::buildenv::{base_images, env, Context};

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

/// Pids whose command line is exactly `sleep SECS`.
fn sleep_pids(secs: &str) -> Vec<u32> {
    let want = format!("sleep\0{secs}\0");
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if cmd.ends_with(want.as_bytes()) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        if t.elapsed() > limit {
            panic!("{what}: not within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_build(addr: &str, ctx: &Context, dest: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_archgate"))
        .args(["build", "--progress", "plain", "--addr", addr])
        .args(["--platform", "linux/amd64", "-o"])
        .arg(format!("type=local,dest={}", dest.display()))
        .arg(ctx.path())
        .env("DOCKER_CONFIG", env().docker_config())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning archgate")
}

/// Wait for the child to exit within `limit`; kill it and fail otherwise.
fn wait_exit(child: &mut Child, limit: Duration) -> (i32, String) {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for archgate") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(!err.contains("panicked at"), "archgate panicked:\n{err}");
            return (status.code().unwrap_or(-1), err);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("archgate did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dest_in(ctx: &Context) -> PathBuf {
    ctx.path().with_extension("out")
}

#[test]
fn ctrl_c_cancels_the_solve_on_the_daemon() {
    let secs = unique_sleep();
    let ctx = sleep_context(&secs);
    let dest = dest_in(&ctx);
    let mut child = spawn_build(&env().addr26(), &ctx, &dest);
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
    let (code, err) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 2, "stderr:\n{err}");
    assert!(err.contains("cancelled"), "stderr:\n{err}");
    wait_until(
        "the daemon to stop the cancelled step",
        Duration::from_secs(20),
        || sleep_pids(&secs).is_empty(),
    );
    assert!(!dest.exists(), "{} was created", dest.display());
}

/// A unix socket that relays every connection to the Docker 26 socket until
/// told to drop them all, as if the daemon had died.
struct Relay {
    path: PathBuf,
    kill: tokio::sync::watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn start(upstream: PathBuf) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sock");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (kill, watch) = tokio::sync::watch::channel(false);
        let listener = {
            let _g = rt.enter();
            tokio::net::UnixListener::bind(&path).unwrap()
        };
        rt.spawn(async move {
            loop {
                let Ok((mut down, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut up) = tokio::net::UnixStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = watch.wait_for(|k| *k) => {}
                    }
                });
            }
        });
        Relay {
            path,
            kill,
            _rt: rt,
            _dir: dir,
        }
    }

    fn addr(&self) -> String {
        format!("docker://unix://{}", self.path.display())
    }

    fn cut(&self) {
        let _ = self.kill.send(true);
    }
}

#[test]
fn a_builder_that_dies_mid_build_fails_within_seconds() {
    let upstream = env()
        .docker26_host()
        .strip_prefix("unix://")
        .expect("Docker 26 on a unix socket")
        .into();
    let relay = Relay::start(upstream);
    let secs = unique_sleep();
    let ctx = sleep_context(&secs);
    let dest = dest_in(&ctx);
    let mut child = spawn_build(&relay.addr(), &ctx, &dest);
    wait_until(
        "the RUN step's process to start",
        Duration::from_secs(90),
        || !sleep_pids(&secs).is_empty(),
    );
    let cut = Instant::now();
    relay.cut();
    let (code, err) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 2, "stderr:\n{err}");
    assert!(
        cut.elapsed() < Duration::from_secs(10),
        "took {:?} to notice",
        cut.elapsed()
    );
    assert!(
        err.contains(&relay.path.display().to_string()) || err.contains("connection"),
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
    let mut child = spawn_build(&env().addr26(), &ctx, &dest);
    let (code, err) = wait_exit(&mut child, Duration::from_secs(120));
    assert_eq!(code, 0, "stderr:\n{err}");
    let marker = std::fs::read_to_string(dest.join("marker")).expect("exported /marker");
    assert_eq!(marker.trim(), unique_sleep());
}
