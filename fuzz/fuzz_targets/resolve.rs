//! Fuzz program resolution: an arbitrary small tree (files, directories,
//! symlinks, devices), an arbitrary config (ENTRYPOINT, CMD, PATH,
//! WorkingDir, HEALTHCHECK) and a platform, through the whole engine on the
//! in-memory filesystem. Names come mostly from a small vocabulary so that
//! paths collide, links point at each other and PATH finds things; file
//! contents are `#!` lines, minimal ELF headers (with PT_INTERP) or raw
//! bytes. Nothing may panic or hang, and the report must agree with its own
//! checks: a platform's verdict is its worst check's.
#![no_main]

use archgate::inspect::{self, ImageConfig, Platform, Verdict};
use archgate::rootfs::mem::MemFs;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

const PLATFORMS: &[(&str, &str, Option<&str>)] = &[
    ("linux", "amd64", None),
    ("linux", "arm64", None),
    ("linux", "arm", Some("v6")),
    ("linux", "arm", Some("v7")),
    ("linux", "386", None),
    ("linux", "s390x", None),
    ("windows", "amd64", None),
];

/// Path components: the ones images are made of, and the ones that trip
/// resolvers (`..`, `.`, empty, trailing blanks, CR).
const WORDS: &[&[u8]] = &[
    b"bin",
    b"usr",
    b"lib",
    b"lib64",
    b"sbin",
    b"local",
    b"app",
    b"sh",
    b"env",
    b"busybox",
    b"python3",
    b"tini",
    b"--",
    b"-c",
    b"..",
    b".",
    b"",
    b"x",
    b"ld-linux-x86-64.so.2",
    b"ld-linux-aarch64.so.1",
    b"sh\r",
    b"exec",
    b"gosu",
    b"docker-entrypoint.sh",
    b"$@",
    b"\"$@\"",
    b"java",
    b"-jar",
    b"a b",
    b"\xff",
];

/// (e_machine, class) pairs the platform table knows, plus nonsense.
const MACHINES: &[(u16, u8)] = &[(62, 2), (183, 2), (40, 1), (3, 1), (22, 2), (0xbeef, 2)];

#[derive(Debug)]
struct Word(Vec<u8>);

impl<'a> Arbitrary<'a> for Word {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.ratio(1, 8)? {
            let raw: Vec<u8> = u.arbitrary()?;
            return Ok(Word(raw.into_iter().take(300).collect()));
        }
        Ok(Word(u.choose(WORDS)?.to_vec()))
    }
}

/// A path of up to five words, absolute or not.
#[derive(Debug)]
struct PathW(Vec<u8>);

impl<'a> Arbitrary<'a> for PathW {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=5)?;
        let mut p = Vec::new();
        if u.ratio(5, 6)? {
            p.push(b'/');
        }
        for i in 0..n {
            if i > 0 {
                p.push(b'/');
            }
            p.extend_from_slice(&Word::arbitrary(u)?.0);
        }
        if u.ratio(1, 16)? {
            p.push(b'/');
        }
        Ok(PathW(p))
    }
}

#[derive(Debug, Arbitrary)]
enum Content {
    Shebang {
        interp: PathW,
        arg: Option<Word>,
        crlf: bool,
        pad: u16,
        tail: Vec<u8>,
    },
    Elf {
        machine: u8,
        big_endian: bool,
        interp: Option<PathW>,
        interp_nul: bool,
        truncate: Option<u16>,
    },
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Ent {
    File {
        path: PathW,
        mode: u16,
        content: Content,
    },
    Dir {
        path: PathW,
        mode: u16,
    },
    Link {
        path: PathW,
        target: PathW,
    },
    Other {
        path: PathW,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    platform: u8,
    entries: Vec<Ent>,
    entrypoint: Vec<PathW>,
    cmd: Vec<PathW>,
    path_env: Option<Vec<PathW>>,
    working_dir: Option<PathW>,
    health: Option<(bool, PathW)>,
    shell: Vec<PathW>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A minimal ELF: the header, and one PT_INTERP program header when asked.
fn elf(machine: u16, bits: u8, big: bool, interp: Option<&[u8]>, nul: bool) -> Vec<u8> {
    let (ehsize, phentsize) = if bits == 2 {
        (64usize, 56usize)
    } else {
        (52, 32)
    };
    let put16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let put32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let put64 = |v: u64| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = vec![0x7f, b'E', b'L', b'F', bits, if big { 2 } else { 1 }, 1, 0];
    f.resize(16, 0);
    f.extend_from_slice(&put16(2)); // ET_EXEC
    f.extend_from_slice(&put16(machine));
    f.extend_from_slice(&put32(1));
    let phnum = u16::from(interp.is_some());
    let interp_off = (ehsize + phentsize) as u64;
    let mut ip = interp.map(<[u8]>::to_vec).unwrap_or_default();
    if nul {
        ip.push(0);
    }
    if bits == 2 {
        f.extend_from_slice(&put64(0)); // entry
        f.extend_from_slice(&put64(ehsize as u64)); // phoff
        f.extend_from_slice(&put64(0)); // shoff
    } else {
        f.extend_from_slice(&put32(0));
        f.extend_from_slice(&put32(ehsize as u32));
        f.extend_from_slice(&put32(0));
    }
    f.extend_from_slice(&put32(0)); // flags
    f.extend_from_slice(&put16(ehsize as u16));
    f.extend_from_slice(&put16(phentsize as u16));
    f.extend_from_slice(&put16(phnum));
    f.extend_from_slice(&put16(0));
    f.extend_from_slice(&put16(0));
    f.extend_from_slice(&put16(0));
    f.resize(ehsize, 0);
    if interp.is_some() {
        f.extend_from_slice(&put32(3)); // PT_INTERP
        if bits == 2 {
            f.extend_from_slice(&put32(4));
            f.extend_from_slice(&put64(interp_off));
            f.extend_from_slice(&put64(0));
            f.extend_from_slice(&put64(0));
            f.extend_from_slice(&put64(ip.len() as u64));
            f.extend_from_slice(&put64(ip.len() as u64));
            f.extend_from_slice(&put64(1));
        } else {
            f.extend_from_slice(&put32(interp_off as u32));
            f.extend_from_slice(&put32(0));
            f.extend_from_slice(&put32(0));
            f.extend_from_slice(&put32(ip.len() as u32));
            f.extend_from_slice(&put32(ip.len() as u32));
            f.extend_from_slice(&put32(4));
            f.extend_from_slice(&put32(1));
        }
        f.extend_from_slice(&ip);
    }
    f
}

fn content(c: &Content) -> Vec<u8> {
    match c {
        Content::Shebang {
            interp,
            arg,
            crlf,
            pad,
            tail,
        } => {
            let mut s = b"#!".to_vec();
            s.resize(2 + (*pad as usize % 300), b' ');
            s.extend_from_slice(&interp.0);
            if let Some(a) = arg {
                s.push(b' ');
                s.extend_from_slice(&a.0);
            }
            if *crlf {
                s.push(b'\r');
            }
            s.push(b'\n');
            s.extend(tail.iter().take(512));
            s
        }
        Content::Elf {
            machine,
            big_endian,
            interp,
            interp_nul,
            truncate,
        } => {
            let (m, bits) = MACHINES[*machine as usize % MACHINES.len()];
            let mut f = elf(
                m,
                bits,
                *big_endian,
                interp.as_ref().map(|p| &p.0[..]),
                *interp_nul,
            );
            if let Some(t) = truncate {
                f.truncate(*t as usize);
            }
            f
        }
        Content::Raw(b) => b.iter().take(4096).copied().collect(),
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|input: Input| {
    let (os, arch, variant) = PLATFORMS[input.platform as usize % PLATFORMS.len()];
    let platform = Platform::new(os, arch, variant);
    let mut fs = MemFs::new();
    for e in input.entries.iter().take(32) {
        match e {
            Ent::File {
                path,
                mode,
                content: c,
            } => {
                fs.file(&path.0, u32::from(*mode) & 0o7777, content(c));
            }
            Ent::Dir { path, mode } => {
                fs.dir(&path.0, u32::from(*mode) & 0o7777);
            }
            Ent::Link { path, target } => {
                fs.symlink(&path.0, &target.0);
            }
            Ent::Other { path } => {
                fs.other(&path.0);
            }
        }
    }
    let words = |v: &[PathW]| v.iter().take(8).map(|p| lossy(&p.0)).collect::<Vec<_>>();
    let mut env = vec!["HOME=/root".to_string()];
    if let Some(dirs) = &input.path_env {
        let dirs: Vec<String> = dirs.iter().take(6).map(|p| lossy(&p.0)).collect();
        env.push(format!("PATH={}", dirs.join(":")));
    }
    let config = ImageConfig {
        os: os.to_string(),
        architecture: arch.to_string(),
        variant: variant.map(str::to_string),
        entrypoint: words(&input.entrypoint),
        cmd: words(&input.cmd),
        env,
        working_dir: input.working_dir.as_ref().map(|p| lossy(&p.0)),
        healthcheck: input.health.as_ref().map(|(shell, p)| {
            let kind = if *shell { "CMD-SHELL" } else { "CMD" };
            vec![kind.to_string(), lossy(&p.0)]
        }),
        shell: words(&input.shell),
        user: String::new(),
    };
    let Ok(report) = runtime().block_on(inspect::inspect(&config, &platform, &fs)) else {
        return;
    };
    // The report agrees with itself: the platform's verdict is its worst
    // check's, and a platform with checks is never skipped.
    if let Some(worst) = report.checks.iter().map(|c| c.verdict).max() {
        assert_eq!(report.verdict, worst, "{report:#?}");
    } else {
        assert_eq!(report.verdict, Verdict::Skip, "{report:#?}");
    }
});
