//! The byte streams archgate dials itself: a unix socket, TCP, TLS over TCP.
//! The Docker Engine API client and every BuildKit transport start here.
//!
//! The one idea: callers get one boxed bidirectional stream whatever the
//! way there, so everything above (HTTP/1 to an engine, HTTP/2 to BuildKit)
//! is written once.

pub mod tls;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

pub use tls::TlsOptions;
pub(crate) use tls::TlsSetup;

/// How long dialling, any upgrade and the first round trip may take.
/// Under 5 s, so an unreachable daemon is reported within 5 s all told.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// A bidirectional byte stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A dialled stream, whatever its kind.
pub(crate) type BoxIo = Box<dyn Io>;

/// A host and port. IPv6 hosts are stored without brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for TcpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What follows `unix://`: a socket path (relative ones too, as buildctl
/// passes them through).
pub(crate) fn unix_path(rest: &str) -> Result<PathBuf, String> {
    if rest.is_empty() {
        return Err("unix:// needs a socket path, like unix:///run/buildkit/buildkitd.sock".into());
    }
    if rest.contains('?') || rest.contains('#') {
        return Err("unix:// takes a plain socket path".into());
    }
    Ok(PathBuf::from(rest))
}

impl TcpAddr {
    /// `HOST:PORT`, `[V6]:PORT`; with `default_port`, the port may be left
    /// out.
    pub fn parse(rest: &str, default_port: Option<u16>) -> Result<TcpAddr, String> {
        let hostport = rest.strip_suffix('/').unwrap_or(rest);
        if hostport.contains('/') || hostport.contains('?') || hostport.contains('@') {
            return Err(format!("expected HOST:PORT, got {rest:?}"));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("unclosed '[' in {rest:?}"))?;
            match after {
                "" => (h, None),
                p if p.starts_with(':') => (h, Some(&p[1..])),
                _ => return Err(format!("expected [HOST]:PORT, got {rest:?}")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(format!(
                        "IPv6 hosts need brackets, like tcp://[::1]:1234 (got {rest:?})"
                    ))
                }
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(format!("missing host in {rest:?}"));
        }
        let port = match (port, default_port) {
            (Some(p), _) => {
                let n: u16 = p
                    .parse()
                    .map_err(|_| format!("port {p:?} is not a number from 1 to 65535"))?;
                if n == 0 {
                    return Err("port 0 is not a valid port".into());
                }
                n
            }
            (None, Some(d)) => d,
            (None, None) => return Err(format!("missing port: expected HOST:PORT, got {rest:?}")),
        };
        Ok(TcpAddr {
            host: host.to_string(),
            port,
        })
    }
}

/// Connect to a unix socket; the error is the system's reason.
pub(crate) async fn unix(path: &Path) -> Result<UnixStream, String> {
    UnixStream::connect(path).await.map_err(|e| e.to_string())
}

/// Connect over TCP with Nagle off (gRPC and API calls are small,
/// latency-bound frames); the error is the system's reason.
pub(crate) async fn tcp(addr: &TcpAddr) -> Result<TcpStream, String> {
    let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// TCP, then TLS when `tls` is set.
pub(crate) async fn tcp_tls(addr: &TcpAddr, tls: Option<TlsSetup>) -> Result<BoxIo, String> {
    let tcp = tcp(addr).await?;
    Ok(match tls {
        Some(t) => Box::new(t.handshake(tcp).await?),
        None => Box::new(tcp),
    })
}

/// An error and its causes, `a: b: c`, skipping causes already quoted: what
/// a failed connection or call says in a message.
pub(crate) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    with_causes(vec![err.to_string()], err.source()).join(": ")
}

/// `parts`, then the text of each cause from `source` on that `parts` does
/// not already quote.
pub(crate) fn with_causes(
    mut parts: Vec<String>,
    mut source: Option<&(dyn std::error::Error + 'static)>,
) -> Vec<String> {
    while let Some(e) = source {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        source = e.source();
    }
    parts
}

/// Bytes as one line of text for a message: control characters become
/// spaces, the ends are trimmed.
pub(crate) fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}
