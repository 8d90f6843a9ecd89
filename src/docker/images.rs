//! The engine's image calls archgate makes: `POST /images/load` (what
//! `--load` means when the builder is a BuildKit daemon), `GET /version`,
//! and `GET /images/NAME/get` (the export `docker-daemon:` reads).
//!
//! The one idea: the export is streamed straight to the caller's writer and
//! judged only by how it ended (complete, or how many bytes went missing),
//! so nothing of an image is held in memory.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::Method;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::AsyncReadExt;

use super::api::{
    empty, engine_message, error_body, read_body, reason, send, status_line, Engine, EngineError,
    Failure,
};
use crate::dial::describe;

/// Largest load or version answer read (a few JSON lines).
const MAX_ANSWER: usize = 1 << 20;

/// How long `/version` may take once connected.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the engine may stay silent during an export. Docker 20.10
/// stages the whole image in a temporary directory before the first byte
/// of the answer, so this is generous; a dead connection still ends it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// What Docker 26's containerd store answers when it cannot export a
/// multi-platform image: its `manifest.json` must point at one manifest, the
/// engine's own platform preferred, and that one's content is missing
/// (containerd images/archive/exporter.go; the `platform` parameter that
/// avoids it came with API 1.48).
const MISSING_MANIFEST: &str = "unable to create manifests file";
const HOST_PLATFORM_HINT: &str = " (this engine cannot export a multi-platform image without \
    the content of its own platform: `docker pull --platform` that platform too, or check the \
    registry copy with docker://)";

/// Why an export failed, before the image and engine are named.
#[derive(Debug)]
pub enum ExportError {
    /// The engine could not be reached.
    Unreachable(String),
    /// The engine refused, quoting its message.
    Engine { status: u16, message: String },
    /// The answer broke off or is not HTTP.
    Stream(String),
    /// Writing the export failed.
    Spool(io::Error),
}

impl Engine {
    /// `POST /images/load` with the tarball at `tar`; returns the engine's
    /// "Loaded image: ..." lines.
    pub async fn load(&self, tar: &Path) -> Result<Vec<String>, EngineError> {
        let fail = |reason: String| EngineError::Connect {
            addr: self.host().to_string(),
            reason: format!("loading {} into the engine: {reason}", tar.display()),
        };
        let file = tokio::fs::File::open(tar)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| fail(e.to_string()))?
            .len();
        let io = self.dial().await?;
        let req = self
            .request(Method::POST, "/images/load?quiet=1")
            .header(CONTENT_TYPE, "application/x-tar")
            .header(CONTENT_LENGTH, len)
            .header(CONNECTION, "close")
            .body(file_body(file))
            .map_err(|e| fail(e.to_string()))?;
        let resp = send(io, req).await.map_err(|e| fail(describe(&e)))?;
        let status = status_line(&resp);
        let ok = resp.status() == http::StatusCode::OK;
        let body = read_body(resp.into_body(), MAX_ANSWER)
            .await
            .map_err(fail)?;
        load_answer(ok, &status, &body).map_err(fail)
    }

    /// The engine's version as `(major, minor)` (`GET /version`), or `None`
    /// when it cannot be read.
    pub async fn version(&self) -> Option<(u64, u64)> {
        version_of(&self.small_answer("/version").await?)
    }

    /// Whether the engine keeps images in containerd's image store (`GET
    /// /info`: `DriverStatus` has `driver-type` `io.containerd.snapshotter.v1`),
    /// so its image load takes an OCI archive with several platforms; what
    /// buildx asks before `--load` (`util/dockerutil/client.go`, `Features`:
    /// `OCIImporter`). `None` when the engine cannot be asked.
    pub async fn containerd_store(&self) -> Option<bool> {
        containerd_store_of(&self.small_answer("/info").await?)
    }

    /// The body of a small `GET` answer, within [`VERSION_TIMEOUT`] once
    /// connected; `None` when it cannot be had.
    async fn small_answer(&self, path: &str) -> Option<Vec<u8>> {
        let io = self.dial().await.ok()?;
        let req = self
            .request(Method::GET, path)
            .header(CONNECTION, "close")
            .body(empty())
            .ok()?;
        let ask = async {
            let resp = send(io, req).await.ok()?;
            read_body(resp.into_body(), MAX_ANSWER).await.ok()
        };
        tokio::time::timeout(VERSION_TIMEOUT, ask).await.ok()?
    }

    /// `GET /images/REF/get`: the image as a tar stream, written to `out`.
    /// Returns the body's length.
    pub async fn export(&self, reference: &str, out: &mut impl Write) -> Result<u64, ExportError> {
        let io = self.dial().await.map_err(|e| {
            ExportError::Unreachable(match e {
                EngineError::Connect { reason, .. } => reason,
                other => other.to_string(),
            })
        })?;
        let req = self
            .request(
                Method::GET,
                &format!("/images/{}/get", path_escape(reference)),
            )
            .header(ACCEPT, "application/x-tar")
            .header(CONNECTION, "close")
            .body(empty())
            .map_err(|e| ExportError::Stream(format!("cannot ask for {reference:?}: {e}")))?;
        let silent = || {
            ExportError::Stream(format!(
                "the engine sent nothing for {}s",
                IDLE_TIMEOUT.as_secs()
            ))
        };
        let resp = match tokio::time::timeout(IDLE_TIMEOUT, send(io, req)).await {
            Err(_) => return Err(silent()),
            Ok(Err(e)) => {
                return Err(ExportError::Stream(match Failure::of(&e) {
                    Failure::Closed => "the engine closed the connection without an answer".into(),
                    Failure::NotHttp(m) => format!("not an HTTP answer: {m}"),
                    Failure::Other(m) => format!("the connection failed: {m}"),
                }))
            }
            Ok(Ok(r)) => r,
        };
        if resp.status() != http::StatusCode::OK {
            let status = resp.status().as_u16();
            let why = reason(&resp);
            let mut message = engine_message(&error_body(resp.into_body()).await, &why);
            if message.contains(MISSING_MANIFEST) {
                message.push_str(HOST_PLATFORM_HINT);
            }
            return Err(ExportError::Engine { status, message });
        }
        let chunked = resp
            .headers()
            .get_all(TRANSFER_ENCODING)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("chunked")));
        let length = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .filter(|_| !chunked);
        let mut body = resp.into_body();
        let mut written = 0u64;
        loop {
            let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
                Err(_) => return Err(silent()),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(ExportError::Stream(broke_off(&e, length, written)))
                }
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                out.write_all(&data).map_err(ExportError::Spool)?;
                written += data.len() as u64;
            }
        }
        out.flush().map_err(ExportError::Spool)?;
        Ok(written)
    }
}

/// Why a body ended badly: cut short (how much of it is missing), or the
/// connection or its framing failed.
fn broke_off(e: &hyper::Error, length: Option<u64>, written: u64) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut io_kind = None;
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            io_kind = Some(io.kind());
            break;
        }
        source = err.source();
    }
    match (io_kind, length) {
        (Some(io::ErrorKind::UnexpectedEof), Some(n)) if n > written => format!(
            "the export broke off ({} bytes of the answer missing)",
            n - written
        ),
        (Some(io::ErrorKind::UnexpectedEof), _) => {
            "the export broke off (the chunked answer ended early)".into()
        }
        (Some(io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData), None) => {
            format!("bad chunked encoding: {}", describe(e))
        }
        _ => format!("the connection failed: {}", describe(e)),
    }
}

/// A reference as a request path: kept as written, but for the brackets of
/// an IPv6 registry host, which a URI path cannot hold (the engine's router
/// matches the decoded path).
fn path_escape(reference: &str) -> String {
    reference.replace('[', "%5B").replace(']', "%5D")
}

/// A file streamed as a request body.
fn file_body(file: tokio::fs::File) -> super::api::Body {
    let chunks = futures::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 256 << 10];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Frame::data(Bytes::from(buf)), f)))
    });
    BodyExt::boxed(StreamBody::new(chunks))
}

/// `(major, minor)` of a `/version` answer's `Version`.
/// `/info`'s `DriverStatus` (pairs of strings) says the containerd
/// snapshotter is the image store.
fn containerd_store_of(body: &[u8]) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let status = v.get("DriverStatus")?;
    Some(status.as_array().is_some_and(|pairs| {
        pairs.iter().any(|p| {
            p.get(0).and_then(|k| k.as_str()) == Some("driver-type")
                && p.get(1).and_then(|t| t.as_str()) == Some("io.containerd.snapshotter.v1")
        })
    }))
}

fn version_of(body: &[u8]) -> Option<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let version = v.get("Version")?.as_str()?;
    let mut it = version
        .split(['.', '-', '+'])
        .map(|n| n.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

/// A load answer: JSON messages, one of which may carry an `error`; on any
/// status but 200, the status line and the engine's message.
fn load_answer(ok: bool, status: &str, body: &[u8]) -> Result<Vec<String>, String> {
    if !ok {
        return Err(format!("{status}: {}", engine_message(body, "")));
    }
    let text = String::from_utf8_lossy(body);
    let mut loaded = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("unreadable answer {line:?}: {e}"))?;
        if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
            return Err(e.to_string());
        }
        if let Some(s) = v.get("stream").and_then(|s| s.as_str()) {
            let s = s.trim();
            if !s.is_empty() {
                loaded.push(s.to_string());
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests;
