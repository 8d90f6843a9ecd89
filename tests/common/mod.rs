//! Shared support for the end-to-end tests: where the real-binary fixtures
//! are, layers built from them, and running the built `archgate` binary.
//!
//! The one idea: tests never skip. Missing fixtures are a failure that says
//! how to get them (`scripts/fixtures`), and every run of the binary is checked
//! for the things that must never happen whatever the verdict (a panic, a
//! signal, an exit code outside 0..=2).
#![allow(dead_code)]

pub mod buildenv;
pub mod ocibuild;
pub mod rawtar;
pub mod registry;

pub use ocibuild::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

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
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ archgate {}\nexit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// Run the built binary. Whatever it decides, it must exit 0, 1 or 2 and
/// never panic.
pub fn archgate<S: AsRef<str>>(args: &[S]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_archgate"))
        .args(&args)
        .env_remove("ARCHGATE_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("running archgate");
    let run = Run {
        args,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "archgate panicked\n{run}");
    assert!(
        (0..=2).contains(&run.code),
        "exit code outside 0..=2 (or killed)\n{run}"
    );
    run
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
