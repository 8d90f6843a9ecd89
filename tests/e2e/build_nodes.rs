//! `archgate build` on a buildx builder of two nodes: two standalone
//! buildkitd v0.32.2 daemons started by the test, one declaring
//! linux/amd64 (`--oci-worker-platform`, on a unix socket), one linux/arm64
//! (on tcp with mutual TLS), grouped by `docker buildx create --append`
//! as users group their amd64 and arm64 machines.
//!
//! The one idea: each platform is built and gated on the node buildx would
//! send it to, and the tag appears only when every node passed: a correct
//! build pushes one index with both platforms; a wrong arch on one node, or
//! a node killed mid-build, leaves the registry without the tag.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use common::buildenv::{
    env, run_ok, two_arch_context, unique, Registry, HARDCODED_DOCKERFILE, TWO_PLATFORMS,
    TWO_PLATFORM_DOCKERFILE,
};

/// A buildkitd of the test's own, stopped when dropped.
pub struct Node {
    child: Child,
    _dir: tempfile::TempDir,
    /// `unix://...` or `tcp://127.0.0.1:PORT`.
    addr: String,
    tls: bool,
}

fn buildkit_bin(name: &str) -> PathBuf {
    PathBuf::from(env().get("ARCHGATE_BUILDKIT_BIN")).join(name)
}

fn tls_file(name: &str) -> String {
    PathBuf::from(env().get("ARCHGATE_TESTENV_DIR"))
        .join("buildkitd/tls")
        .join(name)
        .display()
        .to_string()
}

impl Node {
    /// A buildkitd whose one worker says it builds `platform`; on tcp with
    /// the testenv's mutual-TLS certificates when `tls`.
    fn start(platform: &str, tls: bool) -> Node {
        let e = env();
        let dir = common::tmp();
        let toml = dir.path().join("buildkitd.toml");
        std::fs::write(
            &toml,
            format!(
                "[worker.oci]\n  enabled = true\n  gc = false\n[worker.containerd]\n  enabled = false\n[otel]\n  socketPath = \"{}\"\n[registry.\"{}\"]\n  http = true\n",
                dir.path().join("otel.sock").display(),
                e.registry()
            ),
        )
        .unwrap();
        let addr = if tls {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free loopback port");
            format!("tcp://127.0.0.1:{port}")
        } else {
            format!("unix://{}", dir.path().join("bk.sock").display())
        };
        let runc = PathBuf::from(e.get("ARCHGATE_TESTENV_PKGS")).join("bin/engine28/runc");
        let mut cmd = Command::new(buildkit_bin("buildkitd"));
        cmd.arg("--config")
            .arg(&toml)
            .arg("--root")
            .arg(dir.path().join("root"))
            .args(["--addr", &addr])
            .args(["--oci-worker-platform", platform])
            .arg("--oci-worker-binary")
            .arg(&runc)
            .args(["--oci-worker-net", "host", "--containerd-worker=false"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.path().join("buildkitd.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            );
        if tls {
            cmd.args(["--tlscacert", &tls_file("ca.pem")])
                .args(["--tlscert", &tls_file("server.pem")])
                .args(["--tlskey", &tls_file("server-key.pem")]);
        }
        let child = cmd.spawn().expect("start buildkitd");
        let node = Node {
            child,
            _dir: dir,
            addr,
            tls,
        };
        let mut node = node;
        let start = Instant::now();
        while !node.buildctl(&["debug", "workers"]).status.success() {
            let log = || {
                std::fs::read_to_string(node._dir.path().join("buildkitd.log")).unwrap_or_default()
            };
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("buildkitd on {} exited ({status}):\n{}", node.addr, log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "buildkitd on {} did not answer in 120 s:\n{}",
                node.addr,
                log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        node
    }

    fn tls_args(&self) -> Vec<String> {
        if !self.tls {
            return Vec::new();
        }
        vec![
            "--tlscacert".into(),
            tls_file("ca.pem"),
            "--tlscert".into(),
            tls_file("client.pem"),
            "--tlskey".into(),
            tls_file("client-key.pem"),
        ]
    }

    fn buildctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(buildkit_bin("buildctl"))
            .args(["--addr", &self.addr])
            .args(self.tls_args())
            .args(args)
            .output()
            .expect("buildctl")
    }

    /// The `platform` option of every build this daemon recorded, sorted.
    pub fn built_platforms(&self) -> Vec<String> {
        let out = self.buildctl(&["debug", "histories", "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut seen: Vec<String> = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(p) = v["record"]["FrontendAttrs"]["platform"].as_str() {
                for one in p.split(',') {
                    if !seen.iter().any(|s| s == one) {
                        seen.push(one.to_string());
                    }
                }
            }
        }
        seen.sort();
        seen
    }

    /// Stop it now, as a machine that goes away does.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM: buildkitd unmounts and closes its state cleanly.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
    }
}

/// Two nodes grouped into one buildx builder (in a config dir of its own);
/// with `swapped`, each declares at create time the platform the other's
/// worker has (routing must follow the declarations).
pub struct TwoNodes {
    pub amd64: Node,
    pub arm64: Node,
    pub config: tempfile::TempDir,
    pub name: String,
}

impl TwoNodes {
    pub fn start(swapped: bool) -> TwoNodes {
        let amd64 = Node::start("linux/amd64", false);
        let arm64 = Node::start("linux/arm64", true);
        let config = common::tmp();
        let plugins = config.path().join("cli-plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::os::unix::fs::symlink(
            env().bin28_dir().join("docker-buildx"),
            plugins.join("docker-buildx"),
        )
        .unwrap();
        let name = unique("nodes").replace(['_', '.'], "-");
        let create = |node: &Node, platform: &str, append: bool| {
            let mut args = vec!["buildx", "create", "--name", &name, "--driver", "remote"];
            if append {
                args.push("--append");
            }
            if swapped {
                args.extend(["--platform", platform]);
            }
            let opt;
            if node.tls {
                opt = format!(
                    "cacert={},cert={},key={}",
                    tls_file("ca.pem"),
                    tls_file("client.pem"),
                    tls_file("client-key.pem")
                );
                args.extend(["--driver-opt", &opt]);
            }
            args.push(&node.addr);
            run_ok(
                env()
                    .docker_cli(env().docker28_host(), config.path())
                    .args(&args),
                "docker buildx create",
            );
        };
        create(&amd64, "linux/arm64", false);
        create(&arm64, "linux/amd64", true);
        TwoNodes {
            amd64,
            arm64,
            config,
            name,
        }
    }

    /// `archgate build` of DOCKERFILE's two-platform context pushed to a
    /// fresh repository as tag `1`: the run, the repository, the context.
    fn push_two(
        &self,
        dockerfile: &str,
        test: &str,
        extra: &[&str],
    ) -> (
        common::buildenv::BuildRun,
        String,
        common::buildenv::Context,
    ) {
        let ctx = two_arch_context(dockerfile);
        let repo = format!("archgate-nodes/{}", unique(test));
        let tag = format!("{}/{repo}:1", env().registry());
        let run = self
            .archgate()
            .two_platforms()
            .args(&["-t", &tag, "--push"])
            .args(extra)
            .run(&ctx.arg());
        (run, repo, ctx)
    }

    fn instance(&self) -> PathBuf {
        self.config.path().join("buildx/instances").join(&self.name)
    }

    fn archgate(&self) -> common::buildenv::Build {
        common::buildenv::Build::with_instance(&self.name, &self.instance())
    }

    pub fn buildx(&self, args: &[&str], ctx: &Path) -> std::process::Output {
        env()
            .docker_cli(env().docker28_host(), self.config.path())
            .args([
                "buildx",
                "build",
                "--builder",
                &self.name,
                "--progress",
                "plain",
            ])
            .args(args)
            .arg(ctx)
            .output()
            .expect("docker buildx build")
    }
}

/// The image's platforms in the registry (attestation manifests left out).
fn index_platforms(reg: &Registry, name: &str, tag: &str) -> Vec<String> {
    let index = reg.manifest(name, tag);
    let mut out: Vec<String> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .filter(|m| m["platform"]["os"] != "unknown")
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or(""),
                m["platform"]["architecture"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn each_platform_built_and_gated_on_its_node_one_index_pushed() {
    let nodes = TwoNodes::start(false);
    let reg = Registry::anonymous();
    let (run, repo, ctx) = nodes.push_two(
        TWO_PLATFORM_DOCKERFILE,
        "pass",
        &["--annotation", "index:org.example.joined=yes"],
    );
    run.expect_code(0);
    run.expect_platform("linux/amd64", "pass", "match");
    run.expect_platform("linux/arm64", "pass", "match");
    assert_eq!(
        index_platforms(&reg, &repo, "1"),
        ["linux/amd64", "linux/arm64"],
        "{run}"
    );
    // `--annotation index:...` is on the joined index.
    assert_eq!(
        reg.manifest(&repo, "1")["annotations"]["org.example.joined"],
        "yes",
        "{run}"
    );
    // Routed by the workers' platforms, as buildx routes them.
    assert_eq!(nodes.amd64.built_platforms(), ["linux/amd64"], "{run}");
    assert_eq!(nodes.arm64.built_platforms(), ["linux/arm64"], "{run}");
    // The progress names the node of each check.
    assert!(run.stderr.contains("check linux/arm64 on "), "{run}");
    // buildx on the same builder pushes an index of the same platforms.
    let bx_tag = format!("{}/{repo}:bx", env().registry());
    let bx = nodes.buildx(
        &["--platform", TWO_PLATFORMS, "-t", &bx_tag, "--push"],
        ctx.path(),
    );
    assert!(
        bx.status.success(),
        "{}",
        String::from_utf8_lossy(&bx.stderr)
    );
    assert_eq!(
        index_platforms(&reg, &repo, "bx"),
        index_platforms(&reg, &repo, "1")
    );
    assert_eq!(nodes.amd64.built_platforms(), ["linux/amd64"]);
    assert_eq!(nodes.arm64.built_platforms(), ["linux/arm64"]);
}

#[test]
fn a_wrong_arch_on_one_node_publishes_nothing() {
    let nodes = TwoNodes::start(false);
    let reg = Registry::anonymous();
    let (run, repo, _ctx) = nodes.push_two(HARDCODED_DOCKERFILE, "fail", &[]);
    run.expect_code(1);
    run.expect_platform("linux/arm64", "fail", "arch-mismatch");
    // The node that passed is in the report too.
    run.expect_platform("linux/amd64", "pass", "match");
    assert!(!reg.exists(&repo, "1"), "the tag was pushed\n{run}");
    // Not even by digest: the repository was never written.
    let tags = reg.request("GET", &format!("/v2/{repo}/tags/list"));
    assert_eq!(
        tags.status,
        404,
        "{}\n{run}",
        String::from_utf8_lossy(&tags.body)
    );
}

#[test]
fn declared_platforms_route_as_buildx_routes_them() {
    // Declared at create time, swapped against the workers: declarations
    // win (buildx's first pass), for archgate as for buildx.
    let nodes = TwoNodes::start(true);
    // (`amd64` is the node whose worker says linux/amd64; it declared
    // linux/arm64.)
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = nodes
        .archgate()
        .args(&["--platform", "linux/arm64"])
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    run.expect_code(0);
    // The node that declared linux/arm64 builds it all.
    assert_eq!(nodes.amd64.built_platforms(), ["linux/arm64"], "{run}");
    assert!(nodes.arm64.built_platforms().is_empty(), "{run}");
    assert!(dest.join("app").is_file(), "{run}");
    // buildx sends linux/amd64 to the node that declared it.
    let bx = nodes.buildx(
        &["--platform", "linux/amd64", "-o", "type=cacheonly"],
        ctx.path(),
    );
    assert!(
        bx.status.success(),
        "{}",
        String::from_utf8_lossy(&bx.stderr)
    );
    assert_eq!(nodes.arm64.built_platforms(), ["linux/amd64"]);
    assert_eq!(nodes.amd64.built_platforms(), ["linux/arm64"]);
    // Two platforms to a local dest: both nodes' parts, merged.
    let both = out.path().join("both");
    let run = nodes
        .archgate()
        .two_platforms()
        .args(&["-o", &format!("type=local,dest={}", both.display())])
        .run(&ctx.arg());
    run.expect_code(0);
    assert!(both.join("linux_amd64/app").is_file(), "{run}");
    assert!(both.join("linux_arm64/app").is_file(), "{run}");
}

#[test]
fn a_node_lost_mid_build_fails_within_seconds_with_nothing_tagged() {
    let mut nodes = TwoNodes::start(false);
    let reg = Registry::anonymous();
    // A step that takes a while on every node (the host runs the amd64
    // busybox whatever the platform says).
    let ctx = two_arch_context(
        "FROM scratch AS slow\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"60\"]\n\
         FROM scratch\nARG TARGETARCH\nCOPY --from=slow /bin/busybox /busybox\nCOPY app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n",
    );
    ctx.busybox("busybox", "amd64");
    let repo = format!("archgate-nodes/{}", unique("lost"));
    let tag = format!("{}/{repo}:1", env().registry());
    let (build, _config) = nodes
        .archgate()
        .two_platforms()
        .args(&["-t", &tag, "--push"])
        .spawn(&ctx.arg());
    // Both nodes are in the sleep once their histories show the build.
    let start = Instant::now();
    while nodes
        .arm64
        .buildctl(&["debug", "histories", "--format", "json"])
        .stdout
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the arm64 node never started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    nodes.arm64.kill();
    let killed = Instant::now();
    let run = build.wait(Some(Duration::from_secs(120)));
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "archgate took {:?} after the node died\n{run}",
        killed.elapsed()
    );
    assert_eq!(run.code, 2, "{run}");
    assert!(!reg.exists(&repo, "1"), "{run}");
}
