//! GNU sparse files as Go's reader sees them: the map from an old GNU `S`
//! header or from PAX records (formats 0.0, 0.1, 1.0), checked as Go
//! `validateSparseEntries` does, and the data read back with the holes as
//! zeros (Go 1.19 `archive/tar/reader.go` `handleSparseFile`,
//! `sparseFileReader`).

use super::header::{block_format, parse_dec, Format, NumParser};
use super::pax::{nonempty, Pax};
use super::{
    header_only, unexpected_eof, Header, TarError, TarReader, BLOCK, MAX_SPARSE_ENTRIES,
    TYPE_GNU_SPARSE,
};
use std::io::{self, Read};

pub(super) const MISS_DATA: &str = "archive/tar: sparse file references non-existent data";
const UNREF_DATA: &str = "archive/tar: sparse file contains unreferenced data";

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

#[derive(Debug)]
pub(super) struct SparseState {
    frags: Fragments,
    next: usize,
    pos: u64,
    size: u64,
    offset: u64,
}

impl<R: Read> TarReader<R> {
    /// Go `handleSparseFile`.
    pub(super) fn sparse(
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

    /// Go `sparseFileReader.Read`.
    pub(super) fn read_sparse(&mut self, s: &mut SparseState, buf: &mut [u8]) -> io::Result<usize> {
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
