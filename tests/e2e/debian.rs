//! End to end on realistic images: real Debian bookworm packages (libc6 with
//! its loader links, dash, env, python3, jq, the openjdk-17 launcher behind
//! its alternatives links, node, musl, tini) laid out as a merged-/usr
//! `FROM debian:bookworm` image has them, for amd64, arm64 and armhf; each
//! case once as it runs under Docker and once with the mistake that makes
//! it die on the node.
//!
//! Cases that wait for a rule of issue 8 say which (`// issue 8 item N`):
//! they fail until the engine follows that rule.

use crate::common;

use common::debian::*;
use common::*;
use serde_json::Value;

/// An image for a Debian architecture's own platform, with these layers.
fn image(debarch: &str, root: DebRoot) -> Image {
    let mut img = Image::new(debian_platform(debarch));
    for l in root.layers() {
        img = img.layer(l);
    }
    img
}

/// jq as `apt-get install jq` leaves it, in a layer of its own on the base.
fn with_jq(root: DebRoot, jq_arch: &str) -> DebRoot {
    let libs = root.debarch().to_string();
    root.next_layer()
        .install_from("jq", jq_arch)
        .install_from("libjq1", &libs)
        .install_from("libonig5", &libs)
}

/// python3 (`python3 -> python3.11`), the interpreter of `python3_arch`.
fn with_python(root: DebRoot, python3_arch: &str) -> DebRoot {
    root.next_layer()
        .install("python3-minimal")
        .install_from("python3.11-minimal", python3_arch)
}

/// The checks with this role.
fn role(p: &Value, role: &str) -> Vec<Value> {
    checks(p)
        .into_iter()
        .filter(|c| c["role"] == role)
        .collect()
}

/// The only check with this role.
fn one(p: &Value, r: &str, run: &Run) -> Value {
    let c = role(p, r);
    assert_eq!(c.len(), 1, "expected one {r} check\n{run}");
    c[0].clone()
}

/// Whether `chain` holds `want` in this order (other hops may sit between).
fn chain_has(check: &Value, want: &[&str]) -> bool {
    let chain: Vec<&str> = check["chain"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut it = chain.iter();
    want.iter().all(|w| it.any(|c| c == w))
}

/// Every message and hint of a platform report, lowercased, for "the report
/// says why" assertions that do not care where it is said.
fn said(p: &Value) -> String {
    let mut s = format!("{} {}", p["message"], p["hint"]);
    for c in checks(p) {
        s.push_str(&format!(" {}", c["message"]));
    }
    s.to_lowercase()
}

// ---- merged /usr, the glibc loader and jq ---------------------------------------------

#[test]
fn jq_through_path_on_merged_usr_passes() {
    for debarch in APP_ARCHES {
        let img = image(debarch, with_jq(DebRoot::base(debarch), debarch))
            .entrypoint(&["jq", "--version"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        assert_eq!(p["resolved"], "/usr/bin/jq", "{debarch}\n{run}");
        // the loader as libc6 ships it, found through the merged links:
        // /lib64 -> usr/lib64 (or /lib -> usr/lib), then libc6's own link
        let loader = one(&p, "loader", &run);
        assert_eq!(loader["path"], glibc_loader(debarch), "{debarch}\n{run}");
        assert_eq!(loader["verdict"], "pass", "{debarch}\n{run}");
        let real = format!(
            "/usr/lib/{}/{}",
            multiarch(debarch),
            glibc_loader(debarch).rsplit('/').next().unwrap()
        );
        assert_eq!(loader["resolved"], real.as_str(), "{debarch}\n{run}");
    }
}

#[test]
fn jq_on_a_root_without_merged_usr_passes() {
    for debarch in ["amd64", "arm64"] {
        let root = DebRoot::split(debarch)
            .install("libc6")
            .install("dash")
            .install("coreutils");
        let img = image(debarch, with_jq(root, debarch)).entrypoint(&["jq", "--version"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        assert_eq!(p["resolved"], "/usr/bin/jq", "{debarch}\n{run}");
    }
}

#[test]
fn jq_of_another_arch_is_arch_mismatch() {
    // (image, jq): the amd64 jq in an arm64 image, and two more pairs
    for (debarch, jq_arch) in [("arm64", "amd64"), ("amd64", "arm64"), ("armhf", "arm64")] {
        let img = image(debarch, with_jq(DebRoot::base(debarch), jq_arch))
            .entrypoint(&["jq", "--version"]);
        let run = check_image(img, &[]);
        let p = run.expect(1, "fail", "arch-mismatch");
        let ep = one(&p, "entrypoint", &run);
        assert_eq!(ep["resolved"], "/usr/bin/jq", "{debarch}\n{run}");
        assert_eq!(ep["reason"], "arch-mismatch", "{debarch}\n{run}");
    }
}

#[test]
fn jq_without_libc6_is_loader_missing() {
    for debarch in ["amd64", "arm64"] {
        // merged /usr, jq and its libraries, no libc6: nothing at PT_INTERP
        let img = image(debarch, with_jq(DebRoot::merged(debarch), debarch))
            .entrypoint(&["jq", "--version"]);
        let run = check_image(img, &[]);
        let p = run.expect(1, "fail", "loader-missing");
        let loader = one(&p, "loader", &run);
        assert_eq!(loader["path"], glibc_loader(debarch), "{debarch}\n{run}");
        assert!(
            said(&p).contains("glibc"),
            "{debarch}: hint names glibc\n{run}"
        );
    }
}

// ---- python3 -------------------------------------------------------------------------

const RUN_PY: &str = "#!/usr/bin/env python3\nprint('hello')\n";

#[test]
fn script_with_env_python3_passes() {
    for debarch in APP_ARCHES {
        let root = with_python(DebRoot::base(debarch), debarch)
            .next_layer()
            .script("app/run.py", RUN_PY);
        let img = image(debarch, root).entrypoint(&["/app/run.py"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        let interp = role(&p, "interpreter");
        let env = interp
            .iter()
            .find(|c| c["path"] == "/usr/bin/env")
            .unwrap_or_else(|| panic!("{debarch}: /usr/bin/env is checked\n{run}"));
        assert_eq!(env["resolved"], "/usr/bin/env", "{debarch}\n{run}");
        let py = interp
            .iter()
            .find(|c| c["resolved"] == "/usr/bin/python3.11")
            .unwrap_or_else(|| panic!("{debarch}: python3 found through PATH\n{run}"));
        assert!(
            chain_has(py, &["/usr/bin/python3", "/usr/bin/python3.11"]),
            "{debarch}: the chain shows python3 -> python3.11\n{run}"
        );
    }
}

#[test]
fn script_with_env_python3_of_another_arch_fails() {
    let root = with_python(DebRoot::base("arm64"), "amd64")
        .next_layer()
        .script("app/run.py", RUN_PY);
    let img = image("arm64", root).entrypoint(&["/app/run.py"]);
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    let bad = find_check(&p, "interpreter", "fail")
        .unwrap_or_else(|| panic!("the interpreter check fails\n{run}"));
    assert_eq!(bad["resolved"], "/usr/bin/python3.11", "{run}");
    assert_eq!(bad["reason"], "arch-mismatch", "{run}");
}

#[test]
fn python3_with_an_executable_script_without_shebang_passes() {
    // issue 8 item 6: /app/main.py is 0755 with no #!: python3 reads it as
    // data, Docker runs it fine
    for debarch in ["amd64", "arm64"] {
        let root = with_python(DebRoot::base(debarch), debarch)
            .next_layer()
            .file("app/main.py", b"print('hello')\n".to_vec(), 0o755);
        let img = image(debarch, root).entrypoint(&["python3", "/app/main.py"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        assert_eq!(p["resolved"], "/usr/bin/python3.11", "{debarch}\n{run}");
    }
}

#[test]
fn python3_of_another_arch_with_a_script_argument_fails() {
    let root = with_python(DebRoot::base("arm64"), "amd64")
        .next_layer()
        .file("app/main.py", b"print('hello')\n".to_vec(), 0o644);
    let img = image("arm64", root).entrypoint(&["python3", "/app/main.py"]);
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    assert_eq!(p["resolved"], "/usr/bin/python3.11", "{run}");
}

// ---- Java behind update-alternatives ------------------------------------------------------

/// openjdk-17's launcher of `java_arch` with the links update-alternatives
/// makes at install time, and /app/app.jar (mode 0755, a zip).
fn java_root(debarch: &str, java_arch: &str) -> DebRoot {
    let java = format!("{}/bin/java", java_home(java_arch));
    DebRoot::base(debarch)
        .next_layer()
        .install_from("openjdk-17-jre-headless", java_arch)
        .alternative("/usr/bin/java", "java", &java)
        .next_layer()
        .file("app/app.jar", jar(), 0o755)
}

#[test]
fn java_jar_through_the_alternatives_links_passes() {
    // issue 8 item 6: the 0755 jar is an argument, not a program
    for debarch in JAVA_ARCHES {
        let img =
            image(debarch, java_root(debarch, debarch)).cmd(&["java", "-jar", "/app/app.jar"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        let java = format!("{}/bin/java", java_home(debarch));
        assert_eq!(p["resolved"], java.as_str(), "{debarch}\n{run}");
    }
}

#[test]
fn java_of_another_arch_fails_and_shows_the_alternatives_chain() {
    let img = image("arm64", java_root("arm64", "amd64")).cmd(&["java", "-version"]);
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    let java = format!("{}/bin/java", java_home("amd64"));
    assert_eq!(p["resolved"], java.as_str(), "{run}");
    let ep = one(&p, "entrypoint", &run);
    assert!(
        chain_has(
            &ep,
            &["/usr/bin/java", "/etc/alternatives/java", java.as_str()]
        ),
        "the chain shows the three links\n{run}"
    );
}

#[test]
fn java_jar_of_another_arch_fails() {
    // the jar argument must not hide the wrong launcher, today or after item 6
    let img = image("amd64", java_root("amd64", "arm64")).cmd(&["java", "-jar", "/app/app.jar"]);
    let run = check_image(img, &[]);
    let p = run.platform();
    assert_eq!(
        (run.code, p["verdict"].as_str()),
        (1, Some("fail")),
        "{run}"
    );
    let ep = one(&p, "entrypoint", &run);
    assert_eq!(ep["reason"], "arch-mismatch", "{run}");
}

// ---- node ------------------------------------------------------------------------------

fn node_root(debarch: &str, node_arch: &str, server_mode: u32) -> DebRoot {
    DebRoot::base(debarch)
        .next_layer()
        .install_from("nodejs", node_arch)
        .next_layer()
        .file(
            "app/server.js",
            b"require('http').createServer((q, r) => r.end('ok')).listen(8080);\n".to_vec(),
            server_mode,
        )
}

#[test]
fn node_server_passes() {
    for debarch in APP_ARCHES {
        let img =
            image(debarch, node_root(debarch, debarch, 0o644)).cmd(&["node", "/app/server.js"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        assert_eq!(p["resolved"], "/usr/bin/node", "{debarch}\n{run}");
    }
}

#[test]
fn node_with_an_executable_script_argument_passes() {
    // issue 8 item 6: server.js 0755 without #! is data to node
    let img = image("arm64", node_root("arm64", "arm64", 0o755)).cmd(&["node", "/app/server.js"]);
    check_image(img, &[]).expect(0, "pass", "match");
}

#[test]
fn node_of_another_arch_fails() {
    for (debarch, node_arch) in [("arm64", "amd64"), ("armhf", "arm64")] {
        let img =
            image(debarch, node_root(debarch, node_arch, 0o644)).cmd(&["node", "/app/server.js"]);
        let run = check_image(img, &[]);
        let p = run.expect(1, "fail", "arch-mismatch");
        assert_eq!(p["resolved"], "/usr/bin/node", "{debarch}\n{run}");
    }
}

// ---- musl -------------------------------------------------------------------------------

/// The musl hello of `prog_arch` at /app/hello.
fn with_musl_hello(root: DebRoot, prog_arch: &str) -> DebRoot {
    root.next_layer()
        .file_from("app/hello", musl_hello(prog_arch), 0o755)
}

#[test]
fn musl_program_with_the_musl_loader_passes() {
    for debarch in MUSL_ARCHES {
        let root = DebRoot::merged(debarch).install("musl");
        let img = image(debarch, with_musl_hello(root, debarch)).entrypoint(&["/app/hello"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        let loader = one(&p, "loader", &run);
        assert_eq!(loader["path"], musl_loader(debarch), "{debarch}\n{run}");
        // /lib/ld-musl-*.so.1 -> <triplet>-linux-musl/libc.so, under /usr/lib
        let libc = format!(
            "/usr/lib/{}-linux-musl/libc.so",
            multiarch(debarch).split('-').next().unwrap()
        );
        assert_eq!(loader["resolved"], libc.as_str(), "{debarch}\n{run}");
    }
}

#[test]
fn musl_program_beside_glibc_with_the_musl_loader_passes() {
    // Debian's musl package next to libc6, as `apt-get install musl` does
    let root = DebRoot::base("amd64").next_layer().install("musl");
    let img = image("amd64", with_musl_hello(root, "amd64")).entrypoint(&["/app/hello"]);
    check_image(img, &[]).expect(0, "pass", "match");
}

#[test]
fn musl_program_in_a_glibc_only_image_is_loader_missing() {
    for debarch in MUSL_ARCHES {
        let img = image(debarch, with_musl_hello(DebRoot::base(debarch), debarch))
            .entrypoint(&["/app/hello"]);
        let run = check_image(img, &[]);
        let p = run.expect(1, "fail", "loader-missing");
        let loader = one(&p, "loader", &run);
        assert_eq!(loader["path"], musl_loader(debarch), "{debarch}\n{run}");
        assert!(
            said(&p).contains("musl"),
            "{debarch}: the hint names musl\n{run}"
        );
    }
}

#[test]
fn musl_program_of_another_arch_fails() {
    for (debarch, prog_arch) in [("arm64", "amd64"), ("amd64", "arm64")] {
        let root = DebRoot::merged(debarch).install("musl");
        let img = image(debarch, with_musl_hello(root, prog_arch)).entrypoint(&["/app/hello"]);
        let run = check_image(img, &[]);
        let p = run.expect(1, "fail", "arch-mismatch");
        assert_eq!(p["resolved"], "/app/hello", "{debarch}\n{run}");
    }
}

// ---- tini ------------------------------------------------------------------------------

/// tini (of `tini_arch`) and jq's libraries; `/app/server` is the jq of
/// `server_arch`, `/usr/bin/jq` the jq of `jq_arch`.
fn tini_root(debarch: &str, tini_arch: &str, server_arch: &str, jq_arch: &str) -> DebRoot {
    with_jq(DebRoot::base(debarch), jq_arch)
        .install_from("tini", tini_arch)
        .next_layer()
        .file_from(
            "app/server",
            pkg_file(server_arch, "jq", "usr/bin/jq"),
            0o755,
        )
}

const TINI: &[&str] = &["/usr/bin/tini-static", "--"];

#[test]
fn tini_static_with_a_server_passes() {
    for debarch in APP_ARCHES {
        let img = image(debarch, tini_root(debarch, debarch, debarch, debarch))
            .entrypoint(TINI)
            .cmd(&["/app/server"]);
        let run = check_image(img, &[]);
        let p = run.expect(0, "pass", "match");
        let ep = one(&p, "entrypoint", &run);
        assert_eq!(ep["resolved"], "/usr/bin/tini-static", "{debarch}\n{run}");
        assert!(
            checks(&p)
                .iter()
                .any(|c| c["resolved"] == "/app/server" && c["verdict"] == "pass"),
            "{debarch}: /app/server is checked\n{run}"
        );
    }
}

#[test]
fn tini_static_with_a_server_of_another_arch_fails() {
    let img = image("arm64", tini_root("arm64", "arm64", "amd64", "arm64"))
        .entrypoint(TINI)
        .cmd(&["/app/server"]);
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    let bad = find_check(&p, "argument", "fail")
        .unwrap_or_else(|| panic!("the server check fails\n{run}"));
    assert_eq!(bad["resolved"], "/app/server", "{run}");
}

#[test]
fn tini_static_with_a_program_by_bare_name_of_another_arch_fails() {
    // issue 8 item 8: the program after `--` is found through PATH and judged
    let img = image("arm64", tini_root("arm64", "arm64", "arm64", "amd64"))
        .entrypoint(TINI)
        .cmd(&["jq", "--version"]);
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    let bad = checks(&p)
        .into_iter()
        .find(|c| (c["role"] == "argument" || c["role"] == "command") && c["verdict"] == "fail")
        .unwrap_or_else(|| panic!("the wrapped program's check fails\n{run}"));
    assert_eq!(bad["resolved"], "/usr/bin/jq", "{run}");
    assert_eq!(bad["reason"], "arch-mismatch", "{run}");
}

#[test]
fn tini_static_with_a_program_by_bare_name_passes() {
    let img = image("arm64", tini_root("arm64", "arm64", "arm64", "arm64"))
        .entrypoint(TINI)
        .cmd(&["jq", "--version"]);
    check_image(img, &[]).expect(0, "pass", "match");
}

#[test]
fn tini_static_of_another_arch_fails() {
    for (debarch, tini_arch) in [("arm64", "amd64"), ("armhf", "arm64")] {
        let img = image(debarch, tini_root(debarch, tini_arch, debarch, debarch))
            .entrypoint(TINI)
            .cmd(&["/app/server"]);
        let run = check_image(img, &[]);
        let p = run.expect(1, "fail", "arch-mismatch");
        let ep = one(&p, "entrypoint", &run);
        assert_eq!(ep["resolved"], "/usr/bin/tini-static", "{debarch}\n{run}");
        assert_eq!(ep["reason"], "arch-mismatch", "{debarch}\n{run}");
    }
}

#[test]
fn tini_dynamic_passes_and_needs_glibc() {
    let img = image("arm64", tini_root("arm64", "arm64", "arm64", "arm64"))
        .entrypoint(&["/usr/bin/tini", "--"])
        .cmd(&["/app/server"]);
    check_image(img, &[]).expect(0, "pass", "match");
    // tini-static runs without libc6; the dynamic tini does not
    let root = DebRoot::merged("arm64").install("tini");
    let img = image("arm64", root).entrypoint(&["/usr/bin/tini", "--"]);
    check_image(img, &[]).expect(1, "fail", "loader-missing");
}

// ---- CRLF line endings ----------------------------------------------------------------------

#[test]
fn crlf_sh_script_is_not_found_with_a_crlf_hint() {
    // issue 8 item 2: the kernel looks for "/bin/sh\r"
    let root = DebRoot::base("arm64")
        .next_layer()
        .script("app/run.sh", "#!/bin/sh\r\necho hello\r\n");
    let img = image("arm64", root).entrypoint(&["/app/run.sh"]);
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "not-found");
    assert!(said(&p).contains("crlf"), "the hint names CRLF\n{run}");
}

#[test]
fn crlf_env_python3_script_fails() {
    // issue 8 item 2: env gets "python3\r", which is nowhere in PATH
    let root = with_python(DebRoot::base("arm64"), "arm64")
        .next_layer()
        .script("app/run.py", "#!/usr/bin/env python3\r\nprint('hello')\r\n");
    let img = image("arm64", root).entrypoint(&["/app/run.py"]);
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "not-found");
    assert!(said(&p).contains("crlf"), "the hint names CRLF\n{run}");
}

// ---- the official-image pattern: an entrypoint script ending in exec "$@" ---------------------

const DOCKER_ENTRYPOINT: &str = "#!/bin/sh\nset -e\n\n\
# first arg is `-f` or `--some-option`\n\
if [ \"${1#-}\" != \"$1\" ]; then\n\tset -- jq \"$@\"\nfi\n\nexec \"$@\"\n";

fn entrypoint_script_image(debarch: &str, jq_arch: &str) -> Image {
    let root = with_jq(DebRoot::base(debarch), jq_arch)
        .next_layer()
        .script("usr/local/bin/docker-entrypoint.sh", DOCKER_ENTRYPOINT);
    image(debarch, root)
        .entrypoint(&["docker-entrypoint.sh"])
        .cmd(&["jq"])
}

#[test]
fn entrypoint_script_running_cmd_passes() {
    for debarch in ["amd64", "arm64"] {
        let run = check_image(entrypoint_script_image(debarch, debarch), &[]);
        let p = run.expect(0, "pass", "match");
        assert_eq!(
            p["resolved"], "/usr/local/bin/docker-entrypoint.sh",
            "{debarch}\n{run}"
        );
        let sh = find_check(&p, "interpreter", "pass")
            .unwrap_or_else(|| panic!("{debarch}: /bin/sh is checked\n{run}"));
        assert_eq!(sh["resolved"], "/usr/bin/dash", "{debarch}\n{run}");
    }
}

#[test]
fn entrypoint_script_running_cmd_of_another_arch_fails() {
    // issue 8 item 8: CMD[0] is what `exec "$@"` runs: found through PATH,
    // judged with role `command`
    let run = check_image(entrypoint_script_image("arm64", "amd64"), &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    let bad = find_check(&p, "command", "fail")
        .unwrap_or_else(|| panic!("a `command` check fails\n{run}"));
    assert_eq!(bad["resolved"], "/usr/bin/jq", "{run}");
}

// ---- peak RSS helper ------------------------------------------------------------------------

/// Set in the environment of `rss_child_allocates` when it is the child.
const ALLOC_ENV: &str = "ARCHGATE_TEST_ALLOC_MIB";

/// The child of the RSS tests: allocates and touches `ALLOC_ENV` MiB. Does
/// nothing as an ordinary test.
#[test]
fn rss_child_allocates() {
    let Some(mib) = std::env::var(ALLOC_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let v = vec![1u8; mib << 20];
    assert!(std::hint::black_box(&v)
        .iter()
        .step_by(4096)
        .all(|b| *b == 1));
}

/// This test binary as a child allocating `mib` MiB.
fn allocating_child(mib: usize) -> Measured {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    // the test's name in this binary: its module path without the crate's
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::rss_child_allocates");
    cmd.args(["--exact", &name, "--nocapture", "-q"])
        .env(ALLOC_ENV, mib.to_string());
    let m = run_measured(&mut cmd);
    assert_eq!(m.code, 0, "{}", String::from_utf8_lossy(&m.stderr));
    eprintln!(
        "child allocating {mib} MiB: peak RSS {} KiB (floor {} KiB)",
        m.peak_rss_kib, m.floor_kib
    );
    m
}

#[test]
fn peak_rss_of_a_child_allocating_200_mib_is_over_64_mib() {
    let m = allocating_child(200);
    assert!(
        m.peak_rss_kib > 200 * 1024,
        "measured {} KiB for a child that touched 200 MiB",
        m.peak_rss_kib
    );
    let small = allocating_child(0);
    assert!(
        small.peak_rss_kib < 64 * 1024,
        "measured {} KiB for a child that allocated nothing",
        small.peak_rss_kib
    );
}

#[test]
fn peak_rss_is_the_childs_own_not_this_processs() {
    // this process holds 256 MiB: a child started from it directly would be
    // measured at least that big (exec folds the old memory's peak in)
    let big = vec![1u8; 256 << 20];
    let m = allocating_child(0);
    assert_eq!(std::hint::black_box(&big)[big.len() / 3], 1);
    assert!(
        m.peak_rss_kib < 64 * 1024,
        "measured {} KiB (floor {} KiB) for a child that allocated nothing",
        m.peak_rss_kib,
        m.floor_kib
    );
}

#[test]
fn tampered_layer_is_undecided_in_little_memory() {
    let t = tmp();
    let img = image("arm64", with_jq(DebRoot::base("arm64"), "arm64")).entrypoint(&["jq"]);
    let w = Layout::single(img).write_dir(t.path().join("img"));
    let top = w.manifests[0].layer_digests.last().unwrap().clone();
    tamper_blob(&w.path, &top);
    let r = format!("oci:{}", w.path.display());
    let run = Archgate::new(&["check", "--format", "json", &r])
        .measure_rss()
        .run();
    assert_eq!(run.code, 2, "{run}");
    eprintln!(
        "peak RSS {:.1} MiB (floor {:.1} MiB)",
        run.peak_rss_mib(),
        run.rss().floor_kib as f64 / 1024.0
    );
    run.expect_peak_rss_under(64);
}

// ---- a jar --------------------------------------------------------------------------------

/// A real jar: a zip (stored, no compression) holding only a manifest.
fn jar() -> Vec<u8> {
    let name = b"META-INF/MANIFEST.MF";
    let data = b"Manifest-Version: 1.0\r\nMain-Class: App\r\n\r\n";
    let crc = crc32(data);
    let mut z = Vec::new();
    let le16 = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let le32 = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    // local file header (APPNOTE.TXT 4.3.7)
    le32(&mut z, 0x0403_4b50);
    for v in [20u16, 0, 0, 0, 0x21] {
        le16(&mut z, v); // version, flags, stored, time, date 1980-01-01
    }
    le32(&mut z, crc);
    le32(&mut z, data.len() as u32);
    le32(&mut z, data.len() as u32);
    le16(&mut z, name.len() as u16);
    le16(&mut z, 0);
    z.extend_from_slice(name);
    z.extend_from_slice(data);
    // central directory header (4.3.12)
    let cd = z.len() as u32;
    le32(&mut z, 0x0201_4b50);
    for v in [20u16, 20, 0, 0, 0, 0x21] {
        le16(&mut z, v);
    }
    le32(&mut z, crc);
    le32(&mut z, data.len() as u32);
    le32(&mut z, data.len() as u32);
    for v in [name.len() as u16, 0, 0, 0, 0] {
        le16(&mut z, v); // name, extra, comment, disk, internal attributes
    }
    le32(&mut z, 0); // external attributes
    le32(&mut z, 0); // offset of the local header
    z.extend_from_slice(name);
    // end of central directory (4.3.16)
    let cd_len = z.len() as u32 - cd;
    le32(&mut z, 0x0605_4b50);
    for v in [0u16, 0, 1, 1] {
        le16(&mut z, v);
    }
    le32(&mut z, cd_len);
    le32(&mut z, cd);
    le16(&mut z, 0);
    z
}

/// CRC-32 (IEEE 802.3, reflected), as zip stores it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn jar_is_a_zip() {
    let j = jar();
    assert_eq!(&j[..4], b"PK\x03\x04");
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926); // the standard check value
    assert_eq!(&j[j.len() - 22..j.len() - 18], b"PK\x05\x06");
}
