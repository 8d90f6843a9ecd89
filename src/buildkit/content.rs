//! The session's content store (`containerd.services.content.v1.Content`):
//! the daemon reads and writes local cache directories through it, as
//! BuildKit's Go client serves them (`session/content/attachable.go`), each
//! directory named by the `buildkit-attachable-store-id` metadata
//! (`local:DIR` for `--cache-from`/`--cache-to type=local`, `oci:ID` for a
//! `--build-context NAME=oci-layout://DIR`, as buildx names them).
//!
//! The one idea: a directory is laid out as containerd's local store lays
//! it out (`blobs/ALG/HEX`), and a blob only appears there once its bytes
//! are all in and match its digest: a write goes to a private ingest file,
//! hashed as it arrives, and is renamed into place on commit. The server
//! side of a write follows containerd's `contentserver` step for step, so
//! containerd's proxy writer in the daemon sees the answers it expects.
//!
//! An OCI layout is served read-only, the other way round: a blob is
//! hashed in full the first time it is asked for, and only then answered
//! (`Info`, `Read`); the file is kept open and each chunk is sent only if
//! the file is still the one that was hashed (same inode, size, mtime and
//! ctime, checked after the chunk is read). Writes, deletes and updates
//! are refused.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::proto::containerd::services::content::v1::{
    content_server::{Content, ContentServer},
    AbortRequest, DeleteContentRequest, Info, InfoRequest, InfoResponse, ListContentRequest,
    ListContentResponse, ListStatusesRequest, ListStatusesResponse, ReadContentRequest,
    ReadContentResponse, Status as IngestStatus, StatusRequest, StatusResponse, UpdateRequest,
    UpdateResponse, WriteAction, WriteContentRequest, WriteContentResponse,
};

/// The metadata key naming the store (BuildKit `session/content`
/// `GRPCHeaderID`).
pub const STORE_ID_HEADER: &str = "buildkit-attachable-store-id";

/// How many bytes one `Read` response carries (containerd's content server
/// reads in 1 MiB buffers).
const READ_CHUNK: usize = 1 << 20;

/// One write in progress (containerd's "ingest"), by store and ref.
struct Ingest {
    file: std::fs::File,
    path: PathBuf,
    offset: i64,
    total: i64,
    expected: String,
    hasher: Sha256,
    started: SystemTime,
    updated: SystemTime,
    /// A Write stream holds the ref: another one is refused until it ends.
    busy: bool,
}

/// A lock's guard, also when a holder panicked: what the maps and ingests
/// hold stays consistent between statements.
trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Clears an ingest's `busy` when the Write stream that holds it ends.
struct Held(Arc<Mutex<Ingest>>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.locked().busy = false;
    }
}

/// Writes in progress, by (store id, ref).
type Ingests = Arc<Mutex<HashMap<(String, String), Arc<Mutex<Ingest>>>>>;

/// What identifies a file's contents as they were when hashed: a file
/// written in place, truncated or replaced changes one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// A blob of a read-only store whose bytes matched its digest.
struct Verified {
    file: Arc<std::fs::File>,
    path: PathBuf,
    stamp: Stamp,
}

impl Verified {
    /// The file is still the one that was hashed.
    fn check(&self, digest: &str) -> Result<(), Status> {
        let m = self.file.metadata().map_err(|e| io_err(&self.path, e))?;
        if Stamp::of(&m) != self.stamp {
            return Err(Status::data_loss(format!(
                "content {digest}: {} changed after it was verified",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// One served store: a cache directory (read and written), or an OCI
/// layout (read-only, every blob verified before it is served).
#[derive(Clone)]
enum Store {
    Cache(PathBuf),
    ReadOnly {
        dir: PathBuf,
        verified: Arc<Mutex<HashMap<String, Arc<Verified>>>>,
    },
}

impl Store {
    fn dir(&self) -> &Path {
        match self {
            Store::Cache(d) | Store::ReadOnly { dir: d, .. } => d,
        }
    }
}

/// The content stores the session serves, by id.
#[derive(Clone)]
pub struct ContentService {
    stores: Arc<HashMap<String, Store>>,
    ingests: Ingests,
}

impl ContentService {
    /// Serve the cache directories `stores` (id, directory) and the OCI
    /// layouts `read_only` (id, directory).
    pub fn new(stores: Vec<(String, PathBuf)>, read_only: Vec<(String, PathBuf)>) -> Self {
        let mut all: HashMap<String, Store> = stores
            .into_iter()
            .map(|(id, d)| (id, Store::Cache(d)))
            .collect();
        for (id, dir) in read_only {
            all.insert(
                id,
                Store::ReadOnly {
                    dir,
                    verified: Arc::default(),
                },
            );
        }
        ContentService {
            stores: Arc::new(all),
            ingests: Arc::default(),
        }
    }

    pub fn into_server(self) -> ContentServer<ContentService> {
        ContentServer::new(self)
    }

    fn store_of<T>(&self, req: &Request<T>) -> Result<(String, Store), Status> {
        let id = req
            .metadata()
            .get(STORE_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Status::invalid_argument(format!("request lacks metadata {STORE_ID_HEADER:?}"))
            })?;
        let store = self
            .stores
            .get(id)
            .ok_or_else(|| Status::not_found(format!("unknown store {id}")))?;
        Ok((id.to_string(), store.clone()))
    }

    /// A store that can be written (a cache directory).
    fn store<T>(&self, req: &Request<T>) -> Result<(String, PathBuf), Status> {
        match self.store_of(req)? {
            (id, Store::Cache(dir)) => Ok((id, dir)),
            (id, Store::ReadOnly { .. }) => Err(read_only(&id)),
        }
    }
}

fn read_only(id: &str) -> Status {
    Status::permission_denied(format!("store {id} is read-only"))
}

/// The verified blob `digest` of a read-only store: hashed in full the
/// first time, on a blocking thread; a mismatch is DataLoss.
async fn verified(
    dir: &Path,
    cache: &Arc<Mutex<HashMap<String, Arc<Verified>>>>,
    digest: &str,
) -> Result<Arc<Verified>, Status> {
    let known = cache.locked().get(digest).cloned();
    if let Some(v) = known {
        v.check(digest)?;
        return Ok(v);
    }
    let want = crate::digest::Digest::parse(digest)
        .ok_or_else(|| Status::invalid_argument(format!("invalid digest {digest:?}")))?;
    let path = blob(dir, digest)?;
    let owned = digest.to_string();
    let v = tokio::task::spawn_blocking(move || verify(path, &want, &owned))
        .await
        .map_err(|e| Status::internal(format!("verifying {digest}: {e}")))??;
    let v = Arc::new(v);
    cache.locked().insert(digest.to_string(), v.clone());
    Ok(v)
}

/// Hash the file at `path` through one open descriptor; it must match
/// `want` and must not have changed while it was read.
fn verify(path: PathBuf, want: &crate::digest::Digest, digest: &str) -> Result<Verified, Status> {
    // A pipe or device in the layout would block or never end.
    regular(digest, &path)?;
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(digest)),
        Err(e) => return Err(io_err(&path, e)),
    };
    let before = Stamp::of(&file.metadata().map_err(|e| io_err(&path, e))?);
    let mut hasher = crate::digest::Hasher::new(want.algorithm());
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(|e| io_err(&path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let after = Stamp::of(&file.metadata().map_err(|e| io_err(&path, e))?);
    if before != after {
        return Err(Status::data_loss(format!(
            "content {digest}: {} changed while it was verified",
            path.display()
        )));
    }
    let got = hasher.finish();
    if &got != want {
        return Err(Status::data_loss(format!(
            "content {digest}: {} does not match its digest (its bytes hash to {got})",
            path.display()
        )));
    }
    Ok(Verified {
        file: Arc::new(file),
        path,
        stamp: after,
    })
}

impl super::session::Advertised for ContentServer<ContentService> {
    const METHODS: &'static [&'static str] = &[
        "Info",
        "Update",
        "List",
        "Delete",
        "Read",
        "Status",
        "ListStatuses",
        "Write",
        "Abort",
    ];
}

/// `DIR/blobs/ALG/HEX` for a digest, as containerd's local store keeps it;
/// `None` for anything that is not `ALG:HEX` (no path tricks).
pub fn blob_path(dir: &Path, digest: &str) -> Option<PathBuf> {
    let (alg, hex) = digest.split_once(':')?;
    if alg.is_empty()
        || hex.is_empty()
        || !alg.bytes().all(|b| b.is_ascii_alphanumeric())
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    Some(dir.join("blobs").join(alg).join(hex))
}

fn blob(dir: &Path, digest: &str) -> Result<PathBuf, Status> {
    blob_path(dir, digest)
        .ok_or_else(|| Status::invalid_argument(format!("invalid digest {digest:?}")))
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

/// A blob must be a regular file (a pipe or device would block the read or
/// never end).
fn regular(digest: &str, path: &Path) -> Result<(), Status> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(Status::failed_precondition(format!(
            "content {digest}: {} is not a regular file",
            path.display()
        ))),
        _ => Ok(()),
    }
}

fn info_of(digest: &str, path: &Path) -> Result<Info, Status> {
    regular(digest, path)?;
    match std::fs::metadata(path) {
        Ok(m) => Ok(info_at(
            digest.to_string(),
            m.len(),
            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found(digest)),
        Err(e) => Err(io_err(path, e)),
    }
}

/// A blob's `Info`: created and updated when it was last modified, no
/// labels (containerd's local store without a label store).
fn info_at(digest: String, size: u64, t: SystemTime) -> Info {
    Info {
        digest,
        size: size as i64,
        created_at: Some(timestamp(t)),
        updated_at: Some(timestamp(t)),
        labels: Default::default(),
    }
}

fn not_found(digest: &str) -> Status {
    Status::not_found(format!("content {digest}: not found"))
}

fn io_err(path: &Path, e: std::io::Error) -> Status {
    Status::internal(format!("{}: {e}", path.display()))
}

impl Ingest {
    fn status(&self, r#ref: &str) -> IngestStatus {
        IngestStatus {
            started_at: Some(timestamp(self.started)),
            updated_at: Some(timestamp(self.updated)),
            r#ref: r#ref.to_string(),
            offset: self.offset,
            total: self.total,
            expected: self.expected.clone(),
        }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }

    fn truncate(&mut self) -> Result<(), Status> {
        self.file.set_len(0).map_err(|e| io_err(&self.path, e))?;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_err(&self.path, e))?;
        self.offset = 0;
        self.hasher = Sha256::new();
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Status> {
        self.file
            .write_all(data)
            .map_err(|e| Status::data_loss(format!("{}: {e}", self.path.display())))?;
        self.hasher.update(data);
        self.offset += data.len() as i64;
        self.updated = SystemTime::now();
        Ok(())
    }

    /// containerd's local writer's `Commit`: the size and digest checked,
    /// the file renamed to its blob path (an existing blob: AlreadyExists).
    fn commit(&mut self, dir: &Path, size: i64, expected: &str) -> Result<(), Status> {
        self.file.flush().map_err(|e| io_err(&self.path, e))?;
        if size > 0 && size != self.offset {
            return Err(Status::failed_precondition(format!(
                "unexpected commit size {}, expected {size}",
                self.offset
            )));
        }
        let got = self.digest();
        if !expected.is_empty() && expected != got {
            return Err(Status::failed_precondition(format!(
                "unexpected commit digest {got}, expected {expected}"
            )));
        }
        let target = blob(dir, &got)?;
        if target.exists() {
            let _ = std::fs::remove_file(&self.path);
            return Err(Status::already_exists(format!(
                "content {got}: already exists"
            )));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        std::fs::rename(&self.path, &target).map_err(|e| io_err(&target, e))
    }
}

#[tonic::async_trait]
impl Content for ContentService {
    async fn info(&self, request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let (_, store) = self.store_of(&request)?;
        let digest = request.into_inner().digest;
        tracing::debug!(%digest, "content info");
        if let Store::ReadOnly { dir, verified: v } = &store {
            let v = verified(dir, v, &digest).await?;
            let t = SystemTime::UNIX_EPOCH
                + std::time::Duration::new(
                    v.stamp.mtime.0.max(0) as u64,
                    v.stamp.mtime.1.clamp(0, 999_999_999) as u32,
                );
            let info = info_at(digest, v.stamp.len, t);
            return Ok(Response::new(InfoResponse { info: Some(info) }));
        }
        let info = info_of(&digest, &blob(store.dir(), &digest)?)?;
        Ok(Response::new(InfoResponse { info: Some(info) }))
    }

    async fn update(
        &self,
        _request: Request<UpdateRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        // containerd's local store without a label store, as BuildKit's
        // client opens it.
        Err(Status::failed_precondition(
            "update not supported on immutable content store",
        ))
    }

    type ListStream = ReceiverStream<Result<ListContentResponse, Status>>;

    async fn list(
        &self,
        request: Request<ListContentRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let (_, store) = self.store_of(&request)?;
        let dir = store.dir();
        let mut infos = Vec::new();
        let blobs = dir.join("blobs");
        for alg in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
            for b in std::fs::read_dir(alg.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let digest = format!(
                    "{}:{}",
                    alg.file_name().to_string_lossy(),
                    b.file_name().to_string_lossy()
                );
                if let Ok(i) = info_of(&digest, &b.path()) {
                    infos.push(i);
                }
            }
        }
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.send(Ok(ListContentResponse { info: infos })).await;
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn delete(&self, request: Request<DeleteContentRequest>) -> Result<Response<()>, Status> {
        let (_, dir) = self.store(&request)?;
        let digest = request.into_inner().digest;
        let path = blob(&dir, &digest)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(Response::new(())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found(&digest)),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    type ReadStream = ReceiverStream<Result<ReadContentResponse, Status>>;

    async fn read(
        &self,
        request: Request<ReadContentRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let (_, store) = self.store_of(&request)?;
        let req = request.into_inner();
        if let Store::ReadOnly { dir, verified: v } = &store {
            let v = verified(dir, v, &req.digest).await?;
            let (file, path, size) = (v.file.clone(), v.path.clone(), v.stamp.len as i64);
            let digest = req.digest.clone();
            return stream_range(file, path, size, &req, move || v.check(&digest));
        }
        let path = blob(store.dir(), &req.digest)?;
        let size = info_of(&req.digest, &path)?.size;
        let file = std::fs::File::open(&path).map_err(|e| io_err(&path, e))?;
        stream_range(Arc::new(file), path, size, &req, || Ok(()))
    }

    async fn status(
        &self,
        request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let (id, _) = self.store(&request)?;
        let r = request.into_inner().r#ref;
        let ingest = self
            .ingests
            .locked()
            .get(&(id, r.clone()))
            .cloned()
            .ok_or_else(|| Status::not_found(format!("ref {r}: not found")))?;
        let status = ingest.locked().status(&r);
        Ok(Response::new(StatusResponse {
            status: Some(status),
        }))
    }

    async fn list_statuses(
        &self,
        request: Request<ListStatusesRequest>,
    ) -> Result<Response<ListStatusesResponse>, Status> {
        let (id, _) = self.store(&request)?;
        let statuses = self
            .ingests
            .locked()
            .iter()
            .filter(|((s, _), _)| *s == id)
            .map(|((_, r), i)| i.locked().status(r))
            .collect();
        Ok(Response::new(ListStatusesResponse { statuses }))
    }

    type WriteStream = ReceiverStream<Result<WriteContentResponse, Status>>;

    async fn write(
        &self,
        request: Request<Streaming<WriteContentRequest>>,
    ) -> Result<Response<Self::WriteStream>, Status> {
        let (id, dir) = self.store(&request)?;
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("first message must have a reference"))?;
        if first.r#ref.is_empty() {
            return Err(Status::invalid_argument(
                "first message must have a reference",
            ));
        }
        let r = first.r#ref.clone();
        // containerd's local store refuses a writer for content it has.
        if !first.expected.is_empty() && blob(&dir, &first.expected)?.exists() {
            return Err(Status::already_exists(format!(
                "content {}: already exists",
                first.expected
            )));
        }
        let ingest = self.open_ingest(&id, &dir, &r, first.total, &first.expected)?;
        let (tx, rx) = mpsc::channel(4);
        let ingests = self.ingests.clone();
        tokio::spawn(async move {
            let _held = Held(ingest.clone());
            let mut req = first;
            let mut total = req.total;
            let mut expected = req.expected.clone();
            loop {
                let answered = {
                    let mut ing = ingest.locked();
                    step(&mut ing, &dir, &req, &mut total, &mut expected)
                };
                let done = match &answered {
                    Ok((_, committed)) => *committed,
                    Err(s) => s.code() == tonic::Code::AlreadyExists,
                };
                if done {
                    ingests.locked().remove(&(id.clone(), r.clone()));
                }
                match answered {
                    Ok((msg, _)) => {
                        if tx.send(Ok(msg)).await.is_err() {
                            return;
                        }
                    }
                    Err(s) => {
                        let _ = tx.send(Err(s)).await;
                        return;
                    }
                }
                req = match stream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(s) => {
                        let _ = tx.send(Err(s)).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn abort(&self, request: Request<AbortRequest>) -> Result<Response<()>, Status> {
        let (id, _) = self.store(&request)?;
        let r = request.into_inner().r#ref;
        let removed = self.ingests.locked().remove(&(id, r.clone()));
        match removed {
            Some(i) => {
                let path = i.locked().path.clone();
                let _ = std::fs::remove_file(path);
                Ok(Response::new(()))
            }
            None => Err(Status::not_found(format!("ref {r}: not found"))),
        }
    }
}

/// The range `req` asks for of the blob `file` at `path`, `size` bytes
/// long, streamed from a blocking thread: each chunk read at its offset
/// and sent only once `unchanged` says the file is still the one it was.
fn stream_range(
    file: Arc<std::fs::File>,
    path: PathBuf,
    size: i64,
    req: &ReadContentRequest,
    unchanged: impl Fn() -> Result<(), Status> + Send + 'static,
) -> Result<Response<ReceiverStream<Result<ReadContentResponse, Status>>>, Status> {
    let offset = req.offset.max(0);
    if offset > size {
        return Err(Status::out_of_range(format!(
            "read past object length {size} bytes"
        )));
    }
    let len = if req.size <= 0 || offset + req.size > size {
        size - offset
    } else {
        req.size
    };
    let digest = req.digest.clone();
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut at = offset;
        let mut left = len as usize;
        let mut buf = vec![0u8; READ_CHUNK.min(left.max(1))];
        while left > 0 {
            let want = left.min(buf.len());
            let read = match file.read_at(&mut buf[..want], at as u64) {
                Ok(0) => Err(Status::data_loss(format!(
                    "content {digest}: {} is shorter than its size",
                    path.display()
                ))),
                Ok(n) => unchanged().map(|()| n),
                Err(e) => Err(io_err(&path, e)),
            };
            let n = match read {
                Ok(n) => n,
                Err(s) => {
                    let _ = tx.blocking_send(Err(s));
                    return;
                }
            };
            let msg = ReadContentResponse {
                offset: at,
                data: buf[..n].to_vec(),
            };
            if tx.blocking_send(Ok(msg)).is_err() {
                return;
            }
            at += n as i64;
            left -= n;
        }
    });
    Ok(Response::new(ReceiverStream::new(rx)))
}

impl ContentService {
    /// The ingest for `r`: the one in progress (a resumed write), else a new
    /// file under `DIR/ingest/`.
    fn open_ingest(
        &self,
        id: &str,
        dir: &Path,
        r: &str,
        total: i64,
        expected: &str,
    ) -> Result<Arc<Mutex<Ingest>>, Status> {
        let mut ingests = self.ingests.locked();
        if let Some(i) = ingests.get(&(id.to_string(), r.to_string())) {
            // containerd's local store locks a ref for one writer at a time
            // (`content/local/store.go`, `tryLock`: "ref ... locked",
            // errdefs.ErrUnavailable), and BuildKit's `content.OpenWriter`
            // retries until it is free: two platforms exporting the same
            // layer to a local cache once truncated each other's ingest.
            let mut ing = i.locked();
            if ing.busy {
                return Err(Status::unavailable(format!("ref {r} locked")));
            }
            ing.busy = true;
            return Ok(i.clone());
        }
        let ingest_dir = dir.join("ingest");
        std::fs::create_dir_all(&ingest_dir).map_err(|e| io_err(&ingest_dir, e))?;
        let path = ingest_dir.join(hex::encode(Sha256::digest(r.as_bytes())));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let now = SystemTime::now();
        let ingest = Arc::new(Mutex::new(Ingest {
            file,
            path,
            offset: 0,
            total,
            expected: expected.to_string(),
            hasher: Sha256::new(),
            started: now,
            updated: now,
            busy: true,
        }));
        ingests.insert((id.to_string(), r.to_string()), ingest.clone());
        Ok(ingest)
    }
}

/// One message of a write, as containerd's content server answers it;
/// says whether the write was committed.
fn step(
    ing: &mut Ingest,
    dir: &Path,
    req: &WriteContentRequest,
    total: &mut i64,
    expected: &mut String,
) -> Result<(WriteContentResponse, bool), Status> {
    let mut msg = WriteContentResponse {
        action: req.action,
        offset: ing.offset,
        ..Default::default()
    };
    if !req.expected.is_empty() {
        *expected = req.expected.clone();
        ing.expected = req.expected.clone();
        if blob(dir, &req.expected)?.exists() {
            let _ = std::fs::remove_file(&ing.path);
            return Err(Status::already_exists(format!(
                "blob with expected digest {} exists",
                req.expected
            )));
        }
    }
    if req.total > 0 {
        *total = req.total;
        ing.total = req.total;
    }
    tracing::debug!(action = req.action, r#ref = %req.r#ref, offset = req.offset, len = req.data.len(), total = req.total, expected = %req.expected, "content write");
    let action = WriteAction::try_from(req.action)
        .map_err(|_| Status::invalid_argument(format!("unknown write action {}", req.action)))?;
    let mut committed = false;
    match action {
        WriteAction::Stat => {
            msg.digest = ing.digest();
            msg.started_at = Some(timestamp(ing.started));
            msg.updated_at = Some(timestamp(ing.updated));
            msg.total = *total;
        }
        WriteAction::Write | WriteAction::Commit => {
            if req.offset > 0 && req.offset != ing.offset {
                return Err(Status::out_of_range(format!(
                    "write @{} must occur at current offset {}",
                    req.offset, ing.offset
                )));
            }
            if req.offset == 0 && ing.offset > 0 {
                ing.truncate()?;
                msg.offset = 0;
            }
            if !req.data.is_empty() {
                ing.write(&req.data)?;
                msg.offset += req.data.len() as i64;
            }
            if action == WriteAction::Commit {
                ing.commit(dir, *total, expected)?;
                committed = true;
            }
            msg.digest = ing.digest();
        }
    }
    Ok((msg, committed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<T>(m: T) -> Request<T> {
        let mut r = Request::new(m);
        r.metadata_mut()
            .insert(STORE_ID_HEADER, "local:/x".parse().unwrap());
        r
    }

    fn ingest(dir: &Path) -> Ingest {
        let path = dir.join("ing");
        Ingest {
            file: std::fs::File::create(&path).unwrap(),
            path,
            offset: 0,
            total: 0,
            expected: String::new(),
            hasher: Sha256::new(),
            started: SystemTime::now(),
            updated: SystemTime::now(),
            busy: false,
        }
    }

    /// One Write stream's state as `write` keeps it, fed a message at a
    /// time.
    struct Writer<'d> {
        ing: Ingest,
        dir: &'d Path,
        total: i64,
        expected: String,
    }

    impl<'d> Writer<'d> {
        fn new(dir: &'d Path, total: i64, expected: &str) -> Writer<'d> {
            Writer {
                ing: ingest(dir),
                dir,
                total,
                expected: expected.to_string(),
            }
        }

        fn send(
            &mut self,
            action: WriteAction,
            offset: i64,
            data: &[u8],
        ) -> Result<(WriteContentResponse, bool), Status> {
            let req = WriteContentRequest {
                action: action as i32,
                r#ref: "r".into(),
                offset,
                data: data.to_vec(),
                ..Default::default()
            };
            step(
                &mut self.ing,
                self.dir,
                &req,
                &mut self.total,
                &mut self.expected,
            )
        }
    }

    /// `data` stored as a blob of `dir`: its digest and path.
    fn put(dir: &Path, data: &[u8]) -> (String, PathBuf) {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        let path = blob_path(dir, &digest).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        (digest, path)
    }

    #[test]
    fn a_write_commits_under_its_digest_only_when_it_matches() {
        let d = tempfile::tempdir().unwrap();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(b"hello")));
        let mut w = Writer::new(d.path(), 5, &digest);
        let (m, _) = w.send(WriteAction::Stat, 0, b"").unwrap();
        assert_eq!((m.offset, m.total), (0, 5));
        let (m, c) = w.send(WriteAction::Write, 0, b"hel").unwrap();
        assert_eq!((m.offset, c), (3, false));
        let e = w.send(WriteAction::Write, 1, b"x").unwrap_err();
        assert_eq!(e.code(), tonic::Code::OutOfRange);
        let (m, c) = w.send(WriteAction::Commit, 3, b"lo").unwrap();
        assert!(c);
        assert_eq!(m.digest, digest);
        let blob = blob_path(d.path(), &digest).unwrap();
        assert_eq!(std::fs::read(blob).unwrap(), b"hello");

        // Wrong bytes for the expected digest: nothing lands.
        let other = format!("sha256:{}", "0".repeat(64));
        let mut w = Writer::new(d.path(), 0, &other);
        let e = w.send(WriteAction::Commit, 0, b"nope").unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(!blob_path(d.path(), &other).unwrap().exists());
    }

    #[test]
    fn a_write_from_offset_zero_starts_over() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Writer::new(d.path(), 0, "");
        w.send(WriteAction::Write, 0, b"garbage").unwrap();
        let (m, _) = w.send(WriteAction::Commit, 0, b"ok").unwrap();
        assert_eq!(m.offset, 2);
        assert_eq!(
            m.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(b"ok")))
        );
    }

    #[test]
    fn blob_paths_refuse_what_is_not_a_digest() {
        assert!(blob_path(Path::new("/c"), "sha256:../../etc").is_none());
        assert!(blob_path(Path::new("/c"), "nodigest").is_none());
        assert_eq!(
            blob_path(Path::new("/c"), "sha256:ab").unwrap(),
            Path::new("/c/blobs/sha256/ab")
        );
    }

    /// CI finding: two platforms exporting the same layer blob to a local
    /// cache wrote one ingest at once, and the second's first write
    /// truncated the first's ("write @116 must occur at current offset
    /// 0"). A ref is held by one Write stream at a time, as containerd's
    /// local store locks it; BuildKit retries on Unavailable.
    #[test]
    fn a_ref_is_written_by_one_stream_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let svc = ContentService::new(vec![("local:/x".into(), d.path().into())], vec![]);
        let first = svc
            .open_ingest("local:/x", d.path(), "layer-sha256:e9", 0, "")
            .unwrap();
        let held = Held(first.clone());
        let Err(e) = svc.open_ingest("local:/x", d.path(), "layer-sha256:e9", 0, "") else {
            panic!("a held ref was opened again");
        };
        assert_eq!(e.code(), tonic::Code::Unavailable);
        assert!(e.message().contains("locked"), "{e}");
        // Another ref is free; the same one again once the stream ended
        // (a resumed write gets the ingest as it was).
        svc.open_ingest("local:/x", d.path(), "layer-sha256:f0", 0, "")
            .unwrap();
        first.lock().unwrap().offset = 116;
        drop(held);
        let again = svc
            .open_ingest("local:/x", d.path(), "layer-sha256:e9", 0, "")
            .unwrap();
        assert_eq!(again.lock().unwrap().offset, 116);
    }

    #[tokio::test]
    async fn info_and_read_need_a_known_store_and_a_real_digest() {
        let d = tempfile::tempdir().unwrap();
        let svc = ContentService::new(vec![("local:/x".into(), d.path().into())], vec![]);
        let named = |digest: String| req(InfoRequest { digest });
        for (r, code) in [
            (
                Request::new(InfoRequest {
                    digest: "sha256:ab".into(),
                }),
                tonic::Code::InvalidArgument,
            ),
            (named("sha256:../x".into()), tonic::Code::InvalidArgument),
            (
                named(format!("sha256:{}", "a".repeat(64))),
                tonic::Code::NotFound,
            ),
        ] {
            let e = svc.info(r).await.unwrap_err();
            assert_eq!(e.code(), code, "{e}");
        }

        let (digest, _) = put(d.path(), b"0123456789");
        let i = svc
            .info(req(InfoRequest {
                digest: digest.clone(),
            }))
            .await
            .unwrap();
        assert_eq!(i.into_inner().info.unwrap().size, 10);
        let mut s = svc
            .read(req(ReadContentRequest {
                digest,
                offset: 4,
                size: 3,
            }))
            .await
            .unwrap()
            .into_inner();
        use tokio_stream::StreamExt;
        let m = s.next().await.unwrap().unwrap();
        assert_eq!((m.offset, m.data.as_slice()), (4, &b"456"[..]));
        assert!(s.next().await.is_none());
    }

    fn oci_req<T>(m: T) -> Request<T> {
        let mut r = Request::new(m);
        r.metadata_mut()
            .insert(STORE_ID_HEADER, "oci:l".parse().unwrap());
        r
    }

    async fn read_all(svc: &ContentService, digest: &str) -> Result<Vec<u8>, Status> {
        use tokio_stream::StreamExt;
        let mut s = svc
            .read(oci_req(ReadContentRequest {
                digest: digest.into(),
                offset: 0,
                size: 0,
            }))
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(m) = s.next().await {
            out.extend(m?.data);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_layout_is_read_only_and_serves_only_verified_blobs() {
        let d = tempfile::tempdir().unwrap();
        let (good, _) = put(d.path(), b"layer bytes");
        let (bad, bad_path) = put(d.path(), b"original");
        std::fs::write(&bad_path, b"tampered").unwrap();
        let svc = ContentService::new(vec![], vec![("oci:l".into(), d.path().into())]);

        let i = svc
            .info(oci_req(InfoRequest {
                digest: good.clone(),
            }))
            .await
            .unwrap()
            .into_inner()
            .info
            .unwrap();
        assert_eq!((i.digest.as_str(), i.size), (good.as_str(), 11));
        assert_eq!(read_all(&svc, &good).await.unwrap(), b"layer bytes");
        // A range of a verified blob.
        use tokio_stream::StreamExt;
        let m = svc
            .read(oci_req(ReadContentRequest {
                digest: good.clone(),
                offset: 6,
                size: 3,
            }))
            .await
            .unwrap()
            .into_inner()
            .next()
            .await
            .unwrap()
            .unwrap();
        assert_eq!((m.offset, m.data.as_slice()), (6, &b"byt"[..]));

        // A tampered blob is neither described nor read.
        let e = svc
            .info(oci_req(InfoRequest {
                digest: bad.clone(),
            }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::DataLoss, "{e}");
        let e = read_all(&svc, &bad).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::DataLoss, "{e}");
        assert!(e.message().contains("does not match its digest"), "{e}");
        let e = read_all(&svc, &format!("sha256:{}", "a".repeat(64)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e}");

        // A blob that is a device (a symlink to /dev/zero) or a pipe is
        // refused at once, never read.
        let zero = format!("sha256:{}", "b".repeat(64));
        let zero_path = blob_path(d.path(), &zero).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &zero_path).unwrap();
        let e = read_all(&svc, &zero).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e}");
        assert!(e.message().contains("not a regular file"), "{e}");

        // Changed after it was verified: refused from then on.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let good_path = blob_path(d.path(), &good).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&good_path)
            .unwrap()
            .write_all(b"LAYER")
            .unwrap();
        let e = read_all(&svc, &good).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::DataLoss, "{e}");

        // Nothing is written or deleted.
        let e = svc
            .delete(oci_req(DeleteContentRequest {
                digest: good.clone(),
            }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(good_path.exists());
        let e = svc
            .abort(oci_req(AbortRequest { r#ref: "r".into() }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let e = svc
            .list_statuses(oci_req(ListStatusesRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
    }
}
