//! Registry credentials as the docker CLI finds them: its config dir
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) with plain
//! `auths` entries, identity tokens, and `credHelpers` / `credsStore`
//! programs (`docker-credential-NAME get`). Shared by `archgate build` (the
//! session's Auth service answers the daemon from it) and `archgate check`
//! (the registry client authenticates with it).
//!
//! The one idea: look a host up exactly as docker/cli does (the same key
//! normalisation, helper precedence and "not found means anonymous" rule), so
//! a registry that works with `docker` works with archgate; every answer,
//! including a failure, is cached per host, and a helper can never stall
//! archgate for longer than its timeout.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::config::config_dir;
use crate::goparse::decode_base64;

/// The config key Docker Hub credentials live under (docker/cli
/// `registry.IndexServer`; buildkit `session/auth/authprovider`
/// `DockerHubConfigfileKey`).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Host names that all mean Docker Hub and share [`DOCKER_HUB_KEY`]
/// (`registry-1.docker.io` is what the daemon asks for; buildkit
/// `authprovider.go` `DockerHubRegistryHost`).
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// How long a credential helper may take before it is killed.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a helper prints when it has nothing for the host
/// (docker/docker-credential-helpers `credentials/error.go`
/// `errCredentialsNotFoundMessage`).
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// The username a helper reports for an identity token (docker/cli
/// `cli/config/credentials/native_store.go` `tokenUsername`).
const HELPER_TOKEN_USERNAME: &str = "<token>";

/// Why credentials could not be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The docker config file exists but cannot be read or understood.
    #[error("docker config {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    /// A credential helper could not be run, failed, or answered nonsense.
    #[error("credential helper docker-credential-{helper} for {host}: {reason}")]
    Helper {
        helper: String,
        host: String,
        reason: String,
    },

    /// A credential helper did not finish in time and was killed.
    #[error(
        "credential helper docker-credential-{helper} for {host} did not answer within {} and was killed",
        human(*timeout)
    )]
    HelperTimeout {
        helper: String,
        host: String,
        timeout: Duration,
    },
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// One `auths` entry, decoded the way docker/cli decodes it on load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct AuthEntry {
    username: String,
    password: String,
    identity_token: String,
}

/// The parts of `config.json` that matter for credentials.
#[derive(Debug, Clone, Default)]
struct DockerConfig {
    auths: Vec<(String, AuthEntry)>,
    creds_store: String,
    cred_helpers: HashMap<String, String>,
}

/// `(username, secret)`; `None` means anonymous.
pub type Credentials = Option<(String, String)>;

/// The docker CLI's credential lookup. Cheap to clone; clones share the
/// cache.
#[derive(Clone)]
pub struct CredentialStore {
    path: PathBuf,
    config: Arc<DockerConfig>,
    helper_path: Option<OsString>,
    helper_timeout: Duration,
    cache: Arc<Mutex<HashMap<String, Result<Credentials, CredentialsError>>>>,
}

impl std::fmt::Debug for CredentialStore {
    // Never print credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStore")
            .field("auths", &self.config.auths.len())
            .field("creds_store", &self.config.creds_store)
            .field("cred_helpers", &self.config.cred_helpers)
            .field("helper_timeout", &self.helper_timeout)
            .finish()
    }
}

impl CredentialStore {
    /// Read the config from [`config_dir`]. A missing file means
    /// anonymous; an unreadable or malformed one is an error.
    pub fn new() -> Result<Self, CredentialsError> {
        Self::from_config_dir(&config_dir())
    }

    /// The `config.json` this store reads (it need not exist), for messages.
    pub fn config_file(&self) -> &Path {
        &self.path
    }

    /// Read `DIR/config.json`.
    pub fn from_config_dir(dir: &Path) -> Result<Self, CredentialsError> {
        let path = dir.join("config.json");
        let config = load_config(&path)?;
        Ok(CredentialStore {
            path,
            config: Arc::new(config),
            helper_path: None,
            helper_timeout: HELPER_TIMEOUT,
            cache: Arc::default(),
        })
    }

    /// Search these directories (a `PATH` value) for `docker-credential-*`
    /// helpers instead of the process's `PATH`. Only the helper's own
    /// environment changes.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> Self {
        self.helper_path = Some(path.into());
        self
    }

    /// Kill a helper that has not answered after `timeout` (default
    /// [`HELPER_TIMEOUT`]).
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_timeout = timeout;
        self
    }

    /// Credentials for a registry host (`ghcr.io`, `localhost:5000`,
    /// `registry-1.docker.io`; a URL such as `https://host/v1/` works too):
    /// `Some((username, secret))`, with an empty username for an identity
    /// token, or `None` for anonymous. May run a credential helper, so it
    /// blocks: from async code call it through `spawn_blocking`. Answers
    /// (errors too) are cached per host for the life of this service.
    pub fn credentials_for(&self, host: &str) -> Result<Credentials, CredentialsError> {
        let key = config_key(host);
        // Held across the lookup so one host never runs its helper twice at
        // once (buildkit's provider serialises lookups the same way).
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache.get(&key) {
            return hit.clone();
        }
        let answer = self.lookup(&key);
        cache.insert(key, answer.clone());
        answer
    }

    fn lookup(&self, key: &str) -> Result<Credentials, CredentialsError> {
        let cfg = &self.config;
        // A credHelpers entry for the host wins over credsStore even when it
        // is empty, which then means the plain file store (docker/cli
        // `configfile/file.go` getConfiguredCredentialStore).
        let helper = cfg.cred_helpers.get(key).unwrap_or(&cfg.creds_store);
        if !helper.is_empty() {
            // With a helper configured, docker/cli ignores plain `auths`
            // passwords for the host (native_store.go Get).
            return self.run_helper(helper, key);
        }
        let entry = cfg.auths.iter().find(|(k, _)| k == key).or_else(|| {
            cfg.auths
                .iter()
                .find(|(k, _)| convert_to_hostname(k) == key)
        });
        Ok(entry.and_then(|(_, e)| {
            if !e.identity_token.is_empty() {
                Some((String::new(), e.identity_token.clone()))
            } else if e.username.is_empty() && e.password.is_empty() {
                None
            } else {
                Some((e.username.clone(), e.password.clone()))
            }
        }))
    }

    /// `docker-credential-HELPER get` with `server` on stdin.
    fn run_helper(&self, helper: &str, server: &str) -> Result<Credentials, CredentialsError> {
        let fail = |reason: String| CredentialsError::Helper {
            helper: helper.to_string(),
            host: server.to_string(),
            reason,
        };
        let program = format!("docker-credential-{helper}");
        let mut cmd = Command::new(&program);
        cmd.arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &self.helper_path {
            // On Unix, a PATH set on the Command is also the one searched for
            // the program itself.
            cmd.env("PATH", path);
        }
        let mut child = spawn_retrying(&mut cmd).map_err(|e| fail(format!("cannot run: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading gives EPIPE: its exit
            // status tells the story.
            let _ = stdin.write_all(server.as_bytes());
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());

        let deadline = Instant::now() + self.helper_timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CredentialsError::HelperTimeout {
                        helper: helper.to_string(),
                        host: server.to_string(),
                        timeout: self.helper_timeout,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    return Err(fail(format!("waiting for it: {e}")));
                }
            }
        };
        // The helper has exited; a child it left behind could still hold the
        // pipes open, so don't wait for them forever either.
        let grace = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(200));
        let out = stdout
            .recv_timeout(grace)
            .map_err(|_| fail("exited but its output stayed open".to_string()))?;
        let err = stderr.recv_timeout(grace).unwrap_or_default();
        let out_text = String::from_utf8_lossy(&out);
        let err_text = String::from_utf8_lossy(&err);

        if !status.success() {
            let said = out_text.trim();
            if said == HELPER_NOT_FOUND || err_text.trim() == HELPER_NOT_FOUND {
                return Ok(None);
            }
            let said = [said, err_text.trim()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            let said = if said.is_empty() {
                "no output".to_string()
            } else {
                said
            };
            return Err(fail(format!("{status}: {said}")));
        }

        let value: Value = serde_json::from_str(out_text.trim())
            .map_err(|e| fail(format!("answer is not json: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(fail("answer is not a json object".to_string()));
        };
        let username = get_string(&obj, "Username").map_err(&fail)?;
        let secret = get_string(&obj, "Secret").map_err(&fail)?;
        Ok(if username == HELPER_TOKEN_USERNAME {
            Some((String::new(), secret))
        } else if username.is_empty() && secret.is_empty() {
            None
        } else {
            Some((username, secret))
        })
    }
}

/// Spawn, retrying briefly on ETXTBSY: a helper script that was just written
/// can be momentarily "busy" while another thread forks.
fn spawn_retrying(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 10 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Read a pipe to its end on a thread; the bytes arrive on the channel.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    match pipe {
        Some(mut pipe) => {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        None => {
            let _ = tx.send(Vec::new());
        }
    }
    rx
}

/// The config key for a host: Docker Hub's names share one key, everything
/// else is looked up by its bare `host[:port]`.
pub fn config_key(host: &str) -> String {
    let h = convert_to_hostname(host.trim());
    if DOCKER_HUB_HOSTS.contains(&h.as_str()) {
        DOCKER_HUB_KEY.to_string()
    } else {
        h
    }
}

/// `https://host:port/path` -> `host:port`; `host/path` -> `host` (the rule of
/// docker/cli `cli/config/credentials/file_store.go` ConvertToHostname).
pub fn convert_to_hostname(maybe_url: &str) -> String {
    if let Some((_, rest)) = maybe_url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some((host, port)) = split_host_port(host_port) {
            if !host.is_empty() {
                return match port {
                    None => host.to_string(),
                    Some(p) if host.contains(':') => format!("[{host}]:{p}"),
                    Some(p) => format!("{host}:{p}"),
                };
            }
        }
    }
    maybe_url
        .split_once('/')
        .map_or(maybe_url, |(h, _)| h)
        .to_string()
}

/// Split `host[:port]` / `[v6][:port]`; `None` if it is not a valid authority.
fn split_host_port(hp: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    match port {
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => None,
        Some("") => Some((host, None)),
        p => Some((host, p)),
    }
}

fn load_config(path: &Path) -> Result<DockerConfig, CredentialsError> {
    let fail = |reason: String| CredentialsError::Config {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DockerConfig::default()),
        Err(e) => return Err(fail(format!("cannot read: {e}"))),
    };
    parse_config(&text).map_err(fail)
}

/// Parse `config.json` text. Go's `encoding/json` matches struct fields
/// case-insensitively, so `Auths`/`CredsStore` work as well.
fn parse_config(text: &str) -> Result<DockerConfig, String> {
    if text.trim().is_empty() {
        return Ok(DockerConfig::default());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid json: {e}"))?;
    let Value::Object(top) = value else {
        return Err("not a json object".to_string());
    };
    let mut cfg = DockerConfig::default();
    match field(&top, "auths") {
        None | Some(Value::Null) => {}
        Some(Value::Object(auths)) => {
            for (key, entry) in auths {
                let entry = match entry {
                    Value::Null => AuthEntry::default(),
                    Value::Object(obj) => {
                        parse_auth_entry(obj).map_err(|e| format!("auths.{key}: {e}"))?
                    }
                    _ => return Err(format!("auths.{key}: not a json object")),
                };
                cfg.auths.push((key.clone(), entry));
            }
        }
        Some(_) => return Err("auths: not a json object".to_string()),
    }
    cfg.creds_store = get_string(&top, "credsStore")?;
    match field(&top, "credHelpers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(helpers)) => {
            for (host, helper) in helpers {
                match helper {
                    Value::String(h) => {
                        cfg.cred_helpers.insert(host.clone(), h.clone());
                    }
                    Value::Null => {}
                    _ => return Err(format!("credHelpers.{host}: not a string")),
                }
            }
        }
        Some(_) => return Err("credHelpers: not a json object".to_string()),
    }
    Ok(cfg)
}

fn parse_auth_entry(obj: &Map<String, Value>) -> Result<AuthEntry, String> {
    let mut entry = AuthEntry {
        username: get_string(obj, "username")?,
        password: get_string(obj, "password")?,
        identity_token: get_string(obj, "identitytoken")?,
    };
    let auth = get_string(obj, "auth")?;
    if !auth.is_empty() {
        // docker/cli `configfile/file.go` decodeAuth: base64 of
        // `user:password`, the user non-empty; it wins over the fields.
        let decoded = decode_base64(&auth).ok_or("auth: invalid base64")?;
        let decoded = String::from_utf8(decoded).map_err(|_| "auth: not utf-8")?;
        match decoded.split_once(':') {
            Some((user, pass)) if !user.is_empty() => {
                entry.username = user.to_string();
                entry.password = pass.trim_matches('\0').to_string();
            }
            _ => return Err("auth: expected base64 of user:password".to_string()),
        }
    }
    Ok(entry)
}

/// A field by name, exact match first, then ASCII case-insensitively (as Go
/// decodes struct fields).
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn get_string(obj: &Map<String, Value>, name: &str) -> Result<String, String> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{name}: not a string")),
    }
}

/// Test helpers shared with `buildkit::auth`'s tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// Standard base64 with padding.
    pub fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    /// A `docker-credential-*` script answering for a few test hosts.
    pub const HELPER: &str = r#"#!/bin/sh
host=$(cat)
case "$host" in
  ok.example) echo '{"ServerURL":"ignored","Username":"alice","Secret":"s3cret"}' ;;
  token.example) echo '{"Username":"<token>","Secret":"refresh-tok"}' ;;
  https://index.docker.io/v1/) echo '{"Username":"hubuser","Secret":"hubpass"}' ;;
  missing.example) echo 'credentials not found in native keychain'; exit 1 ;;
  fail.example) echo 'keychain locked' >&2; exit 3 ;;
  garbage.example) echo 'not json' ;;
  hang.example) exec sleep 30 ;;
  *) echo "unexpected host $host" >&2; exit 9 ;;
esac
"#;

    /// A temp dir holding `bin/docker-credential-test`, and a helper PATH
    /// with that `bin` first, then the test process's PATH (for `cat`,
    /// `sleep`). The test process's own environment is not touched.
    pub fn helper_dir() -> (tempfile::TempDir, std::ffi::OsString) {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = bin.join("docker-credential-test");
        std::fs::write(&script, HELPER).unwrap();
        std::fs::set_permissions(
            &script,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
        )
        .unwrap();
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&inherited)))
                .unwrap();
        (dir, path)
    }
}

#[cfg(test)]
mod tests;
