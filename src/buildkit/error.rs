//! Why talking to a BuildKit daemon failed, and the daemon's own errors made
//! readable. Every variant names the address, builder, file or call that
//! failed; all of them mean "could not decide" (exit 2).

use std::path::PathBuf;

use base64::Engine as _;
use prost::Message;

use super::proto::google::rpc::Status as RpcStatus;

/// A BuildKit client failure.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A builder address could not be parsed.
    #[error("invalid builder address {addr:?}: {reason}")]
    InvalidAddr { addr: String, reason: String },

    /// TLS settings are incomplete or unreadable.
    #[error("tls for {addr}: {reason}")]
    Tls { addr: String, reason: String },

    /// The daemon could not be reached, or did not answer gRPC.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },

    /// The buildx builder store or a docker context could not be read.
    #[error("{}: {reason}", path.display())]
    Store { path: PathBuf, reason: String },

    /// `--builder NAME` names nothing archgate can find.
    #[error("no builder {name:?} found in {} (nor a docker context of that name)", store.display())]
    BuilderNotFound { name: String, store: PathBuf },

    /// `--builder` (or `BUILDX_BUILDER`) names a docker context that is not
    /// the current one, which buildx refuses (docker/buildx
    /// builder/builder.go `Validate`).
    #[error("builder {name:?} is a docker context but the current context is {current:?}: switch to it (DOCKER_CONTEXT={name}, or `docker --context={name} archgate ...`), as buildx requires")]
    NotCurrentContext { name: String, current: String },

    /// The builder exists but its driver is not one archgate can dial.
    #[error("builder {name:?} uses the {driver:?} driver, which archgate cannot dial; pass its BuildKit address with --addr")]
    UnsupportedDriver { name: String, driver: String },

    /// The session (the daemon's channel back to archgate) failed.
    #[error("build session: {0}")]
    Session(String),

    /// A gRPC call reached the daemon and failed.
    #[error("buildkit {call}: {message} ({code:?})")]
    Rpc {
        call: &'static str,
        code: tonic::Code,
        message: String,
    },
}

impl From<crate::docker::ConfigError> for BuildError {
    fn from(e: crate::docker::ConfigError) -> Self {
        use crate::docker::ConfigError;
        match e {
            ConfigError::InvalidHost { addr, reason } => BuildError::InvalidAddr { addr, reason },
            ConfigError::File { path, reason } => BuildError::Store { path, reason },
        }
    }
}

impl From<crate::docker::EngineError> for BuildError {
    fn from(e: crate::docker::EngineError) -> Self {
        use crate::docker::EngineError;
        match e {
            EngineError::Tls { addr, reason } => BuildError::Tls { addr, reason },
            EngineError::Connect { addr, reason } => BuildError::Connect { addr, reason },
        }
    }
}

impl BuildError {
    /// Wrap a failed call, keeping the transport's cause chain in the message
    /// (tonic's own message for a dropped connection is just "transport error").
    pub(crate) fn rpc(call: &'static str, status: &tonic::Status) -> Self {
        BuildError::Rpc {
            call,
            code: status.code(),
            message: describe_status(status),
        }
    }
}

/// A status's message followed by its distinct causes, `a: b: c`.
pub(crate) fn describe_status(status: &tonic::Status) -> String {
    let mut parts = crate::dial::with_causes(
        vec![status.message().to_string()],
        std::error::Error::source(status),
    );
    parts.retain(|p| !p.is_empty());
    if parts.is_empty() {
        format!("{:?} with no message", status.code())
    } else {
        parts.join(": ")
    }
}

/// The daemon's error for people: its message, then the Dockerfile lines
/// it points at when BuildKit attached a source location.
pub fn daemon_message(s: &tonic::Status) -> String {
    let mut msg = describe_status(s);
    if let Ok(st) = RpcStatus::decode(s.details()) {
        for d in &st.details {
            if d.type_url.ends_with("errdefs.Source+json") || d.type_url.ends_with("errdefs.Source")
            {
                if let Some(loc) = source_location(&d.value) {
                    msg.push('\n');
                    msg.push_str(&loc);
                }
            }
        }
    }
    msg
}

/// `Dockerfile:7` and the lines themselves, from an `errdefs.Source` JSON
/// detail: `{"info":{"filename":..,"data":BASE64},"ranges":[{"start":{"line":N},"end":{"line":M}}]}`.
fn source_location(json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let info = v.get("info")?;
    let file = info.get("filename")?.as_str()?.to_string();
    let data = info
        .get("data")
        .and_then(|d| d.as_str())
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = data.lines().collect();
    let mut out = Vec::new();
    for r in v.get("ranges")?.as_array()? {
        let start = r.get("start")?.get("line")?.as_u64()? as usize;
        let end = r
            .get("end")
            .and_then(|e| e.get("line"))
            .and_then(|l| l.as_u64())
            .map_or(start, |l| l as usize)
            .max(start);
        out.push(format!("{file}:{start}"));
        for n in start..=end.min(start.saturating_add(4)) {
            if let Some(l) = lines.get(n.wrapping_sub(1)) {
                out.push(format!(" {n:>4} | {l}"));
            }
        }
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_detail_points_at_the_dockerfile_line() {
        let df = "FROM scratch\nCOPY missing /app\n";
        let json = serde_json::json!({
            "info": {"filename": "Dockerfile", "data": base64::engine::general_purpose::STANDARD.encode(df)},
            "ranges": [{"start": {"line": 2}, "end": {"line": 2}}]
        });
        let loc = source_location(json.to_string().as_bytes()).unwrap();
        assert_eq!(loc, "Dockerfile:2\n    2 | COPY missing /app");
    }
}
