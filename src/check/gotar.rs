//! A tar reader that sees a layer exactly as Go's `archive/tar` does.
//!
//! containerd and moby unpack layers with Go's reader, so what a layer holds
//! is what that reader returns, not what a tar tool shows. The one idea: read
//! raw 512-byte blocks and apply Go's rules ourselves (Go 1.19
//! `archive/tar/reader.go` `Reader.next`, `readHeader`, `parsePAX`,
//! `mergePAX`, `handleSparseFile`; `strconv.go`; `format.go`), so names,
//! types, sizes and the entry boundaries match byte for byte, and every
//! extension header is bounded *before* its data is read: PAX (`x`, `g`) and
//! GNU long name/link (`L`, `K`) data over 1 MiB is refused as Go refuses it.
//!
//! Facts this module implements (all from Go 1.19 `archive/tar`; headers in
//! `header`, PAX records in `pax`, sparse files in `sparse`):
//! - a header is recognised by its checksum (unsigned or signed byte sum, the
//!   checksum field read as spaces); the magic picks the format: `ustar\0` +
//!   `tar\0` trailer is STAR, `ustar\0` with any version is USTAR/PAX,
//!   `ustar ` + ` \0` is GNU, anything else V7; the USTAR prefix (155 bytes,
//!   131 for STAR) is joined with `/` when not empty (`readHeader`);
//! - numeric fields are octal (spaces and NULs trimmed) or base-256; a field
//!   that does not parse makes the header invalid (`parseNumeric`);
//! - two zero blocks, or end of input at a header boundary, end the archive;
//!   one zero block followed by anything else is an invalid header; end of
//!   input inside the padding after an entry's data is also a clean end;
//! - header-only types (`1 2 3 4 5 6`) have no data whatever their size field
//!   says (`isHeaderOnlyType`): the next header follows at once;
//! - `x` records apply to the next entry, a second `x` replaces the first;
//!   duplicate keys: the last wins; empty values are ignored; a NUL in a
//!   `path`, `linkpath`, `uname` or `gname` value, or in any key, is an
//!   invalid header (`validPAXRecord`); `g` is returned as an entry named by
//!   its own `path` record and discards a pending `x`;
//! - the last `L`/`K` wins (cut at its first NUL) and beats PAX `path` and
//!   `linkpath`; an empty one changes nothing;
//! - typeflag `\0` with a name ending in `/` is a directory, else a file;
//! - PAX GNU sparse files (`GNU.sparse.major/minor`, or `GNU.sparse.map`)
//!   take their name from `GNU.sparse.name` and their size from
//!   `GNU.sparse.size` (or `realsize`); their holes read as zeros; old GNU
//!   sparse (`S`) maps are read from the header and its extension blocks.

use std::io::{self, Read};

mod header;
mod pax;
mod sparse;

pub use header::parse_dec;
use header::{c_str, parse_block};
use pax::{merge_pax, nonempty, parse_pax, Pax};
use sparse::SparseState;

pub const BLOCK: u64 = 512;
/// Go `archive/tar/format.go` maxSpecialFileSize: the most PAX or GNU long
/// name/link data Go reads (`ErrFieldTooLong` beyond).
pub const MAX_SPECIAL_FILE: u64 = 1 << 20;
/// archgate's own bound on a sparse file's map (Go has none; the runtimes
/// would take the memory). Real layers have no sparse files at all.
pub const MAX_SPARSE_ENTRIES: usize = 1 << 16;

// Type flags (Go archive/tar/common.go).
pub const TYPE_REG: u8 = b'0';
pub const TYPE_REGA: u8 = 0;
pub const TYPE_LINK: u8 = b'1';
pub const TYPE_SYMLINK: u8 = b'2';
pub const TYPE_CHAR: u8 = b'3';
pub const TYPE_BLOCK: u8 = b'4';
pub const TYPE_DIR: u8 = b'5';
pub const TYPE_FIFO: u8 = b'6';
pub const TYPE_XHEADER: u8 = b'x';
pub const TYPE_XGLOBAL: u8 = b'g';
pub const TYPE_GNU_SPARSE: u8 = b'S';
pub const TYPE_GNU_LONGNAME: u8 = b'L';
pub const TYPE_GNU_LONGLINK: u8 = b'K';

/// Types with no data section (Go `isHeaderOnlyType`).
pub fn header_only(flag: u8) -> bool {
    matches!(
        flag,
        TYPE_LINK | TYPE_SYMLINK | TYPE_CHAR | TYPE_BLOCK | TYPE_DIR | TYPE_FIFO
    )
}

/// One entry as Go's `Reader.Next` returns it (the fields unpackers use).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Raw bytes, never NUL; not cleaned.
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    /// After the `\0` -> `0`/`5` rule.
    pub typeflag: u8,
    /// The logical size (a sparse file's expanded size).
    pub size: i64,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub devmajor: i64,
    pub devminor: i64,
    /// The entry is a sparse file (holes read as zeros).
    pub sparse: bool,
    /// Reading this sparse file to its end fails (its map and its data do
    /// not add up): Go's errMissData or errUnrefData.
    pub sparse_error: Option<&'static str>,
    /// Offset of the entry's first header block (extension headers included)
    /// in the tar stream.
    pub offset: u64,
}

/// Why Go's reader (and so the runtime) refuses the stream, or why archgate
/// will not read it.
#[derive(Debug)]
pub enum TarError {
    /// Go's `ErrHeader` ("archive/tar: invalid tar header").
    Header { offset: u64, why: String },
    /// Go's `ErrFieldTooLong`: extension data over 1 MiB.
    TooLong {
        offset: u64,
        what: &'static str,
        size: u64,
    },
    /// Go's errMissData / errUnrefData for sparse files.
    Sparse { offset: u64, why: &'static str },
    /// Go would read it, but its meaning depends on Go's map iteration order.
    Ambiguous { offset: u64, why: String },
    /// Beyond archgate's own bounds (not the runtime's).
    Limit { offset: u64, why: String },
    /// The underlying stream failed or ended early.
    Io(io::Error),
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Header { offset, why } => write!(
                f,
                "invalid tar header at byte {offset} ({why}): Go's archive/tar refuses it \
                 (\"archive/tar: invalid tar header\"), so the runtime would refuse this layer too"
            ),
            TarError::TooLong { offset, what, size } => write!(
                f,
                "the {what} at byte {offset} holds {size} bytes, more than the 1 MiB Go's \
                 archive/tar reads (\"archive/tar: header field too long\"): the runtime would \
                 refuse this layer too"
            ),
            TarError::Sparse { offset, why } => write!(
                f,
                "sparse file at byte {offset}: {why}: the runtime would refuse this layer too"
            ),
            TarError::Ambiguous { offset, why } => write!(
                f,
                "tar header at byte {offset}: {why}: what the runtime unpacks depends on chance"
            ),
            TarError::Limit { offset, why } => {
                write!(f, "tar entry at byte {offset}: {why} (archgate's limit)")
            }
            TarError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TarError {}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        // A data-read error of ours travels inside an io::Error.
        if e.get_ref().is_some_and(|i| i.is::<TarError>()) {
            let inner = e.into_inner().expect("checked");
            return *inner.downcast::<TarError>().expect("checked");
        }
        TarError::Io(e)
    }
}

fn unexpected_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end of tar stream")
}

/// How an entry's data is read.
#[derive(Debug, Default)]
struct DataState {
    /// Physical bytes left in the stream for this entry.
    phys: u64,
    /// Padding after the physical data.
    pad: u64,
    /// For sparse files: the data fragments, logical position and size.
    sparse: Option<SparseState>,
}

/// Go's `tar.Reader`, reading from `r`.
pub struct TarReader<R> {
    r: R,
    /// Zero bytes sparse holes may still produce (they cost no input).
    hole_budget: u64,
    /// Bytes consumed from `r`.
    pos: u64,
    cur: DataState,
    done: bool,
    failed: bool,
}

impl<R: Read> TarReader<R> {
    pub fn new(r: R) -> Self {
        TarReader {
            r,
            hole_budget: u64::MAX,
            pos: 0,
            cur: DataState::default(),
            done: false,
            failed: false,
        }
    }

    /// Bound the zeros sparse files' holes may produce in all: a 1 KiB
    /// entry can claim an exabyte of holes.
    pub fn set_hole_budget(&mut self, bytes: u64) {
        self.hole_budget = bytes;
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.r
    }

    /// The underlying stream (positioned after what was consumed).
    pub fn into_inner(self) -> R {
        self.r
    }

    /// Fill `buf` from the stream; the number of bytes read (short only at
    /// the end of the stream).
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    /// Skip `n` bytes; `false` at end of stream.
    fn skip(&mut self, mut n: u64) -> io::Result<bool> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self.fill(&mut buf[..want])?;
            if got < want {
                return Ok(false);
            }
            n -= got as u64;
        }
        Ok(true)
    }

    /// The next entry, or `None` at the end of the archive (Go's `Next`).
    pub fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        if self.done {
            return Ok(None);
        }
        if self.failed {
            return Err(TarError::Io(io::Error::other("tar stream already failed")));
        }
        match self.next_inner() {
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Ok(Some(h)) => Ok(Some(h)),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn next_inner(&mut self) -> Result<Option<Header>, TarError> {
        let mut pax: Option<Pax> = None;
        let mut long_name: Vec<u8> = Vec::new();
        let mut long_link: Vec<u8> = Vec::new();
        let mut first_offset: Option<u64> = None;
        loop {
            // Discard what is left of the previous entry and its padding.
            if !self.skip(self.cur.phys)? {
                return Err(unexpected_eof().into());
            }
            self.cur.phys = 0;
            let pad = self.cur.pad;
            self.cur = DataState::default();
            if !self.skip(pad)? {
                // Go: end of input inside the padding is a clean end.
                return Ok(None);
            }
            let offset = self.pos;
            let first = *first_offset.get_or_insert(offset);
            let mut block = [0u8; 512];
            let n = self.fill(&mut block)?;
            if n == 0 {
                return Ok(None);
            }
            if n < 512 {
                return Err(unexpected_eof().into());
            }
            if block.iter().all(|&c| c == 0) {
                let n = self.fill(&mut block)?;
                if n == 0 {
                    return Ok(None);
                }
                if n < 512 {
                    return Err(unexpected_eof().into());
                }
                if block.iter().all(|&c| c == 0) {
                    return Ok(None);
                }
                return Err(TarError::Header {
                    offset,
                    why: "a zero block followed by data".into(),
                });
            }
            let mut h = parse_block(&block, offset)?;
            self.set_data(&h, offset)?;
            match h.typeflag {
                TYPE_XHEADER | TYPE_XGLOBAL => {
                    let what = if h.typeflag == TYPE_XHEADER {
                        "PAX header"
                    } else {
                        "PAX global header"
                    };
                    let data = self.read_special(what, offset)?;
                    let records = parse_pax(&data, offset)?;
                    if h.typeflag == TYPE_XGLOBAL {
                        return self.global_header(h, &records, first).map(Some);
                    }
                    pax = Some(records);
                }
                TYPE_GNU_LONGNAME | TYPE_GNU_LONGLINK => {
                    let what = if h.typeflag == TYPE_GNU_LONGNAME {
                        "GNU long name"
                    } else {
                        "GNU long link name"
                    };
                    let data = self.read_special(what, offset)?;
                    let v = c_str(&data).to_vec();
                    if h.typeflag == TYPE_GNU_LONGNAME {
                        long_name = v;
                    } else {
                        long_link = v;
                    }
                }
                _ => {
                    if let Some(p) = &pax {
                        merge_pax(&mut h, p).map_err(|field| TarError::Header {
                            offset,
                            why: format!("its PAX {field} record is not a number"),
                        })?;
                    }
                    if !long_name.is_empty() {
                        h.name = long_name;
                    }
                    if !long_link.is_empty() {
                        h.linkname = long_link;
                    }
                    if h.typeflag == TYPE_REGA {
                        h.typeflag = if h.name.ends_with(b"/") {
                            TYPE_DIR
                        } else {
                            TYPE_REG
                        };
                    }
                    // The extended headers may have changed the size.
                    self.set_data(&h, offset)?;
                    self.sparse(&mut h, &block, pax.as_ref(), offset)?;
                    h.offset = first;
                    return Ok(Some(h));
                }
            }
        }
    }

    /// Go `handleRegularFile`: how much data follows this header.
    fn set_data(&mut self, h: &Header, offset: u64) -> Result<(), TarError> {
        let nb = if header_only(h.typeflag) { 0 } else { h.size };
        if nb < 0 {
            return Err(TarError::Header {
                offset,
                why: "negative size".into(),
            });
        }
        let nb = nb as u64;
        self.cur = DataState {
            phys: nb,
            pad: nb.wrapping_neg() & (BLOCK - 1),
            sparse: None,
        };
        Ok(())
    }

    /// Go `readSpecialFile`, refusing more than 1 MiB before reading it.
    fn read_special(&mut self, what: &'static str, offset: u64) -> Result<Vec<u8>, TarError> {
        let size = self.cur.phys;
        if size > MAX_SPECIAL_FILE {
            return Err(TarError::TooLong { offset, what, size });
        }
        let mut data = vec![0u8; size as usize];
        let n = self.fill(&mut data)?;
        self.cur.phys -= n as u64;
        if n < data.len() {
            return Err(unexpected_eof().into());
        }
        Ok(data)
    }

    /// A `g` header, returned as an entry: named by its own `path` record
    /// (Go `Reader.next`, case `TypeXGlobalHeader`).
    fn global_header(&mut self, h: Header, pax: &Pax, first: u64) -> Result<Header, TarError> {
        let mut merged = h.clone();
        if let (Err(field), Some(_)) = (merge_pax(&mut merged, pax), nonempty(&pax.path)) {
            // Go applies records in map order and stops at the bad one:
            // whether `path` was applied first is chance.
            return Err(TarError::Ambiguous {
                offset: h.offset,
                why: format!(
                    "a PAX global header with a path record and a malformed {field} record"
                ),
            });
        }
        Ok(Header {
            name: nonempty(&pax.path).map_or(h.name, <[u8]>::to_vec),
            typeflag: TYPE_XGLOBAL,
            offset: first,
            ..Header::default()
        })
    }
}

impl<R: Read> Read for TarReader<R> {
    /// The current entry's data (logical: a sparse file's holes are zeros).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed || buf.is_empty() {
            return Ok(0);
        }
        let r = match self.cur.sparse.take() {
            None => self.read_phys(buf),
            Some(mut s) => {
                let r = self.read_sparse(&mut s, buf);
                self.cur.sparse = Some(s);
                r
            }
        };
        if r.is_err() {
            self.failed = true;
        }
        r
    }
}

impl<R: Read> TarReader<R> {
    fn read_phys(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.cur.phys) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = loop {
            match self.r.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Err(unexpected_eof());
        }
        self.pos += n as u64;
        self.cur.phys -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
