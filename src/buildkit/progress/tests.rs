//! Golden tests: synthetic `StatusResponse` sequences replayed with a fixed
//! clock, compared with what buildx prints for the same sequence.

use super::*;
use crate::buildkit::proto::control::{VertexStatus, VertexWarning};
use crate::buildkit::proto::pb::ProgressGroup;

/// 2023-11-14T22:13:20Z: daemon times below are milliseconds after this.
const T0: u64 = 1_700_000_000;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        lock_buf(&self.0).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lock_buf(b: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    b.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A progress display with a hand-driven clock.
struct Harness {
    p: Progress,
    buf: Buf,
    clock: Arc<Mutex<SystemTime>>,
}

impl Harness {
    fn new(mode: ProgressMode, is_tty: bool) -> Self {
        let buf = Buf::default();
        let clock = Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(T0)));
        let c = clock.clone();
        let mut p = Progress::with_clock(
            mode,
            Box::new(buf.clone()),
            is_tty,
            Box::new(move || *c.lock().unwrap_or_else(PoisonError::into_inner)),
        );
        p.set_color(false);
        p.set_term_size(80, 25);
        Harness { p, buf, clock }
    }

    fn advance(&self, ms: u64) {
        *self.clock.lock().unwrap_or_else(PoisonError::into_inner) += Duration::from_millis(ms);
    }

    /// One message, 200 ms after the previous one (past the redraw limit).
    fn send(&mut self, resp: StatusResponse) {
        self.advance(200);
        self.p.update(&resp);
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&lock_buf(&self.buf.0)).into_owned()
    }
}

fn ts(ms: i64) -> Timestamp {
    let n = i128::from(T0) * 1_000_000_000 + i128::from(ms) * 1_000_000;
    Timestamp {
        seconds: i64::try_from(n.div_euclid(1_000_000_000)).unwrap_or_default(),
        nanos: i32::try_from(n.rem_euclid(1_000_000_000)).unwrap_or_default(),
    }
}

fn vtx(digest: &str, name: &str, started: Option<i64>, completed: Option<i64>) -> Vertex {
    Vertex {
        digest: digest.into(),
        name: name.into(),
        started: started.map(ts),
        completed: completed.map(ts),
        ..Vertex::default()
    }
}

fn vertexes(v: Vec<Vertex>) -> StatusResponse {
    StatusResponse {
        vertexes: v,
        ..StatusResponse::default()
    }
}

fn log(digest: &str, at: i64, msg: &str) -> StatusResponse {
    StatusResponse {
        logs: vec![VertexLog {
            vertex: digest.into(),
            timestamp: Some(ts(at)),
            stream: 1,
            msg: msg.as_bytes().to_vec(),
        }],
        ..StatusResponse::default()
    }
}

fn status(
    digest: &str,
    id: &str,
    current: i64,
    total: i64,
    at: i64,
    started: i64,
    done: bool,
) -> StatusResponse {
    StatusResponse {
        statuses: vec![VertexStatus {
            id: id.into(),
            vertex: digest.into(),
            current,
            total,
            timestamp: Some(ts(at)),
            started: Some(ts(started)),
            completed: done.then(|| ts(at)),
            ..VertexStatus::default()
        }],
        ..StatusResponse::default()
    }
}

fn strip_ansi(s: &str) -> String {
    tty::strip_escapes(s).replace('\r', "")
}

// ---- plain -----------------------------------------------------------------

#[test]
fn plain_cached_vertex() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    let mut v = vtx(
        "sha256:a",
        "[1/2] FROM docker.io/library/busybox",
        Some(0),
        Some(0),
    );
    v.cached = true;
    h.send(vertexes(vec![v]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [1/2] FROM docker.io/library/busybox\n#1 CACHED\n"
    );
}

#[test]
fn plain_vertex_seen_before_it_starts_prints_once_started() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx("a", "[1/1] RUN true", None, None)]));
    assert_eq!(h.output(), "");
    h.send(vertexes(vec![vtx("a", "[1/1] RUN true", Some(0), None)]));
    // a late copy of the unstarted vertex does not undo the start
    h.send(vertexes(vec![vtx("a", "[1/1] RUN true", None, None)]));
    h.send(vertexes(vec![vtx(
        "a",
        "[1/1] RUN true",
        Some(0),
        Some(260),
    )]));
    h.p.finish();
    assert_eq!(h.output(), "#1 [1/1] RUN true\n#1 DONE 0.3s\n");
}

#[test]
fn plain_log_lines_split_across_messages_are_joined() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx(
        "b",
        "[2/2] RUN echo hello",
        Some(1000),
        None,
    )]));
    h.send(log("b", 1100, "hel"));
    h.send(log("b", 1300, "lo\nwor"));
    h.send(log("b", 1500, "ld\n"));
    h.send(log("b", 12_500, "later\n"));
    h.send(log("b", 102_000, "much later\n"));
    h.send(vertexes(vec![vtx(
        "b",
        "[2/2] RUN echo hello",
        Some(1000),
        Some(103_000),
    )]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [2/2] RUN echo hello\n\
         #1 0.100 hello\n\
         #1 0.300 world\n\
         #1 11.50 later\n\
         #1 101.0 much later\n\
         #1 DONE 102.0s\n"
    );
}

#[test]
fn plain_unfinished_line_is_ended_before_done() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx(
        "b",
        "[1/1] RUN printf x",
        Some(0),
        None,
    )]));
    h.send(log("b", 100, "no newline"));
    h.send(vertexes(vec![vtx(
        "b",
        "[1/1] RUN printf x",
        Some(0),
        Some(200),
    )]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [1/1] RUN printf x\n#1 0.100 no newline\n#1 DONE 0.2s\n"
    );
}

#[test]
fn plain_status_progress_is_throttled() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    let id = "sha256:0123abcd";
    h.send(vertexes(vec![vtx(
        "c",
        "exporting to image",
        Some(0),
        None,
    )]));
    h.send(status("c", id, 0, 1_000_000, 100, 100, false));
    h.send(status("c", id, 20_000, 1_000_000, 600, 100, false)); // +2 %, 0.5 s: held back
    h.send(status("c", id, 100_000, 1_000_000, 1100, 100, false)); // +10 %
    h.send(status("c", id, 120_000, 1_000_000, 7000, 100, false)); // +2 %, but 5.9 s later
    h.send(status("c", id, 1_000_000, 1_000_000, 7500, 100, true)); // done: always
    h.send(vertexes(vec![vtx(
        "c",
        "exporting to image",
        Some(0),
        Some(8000),
    )]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 exporting to image\n\
         #1 sha256:0123abcd 0B / 1.00MB\n\
         #1 sha256:0123abcd 100.00kB / 1.00MB 1.0s\n\
         #1 sha256:0123abcd 120.00kB / 1.00MB 6.9s\n\
         #1 sha256:0123abcd 1.00MB / 1.00MB 7.4s done\n\
         #1 DONE 8.0s\n"
    );
}

#[test]
fn plain_statuses_are_keyed_by_vertex_and_id() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![
        vtx("a", "[internal] load build context", Some(0), None),
        vtx("b", "[internal] load .dockerignore", Some(0), Some(50)),
    ]));
    h.send(status("a", "transferring context:", 0, 0, 100, 100, false));
    // the same ID on another vertex is not throttled by the first one
    h.send(status("b", "transferring context:", 10, 0, 120, 100, false));
    h.p.finish();
    let out = h.output();
    assert!(out.contains("#2 transferring context:\n"), "{out}");
    assert!(out.contains("#1 transferring context: 10B 0.0s"), "{out}");
}

#[test]
fn plain_error_vertex_and_summary() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    let name = "[3/3] RUN false";
    h.send(vertexes(vec![vtx("d", name, Some(0), None)]));
    h.send(log("d", 500, "oops\n"));
    let mut failed = vtx("d", name, Some(0), Some(1000));
    failed.error =
        "process \"/bin/sh -c false\" did not complete successfully: exit code: 1".into();
    h.send(vertexes(vec![failed]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [3/3] RUN false\n\
         #1 0.500 oops\n\
         #1 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n\
         ------\n \
         > [3/3] RUN false:\n\
         0.500 oops\n\
         ------\n"
    );
}

#[test]
fn plain_error_summary_keeps_the_last_ten_lines() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx(
        "d",
        "[1/1] RUN seq 12; false",
        Some(0),
        None,
    )]));
    let all: String = (1..=12).map(|i| format!("{i}\n")).collect();
    h.send(log("d", 100, &all));
    let mut failed = vtx("d", "[1/1] RUN seq 12; false", Some(0), Some(200));
    failed.error = "exit code: 1".into();
    h.send(vertexes(vec![failed]));
    h.p.finish();
    let out = h.output();
    let summary = out.split("------\n").nth(1).unwrap_or_default();
    let expected: String = std::iter::once(" > [1/1] RUN seq 12; false:\n".to_string())
        .chain((3..=12).map(|i| format!("0.100 {i}\n")))
        .collect();
    assert_eq!(summary, expected);
}

#[test]
fn plain_canceled_vertex() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx(
        "e",
        "[2/3] RUN sleep 100",
        Some(0),
        None,
    )]));
    let mut canceled = vtx("e", "[2/3] RUN sleep 100", Some(0), Some(300));
    canceled.error = "failed to run: context canceled".into();
    h.send(vertexes(vec![canceled]));
    h.p.finish();
    // canceled vertices have no error summary
    assert_eq!(h.output(), "#1 [2/3] RUN sleep 100\n#1 CANCELED\n");
}

#[test]
fn plain_interleaved_vertices_get_continuation_headers() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![
        vtx("a", "[a 1/1] RUN a", Some(0), None),
        vtx("b", "[b 1/1] RUN b", Some(0), None),
    ]));
    h.send(log("a", 100, "a1\n"));
    h.advance(11_000); // b has waited more than 10 s for the output
    h.send(log("a", 11_500, "a2\n"));
    h.send(log("b", 11_600, "b1\n"));
    h.send(vertexes(vec![vtx(
        "a",
        "[a 1/1] RUN a",
        Some(0),
        Some(12_000),
    )]));
    h.send(vertexes(vec![vtx(
        "b",
        "[b 1/1] RUN b",
        Some(0),
        Some(13_000),
    )]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [a 1/1] RUN a\n\
         #1 0.100 a1\n\
         #1 11.50 a2\n\
         #1 ...\n\
         \n\
         #2 [b 1/1] RUN b\n\
         #2 11.60 b1\n\
         #2 ...\n\
         \n\
         #1 [a 1/1] RUN a\n\
         #1 DONE 12.0s\n\
         \n\
         #2 [b 1/1] RUN b\n\
         #2 DONE 13.0s\n"
    );
}

#[test]
fn plain_numbers_vertices_in_order_of_first_print() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    // "late" is seen first but starts second
    h.send(vertexes(vec![
        vtx("late", "[2/2] RUN b", None, None),
        vtx("early", "[1/2] RUN a", Some(0), Some(100)),
    ]));
    h.send(vertexes(vec![vtx(
        "late",
        "[2/2] RUN b",
        Some(200),
        Some(300),
    )]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [1/2] RUN a\n#1 DONE 0.1s\n\n#2 [2/2] RUN b\n#2 DONE 0.1s\n"
    );
}

#[test]
fn plain_vertex_run_twice_sums_its_intervals() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx("x", "[1/1] RUN x", Some(0), Some(1000))]));
    h.send(vertexes(vec![vtx("x", "[1/1] RUN x", Some(5000), None)]));
    h.send(vertexes(vec![vtx(
        "x",
        "[1/1] RUN x",
        Some(5000),
        Some(5500),
    )]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [1/1] RUN x\n#1 DONE 1.0s\n\n#1 [1/1] RUN x\n#1 DONE 1.5s\n"
    );
}

#[test]
fn plain_warning() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx(
        "w",
        "[internal] load build definition from Dockerfile",
        Some(0),
        None,
    )]));
    h.send(StatusResponse {
        warnings: vec![VertexWarning {
            vertex: "w".into(),
            level: 1,
            short: b"FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)".to_vec(),
            ..VertexWarning::default()
        }],
        ..StatusResponse::default()
    });
    h.send(vertexes(vec![vtx(
        "w",
        "[internal] load build definition from Dockerfile",
        Some(0),
        Some(100),
    )]));
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [internal] load build definition from Dockerfile\n\
         #1 WARN: FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n\
         #1 DONE 0.1s\n"
    );
}

#[test]
fn plain_archgate_steps() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.advance(200);
    let ok = h.p.step_start("[archgate] check linux/arm64");
    h.advance(200);
    h.p.step_log(ok, "entrypoint /app: ELF aarch64");
    h.advance(200);
    h.p.step_done(ok, None);
    h.advance(200);
    let bad = h.p.step_start("[archgate] check linux/amd64");
    h.advance(200);
    h.p.step_log(bad, "entrypoint /app: ELF aarch64\n");
    h.advance(200);
    h.p.step_done(
        bad,
        Some("linux/amd64: /app is an arm64 binary (arch-mismatch)"),
    );
    h.p.finish();
    assert_eq!(
        h.output(),
        "#1 [archgate] check linux/arm64\n\
         #1 0.200 entrypoint /app: ELF aarch64\n\
         #1 DONE 0.4s\n\
         \n\
         #2 [archgate] check linux/amd64\n\
         #2 0.200 entrypoint /app: ELF aarch64\n\
         #2 ERROR: linux/amd64: /app is an arm64 binary (arch-mismatch)\n\
         ------\n \
         > [archgate] check linux/amd64:\n\
         0.200 entrypoint /app: ELF aarch64\n\
         ------\n"
    );
}

#[test]
fn plain_messages_faster_than_the_redraw_limit_wait_for_a_tick() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    h.send(vertexes(vec![vtx("a", "[1/1] RUN a", Some(0), None)]));
    h.p.update(&log("a", 100, "first\n")); // same instant: held back
    assert_eq!(h.output(), "#1 [1/1] RUN a\n");
    h.p.tick();
    assert_eq!(h.output(), "#1 [1/1] RUN a\n#1 0.100 first\n");
}

#[test]
fn plain_progress_group_shows_as_one_vertex() {
    let mut h = Harness::new(ProgressMode::Plain, false);
    let group = |weak| {
        Some(ProgressGroup {
            id: "g1".into(),
            name: "[2/2] COPY --link app /app".into(),
            weak,
        })
    };
    let mut weak = vtx("m1", "merge", Some(0), None);
    weak.progress_group = group(true);
    h.send(vertexes(vec![weak.clone()]));
    assert_eq!(h.output(), "", "a group with only weak members is hidden");
    let mut strong = vtx("m2", "copy", Some(100), Some(400));
    strong.progress_group = group(false);
    weak.completed = Some(ts(500));
    h.send(vertexes(vec![strong, weak]));
    h.p.finish();
    assert_eq!(h.output(), "#1 [2/2] COPY --link app /app\n#1 DONE 0.5s\n");
}

// ---- tty -------------------------------------------------------------------

#[test]
fn tty_frame_shows_vertices_timers_and_log_tail() {
    let mut h = Harness::new(ProgressMode::Tty, true);
    assert_eq!(h.p.mode(), ProgressMode::Tty);
    let mut cached = vtx(
        "a",
        "[1/3] FROM docker.io/library/busybox",
        Some(0),
        Some(0),
    );
    cached.cached = true;
    h.send(vertexes(vec![
        cached,
        vtx("b", "[2/3] RUN make", Some(0), None),
        vtx("c", "[3/3] COPY out /out", None, None),
    ]));
    h.send(log("b", 100, "compiling main.c\nlinking\n"));
    h.advance(1000);
    h.p.tick();
    let out = h.output();
    let frames: Vec<&str> = out.split("\x1b[?25l").filter(|f| !f.is_empty()).collect();
    let last = strip_ansi(frames.last().copied().unwrap_or_default());
    let lines: Vec<&str> = last.lines().collect();
    // the daemon clock is mapped to ours when the first vertex starts (200 ms)
    assert_eq!(lines[0], "[+] Building 1.2s (1/3)");
    assert!(
        lines[1].starts_with(" => CACHED [1/3] FROM docker.io/library/busybox "),
        "{last}"
    );
    assert!(lines[1].ends_with(" 0.0s"), "{last}");
    assert!(lines[2].starts_with(" => [2/3] RUN make "), "{last}");
    assert!(lines[2].ends_with(" 1.2s"), "{last}");
    assert_eq!(lines[3], " => => # compiling main.c");
    assert_eq!(lines[4], " => => # linking");
    assert_eq!(lines.len(), 5, "the unstarted vertex has no line: {last}");
    assert!(lines.iter().all(|l| l.chars().count() <= 79), "{last}");
    // each later frame first moves up over the previous one
    assert!(frames[1].starts_with("\x1b[3A"), "{:?}", frames[1]);
    assert!(frames.last().is_some_and(|f| f.starts_with("\x1b[5A")));
}

#[test]
fn tty_final_frame_and_error_logs() {
    let mut h = Harness::new(ProgressMode::Tty, true);
    h.send(vertexes(vec![vtx("a", "[1/2] RUN ok", Some(0), Some(300))]));
    h.send(vertexes(vec![vtx("b", "[2/2] RUN false", Some(300), None)]));
    h.send(log("b", 400, "boom\n"));
    let mut failed = vtx("b", "[2/2] RUN false", Some(300), Some(600));
    failed.error = "exit code: 1".into();
    h.send(vertexes(vec![failed]));
    let id = h.p.step_start("[archgate] check linux/arm64");
    h.advance(300);
    h.p.step_done(id, None);
    h.p.finish();
    let out = h.output();
    let final_frame = strip_ansi(out.rsplit("\x1b[?25l").next().unwrap_or_default());
    let lines: Vec<&str> = final_frame.lines().collect();
    assert!(lines[0].starts_with("[+] Building "), "{final_frame}");
    assert!(lines[0].ends_with("(3/3) FINISHED"), "{final_frame}");
    assert!(
        lines[1].starts_with(" => [1/2] RUN ok ") && lines[1].ends_with(" 0.3s"),
        "{final_frame}"
    );
    assert!(lines[2].starts_with(" => ERROR [2/2] RUN false ") && lines[2].ends_with(" 0.3s"));
    assert!(
        lines[3].starts_with(" => [archgate] check linux/arm64 ") && lines[3].ends_with(" 0.3s")
    );
    assert_eq!(
        lines[4..],
        ["------", " > [2/2] RUN false:", "0.100 boom", "------"]
    );
    // nothing after finish
    h.p.update(&log("b", 700, "late\n"));
    h.p.tick();
    assert_eq!(h.output(), out);
}

#[test]
fn tty_frame_fits_the_terminal() {
    let mut h = Harness::new(ProgressMode::Tty, true);
    h.p.set_term_size(40, 10);
    let long = "[stage-1 4/9] RUN apt-get update && apt-get install -y build-essential";
    let vs: Vec<Vertex> = (0..30)
        .map(|i| {
            vtx(
                &format!("v{i}"),
                &format!("<{i}> {long}"),
                Some(0),
                (i < 25).then_some(100),
            )
        })
        .collect();
    h.send(vertexes(vs));
    h.send(log(
        "v29",
        100,
        "Get:1 http://deb.debian.org/debian trixie InRelease [140 kB]\n",
    ));
    let out = h.output();
    let frame = strip_ansi(out.rsplit("\x1b[?25l").next().unwrap_or_default());
    let lines: Vec<&str> = frame.lines().collect();
    assert!(lines.len() <= 9, "{} lines: {frame}", lines.len());
    assert!(lines.iter().all(|l| l.chars().count() <= 39), "{frame}");
    // running vertices are kept on screen even when finished ones scroll off
    for i in 25..30 {
        assert!(frame.contains(&format!(" => <{i}> ")), "{frame}");
    }
    assert!(lines[0].contains("(25/30)"), "{frame}");
}

#[test]
fn absurd_timestamps_do_not_panic() {
    for (mode, tty) in [
        (ProgressMode::Tty, true),
        (ProgressMode::Plain, false),
        (ProgressMode::Rawjson, false),
    ] {
        let mut h = Harness::new(mode, tty);
        let far = Timestamp {
            seconds: i64::MAX,
            nanos: i32::MAX,
        };
        let past = Timestamp {
            seconds: i64::MIN,
            nanos: i32::MIN,
        };
        let mut v = vtx("a", "[1/1] RUN a", None, None);
        v.started = Some(past);
        h.send(vertexes(vec![v.clone()]));
        let mut l = log("a", 0, "x\ny");
        l.logs[0].timestamp = Some(far);
        h.send(l);
        h.send(status("a", "s", i64::MAX, i64::MIN, 0, 0, false));
        h.send(status("a", "s", i64::MIN, i64::MAX, 1, 0, false));
        v.completed = Some(far);
        h.send(vertexes(vec![v]));
        h.p.tick();
        h.p.finish();
        assert!(!h.output().is_empty());
    }
}

#[test]
fn tty_mode_without_a_terminal_falls_back_to_plain() {
    let mut h = Harness::new(ProgressMode::Tty, false);
    assert_eq!(h.p.mode(), ProgressMode::Plain);
    h.send(vertexes(vec![vtx("a", "[1/1] RUN a", Some(0), Some(100))]));
    assert_eq!(h.output(), "#1 [1/1] RUN a\n#1 DONE 0.1s\n");
    assert_eq!(
        Harness::new(ProgressMode::Auto, true).p.mode(),
        ProgressMode::Tty
    );
    assert_eq!(
        Harness::new(ProgressMode::Auto, false).p.mode(),
        ProgressMode::Plain
    );
}

// ---- quiet, rawjson, modes, follow --------------------------------------------

#[test]
fn quiet_prints_nothing() {
    let mut h = Harness::new(ProgressMode::Quiet, true);
    let mut failed = vtx("a", "[1/1] RUN false", Some(0), Some(100));
    failed.error = "exit code: 1".into();
    h.send(vertexes(vec![failed]));
    h.send(log("a", 50, "x\n"));
    let id = h.p.step_start("[archgate] check linux/amd64");
    h.p.step_log(id, "x");
    h.p.step_done(id, Some("bad"));
    h.p.tick();
    h.p.finish();
    assert_eq!(h.output(), "");
}

#[test]
fn rawjson_lines_parse_as_buildkit_solve_status() {
    let mut h = Harness::new(ProgressMode::Rawjson, true);
    let mut v = vtx("sha256:a", "[1/1] RUN echo hi", Some(0), None);
    v.inputs = vec!["sha256:b".into()];
    h.send(vertexes(vec![v]));
    h.send(log("sha256:a", 120, "hi\n"));
    h.send(status("sha256:a", "layer", 5, 10, 130, 100, true));
    let id = h.p.step_start("[archgate] check linux/amd64");
    h.p.step_done(id, Some("arch-mismatch"));
    h.p.finish();
    let out = h.output();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 5);
    let v = &lines[0]["vertexes"][0];
    assert_eq!(v["digest"], "sha256:a");
    assert_eq!(v["inputs"][0], "sha256:b");
    assert_eq!(v["name"], "[1/1] RUN echo hi");
    assert_eq!(v["started"], "2023-11-14T22:13:20Z");
    assert!(v.get("completed").is_none() && v.get("cached").is_none());
    let l = &lines[1]["logs"][0];
    assert_eq!(l["data"], "aGkK");
    assert_eq!(l["stream"], 1);
    assert_eq!(l["timestamp"], "2023-11-14T22:13:20.12Z");
    let s = &lines[2]["statuses"][0];
    assert_eq!(
        (s["id"].as_str(), s["current"].as_i64(), s["total"].as_i64()),
        (Some("layer"), Some(5), Some(10))
    );
    assert_eq!(lines[4]["vertexes"][0]["error"], "arch-mismatch");
    assert!(lines[4]["vertexes"][0]["completed"].is_string());
}

#[test]
fn progress_mode_parses_buildx_spellings() {
    for (s, m) in [
        ("auto", ProgressMode::Auto),
        ("plain", ProgressMode::Plain),
        ("tty", ProgressMode::Tty),
        ("quiet", ProgressMode::Quiet),
        ("rawjson", ProgressMode::Rawjson),
    ] {
        assert_eq!(s.parse::<ProgressMode>(), Ok(m));
        assert_eq!(m.to_string(), s);
    }
    let err = "fancy".parse::<ProgressMode>().err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("invalid progress mode \"fancy\": expected auto, plain, tty, quiet or rawjson")
    );
}

/// `follow` runs in a spawned task next to the solve: its future must be
/// Send (checked when this compiles).
#[test]
fn follow_is_send() {
    fn future_is_send<F: std::future::Future + Send>(
        _: fn(tonic::Streaming<StatusResponse>, Arc<Mutex<Progress>>) -> F,
    ) {
    }
    future_is_send(follow);
}

#[tokio::test]
async fn follow_feeds_the_stream_and_returns_its_error() {
    let h = Harness::new(ProgressMode::Plain, false);
    let buf = h.buf.clone();
    let clock = h.clock.clone();
    let progress = Arc::new(Mutex::new(h.p));
    let items = vec![
        Ok(vertexes(vec![vtx("a", "[1/1] RUN a", Some(0), Some(100))])),
        Ok(vertexes(vec![vtx("b", "[archgate] b", Some(0), Some(200))])),
    ];
    // the second message arrives in the same instant: printed at finish
    follow_stream(futures::stream::iter(items), progress.clone())
        .await
        .ok();
    *clock.lock().unwrap_or_else(PoisonError::into_inner) += Duration::from_secs(1);
    lock(&progress).finish();
    let out = String::from_utf8_lossy(&lock_buf(&buf.0)).into_owned();
    assert_eq!(
        out,
        "#1 [1/1] RUN a\n#1 DONE 0.1s\n\n#2 [archgate] b\n#2 DONE 0.2s\n"
    );

    let failing = vec![Err(tonic::Status::unavailable("daemon went away"))];
    let res = follow_stream(futures::stream::iter(failing), progress).await;
    assert_eq!(res.err().map(|s| s.code()), Some(tonic::Code::Unavailable));
}

#[test]
fn terminal_size_asks_only_terminals() {
    let f = tempfile::tempfile().unwrap();
    assert_eq!(terminal_size(&f), None);
    // Following something that is no terminal keeps the size set before.
    let mut h = Harness::new(ProgressMode::Tty, true);
    h.p.set_term_size(33, 7);
    h.p.follow_terminal(f);
    assert_eq!((h.p.screen.width, h.p.screen.height), (33, 7));
}

/// The view's size when stderr is no terminal: `COLUMNS`/`LINES` (each on
/// its own), else 80x25. The environment's values are passed in, so no
/// test sets the process's environment.
#[test]
fn term_size_falls_back_to_columns_and_lines_then_80x25() {
    assert_eq!(term_size_from(None, None), (80, 25));
    assert_eq!(term_size_from(Some("120"), None), (120, 25));
    assert_eq!(term_size_from(None, Some("40")), (80, 40));
    assert_eq!(term_size_from(Some(" 100 "), Some("50")), (100, 50));
    assert_eq!(term_size_from(Some("0"), Some("tall")), (80, 25));
    // Following something that is no terminal keeps that size.
    let mut h = Harness::new(ProgressMode::Tty, true);
    let (w, l) = term_size_from(Some("120"), None);
    h.p.set_term_size(w, l);
    h.p.follow_terminal(tempfile::tempfile().unwrap());
    assert_eq!((h.p.screen.width, h.p.screen.height), (120, 25));
}
