//! Machine formats beyond JSON: SARIF 2.1.0 for code-scanning uploads and
//! GitHub Actions workflow-command annotations.
//!
//! The one idea: one result per platform that did not pass, keyed by the
//! stable reason code, so tools can group and suppress by rule; with
//! `--deep`, one more per file that did not pass (role `file`), naming it.

use crate::inspect::verdict::{Check, PlatformReport, Reason, Role};
use crate::inspect::{Report, Verdict};
use serde_json::{json, Value};

const RULES: &[(Reason, &str)] = &[
    (
        Reason::ArchMismatch,
        "A program is built for another CPU architecture than its platform",
    ),
    (
        Reason::OsMismatch,
        "A program is built for another operating system than its platform",
    ),
    (
        Reason::VariantMismatch,
        "A program needs a newer ARM architecture level than its platform",
    ),
    (
        Reason::LoaderMissing,
        "A dynamically linked program's ELF loader is missing from the image",
    ),
    (
        Reason::NotFound,
        "A program the image would run does not exist in it",
    ),
    (
        Reason::NotExecutable,
        "A program the image would run has no execute permission",
    ),
    (
        Reason::NotAProgram,
        "A program the image would run is neither a binary nor a #! script",
    ),
    (Reason::SymlinkLoop, "A program's path is a symlink loop"),
    (
        Reason::BadInvocation,
        "The runtime or a program refuses how it is invoked and runs nothing",
    ),
    (
        Reason::Compat32bit,
        "A 32-bit program on a 64-bit platform needs 32-bit support",
    ),
    (
        Reason::VariantUnknown,
        "Nothing shows which ARM level a program needs",
    ),
    (Reason::NoCommand, "The image has no ENTRYPOINT or CMD"),
];

fn findings(report: &Report) -> impl Iterator<Item = (&str, &PlatformReport)> {
    report.images.iter().flat_map(|i| {
        i.platforms
            .iter()
            .filter(|p| p.verdict != Verdict::Pass)
            .map(move |p| (i.image.as_str(), p))
    })
}

/// `--deep`'s files that did not pass, with their image and platform.
fn file_findings(report: &Report) -> impl Iterator<Item = (&str, &PlatformReport, &Check)> {
    findings(report).flat_map(|(image, p)| {
        p.checks
            .iter()
            .filter(|c| c.role == Role::File && c.verdict != Verdict::Pass)
            .map(move |c| (image, p, c))
    })
}

fn file_text(image: &str, p: &PlatformReport, c: &Check) -> String {
    format!("{image} {}: file {}: {}", p.platform, c.path, c.message)
}

fn level(v: Verdict) -> &'static str {
    match v {
        Verdict::Fail => "error",
        Verdict::Warn => "warning",
        _ => "note",
    }
}

fn text(image: &str, p: &PlatformReport) -> String {
    let mut s = format!("{image} {}: {}", p.platform, p.message);
    if let Some(h) = &p.hint {
        s.push_str(&format!(" (hint: {h})"));
    }
    // A source with a Dockerfile line is the result's location; one from
    // the image's history has none, so the message names it.
    if let Some(src) = p.source.as_ref().filter(|s| s.dockerfile_line().is_none()) {
        s.push_str(&format!(" (history: {}; {})", src.instruction, src.message));
    }
    s
}

/// A file path as a SARIF `artifactLocation.uri` (SARIF 2.1.0 3.4.3: a
/// URI reference): every byte but RFC 3986's unreserved characters and
/// `/` percent-encoded, so `#`, `?`, `%` and spaces stay part of the path.
pub(crate) fn sarif_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A platform's SARIF location: the image and platform, and the Dockerfile
/// line when the report names one, else the image itself.
fn location(image: &str, p: &PlatformReport) -> Value {
    let physical = match p.source.as_ref().and_then(|s| s.dockerfile_line()) {
        Some((file, line, end_line)) => json!({
            "artifactLocation": {"uri": sarif_uri(file)},
            "region": {"startLine": line, "endLine": end_line},
        }),
        None => image_location(image),
    };
    json!({
        "physicalLocation": physical,
        "logicalLocations": [{
            "name": p.platform,
            "fullyQualifiedName": format!("{image}@{}", p.platform),
            "kind": "resource"
        }]
    })
}

/// The physical location of a finding no Dockerfile line explains: the
/// image, as its reference (transport prefix dropped), line 1. GitHub code
/// scanning refuses a whole SARIF upload when one result has no physical
/// location (github/codeql-action upload-sarif's validation), and image
/// scanners report an image this way.
fn image_location(image: &str) -> Value {
    let name = image.strip_prefix("docker://").unwrap_or(image);
    json!({
        "artifactLocation": {"uri": sarif_uri(name)},
        "region": {"startLine": 1},
    })
}

/// SARIF 2.1.0 log.
pub fn sarif(report: &Report) -> String {
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|(r, d)| json!({"id": r.as_str(), "shortDescription": {"text": d}}))
        .collect();
    // Every ruleId a result uses is a rule of the driver.
    rules.push(json!({"id": "image-unreadable", "shortDescription": {"text": "the image could not be read or checked"}}));
    let mut results: Vec<Value> = findings(report)
        .map(|(image, p)| {
            json!({
                "ruleId": p.reason.as_str(),
                "level": level(p.verdict),
                "message": {"text": text(image, p)},
                "locations": [location(image, p)],
                "properties": {"image": image, "platform": p.platform, "program": p.program, "resolved": p.resolved}
            })
        })
        .collect();
    for (image, p, c) in file_findings(report) {
        results.push(json!({
            "ruleId": c.reason.as_str(),
            "level": level(c.verdict),
            "message": {"text": file_text(image, p, c)},
            "locations": [{
                "physicalLocation": image_location(image),
                "logicalLocations": [{
                    "name": c.path,
                    "fullyQualifiedName": format!("{image}@{}:{}", p.platform, c.path),
                    "kind": "resource"
                }]
            }],
            "properties": {"image": image, "platform": p.platform, "role": "file", "file": c.path}
        }));
    }
    for i in report.images.iter().filter(|i| i.error.is_some()) {
        results.push(json!({
            "ruleId": "image-unreadable",
            "level": "error",
            "message": {"text": format!("{}: {}", i.image, i.error.as_deref().unwrap_or(""))},
            "locations": [{"physicalLocation": image_location(&i.image)}],
        }));
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "archgate", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results
        }]
    });
    let mut s = serde_json::to_string_pretty(&log).expect("sarif serialises");
    s.push('\n');
    s
}

/// Escape a workflow-command property or message (GitHub's `%`, CR, LF, and
/// for properties `:` and `,`).
/// Escape text for a GitHub workflow command (a message, or with
/// `property` a property value).
pub(crate) fn escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
        // Other control characters (an image's history may hold ESC
        // sequences) would reach the runner's log raw: shown as U+FFFD.
        .replace(|c: char| c.is_control(), "\u{fffd}");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// GitHub Actions annotations, one line per platform that did not pass.
pub fn github(report: &Report) -> String {
    let mut out = String::new();
    for (image, p) in findings(report) {
        let kind = match p.verdict {
            Verdict::Fail => "error",
            Verdict::Warn => "warning",
            _ => "notice",
        };
        let title = escape(
            &format!("archgate {} {}", p.platform, p.reason.as_str()),
            true,
        );
        let place = p
            .source
            .as_ref()
            .and_then(|s| s.dockerfile_line())
            .map(|(file, line, end_line)| {
                format!(
                    "file={},line={line},endLine={end_line},",
                    escape(file, true)
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "::{kind} {place}title={title}::{}\n",
            escape(&text(image, p), false)
        ));
    }
    for (image, p, c) in file_findings(report) {
        let kind = match c.verdict {
            Verdict::Fail => "error",
            _ => "warning",
        };
        let title = escape(
            &format!("archgate {} {} {}", p.platform, c.reason.as_str(), c.path),
            true,
        );
        out.push_str(&format!(
            "::{kind} title={title}::{}\n",
            escape(&file_text(image, p, c), false)
        ));
    }
    for i in report.images.iter().filter(|i| i.error.is_some()) {
        let msg = format!("{}: {}", i.image, i.error.as_deref().unwrap_or(""));
        out.push_str(&format!(
            "::error title=archgate::{}\n",
            escape(&msg, false)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::ImageReport;

    fn report() -> Report {
        let p = PlatformReport {
            platform: "linux/arm64".into(),
            verdict: Verdict::Fail,
            reason: Reason::ArchMismatch,
            message: "entrypoint /app: x86-64\nbinary".into(),
            program: "/app".into(),
            resolved: "/app".into(),
            checks: vec![],
            notes: vec![],
            hint: Some("use TARGETARCH".into()),
            digest: None,
            check_micros: None,
            source: None,
            deep: None,
        };
        Report::new(vec![ImageReport {
            image: "oci:x".into(),
            platforms: vec![p],
            error: None,
        }])
    }

    /// `archgate build`'s failing platform names its Dockerfile line in
    /// every format.
    /// Red-team findings: a SARIF uri held `#`, `?` and `%` raw, and ESC
    /// bytes from an image's history reached GitHub annotations.
    #[test]
    fn sarif_uris_are_uri_references_and_annotations_carry_no_controls() {
        assert_eq!(sarif_uri("app/Dockerfile"), "app/Dockerfile");
        assert_eq!(
            sarif_uri("odd name #1?%.Dockerfile"),
            "odd%20name%20%231%3F%25.Dockerfile"
        );
        assert_eq!(sarif_uri("é"), "%C3%A9");
        assert_eq!(escape("a\u{1b}[31mred", false), "a\u{fffd}[31mred");
        assert_eq!(escape("50%\n:x,", true), "50%25%0A%3Ax%2C");
    }

    #[test]
    fn the_dockerfile_line_is_a_location() {
        let mut r = report();
        r.images[0].platforms[0].source = Some(crate::inspect::verdict::SourceLine {
            file: Some("ctx/Dockerfile".into()),
            line: Some(3),
            end_line: Some(4),
            layer: None,
            history: None,
            rule: Some("FixedGoArch".into()),
            message: "GOARCH=amd64 fixes it".into(),
            instruction: "RUN GOARCH=amd64 \\".into(),
        });
        let g = github(&r);
        assert!(
            g.starts_with(
                "::error file=ctx/Dockerfile,line=3,endLine=4,title=archgate linux/arm64"
            ),
            "{g}"
        );
        let v: Value = serde_json::from_str(&sarif(&r)).unwrap();
        let loc = &v["runs"][0]["results"][0]["locations"][0];
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"],
            "ctx/Dockerfile"
        );
        assert_eq!(loc["physicalLocation"]["region"]["startLine"], 3);
        assert_eq!(loc["logicalLocations"][0]["name"], "linux/arm64");
        let h = crate::report::human::platform(&r.images[0].platforms[0], false);
        assert!(
            h.contains("    line: ctx/Dockerfile:3: RUN GOARCH=amd64 \\\n"),
            "{h}"
        );
        assert!(
            h.contains("          FixedGoArch: GOARCH=amd64 fixes it\n"),
            "{h}"
        );
    }

    /// `archgate check` without the Dockerfile names the history entry:
    /// no Dockerfile line anywhere (SARIF's location is the image), the
    /// instruction in every format.
    #[test]
    fn a_history_source_has_no_dockerfile_location_but_is_named() {
        let mut r = report();
        r.images[0].platforms[0].source = Some(crate::inspect::verdict::SourceLine {
            file: None,
            line: None,
            end_line: None,
            layer: Some(1),
            history: Some(3),
            rule: None,
            message: "this instruction put /app in the image (layer 2 of 2)".into(),
            instruction: "COPY app-amd64 /app # buildkit".into(),
        });
        let g = github(&r);
        assert!(
            g.starts_with("::error title=archgate linux/arm64 arch-mismatch::"),
            "{g}"
        );
        assert!(
            g.trim_end().ends_with(
                "(history: COPY app-amd64 /app # buildkit; this instruction put /app in the image (layer 2 of 2))"
            ),
            "{g}"
        );
        let v: Value = serde_json::from_str(&sarif(&r)).unwrap();
        let res = &v["runs"][0]["results"][0];
        assert_eq!(
            res["locations"][0]["physicalLocation"],
            json!({"artifactLocation": {"uri": sarif_uri(&r.images[0].image)}, "region": {"startLine": 1}}),
            "{res}"
        );
        assert_eq!(
            res["locations"][0]["logicalLocations"][0]["name"],
            "linux/arm64"
        );
        assert!(res["message"]["text"]
            .as_str()
            .unwrap()
            .contains("history: COPY app-amd64 /app # buildkit"));
        let h = crate::report::human::platform(&r.images[0].platforms[0], false);
        assert!(
            h.contains("    history: COPY app-amd64 /app # buildkit\n          this instruction put /app in the image (layer 2 of 2)\n"),
            "{h}"
        );
        let j: Value = serde_json::to_value(&r).unwrap();
        let src = &j["images"][0]["platforms"][0]["source"];
        assert_eq!(
            src,
            &serde_json::json!({"layer": 1, "history": 3,
                "message": "this instruction put /app in the image (layer 2 of 2)",
                "instruction": "COPY app-amd64 /app # buildkit"})
        );
    }

    #[test]
    fn github_lines_are_escaped() {
        let g = github(&report());
        assert_eq!(g.lines().count(), 1);
        assert!(
            g.starts_with("::error title=archgate linux/arm64 arch-mismatch::oci:x linux/arm64")
        );
        assert!(g.contains("%0A"));
    }

    fn deep_report() -> Report {
        let mut r = report();
        let p = &mut r.images[0].platforms[0];
        p.checks.push(Check {
            role: Role::File,
            path: "/usr/lib/libx.so".into(),
            resolved: "/usr/lib/libx.so".into(),
            chain: vec!["/usr/lib/libx.so".into()],
            verdict: Verdict::Fail,
            reason: Reason::ArchMismatch,
            message: "/usr/lib/libx.so is an ELF 64-bit LSB binary for amd64".into(),
            binary: None,
        });
        r
    }

    #[test]
    fn deep_files_are_results_and_annotations_of_their_own() {
        let v: Value = serde_json::from_str(&sarif(&deep_report())).unwrap();
        let results = v["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[1]["ruleId"], "arch-mismatch");
        assert_eq!(results[1]["properties"]["file"], "/usr/lib/libx.so");
        assert!(results[1]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("file /usr/lib/libx.so"));
        let g = github(&deep_report());
        assert_eq!(g.lines().count(), 2, "{g}");
        assert!(g.lines().nth(1).unwrap().starts_with(
            "::error title=archgate linux/arm64 arch-mismatch /usr/lib/libx.so::oci:x linux/arm64: file /usr/lib/libx.so"
        ), "{g}");
    }

    #[test]
    fn sarif_has_rule_and_result() {
        let v: Value = serde_json::from_str(&sarif(&report())).unwrap();
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["runs"][0]["results"][0]["ruleId"], "arch-mismatch");
        assert_eq!(v["runs"][0]["results"][0]["level"], "error");
    }

    /// Every result's ruleId is a rule of the driver, and every result has
    /// a physical location (what code scanning requires), an unreadable
    /// image's included.
    #[test]
    fn every_result_names_a_known_rule_and_a_file() {
        let mut r = report();
        r.images.push(ImageReport {
            image: "oci:broken".into(),
            platforms: Vec::new(),
            error: Some("index.json: not JSON".into()),
        });
        let v: Value = serde_json::from_str(&sarif(&r)).unwrap();
        let rules: Vec<&str> = v["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let results = v["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        for res in results {
            assert!(rules.contains(&res["ruleId"].as_str().unwrap()), "{res}");
            assert!(
                res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string(),
                "{res}"
            );
        }
    }
}
