//! `archgate lint`'s report: for people (BuildKit-style excerpts with `>>>`
//! on the instruction), JSON, SARIF 2.1.0 and GitHub annotations; and its
//! exit code (0 clean or warnings only, 1 an error finding, or a warning
//! with `--strict`, 2 a file that could not be read or parsed).

use serde_json::{json, Value};

use super::rules::RULES;
use super::{Finding, ParseError, Severity};
use crate::inspect::Exit;
use crate::report::machine::escape;
use crate::report::Format;

/// One linted file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    pub findings: Vec<Finding>,
    /// Why the file could not be linted (unreadable, does not parse).
    pub error: Option<String>,
    /// The error's line, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_line: Option<u32>,
    /// The file's lines, for excerpts.
    #[serde(skip)]
    pub lines: Vec<String>,
}

impl FileReport {
    /// A file linted: its findings (or the parse error) and its text.
    pub fn new(path: String, text: &str, result: Result<Vec<Finding>, ParseError>) -> Self {
        let lines = text.lines().map(str::to_string).collect();
        match result {
            Ok(findings) => FileReport {
                path,
                findings,
                error: None,
                error_line: None,
                lines,
            },
            Err(e) => FileReport {
                path,
                findings: Vec::new(),
                error: Some(e.message),
                error_line: Some(e.line),
                lines,
            },
        }
    }

    /// A file that could not be read.
    pub fn unreadable(path: String, error: String) -> Self {
        FileReport {
            path,
            findings: Vec::new(),
            error: Some(error),
            error_line: None,
            lines: Vec::new(),
        }
    }
}

/// Every file of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LintReport {
    pub files: Vec<FileReport>,
    pub errors: usize,
    pub warnings: usize,
}

impl LintReport {
    pub fn new(files: Vec<FileReport>) -> Self {
        let count = |s| {
            files
                .iter()
                .flat_map(|f| &f.findings)
                .filter(|f| f.severity == s)
                .count()
        };
        LintReport {
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            files,
        }
    }

    /// The exit code: could not decide when a file could not be linted,
    /// else gate failed on an error finding (or any with `strict`).
    pub fn exit(&self, strict: bool) -> Exit {
        if self.files.iter().any(|f| f.error.is_some()) {
            Exit::Undecided
        } else if self.errors > 0 || (strict && self.warnings > 0) {
            Exit::GateFailed
        } else {
            Exit::Pass
        }
    }
}

/// Render `report` in `format`.
pub fn render(report: &LintReport, format: Format) -> String {
    match format {
        Format::Human => human(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).expect("reports always serialise");
            s.push('\n');
            s
        }
        Format::Sarif => sarif(report),
        Format::Github => github(report),
    }
}

/// Lines `start..=end` with one line of context each side, the
/// instruction's marked `>>>`, as BuildKit shows a Dockerfile location.
fn excerpt(lines: &[String], start: u32, end: u32) -> String {
    let (start, end) = (start as usize, end as usize);
    if start == 0 || start > lines.len() {
        return String::new();
    }
    let from = start.saturating_sub(1).max(1);
    let to = (end + 1).min(lines.len());
    let width = to.to_string().len();
    let mut out = String::from(" --------------------\n");
    for n in from..=to {
        let mark = if (start..=end).contains(&n) {
            ">>>"
        } else {
            "   "
        };
        out.push_str(&format!(" {n:>width$} | {mark} {}\n", lines[n - 1]));
    }
    out.push_str(" --------------------\n");
    out
}

fn human(report: &LintReport) -> String {
    let mut out = String::new();
    for f in &report.files {
        if let Some(e) = &f.error {
            match f.error_line {
                Some(l) => {
                    out.push_str(&format!("{}:{l}: cannot lint: {e}\n", f.path));
                    out.push_str(&excerpt(&f.lines, l, l));
                }
                None => out.push_str(&format!("{}: cannot lint: {e}\n", f.path)),
            }
            continue;
        }
        for x in &f.findings {
            out.push_str(&format!(
                "{}:{}: {} {}: {}\n",
                f.path,
                x.line,
                x.severity.as_str(),
                x.rule,
                x.message
            ));
            out.push_str(&excerpt(&f.lines, x.line, x.end_line));
        }
    }
    let unread = report.files.iter().filter(|f| f.error.is_some()).count();
    out.push_str(&format!(
        "{} file{} linted: {} error{}, {} warning{}{}\n",
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        report.errors,
        if report.errors == 1 { "" } else { "s" },
        report.warnings,
        if report.warnings == 1 { "" } else { "s" },
        if unread > 0 {
            format!(", {unread} not linted")
        } else {
            String::new()
        }
    ));
    out
}

fn sarif(report: &LintReport) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.doc},
                "help": {"text": r.doc},
                "defaultConfiguration": {"level": "error"},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .files
        .iter()
        .flat_map(|f| {
            f.findings.iter().map(move |x| {
                json!({
                    "ruleId": x.rule,
                    "level": x.severity.as_str(),
                    "message": {"text": x.message},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": crate::report::machine::sarif_uri(&f.path)},
                        "region": {"startLine": x.line, "endLine": x.end_line},
                    }}],
                })
            })
        })
        .collect();
    let notes: Vec<Value> = report
        .files
        .iter()
        .filter_map(|f| {
            let e = f.error.as_ref()?;
            let mut loc = json!({"physicalLocation": {"artifactLocation": {"uri": crate::report::machine::sarif_uri(&f.path)}}});
            if let Some(l) = f.error_line {
                loc["physicalLocation"]["region"] = json!({"startLine": l});
            }
            Some(json!({"level": "error", "message": {"text": e}, "locations": [loc]}))
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "archgate",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": notes.is_empty(),
                "toolExecutionNotifications": notes,
            }],
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).expect("SARIF always serialises");
    s.push('\n');
    s
}

fn github(report: &LintReport) -> String {
    let mut out = String::new();
    for f in &report.files {
        let file = escape(&f.path, true);
        if let Some(e) = &f.error {
            let line = f
                .error_line
                .map(|l| format!(",line={l}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "::error file={file}{line},title=archgate lint::{}\n",
                escape(e, false)
            ));
        }
        for x in &f.findings {
            out.push_str(&format!(
                "::{} file={file},line={},endLine={},title={}::{}\n",
                x.severity.as_str(),
                x.line,
                x.end_line,
                escape(&format!("archgate {}", x.rule), true),
                escape(&x.message, false)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> LintReport {
        let text = "FROM golang AS b\nRUN GOARCH=amd64 \\\n  go build -o /app .\nFROM scratch\nCOPY --from=b /app /app\n";
        let f = Finding {
            rule: "FixedGoArch",
            severity: Severity::Error,
            line: 2,
            end_line: 3,
            stage: "b".into(),
            message: "GOARCH=amd64 fixes it, 100%".into(),
        };
        LintReport::new(vec![
            FileReport::new("app/Dockerfile".into(), text, Ok(vec![f])),
            FileReport::new(
                "bad/Dockerfile".into(),
                "FROM a\nBOGUS\n",
                Err(ParseError {
                    line: 2,
                    message: "unknown instruction 'BOGUS'".into(),
                }),
            ),
        ])
    }

    #[test]
    fn human_shows_the_instruction_as_buildkit_does() {
        let s = render(&report(), Format::Human);
        assert!(
            s.starts_with("app/Dockerfile:2: error FixedGoArch: GOARCH=amd64"),
            "{s}"
        );
        assert!(
            s.contains("   1 |     FROM golang AS b\n")
                || s.contains(" 1 |     FROM golang AS b\n"),
            "{s}"
        );
        assert!(s.contains(" 2 | >>> RUN GOARCH=amd64 \\\n"), "{s}");
        assert!(s.contains(" 3 | >>>   go build -o /app .\n"), "{s}");
        assert!(s.contains(" 4 |     FROM scratch\n"), "{s}");
        assert!(
            s.contains("bad/Dockerfile:2: cannot lint: unknown instruction 'BOGUS'"),
            "{s}"
        );
        assert!(
            s.ends_with("2 files linted: 1 error, 0 warnings, 1 not linted\n"),
            "{s}"
        );
        assert_eq!(report().exit(false), Exit::Undecided);
    }

    #[test]
    fn sarif_has_rules_results_and_ranges() {
        let v: Value = serde_json::from_str(&render(&report(), Format::Sarif)).unwrap();
        let run = &v["runs"][0];
        assert_eq!(v["version"], "2.1.0");
        assert!(run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "FixedGoArch"));
        let r = &run["results"][0];
        assert_eq!(r["ruleId"], "FixedGoArch");
        assert_eq!(r["level"], "error");
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert_eq!(
            (region["startLine"].as_u64(), region["endLine"].as_u64()),
            (Some(2), Some(3))
        );
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    }

    #[test]
    fn github_annotations_carry_file_and_lines() {
        let s = render(&report(), Format::Github);
        assert!(s.contains(
            "::error file=app/Dockerfile,line=2,endLine=3,title=archgate FixedGoArch::GOARCH=amd64 fixes it, 100%25\n"
        ), "{s}");
        assert!(s.contains("::error file=bad/Dockerfile,line=2,title=archgate lint::unknown instruction 'BOGUS'\n"), "{s}");
    }

    #[test]
    fn exit_codes() {
        let clean = LintReport::new(vec![FileReport::new("D".into(), "FROM a\n", Ok(vec![]))]);
        assert_eq!(clean.exit(true), Exit::Pass);
        let mut warn = report();
        warn.files.truncate(1);
        warn.files[0].findings[0].severity = Severity::Warning;
        let warn = LintReport::new(warn.files);
        assert_eq!(warn.exit(false), Exit::Pass);
        assert_eq!(warn.exit(true), Exit::GateFailed);
    }
}
