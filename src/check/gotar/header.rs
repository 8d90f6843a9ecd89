//! One 512-byte header block as Go's `readHeader` parses it: C strings,
//! octal and base-256 numbers, the format told by the magic and the USTAR
//! prefix (Go 1.19 `archive/tar/reader.go`, `strconv.go`, `format.go`).

use super::{Header, TarError};

/// Go `parser.parseString`: up to the first NUL.
pub(super) fn c_str(b: &[u8]) -> &[u8] {
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
pub(super) struct NumParser {
    pub(super) failed: Option<&'static str>,
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
    pub(super) fn numeric(&mut self, b: &[u8], field: &'static str) -> i64 {
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
pub(super) enum Format {
    V7,
    Ustar,
    Star,
    Gnu,
}

/// Go `block.getFormat`: `None` when the checksum does not match.
pub(super) fn block_format(b: &[u8; 512]) -> Option<Format> {
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
pub(super) fn parse_block(b: &[u8; 512], offset: u64) -> Result<Header, TarError> {
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
