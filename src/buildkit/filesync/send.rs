//! The fsutil DiffCopy sender: walk a local directory (include / exclude
//! patterns, followpaths), stream one STAT per entry in fsutil order, and
//! serve the receiver's REQs with file content while the walk goes on.
//!
//! The one idea: the walk runs on a blocking thread and pushes STATs into the
//! same outbound channel the file readers use, while the async loop only
//! reads the receiver's packets; nothing waits on the other side, so the
//! transfer is full duplex and never deadlocks on flow control.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tonic::Status;

use super::follow::{dedupe_paths, follow_links, is_not_found};
use super::patterns::{MatchInfo, PatternMatcher};
use super::{control_packet, packet_type, stat_packet, FileSyncError};
use crate::buildkit::gomode::{go_mode_from_unix, GoMode};
use crate::buildkit::proto::fsutil::types::{packet::PacketType, Packet, Stat};

/// Bytes per DATA packet (fsutil `send.go` bufPool: 32 KiB).
pub const CHUNK_SIZE: usize = 32 * 1024;

/// Files whose content is streamed at the same time (fsutil `send.go`: four
/// sender goroutines).
const FILES_IN_FLIGHT: usize = 4;

/// What the daemon asked for in the DiffCopy call's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Only send matching paths (and their ancestor directories).
    pub include_patterns: Vec<String>,
    /// Do not send matching paths, unless a later `!` pattern re-includes them.
    pub exclude_patterns: Vec<String>,
    /// Paths whose symlinks are resolved inside the root; the links and their
    /// targets become include patterns.
    pub follow_paths: Vec<String>,
}

/// What a REQ for a listed id sends.
#[derive(Debug, Clone)]
enum Content {
    /// A regular file, relative to the root.
    File(String),
    /// Something that looks regular on the wire but has no readable content
    /// (a socket, whose type bit fsutil clears): only the end-of-file chunk.
    Empty,
}

type Outbound = mpsc::Sender<Result<Packet, Status>>;
type FileTable = Arc<Mutex<HashMap<u32, Content>>>;

/// Sets the flag when dropped, so blocking workers stop when the transfer ends
/// for any reason.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Serve one DiffCopy as the sender: list `root` to `out`, answer REQs read
/// from `incoming`, answer the receiver's FIN with FIN and return. A walk
/// error is sent as PACKET_ERR (text naming the path) and returned; the
/// caller turns any returned error into the call's status.
pub async fn send_dir<S>(
    root: PathBuf,
    opts: SendOptions,
    mut incoming: S,
    out: Outbound,
) -> Result<(), FileSyncError>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin + Send,
{
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let files: FileTable = Arc::new(Mutex::new(HashMap::new()));

    let setup_root = root.clone();
    let filter = tokio::task::spawn_blocking(move || Filter::new(&setup_root, &opts))
        .await
        .map_err(|e| FileSyncError::Protocol(format!("walk setup task failed: {e}")))??;

    let mut walk = Some({
        let (files, cancel, out) = (files.clone(), cancel.clone(), out.clone());
        tokio::task::spawn_blocking(move || {
            let mut walker = Walker {
                include: filter.include.as_ref(),
                exclude: filter.exclude.as_ref(),
                out: &out,
                files: &files,
                cancel: &cancel,
                next_id: 0,
                inodes: HashMap::new(),
                stack: Vec::new(),
            };
            let result = walker
                .walk_dir(&filter.root, "")
                .and_then(|()| walker.send(stat_packet(None)));
            if let Err(err) = &result {
                let text = err.to_string().into_bytes();
                let _ = out.blocking_send(Ok(control_packet(PacketType::PacketErr, 0, text)));
            }
            result
        })
    });

    let sem = Arc::new(Semaphore::new(FILES_IN_FLIGHT));
    let mut in_flight: JoinSet<Result<(), FileSyncError>> = JoinSet::new();

    loop {
        tokio::select! {
            joined = async {
                match walk.as_mut() {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            }, if walk.is_some() => {
                walk = None;
                joined.map_err(|e| FileSyncError::Protocol(format!("walk task failed: {e}")))??;
            }
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                done.map_err(|e| FileSyncError::Protocol(format!("file task failed: {e}")))??;
            }
            packet = incoming.next() => {
                let packet = match packet {
                    None => return Err(FileSyncError::Protocol(
                        "receiver closed the stream before fin".to_string(),
                    )),
                    Some(Err(status)) => return Err(FileSyncError::from_status(&status)),
                    Some(Ok(p)) => p,
                };
                match packet_type(&packet) {
                    Some(PacketType::PacketReq) => {
                        let content = lock(&files).remove(&packet.id)
                            .ok_or(FileSyncError::InvalidFileId { id: packet.id })?;
                        let (sem, root, out, cancel) =
                            (sem.clone(), root.clone(), out.clone(), cancel.clone());
                        let id = packet.id;
                        in_flight.spawn(async move {
                            let _permit = sem.acquire_owned().await
                                .map_err(|e| FileSyncError::Protocol(e.to_string()))?;
                            tokio::task::spawn_blocking(move || send_file(&root, id, content, &out, &cancel))
                                .await
                                .map_err(|e| FileSyncError::Protocol(format!("file task failed: {e}")))?
                        });
                    }
                    Some(PacketType::PacketFin) => {
                        while let Some(done) = in_flight.join_next().await {
                            done.map_err(|e| FileSyncError::Protocol(format!("file task failed: {e}")))??;
                        }
                        if let Some(w) = walk.take() {
                            w.await.map_err(|e| FileSyncError::Protocol(format!("walk task failed: {e}")))??;
                        }
                        out.send(Ok(control_packet(PacketType::PacketFin, 0, Vec::new())))
                            .await
                            .map_err(|_| FileSyncError::Protocol("stream closed before fin".to_string()))?;
                        return Ok(());
                    }
                    Some(PacketType::PacketErr) => {
                        return Err(FileSyncError::Peer {
                            peer: "receiver",
                            message: String::from_utf8_lossy(&packet.data).into_owned(),
                        });
                    }
                    // STAT / DATA / unknown types are not for the sender;
                    // fsutil ignores them too.
                    _ => {}
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stream one file as DATA chunks and the empty end-of-file chunk.
fn send_file(
    root: &Path,
    id: u32,
    content: Content,
    out: &Outbound,
    cancel: &AtomicBool,
) -> Result<(), FileSyncError> {
    let closed = || FileSyncError::Protocol("stream closed while sending a file".to_string());
    if let Content::File(rel) = content {
        let path = root.join(&rel);
        let fail = |e: std::io::Error| {
            let err = FileSyncError::io(&path, e);
            let _ = out.blocking_send(Ok(control_packet(
                PacketType::PacketErr,
                0,
                err.to_string().into_bytes(),
            )));
            err
        };
        let mut file = fs::File::open(&path).map_err(fail)?;
        let mut buf = vec![0u8; CHUNK_SIZE];
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Ok(());
            }
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(e)),
            };
            out.blocking_send(Ok(control_packet(
                PacketType::PacketData,
                id,
                buf[..n].to_vec(),
            )))
            .map_err(|_| closed())?;
        }
    }
    out.blocking_send(Ok(control_packet(PacketType::PacketData, id, Vec::new())))
        .map_err(|_| closed())
}

/// The resolved root and compiled patterns of one transfer.
struct Filter {
    root: PathBuf,
    include: Option<PatternMatcher>,
    exclude: Option<PatternMatcher>,
}

impl Filter {
    /// fsutil `NewFS` + `NewFilterFS`: resolve the root, fold followpaths into
    /// the include patterns, compile both lists.
    fn new(root: &Path, opts: &SendOptions) -> Result<Filter, FileSyncError> {
        let root = fs::canonicalize(root).map_err(|e| FileSyncError::io(root, e))?;
        let md = fs::metadata(&root).map_err(|e| FileSyncError::io(&root, e))?;
        if !md.is_dir() {
            return Err(FileSyncError::io(
                &root,
                std::io::Error::new(ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        let mut includes = opts.include_patterns.clone();
        if !opts.follow_paths.is_empty() {
            if let Some(targets) = follow_links(&root, &opts.follow_paths)? {
                includes.extend(targets);
                includes.sort();
                includes = dedupe_paths(includes).unwrap_or_default();
            }
        }
        let include = if includes.is_empty() {
            None
        } else {
            Some(PatternMatcher::new(&includes)?)
        };
        let exclude = if opts.exclude_patterns.is_empty() {
            None
        } else {
            Some(PatternMatcher::new(&opts.exclude_patterns)?)
        };
        Ok(Filter {
            root,
            include,
            exclude,
        })
    }
}

/// A directory on the walk stack: emitted lazily when something below it is.
struct PendingDir {
    stat: Stat,
    emitted: bool,
    include_info: MatchInfo,
    exclude_info: MatchInfo,
}

struct Walker<'a> {
    include: Option<&'a PatternMatcher>,
    exclude: Option<&'a PatternMatcher>,
    out: &'a Outbound,
    files: &'a FileTable,
    cancel: &'a AtomicBool,
    next_id: u32,
    /// (dev, ino) of multiply linked files already sent -> first path.
    inodes: HashMap<(u64, u64), String>,
    stack: Vec<PendingDir>,
}

impl Walker<'_> {
    fn send(&mut self, packet: Packet) -> Result<(), FileSyncError> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(FileSyncError::Protocol("transfer cancelled".to_string()));
        }
        self.out
            .blocking_send(Ok(packet))
            .map_err(|_| FileSyncError::Protocol("stream closed while listing".to_string()))
    }

    /// Send one STAT; its id is its position among all STATs.
    fn emit(&mut self, stat: Stat, content: Option<Content>) -> Result<(), FileSyncError> {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(c) = content {
            lock(self.files).insert(id, c);
        }
        self.send(stat_packet(Some(stat)))
    }

    /// Emit the not yet emitted directories on the stack, outermost first.
    fn emit_parents(&mut self) -> Result<(), FileSyncError> {
        for i in 0..self.stack.len() {
            if !self.stack[i].emitted {
                self.stack[i].emitted = true;
                let stat = self.stack[i].stat.clone();
                self.emit(stat, None)?;
            }
        }
        Ok(())
    }

    fn walk_dir(&mut self, abs: &Path, rel_dir: &str) -> Result<(), FileSyncError> {
        let entries = match fs::read_dir(abs) {
            Ok(e) => e,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e)
                if e.kind() == ErrorKind::PermissionDenied
                    && self.stack.last().is_some_and(|d| !d.emitted) =>
            {
                return Ok(())
            }
            Err(e) => return Err(FileSyncError::io(abs, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FileSyncError::io(abs, e))?;
            names.push(entry.file_name());
        }
        // Go's os.ReadDir order: bytewise by name.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));

        for name in names {
            let abs_path = abs.join(&name);
            let name = name.to_str().ok_or_else(|| FileSyncError::NonUtf8 {
                path: abs_path.clone(),
            })?;
            let rel = if rel_dir.is_empty() {
                name.to_string()
            } else {
                format!("{rel_dir}/{name}")
            };
            let md = match fs::symlink_metadata(&abs_path) {
                Ok(md) => md,
                Err(e) if is_not_found(&e) => continue, // vanished during the walk
                Err(e) => return Err(FileSyncError::io(&abs_path, e)),
            };
            let is_dir = md.is_dir();

            let mut skip = false;
            let mut include_info = MatchInfo::default();
            let mut exclude_info = MatchInfo::default();
            if let Some(inc) = self.include {
                let parent = self
                    .stack
                    .last()
                    .map(|d| &d.include_info)
                    .cloned()
                    .unwrap_or_default();
                let (matched, info) = inc.matches_using_parent_results(&rel, &parent);
                include_info = info;
                if !matched {
                    if is_dir && inc.include_dir_skippable(&rel) {
                        continue;
                    }
                    skip = true;
                }
            }
            if let Some(exc) = self.exclude {
                let parent = self
                    .stack
                    .last()
                    .map(|d| &d.exclude_info)
                    .cloned()
                    .unwrap_or_default();
                let (matched, info) = exc.matches_using_parent_results(&rel, &parent);
                exclude_info = info;
                if matched {
                    if is_dir && exc.exclude_dir_skippable(&rel) {
                        continue;
                    }
                    skip = true;
                }
            }

            if is_dir {
                let (stat, _) = self.make_stat(&abs_path, &rel, &md)?;
                if !skip {
                    self.emit_parents()?;
                    self.emit(stat.clone(), None)?;
                }
                self.stack.push(PendingDir {
                    stat,
                    emitted: !skip,
                    include_info,
                    exclude_info,
                });
                let result = self.walk_dir(&abs_path, &rel);
                self.stack.pop();
                result?;
            } else if !skip {
                self.emit_parents()?;
                let (stat, content) = self.make_stat(&abs_path, &rel, &md)?;
                self.emit(stat, content)?;
            }
        }
        Ok(())
    }

    /// The wire Stat of one entry (fsutil `mkstat` with the Go client's
    /// uid/gid reset), and what a REQ for it would send.
    fn make_stat(
        &mut self,
        abs: &Path,
        rel: &str,
        md: &Metadata,
    ) -> Result<(Stat, Option<Content>), FileSyncError> {
        let raw = md.mode();
        let mut mode = go_mode_from_unix(raw);
        let socket = mode & GoMode::SOCKET != 0;
        // fsutil clears the socket bit (archive/tar cannot express it).
        mode &= !GoMode::SOCKET;
        let mut stat = Stat {
            path: rel.to_string(),
            mode,
            uid: 0,
            gid: 0,
            size: 0,
            mod_time: md
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(md.mtime_nsec()),
            linkname: String::new(),
            devmajor: 0,
            devminor: 0,
            xattrs: HashMap::new(),
        };
        if md.is_dir() {
            return Ok((stat, None));
        }
        stat.size = i64::try_from(md.len()).unwrap_or(i64::MAX);
        let ft = md.file_type();
        if ft.is_block_device() || ft.is_char_device() {
            // Linux dev_t split as fsutil `stat_unix.go` major/minor do.
            let rdev = md.rdev();
            stat.devmajor = ((rdev >> 8) & 0xfff) as i64;
            stat.devminor = ((rdev & 0xff) | ((rdev >> 12) & 0xfff00)) as i64;
        }
        if ft.is_symlink() {
            let target = fs::read_link(abs).map_err(|e| FileSyncError::io(abs, e))?;
            stat.linkname = target
                .to_str()
                .ok_or_else(|| FileSyncError::NonUtf8 {
                    path: abs.to_path_buf(),
                })?
                .to_string();
            return Ok((stat, None));
        }
        if md.nlink() > 1 {
            match self.inodes.get(&(md.dev(), md.ino())) {
                // fsutil keeps the size of a hardlink (mkstat sets it after
                // the link is recorded); the receiver links, never requests.
                Some(first) => {
                    stat.linkname = first.clone();
                    return Ok((stat, None));
                }
                None => {
                    self.inodes.insert((md.dev(), md.ino()), rel.to_string());
                }
            }
        }
        let content = if !GoMode::is_regular(stat.mode) {
            None
        } else if socket {
            Some(Content::Empty)
        } else {
            Some(Content::File(rel.to_string()))
        };
        Ok((stat, content))
    }
}

#[cfg(test)]
pub(crate) mod tests;
