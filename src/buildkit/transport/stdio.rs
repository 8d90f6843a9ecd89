//! `docker-container://NAME`: a BuildKit in a container, reached through
//! the stdio of `docker exec -i NAME buildctl dial-stdio`, as buildx's
//! docker-container driver does.
//!
//! The one idea: the child's stdout and stdin are one stream; its stderr is
//! drained for the whole connection and kept to explain a failure (a missing
//! container, a missing `buildctl`).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::Dialed;
use crate::buildkit::error::describe_status;
use crate::docker::{EngineHost, Environment};

/// Start `docker exec -i NAME buildctl dial-stdio` (through the engine or
/// docker context the address names) and use its stdio as the connection.
pub(super) fn spawn(
    container: &str,
    context: Option<&str>,
    engine: Option<&EngineHost>,
    env: &Environment,
) -> Result<Dialed, String> {
    let (mut cmd, mut shown) = docker(context, engine, env);
    let args = ["exec", "-i", container, "buildctl", "dial-stdio"];
    shown.extend(args.iter().map(|s| s.to_string()));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let command = shown.join(" ");
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            "cannot run `docker`: not found on PATH".to_string()
        } else {
            format!("cannot run `docker`: {e}")
        }
    })?;
    let missing = || format!("`{command}`: no stdio pipes");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = child.stderr.take().ok_or_else(missing)?;
    let log = StderrLog::start(stderr, command);
    Ok(Dialed {
        io: Box::new(StdioConn {
            stdin,
            stdout,
            _child: child,
        }),
        stderr: Some(log),
    })
}

/// `docker` with the global flags that reach the engine the address names
/// (`--context`, or `--host` and its TLS files), and those arguments as
/// shown in messages.
fn docker(
    context: Option<&str>,
    engine: Option<&EngineHost>,
    env: &Environment,
) -> (Command, Vec<String>) {
    // As the plugin, the docker CLI that runs archgate (its config dir and
    // contexts are the ones archgate reads).
    let mut cmd = match &env.docker_cli {
        Some(cli) => Command::new(cli),
        None => Command::new("docker"),
    };
    if let Some(path) = &env.path {
        // Also where `docker` itself is looked up.
        cmd.env("PATH", path);
    }
    if let Some(dir) = &env.docker_config {
        cmd.env("DOCKER_CONFIG", dir);
    }
    let mut shown = vec!["docker".to_string()];
    if let Some(ctx) = context {
        shown.extend(["--context".into(), ctx.into()]);
    }
    if let Some(e) = engine {
        shown.extend(["--host".into(), e.to_string()]);
        if let EngineHost::Tcp { tls: Some(t), .. } = e {
            shown.push("--tlsverify".into());
            for (flag, v) in [
                ("--tlscacert", &t.ca_cert),
                ("--tlscert", &t.cert),
                ("--tlskey", &t.key),
            ] {
                if let Some(p) = v {
                    shown.extend([flag.to_string(), p.display().to_string()]);
                }
            }
        }
    }
    cmd.args(&shown[1..]).kill_on_drop(true);
    (cmd, shown)
}

/// What `docker exec` prints for a stopped container (the engine's
/// `errdefs.Conflict` "container %s is not running", daemon/exec.go).
pub(super) fn says_not_running(message: &str) -> bool {
    message.contains("is not running")
}

/// How long a restarted BuildKit container may take to answer.
const START_WAIT: Duration = Duration::from_secs(30);

/// Start a stopped BuildKit container and wait until its daemon answers
/// (`buildctl debug workers` succeeds), as buildx's docker-container
/// driver does before a build (`driver/docker-container/driver.go`,
/// `Bootstrap`: start, then `wait`).
pub(super) async fn start(
    container: &str,
    context: Option<&str>,
    engine: Option<&EngineHost>,
    env: &Environment,
) -> Result<(), String> {
    let run = |args: &[&str]| {
        let (mut cmd, mut shown) = docker(context, engine, env);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        shown.extend(args.iter().map(|a| a.to_string()));
        (cmd, shown.join(" "))
    };
    let (mut cmd, shown) = run(&["start", container]);
    let out = cmd.output().await.map_err(|e| format!("`{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{shown}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let deadline = tokio::time::Instant::now() + START_WAIT;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let (mut cmd, shown) = run(&["exec", container, "buildctl", "debug", "workers"]);
        match cmd.output().await {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => last = format!("`{shown}`: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => last = format!("`{shown}`: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "started {container}, but its BuildKit did not answer within {}s ({last})",
        START_WAIT.as_secs()
    ))
}

/// The child's stdout (read) and stdin (write) as one stream. Dropping it
/// kills the `docker exec` process.
struct StdioConn {
    stdin: ChildStdin,
    stdout: ChildStdout,
    _child: Child,
}

impl AsyncRead for StdioConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for StdioConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

/// Drains a child's stderr for its whole life (a full pipe would block it),
/// keeping the last few KiB to explain failures.
pub(super) struct StderrLog {
    command: String,
    text: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

const STDERR_KEEP: usize = 8 << 10;

impl StderrLog {
    fn start(mut stderr: tokio::process::ChildStderr, command: String) -> Self {
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = text.clone();
        let task = tokio::spawn(async move {
            let mut chunk = [0u8; 2048];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = sink.lock() {
                    t.extend_from_slice(&chunk[..n]);
                    let excess = t.len().saturating_sub(STDERR_KEEP);
                    t.drain(..excess);
                }
            }
        });
        StderrLog {
            command,
            text,
            task,
        }
    }

    /// Why the connection through this process failed: what it printed, or
    /// else the transport's error.
    pub(super) async fn explain(&self, status: &tonic::Status) -> String {
        let text = self.finish().await;
        if text.is_empty() {
            format!("`{}` ended: {}", self.command, describe_status(status))
        } else {
            format!("`{}` failed: {text}", self.command)
        }
    }

    /// What the process printed, waiting briefly for it to finish printing.
    async fn finish(&self) -> String {
        let wait = async {
            while !self.task.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), wait).await;
        let t = self.text.lock().map(|t| t.clone()).unwrap_or_default();
        String::from_utf8_lossy(&t)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_is_the_plugin_hosts_cli_with_the_config_dir_of_the_snapshot() {
        let env = Environment {
            docker_cli: Some("/opt/docker/bin/docker".into()),
            docker_config: Some("/cfg".into()),
            ..Default::default()
        };
        let (cmd, shown) = docker(Some("ctx"), None, &env);
        let std = cmd.as_std();
        assert_eq!(std.get_program(), "/opt/docker/bin/docker");
        assert!(std
            .get_envs()
            .any(|(k, v)| k == "DOCKER_CONFIG" && v == Some(std::ffi::OsStr::new("/cfg"))));
        assert_eq!(shown, ["docker", "--context", "ctx"]);
        // Otherwise `docker` on PATH, with the process's own config dir.
        let (cmd, _) = docker(None, None, &Environment::default());
        assert_eq!(cmd.as_std().get_program(), "docker");
        assert!(!cmd.as_std().get_envs().any(|(k, _)| k == "DOCKER_CONFIG"));
    }
}
