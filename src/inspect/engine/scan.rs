//! What a binary's bytes tell without running it: whether a shell knows an
//! option name, whether the busybox that runs has an applet of a name.

use super::Engine;
use crate::rootfs::{FsError, Kind, RootFs};

/// How much of a shell binary is read to find an option name in it, and in
/// what chunks.
const MAX_SCAN: u64 = 16 << 20;

const SCAN_CHUNK: u64 = 1 << 20;

impl<R: RootFs> Engine<'_, R> {
    /// Whether the file holds `needle` as a NUL-terminated string, looked
    /// for when it holds `control` so (an option table is there to read:
    /// a packed or compressed binary has neither). `None`: cannot tell.
    pub(super) async fn binary_has_cstr(
        &mut self,
        path: &[u8],
        control: &[u8],
        needle: &[u8],
    ) -> Result<Option<bool>, FsError> {
        let with_nul = |w: &[u8]| [w, b"\0"].concat();
        let found = self
            .scan_binary(path, &[with_nul(needle), with_nul(control)])
            .await?;
        Ok(found.and_then(|f| f[1].then_some(f[0])))
    }

    /// Whether the busybox at `path` has an applet `name`: its applet names
    /// are one NUL-separated list (libbb applet_tables), which holds `sh`,
    /// `ash` or `env` when it can be read at all. `None`: cannot tell.
    async fn busybox_has_applet(
        &mut self,
        path: &[u8],
        name: &[u8],
    ) -> Result<Option<bool>, FsError> {
        let delimited = |w: &[u8]| [b"\0", w, b"\0"].concat();
        let found = self
            .scan_binary(
                path,
                &[
                    delimited(name),
                    delimited(b"sh"),
                    delimited(b"ash"),
                    delimited(b"env"),
                ],
            )
            .await?;
        Ok(found.and_then(|f| f[1..].iter().any(|&c| c).then_some(f[0])))
    }

    /// Which of `patterns` the file holds (read in chunks, up to
    /// `MAX_SCAN` bytes; `None` past that), cached per file and pattern.
    async fn scan_binary(
        &mut self,
        path: &[u8],
        patterns: &[Vec<u8>],
    ) -> Result<Option<Vec<bool>>, FsError> {
        let key = |p: &Vec<u8>| (path.to_vec(), p.clone());
        if let Some(cached) = patterns
            .iter()
            .map(|p| self.cstr_cache.get(&key(p)).copied())
            .collect::<Option<Vec<Option<bool>>>>()
        {
            return Ok(cached.into_iter().collect());
        }
        let size = match self.fs.lstat(path).await? {
            Some(e) if e.kind == Kind::File => e.size,
            _ => return Ok(None),
        };
        let answer = if size > MAX_SCAN {
            None
        } else {
            let mut found = vec![false; patterns.len()];
            let overlap = patterns.iter().map(Vec::len).max().unwrap_or(1) as u64;
            let mut off = 0u64;
            while off < size && !found.iter().all(|&f| f) {
                let len = SCAN_CHUNK.min(size - off);
                let data = self.fs.read_at(path, off, len as usize).await?;
                for (f, w) in found.iter_mut().zip(patterns) {
                    *f |= memchr::memmem::find(&data, w).is_some();
                }
                if off + len >= size {
                    break;
                }
                off += len - overlap.min(len);
            }
            Some(found)
        };
        for (i, p) in patterns.iter().enumerate() {
            self.cstr_cache
                .insert(key(p), answer.as_ref().map(|f| f[i]));
        }
        Ok(answer)
    }

    /// Remember which busybox binary runs the shells and envs with applets
    /// (an image with two different ones: `None`, applets unknown).
    pub(super) fn saw_busybox(&mut self, path: &[u8]) {
        match &self.busybox {
            None => self.busybox = Some(Some(path.to_vec())),
            Some(Some(p)) if p != path => self.busybox = Some(None),
            _ => {}
        }
    }

    /// Whether the busybox that looks `name` up may run an applet of that
    /// name instead (`true` unless its binary shows it has none).
    pub(super) async fn may_be_applet(&mut self, name: &[u8]) -> Result<bool, FsError> {
        if !applet_like(name) {
            return Ok(false);
        }
        let Some(Some(path)) = self.busybox.clone() else {
            return Ok(true);
        };
        Ok(self.busybox_has_applet(&path, name).await? != Some(false))
    }
}

/// Could busybox have an applet of this name (`sh`, `run-parts`, `[`,
/// `fsck.minix`)? Never one with a control byte, a blank or a slash.
fn applet_like(name: &[u8]) -> bool {
    name.iter()
        .all(|b| b.is_ascii_graphic() && *b != b'/' && *b != b'\\')
}
