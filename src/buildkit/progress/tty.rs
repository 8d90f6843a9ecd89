//! The live terminal view (`--progress tty`): a `[+] Building 3.2s (5/8)`
//! header and one line per vertex with its timer, repainted in place.
//!
//! The one idea: every frame is computed from scratch from the trace and
//! drawn over the previous one (cursor up, clear line), so the frame must
//! never be taller than the terminal or wider than a line; the final frame is
//! printed whole and stays on screen.

use std::fmt::Write as _;

use super::plain::format_bytes;
use super::trace::{secs, Interval, Nanos, Trace, NANOS_PER_SEC};

/// Lines of a running vertex's log shown under it (buildkit
/// `util/progress/progressui/init.go` termHeightMin).
const TAIL_LINES: usize = 6;
/// Width kept free beside a log tail (buildkit display.go termPad).
const TAIL_PAD: usize = 10;

const COLOR_DONE: &str = "\x1b[34m";
const COLOR_ERROR: &str = "\x1b[31m";
const COLOR_CANCEL: &str = "\x1b[33m";
const FAINT: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

#[derive(Debug)]
struct Job {
    name: String,
    status: String,
    intervals: Vec<Interval>,
    completed: bool,
    error: bool,
    canceled: bool,
    /// The vertex whose log tail may be shown under this line.
    vtx: Option<usize>,
    show_tail: bool,
}

#[derive(Debug)]
pub(super) struct Screen {
    pub width: usize,
    pub height: usize,
    pub color: bool,
    /// Lines drawn by the previous live frame (header included).
    lines: usize,
}

impl Screen {
    pub fn new(width: usize, height: usize, color: bool) -> Self {
        Screen {
            width,
            height,
            color,
            lines: 0,
        }
    }

    /// Draw a frame over the previous one. `all` is the final frame: every
    /// job, no height limit, `FINISHED` when everything completed.
    pub fn render(&mut self, t: &mut Trace, now: Nanos, all: bool, out: &mut Vec<u8>) {
        let lines = self.frame(t, now, all);
        let mut s = String::from("\x1b[?25l");
        if self.lines > 0 {
            let _ = write!(s, "\x1b[{}A", self.lines);
        }
        for l in &lines {
            let _ = writeln!(s, "\r\x1b[2K{l}");
        }
        if self.lines > lines.len() {
            let extra = self.lines - lines.len();
            for _ in 0..extra {
                s.push_str("\r\x1b[2K\n");
            }
            let _ = write!(s, "\x1b[{extra}A");
        }
        s.push_str("\x1b[?25h");
        self.lines = if all { 0 } else { lines.len() };
        out.extend_from_slice(s.as_bytes());
    }

    /// The frame's lines, without line ends.
    fn frame(&self, t: &mut Trace, now: Nanos, all: bool) -> Vec<String> {
        let width = self.width.max(20);
        let total = t.visible().count();
        let done = t.visible().filter(|v| v.is_completed()).count();
        let elapsed = t.start.map_or(0, |s| (now - s).max(0));
        let mut header = format!("[+] Building {:.1}s ({done}/{total})", secs(elapsed));
        if all && done > 0 && done == total {
            header.push_str(" FINISHED");
        }
        let mut lines = vec![truncate(&header, width - 1)];

        let mut jobs = jobs(t);
        let used = self.choose_tails(t, &mut jobs, all);
        if !all {
            jobs = wrap_height(jobs, self.height.saturating_sub(2 + used));
        }

        for job in &jobs {
            if job.intervals.is_empty() {
                continue;
            }
            let mut dt: Nanos = job.intervals.iter().map(|i| i.duration(now)).sum();
            if dt < NANOS_PER_SEC / 20 {
                dt = 0;
            }
            let timer = format!(" {:3.1}s", secs(dt));
            let mut left = width as isize - 4 - timer.len() as isize - 2;
            let mut show_status = false;
            if !job.status.is_empty() && left + job.status.len() as isize > 20 {
                show_status = true;
                left -= job.status.len() as isize + 1;
            }
            if left < 12 {
                continue; // too narrow to say anything useful
            }
            let mut text = format!(" => {}", truncate(&job.name, left as usize));
            if show_status {
                text.push(' ');
                text.push_str(&job.status);
            }
            let pad = (width - 1).saturating_sub(timer.chars().count());
            let mut l = format!("{text:<pad$}{timer}");
            if self.color && job.completed {
                let color = if job.canceled {
                    COLOR_CANCEL
                } else if job.error {
                    COLOR_ERROR
                } else {
                    COLOR_DONE
                };
                l = format!("{color}{l}{RESET}");
            }
            lines.push(l);
            if job.show_tail {
                if let Some(i) = job.vtx {
                    t.vtxs[i].tail_shown += 1;
                    for tail in tail_lines(t, i) {
                        let l = truncate(&format!(" => => # {tail}"), width - TAIL_PAD);
                        lines.push(if self.color {
                            format!("{FAINT}{l}{RESET}")
                        } else {
                            l
                        });
                    }
                }
            }
        }
        lines
    }

    /// Mark the running jobs whose log tail fits on screen, busiest first;
    /// returns the lines the tails take.
    fn choose_tails(&self, t: &Trace, jobs: &mut [Job], all: bool) -> usize {
        if all {
            return 0;
        }
        let in_use = jobs.iter().filter(|j| !j.completed).count() as isize;
        let mut free = self.height as isize - 2 - in_use;
        let limit = (TAIL_LINES + 3) as isize;
        let mut candidates: Vec<usize> = (0..jobs.len())
            .filter(|&k| {
                let j = &jobs[k];
                !j.completed && j.vtx.is_some_and(|i| t.vtxs[i].log_bytes > 0)
            })
            .collect();
        let weight = |k: &usize| {
            jobs[*k].vtx.map_or(0, |i| {
                let v = &t.vtxs[i];
                v.log_bytes + v.tail_shown * 50
            })
        };
        candidates.sort_by_key(|k| std::cmp::Reverse(weight(k)));
        let mut used = 0;
        for k in candidates {
            if free <= limit {
                break;
            }
            let Some(i) = jobs[k].vtx else { continue };
            jobs[k].show_tail = true;
            used += tail_lines(t, i).len();
            free -= limit;
        }
        used
    }
}

/// One job per vertex, status and warning, in display order.
fn jobs(t: &Trace) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &i in &t.order {
        let v = &t.vtxs[i];
        if v.hidden {
            continue;
        }
        let offset = t.offset(v);
        let mut name = clean(&v.name);
        if v.is_canceled() {
            name = format!("CANCELED {name}");
        } else if v.is_failed() {
            name = format!("ERROR {name}");
        }
        if v.cached {
            name = format!("CACHED {name}");
        }
        jobs.push(Job {
            name,
            status: String::new(),
            intervals: v.merged.iter().map(|iv| iv.shifted(offset)).collect(),
            completed: v.is_completed(),
            error: v.is_failed(),
            canceled: v.is_canceled(),
            vtx: Some(i),
            show_tail: false,
        });
        for id in &v.statuses {
            let Some(s) = v.by_id.get(id) else { continue };
            let Some(started) = s.started else { continue };
            let status = if s.total != 0 {
                format!("{} / {}", format_bytes(s.current), format_bytes(s.total))
            } else if s.current != 0 {
                format_bytes(s.current)
            } else {
                String::new()
            };
            jobs.push(Job {
                name: format!("=> {}", clean(id)),
                status,
                intervals: vec![Interval {
                    start: started,
                    stop: s.completed,
                }
                .shifted(offset)],
                completed: s.completed.is_some(),
                error: false,
                canceled: false,
                vtx: None,
                show_tail: false,
            });
        }
        for w in &v.warnings {
            jobs.push(Job {
                name: format!("WARN: {}", clean(w)),
                status: String::new(),
                intervals: v
                    .most_recent()
                    .map(|iv| iv.shifted(offset))
                    .into_iter()
                    .collect(),
                completed: true,
                error: false,
                canceled: true,
                vtx: None,
                show_tail: false,
            });
        }
    }
    jobs
}

/// Keep the last `limit` jobs, but bring running jobs that would scroll off
/// back in place of finished ones (buildkit display.go wrapHeight).
fn wrap_height(jobs: Vec<Job>, limit: usize) -> Vec<Job> {
    if jobs.len() <= limit {
        return jobs;
    }
    let cut = jobs.len() - limit;
    let mut jobs = jobs;
    let kept = jobs.split_off(cut);
    let hidden_running: Vec<Job> = jobs.into_iter().filter(|j| !j.completed).collect();
    if hidden_running.is_empty() {
        return kept;
    }
    // Drop finished jobs from the top of the window to make room.
    let mut room = hidden_running.len();
    let mut window = Vec::with_capacity(kept.len());
    for j in kept {
        if j.completed && room > 0 {
            room -= 1;
        } else {
            window.push(j);
        }
    }
    let freed = hidden_running.len() - room;
    let skip = hidden_running.len() - freed;
    let mut wrapped: Vec<Job> = hidden_running.into_iter().skip(skip).collect();
    wrapped.extend(window);
    wrapped
}

/// The last non-empty log lines of a vertex, without their time prefix.
fn tail_lines(t: &Trace, i: usize) -> Vec<String> {
    let v = &t.vtxs[i];
    let mut lines: Vec<String> = v
        .recent
        .iter()
        .chain(v.partial_line.iter())
        .map(|l| {
            let text = l.splitn(2, |&b| b == b' ').nth(1).unwrap_or_default();
            clean_log(&String::from_utf8_lossy(text))
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    let skip = lines.len().saturating_sub(TAIL_LINES);
    lines.drain(..skip);
    lines
}

/// A name fit for one screen line: tabs as spaces, no control characters.
fn clean(s: &str) -> String {
    strip_escapes(s)
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

/// A log line as a terminal would leave it: what follows the last carriage
/// return (progress bars redraw with `\r`), without escape sequences.
fn clean_log(s: &str) -> String {
    let last = s
        .rsplit('\r')
        .find(|seg| !seg.trim().is_empty())
        .unwrap_or("");
    clean(last)
}

/// Drop ANSI escape sequences (CSI `ESC [ ... final`, and two-byte ones).
pub(super) fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // OSC: up to BEL or ESC \
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// At most `max` characters.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, completed: bool) -> Job {
        Job {
            name: name.to_string(),
            status: String::new(),
            intervals: Vec::new(),
            completed,
            error: false,
            canceled: false,
            vtx: None,
            show_tail: false,
        }
    }

    #[test]
    fn wrap_height_brings_back_running_jobs() {
        let jobs = vec![
            job("run-a", false),
            job("done-b", true),
            job("done-c", true),
            job("done-d", true),
            job("run-e", false),
        ];
        let names: Vec<String> = wrap_height(jobs, 3).into_iter().map(|j| j.name).collect();
        assert_eq!(names, ["run-a", "done-d", "run-e"]);
    }

    #[test]
    fn clean_log_keeps_the_last_redraw_and_drops_escapes() {
        assert_eq!(clean_log("10%\r50%\r\x1b[32m100%\x1b[0m"), "100%");
        assert_eq!(clean("a\tb\x07"), "a b");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
