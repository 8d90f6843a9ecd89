//! archgate's lint findings inside BuildKit: every build shows them as
//! BuildKit warnings on the Dockerfile's lines (buildx prints the
//! excerpt), and `docker buildx build --check` (the `frontend.lint`
//! subrequest) lists them beside BuildKit's own checks, in the answer's
//! own shape (buildkit `frontend/subrequests/lint/lint.go`: `result.json`
//! with `warnings` and `sources`, `result.txt`, `result.statuscode`), so
//! buildx prints and counts them as it does BuildKit's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{json, Value};

use super::dockerfile::Dockerfile;
use crate::buildkit::gateway::Gateway;
use crate::buildkit::proto::gateway as gw;
use crate::inspect::Platform;
use crate::lint::{lint_text, rules, Finding, Options};

/// The subrequest `--check` sends (`frontend/subrequests/lint/lint.go`).
pub const REQUEST_LINT: &str = "frontend.lint";
/// The version of the answer's format archgate writes (the same file).
const LINT_VERSION: &str = "1.0.0";
const MD_JSON: &str = "result.json";
const MD_TXT: &str = "result.txt";
const MD_STATUS: &str = "result.statuscode";
const MD_VERSION: &str = "version";

/// archgate's findings on the Dockerfile, built for `platforms` (the
/// daemon's default when none were asked) and `target`. A Dockerfile
/// archgate cannot parse has none: BuildKit's parser says what is wrong.
pub fn findings(df: &Dockerfile, platforms: &[Platform], target: Option<&str>) -> Vec<Finding> {
    let opts = Options {
        platforms: platforms.to_vec(),
        target: target.map(str::to_string),
    };
    lint_text(&df.text, &opts).unwrap_or_default()
}

/// A finding's one line, as BuildKit words its own checks'
/// (`RULE: MESSAGE (line N)`, buildkit `frontend/dockerfile/linter`).
fn short(f: &Finding) -> String {
    format!("{}: {} (line {})", f.rule, f.message, f.line)
}

fn summary(f: &Finding) -> &'static str {
    rules::rule(f.rule).map_or("", |r| r.summary)
}

/// Each finding as a warning on the vertex that read the Dockerfile, with
/// its lines (or, without the warnings cap, in the daemon's log).
pub async fn warn(gw: &Gateway, can_warn: bool, df: &Dockerfile, findings: &[Finding]) {
    for f in findings {
        let line = short(f);
        let sent = if can_warn {
            gw.warn(
                &df.vertex,
                &line,
                &[summary(f).to_string()],
                Some(&df.at(f.line, f.end_line)),
            )
            .await
            .map_err(|s| s.to_string())
        } else {
            Err("the daemon takes no warnings".to_string())
        };
        if let Err(e) = sent {
            tracing::warn!("{line} (not shown to the client: {e})");
        }
    }
}

/// Add archgate's findings to the Dockerfile frontend's `frontend.lint`
/// answer. An answer archgate cannot read is returned unchanged, with a
/// log line. (A Dockerfile frontend without lint, as BuildKit v0.13's
/// builtin, answers with an error that goes back as it came: buildx then
/// asks a Dockerfile frontend image that has it, BuildKit's checks
/// without archgate's, rather than archgate's alone.)
pub fn check_answer(answer: gw::Result, df: &Dockerfile, findings: &[Finding]) -> gw::Result {
    let mut res = answer;
    // BuildKit v0.13's builtin answers a request it does not know with a
    // plain build result (no `result.json`); buildx then says the request
    // is unsupported. Only a lint answer gets archgate's findings.
    let Some(raw) = res.metadata.get(MD_JSON).filter(|_| !findings.is_empty()) else {
        return res;
    };
    let mut doc = match serde_json::from_slice::<Value>(raw) {
        Ok(v) if v.is_object() => v,
        _ => {
            tracing::warn!(
                "the Dockerfile frontend's {MD_JSON} is not a lint result: left as it is"
            );
            return res;
        }
    };
    merge(&mut doc, df, findings);
    let warnings = doc["warnings"].as_array().map_or(0, Vec::len);
    let failed_build = doc.get("buildError").is_some_and(|e| !e.is_null());
    res.metadata.insert(MD_TXT.into(), text(&doc).into_bytes());
    res.metadata.insert(
        MD_JSON.into(),
        serde_json::to_vec_pretty(&doc).unwrap_or_default(),
    );
    res.metadata.insert(
        MD_STATUS.into(),
        if warnings > 0 || failed_build {
            "1"
        } else {
            "0"
        }
        .into(),
    );
    res.metadata
        .entry(MD_VERSION.into())
        .or_insert_with(|| LINT_VERSION.into());
    res
}

/// Append the findings to a lint result's `warnings`, pointing at the
/// Dockerfile's entry in `sources` (the Dockerfile frontend's own entry
/// when it is the same file, else a new one).
fn merge(doc: &mut Value, df: &Dockerfile, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    if !doc["sources"].is_array() {
        doc["sources"] = json!([]);
    }
    if !doc["warnings"].is_array() {
        doc["warnings"] = json!([]);
    }
    let sources = doc["sources"].as_array_mut().expect("set above");
    let same = |s: &Value| {
        s["fileName"].as_str() == Some(df.name.as_str())
            && s["data"]
                .as_str()
                .and_then(|d| b64.decode(d).ok())
                .is_some_and(|d| d == df.info.data)
    };
    let index = match sources.iter().position(same) {
        Some(i) => i,
        None => {
            sources.push(json!({
                "fileName": df.name,
                "language": "Dockerfile",
                "definition": null,
                "data": b64.encode(&df.info.data),
            }));
            sources.len() - 1
        }
    };
    let warnings = doc["warnings"].as_array_mut().expect("set above");
    for f in findings {
        warnings.push(json!({
            "ruleName": f.rule,
            "description": summary(f),
            "detail": f.message,
            "location": {
                "sourceIndex": index,
                "ranges": [{"start": {"line": f.line}, "end": {"line": f.end_line}}],
            },
        }));
    }
}

/// `result.txt`: the warnings grouped by rule, each with its file, line
/// and excerpt (the layout BuildKit's own lint answer has).
fn text(doc: &Value) -> String {
    let empty = Vec::new();
    let sources = doc["sources"].as_array().unwrap_or(&empty);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut by_rule: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for w in doc["warnings"].as_array().unwrap_or(&empty) {
        by_rule
            .entry(w["ruleName"].as_str().unwrap_or(""))
            .or_default()
            .push(w);
    }
    let mut out = String::new();
    for (rule, list) in by_rule {
        let _ = writeln!(out, "Lint Rule {rule}");
        for w in list {
            let loc = &w["location"];
            let src = loc["sourceIndex"]
                .as_u64()
                .and_then(|i| sources.get(usize::try_from(i).ok()?));
            let name = src.and_then(|s| s["fileName"].as_str()).unwrap_or("");
            let data = src
                .and_then(|s| s["data"].as_str())
                .and_then(|d| b64.decode(d).ok())
                .unwrap_or_default();
            let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
            let ranges = loc["ranges"].as_array().unwrap_or(&empty);
            let span = |r: &Value| {
                let n = |k: &str| r[k]["line"].as_u64().unwrap_or(0);
                (n("start"), n("end"))
            };
            match ranges.first().map(span) {
                Some((a, b)) if a != b => {
                    let _ = writeln!(out, "\t{name}:{a}-{b}");
                }
                Some((a, _)) => {
                    let _ = writeln!(out, "\t{name}:{a}");
                }
                None => {
                    let _ = writeln!(out, "\t{name}");
                }
            }
            let _ = writeln!(out, "\t{}", w["detail"].as_str().unwrap_or(""));
            for (a, b) in ranges.iter().map(span) {
                for n in a.max(1)..=b {
                    let line = usize::try_from(n - 1)
                        .ok()
                        .and_then(|i| lines.get(i))
                        .map(|l| String::from_utf8_lossy(l).into_owned())
                        .unwrap_or_default();
                    let _ = writeln!(out, "\t{n}\t|\t{line}");
                }
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::proto::pb::SourceInfo;

    const TEXT: &str = "FROM golang AS build\nRUN CGO_ENABLED=0 GOARCH=amd64 \\\n  go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n";

    fn df() -> Dockerfile {
        Dockerfile {
            name: "Dockerfile".into(),
            text: TEXT.into(),
            vertex: "sha256:00".into(),
            info: SourceInfo {
                filename: "Dockerfile".into(),
                data: TEXT.as_bytes().to_vec(),
                definition: None,
                language: "Dockerfile".into(),
            },
        }
    }

    fn arm64() -> Vec<Platform> {
        vec![Platform::parse("linux/arm64").unwrap()]
    }

    fn json_of(res: &gw::Result) -> Value {
        serde_json::from_slice(&res.metadata[MD_JSON]).unwrap()
    }

    #[test]
    fn findings_are_those_of_archgate_lint_for_the_build() {
        let f = findings(&df(), &arm64(), None);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].rule, f[0].line, f[0].end_line), ("FixedGoArch", 2, 3));
        assert!(
            short(&f[0]).starts_with("FixedGoArch: "),
            "{}",
            short(&f[0])
        );
        assert!(short(&f[0]).ends_with(" (line 2)"));
        let mut broken = df();
        broken.text = "FROM\n".into();
        assert!(findings(&broken, &arm64(), None).is_empty());
    }

    #[test]
    fn the_answer_buildkit_gives_gets_archgates_findings_on_its_own_source() {
        let b64 = base64::engine::general_purpose::STANDARD;
        // What BuildKit's lint answer looks like: one warning of its own,
        // its Dockerfile as source 0.
        let theirs = json!({
            "warnings": [{"ruleName": "FromAsCasing", "description": "d", "detail": "x",
                          "location": {"sourceIndex": 0, "ranges": [{"start": {"line": 1}, "end": {"line": 1}}]}}],
            "sources": [{"fileName": "Dockerfile", "language": "Dockerfile",
                         "definition": {"def": []}, "data": b64.encode(TEXT)}],
        });
        let mut answer = gw::Result::default();
        answer
            .metadata
            .insert(MD_JSON.into(), serde_json::to_vec(&theirs).unwrap());
        answer.metadata.insert(MD_STATUS.into(), b"1".to_vec());
        answer.metadata.insert(MD_VERSION.into(), b"1.0.0".to_vec());
        let f = findings(&df(), &arm64(), None);
        let res = check_answer(answer, &df(), &f);
        let doc = json_of(&res);
        assert_eq!(
            doc["sources"].as_array().unwrap().len(),
            1,
            "same file, one source"
        );
        let w = &doc["warnings"][1];
        assert_eq!(w["ruleName"], "FixedGoArch");
        assert_eq!(w["location"]["sourceIndex"], 0);
        assert_eq!(w["location"]["ranges"][0]["start"]["line"], 2);
        assert_eq!(w["location"]["ranges"][0]["end"]["line"], 3);
        // BuildKit's own warning and source are kept as they were.
        assert_eq!(doc["warnings"][0], theirs["warnings"][0]);
        assert_eq!(doc["sources"][0]["definition"], json!({"def": []}));
        assert_eq!(res.metadata[MD_STATUS], b"1");
        let txt = String::from_utf8(res.metadata[MD_TXT].clone()).unwrap();
        assert!(
            txt.contains("Lint Rule FixedGoArch\n\tDockerfile:2-3\n"),
            "{txt}"
        );
        assert!(
            txt.contains(
                "\t2\t|\tRUN CGO_ENABLED=0 GOARCH=amd64 \\\n\t3\t|\t  go build -o /app .\n"
            ),
            "{txt}"
        );
        assert!(txt.find("Lint Rule FixedGoArch") < txt.find("Lint Rule FromAsCasing"));
    }

    #[test]
    fn only_a_lint_answer_gets_the_findings() {
        let f = findings(&df(), &arm64(), None);
        // Not a lint answer (BuildKit v0.13's builtin): left as it is.
        let plain = gw::Result::default();
        assert_eq!(check_answer(plain.clone(), &df(), &f), plain);
        // A clean lint answer: archgate's finding makes it status 1.
        let mut clean = gw::Result::default();
        clean.metadata.insert(
            MD_JSON.into(),
            br#"{"warnings":null,"sources":null}"#.to_vec(),
        );
        clean.metadata.insert(MD_STATUS.into(), b"0".to_vec());
        let res = check_answer(clean.clone(), &df(), &f);
        let doc = json_of(&res);
        assert_eq!(doc["warnings"].as_array().unwrap().len(), 1);
        assert_eq!(doc["sources"][0]["fileName"], "Dockerfile");
        assert_eq!(res.metadata[MD_STATUS], b"1");
        assert_eq!(res.metadata[MD_VERSION], b"1.0.0");
        // Nothing found: the answer as it was.
        assert_eq!(check_answer(clean.clone(), &df(), &[]), clean);
    }

    #[test]
    fn a_source_that_differs_is_a_source_of_its_own() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let theirs = json!({"warnings": [], "sources": [{"fileName": "Dockerfile", "data": b64.encode("FROM other\n")}]});
        let mut answer = gw::Result::default();
        answer
            .metadata
            .insert(MD_JSON.into(), serde_json::to_vec(&theirs).unwrap());
        let f = findings(&df(), &arm64(), None);
        let doc = json_of(&check_answer(answer, &df(), &f));
        assert_eq!(doc["sources"].as_array().unwrap().len(), 2);
        assert_eq!(doc["warnings"][0]["location"]["sourceIndex"], 1);
    }

    #[test]
    fn an_answer_that_is_not_a_lint_result_is_left_alone() {
        let mut answer = gw::Result::default();
        answer.metadata.insert(MD_JSON.into(), b"[1,2".to_vec());
        let f = findings(&df(), &arm64(), None);
        let res = check_answer(answer.clone(), &df(), &f);
        assert_eq!(res, answer);
    }
}
