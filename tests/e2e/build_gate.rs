//! `archgate build` end to end on every builder of `scripts/testenv up`
//! (`BuilderKind`: Docker 26.1 and Docker 28.5 through their embedded
//! BuildKit, buildkitd v0.32.2 over a unix socket and over tcp with mutual
//! TLS, a buildx 0.29 `docker-container` builder by name): the gate on two
//! platforms with every exporter, the ways an entrypoint is found (symlinks,
//! `#!` interpreters, loaders), what the context sends (`.dockerignore`, `-f`
//! outside it), the build's inputs (`--target`, `--build-arg`, `--secret`,
//! registry credentials) and the "could not decide" failures.
//!
//! The one idea: a failed gate is proven by what did not happen. Every test
//! that expects exit 1 also asks the registry for the tag (404) and looks for
//! the exporters' destinations (absent); every passing one reads back what
//! was exported and checks each platform's binary is that platform's. Each
//! scenario is a function of the builder kind; `on_every_builder!` makes one
//! test per (kind, scenario): `build_gate::docker28::secret_reaches_run_mount`.
//!
//! Needs the daemons (`scripts/testenv up`, or ARCHGATE_TESTENV_DIR naming a
//! running environment) and the fixtures (`scripts/fixtures`).

use crate::common;

use common::buildenv::*;
use std::path::Path;
use std::time::Duration;

/// `REG/tests/KIND-NAME:v1` for this test on this builder.
fn tag_for(k: BuilderKind, test: &str) -> String {
    format!(
        "{}/tests/{}-{}:v1",
        env().registry(),
        k.name(),
        unique(test)
    )
}

/// Assert the registry holds no manifest for this reference.
fn assert_not_pushed(reference: &str, run: &BuildRun) {
    let (name, tag) = repo_and_tag(reference);
    assert!(
        !Registry::anonymous().exists(&name, &tag),
        "{reference} was pushed although the gate failed\n{run}"
    );
}

/// Assert the two-platform local export: linux_amd64/app is an amd64 ELF and
/// linux_arm64/app an arm64 one.
fn assert_local_two_platforms(dest: &Path, app: &str, run: &BuildRun) {
    assert_eq!(
        local_platform_dirs(dest),
        vec!["linux_amd64".to_string(), "linux_arm64".to_string()],
        "platform dirs of the local export {}\n{run}",
        dest.display()
    );
    for arch in ["amd64", "arm64"] {
        let p = dest.join(format!("linux_{arch}")).join(app);
        assert_eq!(
            elf_arch(&p),
            Some(arch),
            "{} should be an {arch} ELF\n{run}",
            p.display()
        );
    }
}

fn assert_passed_two(run: &BuildRun) {
    run.expect_code(0);
    assert_eq!(run.json()["verdict"], "pass", "report verdict\n{run}");
    run.expect_platform_set(&["linux/amd64", "linux/arm64"]);
    for p in ["linux/amd64", "linux/arm64"] {
        run.expect_platform(p, "pass", "match");
    }
}

// ---- the harness itself (these pass without `archgate build`) ---------------

#[test]
fn harness_base_images_are_in_both_registries() {
    let b = base_images();
    let reg = Registry::anonymous();
    let (name, tag) = repo_and_tag(&b.multi);
    assert_eq!(
        reg.platforms(&name, &tag),
        vec!["linux/amd64".to_string(), "linux/arm64".to_string()]
    );
    let (name, tag) = repo_and_tag(&b.arm64);
    assert_eq!(reg.platforms(&name, &tag), vec!["linux/arm64".to_string()]);
    let (name, tag) = repo_and_tag(&b.auth_amd64);
    assert!(Registry::authenticated().exists(&name, &tag));
    // Without credentials the htpasswd registry refuses.
    let anon_on_auth = Registry::anonymous_on(env().auth_registry());
    assert_eq!(anon_on_auth.manifest_status(&name, &tag), 401);
    assert!(!reg.exists("tests/never-pushed", "v1"));
    // Docker 26 must not hold the auth-registry names itself, or an
    // anonymous build would take them from its image store.
    let helper = b.auth_helper_amd64.iter().map(|(_, r)| r);
    for r in [&b.auth_amd64, &b.auth_private_amd64]
        .into_iter()
        .chain(helper)
    {
        let out = env()
            .docker26()
            .args(["image", "inspect", r.as_str()])
            .output()
            .expect("docker image inspect");
        assert!(!out.status.success(), "Docker 26 holds {r} locally");
    }
    // A second call (another test process does the same) is instant.
    let t = std::time::Instant::now();
    let _ = base_images();
    assert!(t.elapsed() < Duration::from_millis(50));
}

/// What the harness's registry client reads from a peer that answers its
/// one request with `raw`.
fn answered_by(raw: &'static [u8]) -> HttpAnswer {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("local_addr").to_string();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("the client's connection");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        conn.write_all(raw).expect("the answer");
    });
    let a = Registry::anonymous_on(&addr).request("GET", "/v2/");
    peer.join().expect("the peer");
    a
}

#[test]
fn harness_base64_and_http_parsing() {
    for (i, o) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(i.as_bytes()), o);
    }
    let a = answered_by(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!((a.status, a.body.as_slice()), (404, &b"{}"[..]));
    let a = answered_by(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert_eq!((a.status, a.body.as_slice()), (200, &b"abcde"[..]));
    assert_eq!(
        elf_arch(&common::go_hello("arm64")),
        Some("arm64"),
        "elf_arch of the Go arm64 hello"
    );
}

// ---- the correct two-platform Dockerfile ----------------------------------------

fn two_platform_push_lists_both_platforms(k: BuilderKind) {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let tag = tag_for(k, "two_platform_push");
    let run = k
        .build()
        .two_platforms()
        .args(&["-t", &tag, "--push"])
        .run(&ctx.arg());
    assert_passed_two(&run);
    assert_eq!(
        run.image()["image"],
        tag.as_str(),
        "the report names the first tag\n{run}"
    );
    let p = run.platform("linux/arm64");
    assert_eq!(p["program"], "/app", "{run}");
    assert_eq!(p["resolved"], "/app", "{run}");
    let (name, t) = repo_and_tag(&tag);
    assert_eq!(
        Registry::anonymous().platforms(&name, &t),
        vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
        "the pushed index\n{run}"
    );
}

fn two_platform_local_export_has_both_platforms(k: BuilderKind) {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = k
        .build()
        .two_platforms()
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    assert_passed_two(&run);
    // No tag: the report names the context.
    let image = run.image()["image"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let canon = ctx.path().canonicalize().expect("canonical context");
    assert!(
        image == ctx.arg() || Path::new(&image) == canon,
        "with no tag the report's image is the context path, got {image:?}\n{run}"
    );
    assert_local_two_platforms(&dest, "app", &run);
}

fn two_platform_oci_export_has_both_platforms(k: BuilderKind) {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let out = common::tmp();
    let file = out.path().join("image.tar");
    let run = k
        .build()
        .two_platforms()
        .args(&["-o", &format!("type=oci,dest={}", file.display())])
        .run(&ctx.arg());
    assert_passed_two(&run);
    assert!(file.is_file(), "no {}\n{run}", file.display());
    assert_eq!(
        oci_archive_platforms(&file),
        vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
        "platforms in the OCI archive\n{run}"
    );
}

fn two_platform_push_local_and_oci_at_once(k: BuilderKind) {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let tag = tag_for(k, "two_platform_all_outputs");
    let out = common::tmp();
    let dest = out.path().join("dest");
    let file = out.path().join("image.tar");
    let run = k
        .build()
        .two_platforms()
        .args(&["-t", &tag, "--push"])
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .args(&["-o", &format!("type=oci,dest={}", file.display())])
        .run(&ctx.arg());
    assert_passed_two(&run);
    let (name, t) = repo_and_tag(&tag);
    assert_eq!(
        Registry::anonymous().platforms(&name, &t),
        vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
        "the pushed index\n{run}"
    );
    assert_local_two_platforms(&dest, "app", &run);
    assert_eq!(
        oci_archive_platforms(&file),
        vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
        "platforms in the OCI archive\n{run}"
    );
}

// ---- the hardcoded arch: the gate fails, nothing is exported -----------------------

/// Which exporters a hardcoded-arch build asks for.
#[derive(Clone, Copy)]
struct Outputs {
    push: bool,
    local: bool,
    oci: bool,
}

/// The hardcoded-arch build with these outputs: exit 1, amd64 passes, arm64
/// fails arch-mismatch showing the amd64 binary, and nothing is exported.
fn hardcoded_exports_nothing(k: BuilderKind, test: &str, o: Outputs) {
    let ctx = two_arch_context(HARDCODED_DOCKERFILE);
    let tag = tag_for(k, test);
    let out = common::tmp();
    let dest = out.path().join("dest");
    let file = out.path().join("image.tar");
    let mut b = k.build().two_platforms();
    if o.push {
        b = b.args(&["-t", &tag, "--push"]);
    }
    if o.local {
        b = b.args(&["-o", &format!("type=local,dest={}", dest.display())]);
    }
    if o.oci {
        b = b.args(&["-o", &format!("type=oci,dest={}", file.display())]);
    }
    let run = b.run(&ctx.arg());
    run.expect_code(1);
    assert_eq!(run.json()["verdict"], "fail", "report verdict\n{run}");
    run.expect_platform("linux/amd64", "pass", "match");
    let arm = run.expect_platform("linux/arm64", "fail", "arch-mismatch");
    assert_eq!(arm["resolved"], "/app", "{run}");
    assert!(
        common::checks(&arm)
            .iter()
            .any(|c| c["binary"]["arch"] == "amd64" && c["verdict"] == "fail"),
        "the arm64 report shows the amd64 binary\n{run}"
    );
    // The Dockerfile line that put the failing program there.
    assert_eq!(arm["source"]["line"], 3, "{run}");
    assert_eq!(arm["source"]["instruction"], "COPY app-amd64 /app", "{run}");
    assert!(
        arm["source"]["file"]
            .as_str()
            .unwrap_or("")
            .ends_with("Dockerfile"),
        "{run}"
    );
    assert!(run.platforms()["linux/amd64"]["source"].is_null(), "{run}");
    assert_not_pushed(&tag, &run);
    assert!(!dest.exists(), "the local dest was created\n{run}");
    assert!(!file.exists(), "the OCI archive was written\n{run}");
}

fn hardcoded_arch_fails_and_pushes_nothing(k: BuilderKind) {
    hardcoded_exports_nothing(
        k,
        "hardcoded_push",
        Outputs {
            push: true,
            local: false,
            oci: false,
        },
    );
}

fn hardcoded_arch_fails_and_writes_no_local_dest(k: BuilderKind) {
    hardcoded_exports_nothing(
        k,
        "hardcoded_local",
        Outputs {
            push: false,
            local: true,
            oci: false,
        },
    );
}

fn hardcoded_arch_fails_and_writes_no_oci_archive(k: BuilderKind) {
    hardcoded_exports_nothing(
        k,
        "hardcoded_oci",
        Outputs {
            push: false,
            local: false,
            oci: true,
        },
    );
}

fn hardcoded_arch_fails_and_exports_nothing_with_all_outputs_at_once(k: BuilderKind) {
    hardcoded_exports_nothing(
        k,
        "hardcoded_all",
        Outputs {
            push: true,
            local: true,
            oci: true,
        },
    );
}

fn a_closed_stdout_keeps_the_gate_s_exit_code(k: BuilderKind) {
    // `archgate build ... | head -1`: the reader stopped reading; the gate's
    // verdict and exit code stand, as for `check`, and nothing is said
    // about the pipe.
    let ctx = two_arch_context(HARDCODED_DOCKERFILE);
    let run = k.build().two_platforms().stdout_closed().run(&ctx.arg());
    run.expect_code(1);
    assert!(
        run.stderr.contains("the gate failed: nothing was exported"),
        "{run}"
    );
    assert!(
        !run.stderr.contains("writing the report") && !run.stderr.contains("Broken pipe"),
        "{run}"
    );
}

// ---- how the entrypoint is found -------------------------------------------------

/// `dist-ARCH/bin/app -> real-app` with the per-arch hello as real-app.
fn symlink_context(dockerfile: &str) -> Context {
    let ctx = Context::new();
    ctx.dockerfile(dockerfile);
    for arch in ["amd64", "arm64"] {
        ctx.go_app(&format!("dist-{arch}/bin/real-app"), arch)
            .symlink(&format!("dist-{arch}/bin/app"), "real-app");
    }
    ctx
}

fn symlinked_entrypoint_from_the_context_passes(k: BuilderKind) {
    let ctx = symlink_context(
        "FROM scratch\nARG TARGETARCH\nCOPY dist-${TARGETARCH}/ /opt/app/\nENTRYPOINT [\"/opt/app/bin/app\"]\n",
    );
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = k
        .build()
        .two_platforms()
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    assert_passed_two(&run);
    for p in ["linux/amd64", "linux/arm64"] {
        let r = run.platform(p);
        assert_eq!(r["program"], "/opt/app/bin/app", "{run}");
        assert_eq!(
            r["resolved"], "/opt/app/bin/real-app",
            "{p}: followed the link\n{run}"
        );
    }
    // The link travelled as a link.
    let link = dest.join("linux_arm64/opt/app/bin/app");
    assert_eq!(
        std::fs::read_link(&link).ok().as_deref(),
        Some(Path::new("real-app")),
        "{} should be a symlink to real-app\n{run}",
        link.display()
    );
    assert_local_two_platforms(&dest, "opt/app/bin/real-app", &run);
}

fn symlinked_entrypoint_to_the_wrong_arch_fails(k: BuilderKind) {
    let ctx = symlink_context(
        "FROM scratch\nCOPY dist-amd64/ /opt/app/\nENTRYPOINT [\"/opt/app/bin/app\"]\n",
    );
    let run = k.build().two_platforms().run(&ctx.arg());
    run.expect_code(1);
    run.expect_platform("linux/amd64", "pass", "match");
    let arm = run.expect_platform("linux/arm64", "fail", "arch-mismatch");
    assert_eq!(arm["resolved"], "/opt/app/bin/real-app", "{run}");
}

const RUN_SH: &str = "#!/bin/sh\necho hello from a script\n";

fn shebang_script_with_per_arch_busybox_passes(k: BuilderKind) {
    let b = base_images();
    let ctx = Context::new();
    ctx.dockerfile(&format!(
        "FROM {}\nCOPY run.sh /usr/local/bin/run.sh\nENTRYPOINT [\"/usr/local/bin/run.sh\"]\n",
        b.multi
    ))
    .script("run.sh", RUN_SH);
    let run = k.build().two_platforms().run(&ctx.arg());
    assert_passed_two(&run);
    for p in ["linux/amd64", "linux/arm64"] {
        let r = run.platform(p);
        let interp = common::checks(&r)
            .into_iter()
            .find(|c| c["role"] == "interpreter")
            .unwrap_or_else(|| panic!("{p}: no interpreter check\n{run}"));
        assert_eq!(interp["verdict"], "pass", "{p}\n{run}");
        assert_eq!(
            interp["resolved"], "/bin/busybox",
            "{p}: /bin/sh -> busybox\n{run}"
        );
    }
}

fn shebang_script_with_wrong_arch_busybox_fails_the_interpreter(k: BuilderKind) {
    let ctx = Context::new();
    ctx.dockerfile(
        "FROM scratch\nCOPY rootfs/ /\nCOPY run.sh /usr/local/bin/run.sh\nENTRYPOINT [\"/usr/local/bin/run.sh\"]\n",
    )
    .busybox("rootfs/bin/busybox", "amd64")
    .symlink("rootfs/bin/sh", "busybox")
    .script("run.sh", RUN_SH);
    let run = k.build().two_platforms().run(&ctx.arg());
    run.expect_code(1);
    run.expect_platform("linux/amd64", "pass", "match");
    let arm = run.expect_platform("linux/arm64", "fail", "arch-mismatch");
    let interp = common::find_check(&arm, "interpreter", "fail")
        .unwrap_or_else(|| panic!("the arm64 interpreter check should fail\n{run}"));
    assert_eq!(interp["resolved"], "/bin/busybox", "{run}");
    assert_eq!(interp["binary"]["arch"], "amd64", "{run}");
}

fn glibc_hello_in_scratch_fails_loader_missing(k: BuilderKind) {
    let ctx = Context::new();
    ctx.dockerfile(
        "FROM scratch\nARG TARGETARCH\nCOPY hello-${TARGETARCH} /usr/bin/hello\nENTRYPOINT [\"/usr/bin/hello\"]\n",
    )
    .glibc_hello("hello-amd64", "amd64")
    .glibc_hello("hello-arm64", "arm64");
    let tag = tag_for(k, "glibc_in_scratch");
    let run = k
        .build()
        .two_platforms()
        .args(&["-t", &tag, "--push"])
        .run(&ctx.arg());
    run.expect_code(1);
    for p in ["linux/amd64", "linux/arm64"] {
        let r = run.expect_platform(p, "fail", "loader-missing");
        assert!(
            common::find_check(&r, "loader", "fail").is_some(),
            "{p}: a failing loader check\n{run}"
        );
    }
    assert_not_pushed(&tag, &run);
}

// ---- --deep: every program of the result ---------------------------------------------

/// A context whose Dockerfile adds, over the two-platform busybox base, a
/// shared library and a helper for `lib_arch`/`helper_arch` (per platform
/// when `None`), and a script whose interpreter is not in the image. The
/// library lands in /usr/lib, a directory the loader searches by default: a
/// wrong-arch file there fails; outside those directories it only warns.
fn deep_context(lib_arch: Option<&str>, helper_arch: Option<&str>) -> Context {
    let ctx = two_arch_context(&format!(
        "FROM {}\nARG TARGETARCH\nCOPY app-${{TARGETARCH}} /app\n\
         COPY lib-${{TARGETARCH}}/ /usr/lib/\n\
         COPY libexec-${{TARGETARCH}}/ /usr/libexec/vendor/\n\
         COPY tool /usr/local/bin/tool\nENTRYPOINT [\"/app\"]\n",
        base_images().multi
    ));
    for arch in ["amd64", "arm64"] {
        let lib = lib_arch.unwrap_or(arch);
        let libm = common::fixture(&format!(
            "debian/{lib}/pkg/libc6/lib/{}/libm.so.6",
            if lib == "amd64" {
                "x86_64-linux-gnu"
            } else {
                "aarch64-linux-gnu"
            }
        ));
        ctx.copy(&format!("lib-{arch}/libvendor.so.1"), &libm)
            .busybox(
                &format!("libexec-{arch}/helper"),
                helper_arch.unwrap_or(arch),
            );
    }
    ctx.script("tool", "#!/usr/bin/python3\nprint('hi')\n");
    ctx
}

fn deep_files(r: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = common::checks(r)
        .into_iter()
        .filter(|c| c["role"] == "file")
        .map(|c| c["path"].as_str().unwrap_or("?").to_string())
        .collect();
    v.sort();
    v
}

fn deep_wrong_arch_library_and_helper_fail_the_gate_and_nothing_is_pushed(k: BuilderKind) {
    let ctx = deep_context(Some("amd64"), Some("amd64"));
    // Without --deep the config's program is all there is: both pass.
    let plain = k.build().two_platforms().run(&ctx.arg());
    assert_passed_two(&plain);
    assert!(plain.platform("linux/arm64")["deep"].is_null(), "{plain}");
    let tag = tag_for(k, "deep_wrong_arch");
    let run = k
        .build()
        .two_platforms()
        .args(&["--deep", "-t", &tag, "--push"])
        .run(&ctx.arg());
    run.expect_code(1);
    // amd64: only the script whose interpreter is missing, a warning.
    let amd = run.expect_platform("linux/amd64", "warn", "not-found");
    assert_eq!(deep_files(&amd), ["/usr/local/bin/tool"], "{run}");
    let arm = run.expect_platform("linux/arm64", "fail", "arch-mismatch");
    assert_eq!(
        deep_files(&arm),
        [
            "/usr/lib/libvendor.so.1",
            "/usr/libexec/vendor/helper",
            "/usr/local/bin/tool"
        ],
        "{run}"
    );
    let d = &arm["deep"];
    assert_eq!(
        (d["failed"].as_u64(), d["warned"].as_u64()),
        (Some(2), Some(1)),
        "{run}"
    );
    // The base's busybox, the app, the library, the helper, the script.
    assert!(d["files"].as_u64().unwrap_or(0) >= 5, "{run}");
    assert_not_pushed(&tag, &run);
}

fn deep_passes_a_correct_two_platform_result_and_exports_it(k: BuilderKind) {
    let ctx = deep_context(None, None);
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = k
        .build()
        .two_platforms()
        .args(&[
            "--deep",
            "-o",
            &format!("type=local,dest={}", dest.display()),
        ])
        .run(&ctx.arg());
    // The script without its interpreter warns; warnings do not stop it.
    run.expect_code(0);
    for p in ["linux/amd64", "linux/arm64"] {
        let r = run.expect_platform(p, "warn", "not-found");
        assert_eq!(deep_files(&r), ["/usr/local/bin/tool"], "{p}\n{run}");
        assert_eq!(r["deep"]["failed"].as_u64(), Some(0), "{run}");
    }
    assert_local_two_platforms(&dest, "usr/libexec/vendor/helper", &run);
}

// ---- what the context sends --------------------------------------------------------

fn dockerignored_file_copied_is_a_build_error(k: BuilderKind) {
    let ctx = two_arch_context(
        "FROM scratch\nCOPY app-amd64 /app\nCOPY notes.txt /notes.txt\nENTRYPOINT [\"/app\"]\n",
    );
    ctx.write("notes.txt", b"excluded\n")
        .write(".dockerignore", b"notes.txt\n");
    let run = k
        .build()
        .args(&["--platform", "linux/amd64"])
        .run(&ctx.arg());
    // BuildKit's message for a COPY source the context lacks.
    run.expect_undecided(&["notes.txt", "not found"]);
}

fn dockerignored_wrong_arch_binary_does_not_reach_the_image(k: BuilderKind) {
    // overlay/usr/local/bin/app is a stale x86-64 build that would replace
    // each platform's app; .dockerignore keeps it out of the context.
    let ctx = two_arch_context(
        "FROM scratch\nARG TARGETARCH\nCOPY app-${TARGETARCH} /usr/local/bin/app\nCOPY overlay/ /\nENTRYPOINT [\"/usr/local/bin/app\"]\n",
    );
    ctx.go_app("overlay/usr/local/bin/app", "amd64")
        .write("overlay/etc/app.conf", b"level = 1\n")
        .write(
            ".dockerignore",
            b"# stale host build\noverlay/usr/local/bin/app\n",
        );
    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = k
        .build()
        .two_platforms()
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    assert_passed_two(&run);
    assert_local_two_platforms(&dest, "usr/local/bin/app", &run);
    assert_eq!(
        std::fs::read_to_string(dest.join("linux_arm64/etc/app.conf"))
            .ok()
            .as_deref(),
        Some("level = 1\n"),
        "the rest of the overlay was sent\n{run}"
    );
}

fn dockerfile_outside_the_context_root(k: BuilderKind) {
    // The context's own Dockerfile hardcodes the arch: only -f makes it pass.
    let ctx = two_arch_context(HARDCODED_DOCKERFILE);
    let elsewhere = common::tmp();
    let df = elsewhere.path().join("ci/app.Dockerfile");
    std::fs::create_dir_all(df.parent().expect("parent")).expect("mkdir");
    std::fs::write(&df, TWO_PLATFORM_DOCKERFILE).expect("write Dockerfile");
    let run = k
        .build()
        .two_platforms()
        .args(&["-f", &df.display().to_string()])
        .run(&ctx.arg());
    assert_passed_two(&run);
}

// ---- the build's inputs -----------------------------------------------------------

fn target_selects_the_stage(k: BuilderKind) {
    let ctx = two_arch_context(
        "FROM scratch AS good\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n\n\
         FROM scratch AS bad\nCOPY app-amd64 /app\nENTRYPOINT [\"/app\"]\n",
    );
    let run = k
        .build()
        .two_platforms()
        .args(&["--target", "good"])
        .run(&ctx.arg());
    assert_passed_two(&run);
    let run = k
        .build()
        .two_platforms()
        .args(&["--target", "bad"])
        .run(&ctx.arg());
    run.expect_code(1);
    run.expect_platform("linux/arm64", "fail", "arch-mismatch");
}

fn build_arg_chooses_the_binary(k: BuilderKind) {
    let ctx = two_arch_context(
        "FROM scratch\nARG APP_ARCH=amd64\nCOPY app-${APP_ARCH} /app\nENTRYPOINT [\"/app\"]\n",
    );
    let run = k
        .build()
        .args(&["--platform", "linux/arm64", "--build-arg", "APP_ARCH=arm64"])
        .run(&ctx.arg());
    run.expect_code(0);
    run.expect_platform_set(&["linux/arm64"]);
    run.expect_platform("linux/arm64", "pass", "match");
    // The default (amd64) binary on arm64 fails.
    let run = k
        .build()
        .args(&["--platform", "linux/arm64"])
        .run(&ctx.arg());
    run.expect_code(1);
    run.expect_platform("linux/arm64", "fail", "arch-mismatch");
}

fn secret_reaches_run_mount(k: BuilderKind) {
    let b = base_images();
    let ctx = Context::new();
    let secret = format!("s3cret-{}", unique("secret"));
    // Secrets are not part of a step's cache key: a step unique to this run
    // keeps an earlier run's cached /tok from answering.
    ctx.dockerfile(&format!(
        "FROM {}\nRUN --network=none --mount=type=secret,id=token cat /run/secrets/token > /tok && echo {secret} > /run-id\nENTRYPOINT [\"/bin/sh\"]\n",
        b.amd64
    ));
    let secrets = common::tmp();
    let secret_file = secrets.path().join("token.txt");
    std::fs::write(&secret_file, &secret).expect("write secret");
    let spec = format!("id=token,src={}", secret_file.display());
    let run = k
        .build()
        .args(&["--platform", "linux/amd64", "--secret", &spec])
        .run(&ctx.arg());
    run.expect_code(0);
    let p = run.expect_platform("linux/amd64", "pass", "match");
    assert_eq!(p["resolved"], "/bin/busybox", "{run}");

    let out = common::tmp();
    let dest = out.path().join("dest");
    let run = k
        .build()
        .args(&["--platform", "linux/amd64", "--secret", &spec])
        .args(&["-o", &format!("type=local,dest={}", dest.display())])
        .run(&ctx.arg());
    run.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(dest.join("tok")).ok().as_deref(),
        Some(secret.as_str()),
        "/tok should hold the secret\n{run}"
    );
}

fn auth_registry_with_credentials_passes(k: BuilderKind) {
    let b = base_images();
    let ctx = Context::new();
    ctx.dockerfile(&format!(
        "FROM {}\nENTRYPOINT [\"/bin/sh\"]\n",
        b.auth_amd64
    ));
    let cfg = common::tmp();
    docker_login(env(), cfg.path());
    let run = k
        .build()
        .args(&["--platform", "linux/amd64"])
        .docker_config(cfg.path())
        .run(&ctx.arg());
    run.expect_code(0);
    run.expect_platform("linux/amd64", "pass", "match");
}

/// Credentials from a credential helper (`credsStore`), as Docker Desktop and
/// cloud CLIs set up: archgate runs `docker-credential-NAME get`.
fn auth_registry_with_a_credential_helper_passes(k: BuilderKind) {
    let b = base_images();
    let ctx = Context::new();
    ctx.dockerfile(&format!(
        "FROM {}\nENTRYPOINT [\"/bin/sh\"]\n",
        b.auth_helper_amd64(k)
    ));
    let cfg = common::tmp();
    std::fs::write(
        cfg.path().join("config.json"),
        r#"{"credsStore": "archgate-test"}"#,
    )
    .unwrap();
    let bin = common::tmp();
    let helper = bin.path().join("docker-credential-archgate-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\necho \"$host\" >> {calls}\n\
             if [ \"$host\" = \"{reg}\" ]; then\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{pass}\"}}' \"$host\"\n\
             else echo 'credentials not found in native keychain'; exit 1; fi\n",
            calls = bin.path().join("calls").display(),
            reg = env().auth_registry(),
            user = env().auth_user(),
            pass = env().auth_pass(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = k
        .build()
        .args(&["--platform", "linux/amd64"])
        .docker_config(cfg.path())
        .env("PATH", path)
        .run(&ctx.arg());
    run.expect_code(0);
    run.expect_platform("linux/amd64", "pass", "match");
    let calls = std::fs::read_to_string(bin.path().join("calls")).unwrap_or_default();
    assert!(
        calls.lines().any(|h| h == env().auth_registry()),
        "the credential helper was not asked for {}: {calls:?}",
        env().auth_registry()
    );
}

fn auth_registry_without_credentials_is_undecided(k: BuilderKind) {
    let b = base_images();
    let ctx = Context::new();
    ctx.dockerfile(&format!(
        "FROM {}\nENTRYPOINT [\"/bin/sh\"]\n",
        b.auth_private_amd64
    ));
    let run = k
        .build()
        .args(&["--platform", "linux/amd64"])
        .run(&ctx.arg());
    run.expect_code(2);
    assert!(
        run.stderr_mentions_any(&["401", "unauthorized", "authoriz"]),
        "the message should say the registry wants authorization\n{run}"
    );
}

// ---- could not decide -------------------------------------------------------------

fn dockerfile_syntax_error_names_the_line(k: BuilderKind) {
    let ctx = two_arch_context("FROM scratch\nCOPY app-amd64 /app\nFRUM scratch\n");
    let run = k.build().two_platforms().run(&ctx.arg());
    run.expect_code(2);
    assert!(
        run.stderr_mentions_any(&["FRUM"]),
        "stderr names the bad instruction\n{run}"
    );
    assert!(
        run.stderr_mentions_any(&["line 3", "Dockerfile:3"]),
        "stderr names the Dockerfile line\n{run}"
    );
}

#[test]
fn unreachable_address_fails_fast_naming_it() {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    for a in [
        "unix:///nonexistent.sock",
        "docker://unix:///nonexistent-engine.sock",
    ] {
        let run = build(a).two_platforms().run(&ctx.arg());
        run.expect_undecided(&[a.rsplit("//").next().unwrap_or(a)]);
        assert!(
            run.elapsed < Duration::from_secs(5),
            "took {:?} to give up on {a}\n{run}",
            run.elapsed
        );
    }
}

/// A build that fails before any platform is judged says why in one line on
/// stderr, as buildx does; the human report on stdout would only repeat it.
#[test]
fn an_early_failure_is_one_line_on_stderr_and_nothing_on_stdout() {
    let ctx = two_arch_context(TWO_PLATFORM_DOCKERFILE);
    let run = common::Archgate::new(&["build", "--addr", "unix:///nonexistent.sock"])
        .args(&[ctx.arg()])
        .run();
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(run.stdout, "", "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(run.stderr.contains("/nonexistent.sock"), "{run}");
}

// ---- every scenario on every builder -------------------------------------------------

/// `mod KIND { #[test] fn SCENARIO() }` for every builder kind: one test per
/// (kind, scenario), named `build_gate::KIND::SCENARIO`, so a failure names
/// its builder and `-E 'test(/::buildkitd_tls::/)'` runs one kind.
macro_rules! on_every_builder {
    ($($scenario:ident),* $(,)?) => {
        on_every_builder!(@kind docker26, Docker26; $($scenario),*);
        on_every_builder!(@kind docker28, Docker28; $($scenario),*);
        on_every_builder!(@kind buildkitd_unix, BuildkitdUnix; $($scenario),*);
        on_every_builder!(@kind buildkitd_tls, BuildkitdTls; $($scenario),*);
        on_every_builder!(@kind buildx_container, BuildxContainer; $($scenario),*);
    };
    (@kind $module:ident, $kind:ident; $($scenario:ident),*) => {
        mod $module {
            use super::BuilderKind;
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(BuilderKind::$kind)
                }
            )*
        }
    };
}

/// The macro's kinds are exactly `BuilderKind::ALL`: a kind added to the
/// table must get its tests too.
#[test]
fn every_builder_kind_has_its_tests() {
    assert_eq!(
        BuilderKind::ALL.map(BuilderKind::name),
        [
            "docker26",
            "docker28",
            "buildkitd-unix",
            "buildkitd-tls",
            "buildx-container"
        ]
    );
}

on_every_builder! {
    two_platform_push_lists_both_platforms,
    two_platform_local_export_has_both_platforms,
    two_platform_oci_export_has_both_platforms,
    two_platform_push_local_and_oci_at_once,
    hardcoded_arch_fails_and_pushes_nothing,
    hardcoded_arch_fails_and_writes_no_local_dest,
    hardcoded_arch_fails_and_writes_no_oci_archive,
    hardcoded_arch_fails_and_exports_nothing_with_all_outputs_at_once,
    a_closed_stdout_keeps_the_gate_s_exit_code,
    symlinked_entrypoint_from_the_context_passes,
    symlinked_entrypoint_to_the_wrong_arch_fails,
    shebang_script_with_per_arch_busybox_passes,
    shebang_script_with_wrong_arch_busybox_fails_the_interpreter,
    glibc_hello_in_scratch_fails_loader_missing,
    deep_wrong_arch_library_and_helper_fail_the_gate_and_nothing_is_pushed,
    deep_passes_a_correct_two_platform_result_and_exports_it,
    dockerignored_file_copied_is_a_build_error,
    dockerignored_wrong_arch_binary_does_not_reach_the_image,
    dockerfile_outside_the_context_root,
    target_selects_the_stage,
    build_arg_chooses_the_binary,
    secret_reaches_run_mount,
    auth_registry_with_credentials_passes,
    auth_registry_with_a_credential_helper_passes,
    auth_registry_without_credentials_is_undecided,
    dockerfile_syntax_error_names_the_line,
}
