//! SSH agent forwarding (`--ssh`): parsing the values as buildx does
//! (`ID[=PATH[,PATH...]]`, `default` = `$SSH_AUTH_SOCK`) and the session's
//! `moby.sshforward.v1.SSH` service that `RUN --mount=type=ssh` reaches, as
//! BuildKit's `session/sshforward/sshprovider` serves it.
//!
//! The one idea: the build gets a read-only agent. Each forwarded
//! connection is one connection to the user's agent socket, and archgate
//! reads the agent protocol's frames as they pass: listing keys and signing
//! go to the agent, everything else (adding, removing, locking, extensions)
//! is answered with a failure without reaching it, as BuildKit's
//! `readOnlyAgent` answers (Go's `agent.ServeAgent` over it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::proto::moby::sshforward::v1::{
    ssh_server::{Ssh, SshServer},
    BytesMessage, CheckAgentRequest, CheckAgentResponse,
};

/// The id a bare `--ssh` value or `RUN --mount=type=ssh` without `id=`
/// names (BuildKit `session/sshforward` `DefaultID`).
pub const DEFAULT_ID: &str = "default";

/// The metadata key naming the agent of a stream (`KeySSHID`).
const ID_HEADER: &str = "buildkit.ssh.id";

/// Largest agent message either way (Go's `x/crypto/ssh/agent`
/// `maxAgentResponseBytes`, 16 MiB).
const MAX_FRAME: u32 = 16 << 20;

// Agent protocol message numbers (draft-miller-ssh-agent; Go's
// `x/crypto/ssh/agent/client.go`).
const AGENT_FAILURE: u8 = 5;
const REQUEST_V1_IDENTITIES: u8 = 1;
const V1_IDENTITIES_ANSWER: u8 = 2;
const REQUEST_IDENTITIES: u8 = 11;
const SIGN_REQUEST: u8 = 13;

/// How long dialling the agent may take (sshprovider dials with 1 s).
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Why an `--ssh` value is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("invalid --ssh {spec:?}: {reason} (expected default|ID=SOCKET)")]
    Invalid { spec: String, reason: String },
}

/// The agents the session forwards, by id.
#[derive(Clone, Default)]
pub struct SshService {
    agents: Arc<HashMap<String, PathBuf>>,
}

impl SshService {
    /// The agents of `--ssh` values, checked now (each socket exists),
    /// `env` read for `SSH_AUTH_SOCK`.
    pub fn from_flags(
        values: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SshService, SshError> {
        let mut agents = HashMap::new();
        for v in values {
            let bad = |reason: String| SshError::Invalid {
                spec: v.clone(),
                reason,
            };
            // buildx `util/buildflags/ssh.go`: ID, then `=` and a comma
            // list of paths.
            let (id, paths) = match v.split_once('=') {
                Some((id, p)) => (id, p.split(',').collect::<Vec<_>>()),
                None => (v.as_str(), Vec::new()),
            };
            let id = if id.is_empty() { DEFAULT_ID } else { id };
            if agents.contains_key(id) {
                return Err(bad(format!("duplicate agent id {id:?}")));
            }
            let path = match paths.as_slice() {
                [] | [""] => match env("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
                    Some(s) => PathBuf::from(s),
                    None => {
                        return Err(bad(
                            "no agent socket: SSH_AUTH_SOCK is not set".to_string(),
                        ))
                    }
                },
                [p] => PathBuf::from(p),
                _ => {
                    return Err(bad(
                        "several paths: only private key files come in lists, and archgate forwards agent sockets only"
                            .to_string(),
                    ))
                }
            };
            check_socket(&path).map_err(bad)?;
            agents.insert(id.to_string(), path);
        }
        Ok(SshService {
            agents: Arc::new(agents),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    pub fn into_server(self) -> SshServer<SshService> {
        SshServer::new(self)
    }

    fn agent(&self, id: &str) -> Result<&Path, Status> {
        let id = if id.is_empty() { DEFAULT_ID } else { id };
        self.agents
            .get(id)
            .map(PathBuf::as_path)
            .ok_or_else(|| Status::not_found(format!("unset ssh forward key {id}")))
    }
}

/// The path is a socket (followed through links, as Go's `os.Stat`).
fn check_socket(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        Ok(_) => Err(format!(
            "{} is not a socket: private key files are not supported yet, load the key into an ssh-agent and pass its socket",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl super::session::Advertised for SshServer<SshService> {
    const METHODS: &'static [&'static str] = &["CheckAgent", "ForwardAgent"];
}

/// One frame: the 4-byte big-endian length and the message.
fn frame(msg: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + msg.len());
    v.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    v.extend_from_slice(msg);
    v
}

/// The answer archgate gives itself to a request the agent must not see,
/// or `None` when the agent answers it (Go's `ServeAgent` over BuildKit's
/// `readOnlyAgent`: v1 identities are an empty list; add, remove, remove
/// all, lock, unlock and extensions fail).
fn answer_locally(msg: &[u8]) -> Option<Vec<u8>> {
    match msg.first() {
        Some(&REQUEST_IDENTITIES | &SIGN_REQUEST) => None,
        Some(&REQUEST_V1_IDENTITIES) => Some(vec![V1_IDENTITIES_ANSWER, 0, 0, 0, 0]),
        _ => Some(vec![AGENT_FAILURE]),
    }
}

/// Read one frame's message from the agent.
async fn read_reply(agent: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    agent.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "agent answer of {len} bytes is too large"
        )));
    }
    let mut msg = vec![0u8; len as usize];
    agent.read_exact(&mut msg).await?;
    Ok(msg)
}

/// Serve one forwarded connection: frames from the daemon in, answers out,
/// until the daemon closes its side.
async fn forward(
    mut incoming: Streaming<BytesMessage>,
    mut agent: UnixStream,
    out: mpsc::Sender<Result<BytesMessage, Status>>,
) -> Result<(), Status> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Every complete request in the buffer, in order.
        while buf.len() >= 4 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if len > MAX_FRAME {
                return Err(Status::invalid_argument(format!(
                    "agent: request too large: {len}"
                )));
            }
            let end = 4 + len as usize;
            if buf.len() < end {
                break;
            }
            let msg: Vec<u8> = buf.drain(..end).skip(4).collect();
            let reply = match answer_locally(&msg) {
                Some(r) => r,
                None => {
                    let agent_err =
                        |e: std::io::Error| Status::unavailable(format!("ssh agent: {e}"));
                    agent.write_all(&frame(&msg)).await.map_err(agent_err)?;
                    read_reply(&mut agent).await.map_err(agent_err)?
                }
            };
            if out
                .send(Ok(BytesMessage {
                    data: frame(&reply),
                }))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        match incoming.next().await {
            Some(Ok(m)) => buf.extend_from_slice(&m.data),
            Some(Err(_)) | None => return Ok(()),
        }
    }
}

#[tonic::async_trait]
impl Ssh for SshService {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        self.agent(&request.get_ref().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = ReceiverStream<Result<BytesMessage, Status>>;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let path = self.agent(&id)?.to_path_buf();
        let agent = tokio::time::timeout(DIAL_TIMEOUT, UnixStream::connect(&path))
            .await
            .map_err(|_| {
                Status::unavailable(format!(
                    "failed to connect to {}: timed out",
                    path.display()
                ))
            })?
            .map_err(|e| {
                Status::unavailable(format!("failed to connect to {}: {e}", path.display()))
            })?;
        let (tx, rx) = mpsc::channel(4);
        let incoming = request.into_inner();
        tokio::spawn(async move {
            if let Err(s) = forward(incoming, agent, tx.clone()).await {
                let _ = tx.send(Err(s)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(sock: &Path) -> impl Fn(&str) -> Option<String> + '_ {
        move |k| (k == "SSH_AUTH_SOCK").then(|| sock.display().to_string())
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn values_name_agents_as_buildx_reads_them() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let other = d.path().join("other.sock");
        let _l2 = std::os::unix::net::UnixListener::bind(&other).unwrap();
        let svc = SshService::from_flags(
            &s(&["default", &format!("work={}", other.display())]),
            &env_with(&sock),
        )
        .unwrap();
        assert_eq!(svc.agent("").unwrap(), sock);
        assert_eq!(svc.agent("default").unwrap(), sock);
        assert_eq!(svc.agent("work").unwrap(), other);
        assert!(svc.agent("nope").is_err());
        // `ID=` alone is SSH_AUTH_SOCK too; an empty id is `default`.
        let svc = SshService::from_flags(&s(&["=", "x="]), &env_with(&sock)).unwrap();
        assert_eq!(svc.agent("default").unwrap(), sock);
        assert_eq!(svc.agent("x").unwrap(), sock);
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let key = d.path().join("id_ed25519");
        std::fs::write(&key, "not a socket").unwrap();
        let no_env = |_: &str| None;
        for (v, env, needle) in [
            (
                "default",
                &no_env as &dyn Fn(&str) -> Option<String>,
                "SSH_AUTH_SOCK is not set",
            ),
            (
                &format!("k={}", key.display()) as &str,
                &no_env,
                "not a socket",
            ),
            ("k=/nonexistent/agent", &no_env, "No such file"),
            (
                &format!("k={},{}", key.display(), key.display()),
                &no_env,
                "several paths",
            ),
        ] {
            let e = SshService::from_flags(&s(&[v]), env)
                .err()
                .unwrap()
                .to_string();
            assert!(e.starts_with("invalid --ssh"), "{e}");
            assert!(e.contains(needle), "{v}: {e}");
        }
        let e = SshService::from_flags(&s(&["default", "default"]), &env_with(&sock))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("duplicate agent id \"default\""), "{e}");
    }

    #[test]
    fn only_listing_and_signing_reach_the_agent() {
        assert_eq!(answer_locally(&[REQUEST_IDENTITIES]), None);
        assert_eq!(answer_locally(&[SIGN_REQUEST, 0, 0]), None);
        assert_eq!(
            answer_locally(&[REQUEST_V1_IDENTITIES]),
            Some(vec![2, 0, 0, 0, 0])
        );
        // add identity, remove, remove all, lock, unlock, extension, empty
        for m in [&[17u8][..], &[18], &[19], &[22], &[23], &[27], &[]] {
            assert_eq!(answer_locally(m), Some(vec![AGENT_FAILURE]), "{m:?}");
        }
        assert_eq!(frame(&[11]), vec![0, 0, 0, 1, 11]);
    }
}
