//! `archgate build`'s buildx flags that shape the build without touching the
//! gate (issue 12): `--add-host`, `--shm-size`, `--ulimit` seen by a RUN
//! step; `--iidfile` and `-q` against buildx 0.29 on the same builder;
//! `--call`/`--check` answers against buildx's; `--build-context` with a
//! directory, a `docker-image://` and an `oci-layout://` (the gate judging
//! the layout's binary, the image ID buildx's, a tampered blob failing the
//! build); malformed values refused before the builder is asked.
//!
//! The one idea: where buildx is the oracle, both run the same build on the
//! same `docker-container` builder and their outputs are compared byte for
//! byte.

use crate::common;

use common::buildenv::*;
use common::ocibuild::{Image, Layer, Layout, Target, Written};
use std::path::Path;
use std::process::Command;

/// `docker buildx build --builder TESTENV_BUILDER ARGS... CONTEXT` on
/// Docker 28's CLI: (exit code, stdout).
fn buildx<S: AsRef<std::ffi::OsStr>>(args: &[S], context: &Path) -> (i32, String) {
    code_and_stdout(buildx_build(args).arg(context))
}

#[test]
fn run_steps_see_add_host_shm_size_and_ulimit() {
    for kind in [BuilderKind::BuildkitdUnix, BuilderKind::Docker28] {
        let ctx = Context::new();
        ctx.dockerfile(&format!(
            "FROM {}\nRUN --network=none cat /etc/hosts > /hosts && cat /proc/mounts > /mounts && sh -c 'ulimit -n' > /nofile\nFROM scratch\nCOPY --from=0 /hosts /mounts /nofile /\n",
            base_images().amd64
        ));
        let out = common::tmp();
        let dest = out.path().join("out");
        let run = kind
            .build()
            .args(&[
                "--add-host",
                "db.archgate.test:10.1.2.3",
                "--shm-size",
                "96m",
                "--ulimit",
                "nofile=777:888",
            ])
            .local_dest(&dest)
            .run(&ctx.arg());
        // FROM scratch without a command: skipped, exit 0.
        run.expect_code(0);
        let read = |f: &str| std::fs::read_to_string(dest.join(f)).unwrap_or_default();
        assert!(
            read("hosts").contains("10.1.2.3\tdb.archgate.test"),
            "{kind:?}: /etc/hosts\n{}\n{run}",
            read("hosts")
        );
        assert_eq!(read("nofile").trim(), "777", "{kind:?}: ulimit -n\n{run}");
        assert!(
            read("mounts")
                .lines()
                .any(|l| l.contains("/dev/shm") && l.contains("size=98304k")),
            "{kind:?}: /dev/shm of 96m\n{}\n{run}",
            read("mounts")
        );
    }
}

#[test]
fn iidfile_and_quiet_print_the_image_id_buildx_does() {
    let kind = BuilderKind::BuildxContainer;
    let ctx = app_context("amd64");
    let out = common::tmp();
    let bx_iid = out.path().join("buildx.iid");
    let mut args = reproducible_oci(&bx_iid, &out.path().join("bx.tar"));
    args.push("-q".into());
    let (code, bx_stdout) = buildx(&args, ctx.path());
    assert_eq!(code, 0, "buildx failed: {bx_stdout}");
    let want = std::fs::read_to_string(&bx_iid).expect("buildx's iid file");
    assert!(want.starts_with("sha256:"), "{want}");

    // `-q` over a stale iid file (the harness passes --progress plain,
    // which -q refuses).
    let ag_iid = out.path().join("archgate.iid");
    let quiet = |oci: &str| {
        std::fs::write(&ag_iid, "stale").unwrap();
        kind.build()
            .args(&reproducible_oci(&ag_iid, &out.path().join(oci)))
            .args(&["--progress", "auto", "-q"])
    };
    let run = quiet("ag.tar").run(&ctx.arg());
    run.expect_code(0);
    assert_eq!(std::fs::read_to_string(&ag_iid).unwrap(), want, "{run}");
    assert_eq!(run.stdout, bx_stdout, "-q prints the image ID only\n{run}");
    assert_eq!(run.stdout, format!("{want}\n"));

    // A failing gate writes no iid file and prints no ID; the report goes
    // to stderr.
    let bad = app_context("arm64");
    let run = quiet("bad.tar").platform("linux/amd64").run(&bad.arg());
    run.expect_code(1);
    assert_eq!(run.stdout, "", "{run}");
    assert!(
        run.stderr.contains("arch-mismatch") || run.stderr.contains("FAIL"),
        "{run}"
    );
    assert!(!ag_iid.exists(), "stale iid file left behind\n{run}");
}

#[test]
fn call_answers_print_as_buildx_prints_them() {
    let kind = BuilderKind::BuildxContainer;
    let ctx = Context::new();
    // `as` lower-case: one lint warning (FromAsCasing).
    ctx.dockerfile(
        "# Build the app\nFROM scratch as base\nARG VERSION=1\n# the final image\nFROM base AS final\nARG FLAVOR\nCOPY app /app\n",
    )
    .go_app("app", "arm64");
    for call in ["outline", "targets", "outline,format=json", "check"] {
        let (bx_code, bx_out) = buildx(&["--call", call], ctx.path());
        let run = kind.build().args(&["--call", call]).run(&ctx.arg());
        let want = if call == "check" { 1 } else { 0 };
        assert_eq!(bx_code, want, "buildx --call {call}: {bx_out}");
        // The gate does not run: the arm64 program on amd64 is not judged.
        run.expect_code(want);
        assert_eq!(run.stdout, bx_out, "--call {call}\n{run}");
    }
    let run = kind.build().args(&["--check"]).run(&ctx.arg());
    run.expect_code(1);
    assert!(
        run.stdout
            .starts_with("Check complete, 1 warning has been found!"),
        "{run}"
    );
}

#[test]
fn build_contexts_from_a_directory_and_an_image() {
    let kind = BuilderKind::BuildkitdUnix;
    let extra = common::tmp();
    std::fs::write(extra.path().join("data"), "extra-data\n").unwrap();
    let ctx = Context::new();
    ctx.dockerfile(
        "FROM base AS b\nFROM scratch\nCOPY --from=extra /data /data\nCOPY --from=b /bin/busybox /busybox\n",
    );
    let out = common::tmp();
    let dest = out.path().join("out");
    let run = kind
        .build()
        .args(&[
            "--pull",
            "--no-cache-filter",
            "b",
            "--build-context",
            &format!("extra={}", extra.path().display()),
            "--build-context",
            &format!("base=docker-image://{}", base_images().amd64),
        ])
        .local_dest(&dest)
        .run(&ctx.arg());
    run.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(dest.join("data")).unwrap_or_default(),
        "extra-data\n",
        "{run}"
    );
    assert_eq!(elf_arch(&dest.join("busybox")), Some("amd64"), "{run}");
}

/// An OCI layout at `dir` holding one linux/amd64 image, tagged `v1`, whose
/// entry point `/app` is the Go hello for `goarch`, beside `/id` holding
/// `id`; and what was written.
fn app_layout(dir: &Path, goarch: &str, id: &str) -> Written {
    let img = Image::new("linux/amd64")
        .layer(
            Layer::new()
                .file_from("app", common::go_hello(goarch))
                .file("id", id.as_bytes().to_vec(), 0o644),
        )
        .entrypoint(&["/app"]);
    Layout::new()
        .add(Some("v1"), Target::Manifest(img))
        .write_dir(dir)
}

#[test]
fn an_oci_layout_context_is_judged_from_the_layout() {
    let ctx = Context::new();
    ctx.dockerfile("FROM base\n");
    let out = common::tmp();
    let good = out.path().join("good");
    app_layout(&good, "amd64", "good");
    let bad = out.path().join("bad");
    app_layout(&bad, "arm64", "bad");
    // The same build on each builder and by buildx: FROM the layout.
    let args = |layout: &Path, iid: &Path, oci: &str| {
        let mut a: Vec<String> = vec![
            "--platform".into(),
            "linux/amd64".into(),
            "--build-context".into(),
            format!("base=oci-layout://{}:v1", layout.display()),
        ];
        a.extend(reproducible_oci(iid, &out.path().join(oci)));
        a
    };
    for kind in [BuilderKind::BuildkitdUnix, BuilderKind::BuildxContainer] {
        let build = |layout: &Path, iid: &Path| {
            kind.build()
                .args(&args(layout, iid, "o.tar"))
                .run(&ctx.arg())
        };
        let iid = out.path().join(format!("{kind:?}.iid"));
        let run = build(&good, &iid);
        run.expect_code(0);
        assert!(iid.exists(), "{kind:?}\n{run}");
        let run = build(&bad, &out.path().join("bad.iid"));
        run.expect_code(1);
        assert!(
            run.stderr
                .contains("/app is an ELF 64-bit LSB binary for arm64, statically linked, but the platform is linux/amd64"),
            "{kind:?}: the arm64 /app of the layout fails linux/amd64\n{run}"
        );
    }

    // buildx 0.29 on the same builder makes the same image.
    let bx_iid = out.path().join("buildx.iid");
    let (code, bx_out) = buildx(&args(&good, &bx_iid, "bx.tar"), ctx.path());
    assert_eq!(code, 0, "buildx failed: {bx_out}");
    let want = std::fs::read_to_string(&bx_iid).unwrap();
    let got = std::fs::read_to_string(out.path().join("BuildxContainer.iid")).unwrap();
    assert_eq!(got, want, "the image ID buildx 0.29 writes");
}

#[test]
fn a_tampered_oci_layout_blob_fails_the_build() {
    let ctx = Context::new();
    ctx.dockerfile("FROM base\n");
    let out = common::tmp();
    let layout = out.path().join("layout");
    // A layer the builder has never seen (it would not ask for it again).
    let w = app_layout(&layout, "amd64", &unique("tampered-oci-layout"));
    // The layer of the image, rewritten with the same length.
    let m = w.manifest("linux/amd64");
    let layer = w.blob_path(&m.layer_digests[0]);
    let mut bytes = std::fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&layer, &bytes).unwrap();
    let dest = out.path().join("out");
    let run = BuilderKind::BuildkitdUnix
        .build()
        .args(&[
            "--platform",
            "linux/amd64",
            // A fresh build: nothing of the layout may come from the cache.
            "--no-cache",
            "--build-context",
            &format!("base=oci-layout://{}:v1", layout.display()),
        ])
        .local_dest(&dest)
        .run(&ctx.arg());
    assert!(run.code != 0 && run.code != 1, "the build must fail\n{run}");
    assert!(
        run.stderr.contains("does not match its digest"),
        "the layout's blob is refused\n{run}"
    );
    assert!(!dest.join("app").exists(), "{run}");
}

#[test]
fn malformed_values_name_the_flag_before_the_builder_is_asked() {
    let ctx = Context::new();
    ctx.dockerfile("FROM scratch\n");
    for (flag, value, needle) in [
        (
            "--add-host",
            "nocolon",
            "invalid --add-host \"nocolon\": expected host:ip",
        ),
        (
            "--shm-size",
            "lots",
            "invalid --shm-size \"lots\": expected",
        ),
        (
            "--ulimit",
            "nofile",
            "invalid --ulimit \"nofile\": expected name=soft[:hard]",
        ),
        (
            "--allow",
            "root",
            "invalid --allow \"root\": expected network.host",
        ),
        (
            "--call",
            "bogus",
            "invalid --call \"bogus\": expected build, check",
        ),
        (
            "--build-context",
            "x",
            "invalid --build-context \"x\": expected NAME=",
        ),
        (
            "--build-context",
            "x=oci-layout:///no/such/layout:v1",
            "invalid --build-context \"x=oci-layout:///no/such/layout:v1\": OCI layout /no/such/layout",
        ),
    ] {
        // An address nothing listens on: the error must come first.
        let run = build("unix:///nonexistent/archgate-flags.sock")
            .args(&[flag, value])
            .run(&ctx.arg());
        run.expect_undecided(&[needle]);
        assert_eq!(run.stderr.trim().lines().count(), 1, "one line\n{run}");
        assert!(!run.stderr.contains("nonexistent"), "{run}");
    }
    let run = build("unix:///nonexistent/archgate-flags.sock")
        .args(&["-q"])
        .run(&ctx.arg());
    run.expect_undecided(&["--quiet"]);
}

/// A bare repository served by `git daemon` on 127.0.0.1 (killed on drop).
struct GitDaemon {
    child: std::process::Child,
    _root: tempfile::TempDir,
    port: u16,
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `git daemon` serving `repo.git`, a bare clone of `src`'s one commit on
/// branch `main`.
fn git_daemon(src: &Path) -> GitDaemon {
    let git = |dir: &Path, args: &[&str]| {
        run_ok(
            Command::new("git")
                .current_dir(dir)
                .args(["-c", "user.email=e2e@archgate.test", "-c", "user.name=e2e"])
                .args(args),
            "git",
        )
    };
    git(src, &["init", "-q", "-b", "main"]);
    git(src, &["add", "-A"]);
    git(src, &["commit", "-qm", "context"]);
    let root = common::tmp();
    let bare = root.path().join("repo.git");
    git(
        root.path(),
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    std::fs::write(bare.join("git-daemon-export-ok"), "").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", root.path().display()),
        ])
        .arg(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("git daemon (git must be installed)");
    let d = GitDaemon {
        child,
        _root: root,
        port,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "git daemon did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    d
}

#[test]
fn a_git_context_is_fetched_by_buildkit_at_ref_and_subdir() {
    let kind = BuilderKind::BuildkitdUnix;
    let src = Context::new();
    src.write(
        "sub/Dockerfile",
        b"FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
    )
    .go_app("sub/app", "arm64");
    let daemon = git_daemon(src.path());
    let url = format!("git://127.0.0.1:{}/repo.git#main:sub", daemon.port);
    let out = common::tmp();
    let dest = out.path().join("out");
    // The repository's arm64 program, built for amd64: the gate fails it.
    let build = |platform: &str| kind.build().platform(platform).local_dest(&dest).run(&url);
    let run = build("linux/amd64");
    run.expect_code(1);
    run.expect_platform("linux/amd64", "fail", "arch-mismatch");
    assert!(!dest.exists(), "exported although the gate failed\n{run}");
    let run = build("linux/arm64");
    run.expect_code(0);
    assert_eq!(elf_arch(&dest.join("app")), Some("arm64"), "{run}");
}
