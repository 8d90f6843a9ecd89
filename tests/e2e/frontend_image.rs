//! The gate inside BuildKit: archgate's frontend image (`# syntax=IMAGE`,
//! `--build-arg BUILDKIT_SYNTAX=IMAGE`) under the real `docker buildx
//! build` of each (engine, CLI, buildx) row of [`rows!`], pushed to the
//! test environment's loopback registry by `scripts/frontend-image`.
//!
//! The one idea: the user's own tool does the build, archgate only judges
//! what it built. Passing builds are read back from where buildx put them
//! (the registry, a local dir); failing ones are proven by what did not
//! happen (404, no dest dir) and by the failure buildx shows, which must
//! hold the platform, the program and the hint.
//!
//! Needs `scripts/testenv up`, the fixtures, and the static archgate that
//! `scripts/frontend-image --build-only` builds (scripts/test does; the
//! image is made from `ARCHGATE_FRONTEND_BINARY`, else that build).

use crate::common;

use common::buildenv::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

// ---------------------------------------------------------------------------
// The rows: which engine, docker CLI and buildx run the build

/// One (engine, docker CLI, buildx) combination: how to get its docker CLI
/// (engine, DOCKER_CONFIG with its buildx, `BUILDX_BUILDER` for a named
/// builder) and how its buildx asks for subrequests.
#[derive(Clone, Copy)]
pub struct Row {
    pub docker: fn() -> Command,
    pub outline: Outline,
}

/// How a buildx asks for the outline subrequest.
#[derive(Debug, Clone, Copy)]
pub enum Outline {
    /// buildx 0.13: experimental `--print=outline`.
    Print,
    /// buildx 0.29: `--call=outline`.
    Call,
}

/// Docker 26.1 (BuildKit v0.13) with its docker CLI and buildx 0.13,
/// buildx's default builder (the engine's docker driver).
pub const DOCKER26: Row = Row {
    docker: || env().docker26(),
    outline: Outline::Print,
};

/// Docker 28.5 (BuildKit v0.25) with its docker CLI and buildx 0.29,
/// buildx's default builder (the engine's docker driver).
pub const DOCKER28: Row = Row {
    docker: || env().docker28(),
    outline: Outline::Call,
};

/// buildx 0.29 on Docker 28 with the test env's `docker-container` builder
/// (standalone BuildKit v0.32.2), as setup-buildx makes one in CI.
pub const BUILDX_CONTAINER: Row = Row {
    docker: || {
        let e = env();
        let mut c = e.docker28();
        c.env("BUILDX_BUILDER", e.get("ARCHGATE_BUILDX_BUILDER"));
        c
    },
    outline: Outline::Call,
};

impl Row {
    /// The docker CLI of this row.
    fn docker(self) -> Command {
        (self.docker)()
    }
    /// `docker buildx build --progress plain` on this row's builder.
    fn buildx(self) -> Command {
        let mut c = self.docker();
        c.args(["buildx", "build", "--progress", "plain"]);
        c
    }
    /// Ask for the outline subrequest.
    fn outline(self, c: &mut Command) {
        match self.outline {
            Outline::Print => c.env("BUILDX_EXPERIMENTAL", "1").arg("--print=outline"),
            Outline::Call => c.arg("--call=outline"),
        };
    }
}

/// Each test below, once per row: `rows!([tests...] module => Row, ...)`.
/// A new row is one more line.
macro_rules! rows {
    ($tests:tt $($row:ident => $value:expr),* $(,)?) => {
        $( row_tests!($row, $value, $tests); )*
    };
}

/// The tests of one row, in a module named after it.
macro_rules! row_tests {
    ($row:ident, $value:expr, [$($test:ident),* $(,)?]) => {
        mod $row {
            $(
                #[test]
                fn $test() {
                    super::$test($value)
                }
            )*
        }
    };
}

rows!(
    [
        syntax_two_platform_push_passes_with_provenance,
        syntax_wrong_arch_pushes_nothing_and_names_the_platform,
        syntax_wrong_arch_writes_no_local_dest,
        build_arg_syntax_gates_without_a_syntax_line,
        build_context_reaches_the_dockerfile_frontend,
        cache_to_and_cache_from_round_trip,
        secret_reaches_the_run_step,
        warn_mode_passes_and_shows_the_findings,
        dockerfile_frontend_image_through_archgate_dockerfile,
        a_malformed_option_is_a_readable_error,
        a_build_error_keeps_the_dockerfile_excerpt,
        bake_with_a_target_context_is_gated,
        outline_subrequest_answers_as_without_archgate,
        deep_build_arg_judges_every_program,
        a_crash_is_a_readable_error_and_pushes_nothing,
        archgate_dockerfile_naming_archgate_fails_at_once,
        a_platform_asked_twice_is_built_once,
    ]
    docker26 => super::DOCKER26,
    docker28 => super::DOCKER28,
    buildx_container => super::BUILDX_CONTAINER,
);

// ---------------------------------------------------------------------------
// The images

/// The static archgate the frontend image is made of.
fn static_archgate() -> PathBuf {
    if let Some(p) = std::env::var_os("ARCHGATE_FRONTEND_BINARY").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    // CARGO_TARGET_DIR/debug/archgate -> CARGO_TARGET_DIR/TRIPLE/release/archgate
    let bin = Path::new(env!("CARGO_BIN_EXE_archgate"));
    let target = bin.parent().and_then(Path::parent).expect("the target dir");
    let p = target.join("x86_64-unknown-linux-gnu/release/archgate");
    assert!(
        p.is_file(),
        "{} is missing: run `scripts/frontend-image --build-only` (scripts/test does), \
         or set ARCHGATE_FRONTEND_BINARY",
        p.display()
    );
    p
}

/// The Dockerfile frontend (BuildKit's `dockerfile-frontend`, a static
/// program), for the `ARCHGATE_DOCKERFILE` image: the one the user names in
/// `ARCHGATE_DOCKERFILE_FRONTEND`, else the one the test environment
/// provides (its env file names it).
fn dockerfile_frontend_binary() -> PathBuf {
    let p = std::env::var_os("ARCHGATE_DOCKERFILE_FRONTEND")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env().get("ARCHGATE_DOCKERFILE_FRONTEND")));
    assert!(
        p.is_file(),
        "{}: no dockerfile-frontend there (ARCHGATE_DOCKERFILE_FRONTEND; `scripts/testenv up` names one)",
        p.display()
    );
    p
}

/// Push an image with `scripts/frontend-image ARGS REF` once per registry
/// and binary (a marker in the testenv's run dir, re-checked against the
/// registry, whose storage is in memory); the pinned `REF@sha256:...`.
fn pushed_image(name: &str, binary: &Path, extra: &[&str]) -> String {
    let env = env();
    let reference = format!("{}/archgate-tests/{name}:v1", env.registry());
    let _lock = FileLock::acquire(
        &env.dir().join("frontend-image.lock"),
        Duration::from_secs(600),
    );
    let meta = std::fs::metadata(binary).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let stamp = format!(
        "{reference} {} {} {:?} {extra:?}",
        binary.display(),
        meta.len(),
        meta.modified().ok()
    );
    let marker = env.dir().join(format!("frontend-image.{name}"));
    let (repo, tag) = repo_and_tag(&reference);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        if let Some((s, pinned)) = text.split_once('\n') {
            if s == stamp && Registry::anonymous().exists(&repo, &tag) {
                return pinned.trim().to_string();
            }
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/frontend-image");
    let out = run_ok(
        Command::new(script)
            .args(["--binary", &format!("linux/amd64={}", binary.display())])
            .args(extra)
            .arg(&reference)
            .env("SKOPEO", env.tool("skopeo")),
        "scripts/frontend-image",
    );
    let pinned = out.trim().to_string();
    assert!(
        pinned.starts_with(&format!("{reference}@sha256:")),
        "scripts/frontend-image printed {pinned:?}"
    );
    std::fs::write(&marker, format!("{stamp}\n{pinned}\n")).expect("marker");
    pinned
}

/// archgate's frontend image, pinned by digest.
fn archgate_image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        pushed_image(
            "archgate",
            &static_archgate(),
            &["--entrypoint", "/archgate frontend"],
        )
    })
}

/// archgate's frontend image with `ARCHGATE_FRONTEND_FAULT=panic` in its
/// environment: it panics on every build.
fn crashing_image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        pushed_image(
            "archgate-crash",
            &static_archgate(),
            &[
                "--entrypoint",
                "/archgate frontend",
                "--env",
                "ARCHGATE_FRONTEND_FAULT=panic",
            ],
        )
    })
}

/// A Dockerfile frontend image made as upstream's docker/dockerfile is
/// (the program as ENTRYPOINT, the same caps labels).
fn dockerfile_image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        pushed_image(
            "dockerfile",
            &dockerfile_frontend_binary(),
            &[
                "--path",
                "/bin/dockerfile-frontend",
                "--caps",
                "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,\
                 moby.buildkit.frontend.contexts,moby.buildkit.frontend.gitquerystring",
            ],
        )
    })
}

fn with_syntax(dockerfile: &str) -> String {
    format!("# syntax={}\n{dockerfile}", archgate_image())
}

// ---------------------------------------------------------------------------
// Running buildx

/// A finished `docker buildx build`.
struct Bx {
    code: i32,
    out: String,
    cmd: String,
}

impl std::fmt::Display for Bx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit {}\n--- output ---\n{}",
            self.cmd, self.code, self.out
        )
    }
}

impl Bx {
    fn passed(&self) -> &Self {
        assert_eq!(self.code, 0, "buildx should succeed\n{self}");
        self
    }
    fn failed(&self) -> &Self {
        assert_ne!(self.code, 0, "buildx should fail\n{self}");
        self
    }
    fn mentions(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.out.contains(n), "the output should hold {n:?}\n{self}");
        }
        self
    }
    /// BuildKit started the archgate image for this build (buildx shows
    /// its config being resolved).
    fn went_through_archgate(&self) -> &Self {
        self.mentions(&[&format!(
            "resolve image config for docker-image://{}",
            archgate_image()
        )])
    }
    /// Our error, not a bare exit status: no frontend that died without
    /// answering.
    fn answered(&self) -> &Self {
        for bad in [
            "no result for incomplete build",
            "frontend grpc server closed unexpectedly",
            "exit code:",
            // archgate's own errors carry no gRPC code name (BuildKit
            // prefixes one per layer the error passes).
            "FailedPrecondition: archgate",
            "InvalidArgument: archgate",
        ] {
            assert!(!self.out.contains(bad), "{bad:?} in the output\n{self}");
        }
        self
    }
}

fn buildx(row: Row, args: &[&str], ctx: &Context) -> Bx {
    let mut c = row.buildx();
    c.args(args).arg(ctx.path());
    finish(c)
}

fn finish(mut c: Command) -> Bx {
    let cmd = format!("{c:?}");
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker buildx");
    let out = child.wait_with_output().expect("docker buildx output");
    Bx {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        cmd,
    }
}

fn tag_for(test: &str) -> String {
    format!("{}/frontend-tests/{}:v1", env().registry(), unique(test))
}

fn assert_two_platforms_pushed(tag: &str, run: &Bx) -> Value {
    let (name, t) = repo_and_tag(tag);
    let reg = Registry::anonymous();
    assert_eq!(
        reg.manifest_status(&name, &t),
        200,
        "the tag should be pushed\n{run}"
    );
    assert_eq!(
        reg.platforms(&name, &t),
        vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
        "the pushed index\n{run}"
    );
    reg.manifest(&name, &t)
}

fn assert_not_pushed(tag: &str, run: &Bx) {
    let (name, t) = repo_and_tag(tag);
    assert_eq!(
        Registry::anonymous().manifest_status(&name, &t),
        404,
        "{tag} was pushed although the gate failed\n{run}"
    );
}

/// What a failing gate must show: the failing platform, its reason, the
/// program with its binary facts, and the hint.
const FAILURE_NEEDLES: &[&str] = &[
    "archgate: wrong-architecture gate failed",
    "FAIL linux/arm64  arch-mismatch",
    "entrypoint /app",
    "binary: ELF 64-bit",
    "hint:",
];

// ---------------------------------------------------------------------------
// The tests (each runs once per row)

fn syntax_two_platform_push_passes_with_provenance(row: Row) {
    let ctx = two_arch_context(&with_syntax(TWO_PLATFORM_DOCKERFILE));
    let tag = tag_for("fe_two_platform_push");
    let run = buildx(
        row,
        &["--platform", TWO_PLATFORMS, "-t", &tag, "--push"],
        &ctx,
    );
    run.passed().went_through_archgate();
    let index = assert_two_platforms_pushed(&tag, &run);
    // buildx asks for provenance by default; the solver adds it after the
    // frontend returned, next to each platform.
    let attestations = index["manifests"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|d| d["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        attestations, 2,
        "provenance for both platforms\n{index:#}\n{run}"
    );
}

fn syntax_wrong_arch_pushes_nothing_and_names_the_platform(row: Row) {
    let ctx = two_arch_context(&with_syntax(HARDCODED_DOCKERFILE));
    let tag = tag_for("fe_wrong_arch_push");
    let run = buildx(
        row,
        &["--platform", TWO_PLATFORMS, "-t", &tag, "--push"],
        &ctx,
    );
    run.failed().answered().mentions(FAILURE_NEEDLES);
    // The line that shipped it, read by the frontend from the client's
    // session (line 4: the `# syntax=` line comes first).
    run.mentions(&[
        "line: Dockerfile:4: COPY app-amd64 /app",
        "ArchSuffixedCopy: ",
    ]);
    assert!(!run.out.contains("FAIL linux/amd64"), "amd64 passed\n{run}");
    assert_not_pushed(&tag, &run);
}

fn syntax_wrong_arch_writes_no_local_dest(row: Row) {
    let ctx = two_arch_context(&with_syntax(HARDCODED_DOCKERFILE));
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "-o",
            &format!("type=local,dest={}", dest.display()),
        ],
        &ctx,
    );
    run.failed().answered().mentions(FAILURE_NEEDLES);
    assert!(!dest.exists(), "{} was written\n{run}", dest.display());
}

fn build_arg_syntax_gates_without_a_syntax_line(row: Row) {
    let arg = format!("BUILDKIT_SYNTAX={}", archgate_image());
    let good = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let tag = tag_for("fe_build_arg_pass");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            &arg,
            "-t",
            &tag,
            "--push",
        ],
        &good,
    );
    run.passed().went_through_archgate();
    assert_two_platforms_pushed(&tag, &run);

    let bad = two_arch_context(HARDCODED_DOCKERFILE);
    let tag = tag_for("fe_build_arg_fail");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            &arg,
            "-t",
            &tag,
            "--push",
        ],
        &bad,
    );
    run.failed().answered().mentions(FAILURE_NEEDLES);
    assert_not_pushed(&tag, &run);
}

fn build_context_reaches_the_dockerfile_frontend(row: Row) {
    let ctx = Context::new();
    ctx.dockerfile(&with_syntax(
        "FROM scratch\nARG TARGETARCH\nCOPY --from=extra app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n",
    ));
    let extra = two_arch_context("");
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-context",
            &format!("extra={}", extra.path().display()),
            "-o",
            &format!("type=local,dest={}", dest.display()),
        ],
        &ctx,
    );
    run.passed().went_through_archgate();
    for arch in ["amd64", "arm64"] {
        let app = dest.join(format!("linux_{arch}/app"));
        assert_eq!(elf_arch(&app), Some(arch), "{}\n{run}", app.display());
    }
}

fn cache_to_and_cache_from_round_trip(row: Row) {
    let ctx = two_arch_context(&with_syntax(TWO_PLATFORM_DOCKERFILE));
    let dir = common::tmp();
    let cache = dir.path().join("cache");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--cache-to",
            &format!("type=local,dest={},mode=max", cache.display()),
        ],
        &ctx,
    );
    run.passed().went_through_archgate();
    assert!(
        cache.join("index.json").is_file(),
        "no cache exported to {}\n{run}",
        cache.display()
    );
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--cache-from",
            &format!("type=local,src={}", cache.display()),
        ],
        &ctx,
    );
    run.passed()
        .went_through_archgate()
        .mentions(&["importing cache manifest from"]);
}

fn secret_reaches_the_run_step(row: Row) {
    let base = &base_images().amd64;
    let ctx = Context::new();
    ctx.dockerfile(&with_syntax(&format!(
        "FROM {base}\n\
         RUN --network=none --mount=type=secret,id=tok,required=true cp /run/secrets/tok /tok\n\
         ENTRYPOINT [\"/bin/true\"]\n"
    )));
    let dir = common::tmp();
    let secret = dir.path().join("tok");
    std::fs::write(&secret, "s3cret-value").expect("secret file");
    let dest = dir.path().join("dest");
    let run = buildx(
        row,
        &[
            "--platform",
            "linux/amd64",
            "--secret",
            &format!("id=tok,src={}", secret.display()),
            "-o",
            &format!("type=local,dest={}", dest.display()),
        ],
        &ctx,
    );
    run.passed().went_through_archgate();
    assert_eq!(
        std::fs::read_to_string(dest.join("tok")).ok().as_deref(),
        Some("s3cret-value"),
        "{run}"
    );
}

fn warn_mode_passes_and_shows_the_findings(row: Row) {
    // A first step of its own: no earlier test has cached this build's
    // steps, so its output does not depend on the order tests run in (the
    // in-step `WARN:` line shows only under a cached step: the test once
    // failed on it, depending on which test built the steps first).
    let marker = unique("fe_warn_mode");
    let ctx = two_arch_context(&with_syntax(&format!(
        "FROM scratch\nCOPY marker /marker\n{}",
        HARDCODED_DOCKERFILE.trim_start_matches("FROM scratch\n")
    )));
    ctx.write("marker", marker.as_bytes());
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            "ARCHGATE_MODE=warn",
            "-o",
            &format!("type=local,dest={}", dest.display()),
        ],
        &ctx,
    );
    // buildx lists every warning at the end ("N warning(s) found"); the
    // `#N WARN:` line under a step shows only when the warning came before
    // the step's last progress (a cached step), so it is not asked for.
    // archgate's lint finding is a warning of its own, on its line.
    let findings = [
        "archgate: linux/arm64 fail arch-mismatch",
        "ArchSuffixedCopy: app-amd64 is the amd64 build",
        "(line 5)",
    ];
    run.passed().went_through_archgate();
    assert!(dest.join("linux_arm64/app").is_file(), "{run}");
    if run.out.contains("warnings found") {
        run.mentions(&["warnings found"]).mentions(&findings);
        return;
    }
    // buildx 0.13 (Docker 26's row) prints that list from a callback that
    // runs after `Printer.Wait` has returned (util/progress/printer.go
    // closes `done` before it calls `onclose`), so the command can exit
    // before the list is written; it happened once in CI. Then the same
    // build, cached now, is asked again with `--progress rawjson`: the
    // warnings are in the status stream, written before the printer ends.
    let raw = buildx(
        row,
        &[
            "--progress",
            "rawjson",
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            "ARCHGATE_MODE=warn",
            "-o",
            &format!("type=local,dest={}", out.path().join("again").display()),
        ],
        &ctx,
    );
    raw.passed();
    let warnings = rawjson_warnings(&raw.out);
    for f in findings {
        assert!(
            warnings.iter().any(|w| w.contains(f)),
            "no warning holds {f:?} in {warnings:?}\n{raw}\nthe plain run:\n{run}"
        );
    }
}

/// The `short` text of every warning in `--progress rawjson` output (one
/// `SolveStatus` object after another: indented over many lines by buildx
/// 0.13, one per line by 0.29; Go marshals the `[]byte` texts as base64),
/// with the `detail` lines joined on. A line that is not JSON is skipped.
fn rawjson_warnings(out: &str) -> Vec<String> {
    use base64::Engine;
    let text = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let mut objects = Vec::new();
    let mut rest = out;
    while !rest.trim().is_empty() {
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(v)) => {
                objects.push(v);
                rest = &rest[stream.byte_offset()..];
            }
            _ => match rest.find('\n') {
                Some(nl) => rest = &rest[nl + 1..],
                None => break,
            },
        }
    }
    objects
        .into_iter()
        .flat_map(|s| s["warnings"].as_array().cloned().unwrap_or_default())
        .map(|w| {
            let mut t = text(&w["short"]);
            for d in w["detail"].as_array().into_iter().flatten() {
                t.push('\n');
                t.push_str(&text(d));
            }
            t
        })
        .collect()
}

/// buildx shows a warning's excerpt under `docker --debug`: archgate's
/// lint finding and the failing platform both point at their line
/// (Docker 28, buildx 0.29).
#[test]
fn warnings_show_their_dockerfile_excerpt_under_debug() {
    let ctx = two_arch_context(&with_syntax(HARDCODED_DOCKERFILE));
    let out = common::tmp();
    let mut c = env().docker28();
    c.args(["--debug", "buildx", "build", "--progress", "plain"])
        .args([
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            "ARCHGATE_MODE=warn",
        ])
        .args([
            "-o",
            &format!("type=local,dest={}", out.path().join("d").display()),
        ])
        .arg(ctx.path());
    let run = finish(c);
    run.passed().went_through_archgate().mentions(&[
        "2 warnings found",
        "ArchSuffixedCopy: app-amd64 is the amd64 build",
        "Dockerfile:4\n--------------------",
        " 4 | >>> COPY app-amd64 /app",
        "line: Dockerfile:4: COPY app-amd64 /app",
    ]);
}

fn dockerfile_frontend_image_through_archgate_dockerfile(row: Row) {
    let arg = format!("ARCHGATE_DOCKERFILE={}", dockerfile_image());
    let good = two_arch_context(&with_syntax(TWO_PLATFORM_DOCKERFILE));
    let tag = tag_for("fe_dockerfile_image_pass");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            &arg,
            "-t",
            &tag,
            "--push",
        ],
        &good,
    );
    run.passed().went_through_archgate();
    assert_two_platforms_pushed(&tag, &run);

    let bad = two_arch_context(&with_syntax(HARDCODED_DOCKERFILE));
    let tag = tag_for("fe_dockerfile_image_fail");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            &arg,
            "-t",
            &tag,
            "--push",
        ],
        &bad,
    );
    run.failed().answered().mentions(FAILURE_NEEDLES);
    assert_not_pushed(&tag, &run);
}

fn a_malformed_option_is_a_readable_error(row: Row) {
    let ctx = two_arch_context(&with_syntax(TWO_PLATFORM_DOCKERFILE));
    let tag = tag_for("fe_malformed_option");
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            "ARCHGATE_MODE=loud",
            "-t",
            &tag,
            "--push",
        ],
        &ctx,
    );
    run.failed()
        .answered()
        .mentions(&["archgate: build-arg ARCHGATE_MODE: \"loud\" is not fail or warn"]);
    assert_not_pushed(&tag, &run);
}

/// A Dockerfile error found by the Dockerfile frontend comes back through
/// archgate as it was: the excerpt of the failing line included.
fn a_build_error_keeps_the_dockerfile_excerpt(row: Row) {
    let ctx = two_arch_context(&with_syntax(
        "FROM scratch\nCOPY no-such-file /app\nENTRYPOINT [\"/app\"]\n",
    ));
    let run = buildx(row, &["--platform", "linux/amd64"], &ctx);
    run.failed()
        .answered()
        .mentions(&["no-such-file", ">>> COPY no-such-file /app"]);
}

/// bake with a `target:` context: the base target's result reaches the
/// Dockerfile frontend as a frontend input that archgate forwards.
fn bake_with_a_target_context_is_gated(row: Row) {
    let run = |dockerfile_tail: &str| {
        let ctx = two_arch_context("");
        ctx.write(
            "base.Dockerfile",
            b"FROM scratch\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nCOPY app-amd64 /app-amd64\n",
        );
        ctx.dockerfile(&with_syntax(&format!("FROM base\n{dockerfile_tail}")));
        // The dest inside the bake file's folder: buildx 0.29 asks for an
        // `--allow=fs.write=...` entitlement for a path outside it (seen
        // on the docker-container builder), which buildx 0.13 does not know.
        let dest = ctx.path().join("out/dest");
        ctx.write(
            "docker-bake.hcl",
            format!(
                "target \"base\" {{\n  dockerfile = \"base.Dockerfile\"\n  platforms = [\"linux/amd64\", \"linux/arm64\"]\n}}\n\
                 target \"app\" {{\n  contexts = {{ base = \"target:base\" }}\n  dockerfile = \"Dockerfile\"\n  \
                 platforms = [\"linux/amd64\", \"linux/arm64\"]\n  output = [\"type=local,dest={}\"]\n}}\n",
                dest.display()
            )
            .as_bytes(),
        );
        let mut c = row.docker();
        c.current_dir(ctx.path())
            .args(["buildx", "bake", "--progress", "plain", "app"]);
        (finish(c), dest, ctx)
    };
    let (r, dest, _ctx) = run("ENTRYPOINT [\"/app\"]\n");
    r.passed().went_through_archgate();
    assert_eq!(
        elf_arch(&dest.join("linux_arm64/app")),
        Some("arm64"),
        "{r}"
    );
    let (r, dest, _ctx) = run("ENTRYPOINT [\"/app-amd64\"]\n");
    r.failed().answered().mentions(&[
        "archgate: wrong-architecture gate failed",
        "FAIL linux/arm64  arch-mismatch",
        "entrypoint /app-amd64",
    ]);
    assert!(!dest.exists(), "{} was written\n{r}", dest.display());
}

/// `--call=outline` (`--print=outline` on buildx 0.13): the Dockerfile
/// frontend's answer, untouched, as without archgate.
fn outline_subrequest_answers_as_without_archgate(row: Row) {
    let text = "FROM scratch AS base\nARG TARGETARCH\nARG GREETING=hi\nCOPY app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n";
    // The same Dockerfile both ways (line numbers are part of an outline):
    // archgate through the build arg.
    let outline = |syntax: Option<&str>| {
        let ctx = two_arch_context(text);
        let mut c = row.docker();
        c.args(["buildx", "build", "--progress", "plain"]);
        if let Some(img) = syntax {
            c.args(["--build-arg", &format!("BUILDKIT_SYNTAX={img}")]);
        }
        row.outline(&mut c);
        c.arg(ctx.path());
        let cmd = format!("{c:?}");
        let out = c.stdin(Stdio::null()).output().expect("docker buildx");
        let answer = (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
        let run = Bx {
            code: answer.0.unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stderr).into_owned(),
            cmd,
        };
        (answer, run)
    };
    let (plain, _) = outline(None);
    let (gated, run) = outline(Some(archgate_image()));
    assert_eq!(plain.0, Some(0), "outline without archgate: {}", plain.1);
    assert!(plain.1.contains("GREETING"), "{}", plain.1);
    run.went_through_archgate();
    assert_eq!(gated, plain, "the outline through archgate");
}

/// `ARCHGATE_DEEP=1`: a wrong-arch program the config never runs fails the
/// build too; without it the build passes.
fn deep_build_arg_judges_every_program(row: Row) {
    let text = "FROM scratch\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nCOPY app-amd64 /usr/bin/helper\nENTRYPOINT [\"/app\"]\n";
    let ctx = two_arch_context(&with_syntax(text));
    let run = buildx(row, &["--platform", TWO_PLATFORMS], &ctx);
    run.passed().went_through_archgate();
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            "ARCHGATE_DEEP=1",
        ],
        &ctx,
    );
    run.failed()
        .answered()
        .mentions(&["FAIL linux/arm64", "/usr/bin/helper"]);
}

/// A panic in the frontend (injected through the image's environment)
/// comes back as archgate's error, not as an exit status or "no result";
/// nothing is pushed.
fn a_crash_is_a_readable_error_and_pushes_nothing(row: Row) {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let tag = tag_for("fe_crash");
    let arg = format!("BUILDKIT_SYNTAX={}", crashing_image());
    let run = buildx(
        row,
        &[
            "--platform",
            TWO_PLATFORMS,
            "--build-arg",
            &arg,
            "-t",
            &tag,
            "--push",
        ],
        &ctx,
    );
    run.failed()
        .answered()
        .mentions(&["archgate frontend crashed: ARCHGATE_FRONTEND_FAULT=panic"]);
    assert_not_pushed(&tag, &run);
}

/// Red-team finding: `ARCHGATE_DOCKERFILE` naming archgate made each
/// archgate forward to the next without end; now the second one refuses.
fn archgate_dockerfile_naming_archgate_fails_at_once(row: Row) {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let tag = tag_for("fe_recursion");
    let syntax = format!("BUILDKIT_SYNTAX={}", archgate_image());
    let again = format!("ARCHGATE_DOCKERFILE={}", archgate_image());
    let started = std::time::Instant::now();
    let run = buildx(
        row,
        &[
            "--platform",
            "linux/amd64",
            "--build-arg",
            &syntax,
            "--build-arg",
            &again,
            "-t",
            &tag,
            "--push",
        ],
        &ctx,
    );
    run.failed()
        .answered()
        .mentions(&["ARCHGATE_DOCKERFILE names a frontend that is archgate again"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}\n{run}",
        started.elapsed()
    );
    assert_not_pushed(&tag, &run);
}

/// Red-team finding: `--platform linux/arm64,linux/arm64` failed ("built
/// linux/arm64 but linux/arm64,linux/arm64 was asked for"); buildx builds
/// it once.
fn a_platform_asked_twice_is_built_once(row: Row) {
    let ctx = two_arch_context(&with_syntax(TWO_PLATFORM_DOCKERFILE));
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = buildx(
        row,
        &[
            "--platform",
            "linux/arm64,linux/arm64",
            "-o",
            &format!("type=local,dest={}", dest.display()),
        ],
        &ctx,
    );
    run.passed().went_through_archgate();
    // Two platforms asked for: the local exporter's per-platform layout.
    assert_eq!(
        elf_arch(&dest.join("linux_arm64/app")),
        Some("arm64"),
        "{run}"
    );
}

// ---------------------------------------------------------------------------
// `--check` (buildx 0.29): the lint subrequest passes through archgate

/// `docker buildx build --check` of `dockerfile` through `row_cli`, with
/// `build_args` (`BUILDKIT_SYNTAX=...` and friends, none for the build
/// without archgate).
fn check_run(row_cli: fn() -> Command, dockerfile: &str, build_args: &[String]) -> Bx {
    let ctx = two_arch_context(dockerfile);
    let mut c = row_cli();
    c.args(["buildx", "build", "--progress", "plain", "--check"]);
    for a in build_args {
        c.args(["--build-arg", a]);
    }
    c.arg(ctx.path());
    finish(c)
}

/// A Dockerfile with two of BuildKit's lint findings (`FROM ... as` in
/// another case than `FROM`, shell-form ENTRYPOINT), and one with none.
const LINTED: &str =
    "FROM scratch as base\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nENTRYPOINT /app\n";
const CLEAN: &str =
    "FROM scratch AS base\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n";
const LINT_RULES: &[&str] = &["FromAsCasing", "JSONArgsRecommended"];

/// `--check` through archgate answers as without it: the same rules found
/// (buildx exits 1), and "no warnings" for a clean file (exit 0); the gate
/// does not run for a subrequest.
fn check_answers_as_without_archgate(row_cli: fn() -> Command, archgate_args: &[String]) {
    let plain = check_run(row_cli, LINTED, &[]);
    assert_eq!(plain.code, 1, "--check without archgate\n{plain}");
    plain.mentions(LINT_RULES);
    let gated = check_run(row_cli, LINTED, archgate_args);
    assert_eq!(gated.code, 1, "--check through archgate\n{gated}");
    gated
        .mentions(LINT_RULES)
        .answered()
        .went_through_archgate();
    let clean = check_run(row_cli, CLEAN, archgate_args);
    clean
        .passed()
        .answered()
        .mentions(&["Check complete, no warnings found."]);
}

/// `--check` through archgate lists archgate's rules beside BuildKit's,
/// in the answer's own shape: buildx prints them with their lines and
/// excerpt, counts them (exit 1), and `--call=check,format=json` shows
/// them in BuildKit's JSON.
fn check_lists_archgates_rules_beside_buildkits(row_cli: fn() -> Command) {
    const BOTH: &str =
        "FROM scratch as base\nARG TARGETARCH\nCOPY app-amd64 /app\nENTRYPOINT /app\n";
    let args = through_archgate();
    let run = |extra: &[&str]| {
        let ctx = two_arch_context(BOTH);
        let mut c = row_cli();
        c.args(["buildx", "build", "--progress", "plain"]);
        c.args(extra).args(["--platform", TWO_PLATFORMS]);
        for a in &args {
            c.args(["--build-arg", a]);
        }
        c.arg(ctx.path());
        finish(c)
    };
    let text = run(&["--check"]);
    assert_eq!(text.code, 1, "--check through archgate\n{text}");
    text.mentions(LINT_RULES)
        .mentions(&[
            "ArchSuffixedCopy",
            "app-amd64 is the amd64 build",
            "COPY app-amd64 /app",
        ])
        .answered()
        .went_through_archgate();
    let json = run(&["--call=check,format=json"]);
    assert_eq!(json.code, 1, "{json}");
    let start = json.out.find("{\n").expect("a JSON answer");
    let doc: Value = serde_json::Deserializer::from_str(&json.out[start..])
        .into_iter()
        .next()
        .expect("one document")
        .unwrap_or_else(|e| panic!("{e}\n{json}"));
    let ours = doc["warnings"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["ruleName"] == "ArchSuffixedCopy"))
        .unwrap_or_else(|| panic!("no ArchSuffixedCopy warning\n{doc:#}"));
    assert_eq!(ours["location"]["ranges"][0]["start"]["line"], 3, "{doc:#}");
    let source = &doc["sources"][ours["location"]["sourceIndex"].as_u64().unwrap() as usize];
    assert_eq!(source["fileName"], "Dockerfile", "{doc:#}");
    let rules: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["ruleName"].as_str())
        .collect();
    for r in LINT_RULES {
        assert!(rules.contains(r), "{r} missing: {rules:?}");
    }
}

fn through_archgate() -> Vec<String> {
    vec![format!("BUILDKIT_SYNTAX={}", archgate_image())]
}

mod check_subrequest {
    use super::*;

    /// Docker 28 (BuildKit v0.25's builtin Dockerfile frontend has lint).
    #[test]
    fn docker28() {
        check_answers_as_without_archgate(|| env().docker28(), &through_archgate());
    }

    /// The docker-container builder (BuildKit v0.32.2).
    #[test]
    fn buildx_container() {
        check_answers_as_without_archgate(|| (BUILDX_CONTAINER.docker)(), &through_archgate());
    }

    #[test]
    fn docker28_lists_archgates_rules() {
        check_lists_archgates_rules_beside_buildkits(|| env().docker28());
    }

    #[test]
    fn buildx_container_lists_archgates_rules() {
        check_lists_archgates_rules_beside_buildkits(|| (BUILDX_CONTAINER.docker)());
    }

    /// Docker 26's builtin Dockerfile frontend (BuildKit v0.13) has no lint:
    /// through archgate it answers `unsupported request frontend.lint`, as
    /// without archgate. `ARCHGATE_DOCKERFILE` naming a Dockerfile frontend
    /// image that has it gives `--check` on Docker 26 (buildx 0.29's CLI on
    /// the Docker 26 engine).
    #[test]
    fn docker26_through_archgate_dockerfile() {
        fn cli() -> Command {
            let e = env();
            let mut c = e.docker28();
            c.env("DOCKER_HOST", e.docker26_host());
            c
        }
        let builtin = check_run(cli, LINTED, &through_archgate());
        builtin
            .failed()
            .answered()
            .mentions(&["unsupported request frontend.lint"]);
        let mut args = through_archgate();
        args.push(format!("ARCHGATE_DOCKERFILE={}", dockerfile_image()));
        let gated = check_run(cli, LINTED, &args);
        assert_eq!(gated.code, 1, "--check through archgate\n{gated}");
        gated
            .mentions(LINT_RULES)
            .answered()
            .went_through_archgate();
        check_run(cli, CLEAN, &args)
            .passed()
            .answered()
            .mentions(&["Check complete, no warnings found."]);
    }
}

// ---------------------------------------------------------------------------
// Docker 20.10 (BuildKit v0.8): what it can do, shown

/// Docker 20.10's builtin Dockerfile frontend forwards `# syntax=` to the
/// image too, and its gateway has what the gate needs (no Evaluate, no
/// warnings, no attestations): a single-platform build (buildx refuses
/// several on an engine without the containerd store) is gated, the
/// local dest written only when it passes.
#[test]
fn docker20_gates_a_single_platform_build() {
    let e = env();
    let run = |dockerfile: &str, dest: &Path| {
        let ctx = two_arch_context(&with_syntax(dockerfile));
        finish(buildx_to_local(
            e.docker_cli(e.docker20_host(), &e.docker_config()),
            "linux/arm64",
            dest,
            &ctx,
        ))
    };
    let dir = common::tmp();
    let good = dir.path().join("good");
    let r = run(TWO_PLATFORM_DOCKERFILE, &good);
    r.passed();
    assert_eq!(elf_arch(&good.join("app")), Some("arm64"), "{r}");
    let bad = dir.path().join("bad");
    let r = run(HARDCODED_DOCKERFILE, &bad);
    r.failed().answered().mentions(FAILURE_NEEDLES);
    assert!(!bad.exists(), "{} was written\n{r}", bad.display());
}

/// `docker buildx build --push` of the two platforms on the two-node
/// builder.
fn two_nodes(nodes: &crate::build_nodes::TwoNodes, tag: &str, ctx: &Context) -> Bx {
    let out = nodes.buildx(
        &["--platform", TWO_PLATFORMS, "-t", tag, "--push"],
        ctx.path(),
    );
    Bx {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stderr).into_owned(),
        cmd: format!("docker buildx build (two nodes) -t {tag} --push"),
    }
}

/// On a buildx builder of two nodes (tests/e2e/build_nodes.rs), buildx
/// starts the archgate image on each node for the platforms it sends there:
/// each node gates its own platforms, and a wrong arch on one node fails
/// the build with nothing tagged.
#[test]
fn every_node_of_a_multi_node_builder_gates_its_platforms() {
    let nodes = crate::build_nodes::TwoNodes::start(false);
    let ctx = two_arch_context(&with_syntax(TWO_PLATFORM_DOCKERFILE));
    let tag = tag_for("nodes-pass");
    let run = two_nodes(&nodes, &tag, &ctx);
    run.passed().went_through_archgate();
    assert_two_platforms_pushed(&tag, &run);
    assert_eq!(nodes.amd64.built_platforms(), ["linux/amd64"], "{run}");
    assert_eq!(nodes.arm64.built_platforms(), ["linux/arm64"], "{run}");

    let ctx = two_arch_context(&with_syntax(HARDCODED_DOCKERFILE));
    let tag = tag_for("nodes-fail");
    let run = two_nodes(&nodes, &tag, &ctx);
    run.failed().answered().mentions(FAILURE_NEEDLES);
    assert_not_pushed(&tag, &run);
}
