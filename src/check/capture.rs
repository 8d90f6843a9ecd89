//! What to keep of a file's bytes while its layer streams past, so later
//! `read_at` calls can be served without decompressing the layer again.
//!
//! The one idea: a compressed layer can't seek, but the bytes the inspection
//! engine asks for are predictable: the head (ELF header, program headers,
//! `PT_INTERP`, `#!` line), the tail (section headers, `.ARM.attributes` in a
//! stripped binary), the first writable segment (where Go's linker puts
//! `.go.buildinfo`) and anything starting with Go's build-info magic. Windows
//! that depend on the header are the ranges the engine says it will read
//! (`binary::elf_reads_any_platform`, for every way a kernel may read the
//! header), planned as soon as the head has arrived, which is always before
//! the bytes they cover.

use crate::inspect::binary;
use memchr::memmem;

/// How much of the start and end of a file is kept.
pub const HEAD: u64 = 64 * 1024;
pub const TAIL: u64 = 64 * 1024;
/// The same once the budget runs low (still 4x the page the engine reads
/// first), so that many more files fit.
pub const LEAN_HEAD: u64 = 16 * 1024;
pub const LEAN_TAIL: u64 = 16 * 1024;
/// What keeping one file's bytes costs besides the bytes (its entries in
/// the capture lists and maps, its allocations and the heap's
/// fragmentation between them): counted in the budget, or a layer of a
/// million one-byte executables costs 100 MB for 1 MB of data. Measured:
/// 157,000 captured 10-byte executables (380,000 in the layer) raised peak
/// RSS by 55 MB, about 350 bytes each (red-team finding: 96 MB in all).
pub const PER_FILE: u64 = 384;
/// The size of a window kept at an interesting offset.
pub const WINDOW: u64 = 64 * 1024;
/// Go build-info windows kept per file (the magic can also appear as data).
const MAX_GO_WINDOWS: usize = 2;
/// Go build info magic (Go's debug/buildinfo), found at a 16-byte aligned
/// offset.
pub const GO_MAGIC: &[u8] = b"\xff Go buildinf:";

/// A contiguous range of a file being captured: `[start, end)` is planned,
/// `data` holds what has arrived so far.
#[derive(Debug, Clone)]
pub struct Seg {
    pub start: u64,
    pub end: u64,
    pub data: Vec<u8>,
}

impl Seg {
    fn new(start: u64, end: u64) -> Seg {
        Seg {
            start,
            end,
            data: Vec::with_capacity((end - start) as usize),
        }
    }

    fn next(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    fn complete(&self) -> bool {
        self.next() >= self.end
    }

    /// Append the bytes of `chunk` (which starts at file offset `base`) that
    /// this segment is waiting for. Idempotent: feeding the same chunk twice
    /// adds nothing the second time.
    fn feed(&mut self, base: u64, chunk: &[u8]) {
        let next = self.next();
        let chunk_end = base + chunk.len() as u64;
        if next >= self.end || next < base || next >= chunk_end {
            return;
        }
        let from = (next - base) as usize;
        let to = (self.end.min(chunk_end) - base) as usize;
        self.data.extend_from_slice(&chunk[from..to]);
    }
}

/// The capture budget a file draws from. `reserve` always succeeds for the
/// path being looked up (`forced`), and otherwise only while bytes remain.
pub trait Budget {
    fn reserve(&mut self, bytes: u64, forced: bool) -> bool;
    fn release(&mut self, bytes: u64, forced: bool);
    /// Whether files nobody asked for should get the lean plan.
    fn lean(&self) -> bool;
}

/// The plan and the bytes for one file.
pub struct FileCapture {
    size: u64,
    forced: bool,
    /// Head and tail only: no header-planned or Go windows.
    lean: bool,
    segs: Vec<Seg>,
    reserved: u64,
    elf_planned: bool,
    go_windows: usize,
    /// How much is kept from Go's build-info magic on.
    go_window: u64,
    /// The last bytes of the previous chunk, for magic split across chunks.
    carry: Vec<u8>,
    carry_start: u64,
    finder: memmem::Finder<'static>,
}

impl FileCapture {
    /// Start capturing a file of `size` bytes; `None` when the budget has no
    /// room for its head and tail (and the file is not `forced`).
    pub fn start(size: u64, forced: bool, budget: &mut dyn Budget) -> Option<FileCapture> {
        let lean = !forced && budget.lean();
        let (head, tail) = if lean {
            (LEAN_HEAD, LEAN_TAIL)
        } else {
            (HEAD, TAIL)
        };
        let head_end = size.min(head);
        let tail_start = head_end.max(size.saturating_sub(tail));
        let want = head_end + (size - tail_start) + PER_FILE;
        if !budget.reserve(want, forced) {
            return None;
        }
        let mut segs = vec![Seg::new(0, head_end)];
        if tail_start < size {
            segs.push(Seg::new(tail_start, size));
        }
        Some(FileCapture {
            size,
            forced,
            lean,
            segs,
            reserved: want,
            elf_planned: false,
            go_windows: 0,
            go_window: WINDOW,
            carry: Vec::new(),
            carry_start: 0,
            finder: memmem::Finder::new(GO_MAGIC),
        })
    }

    /// Keep `len` bytes from Go's build-info magic on instead of
    /// [`WINDOW`] (before the first bytes are fed).
    pub fn with_go_window(mut self, len: u64) -> Self {
        self.go_window = len;
        self
    }

    /// The bytes of the file's head that have arrived so far.
    pub fn head(&self) -> &[u8] {
        &self.segs[0].data
    }

    fn add_window(&mut self, start: u64, end: u64, budget: &mut dyn Budget) -> bool {
        let end = end.min(self.size);
        if start >= end {
            return false;
        }
        // Already planned in full by another segment?
        if self.segs.iter().any(|s| s.start <= start && s.end >= end) {
            return false;
        }
        if !budget.reserve(end - start, self.forced) {
            return false;
        }
        self.reserved += end - start;
        self.segs.push(Seg::new(start, end));
        true
    }

    /// Feed the next chunk of the file, which starts at offset `base`.
    pub fn feed(&mut self, base: u64, chunk: &[u8], budget: &mut dyn Budget) {
        for s in &mut self.segs {
            s.feed(base, chunk);
        }
        if !self.elf_planned && self.segs[0].complete() {
            self.elf_planned = true;
            let head_end = self.segs[0].end;
            let reads = binary::elf_reads_any_platform(&self.segs[0].data, self.size);
            let windows: Vec<(u64, u64)> = reads
                .iter()
                .flat_map(|r| {
                    if self.lean {
                        // Only a small section header table (the ARM
                        // attributes rule).
                        let shdrs = r.shdrs.filter(|(a, b)| b - a <= LEAN_TAIL);
                        [shdrs, r.interp, None, None]
                    } else {
                        [r.shdrs, r.go_data, r.arm_attrs, r.interp]
                    }
                })
                .flatten()
                .collect();
            for (start, end) in windows {
                // What lies before the head's end is in the head already.
                if self.add_window(start.max(head_end), end, budget) {
                    self.segs.last_mut().expect("just pushed").feed(base, chunk);
                }
            }
        }
        if !self.lean {
            self.scan_go_magic(base, chunk, budget);
        }
    }

    fn scan_go_magic(&mut self, base: u64, chunk: &[u8], budget: &mut dyn Budget) {
        let keep = GO_MAGIC.len() - 1;
        // A magic string split between the previous chunk and this one.
        if !self.carry.is_empty() && self.go_windows < MAX_GO_WINDOWS {
            let mut joint = self.carry.clone();
            joint.extend_from_slice(&chunk[..chunk.len().min(keep)]);
            if let Some(i) = self.finder.find(&joint) {
                let at = self.carry_start + i as u64;
                if i < self.carry.len() && at.is_multiple_of(16) {
                    let carried = self.carry[i..].to_vec();
                    self.go_window(at, Some(&carried), base, chunk, budget);
                }
            }
        }
        if self.go_windows < MAX_GO_WINDOWS {
            let mut found = Vec::new();
            for i in self.finder.find_iter(chunk) {
                let at = base + i as u64;
                if at.is_multiple_of(16) {
                    found.push(at);
                    if found.len() + self.go_windows >= MAX_GO_WINDOWS {
                        break;
                    }
                }
            }
            for at in found {
                self.go_window(at, None, base, chunk, budget);
            }
        }
        let tail_from = chunk.len().saturating_sub(keep);
        self.carry.clear();
        self.carry.extend_from_slice(&chunk[tail_from..]);
        self.carry_start = base + tail_from as u64;
    }

    fn go_window(
        &mut self,
        at: u64,
        carried: Option<&[u8]>,
        base: u64,
        chunk: &[u8],
        budget: &mut dyn Budget,
    ) {
        if self.go_windows >= MAX_GO_WINDOWS {
            return;
        }
        self.go_windows += 1;
        if self.add_window(at, at + self.go_window, budget) {
            let seg = self.segs.last_mut().expect("just pushed");
            if let Some(c) = carried {
                let take = c.len().min((seg.end - seg.start) as usize);
                seg.data.extend_from_slice(&c[..take]);
            }
            seg.feed(base, chunk);
        }
    }

    /// The captured bytes, merged into disjoint sorted segments, and the
    /// budget bytes this no longer needs (overlaps, a short file).
    pub fn finish(self, budget: &mut dyn Budget) -> Vec<(u64, Vec<u8>)> {
        let merged = merge(self.segs);
        let kept: u64 = merged.iter().map(|(_, d)| d.len() as u64).sum::<u64>() + PER_FILE;
        budget.release(self.reserved.saturating_sub(kept), self.forced);
        merged
    }
}

/// Merge segments into disjoint, sorted, non-adjacent ranges.
pub fn merge(mut segs: Vec<Seg>) -> Vec<(u64, Vec<u8>)> {
    segs.retain(|s| !s.data.is_empty());
    segs.sort_by_key(|s| s.start);
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    for s in segs {
        let s_end = s.start + s.data.len() as u64;
        if let Some((start, data)) = out.last_mut() {
            let last_end = *start + data.len() as u64;
            if s.start <= last_end {
                if s_end > last_end {
                    data.extend_from_slice(&s.data[(last_end - s.start) as usize..]);
                }
                continue;
            }
        }
        out.push((s.start, s.data));
    }
    out
}

/// `[off, end)` from merged segments, when one segment holds all of it.
pub fn serve(segs: &[(u64, Vec<u8>)], off: u64, end: u64) -> Option<Vec<u8>> {
    segs.iter().find_map(|(start, data)| {
        let seg_end = start + data.len() as u64;
        (*start <= off && end <= seg_end)
            .then(|| data[(off - start) as usize..(end - start) as usize].to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Unlimited;
    impl Budget for Unlimited {
        fn reserve(&mut self, _: u64, _: bool) -> bool {
            true
        }
        fn release(&mut self, _: u64, _: bool) {}
        fn lean(&self) -> bool {
            false
        }
    }

    fn run(data: &[u8], chunk: usize) -> Vec<(u64, Vec<u8>)> {
        let mut c = FileCapture::start(data.len() as u64, false, &mut Unlimited).unwrap();
        let mut pos = 0;
        for ch in data.chunks(chunk) {
            c.feed(pos as u64, ch, &mut Unlimited);
            pos += ch.len();
        }
        c.finish(&mut Unlimited)
    }

    #[test]
    fn small_file_is_captured_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let segs = run(&data, 7777);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].1, data);
    }

    #[test]
    fn head_tail_and_go_window_across_chunk_boundary() {
        let mut data = vec![0u8; 1_000_000];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        // Put the magic at an aligned offset that straddles a chunk boundary.
        let at = 499_984usize;
        assert_eq!(at % 16, 0);
        data[at..at + GO_MAGIC.len()].copy_from_slice(GO_MAGIC);
        // An unaligned copy must be ignored.
        data[600_001..600_001 + GO_MAGIC.len()].copy_from_slice(GO_MAGIC);
        // Chunk boundaries inside the magic (1, 5 and 13 bytes in), and not.
        for chunk in [at + 1, at + 5, at + 13, 4096, 65536, 1_000_000] {
            let segs = run(&data, chunk);
            assert_eq!(serve(&segs, 0, HEAD).unwrap(), &data[..HEAD as usize]);
            let n = data.len() as u64;
            assert_eq!(
                serve(&segs, n - TAIL, n).unwrap(),
                &data[(n - TAIL) as usize..]
            );
            let w = serve(&segs, at as u64, at as u64 + WINDOW).expect("go window");
            assert_eq!(w, &data[at..at + WINDOW as usize]);
            assert!(serve(&segs, 600_000, 600_100).is_none());
        }
    }

    #[test]
    fn a_longer_go_window_keeps_that_much_from_the_magic() {
        let mut data = vec![0u8; 3_000_000];
        let at = 1_000_000usize;
        data[at..at + GO_MAGIC.len()].copy_from_slice(GO_MAGIC);
        let mut c = FileCapture::start(data.len() as u64, false, &mut Unlimited)
            .unwrap()
            .with_go_window(1 << 20);
        for (i, ch) in data.chunks(65536).enumerate() {
            c.feed((i * 65536) as u64, ch, &mut Unlimited);
        }
        let segs = c.finish(&mut Unlimited);
        assert!(serve(&segs, at as u64, (at + (1 << 20)) as u64).is_some());
    }

    #[test]
    fn elf_header_plans_writable_segment_and_section_headers() {
        // A minimal ELF64 LE header with two program headers.
        let size = 3_000_000u64;
        let mut h = vec![0u8; 4096];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        h[40..48].copy_from_slice(&(size - 2048).to_le_bytes()); // shoff
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&2u16.to_le_bytes());
        h[58..60].copy_from_slice(&64u16.to_le_bytes());
        h[60..62].copy_from_slice(&30u16.to_le_bytes());
        // phdr 0: PT_LOAD R-X; phdr 1: PT_LOAD RW- at 1_200_000.
        let p0 = 64;
        h[p0..p0 + 4].copy_from_slice(&1u32.to_le_bytes());
        h[p0 + 4..p0 + 8].copy_from_slice(&5u32.to_le_bytes());
        let p1 = 64 + 56;
        h[p1..p1 + 4].copy_from_slice(&1u32.to_le_bytes());
        h[p1 + 4..p1 + 8].copy_from_slice(&6u32.to_le_bytes());
        h[p1 + 8..p1 + 16].copy_from_slice(&1_200_000u64.to_le_bytes());
        h[p1 + 32..p1 + 40].copy_from_slice(&500_000u64.to_le_bytes());
        // phdr 2: PT_INTERP far into the file (as glibc's libc.so.6 has it).
        h[56..58].copy_from_slice(&3u16.to_le_bytes());
        let p2 = 64 + 2 * 56;
        h[p2..p2 + 4].copy_from_slice(&3u32.to_le_bytes());
        h[p2 + 8..p2 + 16].copy_from_slice(&1_700_000u64.to_le_bytes());
        h[p2 + 32..p2 + 40].copy_from_slice(&28u64.to_le_bytes());
        let w = binary::elf_reads(&h, size, None);
        assert_eq!(w.interp, Some((1_700_000, 1_700_028)));
        assert_eq!(w.shdrs, Some((size - 2048, size - 2048 + 30 * 64)));
        assert_eq!(w.go_data, Some((1_200_000, 1_200_000 + WINDOW)));
        assert_eq!(
            binary::elf_reads(b"#!/bin/sh\n", 10, None),
            binary::ElfReads::default()
        );

        let mut data = vec![7u8; size as usize];
        data[..4096].copy_from_slice(&h);
        let segs = run(&data, 65536);
        assert!(serve(&segs, 1_200_000, 1_200_000 + WINDOW).is_some());
        assert!(serve(&segs, 1_700_000, 1_700_028).is_some());
        assert!(serve(&segs, 1_000_000, 1_000_010).is_none());
    }

    /// A file the engine reads from the bytes given, recording each read.
    struct Recorder {
        data: Vec<u8>,
        reads: std::sync::Mutex<Vec<(u64, u64)>>,
    }

    impl crate::rootfs::RootFs for Recorder {
        async fn lstat(
            &self,
            _: &[u8],
        ) -> Result<Option<crate::rootfs::Entry>, crate::rootfs::FsError> {
            Ok(None)
        }

        async fn read_at(
            &self,
            _: &[u8],
            off: u64,
            len: usize,
        ) -> Result<Vec<u8>, crate::rootfs::FsError> {
            let end = (off as usize).saturating_add(len).min(self.data.len());
            let off = (off as usize).min(end);
            self.reads.lock().unwrap().push((off as u64, end as u64));
            Ok(self.data[off..end].to_vec())
        }
    }

    /// An x86-64 binary with a stray EI_CLASS byte runs on x86-64 (the
    /// kernel never reads the byte): the engine reads it as ELF64, and the
    /// windows planned for it are the ranges it reads (the old hand parser
    /// planned none for it).
    #[test]
    fn stray_ei_class_plans_the_windows_the_engine_reads() {
        use crate::inspect::binary::{Ident, HEAD_LEN};
        use crate::inspect::platform::kernel_elf;
        use futures::executor::block_on;
        let size = 3_000_000u64;
        let le16 = |h: &mut [u8], o: usize, v: u16| h[o..o + 2].copy_from_slice(&v.to_le_bytes());
        let le32 = |h: &mut [u8], o: usize, v: u32| h[o..o + 4].copy_from_slice(&v.to_le_bytes());
        let le64 = |h: &mut [u8], o: usize, v: u64| h[o..o + 8].copy_from_slice(&v.to_le_bytes());
        let mut data = vec![0u8; size as usize];
        let h = &mut data[..];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 0; // stray EI_CLASS
        h[5] = 1;
        h[6] = 1;
        le16(h, 16, 3); // ET_DYN
        le16(h, 18, 62); // EM_X86_64
        le32(h, 20, 1);
        le64(h, 32, 64); // e_phoff
        let shoff = size - 4096;
        le64(h, 40, shoff);
        le16(h, 52, 64);
        le16(h, 54, 56);
        le16(h, 56, 3);
        le16(h, 58, 64);
        le16(h, 60, 4);
        le16(h, 62, 3); // e_shstrndx
                        // PT_LOAD R-X, PT_LOAD RW- at 1_200_000, PT_INTERP at 1_700_000.
        let ph = |h: &mut [u8], i: usize, ty: u32, flags: u32, off: u64, filesz: u64| {
            let o = 64 + i * 56;
            le32(h, o, ty);
            le32(h, o + 4, flags);
            le64(h, o + 8, off);
            le64(h, o + 32, filesz);
        };
        ph(h, 0, 1, 5, 0, 1_000_000);
        ph(h, 1, 1, 6, 1_200_000, 500_000);
        let interp = b"/lib64/ld-linux-x86-64.so.2\0";
        ph(h, 2, 3, 4, 1_700_000, interp.len() as u64);
        h[1_700_000..1_700_000 + interp.len()].copy_from_slice(interp);
        // Section 3: the names, in the file's last page but one.
        let names = b"\0.shstrtab\0";
        let names_at = size - 8192;
        h[names_at as usize..names_at as usize + names.len()].copy_from_slice(names);
        let sh3 = (shoff + 3 * 64) as usize;
        le32(h, sh3, 1);
        le32(h, sh3 + 4, 3); // SHT_STRTAB
        le64(h, sh3 + 24, names_at);
        le64(h, sh3 + 32, names.len() as u64);

        let kernel = kernel_elf("amd64");
        let head = &data[..HEAD as usize];
        assert_eq!(
            binary::elf_reads(head, size, None),
            binary::ElfReads::default(),
            "read as it says it is, the header is no ELF header"
        );
        let plan = binary::elf_reads(head, size, kernel);
        assert_eq!(plan.interp, Some((1_700_000, 1_700_000 + 28)));

        // What the engine reads: identification, Go's build info (none, so
        // the section names too), the ARM attributes rule's section headers.
        let fs = Recorder {
            data: data.clone(),
            reads: Default::default(),
        };
        let Ident::Elf(elf) = block_on(binary::identify(&fs, b"/app", size, kernel)).unwrap()
        else {
            panic!("not read as ELF");
        };
        assert_eq!(elf.interp.as_deref(), Some(&interp[..interp.len() - 1]));
        assert_eq!(
            block_on(binary::go_buildinfo(&fs, b"/app", &elf)).unwrap(),
            None
        );
        assert_eq!(
            block_on(binary::arm_attributes(&fs, b"/app", &elf)).unwrap(),
            None
        );
        let reads = fs.reads.into_inner().unwrap();

        // Past the first page and the tail, the engine reads exactly the
        // planned windows.
        let planned: Vec<(u64, u64)> = [plan.interp, plan.go_data, plan.shdrs]
            .into_iter()
            .flatten()
            .filter(|&(_, end)| end > HEAD_LEN as u64)
            .collect();
        let beyond: Vec<(u64, u64)> = reads
            .iter()
            .copied()
            .filter(|&(start, end)| end > HEAD_LEN as u64 && start < size - TAIL)
            .collect();
        for r in &beyond {
            assert!(planned.contains(r), "{r:?} read but not planned: {plan:?}");
        }
        for w in &planned {
            assert!(reads.contains(w), "{w:?} planned but not read: {reads:?}");
        }
        assert_eq!(beyond.len(), 2, "{reads:?}");
        // And the capture serves every read.
        let segs = run(&data, 65536);
        for &(start, end) in &reads {
            assert!(
                serve(&segs, start, end).is_some(),
                "{start}..{end} not kept"
            );
        }
    }

    #[test]
    fn merge_joins_overlaps() {
        let seg = |start: u64, d: &[u8]| Seg {
            start,
            end: start + d.len() as u64,
            data: d.to_vec(),
        };
        let m = merge(vec![
            seg(5, b"fgh"),
            seg(0, b"abcde"),
            seg(6, b"ghij"),
            seg(20, b"x"),
        ]);
        assert_eq!(m, vec![(0, b"abcdefghij".to_vec()), (20, b"x".to_vec())]);
        assert_eq!(serve(&m, 2, 9).unwrap(), b"cdefghi");
        assert!(serve(&m, 8, 21).is_none());
    }
}
