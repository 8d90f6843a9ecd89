//! Engine tests on in-memory trees with synthetic ELF files; the real
//! binaries are exercised end to end in `tests/`.

use super::*;
use crate::inspect::binary::GO_BUILDINFO_MAGIC;
use crate::inspect::platform::{EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_X86_64};
use crate::rootfs::mem::MemFs;

/// A minimal ELF executable: header, program headers (one PT_LOAD over the
/// file, optional PT_INTERP, optional writable PT_LOAD holding Go build info),
/// optional `.ARM.attributes` section.
#[derive(Default)]
struct ElfSpec {
    machine: u16,
    bits: u8,
    big: bool,
    flags: u32,
    interp: Option<&'static str>,
    /// PT_INTERP bytes as they are (no NUL added), instead of `interp`.
    interp_raw: Option<Vec<u8>>,
    /// A second PT_INTERP after the first.
    interp2: Option<&'static str>,
    arm_attrs: Option<Vec<u8>>,
    go: Option<Vec<u8>>,
    truncate_to: Option<usize>,
}

fn put(buf: &mut Vec<u8>, v: u64, n: usize, big: bool) {
    let b = v.to_le_bytes();
    let mut s = b[..n].to_vec();
    if big {
        s.reverse();
    }
    buf.extend_from_slice(&s);
}

fn build_elf(s: &ElfSpec) -> Vec<u8> {
    let w64 = s.bits == 64;
    let (ehsize, phentsize, shentsize) = if w64 { (64, 56, 64) } else { (52, 32, 40) };
    let addr = |buf: &mut Vec<u8>, v: u64| put(buf, v, if w64 { 8 } else { 4 }, s.big);
    let mut nph = 1;
    let interp: Option<Vec<u8>> = s
        .interp_raw
        .clone()
        .or_else(|| s.interp.map(|i| [i.as_bytes(), b"\0"].concat()));
    if interp.is_some() {
        nph += 1;
    }
    if s.interp2.is_some() {
        nph += 1;
    }
    if s.go.is_some() {
        nph += 1;
    }
    // Data area after the headers.
    let data_start = ehsize + nph * phentsize;
    let mut data = Vec::new();
    let interp_off = data_start + data.len();
    if let Some(i) = &interp {
        data.extend_from_slice(i);
    }
    let interp2_off = data_start + data.len();
    if let Some(i) = s.interp2 {
        data.extend_from_slice(i.as_bytes());
        data.push(0);
    }
    while (data_start + data.len()) % 16 != 0 {
        data.push(0);
    }
    let go_off = data_start + data.len();
    if let Some(g) = &s.go {
        data.extend_from_slice(g);
    }
    let attrs_off = data_start + data.len();
    if let Some(a) = &s.arm_attrs {
        data.extend_from_slice(a);
    }
    let sh_off = data_start + data.len();
    let nsh = if s.arm_attrs.is_some() { 2 } else { 0 };
    let total = sh_off + nsh * shentsize;

    let mut b = Vec::new();
    b.extend_from_slice(b"\x7fELF");
    b.push(if w64 { 2 } else { 1 });
    b.push(if s.big { 2 } else { 1 });
    b.push(1);
    b.resize(16, 0);
    put(&mut b, 2, 2, s.big); // e_type ET_EXEC
    put(&mut b, s.machine as u64, 2, s.big);
    put(&mut b, 1, 4, s.big);
    addr(&mut b, 0x1000); // entry
    addr(&mut b, ehsize as u64); // phoff
    addr(&mut b, if nsh > 0 { sh_off as u64 } else { 0 });
    put(&mut b, s.flags as u64, 4, s.big);
    put(&mut b, ehsize as u64, 2, s.big);
    put(&mut b, phentsize as u64, 2, s.big);
    put(&mut b, nph as u64, 2, s.big);
    put(&mut b, shentsize as u64, 2, s.big);
    put(&mut b, nsh as u64, 2, s.big);
    put(&mut b, 0, 2, s.big);
    assert_eq!(b.len(), ehsize);
    let phdr = |b: &mut Vec<u8>, ty: u64, flags: u64, off: u64, size: u64| {
        put(b, ty, 4, s.big);
        if w64 {
            put(b, flags, 4, s.big);
            put(b, off, 8, s.big);
            put(b, off, 8, s.big);
            put(b, off, 8, s.big);
            put(b, size, 8, s.big);
            put(b, size, 8, s.big);
            put(b, 8, 8, s.big);
        } else {
            put(b, off, 4, s.big);
            put(b, off, 4, s.big);
            put(b, off, 4, s.big);
            put(b, size, 4, s.big);
            put(b, size, 4, s.big);
            put(b, flags, 4, s.big);
            put(b, 4, 4, s.big);
        }
    };
    phdr(&mut b, 1, 5, 0, total as u64);
    if let Some(i) = &interp {
        phdr(&mut b, 3, 4, interp_off as u64, i.len() as u64);
    }
    if let Some(i) = s.interp2 {
        phdr(&mut b, 3, 4, interp2_off as u64, i.len() as u64 + 1);
    }
    if let Some(g) = &s.go {
        phdr(&mut b, 1, 6, go_off as u64, g.len() as u64);
    }
    b.extend_from_slice(&data);
    if nsh > 0 {
        b.resize(b.len() + shentsize, 0); // null section
        put(&mut b, 0, 4, s.big); // name
        put(&mut b, 0x7000_0003, 4, s.big); // type
        if w64 {
            put(&mut b, 0, 8, s.big);
            put(&mut b, 0, 8, s.big);
            put(&mut b, attrs_off as u64, 8, s.big);
            put(&mut b, s.arm_attrs.as_ref().unwrap().len() as u64, 8, s.big);
            put(&mut b, 0, 4, s.big);
            put(&mut b, 0, 4, s.big);
            put(&mut b, 1, 8, s.big);
            put(&mut b, 0, 8, s.big);
        } else {
            put(&mut b, 0, 4, s.big);
            put(&mut b, 0, 4, s.big);
            put(&mut b, attrs_off as u64, 4, s.big);
            put(&mut b, s.arm_attrs.as_ref().unwrap().len() as u64, 4, s.big);
            put(&mut b, 0, 4, s.big);
            put(&mut b, 0, 4, s.big);
            put(&mut b, 1, 4, s.big);
            put(&mut b, 0, 4, s.big);
        }
    }
    assert_eq!(b.len(), total);
    if let Some(n) = s.truncate_to {
        b.truncate(n);
    }
    b
}

fn elf(machine: u16, bits: u8) -> Vec<u8> {
    build_elf(&ElfSpec {
        machine,
        bits,
        ..Default::default()
    })
}

fn arm_attrs(cpu_arch: u8) -> Vec<u8> {
    let attrs = [6u8, cpu_arch, 28, 1];
    let file_len = 1 + 4 + attrs.len();
    let mut sub = b"aeabi\0".to_vec();
    sub.push(1);
    sub.extend_from_slice(&(file_len as u32).to_le_bytes());
    sub.extend_from_slice(&attrs);
    let mut d = vec![b'A'];
    d.extend_from_slice(&((sub.len() + 4) as u32).to_le_bytes());
    d.extend_from_slice(&sub);
    d
}

fn go_info(goarch: &str, goarm: Option<&str>) -> Vec<u8> {
    let mut d = GO_BUILDINFO_MAGIC.to_vec();
    d.extend_from_slice(&[4, 2]);
    d.resize(32, 0);
    let ver = b"go1.19.8";
    d.push(ver.len() as u8);
    d.extend_from_slice(ver);
    let mut m = vec![b'x'; 16];
    m.extend_from_slice(
        format!("path\tapp\nbuild\tGOARCH={goarch}\nbuild\tGOOS=linux\n").as_bytes(),
    );
    if let Some(a) = goarm {
        m.extend_from_slice(format!("build\tGOARM={a}\n").as_bytes());
    }
    m.extend_from_slice(&[b'y'; 16]);
    d.push(m.len() as u8);
    d.extend_from_slice(&m);
    d
}

fn cfg(entrypoint: &[&str], cmd: &[&str]) -> ImageConfig {
    ImageConfig {
        os: "linux".into(),
        entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn run(config: &ImageConfig, platform: &str, fs: &MemFs) -> PlatformReport {
    let p = Platform::parse(platform).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(inspect(config, &p, fs))
        .unwrap()
}

fn assert_verdict(r: &PlatformReport, v: Verdict, reason: Reason) {
    assert_eq!((r.verdict, r.reason), (v, reason), "report: {r:#?}");
}

#[test]
fn matching_static_binary_passes() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_AARCH64, 64));
    let r = run(&cfg(&["/app"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert_eq!(r.resolved, "/app");
    let b = r.checks[0].binary.as_ref().unwrap();
    assert_eq!(
        (b.arch.as_deref(), b.bits, b.endian),
        (Some("arm64"), Some(64), Some("little"))
    );
}

#[test]
fn wrong_arch_fails_with_go_evidence_and_hint() {
    let mut fs = MemFs::new();
    let bin = build_elf(&ElfSpec {
        machine: EM_X86_64,
        bits: 64,
        go: Some(go_info("amd64", None)),
        ..Default::default()
    });
    fs.file("/usr/local/bin/app", 0o755, bin);
    let r = run(&cfg(&[], &["app"]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(r.resolved, "/usr/local/bin/app");
    let go = r.checks[0].binary.as_ref().unwrap().go.as_ref().unwrap();
    assert_eq!(go.goarch.as_deref(), Some("amd64"));
    assert!(r.hint.as_deref().unwrap().contains("GOARCH=amd64"));
}

#[test]
fn argv_is_entrypoint_then_cmd() {
    let mut fs = MemFs::new();
    fs.file("/ep", 0o755, elf(EM_X86_64, 64))
        .file("/cmd", 0o755, elf(EM_AARCH64, 64));
    // CMD is only an argument when there is an ENTRYPOINT, and an absolute
    // executable argument is checked too.
    let r = run(&cfg(&["/ep"], &["/cmd"]), "linux/amd64", &fs);
    assert_eq!(r.program, "/ep");
    assert_eq!(r.checks[1].role, Role::Argument);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    let r = run(&cfg(&[], &["/ep", "-v"]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

#[test]
fn nothing_to_run_is_skipped() {
    let fs = MemFs::new();
    let r = run(&cfg(&[], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Skip, Reason::NoCommand);
}

#[test]
fn tini_style_argument_is_checked() {
    let mut fs = MemFs::new();
    fs.file("/tini", 0o755, elf(EM_AARCH64, 64))
        .file("/app", 0o755, elf(EM_X86_64, 64))
        .file("/config.yaml", 0o644, "a: b");
    let r = run(
        &cfg(&["/tini", "--", "/app", "/config.yaml", "/missing"], &[]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(r.checks.len(), 2);
    assert_eq!(
        (r.checks[1].role, r.checks[1].path.as_str()),
        (Role::Argument, "/app")
    );
}

#[test]
fn path_lookup_uses_config_path_and_default() {
    let mut fs = MemFs::new();
    fs.file("/opt/bin/tool", 0o755, elf(EM_X86_64, 64)).file(
        "/bin/tool",
        0o755,
        elf(EM_AARCH64, 64),
    );
    let mut c = cfg(&["tool"], &[]);
    let r = run(&c, "linux/arm64", &fs);
    assert_eq!(r.resolved, "/bin/tool");
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    c.env = vec!["PATH=/opt/bin:/bin".into()];
    let r = run(&c, "linux/arm64", &fs);
    assert_eq!(r.resolved, "/opt/bin/tool");
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
}

#[test]
fn relative_program_uses_workdir() {
    let mut fs = MemFs::new();
    fs.file("/srv/app", 0o755, elf(EM_AARCH64, 64));
    let mut c = cfg(&["./app"], &[]);
    c.working_dir = Some("/srv".into());
    let r = run(&c, "linux/arm64", &fs);
    assert_eq!(r.resolved, "/srv/app");
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

#[test]
fn symlink_chain_is_evidence() {
    let mut fs = MemFs::new();
    fs.file("/bin/busybox", 0o755, elf(EM_AARCH64, 64))
        .symlink("/bin/sh", "busybox")
        .symlink("/entry", "/bin/sh");
    let r = run(&cfg(&["/entry"], &[]), "linux/arm64", &fs);
    assert_eq!(r.checks[0].chain, vec!["/entry", "/bin/sh", "/bin/busybox"]);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

#[test]
fn symlink_loop_fails() {
    let mut fs = MemFs::new();
    fs.symlink("/a", "b").symlink("/b", "a");
    let r = run(&cfg(&["/a"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::SymlinkLoop);
}

#[test]
fn missing_program_fails_not_found() {
    let fs = MemFs::new();
    assert_verdict(
        &run(&cfg(&["/app"], &[]), "linux/amd64", &fs),
        Verdict::Fail,
        Reason::NotFound,
    );
    assert_verdict(
        &run(&cfg(&["app"], &[]), "linux/amd64", &fs),
        Verdict::Fail,
        Reason::NotFound,
    );
}

#[test]
fn modes_and_kinds() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o644, elf(EM_X86_64, 64))
        .dir("/dir", 0o755)
        .other("/dev/null");
    for p in ["/app", "/dir", "/dev/null"] {
        let r = run(&cfg(&[p], &[]), "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::NotExecutable);
    }
    // Through PATH, a non-executable is skipped but named.
    fs.file("/usr/bin/tool", 0o644, elf(EM_X86_64, 64));
    let r = run(&cfg(&["tool"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotExecutable);
    assert!(r.message.contains("/usr/bin/tool"), "{}", r.message);
}

#[test]
fn unknown_or_truncated_content_is_not_a_program() {
    let mut fs = MemFs::new();
    fs.file("/text", 0o755, "hello world\n")
        .file("/empty", 0o755, "");
    let truncated = build_elf(&ElfSpec {
        machine: EM_X86_64,
        bits: 64,
        truncate_to: Some(90),
        ..Default::default()
    });
    fs.file("/trunc", 0o755, truncated);
    fs.file("/short", 0o755, &b"\x7fELF\x02\x01\x01"[..]);
    for p in ["/text", "/empty", "/trunc", "/short"] {
        let r = run(&cfg(&[p], &[]), "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::NotAProgram);
    }
}

#[test]
fn script_interpreter_decides() {
    let mut fs = MemFs::new();
    fs.file("/bin/busybox", 0o755, elf(EM_X86_64, 64))
        .symlink("/bin/sh", "busybox")
        .file("/entry.sh", 0o755, "#!/bin/sh\nexec app\n");
    let r = run(&cfg(&["/entry.sh"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(
        r.checks[0].binary.as_ref().unwrap().format,
        crate::inspect::verdict::Format::Script
    );
    assert_eq!(r.checks[1].role, Role::Interpreter);
    assert_eq!(r.checks[1].resolved, "/bin/busybox");
    let r = run(&cfg(&["/entry.sh"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

#[test]
fn env_shebang_looks_up_path() {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/env", 0o755, elf(EM_AARCH64, 64))
        .file("/usr/local/bin/python3", 0o755, elf(EM_X86_64, 64))
        .file("/run.py", 0o755, "#!/usr/bin/env python3\n")
        .file("/run2.py", 0o755, "#!/usr/bin/env python3 -u\n")
        .file("/run3.py", 0o755, "#!/usr/bin/env -S python3 -u\n");
    let r = run(&cfg(&["/run.py"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(r.checks.last().unwrap().resolved, "/usr/local/bin/python3");
    // The kernel passes "python3 -u" as one word: env finds no such program.
    let r = run(&cfg(&["/run2.py"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    let r = run(&cfg(&["/run3.py"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
}

/// Two scripts naming each other: the kernel's nesting limit ends it with
/// ELOOP ("too many levels of symbolic links").
#[test]
fn nested_scripts_stop() {
    let mut fs = MemFs::new();
    fs.file("/a", 0o755, "#!/b\n").file("/b", 0o755, "#!/a\n");
    let r = run(&cfg(&["/a"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::SymlinkLoop);
    assert!(r.hint.as_deref().unwrap().contains("nested #!"), "{r:#?}");
}

#[test]
fn loader_must_exist_in_image() {
    let mut fs = MemFs::new();
    let dynamic = build_elf(&ElfSpec {
        machine: EM_X86_64,
        bits: 64,
        interp: Some("/lib64/ld-linux-x86-64.so.2"),
        ..Default::default()
    });
    fs.file("/app", 0o755, dynamic);
    let r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::LoaderMissing);
    assert!(r.hint.as_deref().unwrap().contains("glibc"));
    assert_eq!(r.checks[1].role, Role::Loader);
    // With the loader reachable through usrmerge-style links it passes.
    fs.file(
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        0o755,
        elf(EM_X86_64, 64),
    )
    .symlink("/lib64", "usr/lib64")
    .symlink(
        "/usr/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    )
    .symlink("/lib", "usr/lib");
    let r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert_eq!(
        r.checks[1].resolved,
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    );
}

#[test]
fn thirty_two_bit_compat_warns() {
    let mut fs = MemFs::new();
    fs.file("/x86", 0o755, elf(EM_386, 32)).file(
        "/arm",
        0o755,
        build_elf(&ElfSpec {
            machine: EM_ARM,
            bits: 32,
            arm_attrs: Some(arm_attrs(10)),
            ..Default::default()
        }),
    );
    assert_verdict(
        &run(&cfg(&["/x86"], &[]), "linux/amd64", &fs),
        Verdict::Warn,
        Reason::Compat32bit,
    );
    assert_verdict(
        &run(&cfg(&["/arm"], &[]), "linux/arm64", &fs),
        Verdict::Warn,
        Reason::Compat32bit,
    );
    assert_verdict(
        &run(&cfg(&["/x86"], &[]), "linux/arm64", &fs),
        Verdict::Fail,
        Reason::ArchMismatch,
    );
}

#[test]
fn arm_variants_from_attributes_and_go() {
    let mut fs = MemFs::new();
    let c_v7 = build_elf(&ElfSpec {
        machine: EM_ARM,
        bits: 32,
        flags: 0x0500_0400,
        arm_attrs: Some(arm_attrs(10)),
        ..Default::default()
    });
    let c_v5 = build_elf(&ElfSpec {
        machine: EM_ARM,
        bits: 32,
        arm_attrs: Some(arm_attrs(4)),
        ..Default::default()
    });
    let go7 = build_elf(&ElfSpec {
        machine: EM_ARM,
        bits: 32,
        go: Some(go_info("arm", Some("7"))),
        ..Default::default()
    });
    let go6 = build_elf(&ElfSpec {
        machine: EM_ARM,
        bits: 32,
        go: Some(go_info("arm", Some("6"))),
        ..Default::default()
    });
    let bare = elf(EM_ARM, 32);
    fs.file("/c7", 0o755, c_v7)
        .file("/c5", 0o755, c_v5)
        .file("/g7", 0o755, go7)
        .file("/g6", 0o755, go6)
        .file("/bare", 0o755, bare);
    let check = |p: &str, plat: &str| run(&cfg(&[p], &[]), plat, &fs);
    assert_verdict(
        &check("/c7", "linux/arm/v6"),
        Verdict::Fail,
        Reason::VariantMismatch,
    );
    assert_verdict(&check("/c7", "linux/arm/v7"), Verdict::Pass, Reason::Match);
    assert_verdict(&check("/c5", "linux/arm/v6"), Verdict::Pass, Reason::Match);
    assert_verdict(
        &check("/g7", "linux/arm/v6"),
        Verdict::Fail,
        Reason::VariantMismatch,
    );
    assert_verdict(&check("/g6", "linux/arm/v7"), Verdict::Pass, Reason::Match);
    assert_verdict(
        &check("/bare", "linux/arm/v6"),
        Verdict::Warn,
        Reason::VariantUnknown,
    );
    assert_verdict(
        &check("/bare", "linux/arm/v7"),
        Verdict::Pass,
        Reason::Match,
    );
    let r = check("/c7", "linux/arm/v7");
    let b = r.checks[0].binary.as_ref().unwrap();
    assert_eq!((b.variant.as_deref(), b.float), (Some("v7"), Some("hard")));
    let r = check("/g6", "linux/arm/v7");
    assert_eq!(
        r.checks[0]
            .binary
            .as_ref()
            .unwrap()
            .go
            .as_ref()
            .unwrap()
            .goarm
            .as_deref(),
        Some("6")
    );
}

#[test]
fn big_endian_is_told_apart() {
    let mut fs = MemFs::new();
    fs.file(
        "/be",
        0o755,
        build_elf(&ElfSpec {
            machine: EM_PPC64,
            bits: 64,
            big: true,
            ..Default::default()
        }),
    )
    .file("/le", 0o755, elf(EM_PPC64, 64));
    assert_verdict(
        &run(&cfg(&["/be"], &[]), "linux/ppc64", &fs),
        Verdict::Pass,
        Reason::Match,
    );
    assert_verdict(
        &run(&cfg(&["/be"], &[]), "linux/ppc64le", &fs),
        Verdict::Fail,
        Reason::ArchMismatch,
    );
    assert_verdict(
        &run(&cfg(&["/le"], &[]), "linux/ppc64le", &fs),
        Verdict::Pass,
        Reason::Match,
    );
}

#[test]
fn pe_in_linux_image_is_os_mismatch() {
    let mut pe = vec![0u8; 0x200];
    pe[0] = b'M';
    pe[1] = b'Z';
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    let mut fs = MemFs::new();
    fs.file("/app.exe", 0o755, pe);
    let r = run(&cfg(&["/app.exe"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::OsMismatch);
}

#[test]
fn healthcheck_programs() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_AARCH64, 64))
        .file("/bin/probe", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["/app"], &[]);
    c.healthcheck = Some(vec!["CMD".into(), "probe".into(), "--ok".into()]);
    let r = run(&c, "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(r.checks[1].role, Role::Healthcheck);
    c.healthcheck = Some(vec!["CMD-SHELL".into(), "probe --ok".into()]);
    let r = run(&c, "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert_eq!(r.checks[1].path, "/bin/sh");
    c.healthcheck = Some(vec!["NONE".into()]);
    assert_verdict(&run(&c, "linux/arm64", &fs), Verdict::Pass, Reason::Match);
}

#[test]
fn windows_platform_rejects_elf() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64));
    let r = run(&cfg(&["/app"], &[]), "windows/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::OsMismatch);
}

/// Red-team finding: BuildKit writes a Windows image's WorkingDir as `\` or
/// `\app`, absolute on Windows; every Windows image failed as a relative
/// WorkingDir, and an ELF in one was not called an OS mismatch.
#[test]
fn windows_working_dirs_are_absolute_by_windows_rules() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64));
    for wd in ["\\", "\\app", "C:\\app", "c:/app"] {
        let mut c = cfg(&["/app"], &[]);
        c.working_dir = Some(wd.into());
        let r = run(&c, "windows/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::OsMismatch);
    }
    // On Linux they are relative.
    let mut c = cfg(&["/app"], &[]);
    c.working_dir = Some("\\app".into());
    assert_verdict(
        &run(&c, "linux/amd64", &fs),
        Verdict::Fail,
        Reason::BadInvocation,
    );
    c.working_dir = Some("app".into());
    assert_verdict(
        &run(&c, "windows/amd64", &fs),
        Verdict::Fail,
        Reason::BadInvocation,
    );
}

// ---- issue 8: the kernel's, runc's and the wrappers' exact rules ----------

fn note_has(r: &PlatformReport, needle: &str) -> bool {
    r.notes.iter().any(|n| n.contains(needle))
}

fn check_of<'r>(r: &'r PlatformReport, role: Role, path: &str) -> &'r Check {
    r.checks
        .iter()
        .find(|c| c.role == role && c.path == path)
        .unwrap_or_else(|| panic!("no {role:?} check of {path:?}: {r:#?}"))
}

/// A usrmerge-free busybox tree of one arch: /bin/busybox, /bin/sh -> it.
fn busybox_fs(machine: u16) -> MemFs {
    let mut fs = MemFs::new();
    fs.file("/bin/busybox", 0o755, elf(machine, 64))
        .symlink("/bin/sh", "busybox");
    fs
}

/// A dash-like tree: /bin/sh -> dash (not busybox, so no applets).
fn dash_fs(machine: u16) -> MemFs {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/dash", 0o755, elf(machine, 64))
        .symlink("/bin/sh", "/usr/bin/dash")
        .file("/bin/bash", 0o755, elf(machine, 64));
    fs
}

/// `#!/bin/sh\r` (a CRLF checkout) used to pass: the kernel looks for
/// `/bin/sh\r`.
#[test]
fn crlf_shebang_is_not_found_with_crlf_hint() {
    let mut fs = dash_fs(EM_AARCH64);
    fs.file("/entry.sh", 0o755, "#!/bin/sh\r\nexec app\r\n");
    let r = run(&cfg(&["/entry.sh"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert_eq!(
        check_of(&r, Role::Interpreter, "/bin/sh\r").verdict,
        Verdict::Fail
    );
    assert!(r.hint.as_deref().unwrap().contains("CRLF"), "{r:#?}");
    assert!(r.message.contains("carriage return"), "{}", r.message);
}

/// `#!/usr/bin/env python3\r` used to find python3: env looks up `python3\r`.
#[test]
fn crlf_env_shebang_looks_up_name_with_cr() {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/env", 0o755, elf(EM_AARCH64, 64))
        .file("/usr/bin/python3", 0o755, elf(EM_AARCH64, 64))
        .file("/app.py", 0o755, "#!/usr/bin/env python3\r\nprint(1)\r\n");
    let r = run(&cfg(&["/app.py"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert_eq!(
        check_of(&r, Role::Interpreter, "python3\r").verdict,
        Verdict::Fail
    );
    assert!(r.hint.as_deref().unwrap().contains("CRLF"), "{r:#?}");
    // With LF line endings it runs.
    fs.file("/app.py", 0o755, "#!/usr/bin/env python3\nprint(1)\n");
    let r = run(&cfg(&["/app.py"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

/// binfmt_script's parse, case by case (fs/binfmt_script.c): blanks are
/// space and tab only, NUL ends the line, the 256-byte buffer, empty names.
#[test]
fn shebang_blank_nul_and_buffer_rules() {
    use crate::inspect::binary::parse_shebang;
    let script = |i: &[u8], a: Option<&[u8]>| Ident::Script {
        interpreter: i.to_vec(),
        arg: a.map(<[u8]>::to_vec),
    };
    let enoexec = |b: &[u8]| matches!(parse_shebang(b), Ident::NotAProgram { .. });
    assert_eq!(parse_shebang(b"#!/bin/sh\r\n"), script(b"/bin/sh\r", None));
    assert_eq!(
        parse_shebang(b"#!/bin/sh -e\r\n"),
        script(b"/bin/sh", Some(b"-e\r"))
    );
    assert_eq!(
        parse_shebang(b"#!/bin/sh\x0b-x\n"),
        script(b"/bin/sh\x0b-x", None)
    );
    assert_eq!(
        parse_shebang(b"#!\t/x\targ1  arg2 \t\n"),
        script(b"/x", Some(b"arg1  arg2"))
    );
    assert_eq!(parse_shebang(b"#!/x\0junk\n"), script(b"/x", None));
    assert_eq!(parse_shebang(b"#!/x a\0b c\n"), script(b"/x", Some(b"a")));
    // A short file without a newline: a trailing blank gives an empty argument.
    assert_eq!(parse_shebang(b"#!/x "), script(b"/x", Some(b"")));
    assert_eq!(parse_shebang(b"#!/x y z"), script(b"/x", Some(b"y z")));
    // Empty names: the kernel opens "" (EACCES, judged by the engine).
    assert_eq!(parse_shebang(b"#!"), script(b"", None));
    assert_eq!(parse_shebang(b"#!   "), script(b"", None));
    assert_eq!(parse_shebang(b"#!\0/x\n"), script(b"", None));
    assert!(enoexec(b"#!\n"));
    assert!(enoexec(b"#!  \t \n"));
    // The buffer: a name is only cut when nothing ends it inside 256 bytes.
    let name = |n: usize| [b"/".as_slice(), &vec![b'n'; n - 1]].concat();
    assert!(enoexec(&[b"#!".as_slice(), &name(254), b"\n"].concat()));
    assert!(enoexec(&[b"#!".as_slice(), &name(300)].concat()));
    assert_eq!(
        parse_shebang(&[b"#!".as_slice(), &name(253), b"\n"].concat()),
        script(&name(253), None)
    );
    // A blank at byte 255 ends the name; the argument after it is dropped.
    assert_eq!(
        parse_shebang(&[b"#!".as_slice(), &name(253), b" arg\n"].concat()),
        script(&name(253), None)
    );
    // The argument is cut at byte 254.
    let long = [b"#!/x ".as_slice(), &[b'A'; 300], b"\n"].concat();
    assert_eq!(parse_shebang(&long), script(b"/x", Some(&[b'A'; 250])));
    assert!(enoexec(&[b"#!".as_slice(), &[b' '; 300], b"/x\n"].concat()));
    assert_eq!(
        parse_shebang(&[b"#!".as_slice(), &[b' '; 100], b"/x\n"].concat()),
        script(b"/x", None)
    );
}

/// An empty #! name opens the working directory: EACCES, not-executable.
#[test]
fn empty_shebang_name_is_not_executable() {
    let mut fs = MemFs::new();
    fs.file("/s", 0o755, "#!");
    let r = run(&cfg(&["/s"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotExecutable);
}

/// The engine allowed only 4 nested scripts; Linux runs 5 (fs/exec.c), and
/// the 6th is ELOOP.
#[test]
fn five_nested_scripts_run_six_are_eloop() {
    let chain = |n: usize| {
        let mut fs = MemFs::new();
        fs.file("/elf", 0o755, elf(EM_X86_64, 64));
        let mut next = "/elf".to_string();
        for k in (1..=n).rev() {
            fs.file(format!("/s{k}"), 0o755, format!("#!{next}\n"));
            next = format!("/s{k}");
        }
        run(&cfg(&["/s1"], &[]), "linux/amd64", &fs)
    };
    for n in 1..=MAX_SCRIPT_DEPTH {
        assert_verdict(&chain(n), Verdict::Pass, Reason::Match);
    }
    let r = chain(MAX_SCRIPT_DEPTH + 1);
    assert_verdict(&r, Verdict::Fail, Reason::SymlinkLoop);
    assert!(r.message.contains("at most 5"), "{}", r.message);
}

/// `#!/usr/bin/env NAME` is a fresh exec: its own nesting starts again.
#[test]
fn env_in_shebang_starts_a_fresh_exec() {
    let mut fs = MemFs::new();
    fs.file("/elf", 0o755, elf(EM_X86_64, 64))
        .file("/usr/bin/env", 0o755, elf(EM_X86_64, 64));
    let mut next = "/elf".to_string();
    for k in (1..=4).rev() {
        fs.file(format!("/b{k}"), 0o755, format!("#!{next}\n"));
        next = format!("/b{k}");
    }
    fs.file("/a4", 0o755, "#!/usr/bin/env /b1\n");
    for k in (1..=3).rev() {
        fs.file(format!("/a{k}"), 0o755, format!("#!/a{}\n", k + 1));
    }
    assert_verdict(
        &run(&cfg(&["/a1"], &[]), "linux/amd64", &fs),
        Verdict::Pass,
        Reason::Match,
    );
    // A script that has env run itself loops at runtime; archgate stops,
    // undecided.
    fs.file("/self", 0o755, "#!/usr/bin/env /self\n");
    let p = Platform::parse("linux/amd64").unwrap();
    let e = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(inspect(&cfg(&["/self"], &[]), &p, &fs))
        .unwrap_err();
    assert!(e.to_string().contains("more than 32 times"), "{e}");
}

fn dyn_elf(spec: ElfSpec) -> Vec<u8> {
    build_elf(&ElfSpec {
        machine: EM_X86_64,
        bits: 64,
        ..spec
    })
}

fn with_loader(mut fs: MemFs) -> MemFs {
    fs.file("/lib64/ld-linux-x86-64.so.2", 0o755, elf(EM_X86_64, 64));
    fs
}

/// PT_INTERP of 1 byte (or empty) used to pass or read as "is a directory":
/// binfmt_elf says ENOEXEC.
#[test]
fn pt_interp_shorter_than_two_bytes_is_not_a_program() {
    for raw in [&b"\0"[..], b"/"] {
        let fs = with_loader(MemFs::new())
            .file(
                "/app",
                0o755,
                dyn_elf(ElfSpec {
                    interp_raw: Some(raw.to_vec()),
                    ..Default::default()
                }),
            )
            .clone();
        let r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::NotAProgram);
        assert!(!r.message.contains("directory"), "{}", r.message);
    }
}

/// A PT_INTERP whose last byte is not NUL used to be read up to its end.
#[test]
fn pt_interp_not_nul_terminated_is_not_a_program() {
    let mut fs = with_loader(MemFs::new());
    fs.file(
        "/app",
        0o755,
        dyn_elf(ElfSpec {
            interp_raw: Some(b"/lib64/ld-linux-x86-64.so.2".to_vec()),
            ..Default::default()
        }),
    );
    let r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotAProgram);
    assert!(r.message.contains("NUL"), "{}", r.message);
    // The machine is checked first: a wrong-arch file says so.
    let r = run(&cfg(&["/app"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    // "\0\0" is a valid, empty name: the kernel opens "" (EACCES).
    fs.file(
        "/app",
        0o755,
        dyn_elf(ElfSpec {
            interp_raw: Some(b"\0\0".to_vec()),
            ..Default::default()
        }),
    );
    let r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotExecutable);
}

/// Only the first PT_INTERP counts (load_elf_binary breaks after it).
#[test]
fn only_the_first_pt_interp_counts() {
    let mut fs = with_loader(MemFs::new());
    fs.file(
        "/good-first",
        0o755,
        dyn_elf(ElfSpec {
            interp: Some("/lib64/ld-linux-x86-64.so.2"),
            interp2: Some("/nonexistent/ld.so"),
            ..Default::default()
        }),
    )
    .file(
        "/bad-first",
        0o755,
        dyn_elf(ElfSpec {
            interp: Some("/nonexistent/ld.so"),
            interp2: Some("/lib64/ld-linux-x86-64.so.2"),
            ..Default::default()
        }),
    );
    assert_verdict(
        &run(&cfg(&["/good-first"], &[]), "linux/amd64", &fs),
        Verdict::Pass,
        Reason::Match,
    );
    assert_verdict(
        &run(&cfg(&["/bad-first"], &[]), "linux/amd64", &fs),
        Verdict::Fail,
        Reason::LoaderMissing,
    );
}

/// A relative PT_INTERP is opened from the working directory, as the kernel
/// does.
#[test]
fn relative_pt_interp_resolves_against_workdir() {
    let mut fs = with_loader(MemFs::new());
    fs.file(
        "/app",
        0o755,
        dyn_elf(ElfSpec {
            interp: Some("lib64/ld-linux-x86-64.so.2"),
            ..Default::default()
        }),
    );
    let mut c = cfg(&["/app"], &[]);
    assert_verdict(&run(&c, "linux/amd64", &fs), Verdict::Pass, Reason::Match);
    c.working_dir = Some("/srv".into());
    assert_verdict(
        &run(&c, "linux/amd64", &fs),
        Verdict::Fail,
        Reason::LoaderMissing,
    );
}

/// The loader must be an ELF: a script, PE or text file is ELIBBAD.
#[test]
fn non_elf_loader_is_not_a_program() {
    let mut pe = vec![0u8; 0x200];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    for loader in [b"#!/bin/sh\n".to_vec(), pe, b"text\n".to_vec()] {
        let mut fs = MemFs::new();
        fs.file("/lib64/ld-linux-x86-64.so.2", 0o755, loader)
            .file("/bin/sh", 0o755, elf(EM_X86_64, 64))
            .file(
                "/app",
                0o755,
                dyn_elf(ElfSpec {
                    interp: Some("/lib64/ld-linux-x86-64.so.2"),
                    ..Default::default()
                }),
            );
        let r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::NotAProgram);
        assert!(r.message.contains("ELIBBAD"), "{}", r.message);
    }
}

/// runc (Go >= 1.19 exec.LookPath) refuses a program found through an
/// empty, `.` or relative PATH entry; archgate used to look it up in
/// WorkingDir and pass.
#[test]
fn relative_path_entry_is_errdot_not_a_workdir_lookup() {
    let mut fs = MemFs::new();
    fs.file("/srv/app", 0o755, elf(EM_X86_64, 64))
        .file("/srv/bin/tool", 0o755, elf(EM_X86_64, 64));
    for (path, word) in [(".:/bin", "app"), (":/bin", "app"), ("bin:/bin", "tool")] {
        let mut c = cfg(&[word], &[]);
        c.working_dir = Some("/srv".into());
        c.env = vec![format!("PATH={path}")];
        let r = run(&c, "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::NotFound);
        assert!(
            r.message.contains("relative to the working directory"),
            "{}",
            r.message
        );
        assert!(r.hint.as_deref().unwrap().contains("ErrDot"), "{r:#?}");
        // GODEBUG=execerrdot=0 in the image turns the check off.
        c.env.push("GODEBUG=execerrdot=0".into());
        assert_verdict(&run(&c, "linux/amd64", &fs), Verdict::Pass, Reason::Match);
    }
    // An absolute entry found first is fine; a name with a slash is never
    // looked up, and `./app` is not ErrDot.
    fs.file("/bin/app", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["app"], &[]);
    c.working_dir = Some("/srv".into());
    c.env = vec!["PATH=/bin:.".into()];
    assert_eq!(run(&c, "linux/amd64", &fs).resolved, "/bin/app");
    c.entrypoint = vec!["./app".into()];
    assert_eq!(run(&c, "linux/amd64", &fs).resolved, "/srv/app");
}

/// PATH="" has no entries for Go: nothing is found, not even in WorkingDir.
#[test]
fn empty_path_finds_nothing() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["app"], &[]);
    c.env = vec!["PATH=".into()];
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert!(r.message.contains("PATH is empty"), "{}", r.message);
}

/// Docker starts from its default PATH even when the image has Env but no
/// PATH (containerd would leave PATH unset; archgate follows Docker).
#[test]
fn env_without_path_gets_docker_default_path() {
    let mut fs = MemFs::new();
    fs.file("/usr/local/bin/app", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["app"], &[]);
    c.env = vec!["LANG=C.UTF-8".into()];
    assert_verdict(&run(&c, "linux/amd64", &fs), Verdict::Pass, Reason::Match);
}

/// `/app/` where /app is a file used to pass as /app: it is ENOTDIR.
#[test]
fn trailing_slash_entrypoint_is_not_a_directory() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64));
    let r = run(&cfg(&["/app/"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert!(r.message.contains("not a directory"), "{}", r.message);
}

/// `java -jar /app/app.jar` with a 0755 jar used to fail not-a-program:
/// the jar is data to java.
#[test]
fn jar_argument_is_data_to_java() {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/java", 0o755, elf(EM_AARCH64, 64)).file(
        "/app/app.jar",
        0o755,
        &b"PK\x03\x04rest of a zip"[..],
    );
    let r = run(
        &cfg(&["java", "-jar", "/app/app.jar"], &[]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert_eq!(r.checks.len(), 1, "{r:#?}");
    assert!(note_has(&r, "/app/app.jar: a zip archive"), "{r:#?}");
    assert!(note_has(&r, "data for java"), "{r:#?}");
}

/// `["/bin/sh", "/entrypoint.sh"]` with a 0755 file without `#!` used to
/// fail not-a-program; sh reads it. With a `#!` line naming something
/// missing it passes too: sh never execs the file.
#[test]
fn script_argument_is_data_to_sh() {
    for body in ["echo hi\n", "#!/bin/bash\necho hi\n"] {
        let mut fs = dash_fs(EM_AARCH64);
        fs.file("/entrypoint.sh", 0o755, body);
        fs.file("/bin/bash", 0o755, elf(EM_X86_64, 64));
        let r = run(
            &cfg(&["/bin/sh", "/entrypoint.sh"], &[]),
            "linux/arm64",
            &fs,
        );
        assert_verdict(&r, Verdict::Pass, Reason::Match);
        assert!(
            note_has(&r, "/entrypoint.sh is read by sh as data"),
            "{r:#?}"
        );
    }
}

/// `["python3", "/app/main.py"]`: the script is data, whatever its `#!`.
#[test]
fn python_script_argument_is_data() {
    let mut fs = MemFs::new();
    fs.file("/usr/local/bin/python3", 0o755, elf(EM_AARCH64, 64))
        .file("/app/main.py", 0o755, "#!/usr/bin/python3\nprint(1)\n")
        .file("/app/plain.py", 0o755, "print(1)\n");
    for arg in ["/app/main.py", "/app/plain.py"] {
        let r = run(&cfg(&["python3", arg], &[]), "linux/arm64", &fs);
        assert_verdict(&r, Verdict::Pass, Reason::Match);
        assert!(note_has(&r, "data for python3"), "{r:#?}");
    }
}

/// A binary argument of the wrong arch still fails, even to an interpreter
/// (but a PE is data to dotnet).
#[test]
fn binary_argument_of_wrong_arch_still_fails() {
    let mut fs = busybox_fs(EM_AARCH64);
    fs.file("/app", 0o755, elf(EM_X86_64, 64))
        .file("/usr/bin/python3", 0o755, elf(EM_AARCH64, 64));
    let r = run(&cfg(&["python3", "/app"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    // A shell reads its file operand as a script: a binary is no script,
    // whatever its machine (bash: "cannot execute binary file"; dash and
    // ash: a syntax error).
    for argv in [&["/bin/sh", "/app"][..], &["/bin/busybox", "sh", "/app"]] {
        let r = run(&cfg(argv, &[]), "linux/arm64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::NotAProgram);
    }
    let mut pe = vec![0u8; 0x200];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe[0x84..0x86].copy_from_slice(&0x14cu16.to_le_bytes());
    fs.file("/usr/bin/dotnet", 0o755, elf(EM_AARCH64, 64))
        .file("/app/app.dll", 0o755, pe);
    let r = run(&cfg(&["dotnet", "/app/app.dll"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

/// An unknown program's `#!` argument is judged (a wrapper archgate does not
/// know may exec it).
#[test]
fn script_argument_of_unknown_program_is_judged() {
    let mut fs = MemFs::new();
    fs.file("/runner", 0o755, elf(EM_AARCH64, 64))
        .file("/job.sh", 0o755, "#!/bin/bash\n");
    let r = run(&cfg(&["/runner", "/job.sh"], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert_eq!(
        check_of(&r, Role::Argument, "/job.sh").verdict,
        Verdict::Fail
    );
}

/// Wrappers exec a program named by bare name through PATH: it used to be
/// skipped (only absolute arguments were looked at).
#[test]
fn wrapper_targets_by_bare_name_are_judged() {
    let cases: &[&[&str]] = &[
        &["/sbin/tini", "--", "app"],
        &["/sbin/tini", "-s", "-g", "-p", "SIGTERM", "--", "app", "-x"],
        &["tini-static", "-e", "143", "app"],
        &[
            "/usr/bin/dumb-init",
            "--single-child",
            "--rewrite",
            "15:2",
            "app",
        ],
        &["dumb-init", "-c", "app", "-x"],
        &["catatonit", "-g", "--", "app"],
        &["su-exec", "nobody", "app"],
        &["gosu", "nobody:nogroup", "app", "--serve"],
        &["env", "A=1", "app"],
        &["env", "-i", "PATH=/opt/bin", "app"],
        &["env", "-S", "A=1 app -x"],
        &["/sbin/tini", "--", "gosu", "nobody", "env", "app"],
    ];
    for argv in cases {
        let mut fs = MemFs::new();
        for w in [
            "tini",
            "tini-static",
            "dumb-init",
            "catatonit",
            "su-exec",
            "gosu",
            "env",
        ] {
            fs.file(format!("/usr/bin/{w}"), 0o755, elf(EM_AARCH64, 64));
        }
        fs.symlink("/sbin/tini", "/usr/bin/tini")
            .file("/opt/bin/app", 0o755, elf(EM_X86_64, 64))
            .symlink("/usr/local/bin/app", "/opt/bin/app");
        let r = run(&cfg(argv, &[]), "linux/arm64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
        let c = r
            .checks
            .iter()
            .find(|c| c.verdict == Verdict::Fail)
            .unwrap();
        assert_eq!(
            (c.role, c.path.as_str()),
            (Role::Argument, "app"),
            "{argv:?}"
        );
        assert_eq!(c.resolved, "/opt/bin/app");
        assert!(r.checks[0].verdict == Verdict::Pass, "{argv:?}");
    }
}

/// What the wrappers do when PATH changes: `env -i` leaves glibc's default
/// (/bin:/usr/bin); gosu is Go and refuses a relative hit (ErrDot).
#[test]
fn wrapper_path_rules() {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/env", 0o755, elf(EM_X86_64, 64))
        .file("/lib64/ld-linux-x86-64.so.2", 0o755, elf(EM_X86_64, 64))
        .file(
            "/usr/bin/env",
            0o755,
            dyn_elf(ElfSpec {
                interp: Some("/lib64/ld-linux-x86-64.so.2"),
                ..Default::default()
            }),
        )
        .file("/usr/local/bin/app", 0o755, elf(EM_X86_64, 64))
        .file("/usr/local/bin/gosu", 0o755, elf(EM_X86_64, 64))
        .file("/srv/app", 0o755, elf(EM_X86_64, 64));
    let r = run(&cfg(&["env", "-i", "app"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert!(r.message.contains("PATH is unset"), "{}", r.message);
    let mut c = cfg(&["gosu", "nobody", "app"], &[]);
    c.working_dir = Some("/srv".into());
    c.env = vec!["PATH=.:/usr/local/bin".into()];
    let r = run(&c, "linux/amd64", &fs);
    // runc finds gosu through the absolute entry; gosu finds app through ".".
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert!(r.message.contains("gosu refuses"), "{}", r.message);
    // A C wrapper's execvp has no ErrDot.
    c.entrypoint = vec!["env".into(), "app".into()];
    c.env = vec!["PATH=.:/usr/bin".into()];
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert_eq!(r.checks.last().unwrap().resolved, "/srv/app");
}

/// Wrapper options that run nothing, or that archgate does not know, are
/// noted, never judged; one tini does not take stops it (usage, exit 1).
#[test]
fn wrapper_help_and_unknown_options_are_noted() {
    let mut fs = MemFs::new();
    fs.file("/tini", 0o755, elf(EM_X86_64, 64));
    for (argv, note) in [
        (&["/tini", "--version"][..], "prints"),
        (&["/tini", "-a", "app"], "forks"),
        (&["/tini"], "no program"),
    ] {
        let r = run(&cfg(argv, &[]), "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Pass, Reason::Match);
        assert!(note_has(&r, note), "{argv:?}: {r:#?}");
    }
    let r = run(&cfg(&["/tini", "-z", "app"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
}

/// `sh -c STRING` (and Docker's shell form) runs the first word of STRING:
/// it used to pass whatever that was.
#[test]
fn sh_c_first_word_is_judged() {
    let cases: &[&[&str]] = &[
        &["/bin/sh", "-c", "app --serve"],
        &["/bin/sh", "-c", "exec app"],
        &["/bin/sh", "-ec", "exec app \"$@\"", "sh"],
        &["/bin/sh", "-c", "-e", "FOO=1 exec app >/dev/null 2>&1"],
        &["/bin/bash", "-o", "pipefail", "-c", "app | tee log"],
        &["/bin/sh", "-c", "PATH=/opt/bin app"],
        &["/bin/sh", "-c", "exec /opt/bin/app"],
    ];
    for argv in cases {
        let mut fs = dash_fs(EM_AARCH64);
        fs.file("/opt/bin/app", 0o755, elf(EM_X86_64, 64))
            .symlink("/usr/bin/app", "/opt/bin/app");
        let r = run(&cfg(&[], argv), "linux/arm64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
        let c = r
            .checks
            .iter()
            .find(|c| c.verdict == Verdict::Fail)
            .unwrap();
        assert_eq!(c.role, Role::Command, "{argv:?}");
    }
    // ENTRYPOINT ["/bin/sh", "-c"] with CMD as the string.
    let mut fs = dash_fs(EM_AARCH64);
    fs.file("/usr/bin/app", 0o755, elf(EM_X86_64, 64));
    let r = run(&cfg(&["/bin/sh", "-c"], &["app"]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    // Missing under dash: sh exits 127.
    let r = run(&cfg(&[], &["/bin/sh", "-c", "nope"]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    // A text file without #! is run by the shell itself.
    fs.file("/usr/bin/job", 0o755, "echo hi\n");
    let r = run(&cfg(&[], &["/bin/sh", "-c", "job"]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

/// `sh -c 'exec "$@"' sh PROGRAM` runs PROGRAM; binaries among the
/// positional parameters are judged as arguments.
#[test]
fn sh_c_exec_args_runs_its_positional_parameters() {
    let mut fs = dash_fs(EM_AARCH64);
    fs.file("/usr/bin/app", 0o755, elf(EM_X86_64, 64))
        .file("/app", 0o755, elf(EM_X86_64, 64));
    let r = run(
        &cfg(&["/bin/sh", "-c", "exec \"$@\"", "sh", "app", "-x"], &[]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(check_of(&r, Role::Command, "app").verdict, Verdict::Fail);
    let r = run(
        &cfg(
            &["/bin/sh", "-c", "set -e; exec \"$0\" \"$@\"", "/app"],
            &[],
        ),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(check_of(&r, Role::Argument, "/app").verdict, Verdict::Fail);
}

/// Strings that need expansion, keywords or builtins are not judged, and
/// the report says so.
#[test]
fn sh_c_gives_up_on_what_needs_a_shell() {
    let mut fs = dash_fs(EM_AARCH64);
    fs.file("/usr/bin/app", 0o755, elf(EM_X86_64, 64));
    for s in [
        "$APP",
        "cd /srv && exec ./app",
        "set -e; app",
        "if true; then app; fi",
    ] {
        let r = run(&cfg(&[], &["/bin/sh", "-c", s]), "linux/arm64", &fs);
        assert_verdict(&r, Verdict::Pass, Reason::Match);
        assert!(note_has(&r, "not judged"), "{s:?}: {r:#?}");
    }
    // `exec "$@"` with no parameters runs nothing.
    let r = run(
        &cfg(&[], &["/bin/sh", "-c", "exec \"$@\""]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "runs nothing"), "{r:#?}");
    // bash reads BASH_ENV first.
    let mut c = cfg(&[], &["/bin/bash", "-c", "app"]);
    c.env = vec!["BASH_ENV=/etc/profile".into()];
    assert_verdict(&run(&c, "linux/arm64", &fs), Verdict::Pass, Reason::Match);
}

/// busybox sh runs its own applets without a PATH lookup (Debian's build
/// even prefers them): a name not in PATH is noted, not failed.
#[test]
fn busybox_sh_missing_command_is_noted() {
    let fs = busybox_fs(EM_AARCH64);
    let r = run(
        &cfg(&[], &["/bin/sh", "-c", "wget -q http://x/"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "busybox"), "{r:#?}");
    // ... but no applet has a carriage return in its name.
    let r = run(&cfg(&[], &["/bin/sh", "-c", "sh\r"]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    // `busybox sh -c` picks the applet from the first argument.
    let r = run(
        &cfg(&["/bin/busybox", "sh", "-c", "exec /bin/busybox"], &[]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(r.checks.iter().any(|c| c.role == Role::Command), "{r:#?}");
}

fn entry_fs(script: &str) -> MemFs {
    let mut fs = dash_fs(EM_AARCH64);
    fs.file("/docker-entrypoint.sh", 0o755, script)
        .file("/usr/local/bin/redis-server", 0o755, elf(EM_X86_64, 64))
        .file("/usr/local/bin/good", 0o755, elf(EM_AARCH64, 64))
        .file("/usr/local/bin/gosu", 0o755, elf(EM_AARCH64, 64));
    fs
}

const ENTRY: &str = "#!/bin/sh\nset -e\nif [ \"${1#-}\" != \"$1\" ]; then\n\tset -- redis-server \"$@\"\nfi\nexec \"$@\"\n";

/// The official-image pattern: ENTRYPOINT a script ending in `exec "$@"`,
/// CMD ["redis-server"]. The wrong-arch redis-server used to pass.
#[test]
fn entrypoint_script_exec_args_judges_cmd() {
    let fs = entry_fs(ENTRY);
    let c = cfg(&["/docker-entrypoint.sh"], &["redis-server"]);
    let r = run(&c, "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    let cmd = check_of(&r, Role::Command, "redis-server");
    assert_eq!(cmd.resolved, "/usr/local/bin/redis-server");
    let r = run(
        &cfg(&["/docker-entrypoint.sh"], &["good"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    // `#!/usr/bin/env bash` entrypoints too.
    let mut fs2 = entry_fs(&ENTRY.replace("#!/bin/sh", "#!/usr/bin/env bash"));
    fs2.file("/usr/bin/env", 0o755, elf(EM_AARCH64, 64));
    let r = run(&c, "linux/arm64", &fs2);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    check_of(&r, Role::Command, "redis-server");
}

/// CMD[0] starting with `-` is the script's business; a CMD[0] that is not
/// there may be mapped by the script (node's runs `node app.js`): noted,
/// never failed.
#[test]
fn entrypoint_script_option_or_missing_cmd_is_noted() {
    let fs = entry_fs(ENTRY);
    for (cmd, note) in [
        (&["--appendonly", "yes"][..], "is an option"),
        (&["app.js"], "may map it"),
        (&["./app.js"], "may map it"),
        (&[], "no arguments"),
    ] {
        let r = run(&cfg(&["/docker-entrypoint.sh"], cmd), "linux/arm64", &fs);
        assert_verdict(&r, Verdict::Pass, Reason::Match);
        assert!(note_has(&r, note), "{cmd:?}: {r:#?}");
    }
    let mut fs = entry_fs(ENTRY);
    fs.file("/app.js", 0o644, "console.log(1)\n");
    let r = run(
        &cfg(&["/docker-entrypoint.sh"], &["/app.js"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "no execute bit"), "{r:#?}");
}

/// `exec gosu USER "$@"` / `exec su-exec USER "$@"`: gosu is judged, then
/// CMD[0] through gosu.
#[test]
fn entrypoint_script_exec_gosu_judges_both() {
    let fs = entry_fs("#!/bin/sh\nexec gosu redis \"$@\"\n");
    let r = run(
        &cfg(&["/docker-entrypoint.sh"], &["redis-server"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(check_of(&r, Role::Command, "gosu").verdict, Verdict::Pass);
    assert_eq!(
        check_of(&r, Role::Command, "redis-server").verdict,
        Verdict::Fail
    );
    let mut fs = entry_fs("#!/bin/sh\nexec su-exec redis \"$@\"\n");
    fs.file("/sbin/su-exec", 0o755, elf(EM_X86_64, 64));
    let r = run(
        &cfg(&["/docker-entrypoint.sh"], &["good"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(
        check_of(&r, Role::Command, "su-exec").verdict,
        Verdict::Fail
    );
}

/// A script that does not end in `exec "$@"`: CMD is not judged (noted).
#[test]
fn other_entrypoint_scripts_do_not_judge_cmd() {
    let fs = entry_fs("#!/bin/sh\nexec \"$@\"\necho done\n");
    let r = run(
        &cfg(&["/docker-entrypoint.sh"], &["redis-server"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(
        note_has(&r, "runs under sh and does not end in exec"),
        "{r:#?}"
    );
}

/// HEALTHCHECK CMD-SHELL: the shell, then the first word of the string.
#[test]
fn healthcheck_shell_string_first_word_is_judged() {
    let mut fs = dash_fs(EM_AARCH64);
    fs.file("/app", 0o755, elf(EM_AARCH64, 64))
        .file("/usr/bin/curl", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["/app"], &[]);
    c.healthcheck = Some(vec![
        "CMD-SHELL".into(),
        "curl -f http://localhost/ || exit 1".into(),
    ]);
    let r = run(&c, "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    let h = r
        .checks
        .iter()
        .find(|c| c.verdict == Verdict::Fail)
        .unwrap();
    assert_eq!((h.role, h.path.as_str()), (Role::Healthcheck, "curl"));
}

/// Random argv over a tree full of wrappers, shells, loops and scripts
/// that name each other: every inspection ends, and every check has a
/// verdict (a fixed-seed generator).
#[test]
fn engine_survives_hostile_argv() {
    let mut fs = dash_fs(EM_X86_64);
    for w in [
        "tini",
        "dumb-init",
        "catatonit",
        "su-exec",
        "gosu",
        "env",
        "python3",
    ] {
        fs.file(format!("/usr/bin/{w}"), 0o755, elf(EM_X86_64, 64));
    }
    fs.file("/bin/busybox", 0o755, elf(EM_X86_64, 64))
        .symlink("/bin/ash", "busybox")
        .file("/e.sh", 0o755, "#!/bin/sh\nexec \"$@\"\n")
        .file("/g.sh", 0o755, "#!/usr/bin/env sh\nexec gosu u \"$@\"\n")
        .file("/self", 0o755, "#!/usr/bin/env /self\n")
        .file("/ping", 0o755, "#!/pong\n")
        .file("/pong", 0o755, "#!/ping\n")
        .file("/crlf", 0o755, "#!/bin/sh\r\n")
        .file("/tinis", 0o755, "#!/usr/bin/tini --\n")
        .symlink("/loop", "/loop")
        .file("/data", 0o644, "x");
    let vocab = [
        "/e.sh",
        "/g.sh",
        "/self",
        "/ping",
        "/crlf",
        "/tinis",
        "/loop",
        "/data",
        "tini",
        "--",
        "-s",
        "dumb-init",
        "catatonit",
        "su-exec",
        "gosu",
        "env",
        "-i",
        "-S",
        "-u",
        "PATH=",
        "PATH=.",
        "/bin/sh",
        "bash",
        "-c",
        "-ec",
        "exec",
        "app",
        "\"$@\"",
        "sh -c sh",
        "/bin/ash",
        "busybox",
        "python3",
        ".",
        "..",
        "",
        "-",
        "e.sh",
        "x=1",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let n = 1 + (next() % 7) as usize;
        let argv: Vec<&str> = (0..n)
            .map(|_| vocab[(next() % vocab.len() as u64) as usize])
            .collect();
        let mut c = cfg(&argv[..1], &argv[1..]);
        if next() % 4 == 0 {
            c.env = vec!["PATH=.:/usr/bin:/bin".into()];
            c.working_dir = Some("/".into());
        }
        let p = Platform::parse("linux/amd64").unwrap();
        let r = match tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(inspect(&c, &p, &fs))
        {
            Ok(r) => r,
            // A loop (`/self`, `/g.sh` through gosu) is undecided.
            Err(InspectError::Undecided(_)) => continue,
            Err(e) => panic!("{argv:?}: {e}"),
        };
        assert!(r.checks.len() < 200, "{argv:?}: {} checks", r.checks.len());
        assert!(r.notes.len() <= 65, "{argv:?}");
    }
}

// ---------------------------------------------------------------- --deep

use super::deep::{is_candidate, place, repath, Completer, Findings, LIST_MAX, SYNTH};
use crate::inspect::ldpath::builtin_searches as searched_by_loader;

/// A shared object (`ET_DYN`, no PT_INTERP) for `machine`.
fn shared_object(machine: u16, bits: u8) -> Vec<u8> {
    let mut b = elf(machine, bits);
    b[16] = 3; // e_type ET_DYN (little-endian)
    b
}

fn deep(platform: &str, fs: &MemFs, path: &str, follow: bool) -> Option<DeepFile> {
    let p = Platform::parse(platform).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let entry = rt.block_on(fs.lstat(path.as_bytes())).unwrap().unwrap();
    let mut f = rt
        .block_on(inspect_file(&p, fs, path.as_bytes(), &entry, follow))
        .unwrap();
    if let Some(f) = f.as_mut() {
        place(f, &p, searched_by_loader(&p, path.as_bytes()));
    }
    f
}

#[test]
fn deep_judges_a_shared_library_by_its_machine_whatever_its_mode() {
    let mut fs = MemFs::new();
    fs.file("/usr/lib/libfoo.so.1", 0o644, shared_object(EM_X86_64, 64));
    let f = deep("linux/amd64", &fs, "/usr/lib/libfoo.so.1", true).expect("a program");
    assert_eq!(f.verdict(), Verdict::Pass, "{f:#?}");
    assert_eq!(f.checks[0].role, Role::File);
    let f = deep("linux/arm64", &fs, "/usr/lib/libfoo.so.1", true).expect("a program");
    assert_eq!(
        (f.checks[0].verdict, f.checks[0].reason),
        (Verdict::Fail, Reason::ArchMismatch),
        "{f:#?}"
    );
}

#[test]
fn deep_skips_data_text_and_code_for_no_known_cpu() {
    let mut fs = MemFs::new();
    fs.file("/etc/passwd", 0o644, "root:x:0:0::/root:/bin/sh\n")
        .file("/usr/share/doc/x.py", 0o644, "#!/usr/bin/python2\n")
        .file("/opt/kernel.cubin", 0o644, elf(190, 64))
        .file("/opt/tool.exe", 0o644, b"MZ\x90\x00".to_vec());
    for p in [
        "/etc/passwd",
        "/usr/share/doc/x.py",
        "/opt/kernel.cubin",
        "/opt/tool.exe",
    ] {
        assert_eq!(deep("linux/amd64", &fs, p, true), None, "{p}");
    }
}

#[test]
fn deep_executable_with_a_missing_loader_fails_when_followed() {
    let mut fs = MemFs::new();
    fs.file(
        "/usr/bin/helper",
        0o755,
        build_elf(&ElfSpec {
            machine: EM_X86_64,
            bits: 64,
            interp: Some("/lib64/ld-linux-x86-64.so.2"),
            ..Default::default()
        }),
    );
    let f = deep("linux/amd64", &fs, "/usr/bin/helper", true).unwrap();
    assert_eq!(f.verdict(), Verdict::Fail, "{f:#?}");
    assert!(
        f.checks.iter().any(|c| c.reason == Reason::LoaderMissing),
        "{f:#?}"
    );
    // Not followed: the file passes on its own and says what it needs.
    let f = deep("linux/amd64", &fs, "/usr/bin/helper", false).unwrap();
    assert_eq!(f.verdict(), Verdict::Pass, "{f:#?}");
    assert_eq!(
        f.needs,
        Some((Role::Loader, b"/lib64/ld-linux-x86-64.so.2".to_vec()))
    );
}

#[test]
fn deep_script_without_its_interpreter_only_warns_but_a_foreign_one_fails() {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/tool", 0o755, "#!/usr/bin/python3\nprint(1)\n");
    let f = deep("linux/amd64", &fs, "/usr/bin/tool", true).unwrap();
    assert_eq!(f.verdict(), Verdict::Warn, "{f:#?}");
    fs.file("/usr/bin/python3", 0o755, elf(EM_AARCH64, 64));
    let f = deep("linux/amd64", &fs, "/usr/bin/tool", true).unwrap();
    assert_eq!(f.verdict(), Verdict::Fail, "{f:#?}");
    assert!(f.checks.iter().any(|c| c.reason == Reason::ArchMismatch));
}

#[test]
fn deep_findings_fold_into_the_platform_verdict() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64))
        .file("/usr/lib/libbad.so", 0o644, shared_object(EM_AARCH64, 64))
        .file("/usr/lib/libgood.so", 0o644, shared_object(EM_X86_64, 64));
    let p = Platform::parse("linux/amd64").unwrap();
    let mut r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    let files: Vec<DeepFile> = ["/app", "/usr/lib/libbad.so", "/usr/lib/libgood.so"]
        .iter()
        .filter_map(|p| deep("linux/amd64", &fs, p, true))
        .collect();
    fold_deep(&mut r, files.len(), files, &p);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    let d = r.deep.expect("summary");
    assert_eq!((d.files, d.failed, d.warned), (3, 1, 0));
    // Only what did not pass is listed.
    let listed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.role == Role::File)
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(listed, ["/usr/lib/libbad.so"]);
    assert!(r.message.contains("/usr/lib/libbad.so"), "{}", r.message);
    assert!(r.hint.is_some());
}

#[test]
fn deep_skips_an_elf_executable_without_an_execute_bit() {
    // Test data (Go's debug/elf testdata, a 386 FreeBSD executable, 0644):
    // exec cannot run it and the loader cannot map an ET_EXEC file.
    let mut fs = MemFs::new();
    fs.file("/src/testdata/gcc-386-exec", 0o644, elf(EM_386, 32))
        .file("/src/testdata/libtest.so", 0o644, shared_object(EM_386, 32));
    assert_eq!(
        deep("linux/arm64", &fs, "/src/testdata/gcc-386-exec", true),
        None
    );
    // A library is judged, and fails only in a directory the loader
    // searches by default: here, test data, it warns.
    let f = deep("linux/arm64", &fs, "/src/testdata/libtest.so", true).expect("judged");
    assert_eq!(f.verdict(), Verdict::Warn);
    fs.file("/usr/lib/libtest.so", 0o644, shared_object(EM_386, 32));
    let f = deep("linux/arm64", &fs, "/usr/lib/libtest.so", true).expect("judged");
    assert_eq!(f.verdict(), Verdict::Fail);
}

#[test]
fn deep_candidates_are_executables_and_shared_object_names() {
    use crate::rootfs::Entry;
    let f = |mode, size| Entry::file(mode, size);
    assert!(is_candidate(b"helper", &f(0o755, 10)));
    assert!(is_candidate(b"libc.so.6", &f(0o644, 10)));
    assert!(is_candidate(
        b"_ssl.cpython-311-x86_64-linux-gnu.so",
        &f(0o644, 10)
    ));
    assert!(!is_candidate(b"README", &f(0o644, 10)));
    assert!(!is_candidate(b"app.node", &f(0o644, 10)));
    assert!(!is_candidate(b"libc.so.6", &f(0o644, 0)));
    assert!(!is_candidate(b"bin", &Entry::dir(0o755)));
}

#[test]
fn deep_executable_with_a_bad_pt_interp_fails_also_unfollowed() {
    let mut fs = MemFs::new();
    fs.file(
        "/usr/bin/helper",
        0o755,
        build_elf(&ElfSpec {
            machine: EM_X86_64,
            bits: 64,
            interp_raw: Some(b"/lib64/ld".to_vec()),
            ..Default::default()
        }),
    );
    for follow in [true, false] {
        let f = deep("linux/amd64", &fs, "/usr/bin/helper", follow).unwrap();
        assert_eq!(
            (f.verdict(), f.checks[0].reason),
            (Verdict::Fail, Reason::NotAProgram),
            "follow {follow}: {f:#?}"
        );
        assert_eq!(f.needs, None);
    }
}

/// What `Completer` makes of a file judged unfollowed must be what
/// following gives: same verdicts and reasons, check by check.
fn completed(platform: &str, fs: &MemFs, path: &str) -> (DeepFile, DeepFile) {
    let p = Platform::parse(platform).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let followed = deep(platform, fs, path, true).expect("a program");
    let unfollowed = deep(platform, fs, path, false).expect("a program");
    let mut c = Completer::default();
    let done = rt
        .block_on(c.complete(&p, fs, path.as_bytes(), unfollowed))
        .unwrap();
    (followed, done)
}

fn outcomes(f: &DeepFile) -> Vec<(Role, String, Verdict, Reason)> {
    f.checks
        .iter()
        .map(|c| (c.role, c.path.clone(), c.verdict, c.reason))
        .collect()
}

#[test]
fn deep_completing_an_unfollowed_file_gives_what_following_gives() {
    let mut fs = MemFs::new();
    let dynamic = |machine| {
        build_elf(&ElfSpec {
            machine,
            bits: 64,
            interp: Some("/lib64/ld-linux-x86-64.so.2"),
            ..Default::default()
        })
    };
    fs.file("/usr/bin/ok", 0o755, dynamic(EM_X86_64))
        .file("/usr/bin/foreign", 0o755, dynamic(EM_AARCH64))
        .file("/usr/bin/tool", 0o755, "#!/usr/bin/python3 -u\nprint(1)\n")
        .file(
            "/usr/bin/envtool",
            0o755,
            "#!/usr/bin/env python3\nprint(1)\n",
        )
        .file("/usr/bin/crlf", 0o755, "#!/bin/sh\r\necho\r\n")
        .file("/usr/bin/env", 0o755, elf(EM_X86_64, 64))
        .file("/bin/sh", 0o755, elf(EM_X86_64, 64));
    let all = [
        "/usr/bin/ok",
        "/usr/bin/foreign",
        "/usr/bin/tool",
        "/usr/bin/envtool",
        "/usr/bin/crlf",
    ];
    // No loader, no python3: loader-missing fails, scripts warn.
    for p in all {
        let (a, b) = completed("linux/amd64", &fs, p);
        assert_eq!(outcomes(&a), outcomes(&b), "{p}: {a:#?}\n{b:#?}");
        assert_eq!(a.verdict(), b.verdict());
    }
    assert_eq!(
        completed("linux/amd64", &fs, "/usr/bin/ok").1.verdict(),
        Verdict::Fail
    );
    assert_eq!(
        completed("linux/amd64", &fs, "/usr/bin/tool").1.verdict(),
        Verdict::Warn
    );
    // With the loader and a foreign python3.
    fs.file(
        "/lib64/ld-linux-x86-64.so.2",
        0o755,
        shared_object(EM_X86_64, 64),
    )
    .file("/usr/bin/python3", 0o755, elf(EM_AARCH64, 64));
    for p in all {
        let (a, b) = completed("linux/amd64", &fs, p);
        assert_eq!(outcomes(&a), outcomes(&b), "{p}: {a:#?}\n{b:#?}");
        assert_eq!(a.checks[0].message, b.checks[0].message, "{p}");
    }
    assert_eq!(
        completed("linux/amd64", &fs, "/usr/bin/ok").1.verdict(),
        Verdict::Pass
    );
    let (_, env) = completed("linux/amd64", &fs, "/usr/bin/envtool");
    assert_eq!(
        (env.verdict(), env.checks[0].reason),
        (Verdict::Fail, Reason::ArchMismatch),
        "{env:#?}"
    );
}

#[test]
fn deep_a_template_judged_at_the_stand_in_path_takes_each_files_path() {
    let mut fs = MemFs::new();
    fs.file(SYNTH, 0o644, shared_object(EM_AARCH64, 64));
    let t = deep(
        "linux/amd64",
        &fs,
        std::str::from_utf8(SYNTH).unwrap(),
        true,
    )
    .unwrap();
    let mut f = t.clone();
    repath(&mut f.checks, SYNTH, b"/usr/lib/libz.so.1");
    assert_eq!(f.path(), "/usr/lib/libz.so.1");
    assert_eq!(f.checks[0].resolved, "/usr/lib/libz.so.1");
    assert_eq!(f.checks[0].chain, ["/usr/lib/libz.so.1"]);
    assert!(
        f.checks[0].message.starts_with("/usr/lib/libz.so.1 is "),
        "{}",
        f.checks[0].message
    );
    assert!(!format!("{f:?}").contains("archgate-deep"));
}

#[test]
fn deep_findings_list_failures_first_and_count_past_the_list() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64))
        .file("/lib/a.so", 0o644, shared_object(EM_AARCH64, 64))
        .file("/bin/w", 0o755, "#!/nowhere\n");
    let p = Platform::parse("linux/amd64").unwrap();
    let mut findings = Findings::default();
    let bad = deep("linux/amd64", &fs, "/lib/a.so", true).unwrap();
    findings.add(deep("linux/amd64", &fs, "/bin/w", true).unwrap());
    for _ in 0..LIST_MAX + 5 {
        findings.add(bad.clone());
    }
    findings.count(Verdict::Pass, 10);
    let mut r = run(&cfg(&["/app"], &[]), "linux/amd64", &fs);
    findings.fold(&mut r, &p);
    let d = r.deep.unwrap();
    assert_eq!(
        (d.files, d.failed, d.warned),
        (LIST_MAX + 5 + 1 + 10, LIST_MAX + 5, 1)
    );
    let files: Vec<&Check> = r.checks.iter().filter(|c| c.role == Role::File).collect();
    assert_eq!(files.len(), LIST_MAX + 1);
    assert_eq!(files[0].verdict, Verdict::Fail);
    assert_eq!(files[LIST_MAX].verdict, Verdict::Warn);
    assert!(
        r.notes.iter().any(|n| n.contains("5 more files")),
        "{:?}",
        r.notes
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
}

// ---------------------------------------------------------------------------
// Regressions from the red-team pass (tests/e2e/redteam.rs has the end-to-end
// evidence against the real programs).
// ---------------------------------------------------------------------------

/// Docker resets `ENTRYPOINT [""]` to none (moby daemon/create.go): CMD is
/// the whole argv. `[""]` followed by more words is not reset.
#[test]
fn entrypoint_of_one_empty_string_is_reset() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64));
    let r = run(&cfg(&[""], &["/app", "-x"]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert_eq!(r.program, "/app");
    let r = run(&cfg(&[""], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Skip, Reason::NoCommand);
    let r = run(&cfg(&["", "x"], &["/app"]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
}

/// Env `["PATH"]` removes Docker's default PATH (moby
/// `ReplaceOrAppendEnvValues`): runc's LookPath then finds no bare name.
#[test]
fn env_entry_without_equals_unsets_the_default_path() {
    let mut fs = MemFs::new();
    fs.file("/bin/app", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["app"], &[]);
    c.env = vec!["PATH".into()];
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    assert!(r.message.contains("PATH is unset"), "{}", r.message);
    c.env = vec!["A".into()];
    assert_verdict(&run(&c, "linux/amd64", &fs), Verdict::Pass, Reason::Match);
}

/// GODEBUG is parsed as Go parses it: ` execerrdot=0` is no setting, and
/// repeated settings that Go releases read differently leave runc's ErrDot
/// undecided (noted, not judged).
#[test]
fn godebug_execerrdot_is_matched_exactly() {
    let mut fs = MemFs::new();
    fs.file("/srv/app", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["app"], &[]);
    c.working_dir = Some("/srv".into());
    for (g, want) in [
        ("GODEBUG=execerrdot=0", Verdict::Pass),
        ("GODEBUG= execerrdot=0", Verdict::Fail),
        ("GODEBUG=a=1, execerrdot=0", Verdict::Fail),
        ("GODEBUG=a=1,execerrdot=0", Verdict::Pass),
    ] {
        c.env = vec!["PATH=.:/bin".into(), g.into()];
        let r = run(&c, "linux/amd64", &fs);
        assert_eq!(r.verdict, want, "{g}: {r:#?}");
    }
    c.env = vec![
        "PATH=.:/bin".into(),
        "GODEBUG=execerrdot=0,execerrdot=1".into(),
    ];
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Skip, Reason::NoCommand);
    assert!(note_has(&r, "GODEBUG"), "{r:#?}");
}

/// A synthetic shell binary whose option table holds these names.
fn shell_with_options(machine: u16, names: &[&str]) -> Vec<u8> {
    let mut b = elf(machine, 64);
    for n in names {
        b.extend_from_slice(n.as_bytes());
        b.push(0);
    }
    b
}

/// dash up to 0.5.12 has no pipefail: `sh -o pipefail -c CMD` stops with
/// "Illegal option -o pipefail" (exit 2). The names a shell knows are read
/// from its binary; one without an option table at all is not judged.
#[test]
fn shell_o_name_the_binary_does_not_know_is_refused() {
    let mut fs = dash_fs(EM_X86_64);
    fs.file("/app", 0o755, elf(EM_AARCH64, 64));
    let c = cfg(&["/bin/sh", "-o", "pipefail", "-c", "exec /app"], &[]);
    fs.file(
        "/usr/bin/dash",
        0o755,
        shell_with_options(EM_X86_64, &["errexit", "noglob"]),
    );
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
    assert!(r.message.contains("-o pipefail"), "{}", r.message);
    fs.file(
        "/usr/bin/dash",
        0o755,
        shell_with_options(EM_X86_64, &["errexit", "pipefail"]),
    );
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    fs.file("/usr/bin/dash", 0o755, elf(EM_X86_64, 64));
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "cannot be told"), "{r:#?}");
    // Names every release knows need no look, and bash knows pipefail.
    let r = run(
        &cfg(&["/bin/sh", "-o", "errexit", "-c", "exec /app"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    let r = run(
        &cfg(&["/bin/bash", "-o", "pipefail", "-c", "exec /app"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
}

/// `#!/bin/sh -e -x` hands "-e -x" to sh as one word: dash and bash refuse
/// the blank as an option and exit 2. `sh -c` with no string exits 2 too.
#[test]
fn shell_refusals_fail_bad_invocation() {
    let mut fs = dash_fs(EM_X86_64);
    fs.file("/app", 0o755, elf(EM_X86_64, 64)).file(
        "/ep.sh",
        0o755,
        "#!/bin/sh -e -x\nexec /app\n",
    );
    let r = run(&cfg(&["/ep.sh"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
    let c = check_of(&r, Role::Interpreter, "/bin/sh");
    assert_eq!(c.verdict, Verdict::Pass);
    fs.file("/ep.sh", 0o755, "#!/bin/sh -e\nexec /app\n");
    assert_verdict(
        &run(&cfg(&["/ep.sh"], &[]), "linux/amd64", &fs),
        Verdict::Pass,
        Reason::Match,
    );
    let r = run(&cfg(&["/bin/sh", "-c"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
    let r = run(
        &cfg(&["/bin/bash", "--frobnicate", "-c", "/app"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
}

/// `chdir` is a dash and ash builtin (not judged as a program), but an
/// external command to bash.
#[test]
fn chdir_builtin_depends_on_the_shell() {
    let mut fs = dash_fs(EM_X86_64);
    fs.file("/srv/app", 0o755, elf(EM_X86_64, 64));
    let r = run(
        &cfg(&["/bin/sh", "-c", "chdir /srv && exec /srv/app"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "chdir"), "{r:#?}");
    let r = run(
        &cfg(&["/bin/bash", "-c", "chdir /srv && exec /srv/app"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
}

/// A login shell reads /etc/profile and the user's profile first: with one
/// in the image, what it runs is not judged.
#[test]
fn login_shell_with_a_profile_is_not_judged() {
    let mut fs = dash_fs(EM_X86_64);
    fs.file("/opt/tool/bin/tool", 0o755, elf(EM_X86_64, 64));
    let c = cfg(&["/bin/bash", "-lc", "tool --serve"], &[]);
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    fs.file(
        "/root/.bash_profile",
        0o644,
        "export PATH=/opt/tool/bin:$PATH\n",
    );
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "login shell"), "{r:#?}");
    // Not a login shell: the profile is not read.
    let r = run(&cfg(&["/bin/bash", "-c", "tool"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
}

/// Docker refuses a relative WorkingDir at container create (moby
/// daemon/container.go `verifyContainerSettings`).
#[test]
fn relative_working_dir_is_refused() {
    let mut fs = MemFs::new();
    fs.file("/app/run", 0o755, elf(EM_X86_64, 64));
    let mut c = cfg(&["/app/run"], &[]);
    c.working_dir = Some("app".into());
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
    assert!(r.message.contains("absolute path"), "{}", r.message);
    c.working_dir = Some("/app".into());
    assert_verdict(&run(&c, "linux/amd64", &fs), Verdict::Pass, Reason::Match);
}

/// execve's E2BIG: one string of MAX_ARG_STRLEN (32 pages with its NUL) or
/// more, exact on 4 KiB-page architectures; on arm64 the page size decides
/// (noted) up to 32 x 64 KiB. All strings together over 6 MiB: E2BIG
/// whatever the stack limit.
#[test]
fn argument_lists_execve_refuses_are_e2big() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o755, elf(EM_X86_64, 64))
        .file("/app64", 0o755, elf(EM_AARCH64, 64));
    let big = "x".repeat(131072);
    let r = run(&cfg(&["/app", &big], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
    assert!(r.message.contains("E2BIG"), "{}", r.message);
    let r = run(&cfg(&["/app", &big[1..]], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    let mut c = cfg(&["/app"], &[]);
    c.env = vec![format!("BLOB={}", &big[5..])];
    assert_verdict(
        &run(&c, "linux/amd64", &fs),
        Verdict::Fail,
        Reason::BadInvocation,
    );
    let r = run(&cfg(&["/app64", &big], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "pages"), "{r:#?}");
    let huge = "x".repeat(32 * 65536);
    let r = run(&cfg(&["/app64", &huge], &[]), "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
    let many: Vec<String> = (0..60).map(|_| "y".repeat(120_000)).collect();
    let mut argv: Vec<&str> = vec!["/app"];
    argv.extend(many.iter().map(String::as_str));
    let r = run(&cfg(&argv, &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::BadInvocation);
    let r = run(&cfg(&argv[..10], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "RLIMIT_STACK"), "{r:#?}");
}

/// More than 32 programs exec'd one after the other: undecided (exit 2),
/// never a pass of what was not followed. 18 `env`s are judged.
#[test]
fn wrapper_chains_are_followed_or_undecided() {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/env", 0o755, elf(EM_X86_64, 64))
        .file("/opt/app", 0o755, elf(EM_AARCH64, 64));
    let mut argv = vec!["/usr/bin/env"; 18];
    argv.push("/opt/app");
    let r = run(&cfg(&argv, &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    let mut argv = vec!["/usr/bin/env"; 40];
    argv.push("/opt/app");
    let p = Platform::parse("linux/amd64").unwrap();
    let e = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(inspect(&cfg(&argv, &[]), &p, &fs))
        .unwrap_err();
    assert!(matches!(e, InspectError::Undecided(_)), "{e}");
}

/// Binary arguments already judged are skipped by their path bytes (a name
/// that only displays like another is another file), in linear time.
#[test]
fn binary_arguments_are_deduplicated_by_path_bytes() {
    let mut fs = MemFs::new();
    fs.file(b"/x/\\xfe", 0o755, elf(EM_X86_64, 64))
        .file(b"/x/\xfe", 0o755, elf(EM_AARCH64, 64))
        .symlink("/opt/runner", b"/x/\\xfe")
        .symlink("/opt/payload", b"/x/\xfe");
    let r = run(
        &cfg(&["/opt/runner", "/opt/payload", "/opt/runner"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(r.checks.len(), 2);
}

/// binfmt_elf on x86-64 reads a header as ELF64 (or, for compat, ELF32) in
/// its own byte order whatever EI_CLASS and EI_DATA say; riscv's
/// `elf_check_arch` compares EI_CLASS. A foreign header is still described
/// by what it says it is.
#[test]
fn elf_class_and_data_bytes_as_the_kernel_reads_them() {
    let mut fs = MemFs::new();
    for (name, at, byte) in [("c0", 4, 0u8), ("c1", 4, 1), ("d2", 5, 2), ("d0", 5, 0)] {
        let mut b = elf(EM_X86_64, 64);
        b[at] = byte;
        fs.file(format!("/{name}"), 0o755, b);
    }
    for name in ["/c0", "/c1", "/d2", "/d0"] {
        let r = run(&cfg(&[name], &[]), "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Pass, Reason::Match);
        let b = r.checks[0].binary.as_ref().unwrap();
        assert_eq!((b.bits, b.endian), (Some(64), Some("little")), "{name}");
    }
    // The same bytes on arm64 are an amd64 binary, and on riscv64 the class
    // byte must be right.
    let r = run(&cfg(&["/d2"], &[]), "linux/arm64", &fs);
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    let mut rv = elf(243, 64);
    rv[4] = 1;
    fs.file("/rv", 0o755, rv);
    let r = run(&cfg(&["/rv"], &[]), "linux/riscv64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotAProgram);
    // A real i386 binary is still read as ELF32 (compat).
    fs.file("/i386", 0o755, elf(EM_386, 32));
    let r = run(&cfg(&["/i386"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Warn, Reason::Compat32bit);
}

/// The loader must be of the binary's own class and machine (ELIBBAD
/// otherwise), not merely of the platform: an i386 binary with the x86-64
/// loader under its PT_INTERP path, and the reverse, fail.
#[test]
fn loader_of_another_class_than_the_binary_is_elibbad() {
    let mut fs = MemFs::new();
    fs.file(
        "/a",
        0o755,
        build_elf(&ElfSpec {
            machine: EM_386,
            bits: 32,
            interp: Some("/lib/ld-linux.so.2"),
            ..Default::default()
        }),
    )
    .file("/lib/ld-linux.so.2", 0o755, elf(EM_X86_64, 64))
    .file(
        "/b",
        0o755,
        dyn_elf(ElfSpec {
            machine: EM_X86_64,
            bits: 64,
            interp: Some("/lib64/ld-linux-x86-64.so.2"),
            ..Default::default()
        }),
    )
    .file("/lib64/ld-linux-x86-64.so.2", 0o755, elf(EM_386, 32));
    for p in ["/a", "/b"] {
        let r = run(&cfg(&[p], &[]), "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::NotAProgram);
        assert!(r.message.contains("ELIBBAD"), "{}", r.message);
    }
    fs.file("/lib/ld-linux.so.2", 0o755, elf(EM_386, 32));
    let r = run(&cfg(&["/a"], &[]), "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Warn, Reason::Compat32bit);
}

/// qemu-user runs its program itself, for the machine it emulates: a
/// foreign-arch program after `qemu-aarch64-static` is noted, not failed;
/// qemu itself is judged, and so are binaries among the program's own
/// arguments.
#[test]
fn qemu_user_program_is_not_judged_against_the_platform() {
    let mut fs = MemFs::new();
    fs.file("/usr/bin/qemu-aarch64-static", 0o755, elf(EM_X86_64, 64))
        .file("/opt/app", 0o755, elf(EM_AARCH64, 64))
        .file("/opt/ppc", 0o755, elf(EM_PPC64, 64));
    let r = run(
        &cfg(
            &[
                "/usr/bin/qemu-aarch64-static",
                "-L",
                "/usr/aarch64-linux-gnu",
                "/opt/app",
                "x",
            ],
            &[],
        ),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "qemu user-mode emulation of arm64"), "{r:#?}");
    let r = run(
        &cfg(
            &["/usr/bin/qemu-aarch64-static", "/opt/app", "/opt/ppc"],
            &[],
        ),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(r.checks[1].path, "/opt/ppc");
    let r = run(
        &cfg(&["/usr/bin/qemu-aarch64-static", "/opt/app"], &[]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
}

/// glibc's execvp and dash's search go on to the next PATH entry when an
/// exec fails with ENOENT (a missing `#!` interpreter or loader) or EACCES;
/// bash and runc's Go LookPath run only the first hit.
#[test]
fn execvp_and_dash_go_on_past_a_hit_whose_interpreter_is_missing() {
    let mut fs = dash_fs(EM_X86_64);
    fs.file(
        "/usr/bin/env",
        0o755,
        dyn_elf(ElfSpec {
            interp: Some("/lib64/ld-linux-x86-64.so.2"),
            ..Default::default()
        }),
    )
    .file("/lib64/ld-linux-x86-64.so.2", 0o755, elf(EM_X86_64, 64))
    .file("/opt/broken/app", 0o755, "#!/nonexistent/python3\n")
    .file("/usr/local/bin/app", 0o755, elf(EM_X86_64, 64));
    let env = vec!["PATH=/opt/broken:/usr/local/bin:/usr/bin:/bin".to_string()];
    for (ep, cmd, want) in [
        (&["/usr/bin/env", "app"][..], &[][..], Verdict::Pass),
        (&[], &["/bin/sh", "-c", "app"], Verdict::Pass),
        (&[], &["/bin/bash", "-c", "app"], Verdict::Fail),
        (&["app"], &[], Verdict::Fail),
    ] {
        let mut c = cfg(ep, cmd);
        c.env = env.clone();
        let r = run(&c, "linux/amd64", &fs);
        assert_eq!(r.verdict, want, "{ep:?} {cmd:?}: {r:#?}");
        if want == Verdict::Pass {
            assert!(note_has(&r, "skipped"), "{r:#?}");
        }
    }
}

/// A wrong-arch program first in PATH is ENOEXEC: execvp (and dash) stop
/// there (glibc hands it to /bin/sh, which cannot read it).
#[test]
fn enoexec_ends_the_search() {
    let mut fs = dash_fs(EM_X86_64);
    fs.file("/usr/bin/env", 0o755, elf(EM_X86_64, 64))
        .file("/opt/broken/app", 0o755, elf(EM_AARCH64, 64))
        .file("/usr/local/bin/app", 0o755, elf(EM_X86_64, 64));
    for ep in [&["/usr/bin/env", "app"][..], &["/bin/sh", "-c", "app"]] {
        let mut c = cfg(ep, &[]);
        c.env = vec!["PATH=/opt/broken:/usr/local/bin".into()];
        let r = run(&c, "linux/amd64", &fs);
        assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    }
}

/// busybox sh may run its own applet instead of a failing PATH hit (when
/// built to prefer applets, as Debian's is): not judged, not failed.
#[test]
fn busybox_sh_path_hit_that_fails_may_be_its_applet() {
    let mut fs = busybox_fs(EM_X86_64);
    fs.file("/usr/bin/wget", 0o755, elf(EM_AARCH64, 64));
    let r = run(
        &cfg(&["/bin/sh", "-c", "wget -q http://x/"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "prefer applets"), "{r:#?}");
    // dash has no applets.
    let mut fs = dash_fs(EM_X86_64);
    fs.file("/usr/bin/wget", 0o755, elf(EM_AARCH64, 64));
    let r = run(
        &cfg(&["/bin/sh", "-c", "wget -q http://x/"], &[]),
        "linux/amd64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
}

/// A non-root `User` needs execute permission itself: Docker drops a
/// non-root process's capabilities, so a root-owned 0700 program is EACCES
/// for uid 1000. A user that cannot be resolved, or root, is judged by the
/// execute bits alone.
#[test]
fn user_without_execute_permission_is_not_executable() {
    let mut fs = MemFs::new();
    fs.file("/app", 0o700, elf(EM_X86_64, 64))
        .file_owned("/mine", 0o700, 1000, 1000, elf(EM_X86_64, 64))
        .file(
            "/etc/passwd",
            0o644,
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .file("/etc/group", 0o644, "root:x:0:\nstaff:x:50:app\n")
        .file_owned("/staff", 0o750, 0, 50, elf(EM_X86_64, 64))
        .file("/usr/local/bin/gosu", 0o755, elf(EM_X86_64, 64));
    let with_user = |argv: &[&str], user: &str| {
        let mut c = cfg(argv, &[]);
        c.user = user.into();
        run(&c, "linux/amd64", &fs)
    };
    for user in ["1000", "app", "app:1000", "1000:1000"] {
        let r = with_user(&["/app"], user);
        assert_verdict(&r, Verdict::Fail, Reason::NotExecutable);
        assert!(r.message.contains("EACCES"), "{}", r.message);
        assert_verdict(&with_user(&["/mine"], user), Verdict::Pass, Reason::Match);
    }
    assert_verdict(&with_user(&["/staff"], "app"), Verdict::Pass, Reason::Match);
    assert_verdict(
        &with_user(&["/staff"], "app:1000"),
        Verdict::Fail,
        Reason::NotExecutable,
    );
    for user in ["", "root", "0", "nobody", "+1000"] {
        let r = with_user(&["/app"], user);
        assert_verdict(&r, Verdict::Pass, Reason::Match);
    }
    assert!(note_has(&with_user(&["/app"], "nobody"), "passwd"));
    // gosu runs its program as another user: not judged for the image's.
    let r = with_user(&["/usr/local/bin/gosu", "root", "/app"], "app");
    assert_verdict(&r, Verdict::Pass, Reason::Match);
}

/// The official images re-run their entrypoint through gosu before its
/// last `exec "$@"` (redis: `if [ "$1" = 'redis-server' -a "$(id -u)" =
/// '0' ]; then exec gosu redis "$0" "$@"; fi`): when the condition holds
/// (root, that CMD), gosu is judged too; when it does not, it never runs;
/// when it cannot be evaluated, noted.
#[test]
fn entrypoint_reexec_through_gosu_is_judged_when_its_condition_holds() {
    let script = "#!/bin/sh\nset -e\nif [ \"$1\" = 'redis-server' -a \"$(id -u)\" = '0' ]; then\n\tfind . \\! -user redis -exec chown redis '{}' +\n\texec gosu redis \"$0\" \"$@\"\nfi\nexec \"$@\"\n";
    let mut fs = entry_fs(script);
    fs.file("/usr/local/bin/gosu", 0o755, elf(EM_X86_64, 64))
        .file("/usr/local/bin/redis-server", 0o755, elf(EM_AARCH64, 64));
    let r = run(
        &cfg(&["/docker-entrypoint.sh"], &["redis-server"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Fail, Reason::ArchMismatch);
    assert_eq!(check_of(&r, Role::Command, "gosu").verdict, Verdict::Fail);
    // Another CMD: the if does not hold, gosu never runs.
    let r = run(
        &cfg(&["/docker-entrypoint.sh"], &["good"]),
        "linux/arm64",
        &fs,
    );
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    // A user archgate cannot resolve: `$(id -u)` is unknown.
    let mut c = cfg(&["/docker-entrypoint.sh"], &["redis-server"]);
    c.user = "redis".into();
    let r = run(&c, "linux/arm64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "cannot evaluate"), "{r:#?}");
}

/// A shell archgate cannot tell apart (a copy named sh): whether it tries
/// the next PATH entry is not known, which matters only when there is one.
#[test]
fn unknown_shell_search_is_noted_only_with_a_later_hit() {
    let mut fs = MemFs::new();
    fs.file("/bin/sh", 0o755, elf(EM_X86_64, 64)).file(
        "/opt/broken/app",
        0o755,
        "#!/nonexistent/python3\n",
    );
    let mut c = cfg(&["/bin/sh", "-c", "app"], &[]);
    c.env = vec!["PATH=/opt/broken:/usr/local/bin".into()];
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Fail, Reason::NotFound);
    fs.file("/usr/local/bin/app", 0o755, elf(EM_X86_64, 64));
    let r = run(&c, "linux/amd64", &fs);
    assert_verdict(&r, Verdict::Pass, Reason::Match);
    assert!(note_has(&r, "cannot be told"), "{r:#?}");
}

/// Regression (review finding 1): under `--deep` a program's loader was
/// judged against the platform alone, so an i386 program whose
/// `/lib/ld-linux.so.2` is the x86-64 loader, or an x86-64 program whose
/// PT_INTERP is the i386 loader, passed or warned. The kernel refuses both
/// (ELIBBAD), as `judge` says; completing an unfollowed file must too, and
/// one cached loader judgement must not serve programs of another class.
#[test]
fn deep_loader_of_another_class_than_its_program_is_elibbad() {
    let dynamic = |machine, bits, interp| {
        build_elf(&ElfSpec {
            machine,
            bits,
            interp: Some(interp),
            ..Default::default()
        })
    };
    let mut fs = MemFs::new();
    fs.file(
        "/opt/tool",
        0o755,
        dynamic(EM_386, 32, "/lib/ld-linux.so.2"),
    )
    .file(
        "/usr/bin/ok",
        0o755,
        dynamic(EM_X86_64, 64, "/lib/ld-linux.so.2"),
    )
    .symlink("/lib/ld-linux.so.2", "/lib64/ld-linux-x86-64.so.2")
    .file("/lib64/ld-linux-x86-64.so.2", 0o755, elf(EM_X86_64, 64))
    .file(
        "/usr/local/bin/x",
        0o755,
        dynamic(EM_X86_64, 64, "/usr/lib/ld-i386.so.2"),
    )
    .file("/usr/lib/ld-i386.so.2", 0o755, elf(EM_386, 32));
    for p in ["/opt/tool", "/usr/local/bin/x"] {
        let (followed, done) = completed("linux/amd64", &fs, p);
        for f in [&followed, &done] {
            assert_eq!(
                (f.verdict(), f.checks[0].reason),
                (Verdict::Fail, Reason::NotAProgram),
                "{p}: {f:#?}"
            );
            assert!(f.checks[0].message.contains("ELIBBAD"), "{f:#?}");
        }
    }
    // One `Completer` for both programs of `/lib/ld-linux.so.2`: the
    // x86-64 one passes, the i386 one is still ELIBBAD (the cache is keyed
    // by class and machine too), in either order.
    let p = Platform::parse("linux/amd64").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for order in [["/usr/bin/ok", "/opt/tool"], ["/opt/tool", "/usr/bin/ok"]] {
        let mut c = Completer::default();
        for path in order {
            let f = deep("linux/amd64", &fs, path, false).unwrap();
            let f = rt
                .block_on(c.complete(&p, &fs, path.as_bytes(), f))
                .unwrap();
            let want = if path == "/opt/tool" {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            assert_eq!(f.verdict(), want, "{path}: {f:#?}");
        }
    }
}

/// Regression (review finding 2): every cross toolchain image failed
/// `--deep`: Debian's `libgcc-s1-arm64-cross` puts aarch64 libraries in
/// `/usr/aarch64-linux-gnu/lib`, which an amd64 loader never searches by
/// default (and it skips a wrong-machine file: glibc elf/dl-load.c
/// `open_verify`). A non-executable foreign library there warns; in the
/// directories the loader searches it still fails, and so does any
/// executable, wherever it is.
#[test]
fn deep_foreign_library_outside_the_loaders_default_dirs_only_warns() {
    let mut fs = MemFs::new();
    let lib = shared_object(EM_AARCH64, 64);
    let warned = [
        "/usr/aarch64-linux-gnu/lib/libgcc_s.so.1",
        "/usr/aarch64-linux-gnu/lib/libc.so.6",
        "/usr/lib/gcc-cross/aarch64-linux-gnu/12/libgomp.so",
        "/usr/lib/aarch64-linux-gnu/libssl.so.3",
        "/opt/sdk/lib/libfoo.so",
    ];
    let failed = [
        "/lib/libfoo.so",
        "/usr/lib/libfoo.so",
        "/lib64/libfoo.so",
        "/usr/lib64/libfoo.so",
        "/usr/local/lib/libfoo.so",
        "/lib/x86_64-linux-gnu/libfoo.so",
        "/usr/lib/x86_64-linux-gnu/libfoo.so",
        "/usr/local/lib/x86_64-linux-gnu/libfoo.so",
    ];
    for p in warned.iter().chain(&failed) {
        fs.file(p, 0o644, lib.clone());
    }
    fs.file(
        "/usr/aarch64-linux-gnu/lib/libexec.so.1",
        0o755,
        lib.clone(),
    )
    .file(
        "/usr/aarch64-linux-gnu/bin/tool",
        0o755,
        elf(EM_AARCH64, 64),
    );
    for p in warned {
        let f = deep("linux/amd64", &fs, p, false).expect("a program");
        assert_eq!(
            (f.verdict(), f.checks[0].reason),
            (Verdict::Warn, Reason::ArchMismatch),
            "{p}: {f:#?}"
        );
        assert!(
            f.checks[0]
                .message
                .contains("outside the directories the linux/amd64 dynamic loader searches"),
            "{}",
            f.checks[0].message
        );
    }
    for p in failed.iter().chain(&[
        "/usr/aarch64-linux-gnu/lib/libexec.so.1",
        "/usr/aarch64-linux-gnu/bin/tool",
    ]) {
        for follow in [false, true] {
            let f = deep("linux/amd64", &fs, p, follow).expect("a program");
            assert_eq!(
                (f.verdict(), f.checks[0].reason),
                (Verdict::Fail, Reason::ArchMismatch),
                "{p}: {f:#?}"
            );
        }
    }
    // The platform's own multiarch directory is its own: on arm64,
    // /usr/lib/aarch64-linux-gnu is searched, /usr/lib/x86_64-linux-gnu not.
    let p = Platform::parse("linux/arm64").unwrap();
    assert!(searched_by_loader(
        &p,
        b"/usr/lib/aarch64-linux-gnu/libssl.so.3"
    ));
    assert!(!searched_by_loader(
        &p,
        b"/usr/lib/x86_64-linux-gnu/libssl.so.3"
    ));
    assert!(!searched_by_loader(
        &p,
        b"/usr/lib/aarch64-linux-gnu/sub/libx.so"
    ));
    assert!(searched_by_loader(&p, b"/usr/local/lib/libx.so"));
}

/// Regression (review finding 3): under `--deep` a relative `#!`
/// interpreter or PT_INTERP was resolved from `/` (a pass for `#!bin/python3`
/// beside `/bin/python3`, a loader-missing failure for
/// `lib/ld-musl-x86_64.so.1`), but the kernel opens it from the caller's
/// working directory (fs/exec.c `open_exec`), unknown for a file no config
/// runs. The file's own format is judged; its interpreter or loader is
/// not, and a note says so, followed or completed alike.
#[test]
fn deep_relative_interpreter_or_loader_is_a_note_not_a_guess() {
    let mut fs = MemFs::new();
    fs.file("/usr/lib/app/run", 0o755, "#!bin/python3\nprint(1)\n")
        .file("/bin/python3", 0o755, elf(EM_AARCH64, 64))
        .file(
            "/opt/app/tool",
            0o755,
            build_elf(&ElfSpec {
                machine: EM_X86_64,
                bits: 64,
                interp: Some("lib/ld-musl-x86_64.so.1"),
                ..Default::default()
            }),
        )
        .file(
            "/opt/app/foreign",
            0o755,
            build_elf(&ElfSpec {
                machine: EM_AARCH64,
                bits: 64,
                interp: Some("lib/ld-musl-aarch64.so.1"),
                ..Default::default()
            }),
        );
    for p in ["/usr/lib/app/run", "/opt/app/tool"] {
        let (followed, done) = completed("linux/amd64", &fs, p);
        for f in [&followed, &done] {
            assert_eq!(f.checks.len(), 1, "{p}: only its own check: {f:#?}");
            assert_eq!(f.verdict(), Verdict::Pass, "{p}: {f:#?}");
            let note = f.note.as_deref().expect("a note");
            assert!(note.contains("relative name"), "{note}");
            assert!(note.contains("not judged"), "{note}");
            assert!(note.contains(p), "{note}");
        }
    }
    // Its own machine is still judged.
    let (followed, done) = completed("linux/amd64", &fs, "/opt/app/foreign");
    for f in [&followed, &done] {
        assert_eq!(
            (f.verdict(), f.checks[0].reason),
            (Verdict::Fail, Reason::ArchMismatch),
            "{f:#?}"
        );
    }
    // A note reaches the platform's notes through `Findings`.
    let mut findings = Findings::default();
    findings.add(deep("linux/amd64", &fs, "/opt/app/tool", false).unwrap());
    let mut r = run(&cfg(&["/bin/python3"], &[]), "linux/arm64", &fs);
    findings.fold(&mut r, &Platform::parse("linux/arm64").unwrap());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("/opt/app/tool") && n.contains("relative name")),
        "{:?}",
        r.notes
    );
}

/// Red-team (deep) finding 4: an x86-64 helper with a stray EI_DATA or
/// EI_CLASS byte in an arm64 image was skipped by `--deep` ("an ELF file of
/// type 768"), though the arm64 kernel reads the header in its own layout
/// (fs/binfmt_elf.c never reads EI_CLASS or EI_DATA there), sees an x86-64
/// executable and refuses it. The kernel's reading names the machine.
#[test]
fn deep_stray_ident_bytes_do_not_hide_a_foreign_executable() {
    let mut fs = MemFs::new();
    for (name, at, byte) in [("d2", 5, 2u8), ("c1", 4, 1), ("c0", 4, 0), ("d0", 5, 0)] {
        let mut b = elf(EM_X86_64, 64);
        b[16] = 3; // ET_DYN, as a PIE
        b[at] = byte;
        fs.file(format!("/usr/libexec/{name}"), 0o755, b);
    }
    for name in ["d2", "c1", "c0", "d0"] {
        let p = format!("/usr/libexec/{name}");
        let f = deep("linux/arm64", &fs, &p, true).expect("a program");
        assert_eq!(
            (f.verdict(), f.checks[0].reason),
            (Verdict::Fail, Reason::ArchMismatch),
            "{name}: {f:#?}"
        );
        assert_eq!(
            f.checks[0].binary.as_ref().and_then(|b| b.arch.as_deref()),
            Some("amd64"),
            "{name}"
        );
        let f = deep("linux/amd64", &fs, &p, true).expect("a program");
        assert_eq!(f.verdict(), Verdict::Pass, "{name}: {f:#?}");
    }
    // A genuine big-endian binary is still what it says it is.
    let be = build_elf(&ElfSpec {
        machine: crate::inspect::platform::EM_S390,
        bits: 64,
        big: true,
        ..Default::default()
    });
    fs.file("/usr/libexec/s390", 0o755, be);
    let f = deep("linux/arm64", &fs, "/usr/libexec/s390", true).expect("a program");
    assert_eq!(
        f.checks[0].binary.as_ref().and_then(|b| b.arch.as_deref()),
        Some("s390x"),
        "{f:#?}"
    );
}

/// Red-team (deep) finding 3: a .NET assembly or any PE file with an
/// execute bit (Docker gives every file of a Windows build context 0755)
/// failed `--deep` as a Windows program in a Linux image, though no Linux
/// kernel has a handler for PE (or Mach-O): it is data there, loaded by a
/// runtime (`dotnet app.dll`). In a Windows image a PE file is judged.
#[test]
fn deep_pe_and_macho_files_in_a_linux_image_are_data() {
    let mut fs = MemFs::new();
    let mut pe = vec![0u8; 512];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    fs.file("/app/app.dll", 0o755, pe.clone())
        .file("/app/tool.exe", 0o755, pe)
        .file("/app/macho", 0o755, 0xfeed_facfu32.to_be_bytes().repeat(8));
    for p in ["/app/app.dll", "/app/tool.exe", "/app/macho"] {
        assert_eq!(deep("linux/amd64", &fs, p, true), None, "{p}");
    }
    let f = deep("windows/amd64", &fs, "/app/tool.exe", true).expect("judged on Windows");
    assert_eq!(f.checks[0].role, Role::File, "{f:#?}");
}

/// Red-team (deep) finding 6: a file holding only `#!` was noted as having
/// "a relative name" (an empty one) for its interpreter; it names none,
/// and is judged as an entrypoint would be.
#[test]
fn deep_hash_bang_alone_is_judged_not_noted_as_relative() {
    let mut fs = MemFs::new();
    fs.file("/opt/hashbang_only", 0o755, b"#!".to_vec());
    for follow in [false, true] {
        let f = deep("linux/amd64", &fs, "/opt/hashbang_only", follow).expect("a program");
        assert_eq!(f.note, None, "{f:#?}");
        assert_ne!(f.verdict(), Verdict::Pass, "{f:#?}");
    }
}

/// Red-team (deep) finding 1: a foreign library's verdict depends on each
/// path it has (hard links are one file at several names), so
/// `inspect_file` leaves it to `place`: failed where the loader searches,
/// a warning elsewhere.
#[test]
fn deep_foreign_library_is_placed_per_path() {
    let mut fs = MemFs::new();
    fs.file("/opt/libfoo.so.1", 0o644, shared_object(EM_AARCH64, 64));
    let p = Platform::parse("linux/amd64").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let entry = rt.block_on(fs.lstat(b"/opt/libfoo.so.1")).unwrap().unwrap();
    let f = rt
        .block_on(inspect_file(&p, &fs, b"/opt/libfoo.so.1", &entry, true))
        .unwrap()
        .expect("a library");
    assert!(f.placed);
    assert_eq!(f.verdict(), Verdict::Fail);
    let mut searched = f.clone();
    place(&mut searched, &p, true);
    assert_eq!(searched.verdict(), Verdict::Fail);
    let mut elsewhere = f;
    place(&mut elsewhere, &p, false);
    assert_eq!(elsewhere.verdict(), Verdict::Warn);
    assert!(!elsewhere.placed);
    assert!(
        elsewhere.checks[0]
            .message
            .contains("outside the directories"),
        "{elsewhere:#?}"
    );
}
