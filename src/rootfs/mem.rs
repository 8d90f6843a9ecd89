//! An in-memory tree: the engine's unit-test backend, and the reference for
//! what every other backend must answer.

use super::{clean_abs, display, split_parent, Entry, FsError, Kind, RootFs};
use std::collections::BTreeMap;

/// Files, directories and links held in memory. Parent directories are
/// created implicitly (mode 0755) when a child is added.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    entries: BTreeMap<Vec<u8>, (Entry, Vec<u8>)>,
}

impl MemFs {
    pub fn new() -> Self {
        let mut fs = MemFs::default();
        fs.entries
            .insert(b"/".to_vec(), (Entry::dir(0o755), Vec::new()));
        fs
    }

    fn ensure_parents(&mut self, path: &[u8]) {
        if let Some((parent, _)) = split_parent(path) {
            if !self.entries.contains_key(parent) {
                self.ensure_parents(parent);
                self.entries
                    .insert(parent.to_vec(), (Entry::dir(0o755), Vec::new()));
            }
        }
    }

    /// Add a regular file with its content, owned by root (as COPY and
    /// ADD leave files).
    pub fn file(
        &mut self,
        path: impl AsRef<[u8]>,
        mode: u32,
        data: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.file_owned(path, mode, 0, 0, data)
    }

    /// Add a regular file with its owner.
    pub fn file_owned(
        &mut self,
        path: impl AsRef<[u8]>,
        mode: u32,
        uid: u32,
        gid: u32,
        data: impl Into<Vec<u8>>,
    ) -> &mut Self {
        let path = clean_abs(path.as_ref());
        let data = data.into();
        self.ensure_parents(&path);
        let e = Entry::file(mode, data.len() as u64).owned_by(uid, gid);
        self.entries.insert(path, (e, data));
        self
    }

    /// Add a directory.
    pub fn dir(&mut self, path: impl AsRef<[u8]>, mode: u32) -> &mut Self {
        let path = clean_abs(path.as_ref());
        self.ensure_parents(&path);
        self.entries.insert(path, (Entry::dir(mode), Vec::new()));
        self
    }

    /// Add a symbolic link.
    pub fn symlink(&mut self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> &mut Self {
        let path = clean_abs(path.as_ref());
        self.ensure_parents(&path);
        self.entries
            .insert(path, (Entry::symlink(target.as_ref()), Vec::new()));
        self
    }

    /// Add a device or fifo.
    pub fn other(&mut self, path: impl AsRef<[u8]>) -> &mut Self {
        let path = clean_abs(path.as_ref());
        self.ensure_parents(&path);
        let e = Entry {
            kind: Kind::Other,
            mode: 0o644,
            size: 0,
            link: None,
            owner: None,
        };
        self.entries.insert(path, (e, Vec::new()));
        self
    }
}

impl RootFs for MemFs {
    async fn lstat(&self, path: &[u8]) -> Result<Option<Entry>, FsError> {
        Ok(self.entries.get(path).map(|(e, _)| e.clone()))
    }

    async fn read_at(&self, path: &[u8], offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        match self.entries.get(path) {
            Some((e, data)) if e.kind == Kind::File => {
                let start = (offset as usize).min(data.len());
                let end = start.saturating_add(len).min(data.len());
                Ok(data[start..end].to_vec())
            }
            _ => Err(FsError::NotAFile {
                path: display(path),
            }),
        }
    }
}
