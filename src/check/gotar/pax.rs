//! PAX extended headers (`x`, `g`) as Go's `parsePAX` reads their records
//! and `mergePAX` applies them to the next entry (Go 1.19
//! `archive/tar/reader.go`, `strconv.go`).

use super::header::parse_dec;
use super::{Header, TarError};

/// The PAX records that matter, as Go's map would hold them after parsing
/// (last value of each key).
#[derive(Debug, Default, Clone)]
pub(super) struct Pax {
    pub(super) path: Option<Vec<u8>>,
    pub(super) linkpath: Option<Vec<u8>>,
    pub(super) size: Option<Vec<u8>>,
    pub(super) uid: Option<Vec<u8>>,
    pub(super) gid: Option<Vec<u8>>,
    pub(super) atime: Option<Vec<u8>>,
    pub(super) mtime: Option<Vec<u8>>,
    pub(super) ctime: Option<Vec<u8>>,
    pub(super) sparse_major: Option<Vec<u8>>,
    pub(super) sparse_minor: Option<Vec<u8>>,
    pub(super) sparse_name: Option<Vec<u8>>,
    pub(super) sparse_size: Option<Vec<u8>>,
    pub(super) sparse_realsize: Option<Vec<u8>>,
    pub(super) sparse_numblocks: Option<Vec<u8>>,
    pub(super) sparse_map: Option<Vec<u8>>,
}

pub(super) fn nonempty(v: &Option<Vec<u8>>) -> Option<&[u8]> {
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
pub(super) fn parse_pax(data: &[u8], offset: u64) -> Result<Pax, TarError> {
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
pub(super) fn merge_pax(h: &mut Header, pax: &Pax) -> Result<(), &'static str> {
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
