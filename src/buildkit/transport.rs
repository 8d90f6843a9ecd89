//! Transports: one HTTP/2 connection to a BuildKit daemon, over a unix socket,
//! TCP (plain or TLS), a Docker Engine's `POST /grpc` upgrade, or the stdio of
//! `docker exec -i NAME buildctl dial-stdio`.
//!
//! The one idea: archgate dials the byte stream itself and hands tonic exactly
//! that one stream, through a connector that yields it once. Everything of a
//! build (Control, LLBBridge, the Session tunnel) then shares one connection,
//! as BuildKit expects for upgraded and stdio connections, and a lost
//! connection fails the next call with a clear error instead of silently
//! re-dialling. `connect` returns only after a gRPC round trip succeeded, so
//! "unreachable" is reported up front, within `CONNECT_TIMEOUT`, naming the
//! address.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tonic::transport::{Channel, Endpoint};

use super::addr::BuilderAddr;
use super::error::{describe_error, describe_status};
use super::proto::grpc::health::v1::{health_client::HealthClient, HealthCheckRequest};
use super::BuildError;
use crate::dial::{printable, BoxIo, Io, TlsSetup, CONNECT_TIMEOUT};
use crate::docker::{current_engine, EngineHost, Environment};

/// Largest response message archgate accepts (gateway ReadFile without a
/// range returns a whole file in one message; the Go client allows 16 MiB).
pub const MAX_MESSAGE_SIZE: usize = 64 << 20;

/// HTTP/2 header list limit. BuildKit error trailers carry Go stack traces
/// and can exceed hyper's 16 KiB default (hyperium/tonic #1834); grpc-go
/// allows 16 MiB.
const MAX_HEADER_LIST_SIZE: u32 = 16 << 20;

/// Connect to the daemon at `addr`. A bare `docker://` means the engine the
/// docker CLI would use (`DOCKER_HOST`, the current context, the default
/// socket).
pub async fn connect(addr: &BuilderAddr) -> Result<Channel, BuildError> {
    connect_with(addr, &Environment::from_process()).await
}

/// [`connect`] with an explicit environment snapshot.
pub async fn connect_with(addr: &BuilderAddr, env: &Environment) -> Result<Channel, BuildError> {
    let target = match addr {
        BuilderAddr::DockerEngine(None) => BuilderAddr::DockerEngine(Some(current_engine(env)?)),
        other => other.clone(),
    };
    let name = target.to_string();
    let tls = prepare_tls(&target, &name)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, establish(&target, &name, tls, env)).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(reason)) => Err(BuildError::Connect { addr: name, reason }),
        Err(_) => Err(BuildError::Connect {
            addr: name,
            reason: format!(
                "no gRPC answer within {}s (is this a BuildKit endpoint?)",
                CONNECT_TIMEOUT.as_secs()
            ),
        }),
    }
}

/// Dial, build the channel over the one stream, and prove it with a call.
async fn establish(
    target: &BuilderAddr,
    name: &str,
    tls: Option<TlsSetup>,
    env: &Environment,
) -> Result<Channel, String> {
    let dialed = dial(target, tls.clone(), env).await?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let io: BoxIo = Box::new(FirstBytes {
        inner: dialed.io,
        seen: seen.clone(),
    });
    let channel = endpoint(target)?
        .connect_with_connector(OneShot::new(io, name))
        .await
        .map_err(|e| describe_error(&e))?;
    let status = match probe(channel.clone()).await {
        Ok(()) => return Ok(channel),
        Err(status) => status,
    };
    if let Some(log) = dialed.stderr {
        return Err(log.explain(&status).await);
    }
    // What did the peer say? hyper may have failed on a write before reading
    // anything, so if nothing was seen, ask once more on a fresh connection.
    let mut said = seen.lock().map(|s| s.clone()).unwrap_or_default();
    if said.is_empty() {
        said = sniff(target, tls, env).await;
    }
    let base = describe_status(&status);
    Err(if !said.is_empty() && !looks_like_http2_settings(&said) {
        format!(
            "the peer does not speak HTTP/2 (it answered {:?}); is this a BuildKit endpoint? ({base})",
            printable(&said)
        )
    } else {
        base
    })
}

/// The client connection preface and an empty SETTINGS frame (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// Dial again, greet in HTTP/2, and return the first bytes of the answer
/// (empty if none within a second). Only used to explain a failed connect.
async fn sniff(target: &BuilderAddr, tls: Option<TlsSetup>, env: &Environment) -> Vec<u8> {
    let look = async {
        let mut io = dial(target, tls, env).await.ok()?.io;
        io.write_all(H2_PREFACE).await.ok()?;
        let mut got = Vec::new();
        let mut chunk = [0u8; 64];
        while got.len() < 9 {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
        Some(got)
    };
    tokio::time::timeout(Duration::from_secs(1), look)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// One gRPC round trip. Any answer from a gRPC server counts, including
/// "unknown service": daemons need not serve Health.
async fn probe(channel: Channel) -> Result<(), tonic::Status> {
    let mut client = HealthClient::new(channel);
    match client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::Unimplemented
                    | tonic::Code::NotFound
                    | tonic::Code::PermissionDenied
                    | tonic::Code::Unauthenticated
            ) =>
        {
            Ok(())
        }
        Err(s) => Err(s),
    }
}

/// The first frame an HTTP/2 server sends is SETTINGS (type 4) on stream 0.
fn looks_like_http2_settings(b: &[u8]) -> bool {
    b.len() < 9 || (b[3] == 4 && b[5..9] == [0, 0, 0, 0])
}

fn endpoint(target: &BuilderAddr) -> Result<Endpoint, String> {
    // The :authority is informational for BuildKit; for TCP use the address.
    let authority = match target {
        BuilderAddr::Tcp { addr, .. } => addr.to_string(),
        _ => "localhost".to_string(),
    };
    let ep = Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|e| format!("cannot form a URI for {authority:?}: {e}"))?
        .user_agent(concat!("archgate/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| e.to_string())?
        .http2_max_header_list_size(MAX_HEADER_LIST_SIZE);
    // No HTTP/2 keepalive pings: grpc-go servers answer frequent pings with
    // GOAWAY too_many_pings.
    Ok(ep)
}

// ---------------------------------------------------------------------------
// Dialling

struct Dialed {
    io: BoxIo,
    /// For `docker exec`: its stderr, to explain failures.
    stderr: Option<StderrLog>,
}

impl Dialed {
    fn plain(io: impl Io + 'static) -> Self {
        Dialed {
            io: Box::new(io),
            stderr: None,
        }
    }
}

async fn dial(
    target: &BuilderAddr,
    tls: Option<TlsSetup>,
    env: &Environment,
) -> Result<Dialed, String> {
    match target {
        BuilderAddr::Unix(path) => crate::dial::unix(path).await.map(Dialed::plain),
        BuilderAddr::Tcp { addr, .. } => {
            let tcp = crate::dial::tcp(addr).await?;
            match tls {
                Some(t) => t.handshake(tcp).await.map(Dialed::plain),
                None => Ok(Dialed::plain(tcp)),
            }
        }
        BuilderAddr::DockerEngine(Some(host)) => {
            let (io, host_header) = dial_engine_with(host, tls).await?;
            upgrade_grpc(io, &host_header)
                .await
                .map(|io| Dialed { io, stderr: None })
        }
        BuilderAddr::DockerEngine(None) => Err("no docker engine host resolved".into()),
        BuilderAddr::DockerContainer {
            container,
            context,
            engine,
        } => spawn_dial_stdio(container, context.as_deref(), engine.as_ref(), env),
    }
}

/// A plain connection to a Docker Engine's API (HTTP/1.1), with the `Host`
/// header the docker CLI would send to it.
async fn dial_engine_with(
    host: &EngineHost,
    tls: Option<TlsSetup>,
) -> Result<(BoxIo, String), String> {
    Ok(match host {
        EngineHost::Unix(path) => (
            Box::new(crate::dial::unix(path).await?),
            // What the Go docker client sends for socket hosts.
            "api.moby.localhost".to_string(),
        ),
        EngineHost::Tcp { addr, .. } => {
            let tcp = crate::dial::tcp(addr).await?;
            let io: BoxIo = match tls {
                Some(t) => Box::new(t.handshake(tcp).await?),
                None => Box::new(tcp),
            };
            (io, addr.to_string())
        }
    })
}

/// Open an API connection to the engine at `host` (TLS settings from the
/// host), within the connect timeout.
pub(crate) async fn dial_engine(host: &EngineHost) -> Result<(BoxIo, String), BuildError> {
    let target = BuilderAddr::DockerEngine(Some(host.clone()));
    let name = host.to_string();
    let tls = prepare_tls(&target, &name)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, dial_engine_with(host, tls)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(reason)) => Err(BuildError::Connect { addr: name, reason }),
        Err(_) => Err(BuildError::Connect {
            addr: name,
            reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
        }),
    }
}

// ---------------------------------------------------------------------------
// Docker Engine: POST /grpc, 101 Switching Protocols, then HTTP/2.

/// Largest response head accepted from the engine.
const MAX_UPGRADE_HEAD: usize = 64 << 10;

/// Ask the engine to switch this connection to h2c for its embedded BuildKit
/// (`moby/moby api/server/router/grpc`). Bytes the engine sent after the 101
/// head (its HTTP/2 SETTINGS, usually) are replayed first.
async fn upgrade_grpc(io: BoxIo, host_header: &str) -> Result<BoxIo, String> {
    upgrade(io, "/grpc", host_header, &[]).await
}

/// Open a build session on the engine at `host` through its `POST /session`
/// upgrade (what buildx's docker driver does): the returned connection is
/// raw HTTP/2 on which the engine is the client and archgate serves the
/// session (buildkit-protocol.md §3.5). `headers` are the session's
/// `X-Docker-Expose-Session-*` headers, repeated names allowed.
pub(crate) async fn engine_session(
    host: &EngineHost,
    headers: &[(&str, String)],
) -> Result<BoxIo, BuildError> {
    let (io, host_header) = dial_engine(host).await?;
    let name = host.to_string();
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        upgrade(io, "/session", &host_header, headers),
    )
    .await
    {
        Ok(Ok(io)) => Ok(io),
        Ok(Err(reason)) => Err(BuildError::Connect { addr: name, reason }),
        Err(_) => Err(BuildError::Connect {
            addr: name,
            reason: "no answer to POST /session".into(),
        }),
    }
}

/// `POST path` with an h2c upgrade; the connection after `101 Switching
/// Protocols`, with any bytes read past the answer replayed first.
async fn upgrade(
    mut io: BoxIo,
    path: &str,
    host_header: &str,
    headers: &[(&str, String)],
) -> Result<BoxIo, String> {
    let mut extra = String::new();
    for (k, v) in headers {
        if k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
            return Err(format!("header {k:?} has a line break"));
        }
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: archgate/{}\r\n\
         Content-Length: 0\r\n{extra}Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let failed = |e: io::Error| format!("POST {path}: {e}");
    io.write_all(request.as_bytes()).await.map_err(failed)?;
    io.flush().await.map_err(failed)?;

    let mut buf = Vec::with_capacity(1024);
    let head_len = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_UPGRADE_HEAD {
            return Err(format!(
                "the engine's answer to POST {path} has no end of headers"
            ));
        }
        let mut chunk = [0u8; 4096];
        let n = io.read(&mut chunk).await.map_err(failed)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                format!("the engine closed the connection instead of answering POST {path}")
            } else {
                format!(
                    "the engine closed the connection mid-answer: {:?}",
                    printable(&buf)
                )
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("").trim().to_string();
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    let rest = buf[head_len..].to_vec();
    if code == "101" {
        return Ok(Box::new(Prefixed {
            prefix: rest,
            pos: 0,
            inner: io,
        }));
    }
    // Not upgraded: read a little of the body for the message.
    let content_length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(4096);
    let mut body = rest;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut chunk = [0u8; 4096];
        while body.len() < content_length {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let detail = engine_error_text(&body);
    Err(if detail.is_empty() {
        format!("the engine answered POST {path} with {status_line:?} instead of 101 Switching Protocols")
    } else {
        format!("the engine answered POST {path} with {status_line:?} instead of 101 Switching Protocols: {detail}")
    })
}

/// The engine's error body: `{"message": "..."}` or plain text.
pub(crate) fn engine_error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Msg {
        message: String,
    }
    match serde_json::from_slice::<Msg>(body) {
        Ok(m) => m.message,
        Err(_) => printable(&body[..body.len().min(512)]),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// docker-container://: `docker exec -i NAME buildctl dial-stdio`

fn spawn_dial_stdio(
    container: &str,
    context: Option<&str>,
    engine: Option<&EngineHost>,
    env: &Environment,
) -> Result<Dialed, String> {
    let mut cmd = Command::new("docker");
    if let Some(path) = &env.path {
        // Also where `docker` itself is looked up.
        cmd.env("PATH", path);
    }
    let mut shown = vec!["docker".to_string()];
    if let Some(ctx) = context {
        shown.extend(["--context".into(), ctx.into()]);
    }
    if let Some(e) = engine {
        shown.extend(["--host".into(), e.to_string()]);
        if let EngineHost::Tcp { tls: Some(t), .. } = e {
            shown.push("--tlsverify".into());
            for (flag, v) in [
                ("--tlscacert", &t.ca_cert),
                ("--tlscert", &t.cert),
                ("--tlskey", &t.key),
            ] {
                if let Some(p) = v {
                    shown.extend([flag.to_string(), p.display().to_string()]);
                }
            }
        }
    }
    shown.extend(
        ["exec", "-i", container, "buildctl", "dial-stdio"]
            .iter()
            .map(|s| s.to_string()),
    );
    cmd.args(&shown[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let command = shown.join(" ");
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            "cannot run `docker`: not found on PATH".to_string()
        } else {
            format!("cannot run `docker`: {e}")
        }
    })?;
    let missing = || format!("`{command}`: no stdio pipes");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = child.stderr.take().ok_or_else(missing)?;
    let log = StderrLog::start(stderr, command);
    Ok(Dialed {
        io: Box::new(StdioConn {
            stdin,
            stdout,
            _child: child,
        }),
        stderr: Some(log),
    })
}

/// The child's stdout (read) and stdin (write) as one stream. Dropping it
/// kills the `docker exec` process.
struct StdioConn {
    stdin: ChildStdin,
    stdout: ChildStdout,
    _child: Child,
}

impl AsyncRead for StdioConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for StdioConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

/// Drains a child's stderr for its whole life (a full pipe would block it),
/// keeping the last few KiB to explain failures.
struct StderrLog {
    command: String,
    text: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

const STDERR_KEEP: usize = 8 << 10;

impl StderrLog {
    fn start(mut stderr: tokio::process::ChildStderr, command: String) -> Self {
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = text.clone();
        let task = tokio::spawn(async move {
            let mut chunk = [0u8; 2048];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = sink.lock() {
                    t.extend_from_slice(&chunk[..n]);
                    let excess = t.len().saturating_sub(STDERR_KEEP);
                    t.drain(..excess);
                }
            }
        });
        StderrLog {
            command,
            text,
            task,
        }
    }

    /// Why the connection through this process failed: what it printed, or
    /// else the transport's error.
    async fn explain(&self, status: &tonic::Status) -> String {
        let text = self.finish().await;
        if text.is_empty() {
            format!("`{}` ended: {}", self.command, describe_status(status))
        } else {
            format!("`{}` failed: {text}", self.command)
        }
    }

    /// What the process printed, waiting briefly for it to finish printing.
    async fn finish(&self) -> String {
        let wait = async {
            while !self.task.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), wait).await;
        let t = self.text.lock().map(|t| t.clone()).unwrap_or_default();
        String::from_utf8_lossy(&t)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

// ---------------------------------------------------------------------------
// TLS

/// Build the TLS client for a TCP target, before dialling, so bad files are
/// reported as such. BuildKit (gRPC) gets ALPN `h2`, which grpc-go servers
/// require; the Docker Engine API is HTTP/1.1 until the upgrade.
fn prepare_tls(target: &BuilderAddr, name: &str) -> Result<Option<TlsSetup>, BuildError> {
    let (addr, opts, h2) = match target {
        BuilderAddr::Tcp { addr, tls: Some(t) } => (addr, t, true),
        BuilderAddr::DockerEngine(Some(EngineHost::Tcp { addr, tls: Some(t) })) => (addr, t, false),
        _ => return Ok(None),
    };
    let err = |reason: String| BuildError::Tls {
        addr: name.to_string(),
        reason,
    };
    TlsSetup::new(addr, opts, h2).map(Some).map_err(err)
}

// ---------------------------------------------------------------------------
// Stream adapters and the one-shot connector

/// Replays `prefix` before reading from `inner`.
struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: BoxIo,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Records the first bytes the peer sends, to tell "not HTTP/2" apart.
struct FirstBytes {
    inner: BoxIo,
    seen: Arc<Mutex<Vec<u8>>>,
}

const FIRST_BYTES: usize = 48;

impl AsyncRead for FirstBytes {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Ok(mut seen) = this.seen.lock() {
            if seen.len() < FIRST_BYTES {
                let new = &buf.filled()[before..];
                let take = new.len().min(FIRST_BYTES - seen.len());
                seen.extend_from_slice(&new[..take]);
            }
        }
        r
    }
}

impl AsyncWrite for FirstBytes {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A tonic connector that hands out one already-dialled stream, once. When
/// the connection dies, tonic asks again and gets an error naming the
/// address, which fails the call instead of re-dialling (a fresh connection
/// would not carry the build's session anyway).
#[derive(Clone)]
struct OneShot {
    io: Arc<Mutex<Option<BoxIo>>>,
    addr: Arc<str>,
}

impl OneShot {
    fn new(io: BoxIo, addr: &str) -> Self {
        OneShot {
            io: Arc::new(Mutex::new(Some(io))),
            addr: addr.into(),
        }
    }
}

impl tower_service::Service<http::Uri> for OneShot {
    type Response = TokioIo<BoxIo>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Self::Response, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let io = self.io.lock().ok().and_then(|mut g| g.take());
        std::future::ready(io.map(TokioIo::new).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "the connection to {} is closed (archgate does not re-dial: one connection carries a whole build)",
                    self.addr
                ),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_http2_settings_and_other_peers() {
        // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
        assert!(looks_like_http2_settings(&[0, 0, 0, 4, 0, 0, 0, 0, 0]));
        assert!(looks_like_http2_settings(&[0, 0, 18, 4, 0, 0, 0, 0, 0, 1]));
        assert!(!looks_like_http2_settings(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(!looks_like_http2_settings(
            b"\x15\x03\x03\x00\x02\x02\x50xx"
        ));
    }

    #[test]
    fn engine_error_bodies_are_readable() {
        assert_eq!(
            engine_error_text(br#"{"message":"page not found"}"#),
            "page not found"
        );
        assert_eq!(
            engine_error_text(b"404 page not found\n"),
            "404 page not found"
        );
    }

    #[tokio::test]
    async fn upgrade_replays_bytes_after_the_101_head() {
        let (client, mut server) = tokio::io::duplex(4096);
        let srv = tokio::spawn(async move {
            let mut req = vec![0u8; 1024];
            let n = server.read(&mut req).await.unwrap();
            let req = String::from_utf8_lossy(&req[..n]).to_string();
            server
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nSETTINGS")
                .await
                .unwrap();
            server.write_all(b"+more").await.unwrap();
            req
        });
        let mut io = upgrade_grpc(Box::new(client), "api.moby.localhost")
            .await
            .unwrap();
        let req = srv.await.unwrap();
        assert!(req.starts_with("POST /grpc HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nConnection: Upgrade\r\n"), "{req}");
        assert!(req.contains("\r\nUpgrade: h2c\r\n"), "{req}");
        assert!(req.contains("\r\nHost: api.moby.localhost\r\n"), "{req}");
        let mut got = vec![0u8; 13];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"SETTINGS+more");
    }

    #[tokio::test]
    async fn upgrade_refusal_quotes_the_engine() {
        let (client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut req = vec![0u8; 1024];
            let _ = server.read(&mut req).await.unwrap();
            server
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"message\":\"page not found\"}\n")
                .await
                .unwrap();
        });
        let e = upgrade_grpc(Box::new(client), "x").await.err().unwrap();
        assert!(e.contains("\"HTTP/1.1 404 Not Found\""), "{e}");
        assert!(e.ends_with(": page not found"), "{e}");
    }

    #[tokio::test]
    async fn one_shot_connector_yields_once_then_names_the_address() {
        use tower_service::Service;
        let (a, _b) = tokio::io::duplex(64);
        let mut c = OneShot::new(Box::new(a), "docker-container://bk");
        let uri: http::Uri = "http://localhost".parse().unwrap();
        assert!(c.call(uri.clone()).await.is_ok());
        let e = c.call(uri).await.err().unwrap().to_string();
        assert!(
            e.contains("docker-container://bk") && e.contains("is closed"),
            "{e}"
        );
    }
}
