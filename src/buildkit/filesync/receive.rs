//! Receivers for exports the daemon pushes through `FileSend.DiffCopy`: a tar
//! byte stream written to a file (or stdout), and an fsutil packet stream
//! written to a directory.
//!
//! The one idea: everything lands in a temporary sibling of the destination
//! and is moved into place only after the daemon finished cleanly, so a
//! failed export leaves no destination behind; and the directory receiver
//! only ever creates entries inside directories it created itself, so a
//! received symlink can never redirect a later write.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tonic::Status;

use super::patterns::clean_path;
use super::{control_packet, packet_type, FileSyncError};
use crate::buildkit::gomode::GoMode;
use crate::buildkit::proto::fsutil::types::{packet::PacketType, Packet, Stat};
use crate::buildkit::proto::moby::filesync::v1::BytesMessage;

/// Where a tar-shaped export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarDest {
    /// A file, replaced atomically when the export completes.
    File(PathBuf),
    /// The process's standard output, streamed through.
    Stdout,
}

/// A fresh hidden name next to `dest` for staging.
fn staging_path(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = parent_dir(dest);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_string());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    parent.join(format!(
        ".{name}.archgate-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Write a BytesMessage stream to `dest`; returns the byte count. A file
/// destination is staged and renamed into place only when the stream ends
/// cleanly (the daemon half-closed); on any error the staging file is removed
/// and `dest` is untouched.
pub async fn receive_tar<S>(incoming: S, dest: &TarDest) -> Result<u64, FileSyncError>
where
    S: Stream<Item = Result<BytesMessage, Status>> + Unpin,
{
    let (total, staged) = receive_tar_staged(incoming, dest).await?;
    if let (Some(staging), TarDest::File(path)) = (staged, dest) {
        if let Err(e) = fs::rename(&staging, path) {
            let _ = fs::remove_file(&staging);
            return Err(FileSyncError::io(path, e));
        }
    }
    Ok(total)
}

/// [`receive_tar`] without the final step: a file destination is left in a
/// staging file next to it (returned) for the caller to rename into place
/// once the whole build succeeded. Stdout streams straight through (`None`).
pub async fn receive_tar_staged<S>(
    mut incoming: S,
    dest: &TarDest,
) -> Result<(u64, Option<PathBuf>), FileSyncError>
where
    S: Stream<Item = Result<BytesMessage, Status>> + Unpin,
{
    let path = match dest {
        TarDest::Stdout => {
            let mut total = 0u64;
            while let Some(msg) = incoming.next().await {
                let msg = msg.map_err(|s| FileSyncError::from_status(&s))?;
                let mut stdout = std::io::stdout();
                stdout
                    .write_all(&msg.data)
                    .and_then(|()| stdout.flush())
                    .map_err(|e| FileSyncError::io("<stdout>", e))?;
                total += msg.data.len() as u64;
            }
            return Ok((total, None));
        }
        TarDest::File(path) => path,
    };
    let parent = parent_dir(path);
    fs::create_dir_all(&parent).map_err(|e| FileSyncError::io(&parent, e))?;
    let staging = staging_path(path);
    let result = async {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
            .map_err(|e| FileSyncError::io(&staging, e))?;
        let mut total = 0u64;
        while let Some(msg) = incoming.next().await {
            let msg = msg.map_err(|s| FileSyncError::from_status(&s))?;
            file.write_all(&msg.data)
                .map_err(|e| FileSyncError::io(path, e))?;
            total += msg.data.len() as u64;
        }
        file.sync_all().map_err(|e| FileSyncError::io(path, e))?;
        Ok(total)
    }
    .await;
    match result {
        Ok(total) => Ok((total, Some(staging))),
        Err(e) => {
            let _ = fs::remove_file(&staging);
            Err(e)
        }
    }
}

/// Receive an fsutil packet stream into `dest_dir` (the daemon is the
/// sender): validate and create every entry in a staging directory, request
/// every regular file, send FIN when all content arrived, wait for the
/// sender's FIN, then move the tree into place (merging into an existing
/// directory). On error the staging directory is removed and `dest_dir` is
/// untouched; the error names the refused path.
pub async fn receive_local<S>(
    incoming: S,
    out: mpsc::Sender<Result<Packet, Status>>,
    dest_dir: &Path,
) -> Result<(), FileSyncError>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin,
{
    let (staging, dirs) = receive_local_staged(incoming, out, dest_dir).await?;
    let result = move_into_place(&staging, dest_dir).and_then(|()| apply_dir_meta(dest_dir, &dirs));
    if staging.exists() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// [`receive_local`] without the final step: the tree is left in a staging
/// directory next to `dest_dir` (returned) for the caller to move into place
/// with [`move_into_place`] once the whole build succeeded. On error nothing
/// is left behind.
pub async fn receive_local_staged<S>(
    incoming: S,
    out: mpsc::Sender<Result<Packet, Status>>,
    dest_dir: &Path,
) -> Result<(PathBuf, Vec<DirMeta>), FileSyncError>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin,
{
    let parent = parent_dir(dest_dir);
    fs::create_dir_all(&parent).map_err(|e| FileSyncError::io(&parent, e))?;
    let staging = staging_path(dest_dir);
    fs::create_dir(&staging).map_err(|e| FileSyncError::io(&staging, e))?;
    match Receiver::new(&staging).run(incoming, &out).await {
        Ok(dirs) => Ok((staging, dirs)),
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// Checks that entries arrive in fsutil order, each inside a directory
/// received before it.
#[derive(Default)]
struct OrderValidator {
    /// Open directories, outermost first: (path, last basename seen in it).
    stack: Vec<(String, String)>,
}

impl OrderValidator {
    fn check(&mut self, path: &str, is_dir: bool) -> Result<(), String> {
        if path.is_empty() || path == "." {
            return Err("empty path".to_string());
        }
        if path.starts_with('/') {
            return Err("absolute path".to_string());
        }
        if path.split('/').any(|c| c == "..") {
            return Err("path escapes the destination".to_string());
        }
        if clean_path(path) != path || path.contains('\0') {
            return Err("path is not clean".to_string());
        }
        if self.stack.is_empty() {
            self.stack.push((String::new(), String::new()));
        }
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => ("", path),
        };
        while let Some((open, _)) = self.stack.last() {
            let inside = open.is_empty() || dir == open || dir.starts_with(&format!("{open}/"));
            if inside {
                break;
            }
            self.stack.pop();
        }
        let Some((open, last)) = self.stack.last_mut() else {
            return Err("entry outside the transfer".to_string());
        };
        if open != dir {
            return Err(format!(
                "parent directory {dir:?} was not received as a directory before it"
            ));
        }
        if !last.is_empty() && last.as_bytes() >= base.as_bytes() {
            return Err(format!("changes out of order: after {last:?}"));
        }
        *last = base.to_string();
        if is_dir {
            self.stack.push((path.to_string(), String::new()));
        }
        Ok(())
    }
}

struct Receiver<'a> {
    root: &'a Path,
    order: OrderValidator,
    /// Regular files received so far (valid hardlink targets).
    regular: HashSet<String>,
    next_id: u32,
    pending_reqs: VecDeque<u32>,
    /// Listed regular files by id, not yet requested.
    listed: HashMap<u32, String>,
    /// Requested files waiting for data, by id.
    requested: HashMap<u32, String>,
    open: HashMap<u32, File>,
    /// Entries whose mode and mtime are applied at the end.
    applied: Vec<Stat>,
    /// Directories' modes and mtimes, applied once the tree is in place.
    dirs: Vec<DirMeta>,
}

/// A received directory's mode and mtime. Staged directories stay 0700 so
/// the tree can be moved and merged (moving out of or into a read-only
/// directory fails for non-root users); these are applied to the final
/// paths with [`apply_dir_meta`] afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMeta {
    /// Relative to the export's root.
    pub path: String,
    pub mode: u32,
    pub mtime: SystemTime,
}

/// Apply received directories' modes and mtimes under `root`, children
/// before parents (`dirs` is in listing order).
pub fn apply_dir_meta(root: &Path, dirs: &[DirMeta]) -> Result<(), FileSyncError> {
    for d in dirs.iter().rev() {
        let path = root.join(&d.path);
        let io = |e| FileSyncError::io(&path, e);
        File::open(&path)
            .and_then(|f| f.set_times(fs::FileTimes::new().set_modified(d.mtime)))
            .map_err(io)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(d.mode)).map_err(io)?;
    }
    Ok(())
}

impl<'a> Receiver<'a> {
    fn new(root: &'a Path) -> Self {
        Receiver {
            root,
            order: OrderValidator::default(),
            regular: HashSet::new(),
            next_id: 0,
            pending_reqs: VecDeque::new(),
            listed: HashMap::new(),
            requested: HashMap::new(),
            open: HashMap::new(),
            applied: Vec::new(),
            dirs: Vec::new(),
        }
    }

    async fn run<S>(
        mut self,
        mut incoming: S,
        out: &mpsc::Sender<Result<Packet, Status>>,
    ) -> Result<Vec<DirMeta>, FileSyncError>
    where
        S: Stream<Item = Result<Packet, Status>> + Unpin,
    {
        let closed = || FileSyncError::Protocol("stream closed by the session".to_string());
        let mut listing_done = false;
        let mut fin_sent = false;
        loop {
            let all_done =
                listing_done && self.pending_reqs.is_empty() && self.requested.is_empty();
            if all_done && !fin_sent {
                self.finish()?;
                out.send(Ok(control_packet(PacketType::PacketFin, 0, Vec::new())))
                    .await
                    .map_err(|_| closed())?;
                fin_sent = true;
            }
            let packet = tokio::select! {
                biased;
                permit = out.reserve(), if !self.pending_reqs.is_empty() => {
                    let permit = permit.map_err(|_| closed())?;
                    if let Some(id) = self.pending_reqs.pop_front() {
                        if let Some(path) = self.listed.remove(&id) {
                            self.requested.insert(id, path);
                        }
                        permit.send(Ok(control_packet(PacketType::PacketReq, id, Vec::new())));
                    }
                    continue;
                }
                packet = incoming.next() => packet,
            };
            let packet = match packet {
                None if fin_sent => return Ok(std::mem::take(&mut self.dirs)),
                None => {
                    return Err(FileSyncError::Protocol(
                        "sender closed the stream before the transfer completed".to_string(),
                    ))
                }
                Some(Err(status)) => return Err(FileSyncError::from_status(&status)),
                Some(Ok(p)) => p,
            };
            match packet_type(&packet) {
                Some(PacketType::PacketStat) => match packet.stat {
                    None => listing_done = true,
                    Some(_) if listing_done => {
                        return Err(FileSyncError::Protocol(
                            "stat after the end of the listing".to_string(),
                        ))
                    }
                    Some(stat) => self.entry(stat)?,
                },
                Some(PacketType::PacketData) => self.data(packet.id, &packet.data)?,
                Some(PacketType::PacketFin) if fin_sent => {
                    return Ok(std::mem::take(&mut self.dirs))
                }
                Some(PacketType::PacketFin) => {
                    return Err(FileSyncError::Protocol(
                        "sender finished before all files arrived".to_string(),
                    ))
                }
                Some(PacketType::PacketErr) => {
                    return Err(FileSyncError::Peer {
                        peer: "sender",
                        message: String::from_utf8_lossy(&packet.data).into_owned(),
                    })
                }
                Some(PacketType::PacketReq) | None => {
                    return Err(FileSyncError::Protocol(format!(
                        "unexpected packet type {} from the sender",
                        packet.r#type
                    )))
                }
            }
        }
    }

    /// Validate and create one listed entry.
    fn entry(&mut self, stat: Stat) -> Result<(), FileSyncError> {
        let id = self.next_id;
        self.next_id += 1;
        let bad = |reason: String| FileSyncError::BadEntry {
            path: stat.path.clone(),
            reason,
        };
        let is_dir = GoMode::is_dir(stat.mode);
        self.order.check(&stat.path, is_dir).map_err(bad)?;
        let target = self.root.join(&stat.path);
        let io = |e| FileSyncError::io(&target, e);
        if is_dir {
            fs::create_dir(&target).map_err(io)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).map_err(io)?;
        } else if GoMode::is_symlink(stat.mode) {
            std::os::unix::fs::symlink(&stat.linkname, &target).map_err(io)?;
        } else if GoMode::is_regular(stat.mode) {
            if !stat.linkname.is_empty() {
                if !self.regular.contains(&stat.linkname) {
                    return Err(bad(format!(
                        "hardlink to {:?}, which is not an earlier regular file",
                        stat.linkname
                    )));
                }
                fs::hard_link(self.root.join(&stat.linkname), &target).map_err(io)?;
                // Same inode as its first path, which carries mode and mtime.
                return Ok(());
            } else {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode_0600()
                    .open(&target)
                    .map_err(io)?;
                self.regular.insert(stat.path.clone());
                self.listed.insert(id, stat.path.clone());
                self.pending_reqs.push_back(id);
            }
        } else {
            // Devices, pipes: creating them needs privileges the exporter
            // does not assume; Go's receiver fails the same way unprivileged.
            tracing::warn!(path = %stat.path, mode = stat.mode, "skipping special file in local export");
            return Ok(());
        }
        self.applied.push(stat);
        Ok(())
    }

    fn data(&mut self, id: u32, data: &[u8]) -> Result<(), FileSyncError> {
        let Some(rel) = self.requested.get(&id) else {
            return Err(FileSyncError::UnexpectedData { id });
        };
        let path = self.root.join(rel);
        if data.is_empty() {
            self.requested.remove(&id);
            if let Some(file) = self.open.remove(&id) {
                file.sync_all().map_err(|e| FileSyncError::io(&path, e))?;
            }
            return Ok(());
        }
        let file = match self.open.entry(id) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(|e| FileSyncError::io(&path, e))?,
            ),
        };
        file.write_all(data)
            .map_err(|e| FileSyncError::io(&path, e))
    }

    /// Apply modes (permission and sticky bits; setuid/setgid dropped) and
    /// mtimes to files; directories are kept for [`apply_dir_meta`].
    fn finish(&mut self) -> Result<(), FileSyncError> {
        for stat in &self.applied {
            if GoMode::is_symlink(stat.mode) {
                continue;
            }
            let mtime = if stat.mod_time >= 0 {
                UNIX_EPOCH + Duration::from_nanos(stat.mod_time as u64)
            } else {
                UNIX_EPOCH - Duration::from_nanos(stat.mod_time.unsigned_abs())
            };
            // Received entries never get setuid or setgid.
            let mode = GoMode::unix_permissions(stat.mode) & !0o6000;
            if GoMode::is_dir(stat.mode) {
                self.dirs.push(DirMeta {
                    path: stat.path.clone(),
                    mode,
                    mtime,
                });
                continue;
            }
            let path = self.root.join(&stat.path);
            let io = |e| FileSyncError::io(&path, e);
            // Times first: a mode without owner write would refuse them.
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_times(fs::FileTimes::new().set_modified(mtime)))
                .map_err(io)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io)?;
        }
        Ok(())
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Move the staged tree to `dest`: a rename when `dest` does not exist, else
/// a merge into the existing directory (received entries replace existing
/// ones, other existing entries stay).
pub fn move_into_place(staging: &Path, dest: &Path) -> Result<(), FileSyncError> {
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::rename(staging, dest).map_err(|e| FileSyncError::io(dest, e))
        }
        Err(e) => Err(FileSyncError::io(dest, e)),
        Ok(_) => {
            // The destination itself may be a symlink the user chose.
            let md = fs::metadata(dest).map_err(|e| FileSyncError::io(dest, e))?;
            if !md.is_dir() {
                return Err(FileSyncError::io(
                    dest,
                    std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "exists and is not a directory",
                    ),
                ));
            }
            merge_dir(staging, dest)
        }
    }
}

fn merge_dir(src: &Path, dst: &Path) -> Result<(), FileSyncError> {
    let entries = fs::read_dir(src).map_err(|e| FileSyncError::io(src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FileSyncError::io(src, e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let from_md = fs::symlink_metadata(&from).map_err(|e| FileSyncError::io(&from, e))?;
        match fs::symlink_metadata(&to) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(FileSyncError::io(&to, e)),
            Ok(to_md) if to_md.is_dir() && from_md.is_dir() => {
                merge_dir(&from, &to)?;
                fs::set_permissions(&to, from_md.permissions())
                    .map_err(|e| FileSyncError::io(&to, e))?;
                continue;
            }
            Ok(to_md) if to_md.is_dir() => {
                fs::remove_dir_all(&to).map_err(|e| FileSyncError::io(&to, e))?
            }
            Ok(_) => fs::remove_file(&to).map_err(|e| FileSyncError::io(&to, e))?,
        }
        fs::rename(&from, &to).map_err(|e| FileSyncError::io(&to, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_validator_table() {
        let mut v = OrderValidator::default();
        assert!(v.check("a", true).is_ok());
        assert!(v.check("a/b", false).is_ok());
        assert!(v.check("a-b", false).is_ok());
        assert!(v.check("a.c", true).is_ok());
        assert!(v.check("link", false).is_ok());
        assert!(v.check("a/c", false).is_err()); // a's subtree is closed
        let mut v = OrderValidator::default();
        assert!(v.check("b", false).is_ok());
        assert!(v.check("a", false).is_err());
        assert!(v.check("b", false).is_err()); // duplicate
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../b",
            "./a",
            "a//b",
            "",
            ".",
            "x/..",
        ] {
            assert!(
                OrderValidator::default().check(bad, false).is_err(),
                "{bad}"
            );
        }
        let mut v = OrderValidator::default();
        assert!(v.check("link", false).is_ok()); // a symlink, not a dir
        assert!(v.check("link/x", false).is_err());
        assert!(OrderValidator::default().check("missing/x", false).is_err());
    }
}

#[cfg(test)]
mod loopback_tests {
    use super::*;
    use crate::buildkit::filesync::send::{send_dir, SendOptions};
    use crate::buildkit::filesync::stat_packet;
    use std::os::unix::fs::{symlink, MetadataExt};
    use tokio_stream::wrappers::ReceiverStream;

    fn write(path: &Path, content: &[u8], mode: u32) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, content).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// (relative path, kind, perm, content or link target, mtime ns) for a
    /// tree, sorted, plus the groups of hardlinked paths.
    /// (relative path, kind, perm, content or link target, mtime ns).
    type Entry = (String, char, u32, Vec<u8>, i64);

    fn snapshot(root: &Path) -> (Vec<Entry>, Vec<Vec<String>>) {
        let mut out = Vec::new();
        let mut inodes: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        fn walk(
            root: &Path,
            dir: &Path,
            out: &mut Vec<Entry>,
            inodes: &mut std::collections::BTreeMap<u64, Vec<String>>,
        ) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let md = fs::symlink_metadata(&p).unwrap();
                if md.file_type().is_symlink() {
                    let t = fs::read_link(&p).unwrap();
                    out.push((rel, 'l', 0, t.to_string_lossy().as_bytes().to_vec(), 0));
                } else if md.is_dir() {
                    out.push((rel, 'd', md.mode() & 0o7777, Vec::new(), 0));
                    walk(root, &p, out, inodes);
                } else {
                    inodes.entry(md.ino()).or_default().push(rel.clone());
                    let mtime = md.mtime() * 1_000_000_000 + md.mtime_nsec();
                    out.push((rel, 'f', md.mode() & 0o7777, fs::read(&p).unwrap(), mtime));
                }
            }
        }
        walk(root, root, &mut out, &mut inodes);
        out.sort();
        let mut links: Vec<Vec<String>> = inodes
            .into_values()
            .filter(|v| v.len() > 1)
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        links.sort();
        (out, links)
    }

    async fn loopback(src: &Path, dest: &Path) -> Result<(), FileSyncError> {
        let (to_sender, sender_in) = mpsc::channel(8);
        let (to_receiver, receiver_in) = mpsc::channel(8);
        let sender = tokio::spawn(send_dir(
            src.to_path_buf(),
            SendOptions::default(),
            ReceiverStream::new(sender_in),
            to_receiver,
        ));
        let received = receive_local(ReceiverStream::new(receiver_in), to_sender, dest).await;
        sender.await.unwrap()?;
        received
    }

    #[tokio::test]
    async fn sender_to_local_receiver_reproduces_the_tree() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        write(&s.join("Dockerfile"), b"FROM scratch\n", 0o644);
        write(&s.join("bin/tool"), b"#!/bin/sh\n", 0o755);
        write(&s.join("bin/readonly"), b"ro", 0o444);
        write(&s.join("data/big.bin"), &big, 0o600);
        write(&s.join("data/empty"), b"", 0o640);
        write(&s.join("suid"), b"s", 0o4755);
        fs::create_dir_all(s.join("locked")).unwrap();
        write(&s.join("locked/inner"), b"i", 0o644);
        fs::set_permissions(s.join("locked"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::create_dir_all(s.join("emptydir")).unwrap();
        fs::set_permissions(s.join("emptydir"), fs::Permissions::from_mode(0o750)).unwrap();
        symlink("../Dockerfile", s.join("bin/df")).unwrap();
        symlink("/nonexistent/abs", s.join("dangling")).unwrap();
        fs::hard_link(s.join("data/big.bin"), s.join("data/big.hardlink")).unwrap();

        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("export");
        loopback(s, &dest).await.unwrap();

        let (want, want_links) = snapshot(s);
        let (got, got_links) = snapshot(&dest);
        // setuid is dropped on export; everything else must match.
        let want: Vec<_> = want
            .into_iter()
            .map(|(p, k, m, c, t)| (p, k, m & 0o1777, c, t))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got_links, want_links);
        assert_eq!(
            got_links,
            [vec![
                "data/big.bin".to_string(),
                "data/big.hardlink".to_string()
            ]]
        );
        // Nothing left next to dest.
        let siblings: Vec<_> = fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(siblings, ["export"]);
        fs::set_permissions(s.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dest.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[tokio::test]
    async fn existing_dest_is_merged_after_everything_arrived() {
        let src = tempfile::tempdir().unwrap();
        write(&src.path().join("a/new.txt"), b"new", 0o644);
        write(&src.path().join("same.txt"), b"replaced", 0o644);
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("dest");
        write(&dest.join("keep.txt"), b"kept", 0o644);
        write(&dest.join("same.txt"), b"old", 0o644);
        write(&dest.join("a/old.txt"), b"old", 0o644);
        loopback(src.path(), &dest).await.unwrap();
        assert_eq!(fs::read(dest.join("keep.txt")).unwrap(), b"kept");
        assert_eq!(fs::read(dest.join("same.txt")).unwrap(), b"replaced");
        assert_eq!(fs::read(dest.join("a/old.txt")).unwrap(), b"old");
        assert_eq!(fs::read(dest.join("a/new.txt")).unwrap(), b"new");
    }

    fn stat(path: &str, mode: u32, linkname: &str) -> Packet {
        stat_packet(Some(Stat {
            path: path.to_string(),
            mode,
            linkname: linkname.to_string(),
            ..Default::default()
        }))
    }

    /// Run the receiver on a scripted sender; returns its result and the
    /// packets it sent.
    async fn scripted(
        packets: Vec<Packet>,
        dest: &Path,
    ) -> (Result<(), FileSyncError>, Vec<Packet>) {
        let (tx, mut rx) = mpsc::channel(1024);
        let incoming = futures::stream::iter(packets.into_iter().map(Ok));
        let result = receive_local(incoming, tx, dest).await;
        let mut sent = Vec::new();
        while let Ok(p) = rx.try_recv() {
            sent.push(p.unwrap());
        }
        (result, sent)
    }

    const DIR: u32 = GoMode::DIR | 0o755;
    const FILE: u32 = 0o644;
    const LINK: u32 = GoMode::SYMLINK | 0o777;

    #[tokio::test]
    async fn hostile_listings_are_refused_and_leave_no_dest() {
        let cases: Vec<(&str, Vec<Packet>)> = vec![
            ("dotdot", vec![stat("../x", FILE, "")]),
            ("absolute", vec![stat("/etc/x", FILE, "")]),
            ("unclean", vec![stat("a/./b", FILE, "")]),
            (
                "out of order",
                vec![stat("b", FILE, ""), stat("a", FILE, "")],
            ),
            ("duplicate", vec![stat("a", DIR, ""), stat("a", DIR, "")]),
            ("missing parent", vec![stat("d/x", FILE, "")]),
            (
                "under a symlink",
                vec![stat("escape", LINK, "/tmp"), stat("escape/pwned", FILE, "")],
            ),
            ("hardlink to unknown", vec![stat("a", FILE, "/etc/passwd")]),
            (
                "hardlink to a symlink",
                vec![stat("l", LINK, "/etc/passwd"), stat("m", FILE, "l")],
            ),
        ];
        for (name, packets) in cases {
            let out = tempfile::tempdir().unwrap();
            let dest = out.path().join("dest");
            let (result, _) = scripted(packets, &dest).await;
            let err = result.expect_err(name);
            assert!(
                matches!(err, FileSyncError::BadEntry { .. }),
                "{name}: {err}"
            );
            assert!(!dest.exists(), "{name}");
            assert_eq!(
                fs::read_dir(out.path()).unwrap().count(),
                0,
                "{name}: staging left behind"
            );
        }
    }

    #[tokio::test]
    async fn scripted_transfer_requests_every_file_and_finishes() {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("dest");
        let packets = vec![
            stat("a", DIR, ""),
            stat("a/f", FILE, ""),
            stat("g", FILE, ""),
            stat("h", FILE, "a/f"),
            stat_packet(None),
            control_packet(PacketType::PacketData, 1, b"hello".to_vec()),
            control_packet(PacketType::PacketData, 2, Vec::new()),
            control_packet(PacketType::PacketData, 1, Vec::new()),
            control_packet(PacketType::PacketFin, 0, Vec::new()),
        ];
        let (result, sent) = scripted(packets, &dest).await;
        result.unwrap();
        let kinds: Vec<(Option<PacketType>, u32)> =
            sent.iter().map(|p| (packet_type(p), p.id)).collect();
        assert_eq!(
            kinds,
            [
                (Some(PacketType::PacketReq), 1),
                (Some(PacketType::PacketReq), 2),
                (Some(PacketType::PacketFin), 0)
            ]
        );
        assert_eq!(fs::read(dest.join("h")).unwrap(), b"hello");
        assert_eq!(fs::read(dest.join("g")).unwrap(), b"");
    }

    #[tokio::test]
    async fn sender_error_or_early_end_leaves_no_dest() {
        for tail in [
            vec![control_packet(PacketType::PacketErr, 0, b"boom".to_vec())],
            vec![],
            vec![control_packet(PacketType::PacketData, 9, b"x".to_vec())],
        ] {
            let out = tempfile::tempdir().unwrap();
            let dest = out.path().join("dest");
            let mut packets = vec![stat("f", FILE, ""), stat_packet(None)];
            packets.extend(tail);
            let (result, _) = scripted(packets, &dest).await;
            assert!(result.is_err());
            assert!(!dest.exists());
            assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
        }
    }

    #[tokio::test]
    async fn tar_dest_appears_only_after_a_clean_end() {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("image.tar");
        let msgs = vec![
            Ok(BytesMessage {
                data: b"abc".to_vec(),
            }),
            Ok(BytesMessage {
                data: b"def".to_vec(),
            }),
        ];
        let n = receive_tar(futures::stream::iter(msgs), &TarDest::File(dest.clone()))
            .await
            .unwrap();
        assert_eq!(n, 6);
        assert_eq!(fs::read(&dest).unwrap(), b"abcdef");
        assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);

        let failed = out.path().join("failed.tar");
        let msgs = vec![
            Ok(BytesMessage {
                data: b"abc".to_vec(),
            }),
            Err(Status::cancelled("build failed")),
        ];
        let err = receive_tar(futures::stream::iter(msgs), &TarDest::File(failed.clone()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("build failed"), "{err}");
        assert!(!failed.exists());
        assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);
    }
}
