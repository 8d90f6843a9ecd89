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
use tonic::transport::{Channel, Endpoint};

mod grpc_upgrade;
mod socket;
mod stdio;

use super::addr::BuilderAddr;
use super::error::describe_status;
use super::proto::grpc::health::v1::{health_client::HealthClient, HealthCheckRequest};
use super::BuildError;
use crate::dial::{printable, BoxIo, TlsSetup, CONNECT_TIMEOUT};
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
    let first = tokio::time::timeout(CONNECT_TIMEOUT, establish(&target, &name, tls.clone(), env));
    let attempt = match first.await {
        // A stopped docker-container builder is started again, as buildx
        // does, and dialled once more.
        Ok(Err(reason)) if stdio::says_not_running(&reason) => {
            let BuilderAddr::DockerContainer {
                container,
                context,
                engine,
            } = &target
            else {
                return Err(BuildError::Connect { addr: name, reason });
            };
            tracing::info!("{container} is not running: starting it, as buildx does");
            if let Err(why) =
                stdio::start(container, context.as_deref(), engine.as_ref(), env).await
            {
                return Err(BuildError::Connect {
                    addr: name,
                    reason: format!("{reason}; starting it: {why}"),
                });
            }
            tokio::time::timeout(CONNECT_TIMEOUT, establish(&target, &name, tls, env)).await
        }
        other => other,
    };
    match attempt {
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

/// A channel over a stream someone else opened (a frontend's stdio, served
/// by the daemon): HTTP/2 with prior knowledge, authority `localhost`, the
/// one stream handed out once and never re-dialled. No call is made.
pub(crate) async fn over_stream(io: BoxIo, name: &str) -> Result<Channel, BuildError> {
    let err = |reason: String| BuildError::Connect {
        addr: name.to_string(),
        reason,
    };
    endpoint(&BuilderAddr::Unix(name.into()))
        .map_err(err)?
        .connect_with_connector(OneShot::new(io, name))
        .await
        .map_err(|e| err(crate::dial::describe(&e)))
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
        .map_err(|e| crate::dial::describe(&e))?;
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
    if said.is_empty() && matches!(target, BuilderAddr::Tcp { tls: None, .. }) {
        // A Go TLS server (buildkitd with --tlscert) closes a connection
        // whose first bytes are not a TLS handshake without a word
        // (crypto/tls `Conn.readRecord` fails, the listener drops it).
        return Err(format!(
            "{base}: the daemon closed the connection without answering, as a BuildKit              daemon that wants TLS does; give its CA with --tlscacert (and --tlscert and              --tlskey when it wants a client certificate)"
        ));
    }
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
    stderr: Option<stdio::StderrLog>,
}

impl Dialed {
    fn plain(io: BoxIo) -> Self {
        Dialed { io, stderr: None }
    }
}

async fn dial(
    target: &BuilderAddr,
    tls: Option<TlsSetup>,
    env: &Environment,
) -> Result<Dialed, String> {
    match target {
        BuilderAddr::Unix(path) => socket::unix(path).await.map(Dialed::plain),
        BuilderAddr::Tcp { addr, .. } => socket::tcp(addr, tls).await.map(Dialed::plain),
        BuilderAddr::DockerEngine(Some(host)) => {
            grpc_upgrade::dial(host, tls).await.map(Dialed::plain)
        }
        BuilderAddr::DockerEngine(None) => Err("no docker engine host resolved".into()),
        BuilderAddr::DockerContainer {
            container,
            context,
            engine,
        } => stdio::spawn(container, context.as_deref(), engine.as_ref(), env),
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
