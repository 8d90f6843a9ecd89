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
//! Facts this file implements (all from Go 1.19 `archive/tar`):
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

const MISS_DATA: &str = "archive/tar: sparse file references non-existent data";
const UNREF_DATA: &str = "archive/tar: sparse file contains unreferenced data";

fn unexpected_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end of tar stream")
}

// ---------------------------------------------------------------- parsing

/// Go `parser.parseString`: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Go `strconv.ParseUint(s, 8, 64)`.
fn parse_octal_digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

/// Go `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits only.
pub fn parse_dec(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Go `parser`: numeric fields, remembering the first failure.
#[derive(Default)]
struct NumParser {
    failed: Option<&'static str>,
}

impl NumParser {
    /// Go `parseOctal`: trim spaces and NULs, cut at a NUL, parse octal.
    fn octal(&mut self, b: &[u8], field: &'static str) -> i64 {
        let start = b.iter().position(|&c| c != b' ' && c != 0);
        let Some(start) = start else { return 0 };
        let end = b.iter().rposition(|&c| c != b' ' && c != 0).expect("some") + 1;
        match parse_octal_digits(c_str(&b[start..end])) {
            Some(v) => v as i64,
            None => {
                self.failed.get_or_insert(field);
                // Go keeps the (partial) value ParseUint returns; it is
                // never used once the header is refused.
                0
            }
        }
    }

    /// Go `parseNumeric`: base-256 when the high bit is set, else octal.
    fn numeric(&mut self, b: &[u8], field: &'static str) -> i64 {
        if b.first().is_some_and(|c| c & 0x80 != 0) {
            let inv: u8 = if b[0] & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, &c) in b.iter().enumerate() {
                let mut c = c ^ inv;
                if i == 0 {
                    c &= 0x7f;
                }
                if x >> 56 > 0 {
                    self.failed.get_or_insert(field);
                    return 0;
                }
                x = x << 8 | c as u64;
            }
            if x >> 63 > 0 {
                self.failed.get_or_insert(field);
                return 0;
            }
            return if inv == 0xff { !(x as i64) } else { x as i64 };
        }
        self.octal(b, field)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V7,
    Ustar,
    Star,
    Gnu,
}

/// Go `block.getFormat`: `None` when the checksum does not match.
fn block_format(b: &[u8; 512]) -> Option<Format> {
    let mut p = NumParser::default();
    let value = p.octal(&b[148..156], "chksum");
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in b.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += c as i64;
        signed += c as i8 as i64;
    }
    if p.failed.is_some() || (value != unsigned && value != signed) {
        return None;
    }
    let magic = &b[257..263];
    let version = &b[263..265];
    let trailer = &b[508..512];
    Some(if magic == b"ustar\0" && trailer == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && version == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    })
}

/// Go `readHeader` on one non-zero block.
fn parse_block(b: &[u8; 512], offset: u64) -> Result<Header, TarError> {
    let bad = |why: String| TarError::Header { offset, why };
    let format = block_format(b).ok_or_else(|| bad("bad checksum".into()))?;
    let mut p = NumParser::default();
    let mut h = Header {
        typeflag: b[156],
        name: c_str(&b[0..100]).to_vec(),
        linkname: c_str(&b[157..257]).to_vec(),
        offset,
        ..Header::default()
    };
    h.size = p.numeric(&b[124..136], "size");
    h.mode = p.numeric(&b[100..108], "mode");
    h.uid = p.numeric(&b[108..116], "uid");
    h.gid = p.numeric(&b[116..124], "gid");
    p.numeric(&b[136..148], "mtime");
    if format != Format::V7 {
        h.devmajor = p.numeric(&b[329..337], "devmajor");
        h.devminor = p.numeric(&b[337..345], "devminor");
        let prefix: &[u8] = match format {
            Format::Ustar => c_str(&b[345..500]),
            Format::Star => {
                p.numeric(&b[476..488], "atime");
                p.numeric(&b[488..500], "ctime");
                c_str(&b[345..476])
            }
            Format::Gnu => {
                // Go parses the GNU times with a second parser; when they do
                // not parse it falls back to a pre-Go1.8 USTAR prefix.
                let mut p2 = NumParser::default();
                if b[345] != 0 {
                    p2.numeric(&b[345..357], "atime");
                }
                if b[357] != 0 {
                    p2.numeric(&b[357..369], "ctime");
                }
                let s = c_str(&b[345..500]);
                if p2.failed.is_some() && s.iter().all(|&c| c < 0x80) {
                    s
                } else {
                    &[]
                }
            }
            Format::V7 => unreachable!(),
        };
        if !prefix.is_empty() {
            let mut name = prefix.to_vec();
            name.push(b'/');
            name.extend_from_slice(&h.name);
            h.name = name;
        }
    }
    if let Some(field) = p.failed {
        return Err(bad(format!("its {field} field is not a number")));
    }
    Ok(h)
}

/// The PAX records that matter, as Go's map would hold them after parsing
/// (last value of each key).
#[derive(Debug, Default, Clone)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<Vec<u8>>,
    uid: Option<Vec<u8>>,
    gid: Option<Vec<u8>>,
    atime: Option<Vec<u8>>,
    mtime: Option<Vec<u8>>,
    ctime: Option<Vec<u8>>,
    sparse_major: Option<Vec<u8>>,
    sparse_minor: Option<Vec<u8>>,
    sparse_name: Option<Vec<u8>>,
    sparse_size: Option<Vec<u8>>,
    sparse_realsize: Option<Vec<u8>>,
    sparse_numblocks: Option<Vec<u8>>,
    sparse_map: Option<Vec<u8>>,
}

fn nonempty(v: &Option<Vec<u8>>) -> Option<&[u8]> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// Go `parsePAXTime`: seconds, optionally `.` and digits.
fn valid_pax_time(s: &[u8]) -> bool {
    let (secs, frac) = match memchr::memchr(b'.', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[][..]),
    };
    parse_dec(secs).is_some() && frac.iter().all(u8::is_ascii_digit)
}

/// Go `parsePAX` over the data of an `x` or `g` header.
fn parse_pax(data: &[u8], offset: u64) -> Result<Pax, TarError> {
    let bad = |why: &str| TarError::Header {
        offset,
        why: format!("malformed PAX record: {why}"),
    };
    let mut pax = Pax::default();
    // GNU sparse 0.0 offset/numbytes pairs, joined into GNU.sparse.map.
    let mut sparse_pairs: Vec<u8> = Vec::new();
    let mut sparse_count = 0usize;
    let mut s = data;
    while !s.is_empty() {
        // Go `parsePAXRecord`: "%d %s=%s\n".
        let sp = memchr::memchr(b' ', s).ok_or_else(|| bad("no length"))?;
        let n = parse_dec(&s[..sp]).ok_or_else(|| bad("bad length"))?;
        if n < 5 || n > s.len() as i64 {
            return Err(bad("bad length"));
        }
        let n = n as usize;
        if n <= sp + 1 {
            return Err(bad("bad length"));
        }
        let rec = &s[sp + 1..n - 1];
        if s[n - 1] != b'\n' {
            return Err(bad("no newline"));
        }
        s = &s[n..];
        let eq = memchr::memchr(b'=', rec).ok_or_else(|| bad("no '='"))?;
        let (k, v) = (&rec[..eq], &rec[eq + 1..]);
        if k.is_empty() {
            return Err(bad("empty key"));
        }
        let str_field = matches!(k, b"path" | b"linkpath" | b"uname" | b"gname");
        if str_field && memchr::memchr(0, v).is_some() {
            return Err(TarError::Header {
                offset,
                why: format!(
                    "a NUL byte in the PAX {} record",
                    String::from_utf8_lossy(k)
                ),
            });
        }
        if !str_field && memchr::memchr(0, k).is_some() {
            return Err(bad("a NUL byte in a key"));
        }
        let v = v.to_vec();
        match k {
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                let want_offset = sparse_count.is_multiple_of(2);
                if (want_offset != (k == b"GNU.sparse.offset"))
                    || memchr::memchr(b',', &v).is_some()
                {
                    return Err(bad("GNU sparse 0.0 records out of order"));
                }
                if sparse_count > 0 {
                    sparse_pairs.push(b',');
                }
                sparse_pairs.extend_from_slice(&v);
                sparse_count += 1;
            }
            b"path" => pax.path = Some(v),
            b"linkpath" => pax.linkpath = Some(v),
            b"size" => pax.size = Some(v),
            b"uid" => pax.uid = Some(v),
            b"gid" => pax.gid = Some(v),
            b"atime" => pax.atime = Some(v),
            b"mtime" => pax.mtime = Some(v),
            b"ctime" => pax.ctime = Some(v),
            b"GNU.sparse.major" => pax.sparse_major = Some(v),
            b"GNU.sparse.minor" => pax.sparse_minor = Some(v),
            b"GNU.sparse.name" => pax.sparse_name = Some(v),
            b"GNU.sparse.size" => pax.sparse_size = Some(v),
            b"GNU.sparse.realsize" => pax.sparse_realsize = Some(v),
            b"GNU.sparse.numblocks" => pax.sparse_numblocks = Some(v),
            b"GNU.sparse.map" => pax.sparse_map = Some(v),
            // uname, gname, xattrs and the rest decide nothing here.
            _ => {}
        }
    }
    if sparse_count > 0 {
        pax.sparse_map = Some(sparse_pairs);
    }
    Ok(pax)
}

/// Go `mergePAX`: `Err(field)` when a value does not parse.
fn merge_pax(h: &mut Header, pax: &Pax) -> Result<(), &'static str> {
    if let Some(v) = nonempty(&pax.path) {
        h.name = v.to_vec();
    }
    if let Some(v) = nonempty(&pax.linkpath) {
        h.linkname = v.to_vec();
    }
    if let Some(v) = nonempty(&pax.uid) {
        h.uid = parse_dec(v).ok_or("uid")?;
    }
    if let Some(v) = nonempty(&pax.gid) {
        h.gid = parse_dec(v).ok_or("gid")?;
    }
    for (v, what) in [
        (&pax.atime, "atime"),
        (&pax.mtime, "mtime"),
        (&pax.ctime, "ctime"),
    ] {
        if nonempty(v).is_some_and(|v| !valid_pax_time(v)) {
            return Err(what);
        }
    }
    if let Some(v) = nonempty(&pax.size) {
        h.size = parse_dec(v).ok_or("size")?;
    }
    Ok(())
}

/// A sparse file's data fragments (offset, length), in order, non-empty.
type Fragments = Vec<(u64, u64)>;

/// Go `validateSparseEntries` on (offset, length) pairs.
fn valid_sparse(entries: &[(i64, i64)], size: i64) -> bool {
    if size < 0 {
        return false;
    }
    let mut pre_end = 0i64;
    for &(off, len) in entries {
        if off < 0 || len < 0 || off > i64::MAX - len {
            return false;
        }
        let end = off + len;
        if end > size || pre_end > off {
            return false;
        }
        pre_end = end;
    }
    true
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

#[derive(Debug)]
struct SparseState {
    frags: Fragments,
    next: usize,
    pos: u64,
    size: u64,
    offset: u64,
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

    /// Go `handleSparseFile`.
    fn sparse(
        &mut self,
        h: &mut Header,
        block: &[u8; 512],
        pax: Option<&Pax>,
        offset: u64,
    ) -> Result<(), TarError> {
        let bad = |why: &str| TarError::Header {
            offset,
            why: why.to_string(),
        };
        let entries: Vec<(i64, i64)> = if h.typeflag == TYPE_GNU_SPARSE {
            self.old_gnu_sparse(h, block, offset)?
        } else {
            let empty = Pax::default();
            let pax = pax.unwrap_or(&empty);
            let major = nonempty(&pax.sparse_major).unwrap_or(b"");
            let minor = nonempty(&pax.sparse_minor).unwrap_or(b"");
            let is1x0 = match (major, minor) {
                (b"0", b"0" | b"1") => false,
                (b"1", b"0") => true,
                (b"", b"") if nonempty(&pax.sparse_map).is_some() => false,
                _ => return Ok(()),
            };
            if let Some(name) = nonempty(&pax.sparse_name) {
                h.name = name.to_vec();
            }
            let size = nonempty(&pax.sparse_size).or(nonempty(&pax.sparse_realsize));
            if let Some(s) = size {
                h.size = parse_dec(s).ok_or_else(|| bad("bad GNU.sparse.size"))?;
            }
            if is1x0 {
                self.sparse_map_1x0(offset)?
            } else {
                sparse_map_0x1(pax, offset)?
            }
        };
        if header_only(h.typeflag) || !valid_sparse(&entries, h.size) {
            return Err(bad("invalid sparse map"));
        }
        let frags: Fragments = entries
            .into_iter()
            .filter(|&(_, len)| len > 0)
            .map(|(o, l)| (o as u64, l as u64))
            .collect();
        h.sparse = true;
        let data: u64 = frags.iter().map(|&(_, l)| l).sum();
        h.sparse_error = match data.cmp(&self.cur.phys) {
            std::cmp::Ordering::Greater => Some(MISS_DATA),
            std::cmp::Ordering::Less => Some(UNREF_DATA),
            std::cmp::Ordering::Equal => None,
        };
        self.cur.sparse = Some(SparseState {
            frags,
            next: 0,
            pos: 0,
            size: h.size as u64,
            offset,
        });
        Ok(())
    }

    /// Go `readOldGNUSparseMap`: entries in the header, then in extension
    /// blocks read from the raw stream.
    fn old_gnu_sparse(
        &mut self,
        h: &mut Header,
        block: &[u8; 512],
        offset: u64,
    ) -> Result<Vec<(i64, i64)>, TarError> {
        let bad = |why: &str| TarError::Header {
            offset,
            why: why.to_string(),
        };
        if block_format(block) != Some(Format::Gnu) {
            return Err(bad("old GNU sparse entry in a non-GNU header"));
        }
        let mut p = NumParser::default();
        h.size = p.numeric(&block[483..495], "realsize");
        if p.failed.is_some() {
            return Err(bad("bad sparse real size"));
        }
        let mut out = Vec::new();
        let mut blk = *block;
        let (mut base, mut count, mut ext_at) = (386usize, 4usize, 482usize);
        loop {
            for i in 0..count {
                let e = base + i * 24;
                if blk[e] == 0 {
                    break;
                }
                let off = p.numeric(&blk[e..e + 12], "sparse offset");
                let len = p.numeric(&blk[e + 12..e + 24], "sparse length");
                if p.failed.is_some() {
                    return Err(bad("bad sparse map entry"));
                }
                if out.len() >= MAX_SPARSE_ENTRIES {
                    return Err(TarError::Limit {
                        offset,
                        why: format!("a sparse map of more than {MAX_SPARSE_ENTRIES} entries"),
                    });
                }
                out.push((off, len));
            }
            if blk[ext_at] == 0 {
                return Ok(out);
            }
            let n = self.fill(&mut blk)?;
            if n < 512 {
                return Err(unexpected_eof().into());
            }
            (base, count, ext_at) = (0, 21, 504);
        }
    }

    /// Go `readGNUSparseMap1x0`: the map is newline-separated decimals at
    /// the start of the data, read block by block until enough newlines
    /// were seen; parsed as it streams (numbers of any length, in O(1)).
    fn sparse_map_1x0(&mut self, offset: u64) -> Result<Vec<(i64, i64)>, TarError> {
        let bad = || TarError::Header {
            offset,
            why: "bad GNU sparse 1.0 map".into(),
        };
        let mut tokens: Vec<i64> = Vec::new();
        let mut want: Option<usize> = None;
        let mut newlines = 0usize;
        let mut tok = DecAcc::default();
        let mut block = [0u8; 512];
        while want.is_none_or(|w| newlines < 2 * w + 1) {
            if self.cur.phys < BLOCK {
                return Err(unexpected_eof().into());
            }
            let n = self.fill(&mut block)?;
            self.cur.phys -= n as u64;
            if n < 512 {
                return Err(unexpected_eof().into());
            }
            for &c in &block {
                let parsed_all = want.is_some_and(|w| tokens.len() > 2 * w);
                if c != b'\n' {
                    if !parsed_all {
                        tok.push(c);
                    }
                    continue;
                }
                newlines += 1;
                if parsed_all {
                    // Go reads the rest of the block but never parses it.
                    continue;
                }
                let v = std::mem::take(&mut tok).finish();
                if want.is_none() {
                    let n = v.filter(|n| *n >= 0).ok_or_else(bad)?;
                    if n as u64 > MAX_SPARSE_ENTRIES as u64 {
                        return Err(TarError::Limit {
                            offset,
                            why: format!("a sparse map of more than {MAX_SPARSE_ENTRIES} entries"),
                        });
                    }
                    want = Some(n as usize);
                    tokens.push(n);
                } else {
                    tokens.push(v.ok_or_else(bad)?);
                }
            }
        }
        let n = want.unwrap_or(0);
        Ok((0..n)
            .map(|i| (tokens[1 + 2 * i], tokens[2 + 2 * i]))
            .collect())
    }
}

/// Go `strconv.ParseInt(s, 10, 64)` fed one byte at a time.
#[derive(Default)]
struct DecAcc {
    len: usize,
    neg: bool,
    digits: usize,
    value: u64,
    invalid: bool,
}

impl DecAcc {
    fn push(&mut self, c: u8) {
        if self.len == 0 && (c == b'+' || c == b'-') {
            self.neg = c == b'-';
        } else if c.is_ascii_digit() {
            self.digits += 1;
            match self
                .value
                .checked_mul(10)
                .and_then(|v| v.checked_add((c - b'0') as u64))
            {
                Some(v) => self.value = v,
                None => self.invalid = true,
            }
        } else {
            self.invalid = true;
        }
        self.len += 1;
    }

    fn finish(self) -> Option<i64> {
        if self.invalid || self.digits == 0 {
            return None;
        }
        if self.neg {
            (self.value <= i64::MAX as u64 + 1).then(|| (self.value as i64).wrapping_neg())
        } else {
            i64::try_from(self.value).ok()
        }
    }
}

/// Go `readGNUSparseMap0x1`: the map is in the PAX records.
fn sparse_map_0x1(pax: &Pax, offset: u64) -> Result<Vec<(i64, i64)>, TarError> {
    let bad = || TarError::Header {
        offset,
        why: "bad GNU sparse 0.1 map".into(),
    };
    let n = parse_dec(pax.sparse_numblocks.as_deref().unwrap_or(b""))
        .filter(|n| *n >= 0)
        .ok_or_else(bad)?;
    let map = pax.sparse_map.as_deref().unwrap_or(b"");
    let parts: Vec<&[u8]> = if map.is_empty() {
        Vec::new()
    } else {
        map.split(|&c| c == b',').collect()
    };
    if parts.len() as u64 != 2 * n as u64 {
        return Err(bad());
    }
    if n as u64 > MAX_SPARSE_ENTRIES as u64 {
        return Err(TarError::Limit {
            offset,
            why: format!("a sparse map of more than {MAX_SPARSE_ENTRIES} entries"),
        });
    }
    parts
        .chunks(2)
        .map(|p| {
            Ok((
                parse_dec(p[0]).ok_or_else(bad)?,
                parse_dec(p[1]).ok_or_else(bad)?,
            ))
        })
        .collect()
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

    /// Go `sparseFileReader.Read`.
    fn read_sparse(&mut self, s: &mut SparseState, buf: &mut [u8]) -> io::Result<usize> {
        let data_err = |why: &'static str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                TarError::Sparse {
                    offset: s.offset,
                    why,
                },
            )
        };
        if s.pos >= s.size {
            if self.cur.phys > 0 {
                return Err(data_err(UNREF_DATA));
            }
            return Ok(0);
        }
        while s.next < s.frags.len() && s.frags[s.next].0 + s.frags[s.next].1 <= s.pos {
            s.next += 1;
        }
        let room = (buf.len() as u64).min(s.size - s.pos);
        let n = match s.frags.get(s.next) {
            Some(&(off, len)) if s.pos >= off => {
                let want = room.min(off + len - s.pos) as usize;
                if self.cur.phys == 0 {
                    return Err(data_err(MISS_DATA));
                }
                self.read_phys(&mut buf[..want])?
            }
            next => {
                let hole_end = next.map_or(s.size, |&(off, _)| off);
                let n = room.min(hole_end - s.pos) as usize;
                if n as u64 > self.hole_budget {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        TarError::Limit {
                            offset: s.offset,
                            why:
                                "sparse files whose holes expand past the layer's inflation bound \
                                  (raise it with --max-layer-ratio or --max-layer-size)"
                                    .into(),
                        },
                    ));
                }
                self.hole_budget -= n as u64;
                buf[..n].fill(0);
                n
            }
        };
        s.pos += n as u64;
        if s.pos >= s.size && self.cur.phys > 0 {
            return Err(data_err(UNREF_DATA));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
