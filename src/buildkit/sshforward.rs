//! SSH agent forwarding (`--ssh`): parsing the values as buildx does
//! (`ID[=PATH[,PATH...]]`, `default` = `$SSH_AUTH_SOCK`) and the session's
//! `moby.sshforward.v1.SSH` service that `RUN --mount=type=ssh` reaches, as
//! BuildKit's `session/sshforward/sshprovider` serves it.
//!
//! The one idea: each id is one agent, and which kind is decided per path
//! when the flags are read, as sshprovider's `toDialer` decides it. A
//! socket is forwarded read-only: each connection is one connection to
//! the user's agent, archgate reads the agent protocol's frames as they
//! pass, listing keys and signing go to the agent, everything else
//! (adding, removing, locking, extensions) is answered with a failure
//! without reaching it, as Go's `agent.ServeAgent` answers over BuildKit's
//! `readOnlyAgent`. Private key files are an in-process
//! keyring (`keyring`) that answers every request itself.

mod keyring;

use std::collections::HashMap;
use std::path::PathBuf;
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

use keyring::{
    Keyring, AGENT_FAILURE, AGENT_SUCCESS, EXTENSION, EXTENSION_FAILURE, REMOVE_ALL_V1_IDENTITIES,
    REQUEST_IDENTITIES, REQUEST_V1_IDENTITIES, SIGN_REQUEST, V1_IDENTITIES_ANSWER,
};

/// How long dialling the agent may take (sshprovider dials with 1 s).
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Why an `--ssh` value is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("invalid --ssh {spec:?}: {reason} (expected default|ID=SOCKET|ID=KEY[,KEY...])")]
    Invalid { spec: String, reason: String },
}

/// One agent: a socket forwarded read-only, or the keyring of key files.
#[derive(Clone)]
enum Agent {
    Socket(PathBuf),
    Keys(Keyring),
}

/// The agents the session forwards, by id.
#[derive(Clone, Default)]
pub struct SshService {
    agents: Arc<HashMap<String, Agent>>,
}

impl SshService {
    /// The agents of `--ssh` values, checked now (each socket exists, each
    /// key file parses and can sign), `env` read for `SSH_AUTH_SOCK`.
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
            // list of paths, taken as written (no `~` expansion).
            let (id, paths) = match v.split_once('=') {
                Some((id, p)) => (id, p.split(',').collect::<Vec<_>>()),
                None => (v.as_str(), Vec::new()),
            };
            let id = if id.is_empty() { DEFAULT_ID } else { id };
            if agents.contains_key(id) {
                return Err(bad(format!("duplicate agent id {id:?}")));
            }
            let paths: Vec<PathBuf> = match paths.as_slice() {
                [] | [""] => match env("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
                    Some(s) => vec![PathBuf::from(s)],
                    None => {
                        return Err(bad("no agent socket: SSH_AUTH_SOCK is not set".to_string()))
                    }
                },
                ps => ps.iter().map(PathBuf::from).collect(),
            };
            agents.insert(id.to_string(), agent_of(&paths).map_err(bad)?);
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

    fn agent(&self, id: &str) -> Result<&Agent, Status> {
        let id = if id.is_empty() { DEFAULT_ID } else { id };
        self.agents
            .get(id)
            .ok_or_else(|| Status::not_found(format!("unset ssh forward key {id}")))
    }
}

/// The agent of one id's paths, as sshprovider's `toDialer` decides it:
/// each path is a socket (followed through links, as Go's `os.Stat`) or
/// a private key file; one socket alone, or key files only.
fn agent_of(paths: &[PathBuf]) -> Result<Agent, String> {
    use std::os::unix::fs::FileTypeExt;
    let mut socket: Option<&PathBuf> = None;
    let mut keys = Vec::new();
    for p in paths {
        if let Some(s) = socket {
            return Err(format!(
                "{} follows the agent socket {}: an id takes one socket alone",
                p.display(),
                s.display()
            ));
        }
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.file_type().is_socket() {
            socket = Some(p);
            continue;
        }
        if meta.is_dir() {
            return Err(format!(
                "{}: not a private key file (Is a directory)",
                p.display()
            ));
        }
        if !meta.is_file() {
            // A pipe or device would block or never end.
            return Err(format!(
                "{}: not a private key file nor an agent socket (a pipe or a device)",
                p.display()
            ));
        }
        keys.push(keyring::read_key_file(p).map_err(|e| format!("{}: {}", p.display(), e.0))?);
    }
    match socket {
        Some(s) if !keys.is_empty() => Err(format!(
            "{} is an agent socket after private key files: an id takes key files or one socket, not both",
            s.display()
        )),
        Some(s) => Ok(Agent::Socket(s.clone())),
        None => Keyring::of(keys).map(Agent::Keys),
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
/// `readOnlyAgent`: v1 identities are an empty list and removing them
/// succeeds; an extension request that parses is an extension failure,
/// as `readOnlyAgent.Extension` errs; add, remove, remove all, lock,
/// unlock and anything else fail).
fn answer_locally(msg: &[u8]) -> Option<Vec<u8>> {
    match msg.first() {
        Some(&REQUEST_IDENTITIES | &SIGN_REQUEST) => None,
        Some(&REQUEST_V1_IDENTITIES) => Some(vec![V1_IDENTITIES_ANSWER, 0, 0, 0, 0]),
        Some(&REMOVE_ALL_V1_IDENTITIES) => Some(vec![AGENT_SUCCESS]),
        Some(&EXTENSION) if keyring::wire_string(&msg[1..]).is_some() => {
            Some(vec![EXTENSION_FAILURE])
        }
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

/// Who answers a forwarded connection: a connection to the user's agent
/// (read-only), or the id's keyring.
enum Backend {
    Socket(UnixStream),
    Keys(Keyring),
}

impl Backend {
    async fn reply(&mut self, msg: Vec<u8>) -> Result<Vec<u8>, Status> {
        match self {
            Backend::Keys(k) => Ok(k.answer(&msg)),
            Backend::Socket(agent) => match answer_locally(&msg) {
                Some(r) => Ok(r),
                None => {
                    let agent_err =
                        |e: std::io::Error| Status::unavailable(format!("ssh agent: {e}"));
                    agent.write_all(&frame(&msg)).await.map_err(agent_err)?;
                    read_reply(agent).await.map_err(agent_err)
                }
            },
        }
    }
}

/// Serve one forwarded connection: frames from the daemon in, answers out,
/// until the daemon closes its side.
async fn forward(
    mut incoming: Streaming<BytesMessage>,
    mut backend: Backend,
    out: mpsc::Sender<Result<BytesMessage, Status>>,
) -> Result<(), Status> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Every complete request in the buffer, in order.
        while buf.len() >= 4 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if len == 0 {
                // Go's `ServeAgent` ends the connection on an empty request.
                return Ok(());
            }
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
            let reply = backend.reply(msg).await?;
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
        let backend = match self.agent(&id)? {
            Agent::Keys(k) => Backend::Keys(k.clone()),
            Agent::Socket(path) => Backend::Socket(
                tokio::time::timeout(DIAL_TIMEOUT, UnixStream::connect(path))
                    .await
                    .map_err(|_| {
                        Status::unavailable(format!(
                            "failed to connect to {}: timed out",
                            path.display()
                        ))
                    })?
                    .map_err(|e| {
                        Status::unavailable(format!("failed to connect to {}: {e}", path.display()))
                    })?,
            ),
        };
        let (tx, rx) = mpsc::channel(4);
        let incoming = request.into_inner();
        tokio::spawn(async move {
            if let Err(s) = forward(incoming, backend, tx.clone()).await {
                let _ = tx.send(Err(s)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
        let socket = |svc: &SshService, id: &str| match svc.agent(id) {
            Ok(Agent::Socket(p)) => p.clone(),
            _ => panic!("{id}: not a socket agent"),
        };
        assert_eq!(socket(&svc, ""), sock);
        assert_eq!(socket(&svc, "default"), sock);
        assert_eq!(socket(&svc, "work"), other);
        assert!(svc.agent("nope").is_err());
        // `ID=` alone is SSH_AUTH_SOCK too; an empty id is `default`.
        let svc = SshService::from_flags(&s(&["=", "x="]), &env_with(&sock)).unwrap();
        assert_eq!(socket(&svc, "default"), sock);
        assert_eq!(socket(&svc, "x"), sock);
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
                "not a private key file",
            ),
            ("k=/nonexistent/agent", &no_env, "No such file"),
            (
                &format!("k={},{}", sock.display(), key.display()),
                &no_env,
                "takes one socket alone",
            ),
            (
                &format!("k={}", d.path().display()),
                &no_env,
                "not a private key file (Is a directory)",
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
        assert_eq!(answer_locally(&[9]), Some(vec![AGENT_SUCCESS]));
        assert_eq!(
            answer_locally(&[27, 0, 0, 0, 1, b'q', 1]),
            Some(vec![EXTENSION_FAILURE])
        );
        // add identity, remove, remove all, lock, unlock, an extension
        // request without its name, empty
        for m in [
            &[17u8][..],
            &[18],
            &[19],
            &[22],
            &[23],
            &[27, 0, 0, 0, 9],
            &[],
        ] {
            assert_eq!(answer_locally(m), Some(vec![AGENT_FAILURE]), "{m:?}");
        }
        assert_eq!(frame(&[11]), vec![0, 0, 0, 1, 11]);
    }

    #[test]
    fn key_files_make_a_keyring_and_never_mix_with_a_socket() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let ed = keyring::tests::keygen(d.path(), "ed25519", &[]);
        let rsa = keyring::tests::keygen(d.path(), "rsa", &["-b", "2048"]);
        let svc = SshService::from_flags(
            &s(&[&format!("keys={},{}", ed.display(), rsa.display())]),
            &|_: &str| None,
        )
        .unwrap();
        let Ok(Agent::Keys(k)) = svc.agent("keys") else {
            panic!("not a keyring")
        };
        let list = k.answer(&[REQUEST_IDENTITIES]);
        assert_eq!(&list[..5], &[12, 0, 0, 0, 2]);
        let e = SshService::from_flags(
            &s(&[&format!("k={},{}", ed.display(), sock.display())]),
            &|_: &str| None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("not both"), "{e}");
    }
}
