//! `archgate build` as a library call: flags in, a report and an exit code
//! out. Turns buildx-style options into the frontend's options, the session's
//! services and an export plan, runs the gated build, and writes the
//! metadata file.
//!
//! The one idea: every flag is translated once, here, into the three things
//! BuildKit understands (frontend options, local directories, exporter
//! attributes), so the frontend and session stay ignorant of the CLI.

pub mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use crate::buildkit::addr::BuilderAddr;
use crate::buildkit::auth::AuthService;
use crate::buildkit::client::list_workers;
use crate::buildkit::error::BuildError;
use crate::buildkit::filesync::{
    ExportTarget, FileSendRouter, FileSendService, FileSyncService, TarDest,
};
use crate::buildkit::frontend::{self, BuildSpec, Event, FrontendError};
use crate::buildkit::secrets::{SecretError, SecretsService};
use crate::buildkit::session::Services;
use crate::buildkit::store::{self, BuilderFlags};
use crate::buildkit::transport::connect_with;
use crate::docker::credentials::CredentialsError;
use crate::docker::{current_engine, Engine, EngineHost, Environment};
use crate::inspect::{ImageReport, Platform};
use output::{DaemonKind, Dest, OutputError, Wire};
use std::collections::HashMap;

/// Why the options cannot make a build (exit 2, before anything runs).
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("build context {}: {reason}", path.display())]
    Context { path: PathBuf, reason: String },
    #[error("dockerfile {}: {reason}", path.display())]
    Dockerfile { path: PathBuf, reason: String },
    #[error("invalid {flag} {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

/// Network mode for RUN steps (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    #[default]
    Default,
    None,
    Host,
}

/// The build options that shape what BuildKit builds (not where it goes).
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub context: PathBuf,
    pub file: Option<PathBuf>,
    pub build_args: Vec<String>,
    pub labels: Vec<String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub network: Network,
}

/// What the frontend and the session need from the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// `dockerfile.v0` options.
    pub frontend_opts: BTreeMap<String, String>,
    /// Local directories the session serves, by the names the frontend
    /// asks for (`context`, `dockerfile`).
    pub local_dirs: BTreeMap<String, PathBuf>,
    pub entitlements: Vec<String>,
    /// Lets the daemon reuse an earlier transfer of this context.
    pub shared_key: String,
    /// The session's display name.
    pub session_name: String,
}

/// Translate the shape, reading `env` for `--build-arg KEY` without a value
/// (as buildx does: taken from the environment when set, else dropped).
pub fn prepare(
    shape: &Shape,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Prepared, OptionsError> {
    let context = std::path::absolute(&shape.context).map_err(|e| OptionsError::Context {
        path: shape.context.clone(),
        reason: e.to_string(),
    })?;
    match std::fs::metadata(&context) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(OptionsError::Context {
                path: shape.context.clone(),
                reason: "not a directory".into(),
            })
        }
        Err(e) => {
            return Err(OptionsError::Context {
                path: shape.context.clone(),
                reason: e.to_string(),
            })
        }
    }

    // The Dockerfile's folder is served as its own local; the frontend
    // reads `filename` inside it.
    let dockerfile = match &shape.file {
        Some(f) => std::path::absolute(f).map_err(|e| OptionsError::Dockerfile {
            path: f.clone(),
            reason: e.to_string(),
        })?,
        None => context.join("Dockerfile"),
    };
    let shown = shape.file.clone().unwrap_or_else(|| dockerfile.clone());
    match std::fs::metadata(&dockerfile) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(OptionsError::Dockerfile {
                path: shown,
                reason: "not a regular file".into(),
            })
        }
        Err(e) => {
            return Err(OptionsError::Dockerfile {
                path: shown,
                reason: e.to_string(),
            })
        }
    }
    let (Some(dir), Some(name)) = (dockerfile.parent(), dockerfile.file_name()) else {
        return Err(OptionsError::Dockerfile {
            path: shown,
            reason: "has no parent directory".into(),
        });
    };
    let name = name.to_str().ok_or_else(|| OptionsError::Dockerfile {
        path: dockerfile.clone(),
        reason: "the file name is not UTF-8".into(),
    })?;

    let mut opts = BTreeMap::new();
    opts.insert("filename".to_string(), name.to_string());
    for a in &shape.build_args {
        match a.split_once('=') {
            Some((k, v)) => {
                check_key("--build-arg", a, k)?;
                opts.insert(format!("build-arg:{k}"), v.to_string());
            }
            None => {
                check_key("--build-arg", a, a)?;
                if let Some(v) = env(a) {
                    opts.insert(format!("build-arg:{a}"), v);
                }
            }
        }
    }
    for l in &shape.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        check_key("--label", l, k)?;
        opts.insert(format!("label:{k}"), v.to_string());
    }
    if let Some(t) = &shape.target {
        opts.insert("target".into(), t.clone());
    }
    if shape.no_cache {
        opts.insert("no-cache".into(), String::new());
    }
    let mut entitlements = Vec::new();
    match shape.network {
        Network::Default => {}
        Network::None => {
            opts.insert("force-network-mode".into(), "none".into());
        }
        Network::Host => {
            opts.insert("force-network-mode".into(), "host".into());
            entitlements.push("network.host".to_string());
        }
    }

    let mut local_dirs = BTreeMap::new();
    local_dirs.insert("context".to_string(), context.clone());
    local_dirs.insert("dockerfile".to_string(), dir.to_path_buf());

    Ok(Prepared {
        frontend_opts: opts,
        local_dirs,
        entitlements,
        shared_key: shared_key(&context),
        session_name: context
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "context".into()),
    })
}

fn check_key(flag: &'static str, value: &str, key: &str) -> Result<(), OptionsError> {
    if key.is_empty() {
        return Err(OptionsError::Flag {
            flag,
            value: value.to_string(),
            reason: "the name is empty".into(),
        });
    }
    Ok(())
}

/// A stable key per context directory (and machine), so repeated builds of
/// the same folder only transfer what changed.
fn shared_key(context: &Path) -> String {
    let mut h = Sha256::new();
    h.update(context.as_os_str().as_encoded_bytes());
    if let Ok(host) = std::fs::read_to_string("/etc/machine-id") {
        h.update(host.trim().as_bytes());
    }
    format!("archgate-{}", &hex::encode(h.finalize())[..20])
}

/// Everything `archgate build` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub shape: Shape,
    pub tags: Vec<String>,
    /// `--platform` values as given (comma lists already split).
    pub platforms: Vec<String>,
    pub outputs: Vec<String>,
    pub push: bool,
    pub load: bool,
    pub secrets: Vec<String>,
    pub strict: bool,
    pub builder: BuilderFlags,
    pub metadata_file: Option<PathBuf>,
    /// Whether stdout is a terminal (a tarball is never written to one).
    pub stdout_is_terminal: bool,
}

/// A build that reached the gate.
#[derive(Debug)]
pub struct Executed {
    /// The platforms' reports (the report's `image` is the first tag, else
    /// the context path).
    pub report: ImageReport,
    /// The gate passed and the exporter ran.
    pub exported: bool,
    /// The exporter's response, as the metadata file has it.
    pub exporter_response: BTreeMap<String, String>,
}

/// Why `archgate build` could not decide (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("invalid --platform {value:?}: {reason}")]
    Platform { value: String, reason: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Auth(#[from] CredentialsError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Builder(#[from] BuildError),
    /// The build failed on the daemon, or a platform could not be checked.
    #[error("{0}")]
    Build(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("writing the exported result: {0}")]
    Export(String),
    #[error("metadata file {}: {reason}", path.display())]
    Metadata { path: PathBuf, reason: String },
}

/// Whether the daemon takes several exporters in one solve (BuildKit
/// v0.13+): from its BuildKit version when it states one, else, for a Docker
/// Engine (whose Debian builds report `v0.0.0+unknown`), from the engine's
/// version: Docker 26 embeds BuildKit v0.13.
async fn takes_several_exporters(
    addr: &BuilderAddr,
    channel: &tonic::transport::Channel,
    env: &Environment,
) -> bool {
    if let Ok(Some(v)) = crate::buildkit::client::info(channel.clone()).await {
        if let Some((maj, min, _)) = v.release() {
            return (maj, min) >= (0, 13);
        }
    }
    let host = match addr {
        BuilderAddr::DockerEngine(Some(host)) => host.clone(),
        BuilderAddr::DockerEngine(None) => match current_engine(env) {
            Ok(h) => h,
            Err(_) => return false,
        },
        _ => return false,
    };
    let Ok(engine) = Engine::new(&host) else {
        return false;
    };
    engine.version().await.is_some_and(|(maj, _)| maj >= 26)
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The name the report gives the build: the first tag, else the context.
pub fn image_name(req: &Request) -> String {
    req.tags
        .first()
        .cloned()
        .unwrap_or_else(|| req.shape.context.display().to_string())
}

/// Run `archgate build`: check the options, connect, build every platform,
/// gate, export. Progress goes to `events`.
pub async fn execute(
    req: &Request,
    events: Option<UnboundedSender<Event>>,
) -> Result<Executed, ExecError> {
    // Everything that can be refused is refused before the daemon is asked.
    let prepared = prepare(&req.shape, &|k| std::env::var(k).ok())?;
    let mut platforms: Vec<Platform> = Vec::new();
    for p in req
        .platforms
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        let parsed = Platform::parse(p).map_err(|e| ExecError::Platform {
            value: p.to_string(),
            reason: e.to_string(),
        })?;
        if !platforms.contains(&parsed) {
            platforms.push(parsed);
        }
    }
    let secrets = SecretsService::from_flags(&req.secrets)?;
    let auth = AuthService::new()?;

    let env = Environment::from_process();
    let resolved = store::resolve(&req.builder, &env)?;
    let channel = connect_with(&resolved.addr, &env).await?;
    let workers = list_workers(channel.clone()).await?;
    let daemon = DaemonKind::from_workers(
        matches!(resolved.addr, BuilderAddr::DockerEngine(_)),
        &workers,
    );
    let count = platforms.len().max(1);
    let plans = output::plan(&req.outputs, req.push, req.load, &req.tags, count, &daemon)?;
    for p in &plans {
        p.check_stdout(req.stdout_is_terminal)?;
    }
    if plans.len() > 1 && !takes_several_exporters(&resolved.addr, &channel, &env).await {
        return Err(OutputError::MultipleExporters { count: plans.len() }.into());
    }

    let mut services = Services::new();
    let dirs: HashMap<String, PathBuf> = prepared.local_dirs.clone().into_iter().collect();
    services.add(FileSyncService::new(dirs).into_server());
    services.add(auth.into_server());
    services.add(secrets.into_server());
    let mut handles = Vec::new();
    let mut load_via: Option<(EngineHost, TempFile)> = None;
    let mut targets = Vec::new();
    for (index, p) in plans.iter().enumerate() {
        let target = match (&p.dest, p.wire) {
            (Some(Dest::Dir(d)), Wire::Packets) => Some(ExportTarget::Local {
                dest_dir: d.clone(),
            }),
            (Some(Dest::File(f)), Wire::Tar) => Some(ExportTarget::Tar {
                dest: TarDest::File(f.clone()),
            }),
            (Some(Dest::Stdout), Wire::Tar) => Some(ExportTarget::Tar {
                dest: TarDest::Stdout,
            }),
            (Some(Dest::DockerLoad), _) => {
                // Received into a private file, loaded once the gate passed
                // and the export finished.
                let tmp = std::env::temp_dir().join(format!(
                    "archgate-load-{}.tar",
                    crate::buildkit::session::new_id()?
                ));
                load_via = Some((
                    current_engine(&env).map_err(BuildError::from)?,
                    TempFile(tmp.clone()),
                ));
                Some(ExportTarget::Tar {
                    dest: TarDest::File(tmp),
                })
            }
            _ => None,
        };
        if let Some(t) = target {
            let (svc, handle) = FileSendService::new(t);
            targets.push((index, svc));
            handles.push(handle);
        }
    }
    if !targets.is_empty() {
        services.add(FileSendRouter::new(targets));
    }

    let spec = BuildSpec {
        frontend_opts: prepared.frontend_opts,
        platforms,
        exporters: plans
            .iter()
            .map(|p| (p.exporter.clone(), p.attrs.clone()))
            .collect(),
        entitlements: prepared.entitlements,
        strict: req.strict,
        session_name: prepared.session_name,
        shared_key: prepared.shared_key,
        session_engine: match &resolved.addr {
            BuilderAddr::DockerEngine(Some(h)) => Some(h.clone()),
            BuilderAddr::DockerEngine(None) => {
                Some(current_engine(&env).map_err(BuildError::from)?)
            }
            _ => None,
        },
    };
    let image = image_name(req);
    let addr = resolved.addr.to_string();
    let outcome = frontend::run(channel, &workers, services, spec, events).await;
    let export_error = handles.iter().find_map(|h| h.error());
    match outcome {
        Ok(o) => {
            if let Some(e) = export_error {
                return Err(ExecError::Export(e));
            }
            // The solve succeeded: only now does received output reach its
            // destinations.
            for h in &handles {
                h.commit().await.map_err(ExecError::Export)?;
            }
            if let (Some((engine, tar)), true) = (&load_via, o.exported) {
                Engine::new(engine)
                    .map_err(BuildError::from)?
                    .load(&tar.0)
                    .await
                    .map_err(BuildError::from)?;
            }
            if let Some(path) = &req.metadata_file {
                let json = output::metadata_json(&o.exporter_response);
                let text = serde_json::to_string_pretty(&json).unwrap_or_default();
                std::fs::write(path, text + "\n").map_err(|e| ExecError::Metadata {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
            Ok(Executed {
                report: ImageReport {
                    image,
                    platforms: o.platforms,
                    error: None,
                },
                exported: o.exported,
                exporter_response: o.exporter_response,
            })
        }
        Err(FrontendError::Gate { platforms }) => Ok(Executed {
            report: ImageReport {
                image,
                platforms,
                error: None,
            },
            exported: false,
            exporter_response: BTreeMap::new(),
        }),
        Err(FrontendError::Daemon(m)) => Err(ExecError::Build(match export_error {
            Some(e) => format!("{m} (writing the export: {e})"),
            None => m,
        })),
        Err(FrontendError::Inspect { platform, message }) => Err(ExecError::Build(format!(
            "could not check {platform}: {message}"
        ))),
        Err(FrontendError::Client(e)) => Err(ExecError::Build(format!("{addr}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        d
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_serve_the_context_twice_and_name_the_dockerfile() {
        let d = ctx();
        let p = prepare(
            &Shape {
                context: d.path().into(),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap();
        assert_eq!(p.frontend_opts.get("filename").unwrap(), "Dockerfile");
        assert_eq!(p.local_dirs["context"], d.path());
        assert_eq!(p.local_dirs["dockerfile"], d.path());
        assert!(p.entitlements.is_empty());
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_its_own_local() {
        let d = ctx();
        let other = tempfile::tempdir().unwrap();
        let f = other.path().join("build.Dockerfile");
        std::fs::write(&f, "FROM scratch\n").unwrap();
        let p = prepare(
            &Shape {
                context: d.path().into(),
                file: Some(f),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap();
        assert_eq!(p.frontend_opts["filename"], "build.Dockerfile");
        assert_eq!(p.local_dirs["dockerfile"], other.path());
    }

    #[test]
    fn build_args_labels_target_network() {
        let d = ctx();
        let env = |k: &str| (k == "FROM_ENV").then(|| "e".to_string());
        let p = prepare(
            &Shape {
                context: d.path().into(),
                build_args: vec!["A=1".into(), "B=".into(), "FROM_ENV".into(), "UNSET".into()],
                labels: vec!["l=v".into(), "bare".into()],
                target: Some("final".into()),
                no_cache: true,
                network: Network::Host,
                ..Default::default()
            },
            &env,
        )
        .unwrap();
        let o = &p.frontend_opts;
        assert_eq!(o["build-arg:A"], "1");
        assert_eq!(o["build-arg:B"], "");
        assert_eq!(o["build-arg:FROM_ENV"], "e");
        assert!(!o.contains_key("build-arg:UNSET"));
        assert_eq!(o["label:l"], "v");
        assert_eq!(o["label:bare"], "");
        assert_eq!(o["target"], "final");
        assert_eq!(o["no-cache"], "");
        assert_eq!(o["force-network-mode"], "host");
        assert_eq!(p.entitlements, vec!["network.host"]);
    }

    #[test]
    fn missing_context_or_dockerfile_is_named() {
        let e = prepare(
            &Shape {
                context: "/nonexistent/ctx".into(),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ctx"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let e = prepare(
            &Shape {
                context: d.path().into(),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("Dockerfile"), "{e}");
        let d = ctx();
        let e = prepare(
            &Shape {
                context: d.path().into(),
                build_args: vec!["=x".into()],
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("--build-arg"), "{e}");
    }

    #[test]
    fn shared_key_is_stable_per_context() {
        assert_eq!(shared_key(Path::new("/a")), shared_key(Path::new("/a")));
        assert_ne!(shared_key(Path::new("/a")), shared_key(Path::new("/b")));
    }
}
