//! The plain view (`--progress plain`): the text buildx prints in CI, one
//! block per vertex (`#N name`, status and log lines, `#N DONE 0.3s`).
//!
//! The one idea: only one vertex "owns" the output at a time; another one
//! takes over when the owner completes, or when it has waited too long or is
//! much busier (buildkit's anti-flicker rule), and the switch is marked with
//! `#N ...` and a fresh `#M name` header.

use std::collections::HashMap;

use super::trace::{secs, Nanos, Trace, NANOS_PER_SEC};

/// buildkit `util/progress/progressui/printer.go`: antiFlicker, maxDelay,
/// minTimeDelta, minProgressDelta.
const ANTI_FLICKER_SECS: f64 = 5.0;
const MAX_DELAY: Nanos = 10 * NANOS_PER_SEC;
const MIN_TIME_DELTA: Nanos = 5 * NANOS_PER_SEC;
const MIN_PROGRESS_DELTA: f64 = 0.05;

/// The last printed value of one status, for throttling.
#[derive(Debug, Clone, Copy)]
struct LastStatus {
    current: i64,
    timestamp: Option<Nanos>,
}

#[derive(Debug, Default)]
pub(super) struct Printer {
    current: Option<usize>,
    last: HashMap<(usize, String), LastStatus>,
    not_first: bool,
    next_index: usize,
}

struct Stat {
    block: Nanos,
    speed: f64,
    over_limit: bool,
}

impl Printer {
    /// Print what changed since the last call.
    pub fn print(&mut self, t: &mut Trace, now: Nanos, out: &mut Vec<u8>) {
        let mut completed: Vec<usize> = Vec::new();
        let mut rest: Vec<usize> = Vec::new();
        for &i in &t.updates {
            let v = &t.vtxs[i];
            if v.hidden {
                continue;
            }
            if v.is_completed() {
                completed.push(i);
            } else {
                rest.push(i);
            }
        }
        let current = self.current;

        // Finished vertices first, the one on screen before the others.
        if let Some(c) = current.filter(|c| completed.contains(c)) {
            self.print_vtx(t, c, now, out);
        }
        completed.sort_by_key(|&i| {
            let v = &t.vtxs[i];
            let stop = v.most_recent().and_then(|iv| iv.stop).unwrap_or(0);
            (stop + t.offset(v), i)
        });
        for &i in &completed {
            if Some(i) != current {
                self.print_vtx(t, i, now, out);
            }
        }

        if rest.is_empty() {
            if let Some(c) = current {
                let v = &t.vtxs[c];
                if v.is_started() && !v.is_completed() {
                    return;
                }
            }
            // Nothing new: hand the output to a vertex still running.
            let open = t.order.iter().copied().find(|&i| {
                let v = &t.vtxs[i];
                v.is_started() && !v.is_completed() && !v.hidden
            });
            if let Some(i) = open {
                self.print_vtx(t, i, now, out);
            }
            return;
        }

        if let Some(c) = current.filter(|c| rest.contains(c)) {
            self.print_vtx(t, c, now, out);
        }

        // Who deserves the output next: the busiest, or one kept waiting.
        let mut candidates = rest.clone();
        if let Some(c) = current {
            if !candidates.contains(&c) {
                candidates.push(c);
            }
        }
        let mut stats: HashMap<usize, Stat> = HashMap::new();
        let mut sum = 0.0;
        let mut max: Option<usize> = None;
        for &i in &candidates {
            let v = &t.vtxs[i];
            let Some(last_block) = v.last_block else {
                continue;
            };
            let block = now - last_block;
            let speed = v.count as f64 / secs(block).max(0.001);
            let over_limit = block > MAX_DELAY && Some(i) != current;
            sum += speed;
            let better = match max.and_then(|m| stats.get(&m)) {
                None => true,
                Some(m) => m.speed < speed,
            };
            stats.insert(
                i,
                Stat {
                    block,
                    speed,
                    over_limit,
                },
            );
            if over_limit || better {
                max = Some(i);
            }
        }
        let Some(max) = max else {
            return;
        };

        if current.is_none_or(|c| completed.contains(&c)) {
            self.print_vtx(t, max, now, out);
            return;
        }
        if let Some(&i) = rest
            .iter()
            .find(|i| stats.get(i).is_some_and(|s| s.over_limit))
        {
            self.print_vtx(t, i, now, out);
            return;
        }
        if let Some(c) = current.and_then(|c| stats.get(&c)) {
            let share = if sum > 0.0 { c.speed / sum } else { 0.0 };
            if 1.0 / (1.0 - share) * ANTI_FLICKER_SECS < secs(c.block) {
                self.print_vtx(t, max, now, out);
            }
        }
    }

    /// Print one vertex's news, with a header if the output switches to it.
    fn print_vtx(&mut self, t: &mut Trace, i: usize, now: Nanos, out: &mut Vec<u8>) {
        if t.vtxs[i].index == 0 {
            self.next_index += 1;
            t.vtxs[i].index = self.next_index;
        }
        if self.current != Some(i) {
            if let Some(c) = self.current {
                let old = &mut t.vtxs[c];
                if old.logs_partial {
                    out.push(b'\n');
                }
                old.logs_offset = 0;
                old.count = 0;
                line(out, format_args!("#{} ...", old.index));
            }
            if self.not_first {
                out.push(b'\n');
            }
            self.not_first = true;
            let v = &t.vtxs[i];
            line(out, format_args!("#{} {}", v.index, v.name));
        }

        let v = &mut t.vtxs[i];
        let n = v.index;
        let mut open_status = false;
        for id in &v.statuses {
            if !v.status_updates.contains(id) {
                continue;
            }
            let Some(s) = v.by_id.get(id) else {
                continue;
            };
            let key = (i, id.clone());
            if let (Some(last), None) = (self.last.get(&key), s.completed) {
                let progress = if s.total > 0 {
                    (s.current as f64 - last.current as f64) / s.total as f64
                } else {
                    0.0
                };
                let elapsed = match (s.timestamp, last.timestamp) {
                    (Some(a), Some(b)) => a.saturating_sub(b),
                    _ => 0,
                };
                if progress < MIN_PROGRESS_DELTA && elapsed < MIN_TIME_DELTA {
                    continue;
                }
            }
            self.last.insert(
                key,
                LastStatus {
                    current: s.current,
                    timestamp: s.timestamp,
                },
            );
            let bytes = if s.total != 0 {
                format!(" {} / {}", format_bytes(s.current), format_bytes(s.total))
            } else if s.current != 0 {
                format!(" {}", format_bytes(s.current))
            } else {
                String::new()
            };
            let mut tm = String::new();
            if let (Some(started), Some(end)) = (s.started, s.completed.or(s.timestamp)) {
                let diff = secs(end - started);
                if diff > 0.01 {
                    tm = format!(" {diff:.1}s");
                }
            }
            if s.completed.is_some() {
                tm.push_str(" done");
            } else {
                open_status = true;
            }
            line(out, format_args!("#{n} {id}{bytes}{tm}"));
        }
        v.status_updates.clear();

        for w in &v.warnings[v.warning_idx.min(v.warnings.len())..] {
            line(out, format_args!("#{n} WARN: {w}"));
        }
        v.warning_idx = v.warnings.len();

        let count = v.logs.len();
        for (k, l) in v.logs.iter().enumerate() {
            if k == 0 && v.logs_offset > 0 {
                out.extend_from_slice(l.get(v.logs_offset..).unwrap_or_default());
            } else {
                out.extend_from_slice(format!("#{n} ").as_bytes());
                out.extend_from_slice(l);
            }
            if k + 1 != count || !v.logs_partial {
                out.push(b'\n');
            }
        }
        if v.logs_partial {
            if count > 1 {
                v.logs.drain(..count - 1);
            }
            v.logs_offset = v.logs.first().map_or(0, Vec::len);
        } else {
            v.logs.clear();
            v.logs_offset = 0;
        }

        self.current = Some(i);
        if v.is_completed() && !open_status {
            self.current = None;
            v.count = 0;
            if v.logs_partial && count > 0 {
                out.push(b'\n');
            }
            if v.is_canceled() {
                line(out, format_args!("#{n} CANCELED"));
            } else if !v.error.is_empty() {
                line(out, format_args!("#{n} ERROR: {}", v.error));
            } else if v.cached {
                line(out, format_args!("#{n} CACHED"));
            } else if v.is_started() {
                line(out, format_args!("#{n} DONE {:.1}s", secs(v.duration(now))));
            } else {
                line(out, format_args!("#{n} DONE"));
            }
        }
        t.updates.remove(&i);
    }
}

fn line(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    out.extend_from_slice(args.to_string().as_bytes());
    out.push(b'\n');
}

/// Sizes as buildkit prints them (github.com/tonistiigi/units `%.2f`): plain
/// bytes under 1000, else two decimals of kB, MB, ... (powers of 1000).
pub(super) fn format_bytes(n: i64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let magnitude = n.unsigned_abs();
    if magnitude < 1000 {
        return format!("{n}B");
    }
    let mut unit = 0;
    let mut base: u64 = 1;
    while unit + 1 < UNITS.len() && magnitude >= base.saturating_mul(1000) {
        base *= 1000;
        unit += 1;
    }
    format!("{:.2}{}", n as f64 / base as f64, UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_bytes_matches_units() {
        assert_eq!(format_bytes(0), "0B");
        assert_eq!(format_bytes(999), "999B");
        assert_eq!(format_bytes(1000), "1.00kB");
        assert_eq!(format_bytes(3_145_728), "3.15MB");
        assert_eq!(format_bytes(2_000_000_000), "2.00GB");
    }
}
