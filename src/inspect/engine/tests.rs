//! Engine tests on in-memory trees with synthetic ELF files; the real
//! binaries are exercised end to end in `tests/`.

use super::*;
use crate::inspect::binary::GO_BUILDINFO_MAGIC;
use crate::inspect::platform::{EM_386, EM_AARCH64, EM_PPC64, EM_X86_64};
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
    if s.interp.is_some() {
        nph += 1;
    }
    if s.go.is_some() {
        nph += 1;
    }
    // Data area after the headers.
    let data_start = ehsize + nph * phentsize;
    let mut data = Vec::new();
    let interp_off = data_start + data.len();
    if let Some(i) = s.interp {
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
    if let Some(i) = s.interp {
        phdr(&mut b, 3, 4, interp_off as u64, i.len() as u64 + 1);
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
