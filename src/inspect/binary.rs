//! Binary identification: what the kernel would make of a file's bytes.
//!
//! The one idea: read the first page (what the kernel reads too), decide from
//! it (ELF / PE / Mach-O / `#!` / nothing), and fetch more bytes only where a
//! rule needs them: program headers for the loader and truncation, the ARM
//! attributes section for the ARM variant, Go's build info for GOARCH/GOARM.
//! Parsing goes through goblin on exactly the byte ranges read, and
//! `elf_reads` names those ranges from the header alone, for a reader that
//! must keep them before the engine asks (a layer streaming past).

use super::platform::{goarch_of_elf, goarch_of_pe, kernels, KernelElf, EM_ARM};
use super::verdict::{BinaryFacts, Format, GoInfo};
use crate::rootfs::{display, FsError, RootFs};
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::program_header::{ProgramHeader, PT_INTERP, PT_LOAD};
use goblin::elf::section_header::SectionHeader;

/// How much of a file is read first: one page, as the kernel's binfmt
/// loaders do.
pub const HEAD_LEN: usize = 4096;
/// Linux reads at most this much of a `#!` line (`BINPRM_BUF_SIZE`,
/// include/uapi/linux/binfmts.h, since 5.1).
pub const SHEBANG_MAX: usize = 256;
/// The longest PT_INTERP binfmt_elf accepts (`PATH_MAX`,
/// include/uapi/linux/limits.h).
const PATH_MAX: u64 = 4096;
/// Caps on what archgate reads for one table or section, so hostile headers
/// can't make it read or allocate much.
const MAX_TABLE: u64 = 1 << 20;
const MAX_SECTION: u64 = 1 << 16;
/// The biggest program header table archgate reads.
const MAX_PHDR_TABLE: u64 = 65536;

/// `SHT_ARM_ATTRIBUTES` (ELF for the Arm Architecture, section types).
const SHT_ARM_ATTRIBUTES: u32 = 0x7000_0003;
/// Program header flag: writable (elf.h `PF_W`).
const PF_W: u32 = 2;
/// ELF types execve accepts (elf.h `ET_EXEC`, `ET_DYN`).
const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
/// Go build info magic (Go's debug/buildinfo).
pub const GO_BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";

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

/// The parsed ELF headers archgate keeps for later rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ElfInfo {
    pub machine: u16,
    pub bits: u8,
    pub big_endian: bool,
    /// `e_type`: `ET_EXEC` or `ET_DYN` (a PIE or a shared library).
    pub e_type: u16,
    pub flags: u32,
    pub interp: Option<Vec<u8>>,
    /// Why the first PT_INTERP is one the kernel refuses (ENOEXEC), if it is.
    pub interp_error: Option<String>,
    pub phdrs: Vec<ProgramHeader>,
    pub shoff: u64,
    pub shnum: u64,
    pub shentsize: u16,
    pub shstrndx: u32,
    pub size: u64,
}

impl ElfInfo {
    fn ctx(&self) -> Ctx {
        ctx_of(self.bits, self.big_endian)
    }
}

/// goblin's parsing context for an ELF class and byte order.
fn ctx_of(bits: u8, big_endian: bool) -> Ctx {
    let c = if bits == 64 {
        Container::Big
    } else {
        Container::Little
    };
    let e = if big_endian {
        Endian::Big
    } else {
        Endian::Little
    };
    Ctx::new(c, e)
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

/// The class and byte order the platform's kernel reads this header with:
/// the first of its layouts whose machine the header names, read in the
/// kernel's byte order (with EI_CLASS matching where `elf_check_arch`
/// compares it). `None`: no layout of this kernel takes it.
fn kernel_view(head: &[u8], k: &KernelElf) -> Option<(u8, bool)> {
    let m = head.get(18..20)?;
    let machine = if k.big_endian {
        u16::from_be_bytes([m[0], m[1]])
    } else {
        u16::from_le_bytes([m[0], m[1]])
    };
    k.layouts
        .iter()
        .find(|(bits, machines)| {
            machines.contains(&machine)
                && (!k.checks_class || head[4] == if *bits == 64 { 2 } else { 1 })
        })
        .map(|(bits, _)| (*bits, k.big_endian))
}

/// The class and byte order the engine reads an ELF header with (`head`
/// holds at least its first 20 bytes), on a platform whose kernel reads
/// headers as `kernel` says. `None`: an invalid class or data byte that no
/// reading of this kernel makes up for.
fn elf_reading(head: &[u8], kernel: Option<&KernelElf>) -> Option<(u8, bool)> {
    // A header the platform's kernel takes is read as the kernel reads it
    // (its EI_CLASS and EI_DATA may say otherwise); any other by what it
    // says it is, to name the machine it is for.
    let declared = match (head[4], head[5]) {
        (1, 1) => Some((32, false)),
        (1, 2) => Some((32, true)),
        (2, 1) => Some((64, false)),
        (2, 2) => Some((64, true)),
        _ => None,
    };
    // A header no layout of the kernel takes is read as it says it is, to
    // name the machine it is for; but when that names no known machine and
    // the kernel's own reading does (a stray EI_CLASS or EI_DATA byte on an
    // x86-64 binary), the kernel's reading is the one exec sees: it refuses
    // the file for that machine.
    let names_a_machine = |(bits, big): (u8, bool)| {
        let m = [head[18], head[19]];
        let m = if big {
            u16::from_be_bytes(m)
        } else {
            u16::from_le_bytes(m)
        };
        goarch_of_elf(m, bits, big).is_some()
    };
    let kernel_reading = kernel.and_then(|k| {
        k.layouts
            .iter()
            .map(|&(bits, _)| (bits, k.big_endian))
            // Where `elf_check_arch` compares EI_CLASS, only that class.
            .filter(|&(bits, _)| !k.checks_class || head[4] == if bits == 64 { 2 } else { 1 })
            .find(|&v| names_a_machine(v))
    });
    match (kernel.and_then(|k| kernel_view(head, k)), declared) {
        (Some(v), _) => Some(v),
        (None, Some(d)) if names_a_machine(d) => Some(d),
        (None, d) => kernel_reading.or(d),
    }
}

/// The ELF header in `head`, read with the class and byte order `reading`
/// (goblin takes them from e_ident: it is given the ones the header is
/// read with).
fn elf_header((bits, big_endian): (u8, bool), head: &[u8]) -> Option<goblin::elf::Header> {
    let mut ident_fixed = head[..head.len().min(64)].to_vec();
    ident_fixed[4] = if bits == 64 { 2 } else { 1 };
    ident_fixed[5] = if big_endian { 2 } else { 1 };
    goblin::elf::Elf::parse_header(&ident_fixed).ok()
}

/// The byte ranges `[start, end)` of an ELF file that its inspection reads
/// after the first page, as far as its header and the program headers in
/// the same bytes tell: what a reader that cannot seek, a layer streaming
/// past, keeps for the engine. Each range is in the file and no longer than
/// the engine reads; a range may lie inside the first page (nothing to keep
/// then). The program header table itself is not named: it is expected
/// among the bytes given (a file whose table lies past them is re-read).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ElfReads {
    /// The first `PT_INTERP`'s bytes (`identify`), when the program headers
    /// in the bytes given hold it (glibc's `libc.so.6` has them 1.7 MB in).
    pub interp: Option<(u64, u64)>,
    /// The start of the first writable `PT_LOAD` segment, where Go's linker
    /// puts `.go.buildinfo` (`go_buildinfo`).
    pub go_data: Option<(u64, u64)>,
    /// The section header table (`arm_attributes`, and `go_buildinfo` when
    /// the segment has no build info).
    pub shdrs: Option<(u64, u64)>,
    /// 32-bit ARM: where `.ARM.attributes` (`arm_attributes`) lies when the
    /// binary is not stripped, as far as the header can tell: what follows
    /// the last `PT_LOAD` segment's bytes, where linkers put the first
    /// non-allocated sections (`.comment`, `.ARM.attributes`). Its real
    /// place is in the section headers; in a stripped binary it is among
    /// the file's last bytes.
    pub arm_attrs: Option<(u64, u64)>,
}

/// What the ELF inspection of a file of `size` bytes starting with `head`
/// reads beyond its first page on a platform whose kernel reads headers as
/// `kernel` says (`identify`'s `kernel`); nothing for anything but an ELF
/// header. Only program headers inside `head` are looked at.
pub fn elf_reads(head: &[u8], size: u64, kernel: Option<KernelElf>) -> ElfReads {
    if head.len() < 20 || !head.starts_with(b"\x7fELF") {
        return ElfReads::default();
    }
    match elf_reading(head, kernel.as_ref()) {
        Some(reading) => elf_reads_as(head, size, reading),
        None => ElfReads::default(),
    }
}

/// [`elf_reads`] for every way a platform's kernel may read the header
/// (and for a platform whose kernel archgate does not model): for a reader
/// that serves every platform at once. Usually one.
pub fn elf_reads_any_platform(head: &[u8], size: u64) -> Vec<ElfReads> {
    if head.len() < 20 || !head.starts_with(b"\x7fELF") {
        return Vec::new();
    }
    let mut readings: Vec<(u8, bool)> = Vec::new();
    for kernel in std::iter::once(None).chain(kernels().map(Some)) {
        if let Some(r) = elf_reading(head, kernel.as_ref()) {
            if !readings.contains(&r) {
                readings.push(r);
            }
        }
    }
    readings
        .into_iter()
        .map(|r| elf_reads_as(head, size, r))
        .collect()
}

/// [`elf_reads`] for a header read with the class and byte order
/// `reading`: the ranges `identify_elf`, `go_buildinfo` and
/// `section_headers` read, under their conditions and caps.
fn elf_reads_as(head: &[u8], size: u64, reading: (u8, bool)) -> ElfReads {
    let mut out = ElfReads::default();
    let Some(hdr) = elf_header(reading, head) else {
        return out;
    };
    let ctx = ctx_of(reading.0, reading.1);
    let in_file = |off: u64, len: u64| {
        off.checked_add(len)
            .filter(|&end| end <= size)
            .map(|end| (off, end))
    };
    // section_headers
    let sh_len = u64::from(hdr.e_shnum) * u64::from(hdr.e_shentsize);
    if hdr.e_shoff != 0
        && hdr.e_shnum != 0
        && usize::from(hdr.e_shentsize) == SectionHeader::size(ctx)
        && sh_len <= MAX_TABLE
    {
        out.shdrs = in_file(hdr.e_shoff, sh_len);
    }
    // identify_elf
    let phsize = ProgramHeader::size(ctx) as u64;
    let table_len = u64::from(hdr.e_phnum) * phsize;
    if hdr.e_phnum == 0 || u64::from(hdr.e_phentsize) != phsize || table_len > MAX_PHDR_TABLE {
        return out;
    }
    let table = usize::try_from(hdr.e_phoff)
        .ok()
        .and_then(|off| head.get(off..))
        .unwrap_or_default();
    let in_head = (table.len() as u64 / phsize).min(u64::from(hdr.e_phnum));
    let phdrs = ProgramHeader::parse(table, 0, in_head as usize, ctx).unwrap_or_default();
    if let Some(ph) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        if (2..=PATH_MAX).contains(&ph.p_filesz) {
            out.interp = in_file(ph.p_offset, ph.p_filesz);
        }
    }
    // go_buildinfo
    if let Some(ph) = phdrs
        .iter()
        .find(|p| p.p_type == PT_LOAD && p.p_flags & PF_W != 0)
    {
        let len = ph
            .p_filesz
            .min(MAX_SECTION)
            .min(size.saturating_sub(ph.p_offset));
        if len >= 32 {
            out.go_data = Some((ph.p_offset, ph.p_offset + len));
        }
    }
    // arm_attributes, found by its section header: a guess from the
    // segments.
    if reading.0 == 32 && hdr.e_machine == EM_ARM {
        let loads_end = phdrs
            .iter()
            .filter(|p| p.p_type == PT_LOAD)
            .map(|p| p.p_offset.saturating_add(p.p_filesz))
            .max()
            .unwrap_or(0);
        if loads_end > 0 && loads_end < size {
            out.arm_attrs = Some((loads_end, size.min(loads_end.saturating_add(MAX_SECTION))));
        }
    }
    out
}

async fn identify_elf<R: RootFs>(
    fs: &R,
    path: &[u8],
    size: u64,
    head: &[u8],
    kernel: Option<KernelElf>,
) -> Result<Ident, FsError> {
    if head.len() < 20 {
        return Ok(not_a_program("a truncated ELF header"));
    }
    let Some(reading @ (bits, big_endian)) = elf_reading(head, kernel.as_ref()) else {
        return Ok(not_a_program(format!(
            "an ELF file with invalid class {} or data {}",
            head[4], head[5]
        )));
    };
    let Some(hdr) = elf_header(reading, head) else {
        return Ok(not_a_program("a truncated ELF header"));
    };
    if hdr.e_type != ET_EXEC && hdr.e_type != ET_DYN {
        return Ok(not_a_program(format!(
            "an ELF file of type {} (not an executable)",
            hdr.e_type
        )));
    }
    let mut info = ElfInfo {
        machine: hdr.e_machine,
        bits,
        big_endian,
        e_type: hdr.e_type,
        flags: hdr.e_flags,
        interp: None,
        interp_error: None,
        phdrs: Vec::new(),
        shoff: hdr.e_shoff,
        shnum: hdr.e_shnum as u64,
        shentsize: hdr.e_shentsize,
        shstrndx: hdr.e_shstrndx as u32,
        size,
    };
    let ctx = info.ctx();
    let phsize = ProgramHeader::size(ctx) as u64;
    if hdr.e_phnum == 0 || hdr.e_phentsize as u64 != phsize {
        return Ok(not_a_program("an ELF file without valid program headers"));
    }
    let table_len = hdr.e_phnum as u64 * phsize;
    if table_len > MAX_PHDR_TABLE {
        return Ok(not_a_program(
            "an ELF file with an oversized program header table",
        ));
    }
    let Some(table) = range_from(fs, path, size, head, hdr.e_phoff, table_len).await? else {
        return Ok(not_a_program(
            "a truncated ELF file (program headers past the end)",
        ));
    };
    info.phdrs = match ProgramHeader::parse(&table, 0, hdr.e_phnum as usize, ctx) {
        Ok(p) => p,
        Err(_) => return Ok(not_a_program("an ELF file with unreadable program headers")),
    };
    for ph in &info.phdrs {
        if ph.p_type == PT_LOAD && ph.p_offset.saturating_add(ph.p_filesz) > size {
            return Ok(not_a_program(format!(
                "a truncated ELF file ({size} bytes, a segment ends at {})",
                ph.p_offset.saturating_add(ph.p_filesz)
            )));
        }
    }
    // Only the first PT_INTERP counts; binfmt_elf validates it after the
    // machine check, so a bad one is recorded here and judged then
    // (torvalds/linux fs/binfmt_elf.c, load_elf_binary).
    if let Some(ph) = info.phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        if ph.p_filesz < 2 || ph.p_filesz > PATH_MAX {
            info.interp_error = Some(format!(
                "its PT_INTERP is {} bytes long (the kernel takes 2 to {PATH_MAX})",
                ph.p_filesz
            ));
        } else {
            match range_from(fs, path, size, head, ph.p_offset, ph.p_filesz).await? {
                None => {
                    info.interp_error = Some("its PT_INTERP lies past the end of the file".into())
                }
                Some(bytes) if bytes.last() != Some(&0) => {
                    info.interp_error = Some("its PT_INTERP is not NUL-terminated".into())
                }
                Some(bytes) => {
                    // An embedded NUL cuts the path, as the kernel's open does.
                    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                    info.interp = Some(bytes[..end].to_vec());
                }
            }
        }
    }
    Ok(Ident::Elf(info))
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

/// ARM facts from `.ARM.attributes`: the architecture level (`Tag_CPU_arch`)
/// and whether arguments use VFP registers (`Tag_ABI_VFP_args`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArmAttrs {
    pub cpu_arch: Option<u64>,
    pub vfp_args: Option<u64>,
}

/// Read the section header table (bounded).
async fn section_headers<R: RootFs>(
    fs: &R,
    path: &[u8],
    e: &ElfInfo,
) -> Result<Vec<SectionHeader>, FsError> {
    let ctx = e.ctx();
    if e.shoff == 0 || e.shnum == 0 || e.shentsize as usize != SectionHeader::size(ctx) {
        return Ok(Vec::new());
    }
    let len = e.shnum * e.shentsize as u64;
    if len > MAX_TABLE {
        return Ok(Vec::new());
    }
    let Some(table) = read_range(fs, path, e.size, e.shoff, len).await? else {
        return Ok(Vec::new());
    };
    Ok(SectionHeader::parse_from(&table, 0, e.shnum as usize, ctx).unwrap_or_default())
}

async fn section_bytes<R: RootFs>(
    fs: &R,
    path: &[u8],
    e: &ElfInfo,
    sh: &SectionHeader,
    cap: u64,
) -> Result<Option<Vec<u8>>, FsError> {
    read_range(fs, path, e.size, sh.sh_offset, sh.sh_size.min(cap)).await
}

/// Read and parse `.ARM.attributes`, found by section type (no names needed).
pub async fn arm_attributes<R: RootFs>(
    fs: &R,
    path: &[u8],
    e: &ElfInfo,
) -> Result<Option<ArmAttrs>, FsError> {
    let shdrs = section_headers(fs, path, e).await?;
    let Some(sh) = shdrs.iter().find(|s| s.sh_type == SHT_ARM_ATTRIBUTES) else {
        return Ok(None);
    };
    let Some(data) = section_bytes(fs, path, e, sh, MAX_SECTION).await? else {
        return Ok(None);
    };
    Ok(parse_arm_attributes(&data, e.big_endian))
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

fn ntbs(data: &[u8], pos: &mut usize) -> Option<()> {
    let n = data.get(*pos..)?.iter().position(|&b| b == 0)?;
    *pos += n + 1;
    Some(())
}

/// Parse the build attributes format: `'A'`, then vendor subsections
/// (`u32 length`, vendor NTBS, then `Tag_File` sub-subsections of
/// tag/value pairs). Only the "aeabi" vendor's file attributes are read.
pub fn parse_arm_attributes(data: &[u8], big_endian: bool) -> Option<ArmAttrs> {
    if data.first() != Some(&b'A') {
        return None;
    }
    let rd32 = |b: &[u8]| -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let mut out = ArmAttrs::default();
    let mut pos = 1usize;
    while pos + 4 <= data.len() {
        let len = rd32(&data[pos..]) as usize;
        if len < 4 || pos + len > data.len() {
            break;
        }
        let sub = &data[pos..pos + len];
        pos += len;
        let mut p = 4usize;
        let name_end = sub[p..].iter().position(|&b| b == 0)? + p;
        let vendor = &sub[p..name_end];
        p = name_end + 1;
        if vendor != b"aeabi" {
            continue;
        }
        while p < sub.len() {
            let start = p;
            let tag = uleb(sub, &mut p)?;
            if p + 4 > sub.len() {
                break;
            }
            let size = rd32(&sub[p..]) as usize;
            p += 4;
            let end = start.checked_add(size)?.min(sub.len());
            if size < 5 {
                break;
            }
            if tag == 1 {
                // Tag_File: attributes for the whole file.
                while p < end {
                    let t = uleb(sub, &mut p)?;
                    match t {
                        4 | 5 | 67 => ntbs(sub, &mut p)?,
                        32 => {
                            uleb(sub, &mut p)?;
                            ntbs(sub, &mut p)?;
                        }
                        t if t < 32 || t % 2 == 0 => {
                            let v = uleb(sub, &mut p)?;
                            if t == 6 {
                                out.cpu_arch = Some(v);
                            } else if t == 28 {
                                out.vfp_args = Some(v);
                            }
                        }
                        _ => ntbs(sub, &mut p)?,
                    }
                }
            }
            p = end;
        }
    }
    Some(out)
}

/// The OCI ARM variant a `Tag_CPU_arch` value needs (platform-facts.md):
/// up to v5TEJ -> v5, the v6 family -> v6, v7 -> v7, v8 and later -> v8.
pub fn arm_variant_of_cpu_arch(cpu_arch: u64) -> &'static str {
    match cpu_arch {
        0..=5 => "v5",
        6..=9 | 11 | 12 => "v6",
        10 | 13 => "v7",
        _ => "v8",
    }
}

/// Go build info, found at the start of the first writable segment (where
/// Go's linker puts `.go.buildinfo`), else through the section named so.
pub async fn go_buildinfo<R: RootFs>(
    fs: &R,
    path: &[u8],
    e: &ElfInfo,
) -> Result<Option<GoInfo>, FsError> {
    if let Some(ph) = e
        .phdrs
        .iter()
        .find(|p| p.p_type == PT_LOAD && p.p_flags & PF_W != 0)
    {
        let len = ph
            .p_filesz
            .min(MAX_SECTION)
            .min(e.size.saturating_sub(ph.p_offset));
        if len >= 32 {
            let data = fs.read_at(path, ph.p_offset, len as usize).await?;
            if let Some(info) = find_go_buildinfo(fs, path, e.size, ph.p_offset, &data).await? {
                return Ok(Some(info));
            }
        }
    }
    // Fall back to the section by name.
    let shdrs = section_headers(fs, path, e).await?;
    let Some(strtab) = shdrs.get(e.shstrndx as usize) else {
        return Ok(None);
    };
    let Some(names) = section_bytes(fs, path, e, strtab, MAX_TABLE).await? else {
        return Ok(None);
    };
    for sh in &shdrs {
        let start = sh.sh_name;
        let Some(rest) = names.get(start..) else {
            continue;
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if &rest[..end] == b".go.buildinfo" {
            let Some(data) = section_bytes(fs, path, e, sh, MAX_SECTION).await? else {
                return Ok(None);
            };
            return find_go_buildinfo(fs, path, e.size, sh.sh_offset, &data).await;
        }
    }
    Ok(None)
}

/// Find the magic at a 16-byte aligned offset of `data` (which starts at file
/// offset `base`) and decode the inline strings that follow it.
async fn find_go_buildinfo<R: RootFs>(
    fs: &R,
    path: &[u8],
    size: u64,
    base: u64,
    data: &[u8],
) -> Result<Option<GoInfo>, FsError> {
    let mut at = None;
    let mut i = 0usize;
    while i + 32 <= data.len() {
        if &data[i..i + GO_BUILDINFO_MAGIC.len()] == GO_BUILDINFO_MAGIC {
            at = Some(i);
            break;
        }
        i += 16;
    }
    let Some(i) = at else { return Ok(None) };
    if let Some(info) = parse_go_buildinfo(&data[i..]) {
        return Ok(Some(info));
    }
    // The strings may run past what was read: read a larger window once.
    let off = base + i as u64;
    let len = (size - off).min(MAX_TABLE);
    let more = fs.read_at(path, off, len as usize).await?;
    Ok(parse_go_buildinfo(&more).or(Some(GoInfo::default())))
}

/// Decode Go build info starting at its magic. `None` when the data ends too
/// early; `Some(default)` for the older pointer-based format, whose strings
/// need address translation (archgate then only knows it is Go).
pub fn parse_go_buildinfo(data: &[u8]) -> Option<GoInfo> {
    if data.len() < 32 || !data.starts_with(GO_BUILDINFO_MAGIC) {
        return None;
    }
    let flags = data[15];
    if flags & 0x2 == 0 {
        return Some(GoInfo::default());
    }
    let mut pos = 32usize;
    let read_str = |pos: &mut usize| -> Option<Vec<u8>> {
        let mut p = *pos;
        let n = uleb(data, &mut p)? as usize;
        let s = data.get(p..p.checked_add(n)?)?.to_vec();
        *pos = p + n;
        Some(s)
    };
    let version = read_str(&mut pos)?;
    let mut module = read_str(&mut pos)?;
    // The module string is wrapped in 16-byte sentinels.
    if module.len() >= 33 && module[module.len() - 17] == b'\n' {
        module = module[16..module.len() - 16].to_vec();
    }
    let mut info = GoInfo {
        version: Some(String::from_utf8_lossy(&version).into_owned()).filter(|v| !v.is_empty()),
        ..GoInfo::default()
    };
    for line in String::from_utf8_lossy(&module).lines() {
        let Some(kv) = line.strip_prefix("build\t") else {
            continue;
        };
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v = Some(v.to_string());
        match k {
            "GOARCH" => info.goarch = v,
            "GOARM" => info.goarm = v,
            "GOOS" => info.goos = v,
            "CGO_ENABLED" => info.cgo_enabled = v,
            _ => {}
        }
    }
    Some(info)
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
    fn arm_attributes_cpu_arch_and_vfp() {
        // 'A', len, "aeabi\0", Tag_File(1), size, Tag_CPU_name(5)="7-A\0",
        // Tag_CPU_arch(6)=10, Tag_ABI_VFP_args(28)=1, Tag_compat(32)=0 "\0".
        let mut attrs = vec![5u8];
        attrs.extend_from_slice(b"7-A\0");
        attrs.extend_from_slice(&[6, 10, 28, 1, 32, 0, 0]);
        let file_len = 1 + 4 + attrs.len();
        let mut sub = b"aeabi\0".to_vec();
        sub.push(1);
        sub.extend_from_slice(&(file_len as u32).to_le_bytes());
        sub.extend_from_slice(&attrs);
        let mut data = vec![b'A'];
        data.extend_from_slice(&((sub.len() + 4) as u32).to_le_bytes());
        data.extend_from_slice(&sub);
        let a = parse_arm_attributes(&data, false).unwrap();
        assert_eq!(a.cpu_arch, Some(10));
        assert_eq!(a.vfp_args, Some(1));
        assert_eq!(arm_variant_of_cpu_arch(10), "v7");
        assert_eq!(arm_variant_of_cpu_arch(4), "v5");
        assert_eq!(arm_variant_of_cpu_arch(6), "v6");
        // Garbage never panics.
        for n in 0..data.len() {
            let _ = parse_arm_attributes(&data[..n], false);
        }
    }

    #[test]
    fn go_buildinfo_inline_strings() {
        let mut d = GO_BUILDINFO_MAGIC.to_vec();
        d.push(8);
        d.push(2);
        d.resize(32, 0);
        let ver = b"go1.19.8";
        d.push(ver.len() as u8);
        d.extend_from_slice(ver);
        let mut module = vec![b'x'; 16];
        module.extend_from_slice(
            b"path\tcmd\nbuild\tGOARCH=arm\nbuild\tGOARM=6\nbuild\tGOOS=linux\n",
        );
        module.extend_from_slice(&[b'y'; 16]);
        d.push(module.len() as u8);
        d.extend_from_slice(&module);
        let info = parse_go_buildinfo(&d).unwrap();
        assert_eq!(info.goarch.as_deref(), Some("arm"));
        assert_eq!(info.goarm.as_deref(), Some("6"));
        assert_eq!(info.version.as_deref(), Some("go1.19.8"));
        for n in 0..d.len() {
            let _ = parse_go_buildinfo(&d[..n]);
        }
    }

    #[test]
    fn java_class_is_not_macho() {
        assert!(!is_macho(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]));
        assert!(is_macho(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]));
    }
}
