//! ELF headers as `binfmt_elf` reads them (torvalds/linux
//! fs/binfmt_elf.c): the class and byte order the platform's kernel uses,
//! the program headers, the first `PT_INTERP`, the section headers, and the
//! byte ranges a streaming reader must keep for the engine.

use super::{not_a_program, range_from, read_range, Ident, MAX_SECTION, MAX_TABLE};
use crate::inspect::platform::{goarch_of_elf, kernels, KernelElf, EM_ARM};
use crate::rootfs::{FsError, RootFs};
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::program_header::{ProgramHeader, PT_INTERP, PT_LOAD};
use goblin::elf::section_header::SectionHeader;

/// The longest PT_INTERP binfmt_elf accepts (`PATH_MAX`,
/// include/uapi/linux/limits.h).
const PATH_MAX: u64 = 4096;
/// The biggest program header table archgate reads.
const MAX_PHDR_TABLE: u64 = 65536;

/// Program header flag: writable (elf.h `PF_W`).
pub(super) const PF_W: u32 = 2;
/// ELF types execve accepts (elf.h `ET_EXEC`, `ET_DYN`).
const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

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

pub(super) async fn identify_elf<R: RootFs>(
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

/// Read the section header table (bounded).
pub(super) async fn section_headers<R: RootFs>(
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

pub(super) async fn section_bytes<R: RootFs>(
    fs: &R,
    path: &[u8],
    e: &ElfInfo,
    sh: &SectionHeader,
    cap: u64,
) -> Result<Option<Vec<u8>>, FsError> {
    read_range(fs, path, e.size, sh.sh_offset, sh.sh_size.min(cap)).await
}
