//! `archgate frontend`: the gate inside BuildKit. The daemon starts the
//! archgate frontend image for a Dockerfile whose first line is
//! `# syntax=REG/archgate:TAG` (or with `--build-arg BUILDKIT_SYNTAX=...`);
//! this command forwards the build, with every option and input it got, to
//! the Dockerfile frontend, judges each platform of the result with the
//! same gate as `archgate build` (`Gate::judge`), and returns the result
//! (the daemon exports it) or an error naming each failing platform
//! (nothing is exported).
//!
//! The one idea: archgate only sits between solve and export. Everything
//! the client asked for (caches, contexts, secrets, attestations,
//! subrequests) is the Dockerfile frontend's business and passes through
//! untouched; what archgate adds is one decision, and its warnings.

use std::collections::{BTreeMap, HashMap};

use crate::buildkit::client::platform as worker_platform;
use crate::buildkit::frontend::{self, ReturnOnce};
use crate::buildkit::gateway::{definition_head, Gateway};
use crate::buildkit::proto::gateway::{self as gw, result::Result as ResultArm};
use crate::gate::{
    forward_solve, missing_cap, own_error, Decision, Gate, CAP_EVALUATE, CAP_INPUTS, CAP_WARNINGS,
};
use crate::goparse::parse_go_bool;
use crate::inspect::{gate_fails, Platform, PlatformReport, Verdict};
use crate::lint::explain;
use crate::report::human;
use dockerfile::Dockerfile;
use findings::REQUEST_LINT;

/// Frontend options (buildkit `frontend/dockerui`, `frontend/gateway`).
const OPT_CMDLINE: &str = "cmdline";
const OPT_SOURCE: &str = "source";
const OPT_PLATFORM: &str = "platform";
const OPT_REQUESTID: &str = "requestid";
const OPT_TARGET: &str = "target";
const BUILD_ARG: &str = "build-arg:";

/// archgate's build args.
const ARG_STRICT: &str = "ARCHGATE_STRICT";
const ARG_MODE: &str = "ARCHGATE_MODE";
const ARG_DEEP: &str = "ARCHGATE_DEEP";
const ARG_DOCKERFILE: &str = "ARCHGATE_DOCKERFILE";
const KNOWN_ARGS: &[&str] = &[ARG_STRICT, ARG_MODE, ARG_DEEP, ARG_DOCKERFILE];

/// The frontend option archgate adds when it forwards a build: a frontend
/// that finds it was started by archgate (`ARCHGATE_DOCKERFILE` naming
/// archgate itself), which would forward again, without end.
const OPT_FORWARDED: &str = "archgate.forwarded";

/// What the gate does with a failing platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Fail the build (the default).
    #[default]
    Fail,
    /// Show every finding as a BuildKit warning; never fail.
    Warn,
}

/// archgate's options, from the build's `build-arg:ARCHGATE_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub strict: bool,
    pub mode: Mode,
    pub deep: bool,
    /// Forward to this Dockerfile frontend image (through `gateway.v0`)
    /// instead of the daemon's builtin `dockerfile.v0`.
    pub dockerfile: Option<String>,
}

/// A build arg archgate cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("build-arg {name}: {value:?} {expected}")]
pub struct OptionError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Options {
    /// Read the `build-arg:ARCHGATE_*` options. An empty value is the
    /// default; anything else must be what the option takes.
    pub fn from_opts(opts: &BTreeMap<String, String>) -> Result<Options, OptionError> {
        // A misspelt option would silently do nothing (ARCHGATE_STRCT=1).
        if let Some(k) = opts.keys().find_map(|k| {
            k.strip_prefix(BUILD_ARG)
                .filter(|n| n.starts_with("ARCHGATE_") && !KNOWN_ARGS.contains(n))
        }) {
            return Err(OptionError {
                name: "ARCHGATE_*",
                value: k.to_string(),
                expected: "is not an archgate option (ARCHGATE_STRICT, ARCHGATE_MODE, \
                           ARCHGATE_DEEP, ARCHGATE_DOCKERFILE)",
            });
        }
        let arg = |name: &str| {
            opts.get(&format!("{BUILD_ARG}{name}"))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let flag = |name: &'static str| match arg(name) {
            None => Ok(false),
            Some(v) => parse_go_bool(v).ok_or_else(|| OptionError {
                name,
                value: v.to_string(),
                expected: "is not a boolean (1, true, 0, false)",
            }),
        };
        let mode = match arg(ARG_MODE) {
            None | Some("fail") => Mode::Fail,
            Some("warn") => Mode::Warn,
            Some(v) => {
                return Err(OptionError {
                    name: ARG_MODE,
                    value: v.to_string(),
                    expected: "is not fail or warn",
                })
            }
        };
        let dockerfile = match arg(ARG_DOCKERFILE) {
            None => None,
            Some(v) if v.contains(char::is_whitespace) => {
                return Err(OptionError {
                    name: ARG_DOCKERFILE,
                    value: v.to_string(),
                    expected: "is not an image reference",
                })
            }
            Some(v) => Some(v.to_string()),
        };
        Ok(Options {
            strict: flag(ARG_STRICT)?,
            mode,
            deep: flag(ARG_DEEP)?,
            dockerfile,
        })
    }
}

/// The solve that forwards this build to the Dockerfile frontend: every
/// option verbatim, `cmdline` set (the builtin Dockerfile frontend forwards
/// again to `# syntax=` when it is absent: the build would recurse), the
/// frontend's inputs (named contexts), the result asked back.
pub fn forward_request(
    opts: &BTreeMap<String, String>,
    options: &Options,
    inputs: HashMap<String, Vec<u8>>,
) -> gw::SolveRequest {
    let mut fwd = opts.clone();
    if !fwd.contains_key(OPT_CMDLINE) {
        let me = fwd
            .get(OPT_SOURCE)
            .cloned()
            .unwrap_or_else(|| "archgate".to_string());
        fwd.insert(OPT_CMDLINE.into(), me);
    }
    let frontend = match &options.dockerfile {
        Some(image) => {
            fwd.insert(OPT_SOURCE.into(), image.clone());
            "gateway.v0"
        }
        None => "dockerfile.v0",
    };
    fwd.insert(OPT_FORWARDED.into(), "1".into());
    forward_solve(frontend, fwd, inputs)
}

/// The platforms the build asked for (`platform`, comma-separated).
fn asked_platforms(opts: &BTreeMap<String, String>) -> Result<Vec<Platform>, tonic::Status> {
    let Some(list) = opts.get(OPT_PLATFORM) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            Platform::parse(p).map_err(|e| own_error(format!("archgate: platform {p:?}: {e}")))
        })
        .collect()
}

/// The error the build fails with when the gate fails: each failing
/// platform as `archgate build` shows it (program, chain, binary facts,
/// hint).
pub fn failure_message(reports: &[PlatformReport], strict: bool) -> String {
    let mut msg = String::from("archgate: wrong-architecture gate failed, nothing exported:\n");
    for r in reports.iter().filter(|r| gate_fails(r.verdict, strict)) {
        msg.push_str(&human::platform(r, false));
    }
    msg.trim_end().to_string()
}

/// A warning: the platform it is about, its one line, its detail lines,
/// and the Dockerfile lines it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Warning {
    platform: String,
    short: String,
    detail: Vec<String>,
    lines: Option<(u32, u32)>,
}

/// One warning per report that did not pass (with `all`, failures too):
/// its one line and the lines of its report.
fn warnings(reports: &[PlatformReport], strict: bool, all: bool) -> Vec<Warning> {
    reports
        .iter()
        .filter(|r| r.verdict != Verdict::Pass && (all || !gate_fails(r.verdict, strict)))
        .map(|r| {
            let short = format!(
                "archgate: {} {} {}: {}",
                r.platform,
                r.verdict.as_str(),
                r.reason.as_str(),
                r.message
            );
            let detail = human::platform(r, false)
                .lines()
                .map(str::to_string)
                .collect();
            Warning {
                platform: r.platform.clone(),
                short,
                detail,
                lines: r.source.as_ref().map(|s| (s.line, s.end_line)),
            }
        })
        .collect()
}

/// The vertex each platform's warnings go on: the head of its ref's
/// definition (any ref's for a platform without one).
fn heads(res: &gw::Result) -> HashMap<String, String> {
    let mut out = HashMap::new();
    match &res.result {
        Some(ResultArm::Refs(m)) => {
            for (k, r) in &m.refs {
                if let Some(h) = r.def.as_ref().and_then(definition_head) {
                    out.insert(k.clone(), h);
                }
            }
        }
        Some(ResultArm::Ref(r)) => {
            if let Some(h) = r.def.as_ref().and_then(definition_head) {
                out.insert(String::new(), h);
            }
        }
        _ => {}
    }
    out
}

/// Send the warnings (or, without the warnings cap or a vertex to put
/// them on, log them to the daemon's log); one with a Dockerfile line
/// points at it.
async fn warn_all(
    gw: &Gateway,
    can_warn: bool,
    heads: &HashMap<String, String>,
    df: Option<&Dockerfile>,
    list: Vec<Warning>,
) {
    for w in list {
        let head = heads
            .get(&w.platform)
            .or_else(|| heads.values().next())
            .filter(|_| can_warn);
        let at = df.zip(w.lines).map(|(df, (a, b))| df.at(a, b));
        let sent = match head {
            Some(h) => gw
                .warn(h, &w.short, &w.detail, at.as_ref())
                .await
                .map_err(|s| s.to_string()),
            None => Err("no vertex to attach it to".to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!("{} (not shown to the client: {e})", w.short);
        }
    }
}

/// The Dockerfile of the build, when the client's session has it (a
/// failure to read it is logged: the build goes on without its lines).
async fn read_dockerfile(
    gw: &Gateway,
    opts: &BTreeMap<String, String>,
    inputs: &HashMap<String, Vec<u8>>,
    session: Option<&str>,
) -> Option<Dockerfile> {
    let local = dockerfile::locate(opts, inputs, session)?;
    match dockerfile::read(gw, &local).await {
        Ok(df) => Some(df),
        Err(e) => {
            tracing::info!("archgate: the Dockerfile's lines are not shown: {e}");
            None
        }
    }
}

/// The build function: forward, gate, answer.
pub async fn build(
    gw: Gateway,
    opts: BTreeMap<String, String>,
    session: Option<String>,
) -> Result<gw::Result, tonic::Status> {
    if opts.contains_key(OPT_FORWARDED) {
        return Err(own_error(format!(
            "archgate: {ARG_DOCKERFILE} names a frontend that is archgate again: name a \
             Dockerfile frontend image (e.g. docker/dockerfile:1), not archgate"
        )));
    }
    let options = Options::from_opts(&opts).map_err(|e| own_error(format!("archgate: {e}")))?;
    let pong = gw.pong().await?;
    let caps: Vec<String> = pong
        .frontend_api_caps
        .iter()
        .filter(|c| c.enabled)
        .map(|c| c.id.clone())
        .collect();
    let has = |cap: &str| caps.iter().any(|c| c == cap);
    let subrequest = opts.contains_key(OPT_REQUESTID);
    if let Some(need) = missing_cap(&caps).filter(|_| !subrequest) {
        return Err(own_error(format!(
            "archgate: the daemon's gateway lacks the {need:?} capability archgate needs"
        )));
    }
    let inputs = if has(CAP_INPUTS) {
        gw.inputs().await?
    } else {
        HashMap::new()
    };
    let default_platform = pong
        .workers
        .first()
        .and_then(|w| w.platforms.first())
        .map(worker_platform)
        .unwrap_or_else(|| Platform::new("linux", std::env::consts::ARCH, None));
    let platforms = asked_platforms(&opts)?;
    let target = opts.get(OPT_TARGET).filter(|t| !t.is_empty()).cloned();
    let lint = opts.get(OPT_REQUESTID).map(String::as_str) == Some(REQUEST_LINT);
    // The Dockerfile, for archgate's lint findings and the failing line;
    // other subrequests (outline, targets) need neither.
    let df = if subrequest && !lint {
        None
    } else {
        read_dockerfile(&gw, &opts, &inputs, session.as_deref()).await
    };
    let lint_platforms = if platforms.is_empty() {
        vec![default_platform.clone()]
    } else {
        platforms.clone()
    };
    let found = df
        .as_ref()
        .map(|df| findings::findings(df, &lint_platforms, target.as_deref()))
        .unwrap_or_default();
    let req = forward_request(&opts, &options, inputs);
    if subrequest {
        // --check, --call=outline|targets, describe: an answer in
        // metadata, nothing to gate. (The lint answer carries the built
        // result too; the client asked for an answer, not an export, and
        // a client that sets `requestid` chose to skip the gate.) The lint
        // answer gets archgate's findings; a Dockerfile frontend without
        // lint answers with an error that goes back as it came.
        let answer = gw.solve(req).await?.result.unwrap_or_default();
        return Ok(match &df {
            Some(df) if lint => findings::check_answer(answer, df, &found),
            _ => answer,
        });
    }
    if let Some(df) = &df {
        findings::warn(&gw, has(CAP_WARNINGS), df, &found).await;
    }
    // The Dockerfile frontend's error goes back as it came (code, message,
    // details: the Dockerfile excerpt).
    let res = gw.solve(req).await?.result.unwrap_or_default();

    let gate = Gate {
        platforms,
        default_platform,
        strict: options.strict,
        deep: options.deep,
        events: None,
    };
    let heads = heads(&res);
    let received = res.clone();
    let mut answer = gate.judge(&gw, res, has(CAP_EVALUATE)).await;
    if let (
        Some(df),
        Decision::Pass(r) | Decision::Fail(r) | Decision::Undecided { reports: r, .. },
    ) = (&df, &mut answer.value)
    {
        explain::attach(&df.name, &df.text, target.as_deref(), options.strict, r);
    }
    if let Decision::BuildFailed(_) = answer.value {
        return answer.ret;
    }
    let (shown, outcome) = decide(&answer.value, options.strict, options.mode);
    warn_all(&gw, has(CAP_WARNINGS), &heads, df.as_ref(), shown).await;
    match outcome {
        Ok(()) if answer.ret.is_ok() => answer.ret,
        Ok(()) => Ok(received),
        Err(message) => Err(own_error(message)),
    }
}

/// What a gate decision shows as warnings, and whether the build goes on
/// (`Ok`) or fails with this message. In fail mode, failing platforms and
/// platforms that could not be checked fail the build, every other finding
/// is a warning; in warn mode every finding is a warning and the build
/// goes on.
fn decide(decision: &Decision, strict: bool, mode: Mode) -> (Vec<Warning>, Result<(), String>) {
    let warn_mode = mode == Mode::Warn;
    let (reports, undecided): (&[PlatformReport], &[(String, String)]) = match decision {
        Decision::Pass(r) | Decision::Fail(r) => (r, &[]),
        Decision::Undecided { undecided, reports } => (reports, undecided),
        Decision::BuildFailed(s) => return (Vec::new(), Err(s.message().to_string())),
    };
    let mut shown = warnings(reports, strict, warn_mode);
    let not_checked = undecided
        .iter()
        .map(|(p, m)| (p.clone(), format!("archgate could not check {p}: {m}")));
    if warn_mode {
        shown.extend(not_checked.map(|(platform, short)| Warning {
            platform,
            short,
            detail: Vec::new(),
            lines: None,
        }));
        return (shown, Ok(()));
    }
    let failing = reports.iter().any(|r| gate_fails(r.verdict, strict));
    if !failing && undecided.is_empty() {
        return (shown, Ok(()));
    }
    let mut message = Vec::new();
    if failing {
        message.push(failure_message(reports, strict));
    }
    message.extend(not_checked.map(|(_, short)| short));
    (shown, Err(message.join("\n")))
}

/// Fault injection for the crash path's tests: `ARCHGATE_FRONTEND_FAULT=panic`
/// in the frontend image's own environment (`scripts/frontend-image --env`;
/// build args cannot set it) makes the frontend panic before it builds.
const FAULT_ENV: &str = "ARCHGATE_FRONTEND_FAULT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Panic,
}

/// `archgate frontend`, as the daemon starts it: take stdio, read the
/// options, run the build, Return once, and give the exit status (the
/// caller exits with it at once).
pub fn serve() -> i32 {
    let stdio = match frontend::take_stdio() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("archgate frontend: cannot take stdin/stdout: {e}");
            return 2;
        }
    };
    let opts = frontend::opts_from_env(std::env::vars_os());
    let session = std::env::var(dockerfile::SESSION_ENV).ok();
    let fault = std::env::var(FAULT_ENV)
        .ok()
        .and_then(|v| match v.as_str() {
            "panic" => Some(Fault::Panic),
            _ => None,
        });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("archgate frontend: cannot start a runtime: {e}");
            return 2;
        }
    };
    let code = rt.block_on(async move {
        let io = match stdio.into_stream() {
            Ok(io) => io,
            Err(e) => {
                eprintln!("archgate frontend: cannot use stdin/stdout: {e}");
                return 2;
            }
        };
        let channel = match frontend::channel(io).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("archgate frontend: {e}");
                return 2;
            }
        };
        let gw = Gateway::in_daemon(channel);
        let ret = ReturnOnce::new(gw.clone());
        frontend::install_panic_hook(ret.clone(), tokio::runtime::Handle::current());
        let ended = match opts {
            Ok(opts) => {
                frontend::run(gw, &ret, move |gw| async move {
                    if fault == Some(Fault::Panic) {
                        // On a worker thread of its own, as a bug in a
                        // spawned task would: the panic hook answers.
                        let _ = tokio::spawn(async { panic!("{FAULT_ENV}=panic") }).await;
                    }
                    build(gw, opts, session).await
                })
                .await
            }
            Err(e) => frontend::Ended {
                passed: false,
                returned: ret
                    .send(Err(own_error(format!("archgate frontend: {e}"))))
                    .await,
            },
        };
        match ended.returned {
            Some(Ok(())) => 0,
            Some(Err(s)) => {
                eprintln!("archgate frontend: Return failed: {s}");
                1
            }
            None => 1,
        }
    });
    // Without a pipe, stdin is read on a blocking thread that may never
    // return: dropping the runtime would wait for it forever.
    rt.shutdown_background();
    code
}

mod dockerfile;
mod findings;

#[cfg(test)]
mod tests;
