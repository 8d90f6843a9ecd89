//! Support for the `archgate build` end-to-end tests: the running daemons of
//! `scripts/testenv up`, busybox base images in its registries, build
//! contexts made of the real-binary fixtures, a small registry client, readers
//! for what the exporters wrote, and `archgate build` runs (an [`Archgate`]
//! run read as a build's report).
//!
//! The one idea: every test process (nextest runs each test in its own) asks
//! `base_images()` for the bases; the first one to take the lock on a file in
//! the testenv's run dir makes them, and a marker holding the registries'
//! addresses (re-checked against the registries, whose storage is in memory)
//! lets every later process go straight on. Nothing here skips: without the
//! daemons or the fixtures a test fails and says what to run.

use super::{Archgate, Run};
use archgate::buildkit::EngineHost;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// The test environment

/// The variables `scripts/testenv up` wrote to its env file.
pub struct BuildEnv {
    vars: BTreeMap<String, String>,
    dir: PathBuf,
}

/// `$ARCHGATE_TESTENV_DIR/env`, else `target/testenv/run/env` of this crate.
pub fn env_file() -> PathBuf {
    match std::env::var_os("ARCHGATE_TESTENV_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("env"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/testenv/run/env"),
    }
}

/// The running test environment; fails the test when there is none.
pub fn env() -> &'static BuildEnv {
    static ENV: OnceLock<BuildEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = env_file();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\nthe tests on daemons and registries need the test environment: run `scripts/testenv up` \
                 (scripts/test does), or point ARCHGATE_TESTENV_DIR at a running environment",
                path.display()
            )
        });
        let vars: BTreeMap<String, String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
            .collect();
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        BuildEnv { vars, dir }
    })
}

impl BuildEnv {
    /// One variable of the env file (fails the test when it is missing).
    pub fn get(&self, k: &str) -> &str {
        self.vars.get(k).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "{k} missing from {}: is the testenv older than these tests? run `scripts/testenv up`",
                env_file().display()
            )
        })
    }
    /// The run dir holding the env file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `127.0.0.1:PORT` of the anonymous registry.
    pub fn registry(&self) -> &str {
        self.get("ARCHGATE_REGISTRY")
    }
    /// `127.0.0.1:PORT` of the htpasswd registry.
    pub fn auth_registry(&self) -> &str {
        self.get("ARCHGATE_AUTH_REGISTRY")
    }
    pub fn auth_user(&self) -> &str {
        self.get("ARCHGATE_AUTH_USER")
    }
    pub fn auth_pass(&self) -> &str {
        self.get("ARCHGATE_AUTH_PASS")
    }
    /// `unix://...` of the Docker 26 engine.
    pub fn docker26_host(&self) -> &str {
        self.get("ARCHGATE_DOCKER26_HOST")
    }
    /// `unix://...` of the Docker 20.10 engine.
    pub fn docker20_host(&self) -> &str {
        self.get("ARCHGATE_DOCKER20_HOST")
    }
    /// `unix://...` of the Docker 28 engine.
    pub fn docker28_host(&self) -> &str {
        self.get("ARCHGATE_DOCKER28_HOST")
    }
    /// `--addr` for Docker 28's embedded BuildKit.
    pub fn addr28(&self) -> String {
        format!("docker://{}", self.docker28_host())
    }
    /// The folder of Docker 28's CLI (`docker`) and buildx 0.29.
    pub fn bin28_dir(&self) -> PathBuf {
        PathBuf::from(self.get("ARCHGATE_TESTENV_BIN28"))
    }
    /// Docker 26's engine address, parsed.
    pub fn docker26_engine(&self) -> EngineHost {
        EngineHost::parse(self.docker26_host()).expect("ARCHGATE_DOCKER26_HOST")
    }
    /// Docker 20.10's engine address, parsed.
    pub fn docker20_engine(&self) -> EngineHost {
        EngineHost::parse(self.docker20_host()).expect("ARCHGATE_DOCKER20_HOST")
    }
    /// The unix socket of the Docker 26 engine.
    pub fn socket26(&self) -> PathBuf {
        match self.docker26_engine() {
            EngineHost::Unix(p) => p,
            other => panic!("expected a unix socket for Docker 26, got {other}"),
        }
    }
    /// `--addr` for Docker 26's embedded BuildKit.
    pub fn addr26(&self) -> String {
        format!("docker://{}", self.docker26_host())
    }
    /// `--addr` for Docker 20.10's embedded BuildKit.
    pub fn addr20(&self) -> String {
        format!("docker://{}", self.docker20_host())
    }
    /// The folder of the testenv's tools.
    pub fn bin_dir(&self) -> PathBuf {
        PathBuf::from(self.get("ARCHGATE_TESTENV_BIN"))
    }
    /// A tool of the testenv: docker, docker-buildx, skopeo, ...
    pub fn tool(&self, name: &str) -> PathBuf {
        let p = self.bin_dir().join(name);
        assert!(
            p.exists(),
            "{} is missing: run `scripts/testenv fetch`",
            p.display()
        );
        p
    }
    /// The env's DOCKER_CONFIG (with cli-plugins/docker-buildx).
    pub fn docker_config(&self) -> PathBuf {
        PathBuf::from(self.get("ARCHGATE_DOCKER_CONFIG"))
    }
    /// The testenv's docker CLI on Docker 26 with the env's DOCKER_CONFIG.
    pub fn docker26(&self) -> Command {
        self.docker_cli(self.docker26_host(), &self.docker_config())
    }
    /// Docker 28's CLI on Docker 28, with its DOCKER_CONFIG (buildx 0.29,
    /// and the docker-container builder's instance).
    pub fn docker28(&self) -> Command {
        let cli = self.bin28_dir().join("docker");
        let config = PathBuf::from(self.get("ARCHGATE_BUILDX_CONFIG"));
        docker_command(&cli, self.docker28_host(), &config)
    }
    /// The testenv's docker CLI on an engine with a given DOCKER_CONFIG.
    pub fn docker_cli(&self, host: &str, config: &Path) -> Command {
        docker_command(&self.tool("docker"), host, config)
    }
}

/// A docker CLI on `host` with `config` as DOCKER_CONFIG, nothing of the
/// caller's docker environment kept.
fn docker_command(cli: &Path, host: &str, config: &Path) -> Command {
    let mut c = Command::new(cli);
    c.env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config);
    c
}

/// Run a command to completion; fail the test with its output when it fails.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository/tag-safe name unique to this test run: the test's name, the
/// process id and a clock suffix (the registry outlives test processes, and
/// pids are reused).
pub fn unique(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let clean: String = test
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    format!(
        "{}-{}-{:x}",
        clean.trim_matches('-'),
        std::process::id(),
        nanos % 0x1_0000_0000
    )
}

// ---------------------------------------------------------------------------
// A lock shared by test processes

/// An exclusive flock(2) on a file, held by a `flock(1)` child for as long as
/// this value lives. The child exits when our end of its stdin closes, so a
/// test process that dies (or panics) releases the lock too.
pub struct FileLock {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl FileLock {
    pub fn acquire(path: &Path, timeout: Duration) -> FileLock {
        let mut child = Command::new("flock")
            .arg("-x")
            .arg("-w")
            .arg(timeout.as_secs().max(1).to_string())
            .arg(path)
            .arg("-c")
            .arg("echo locked; exec cat >/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "flock {}: {e} (util-linux's flock(1) is needed)",
                    path.display()
                )
            });
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "locked" {
            let _ = child.kill();
            let _ = child.wait();
            panic!("could not lock {} within {timeout:?}", path.display());
        }
        FileLock { child, stdin }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Base images

/// The busybox base images the tests build FROM.
#[derive(Debug, Clone)]
pub struct Bases {
    /// `REG/base/busybox:multi`: linux/amd64 and linux/arm64.
    pub multi: String,
    /// `REG/base/busybox:amd64`, `REG/base/busybox:arm64`: single manifests.
    pub amd64: String,
    pub arm64: String,
    /// `AUTH_REG/base/busybox:amd64`, for builds that log in.
    pub auth_amd64: String,
    /// `AUTH_REG/base/private:amd64`: the same image under a name only the
    /// anonymous test asks for, so no earlier authorized pull can have left
    /// it in the daemon's cache.
    pub auth_private_amd64: String,
    /// `AUTH_REG/base/helper-KIND:amd64`, one per builder kind, again the
    /// same image: for the credential-helper test alone. BuildKit runs
    /// identical steps of concurrent builds once, with the first session
    /// that answers, so a FROM shared with another build on the same daemon
    /// (buildkitd serves two kinds) may never ask this build's helper.
    pub auth_helper_amd64: Vec<(BuilderKind, String)>,
}

impl Bases {
    /// The credential-helper test's base on this builder kind.
    pub fn auth_helper_amd64(&self, kind: BuilderKind) -> &str {
        self.auth_helper_amd64
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("no credential-helper base for {kind:?}"))
    }
}

/// What the bases are made of; change it with the rootfs or the tags.
const BASES_LAYOUT: &str =
    "bases v2: busybox-static rootfs, links sh cat echo ls true uname sleep env; helper-KIND per builder kind";

/// Busybox applets linked in the base rootfs' /bin.
const BUSYBOX_LINKS: &[&str] = &["sh", "cat", "echo", "ls", "true", "uname", "sleep", "env"];

/// The bases, made once per registry (idempotent across test processes).
pub fn base_images() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| {
        let env = env();
        let reg = env.registry();
        let areg = env.auth_registry();
        let bases = Bases {
            multi: format!("{reg}/base/busybox:multi"),
            amd64: format!("{reg}/base/busybox:amd64"),
            arm64: format!("{reg}/base/busybox:arm64"),
            auth_amd64: format!("{areg}/base/busybox:amd64"),
            auth_private_amd64: format!("{areg}/base/private:amd64"),
            auth_helper_amd64: BuilderKind::ALL
                .iter()
                .map(|k| (*k, format!("{areg}/base/helper-{}:amd64", k.name())))
                .collect(),
        };
        let _lock = FileLock::acquire(
            &env.dir().join("build-tests.lock"),
            Duration::from_secs(600),
        );
        let marker = env.dir().join("build-tests.bases");
        let want = format!("{BASES_LAYOUT}\nregistry {reg}\nauth-registry {areg}\n");
        let reg_c = Registry::anonymous();
        let areg_c = Registry::authenticated();
        let present = || {
            reg_c.exists("base/busybox", "multi")
                && reg_c.exists("base/busybox", "amd64")
                && reg_c.exists("base/busybox", "arm64")
                && areg_c.exists("base/busybox", "amd64")
                && areg_c.exists("base/private", "amd64")
                && BuilderKind::ALL
                    .iter()
                    .all(|k| areg_c.exists(&format!("base/helper-{}", k.name()), "amd64"))
        };
        if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) && present() {
            return bases;
        }
        let _ = std::fs::remove_file(&marker);
        make_bases(env, &bases);
        assert!(
            present(),
            "the base images are still missing from {reg} / {areg} after pushing them"
        );
        let plats = reg_c.platforms("base/busybox", "multi");
        assert_eq!(
            plats,
            vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
            "{} lists the wrong platforms",
            bases.multi
        );
        std::fs::write(&marker, want).unwrap_or_else(|e| panic!("{}: {e}", marker.display()));
        bases
    })
}

fn make_bases(env: &BuildEnv, b: &Bases) {
    let t0 = Instant::now();
    let work = super::tmp();
    for (arch, tag) in [("amd64", &b.amd64), ("arm64", &b.arm64)] {
        let root = work.path().join(format!("rootfs-{arch}"));
        std::fs::create_dir_all(root.join("bin")).expect("mkdir rootfs/bin");
        copy_file(&super::busybox(arch), &root.join("bin/busybox"));
        for l in BUSYBOX_LINKS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(l)).expect("symlink");
        }
        // tar -C ROOTFS -c . | docker import --platform linux/ARCH - TAG
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["--owner=0", "--group=0", "-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("running tar");
        let tar_out = tar.stdout.take().expect("tar stdout");
        let out = env
            .docker26()
            .args(["import", "--platform", &format!("linux/{arch}"), "-", tag])
            .stdin(Stdio::from(tar_out))
            .output()
            .expect("running docker import");
        let tar_status = tar.wait().expect("tar");
        assert!(tar_status.success(), "tar of {} failed", root.display());
        assert!(
            out.status.success(),
            "docker import {tag} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        run_ok(
            env.docker26().args(["push", "-q", tag]),
            &format!("docker push {tag}"),
        );
    }
    run_ok(
        env.docker26().args([
            "buildx",
            "imagetools",
            "create",
            "-t",
            &b.multi,
            &b.amd64,
            &b.arm64,
        ]),
        &format!("docker buildx imagetools create -t {}", b.multi),
    );

    // The htpasswd registry: log in with a private DOCKER_CONFIG, push.
    let cfg = work.path().join("auth-docker-config");
    docker_login(env, &cfg);
    let auth_tags: Vec<&String> = [&b.auth_amd64, &b.auth_private_amd64]
        .into_iter()
        .chain(b.auth_helper_amd64.iter().map(|(_, r)| r))
        .collect();
    for tag in &auth_tags {
        run_ok(
            env.docker26().args(["tag", &b.amd64, tag]),
            &format!("docker tag {} {tag}", b.amd64),
        );
        run_ok(
            env.docker_cli(env.docker26_host(), &cfg)
                .args(["push", "-q", tag]),
            &format!("docker push {tag} (logged in)"),
        );
    }
    // Untag them in the engine: Docker 26 with the containerd store resolves a
    // FROM name it holds locally without asking the registry, so a local copy
    // would let an anonymous build of an auth-registry image pass.
    run_ok(
        env.docker26().arg("rmi").args(&auth_tags),
        "docker rmi of the auth-registry tags",
    );
    eprintln!("buildenv: made the busybox bases in {:?}", t0.elapsed());
}

/// `docker login` to the htpasswd registry, writing credentials into `config`
/// (a DOCKER_CONFIG dir; created).
pub fn docker_login(env: &BuildEnv, config: &Path) {
    std::fs::create_dir_all(config).expect("mkdir docker config");
    let mut child = env
        .docker_cli(env.docker26_host(), config)
        .args([
            "login",
            "-u",
            env.auth_user(),
            "--password-stdin",
            env.auth_registry(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running docker login");
    if let Some(mut i) = child.stdin.take() {
        i.write_all(env.auth_pass().as_bytes())
            .expect("password to docker login");
    }
    let out = child.wait_with_output().expect("docker login");
    assert!(
        out.status.success(),
        "docker login {} failed:\n{}",
        env.auth_registry(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_file(from: &Path, to: &Path) {
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    // std::fs::copy keeps the permission bits.
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}

// ---------------------------------------------------------------------------
// Build contexts

/// A build context in a temporary directory, removed on drop.
pub struct Context {
    dir: tempfile::TempDir,
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

/// `docker buildx build --progress plain --platform PLATFORM` of `ctx`
/// into a local dest, on the docker CLI `cli`.
pub fn buildx_to_local(mut cli: Command, platform: &str, dest: &Path, ctx: &Context) -> Command {
    cli.args([
        "buildx",
        "build",
        "--progress",
        "plain",
        "--platform",
        platform,
    ])
    .args(["-o", &format!("type=local,dest={}", dest.display())])
    .arg(ctx.path());
    cli
}

/// `docker buildx build --builder TESTENV_BUILDER ARGS...` on Docker 28's
/// CLI: buildx 0.29 on the testenv's `docker-container` builder, the
/// oracle archgate's builds are compared with. Stdin is null unless the
/// caller sets it.
pub fn buildx_build<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let e = env();
    let mut c = e.docker28();
    c.args([
        "buildx",
        "build",
        "--builder",
        e.get("ARCHGATE_BUILDX_BUILDER"),
    ])
    .args(args)
    .stdin(Stdio::null());
    c
}

/// Run a command to its end: (exit code, stdout).
pub fn code_and_stdout(cmd: &mut Command) -> (i32, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `--build-arg SOURCE_DATE_EPOCH=0 --iidfile IID -o type=oci,dest=DEST`:
/// a build whose image ID does not depend on when it ran, so archgate's
/// and buildx's can be compared.
pub fn reproducible_oci(iid: &Path, dest: &Path) -> Vec<String> {
    vec![
        "--build-arg".into(),
        "SOURCE_DATE_EPOCH=0".into(),
        "--iidfile".into(),
        iid.display().to_string(),
        "-o".into(),
        format!("type=oci,dest={}", dest.display()),
    ]
}

impl Context {
    pub fn new() -> Context {
        Context { dir: super::tmp() }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// The context path as the CLI gets it.
    pub fn arg(&self) -> String {
        self.dir.path().display().to_string()
    }
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    /// Write `Dockerfile` at the root.
    pub fn dockerfile(&self, text: &str) -> &Self {
        self.write("Dockerfile", text.as_bytes())
    }
    /// Write a file (mode 0644), making its parents.
    pub fn write(&self, rel: &str, data: &[u8]) -> &Self {
        let p = self.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        std::fs::write(&p, data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        self
    }
    /// Write an executable script (mode 0755).
    pub fn script(&self, rel: &str, text: &str) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, text.as_bytes());
        std::fs::set_permissions(self.join(rel), std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
        self
    }
    /// Copy a file in, keeping its mode.
    pub fn copy(&self, rel: &str, from: &Path) -> &Self {
        copy_file(from, &self.join(rel));
        self
    }
    /// A symlink `rel -> target` (target taken literally).
    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        let p = self.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        std::os::unix::fs::symlink(target, &p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        self
    }
    /// The static Go hello for a GOARCH (`amd64`, `arm64`, `arm-v7`, ...).
    pub fn go_app(&self, rel: &str, name: &str) -> &Self {
        self.copy(rel, &super::go_hello(name))
    }
    /// Debian's static busybox for a Debian architecture.
    pub fn busybox(&self, rel: &str, debarch: &str) -> &Self {
        self.copy(rel, &super::busybox(debarch))
    }
    /// Debian's dynamically linked (glibc) `hello` for a Debian architecture.
    pub fn glibc_hello(&self, rel: &str, debarch: &str) -> &Self {
        self.copy(
            rel,
            &super::fixture(&format!("debian/{debarch}/root/usr/bin/hello")),
        )
    }
}

/// The correct two-platform Dockerfile: `ARG TARGETARCH` and
/// `COPY app-${TARGETARCH} /app`.
pub const TWO_PLATFORM_DOCKERFILE: &str = "\
FROM scratch
ARG TARGETARCH
COPY app-${TARGETARCH} /app
ENTRYPOINT [\"/app\"]
";

/// The same with the arch hardcoded: every platform gets the x86-64 binary.
pub const HARDCODED_DOCKERFILE: &str = "\
FROM scratch
ARG TARGETARCH
COPY app-amd64 /app
ENTRYPOINT [\"/app\"]
";

/// A context holding `app-amd64` and `app-arm64` (the Go hellos) and
/// `Dockerfile` with the given text.
pub fn two_arch_context(dockerfile: &str) -> Context {
    let c = Context::new();
    c.dockerfile(dockerfile)
        .go_app("app-amd64", "amd64")
        .go_app("app-arm64", "arm64");
    c
}

pub const TWO_PLATFORMS: &str = "linux/amd64,linux/arm64";

/// A program `/app` as the entry point.
pub const APP_DOCKERFILE: &str = "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n";

/// A context holding `app`, the Go hello for `goarch`, and
/// [`APP_DOCKERFILE`].
pub fn app_context(goarch: &str) -> Context {
    let c = Context::new();
    c.dockerfile(APP_DOCKERFILE).go_app("app", goarch);
    c
}

// ---------------------------------------------------------------------------
// Registry client

/// A plain-HTTP registry on loopback, spoken to with ureq.
pub struct Registry {
    addr: String,
    basic: Option<String>,
}

/// What a registry request answered.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

// Manifest media types a client accepts: OCI index/manifest
// (opencontainers/image-spec media-types.md) and Docker schema 2
// (distribution/distribution docs/spec/manifest-v2-2.md).
const MANIFEST_ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

impl Registry {
    /// `$ARCHGATE_REGISTRY`.
    pub fn anonymous() -> Registry {
        Registry {
            addr: env().registry().to_string(),
            basic: None,
        }
    }
    /// Any registry address, without credentials.
    pub fn anonymous_on(addr: &str) -> Registry {
        Registry {
            addr: addr.to_string(),
            basic: None,
        }
    }
    /// `$ARCHGATE_AUTH_REGISTRY` with the env's user and password.
    pub fn authenticated() -> Registry {
        let e = env();
        Registry {
            addr: e.auth_registry().to_string(),
            basic: Some(base64(
                format!("{}:{}", e.auth_user(), e.auth_pass()).as_bytes(),
            )),
        }
    }

    /// One request (no redirect followed, no proxy); fails the test when
    /// the registry cannot be reached.
    pub fn request(&self, method: &str, path: &str) -> HttpAnswer {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent("archgate-tests")
            .build()
            .into();
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("Accept", MANIFEST_ACCEPT.join(", "));
        if let Some(b) = &self.basic {
            req = req.header("Authorization", format!("Basic {b}"));
        }
        let req = req
            .body(())
            .unwrap_or_else(|e| panic!("registry {} {method} {path}: {e}", self.addr));
        let mut resp = agent.run(req).unwrap_or_else(|e| {
            panic!(
                "registry {} {method} {path}: {e} (is the testenv up?)",
                self.addr
            )
        });
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("registry {} {method} {path}: {e}", self.addr));
        HttpAnswer {
            status: resp.status().as_u16(),
            body,
        }
    }

    /// The status of HEAD /v2/NAME/manifests/REF (200, 404, 401, ...).
    pub fn manifest_status(&self, name: &str, reference: &str) -> u16 {
        self.request("HEAD", &format!("/v2/{name}/manifests/{reference}"))
            .status
    }

    /// Whether the tag (or digest) exists: 200 yes, 404 no, anything else
    /// fails the test.
    pub fn exists(&self, name: &str, reference: &str) -> bool {
        match self.manifest_status(name, reference) {
            200 => true,
            404 => false,
            s => panic!(
                "registry {}: HEAD /v2/{name}/manifests/{reference} answered {s}",
                self.addr
            ),
        }
    }

    /// The manifest (index or image manifest) as JSON.
    pub fn manifest(&self, name: &str, reference: &str) -> Value {
        let a = self.request("GET", &format!("/v2/{name}/manifests/{reference}"));
        assert_eq!(
            a.status,
            200,
            "registry {}: GET /v2/{name}/manifests/{reference}: {}",
            self.addr,
            String::from_utf8_lossy(&a.body)
        );
        serde_json::from_slice(&a.body)
            .unwrap_or_else(|e| panic!("manifest {name}:{reference} is not JSON ({e})"))
    }

    /// A blob as JSON (a config).
    pub fn blob_json(&self, name: &str, digest: &str) -> Value {
        let a = self.request("GET", &format!("/v2/{name}/blobs/{digest}"));
        assert_eq!(
            a.status, 200,
            "registry {}: blob {name}@{digest}",
            self.addr
        );
        serde_json::from_slice(&a.body).unwrap_or_else(|e| panic!("blob {digest}: {e}"))
    }

    /// The platforms (`os/arch[/variant]`, sorted) an index lists, without
    /// attestation manifests (`unknown/unknown`); for a single manifest, the
    /// platform its config names.
    pub fn platforms(&self, name: &str, reference: &str) -> Vec<String> {
        let m = self.manifest(name, reference);
        if let Some(list) = m["manifests"].as_array() {
            let mut out: Vec<String> = list
                .iter()
                .filter_map(|d| platform_string(&d["platform"]))
                .filter(|p| !p.starts_with("unknown/"))
                .collect();
            out.sort();
            return out;
        }
        let digest = m["config"]["digest"].as_str().unwrap_or_else(|| {
            panic!("manifest {name}:{reference} has neither manifests nor config: {m}")
        });
        platform_string(&self.blob_json(name, digest))
            .into_iter()
            .collect()
    }
}

/// `os/arch[/variant]` of a JSON object with `os`, `architecture`, `variant`.
pub fn platform_string(p: &Value) -> Option<String> {
    let os = p["os"].as_str()?;
    let arch = p["architecture"].as_str()?;
    Some(match p["variant"].as_str() {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    })
}

/// Split a reference `HOST:PORT/NAME:TAG` into (`NAME`, `TAG`).
pub fn repo_and_tag(reference: &str) -> (String, String) {
    let (_, rest) = reference.split_once('/').expect("HOST/NAME:TAG");
    let (name, tag) = rest.rsplit_once(':').expect("NAME:TAG");
    (name.to_string(), tag.to_string())
}

/// Standard base64 with padding (RFC 4648), for a Basic auth header.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

// ---------------------------------------------------------------------------
// What the exporters wrote

/// The ELF machine of a file as a GOARCH (`amd64`, `arm64`, ...), or None
/// when it is not an ELF file this knows.
pub fn elf_arch(path: &Path) -> Option<&'static str> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = [0u8; 20];
    f.read_exact(&mut h).ok()?;
    if &h[..4] != b"\x7fELF" {
        return None;
    }
    let machine = if h[5] == 2 {
        u16::from_be_bytes([h[18], h[19]])
    } else {
        u16::from_le_bytes([h[18], h[19]])
    };
    // e_machine values: the System V ABI's registry (elf.h EM_*).
    match machine {
        3 => Some("386"),
        40 => Some("arm"),
        62 => Some("amd64"),
        183 => Some("arm64"),
        _ => None,
    }
}

/// The subdirectories a multi-platform `local` export made (`linux_amd64`, ...),
/// sorted.
pub fn local_platform_dirs(dest: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dest)
        .unwrap_or_else(|e| panic!("{}: {e}", dest.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The platforms an OCI archive (`type=oci,dest=FILE`) holds, sorted, without
/// attestations: index.json, nested indexes followed, single manifests
/// resolved through their config.
pub fn oci_archive_platforms(file: &Path) -> Vec<String> {
    let f = std::fs::File::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut ar = tar::Archive::new(f);
    let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in ar
        .entries()
        .unwrap_or_else(|e| panic!("{}: not a tar: {e}", file.display()))
    {
        let mut entry = entry.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if entry.header().entry_type().is_file() && entry.size() < (1 << 20) {
            let name = entry
                .path()
                .map(|p| p.to_string_lossy().trim_start_matches("./").to_string())
                .unwrap_or_default();
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", file.display()));
            small.insert(name, data);
        }
    }
    let json = |name: &str| -> Value {
        let data = small
            .get(name)
            .unwrap_or_else(|| panic!("{}: no {name} in the archive", file.display()));
        serde_json::from_slice(data).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let blob = |digest: &str| json(&format!("blobs/{}", digest.replacen(':', "/", 1)));
    let mut out = Vec::new();
    let mut queue = vec![json("index.json")];
    while let Some(idx) = queue.pop() {
        for d in idx["manifests"].as_array().cloned().unwrap_or_default() {
            let digest = d["digest"].as_str().unwrap_or_default().to_string();
            let mt = d["mediaType"].as_str().unwrap_or_default();
            if mt.contains("index") || mt.contains("manifest.list") {
                queue.push(blob(&digest));
            } else if let Some(p) = platform_string(&d["platform"]) {
                out.push(p);
            } else {
                let m = blob(&digest);
                let cfg = m["config"]["digest"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                out.extend(platform_string(&blob(&cfg)));
            }
        }
    }
    out.retain(|p| !p.starts_with("unknown/"));
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// The builders the gate scenarios run on

/// One kind of BuildKit `archgate build` drives, each as the testenv runs it
/// and addressed as a user would: an engine's embedded BuildKit, a
/// standalone buildkitd, a buildx builder by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderKind {
    /// Docker 26.1 (trixie; BuildKit 0.13): `--addr docker://unix://...`.
    Docker26,
    /// Docker 28.5 (sid; BuildKit 0.25): `--addr docker://unix://...`.
    Docker28,
    /// buildkitd v0.32.2 on a unix socket: `--addr unix://...`.
    BuildkitdUnix,
    /// The same buildkitd on tcp 127.0.0.1 with mutual TLS:
    /// `--addr tcp://... --tlscacert --tlscert --tlskey`.
    BuildkitdTls,
    /// A buildx 0.29 `docker-container` builder on Docker 28, by name:
    /// `--builder NAME`, read from buildx's store in DOCKER_CONFIG and
    /// reached through `docker exec ... buildctl dial-stdio`.
    BuildxContainer,
}

impl BuilderKind {
    /// Every kind, in the order the tests are generated.
    pub const ALL: [BuilderKind; 5] = [
        BuilderKind::Docker26,
        BuilderKind::Docker28,
        BuilderKind::BuildkitdUnix,
        BuilderKind::BuildkitdTls,
        BuilderKind::BuildxContainer,
    ];

    /// A short name, for tags and messages.
    pub fn name(self) -> &'static str {
        match self {
            BuilderKind::Docker26 => "docker26",
            BuilderKind::Docker28 => "docker28",
            BuilderKind::BuildkitdUnix => "buildkitd-unix",
            BuilderKind::BuildkitdTls => "buildkitd-tls",
            BuilderKind::BuildxContainer => "buildx-container",
        }
    }

    /// `archgate build --progress plain --format json` on this builder.
    pub fn build(self) -> Build {
        let e = env();
        match self {
            BuilderKind::Docker26 => build(&e.addr26()),
            BuilderKind::Docker28 => build(&e.addr28()),
            BuilderKind::BuildkitdUnix => build(e.get("ARCHGATE_BUILDKIT_ADDR")),
            BuilderKind::BuildkitdTls => build(e.get("ARCHGATE_BUILDKIT_TLS_ADDR")).args(&[
                "--tlscacert",
                e.get("ARCHGATE_BUILDKIT_TLS_CACERT"),
                "--tlscert",
                e.get("ARCHGATE_BUILDKIT_TLS_CERT"),
                "--tlskey",
                e.get("ARCHGATE_BUILDKIT_TLS_KEY"),
            ]),
            BuilderKind::BuildxContainer => on_buildx_builder(e.get("ARCHGATE_BUILDX_BUILDER")),
        }
    }
}

/// `archgate build --builder NAME` on a buildx builder of Docker 28's CLI
/// config (the test env's, or one a test created there).
pub fn on_buildx_builder(name: &str) -> Build {
    let e = env();
    let instance = PathBuf::from(e.get("ARCHGATE_BUILDX_CONFIG"))
        .join("buildx/instances")
        .join(name);
    assert!(
        instance.is_file(),
        "{} is missing: the buildx builder {name} was not created (run `scripts/testenv up`)",
        instance.display()
    );
    Build::with_instance(name, &instance)
}

impl Build {
    /// `--builder NAME`, with NAME's buildx instance file copied into the
    /// run's config dir.
    pub fn with_instance(name: &str, instance: &Path) -> Build {
        let mut b = Build::new(&["--builder", name]);
        b.buildx_instance = Some((name.to_string(), instance.to_path_buf()));
        // archgate runs `docker exec` for a docker-container builder
        b.path_first = Some(env().bin28_dir());
        b
    }
}

// ---------------------------------------------------------------------------
// Running `archgate build`

/// What one `archgate build` did: a [`Run`] (stdout, stderr, exit code,
/// elapsed time) read as a build's report.
#[derive(Debug)]
pub struct BuildRun(Run);

impl std::ops::Deref for BuildRun {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.0
    }
}

impl std::fmt::Display for BuildRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl BuildRun {
    /// Assert the exit code.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}\n{self}");
        self
    }
    /// The report's only image.
    pub fn image(&self) -> Value {
        let j = self.json();
        let images = j["images"]
            .as_array()
            .unwrap_or_else(|| panic!("no images[] in the report:\n{self}"));
        assert_eq!(images.len(), 1, "expected one image in the report:\n{self}");
        images[0].clone()
    }
    /// Every platform of the report, by platform string.
    pub fn platforms(&self) -> BTreeMap<String, Value> {
        self.image()["platforms"]
            .as_array()
            .unwrap_or_else(|| panic!("no platforms[] in the report:\n{self}"))
            .iter()
            .map(|p| (p["platform"].as_str().unwrap_or("?").to_string(), p.clone()))
            .collect()
    }
    /// One platform of the report.
    pub fn platform(&self, platform: &str) -> Value {
        self.platforms()
            .remove(platform)
            .unwrap_or_else(|| panic!("no {platform} in the report:\n{self}"))
    }
    /// Assert a platform's verdict and reason; returns its report.
    pub fn expect_platform(&self, platform: &str, verdict: &str, reason: &str) -> Value {
        let p = self.platform(platform);
        assert_eq!(
            (
                p["verdict"].as_str().unwrap_or("?"),
                p["reason"].as_str().unwrap_or("?")
            ),
            (verdict, reason),
            "{platform}: verdict / reason\n{self}"
        );
        p
    }
    /// Assert exactly these platforms were reported.
    pub fn expect_platform_set(&self, want: &[&str]) {
        let got: Vec<String> = self.platforms().into_keys().collect();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "reported platforms\n{self}");
    }
    /// Assert the "could not decide" contract: exit 2 and stderr containing
    /// every needle (case-insensitively).
    pub fn expect_undecided(&self, needles: &[&str]) {
        assert_eq!(self.code, 2, "expected exit 2 (could not decide)\n{self}");
        let low = self.stderr.to_lowercase();
        for n in needles {
            assert!(
                low.contains(&n.to_lowercase()),
                "stderr should mention {n:?}\n{self}"
            );
        }
    }
    /// Whether stderr mentions any of these (case-insensitively).
    pub fn stderr_mentions_any(&self, needles: &[&str]) -> bool {
        let low = self.stderr.to_lowercase();
        needles.iter().any(|n| low.contains(&n.to_lowercase()))
    }
}

/// `archgate build --progress plain --format json --addr ADDR ...`, built up
/// and then `run()`: an [`Archgate`] with none of the machine's builder or
/// engine settings and a DOCKER_CONFIG of its own.
pub struct Build {
    archgate: Archgate,
    docker_config: Option<PathBuf>,
    /// A buildx builder's `instances/NAME` file, copied into the run's
    /// DOCKER_CONFIG so `--builder NAME` finds it there.
    buildx_instance: Option<(String, PathBuf)>,
    /// A folder put first in PATH (the docker CLI a builder needs).
    path_first: Option<PathBuf>,
    /// PATH as the test set it (default: this process's).
    path: Option<std::ffi::OsString>,
}

/// A build on an address (e.g. `env().addr26()`).
pub fn build(addr: &str) -> Build {
    Build::new(&["--addr", addr])
}

impl Build {
    /// `archgate build --progress plain --format json BUILDER_ARGS...` with
    /// none of the machine's builder or engine settings.
    fn new(builder_args: &[&str]) -> Build {
        Build {
            archgate: Archgate::new(&["build", "--progress", "plain", "--format", "json"])
                .args(builder_args)
                .env_remove("BUILDKIT_HOST")
                .env_remove("DOCKER_HOST")
                .env_remove("DOCKER_CONTEXT")
                .env_remove("BUILDX_BUILDER")
                .timeout(Duration::from_secs(300)),
            docker_config: None,
            buildx_instance: None,
            path_first: None,
            path: None,
        }
    }

    pub fn args<S: AsRef<str>>(mut self, a: &[S]) -> Self {
        self.archgate = self.archgate.args(a);
        self
    }
    /// `--platform PLATFORMS`.
    pub fn platform(self, platforms: &str) -> Self {
        self.args(&["--platform", platforms])
    }
    /// `--platform linux/amd64,linux/arm64`.
    pub fn two_platforms(self) -> Self {
        self.platform(TWO_PLATFORMS)
    }
    /// `-o type=local,dest=DEST`.
    pub fn local_dest(self, dest: &Path) -> Self {
        self.args(&["-o", &format!("type=local,dest={}", dest.display())])
    }
    pub fn env(mut self, k: &str, v: impl Into<std::ffi::OsString>) -> Self {
        if k == "PATH" {
            // joined with the builder's folder at run()
            self.path = Some(v.into());
        } else {
            self.archgate = self.archgate.env(k, v);
        }
        self
    }
    /// DOCKER_CONFIG for this run (default: a fresh empty dir, so no
    /// credentials of the machine leak in).
    pub fn docker_config(mut self, dir: &Path) -> Self {
        self.docker_config = Some(dir.to_path_buf());
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.archgate = self.archgate.timeout(t);
        self
    }
    /// stdin read from this file ([`Archgate::stdin_file`]).
    pub fn stdin_file(mut self, path: &Path) -> Self {
        self.archgate = self.archgate.stdin_file(path);
        self
    }
    /// stdout a pipe nobody reads any more (see [`Archgate::stdout_closed`]).
    pub fn stdout_closed(mut self) -> Self {
        self.archgate = self.archgate.stdout_closed();
        self
    }

    /// Run with CONTEXT as the last argument, checked as every run is
    /// ([`Archgate::run`]) and for the CLI accepting the build contract.
    pub fn run(self, context: &str) -> BuildRun {
        let (archgate, _config) = self.command(context);
        let run = archgate.run();
        assert!(
            !run.stderr.contains("unrecognized subcommand"),
            "this archgate binary has no `build` subcommand yet (issue 3)\n{run}"
        );
        assert!(
            !run.stderr.contains("error: unexpected argument")
                && !run.stderr.contains("error: invalid value"),
            "the CLI rejected arguments of the issue 3 contract\n{run}"
        );
        BuildRun(run)
    }

    /// Start the build in the background (its config dir lives as long as
    /// the returned guard).
    pub fn spawn(self, context: &str) -> (super::Running, tempfile::TempDir) {
        let (archgate, config) = self.command(context);
        (archgate.spawn(), config)
    }

    /// The command for CONTEXT, with its DOCKER_CONFIG (a fresh one unless
    /// given, holding the builder's instance file when there is one).
    fn command(self, context: &str) -> (Archgate, tempfile::TempDir) {
        let empty_config = super::tmp();
        let config = self
            .docker_config
            .unwrap_or_else(|| empty_config.path().to_path_buf());
        if let Some((name, instance)) = &self.buildx_instance {
            let dest = config.join("buildx/instances").join(name);
            copy_file(instance, &dest);
        }
        let mut archgate = self.archgate;
        if self.path_first.is_some() || self.path.is_some() {
            let rest = self.path.or_else(|| std::env::var_os("PATH"));
            let dirs = self
                .path_first
                .into_iter()
                .chain(rest.iter().flat_map(std::env::split_paths));
            let path = std::env::join_paths(dirs).expect("PATH folders without ':'");
            archgate = archgate.env("PATH", path);
        }
        (
            archgate.env("DOCKER_CONFIG", config).args(&[context]),
            empty_config,
        )
    }
}
