//! The engine against the running kernel: `#!` lines, nested `#!` scripts
//! and PT_INTERP values, each written as a real file in a temp dir, exec'd on
//! this machine with a raw execve(2), and judged by the engine on an
//! in-memory tree holding the same bytes, links and modes. The kernel's
//! answer (runs, ENOENT, ENOEXEC, EACCES, ELOOP, ...) must be the engine's.
//!
//! Only files this test writes itself are exec'd (their interpreter is a copy
//! of the host's own /bin/true); never image content.

use archgate::inspect::engine::MAX_SCRIPT_DEPTH;
use archgate::inspect::{inspect, ImageConfig, Platform, PlatformReport, Reason, Verdict};
use archgate::rootfs::mem::MemFs;
use std::ffi::{c_char, c_int, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

extern "C" {
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char)
        -> c_int;
}

/// The tests here write programs and exec them; another test's fork in the
/// same process can hold a just-written file open for writing, and exec then
/// fails with ETXTBSY. So they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const ETXTBSY: i32 = 26;
const ENOENT: i32 = 2;
const EIO: i32 = 5;
const ENOEXEC: i32 = 8;
const EACCES: i32 = 13;
const ENOTDIR: i32 = 20;
const ELOOP: i32 = 40;
const ELIBBAD: i32 = 80;

/// What execve(2) of `path` from `cwd` did: `None` when it ran, else the
/// errno. A raw execve in the forked child, so no libc retries with /bin/sh.
fn host_exec(path: &[u8], cwd: &Path) -> Option<i32> {
    for _ in 0..50 {
        match host_exec_once(path, cwd) {
            Some(ETXTBSY) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => return other,
        }
    }
    panic!("{}: still ETXTBSY", show(path));
}

fn host_exec_once(path: &[u8], cwd: &Path) -> Option<i32> {
    let c = CString::new(path).unwrap();
    let mut cmd = Command::new("/nonexistent-archgate-placeholder");
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec: execve,
    // and errno read back on failure.
    unsafe {
        cmd.pre_exec(move || {
            let argv = [c.as_ptr(), std::ptr::null()];
            let envp: [*const c_char; 1] = [std::ptr::null()];
            execve(c.as_ptr(), argv.as_ptr(), envp.as_ptr());
            Err(std::io::Error::last_os_error())
        });
    }
    match cmd.spawn() {
        Ok(mut child) => {
            child.wait().unwrap();
            None
        }
        Err(e) => Some(e.raw_os_error().expect("an errno")),
    }
}

fn platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        other => panic!("no platform known for host arch {other}"),
    }
}

/// The same tree on the host (under a temp dir) and in memory.
struct Both {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    mem: MemFs,
    /// The host's /bin/true, copied as the interpreter everything runs.
    interp: Vec<u8>,
}

impl Both {
    fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("kexec")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let mut b = Both {
            _tmp: tmp,
            base,
            mem: MemFs::new(),
            interp: Vec::new(),
        };
        let tru = std::fs::read("/bin/true").expect("/bin/true");
        // The memory side needs /bin/true's loader too.
        let elf = goblin::elf::Elf::parse(&tru).expect("/bin/true is ELF");
        if let Some(ld) = elf.interpreter {
            let bytes = std::fs::read(ld).expect("the host loader");
            b.mem.file(ld, 0o755, bytes);
        }
        b.interp = b.file("t", 0o755, &tru);
        b
    }

    fn abs(&self, rel: &[u8]) -> Vec<u8> {
        let mut p = self.base.as_os_str().as_bytes().to_vec();
        p.push(b'/');
        p.extend_from_slice(rel);
        p
    }

    fn host(&self, rel: &[u8]) -> PathBuf {
        PathBuf::from(OsStr::from_bytes(&self.abs(rel)))
    }

    /// Write a file on both sides; returns its absolute path.
    fn file(&mut self, rel: impl AsRef<[u8]>, mode: u32, data: &[u8]) -> Vec<u8> {
        let rel = rel.as_ref();
        let p = self.host(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        let abs = self.abs(rel);
        self.mem.file(&abs, mode, data.to_vec());
        abs
    }

    fn dir(&mut self, rel: &[u8]) -> Vec<u8> {
        std::fs::create_dir_all(self.host(rel)).unwrap();
        let abs = self.abs(rel);
        self.mem.dir(&abs, 0o755);
        abs
    }

    fn symlink(&mut self, rel: &[u8], target: &[u8]) -> Vec<u8> {
        let p = self.host(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(OsStr::from_bytes(target), &p).unwrap();
        let abs = self.abs(rel);
        self.mem.symlink(&abs, target);
        abs
    }

    /// The engine's verdict for ENTRYPOINT [path] with WorkingDir `cwd`.
    fn engine(&self, path: &[u8], cwd: &[u8]) -> PlatformReport {
        let config = ImageConfig {
            os: "linux".into(),
            entrypoint: vec![String::from_utf8(path.to_vec()).unwrap()],
            working_dir: Some(String::from_utf8(cwd.to_vec()).unwrap()),
            ..Default::default()
        };
        let p = Platform::parse(platform()).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(inspect(&config, &p, &self.mem))
            .unwrap()
    }

    /// Exec `path` on the host and judge it in memory, from `cwd`.
    fn both(&self, path: &[u8], cwd: &[u8]) -> (Option<i32>, PlatformReport) {
        let host = host_exec(path, Path::new(OsStr::from_bytes(cwd)));
        (host, self.engine(path, cwd))
    }
}

/// The verdict archgate must give for what the kernel did. `loader`: the
/// errno came from opening PT_INTERP.
fn expected(errno: Option<i32>, loader: bool) -> (Verdict, Reason) {
    match errno {
        None => (Verdict::Pass, Reason::Match),
        Some(ENOENT | ENOTDIR) if loader => (Verdict::Fail, Reason::LoaderMissing),
        Some(ENOENT | ENOTDIR) => (Verdict::Fail, Reason::NotFound),
        Some(EACCES) => (Verdict::Fail, Reason::NotExecutable),
        Some(ENOEXEC | ELIBBAD | EIO) => (Verdict::Fail, Reason::NotAProgram),
        Some(ELOOP) => (Verdict::Fail, Reason::SymlinkLoop),
        Some(e) => panic!("unexpected errno {e}"),
    }
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

#[test]
fn shebang_lines_agree_with_the_kernel() {
    let _serial = serial();
    let mut b = Both::new();
    let i = b.interp.clone();
    let base = b.abs(b"");
    let base = &base[..base.len() - 1];
    b.dir(b"adir");
    b.file(b"plain", 0o644, b"x");
    b.file(b"text", 0o755, b"just text, no #!\n");
    b.file(b"t\r", 0o755, &std::fs::read("/bin/true").unwrap());
    b.file(b"t\xff", 0o755, &std::fs::read("/bin/true").unwrap());
    b.symlink(b"link", b"t");
    b.symlink(b"dangling", b"nowhere");
    b.symlink(b"loop1", b"loop2");
    b.symlink(b"loop2", b"loop1");
    let nested = b.file(b"nested", 0o755, &[b"#!", &i[..], b"\n"].concat());
    // Interpreter paths of exact lengths, for the 256-byte buffer rules.
    let mut of_len = |n: usize| -> Vec<u8> {
        let pad = n - base.len() - 3;
        assert!(pad > 0 && pad < 255, "temp dir too long for {n}");
        let rel = [vec![b'p'; pad], b"/t".to_vec()].concat();
        let p = b.file(&rel, 0o755, &std::fs::read("/bin/true").unwrap());
        assert_eq!(p.len(), n);
        p
    };
    let n253 = of_len(253);
    let n254 = of_len(254);
    let n252 = of_len(252);
    let cat = |parts: &[&[u8]]| parts.concat();
    let a = |s: &str| s.as_bytes().to_vec();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain", cat(&[b"#!", &i, b"\n"])),
        // `link\r` does not exist (`t\r` does, for the case after next).
        ("CRLF", cat(&[b"#!", base, b"/link\r\n"])),
        ("CRLF with argument", cat(&[b"#!", &i, b" -a\r\n"])),
        ("CR file exists", cat(&[b"#!", base, b"/t\r\n"])),
        ("tabs and blanks", cat(&[b"#!\t", &i, b"\targ1  arg2 \t\n"])),
        ("trailing blanks", cat(&[b"#!", &i, b"  \t\n"])),
        ("NUL after name", cat(&[b"#!", &i, b"\0junk\n"])),
        ("NUL in argument", cat(&[b"#!", &i, b" a\0b c\n"])),
        ("VT in name", cat(&[b"#!", &i, b"\x0b-x\n"])),
        ("FF in name", cat(&[b"#!", &i, b"\x0c\n"])),
        ("long name no newline", cat(&[b"#!/", &[b'x'; 300], b"\n"])),
        (
            "name to byte 255, newline at 256",
            cat(&[b"#!", &n254, b"\n"]),
        ),
        (
            "name to byte 255, no newline",
            cat(&[b"#!", &n254, &[b'y'; 40]]),
        ),
        (
            "name to byte 254, newline at 255",
            cat(&[b"#!", &n253, b"\n"]),
        ),
        (
            "name to byte 254, space at 255",
            cat(&[b"#!", &n253, b" arg\n"]),
        ),
        (
            "name to byte 254, NUL at 255",
            cat(&[b"#!", &n253, b"\0more\n"]),
        ),
        (
            "name to byte 254, tab at 255",
            cat(&[b"#!", &n253, b"\targ"]),
        ),
        (
            "name to 253, argument cut",
            cat(&[b"#!", &n252, b" ", &[b'A'; 40]]),
        ),
        ("argument cut", cat(&[b"#!", &i, b" ", &[b'A'; 300], b"\n"])),
        (
            "300 blanks then name",
            cat(&[b"#!", &[b' '; 300], &i, b"\n"]),
        ),
        (
            "100 blanks then name",
            cat(&[b"#!", &[b' '; 100], &i, b"\n"]),
        ),
        ("empty line", a("#!\n")),
        ("blank line", a("#!   \t \n")),
        ("#! alone", a("#!")),
        ("#! blanks, no newline", a("#!   ")),
        ("NUL first", cat(&[b"#!\0", &i, b"\n"])),
        ("trailing space, no newline", cat(&[b"#!", &i, b" "])),
        ("no newline", cat(&[b"#!", &i])),
        ("arguments, no newline", cat(&[b"#!", &i, b" x y"])),
        ("missing interpreter", a("#!/nonexistent/sh\n")),
        ("directory", cat(&[b"#!", base, b"/adir\n"])),
        ("not executable", cat(&[b"#!", base, b"/plain\n"])),
        ("trailing slash", cat(&[b"#!", &i, b"/\n"])),
        ("file as directory", cat(&[b"#!", &i, b"/x\n"])),
        ("symlink", cat(&[b"#!", base, b"/link\n"])),
        ("dangling symlink", cat(&[b"#!", base, b"/dangling\n"])),
        ("symlink loop", cat(&[b"#!", base, b"/loop1\n"])),
        ("leading space", cat(&[b" #!", &i, b"\n"])),
        ("UTF-8 BOM", cat(&[b"\xef\xbb\xbf#!", &i, b"\n"])),
        ("relative name", a("#!t\n")),
        ("relative missing", a("#!nope\n")),
        ("relative dot-dot", a("#!adir/../t\n")),
        ("non-UTF-8 name", cat(&[b"#!", base, b"/t\xff\n"])),
        ("nested script", cat(&[b"#!", &nested, b"\n"])),
        ("interpreter is text", cat(&[b"#!", base, b"/text\n"])),
        ("empty file", Vec::new()),
    ];
    let mut bad = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (k, (name, bytes)) in cases.iter().enumerate() {
        let script = b.file(format!("case{k}"), 0o755, bytes);
        let (host, r) = b.both(&script, &b.abs(b"")[..base.len()]);
        seen.insert(host);
        let want = expected(host, false);
        if (r.verdict, r.reason) != want {
            bad.push(format!(
                "{name}: {:?}\n  kernel: {host:?} -> {want:?}\n  archgate: {:?} {:?}: {}",
                show(bytes),
                r.verdict,
                r.reason,
                r.message
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "archgate disagrees with the kernel:\n{}",
        bad.join("\n")
    );
    // The table must keep exercising every outcome.
    for e in [
        None,
        Some(ENOENT),
        Some(ENOEXEC),
        Some(EACCES),
        Some(ENOTDIR),
        Some(ELOOP),
    ] {
        assert!(seen.contains(&e), "no case made the kernel answer {e:?}");
    }
}

/// Scripts c1 -> c2 -> ... -> cN -> ELF: the largest N this kernel runs is
/// the engine's MAX_SCRIPT_DEPTH, and the engine agrees for every N, also
/// when the script one past the limit names a missing interpreter (the
/// kernel opens it before it gives up) and when `#!/usr/bin/env` starts a
/// fresh exec in the middle of a long chain.
#[test]
fn nested_script_limit_matches_this_kernel() {
    let _serial = serial();
    let mut b = Both::new();
    let i = b.interp.clone();
    let base = b.abs(b"");
    let cwd = base[..base.len() - 1].to_vec();
    let mut kernel_max = 0;
    let mut bad = Vec::new();
    for n in 1..=8 {
        // c{n}_1 is exec'd; c{n}_k names c{n}_{k+1}; the last names the ELF.
        let mut next = i.clone();
        for k in (1..=n).rev() {
            next = b.file(
                format!("c{n}_{k}"),
                0o755,
                &[b"#!", &next[..], b"\n"].concat(),
            );
        }
        let (host, r) = b.both(&next, &cwd);
        if host.is_none() {
            kernel_max = kernel_max.max(n);
        }
        let want = expected(host, false);
        if (r.verdict, r.reason) != want {
            bad.push(format!(
                "{n} scripts: kernel {host:?}, archgate {:?} {:?}: {}",
                r.verdict, r.reason, r.message
            ));
        }
    }
    assert_eq!(
        kernel_max, MAX_SCRIPT_DEPTH,
        "this kernel runs at most {kernel_max} nested #! scripts; the engine allows {MAX_SCRIPT_DEPTH}"
    );
    // One past the limit, but the last interpreter is missing: ENOENT wins.
    let mut next = b"/nonexistent/interp".to_vec();
    for k in (1..=MAX_SCRIPT_DEPTH + 1).rev() {
        next = b.file(format!("m{k}"), 0o755, &[b"#!", &next[..], b"\n"].concat());
    }
    let (host, r) = b.both(&next, &cwd);
    if (r.verdict, r.reason) != expected(host, false) {
        bad.push(format!(
            "missing past the limit: kernel {host:?}, archgate {:?} {:?}: {}",
            r.verdict, r.reason, r.message
        ));
    }
    // env execs afresh: 4 scripts, env, 4 scripts run.
    if Path::new("/usr/bin/env").is_file() {
        b.mem.file(
            "/usr/bin/env",
            0o755,
            std::fs::read("/usr/bin/env").unwrap(),
        );
        let mut next = i.clone();
        for k in (1..=4).rev() {
            next = b.file(
                format!("e2_{k}"),
                0o755,
                &[b"#!", &next[..], b"\n"].concat(),
            );
        }
        let mut top = b.file(
            "e1_env",
            0o755,
            &[b"#!/usr/bin/env ", &next[..], b"\n"].concat(),
        );
        for k in (1..=3).rev() {
            top = b.file(format!("e1_{k}"), 0o755, &[b"#!", &top[..], b"\n"].concat());
        }
        let (host, r) = b.both(&top, &cwd);
        if (r.verdict, r.reason) != expected(host, false) {
            bad.push(format!(
                "env in the middle: kernel {host:?}, archgate {:?} {:?}: {}",
                r.verdict, r.reason, r.message
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// /bin/true with its first PT_INTERP pointed at `interp`, appended at the
/// end of the file.
fn with_interp(tru: &[u8], interp: &[u8]) -> Vec<u8> {
    let elf = goblin::elf::Elf::parse(tru).unwrap();
    assert!(
        elf.is_64 && elf.little_endian,
        "a 64-bit little-endian host"
    );
    let idx = elf
        .program_headers
        .iter()
        .position(|p| p.p_type == goblin::elf::program_header::PT_INTERP)
        .expect("/bin/true is dynamically linked");
    let mut out = tru.to_vec();
    let off = out.len() as u64;
    out.extend_from_slice(interp);
    let ph = elf.header.e_phoff as usize + idx * elf.header.e_phentsize as usize;
    out[ph + 8..ph + 16].copy_from_slice(&off.to_le_bytes());
    out[ph + 32..ph + 40].copy_from_slice(&(interp.len() as u64).to_le_bytes());
    out
}

#[test]
fn pt_interp_agrees_with_the_kernel() {
    let _serial = serial();
    let mut b = Both::new();
    let tru = std::fs::read("/bin/true").unwrap();
    let ld = goblin::elf::Elf::parse(&tru)
        .unwrap()
        .interpreter
        .unwrap()
        .as_bytes()
        .to_vec();
    let base = b.abs(b"");
    let cwd = base[..base.len() - 1].to_vec();
    b.dir(b"adir");
    let script = [b"#!/bin/sh\n".as_slice(), &[b'#'; 100], b"\n"].concat();
    b.file(b"script-loader", 0o755, &script);
    b.file(b"short-loader", 0o755, b"#!/bin/sh\n");
    let nul = |p: &[u8]| [p, b"\0"].concat();
    let rel = nul(&ld[1..]);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("valid", nul(&ld), cwd.clone()),
        ("one byte", b"\0".to_vec(), cwd.clone()),
        (
            "4097 bytes",
            [&ld[..], &vec![b'/'; 4096 - ld.len()], b"\0"].concat(),
            cwd.clone(),
        ),
        (
            "4096 bytes",
            [&vec![b'/'; 4095 - ld.len()][..], &ld, b"\0"].concat(),
            cwd.clone(),
        ),
        ("not NUL-terminated", ld.clone(), cwd.clone()),
        (
            "embedded NUL",
            [&ld[..], b"\0garbage\0"].concat(),
            cwd.clone(),
        ),
        ("empty name", b"\0\0".to_vec(), cwd.clone()),
        ("relative from /", rel.clone(), b"/".to_vec()),
        ("relative from elsewhere", rel, cwd.clone()),
        ("missing", nul(b"/lib/ld-missing.so.1"), cwd.clone()),
        (
            "trailing slash",
            nul(&[&ld[..], b"/"].concat()),
            cwd.clone(),
        ),
        (
            "directory",
            nul(&[&cwd[..], b"/adir"].concat()),
            cwd.clone(),
        ),
        (
            "script as loader",
            nul(&[&cwd[..], b"/script-loader"].concat()),
            cwd.clone(),
        ),
        (
            "short script as loader",
            nul(&[&cwd[..], b"/short-loader"].concat()),
            cwd.clone(),
        ),
    ];
    let mut bad = Vec::new();
    for (k, (name, interp, from)) in cases.iter().enumerate() {
        let bin = b.file(format!("bin{k}"), 0o755, &with_interp(&tru, interp));
        let (host, r) = b.both(&bin, from);
        let want = expected(host, true);
        if (r.verdict, r.reason) != want {
            bad.push(format!(
                "{name} ({:?} from {}): kernel {host:?} -> {want:?}; archgate {:?} {:?}: {}",
                show(interp),
                show(from),
                r.verdict,
                r.reason,
                r.message
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "archgate disagrees with the kernel:\n{}",
        bad.join("\n")
    );
}

/// The first word archgate reads from a `-c` string is the program this
/// machine's dash and bash really run first: marker scripts in PATH log
/// their names.
/// A string archgate says runs nothing runs nothing; one it gives up on is
/// not compared.
#[test]
fn sh_c_first_word_agrees_with_dash_and_bash() {
    let _serial = serial();
    use archgate::inspect::exec::{first_command, FirstCommand, Shell};
    let shells: Vec<&str> = ["/bin/dash", "/bin/bash"]
        .into_iter()
        .filter(|p| Path::new(p).is_file())
        .collect();
    assert_eq!(shells.len(), 2, "dash and bash are needed for this test");
    let tmp = tempfile::Builder::new()
        .prefix("shc")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let log = base.join("log");
    let marker = |dir: &str, name: &str| {
        let d = base.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        std::fs::write(&p, format!("#!/bin/sh\necho {name} >> {}\n", log.display())).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    for n in ["a", "b", "app"] {
        marker("bin", n);
    }
    marker("other", "onlyother");
    let bin = base.join("bin").display().to_string();
    let other = base.join("other").display().to_string();
    let strings: Vec<String> = [
        "a",
        "a b c",
        " a",
        "\ta",
        "a;b",
        "a && b",
        "a || b",
        "a | b",
        "a & wait",
        "a\nb",
        "x=1 a",
        "x=1 y=2 a",
        "a=b=c a",
        "_x=1 a",
        "1x=1 a",
        "exec a",
        "exec a b",
        "command a",
        "command command a",
        "exec >/dev/null a",
        ">/dev/null a",
        "2>/dev/null a",
        "1>/dev/null a b",
        ">>/dev/null a",
        ">|/dev/null a",
        "a 2>&1",
        "a>/dev/null",
        "a </dev/null",
        "x=1",
        "exec",
        ">/dev/null",
        "# c",
        "a # c",
        "a#b",
        "PATH=OTHER onlyother",
        "PATH=OTHER a",
        "exec 2>/dev/null a",
        "x=1 exec a",
        "exec command a",
        "exec true",
        "exec -- a",
        "a() { b; }; a",
        "a (){ b; }; a",
        "{ a; }",
        "(a)",
        "! a",
        "if a; then b; fi",
        "a $x",
        "a \"q\"",
        "'a'",
        "a'b'",
        "BIN/a",
        "exec BIN/b",
        "a|b",
        "a&&b",
        "app -x",
        "true; a",
        "a\\\nb",
        "chdir / && a",
    ]
    .iter()
    .map(|s| s.replace("OTHER", &other).replace("BIN", &bin))
    .collect();
    let mut bad = Vec::new();
    let mut compared = 0;
    for (s, shell) in strings
        .iter()
        .flat_map(|s| shells.iter().map(move |sh| (s, *sh)))
    {
        let _ = std::fs::remove_file(&log);
        let status = Command::new(shell)
            .arg("-c")
            .arg(s)
            .env_clear()
            .env("PATH", &bin)
            .current_dir(&base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let ran = std::fs::read_to_string(&log).unwrap_or_default();
        let first = ran.lines().next().map(str::to_string);
        let sh = if shell.ends_with("bash") {
            Shell::Bash
        } else {
            Shell::Dash
        };
        let want = match first_command(s.as_bytes(), sh) {
            FirstCommand::GiveUp(_) => continue,
            FirstCommand::Nothing(_) => None,
            FirstCommand::Run { argv, path, .. } => {
                let name = String::from_utf8(argv[0].clone()).unwrap();
                let dir = path
                    .map(|p| String::from_utf8(p).unwrap())
                    .unwrap_or_else(|| bin.clone());
                let file = if name.contains('/') {
                    PathBuf::from(&name)
                } else {
                    Path::new(&dir).join(&name)
                };
                file.is_file()
                    .then(|| file.file_name().unwrap().to_string_lossy().into_owned())
            }
        };
        compared += 1;
        // Pipeline members run at the same time: any order.
        let concurrent = s.contains('|') && !s.contains("||");
        let agrees = match (&want, concurrent) {
            (Some(w), true) => ran.lines().any(|l| l == w),
            _ => first == want,
        };
        if !agrees {
            bad.push(format!(
                "{s:?}: {shell} ran {first:?} first (exit {status}), archgate says {want:?}"
            ));
        }
    }
    assert!(compared > 80, "only {compared} strings compared");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The program GNU env runs, and where it finds it, is the one archgate's
/// env grammar names: this machine's /usr/bin/env runs marker programs that
/// log their names.
#[test]
fn env_grammar_agrees_with_gnu_env() {
    let _serial = serial();
    use archgate::inspect::exec::{parse_wrapper, Wrapper, WrapperCtx, WrapperRun};
    let env = Path::new("/usr/bin/env");
    assert!(env.is_file(), "/usr/bin/env is needed for this test");
    let tmp = tempfile::Builder::new()
        .prefix("env")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let log = base.join("log");
    let marker = |rel: &str| {
        let p = base.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(&p, format!("#!/bin/sh\necho {name} >> {}\n", log.display())).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    for m in [
        "bin/a",
        "bin/b",
        "other/onlyother",
        "sub/subonly",
        "cwdonly",
    ] {
        marker(m);
    }
    let bin = base.join("bin").display().to_string();
    let other = base.join("other").display().to_string();
    let cases: Vec<Vec<String>> = [
        "a",
        "a x",
        "X=1 a",
        "=x a",
        "-i a",
        "-i PATH=OTHER onlyother",
        "-u PATH a",
        "-uPATH a",
        "--unset=PATH a",
        "--unset PATH a",
        "- a",
        "-- a",
        "-- -i",
        "-v a",
        "--debug a",
        "-0 a",
        "--null a",
        "-iS a",
        "-Si a",
        "PATH= cwdonly",
        "PATH=OTHER onlyother",
        "PATH=OTHER a",
        "-C sub ./subonly",
        "--chdir=sub ./subonly",
        "-C sub cwdonly",
        "--default-signal a",
        "--ignore-signal=INT a",
        "--block-signal a",
        "--ignore-env a",
        "--ign a",
        "X=1",
        "",
        "-i",
        "--frobnicate a",
        "-q a",
        "-u",
        "-S",
    ]
    .iter()
    .map(|s| {
        s.replace("OTHER", &other)
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    })
    .chain([
        vec!["-S".to_string(), "a x".to_string()],
        vec!["-Sa x".to_string()],
        vec!["-S a -x".to_string(), "y".to_string()],
        vec!["--split-string=X=1 a".to_string()],
        vec![
            "-S".to_string(),
            "-i PATH=".to_string() + &other + " onlyother",
        ],
    ])
    .collect();
    let mut bad = Vec::new();
    for args in &cases {
        let _ = std::fs::remove_file(&log);
        let status = Command::new(env)
            .args(args)
            .env_clear()
            .env("PATH", &bin)
            .current_dir(&base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let ran = std::fs::read_to_string(&log).unwrap_or_default();
        let first = ran.lines().next().map(str::to_string);
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let want = match parse_wrapper(Wrapper::Env, &argv, WrapperCtx::default()) {
            WrapperRun::Unknown(_) => continue,
            WrapperRun::Refused(why) => {
                if status.success() || first.is_some() {
                    bad.push(format!(
                        "env {args:?}: ran {first:?} (exit {status}), archgate says it refuses: {why}"
                    ));
                }
                continue;
            }
            WrapperRun::Nothing(_) => None,
            WrapperRun::Exec(next) => {
                let name = String::from_utf8(next.argv[0].clone()).unwrap();
                let cwd = match &next.chdir {
                    Some(d) => base.join(String::from_utf8(d.clone()).unwrap()),
                    None => base.clone(),
                };
                // glibc execvp: unset PATH is /bin:/usr/bin, "" is the cwd.
                let path = match &next.path {
                    None => bin.clone(),
                    Some(None) => "/bin:/usr/bin".to_string(),
                    Some(Some(p)) => String::from_utf8(p.clone()).unwrap(),
                };
                let file = if name.contains('/') {
                    Some(cwd.join(&name))
                } else {
                    path.split(':')
                        .map(|d| {
                            if d.is_empty() {
                                cwd.clone()
                            } else {
                                cwd.join(d)
                            }
                        })
                        .map(|d| d.join(&name))
                        .find(|f| f.is_file())
                };
                file.filter(|f| f.is_file())
                    .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            }
        };
        if first != want {
            bad.push(format!(
                "env {args:?}: ran {first:?} (exit {status}), archgate says {want:?}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Which operand dash and bash take as the command string (or the script
/// they read) is the one archgate's shell option parser picks; what the
/// parser calls a refusal, the shell refuses with exit 2, running nothing.
#[test]
fn shell_options_agree_with_dash_and_bash() {
    let _serial = serial();
    use archgate::inspect::exec::{first_command, parse_shell, FirstCommand, Shell, ShellRun};
    let tmp = tempfile::Builder::new()
        .prefix("shopt")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let log = base.join("log");
    for n in ["a", "b", "c", "x"] {
        let p = base.join(n);
        std::fs::write(&p, format!("#!/bin/sh\necho {n} >> {}\n", log.display())).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cases = [
        "-c a",
        "-c a b",
        "-ec a",
        "-ce a",
        "-c -e a",
        "-xc a",
        "-cx a b",
        "-c -- a",
        "-c - a",
        "-o errexit -c a",
        "-eo errexit -c a",
        "-co errexit a",
        "+e -c a",
        "+o errexit -c a",
        "-c a -e",
        "b",
        "b -c a",
        "-e b",
        "-- b",
        "- b",
        "-s b",
        "-e",
        "-c",
        "-ec -o errexit a",
        "-euc a",
        "-ceu a b c",
        "-1 -c a",
        "-e- -c a",
        "-e -c",
        "-o errexit -o -c a",
    ];
    // bash --login would read this machine's profiles first.
    let dash_only = ["--login -c a"];
    let bash_only = [
        "--frobnicate -c a",
        "--wordexp -c a",
        "--norc -c a",
        "--noprofile --norc -ec a",
        "-O extglob -c a",
        "+O extglob -c a",
        "--rcfile x -c a",
        "--posix b",
    ];
    let mut bad = Vec::new();
    for (shell, bash) in [("/bin/dash", false), ("/bin/bash", true)] {
        let all = cases
            .iter()
            .chain(if bash { &bash_only[..] } else { &dash_only[..] });
        let sh = if bash { Shell::Bash } else { Shell::Dash };
        for case in all {
            let args: Vec<&str> = case.split(' ').collect();
            let _ = std::fs::remove_file(&log);
            let status = Command::new(shell)
                .args(&args)
                .env_clear()
                .env("PATH", &base)
                .current_dir(&base)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            let ran = std::fs::read_to_string(&log).unwrap_or_default();
            let first = ran.lines().next().map(str::to_string);
            let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            let want = match parse_shell(sh, &argv) {
                ShellRun::Unknown(_) => continue,
                ShellRun::Refused(why) => {
                    if status.success() || first.is_some() {
                        bad.push(format!(
                            "{shell} {case}: ran {first:?} ({status}), archgate says it refuses: {why}"
                        ));
                    }
                    continue;
                }
                ShellRun::String { string, .. } => match first_command(&string, sh) {
                    FirstCommand::Run { argv, .. } => {
                        Some(String::from_utf8(argv[0].clone()).unwrap())
                    }
                    FirstCommand::Nothing(_) => None,
                    FirstCommand::GiveUp(_) => continue,
                },
                ShellRun::Script { path, .. } => Some(String::from_utf8(path).unwrap()),
                ShellRun::Stdin | ShellRun::Nothing(_) => None,
            };
            let want = want.filter(|w| base.join(w).is_file());
            if first != want {
                bad.push(format!(
                    "{shell} {case}: ran {first:?}, archgate says {want:?}"
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
