//! `--load` with a BuildKit daemon that is not a Docker Engine: the `docker`
//! exporter's tarball comes back over the session and archgate loads it into
//! the engine at DOCKER_HOST, only when the gate passed.
//!
//! The "BuildKit daemon" is Docker 26's embedded BuildKit behind a unix
//! socket that does the engine's `/grpc` upgrade itself and then relays
//! bytes, so archgate sees a plain `unix://` BuildKit address.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::buildenv::{
    env, two_arch_context, unique, HARDCODED_DOCKERFILE, TWO_PLATFORM_DOCKERFILE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct UpgradeRelay {
    path: PathBuf,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl UpgradeRelay {
    fn start(engine: PathBuf) -> UpgradeRelay {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buildkitd.sock");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = {
            let _g = rt.enter();
            tokio::net::UnixListener::bind(&path).unwrap()
        };
        rt.spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let mut up = tokio::net::UnixStream::connect(&engine).await.unwrap();
                    up.write_all(
                        b"POST /grpc HTTP/1.1\r\nHost: api.moby.localhost\r\nContent-Length: 0\r\n\
                          Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
                    )
                    .await
                    .unwrap();
                    // Read the 101 head byte by byte: what follows is HTTP/2.
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if up.read(&mut b).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(b[0]);
                    }
                    assert!(
                        head.starts_with(b"HTTP/1.1 101"),
                        "{:?}",
                        String::from_utf8_lossy(&head)
                    );
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                });
            }
        });
        UpgradeRelay {
            path,
            _rt: rt,
            _dir: dir,
        }
    }
}

fn engine_socket() -> PathBuf {
    env()
        .docker26_host()
        .strip_prefix("unix://")
        .expect("Docker 26 on a unix socket")
        .into()
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

fn load(ctx: &common::buildenv::Context, tag: &str, relay: &UpgradeRelay) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_archgate"))
        .args(["build", "--progress", "plain", "--format", "json"])
        .arg("--addr")
        .arg(format!("unix://{}", relay.path.display()))
        .args(["--platform", "linux/arm64", "-t", tag, "--load"])
        .arg(ctx.path())
        .env("DOCKER_HOST", env().docker26_host())
        .env("DOCKER_CONFIG", env().docker_config())
        .output()
        .expect("running archgate");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked at"), "{err}");
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn load_from_a_buildkit_daemon_reaches_the_engine_after_the_gate() {
    let relay = UpgradeRelay::start(engine_socket());
    let tag = format!("archgate-load/{}:1", unique("load-good"));
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let (code, err) = load(&ctx, &tag, &relay);
    assert_eq!(code, 0, "{err}");
    assert!(image_exists(&tag), "{tag} was not loaded into the engine");
}

#[test]
fn load_is_skipped_when_the_gate_fails() {
    let relay = UpgradeRelay::start(engine_socket());
    let tag = format!("archgate-load/{}:1", unique("load-bad"));
    let ctx = two_arch_context(HARDCODED_DOCKERFILE);
    let (code, err) = load(&ctx, &tag, &relay);
    assert_eq!(code, 1, "{err}");
    assert!(
        !image_exists(&tag),
        "{tag} was loaded despite the failed gate"
    );
}
