//! Where blobs come from: an OCI layout directory, or a tar archive read in
//! place (an OCI archive or a `docker save` file).
//!
//! The one idea: a tar archive's members are stored uncompressed, so indexing
//! the headers once (member name -> data offset and size, seeking over the
//! data) lets every blob be streamed by seeking into the file: nothing is
//! extracted. A registry backend plugs in behind the same `BlobSource` trait.

use super::digest::Digest;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The largest JSON document (index, manifest, config, manifest.json) read.
pub const JSON_LIMIT: u64 = 4 << 20;
/// The most members an image archive may have (blobs, not layer entries).
const MAX_ARCHIVE_MEMBERS: usize = 200_000;
/// Links between archive members are followed this many times at most.
const MAX_MEMBER_LINKS: usize = 8;

/// How a blob is named inside its source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BlobKey {
    /// Content-addressed: `blobs/<alg>/<hex>` in a layout.
    Digest(Digest),
    /// A relative member path (`index.json`, `<id>/layer.tar`).
    Path(String),
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobKey::Digest(d) => write!(f, "{d}"),
            BlobKey::Path(p) => f.write_str(p),
        }
    }
}

impl BlobKey {
    /// The member path this key names in a layout.
    pub fn member_path(&self) -> String {
        match self {
            BlobKey::Digest(d) => format!("blobs/{}/{}", d.algorithm().name(), d.hex()),
            BlobKey::Path(p) => p.clone(),
        }
    }
}

/// Read access to an image's blobs. `open` streams one; a missing blob is an
/// `io::ErrorKind::NotFound` error.
pub trait BlobSource: Send + Sync + fmt::Debug {
    /// The user's name for where the blobs live (a path), for messages.
    fn location(&self) -> &str;
    /// Stream a blob from its start.
    fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>>;
    /// The blob's size, when it can be known without reading it.
    fn size(&self, key: &BlobKey) -> io::Result<Option<u64>>;
    /// Whether the blob exists.
    fn exists(&self, key: &BlobKey) -> bool {
        self.size(key).is_ok()
    }
}

/// A relative member path as stored in a tar or named in a manifest:
/// leading `./` and `/` dropped, `.` and empty components removed. `None` if
/// it contains `..` or is empty.
pub fn clean_member(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Why a layout directory or an archive file could not be opened as a blob
/// source. Every variant names the path as the user gave it.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: {reason}", path.display())]
    NotFound { path: PathBuf, reason: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file exists but is not something archgate can read.
    #[error("{}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
}

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{what} not found"))
}

/// An OCI image layout directory.
#[derive(Debug)]
pub struct DirSource {
    root: PathBuf,
    display: String,
}

impl DirSource {
    pub fn new(root: &Path) -> Result<DirSource, SourceError> {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(SourceError::NotFound {
                    path: root.to_path_buf(),
                    reason: "not a directory".into(),
                })
            }
            Err(e) => {
                return Err(SourceError::Io {
                    path: root.to_path_buf(),
                    source: e,
                })
            }
        }
        Ok(DirSource {
            root: root.to_path_buf(),
            display: root.display().to_string(),
        })
    }

    fn file_of(&self, key: &BlobKey) -> io::Result<PathBuf> {
        let rel = clean_member(&key.member_path())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "invalid blob path"))?;
        Ok(self.root.join(rel))
    }

    /// Blobs must be regular files (after following links): a fifo or a
    /// device would hang or never end.
    fn regular(&self, key: &BlobKey) -> io::Result<(PathBuf, u64)> {
        let p = self.file_of(key)?;
        let m = std::fs::metadata(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                not_found(&key.member_path())
            } else {
                e
            }
        })?;
        if !m.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        Ok((p, m.len()))
    }
}

impl BlobSource for DirSource {
    fn location(&self) -> &str {
        &self.display
    }

    fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        let (p, _) = self.regular(key)?;
        Ok(Box::new(File::open(p)?))
    }

    fn size(&self, key: &BlobKey) -> io::Result<Option<u64>> {
        Ok(Some(self.regular(key)?.1))
    }
}

/// Where one member's data lives in the archive file.
#[derive(Debug, Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

/// A tar archive holding an OCI layout or a `docker save` image, read in
/// place.
#[derive(Debug)]
pub struct TarSource {
    file: PathBuf,
    display: String,
    file_len: u64,
    members: HashMap<String, Member>,
}

/// Compression magic numbers that mean "not a plain tar".
fn compressed_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if head.starts_with(b"BZh") {
        Some("bzip2")
    } else {
        None
    }
}

impl TarSource {
    /// Index the archive's members (headers only; data is seeked over).
    pub fn open(file: &Path) -> Result<TarSource, SourceError> {
        TarSource::open_as(file, file)
    }

    /// [`TarSource::open`], naming the archive `shown` in errors (a spooled
    /// export is read through `/proc/self/fd/N`, which says nothing).
    pub fn open_as(file: &Path, shown: &Path) -> Result<TarSource, SourceError> {
        let io_err = |e: io::Error| SourceError::Io {
            path: shown.to_path_buf(),
            source: e,
        };
        let meta = std::fs::metadata(file).map_err(io_err)?;
        if !meta.is_file() {
            return Err(SourceError::Unsupported {
                path: shown.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        let mut f = File::open(file).map_err(io_err)?;
        let mut head = [0u8; 8];
        let n = read_full(&mut f, &mut head).map_err(io_err)?;
        if let Some(kind) = compressed_kind(&head[..n]) {
            return Err(SourceError::Unsupported {
                path: shown.to_path_buf(),
                reason: format!(
                    "a {kind}-compressed archive; archgate reads image archives in place, \
                     so decompress it first"
                ),
            });
        }
        f.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let bad = |m: String| SourceError::Unsupported {
            path: shown.to_path_buf(),
            reason: format!("not a readable tar archive: {m}"),
        };
        let mut archive = tar::Archive::new(f);
        let mut regular: HashMap<String, Member> = HashMap::new();
        // Symlinks (relative to their directory) and hardlinks (from the root).
        let mut links: Vec<(String, String)> = Vec::new();
        let mut count = 0usize;
        for entry in archive
            .entries_with_seek()
            .map_err(|e| bad(e.to_string()))?
        {
            let entry = entry.map_err(|e| bad(e.to_string()))?;
            count += 1;
            if count > MAX_ARCHIVE_MEMBERS {
                return Err(bad(format!("more than {MAX_ARCHIVE_MEMBERS} members")));
            }
            let raw = entry.path_bytes();
            let Ok(name) = std::str::from_utf8(&raw) else {
                continue;
            };
            let Some(name) = clean_member(name) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
                let m = Member {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                };
                regular.insert(name, m);
            } else if kind.is_symlink() || kind.is_hard_link() {
                let Some(target) = entry.link_name_bytes() else {
                    continue;
                };
                let Ok(target) = std::str::from_utf8(&target) else {
                    continue;
                };
                let full = if kind.is_symlink() && !target.starts_with('/') {
                    match name.rfind('/') {
                        Some(i) => format!("{}/{target}", &name[..i]),
                        None => target.to_string(),
                    }
                } else {
                    target.to_string()
                };
                // `..` is allowed in a link (`../<id>/layer.tar`) as long as
                // it stays inside the archive.
                if let Some(t) = resolve_dots(&full) {
                    links.push((name, t));
                }
            }
        }
        // Follow links between members (docker save links repeated layers).
        let mut members = regular.clone();
        let link_map: HashMap<&str, &str> = links
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        for (name, _) in &links {
            let mut cur = name.as_str();
            for _ in 0..MAX_MEMBER_LINKS {
                match link_map.get(cur) {
                    Some(next) => cur = next,
                    None => break,
                }
                if let Some(m) = regular.get(cur) {
                    members.insert(name.clone(), *m);
                    break;
                }
            }
        }
        Ok(TarSource {
            file: file.to_path_buf(),
            display: shown.display().to_string(),
            file_len: meta.len(),
            members,
        })
    }

    /// Whether the archive has a member of this name.
    pub fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    fn member(&self, key: &BlobKey) -> io::Result<Member> {
        let name = key.member_path();
        let m = self
            .members
            .get(&name)
            .copied()
            .ok_or_else(|| not_found(&name))?;
        let end = m.offset.checked_add(m.size);
        if !matches!(end, Some(end) if end <= self.file_len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends before this member does",
            ));
        }
        Ok(m)
    }
}

/// Resolve `.` and `..` in a relative member path; `None` if `..` leaves
/// the archive.
fn resolve_dots(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl BlobSource for TarSource {
    fn location(&self) -> &str {
        &self.display
    }

    fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        let m = self.member(key)?;
        let mut f = File::open(&self.file)?;
        f.seek(SeekFrom::Start(m.offset))?;
        Ok(Box::new(f.take(m.size)))
    }

    fn size(&self, key: &BlobKey) -> io::Result<Option<u64>> {
        Ok(Some(self.member(key)?.size))
    }
}

/// Read into `buf` until it is full or the stream ends.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_cleaned() {
        assert_eq!(
            clean_member("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean_member("/index.json").as_deref(), Some("index.json"));
        assert_eq!(clean_member("a/../b"), None);
        assert_eq!(clean_member("./"), None);
        assert_eq!(
            resolve_dots("x/../y/layer.tar").as_deref(),
            Some("y/layer.tar")
        );
        assert_eq!(resolve_dots("../y"), None);
    }

    #[test]
    fn tar_source_reads_members_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "./x/layer.tar", &b"hello"[..])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, "y/layer.tar", "../x/layer.tar")
            .unwrap();
        std::fs::write(&path, b.into_inner().unwrap()).unwrap();
        let t = TarSource::open(&path).unwrap();
        for name in ["x/layer.tar", "y/layer.tar"] {
            let mut s = String::new();
            t.open(&BlobKey::Path(name.into()))
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            assert_eq!(s, "hello");
        }
        let e = t.open(&BlobKey::Path("z".into())).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn compressed_archive_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap();
        let e = TarSource::open(&path).unwrap_err().to_string();
        assert!(
            e.contains("gzip-compressed") && e.contains("a.tar.gz"),
            "{e}"
        );
    }
}
