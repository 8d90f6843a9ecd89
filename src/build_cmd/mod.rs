//! `archgate build` as a library call: flags in, the gate's report out
//! (its exit code is `Report::exit`, as for `check`). Checks the options,
//! picks the builder, plans the exports, serves the session (context,
//! credentials, secrets, exporter output), runs the client-side build with
//! its gate through the BuildKit runner, and only then moves received
//! output into place, loads it, and writes the metadata file. `run` does
//! all that for a synchronous caller (a runtime, progress, Ctrl-C).
//!
//! The one idea: every flag is translated once, here, into the three things
//! BuildKit understands (frontend options, local directories, exporter
//! attributes), so the BuildKit client and the gate stay ignorant of the CLI.

mod attest;
mod cache;
pub mod call;
mod flags;
mod frontend;
mod nodes;
mod oci_context;
mod options;
pub mod output;
mod route;
mod run;
mod stdin;

pub use flags::{parse_call, Call, FrontendFlags};
pub use options::{prepare, OptionsError};
pub use run::{run, Finished};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use crate::buildkit::addr::BuilderAddr;
use crate::buildkit::auth::AuthService;
use crate::buildkit::client::{list_workers, WorkerInfo};
use crate::buildkit::content::ContentService;
use crate::buildkit::error::BuildError;
use crate::buildkit::filesync::{
    ExportTarget, FileSendRouter, FileSendService, FileSyncService, TarDest,
};
use crate::buildkit::secrets::{SecretError, SecretsService};
use crate::buildkit::session::Services;
use crate::buildkit::solve::{self, SolveError, Solved};
use crate::buildkit::sshforward::{SshError, SshService};
use crate::buildkit::store::{self, BuilderFlags};
use crate::buildkit::transport::connect_with;
use crate::buildkit::upload::UploadService;
use crate::docker::credentials::CredentialsError;
use crate::docker::{current_engine, Engine, EngineHost, Environment};
use crate::gate::{platform_list, Decision, Event, Gate};
use crate::inspect::{ImageReport, Platform};
use frontend::Built;
use output::{DaemonKind, Dest, OutputError, Wire};

/// Network mode for RUN steps (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Network {
    #[default]
    Default,
    None,
    Host,
}

/// Everything `archgate build` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The build context directory.
    pub context: PathBuf,
    /// `-f`; default: `CONTEXT/Dockerfile`.
    pub file: Option<PathBuf>,
    pub build_args: Vec<String>,
    pub labels: Vec<String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub network: Network,
    pub tags: Vec<String>,
    /// `--platform` values as given (comma lists already split).
    pub platforms: Vec<String>,
    pub outputs: Vec<String>,
    pub push: bool,
    pub load: bool,
    pub secrets: Vec<String>,
    /// `--ssh`: the agents `RUN --mount=type=ssh` reaches.
    pub ssh: Vec<String>,
    pub strict: bool,
    /// `--deep`: judge every program of each platform's result.
    pub deep: bool,
    pub builder: BuilderFlags,
    pub metadata_file: Option<PathBuf>,
    /// `--add-host`, `--shm-size`, `--ulimit`, `--allow`, `--call`,
    /// `--build-context`... (`flags`).
    pub flags: FrontendFlags,
    /// `--iidfile`: the image ID written there after the export.
    pub iidfile: Option<PathBuf>,
    /// `--cache-from` and `--cache-to` values as given.
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    /// `--attest` values, and `--provenance`, `--sbom` as given.
    pub attests: Vec<String>,
    pub provenance: Option<String>,
    pub sbom: Option<String>,
    /// `--annotation` values as given.
    pub annotations: Vec<String>,
    /// Whether stdout is a terminal (a tarball is never written to one).
    pub stdout_is_terminal: bool,
    /// Set by the multi-node runner (`nodes`) for one node's share of the
    /// build; `None` for a build of its own.
    pub node: Option<nodes::NodePart>,
}

/// A build that reached the gate.
#[derive(Debug)]
pub struct Outcome {
    /// The platforms' reports (the report's `image` is the first tag, else
    /// the context path).
    pub report: ImageReport,
    /// The gate passed and the exporter ran.
    pub exported: bool,
    /// The exporter's response, as the metadata file has it.
    pub exporter_response: BTreeMap<String, String>,
    /// A `--call`'s answer, rendered (the gate did not run).
    pub called: Option<call::Rendered>,
    /// For one node's share of a multi-node build: what the runner
    /// finishes once every node passed.
    pub share: Option<Box<nodes::ShareOutput>>,
}

/// The image ID buildx prints for `-q` and writes to `--iidfile`
/// (`commands/build.go` `getImageID`): the config digest, else the image
/// digest, else nothing.
pub fn image_id(exporter_response: &BTreeMap<String, String>) -> &str {
    exporter_response
        .get("containerimage.config.digest")
        .or_else(|| exporter_response.get("containerimage.digest"))
        .map_or("", String::as_str)
}

/// Why `archgate build` could not decide (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The builder cannot do what a flag asks (exit 2, before the solve).
    #[error("{0}")]
    Unsupported(String),
    #[error("invalid --platform {value:?}: {reason}")]
    Platform { value: String, reason: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    Auth(#[from] CredentialsError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Builder(#[from] BuildError),
    /// The build failed on the daemon, or a platform could not be checked.
    #[error("{0}")]
    Build(String),
    #[error("writing the exported result: {0}")]
    Export(String),
    #[error("{what} {}: {reason}", path.display())]
    Metadata {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
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

/// After the export: `--iidfile` gets the image ID, `--metadata-file` the
/// exporter's response, as buildx writes them.
fn write_id_files(
    req: &Request,
    exporter_response: &BTreeMap<String, String>,
) -> Result<(), ExecError> {
    let write = |what: &'static str, path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| ExecError::Metadata {
            what,
            path: path.clone(),
            reason: e.to_string(),
        })
    };
    if let Some(path) = &req.iidfile {
        write(
            "image ID file",
            path,
            image_id(exporter_response).to_string(),
        )?;
    }
    if let Some(path) = &req.metadata_file {
        let json = output::metadata_json(exporter_response);
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        write("metadata file", path, text + "\n")?;
    }
    Ok(())
}

/// Read a small file the user pointed at (an `index.json`): a regular
/// file (a pipe or device would block or never end) of at most `max`
/// bytes.
pub(crate) fn read_regular(path: &std::path::Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut data))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if data.len() as u64 > max {
        return Err(format!("{}: larger than {} MiB", path.display(), max >> 20));
    }
    Ok(data)
}

/// `--iidfile` and `--metadata-file` are written after the export: what
/// would fail then (a missing folder, something else than a file in the
/// way) is refused before anything is built.
fn check_output_file(flag: &'static str, path: &std::path::Path) -> Result<(), ExecError> {
    match crate::report::file::unwritable(path) {
        Some(reason) => Err(ExecError::Options(OptionsError::Flag {
            flag,
            value: path.display().to_string(),
            reason,
        })),
        None => Ok(()),
    }
}

/// The `--platform` values, parsed, each once, in the order given.
fn parse_platforms(values: &[String]) -> Result<Vec<Platform>, ExecError> {
    let mut platforms: Vec<Platform> = Vec::new();
    for p in values.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        // buildx: `local` is the client's own platform.
        let parsed = if p == "local" {
            Platform::new(std::env::consts::OS, std::env::consts::ARCH, None)
        } else {
            Platform::parse(p).map_err(|e| ExecError::Platform {
                value: p.to_string(),
                reason: e.to_string(),
            })?
        };
        if !platforms.contains(&parsed) {
            platforms.push(parsed);
        }
    }
    Ok(platforms)
}

/// The name the report gives the build: the first tag, else the context.
pub fn image_name(req: &Request) -> String {
    req.tags
        .first()
        .cloned()
        .unwrap_or_else(|| req.context.display().to_string())
}

/// Run `archgate build`: check the options, connect, build every platform,
/// gate, export. Progress goes to `events`.
pub async fn execute(
    req: &Request,
    events: Option<UnboundedSender<Event>>,
) -> Result<Outcome, ExecError> {
    if let Some(p) = &req.iidfile {
        check_output_file("--iidfile", p)?;
    }
    if let Some(p) = &req.metadata_file {
        check_output_file("--metadata-file", p)?;
    }
    if req.node.is_none() {
        // A builder of several nodes: each node builds its share (a
        // resolution error is reported below, in its usual place).
        let env = Environment::from_process();
        if let Ok(r) = store::resolve(&req.builder, &env) {
            if !r.nodes.is_empty() {
                return nodes::execute(req, events, r, &env).await;
            }
        }
    }
    // Everything that can be refused is refused before the daemon is asked.
    let upload = UploadService::new();
    let from_stdin = stdin::read(
        &req.context,
        req.file.as_deref(),
        || Box::new(std::io::stdin()),
        &upload,
    )?;
    let env_var = |k: &str| std::env::var(k).ok();
    let (mut solve, local_dirs) = prepare(req, &from_stdin, &env_var)?;
    let extras = Extras::parse(req, &env_var)?;
    let call = match &req.flags.call {
        Some(c) => parse_call(c)?,
        None => None,
    };
    let platforms = parse_platforms(&req.platforms)?;
    let secrets = SecretsService::from_flags(&req.secrets)?;
    let ssh = SshService::from_flags(&req.ssh, &env_var)?;
    let auth = AuthService::new()?;

    let env = Environment::from_process();
    let resolved = match &req.node {
        Some(part) => part.resolved(),
        None => store::resolve(&req.builder, &env)?,
    };
    tracing::debug!(builder = %resolved.addr, from = %resolved.source, "builder");
    let channel = connect_with(&resolved.addr, &env).await?;
    let workers = list_workers(channel.clone()).await?;
    let mut daemon = DaemonKind::from_workers(
        matches!(resolved.addr, BuilderAddr::DockerEngine(_)),
        &workers,
    );
    if !daemon.docker_engine && output::may_load(&req.outputs, req.load) {
        // Where `--load` goes: an engine with the containerd store takes
        // every platform (an engine that cannot be asked is taken as one
        // without, as buildx does).
        if let Ok(host) = current_engine(&env) {
            if let Ok(engine) = Engine::new(&host) {
                daemon.load_oci = engine.containerd_store().await == Some(true);
            }
        }
    }
    // What the builder cannot do at all comes first, as in buildx.
    extras.check_builder(&daemon, &workers)?;
    let count = platforms.len().max(1);
    let mut plans = output::plan(
        &req.outputs,
        req.push,
        req.load,
        &req.tags,
        count,
        extras.attests.any_enabled(),
        &daemon,
    )?;
    if let Some(iid) = &req.iidfile {
        if let Some(p) = plans
            .iter()
            .find(|p| p.exporter == "local" || p.exporter == "tar")
        {
            return Err(OptionsError::Flag {
                flag: "--iidfile",
                value: iid.display().to_string(),
                reason: format!(
                    "the {} exporter writes no image: --iidfile needs type=image, docker, oci or registry",
                    p.exporter
                ),
            }
            .into());
        }
        // Avoid leaving a stale file if the build fails (as buildx).
        match std::fs::remove_file(iid) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ExecError::Metadata {
                    what: "image ID file",
                    path: iid.clone(),
                    reason: format!("removing the stale file: {e}"),
                })
            }
            _ => {}
        }
    }
    if call.is_some() {
        // A subrequest builds nothing, so nothing is exported (buildx sets
        // no default export for a call either).
        plans.clear();
    }
    // Annotations go to every exporter, as buildx puts them.
    for p in &mut plans {
        p.attrs.extend(extras.annotations.clone());
    }
    let push_names = match &req.node {
        Some(part) => part.adapt(&mut plans, &mut solve)?,
        None => None,
    };
    let session_engine = match &resolved.addr {
        BuilderAddr::DockerEngine(Some(h)) => Some(h.clone()),
        BuilderAddr::DockerEngine(None) => Some(current_engine(&env).map_err(BuildError::from)?),
        _ => None,
    };
    let (mut cache_from, mut cache_to) = (extras.cache_from, extras.cache_to);
    if cache::needs_caps(&cache_from) || cache::needs_caps(&cache_to) {
        let caps = solve::llb_caps(channel.clone(), session_engine.clone())
            .await
            .map_err(|e| {
                ExecError::Build(format!(
                    "{}: asking for its capabilities: {e}",
                    resolved.addr
                ))
            })?;
        cache::keep_supported(&mut cache_from, &caps);
        cache::keep_supported(&mut cache_to, &caps);
    }
    let caches = cache::prepare(cache_from, cache_to, &mut |w| tracing::warn!("{w}"))?;
    solve.frontend_attrs.extend(extras.attests.frontend_options(
        extras.default_provenance && daemon_takes_attestations(&daemon, &workers),
    ));
    if let Some(v) = caches.frontend_option() {
        solve.frontend_attrs.insert("cache-imports".into(), v);
    }
    let entry = |e: &cache::CacheEntry| (e.typ.clone(), e.attrs.clone());
    solve.cache_imports = caches.imports.iter().map(entry).collect();
    solve.cache_exports = caches.exports.iter().map(entry).collect();
    for p in &plans {
        p.check_stdout(req.stdout_is_terminal)?;
    }
    if plans.len() > 1 && !takes_several_exporters(&resolved.addr, &channel, &env).await {
        return Err(OutputError::MultipleExporters { count: plans.len() }.into());
    }

    let mut services = Services::new();
    let dirs: HashMap<String, PathBuf> = local_dirs.into_iter().collect();
    services.add(FileSyncService::new(dirs).into_server());
    services.add(auth.into_server());
    services.add(secrets.into_server());
    if from_stdin.context_url.is_some() {
        services.add(upload.into_server());
    }
    if !ssh.is_empty() {
        services.add(ssh.into_server());
    }
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
    if !caches.stores.is_empty() || !solve.oci_stores.is_empty() {
        services.add(
            ContentService::new(
                caches
                    .stores
                    .iter()
                    .map(|s| (s.id.clone(), s.dir.clone()))
                    .collect(),
                solve.oci_stores.clone(),
            )
            .into_server(),
        );
    }

    let default_platform = workers
        .iter()
        .flat_map(|w| w.platforms.first())
        .next()
        .cloned()
        .unwrap_or_else(|| Platform::new("linux", "amd64", None));
    if !platforms.is_empty() {
        solve
            .frontend_attrs
            .insert("platform".into(), platform_list(&platforms));
    }
    solve.exporters = plans
        .iter()
        .map(|p| (p.exporter.clone(), p.attrs.clone()))
        .collect();
    solve.session_engine = session_engine;
    let frontend_opts = solve.frontend_attrs.clone();
    let rendezvous = req.node.as_ref().and_then(|p| p.rendezvous.clone());
    let gate = Gate {
        platforms,
        default_platform,
        strict: req.strict,
        deep: req.deep,
        events: events.clone(),
    };
    let image = image_name(req);
    let addr = resolved.addr.to_string();
    let on_status = move |s| {
        if let Some(tx) = &events {
            let _ = tx.send(Event::Status(Box::new(s)));
        }
    };
    let solved = solve::run(channel, services, solve, on_status, |gw| {
        frontend::build(gw, frontend_opts, &gate, call.is_some(), rendezvous)
    })
    .await;
    let export_error = handles.iter().find_map(|h| h.error());
    let report = |platforms| ImageReport {
        image: image.clone(),
        platforms,
        error: None,
    };
    match solved {
        Ok(Solved::Exported {
            value: Built::Called(answer),
            exporter_response,
        }) => {
            let Some(call) = &call else {
                return Err(ExecError::Build("a subrequest's answer to a build".into()));
            };
            let (frontend_name, shown) = dockerfile_names(req, &from_stdin);
            Ok(Outcome {
                report: report(Vec::new()),
                exported: false,
                exporter_response,
                called: Some(call::render(call, &answer, &frontend_name, &shown)),
                share: None,
            })
        }
        Ok(Solved::Refused {
            value: Built::CallFailed(status),
            ..
        }) => Err(daemon_failed(
            crate::buildkit::error::daemon_message(&status),
            export_error,
        )),
        Ok(Solved::Exported {
            value: Built::Judged(Decision::Pass(platforms)),
            exporter_response,
        }) => {
            if let Some(e) = export_error {
                return Err(ExecError::Export(e));
            }
            if req.node.as_ref().is_some_and(|p| p.nodes > 1) {
                // One node's share: the runner moves it into place once
                // every node passed.
                return Ok(Outcome {
                    report: report(platforms),
                    exported: !plans.is_empty(),
                    exporter_response,
                    called: None,
                    share: Some(Box::new(nodes::ShareOutput {
                        pending: handles,
                        push_names,
                    })),
                });
            }
            // The solve succeeded: only now does received output reach its
            // destinations.
            for h in &handles {
                h.commit().await.map_err(ExecError::Export)?;
            }
            // A local cache export's index names the cache BuildKit wrote.
            if let Some(desc) = exporter_response.get("cache.manifest") {
                for s in &caches.stores {
                    if let Some(tag) = &s.export_tag {
                        cache::put_index(&s.dir, tag, desc).map_err(|e| {
                            ExecError::Export(format!("cache {}: {e}", s.dir.display()))
                        })?;
                    }
                }
            }
            let exported = !plans.is_empty();
            if let (Some((engine, tar)), true) = (&load_via, exported) {
                Engine::new(engine)
                    .map_err(BuildError::from)?
                    .load(&tar.0)
                    .await
                    .map_err(BuildError::from)?;
            }
            write_id_files(req, &exporter_response)?;
            Ok(Outcome {
                report: report(platforms),
                exported,
                exporter_response,
                called: None,
                share: None,
            })
        }
        Ok(Solved::Refused {
            value: Built::Judged(Decision::Fail(mut platforms)),
            returned: Ok(()),
        }) => Ok(Outcome {
            report: {
                attach_sources(req, &from_stdin, &mut platforms);
                report(platforms)
            },
            exported: false,
            exporter_response: BTreeMap::new(),
            called: None,
            share: None,
        }),
        Ok(Solved::Refused {
            value: Built::Judged(Decision::BuildFailed(status)),
            ..
        }) => Err(daemon_failed(
            crate::buildkit::error::daemon_message(&status),
            export_error,
        )),
        Ok(Solved::Refused {
            value: Built::Judged(Decision::Undecided { undecided, .. }),
            ..
        }) => Err(ExecError::Build(
            undecided
                .iter()
                .map(|(platform, message)| format!("could not check {platform}: {message}"))
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Ok(Solved::Refused {
            returned: Err(e), ..
        })
        | Err(SolveError::Client(e)) => Err(ExecError::Build(format!("{addr}: {e}"))),
        Err(SolveError::Daemon(m)) => Err(daemon_failed(m, export_error)),
        // The gate returns its result only when every platform passed, and
        // an error otherwise.
        Ok(Solved::Exported { .. } | Solved::Refused { .. }) => Err(ExecError::Build(
            "the gate answered the daemon against its own decision".into(),
        )),
    }
}

/// The Dockerfile's name as the frontend sees it (`filename`) and as the
/// user gave it (buildx's `DockerfileMappingSrc`: `-f` as given, `stdin`
/// for `-f -`, else `CONTEXT/Dockerfile`).
fn dockerfile_names(req: &Request, from_stdin: &stdin::StdinInputs) -> (String, String) {
    let shown = match &req.file {
        Some(f) if stdin::is_stdin(f) => "stdin".to_string(),
        Some(f) => f.display().to_string(),
        None => req.context.join("Dockerfile").display().to_string(),
    };
    let frontend = if from_stdin.dockerfile.is_some() {
        "Dockerfile".to_string()
    } else {
        req.file.as_ref().and_then(|f| f.file_name()).map_or_else(
            || "Dockerfile".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    (frontend, shown)
}

/// Each failing platform's Dockerfile line (`lint::explain`): the lint
/// finding that explains it, else the instruction that wrote its program.
/// Nothing when the Dockerfile cannot be read again or does not parse.
fn attach_sources(
    req: &Request,
    from_stdin: &stdin::StdinInputs,
    platforms: &mut [crate::inspect::PlatformReport],
) {
    if from_stdin.context_url.is_some() {
        // The Dockerfile is inside the tar the daemon unpacked.
        return;
    }
    let (_, shown) = dockerfile_names(req, from_stdin);
    let path = from_stdin.dockerfile_path().unwrap_or_else(|| {
        req.file
            .clone()
            .unwrap_or_else(|| req.context.join("Dockerfile"))
    });
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    crate::lint::explain::attach(&shown, &text, req.target.as_deref(), req.strict, platforms);
}

/// The build failed on the daemon; a failed export explains it.
fn daemon_failed(message: String, export_error: Option<String>) -> ExecError {
    ExecError::Build(match export_error {
        Some(e) => format!("{message} (writing the export: {e})"),
        None => message,
    })
}

/// The flags read by `cache` and `attest`, checked before the daemon is
/// asked anything.
struct Extras {
    cache_from: Vec<cache::CacheEntry>,
    cache_to: Vec<cache::CacheEntry>,
    attests: attest::Attests,
    /// `BUILDX_NO_DEFAULT_ATTESTATIONS` is not set.
    default_provenance: bool,
    annotations: BTreeMap<String, String>,
}

impl Extras {
    fn parse(req: &Request, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, OptionsError> {
        let cache_from = cache::parse("--cache-from", &req.cache_from, env)?;
        let mut cache_to = cache::parse("--cache-to", &req.cache_to, env)?;
        // buildx: `--build-arg BUILDKIT_INLINE_CACHE=1` is an inline export.
        let inline = req.build_args.iter().any(|a| {
            a.split_once('=').is_some_and(|(k, v)| {
                k == "BUILDKIT_INLINE_CACHE" && crate::goparse::parse_go_bool(v) == Some(true)
            })
        });
        if inline {
            cache_to.push(cache::CacheEntry {
                typ: "inline".into(),
                attrs: BTreeMap::new(),
            });
        }
        Ok(Extras {
            cache_from,
            cache_to,
            attests: attest::parse_attests(
                &req.attests,
                req.provenance.as_deref(),
                req.sbom.as_deref(),
            )?,
            default_provenance: attest::default_provenance_wanted(env)?,
            annotations: attest::parse_annotations(&req.annotations)?,
        })
    }

    /// Refuse, as buildx does, what the builder cannot do: a cache export
    /// other than inline, or attestations, on a Docker Engine without the
    /// containerd image store; attestations on a BuildKit older than v0.11.
    fn check_builder(&self, daemon: &DaemonKind, workers: &[WorkerInfo]) -> Result<(), ExecError> {
        let plain_engine = daemon.docker_engine && !daemon.containerd_store;
        if plain_engine && self.cache_to.iter().any(|e| e.typ != "inline") {
            return Err(ExecError::Unsupported(
                "--cache-to: cache export is not supported for the docker driver (switch to a different driver, or turn on the containerd image store)".into(),
            ));
        }
        if self.attests.any_enabled() && !daemon_takes_attestations(daemon, workers) {
            return Err(ExecError::Unsupported(if plain_engine {
                "--attest: attestations are not supported for the docker driver (switch to a different driver, or turn on the containerd image store)".into()
            } else {
                "--attest: attestations are not supported by the current BuildKit daemon".into()
            }));
        }
        Ok(())
    }
}

/// Whether the builder keeps attestations (buildx: the
/// `exporter.image.attestations` cap, BuildKit v0.11+, and a multi-platform
/// driver, which a Docker Engine is only with the containerd store).
fn daemon_takes_attestations(daemon: &DaemonKind, workers: &[WorkerInfo]) -> bool {
    if daemon.docker_engine {
        return daemon.containerd_store;
    }
    workers.iter().any(|w| {
        w.buildkit_version
            .as_ref()
            .and_then(|v| v.release())
            .is_some_and(|(maj, min, _)| (maj, min) >= (0, 11))
    })
}

#[cfg(test)]
mod file_tests {
    use super::*;

    fn fifo(dir: &std::path::Path) -> PathBuf {
        let p = dir.join("fifo");
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        p
    }

    #[test]
    fn small_files_are_regular_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        // A pipe nobody writes would block the open: refused at once.
        let e = read_regular(&fifo(dir.path()), 16).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_regular(std::path::Path::new("/dev/zero"), 16).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 3 << 20]).unwrap();
        let e = read_regular(&big, 2 << 20).unwrap_err();
        assert!(e.contains("larger than 2 MiB"), "{e}");
        assert_eq!(read_regular(&big, 4 << 20).unwrap().len(), 3 << 20);
    }

    #[test]
    fn output_files_are_checked_before_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("iid");
        assert!(check_output_file("--iidfile", &ok).is_ok());
        std::fs::write(&ok, "old").unwrap();
        assert!(check_output_file("--iidfile", &ok).is_ok());
        for bad in [
            PathBuf::from("/dev/full"),
            dir.path().to_path_buf(),
            fifo(dir.path()),
            dir.path().join("missing/iid"),
        ] {
            let e = check_output_file("--iidfile", &bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("--iidfile"), "{e}");
        }
    }
}
