//! Builder addresses: the strings users write (`unix://`, `tcp://`,
//! `docker://`, `docker-container://`) parsed into one enum, and back.
//!
//! The one idea: parsing is pure and strict (every rejection says what was
//! expected); anything that depends on the environment, like which engine a
//! bare `docker://` means, is decided later by `store`/`transport`.

use std::fmt;
use std::path::PathBuf;

use super::BuildError;
use crate::dial::{unix_path, TcpAddr, TlsOptions};
use crate::docker::EngineHost;

/// Where a BuildKit daemon is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuilderAddr {
    /// `unix://PATH`: a buildkitd socket.
    Unix(PathBuf),
    /// `tcp://HOST:PORT`: buildkitd over TCP, plain or TLS.
    Tcp {
        addr: TcpAddr,
        tls: Option<TlsOptions>,
    },
    /// `docker://[ENGINE_HOST]`: a Docker Engine's embedded BuildKit, through
    /// the engine API's `POST /grpc` upgrade. `None`: the engine the docker CLI
    /// would use (`DOCKER_HOST`, the current context, the default socket).
    DockerEngine(Option<EngineHost>),
    /// `docker-container://NAME[?context=CTX]`: a BuildKit container, through
    /// `docker exec -i NAME buildctl dial-stdio`. `engine` is set when the
    /// address comes from a buildx builder whose endpoint is an engine host.
    DockerContainer {
        container: String,
        context: Option<String>,
        engine: Option<EngineHost>,
    },
}

const FORMS: &str =
    "expected unix://PATH, tcp://HOST:PORT, docker://[ENGINE_HOST] or docker-container://NAME";

impl BuilderAddr {
    /// Parse a builder address.
    pub fn parse(s: &str) -> Result<Self, BuildError> {
        let bad = |reason: &str| BuildError::InvalidAddr {
            addr: s.to_string(),
            reason: reason.to_string(),
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(bad(&format!("empty; {FORMS}")));
        }
        let Some((scheme, rest)) = t.split_once("://") else {
            return Err(bad(&format!("no scheme; {FORMS}")));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "unix" => unix_path(rest).map(BuilderAddr::Unix).map_err(|r| bad(&r)),
            "tcp" => TcpAddr::parse(rest, None)
                .map(|addr| BuilderAddr::Tcp { addr, tls: None })
                .map_err(|r| bad(&r)),
            "docker" => {
                if rest.is_empty() {
                    Ok(BuilderAddr::DockerEngine(None))
                } else {
                    EngineHost::parse(rest)
                        .map(|h| BuilderAddr::DockerEngine(Some(h)))
                        .map_err(|r| bad(&format!("engine host: {r}")))
                }
            }
            "docker-container" => parse_container(rest).map_err(|r| bad(&r)),
            "ssh" | "kube-pod" | "podman-container" | "npipe" | "fd" => Err(bad(&format!(
                "{scheme}:// addresses are not supported; {FORMS}"
            ))),
            _ => Err(bad(&format!("unknown scheme {scheme:?}; {FORMS}"))),
        }
    }

    /// Apply buildctl-style TLS flags. Only TCP addresses can use them.
    pub fn with_tls(self, tls: TlsOptions) -> Result<Self, BuildError> {
        if !tls.is_set() {
            return Ok(self);
        }
        match self {
            BuilderAddr::Tcp { addr, .. } => Ok(BuilderAddr::Tcp {
                addr,
                tls: Some(tls),
            }),
            BuilderAddr::DockerEngine(Some(EngineHost::Tcp { addr, .. })) => {
                Ok(BuilderAddr::DockerEngine(Some(EngineHost::Tcp {
                    addr,
                    tls: Some(tls),
                })))
            }
            other => Err(BuildError::InvalidAddr {
                addr: other.to_string(),
                reason:
                    "--tlscacert/--tlscert/--tlskey/--tlsservername apply to tcp:// addresses only"
                        .to_string(),
            }),
        }
    }
}

fn parse_container(rest: &str) -> Result<BuilderAddr, String> {
    let (name, query) = match rest.split_once('?') {
        Some((n, q)) => (n, Some(q)),
        None => (rest, None),
    };
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.is_empty() {
        return Err("docker-container:// needs a container name".into());
    }
    if !valid_container_name(name) {
        return Err(format!(
            "{name:?} is not a container name (letters, digits, '_', '.', '-'; first a letter or digit)"
        ));
    }
    let mut context = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("context", v)) if !v.is_empty() => context = Some(v.to_string()),
            _ => {
                return Err(format!(
                    "unknown option {pair:?}; only ?context=NAME is supported"
                ))
            }
        }
    }
    Ok(BuilderAddr::DockerContainer {
        container: name.to_string(),
        context,
        engine: None,
    })
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (ids match too).
fn valid_container_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl fmt::Display for BuilderAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuilderAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            BuilderAddr::Tcp { addr, .. } => write!(f, "tcp://{addr}"),
            BuilderAddr::DockerEngine(None) => write!(f, "docker://"),
            BuilderAddr::DockerEngine(Some(h)) => write!(f, "docker://{h}"),
            BuilderAddr::DockerContainer {
                container,
                context,
                engine,
            } => {
                write!(f, "docker-container://{container}")?;
                if let Some(c) = context {
                    write!(f, "?context={c}")?;
                }
                if let Some(e) = engine {
                    write!(f, " (engine {e})")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> TcpAddr {
        TcpAddr {
            host: host.into(),
            port,
        }
    }

    fn err(s: &str) -> String {
        BuilderAddr::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn parses_unix() {
        assert_eq!(
            BuilderAddr::parse("unix:///run/buildkit/buildkitd.sock").unwrap(),
            BuilderAddr::Unix("/run/buildkit/buildkitd.sock".into())
        );
        // buildctl passes what follows the scheme through, relative paths too.
        assert_eq!(
            BuilderAddr::parse("unix://buildkitd.sock").unwrap(),
            BuilderAddr::Unix("buildkitd.sock".into())
        );
    }

    #[test]
    fn parses_tcp() {
        assert_eq!(
            BuilderAddr::parse("tcp://127.0.0.1:1234").unwrap(),
            BuilderAddr::Tcp {
                addr: tcp("127.0.0.1", 1234),
                tls: None
            }
        );
        assert_eq!(
            BuilderAddr::parse("tcp://buildkit.example:1234/").unwrap(),
            BuilderAddr::Tcp {
                addr: tcp("buildkit.example", 1234),
                tls: None
            }
        );
        assert_eq!(
            BuilderAddr::parse("tcp://[::1]:1234").unwrap(),
            BuilderAddr::Tcp {
                addr: tcp("::1", 1234),
                tls: None
            }
        );
        assert_eq!(
            BuilderAddr::parse("tcp://[::1]:1234").unwrap().to_string(),
            "tcp://[::1]:1234"
        );
    }

    #[test]
    fn parses_docker_engine() {
        assert_eq!(
            BuilderAddr::parse("docker://").unwrap(),
            BuilderAddr::DockerEngine(None)
        );
        assert_eq!(
            BuilderAddr::parse("docker://unix:///var/run/docker.sock").unwrap(),
            BuilderAddr::DockerEngine(Some(EngineHost::Unix("/var/run/docker.sock".into())))
        );
        assert_eq!(
            BuilderAddr::parse("docker://tcp://10.0.0.5").unwrap(),
            BuilderAddr::DockerEngine(Some(EngineHost::Tcp {
                addr: tcp("10.0.0.5", 2375),
                tls: None
            }))
        );
        assert_eq!(
            BuilderAddr::parse("docker://tcp://10.0.0.5:2376")
                .unwrap()
                .to_string(),
            "docker://tcp://10.0.0.5:2376"
        );
    }

    #[test]
    fn parses_docker_container() {
        assert_eq!(
            BuilderAddr::parse("docker-container://buildx_buildkit_mybuilder0").unwrap(),
            BuilderAddr::DockerContainer {
                container: "buildx_buildkit_mybuilder0".into(),
                context: None,
                engine: None
            }
        );
        let a = BuilderAddr::parse("docker-container://bk?context=remote1").unwrap();
        assert_eq!(
            a,
            BuilderAddr::DockerContainer {
                container: "bk".into(),
                context: Some("remote1".into()),
                engine: None
            }
        );
        assert_eq!(a.to_string(), "docker-container://bk?context=remote1");
    }

    #[test]
    fn rejects_malformed_addresses_clearly() {
        assert!(err("").contains("empty"));
        let e = err("localhost:1234");
        assert!(
            e.contains("\"localhost:1234\"") && e.contains("no scheme"),
            "{e}"
        );
        assert!(e.contains("tcp://HOST:PORT"), "{e}");
        assert!(err("tcp://127.0.0.1").contains("missing port"));
        assert!(err("tcp://:1234").contains("missing host"));
        assert!(err("tcp://host:http").contains("not a number"));
        assert!(err("tcp://host:70000").contains("not a number"));
        assert!(err("tcp://host:0").contains("port 0"));
        assert!(err("tcp://::1:1234").contains("brackets"));
        assert!(err("tcp://[::1:1234").contains("unclosed"));
        assert!(err("tcp://host:1234/path").contains("expected HOST:PORT"));
        assert!(err("unix://").contains("socket path"));
        assert!(err("docker://ssh://me@host").contains("not supported"));
        assert!(err("docker://tcp://").contains("missing host"));
        assert!(err("docker-container://").contains("container name"));
        assert!(err("docker-container://-bad").contains("not a container name"));
        assert!(err("docker-container://ok?namespace=x").contains("only ?context="));
        assert!(err("ssh://me@host").contains("not supported"));
        assert!(err("http://x:1").contains("unknown scheme \"http\""));
    }

    #[test]
    fn tls_applies_to_tcp_only() {
        let tls = TlsOptions {
            ca_cert: Some("/ca.pem".into()),
            ..Default::default()
        };
        let a = BuilderAddr::parse("tcp://h:1")
            .unwrap()
            .with_tls(tls.clone())
            .unwrap();
        assert!(matches!(a, BuilderAddr::Tcp { tls: Some(_), .. }));
        let e = BuilderAddr::parse("unix:///s")
            .unwrap()
            .with_tls(tls.clone())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unix:///s") && e.contains("tcp:// addresses only"),
            "{e}"
        );
        // No TLS flags: anything goes.
        assert!(BuilderAddr::parse("unix:///s")
            .unwrap()
            .with_tls(TlsOptions::default())
            .is_ok());
    }
}
