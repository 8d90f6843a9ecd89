//! Binary identification: what the kernel would make of a file's bytes.
//!
//! The one idea: read the first page (what the kernel reads too), decide from
//! it (ELF / PE / Mach-O / `#!` / nothing), and fetch more bytes only where a
//! rule needs them: program headers for the loader and truncation, the ARM
//! attributes section for the ARM variant, Go's build info for GOARCH/GOARM.
//! Parsing goes through goblin on exactly the byte ranges read, and
//! `elf_reads` names those ranges from the header alone, for a reader that
//! must keep them before the engine asks (a layer streaming past).

mod arm;
mod elf;
mod go;

pub use arm::{arm_attributes, arm_variant_of_cpu_arch, parse_arm_attributes, ArmAttrs};
pub use elf::{elf_reads, elf_reads_any_platform, ElfInfo, ElfReads, ET_DYN};
pub use go::{go_buildinfo, parse_go_buildinfo, GO_BUILDINFO_MAGIC};

use super::platform::{goarch_of_elf, goarch_of_pe, KernelElf, EM_ARM};
use super::verdict::{BinaryFacts, Format};
use crate::rootfs::{display, FsError, RootFs};
use elf::identify_elf;

/// How much of a file is read first: one page, as the kernel's binfmt
/// loaders do.
pub const HEAD_LEN: usize = 4096;
/// Linux reads at most this much of a `#!` line (`BINPRM_BUF_SIZE`,
/// include/uapi/linux/binfmts.h, since 5.1).
pub const SHEBANG_MAX: usize = 256;
/// Caps on what archgate reads for one table or section, so hostile headers
/// can't make it read or allocate much.
const MAX_TABLE: u64 = 1 << 20;
const MAX_SECTION: u64 = 1 << 16;

/// What a file is, as far as exec is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Ident {
    Elf(ElfInfo),
    Pe,
    Macho,
    /// A `#!` script: the interpreter path and its optional single argument.
    Script {
        interpreter: Vec<u8>,
        arg: Option<Vec<u8>>,
    },
    /// The kernel would answer ENOEXEC; `why` says what it is instead.
    /// `text` when a shell that falls back to reading such a file as a
    /// script (glibc `execvp`, `sh`'s own search) could run it: no NUL
    /// bytes in the first page and no binary magic.
    NotAProgram {
        why: String,
        text: bool,
    },
}

/// Bytes of `path` in `[off, off+len)`, or `None` if the file is shorter.
async fn read_range<R: RootFs>(
    fs: &R,
    path: &[u8],
    size: u64,
    off: u64,
    len: u64,
) -> Result<Option<Vec<u8>>, FsError> {
    let Some(end) = off.checked_add(len) else {
        return Ok(None);
    };
    if end > size {
        return Ok(None);
    }
    let data = fs.read_at(path, off, len as usize).await?;
    if (data.len() as u64) < len {
        // The backend found the file shorter than its size said.
        return Ok(None);
    }
    Ok(Some(data))
}

/// Take a slice of `head` when the range is inside it, else read it.
async fn range_from<R: RootFs>(
    fs: &R,
    path: &[u8],
    size: u64,
    head: &[u8],
    off: u64,
    len: u64,
) -> Result<Option<Vec<u8>>, FsError> {
    if let Some(end) = off.checked_add(len) {
        if end <= head.len() as u64 {
            return Ok(Some(head[off as usize..end as usize].to_vec()));
        }
    }
    read_range(fs, path, size, off, len).await
}

fn not_a_program(why: impl Into<String>) -> Ident {
    Ident::NotAProgram {
        why: why.into(),
        text: false,
    }
}

fn text_not_a_program(why: impl Into<String>) -> Ident {
    Ident::NotAProgram {
        why: why.into(),
        text: true,
    }
}

/// Identify the regular file at `path` (already resolved) of `size` bytes.
/// `kernel`: how the platform's kernel reads ELF headers, when known.
pub async fn identify<R: RootFs>(
    fs: &R,
    path: &[u8],
    size: u64,
    kernel: Option<KernelElf>,
) -> Result<Ident, FsError> {
    if size == 0 {
        return Ok(text_not_a_program("an empty file"));
    }
    let head = fs.read_at(path, 0, (size as usize).min(HEAD_LEN)).await?;
    if head.starts_with(b"#!") {
        return Ok(match parse_shebang(&head) {
            // A shell reading it takes the first line for a comment.
            Ident::NotAProgram { why, .. } => text_not_a_program(why),
            other => other,
        });
    }
    if head.starts_with(b"\x7fELF") {
        return identify_elf(fs, path, size, &head, kernel).await;
    }
    if head.starts_with(b"MZ") {
        return Ok(identify_pe(fs, path, size, &head)
            .await?
            .unwrap_or(Ident::Pe));
    }
    if is_macho(&head) {
        return Ok(Ident::Macho);
    }
    let shown: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let why = format!(
        "neither a known binary nor a #! script (starts with {})",
        shown.join(" ")
    );
    Ok(Ident::NotAProgram {
        text: !head.contains(&0),
        why: match head.get(..4) {
            Some(b"PK\x03\x04") => "a zip archive (jar, wheel, ...)".to_string(),
            _ => why,
        },
    })
}

fn is_macho(head: &[u8]) -> bool {
    if head.len() < 8 {
        return false;
    }
    let m = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    match m {
        0xfeed_face | 0xfeed_facf | 0xcefa_edfe | 0xcffa_edfe => true,
        // Fat Mach-O shares its magic with Java class files; a fat header's
        // arch count is small, a class file's version is not.
        0xcafe_babe => {
            let n = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            (1..20).contains(&n)
        }
        _ => false,
    }
}

/// Parse a `#!` line exactly as Linux's `load_script()` does
/// (torvalds/linux fs/binfmt_script.c, the form since v5.8, with the
/// "do not exec a truncated interpreter path" rule).
///
/// The kernel looks at the first `SHEBANG_MAX` bytes only, NUL-padded when
/// the file is shorter. The line ends at the first `\n` before any NUL. When
/// there is none, the interpreter name must still be ended by a space, tab or
/// NUL inside the buffer (else ENOEXEC: it may have been cut), and the line
/// is taken to end at the buffer's last byte, which is dropped. Only space and
/// tab are blanks: `\r`, `\v`, `\f` are ordinary bytes of the name, which is
/// why a CRLF script asks for an interpreter named `/bin/sh\r`. The name ends
/// at the first blank or NUL; after a blank, everything up to the end of the
/// line (trailing blanks trimmed, stopping at a NUL) is one argument. An
/// empty name is possible (`#!` alone): the kernel then opens "" and fails
/// with EACCES, which the engine reproduces.
pub fn parse_shebang(head: &[u8]) -> Ident {
    let mut buf = [0u8; SHEBANG_MAX];
    let n = head.len().min(SHEBANG_MAX);
    buf[..n].copy_from_slice(&head[..n]);
    if buf[0] != b'#' || buf[1] != b'!' {
        return not_a_program("a file that does not start with #!");
    }
    let blank = |b: u8| b == b' ' || b == b'\t';
    let last = SHEBANG_MAX - 1;
    let non_blank = |buf: &[u8], from: usize, to: usize| (from..=to).find(|&i| !blank(buf[i]));
    let terminator =
        |buf: &[u8], from: usize, to: usize| (from..=to).find(|&i| blank(buf[i]) || buf[i] == 0);
    // strnchr(): the first newline, but the search stops at a NUL.
    let newline = buf
        .iter()
        .take_while(|&&b| b != 0)
        .position(|&b| b == b'\n');
    let mut end = match newline {
        Some(i) => i,
        None => {
            let Some(first) = non_blank(&buf, 2, last) else {
                return not_a_program(format!(
                    "a #! line of only blanks for all {SHEBANG_MAX} bytes the kernel reads"
                ));
            };
            if terminator(&buf, first, last).is_none() {
                return not_a_program(format!(
                    "a #! line whose interpreter name runs past the {SHEBANG_MAX} bytes the kernel reads"
                ));
            }
            last
        }
    };
    // buf[1] is '!', so this stops at 2 at the latest.
    while blank(buf[end - 1]) {
        end -= 1;
    }
    let name = match non_blank(&buf, 2, end) {
        Some(i) if i != end => i,
        _ => return not_a_program("a #! line that names no interpreter"),
    };
    let sep = terminator(&buf, name, end);
    let arg = match sep {
        Some(s) if buf[s] != 0 => non_blank(&buf, s, end),
        _ => None,
    };
    // The kernel writes NULs at the end of the line and (with an argument)
    // at the separator, then copies both as C strings.
    buf[end] = 0;
    if let (Some(s), Some(_)) = (sep, arg) {
        buf[s] = 0;
    }
    let cstr = |from: usize| {
        let len = buf[from..].iter().position(|&b| b == 0).unwrap_or(0);
        buf[from..from + len].to_vec()
    };
    Ident::Script {
        interpreter: cstr(name),
        arg: arg.map(cstr),
    }
}

async fn identify_pe<R: RootFs>(
    fs: &R,
    path: &[u8],
    size: u64,
    head: &[u8],
) -> Result<Option<Ident>, FsError> {
    // The PE header sits where e_lfanew (at 0x3c) points.
    let need = if head.len() >= 0x40 {
        let lfanew = u32::from_le_bytes([head[0x3c], head[0x3d], head[0x3e], head[0x3f]]) as u64;
        lfanew.saturating_add(512).min(size)
    } else {
        head.len() as u64
    };
    let owned;
    let bytes = if need as usize > head.len() && need <= MAX_TABLE {
        owned = fs.read_at(path, 0, need as usize).await?;
        &owned[..]
    } else {
        head
    };
    match goblin::pe::header::Header::parse(bytes) {
        Ok(_) => Ok(Some(Ident::Pe)),
        Err(_) => Ok(Some(not_a_program("a DOS/PE file with a malformed header"))),
    }
}

/// The facts about an identified file, from the header bytes alone.
pub async fn facts<R: RootFs>(fs: &R, path: &[u8], ident: &Ident) -> Result<BinaryFacts, FsError> {
    Ok(match ident {
        Ident::Elf(e) => {
            let mut f = BinaryFacts::of(Format::Elf);
            f.arch = goarch_of_elf(e.machine, e.bits, e.big_endian).map(str::to_string);
            f.bits = Some(e.bits);
            f.endian = Some(if e.big_endian { "big" } else { "little" });
            f.interpreter = e.interp.as_deref().map(display);
            f.machine = Some(e.machine as u32);
            f.os = Some("linux");
            if e.machine == EM_ARM {
                // EF_ARM_ABI_FLOAT_HARD / _SOFT (ELF for the Arm Architecture).
                if e.flags & 0x400 != 0 {
                    f.float = Some("hard");
                } else if e.flags & 0x200 != 0 {
                    f.float = Some("soft");
                }
            }
            f
        }
        Ident::Pe => pe_facts(fs, path).await?,
        Ident::Macho => macho_facts(fs, path).await?,
        Ident::Script { interpreter, arg } => {
            let mut f = BinaryFacts::of(Format::Script);
            let mut v = vec![display(interpreter)];
            v.extend(arg.as_deref().map(display));
            f.shebang = Some(v);
            f
        }
        Ident::NotAProgram { .. } => BinaryFacts::of(Format::Unknown),
    })
}

async fn pe_facts<R: RootFs>(fs: &R, path: &[u8]) -> Result<BinaryFacts, FsError> {
    let mut f = BinaryFacts::of(Format::Pe);
    f.os = Some("windows");
    let head = fs.read_at(path, 0, HEAD_LEN).await?;
    if head.len() >= 0x40 {
        let lfanew = u32::from_le_bytes([head[0x3c], head[0x3d], head[0x3e], head[0x3f]]) as u64;
        let bytes = if (lfanew as usize + 512) > head.len() && lfanew < MAX_TABLE {
            fs.read_at(path, 0, lfanew as usize + 512).await?
        } else {
            head
        };
        if let Ok(h) = goblin::pe::header::Header::parse(&bytes) {
            let m = h.coff_header.machine;
            f.machine = Some(m as u32);
            f.arch = goarch_of_pe(m).map(str::to_string);
            f.endian = Some("little");
            f.bits = h.optional_header.map(|o| {
                if o.standard_fields.magic == 0x20b {
                    64
                } else {
                    32
                }
            });
        }
    }
    Ok(f)
}

async fn macho_facts<R: RootFs>(fs: &R, path: &[u8]) -> Result<BinaryFacts, FsError> {
    use scroll::Pread;
    let mut f = BinaryFacts::of(Format::Macho);
    f.os = Some("darwin");
    let head = fs.read_at(path, 0, 64).await?;
    if let Ok((_, Some(ctx))) = goblin::mach::parse_magic_and_ctx(&head, 0) {
        if let Ok(h) = head.pread_with::<goblin::mach::header::Header>(0, ctx) {
            f.machine = Some(h.cputype);
            f.bits = Some(if ctx.container.is_big() { 64 } else { 32 });
            f.endian = Some(if ctx.le.is_little() { "little" } else { "big" });
            // CPU_TYPE_* (mach/machine.h): x86 7, arm 12, plus the 64-bit ABI bit.
            f.arch = match h.cputype {
                0x0100_0007 => Some("amd64"),
                7 => Some("386"),
                0x0100_000c => Some("arm64"),
                12 => Some("arm"),
                _ => None,
            }
            .map(str::to_string);
        }
    }
    Ok(f)
}

fn uleb(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *data.get(*pos)?;
        *pos += 1;
        if shift < 64 {
            v |= ((b & 0x7f) as u64) << shift;
        }
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_forms() {
        assert_eq!(
            parse_shebang(b"#!/bin/sh\necho"),
            Ident::Script {
                interpreter: "/bin/sh".into(),
                arg: None
            }
        );
        assert_eq!(
            parse_shebang(b"#! /usr/bin/env  python3 -u \t\n"),
            Ident::Script {
                interpreter: "/usr/bin/env".into(),
                arg: Some("python3 -u".into())
            }
        );
        assert!(matches!(parse_shebang(b"#!\n"), Ident::NotAProgram { .. }));
        let long = [b"#!/".as_slice(), &[b'a'; 300]].concat();
        assert!(matches!(parse_shebang(&long), Ident::NotAProgram { .. }));
        // No newline but short file: the whole file is the line.
        assert_eq!(
            parse_shebang(b"#!/bin/busybox sh"),
            Ident::Script {
                interpreter: "/bin/busybox".into(),
                arg: Some("sh".into())
            }
        );
    }

    /// Found by the `identify` fuzz target: inputs shorter than `#!` panicked.

    #[test]
    fn shebang_parse_of_short_input_does_not_panic() {
        assert!(matches!(parse_shebang(b""), Ident::NotAProgram { .. }));
        assert!(matches!(parse_shebang(b"#"), Ident::NotAProgram { .. }));
    }

    #[test]
    fn java_class_is_not_macho() {
        assert!(!is_macho(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]));
        assert!(is_macho(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]));
    }
}
