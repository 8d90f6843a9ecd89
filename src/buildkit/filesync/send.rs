//! The fsutil DiffCopy sender: walk a local directory (include / exclude
//! patterns, followpaths), stream one STAT per entry in fsutil order, and
//! serve the receiver's REQs with file content while the walk goes on.
//!
//! The one idea: the walk runs on a blocking thread and pushes STATs into the
//! same outbound channel the file readers use, while the async loop only
//! reads the receiver's packets; nothing waits on the other side, so the
//! transfer is full duplex and never deadlocks on flow control.

use std::collections::{BTreeSet, HashMap};
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

use super::patterns::{clean_path, MatchInfo, PatternMatcher};
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

/// Drop paths below an earlier path of a sorted list; None when the list
/// holds `.` (everything: no filter). fsutil `followlinks.go` dedupePaths.
fn dedupe_paths(sorted: Vec<String>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(sorted.len());
    let mut last = String::new();
    for s in sorted {
        if s == "." {
            return None;
        }
        if s.starts_with(&format!("{last}/")) {
            continue;
        }
        last = s.clone();
        out.push(s);
    }
    Some(out)
}

/// Resolve symlinks on `paths` inside `root` (fsutil `FollowLinks`): every
/// symlink met on the way and the final paths are returned, sorted and
/// deduplicated. Links are resolved as if `root` were `/`, so nothing outside
/// the root is ever read.
fn follow_links(root: &Path, paths: &[String]) -> Result<Option<Vec<String>>, FileSyncError> {
    let mut resolved = BTreeSet::new();
    for p in paths {
        resolve_follow_path(root, p, &mut resolved, 0)?;
    }
    Ok(dedupe_paths(resolved.into_iter().collect()))
}

/// Join like Go's `path.Join`: clean the slash-joined parts.
fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        return clean_path(a);
    }
    clean_path(&format!("{a}/{b}"))
}

/// Guard against link chains that keep producing new paths.
const MAX_FOLLOW_DEPTH: usize = 255;

fn resolve_follow_path(
    root: &Path,
    p: &str,
    resolved: &mut BTreeSet<String>,
    depth: usize,
) -> Result<(), FileSyncError> {
    if depth > MAX_FOLLOW_DEPTH {
        return Ok(());
    }
    // Rooted at the transfer root: `../x` cannot climb out of it.
    let mut rest = clean_path(&format!("/{p}"))
        .trim_start_matches('/')
        .to_string();
    let mut current = ".".to_string();
    loop {
        let (first, remaining) = match rest.split_once('/') {
            Some((f, r)) => (f.to_string(), r.to_string()),
            None => (rest.clone(), String::new()),
        };
        current = join(&current, &first);
        let targets = read_follow_symlink(root, &current, true)?;
        rest = remaining;
        if (rest.is_empty() || targets.is_some()) && resolved.contains(&current) {
            return Ok(());
        }
        if let Some(targets) = targets {
            resolved.insert(current.clone());
            for target in targets {
                resolve_follow_path(root, &join(&target, &rest), resolved, depth + 1)?;
            }
            return Ok(());
        }
        if rest.is_empty() {
            resolved.insert(current);
            return Ok(());
        }
    }
}

fn contains_wildcards(name: &str) -> bool {
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// The rooted target(s) of the symlink at relative path `p`, or None when `p`
/// is missing or not a symlink. A wildcard last component is expanded
/// against the directory (fsutil `readSymlink`).
fn read_follow_symlink(
    root: &Path,
    p: &str,
    allow_wildcard: bool,
) -> Result<Option<Vec<String>>, FileSyncError> {
    let (dir, base) = match p.rsplit_once('/') {
        Some((d, b)) => (d.to_string(), b.to_string()),
        None => (".".to_string(), p.to_string()),
    };
    if allow_wildcard && contains_wildcards(&base) {
        let dir_path = root.join(&dir);
        let entries = match fs::read_dir(&dir_path) {
            Ok(e) => e,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(FileSyncError::io(dir_path, e)),
        };
        let Ok(matcher) = PatternMatcher::new([base.as_str()]) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FileSyncError::io(&dir_path, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if matcher.patterns().iter().any(|pat| pat.matches(&name)) {
                if let Some(t) = read_follow_symlink(root, &join(&dir, &name), false)? {
                    out.extend(t);
                }
            }
        }
        return Ok(if out.is_empty() { None } else { Some(out) });
    }
    let real = root.join(p);
    let md = match fs::symlink_metadata(&real) {
        Ok(md) => md,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(FileSyncError::io(real, e)),
    };
    if !md.file_type().is_symlink() {
        return Ok(None);
    }
    let link = fs::read_link(&real).map_err(|e| FileSyncError::io(&real, e))?;
    let link = link
        .to_str()
        .ok_or_else(|| FileSyncError::NonUtf8 { path: real.clone() })?;
    let link = clean_path(link);
    if link.starts_with('/') {
        return Ok(Some(vec![link]));
    }
    Ok(Some(vec![clean_path(&format!("/{}", join(&dir, &link)))]))
}

fn is_not_found(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
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
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use tokio_stream::wrappers::ReceiverStream;

    pub(crate) type PacketTx = mpsc::Sender<Result<Packet, Status>>;
    pub(crate) type PacketRx = mpsc::Receiver<Result<Packet, Status>>;

    /// A running sender: feed it packets through `to_sender`, read its
    /// output from `from_sender`.
    pub(crate) struct Running {
        pub(crate) to_sender: PacketTx,
        pub(crate) from_sender: PacketRx,
        pub(crate) task: tokio::task::JoinHandle<Result<(), FileSyncError>>,
    }

    pub(crate) fn start(root: &Path, opts: SendOptions, depth: usize) -> Running {
        let (to_sender, rx) = mpsc::channel(1024);
        let (tx, from_sender) = mpsc::channel(depth);
        let task = tokio::spawn(send_dir(
            root.to_path_buf(),
            opts,
            ReceiverStream::new(rx),
            tx,
        ));
        Running {
            to_sender,
            from_sender,
            task,
        }
    }

    fn write(path: &Path, content: &[u8], mode: u32) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, content).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mkdir(path: &Path, mode: u32) {
        fs::create_dir_all(path).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Read STATs up to the terminating empty one.
    async fn listing(r: &mut Running) -> Vec<Stat> {
        let mut out = Vec::new();
        loop {
            let p = r.from_sender.recv().await.unwrap().unwrap();
            assert_eq!(packet_type(&p), Some(PacketType::PacketStat), "{p:?}");
            match p.stat {
                Some(s) => out.push(s),
                None => return out,
            }
        }
    }

    async fn listed_paths(root: &Path, opts: SendOptions) -> Vec<String> {
        let mut r = start(root, opts, 16);
        let paths = listing(&mut r).await.into_iter().map(|s| s.path).collect();
        fin(&mut r).await;
        r.task.await.unwrap().unwrap();
        paths
    }

    fn req(id: u32) -> Result<Packet, Status> {
        Ok(control_packet(PacketType::PacketReq, id, Vec::new()))
    }

    /// Request `id` and collect its DATA until the empty chunk.
    async fn fetch(r: &mut Running, id: u32) -> Vec<Vec<u8>> {
        r.to_sender.send(req(id)).await.unwrap();
        let mut chunks = Vec::new();
        loop {
            let p = r.from_sender.recv().await.unwrap().unwrap();
            assert_eq!(packet_type(&p), Some(PacketType::PacketData));
            assert_eq!(p.id, id);
            if p.data.is_empty() {
                return chunks;
            }
            chunks.push(p.data);
        }
    }

    async fn fin(r: &mut Running) {
        r.to_sender
            .send(Ok(control_packet(PacketType::PacketFin, 0, Vec::new())))
            .await
            .unwrap();
        let p = r.from_sender.recv().await.unwrap().unwrap();
        assert_eq!(packet_type(&p), Some(PacketType::PacketFin));
    }

    #[tokio::test]
    async fn protocol_doc_example_order_ids_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("Dockerfile"), b"FROM scratch\n", 0o644);
        mkdir(&root.join("a"), 0o755);
        write(&root.join("a/b.txt"), b"bee", 0o644);
        write(&root.join("a-b.txt"), b"", 0o644);
        mkdir(&root.join("a.c"), 0o755);
        symlink("a/b.txt", root.join("link")).unwrap();

        let mut r = start(root, SendOptions::default(), 16);
        let stats = listing(&mut r).await;
        let got: Vec<(&str, u32, &str)> = stats
            .iter()
            .map(|s| (s.path.as_str(), s.mode, s.linkname.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Dockerfile", 0x1a4, ""),
                ("a", 0x8000_01ed, ""),
                ("a/b.txt", 0x1a4, ""),
                ("a-b.txt", 0x1a4, ""),
                ("a.c", 0x8000_01ed, ""),
                ("link", 0x0800_01ff, "a/b.txt"),
            ]
        );
        assert!(stats.iter().all(|s| s.uid == 0 && s.gid == 0));
        assert_eq!(stats[0].size, 13);
        assert_eq!(stats[1].size, 0);
        assert_eq!(stats[5].size, 7); // lstat size of a link = target length
        let mtime = fs::metadata(root.join("Dockerfile"))
            .unwrap()
            .modified()
            .unwrap();
        let ns = mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert_eq!(stats[0].mod_time, ns);

        assert_eq!(fetch(&mut r, 0).await.concat(), b"FROM scratch\n");
        assert_eq!(fetch(&mut r, 2).await.concat(), b"bee");
        assert!(fetch(&mut r, 3).await.is_empty()); // empty file: only EOF
        fin(&mut r).await;
        r.task.await.unwrap().unwrap();
        // The stream ends after FIN.
        assert!(r.from_sender.recv().await.is_none());
    }

    #[tokio::test]
    async fn dirs_and_links_are_not_requestable() {
        let dir = tempfile::tempdir().unwrap();
        mkdir(&dir.path().join("d"), 0o755);
        symlink("d", dir.path().join("l")).unwrap();
        for id in [0u32, 1, 7] {
            let mut r = start(dir.path(), SendOptions::default(), 16);
            listing(&mut r).await;
            r.to_sender.send(req(id)).await.unwrap();
            let err = r.task.await.unwrap().unwrap_err();
            assert!(
                matches!(err, FileSyncError::InvalidFileId { id: got } if got == id),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn hardlinks_point_at_the_first_path() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a"), b"same", 0o644);
        fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let mut r = start(dir.path(), SendOptions::default(), 16);
        let stats = listing(&mut r).await;
        assert_eq!(stats[0].path, "a");
        assert_eq!(stats[0].linkname, "");
        assert_eq!(stats[1].path, "b");
        assert_eq!(stats[1].linkname, "a");
        assert!(GoMode::is_regular(stats[1].mode));
        assert_eq!(fetch(&mut r, 0).await.concat(), b"same");
        r.to_sender.send(req(1)).await.unwrap();
        let err = r.task.await.unwrap().unwrap_err();
        assert!(
            matches!(err, FileSyncError::InvalidFileId { id: 1 }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn excludes_with_exceptions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "docs/keep.txt",
            "docs/drop.txt",
            "docs/sub/x.txt",
            "a.tmp",
            "src/b.tmp",
            "src/main.rs",
            "node_modules/m/i.js",
        ] {
            write(&root.join(f), b"x", 0o644);
        }
        let opts = SendOptions {
            exclude_patterns: vec![
                "docs".into(),
                "!docs/keep.txt".into(),
                "**/*.tmp".into(),
                "node_modules".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            listed_paths(root, opts).await,
            ["docs", "docs/keep.txt", "src", "src/main.rs"]
        );
    }

    #[tokio::test]
    async fn include_patterns_emit_ancestor_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "a/b/c.txt",
            "a/b/d.txt",
            "a/e.txt",
            "z.txt",
            "y/q.go",
            "y/w/r.go",
        ] {
            write(&root.join(f), b"x", 0o644);
        }
        let opts = SendOptions {
            include_patterns: vec!["a/b/c.txt".into(), "**/*.go".into()],
            ..Default::default()
        };
        assert_eq!(
            listed_paths(root, opts).await,
            ["a", "a/b", "a/b/c.txt", "y", "y/q.go", "y/w", "y/w/r.go"]
        );
    }

    #[tokio::test]
    async fn followpaths_resolve_a_symlinked_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("build/real.Dockerfile"), b"FROM x\n", 0o644);
        write(&root.join("build/other"), b"no", 0o644);
        write(&root.join("main.go"), b"no", 0o644);
        symlink("build/real.Dockerfile", root.join("Dockerfile")).unwrap();
        // An absolute link resolves inside the root, never outside it.
        symlink("/etc/passwd", root.join("abs")).unwrap();
        let opts = SendOptions {
            follow_paths: vec![
                "Dockerfile".into(),
                "Dockerfile.dockerignore".into(),
                "abs".into(),
            ],
            ..Default::default()
        };
        let mut r = start(root, opts, 16);
        let stats = listing(&mut r).await;
        let paths: Vec<&str> = stats.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            ["Dockerfile", "abs", "build", "build/real.Dockerfile"]
        );
        assert!(GoMode::is_symlink(stats[0].mode));
        assert_eq!(fetch(&mut r, 3).await.concat(), b"FROM x\n");
        fin(&mut r).await;
        r.task.await.unwrap().unwrap();

        let targets = follow_links(root, &["abs".to_string()]).unwrap().unwrap();
        assert_eq!(targets, ["abs", "etc/passwd"]);
    }

    #[tokio::test]
    async fn large_file_streams_in_32k_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        write(&dir.path().join("big"), &content, 0o644);
        let mut r = start(dir.path(), SendOptions::default(), 4);
        let stats = listing(&mut r).await;
        assert_eq!(stats[0].size, content.len() as i64);
        let chunks = fetch(&mut r, 0).await;
        assert_eq!(chunks.len(), content.len().div_ceil(CHUNK_SIZE));
        assert!(chunks.iter().all(|c| c.len() <= CHUNK_SIZE));
        assert!(chunks.concat() == content);
        fin(&mut r).await;
        r.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn reqs_are_served_while_still_listing() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..2000 {
            write(&dir.path().join(format!("f{i:05}")), b"x", 0o644);
        }
        let mut r = start(dir.path(), SendOptions::default(), 2);
        let first = r.from_sender.recv().await.unwrap().unwrap();
        assert_eq!(first.stat.as_ref().map(|s| s.path.as_str()), Some("f00000"));
        r.to_sender.send(req(0)).await.unwrap();
        let mut stats_after_req = 0;
        let mut got_eof_before_listing_end = false;
        loop {
            let p = r.from_sender.recv().await.unwrap().unwrap();
            match packet_type(&p) {
                Some(PacketType::PacketData) if p.data.is_empty() => {
                    got_eof_before_listing_end = true
                }
                Some(PacketType::PacketStat) if p.stat.is_none() => break,
                Some(PacketType::PacketStat) => stats_after_req += 1,
                _ => {}
            }
        }
        assert_eq!(stats_after_req, 1999);
        assert!(got_eof_before_listing_end);
        fin(&mut r).await;
        r.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn receiver_err_and_early_close_abort() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("f"), b"x", 0o644);
        let mut r = start(dir.path(), SendOptions::default(), 16);
        listing(&mut r).await;
        r.to_sender
            .send(Ok(control_packet(
                PacketType::PacketErr,
                0,
                b"disk full".to_vec(),
            )))
            .await
            .unwrap();
        let err = r.task.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");

        let mut r = start(dir.path(), SendOptions::default(), 16);
        listing(&mut r).await;
        drop(r.to_sender);
        assert!(matches!(
            r.task.await.unwrap(),
            Err(FileSyncError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn walk_error_becomes_err_packet_naming_the_path() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff"));
        write(&bad, b"x", 0o644);
        let mut r = start(dir.path(), SendOptions::default(), 16);
        let p = r.from_sender.recv().await.unwrap().unwrap();
        assert_eq!(packet_type(&p), Some(PacketType::PacketErr));
        let text = String::from_utf8_lossy(&p.data).into_owned();
        assert!(text.contains("bad"), "{text}");
        assert!(matches!(
            r.task.await.unwrap(),
            Err(FileSyncError::NonUtf8 { .. })
        ));
    }

    #[tokio::test]
    async fn bad_pattern_fails_before_listing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SendOptions {
            exclude_patterns: vec!["[oops".into()],
            ..Default::default()
        };
        let mut r = start(dir.path(), opts, 16);
        assert!(matches!(
            r.task.await.unwrap(),
            Err(FileSyncError::Pattern(_))
        ));
        assert!(r.from_sender.recv().await.is_none());
    }
}
