//! A client-side gateway build: `Control.Solve` with no frontend and no
//! definition, so the daemon waits for the client to produce the result over
//! the LLBBridge, run by a build function the caller passes in, the way
//! BuildKit's Go client (`client.Build`) takes one.
//!
//! The one idea: the runner owns everything around the build function (the
//! session, the status stream, the solve, the one `Return`, and the races
//! and bounded waits between them), so the function only builds and answers:
//! a result (the daemon goes on to export it) or an error (the solve fails,
//! no exporter runs). The gate sits between build and export by
//! construction (buildkit-protocol.md §1, §6).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::client::control_client;
use super::error::{daemon_message, BuildError};
use super::gateway::{return_request, Gateway};
use super::proto::control::{self, StatusRequest, StatusResponse};
use super::proto::gateway as gw;
use super::session::{self, Services};
use crate::docker::EngineHost;

/// What the daemon is asked to solve, around the build function.
#[derive(Debug, Clone, Default)]
pub struct Solve {
    /// `Control.Solve` frontend attributes (the frontend options; with a
    /// `platform` list when platforms were asked for).
    pub frontend_attrs: BTreeMap<String, String>,
    /// Exporters (type and attributes), in order; none: build only.
    pub exporters: Vec<(String, BTreeMap<String, String>)>,
    /// `network.host`, `security.insecure`.
    pub entitlements: Vec<String>,
    /// Cache imports and exports (`CacheOptionsEntry{Type, Attrs}`), as
    /// `--cache-from` and `--cache-to` give them.
    pub cache_imports: Vec<(String, BTreeMap<String, String>)>,
    pub cache_exports: Vec<(String, BTreeMap<String, String>)>,
    /// OCI layouts the session serves read-only as content stores, by
    /// store id (`oci:ID`, BuildKit's `SolveOpt.OCIStores`).
    pub oci_stores: Vec<(String, PathBuf)>,
    /// Shown by the daemon as the session's name.
    pub session_name: String,
    /// Lets the daemon reuse an earlier transfer of the same context.
    pub shared_key: String,
    /// For a Docker Engine's builder: open the session on the engine's own
    /// `/session` endpoint (a connection of its own) rather than inside the
    /// gRPC connection.
    pub session_engine: Option<EngineHost>,
}

/// What a build function hands back: what the one `Return` carries, and
/// what the function learnt (its verdicts, say).
#[derive(Debug)]
pub struct Answer<T> {
    /// The result (the daemon exports it) or an error (the solve fails with
    /// it, details kept).
    pub ret: Result<gw::Result, tonic::Status>,
    pub value: T,
}

/// How a build that answered ended.
#[derive(Debug)]
pub enum Solved<T> {
    /// The result was returned and the solve succeeded: the exporters ran.
    Exported {
        value: T,
        /// What the exporters said (`containerimage.digest`...).
        exporter_response: BTreeMap<String, String>,
    },
    /// An error was returned: the solve failed with it (or was cancelled),
    /// nothing was exported. `returned` says whether `Return` itself
    /// failed.
    Refused {
        value: T,
        returned: Result<(), BuildError>,
    },
}

/// Why a build did not end with an answer returned.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// The daemon failed the solve (a Dockerfile error, a failing step, an
    /// exporter error): its message, with the Dockerfile location when
    /// BuildKit gives one.
    #[error("{0}")]
    Daemon(String),
    /// Talking to the daemon failed.
    #[error(transparent)]
    Client(#[from] BuildError),
}

/// How long the solve may take to fail after an error was returned
/// (BuildKit's Go client waits 5 s before cancelling, `client/solve.go`).
const AFTER_ERROR_RETURN: Duration = Duration::from_secs(10);

/// How long a build function that is already answering may still take once
/// the solve has ended (a `Return` racing the solve's end may complete).
const AFTER_SOLVE_END: Duration = Duration::from_secs(2);

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

fn cache_entries(list: &[(String, BTreeMap<String, String>)]) -> Vec<control::CacheOptionsEntry> {
    list.iter()
        .map(|(t, a)| control::CacheOptionsEntry {
            r#type: t.clone(),
            attrs: a.clone().into_iter().collect(),
        })
        .collect()
}

/// Run one client-side gateway build. `services` must already hold what the
/// session serves (FileSync, Auth, Secrets, FileSend for the exporters'
/// destinations); `on_status` gets every `Control.Status` message; `build`
/// gets the build's gateway and answers. `Return` is sent exactly once, by
/// the runner, unless `build` fails without answering.
pub async fn run<T, F, Fut>(
    channel: Channel,
    services: Services,
    solve: Solve,
    on_status: impl Fn(StatusResponse) + Send + 'static,
    build: F,
) -> Result<Solved<T>, SolveError>
where
    F: FnOnce(Gateway) -> Fut,
    Fut: Future<Output = Result<Answer<T>, BuildError>>,
{
    let session_id = session::new_id()?;
    let build_ref = session::new_id()?;
    let session = match &solve.session_engine {
        Some(host) => {
            session::start_on_engine(
                host,
                session_id.clone(),
                &solve.session_name,
                &solve.shared_key,
                services,
            )
            .await?
        }
        None => {
            session::start(
                channel.clone(),
                session_id.clone(),
                &solve.session_name,
                &solve.shared_key,
                services,
            )
            .await?
        }
    };

    // Progress: the daemon waits a few seconds for the job to appear, so
    // the stream can open before the solve.
    let status = {
        let mut c = control_client(channel.clone());
        let r = build_ref.clone();
        Task(Some(tokio::spawn(async move {
            let Ok(resp) = c.status(StatusRequest { r#ref: r }).await else {
                return;
            };
            let mut stream = resp.into_inner();
            while let Ok(Some(msg)) = stream.message().await {
                on_status(msg);
            }
        })))
    };

    // The first exporter goes where every daemon reads it; several also go
    // in the v0.13 list (the caller made sure the daemon takes them).
    let (exporter, exporter_attrs) = solve.exporters.first().cloned().unwrap_or_default();
    let exporters = if solve.exporters.len() > 1 {
        solve
            .exporters
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
        frontend_attrs: solve.frontend_attrs.clone().into_iter().collect(),
        entitlements: solve.entitlements.clone(),
        exporters,
        cache: Some(control::CacheOptions {
            exports: cache_entries(&solve.cache_exports),
            imports: cache_entries(&solve.cache_imports),
        }),
        ..Default::default()
    };
    // The solve runs in its own task; `ended` tells the build function's
    // race when it is over (the daemon failed it, or the connection died)
    // so no gateway call is waited on after that.
    let (ended_tx, mut ended) = tokio::sync::watch::channel(false);
    let solving = {
        let mut c = control_client(channel.clone());
        Task(Some(tokio::spawn(async move {
            let r = c.solve(solve_req).await.map(|r| r.into_inner());
            let _ = ended_tx.send(true);
            r
        })))
    };

    let gateway = Gateway::new(channel.clone(), &build_ref)?;
    let answered = {
        let answering = async {
            let Answer { ret, value } = build(gateway.clone()).await?;
            let passed = ret.is_ok();
            let req = return_request(ret);
            let returned = gateway
                .ret(req)
                .await
                .map_err(|s| BuildError::rpc("LLBBridge.Return", &s));
            Ok::<_, BuildError>((passed, value, returned))
        };
        tokio::pin!(answering);
        tokio::select! {
            a = &mut answering => Some(a),
            _ = ended.wait_for(|e| *e) => {
                // The solve is over. A Return racing it may still complete:
                // give it a moment, then stop waiting on the daemon.
                tokio::time::timeout(AFTER_SOLVE_END, &mut answering).await.ok()
            }
        }
    };

    let result = match answered {
        Some(Ok((passed, value, returned))) => match (passed, returned) {
            (true, Err(e)) => Err(SolveError::Client(e)),
            (true, Ok(())) => wait_solve(solving).await.map(|resp| Solved::Exported {
                value,
                exporter_response: resp.exporter_response.into_iter().collect(),
            }),
            (false, returned) => {
                // The daemon fails the solve with our error. Should it not
                // end, dropping the task cancels it: either way nothing is
                // exported.
                let _ = tokio::time::timeout(AFTER_ERROR_RETURN, wait_solve(solving)).await;
                Ok(Solved::Refused { value, returned })
            }
        },
        Some(Err(e)) => Err(SolveError::Client(e)),
        None => match wait_solve(solving).await {
            Err(e) => Err(e),
            Ok(_) => Err(SolveError::Daemon(
                "the daemon ended the build before archgate returned a result".into(),
            )),
        },
    };

    let session_failure = session.failure();
    session.close(Duration::from_secs(2)).await;
    // The status stream ends once the job is done; don't wait forever.
    let _ = tokio::time::timeout(Duration::from_secs(3), status.join()).await;
    // A failed session explains a failed call.
    let explain = |e: BuildError| match &session_failure {
        Some(f) => BuildError::Session(format!("{f} ({e})")),
        None => e,
    };
    match result {
        Err(SolveError::Client(e)) => Err(SolveError::Client(explain(e))),
        Ok(Solved::Refused {
            value,
            returned: Err(e),
        }) => Ok(Solved::Refused {
            value,
            returned: Err(explain(e)),
        }),
        r => r,
    }
}

/// The LLB capabilities the daemon enables, learnt as buildx learns them:
/// an internal build that only pings its gateway and returns nothing
/// (buildx `builder/node.go`, `BuildOpts`). `session_engine` as in
/// [`Solve`].
pub async fn llb_caps(
    channel: Channel,
    session_engine: Option<EngineHost>,
) -> Result<Vec<String>, SolveError> {
    let probe = Solve {
        session_name: "archgate-caps".into(),
        session_engine,
        ..Solve::default()
    };
    let solved = run(
        channel,
        Services::new(),
        probe,
        |_| {},
        |gw| async move {
            let pong = gw
                .pong()
                .await
                .map_err(|s| BuildError::rpc("LLBBridge.Ping", &s))?;
            let caps = pong
                .llb_caps
                .into_iter()
                .filter(|c| c.enabled)
                .map(|c| c.id)
                .collect::<Vec<_>>();
            Ok(Answer {
                ret: Ok(gw::Result::default()),
                value: caps,
            })
        },
    )
    .await?;
    match solved {
        Solved::Exported { value, .. } => Ok(value),
        Solved::Refused { returned, .. } => {
            Err(SolveError::Client(returned.err().unwrap_or_else(|| {
                BuildError::Session("the daemon refused an empty build".into())
            })))
        }
    }
}

async fn wait_solve(
    solving: Task<Result<control::SolveResponse, tonic::Status>>,
) -> Result<control::SolveResponse, SolveError> {
    match solving.join().await {
        Some(Ok(r)) => Ok(r),
        Some(Err(s)) => Err(SolveError::Daemon(daemon_message(&s))),
        None => Err(BuildError::Session("the solve task stopped".into()).into()),
    }
}
