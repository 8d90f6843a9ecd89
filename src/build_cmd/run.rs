//! `archgate build` from a synchronous caller: the build on a runtime of its
//! own, its events drawn on the progress display as they arrive, Ctrl-C
//! cancelling the solve.
//!
//! The one idea: the caller gets the build's outcome, or `Interrupted`; in
//! both cases the runtime is given a moment to send the daemon what it still
//! owes (the cancellation of the solve) before it is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{execute, ExecError, Outcome, Request};
use crate::buildkit::progress::{Progress, TICK};
use crate::gate::Event;

/// How a build run ended.
#[derive(Debug)]
pub enum Finished {
    /// Ctrl-C: the build was cancelled, nothing was exported.
    Interrupted,
    /// The build ran to its end: the gate's reports, or why it could not
    /// decide.
    Done(Result<Outcome, ExecError>),
}

/// Run `req` on a runtime of its own, drawing progress on `progress`
/// (finished before this returns). The error: the runtime could not start.
pub fn run(req: &Request, progress: Progress) -> std::io::Result<Finished> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let progress = Arc::new(Mutex::new(progress));
    let result = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let shown = progress.clone();
        let render = tokio::spawn(async move { render_events(&mut rx, shown).await });
        let outcome = tokio::select! {
            r = execute(req, Some(tx)) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        // The sender is gone once execute ends (or is dropped): the
        // renderer drains what is left and stops.
        let _ = tokio::time::timeout(Duration::from_secs(2), render).await;
        outcome
    });
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    // Cancelled or not, let the runtime send what it still owes the daemon
    // (the cancellation of the solve) before the process ends.
    rt.shutdown_timeout(Duration::from_millis(500));
    Ok(match result {
        None => Finished::Interrupted,
        Some(r) => Finished::Done(r),
    })
}

/// Feed build events to the progress display until the build ends. A
/// platform's check step ends in error when the platform fails the gate
/// (`Event::CheckDone::fails`, the gate rule) or could not be checked.
async fn render_events(rx: &mut UnboundedReceiver<Event>, progress: Arc<Mutex<Progress>>) {
    let mut steps = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let Ok(mut p) = progress.lock() else { break };
                match ev {
                    Event::Status(s) => p.update(&s),
                    Event::CheckStarted { platform } => {
                        let id = p.step_start(&format!("[archgate] check {platform}"));
                        steps.insert(platform, id);
                    }
                    Event::CheckDone { platform, fails, summary, .. } => {
                        if let Some(id) = steps.remove(&platform) {
                            p.step_log(id, &summary);
                            p.step_done(id, fails.then_some(summary.as_str()));
                        }
                    }
                }
            }
            _ = tick.tick() => {
                if let Ok(mut p) = progress.lock() {
                    p.tick();
                }
            }
        }
    }
}
