//! `archgate build` reading stdin as `docker buildx build` does: a context
//! tar (`-`, streamed through the session's upload service and unpacked by
//! the daemon), a Dockerfile alone (`-`, with an empty context), and `-f -`
//! with a directory context; each gated as any build is. Where buildx is
//! the oracle, both build the same tar on the same `docker-container`
//! builder and must give the same image ID.

use crate::common;

use common::buildenv::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// `tar -C DIR -c [-z] -f OUT .`.
fn tar_of(dir: &Path, out: &Path, gzip: bool) {
    let mut cmd = Command::new("tar");
    cmd.arg("-C").arg(dir).arg("-c");
    if gzip {
        cmd.arg("-z");
    }
    run_ok(cmd.arg("-f").arg(out).arg("."), "tar");
}

/// The same build by buildx and by archgate on the `docker-container`
/// builder, each reading the context tar from stdin.
#[test]
fn a_context_tar_on_stdin_builds_the_image_buildx_builds() {
    let ctx = app_context("amd64");
    let out = common::tmp();
    let tar = out.path().join("ctx.tar");
    tar_of(ctx.path(), &tar, false);

    let bx_iid = out.path().join("buildx.iid");
    let (code, bx_stdout) = code_and_stdout(
        buildx_build(&["--platform", "linux/amd64"])
            .args(reproducible_oci(&bx_iid, &out.path().join("bx.tar")))
            .arg("-")
            .stdin(Stdio::from(std::fs::File::open(&tar).unwrap())),
    );
    assert_eq!(code, 0, "buildx failed: {bx_stdout}");
    let want = std::fs::read_to_string(&bx_iid).expect("buildx's iid file");

    let ag_iid = out.path().join("archgate.iid");
    let run = BuilderKind::BuildxContainer
        .build()
        .platform("linux/amd64")
        .args(&reproducible_oci(&ag_iid, &out.path().join("ag.tar")))
        .stdin_file(&tar)
        .run("-");
    run.expect_code(0);
    run.expect_platform("linux/amd64", "pass", "match");
    assert_eq!(std::fs::read_to_string(&ag_iid).unwrap(), want, "{run}");
}

#[test]
fn a_gzipped_context_tar_on_stdin_is_gated() {
    for kind in [BuilderKind::BuildkitdUnix, BuilderKind::Docker28] {
        let ctx = app_context("amd64");
        ctx.write("sub/other.Dockerfile", APP_DOCKERFILE.as_bytes());
        let out = common::tmp();
        let tar = out.path().join("ctx.tar.gz");
        tar_of(ctx.path(), &tar, true);
        let dest = out.path().join("out");
        let build = |platform: &str| kind.build().platform(platform).local_dest(&dest);
        // -f names a file inside the tar.
        let run = build("linux/amd64,linux/arm64")
            .args(&["-f", "sub/other.Dockerfile"])
            .stdin_file(&tar)
            .run("-");
        run.expect_code(1);
        run.expect_platform("linux/amd64", "pass", "match");
        run.expect_platform("linux/arm64", "fail", "arch-mismatch");
        assert!(!dest.exists(), "{kind:?}: exported despite the gate\n{run}");

        let run = build("linux/amd64").stdin_file(&tar).run("-");
        run.expect_code(0);
        assert_eq!(
            elf_arch(&dest.join("app")),
            Some("amd64"),
            "{kind:?}\n{run}"
        );
    }
}

#[test]
fn a_dockerfile_alone_on_stdin_builds_with_an_empty_context() {
    let kind = BuilderKind::BuildkitdUnix;
    let out = common::tmp();
    let df = out.path().join("Dockerfile");
    std::fs::write(
        &df,
        format!(
            "FROM scratch\nCOPY . /ctx/\nCOPY --from={} /bin/busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\", \"true\"]\n",
            base_images().amd64
        ),
    )
    .unwrap();
    let dest = out.path().join("out");
    let build = |platform: &str| kind.build().platform(platform).stdin_file(&df);
    let run = build("linux/amd64").local_dest(&dest).run("-");
    run.expect_code(0);
    assert_eq!(elf_arch(&dest.join("bin/busybox")), Some("amd64"), "{run}");
    let ctx: Vec<_> = std::fs::read_dir(dest.join("ctx")).unwrap().collect();
    assert!(ctx.is_empty(), "the context is empty\n{run}");

    // The wrong arch fails, and the report names the line as buildx names
    // the Dockerfile (`-/Dockerfile`).
    let run = build("linux/arm64").run("-");
    run.expect_code(1);
    let p = run.expect_platform("linux/arm64", "fail", "arch-mismatch");
    assert_eq!(p["source"]["file"], "-/Dockerfile", "{run}");
    assert_eq!(p["source"]["line"], 3, "{run}");
}

#[test]
fn dash_f_reads_the_dockerfile_from_stdin() {
    for kind in [BuilderKind::BuildkitdUnix, BuilderKind::Docker28] {
        let ctx = Context::new();
        ctx.go_app("app-amd64", "amd64");
        let out = common::tmp();
        let df = out.path().join("df");
        std::fs::write(
            &df,
            "FROM scratch\nCOPY app-amd64 /app\nENTRYPOINT [\"/app\"]\n",
        )
        .unwrap();
        let run = kind
            .build()
            .args(&["--platform", "linux/amd64,linux/arm64", "-f", "-"])
            .stdin_file(&df)
            .run(&ctx.arg());
        run.expect_code(1);
        run.expect_platform("linux/amd64", "pass", "match");
        let p = run.expect_platform("linux/arm64", "fail", "arch-mismatch");
        assert_eq!(p["source"]["file"], "stdin", "{kind:?}\n{run}");
        assert_eq!(p["source"]["line"], 2, "{kind:?}\n{run}");
    }
}

#[test]
fn stdin_misuse_is_one_line_before_the_builder_is_asked() {
    let out = common::tmp();
    let df = out.path().join("Dockerfile");
    std::fs::write(&df, "FROM scratch\n").unwrap();
    let empty = out.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let ctx = Context::new();
    ctx.dockerfile("FROM scratch\n");
    let unreachable = format!("unix://{}", out.path().join("no.sock").display());
    for (args, stdin, context, needle) in [
        (vec!["-f", "-"], &df, "-", "can't use stdin for both"),
        (
            vec!["-f", "x.Dockerfile"],
            &df,
            "-",
            "ambiguous Dockerfile source",
        ),
        (vec![], &empty, "-", "stdin is empty"),
    ] {
        let run = build(&unreachable)
            .args(&args)
            .stdin_file(stdin)
            .run(context);
        run.expect_code(2);
        let lines: Vec<_> = run.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "{run}");
        assert!(lines[0].contains(needle), "{run}");
        assert!(
            !run.stderr.contains("no.sock"),
            "the builder was asked\n{run}"
        );
    }
    let _ = ctx;
}
