//! `--progress rawjson`: each `StatusResponse` as one line of JSON, shaped
//! like buildkit's Go `client.SolveStatus` (`client/graph.go`) so tools that
//! read `docker buildx build --progress rawjson` can read ours.
//!
//! The one idea: mirror Go's encoding rules where they show: `omitempty`
//! fields left out when empty, `[]byte` as base64, times as RFC 3339 with
//! nanoseconds in UTC (Go's zero time where a non-optional time is missing).

use prost_types::Timestamp;
use serde_json::{json, Map, Value};

use crate::buildkit::proto::control::{
    StatusResponse, Vertex, VertexLog, VertexStatus, VertexWarning,
};

/// The JSON line for one message, newline included.
pub(super) fn line(resp: &StatusResponse) -> String {
    let mut obj = Map::new();
    if !resp.vertexes.is_empty() {
        obj.insert(
            "vertexes".into(),
            resp.vertexes.iter().map(vertex).collect(),
        );
    }
    if !resp.statuses.is_empty() {
        obj.insert(
            "statuses".into(),
            resp.statuses.iter().map(status).collect(),
        );
    }
    if !resp.logs.is_empty() {
        obj.insert("logs".into(), resp.logs.iter().map(log).collect());
    }
    if !resp.warnings.is_empty() {
        obj.insert(
            "warnings".into(),
            resp.warnings.iter().map(warning).collect(),
        );
    }
    let mut s = Value::Object(obj).to_string();
    s.push('\n');
    s
}

fn vertex(v: &Vertex) -> Value {
    let mut o = Map::new();
    put_str(&mut o, "digest", &v.digest);
    if !v.inputs.is_empty() {
        o.insert("inputs".into(), json!(v.inputs));
    }
    put_str(&mut o, "name", &v.name);
    put_time(&mut o, "started", v.started.as_ref());
    put_time(&mut o, "completed", v.completed.as_ref());
    if v.cached {
        o.insert("cached".into(), Value::Bool(true));
    }
    put_str(&mut o, "error", &v.error);
    if let Some(g) = &v.progress_group {
        let mut go = Map::new();
        put_str(&mut go, "id", &g.id);
        put_str(&mut go, "name", &g.name);
        if g.weak {
            go.insert("weak".into(), Value::Bool(true));
        }
        o.insert("progressGroup".into(), Value::Object(go));
    }
    Value::Object(o)
}

fn status(s: &VertexStatus) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(s.id));
    put_str(&mut o, "vertex", &s.vertex);
    put_str(&mut o, "name", &s.name);
    if s.total != 0 {
        o.insert("total".into(), json!(s.total));
    }
    o.insert("current".into(), json!(s.current));
    o.insert("timestamp".into(), json!(rfc3339(s.timestamp.as_ref())));
    put_time(&mut o, "started", s.started.as_ref());
    put_time(&mut o, "completed", s.completed.as_ref());
    Value::Object(o)
}

fn log(l: &VertexLog) -> Value {
    let mut o = Map::new();
    put_str(&mut o, "vertex", &l.vertex);
    if l.stream != 0 {
        o.insert("stream".into(), json!(l.stream));
    }
    o.insert("data".into(), json!(base64(&l.msg)));
    o.insert("timestamp".into(), json!(rfc3339(l.timestamp.as_ref())));
    Value::Object(o)
}

fn warning(w: &VertexWarning) -> Value {
    let mut o = Map::new();
    put_str(&mut o, "vertex", &w.vertex);
    if w.level != 0 {
        o.insert("level".into(), json!(w.level));
    }
    if !w.short.is_empty() {
        o.insert("short".into(), json!(base64(&w.short)));
    }
    if !w.detail.is_empty() {
        let detail: Vec<String> = w.detail.iter().map(|d| base64(d)).collect();
        o.insert("detail".into(), json!(detail));
    }
    put_str(&mut o, "url", &w.url);
    Value::Object(o)
}

fn put_str(o: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        o.insert(key.into(), Value::String(value.to_string()));
    }
}

fn put_time(o: &mut Map<String, Value>, key: &str, ts: Option<&Timestamp>) {
    if ts.is_some() {
        o.insert(key.into(), Value::String(rfc3339(ts)));
    }
}

/// Go's `time.RFC3339Nano` in UTC: fraction without trailing zeros, none
/// when zero; a missing time is Go's zero time.
pub(super) fn rfc3339(ts: Option<&Timestamp>) -> String {
    let Some(ts) = ts else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let secs = i128::from(ts.seconds) + i128::from(ts.nanos).div_euclid(1_000_000_000);
    let nanos = i128::from(ts.nanos).rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// (year, month, day) of a day count since 1970-01-01 in the proleptic
/// Gregorian calendar, by 400-year eras of 146097 days.
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // day of era, 0..146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1
    let mp = (5 * doy + 2) / 153; // month from March, 0..11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    (y, m, d)
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
pub(super) fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"hello\n"), "aGVsbG8K");
    }

    #[test]
    fn rfc3339_formats_like_go() {
        let ts = |seconds, nanos| Some(Timestamp { seconds, nanos });
        assert_eq!(rfc3339(ts(0, 0).as_ref()), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(ts(1_700_000_000, 120_000_000).as_ref()),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(
            rfc3339(ts(951_782_400, 1).as_ref()),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(rfc3339(ts(-1, 0).as_ref()), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    }
}
