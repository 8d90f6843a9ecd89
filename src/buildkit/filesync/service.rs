//! The gRPC faces of the transfers: `FileSyncService` (the daemon pulls a
//! local directory) and `FileSendService` (the daemon pushes an export), to
//! be added to the session's server.
//!
//! The one idea: `FileSend.DiffCopy` carries BytesMessages for tar-shaped
//! exporters but fsutil Packets for the local exporter, under the same
//! method path, so the service is hand-written and picks the codec from the
//! target it was configured with; everything else is the generated shape.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::{Body, BoxFuture, Context, Poll, StdError};
use tonic::metadata::{KeyAndValueRef, MetadataMap};
use tonic::{Request, Response, Status, Streaming};

use super::receive::{receive_local_staged, receive_tar_staged, TarDest};
use super::send::{send_dir, SendOptions};
use crate::buildkit::proto::fsutil::types::Packet;
use crate::buildkit::proto::moby::filesync::v1::file_sync_server::{FileSync, FileSyncServer};
use crate::buildkit::proto::moby::filesync::v1::BytesMessage;
use crate::buildkit::session::Advertised;
use crate::goparse::{parse_go_bool, query_unescape};

// Metadata keys on the DiffCopy calls (buildkit `session/filesync/filesync.go`).
const KEY_DIR_NAME: &str = "dir-name";
const KEY_INCLUDE_PATTERNS: &str = "include-patterns";
const KEY_EXCLUDE_PATTERNS: &str = "exclude-patterns";
const KEY_FOLLOW_PATHS: &str = "followpaths";
const KEY_EXPORTER_META_PREFIX: &str = "exporter-md-";
/// Suffix of the flag key telling that a key's values are URL-query-escaped
/// (buildkit `filesync.go` encodeOpts, for non-ASCII values).
const ENCODED_SUFFIX: &str = "-encoded";

/// Outbound channel depth of one transfer (packets, each at most 32 KiB).
const CHANNEL_DEPTH: usize = 64;

/// Serves `FileSync.DiffCopy`: the daemon names a directory with `dir-name`
/// and archgate sends it.
#[derive(Debug, Clone)]
pub struct FileSyncService {
    dirs: Arc<HashMap<String, PathBuf>>,
}

impl FileSyncService {
    /// `dirs` maps the names the build uses (`context`, `dockerfile`, named
    /// local contexts) to local directories.
    pub fn new(dirs: HashMap<String, PathBuf>) -> Self {
        FileSyncService {
            dirs: Arc::new(dirs),
        }
    }

    /// The generated server wrapping this service, ready to add to a router.
    pub fn into_server(self) -> FileSyncServer<Self> {
        FileSyncServer::new(self)
    }
}

impl Advertised for FileSyncServer<FileSyncService> {
    const METHODS: &'static [&'static str] = &["DiffCopy", "TarStream"];
}

/// All values of `key`, decoded the way buildkit's `decodeOpts` does: when
/// `<key>-encoded` is a Go-true boolean every value is URL-query-unescaped
/// (an undecodable value becomes empty, as upstream).
pub(crate) fn metadata_values(md: &MetadataMap, key: &str) -> Vec<String> {
    let raw: Vec<String> = md
        .get_all(key)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let flag = format!("{key}{ENCODED_SUFFIX}");
    let encoded = md
        .get(flag.as_str())
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| parse_go_bool(v) == Some(true));
    if !encoded {
        return raw;
    }
    raw.iter()
        .map(|v| query_unescape(v).unwrap_or_default())
        .collect()
}

#[tonic::async_trait]
impl FileSync for FileSyncService {
    type DiffCopyStream = ReceiverStream<Result<Packet, Status>>;
    type TarStreamStream = ReceiverStream<Result<Packet, Status>>;

    async fn diff_copy(
        &self,
        request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::DiffCopyStream>, Status> {
        let md = request.metadata();
        let dir_name = metadata_values(md, KEY_DIR_NAME)
            .into_iter()
            .next()
            .unwrap_or_default();
        let Some(root) = self.dirs.get(&dir_name).cloned() else {
            return Err(Status::not_found(format!(
                "no access allowed to dir {dir_name:?}"
            )));
        };
        let opts = SendOptions {
            include_patterns: metadata_values(md, KEY_INCLUDE_PATTERNS),
            exclude_patterns: metadata_values(md, KEY_EXCLUDE_PATTERNS),
            follow_paths: metadata_values(md, KEY_FOLLOW_PATHS),
        };
        let incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        tokio::spawn(async move {
            if let Err(err) = send_dir(root.clone(), opts, incoming, tx.clone()).await {
                tracing::debug!(dir = %dir_name, root = %root.display(), error = %err, "filesync transfer failed");
                let _ = tx.send(Err(err.to_status())).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn tar_stream(
        &self,
        _request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::TarStreamStream>, Status> {
        Err(Status::unimplemented(
            "filesync tarstream is not supported; use diffcopy",
        ))
    }
}

/// Where an export the daemon pushes through `FileSend.DiffCopy` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// `tar`, `oci`, `docker` exporters: one byte stream.
    Tar { dest: TarDest },
    /// `local` exporter: a file tree (fsutil packets).
    Local { dest_dir: PathBuf },
}

#[derive(Debug, Default)]
struct ExportState {
    metadata: Mutex<BTreeMap<String, String>>,
    error: Mutex<Option<String>>,
    calls: Mutex<u32>,
    /// Received output waiting for the build to succeed, in arrival order.
    /// A daemon may send one export in several calls (BuildKit v0.13's
    /// `local` exporter sends each platform's tree in its own call, at the
    /// same time), so nothing is moved into place until [`ExportHandle::commit`].
    staged: Mutex<Vec<Staged>>,
    /// Transfers still running (their output is not staged yet).
    active: std::sync::atomic::AtomicUsize,
    settled: tokio::sync::Notify,
}

/// Marks one transfer as running until dropped.
struct Active(Arc<ExportState>);

impl Active {
    fn new(state: &Arc<ExportState>) -> Self {
        state
            .active
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Active(state.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.settled.notify_waiters();
    }
}

/// How long a commit waits for transfers the daemon already finished
/// sending but archgate has not finished writing.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
enum Staged {
    Dir {
        staging: PathBuf,
        dest: PathBuf,
        dirs: Vec<super::receive::DirMeta>,
    },
    File {
        staging: PathBuf,
        dest: PathBuf,
    },
}

impl Staged {
    fn discard(&self) {
        match self {
            Staged::Dir { staging, .. } => {
                let _ = std::fs::remove_dir_all(staging);
            }
            Staged::File { staging, .. } => {
                let _ = std::fs::remove_file(staging);
            }
        }
    }
}

impl Drop for ExportState {
    /// Output never committed (the build failed, or was interrupted) is
    /// removed: nothing half-exported.
    fn drop(&mut self) {
        for s in lock(&self.staged).drain(..) {
            s.discard();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the caller reads after the build: the exporter metadata the daemon
/// sent and the first receiver error.
#[derive(Debug, Clone)]
pub struct ExportHandle {
    state: Arc<ExportState>,
}

impl ExportHandle {
    /// The call's `exporter-md-<key>` metadata, keyed by `<key>` (several
    /// values joined with `,` as buildkit does).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        lock(&self.state.metadata).clone()
    }

    /// The first receiver error (it names the failing path), if any.
    pub fn error(&self) -> Option<String> {
        lock(&self.state.error).clone()
    }

    /// How many `FileSend.DiffCopy` calls the daemon made.
    pub fn calls(&self) -> u32 {
        *lock(&self.state.calls)
    }

    /// The build succeeded: wait for transfers still being written, then
    /// move everything received into its destination (directories merged,
    /// tarballs renamed). On error the rest is discarded and the error names
    /// the path.
    pub async fn commit(&self) -> Result<(), String> {
        let settled = async {
            loop {
                let wait = self.state.settled.notified();
                if self.state.active.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    break;
                }
                wait.await;
            }
        };
        if tokio::time::timeout(SETTLE, settled).await.is_err() {
            return Err("an export transfer did not finish".into());
        }
        let staged: Vec<Staged> = lock(&self.state.staged).drain(..).collect();
        let mut result = Ok(());
        for s in &staged {
            if result.is_err() {
                s.discard();
                continue;
            }
            result = match s {
                Staged::Dir {
                    staging,
                    dest,
                    dirs,
                } => super::receive::move_into_place(staging, dest)
                    .and_then(|()| super::receive::apply_dir_meta(dest, dirs))
                    .map_err(|e| e.to_string()),
                Staged::File { staging, dest } => {
                    std::fs::rename(staging, dest).map_err(|e| format!("{}: {e}", dest.display()))
                }
            };
            s.discard();
        }
        result
    }
}

impl ExportState {
    fn record_call(&self, md: &MetadataMap) {
        *lock(&self.calls) += 1;
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for kv in md.iter() {
            let (key, value) = match kv {
                KeyAndValueRef::Ascii(k, v) => (
                    k.as_str(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                ),
                KeyAndValueRef::Binary(k, v) => match v.to_bytes() {
                    Ok(b) => (k.as_str(), String::from_utf8_lossy(&b).into_owned()),
                    Err(_) => continue,
                },
            };
            if let Some(name) = key.strip_prefix(KEY_EXPORTER_META_PREFIX) {
                found.entry(name.to_string()).or_default().push(value);
            }
        }
        let mut metadata = lock(&self.metadata);
        for (k, v) in found {
            metadata.insert(k, v.join(","));
        }
    }

    /// Keep the first error, naming the destination it was written to.
    fn record_error(&self, dest: &str, err: &super::FileSyncError) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(format!("{dest}: {err}"));
        }
    }
}

/// Serves `/moby.filesync.v1.FileSend/DiffCopy` for one configured target.
/// A hand-written twin of the generated `FileSendServer` (same bounds, same
/// response type) whose codec follows the target.
#[derive(Debug, Clone)]
pub struct FileSendService {
    target: Arc<ExportTarget>,
    state: Arc<ExportState>,
}

impl FileSendService {
    /// A service for `target` and the handle to read its outcome from.
    pub fn new(target: ExportTarget) -> (Self, ExportHandle) {
        let state = Arc::new(ExportState::default());
        (
            FileSendService {
                target: Arc::new(target),
                state: state.clone(),
            },
            ExportHandle { state },
        )
    }
}

/// Full method path served (buildkit `filesync.proto` service FileSend).
pub const FILE_SEND_DIFF_COPY: &str = "/moby.filesync.v1.FileSend/DiffCopy";

impl Advertised for FileSendService {
    const METHODS: &'static [&'static str] = &["DiffCopy"];
}

impl tonic::server::NamedService for FileSendService {
    const NAME: &'static str = "moby.filesync.v1.FileSend";
}

struct TarSvc {
    dest: TarDest,
    state: Arc<ExportState>,
}

impl tonic::server::StreamingService<BytesMessage> for TarSvc {
    type Response = BytesMessage;
    type ResponseStream = futures::stream::Empty<Result<BytesMessage, Status>>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<Streaming<BytesMessage>>) -> Self::Future {
        self.state.record_call(request.metadata());
        let (dest, state) = (self.dest.clone(), self.state.clone());
        let active = Active::new(&state);
        Box::pin(async move {
            let _active = active;
            match receive_tar_staged(request.into_inner(), &dest).await {
                Ok((_, staged)) => {
                    if let (Some(staging), TarDest::File(dest)) = (staged, dest) {
                        lock(&state.staged).push(Staged::File { staging, dest });
                    }
                    Ok(Response::new(futures::stream::empty()))
                }
                Err(err) => {
                    let name = match &dest {
                        TarDest::File(p) => p.display().to_string(),
                        TarDest::Stdout => "standard output".to_string(),
                    };
                    state.record_error(&name, &err);
                    Err(err.to_status())
                }
            }
        })
    }
}

struct LocalSvc {
    dest_dir: PathBuf,
    state: Arc<ExportState>,
}

impl tonic::server::StreamingService<Packet> for LocalSvc {
    type Response = Packet;
    type ResponseStream = ReceiverStream<Result<Packet, Status>>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<Streaming<Packet>>) -> Self::Future {
        self.state.record_call(request.metadata());
        let (dest_dir, state) = (self.dest_dir.clone(), self.state.clone());
        let incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let active = Active::new(&state);
        tokio::spawn(async move {
            let _active = active;
            match receive_local_staged(incoming, tx.clone(), &dest_dir).await {
                Ok((staging, dirs)) => lock(&state.staged).push(Staged::Dir {
                    staging,
                    dest: dest_dir,
                    dirs,
                }),
                Err(err) => {
                    tracing::debug!(dest = %dest_dir.display(), error = %err, "local export failed");
                    state.record_error(&dest_dir.display().to_string(), &err);
                    let _ = tx.send(Err(err.to_status())).await;
                }
            }
        });
        Box::pin(async move { Ok(Response::new(ReceiverStream::new(rx))) })
    }
}

impl<B> tower_service::Service<http::Request<B>> for FileSendService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != FILE_SEND_DIFF_COPY {
            return Box::pin(async move {
                let mut response = http::Response::new(tonic::body::Body::default());
                let headers = response.headers_mut();
                headers.insert(
                    Status::GRPC_STATUS,
                    (tonic::Code::Unimplemented as i32).into(),
                );
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            });
        }
        let target = self.target.clone();
        let state = self.state.clone();
        Box::pin(async move {
            let response = match &*target {
                ExportTarget::Tar { dest } => {
                    let codec = tonic_prost::ProstCodec::<BytesMessage, BytesMessage>::default();
                    let svc = TarSvc {
                        dest: dest.clone(),
                        state,
                    };
                    tonic::server::Grpc::new(codec).streaming(svc, req).await
                }
                ExportTarget::Local { dest_dir } => {
                    let codec = tonic_prost::ProstCodec::<Packet, Packet>::default();
                    let svc = LocalSvc {
                        dest_dir: dest_dir.clone(),
                        state,
                    };
                    tonic::server::Grpc::new(codec).streaming(svc, req).await
                }
            };
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn staged_tree(root: &std::path::Path, name: &str, file: &str) -> PathBuf {
        let staging = root.join(format!(".staging-{name}"));
        std::fs::create_dir_all(staging.join(name)).unwrap();
        std::fs::write(staging.join(name).join(file), name).unwrap();
        staging
    }

    /// Regression: BuildKit v0.13 sends a multi-platform `local` export as
    /// one call per platform, concurrently; moving each into place as it
    /// arrived raced ("Directory not empty") and could leave half an export.
    #[test]
    fn several_calls_commit_into_one_dest_only_on_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("keep"), "old").unwrap();
        let (svc, handle) = FileSendService::new(ExportTarget::Local {
            dest_dir: dest.clone(),
        });
        for name in ["linux_amd64", "linux_arm64"] {
            let staging = staged_tree(tmp.path(), name, "app");
            lock(&svc.state.staged).push(Staged::Dir {
                staging,
                dest: dest.clone(),
                dirs: Vec::new(),
            });
        }
        assert!(!dest.join("linux_amd64").exists(), "nothing before commit");
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(handle.commit())
            .unwrap();
        for name in ["linux_amd64", "linux_arm64"] {
            assert_eq!(
                std::fs::read_to_string(dest.join(name).join("app")).unwrap(),
                name
            );
        }
        assert_eq!(std::fs::read_to_string(dest.join("keep")).unwrap(), "old");
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("out")],
            "staging left behind"
        );
    }

    #[test]
    fn uncommitted_output_is_removed_when_the_build_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("out");
        let staging = staged_tree(tmp.path(), "linux_amd64", "app");
        {
            let (svc, _handle) = FileSendService::new(ExportTarget::Local {
                dest_dir: dest.clone(),
            });
            lock(&svc.state.staged).push(Staged::Dir {
                staging: staging.clone(),
                dest: dest.clone(),
                dirs: Vec::new(),
            });
        }
        assert!(!staging.exists());
        assert!(!dest.exists());
    }

    #[test]
    fn metadata_values_reads_all_and_decodes() {
        let mut md = MetadataMap::new();
        md.append("exclude-patterns", MetadataValue::from_static("a"));
        md.append("exclude-patterns", MetadataValue::from_static("!b"));
        md.append("followpaths", MetadataValue::from_static("caf%C3%A9+x"));
        md.append("followpaths-encoded", MetadataValue::from_static("1"));
        md.append("include-patterns", MetadataValue::from_static("caf%C3%A9"));
        assert_eq!(metadata_values(&md, "exclude-patterns"), ["a", "!b"]);
        assert_eq!(metadata_values(&md, "followpaths"), ["café x"]);
        // Not flagged: taken literally.
        assert_eq!(metadata_values(&md, "include-patterns"), ["caf%C3%A9"]);
        assert!(metadata_values(&md, "dir-name").is_empty());
        assert_eq!(query_unescape("%zz"), None);
    }

    #[test]
    fn exporter_metadata_is_captured() {
        let (svc, handle) = FileSendService::new(ExportTarget::Local {
            dest_dir: PathBuf::from("/nonexistent"),
        });
        let mut md = MetadataMap::new();
        md.append("exporter-md-image.name", MetadataValue::from_static("a:1"));
        md.append("exporter-md-image.name", MetadataValue::from_static("b:2"));
        md.append(
            "exporter-md-containerimage.digest",
            MetadataValue::from_static("sha256:00"),
        );
        md.append("other", MetadataValue::from_static("x"));
        svc.state.record_call(&md);
        let got = handle.metadata();
        assert_eq!(got.get("image.name").map(String::as_str), Some("a:1,b:2"));
        assert_eq!(
            got.get("containerimage.digest").map(String::as_str),
            Some("sha256:00")
        );
        assert_eq!(got.len(), 2);
        assert_eq!(handle.calls(), 1);
    }
}

/// Request header naming which exporter a FileSend call belongs to, when a
/// build has several (BuildKit v0.13+, `session/filesync/filesync.go`
/// `keyExporterID`); absent means exporter 0.
pub const EXPORTER_ID_HEADER: &str = "buildkit-attachable-exporter-id";

/// Several FileSend targets, one per exporter index, on the one FileSend
/// service a session can offer.
#[derive(Clone, Default)]
pub struct FileSendRouter {
    targets: Arc<std::collections::BTreeMap<usize, FileSendService>>,
}

impl FileSendRouter {
    /// `targets`: exporter index (its position in the solve's exporter
    /// list) and the service receiving its output.
    pub fn new(targets: impl IntoIterator<Item = (usize, FileSendService)>) -> Self {
        FileSendRouter {
            targets: Arc::new(targets.into_iter().collect()),
        }
    }

    fn pick<B>(&self, req: &http::Request<B>) -> Result<FileSendService, String> {
        let id = match req.headers().get(EXPORTER_ID_HEADER) {
            None => 0,
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("invalid {EXPORTER_ID_HEADER} {v:?}"))?,
        };
        self.targets
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("no output was requested for exporter {id}"))
    }
}

impl Advertised for FileSendRouter {
    const METHODS: &'static [&'static str] = &["DiffCopy"];
}

impl tonic::server::NamedService for FileSendRouter {
    const NAME: &'static str = "moby.filesync.v1.FileSend";
}

impl<B> tower_service::Service<http::Request<B>> for FileSendRouter
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match self.pick(&req) {
            Ok(mut svc) => svc.call(req),
            Err(msg) => Box::pin(async move { Ok(Status::not_found(msg).into_http()) }),
        }
    }
}
