//! Content digests: parsed strictly (they become file names), computed while
//! bytes stream past.
//!
//! The one idea: a digest string is only ever trusted after `Digest::parse`
//! accepted it (known algorithm, exact-length lowercase hex), so it is safe to
//! turn into a path like `blobs/sha256/<hex>`.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::io::{self, Read};

/// A supported digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// `algorithm:hex`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    alg: Algorithm,
    hex: String,
}

impl Digest {
    /// Parse `sha256:<64 hex>` or `sha512:<128 hex>` (lowercase, as the OCI
    /// spec requires). Anything else is `None`.
    pub fn parse(s: &str) -> Option<Digest> {
        let (alg, hex) = s.split_once(':')?;
        let alg = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return None,
        };
        let ok = hex.len() == alg.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Digest {
            alg,
            hex: hex.to_string(),
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish()
    }

    /// The digest of `bytes` with this digest's algorithm.
    pub fn compute_like(&self, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(self.alg);
        h.update(bytes);
        h.finish()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg.name(), self.hex)
    }
}

/// An incremental hash of one algorithm.
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Box<Sha512>),
}

impl Hasher {
    pub fn new(alg: Algorithm) -> Hasher {
        match alg {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Box::new(Sha512::new())),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest {
                alg: Algorithm::Sha256,
                hex: hex::encode(h.finalize()),
            },
            Hasher::Sha512(h) => Digest {
                alg: Algorithm::Sha512,
                hex: hex::encode(h.finalize()),
            },
        }
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, alg: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(alg),
            count: 0,
        }
    }

    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Read the rest of the stream (hashing it), then return the inner
    /// reader, the digest of everything read and its length.
    pub fn drain_and_finish(mut self) -> io::Result<(R, Digest, u64)> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((self.inner, self.hasher.finish(), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert!(Digest::parse(&ok).is_some());
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_some());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(63))).is_none());
        assert!(Digest::parse("sha256:../../etc/passwd").is_none());
        assert!(Digest::parse(&format!("md5:{}", "a".repeat(32))).is_none());
        assert!(Digest::parse("latest").is_none());
    }

    #[test]
    fn hashing_reader_hashes_what_passes() {
        let data = b"hello world".repeat(10_000);
        let mut r = HashingReader::new(&data[..], Algorithm::Sha256);
        let mut first = [0u8; 100];
        r.read_exact(&mut first).unwrap();
        let (_, d, n) = r.drain_and_finish().unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Digest::sha256_of(&data));
        assert_eq!(d.to_string().len(), 7 + 64);
    }
}
