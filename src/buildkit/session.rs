//! The build session: the gRPC server archgate runs *inside* a
//! `Control.Session` call, so the daemon can pull the build context, ask for
//! registry credentials and secrets, send exporter output back, and check
//! that the client is still alive.
//!
//! The one idea: `Control.Session` is just a byte pipe. Its request stream
//! carries our bytes to the daemon and its response stream the daemon's bytes
//! to us; on that pipe the daemon speaks HTTP/2 as the *client*. So archgate
//! plugs one end of an in-memory duplex into the call and serves plain h2c
//! on the other end with hyper, dispatching each request by its service name
//! to the generated tonic servers (buildkit-protocol.md §3).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tower_service::Service;

use super::client::control_client;
use super::error::BuildError;
use super::proto::control::BytesMessage;
use super::proto::grpc::health::v1 as health;

type HttpResponse = http::Response<tonic::body::Body>;
type BoxFuture = Pin<Box<dyn Future<Output = HttpResponse> + Send>>;
type Handler = Arc<dyn Fn(http::Request<Incoming>) -> BoxFuture + Send + Sync>;

/// Largest chunk put in one `BytesMessage`. Daemons before BuildKit v0.14
/// accept 4 MiB per message (buildkit-protocol.md §3.1); Go's own client
/// reads in 32 KiB pieces. Bigger pieces mean fewer messages (and fewer
/// wakeups) when a context streams through: what is waiting is sent at once.
const CHUNK: usize = 256 * 1024;

/// Headers on the `Control.Session` call (buildkit `session/session.go`;
/// the daemon canonicalises their case, HTTP/2 needs lower case).
const HDR_UUID: &str = "x-docker-expose-session-uuid";
const HDR_NAME: &str = "x-docker-expose-session-name";
const HDR_SHAREDKEY: &str = "x-docker-expose-session-sharedkey";
const HDR_METHOD: &str = "x-docker-expose-session-grpc-method";

/// A service a session can serve: it names the methods it answers, which
/// the session advertises to the daemon (the daemon only uses FileSync and
/// FileSend when their method is listed).
pub trait Advertised {
    /// Bare method names, e.g. `DiffCopy`.
    const METHODS: &'static [&'static str];
}

/// The services one session offers, keyed by gRPC service name, and the full
/// method names advertised to the daemon (one header value per method).
pub struct Services {
    handlers: BTreeMap<&'static str, Handler>,
    methods: Vec<String>,
}

impl Default for Services {
    fn default() -> Self {
        Self::new()
    }
}

impl Services {
    /// A set holding only the health service every session needs (without it
    /// the daemon drops the session within seconds, §3.3).
    pub fn new() -> Self {
        let mut s = Services {
            handlers: BTreeMap::new(),
            methods: Vec::new(),
        };
        s.add(health::health_server::HealthServer::new(HealthService));
        s
    }

    /// Serve `svc` (a generated tonic server, or any service shaped like one)
    /// and advertise the methods it names.
    pub fn add<S>(&mut self, svc: S)
    where
        S: Advertised
            + NamedService
            + Service<http::Request<Incoming>, Response = HttpResponse, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        for m in S::METHODS {
            self.methods.push(format!("/{}/{}", S::NAME, m));
        }
        let handler: Handler = Arc::new(move |req| {
            let mut svc = svc.clone();
            Box::pin(async move {
                match svc.call(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            })
        });
        self.handlers.insert(S::NAME, handler);
    }

    /// Full method names as advertised.
    pub fn methods(&self) -> &[String] {
        &self.methods
    }

    fn dispatch(&self, req: http::Request<Incoming>) -> BoxFuture {
        let service = req
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        match self.handlers.get(service) {
            Some(h) => h(req),
            None => {
                let msg = format!("archgate does not serve {}", req.uri().path());
                Box::pin(async move { tonic::Status::unimplemented(msg).into_http() })
            }
        }
    }
}

/// An open session. Dropping it tears the session down; [`Session::close`]
/// does so gracefully.
pub struct Session {
    /// Tells the pump that owns our half of the pipe to stop; it then drops
    /// the request stream, which half-closes the call (CloseSend).
    close: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    failed: Arc<std::sync::Mutex<Option<String>>>,
}

impl Session {
    /// Why the session ended early, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }

    /// Half-close our side and give the daemon `grace` to finish, then stop.
    pub async fn close(mut self, grace: Duration) {
        if let Some(c) = self.close.take() {
            let _ = c.send(());
        }
        let tasks = std::mem::take(&mut self.tasks);
        let all = futures::future::join_all(tasks);
        let _ = tokio::time::timeout(grace, all).await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Open `Control.Session` on `channel` and serve `services` on it.
///
/// `name` is free text the daemon shows; `shared_key` lets the daemon reuse
/// what it kept from an earlier transfer of the same directories (§4.7).
pub async fn start(
    channel: Channel,
    id: String,
    name: &str,
    shared_key: &str,
    services: Services,
) -> Result<Session, BuildError> {
    let (ours, theirs) = tokio::io::duplex(4 * CHUNK);
    let (to_daemon, outgoing) = mpsc::channel::<BytesMessage>(16);
    let failed = Arc::new(std::sync::Mutex::new(None::<String>));

    // The HTTP/2 server, on our end of the pipe.
    let methods = services.methods.clone();
    let server = serve(ours, Arc::new(services), failed.clone(), None);

    let mut req = tonic::Request::new(ReceiverStream::new(outgoing));
    let md = req.metadata_mut();
    md.insert(HDR_UUID, ascii(&id)?);
    md.insert(HDR_NAME, ascii(&sanitize(name))?);
    md.insert(HDR_SHAREDKEY, ascii(&sanitize(shared_key))?);
    for m in &methods {
        md.append(HDR_METHOD, ascii(m)?);
    }

    let (mut rd, mut wr) = tokio::io::split(theirs);
    // Our server's bytes -> the daemon. This task owns the only sender, so
    // when it stops the request stream ends.
    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel::<()>();
    let pump_out = {
        tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let read = tokio::select! {
                    r = rd.read(&mut buf) => r,
                    _ = &mut close_rx => break,
                };
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let msg = BytesMessage {
                            data: buf[..n].to_vec(),
                        };
                        if to_daemon.send(msg).await.is_err() {
                            break;
                        }
                    }
                }
            }
        })
    };

    let mut control = control_client(channel);
    // The call returns once the daemon answers with headers, which it does
    // with its first bytes (the HTTP/2 preface); our server is already up.
    let resp = tokio::time::timeout(Duration::from_secs(10), control.session(req))
        .await
        .map_err(|_| BuildError::Session("the daemon did not open the session within 10 s".into()))?
        .map_err(|s| BuildError::rpc("Session", &s))?;
    let mut incoming = resp.into_inner();

    // The daemon's bytes -> our server.
    let pump_in = {
        let failed = failed.clone();
        tokio::spawn(async move {
            while let Some(msg) = incoming.next().await {
                match msg {
                    Ok(m) => {
                        if wr.write_all(&m.data).await.is_err() {
                            return;
                        }
                    }
                    Err(s) => {
                        if s.code() != tonic::Code::Cancelled {
                            set_once(&failed, format!("session stream: {}", s.message()));
                        }
                        break;
                    }
                }
            }
            let _ = wr.shutdown().await;
        })
    };

    Ok(Session {
        close: Some(close_tx),
        tasks: vec![server, pump_out, pump_in],
        failed,
    })
}

/// Serve `services` as plain HTTP/2 on `io` until the peer goes away (or
/// `stop` fires: then the connection is shut down gracefully).
fn serve<I>(
    io: I,
    services: Arc<Services>,
    failed: Arc<std::sync::Mutex<Option<String>>>,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> JoinHandle<()>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    tokio::spawn(async move {
        let svc = hyper::service::service_fn(move |req| {
            let fut = services.dispatch(req);
            async move { Ok::<_, Infallible>(fut.await) }
        });
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            // BuildKit sends .dockerignore rules as request headers and
            // stack traces in trailers: hyper's 16 KiB default is too
            // small (buildkit-protocol.md §11 item 16).
            .max_header_list_size(16 << 20)
            .serve_connection(TokioIo::new(io), svc);
        let mut conn = std::pin::pin!(conn);
        let result = match stop {
            None => conn.await,
            Some(mut stop) => {
                tokio::select! {
                    r = conn.as_mut() => r,
                    _ = &mut stop => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                }
            }
        };
        if let Err(e) = result {
            if !is_benign_close(&e) {
                set_once(&failed, format!("session server: {e}"));
            }
        }
    })
}

/// Open a session on a Docker Engine through its `POST /session` upgrade,
/// as buildx's docker driver does: the session gets a connection of its own
/// and its bytes travel as plain HTTP/2, not wrapped in gRPC messages inside
/// the build's connection (buildkit-protocol.md §3.5).
pub async fn start_on_engine(
    host: &crate::docker::EngineHost,
    id: String,
    name: &str,
    shared_key: &str,
    services: Services,
) -> Result<Session, BuildError> {
    let mut headers = vec![
        (
            "X-Docker-Expose-Session-Uuid",
            ascii(&id)?.to_str().unwrap_or_default().to_string(),
        ),
        ("X-Docker-Expose-Session-Name", sanitize(name)),
        ("X-Docker-Expose-Session-Sharedkey", sanitize(shared_key)),
    ];
    for m in &services.methods {
        headers.push(("X-Docker-Expose-Session-Grpc-Method", m.clone()));
    }
    let io = crate::docker::Engine::new(host)?
        .upgrade("/session", &headers)
        .await?;
    let failed = Arc::new(std::sync::Mutex::new(None::<String>));
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let server = serve(io, Arc::new(services), failed.clone(), Some(close_rx));
    Ok(Session {
        close: Some(close_tx),
        tasks: vec![server],
        failed,
    })
}

fn set_once(slot: &std::sync::Mutex<Option<String>>, msg: String) {
    if let Ok(mut s) = slot.lock() {
        s.get_or_insert(msg);
    }
}

fn is_benign_close(e: &hyper::Error) -> bool {
    e.is_closed() || e.is_canceled() || e.is_incomplete_message()
}

fn ascii(s: &str) -> Result<tonic::metadata::MetadataValue<tonic::metadata::Ascii>, BuildError> {
    s.parse()
        .map_err(|_| BuildError::Session(format!("header value {s:?} is not printable ascii")))
}

/// Header values must be visible ASCII: keep a name a directory gave us
/// usable whatever it contains.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A fresh random id, as Go's `identity.NewID` makes them: 25 characters of
/// lowercase base 36 from 128 random bits.
pub fn new_id() -> Result<String, BuildError> {
    let mut b = [0u8; 16];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut b))
            .map_err(|e| BuildError::Session(format!("reading /dev/urandom: {e}")))?;
    }
    let mut n = u128::from_le_bytes(b);
    let mut out = Vec::with_capacity(25);
    for _ in 0..25 {
        let d = (n % 36) as u8;
        n /= 36;
        out.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
    }
    Ok(String::from_utf8(out).unwrap_or_default())
}

#[derive(Clone, Copy)]
struct HealthService;

impl Advertised for health::health_server::HealthServer<HealthService> {
    const METHODS: &'static [&'static str] = &["Check", "Watch"];
}

#[tonic::async_trait]
impl health::health_server::Health for HealthService {
    async fn check(
        &self,
        _req: tonic::Request<health::HealthCheckRequest>,
    ) -> Result<tonic::Response<health::HealthCheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(health::HealthCheckResponse {
            status: health::health_check_response::ServingStatus::Serving as i32,
        }))
    }

    type WatchStream = futures::stream::Pending<Result<health::HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _req: tonic::Request<health::HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("health watch is not served"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_25_base36_chars_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 25);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn methods_are_advertised_one_per_value() {
        let s = Services::new();
        assert_eq!(
            s.methods(),
            &[
                "/grpc.health.v1.Health/Check".to_string(),
                "/grpc.health.v1.Health/Watch".to_string()
            ]
        );
    }

    #[test]
    fn each_service_advertises_its_own_methods() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Services::new();
        s.add(crate::buildkit::filesync::FileSyncService::new(Default::default()).into_server());
        s.add(
            crate::buildkit::auth::AuthService::from_config_dir(dir.path())
                .unwrap()
                .into_server(),
        );
        s.add(
            crate::buildkit::secrets::SecretsService::from_flags(&[])
                .unwrap()
                .into_server(),
        );
        s.add(crate::buildkit::filesync::FileSendRouter::new(Vec::new()));
        assert_eq!(
            s.methods(),
            [
                "/grpc.health.v1.Health/Check",
                "/grpc.health.v1.Health/Watch",
                "/moby.filesync.v1.FileSync/DiffCopy",
                "/moby.filesync.v1.FileSync/TarStream",
                "/moby.filesync.v1.Auth/Credentials",
                "/moby.filesync.v1.Auth/FetchToken",
                "/moby.filesync.v1.Auth/GetTokenAuthority",
                "/moby.filesync.v1.Auth/VerifyTokenAuthority",
                "/moby.buildkit.secrets.v1.Secrets/GetSecret",
                "/moby.filesync.v1.FileSend/DiffCopy",
            ]
        );
    }

    #[test]
    fn names_are_made_header_safe() {
        assert_eq!(sanitize("my ctx\u{e9}\n"), "my ctx__");
    }
}
