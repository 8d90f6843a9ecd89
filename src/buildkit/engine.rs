//! The one Docker Engine API call `archgate build` makes itself: loading a
//! `docker` exporter tarball into the local engine, which is what `--load`
//! means when the builder is a BuildKit daemon rather than an engine.
//!
//! The one idea: the engine API is plain HTTP/1.1 on the connection
//! transport already knows how to dial (unix socket, tcp, TLS); one request
//! with a streamed body and `Connection: close` needs no HTTP client.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::BuildError;
use super::transport::dial_engine;
use crate::docker::EngineHost;

/// Largest engine answer read (the load progress is a few JSON lines).
const MAX_ANSWER: usize = 1 << 20;

/// `POST /images/load` with the tarball at `tar`; returns the engine's
/// "Loaded image: ..." lines.
pub async fn load_image(host: &EngineHost, tar: &Path) -> Result<Vec<String>, BuildError> {
    let fail = |reason: String| BuildError::Connect {
        addr: host.to_string(),
        reason: format!("loading {} into the engine: {reason}", tar.display()),
    };
    let mut file = tokio::fs::File::open(tar)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| fail(e.to_string()))?
        .len();
    let (mut io, host_header) = dial_engine(host).await?;
    let head = format!(
        "POST /images/load?quiet=1 HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: archgate/{}\r\n\
         Content-Type: application/x-tar\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    io.write_all(head.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    tokio::io::copy(&mut file, &mut io)
        .await
        .map_err(|e| fail(e.to_string()))?;
    io.flush().await.map_err(|e| fail(e.to_string()))?;

    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = io.read(&mut chunk).await.map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() > MAX_ANSWER {
            return Err(fail("the engine's answer is too long".into()));
        }
    }
    parse_load_answer(&answer).map_err(fail)
}

/// The engine's version as `(major, minor)` (`GET /version`), or `None` when
/// it cannot be read.
pub async fn engine_version(host: &EngineHost) -> Option<(u64, u64)> {
    let (mut io, host_header) = dial_engine(host).await.ok()?;
    let req = format!(
        "GET /version HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: archgate/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    io.write_all(req.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
            if answer.len() > MAX_ANSWER {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .ok()?;
    parse_version_answer(&answer)
}

/// An HTTP/1.1 answer read to its end: the status line and the body,
/// de-chunked when the engine sent it chunked.
fn split_answer(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").to_string();
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = &raw[end + 4..];
    Some((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        },
    ))
}

fn parse_version_answer(raw: &[u8]) -> Option<(u64, u64)> {
    let (_, body) = split_answer(raw)?;
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let version = v.get("Version")?.as_str()?;
    let mut it = version
        .split(['.', '-', '+'])
        .map(|n| n.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

/// The engine's answer: a status line, headers, then (possibly chunked) JSON
/// messages, one of which may carry an `error`.
fn parse_load_answer(raw: &[u8]) -> Result<Vec<String>, String> {
    let Some((status, body)) = split_answer(raw) else {
        return Err("no HTTP answer".into());
    };
    let text = String::from_utf8_lossy(&body);
    if status.split_whitespace().nth(1) != Some("200") {
        let msg = super::transport::engine_error_text(text.trim().as_bytes());
        return Err(format!("{status}: {msg}"));
    }
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

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..i])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { break };
        b = &b[i + 2..];
        if size == 0 || b.len() < size {
            out.extend_from_slice(&b[..size.min(b.len())]);
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_lines_from_a_chunked_answer() {
        let body = "{\"stream\":\"Loaded image: app:1\\n\"}\r\n";
        let raw = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        assert_eq!(
            parse_load_answer(raw.as_bytes()).unwrap(),
            vec!["Loaded image: app:1"]
        );
    }

    #[test]
    fn engine_version_from_the_version_answer() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Version\":\"26.1.5+dfsg1\",\"ApiVersion\":\"1.45\"}";
        assert_eq!(parse_version_answer(raw), Some((26, 1)));
        assert_eq!(parse_version_answer(b"HTTP/1.1 200 OK\r\n\r\n{}"), None);
    }

    #[test]
    fn engine_errors_are_reported() {
        let raw = "HTTP/1.1 200 OK\r\n\r\n{\"errorDetail\":{\"message\":\"bad tar\"},\"error\":\"bad tar\"}\n";
        assert_eq!(parse_load_answer(raw.as_bytes()).unwrap_err(), "bad tar");
        let raw = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n{\"message\":\"boom\"}";
        assert_eq!(
            parse_load_answer(raw.as_bytes()).unwrap_err(),
            "HTTP/1.1 500 Internal Server Error: boom"
        );
        assert!(parse_load_answer(b"garbage").is_err());
    }
}
