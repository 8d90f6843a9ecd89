//! Docker Engine API endpoints: the hosts `DOCKER_HOST`, docker contexts
//! and buildx builders name (`unix://PATH`, `tcp://HOST[:PORT]`), parsed and
//! shown back.

use std::fmt;
use std::path::PathBuf;

use crate::dial::{unix_path, TcpAddr, TlsOptions};

/// A Docker Engine API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineHost {
    /// `unix://PATH`
    Unix(PathBuf),
    /// `tcp://HOST[:PORT]`, TLS when `tls` is set (`DOCKER_TLS_VERIFY`).
    Tcp {
        addr: TcpAddr,
        tls: Option<TlsOptions>,
    },
}

/// The engine socket the docker CLI uses when nothing else is configured.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The Docker Engine's plain-TCP port when `tcp://HOST` names none (docker CLI
/// convention: 2375 plain, 2376 TLS).
const DOCKER_TCP_PORT: u16 = 2375;
const DOCKER_TLS_PORT: u16 = 2376;

impl EngineHost {
    /// Parse a Docker Engine host as `DOCKER_HOST` spells it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(format!(
                "{s:?} has no scheme; expected unix://PATH or tcp://HOST[:PORT]"
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "unix" => unix_path(rest).map(EngineHost::Unix),
            "tcp" | "http" => TcpAddr::parse(rest, Some(DOCKER_TCP_PORT))
                .map(|addr| EngineHost::Tcp { addr, tls: None }),
            "https" => TcpAddr::parse(rest, Some(DOCKER_TLS_PORT)).map(|addr| EngineHost::Tcp {
                addr,
                tls: Some(TlsOptions::default()),
            }),
            "ssh" | "npipe" | "fd" => Err(format!(
                "{scheme}:// engine hosts are not supported; expected unix://PATH or tcp://HOST[:PORT]"
            )),
            _ => Err(format!(
                "unknown scheme {scheme:?}; expected unix://PATH or tcp://HOST[:PORT]"
            )),
        }
    }

    /// The engine's default socket.
    pub fn default_socket() -> Self {
        EngineHost::Unix(PathBuf::from(DEFAULT_DOCKER_SOCKET))
    }
}

impl fmt::Display for EngineHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineHost::Unix(p) => write!(f, "unix://{}", p.display()),
            EngineHost::Tcp { addr, .. } => write!(f, "tcp://{addr}"),
        }
    }
}
