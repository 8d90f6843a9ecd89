//! Build progress on stderr, as `docker buildx build --progress` shows it:
//! BuildKit's `Control.Status` stream rendered as a live terminal view
//! (`tty`), buildx's plain text (`plain`), raw JSON lines (`rawjson`) or
//! nothing (`quiet`), with archgate's own check steps shown as vertices.
//!
//! The one idea: every input, the daemon's `StatusResponse`s and archgate's
//! steps alike, becomes a `StatusResponse` merged into one trace of vertices;
//! the views only read that trace (plus a clock for live timers), so a step
//! behaves exactly like a BuildKit vertex and tests can replay any sequence
//! with a fixed clock.

mod plain;
mod rawjson;
mod trace;
mod tty;

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use futures::{Stream, StreamExt};
use prost_types::Timestamp;

use crate::buildkit::proto::control::{StatusResponse, Vertex, VertexLog};
use trace::{Nanos, Trace, NANOS_PER_SEC};

/// How often a live view refreshes its timers when the daemon is quiet
/// (buildkit `util/progress/progressui/display.go` tickerTimeout).
pub const TICK: Duration = Duration::from_millis(150);

/// Minimum time between two redraws caused by incoming messages
/// (buildkit display.go displayTimeout).
const RENDER_INTERVAL: Nanos = 100 * NANOS_PER_SEC / 1000;

/// Terminal size when neither the terminal, the caller nor `COLUMNS`/`LINES`
/// say.
const DEFAULT_WIDTH: usize = 80;
const DEFAULT_HEIGHT: usize = 25;

/// Where the live timers' "now" comes from.
pub type Clock = Box<dyn Fn() -> SystemTime + Send>;

/// `--progress` values, as buildx spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// `tty` on a terminal, else `plain`.
    Auto,
    Plain,
    Tty,
    Quiet,
    Rawjson,
}

/// A `--progress` value that is none of the modes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid progress mode {0:?}: expected {names}", names = mode_names())]
pub struct ProgressModeError(pub String);

/// `auto, plain, tty, quiet or rawjson`: the names clap derives.
fn mode_names() -> String {
    let names: Vec<String> = ProgressMode::value_variants()
        .iter()
        .map(ProgressMode::to_string)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

// Spelled as clap derives them, for code that parses or prints a mode
// outside the command line.
impl FromStr for ProgressMode {
    type Err = ProgressModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as ValueEnum>::from_str(s, false).map_err(|_| ProgressModeError(s.to_string()))
    }
}

impl std::fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_possible_value() {
            Some(v) => f.write_str(v.get_name()),
            None => write!(f, "{self:?}"),
        }
    }
}

/// One of archgate's own steps, from [`Progress::step_start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepId(u64);

#[derive(Debug)]
struct Step {
    digest: String,
    name: String,
    started: Timestamp,
}

/// The progress display of one build.
pub struct Progress {
    mode: ProgressMode,
    out: Box<dyn Write + Send>,
    clock: Clock,
    trace: Trace,
    plain: plain::Printer,
    screen: tty::Screen,
    last_render: Option<Nanos>,
    /// The plain output stopped in the middle of a line.
    mid_line: bool,
    steps: HashMap<StepId, Step>,
    next_step: u64,
    finished: bool,
    /// The terminal the tty view is drawn on, asked for its size at every
    /// frame (it may be resized during a build), as buildkit's progressui
    /// does.
    terminal: Option<Box<dyn AsFd + Send>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("mode", &self.mode)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// Progress written to `out` (stderr in the CLI). `is_tty` says whether
    /// `out` is a terminal: `auto` picks `tty` or `plain` by it, and `tty` on
    /// something else falls back to `plain`.
    pub fn new(mode: ProgressMode, out: Box<dyn Write + Send>, is_tty: bool) -> Self {
        Self::with_clock(mode, out, is_tty, Box::new(SystemTime::now))
    }

    /// [`Progress::new`] with the clock used for live timers and archgate's
    /// steps (tests pass a fixed one).
    pub fn with_clock(
        mode: ProgressMode,
        out: Box<dyn Write + Send>,
        is_tty: bool,
        clock: Clock,
    ) -> Self {
        let mode = match mode {
            ProgressMode::Auto | ProgressMode::Tty if is_tty => ProgressMode::Tty,
            ProgressMode::Auto | ProgressMode::Tty => ProgressMode::Plain,
            other => other,
        };
        let recent = if mode == ProgressMode::Tty {
            trace::TTY_RECENT_LINES
        } else {
            trace::PLAIN_RECENT_LINES
        };
        let (width, height) = term_size_from_env();
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Progress {
            mode,
            out,
            clock,
            trace: Trace::new(recent),
            plain: plain::Printer::default(),
            screen: tty::Screen::new(width, height, color),
            last_render: None,
            mid_line: false,
            steps: HashMap::new(),
            next_step: 0,
            finished: false,
            terminal: None,
        }
    }

    /// The mode in effect: `Plain`, `Tty`, `Quiet` or `Rawjson` (never `Auto`).
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// Size the tty view to the terminal `tty` (stderr in the CLI), asked
    /// again before every frame. Where it is no terminal the size set
    /// before stays.
    pub fn follow_terminal(&mut self, tty: impl AsFd + Send + 'static) {
        self.terminal = Some(Box::new(tty));
        self.measure();
    }

    fn measure(&mut self) {
        if let Some((w, h)) = self.terminal.as_ref().and_then(terminal_size) {
            self.set_term_size(w, h);
        }
    }

    /// The terminal's size in columns and lines, for the tty view (default:
    /// `COLUMNS`/`LINES`, else 80x25).
    pub fn set_term_size(&mut self, width: usize, height: usize) {
        if width > 0 {
            self.screen.width = width;
        }
        if height > 0 {
            self.screen.height = height;
        }
    }

    /// Colors in the tty view (default: on unless `NO_COLOR` is set).
    pub fn set_color(&mut self, on: bool) {
        self.screen.color = on;
    }

    /// Take in one message from `Control.Status`.
    pub fn update(&mut self, resp: &StatusResponse) {
        self.ingest(resp, false);
    }

    /// Start one of archgate's own steps, shown like a vertex named `name`
    /// (e.g. `[archgate] check linux/arm64`).
    pub fn step_start(&mut self, name: &str) -> StepId {
        self.next_step += 1;
        let id = StepId(self.next_step);
        let step = Step {
            digest: format!("archgate-step-{}", self.next_step),
            name: name.to_string(),
            started: self.now_ts(),
        };
        let resp = StatusResponse {
            vertexes: vec![Vertex {
                digest: step.digest.clone(),
                name: step.name.clone(),
                started: Some(step.started),
                ..Vertex::default()
            }],
            ..StatusResponse::default()
        };
        self.steps.insert(id, step);
        self.ingest(&resp, true);
        id
    }

    /// One line of a step's output (a trailing newline is added if missing).
    pub fn step_log(&mut self, id: StepId, line: &str) {
        let Some(step) = self.steps.get(&id) else {
            return;
        };
        let mut msg = line.as_bytes().to_vec();
        if !msg.ends_with(b"\n") {
            msg.push(b'\n');
        }
        let resp = StatusResponse {
            logs: vec![VertexLog {
                vertex: step.digest.clone(),
                timestamp: Some(self.now_ts()),
                stream: 1,
                msg,
            }],
            ..StatusResponse::default()
        };
        self.ingest(&resp, true);
    }

    /// End a step, failed with `error` or done.
    pub fn step_done(&mut self, id: StepId, error: Option<&str>) {
        let Some(step) = self.steps.get(&id) else {
            return;
        };
        let resp = StatusResponse {
            vertexes: vec![Vertex {
                digest: step.digest.clone(),
                name: step.name.clone(),
                started: Some(step.started),
                completed: Some(self.now_ts()),
                error: error.unwrap_or_default().to_string(),
                ..Vertex::default()
            }],
            ..StatusResponse::default()
        };
        self.ingest(&resp, true);
    }

    /// Redraw without news: live timers in `tty`, held-back output in `plain`.
    pub fn tick(&mut self) {
        if self.finished {
            return;
        }
        let now = self.now();
        self.render(now, false);
    }

    /// The end: the final frame (tty) or the remaining output (plain), then
    /// the last log lines of every failed vertex, as buildx prints them.
    /// Later calls do nothing.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let now = self.now();
        match self.mode {
            ProgressMode::Plain | ProgressMode::Tty => {
                self.render(now, true);
                let mut buf = Vec::new();
                if self.mid_line {
                    buf.push(b'\n');
                    self.mid_line = false;
                }
                self.error_logs(&mut buf);
                self.write(&buf);
            }
            _ => {}
        }
        self.finished = true;
    }

    fn ingest(&mut self, resp: &StatusResponse, local: bool) {
        if self.finished {
            return;
        }
        match self.mode {
            ProgressMode::Quiet | ProgressMode::Auto => {}
            ProgressMode::Rawjson => {
                let line = rawjson::line(resp);
                self.write(line.as_bytes());
            }
            ProgressMode::Plain | ProgressMode::Tty => {
                let now = self.now();
                self.trace.update(resp, now, local);
                let due = self
                    .last_render
                    .is_none_or(|last| now - last >= RENDER_INTERVAL);
                if due {
                    self.last_render = Some(now);
                    self.render(now, false);
                }
            }
        }
    }

    fn render(&mut self, now: Nanos, all: bool) {
        let mut buf = Vec::new();
        match self.mode {
            ProgressMode::Plain => {
                self.plain.print(&mut self.trace, now, &mut buf);
                if let Some(&last) = buf.last() {
                    self.mid_line = last != b'\n';
                }
            }
            ProgressMode::Tty => {
                self.measure();
                self.screen.render(&mut self.trace, now, all, &mut buf);
            }
            _ => return,
        }
        self.write(&buf);
    }

    /// `------` / ` > NAME:` / last log lines / `------` per failed vertex.
    fn error_logs(&self, buf: &mut Vec<u8>) {
        for &i in &self.trace.order {
            let v = &self.trace.vtxs[i];
            if !v.is_failed() || v.hidden {
                continue;
            }
            buf.extend_from_slice(format!("------\n > {}:\n", v.name).as_bytes());
            for l in v.recent.iter().chain(v.partial_line.iter()) {
                buf.extend_from_slice(l);
                buf.push(b'\n');
            }
            buf.extend_from_slice(b"------\n");
        }
    }

    /// Progress output is best effort: a closed stderr must not fail a build.
    fn write(&mut self, buf: &[u8]) {
        if buf.is_empty() {
            return;
        }
        let _ = self.out.write_all(buf);
        let _ = self.out.flush();
    }

    fn now(&self) -> Nanos {
        system_nanos((self.clock)())
    }

    fn now_ts(&self) -> Timestamp {
        let n = self.now();
        Timestamp {
            seconds: i64::try_from(n.div_euclid(NANOS_PER_SEC)).unwrap_or(i64::MAX),
            nanos: i32::try_from(n.rem_euclid(NANOS_PER_SEC)).unwrap_or(0),
        }
    }
}

fn system_nanos(t: SystemTime) -> Nanos {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Nanos::try_from(d.as_nanos()).unwrap_or(Nanos::MAX),
        Err(e) => -Nanos::try_from(e.duration().as_nanos()).unwrap_or(Nanos::MAX),
    }
}

/// The tty view's size before any terminal is asked: `COLUMNS` and `LINES`
/// from the environment, else 80x25 ([`term_size_from`]).
fn term_size_from_env() -> (usize, usize) {
    term_size_from(
        std::env::var("COLUMNS").ok().as_deref(),
        std::env::var("LINES").ok().as_deref(),
    )
}

/// `columns` and `lines` (the values of `COLUMNS` and `LINES`) when they are
/// positive numbers, each else 80 and 25.
fn term_size_from(columns: Option<&str>, lines: Option<&str>) -> (usize, usize) {
    let get = |v: Option<&str>| {
        v.and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    (
        get(columns).unwrap_or(DEFAULT_WIDTH),
        get(lines).unwrap_or(DEFAULT_HEIGHT),
    )
}

/// The size of the terminal on `fd` in columns and lines (`TIOCGWINSZ`,
/// what Go's `golang.org/x/term.GetSize` asks), or `None` when it is no
/// terminal or does not say.
pub fn terminal_size(fd: &(impl AsFd + ?Sized)) -> Option<(usize, usize)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
    // points at `ws` for the whole call; the descriptor is borrowed, open.
    let r = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        .then(|| (usize::from(ws.ws_col), usize::from(ws.ws_row)))
}

fn lock(progress: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Feed a `Control.Status` stream into `progress` until it ends (Ok) or
/// fails (the stream's status), ticking the live view every [`TICK`] while
/// the daemon is quiet. Does not call [`Progress::finish`].
pub async fn follow(
    stream: tonic::Streaming<StatusResponse>,
    progress: Arc<Mutex<Progress>>,
) -> Result<(), tonic::Status> {
    follow_stream(Box::pin(stream), progress).await
}

/// [`follow`] for any stream of status messages.
pub async fn follow_stream<S>(
    mut stream: S,
    progress: Arc<Mutex<Progress>>,
) -> Result<(), tonic::Status>
where
    S: Stream<Item = Result<StatusResponse, tonic::Status>> + Unpin,
{
    let live = matches!(
        lock(&progress).mode(),
        ProgressMode::Plain | ProgressMode::Tty
    );
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(resp)) => {
                    lock(&progress).update(&resp);
                    ticker.reset();
                }
                Some(Err(status)) => return Err(status),
                None => return Ok(()),
            },
            _ = ticker.tick(), if live => lock(&progress).tick(),
        }
    }
}

#[cfg(test)]
mod tests;
