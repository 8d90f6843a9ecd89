//! Shared support for the end-to-end tests: where the real-binary fixtures
//! are, layers built from them, and running the built `archgate` binary.
//!
//! The one idea: tests never skip. Missing fixtures are a failure that says
//! how to get them (`scripts/fixtures`), and every run of the binary is checked
//! for the things that must never happen whatever the verdict (a panic, a
//! signal, an exit code outside 0..=2).

pub mod buildenv;
pub mod debian;
pub use ocibuild;
pub mod rawtar;
pub mod registry;
pub mod relay;

pub use ocibuild::*;
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The fixtures folder: `$ARCHGATE_FIXTURES`, else `target/fixtures` of this
/// crate. Panics (fails the test) when `scripts/fixtures` has not run.
pub fn fixtures() -> PathBuf {
    let dir = match std::env::var_os("ARCHGATE_FIXTURES") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures"),
    };
    if !dir.join(".stamp").is_file() {
        panic!(
            "the real-binary fixtures are missing in {}: run scripts/fixtures first \
             (scripts/test does), or set ARCHGATE_FIXTURES to where they are",
            dir.display()
        );
    }
    dir
}

/// One fixture file, which must exist.
pub fn fixture(rel: &str) -> PathBuf {
    let p = fixtures().join(rel);
    if std::fs::symlink_metadata(&p).is_err() {
        panic!(
            "fixture {} is missing: run scripts/fixtures again",
            p.display()
        );
    }
    p
}

/// The Debian architectures scripts/fixtures always fetches, with the OCI
/// platform each one's userland is built for.
pub const DEBIAN_ARCHES: &[(&str, &str)] = &[
    ("amd64", "linux/amd64"),
    ("arm64", "linux/arm64"),
    ("armhf", "linux/arm/v7"),
    ("armel", "linux/arm/v5"),
    ("i386", "linux/386"),
    ("ppc64el", "linux/ppc64le"),
    ("s390x", "linux/s390x"),
    ("mips64el", "linux/mips64le"),
    ("mipsel", "linux/mipsle"),
];

/// The Go cross-compiles (`go/bin/hello-<name>`) with their platform.
pub const GO_HELLOS: &[(&str, &str)] = &[
    ("amd64", "linux/amd64"),
    ("386", "linux/386"),
    ("arm64", "linux/arm64"),
    ("arm-v5", "linux/arm/v5"),
    ("arm-v6", "linux/arm/v6"),
    ("arm-v7", "linux/arm/v7"),
    ("ppc64", "linux/ppc64"),
    ("ppc64le", "linux/ppc64le"),
    ("s390x", "linux/s390x"),
    ("riscv64", "linux/riscv64"),
    ("mips", "linux/mips"),
    ("mipsle", "linux/mipsle"),
    ("mips64", "linux/mips64"),
    ("mips64le", "linux/mips64le"),
    ("loong64", "linux/loong64"),
];

/// The unpacked Debian root for an architecture.
pub fn deb_root(debarch: &str) -> PathBuf {
    fixture(&format!("debian/{debarch}/root"))
}

/// Debian's static busybox for an architecture.
pub fn busybox(debarch: &str) -> PathBuf {
    fixture(&format!("debian/{debarch}/root/bin/busybox"))
}

/// A Go hello: `amd64`, `arm-v7`, `amd64-stripped`, ...
pub fn go_hello(name: &str) -> PathBuf {
    fixture(&format!("go/bin/hello-{name}"))
}

/// `source`, one Go file of package main (no modules, no network), built
/// into `dir/name` with the fixtures' Go 1.19 and cgo off (a static
/// program): for linux/`goarch` when given, else for this machine. Fails
/// the test with go's output when the build fails.
pub fn go_build(dir: &Path, source: &str, name: &str, goarch: Option<&str>) -> PathBuf {
    let goroot = fixtures().join("go/toolchain/usr/lib/go-1.19");
    let go = goroot.join("bin/go");
    assert!(
        go.exists(),
        "{} is missing: run scripts/fixtures",
        go.display()
    );
    let main = dir.join(format!("{name}.go"));
    std::fs::write(&main, source).unwrap();
    let bin = dir.join(name);
    let mut cmd = Command::new(&go);
    cmd.args(["build", "-o"])
        .arg(&bin)
        .arg(&main)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GOROOT", &goroot)
        .env("GOCACHE", dir.join("cache"))
        .env("HOME", dir)
        .env("GO111MODULE", "off")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0");
    if let Some(arch) = goarch {
        cmd.env("GOOS", "linux").env("GOARCH", arch);
    }
    let out = cmd.output().expect("go build");
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// The `build KEY=VALUE` lines of `go version -m` for a Go hello.
pub fn go_buildinfo(name: &str) -> Vec<(String, String)> {
    let p = fixture(&format!("go/bin/hello-{name}.buildinfo.txt"));
    let text = std::fs::read_to_string(&p).expect("buildinfo.txt");
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("build\t"))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A layer with busybox at /bin/busybox, `/bin/sh -> busybox` and
/// `/usr/bin/env -> /bin/busybox`, as busybox images have them.
pub fn busybox_layer(debarch: &str) -> Layer {
    Layer::new()
        .file_from("bin/busybox", busybox(debarch))
        .symlink("bin/sh", "busybox")
        .symlink("usr/bin/env", "/bin/busybox")
}

/// Copy `rel` (relative to the root) from an unpacked Debian root into the
/// layer, keeping symlinks as symlinks and bringing their targets along.
pub fn add_from_root(mut layer: Layer, root: &Path, rel: &str) -> Layer {
    let mut rel = rel.trim_start_matches('/').to_string();
    for _ in 0..8 {
        let p = root.join(&rel);
        let md = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(&p)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            layer = layer.symlink(&rel, &target);
            rel = if let Some(abs) = target.strip_prefix('/') {
                abs.to_string()
            } else {
                let parent = Path::new(&rel)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                normalize(&format!("{parent}/{target}"))
            };
        } else {
            use std::os::unix::fs::PermissionsExt;
            return layer.file_from_mode(&rel, &p, md.permissions().mode() & 0o7777);
        }
    }
    panic!("too many links from {rel}");
}

fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// The glibc loader paths (PT_INTERP) of each Debian architecture's `hello`.
pub fn glibc_loader(debarch: &str) -> &'static str {
    match debarch {
        "amd64" => "/lib64/ld-linux-x86-64.so.2",
        "arm64" => "/lib/ld-linux-aarch64.so.1",
        "armhf" => "/lib/ld-linux-armhf.so.3",
        "armel" => "/lib/ld-linux.so.3",
        "i386" => "/lib/ld-linux.so.2",
        "ppc64el" => "/lib64/ld64.so.2",
        "s390x" => "/lib/ld64.so.1",
        "mips64el" => "/lib64/ld.so.1",
        "mipsel" => "/lib/ld.so.1",
        other => panic!("no loader known for {other}"),
    }
}

/// Debian's dynamically linked `hello` at /usr/bin/hello, with (or without)
/// the real loader and libc.so.6 from libc6.
pub fn glibc_hello_layer(debarch: &str, with_loader: bool) -> Layer {
    let root = deb_root(debarch);
    let mut l = add_from_root(Layer::new(), &root, "usr/bin/hello");
    if with_loader {
        l = add_from_root(l, &root, glibc_loader(debarch));
        let triplet_libc = std::fs::read_dir(root.join("lib"))
            .expect("lib")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("libc.so.6"))
            .find(|p| p.exists());
        if let Some(libc) = triplet_libc {
            let rel = libc
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            l = add_from_root(l, &root, &rel);
        }
    }
    l
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Wall time from the spawn to the reaped exit.
    pub elapsed: Duration,
    /// The peak RSS, for a run made with [`Archgate::measure_rss`].
    pub rss: Option<PeakRss>,
}

/// The peak resident set size of a run: the kernel's figure for the reaped
/// child (`ru_maxrss` from wait4), so nothing is sampled or timed.
#[derive(Debug, Clone, Copy)]
pub struct PeakRss {
    /// `ru_maxrss` of the child, in KiB (Linux counts it in kilobytes).
    pub peak_kib: u64,
    /// The floor of that figure (see [`Measured::floor_kib`]).
    pub floor_kib: u64,
}

impl Run {
    /// stdout as JSON (panics with the whole run when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// The platforms of the only image.
    pub fn platforms(&self) -> Vec<Value> {
        let j = self.json();
        let images = j["images"]
            .as_array()
            .unwrap_or_else(|| panic!("no images[]:\n{self}"));
        assert_eq!(images.len(), 1, "expected one image:\n{self}");
        images[0]["platforms"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no platforms[]:\n{self}"))
    }

    /// The only platform of the only image.
    pub fn platform(&self) -> Value {
        let p = self.platforms();
        assert_eq!(p.len(), 1, "expected exactly one platform:\n{self}");
        p[0].clone()
    }

    /// Assert exit code, platform verdict and reason of a one-platform run.
    pub fn expect(&self, code: i32, verdict: &str, reason: &str) -> Value {
        let p = self.platform();
        assert_eq!(
            (
                self.code,
                p["verdict"].as_str().unwrap_or("?"),
                p["reason"].as_str().unwrap_or("?")
            ),
            (code, verdict, reason),
            "exit code / verdict / reason\n{self}"
        );
        p
    }

    /// Assert the "could not decide" contract: exit 2, exactly one line on
    /// stderr, containing each of `needles`.
    pub fn expect_undecided(&self, needles: &[&str]) {
        assert_eq!(self.code, 2, "expected exit 2\n{self}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one line on stderr\n{self}"
        );
        for n in needles {
            assert!(lines[0].contains(n), "stderr should name {n:?}\n{self}");
        }
    }

    /// The peak RSS (fails the test for a run that did not measure it).
    pub fn rss(&self) -> PeakRss {
        self.rss
            .unwrap_or_else(|| panic!("this run did not measure its peak RSS\n{self}"))
    }

    /// The peak RSS in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.rss().peak_kib as f64 / 1024.0
    }

    /// Assert the peak RSS stayed under `mib` MiB.
    pub fn expect_peak_rss_under(&self, mib: u64) {
        let rss = self.rss();
        assert!(
            rss.peak_kib < mib * 1024,
            "peak RSS {:.1} MiB (floor {:.1} MiB), expected under {mib} MiB\n{self}",
            self.peak_rss_mib(),
            rss.floor_kib as f64 / 1024.0,
        );
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A build's progress can be long: keep the stderr tail, where
        // errors are.
        let lines: Vec<&str> = self.stderr.lines().collect();
        let from = lines.len().saturating_sub(STDERR_TAIL);
        write!(
            f,
            "$ archgate {}\nexit {} after {:?}\n--- stdout\n{}\n--- stderr{}\n{}",
            self.args.join(" "),
            self.code,
            self.elapsed,
            self.stdout,
            if from > 0 {
                format!(" (last {STDERR_TAIL} lines)")
            } else {
                String::new()
            },
            lines[from..].join("\n")
        )
    }
}

/// How much of stderr a failing test shows.
const STDERR_TAIL: usize = 80;

/// One run of the built binary, built up and then [`run`](Archgate::run)
/// (or [`spawn`](Archgate::spawn)ed): the only place the tests start it, and
/// the only place its runs are held to what must never happen (a panic, a
/// signal, an exit code outside 0..=2).
#[must_use]
pub struct Archgate {
    args: Vec<String>,
    envs: Vec<(OsString, Option<OsString>)>,
    stdout_closed: bool,
    measure_rss: bool,
    timeout: Option<Duration>,
    /// A file the child reads as its stdin (default: none, /dev/null).
    stdin: Option<PathBuf>,
}

impl Archgate {
    /// `archgate ARGS...`, with `NO_COLOR=1` and without `ARCHGATE_LOG`.
    pub fn new<S: AsRef<str>>(args: &[S]) -> Archgate {
        Archgate {
            args: args.iter().map(|s| s.as_ref().to_string()).collect(),
            envs: vec![
                ("ARCHGATE_LOG".into(), None),
                ("NO_COLOR".into(), Some("1".into())),
            ],
            stdout_closed: false,
            measure_rss: false,
            timeout: None,
            stdin: None,
        }
    }

    /// More arguments.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Archgate {
        self.args
            .extend(args.iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// Set a variable of the child's environment.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Archgate {
        self.envs.push((k.into(), Some(v.into())));
        self
    }

    /// Remove a variable from the child's environment.
    pub fn env_remove(mut self, k: impl Into<OsString>) -> Archgate {
        self.envs.push((k.into(), None));
        self
    }

    /// Set (`Some`) or remove (`None`) each variable.
    pub fn envs<K: AsRef<OsStr>>(mut self, vars: &[(K, Option<OsString>)]) -> Archgate {
        for (k, v) in vars {
            self.envs.push((k.as_ref().to_os_string(), v.clone()));
        }
        self
    }

    /// stdout a pipe nobody reads any more, as in `archgate ... | head -1`
    /// once `head` has exited: every write to it fails with EPIPE (the run's
    /// stdout is then empty).
    pub fn stdout_closed(mut self) -> Archgate {
        self.stdout_closed = true;
        self
    }

    /// The child's stdin is this file.
    pub fn stdin_file(mut self, path: &Path) -> Archgate {
        self.stdin = Some(path.to_path_buf());
        self
    }

    /// Measure the peak RSS of the process ([`run_measured`]).
    pub fn measure_rss(mut self) -> Archgate {
        self.measure_rss = true;
        self
    }

    /// Kill the process and fail the test when it runs longer than `t`.
    pub fn timeout(mut self, t: Duration) -> Archgate {
        self.timeout = Some(t);
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_archgate"));
        cmd.args(&self.args).stdin(Stdio::null());
        if let Some(p) = &self.stdin {
            cmd.stdin(std::fs::File::open(p).expect("the stdin file"));
        }
        for (k, v) in &self.envs {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    /// Run to the end. Whatever it decides, it must exit 0, 1 or 2 (within
    /// the timeout) and never panic.
    pub fn run(self) -> Run {
        if !self.measure_rss {
            let timeout = self.timeout;
            return self.spawn().wait(timeout);
        }
        assert!(
            !self.stdout_closed && self.timeout.is_none(),
            "a measured run has its stdout captured and no timeout"
        );
        let t0 = Instant::now();
        let m = run_measured(&mut self.command());
        finished(
            self.args,
            m.code,
            String::from_utf8_lossy(&m.stdout).into_owned(),
            String::from_utf8_lossy(&m.stderr).into_owned(),
            t0.elapsed(),
            Some(PeakRss {
                peak_kib: m.peak_rss_kib,
                floor_kib: m.floor_kib,
            }),
        )
    }

    /// Start it; [`Running::wait`] ends it and checks it as [`run`] does.
    pub fn spawn(self) -> Running {
        assert!(!self.measure_rss, "a measured run is run(), not spawned");
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if self.stdout_closed {
            let (reader, writer) = std::io::pipe().expect("a pipe");
            drop(reader);
            cmd.stdout(writer);
        }
        let t0 = Instant::now();
        let mut child = cmd.spawn().expect("running the archgate binary");
        let read = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut v);
                }
                String::from_utf8_lossy(&v).into_owned()
            })
        };
        let stdout = read(child.stdout.take().map(|o| Box::new(o) as _));
        let stderr = read(child.stderr.take().map(|e| Box::new(e) as _));
        Running {
            child,
            args: self.args,
            t0,
            stdout,
            stderr,
        }
    }
}

/// A spawned run of the binary.
pub struct Running {
    child: std::process::Child,
    args: Vec<String>,
    t0: Instant,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    /// The process id (to signal it).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the exit (killing the process and failing the test when
    /// it has not come `timeout` after this call), then hold the run to what
    /// must never happen.
    pub fn wait(mut self, timeout: Option<Duration>) -> Run {
        let waiting = Instant::now();
        let mut timed_out = false;
        let status = match timeout {
            None => self.child.wait().expect("waiting for archgate"),
            Some(limit) => loop {
                match self.child.try_wait().expect("waiting for archgate") {
                    Some(s) => break s,
                    None if waiting.elapsed() > limit => {
                        timed_out = true;
                        let _ = self.child.kill();
                        break self.child.wait().expect("waiting for archgate");
                    }
                    None => std::thread::sleep(Duration::from_millis(20)),
                }
            },
        };
        let elapsed = self.t0.elapsed();
        let stdout = self.stdout.join().unwrap_or_default();
        let stderr = self.stderr.join().unwrap_or_default();
        if timed_out {
            let run = Run {
                args: self.args,
                code: status.code().unwrap_or(-1),
                stdout,
                stderr,
                elapsed,
                rss: None,
            };
            panic!("archgate did not finish within {timeout:?}\n{run}");
        }
        finished(
            self.args,
            status.code().unwrap_or(-1),
            stdout,
            stderr,
            elapsed,
            None,
        )
    }
}

/// A finished run of the binary, held to what must never happen.
fn finished(
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    rss: Option<PeakRss>,
) -> Run {
    let run = Run {
        args,
        code,
        stdout,
        stderr,
        elapsed,
        rss,
    };
    assert!(!run.stderr.contains("panicked"), "archgate panicked\n{run}");
    assert!(
        (0..=2).contains(&run.code),
        "exit code outside 0..=2 (or killed by a signal)\n{run}"
    );
    run
}

/// Run the built binary (see [`Archgate`]).
pub fn archgate<S: AsRef<str>>(args: &[S]) -> Run {
    Archgate::new(args).run()
}

/// What [`run_measured`] saw of a child.
#[derive(Debug)]
pub struct Measured {
    /// The exit code, -1 when a signal ended it.
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `ru_maxrss` of the child, in KiB.
    pub peak_rss_kib: u64,
    /// The launcher's own peak RSS when it started the child, in KiB: about
    /// the smallest figure a child can show (see [`run_measured`]); not a
    /// strict bound, since the kernel updates the high-water mark that exec
    /// folds in lazily, while VmHWM also counts the current RSS.
    pub floor_kib: u64,
}

/// The environment variable that turns a test binary into the launcher of
/// [`run_measured`]: the folder of one measurement.
const RSS_LAUNCH_ENV: &str = "ARCHGATE_TEST_RSS_LAUNCH";

/// Run `cmd` to its end (stdin closed, stdout and stderr captured) and
/// measure its peak resident set size: the `ru_maxrss` that wait4(2) hands
/// back for the reaped child.
///
/// Not from this process, though: exec(2) folds the peak RSS of the memory
/// the child had before it (fs/exec.c, `exec_mmap`: the parent's, shared
/// through vfork or copied by fork) into the new program's `ru_maxrss`, so a
/// child of a 300 MB test process measures 300 MB whatever it does. The
/// child is started instead by a fresh copy of this test binary (the
/// [`rss_launcher`] test, told what to run through `RSS_LAUNCH_ENV`), whose
/// own few MB are the floor of the figure ([`Measured::floor_kib`]).
pub fn run_measured(cmd: &mut Command) -> Measured {
    use std::os::unix::ffi::OsStrExt;

    let dir = tempfile::Builder::new()
        .prefix("archgate-rss-")
        .tempdir()
        .expect("tempdir");
    let mut argv = Vec::new();
    for a in std::iter::once(cmd.get_program()).chain(cmd.get_args()) {
        argv.extend_from_slice(a.as_bytes());
        argv.push(0);
    }
    std::fs::write(dir.path().join("argv"), argv).expect("argv");

    let exe = std::env::current_exe().expect("current_exe");
    let mut launcher = Command::new(exe);
    launcher
        .args(["--exact", &rss_launcher_name(), "--nocapture"])
        .args(["--test-threads", "1", "-q"])
        .env(RSS_LAUNCH_ENV, dir.path())
        .stdin(std::process::Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => launcher.env(k, v),
            None => launcher.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        launcher.current_dir(d);
    }
    let out = launcher.output().expect("running the RSS launcher");
    let result = std::fs::read_to_string(dir.path().join("result")).unwrap_or_default();
    let nums: Vec<i64> = result
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        out.status.success() && nums.len() == 3,
        "the RSS launcher failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Measured {
        code: nums[0] as i32,
        stdout: std::fs::read(dir.path().join("stdout")).expect("stdout"),
        stderr: std::fs::read(dir.path().join("stderr")).expect("stderr"),
        peak_rss_kib: nums[1] as u64,
        floor_kib: nums[2] as u64,
    }
}

/// The launcher test's name in this test binary (`common::rss_launcher`).
fn rss_launcher_name() -> String {
    let m = module_path!();
    let m = m.split_once("::").map(|(_, rest)| rest).unwrap_or(m);
    format!("{m}::rss_launcher")
}

/// The launcher of [`run_measured`]; without `RSS_LAUNCH_ENV` it does
/// nothing. It runs the argv of the folder, stdout and stderr into files,
/// reaps the child with wait4 and writes `CODE MAXRSS_KIB FLOOR_KIB`.
#[test]
fn rss_launcher() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let Some(dir) = std::env::var_os(RSS_LAUNCH_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let argv = std::fs::read(dir.join("argv")).expect("argv");
    let words: Vec<&OsStr> = argv
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(OsStr::from_bytes)
        .collect();
    let floor_kib = self_peak_rss_kib();
    // reaped by wait4 below, which std's wait would not let us call
    #[allow(clippy::zombie_processes)]
    let child = Command::new(words[0])
        .args(&words[1..])
        .env_remove(RSS_LAUNCH_ENV)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).expect("stdout file"))
        .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {:?}: {e}", words[0]));
    let pid = child.id() as i32;
    let mut status: i32 = 0;
    let mut usage = rusage::Rusage::default();
    loop {
        // SAFETY: wait4 writes an int and a struct rusage, both ours and
        // laid out as the C library's; std never waits on `child`.
        let r = unsafe { rusage::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::Interrupted,
            "wait4({pid}): {e}"
        );
    }
    let code = std::process::ExitStatus::from_raw(status)
        .code()
        .unwrap_or(-1);
    std::fs::write(
        dir.join("result"),
        format!("{code} {} {floor_kib}\n", usage.ru_maxrss.max(0)),
    )
    .expect("result");
}

/// This process's own peak RSS so far (VmHWM of /proc/self/status), KiB.
fn self_peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// wait4(2) and `struct rusage` as the C library declares them (the kernel's
/// include/uapi/linux/resource.h: two `struct timeval`, then 14 longs), so
/// the test support needs no crate beyond what archgate already uses.
mod rusage {
    use std::os::raw::{c_int, c_long};

    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Timeval {
        pub tv_sec: c_long,
        pub tv_usec: c_long,
    }

    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Rusage {
        pub ru_utime: Timeval,
        pub ru_stime: Timeval,
        /// Peak resident set size, KiB.
        pub ru_maxrss: c_long,
        pub ru_ixrss: c_long,
        pub ru_idrss: c_long,
        pub ru_isrss: c_long,
        pub ru_minflt: c_long,
        pub ru_majflt: c_long,
        pub ru_nswap: c_long,
        pub ru_inblock: c_long,
        pub ru_oublock: c_long,
        pub ru_msgsnd: c_long,
        pub ru_msgrcv: c_long,
        pub ru_nsignals: c_long,
        pub ru_nvcsw: c_long,
        pub ru_nivcsw: c_long,
    }

    extern "C" {
        pub fn wait4(pid: c_int, status: *mut c_int, options: c_int, rusage: *mut Rusage) -> c_int;
    }
}

/// `archgate check --format json [extra...] IMAGE...`
pub fn check_json(images: &[&str], extra: &[&str]) -> Run {
    let mut args: Vec<&str> = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(images);
    archgate(&args)
}

/// A fresh temporary directory.
pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("archgate-e2e-")
        .tempdir()
        .expect("tempdir")
}

/// Write a one-platform OCI layout `dir/name` and return its `oci:` reference.
pub fn oci_single(dir: &Path, name: &str, img: Image) -> String {
    let p = dir.join(name);
    Layout::single(img).write_dir(&p);
    format!("oci:{}", p.display())
}

/// Check a one-platform image built from `img`, in JSON, with `extra` flags.
pub fn check_image(img: Image, extra: &[&str]) -> Run {
    let t = tmp();
    let r = oci_single(t.path(), "img", img);
    check_json(&[&r], extra)
}

/// The checks of a platform report.
pub fn checks(p: &Value) -> Vec<Value> {
    p["checks"].as_array().cloned().unwrap_or_default()
}

/// The first check with this role and verdict, if any.
pub fn find_check(p: &Value, role: &str, verdict: &str) -> Option<Value> {
    checks(p)
        .into_iter()
        .find(|c| c["role"] == role && c["verdict"] == verdict)
}

/// Pids whose command line is exactly `sleep SECS` (a RUN step's process,
/// found to see a build start and stop on the daemon).
pub fn sleep_pids(secs: &str) -> Vec<u32> {
    let want = format!("sleep\0{secs}\0");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            cmd.ends_with(want.as_bytes()).then_some(pid)
        })
        .collect()
}

/// Poll `f` every 100 ms until it holds; fail the test naming `what` after
/// `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ruleId of each result of a SARIF log, in order.
pub fn sarif_rule_ids(sarif: &serde_json::Value) -> Vec<String> {
    sarif["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["ruleId"].as_str().map(str::to_string))
        .collect()
}
