//! The Docker Engine API over HTTP/1.1: hyper's client on a connection
//! archgate dials itself (unix socket, tcp, TLS), one request per
//! connection; connection upgrades (`POST /grpc`, `POST /session`) through
//! `hyper::upgrade`; error answers read once, capped, into one line.
//!
//! The one idea: every engine call goes through `send`, and every refusal
//! through `error_body` and `engine_message`, so all callers decode bodies
//! (chunked or not) and quote the engine the same way.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, UPGRADE, USER_AGENT};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::EngineHost;
use crate::dial::{self, describe, BoxIo, TlsSetup, CONNECT_TIMEOUT};

/// What the Go docker client sends as `Host` for socket hosts.
const SOCKET_HOST_HEADER: &str = "api.moby.localhost";

const AGENT: &str = concat!("archgate/", env!("CARGO_PKG_VERSION"));

/// The most of an error answer's body read (the engine sends one JSON line).
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// How long the body of an error answer may take: the status alone is
/// enough to fail, the body only explains.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest engine message quoted in an error.
const MESSAGE_LIMIT: usize = 400;

/// A request body: empty, or streamed (an image tarball).
pub(crate) type Body = BoxBody<Bytes, io::Error>;

/// Why an engine could not be reached. The messages are those of the
/// BuildKit client's errors, which these convert into.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The TLS settings of a `tcp://` host are incomplete or unreadable.
    #[error("tls for {addr}: {reason}")]
    Tls { addr: String, reason: String },

    /// The engine could not be reached, or its answer was unusable.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
}

/// One engine's API endpoint, ready to dial (its TLS files already read).
pub struct Engine {
    host: EngineHost,
    tls: Option<TlsSetup>,
}

impl Engine {
    /// Prepare to talk to `host`; reads a `tcp://` host's TLS files.
    pub fn new(host: &EngineHost) -> Result<Engine, EngineError> {
        let tls = match host {
            EngineHost::Tcp { addr, tls: Some(t) } => Some(TlsSetup::new(addr, t, false).map_err(
                |reason| EngineError::Tls {
                    addr: host.to_string(),
                    reason,
                },
            )?),
            _ => None,
        };
        Ok(Engine {
            host: host.clone(),
            tls,
        })
    }

    pub fn host(&self) -> &EngineHost {
        &self.host
    }

    /// A fresh connection, within [`CONNECT_TIMEOUT`].
    pub(crate) async fn dial(&self) -> Result<BoxIo, EngineError> {
        let addr = self.host.to_string();
        match tokio::time::timeout(CONNECT_TIMEOUT, dial_host(&self.host, self.tls.clone())).await {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(reason)) => Err(EngineError::Connect { addr, reason }),
            Err(_) => Err(EngineError::Connect {
                addr,
                reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            }),
        }
    }

    /// A request to this engine with the headers every call carries.
    pub(crate) fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, host_header(&self.host))
            .header(USER_AGENT, AGENT)
    }

    /// `POST path` upgraded to h2c on a fresh connection, within
    /// [`CONNECT_TIMEOUT`]: `/session` (the engine then is the HTTP/2
    /// client, buildkit-protocol.md §3.5) or `/grpc`.
    pub(crate) async fn upgrade(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<BoxIo, EngineError> {
        let io = self.dial().await?;
        let addr = self.host.to_string();
        let host = host_header(&self.host);
        match tokio::time::timeout(CONNECT_TIMEOUT, upgrade(io, &host, path, headers)).await {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(reason)) => Err(EngineError::Connect { addr, reason }),
            Err(_) => Err(EngineError::Connect {
                addr,
                reason: format!("no answer to POST {path}"),
            }),
        }
    }
}

/// Dial `host` (TLS through `tls` for a `tcp://` host that has it).
pub(crate) async fn dial_host(host: &EngineHost, tls: Option<TlsSetup>) -> Result<BoxIo, String> {
    match host {
        EngineHost::Unix(path) => Ok(Box::new(dial::unix(path).await?)),
        EngineHost::Tcp { addr, .. } => dial::tcp_tls(addr, tls).await,
    }
}

/// The `Host` header the docker CLI sends to `host`.
pub(crate) fn host_header(host: &EngineHost) -> String {
    match host {
        EngineHost::Unix(_) => SOCKET_HOST_HEADER.to_string(),
        EngineHost::Tcp { addr, .. } => addr.to_string(),
    }
}

/// An empty request body.
pub(crate) fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Send one request on `io` and return the answer, its body still to read.
/// The connection lives until the body is read (or an upgrade is taken).
pub(crate) async fn send(
    io: BoxIo,
    req: http::Request<Body>,
) -> Result<http::Response<Incoming>, hyper::Error> {
    // Header names go out in title case, as Go's client writes them.
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(TokioIo::new(io))
        .await?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender.send_request(req).await
}

/// `POST path` with an h2c upgrade on `io`; the connection after
/// `101 Switching Protocols` (bytes the engine sent past the answer, its
/// HTTP/2 SETTINGS usually, come first). `headers` may repeat names.
pub(crate) async fn upgrade(
    io: BoxIo,
    host_header: &str,
    path: &str,
    headers: &[(&str, String)],
) -> Result<BoxIo, String> {
    let mut req = http::Request::post(path)
        .header(HOST, host_header)
        .header(USER_AGENT, AGENT)
        .header(CONTENT_LENGTH, "0");
    for (k, v) in headers {
        if k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
            return Err(format!("header {k:?} has a line break"));
        }
        req = req.header(*k, v);
    }
    let req = req
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "h2c")
        .body(empty())
        .map_err(|e| format!("POST {path}: {e}"))?;
    let what = format!("POST {path}");
    let resp = send(io, req).await.map_err(|e| match Failure::of(&e) {
        Failure::Closed => format!("the engine closed the connection instead of answering {what}"),
        Failure::NotHttp(m) => format!("the engine's answer to {what} is not HTTP/1.1: {m}"),
        Failure::Other(m) => format!("{what}: {m}"),
    })?;
    if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(|e| format!("{what}: {}", describe(&e)))?;
        return Ok(Box::new(TokioIo::new(upgraded)));
    }
    let status = status_line(&resp);
    let detail = engine_message(&error_body(resp.into_body()).await, "");
    Err(if detail.is_empty() {
        format!("the engine answered {what} with {status:?} instead of 101 Switching Protocols")
    } else {
        format!(
            "the engine answered {what} with {status:?} instead of 101 Switching Protocols: {detail}"
        )
    })
}

/// How a request failed before its answer's head was read.
pub(crate) enum Failure {
    /// The engine closed the connection without answering.
    Closed,
    /// What came back is not an HTTP/1 answer.
    NotHttp(String),
    Other(String),
}

impl Failure {
    pub(crate) fn of(e: &hyper::Error) -> Failure {
        if e.is_incomplete_message() {
            Failure::Closed
        } else if e.is_parse() || e.is_parse_status() {
            Failure::NotHttp(describe(e))
        } else {
            Failure::Other(describe(e))
        }
    }
}

/// `HTTP/1.1 404 Not Found`: the answer's status line as the engine sent it.
pub(crate) fn status_line<B>(resp: &http::Response<B>) -> String {
    format!(
        "{:?} {} {}",
        resp.version(),
        resp.status().as_u16(),
        reason(resp)
    )
    .trim_end()
    .to_string()
}

/// The answer's reason phrase (`Not Found`).
pub(crate) fn reason<B>(resp: &http::Response<B>) -> String {
    resp.extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| resp.status().canonical_reason().map(str::to_string))
        .unwrap_or_default()
}

/// The body of an error answer, best effort: at most [`ERROR_BODY_LIMIT`]
/// bytes, whatever arrived within [`ERROR_BODY_TIMEOUT`].
pub(crate) async fn error_body(mut body: Incoming) -> Vec<u8> {
    let mut text = Vec::new();
    let read = async {
        while text.len() < ERROR_BODY_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let room = ERROR_BODY_LIMIT - text.len();
                        text.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_TIMEOUT, read).await;
    text
}

/// A whole answer body, refused past `limit` bytes.
pub(crate) async fn read_body(mut body: Incoming, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| describe(&e))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() > limit {
                return Err("the engine's answer is too long".into());
            }
        }
    }
    Ok(out)
}

/// The engine's error text, on one line: its JSON `message`, else the body,
/// else `fallback` (the status reason, say); at most [`MESSAGE_LIMIT`]
/// characters.
pub(crate) fn engine_message(body: &[u8], fallback: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_str::<serde_json::Value>(text.trim())
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string());
    let msg = if msg.is_empty() {
        fallback.to_string()
    } else {
        msg
    };
    let mut one: String = msg
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if one.chars().count() > MESSAGE_LIMIT {
        one = one.chars().take(MESSAGE_LIMIT).collect::<String>() + "...";
    }
    one
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn engine_error_bodies_are_readable() {
        assert_eq!(
            engine_message(br#"{"message":"page not found"}"#, ""),
            "page not found"
        );
        assert_eq!(
            engine_message(b"404 page not found\n", ""),
            "404 page not found"
        );
        assert_eq!(
            engine_message(b"{\"message\":\"No such image: a:latest\"}\n", "Not Found"),
            "No such image: a:latest"
        );
        assert_eq!(
            engine_message(b"line one\nline two", "x"),
            "line one line two"
        );
        assert_eq!(engine_message(b"", "Not Found"), "Not Found");
        assert!(engine_message(&[b'a'; 5000], "").len() < 500);
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
            (req, server)
        });
        let mut io = upgrade(Box::new(client), "api.moby.localhost", "/grpc", &[])
            .await
            .unwrap();
        let (req, _server) = srv.await.unwrap();
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
        let e = upgrade(Box::new(client), "x", "/grpc", &[])
            .await
            .err()
            .unwrap();
        assert!(e.contains("\"HTTP/1.1 404 Not Found\""), "{e}");
        assert!(e.ends_with(": page not found"), "{e}");
    }

    #[tokio::test]
    async fn upgrade_headers_repeat_and_refuse_line_breaks() {
        let (client, mut server) = tokio::io::duplex(4096);
        let srv = tokio::spawn(async move {
            let mut req = vec![0u8; 2048];
            let n = server.read(&mut req).await.unwrap();
            server
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                .await
                .unwrap();
            (String::from_utf8_lossy(&req[..n]).into_owned(), server)
        });
        let headers = [
            ("X-Docker-Expose-Session-Grpc-Method", "/a/B".to_string()),
            ("X-Docker-Expose-Session-Grpc-Method", "/a/C".to_string()),
        ];
        upgrade(Box::new(client), "h", "/session", &headers)
            .await
            .unwrap();
        let (req, _server) = srv.await.unwrap();
        assert_eq!(
            req.matches("\r\nX-Docker-Expose-Session-Grpc-Method: /a/")
                .count(),
            2,
            "{req}"
        );
        let (client, _server) = tokio::io::duplex(64);
        let e = upgrade(
            Box::new(client),
            "h",
            "/session",
            &[("X-A", "a\r\nb".into())],
        )
        .await
        .err()
        .unwrap();
        assert!(e.contains("line break"), "{e}");
    }
}
