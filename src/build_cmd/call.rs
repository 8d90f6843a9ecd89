//! The answer to a `--call` (`--check`) subrequest, printed as buildx 0.29
//! prints it (`commands/build.go` `printResult`): `result.json` for
//! `format=json`; for `check` the "Check complete" lines around the
//! frontend's own text; for the others the frontend's `result.txt`. The
//! exit status is the frontend's `result.statuscode` (lint: 1 on warnings)
//! unless `ignorestatus`.
//!
//! The one idea: the frontend already renders its answer (`result.txt` is
//! written by the same printers buildx uses); archgate only frames it, and
//! names the Dockerfile as the user gave it, as buildx's source mapping does.

use std::collections::BTreeMap;

use super::flags::Call;

/// What to print for an answer, and how the run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// For stdout.
    pub text: String,
    /// The frontend reported an error (lint: the Dockerfile does not
    /// parse): for stderr, and the run fails.
    pub error: Option<String>,
    /// The frontend's status code (0 unless it says otherwise, or with
    /// `ignorestatus`).
    pub status: i32,
}

/// Render `answer` (the subrequest result's metadata). `frontend_name` is
/// the Dockerfile's name as the frontend saw it (the `filename` option),
/// `shown` as the user gave it: lint excerpts are headed with it, as
/// buildx's `DockerfileMappingSrc` does.
pub fn render(
    call: &Call,
    answer: &BTreeMap<String, Vec<u8>>,
    frontend_name: &str,
    shown: &str,
) -> Rendered {
    let get = |k: &str| {
        answer
            .get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let json = get("result.json").unwrap_or_default();
    let txt = get("result.txt");
    let mut out = String::new();
    let mut error = None;
    if call.json {
        out.push_str(&json);
        out.push('\n');
    } else if call.name == "lint" {
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let warnings = parsed["warnings"].as_array().map_or(0, Vec::len);
        match warnings {
            0 => {}
            1 => out.push_str("Check complete, 1 warning has been found!\n"),
            n => out.push_str(&format!("Check complete, {n} warnings have been found!\n")),
        }
        if let Some(t) = &txt {
            out.push_str(&map_source_names(t, frontend_name, shown));
        }
        match parsed.get("error").filter(|e| !e.is_null()) {
            Some(e) => {
                error = Some(
                    e["message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string()),
                );
            }
            None if warnings == 0 => out.push_str("Check complete, no warnings found.\n"),
            None => {}
        }
    } else if let Some(t) = txt {
        out.push_str(&t);
    } else {
        let pairs: Vec<String> = answer
            .iter()
            .map(|(k, v)| format!("{k}:{}", String::from_utf8_lossy(v)))
            .collect();
        out.push_str(&format!("{} map[{}]\n", call.name, pairs.join(" ")));
    }
    let status = match get("result.statuscode") {
        Some(v) if !call.ignore_status => v.trim().parse().unwrap_or(0),
        _ => 0,
    };
    Rendered {
        text: out,
        error,
        status,
    }
}

/// Lint excerpts open with `NAME:LINE` (BuildKit's `errdefs.Source.Print`):
/// the frontend's name for the Dockerfile replaced by the user's.
fn map_source_names(text: &str, frontend_name: &str, shown: &str) -> String {
    if frontend_name == shown {
        return text.to_string();
    }
    text.split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches('\n');
            match body
                .strip_prefix(frontend_name)
                .and_then(|r| r.strip_prefix(':'))
            {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("{shown}:{n}{}", &line[body.len()..])
                }
                _ => line.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, json: bool) -> Call {
        Call {
            name: name.into(),
            json,
            ignore_status: false,
        }
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn outline_prints_the_frontends_text_or_json() {
        let m = meta(&[
            ("result.txt", "TARGET: build\n"),
            ("result.json", "{\"name\":\"build\"}"),
        ]);
        let r = render(&call("outline", false), &m, "Dockerfile", "Dockerfile");
        assert_eq!(r.text, "TARGET: build\n");
        assert_eq!(r.status, 0);
        let r = render(&call("outline", true), &m, "Dockerfile", "Dockerfile");
        assert_eq!(r.text, "{\"name\":\"build\"}\n");
    }

    #[test]
    fn lint_frames_the_warnings_and_exits_with_the_status() {
        let m = meta(&[
            ("result.json", "{\"warnings\":[{},{}]}"),
            ("result.txt", "WARNING: X\n\nDockerfile:2\n----\n"),
            ("result.statuscode", "1"),
        ]);
        let r = render(&call("lint", false), &m, "Dockerfile", "ctx/Dockerfile");
        assert_eq!(
            r.text,
            "Check complete, 2 warnings have been found!\nWARNING: X\n\nctx/Dockerfile:2\n----\n"
        );
        assert_eq!(r.status, 1);
        let mut ignore = call("lint", false);
        ignore.ignore_status = true;
        assert_eq!(render(&ignore, &m, "Dockerfile", "Dockerfile").status, 0);
        let clean = meta(&[
            ("result.json", "{\"warnings\":[]}"),
            ("result.txt", ""),
            ("result.statuscode", "0"),
        ]);
        let r = render(&call("lint", false), &clean, "Dockerfile", "Dockerfile");
        assert_eq!(r.text, "Check complete, no warnings found.\n");
        assert_eq!((r.status, r.error), (0, None));
    }

    #[test]
    fn lint_error_is_reported() {
        let m = meta(&[
            ("result.json", "{\"error\":{\"message\":\"parse error\"}}"),
            ("result.statuscode", "1"),
        ]);
        let r = render(&call("lint", false), &m, "Dockerfile", "Dockerfile");
        assert_eq!(r.error.as_deref(), Some("parse error"));
        assert_eq!(r.status, 1);
    }
}
