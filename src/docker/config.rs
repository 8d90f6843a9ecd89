//! The docker CLI's configuration: the environment it reads, its config dir
//! (`$DOCKER_CONFIG`, else `~/.docker`) and contexts
//! (`contexts/meta/HASH/meta.json`), and so which Docker Engine a bare
//! `docker://` builder, `docker-daemon:` or `--load` means. Credentials
//! (`config.json`'s auths and helpers) are in `credentials`.
//!
//! The one idea: read the same files the docker CLI reads with an explicit
//! snapshot of the environment, so every answer is testable against a
//! temporary config dir.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::EngineHost;
use crate::dial::TlsOptions;

/// The docker CLI's config dir for this process: `$DOCKER_CONFIG`, else
/// `$HOME/.docker`.
pub fn config_dir() -> PathBuf {
    Environment::from_process().docker_config_dir()
}

/// Why the docker configuration cannot say which engine to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `DOCKER_HOST` (or a builder endpoint) is not an engine host.
    #[error("invalid builder address {addr:?}: {reason}")]
    InvalidHost { addr: String, reason: String },
    /// A config file or context is missing, unreadable or malformed.
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
}

/// The environment variables the docker CLI, buildx and buildctl read,
/// captured once, so resolution is a pure function of (flags, env, files).
/// Empty values count as unset.
/// The user's home: `$HOME`, else the password database's entry for the
/// user, as the docker CLI finds it (moby `pkg/homedir` `Get`: `HOME`, else
/// Go's `user.Current`), so `~/.docker` is the CLI's even with HOME unset.
pub fn home_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwuid_r writes
    // it and the strings into `buf`, which outlives their use here.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || pw.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points at a NUL-terminated string inside `buf`.
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) };
    let dir = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(dir.to_bytes());
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub buildkit_host: Option<String>,
    pub buildx_builder: Option<String>,
    pub buildx_config: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub docker_tls_verify: bool,
    pub docker_cert_path: Option<PathBuf>,
    /// The docker CLI's `--tlscacert/--tlscert/--tlskey` (archgate as its
    /// plugin): each replaces that file of `DOCKER_CERT_PATH`.
    pub docker_tls_files: TlsOptions,
    /// The docker CLI that runs archgate as its plugin (`plugin`), the
    /// `docker` to run for `docker-container://` builders; else `docker` on
    /// `PATH`.
    pub docker_cli: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// `PATH` for the `docker` CLI that `docker-container://` runs.
    pub path: Option<std::ffi::OsString>,
}

impl Environment {
    /// Snapshot the process environment, with the docker CLI's global
    /// options over it when archgate runs as its plugin (`plugin`).
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        // Paths need not be UTF-8.
        let path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mut env = Environment {
            buildkit_host: var("BUILDKIT_HOST"),
            buildx_builder: var("BUILDX_BUILDER"),
            buildx_config: path("BUILDX_CONFIG"),
            docker_config: path("DOCKER_CONFIG"),
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            docker_cert_path: path("DOCKER_CERT_PATH"),
            docker_tls_files: TlsOptions::default(),
            docker_cli: None,
            home: home_dir(),
            path: std::env::var_os("PATH").filter(|p| !p.is_empty()),
        };
        super::plugin::overlay(&mut env);
        env
    }

    /// The docker CLI's config dir: `$DOCKER_CONFIG`, else `~/.docker`.
    pub fn docker_config_dir(&self) -> PathBuf {
        match (&self.docker_config, &self.home) {
            (Some(d), _) => d.clone(),
            (None, Some(h)) => h.join(".docker"),
            (None, None) => PathBuf::from(".docker"),
        }
    }

    /// buildx's store: `$BUILDX_CONFIG`, else `$DOCKER_CONFIG/buildx`.
    pub fn buildx_dir(&self) -> PathBuf {
        match &self.buildx_config {
            Some(d) => d.clone(),
            None => self.docker_config_dir().join("buildx"),
        }
    }
}

/// The engine the docker CLI would talk to: `DOCKER_HOST` (with
/// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`), else the current context's
/// endpoint, else the default socket.
pub fn current_engine(env: &Environment) -> Result<EngineHost, ConfigError> {
    if let Some(h) = &env.docker_host {
        return env_engine(h, env);
    }
    match current_context(env)? {
        Some(ctx) => context_engine(&ctx, env),
        None => Ok(EngineHost::default_socket()),
    }
}

/// An engine host as `DOCKER_HOST` spells it, with the TLS files
/// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` point at.
pub(crate) fn env_engine(host: &str, env: &Environment) -> Result<EngineHost, ConfigError> {
    let parsed = EngineHost::parse(host).map_err(|reason| ConfigError::InvalidHost {
        addr: host.to_string(),
        reason: format!("DOCKER_HOST: {reason}"),
    })?;
    Ok(match parsed {
        EngineHost::Tcp { addr, tls } if env.docker_tls_verify || tls.is_some() => {
            let dir = env
                .docker_cert_path
                .clone()
                .unwrap_or_else(|| env.docker_config_dir());
            let files = &env.docker_tls_files;
            let dir_files = tls_from_dir(&dir);
            EngineHost::Tcp {
                addr,
                tls: Some(TlsOptions {
                    ca_cert: files.ca_cert.clone().or(dir_files.ca_cert),
                    cert: files.cert.clone().or(dir_files.cert),
                    key: files.key.clone().or(dir_files.key),
                    server_name: None,
                }),
            }
        }
        other => other,
    })
}

/// `ca.pem`, `cert.pem`, `key.pem` in a directory, each only if present.
fn tls_from_dir(dir: &Path) -> TlsOptions {
    let file = |n: &str| Some(dir.join(n)).filter(|p| p.is_file());
    TlsOptions {
        ca_cert: file("ca.pem"),
        cert: file("cert.pem"),
        key: file("key.pem"),
        server_name: None,
    }
}

/// The current docker context name unless it is `default` (which means
/// "DOCKER_HOST or the default socket"). `DOCKER_HOST` wins over contexts, as
/// in the docker CLI.
pub(crate) fn current_context(env: &Environment) -> Result<Option<String>, ConfigError> {
    if env.docker_host.is_some() {
        return Ok(None);
    }
    let name = match &env.docker_context {
        Some(c) => Some(c.clone()),
        None => {
            let path = env.docker_config_dir().join("config.json");
            #[derive(Deserialize)]
            struct Cfg {
                #[serde(rename = "currentContext", default)]
                current_context: Option<String>,
            }
            match read_json::<Cfg>(&path)? {
                Some(cfg) => cfg.current_context,
                None => None,
            }
        }
    };
    Ok(name.filter(|n| !n.is_empty() && n != "default"))
}

/// The docker endpoint of a named context.
pub(crate) fn context_engine(name: &str, env: &Environment) -> Result<EngineHost, ConfigError> {
    if name == "default" {
        return match &env.docker_host {
            Some(h) => env_engine(h, env),
            None => Ok(EngineHost::default_socket()),
        };
    }
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let contexts = env.docker_config_dir().join("contexts");
    let meta = contexts.join("meta").join(&id).join("meta.json");
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints", default)]
        endpoints: BTreeMap<String, Endpoint>,
    }
    #[derive(Deserialize)]
    struct Endpoint {
        #[serde(rename = "Host", default)]
        host: Option<String>,
    }
    let Some(m) = read_json::<Meta>(&meta)? else {
        return Err(ConfigError::File {
            path: meta,
            reason: format!("docker context {name:?} not found"),
        });
    };
    let host = m
        .endpoints
        .get("docker")
        .and_then(|e| e.host.clone())
        .ok_or_else(|| ConfigError::File {
            path: meta.clone(),
            reason: format!("docker context {name:?} has no docker endpoint"),
        })?;
    let parsed = EngineHost::parse(&host).map_err(|reason| ConfigError::File {
        path: meta.clone(),
        reason: format!("docker context {name:?}: {reason}"),
    })?;
    Ok(match parsed {
        EngineHost::Tcp { addr, .. } => {
            let tls_dir = contexts.join("tls").join(&id).join("docker");
            EngineHost::Tcp {
                addr,
                tls: tls_dir.is_dir().then(|| tls_from_dir(&tls_dir)),
            }
        }
        other => other,
    })
}

/// Whether a docker context of this name exists.
pub(crate) fn context_exists(name: &str, env: &Environment) -> bool {
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    env.docker_config_dir()
        .join("contexts/meta")
        .join(id)
        .join("meta.json")
        .is_file()
}

/// Read a JSON file; `None` if it does not exist.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, ConfigError> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| ConfigError::File {
                path: path.to_path_buf(),
                reason: format!("not valid JSON: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}
