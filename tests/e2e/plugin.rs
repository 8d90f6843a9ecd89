//! archgate as the docker CLI's plugin, run by the real docker CLIs 26
//! (trixie) and 28 (sid) from a private config dir whose `cli-plugins`
//! holds `docker-archgate` (a link to the binary under test) and buildx
//! 0.29: the CLIs list and run it, `check` says what `archgate check` says,
//! and `build` reaches the daemon `docker buildx` reaches with the same
//! global options and environment (`-H`, `--context`, `DOCKER_HOST`,
//! `--builder`, buildx's current builder), seen by where `--load` put the
//! image, or by the builder each names. ~/.docker is never touched.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::buildenv::{app_context, base_images, env, unique, Context};
use common::{check_json, go_hello, oci_single, sleep_pids, tmp, wait_until, Image, Layer};

/// The docker CLIs of the test environment.
#[derive(Debug, Clone, Copy)]
enum Cli {
    V26,
    V28,
}

const CLIS: [Cli; 2] = [Cli::V26, Cli::V28];

impl Cli {
    fn path(self) -> PathBuf {
        match self {
            Cli::V26 => env().tool("docker"),
            Cli::V28 => env().bin28_dir().join("docker"),
        }
    }
}

/// What one command did.
struct Out {
    what: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (exit {})\n--- stdout\n{}\n--- stderr\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

fn output(cmd: &mut Command) -> Out {
    let what = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Out {
        what,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A private HOME and docker config dir with the plugin installed as the
/// README says (a link named `docker-archgate`) and buildx 0.29 beside it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tmp();
        let plugins = dir.path().join("config/cli-plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_archgate"),
            plugins.join("docker-archgate"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            env().bin28_dir().join("docker-buildx"),
            plugins.join("docker-buildx"),
        )
        .unwrap();
        Home { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// `docker --config D ARGS...` with none of the caller's docker or
    /// buildx environment, HOME inside the test's dir, `docker` not on PATH.
    fn docker(&self, cli: Cli, args: &[&str]) -> Command {
        let mut c = Command::new(cli.path());
        for k in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_CONFIG",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "BUILDX_BUILDER",
            "BUILDX_CONFIG",
            "BUILDKIT_HOST",
            "ARCHGATE_LOG",
        ] {
            c.env_remove(k);
        }
        c.env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env("PATH", "/usr/bin:/bin")
            .arg("--config")
            .arg(self.config())
            .args(args);
        c
    }

    fn run(&self, cli: Cli, args: &[&str]) -> Out {
        output(&mut self.docker(cli, args))
    }

    fn ok(&self, cli: Cli, args: &[&str]) -> Out {
        let out = self.run(cli, args);
        assert_eq!(out.code, 0, "{out}");
        out
    }

    /// Contexts `c26` and `c28` on the two engines.
    fn with_contexts(self) -> Home {
        let e = env();
        for (name, host) in [("c26", e.docker26_host()), ("c28", e.docker28_host())] {
            let endpoint = format!("host={host}");
            self.ok(
                Cli::V28,
                &["context", "create", name, "--docker", &endpoint],
            );
        }
        self
    }
}

#[test]
fn docker_26_and_28_list_the_plugin_and_run_it() {
    let home = Home::new();
    let meta = output(
        Command::new(home.config().join("cli-plugins/docker-archgate"))
            .arg("docker-cli-plugin-metadata"),
    );
    assert_eq!(meta.code, 0, "{meta}");
    let json: serde_json::Value = serde_json::from_str(&meta.stdout).expect("metadata JSON");
    assert_eq!(json["SchemaVersion"], "0.1.0", "{meta}");
    assert_eq!(json["Vendor"], "archgate", "{meta}");
    assert_eq!(json["Version"], env!("CARGO_PKG_VERSION"), "{meta}");
    for cli in CLIS {
        let help = home.ok(cli, &["--help"]);
        assert!(
            help.stdout.lines().any(|l| l.contains("archgate")
                && l.contains("Stops wrong-architecture container images")),
            "{cli:?} does not list the plugin:\n{help}"
        );
        // A plugin the CLI refused is listed with its error: none here.
        let all = format!("{}{}", help.stdout, help.stderr);
        assert!(!all.contains("docker-archgate"), "{cli:?}:\n{help}");
        let version = home.ok(cli, &["archgate", "--version"]);
        assert!(
            version.stdout.starts_with("archgate ")
                && version.stdout.contains(env!("CARGO_PKG_VERSION")),
            "{cli:?}:\n{version}"
        );
        let usage = home.ok(cli, &["archgate", "--help"]);
        assert!(
            usage.stdout.contains("Usage: docker archgate <COMMAND>"),
            "{cli:?}:\n{usage}"
        );
        let usage = home.ok(cli, &["help", "archgate", "build"]);
        assert!(
            usage
                .stdout
                .contains("Usage: docker archgate build [OPTIONS] <CONTEXT>"),
            "{cli:?}:\n{usage}"
        );
        // archgate's exit codes pass through the CLI.
        let bad = home.run(cli, &["archgate", "build"]);
        assert_eq!(bad.code, 2, "{cli:?}:\n{bad}");
        assert!(bad.stderr.contains("<CONTEXT>"), "{cli:?}:\n{bad}");
    }
}

#[test]
fn check_through_the_plugin_is_archgate_check() {
    let home = Home::new();
    let t = tmp();
    let go = |name: &str| {
        Image::new("linux/amd64")
            .entrypoint(&["/app"])
            .layer(Layer::new().file_from("app", go_hello(name)))
    };
    for (name, img, code) in [("good", go("amd64"), 0), ("bad", go("arm64"), 1)] {
        let image = oci_single(t.path(), name, img);
        let direct = check_json(&[&image], &[]);
        assert_eq!(direct.code, code, "{direct}");
        for cli in CLIS {
            let plugin = home.run(cli, &["archgate", "check", "--format", "json", &image]);
            assert_eq!(
                (plugin.code, &plugin.stdout),
                (direct.code, &direct.stdout),
                "{cli:?} {name}: through the plugin:\n{plugin}\ndirect:\n{direct}"
            );
        }
    }
}

/// The engines (`docker26`, `docker28`) holding `tag`; the image is removed
/// from them.
fn engines_holding(tag: &str) -> Vec<&'static str> {
    let e = env();
    let mut held = Vec::new();
    for (name, mut docker) in [("docker26", e.docker26()), ("docker28", e.docker28())] {
        let out = output(docker.args(["image", "inspect", "--format", "{{.Id}}", tag]));
        if out.code == 0 {
            held.push(name);
            let mut rm = if name == "docker26" {
                e.docker26()
            } else {
                e.docker28()
            };
            let _ = output(rm.args(["image", "rm", "-f", tag]));
        }
    }
    held
}

/// `GLOBALS... archgate build --progress plain --platform linux/amd64
/// EXTRA... CONTEXT`: the one-platform build run through the plugin.
fn amd64_build<'a>(globals: &[&'a str], extra: &[&'a str], context: &'a str) -> Vec<&'a str> {
    let mut args = globals.to_vec();
    args.extend([
        "archgate",
        "build",
        "--progress",
        "plain",
        "--platform",
        "linux/amd64",
    ]);
    args.extend(extra);
    args.push(context);
    args
}

/// `docker [GLOBALS] buildx build` and `docker [GLOBALS] archgate build`,
/// each `--load`ing a tag of its own, as `case` says: the engines that got
/// each image.
fn load_both(
    home: &Home,
    cli: Cli,
    case: &Case,
    ctx: &Context,
) -> (Vec<&'static str>, Vec<&'static str>) {
    let name = unique("plugin");
    let mut held = Vec::new();
    for tool in ["buildx", "archgate"] {
        let tag = format!("archgate-e2e/{name}:{tool}");
        let mut args: Vec<&str> = case.globals.clone();
        args.extend([
            tool,
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64",
        ]);
        args.extend(["--load", "-t", &tag]);
        args.extend(&case.extra);
        let path = ctx.arg();
        args.push(&path);
        let mut cmd = home.docker(cli, &args);
        if let Some(h) = case.docker_host {
            cmd.env("DOCKER_HOST", h);
        }
        let out = output(&mut cmd);
        assert_eq!(out.code, 0, "{cli:?} {tool}:\n{out}");
        held.push(engines_holding(&tag));
    }
    let archgate = held.pop().unwrap();
    (held.pop().unwrap(), archgate)
}

#[test]
fn build_reaches_the_engine_buildx_reaches_with_the_same_options() {
    let home = Home::new().with_contexts();
    let e = env();
    let (h26, h28) = (e.docker26_host(), e.docker28_host());
    let ctx = app_context("amd64");
    let host_flag = format!("--host={h28}");
    let cases = [
        Case::new(
            "-H over DOCKER_HOST",
            &["-H", h26],
            Some(h28),
            &[],
            "docker26",
        ),
        Case::new("--host=", &[&host_flag], None, &[], "docker28"),
        Case::new(
            "--context over DOCKER_HOST",
            &["--context", "c28"],
            Some(h26),
            &[],
            "docker28",
        ),
        Case::new("DOCKER_HOST", &[], Some(h28), &[], "docker28"),
        Case::new(
            "--builder CONTEXT",
            &["-c", "c26"],
            Some(h28),
            &["--builder", "c26"],
            "docker26",
        ),
        Case::new(
            "--builder default",
            &["-H", h26],
            Some(h28),
            &["--builder", "default"],
            "docker26",
        ),
    ];
    for cli in CLIS {
        for case in &cases {
            let (buildx, archgate) = load_both(&home, cli, case, &ctx);
            let what = case.what;
            assert_eq!(buildx, [case.engine], "{cli:?} {what}: buildx");
            assert_eq!(
                archgate, buildx,
                "{cli:?} {what}: archgate and buildx differ"
            );
        }
    }
    // Both refuse a docker context other than the current one as builder.
    for tool in ["buildx", "archgate"] {
        let out = home.run(
            Cli::V28,
            &["-c", "c28", tool, "build", "--builder", "c26", &ctx.arg()],
        );
        assert_ne!(out.code, 0, "{out}");
        assert!(out.stderr.contains("--context=c26"), "{out}");
        if tool == "archgate" {
            assert_eq!(out.code, 2, "{out}");
        }
    }
}

/// One way of naming the engine: global options, `DOCKER_HOST`, build
/// options, and the engine buildx builds on.
struct Case<'a> {
    what: &'a str,
    globals: Vec<&'a str>,
    docker_host: Option<&'a str>,
    extra: Vec<&'a str>,
    engine: &'static str,
}

impl<'a> Case<'a> {
    fn new(
        what: &'a str,
        globals: &[&'a str],
        docker_host: Option<&'a str>,
        extra: &[&'a str],
        engine: &'static str,
    ) -> Case<'a> {
        Case {
            what,
            globals: globals.to_vec(),
            docker_host,
            extra: extra.to_vec(),
            engine,
        }
    }
}

#[test]
fn check_and_the_gate_through_the_plugin_on_an_engine_given_by_host() {
    let home = Home::new();
    let e = env();
    let h26 = e.docker26_host();
    let tag = format!("archgate-e2e/{}:gate", unique("plugin"));
    // The wrong binary for linux/amd64: the gate fails, nothing is loaded.
    let wrong = app_context("arm64");
    let failed = home.run(
        Cli::V28,
        &amd64_build(&["-H", h26], &["--load", "-t", &tag], &wrong.arg()),
    );
    assert_eq!(failed.code, 1, "{failed}");
    assert!(failed.stderr.contains("the gate failed"), "{failed}");
    assert!(engines_holding(&tag).is_empty(), "{failed}");
    // The right one is loaded into Docker 26, and `check docker-daemon:`
    // reads it there through the same -H.
    let right = app_context("amd64");
    home.ok(
        Cli::V26,
        &amd64_build(&["-H", h26], &["--load", "-t", &tag], &right.arg()),
    );
    let daemon_ref = format!("docker-daemon:{tag}");
    let checked = home.ok(
        Cli::V26,
        &[
            "-H",
            h26,
            "archgate",
            "check",
            "--format",
            "json",
            &daemon_ref,
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&checked.stdout).expect("JSON");
    assert_eq!(report["verdict"], "pass", "{checked}");
    let elsewhere = home.run(
        Cli::V26,
        &["-H", e.docker28_host(), "archgate", "check", &daemon_ref],
    );
    assert_eq!(elsewhere.code, 2, "{elsewhere}");
    assert!(elsewhere.stderr.contains("docker28"), "{elsewhere}");
    assert_eq!(engines_holding(&tag), ["docker26"]);
}

/// The builder archgate resolved, from its debug log (`-D`).
fn archgate_builder(out: &Out) -> String {
    out.stderr
        .lines()
        .filter(|l| l.contains("from="))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("builder="))
        })
        .unwrap_or_else(|| panic!("no builder in the debug log:\n{out}"))
        .to_string()
}

/// The first node's endpoint of the builder `docker buildx inspect` shows.
fn buildx_endpoint(out: &Out) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Endpoint:"))
        .unwrap_or_else(|| panic!("no Endpoint in buildx inspect:\n{out}"))
        .trim()
        .to_string()
}

#[test]
fn buildx_current_builder_is_the_one_for_the_context_given() {
    // A remote builder on the standalone buildkitd, the default of context
    // c26 only (`use --default`: buildx keeps one `current` entry, which any
    // buildx command on another endpoint rewrites).
    let home = Home::new().with_contexts();
    let e = env();
    let bk = e.get("ARCHGATE_BUILDKIT_ADDR");
    let name = format!("rk{}", std::process::id());
    home.ok(
        Cli::V28,
        &[
            "--context",
            "c26",
            "buildx",
            "create",
            "--name",
            &name,
            "--driver",
            "remote",
            bk,
        ],
    );
    home.ok(
        Cli::V28,
        &["--context", "c26", "buildx", "use", "--default", &name],
    );
    let dest = tmp();
    let ctx = app_context("amd64");
    for cli in CLIS {
        let inspect = home.ok(cli, &["--context", "c26", "buildx", "inspect"]);
        assert_eq!(buildx_endpoint(&inspect), bk, "{inspect}");
        let out = dest.path().join(format!("{cli:?}"));
        let built = home.ok(
            cli,
            &amd64_build(
                &["-D", "--context", "c26"],
                &["-o", &format!("type=local,dest={}", out.display())],
                &ctx.arg(),
            ),
        );
        assert_eq!(archgate_builder(&built), bk, "{cli:?}:\n{built}");
        assert!(out.join("app").is_file(), "{cli:?}:\n{built}");
        // With -H the current builder is not this context's: the engine.
        let inspect = home.ok(cli, &["-H", e.docker28_host(), "buildx", "inspect"]);
        assert_eq!(buildx_endpoint(&inspect), "default", "{inspect}");
        let built = home.ok(
            cli,
            &amd64_build(&["-D", "-H", e.docker28_host()], &[], &ctx.arg()),
        );
        assert_eq!(
            archgate_builder(&built),
            format!("docker://{}", e.docker28_host()),
            "{cli:?}:\n{built}"
        );
        // ... unless --builder names it.
        let inspect = home.ok(
            cli,
            &[
                "-H",
                e.docker28_host(),
                "buildx",
                "inspect",
                "--builder",
                &name,
            ],
        );
        assert_eq!(buildx_endpoint(&inspect), bk, "{inspect}");
        let built = home.ok(
            cli,
            &amd64_build(
                &["-D", "-H", e.docker28_host()],
                &["--builder", &name],
                &ctx.arg(),
            ),
        );
        assert_eq!(archgate_builder(&built), bk, "{cli:?}:\n{built}");
    }
}

#[test]
fn sigint_to_the_docker_cli_cancels_the_build_through_the_plugin_socket() {
    // The CLI's stdout is not a terminal: it passes a SIGINT on by closing
    // the plugin socket, which archgate takes as Ctrl-C.
    let home = Home::new();
    let bases = base_images();
    for (n, cli) in CLIS.into_iter().enumerate() {
        let secs = format!("{}", 8_000_000 + 2 * std::process::id() + n as u32);
        let ctx = Context::new();
        ctx.dockerfile(&format!(
            "FROM {}\nRUN --network=none sleep {secs}\n",
            bases.amd64
        ));
        let dest = ctx.path().with_extension("out");
        let mut child = home
            .docker(
                cli,
                &amd64_build(
                    &["-H", env().docker26_host()],
                    &["-o", &format!("type=local,dest={}", dest.display())],
                    &ctx.arg(),
                ),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker");
        wait_until(
            "the RUN step's process to start",
            Duration::from_secs(90),
            || !sleep_pids(&secs).is_empty(),
        );
        // The docker CLI alone, not its process group.
        let st = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(st.success());
        let t = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if t.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = std::process::Command::new("kill")
                    .args([
                        "-KILL",
                        &sleep_pids(&secs).first().map_or(0, |p| *p).to_string(),
                    ])
                    .status();
                panic!("{cli:?}: the build went on after SIGINT to the docker CLI");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cli:?}:\n{stderr}");
        assert!(stderr.contains("cancelled"), "{cli:?}:\n{stderr}");
        wait_until(
            "the daemon to stop the cancelled step",
            Duration::from_secs(20),
            || sleep_pids(&secs).is_empty(),
        );
        assert!(!dest.exists(), "{cli:?}: {} was created", dest.display());
    }
}

/// `docker archgate build --builder NAME` for a buildx docker-container
/// builder runs `docker exec` with the CLI that ran the plugin (no `docker`
/// on PATH here) and this config dir.
#[test]
fn a_docker_container_builder_is_reached_through_the_clis_own_docker() {
    let home = Home::new();
    let e = env();
    let name = e.get("ARCHGATE_BUILDX_BUILDER");
    let instance = Path::new(e.get("ARCHGATE_BUILDX_CONFIG"))
        .join("buildx/instances")
        .join(name);
    let store = home.config().join("buildx/instances");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(&instance, store.join(name)).expect("the testenv's buildx instance");
    let ctx = app_context("amd64");
    let dest = tmp();
    let built = home.ok(
        Cli::V28,
        &amd64_build(
            &[],
            &[
                "--builder",
                name,
                "-o",
                &format!("type=local,dest={}", dest.path().display()),
            ],
            &ctx.arg(),
        ),
    );
    assert!(dest.path().join("app").is_file(), "{built}");
}
