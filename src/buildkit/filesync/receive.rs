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
                // Everything arrived and our FIN is out: the sender's FIN is
                // a courtesy the daemon may never deliver. BuildKit's local
                // exporter sends each platform's tree in an errgroup whose
                // context is cancelled as soon as the senders return
                // (buildkit `exporter/local/export.go`), and grpc-go then
                // resets the stream, dropping a FIN still queued
                // (grpc-go `internal/transport/controlbuf.go`, cleanupStream).
                // fsutil's own receiver would fail here too, but buildx never
                // judges a FileSend handler: the solve's result does.
                Some(Err(status)) if fin_sent => {
                    tracing::debug!(status = %status.message(), "stream ended after our FIN: transfer complete");
                    return Ok(std::mem::take(&mut self.dirs));
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
mod tests;

#[cfg(test)]
mod loopback_tests;
