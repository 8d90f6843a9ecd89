//! The fault-injecting relay: a loopback TCP port or a unix socket that
//! forwards every connection to a real daemon or registry, and breaks it on
//! purpose: all connections cut at once (a daemon that died), or one HTTP
//! response damaged (a flipped byte, a cut, 429s, a stall).
//!
//! The one idea: faults are made at the byte level between the real peer and
//! archgate, so what archgate sees is what a broken network or daemon really
//! sends. The relay runs on a tokio runtime of its own, so sync tests and
//! async tests start it alike; dropping it ends every connection.
//!
//! Upstream, a connection can first be upgraded as the Docker Engine's
//! `POST /grpc` (hyper's HTTP/1 client), which makes an engine socket a
//! plain BuildKit endpoint; downstream, it can be TLS (rustls).

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_rustls::rustls;

/// What the relay does to HTTP responses for request paths containing
/// `path` (the HTTP modes force one request per connection).
#[derive(Clone)]
pub enum Fault {
    /// Flip the lowest bit of the body's byte at `offset` (offset 4 of a
    /// gzip stream is its MTIME: only a digest can tell).
    FlipBodyByte { path: String, offset: u64 },
    /// Close the connection after `bytes` of the response.
    CutAfter { path: String, bytes: u64 },
    /// Answer `429 Too Many Requests` (`Retry-After: 1`, or `0` when
    /// `times` is `u32::MAX`) to the first `times` matching requests.
    TooManyRequests { path: String, times: u32 },
    /// After `bytes` of the response, say so on the channel and keep
    /// relaying (slowly) whatever the upstream still sends.
    NotifyAfter {
        path: String,
        bytes: u64,
        tx: Arc<Mutex<mpsc::Sender<()>>>,
    },
}

/// Where the relay forwards to.
#[derive(Clone)]
enum Upstream {
    Tcp(String),
    Unix(PathBuf),
}

/// A relay to be started: [`Relay::to_tcp`] or [`Relay::to_unix`], the
/// options, then [`RelayBuilder::start`].
#[must_use]
pub struct RelayBuilder {
    upstream: Upstream,
    upgrade_grpc: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    fault: Option<Fault>,
    listen_unix: bool,
}

impl RelayBuilder {
    /// Upgrade each upstream connection with the engine's `POST /grpc`
    /// (h2c) first: to a client the relay is then a BuildKit endpoint.
    pub fn upgrade_grpc(mut self) -> RelayBuilder {
        self.upgrade_grpc = true;
        self
    }
    /// Speak TLS to clients with this server configuration.
    pub fn tls(mut self, tls: Arc<rustls::ServerConfig>) -> RelayBuilder {
        self.tls = Some(tls);
        self
    }
    /// Damage HTTP responses as `fault` says.
    pub fn fault(mut self, fault: Fault) -> RelayBuilder {
        self.fault = Some(fault);
        self
    }
    /// Listen on a unix socket in a temporary folder (default: a
    /// kernel-picked port on 127.0.0.1).
    pub fn listen_unix(mut self) -> RelayBuilder {
        self.listen_unix = true;
        self
    }

    pub fn start(self) -> Relay {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-relay")
            .enable_all()
            .build()
            .expect("the relay's runtime");
        let (kill, killed) = watch::channel(false);
        let (listener, local, dir) = if self.listen_unix {
            let dir = super::tmp();
            let path = dir.path().join("relay.sock");
            let l = std::os::unix::net::UnixListener::bind(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            l.set_nonblocking(true).expect("nonblocking");
            (Listener::Unix(l), Local::Unix(path), Some(dir))
        } else {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            l.set_nonblocking(true).expect("nonblocking");
            let addr = l.local_addr().expect("local_addr");
            (Listener::Tcp(l), Local::Tcp(addr), None)
        };
        let conf = Arc::new(Conf {
            upstream: self.upstream,
            upgrade_grpc: self.upgrade_grpc,
            tls: self.tls,
            fault: self.fault,
            answered_429: AtomicU32::new(0),
        });
        rt.spawn(accept_loop(listener, conf, killed));
        Relay {
            local,
            kill,
            rt: Some(rt),
            _dir: dir,
        }
    }
}

/// A running relay; dropping it ends every connection.
pub struct Relay {
    local: Local,
    kill: watch::Sender<bool>,
    rt: Option<tokio::runtime::Runtime>,
    _dir: Option<tempfile::TempDir>,
}

enum Local {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Relay {
    /// A relay to `HOST:PORT`.
    pub fn to_tcp(addr: &str) -> RelayBuilder {
        RelayBuilder::new(Upstream::Tcp(addr.to_string()))
    }
    /// A relay to a unix socket.
    pub fn to_unix(path: impl Into<PathBuf>) -> RelayBuilder {
        RelayBuilder::new(Upstream::Unix(path.into()))
    }

    /// `127.0.0.1:PORT` of a TCP relay.
    pub fn addr(&self) -> String {
        match &self.local {
            Local::Tcp(a) => a.to_string(),
            Local::Unix(p) => panic!("the relay listens on {}, not TCP", p.display()),
        }
    }
    /// The port of a TCP relay.
    pub fn port(&self) -> u16 {
        match &self.local {
            Local::Tcp(a) => a.port(),
            Local::Unix(p) => panic!("the relay listens on {}, not TCP", p.display()),
        }
    }
    /// The socket of a unix relay.
    pub fn path(&self) -> &Path {
        match &self.local {
            Local::Unix(p) => p,
            Local::Tcp(a) => panic!("the relay listens on {a}, not a unix socket"),
        }
    }
    /// Drop every relayed connection, as a daemon restart or network cut
    /// would (new connections are still relayed).
    pub fn cut(&self) {
        let _ = self.kill.send(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Tests drop relays inside async tests too, where a runtime must
        // not wait for its tasks.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl RelayBuilder {
    fn new(upstream: Upstream) -> RelayBuilder {
        RelayBuilder {
            upstream,
            upgrade_grpc: false,
            tls: None,
            fault: None,
            listen_unix: false,
        }
    }
}

// ---------------------------------------------------------------------------
// The relay's tasks

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type BoxIo = Box<dyn Io>;

enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

struct Conf {
    upstream: Upstream,
    upgrade_grpc: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    fault: Option<Fault>,
    /// Requests answered 429 so far.
    answered_429: AtomicU32,
}

async fn accept_loop(listener: Listener, conf: Arc<Conf>, killed: watch::Receiver<bool>) {
    enum L {
        Tcp(tokio::net::TcpListener),
        Unix(tokio::net::UnixListener),
    }
    let l = match listener {
        Listener::Tcp(l) => L::Tcp(tokio::net::TcpListener::from_std(l).expect("tcp listener")),
        Listener::Unix(l) => L::Unix(tokio::net::UnixListener::from_std(l).expect("unix listener")),
    };
    loop {
        let client: BoxIo = match &l {
            L::Tcp(l) => match l.accept().await {
                Ok((s, _)) => Box::new(s),
                Err(_) => return,
            },
            L::Unix(l) => match l.accept().await {
                Ok((s, _)) => Box::new(s),
                Err(_) => return,
            },
        };
        let conf = conf.clone();
        let mut killed = killed.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = relay_one(client, &conf) => {}
                _ = killed.wait_for(|k| *k) => {}
            }
        });
    }
}

async fn dial(upstream: &Upstream) -> std::io::Result<BoxIo> {
    Ok(match upstream {
        Upstream::Tcp(a) => Box::new(tokio::net::TcpStream::connect(a).await?),
        Upstream::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
    })
}

/// One connection: upstream dialled (and upgraded), the client's TLS
/// accepted, then bytes both ways, or one HTTP exchange with its fault.
async fn relay_one(client: BoxIo, conf: &Conf) {
    if let Some(fault) = &conf.fault {
        let client = match accept_tls(client, conf).await {
            Some(c) => c,
            None => return,
        };
        let _ = http_exchange(client, conf, fault).await;
        return;
    }
    let Ok(mut up) = dial(&conf.upstream).await else {
        return;
    };
    if conf.upgrade_grpc {
        up = upgrade_grpc(up).await;
    }
    // A refused handshake just ends this connection.
    let Some(mut client) = accept_tls(client, conf).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
}

async fn accept_tls(client: BoxIo, conf: &Conf) -> Option<BoxIo> {
    match &conf.tls {
        None => Some(client),
        Some(cfg) => tokio_rustls::TlsAcceptor::from(cfg.clone())
            .accept(client)
            .await
            .ok()
            .map(|s| Box::new(s) as BoxIo),
    }
}

/// The engine's `POST /grpc` on `io`; the connection after `101 Switching
/// Protocols` (hyper hands back bytes read past the answer first).
async fn upgrade_grpc(io: BoxIo) -> BoxIo {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1 to the engine");
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let req = hyper::Request::post("/grpc")
        .header("Host", "api.moby.localhost")
        .header("Content-Length", "0")
        .header("Connection", "Upgrade")
        .header("Upgrade", "h2c")
        .body(Empty::<Bytes>::new())
        .expect("the upgrade request");
    let resp = sender
        .send_request(req)
        .await
        .expect("the engine's answer to POST /grpc");
    assert_eq!(
        resp.status(),
        hyper::StatusCode::SWITCHING_PROTOCOLS,
        "the engine's answer to POST /grpc: {resp:?}"
    );
    let upgraded = hyper::upgrade::on(resp)
        .await
        .expect("the upgraded connection");
    Box::new(TokioIo::new(upgraded))
}

/// One request and its response, the fault applied to the response bytes.
/// The request head is rewritten to `Connection: close` and the upstream's
/// `Host`, so each response can be told apart (GETs only: no request body
/// is forwarded).
async fn http_exchange(mut client: BoxIo, conf: &Conf, fault: &Fault) -> std::io::Result<()> {
    let Upstream::Tcp(upstream) = &conf.upstream else {
        panic!("the HTTP faults relay to a TCP upstream");
    };
    let Ok(Ok(Some(head))) =
        tokio::time::timeout(Duration::from_secs(30), read_head(&mut client)).await
    else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    if let Fault::TooManyRequests { path: p, times } = fault {
        if path.contains(p.as_str()) && conf.answered_429.fetch_add(1, Ordering::SeqCst) < *times {
            let after = if *times == u32::MAX { 0 } else { 1 };
            client
                .write_all(
                    format!(
                        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {after}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await?;
            return Ok(());
        }
    }
    let mut rewritten = String::new();
    for (i, line) in text.split("\r\n").enumerate() {
        if line.is_empty() {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("host:")) {
            continue;
        }
        rewritten.push_str(line);
        rewritten.push_str("\r\n");
        if i == 0 {
            rewritten.push_str(&format!("Host: {upstream}\r\nConnection: close\r\n"));
        }
    }
    rewritten.push_str("\r\n");
    let mut up = tokio::net::TcpStream::connect(upstream).await?;
    up.write_all(rewritten.as_bytes()).await?;
    let applies = |p: &str| path.contains(p);
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent: u64 = 0;
    let mut head_seen: Vec<u8> = Vec::new();
    let mut body_start: Option<u64> = None;
    let mut flipped = false;
    let mut notified = false;
    loop {
        let n = match up.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        match fault {
            Fault::FlipBodyByte { path: p, offset } if applies(p) => {
                // Find the end of the response head, then the byte.
                let start = sent;
                head_seen
                    .extend_from_slice(&chunk[..n.min(65536usize.saturating_sub(head_seen.len()))]);
                if body_start.is_none() {
                    if let Some(i) = head_seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        body_start = Some(i as u64 + 4);
                    }
                }
                if let Some(b) = body_start {
                    let at = b + offset;
                    if at >= start && at < start + n as u64 && !flipped {
                        chunk[(at - start) as usize] ^= 0x01;
                        flipped = true;
                    }
                }
                client.write_all(chunk).await?;
            }
            Fault::CutAfter { path: p, bytes } if applies(p) => {
                let room = bytes.saturating_sub(sent) as usize;
                let k = room.min(n);
                client.write_all(&chunk[..k]).await?;
                if k < n {
                    let _ = client.shutdown().await;
                    return Ok(());
                }
            }
            Fault::NotifyAfter { path: p, bytes, tx } if applies(p) => {
                client.write_all(chunk).await?;
                if sent + n as u64 >= *bytes && !notified {
                    notified = true;
                    if let Ok(tx) = tx.lock() {
                        let _ = tx.send(());
                    }
                }
                if notified {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            _ => client.write_all(chunk).await?,
        }
        sent += n as u64;
    }
    let _ = client.shutdown().await;
    Ok(())
}

/// A request head, byte by byte (nothing past it is consumed); `None` when
/// the client closed first or the head is over 64 KiB.
async fn read_head(client: &mut BoxIo) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 || head.len() > 64 * 1024 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(head))
}
