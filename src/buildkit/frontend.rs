//! The client-side frontend: one whole gated build on a connected daemon.
//!
//! The one idea: `Control.Solve` with no frontend and no definition makes the
//! daemon wait for *us* to produce the result over the LLBBridge. We solve
//! `dockerfile.v0` there for every platform, read each platform's image
//! config and files from the result refs, run the inspection engine, and
//! only then `Return`: the result (the daemon goes on to export it) or an
//! error naming every failing platform (the solve fails, no exporter runs).
//! The gate sits between build and export by construction
//! (buildkit-protocol.md §1, §6).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use prost::Message;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::client::{control_client, WorkerInfo};
use super::error::{describe_status, BuildError};
use super::gateway::Gateway;
use super::proto::control::{self, StatusRequest, StatusResponse};
use super::proto::gateway::{self, result::Result as ResultArm, ReturnRequest};
use super::proto::google::rpc::Status as RpcStatus;
use super::session::{self, Services};
use crate::inspect::{self, ImageConfig, Platform, PlatformReport, Verdict};

/// What to build and where the result may go.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// `dockerfile.v0` options (`filename`, `target`, `build-arg:*`,
    /// `label:*`, `no-cache`, `force-network-mode`...), without `platform`.
    pub frontend_opts: BTreeMap<String, String>,
    /// Target platforms; empty means the daemon's default.
    pub platforms: Vec<Platform>,
    /// Exporters (type and attributes), in order; none: build and check only.
    pub exporters: Vec<(String, BTreeMap<String, String>)>,
    /// `network.host`, `security.insecure`.
    pub entitlements: Vec<String>,
    /// Warnings and skips fail the gate too.
    pub strict: bool,
    /// Shown by the daemon as the session's name.
    pub session_name: String,
    /// Lets the daemon reuse an earlier transfer of the same context.
    pub shared_key: String,
    /// For a Docker Engine's builder: open the session on the engine's own
    /// `/session` endpoint (a connection of its own) rather than inside the
    /// gRPC connection.
    pub session_engine: Option<crate::docker::EngineHost>,
}

/// What a build reports while it runs, for the progress display.
#[derive(Debug, Clone)]
pub enum Event {
    Status(Box<StatusResponse>),
    /// archgate's own check of one platform started.
    CheckStarted {
        platform: String,
    },
    /// ... and finished, with its one-line outcome.
    CheckDone {
        platform: String,
        verdict: Option<Verdict>,
        summary: String,
    },
}

/// A build that ran to a gate decision.
#[derive(Debug)]
pub struct BuildOutcome {
    /// One report per built platform, in platform order.
    pub platforms: Vec<PlatformReport>,
    /// The gate let the result through and the exporter ran.
    pub exported: bool,
    /// What the exporter said (`containerimage.digest`, `image.name`...).
    pub exporter_response: BTreeMap<String, String>,
}

/// Why a build did not reach or pass its gate cleanly.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The build itself failed on the daemon (a Dockerfile error, a failing
    /// step, an exporter error): its message, with the Dockerfile location
    /// when BuildKit gives one.
    #[error("{0}")]
    Daemon(String),
    /// Some platform could not be inspected (could not decide).
    #[error("{platform}: {message}")]
    Inspect { platform: String, message: String },
    /// Talking to the daemon failed.
    #[error(transparent)]
    Client(#[from] BuildError),
    /// The gate failed; the partial reports say why. Nothing was exported.
    #[error("the gate failed: nothing was exported")]
    Gate { platforms: Vec<PlatformReport> },
}

/// Gateway caps archgate relies on, and the one it uses when present
/// (buildkit `frontend/gateway/pb/caps.go`).
const CAP_EVALUATE: &str = "gateway.evaluate";
const CAP_REFARRAY: &str = "proto.refarray";
const CAP_RETURNMAP: &str = "returnmap";
const CAP_READDIR: &str = "readdir";

/// Metadata keys of a `dockerfile.v0` result (buildkit
/// `exporter/containerimage/exptypes/types.go`).
const MD_CONFIG: &str = "containerimage.config";
const MD_PLATFORMS: &str = "refs.platforms";

/// Aborts a spawned task when dropped, so a cancelled build (Ctrl-C, an
/// error on another path) also cancels its `Control.Solve` on the daemon.
struct Task<T>(Option<JoinHandle<T>>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

impl<T> Task<T> {
    async fn join(mut self) -> Option<T> {
        let h = self.0.take()?;
        h.await.ok()
    }
}

/// Run one gated build. `services` must already hold what the session serves
/// (FileSync with `context`/`dockerfile`, Auth, Secrets, FileSend for the
/// exporter's destination).
pub async fn run(
    channel: Channel,
    workers: &[WorkerInfo],
    services: Services,
    spec: BuildSpec,
    events: Option<UnboundedSender<Event>>,
) -> Result<BuildOutcome, FrontendError> {
    let default_platform = workers
        .iter()
        .flat_map(|w| w.platforms.first())
        .next()
        .cloned()
        .unwrap_or_else(|| Platform::new("linux", "amd64", None));

    let session_id = session::new_id()?;
    let build_ref = session::new_id()?;
    let session = match &spec.session_engine {
        Some(host) => {
            session::start_on_engine(
                host,
                session_id.clone(),
                &spec.session_name,
                &spec.shared_key,
                services,
            )
            .await?
        }
        None => {
            session::start(
                channel.clone(),
                session_id.clone(),
                &spec.session_name,
                &spec.shared_key,
                services,
            )
            .await?
        }
    };

    // Progress: the daemon waits a few seconds for the job to appear, so
    // the stream can open before the solve.
    let status = {
        let mut c = control_client(channel.clone());
        let events = events.clone();
        let r = build_ref.clone();
        Task(Some(tokio::spawn(async move {
            let Ok(resp) = c.status(StatusRequest { r#ref: r }).await else {
                return;
            };
            let mut stream = resp.into_inner();
            while let Ok(Some(msg)) = stream.message().await {
                if let Some(tx) = &events {
                    let _ = tx.send(Event::Status(Box::new(msg)));
                }
            }
        })))
    };

    let mut frontend_attrs = spec.frontend_opts.clone();
    if !spec.platforms.is_empty() {
        frontend_attrs.insert("platform".into(), platform_list(&spec.platforms));
    }
    // The first exporter goes where every daemon reads it; several also go
    // in the v0.13 list (the caller made sure the daemon takes them).
    let (exporter, exporter_attrs) = spec.exporters.first().cloned().unwrap_or_default();
    let exporters = if spec.exporters.len() > 1 {
        spec.exporters
            .iter()
            .map(|(t, a)| control::Exporter {
                r#type: t.clone(),
                attrs: a.clone().into_iter().collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let solve_req = control::SolveRequest {
        r#ref: build_ref.clone(),
        session: session_id.clone(),
        frontend: String::new(),
        definition: None,
        exporter,
        exporter_attrs: exporter_attrs.into_iter().collect(),
        frontend_attrs: frontend_attrs.clone().into_iter().collect(),
        entitlements: spec.entitlements.clone(),
        exporters,
        ..Default::default()
    };
    // The solve runs in its own task; `ended` tells the gate when it is over
    // (the daemon failed it, or the connection died) so no gateway call is
    // waited on after that.
    let (ended_tx, ended) = tokio::sync::watch::channel(false);
    let solve = {
        let mut c = control_client(channel.clone());
        Task(Some(tokio::spawn(async move {
            let r = c.solve(solve_req).await.map(|r| r.into_inner());
            let _ = ended_tx.send(true);
            r
        })))
    };

    let gw = Gateway::new(channel.clone(), &build_ref)?;
    let gated = {
        let gate = gate(&gw, &spec, frontend_attrs, &default_platform, &events);
        tokio::pin!(gate);
        let mut ended = ended.clone();
        tokio::select! {
            g = &mut gate => g,
            _ = ended.wait_for(|e| *e) => {
                // The solve is over. A Return racing it may still complete:
                // give the gate a moment, then stop waiting on the daemon.
                match tokio::time::timeout(Duration::from_secs(2), &mut gate).await {
                    Ok(g) => g,
                    Err(_) => Ok(Gated::SolveEnded),
                }
            }
        }
    };

    let result = match gated {
        Ok(Gated::Passed(platforms)) => match wait_solve(solve).await {
            Ok(resp) => Ok(BuildOutcome {
                platforms,
                exported: !spec.exporters.is_empty(),
                exporter_response: resp.exporter_response.into_iter().collect(),
            }),
            Err(e) => Err(e),
        },
        Ok(Gated::Failed(platforms)) => {
            // The daemon fails the solve with our error; its message adds
            // nothing to the reports. Should it not end, dropping the task
            // cancels it: either way nothing is exported.
            let _ = tokio::time::timeout(AFTER_ERROR_RETURN, wait_solve(solve)).await;
            Err(FrontendError::Gate { platforms })
        }
        Ok(Gated::BuildFailed(status)) => {
            // The solve fails with the error we returned, possibly wrapped.
            let _ = tokio::time::timeout(AFTER_ERROR_RETURN, wait_solve(solve)).await;
            Err(FrontendError::Daemon(daemon_message(&status)))
        }
        Ok(Gated::SolveEnded) => match wait_solve(solve).await {
            Err(e) => Err(e),
            Ok(_) => Err(FrontendError::Daemon(
                "the daemon ended the build before archgate returned a result".into(),
            )),
        },
        Err(e) => Err(e),
    };

    let session_failure = session.failure();
    session.close(Duration::from_secs(2)).await;
    // The status stream ends once the job is done; don't wait forever.
    let _ = tokio::time::timeout(Duration::from_secs(3), status.join()).await;
    match (result, session_failure) {
        (Err(FrontendError::Client(e)), Some(f)) => Err(FrontendError::Client(
            BuildError::Session(format!("{f} ({e})")),
        )),
        (r, _) => r,
    }
}

enum Gated {
    Passed(Vec<PlatformReport>),
    Failed(Vec<PlatformReport>),
    /// The build failed on the daemon; this status was returned to it.
    BuildFailed(tonic::Status),
    /// `Control.Solve` ended before we returned anything.
    SolveEnded,
}

/// How long the solve may take to fail after archgate returned an error
/// (BuildKit's Go client waits 5 s before cancelling, `client/solve.go`).
const AFTER_ERROR_RETURN: Duration = Duration::from_secs(10);

/// Everything between the solve starting and the one `Return`. The caller
/// races it against the solve's end (an early failure, such as a bad
/// exporter attribute, must win over Ping's wait for the build to register).
async fn gate(
    gw: &Gateway,
    spec: &BuildSpec,
    mut opts: BTreeMap<String, String>,
    default_platform: &Platform,
    events: &Option<UnboundedSender<Event>>,
) -> Result<Gated, FrontendError> {
    let caps = gw
        .ping()
        .await
        .map_err(|s| BuildError::rpc("LLBBridge.Ping", &s))?;
    for need in [CAP_REFARRAY, CAP_RETURNMAP, CAP_READDIR] {
        if !caps.iter().any(|c| c == need) {
            return Err(BuildError::Session(format!(
                "the daemon's gateway lacks the {need:?} capability archgate needs"
            ))
            .into());
        }
    }
    let has_evaluate = caps.iter().any(|c| c == CAP_EVALUATE);

    // One platform gives a single ref (so exporters write a plain manifest,
    // as buildx does), several a map keyed by platform.
    let platforms = if spec.platforms.is_empty() {
        vec![default_platform.clone()]
    } else {
        spec.platforms.clone()
    };
    opts.insert("platform".into(), platform_list(&platforms));
    let req = gateway::SolveRequest {
        frontend: "dockerfile.v0".into(),
        frontend_opt: opts.into_iter().collect(),
        allow_result_return: true,
        allow_result_array_ref: true,
        // Not `evaluate`: BuildKit v0.11-v0.12 dereference a nil ref when it
        // is set on a multi-platform frontend solve (fixed in v0.13, buildkit
        // #4544). Each ref is evaluated on its own below instead.
        ..Default::default()
    };
    let res = match gw.solve(req).await {
        Ok(r) => r.result.unwrap_or_default(),
        Err(s) => return Ok(fail_build(gw, s).await),
    };

    let refs: Vec<(String, String)> = match &res.result {
        Some(ResultArm::Refs(m)) => {
            let mut v: Vec<_> = m
                .refs
                .iter()
                .map(|(k, r)| (k.clone(), r.id.clone()))
                .collect();
            v.sort();
            v
        }
        Some(ResultArm::Ref(r)) => vec![(single_key(&res.metadata, &platforms[0]), r.id.clone())],
        _ => {
            let e = tonic::Status::internal("the Dockerfile frontend returned no result refs");
            return Ok(fail_build(gw, e).await);
        }
    };

    // The result must be exactly the platforms asked for: a platform judged
    // against a different one than it claims would make the gate meaningless
    // (a custom `# syntax=` frontend could return anything).
    let mut parsed = Vec::new();
    for (key, id) in &refs {
        match Platform::parse(key) {
            Ok(p) => parsed.push((key.clone(), p, id.clone())),
            Err(e) => {
                let e = tonic::Status::failed_precondition(format!(
                    "archgate: the frontend returned a result for an unknown platform {key:?}: {e}"
                ));
                return Ok(fail_build(gw, e).await);
            }
        }
    }
    let mut got: Vec<String> = parsed.iter().map(|(_, p, _)| p.to_string()).collect();
    let mut asked: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
    got.sort();
    asked.sort();
    if spec.platforms.is_empty() && got.len() == 1 {
        // No --platform: whatever single platform the daemon defaulted to.
    } else if got != asked {
        let e = tonic::Status::failed_precondition(format!(
            "archgate: the frontend built {} but {} was asked for",
            got.join(","),
            asked.join(",")
        ));
        return Ok(fail_build(gw, e).await);
    }

    // Build every platform now, so a failing step is a build error rather
    // than a read error in the middle of an inspection.
    for (_, id) in &refs {
        if let Err(s) = gw.evaluate(id, has_evaluate).await {
            return Ok(fail_build(gw, s).await);
        }
    }

    let mut reports = Vec::new();
    for (key, platform, id) in &parsed {
        let config_key = format!("{MD_CONFIG}/{key}");
        let raw = res
            .metadata
            .get(&config_key)
            .or_else(|| res.metadata.get(MD_CONFIG));
        let send = |e: Event| {
            if let Some(tx) = events {
                let _ = tx.send(e);
            }
        };
        send(Event::CheckStarted {
            platform: key.clone(),
        });
        let started = std::time::Instant::now();
        let outcome = match raw {
            None => Err(format!(
                "the build result has no image config ({config_key})"
            )),
            Some(raw) => match ImageConfig::from_json(raw) {
                Err(e) => Err(format!("image config: {e}")),
                Ok(cfg) => inspect::inspect(&cfg, platform, &gw.rootfs(id))
                    .await
                    .map_err(|e| format!("{e:#}")),
            },
        };
        match outcome {
            Ok(mut report) => {
                report.check_micros = Some(started.elapsed().as_micros() as u64);
                send(Event::CheckDone {
                    platform: key.clone(),
                    verdict: Some(report.verdict),
                    summary: format!("{}: {}", report.verdict.as_str(), report.message),
                });
                reports.push(report);
            }
            Err(message) => {
                send(Event::CheckDone {
                    platform: key.clone(),
                    verdict: None,
                    summary: message.clone(),
                });
                let status = tonic::Status::failed_precondition(format!(
                    "archgate could not check {key}: {message}"
                ));
                let _ = gw
                    .ret(ReturnRequest {
                        result: None,
                        error: Some(rpc_status(&status)),
                    })
                    .await;
                return Err(FrontendError::Inspect {
                    platform: key.clone(),
                    message,
                });
            }
        }
    }

    let failing: Vec<&PlatformReport> = reports
        .iter()
        .filter(|r| gate_fails(r.verdict, spec.strict))
        .collect();
    if failing.is_empty() {
        gw.ret(ReturnRequest {
            result: Some(res),
            error: None,
        })
        .await
        .map_err(|s| BuildError::rpc("LLBBridge.Return", &s))?;
        Ok(Gated::Passed(reports))
    } else {
        let list: Vec<String> = failing
            .iter()
            .map(|r| format!("{}: {} ({})", r.platform, r.reason.as_str(), r.message))
            .collect();
        let status = tonic::Status::failed_precondition(format!(
            "archgate: gate failed, nothing exported: {}",
            list.join("; ")
        ));
        gw.ret(ReturnRequest {
            result: None,
            error: Some(rpc_status(&status)),
        })
        .await
        .map_err(|s| BuildError::rpc("LLBBridge.Return", &s))?;
        Ok(Gated::Failed(reports))
    }
}

/// Whether a platform verdict stops the export.
pub fn gate_fails(v: Verdict, strict: bool) -> bool {
    match v {
        Verdict::Fail => true,
        Verdict::Warn | Verdict::Skip => strict,
        Verdict::Pass => false,
    }
}

/// Hand a build error back to the daemon, keeping BuildKit's details, so the
/// solve fails with it and nothing is exported.
async fn fail_build(gw: &Gateway, s: tonic::Status) -> Gated {
    let _ = gw
        .ret(ReturnRequest {
            result: None,
            error: Some(rpc_status(&s)),
        })
        .await;
    Gated::BuildFailed(s)
}

async fn wait_solve(
    solve: Task<Result<control::SolveResponse, tonic::Status>>,
) -> Result<control::SolveResponse, FrontendError> {
    match solve.join().await {
        Some(Ok(r)) => Ok(r),
        Some(Err(s)) => Err(FrontendError::Daemon(daemon_message(&s))),
        None => Err(BuildError::Session("the solve task stopped".into()).into()),
    }
}

/// A status as the gateway's `google.rpc.Status`, details included, with a
/// code that is never 0 (0 would read as "no error" and hang the solve,
/// buildkit-protocol.md §6.7).
fn rpc_status(s: &tonic::Status) -> RpcStatus {
    let mut st = RpcStatus::decode(s.details()).unwrap_or_default();
    st.code = match s.code() {
        tonic::Code::Ok => tonic::Code::Unknown as i32,
        c => c as i32,
    };
    st.message = s.message().to_string();
    st
}

/// The platform id of a single-ref result: the one `refs.platforms` names
/// (BuildKit v0.11+), else the platform asked for.
fn single_key(md: &std::collections::HashMap<String, Vec<u8>>, asked: &Platform) -> String {
    #[derive(serde::Deserialize)]
    struct Platforms {
        #[serde(rename = "Platforms")]
        platforms: Vec<Id>,
    }
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "ID")]
        id: String,
    }
    md.get(MD_PLATFORMS)
        .and_then(|b| serde_json::from_slice::<Platforms>(b).ok())
        .and_then(|p| (p.platforms.len() == 1).then(|| p.platforms[0].id.clone()))
        .unwrap_or_else(|| asked.to_string())
}

fn platform_list(p: &[Platform]) -> String {
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
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
    fn returned_errors_never_carry_code_zero() {
        let s = tonic::Status::new(tonic::Code::Ok, "odd");
        assert_ne!(rpc_status(&s).code, 0);
        let s = tonic::Status::failed_precondition("gate");
        assert_eq!(rpc_status(&s).code, tonic::Code::FailedPrecondition as i32);
        assert_eq!(rpc_status(&s).message, "gate");
    }

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

    #[test]
    fn gate_blocks_fail_always_and_warn_only_when_strict() {
        assert!(gate_fails(Verdict::Fail, false));
        assert!(!gate_fails(Verdict::Warn, false));
        assert!(gate_fails(Verdict::Warn, true));
        assert!(gate_fails(Verdict::Skip, true));
        assert!(!gate_fails(Verdict::Pass, true));
    }
}
