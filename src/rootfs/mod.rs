//! The seam between the inspection engine and wherever an image's files live.
//!
//! The one idea: backends never follow links. `lstat` answers for exactly the
//! path it is given (whose parents the engine has already resolved to real
//! directories), so symlink resolution is written once, in the engine, and
//! every backend (memory, layer stack, BuildKit ref, directory) behaves alike.
//!
//! Paths and link targets are bytes, as they are to the kernel and in tar
//! headers: a name need not be UTF-8. `display` renders one for people.

pub mod mem;

use std::future::Future;

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// Devices, fifos, sockets: never a program.
    Other,
}

/// One directory entry, seen without following links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    /// Size in bytes for regular files; 0 otherwise.
    pub size: u64,
    /// The link target, for symlinks (as stored, absolute or relative).
    pub link: Option<Vec<u8>>,
    /// Owner uid and gid of a regular file, when the backend knows them
    /// (the execute permission of a non-root user depends on them).
    pub owner: Option<(u32, u32)>,
}

impl Entry {
    pub fn file(mode: u32, size: u64) -> Self {
        Entry {
            kind: Kind::File,
            mode,
            size,
            link: None,
            owner: None,
        }
    }
    pub fn dir(mode: u32) -> Self {
        Entry {
            kind: Kind::Dir,
            mode,
            size: 0,
            link: None,
            owner: None,
        }
    }
    pub fn symlink(target: impl Into<Vec<u8>>) -> Self {
        Entry {
            kind: Kind::Symlink,
            mode: 0o777,
            size: 0,
            link: Some(target.into()),
            owner: None,
        }
    }
    /// Any of the execute bits is set.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }

    /// The same entry with its owner.
    pub fn owned_by(mut self, uid: u32, gid: u32) -> Self {
        self.owner = Some((uid, gid));
        self
    }
}

/// Why a backend could not answer. These are never verdicts: the engine turns
/// them into "could not decide" (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Corrupt { what: String, message: String },
    #[error("{path}: not a regular file")]
    NotAFile { path: String },
    #[error("{0}")]
    Backend(String),
}

/// A read-only, link-preserving view of an image's root filesystem.
///
/// Paths are absolute byte strings, normalised (`/usr/bin/env`, no
/// `.`/`..`/`//`), and the caller guarantees every parent component is a
/// directory in this view.
pub trait RootFs {
    /// The entry at `path` itself (a symlink is returned as a symlink), or
    /// `None` when nothing is there.
    fn lstat(&self, path: &[u8]) -> impl Future<Output = Result<Option<Entry>, FsError>>;

    /// Up to `len` bytes of the regular file at `path` starting at `offset`;
    /// fewer only at end of file.
    fn read_at(
        &self,
        path: &[u8],
        offset: u64,
        len: usize,
    ) -> impl Future<Output = Result<Vec<u8>, FsError>>;
}

/// Parent directory and final name of a normalised absolute path.
/// `/` has no parent.
pub fn split_parent(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path == b"/" || path.first() != Some(&b'/') {
        return None;
    }
    let i = path.iter().rposition(|&b| b == b'/')?;
    let parent: &[u8] = if i == 0 { b"/" } else { &path[..i] };
    Some((parent, &path[i + 1..]))
}

/// Normalise a path found in an image (tar entry names, link targets made
/// absolute): leading `./` and `/` dropped, `.` removed, `..` never climbs
/// above the root. Returns the absolute form.
pub fn clean_abs(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// A path for people: UTF-8 as it is, any other byte as `\xNN`.
pub fn display(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for chunk in path.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_abs_stays_inside_root() {
        assert_eq!(clean_abs(b"./usr/bin/../bin/env"), b"/usr/bin/env");
        assert_eq!(clean_abs(b"../../etc/passwd"), b"/etc/passwd");
        assert_eq!(clean_abs(b"/"), b"/");
        assert_eq!(clean_abs(b""), b"/");
        assert_eq!(clean_abs(b"a//b/./c/"), b"/a/b/c");
        assert_eq!(clean_abs(b"/x\xff/../y\xfe"), b"/y\xfe");
    }

    #[test]
    fn split_parent_of_paths() {
        assert_eq!(split_parent(b"/usr/bin"), Some((&b"/usr"[..], &b"bin"[..])));
        assert_eq!(split_parent(b"/app"), Some((&b"/"[..], &b"app"[..])));
        assert_eq!(split_parent(b"/"), None);
    }

    #[test]
    fn display_escapes_only_bytes_that_are_not_utf8() {
        assert_eq!(display("/usr/bin/café".as_bytes()), "/usr/bin/café");
        assert_eq!(display(b"/app\xff\xfe"), "/app\\xff\\xfe");
    }
}
