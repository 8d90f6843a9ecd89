//! Red-team findings: inputs where archgate's verdict differed from what
//! Linux, runc, Docker and the shells/wrappers really do. Every test here
//! failed on the engine as it was when it was written (commit a52af36); each
//! is now the regression test of its fix, named after what broke. A test's
//! comment says what the engine did then ("FALSE PASS", "FALSE FAIL") and
//! what it does now ("Now:").
//!
//! Where the real behaviour can be shown on this machine, the test shows it
//! first (a raw execve of the test's own files, or this machine's dash, bash,
//! GNU env, or the fixture busybox) and only then asks archgate; where it
//! cannot (Docker's daemon code, tini/qemu binaries that are not fixtures),
//! the comment says where the behaviour comes from and how it was checked by
//! hand. Nothing from an image is ever run.

use crate::common;

use archgate::inspect::{inspect, ImageConfig, Platform, Reason, Verdict};
use archgate::rootfs::mem::MemFs;
use common::*;
use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

const AMD64: &str = "linux/amd64";

extern "C" {
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char)
        -> c_int;
}

/// Tests that write files and exec them run one at a time (another test's
/// fork could hold a just-written file open: ETXTBSY).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const E2BIG: i32 = 7;
const EACCES: i32 = 13;
const ETXTBSY: i32 = 26;
const ELIBBAD: i32 = 80;

/// A raw execve(2) of `path` with this argv and envp, from `cwd`, as `uid`
/// when given: `None` when the exec succeeded, else its errno. No libc
/// retry through /bin/sh.
fn raw_exec(
    path: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    cwd: &Path,
    uid: Option<u32>,
) -> Option<i32> {
    for _ in 0..50 {
        let c = CString::new(path).unwrap();
        let args: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
        let envs: Vec<CString> = envp.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut cmd = Command::new("/nonexistent-archgate-placeholder");
        cmd.current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(u) = uid {
            cmd.gid(u).uid(u);
        }
        // SAFETY: only execve and errno between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut a: Vec<*const c_char> = args.iter().map(|s| s.as_ptr()).collect();
                a.push(std::ptr::null());
                let mut e: Vec<*const c_char> = envs.iter().map(|s| s.as_ptr()).collect();
                e.push(std::ptr::null());
                execve(c.as_ptr(), a.as_ptr(), e.as_ptr());
                Err(std::io::Error::last_os_error())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                child.wait().unwrap();
                return None;
            }
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => return Some(e.raw_os_error().expect("an errno")),
        }
    }
    panic!("still ETXTBSY");
}

/// Run a host program; its exit code and stderr.
fn host_run(cmd: &mut Command) -> (i32, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A temp dir every user can enter.
fn open_tmp() -> tempfile::TempDir {
    let t = tempfile::Builder::new()
        .prefix("redteam")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}

fn write_exec(p: &Path, data: &[u8], mode: u32) {
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The amd64 glibc loader, as Debian lays it out (a link into the triplet dir).
fn glibc_ld_layer(l: Layer) -> Layer {
    add_from_root(l, &deb_root("amd64"), "lib64/ld-linux-x86-64.so.2")
}

/// This machine's dash as /usr/bin/dash and /bin/sh -> it (Debian's layout),
/// with its loader: an image whose /bin/sh is dash.
fn dash_layer() -> Layer {
    glibc_ld_layer(
        Layer::new()
            .file_from("usr/bin/dash", "/usr/bin/dash")
            .symlink("bin/sh", "/usr/bin/dash"),
    )
}

/// A copy of `elf` whose first PT_INTERP names `interp` (NUL added),
/// appended at the end of the file; ELF32 and ELF64, little-endian.
fn with_interp(elf: &[u8], interp: &[u8]) -> Vec<u8> {
    let e = goblin::elf::Elf::parse(elf).unwrap();
    assert!(e.little_endian);
    let idx = e
        .program_headers
        .iter()
        .position(|p| p.p_type == goblin::elf::program_header::PT_INTERP)
        .expect("a dynamically linked ELF");
    let mut out = elf.to_vec();
    let off = out.len() as u64;
    out.extend_from_slice(interp);
    out.push(0);
    let len = interp.len() as u64 + 1;
    let ph = e.header.e_phoff as usize + idx * e.header.e_phentsize as usize;
    if e.is_64 {
        out[ph + 8..ph + 16].copy_from_slice(&off.to_le_bytes());
        out[ph + 32..ph + 40].copy_from_slice(&len.to_le_bytes());
    } else {
        out[ph + 4..ph + 8].copy_from_slice(&(off as u32).to_le_bytes());
        out[ph + 16..ph + 20].copy_from_slice(&(len as u32).to_le_bytes());
    }
    out
}

fn engine(config: &ImageConfig, platform: &str, fs: &MemFs) -> archgate::inspect::PlatformReport {
    let p = Platform::parse(platform).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(inspect(config, &p, fs))
        .unwrap()
}

fn verdict_of(run: &Run) -> (i32, String, String) {
    let p = run.platform();
    (
        run.code,
        p["verdict"].as_str().unwrap_or("?").to_string(),
        p["reason"].as_str().unwrap_or("?").to_string(),
    )
}

// ===========================================================================
// FALSE PASSES: the container dies on the node, archgate passes it.
// ===========================================================================

/// FALSE PASS. tini parses its options with glibc `getopt`, which PERMUTES:
/// without `--`, the program's own options are taken for tini's, and an
/// option tini does not know makes it print its usage and exit 1 before it
/// runs anything. So `ENTRYPOINT ["tini"]` + `CMD ["node",
/// "--max-old-space-size=4096", "/app/server.js"]` never starts node
/// (krallin/tini src/tini.c `parse_args`: `getopt(argc, argv, "p:hvwgle:s")`).
///
/// Checked by hand with Debian 12's tini 0.19.0-1+b3 (glibc-linked, PT_INTERP
/// /lib64/ld-linux-x86-64.so.2) and its tini-static, `apt-get download`ed and
/// run on this machine: `tini -s /bin/echo -n hi` -> "invalid option -- 'n'",
/// exit 1; `tini -s /bin/echo --max=1 x` -> "invalid option -- '-'", exit 1;
/// `tini -s -- /bin/echo -n hi` prints "hi". Debian's catatonit 0.1.7 does the
/// same (`catatonit /bin/echo -n hi` -> "invalid option -- 'n'", exit 1).
/// archgate's tini grammar stops at the first non-option and judges `node`.
/// (musl's getopt does not permute: Alpine's tini is fine; archgate knows the
/// libc from PT_INTERP.) The tini here is a glibc-linked ELF, as Debian's.
/// Now: glibc's getopt is followed (bad-invocation); `--` first, or
/// POSIXLY_CORRECT in Env, leaves the options to node.
#[test]
fn tini_with_glibc_getopt_eats_the_programs_options_and_exits() {
    let root = deb_root("amd64");
    let layer = glibc_ld_layer(add_from_root(Layer::new(), &root, "usr/bin/hello"))
        .symlink("usr/bin/tini", "hello")
        .file_from("usr/local/bin/node", busybox("amd64"));
    let img = Image::new(AMD64)
        .entrypoint(&["/usr/bin/tini"])
        .cmd(&["node", "--max-old-space-size=4096", "/app/server.js"])
        .layer(layer);
    let run = check_image(img.clone(), &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "bad-invocation".into()),
        "glibc tini exits 1 on `--max-old-space-size=4096` (invalid option -- '-'): node never runs\n{run}"
    );
    let layer = || {
        glibc_ld_layer(add_from_root(Layer::new(), &root, "usr/bin/hello"))
            .symlink("usr/bin/tini", "hello")
            .file_from("usr/local/bin/node", busybox("amd64"))
    };
    let img = Image::new(AMD64)
        .entrypoint(&["/usr/bin/tini", "--"])
        .cmd(&["node", "--max-old-space-size=4096", "/app/server.js"])
        .layer(layer());
    check_image(img, &[]).expect(0, "pass", "match");
    let img = Image::new(AMD64)
        .entrypoint(&["/usr/bin/tini"])
        .cmd(&["node", "--max-old-space-size=4096", "/app/server.js"])
        .env(Some(&["POSIXLY_CORRECT=1"]))
        .layer(layer());
    check_image(img, &[]).expect(0, "pass", "match");
}

/// FALSE PASS. Debian's and Ubuntu's /bin/sh is dash 0.5.12, which has no
/// `pipefail` option: `sh -o pipefail -c CMD` prints "Illegal option -o
/// pipefail" and exits 2 without running CMD. archgate's shell grammar takes
/// any `-o NAME` and judges CMD. Shown here with this machine's dash. Now:
/// `-o` names that not every release knows are looked for in the shell
/// binary's option table (this dash has no "pipefail").
#[test]
fn dash_refuses_o_pipefail_before_running_the_string() {
    let (code, err) =
        host_run(Command::new("/usr/bin/dash").args(["-o", "pipefail", "-c", "true"]));
    assert_eq!(code, 2, "this machine's dash: {err}");
    assert!(err.contains("Illegal option -o pipefail"), "{err}");

    let img = Image::new(AMD64)
        .cmd(&["/bin/sh", "-o", "pipefail", "-c", "exec app --serve"])
        .layer(dash_layer().file_from("usr/local/bin/app", busybox("amd64")));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "bad-invocation".into()),
        "dash exits 2 on -o pipefail: app never runs\n{run}"
    );
}

/// FALSE PASS. The kernel hands everything after the `#!` interpreter name
/// to it as ONE argument, so `#!/bin/sh -e -x` runs `sh "-e -x" script`, and
/// both dash ("Illegal option - ", exit 2) and bash ("- : invalid option")
/// die before reading the script. archgate notes "the shell does not take
/// the option" and passes. Shown here: the same script on this machine.
#[test]
fn shebang_with_two_shell_options_in_one_argument_dies() {
    let _s = serial();
    let t = open_tmp();
    let script = b"#!/bin/sh -e -x\nexec /bin/true\n";
    let p = t.path().join("entrypoint.sh");
    write_exec(&p, script, 0o755);
    let (code, err) = host_run(&mut Command::new(&p));
    assert_eq!(code, 2, "this machine's /bin/sh (dash): {err}");
    assert!(err.contains("Illegal option"), "{err}");

    let img = Image::new(AMD64).entrypoint(&["/entrypoint.sh"]).layer(
        dash_layer()
            .file("entrypoint.sh", script.to_vec(), 0o755)
            .file_from("bin/true", busybox("amd64")),
    );
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "bad-invocation".into()),
        "sh \"-e -x\" exits 2: the entrypoint never runs\n{run}"
    );
}

/// FALSE PASS. `["/bin/sh", "/app"]` with /app an ELF binary of the right
/// architecture: the shell READS /app as a script (it is never exec'd), and
/// dash stops with a syntax error (exit 2), bash with "cannot execute binary
/// file" (126), busybox ash with a syntax error (2). archgate says "a binary
/// handed to a shell: judged like any binary argument" and passes it.
/// Shown here with this machine's dash and bash on /bin/true.
#[test]
fn shell_given_an_elf_as_its_script_cannot_run_it() {
    let (code, err) = host_run(Command::new("/usr/bin/dash").arg("/bin/true"));
    assert_eq!(code, 2, "dash /bin/true: {err}");
    let (code, err) = host_run(Command::new("/bin/bash").arg("/bin/true"));
    assert_eq!(code, 126, "bash /bin/true: {err}");

    let img = Image::new(AMD64)
        .entrypoint(&["/bin/sh", "/app"])
        .layer(dash_layer().file_from("app", busybox("amd64")));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "not-a-program".into()),
        "sh reads the ELF /app as shell text and fails: nothing runs\n{run}"
    );
}

/// FALSE PASS. execve(2) refuses any single argv or environment string of
/// MAX_ARG_STRLEN (32 pages = 131072 bytes, counting its NUL) or more with
/// E2BIG, so runc's exec of the entrypoint fails ("argument list too long").
/// An inlined `sh -c` script or an Env value of 128 KiB is enough. archgate
/// even knows the limit (resolve.rs MAX_ARG_STRLEN, for PATH only) but never
/// fails an image for it. Shown here: the same strings exec'd on this machine.
#[test]
fn argv_or_env_string_of_max_arg_strlen_is_e2big() {
    let _s = serial();
    let big_arg = vec![b'x'; 131072 - 1 + 1]; // strlen 131072: with its NUL, one past the limit
    let big_env = [&b"BLOB="[..], &vec![b'x'; 131072 - 5]].concat();
    let t = open_tmp();
    assert_eq!(
        raw_exec(b"/bin/true", &[b"true", &big_arg], &[], t.path(), None),
        Some(E2BIG),
        "this kernel: a 131072-byte argument"
    );
    assert_eq!(
        raw_exec(b"/bin/true", &[b"true"], &[&big_env], t.path(), None),
        Some(E2BIG),
        "this kernel: a 131072-byte environment string"
    );
    // One byte less runs: the limit is exact.
    assert_eq!(
        raw_exec(b"/bin/true", &[b"true", &big_arg[1..]], &[], t.path(), None),
        None
    );

    let big_arg = String::from_utf8(big_arg).unwrap();
    let big_env = String::from_utf8(big_env).unwrap();
    let mut bad = Vec::new();
    let img = Image::new(AMD64)
        .entrypoint(&["/bin/busybox", "echo", &big_arg])
        .layer(busybox_layer("amd64"));
    let run = check_image(img, &[]);
    if verdict_of(&run) != (1, "fail".into(), "bad-invocation".into()) {
        bad.push(format!(
            "argv string of 131072 bytes: {:?}",
            verdict_of(&run)
        ));
    }
    let img = Image::new(AMD64)
        .entrypoint(&["/bin/busybox", "true"])
        .env(Some(&["PATH=/usr/bin:/bin", &big_env]))
        .layer(busybox_layer("amd64"));
    let run = check_image(img, &[]);
    if verdict_of(&run) != (1, "fail".into(), "bad-invocation".into()) {
        bad.push(format!(
            "Env string of 131072 bytes: {:?}",
            verdict_of(&run)
        ));
    }
    assert!(
        bad.is_empty(),
        "execve gives E2BIG, archgate does not fail:\n{}",
        bad.join("\n")
    );
}

/// FALSE PASS. archgate ignores the image's `User`. With `USER 1000` (the
/// distroless `nonroot` pattern) and `COPY --chmod=0700 app /app` (root-owned,
/// as COPY leaves it), runc's exec as uid 1000 fails with EACCES
/// ("exec /app: permission denied"); archgate only asks "is any x bit set".
/// Shown here: a 0700 root-owned copy of /bin/true exec'd as uid 1000.
#[test]
fn user_without_execute_permission_gets_eacces() {
    let _s = serial();
    let t = open_tmp();
    let app = t.path().join("app");
    write_exec(&app, &std::fs::read("/bin/true").unwrap(), 0o700);
    // SAFETY: getuid has no preconditions.
    let root = unsafe { getuid() } == 0;
    if root {
        assert_eq!(
            raw_exec(
                app.as_os_str().as_bytes(),
                &[b"app"],
                &[],
                t.path(),
                Some(1000)
            ),
            Some(EACCES),
            "this kernel: a 0700 root-owned file exec'd as uid 1000"
        );
    } else {
        eprintln!("not root: the host half of this test needs root to switch to uid 1000");
    }

    let img = Image::new(AMD64)
        .entrypoint(&["/app", "true"])
        .config_field("User", serde_json::json!("1000"))
        .layer(Layer::new().file_from_mode("app", busybox("amd64"), 0o700));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "not-executable".into()),
        "uid 1000 cannot exec a 0700 root-owned /app (EACCES)\n{run}"
    );
}

extern "C" {
    fn getuid() -> u32;
}

/// FALSE PASS (a warn, exit 0). binfmt_elf checks the loader named by
/// PT_INTERP against the MAIN binary's ELF class and machine (a 64-bit main
/// reads the loader as Elf64 and runs `elf_check_arch`; a 32-bit main goes
/// through compat_binfmt_elf), and fails with ELIBBAD when they differ.
/// archgate judges the loader against the platform alone, so:
///  (a) an i386 binary whose /lib/ld-linux.so.2 is a link to the x86-64
///      loader (the "fix" people add for "no such file or directory"):
///      main warns compat-32bit, loader passes -> warn, exit 0;
///  (b) an x86-64 binary whose /lib64/ld-linux-x86-64.so.2 is the i386
///      loader: main passes, loader warns compat-32bit -> warn, exit 0.
/// Both are ELIBBAD on this machine (which does run i386 binaries: the
/// fixture i386 busybox is exec'd first to show it).
#[test]
fn loader_of_another_elf_class_than_the_binary_is_elibbad() {
    let _s = serial();
    let t = open_tmp();
    let i386_root = deb_root("i386");
    assert_eq!(
        raw_exec(
            busybox("i386").as_os_str().as_bytes(),
            &[b"true"],
            &[],
            t.path(),
            None
        ),
        None,
        "this machine runs i386 binaries"
    );
    let ld64 = std::fs::canonicalize("/lib64/ld-linux-x86-64.so.2").unwrap();
    let ld32 = std::fs::canonicalize(i386_root.join("lib/ld-linux.so.2")).unwrap();
    let hello32 = std::fs::read(i386_root.join("usr/bin/hello")).unwrap();
    let true64 = std::fs::read("/bin/true").unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    write_exec(
        &a,
        &with_interp(&hello32, ld64.as_os_str().as_bytes()),
        0o755,
    );
    write_exec(
        &b,
        &with_interp(&true64, ld32.as_os_str().as_bytes()),
        0o755,
    );
    assert_eq!(
        raw_exec(a.as_os_str().as_bytes(), &[b"a"], &[], t.path(), None),
        Some(ELIBBAD),
        "this kernel: i386 binary, x86-64 loader"
    );
    assert_eq!(
        raw_exec(b.as_os_str().as_bytes(), &[b"b"], &[], t.path(), None),
        Some(ELIBBAD),
        "this kernel: x86-64 binary, i386 loader"
    );

    let mut bad = Vec::new();
    // (a) the i386 hello, /lib/ld-linux.so.2 -> the amd64 loader.
    let img = Image::new(AMD64).entrypoint(&["/usr/bin/hello"]).layer(
        glibc_ld_layer(Layer::new().file_from("usr/bin/hello", i386_root.join("usr/bin/hello")))
            .symlink("lib/ld-linux.so.2", "/lib64/ld-linux-x86-64.so.2"),
    );
    let run = check_image(img, &[]);
    if verdict_of(&run) != (1, "fail".into(), "not-a-program".into()) {
        bad.push(format!(
            "i386 binary + x86-64 loader: {:?}",
            verdict_of(&run)
        ));
    }
    // (b) the amd64 hello, its loader path holding the i386 loader.
    let img = Image::new(AMD64).entrypoint(&["/usr/bin/hello"]).layer(
        add_from_root(Layer::new(), &deb_root("amd64"), "usr/bin/hello")
            .file_from("lib64/ld-linux-x86-64.so.2", &ld32),
    );
    let run = check_image(img, &[]);
    if verdict_of(&run) != (1, "fail".into(), "not-a-program".into()) {
        bad.push(format!(
            "x86-64 binary + i386 loader: {:?}",
            verdict_of(&run)
        ));
    }
    assert!(
        bad.is_empty(),
        "the kernel gives ELIBBAD:\n{}",
        bad.join("\n")
    );
}

/// FALSE PASS. In busybox images /usr/bin/env is busybox, and busybox's env
/// has only `-i`, `-0`, `-u` (1.35: "Usage: env [-i0] [-u NAME]... [-]
/// [NAME=VALUE]... [PROG ARGS]"): `#!/usr/bin/env -S sh -e` makes it print
/// "invalid option -- 'S'" and exit 1. archgate applies GNU env's grammar to
/// every program named env, splits "-S sh -e" and judges sh. Shown here with
/// the fixture busybox invoked as env, with the argv the kernel builds. Now:
/// busybox's env has its own grammar, checked here against the fixture on
/// more argv than the finding's.
#[test]
fn busybox_env_has_no_split_string_option() {
    let (code, err) = host_run(
        Command::new(busybox("amd64"))
            .arg0("/usr/bin/env")
            .args(["-S sh -e", "/app.sh"]),
    );
    assert_eq!(code, 1, "busybox env -S: {err}");
    assert!(err.contains("invalid option -- 'S'"), "{err}");

    let img = Image::new(AMD64)
        .entrypoint(&["/app.sh"])
        .layer(busybox_layer("amd64").script("app.sh", "#!/usr/bin/env -S sh -e\necho hi\n"));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "bad-invocation".into()),
        "busybox env rejects -S and exits 1: the script never runs\n{run}"
    );

    // The grammar against the fixture: refused exactly when busybox env
    // exits with its usage.
    use archgate::inspect::exec::{parse_wrapper, Libc, Wrapper, WrapperCtx, WrapperRun};
    let bb = WrapperCtx {
        libc: Libc::Unknown,
        posixly_correct: false,
        busybox: true,
    };
    let mut bad = Vec::new();
    for args in [
        &["-C", "/", "/bin/true"][..],
        &["-v", "/bin/true"],
        &["-i", "/bin/true"],
        &["-0", "/bin/true"],
        &["-iu", "X", "/bin/true"],
        &["--unset=PATH", "/bin/true"],
        &["--ign", "/bin/true"],
        &["--null", "/bin/true"],
        &["--", "/bin/true"],
        &["-", "/bin/true"],
        &["A=1", "/bin/true"],
    ] {
        let (code, err) = host_run(Command::new(busybox("amd64")).arg0("env").args(args));
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let refused = matches!(
            parse_wrapper(Wrapper::Env, &argv, bb),
            WrapperRun::Refused(_)
        );
        if refused != (code != 0) {
            bad.push(format!(
                "env {args:?}: exit {code} ({err}), archgate refuses: {refused}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// FALSE PASS. Docker's environment merge (moby `ReplaceOrAppendEnvValues`,
/// called from `container.CreateDaemonEnvironment`) treats an Env entry
/// without `=` as "unset this variable": image Env `["PATH"]` REMOVES the
/// default PATH. runc's Go `exec.LookPath` then has no PATH and finds no bare
/// name ("executable file not found in $PATH"; notes/exec.md section 4,
/// checked with Go 1.19). archgate's `env_var` skips entries without `=` and
/// uses Docker's default PATH.
#[test]
fn env_entry_without_equals_unsets_path() {
    let img = Image::new(AMD64)
        .entrypoint(&["busybox", "true"])
        .env(Some(&["PATH"]))
        .layer(busybox_layer("amd64"));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "not-found".into()),
        "Docker unsets PATH for Env [\"PATH\"]: runc cannot find `busybox`\n{run}"
    );
}

/// FALSE PASS. `GODEBUG= execerrdot=0` (a blank after `=`, or in a list
/// `a=1, execerrdot=0`) does not turn ErrDot off: Go matches the setting
/// name exactly, blanks included. archgate trims each item. Checked by hand
/// with Go 1.19.8 on this machine: a LookPath("app") program with PATH=.:/bin
/// gives "cannot run executable found relative to current directory" for
/// GODEBUG=' execerrdot=0' and succeeds for GODEBUG='execerrdot=0'.
/// (Also: Go 1.19 takes the FIRST of repeated settings, newer Go the last;
/// archgate takes any.)
#[test]
fn godebug_with_a_blank_before_execerrdot_keeps_errdot() {
    let img = Image::new(AMD64)
        .entrypoint(&["app"])
        .env(Some(&["PATH=.:/usr/bin:/bin", "GODEBUG= execerrdot=0"]))
        .working_dir("/srv")
        .layer(Layer::new().file_from("srv/app", busybox("amd64")));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "not-found".into()),
        "runc's LookPath still refuses ./app (ErrDot)\n{run}"
    );
}

/// FALSE PASS. Docker refuses a relative WorkingDir at container create
/// (moby: "the working directory '%s' is invalid, it needs to be an absolute
/// path"), and runc refuses a relative process cwd; archgate treats it as
/// `/` and passes. (A config field only hand-made or tool-made configs have.)
#[test]
fn relative_working_dir_is_refused_by_the_runtime() {
    let img = Image::new(AMD64)
        .entrypoint(&["/bin/busybox", "true"])
        .working_dir("app")
        .layer(busybox_layer("amd64"));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "bad-invocation".into()),
        "{run}"
    );
}

/// FALSE PASS. archgate follows at most 16 programs through wrappers, then
/// notes and stops, and the platform PASSES: an image can hide a wrong-arch
/// program behind 17 `env`s. Real: GNU env execs env ... execs /opt/app,
/// which is ENOEXEC (glibc execvp then hands it to /bin/sh, which fails).
/// Stopping is fine; passing is not: what was not followed was not judged.
/// Now: 32 programs are followed (the 18 envs are judged), and past that the
/// platform is undecided (exit 2).
#[test]
fn wrapper_chain_past_the_hop_limit_is_judged_or_undecided() {
    let img = |n: usize| {
        let mut argv = vec!["/usr/bin/env"; n];
        argv.push("/opt/app");
        Image::new(AMD64).entrypoint(&argv).layer(
            glibc_ld_layer(Layer::new().file_from("usr/bin/env", "/usr/bin/env"))
                .file_from("opt/app", busybox("arm64")),
        )
    };
    check_image(img(18), &[]).expect(1, "fail", "arch-mismatch");
    check_image(img(40), &[]).expect_undecided(&["more than 32 times"]);
}

/// FALSE PASS (hostile names). data_args skips an argument when an earlier
/// check has the same `resolved` DISPLAY string, and display() is not
/// one-to-one: it writes an invalid byte 0xfe as the four characters `\xfe`,
/// which is also how a file really named `\xfe` (backslash, x, f, e) shows.
/// So an entrypoint resolving to `/x/\xfe` (literal) hides a wrong-arch
/// binary argument resolving to `/x/<0xfe>`: it is never judged. With plain
/// names the same layout fails arch-mismatch, as README's rule ("a wrong-arch
/// /app after any program fails") says. (Dedupe by the path bytes instead.)
/// Now: deduplicated by path bytes.
#[test]
fn binary_argument_displayed_like_an_earlier_one_is_still_judged() {
    let amd = std::fs::read(busybox("amd64")).unwrap();
    let arm = std::fs::read(busybox("arm64")).unwrap();
    let config = ImageConfig {
        os: "linux".into(),
        entrypoint: vec!["/opt/runner".into(), "/opt/payload".into()],
        ..Default::default()
    };
    let layout = |runner: &[u8], payload: &[u8]| {
        let mut fs = MemFs::new();
        fs.file(runner, 0o755, amd.clone())
            .file(payload, 0o755, arm.clone())
            .symlink("/opt/runner", runner)
            .symlink("/opt/payload", payload);
        fs
    };
    let utf8 = engine(&config, AMD64, &layout(b"/x/a", b"/x/b"));
    assert_eq!(
        (utf8.verdict, utf8.reason),
        (Verdict::Fail, Reason::ArchMismatch)
    );
    let lossy = engine(&config, AMD64, &layout(b"/x/\\xfe", b"/x/\xfe"));
    assert_eq!(
        (lossy.verdict, lossy.reason),
        (Verdict::Fail, Reason::ArchMismatch),
        "the arm64 payload is skipped: its name displays like the runner's: {lossy:#?}"
    );
}

/// FALSE PASS. The official-image entrypoint drops privileges by re-exec'ing
/// itself through gosu in the MIDDLE of the script (redis, memcached:
/// `exec gosu redis "$0" "$@"`; postgres, mysql, mongo, rabbitmq with
/// "$BASH_SOURCE"), and only then reaches its final `exec "$@"`. As root (the
/// default) the gosu line always runs, so a gosu of the wrong architecture
/// (a Dockerfile that downloads `gosu-amd64` for every platform) is an exec
/// format error before anything else. archgate reads only the last statement,
/// judges CMD[0] and never judges gosu, though notes/exec.md section 6
/// rule (c) says to treat that re-exec "as a check that gosu exists and
/// passes section 5".
/// Now: the script's `if`s are read and their `[ ... ]` tests evaluated on
/// `$1` and the User's uid: this gosu runs, and is judged.
#[test]
fn entrypoint_script_reexec_through_a_wrong_arch_gosu_fails() {
    let script = "#!/bin/sh\nset -e\nif [ \"$1\" = 'redis-server' -a \"$(id -u)\" = '0' ]; then\n\tfind . \\! -user redis -exec chown redis '{}' +\n\texec gosu redis \"$0\" \"$@\"\nfi\nexec \"$@\"\n";
    let img = Image::new(AMD64)
        .entrypoint(&["docker-entrypoint.sh"])
        .cmd(&["redis-server"])
        .layer(
            busybox_layer("amd64")
                .script("usr/local/bin/docker-entrypoint.sh", script)
                .file_from("usr/local/bin/gosu", busybox("arm64"))
                .file_from("usr/local/bin/redis-server", busybox("amd64")),
        );
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "arch-mismatch".into()),
        "as root the script execs the arm64 gosu first: exec format error\n{run}"
    );
}

/// UNBOUNDED TIME. data_args looks for an earlier check of each argument's
/// resolved path with a linear scan of all checks, so N binary arguments
/// cost O(N^2): measured 1.1 s for 10,000 and 3.7 s for 20,000 arguments
/// (debug build; release: 0.3 s, 1.6 s, 8.0 s for 10k, 20k, 40k). 40,000
/// arguments of 8 bytes are 360 KB of argv, well inside what execve takes
/// (2 MiB), so a real (hostile) image can stall the gate for minutes with
/// 100,000 tiny ELF files. With that one scan disabled (tried, not
/// committed) this test takes 1.2 s in all: the scan is the whole cost
/// (40,000 arguments: 15 s). A set of resolved path bytes would make it linear.
/// Now: a map of resolved path bytes (1.5 s in a debug build).
#[test]
fn many_binary_arguments_are_judged_in_linear_time() {
    let elf = tiny_elf();
    let n = 40_000;
    let mut fs = MemFs::new();
    fs.file("/run", 0o755, elf.clone());
    let mut ep = vec!["/run".to_string()];
    for i in 0..n {
        fs.file(format!("/b/{i}"), 0o755, elf.clone());
        ep.push(format!("/b/{i}"));
    }
    let config = ImageConfig {
        os: "linux".into(),
        entrypoint: ep,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let r = engine(&config, AMD64, &fs);
    let took = t.elapsed();
    assert_eq!(r.checks.len(), n + 1);
    assert!(
        took < std::time::Duration::from_secs(8),
        "{n} binary arguments took {took:?}"
    );
}

/// A 120-byte static x86-64 ELF executable: header and one PT_LOAD.
fn tiny_elf() -> Vec<u8> {
    let mut b = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    b.resize(16, 0);
    b.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0x40_0000u64.to_le_bytes()); // entry
    b.extend_from_slice(&64u64.to_le_bytes()); // phoff
    b.extend_from_slice(&0u64.to_le_bytes()); // shoff
    b.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    b.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0u64, 0x40_0000, 0x40_0000, 120, 120, 0x1000] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(b.len(), 120);
    b
}

// ===========================================================================
// FALSE FAILS: the image runs fine, archgate fails it.
// ===========================================================================

/// FALSE FAIL. `ENTRYPOINT [""]` is the Dockerfile idiom for "clear the base
/// image's entrypoint"; BuildKit stores it as `[""]`, and Docker resets it
/// before running (moby daemon/create.go `mergeAndVerifyConfig`: "Reset the
/// Entrypoint if it is [\"\"]" -> nil), so the container runs CMD. archgate
/// makes argv `["", CMD...]` and fails "empty program name".
#[test]
fn entrypoint_of_one_empty_string_is_reset_by_docker() {
    let img = Image::new(AMD64)
        .entrypoint(&[""])
        .cmd(&["/bin/busybox", "true"])
        .layer(busybox_layer("amd64"));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (0, "pass".into(), "match".into()),
        "Docker runs CMD /bin/busybox true\n{run}"
    );
}

/// FALSE FAIL. libc's execvp (glibc posix/execvpe.c and musl) and dash's and
/// busybox ash's own search keep walking PATH when an exec fails with ENOENT,
/// and a `#!` interpreter or ELF loader that is missing fails with ENOENT: so
/// a broken `app` early in PATH is skipped and a good one later runs. archgate
/// judges only the first PATH hit (as runc's stat-only Go LookPath rightly
/// does) for every looker. Shown here on this machine: GNU env and dash run
/// d2/app after d1/app's interpreter is missing (bash does not: it fails
/// 127, "cannot execute: required file not found"). Now: each looker's
/// rule (glibc, musl, dash and ash go on; bash and Go do not).
#[test]
fn execvp_and_dash_skip_a_path_hit_whose_interpreter_is_missing() {
    let _s = serial();
    let t = open_tmp();
    let d1 = t.path().join("d1");
    let d2 = t.path().join("d2");
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    write_exec(&d1.join("app"), b"#!/nonexistent/python3\n", 0o755);
    write_exec(&d2.join("app"), b"#!/bin/sh\nexit 0\n", 0o755);
    let path = format!("{}:{}", d1.display(), d2.display());
    for argv in [
        &["/usr/bin/env", "app"][..],
        &["/usr/bin/dash", "-c", "app"],
    ] {
        let (code, err) = host_run(Command::new(argv[0]).args(&argv[1..]).env("PATH", &path));
        assert_eq!(code, 0, "{argv:?} on this machine: {err}");
    }

    let layer = || {
        dash_layer()
            .file_from("usr/bin/env", "/usr/bin/env")
            .script("opt/broken/app", "#!/nonexistent/python3\n")
            .file_from("usr/local/bin/app", busybox("amd64"))
    };
    let env = ["PATH=/opt/broken:/usr/local/bin:/usr/bin:/bin"];
    let mut bad = Vec::new();
    for (ep, cmd) in [
        (&["/usr/bin/env", "app"][..], &[][..]),
        (&[][..], &["/bin/sh", "-c", "app"][..]),
    ] {
        let img = Image::new(AMD64)
            .entrypoint(ep)
            .cmd(cmd)
            .env(Some(&env))
            .layer(layer());
        let run = check_image(img, &[]);
        if verdict_of(&run).1 != "pass" {
            bad.push(format!("{ep:?} {cmd:?}: {:?}", verdict_of(&run)));
        }
    }
    assert!(
        bad.is_empty(),
        "the looker skips /opt/broken/app (ENOENT) and runs /usr/local/bin/app:\n{}",
        bad.join("\n")
    );
}

/// FALSE FAIL. An argument binary of another architecture is not always run
/// by the kernel: qemu-user (and box64/box86 on ARM, FEX) run foreign
/// binaries themselves, and that is why such images exist:
/// `ENTRYPOINT ["/usr/bin/qemu-aarch64-static", "/opt/app"]` on amd64 runs
/// the arm64 /opt/app. archgate fails any wrong-arch binary argument.
/// Checked by hand: Debian 12's qemu-user-static (1:7.2+dfsg-7+deb12u18,
/// `apt-get download`ed and unpacked only, no binfmt registered; this
/// machine has no binfmt_misc) ran the arm64 fixture busybox on this amd64
/// machine: `qemu-aarch64-static .../debian/arm64/root/bin/busybox echo
/// ran-arm64` printed "ran-arm64", exit 0. The qemu here is a stand-in amd64
/// binary under qemu's name. Now: qemu-ARCH[-static]'s program is noted as
/// emulated, not judged against the platform.
#[test]
fn qemu_user_runs_a_foreign_arch_argument() {
    let img = Image::new(AMD64)
        .entrypoint(&["/usr/bin/qemu-aarch64-static", "/opt/app", "echo", "hi"])
        .layer(
            Layer::new()
                .file_from("usr/bin/qemu-aarch64-static", busybox("amd64"))
                .file_from("opt/app", busybox("arm64")),
        );
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (0, "pass".into(), "match".into()),
        "qemu-user runs the arm64 /opt/app on amd64\n{run}"
    );
}

/// FALSE FAIL. dash (Debian's /bin/sh) and busybox ash have a `chdir`
/// builtin (dash builtins.def: `cdcmd cd chdir`), missing from archgate's
/// builtin list, so `sh -c 'chdir /srv && exec /srv/app'` is judged as a
/// program named chdir: "not found". Shown here with this machine's dash.
/// Now: a builtin of dash and ash (not of bash); the string is noted.
#[test]
fn dash_chdir_builtin_is_not_a_missing_program() {
    let (code, err) = host_run(Command::new("/usr/bin/dash").args(["-c", "chdir / && exit 0"]));
    assert_eq!(code, 0, "dash -c chdir: {err}");

    let img = Image::new(AMD64)
        .cmd(&["/bin/sh", "-c", "chdir /srv && exec /srv/app"])
        .layer(dash_layer().file_from("srv/app", busybox("amd64")));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (0, "pass".into(), "match".into()),
        "chdir is dash's builtin\n{run}"
    );
}

/// FALSE FAIL. `bash -l`/`--login` (and `sh -l`) reads /etc/profile and
/// ~/.bash_profile or ~/.profile before the -c string, and those commonly
/// set PATH (conda, SDKMAN, nvm, /etc/profile.d). The conda Dockerfile idiom
/// `SHELL ["/bin/bash", "--login", "-c"]` / `ENTRYPOINT ["/bin/bash", "-lc",
/// ...]` relies on it. archgate looks the first word up in the image's Env
/// PATH and fails "not found". (It already gives up for BASH_ENV, which is
/// the same kind of input.) Shown here with this machine's bash and a HOME
/// whose .bash_profile prepends a directory. Now: a login shell with a
/// profile in the image is noted, not judged (the profile is not
/// interpreted: README's limits).
#[test]
fn bash_login_shell_finds_programs_through_the_profiles_path() {
    let _s = serial();
    let t = open_tmp();
    std::fs::create_dir_all(t.path().join("bin")).unwrap();
    write_exec(&t.path().join("bin/tool"), b"#!/bin/sh\nexit 0\n", 0o755);
    std::fs::write(
        t.path().join(".bash_profile"),
        format!("export PATH={}/bin:$PATH\n", t.path().display()),
    )
    .unwrap();
    let (code, err) = host_run(
        Command::new("/bin/bash")
            .args(["-lc", "tool"])
            .env_clear()
            .env("HOME", t.path())
            .env("PATH", "/usr/bin:/bin"),
    );
    assert_eq!(code, 0, "bash -lc tool on this machine: {err}");

    let img = Image::new(AMD64)
        .cmd(&["/bin/bash", "-lc", "tool --serve"])
        .env(Some(&["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"]))
        .layer(
            glibc_ld_layer(Layer::new().file_from("bin/bash", "/bin/bash"))
                .file(
                    "root/.bash_profile",
                    b"export PATH=/opt/tool/bin:$PATH\n".to_vec(),
                    0o644,
                )
                .file_from("opt/tool/bin/tool", busybox("amd64")),
        );
    let run = check_image(img, &[]);
    let (code, verdict, _) = verdict_of(&run);
    assert_eq!(
        (code, verdict.as_str()),
        (0, "pass"),
        "bash -l finds tool through ~/.bash_profile's PATH\n{run}"
    );
}

/// FALSE FAIL. Debian's busybox (the fixture: 1.35.0-4+deb12u1, static) is
/// built to prefer its applets: its sh runs the `wget` applet even when a
/// `wget` comes first in PATH. archgate judges the PATH hit, here a wrong-arch
/// /usr/bin/wget that busybox never execs, and fails arch-mismatch. Shown
/// here: the fixture busybox's sh with a marker `wget` first in PATH never
/// runs the marker. (Alpine's and the official busybox image's builds do not
/// prefer applets, so archgate would need to tell builds apart, or note.)
/// Now: a failing PATH hit of a name the busybox has an applet for is noted.
#[test]
fn debian_busybox_sh_prefers_its_applet_over_path() {
    let _s = serial();
    let t = open_tmp();
    let marker = t.path().join("ran");
    write_exec(
        &t.path().join("wget"),
        format!("#!/bin/sh\ntouch {}\n", marker.display()).as_bytes(),
        0o755,
    );
    let _ = host_run(
        Command::new(busybox("amd64"))
            .args(["sh", "-c", "wget --help"])
            .env("PATH", format!("{}:/usr/bin:/bin", t.path().display())),
    );
    assert!(
        !marker.exists(),
        "busybox sh ran the PATH wget, not its applet"
    );

    let img = Image::new(AMD64)
        .cmd(&["/bin/sh", "-c", "wget -q -O /dev/null http://localhost/"])
        .layer(busybox_layer("amd64").file_from("usr/bin/wget", busybox("arm64")));
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (0, "pass".into(), "match".into()),
        "busybox sh runs its wget applet, never /usr/bin/wget\n{run}"
    );
}

/// FALSE FAIL. binfmt_elf on x86_64 checks only the 4 magic bytes, e_type,
/// e_machine and e_phentsize: EI_CLASS and EI_DATA are never read (notes
/// section 3; riscv is the exception). archgate reads the header by
/// EI_CLASS/EI_DATA, so an x86-64 binary with a stray class or data byte
/// fails not-a-program or arch-mismatch while the kernel runs it. Shown here:
/// the fixture amd64 busybox (static) patched and exec'd on this machine.
/// Now: amd64, 386, arm64, ppc64(le), s390x and riscv64 headers are read the
/// way their kernel reads them.
#[test]
fn x86_64_kernel_ignores_elf_class_and_data_bytes() {
    let _s = serial();
    let t = open_tmp();
    let orig = std::fs::read(busybox("amd64")).unwrap();
    let mut bad = Vec::new();
    for (name, at, byte) in [
        ("class 0", 4, 0u8),
        ("class 1", 4, 1),
        ("data 2", 5, 2),
        ("data 0", 5, 0),
    ] {
        let mut b = orig.clone();
        b[at] = byte;
        let p = t.path().join(name.replace(' ', "-"));
        write_exec(&p, &b, 0o755);
        let host = raw_exec(
            p.as_os_str().as_bytes(),
            &[b"busybox", b"true"],
            &[],
            t.path(),
            None,
        );
        assert_eq!(host, None, "{name}: this kernel runs it");
        let mut fs = MemFs::new();
        fs.file("/app", 0o755, b);
        let config = ImageConfig {
            os: "linux".into(),
            entrypoint: vec!["/app".into()],
            ..Default::default()
        };
        let r = engine(&config, AMD64, &fs);
        if r.verdict != Verdict::Pass {
            bad.push(format!(
                "{name}: kernel runs it; archgate {:?} {:?}: {}",
                r.verdict, r.reason, r.message
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ===========================================================================
// Lesser: the shell starts but dies at once; noted instead of failed.
// ===========================================================================

/// FALSE PASS (minor). `ENTRYPOINT ["/bin/sh", "-c"]` with no CMD: dash
/// prints "-c requires an argument" and exits 2 (bash: "-c: option requires
/// an argument", 2). archgate notes "-c without a command string" and passes.
#[test]
fn sh_c_without_a_string_exits_2() {
    let (code, err) = host_run(Command::new("/usr/bin/dash").arg("-c"));
    assert_eq!(code, 2, "dash -c: {err}");
    let img = Image::new(AMD64)
        .entrypoint(&["/bin/sh", "-c"])
        .layer(dash_layer());
    let run = check_image(img, &[]);
    assert_eq!(
        verdict_of(&run),
        (1, "fail".into(), "bad-invocation".into()),
        "{run}"
    );
}
