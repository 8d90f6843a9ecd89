//! `archgate build` end to end on Docker 20.10 (BuildKit about 0.8 inside)
//! of `scripts/testenv up`: an engine many CI hosts still run. Its only
//! multi-platform exporter is `local` (and `tar`); it has no image (push),
//! oci or docker exporter.
//!
//! The one idea: the gate must work the same on the old engine (pass, fail,
//! nothing exported), and asking it for an exporter it lacks must be a clear
//! "could not decide" that names the exporter, not a hang or a half export.
//!
//! Needs the daemons (`scripts/testenv up`, or ARCHGATE_TESTENV_DIR naming a
//! running environment) and the fixtures (`scripts/fixtures`).

use crate::common;

use common::buildenv::*;
use std::time::Duration;

fn addr() -> String {
    env().addr20()
}

/// Words that say an engine cannot do something.
const LIMITATION: &[&str] = &[
    "not support",
    "unsupported",
    "doesn't support",
    "lacks",
    "not available",
    "could not be found",
    "unknown exporter",
];

#[test]
fn two_platform_local_export_passes() {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = build(&addr())
        .two_platforms()
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    run.expect_code(0);
    assert_eq!(run.json()["verdict"], "pass", "{run}");
    run.expect_platform_set(&["linux/amd64", "linux/arm64"]);
    run.expect_platform("linux/amd64", "pass", "match");
    run.expect_platform("linux/arm64", "pass", "match");
    assert_eq!(
        local_platform_dirs(&dest),
        vec!["linux_amd64".to_string(), "linux_arm64".to_string()],
        "{run}"
    );
    for arch in ["amd64", "arm64"] {
        let app = dest.join(format!("linux_{arch}/app"));
        assert_eq!(elf_arch(&app), Some(arch), "{}\n{run}", app.display());
    }
}

#[test]
fn hardcoded_arch_fails_and_writes_no_dest() {
    let ctx = two_arch_context(HARDCODED_DOCKERFILE);
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = build(&addr())
        .two_platforms()
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    run.expect_code(1);
    run.expect_platform("linux/amd64", "pass", "match");
    run.expect_platform("linux/arm64", "fail", "arch-mismatch");
    assert!(!dest.exists(), "the local dest was created\n{run}");
}

#[test]
fn push_is_a_clear_error_naming_the_exporter() {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let tag = format!("{}/tests/{}:v1", env().registry(), unique("docker20_push"));
    let run = build(&addr())
        .two_platforms()
        .args(&["-t", &tag, "--push"])
        .timeout(Duration::from_secs(60))
        .run(&ctx.arg());
    run.expect_code(2);
    assert!(
        run.stderr_mentions_any(&["image", "registry", "push"]),
        "the message names the exporter\n{run}"
    );
    assert!(
        run.stderr_mentions_any(LIMITATION),
        "the message says the engine cannot do it\n{run}"
    );
    let (name, t) = repo_and_tag(&tag);
    assert!(
        !Registry::anonymous().exists(&name, &t),
        "{tag} was pushed\n{run}"
    );
}

#[test]
fn oci_output_is_a_clear_error_naming_the_exporter() {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let out = common::tmp();
    let file = out.path().join("image.tar");
    let run = build(&addr())
        .two_platforms()
        .args(&["-o", &format!("type=oci,dest={}", file.display())])
        .timeout(Duration::from_secs(60))
        .run(&ctx.arg());
    run.expect_code(2);
    assert!(
        run.stderr_mentions_any(&["oci"]),
        "the message names the oci exporter\n{run}"
    );
    assert!(
        run.stderr_mentions_any(LIMITATION),
        "the message says the engine cannot do it\n{run}"
    );
    assert!(!file.exists(), "{} was written\n{run}", file.display());
}

/// Docker 20.10's BuildKit has no `cache.gha` capability: a `gha` cache is
/// dropped quietly, as buildx drops it (`build/opt.go`), rather than sent to
/// a daemon that answers it with a failed cache import (shown as an error
/// vertex, "importing cache manifest from gha:...").
#[test]
fn gha_cache_dropped_where_the_daemon_lacks_it() {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = build(&addr())
        .args(&["--platform", "linux/amd64"])
        .args(&["--cache-from", "type=gha,url=http://127.0.0.1:9/,token=t"])
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    run.expect_code(0);
    assert_eq!(run.json()["verdict"], "pass", "{run}");
    assert!(dest.join("app").is_file(), "{run}");
    assert!(!run.stderr.contains("from gha:"), "{run}");
}
