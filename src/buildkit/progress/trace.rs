//! What the progress views know about a build: every vertex merged from the
//! `StatusResponse` messages seen so far, with its run intervals, statuses,
//! warnings and log lines.
//!
//! The one idea: BuildKit re-sends a whole vertex whenever it changes, so the
//! model keeps one record per digest and derives "started", "completed" and
//! durations from the set of (start, stop) intervals it has seen, never from
//! the latest message alone (a vertex can run several times).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::buildkit::proto::control::{StatusResponse, Vertex};

/// Nanoseconds since the Unix epoch (signed, so any `Timestamp` fits).
pub(super) type Nanos = i128;

pub(super) const NANOS_PER_SEC: Nanos = 1_000_000_000;

/// Number of log lines a vertex keeps for the error summary in plain mode
/// (buildkit `util/progress/progressui/printer.go` logsBufferSize).
pub(super) const PLAIN_RECENT_LINES: usize = 10;

/// The tty view keeps a failed vertex's whole log for the summary, as buildx
/// does; this caps the memory a chatty step can take.
pub(super) const TTY_RECENT_LINES: usize = 1000;

/// An error ending like this marks a canceled vertex, not a failed one
/// (Go's `context.Canceled.Error()`).
const CANCELED_SUFFIX: &str = "context canceled";

pub(super) fn ts_nanos(ts: &prost_types::Timestamp) -> Nanos {
    Nanos::from(ts.seconds) * NANOS_PER_SEC + Nanos::from(ts.nanos)
}

pub(super) fn secs(n: Nanos) -> f64 {
    n as f64 / NANOS_PER_SEC as f64
}

pub(super) fn is_canceled(error: &str) -> bool {
    error.ends_with(CANCELED_SUFFIX)
}

/// One run of a vertex; `stop == None` means still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Interval {
    pub start: Nanos,
    pub stop: Option<Nanos>,
}

impl Interval {
    pub fn duration(&self, now: Nanos) -> Nanos {
        (self.stop.unwrap_or(now) - self.start).max(0)
    }

    pub fn shifted(&self, by: Nanos) -> Interval {
        Interval {
            start: self.start + by,
            stop: self.stop.map(|s| s + by),
        }
    }
}

/// Overlapping intervals combined, sorted by start; an open interval swallows
/// everything after its start.
pub(super) fn merge_intervals(intervals: impl IntoIterator<Item = Interval>) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = intervals.into_iter().collect();
    sorted.sort_by_key(|i| i.start);
    let mut merged: Vec<Interval> = Vec::new();
    for next in sorted {
        let Some(cur) = merged.last_mut() else {
            merged.push(next);
            continue;
        };
        match cur.stop {
            None => break,
            Some(stop) if stop < next.start => merged.push(next),
            Some(stop) => match next.stop {
                None => {
                    cur.stop = None;
                    break;
                }
                Some(next_stop) if next_stop > stop => cur.stop = Some(next_stop),
                Some(_) => {}
            },
        }
    }
    merged
}

/// The latest state of one `VertexStatus` (keyed by its vertex and ID).
#[derive(Clone, Debug, Default)]
pub(super) struct Status {
    pub current: i64,
    pub total: i64,
    pub timestamp: Option<Nanos>,
    pub started: Option<Nanos>,
    pub completed: Option<Nanos>,
}

/// A member of a progress group, as last sent.
#[derive(Clone, Debug)]
struct Member {
    digest: String,
    start: Option<Nanos>,
    completed: Option<Nanos>,
    cached: bool,
    error: String,
    weak: bool,
}

/// The fields whose change makes a started vertex worth printing again.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Snapshot {
    name: String,
    started: Option<Nanos>,
    completed: Option<Nanos>,
    cached: bool,
    error: String,
}

/// One line on screen: a vertex, or a progress group standing for its members.
#[derive(Debug, Default)]
pub(super) struct Vtx {
    pub name: String,
    pub cached: bool,
    pub error: String,
    /// Start -> stop of every run seen, and their merge.
    intervals: BTreeMap<Nanos, Option<Nanos>>,
    pub merged: Vec<Interval>,
    /// archgate's own step: times come from the local clock, not the daemon's.
    pub local: bool,
    /// A progress group none of whose strong members has started yet.
    pub hidden: bool,
    members: Option<Vec<Member>>,
    prev: Option<Snapshot>,
    in_order: bool,

    /// Status IDs in the order they started, and their latest values.
    pub statuses: Vec<String>,
    pub by_id: HashMap<String, Status>,
    /// Status IDs changed since the plain printer last showed this vertex.
    pub status_updates: HashSet<String>,

    pub warnings: Vec<String>,
    pub warning_idx: usize,

    /// Log lines ("SECS text") not yet printed by the plain printer; when
    /// `logs_partial`, the last one is unfinished and `logs_offset` bytes of
    /// it are already on screen.
    pub logs: Vec<Vec<u8>>,
    pub logs_partial: bool,
    pub logs_offset: usize,
    /// The last finished lines and the unfinished one, for the error summary
    /// and the tty view's log tail.
    pub recent: VecDeque<Vec<u8>>,
    pub partial_line: Option<Vec<u8>>,
    pub log_bytes: usize,
    pub tail_shown: usize,

    /// Plain printer bookkeeping: `#N` (0 until first printed), and how much
    /// happened since it was last switched to (buildkit's anti-flicker).
    pub index: usize,
    pub count: usize,
    pub last_block: Option<Nanos>,
}

impl Vtx {
    pub fn is_started(&self) -> bool {
        !self.merged.is_empty()
    }

    pub fn is_completed(&self) -> bool {
        self.merged.last().is_some_and(|i| i.stop.is_some())
    }

    pub fn most_recent(&self) -> Option<Interval> {
        self.merged.last().copied()
    }

    pub fn is_canceled(&self) -> bool {
        !self.error.is_empty() && is_canceled(&self.error)
    }

    pub fn is_failed(&self) -> bool {
        !self.error.is_empty() && !is_canceled(&self.error)
    }

    /// Total run time: the sum of the merged intervals.
    pub fn duration(&self, now: Nanos) -> Nanos {
        self.merged.iter().map(|i| i.duration(now)).sum()
    }

    fn remerge(&mut self) {
        self.merged = merge_intervals(
            self.intervals
                .iter()
                .map(|(&start, &stop)| Interval { start, stop }),
        );
    }

    fn bump(&mut self, now: Nanos) {
        if self.count == 0 {
            self.last_block = Some(now);
        }
        self.count += 1;
    }
}

/// Every vertex seen, in arena order (first seen first).
#[derive(Debug)]
pub(super) struct Trace {
    pub vtxs: Vec<Vtx>,
    by_digest: HashMap<String, usize>,
    groups: HashMap<String, usize>,
    /// Vertices in the order they first started: the tty view's line order.
    pub order: Vec<usize>,
    /// Vertices changed since the plain printer last showed them.
    pub updates: BTreeSet<usize>,
    /// Local clock minus daemon clock, measured when the first daemon vertex
    /// started (buildkit display.go localTimeDiff).
    time_diff: Option<Nanos>,
    /// Local time the first vertex started: the tty header's zero.
    pub start: Option<Nanos>,
    recent_cap: usize,
}

impl Trace {
    pub fn new(recent_cap: usize) -> Self {
        Trace {
            vtxs: Vec::new(),
            by_digest: HashMap::new(),
            groups: HashMap::new(),
            order: Vec::new(),
            updates: BTreeSet::new(),
            time_diff: None,
            start: None,
            recent_cap,
        }
    }

    /// What to add to this vertex's times to get local time.
    pub fn offset(&self, v: &Vtx) -> Nanos {
        if v.local {
            0
        } else {
            self.time_diff.unwrap_or(0)
        }
    }

    /// Vertices shown and counted (groups count once, hidden groups not).
    pub fn visible(&self) -> impl Iterator<Item = &Vtx> {
        self.vtxs.iter().filter(|v| !v.hidden)
    }

    /// Merge one message. `local` marks archgate's own steps; `now` is the
    /// local clock.
    pub fn update(&mut self, resp: &StatusResponse, now: Nanos, local: bool) {
        let mut touched_groups: Vec<usize> = Vec::new();
        for v in &resp.vertexes {
            match v.progress_group.as_ref().filter(|g| !g.id.is_empty()) {
                Some(group) => {
                    let gi = self.group_member(v, &group.id, &group.name, group.weak, local);
                    if !touched_groups.contains(&gi) {
                        touched_groups.push(gi);
                    }
                }
                None => self.vertex(v, now, local),
            }
        }
        for gi in touched_groups {
            self.refresh_group(gi, now);
        }

        for s in &resp.statuses {
            let Some(&i) = self.by_digest.get(&s.vertex) else {
                continue;
            };
            let v = &mut self.vtxs[i];
            let started = s.started.as_ref().map(ts_nanos);
            let was_started = v.by_id.get(&s.id).is_some_and(|p| p.started.is_some());
            if started.is_some() && !was_started {
                v.statuses.push(s.id.clone());
            }
            v.by_id.insert(
                s.id.clone(),
                Status {
                    current: s.current,
                    total: s.total,
                    timestamp: s.timestamp.as_ref().map(ts_nanos),
                    started,
                    completed: s.completed.as_ref().map(ts_nanos),
                },
            );
            v.status_updates.insert(s.id.clone());
            v.bump(now);
            self.updates.insert(i);
        }

        for w in &resp.warnings {
            let Some(&i) = self.by_digest.get(&w.vertex) else {
                continue;
            };
            let v = &mut self.vtxs[i];
            v.warnings
                .push(String::from_utf8_lossy(&w.short).into_owned());
            v.bump(now);
            self.updates.insert(i);
        }

        for l in &resp.logs {
            let Some(&i) = self.by_digest.get(&l.vertex) else {
                continue;
            };
            if l.msg.is_empty() {
                continue;
            }
            let cap = self.recent_cap;
            let v = &mut self.vtxs[i];
            let since = match (l.timestamp.as_ref(), v.most_recent()) {
                (Some(ts), Some(ival)) => (ts_nanos(ts) - ival.start).max(0),
                _ => 0,
            };
            let prefix = log_prefix(secs(since));
            let ends_complete = l.msg.ends_with(b"\n");
            let body = l.msg.strip_suffix(b"\n").unwrap_or(&l.msg);
            let segments: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
            let last = segments.len() - 1;
            for (n, seg) in segments.into_iter().enumerate() {
                let continues = n == 0 && v.logs_partial;
                match v.logs.last_mut() {
                    Some(line) if continues => line.extend_from_slice(seg),
                    _ => v.logs.push([prefix.as_bytes(), seg].concat()),
                }
                match v.partial_line.as_mut() {
                    Some(line) if n == 0 => line.extend_from_slice(seg),
                    _ => v.partial_line = Some([prefix.as_bytes(), seg].concat()),
                }
                if n < last || ends_complete {
                    if let Some(line) = v.partial_line.take() {
                        if v.recent.len() == cap {
                            v.recent.pop_front();
                        }
                        v.recent.push_back(line);
                    }
                }
            }
            v.logs_partial = !ends_complete;
            v.log_bytes += l.msg.len();
            v.bump(now);
            self.updates.insert(i);
        }
    }

    fn vertex(&mut self, pv: &Vertex, now: Nanos, local: bool) {
        let i = match self.by_digest.get(&pv.digest) {
            Some(&i) => i,
            None => {
                self.vtxs.push(Vtx {
                    local,
                    ..Vtx::default()
                });
                let i = self.vtxs.len() - 1;
                self.by_digest.insert(pv.digest.clone(), i);
                i
            }
        };
        let started = pv.started.as_ref().map(ts_nanos);
        let completed = pv.completed.as_ref().map(ts_nanos);
        // A cached vertex may come with only its completion time.
        let start = started.or(completed);

        let v = &mut self.vtxs[i];
        if start.is_some() {
            let snap = Snapshot {
                name: pv.name.clone(),
                started: start,
                completed,
                cached: pv.cached,
                error: pv.error.clone(),
            };
            if v.prev.as_ref() != Some(&snap) {
                v.bump(now);
                self.updates.insert(i);
            }
            v.prev = Some(snap);
        }

        let was_started = v.is_started();
        // A late copy of the vertex from before it started must not undo it.
        if !(was_started && start.is_none()) {
            if !pv.name.is_empty() || v.name.is_empty() {
                v.name = pv.name.clone();
            }
            v.cached = pv.cached;
            v.error = pv.error.clone();
        }
        if let Some(s) = start {
            v.intervals.insert(s, completed);
            v.remerge();
            if !was_started {
                if !local && self.time_diff.is_none() {
                    self.time_diff = Some(now - s);
                }
                self.note_started(i, s);
            }
        }
    }

    /// Record a vertex that just started: display order and build start.
    fn note_started(&mut self, i: usize, start: Nanos) {
        let offset = self.offset(&self.vtxs[i]);
        if self.start.is_none() {
            self.start = Some(start + offset);
        }
        let v = &mut self.vtxs[i];
        if !v.in_order && !v.hidden {
            v.in_order = true;
            self.order.push(i);
        }
    }

    fn group_member(
        &mut self,
        pv: &Vertex,
        id: &str,
        name: &str,
        weak: bool,
        local: bool,
    ) -> usize {
        let gi = match self.groups.get(id) {
            Some(&gi) => gi,
            None => {
                self.vtxs.push(Vtx {
                    name: name.to_string(),
                    local,
                    hidden: true,
                    members: Some(Vec::new()),
                    ..Vtx::default()
                });
                let gi = self.vtxs.len() - 1;
                self.groups.insert(id.to_string(), gi);
                gi
            }
        };
        let completed = pv.completed.as_ref().map(ts_nanos);
        let member = Member {
            digest: pv.digest.clone(),
            start: pv.started.as_ref().map(ts_nanos).or(completed),
            completed,
            cached: pv.cached,
            error: pv.error.clone(),
            weak,
        };
        if let Some(members) = self.vtxs[gi].members.as_mut() {
            match members.iter_mut().find(|m| m.digest == member.digest) {
                Some(m) => *m = member,
                None => members.push(member),
            }
        }
        self.by_digest.insert(pv.digest.clone(), gi);
        gi
    }

    /// Recompute a group from its members: runs, cached (all members),
    /// error (the first), visibility (a strong member started, or an error).
    fn refresh_group(&mut self, gi: usize, now: Nanos) {
        let g = &mut self.vtxs[gi];
        let Some(members) = g.members.as_ref() else {
            return;
        };
        let was_started = g.is_started();
        let before = (g.merged.clone(), g.cached, g.error.clone(), g.hidden);
        let mut cached = true;
        let mut error = String::new();
        let mut hidden = g.hidden;
        for m in members {
            if let Some(s) = m.start {
                g.intervals.insert(s, m.completed);
                if !m.weak {
                    hidden = false;
                }
            }
            cached &= m.cached;
            if !m.error.is_empty() {
                hidden = false;
                if error.is_empty() {
                    error = m.error.clone();
                }
            }
        }
        g.cached = cached;
        g.error = error;
        g.hidden = hidden;
        g.remerge();
        let changed = before != (g.merged.clone(), g.cached, g.error.clone(), g.hidden);
        let first_start = g.merged.first().map(|i| i.start);
        if g.hidden {
            return;
        }
        if changed {
            g.bump(now);
            self.updates.insert(gi);
        }
        if let Some(s) = first_start {
            if !was_started && !g.local && self.time_diff.is_none() {
                self.time_diff = Some(now - s);
            }
            self.note_started(gi, s);
        }
    }
}

/// "SECS " before a log line: seconds since the vertex started, 3 decimals
/// under 10 s, 2 under 100 s, else 1 (buildkit progressui display.go).
fn log_prefix(sec: f64) -> String {
    let prec = if sec < 10.0 {
        3
    } else if sec < 100.0 {
        2
    } else {
        1
    };
    format!("{sec:.prec$} ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(start: i128, stop: Option<i128>) -> Interval {
        Interval { start, stop }
    }

    #[test]
    fn merge_intervals_joins_overlaps_and_keeps_gaps() {
        let m = merge_intervals([
            iv(5, Some(8)),
            iv(0, Some(2)),
            iv(1, Some(3)),
            iv(6, Some(7)),
        ]);
        assert_eq!(m, vec![iv(0, Some(3)), iv(5, Some(8))]);
    }

    #[test]
    fn merge_intervals_open_interval_swallows_the_rest() {
        let m = merge_intervals([iv(0, Some(2)), iv(1, None), iv(5, Some(6))]);
        assert_eq!(m, vec![iv(0, None)]);
        let m = merge_intervals([iv(0, None), iv(5, Some(6))]);
        assert_eq!(m, vec![iv(0, None)]);
    }

    #[test]
    fn log_prefix_precision_follows_magnitude() {
        assert_eq!(log_prefix(0.1234), "0.123 ");
        assert_eq!(log_prefix(12.346), "12.35 ");
        assert_eq!(log_prefix(123.46), "123.5 ");
    }
}
