//! The Dockerfile line behind a failed gate: for a platform whose program
//! failed, the lint finding that explains it (an error for that platform),
//! else the instruction that wrote the failing path into the image.

use super::model::{Kind, Model};
use super::{lint_model, Options};
use crate::inspect::verdict::SourceLine;
use crate::inspect::{gate_fails, Platform, PlatformReport};

/// The line for `platform`, built from `text` (the Dockerfile named
/// `file`, built with `target`), whose program at `path` (as resolved in
/// the image) failed. `None` when the file does not parse or nothing in it
/// can be tied to the failure.
pub fn explain(
    file: &str,
    text: &str,
    platform: &Platform,
    target: Option<&str>,
    path: &str,
) -> Option<SourceLine> {
    // A Dockerfile from an image's provenance is not trusted: past the size
    // `archgate lint` reads, it explains nothing.
    if text.len() as u64 > super::MAX_DOCKERFILE_BYTES {
        return None;
    }
    let m = Model::parse(text, target).ok()?;
    explain_model(file, text, &m, platform, target, path)
}

/// Each platform of `reports` that fails the gate gets its line
/// (`explain`), the Dockerfile read once; none when it does not parse.
pub fn attach(
    file: &str,
    text: &str,
    target: Option<&str>,
    strict: bool,
    reports: &mut [PlatformReport],
) {
    if text.len() as u64 > super::MAX_DOCKERFILE_BYTES {
        return;
    }
    let Ok(m) = Model::parse(text, target) else {
        return;
    };
    for r in reports.iter_mut().filter(|r| gate_fails(r.verdict, strict)) {
        let Ok(platform) = Platform::parse(&r.platform) else {
            continue;
        };
        let program = if r.resolved.is_empty() {
            r.program.clone()
        } else {
            r.resolved.clone()
        };
        r.source = explain_model(file, text, &m, &platform, target, &program);
    }
}

fn explain_model(
    file: &str,
    text: &str,
    m: &Model,
    platform: &Platform,
    target: Option<&str>,
    path: &str,
) -> Option<SourceLine> {
    let first_line = |n: u32| {
        text.lines()
            .nth(n.saturating_sub(1) as usize)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let opts = Options {
        platforms: vec![platform.clone()],
        target: target.map(str::to_string),
    };
    if let Some(f) = lint_model(m, &opts)
        .into_iter()
        .find(|f| f.severity == super::Severity::Error)
    {
        return Some(SourceLine {
            file: Some(file.to_string()),
            line: Some(f.line),
            end_line: Some(f.end_line),
            layer: None,
            history: None,
            rule: Some(f.rule.to_string()),
            message: f.message,
            instruction: first_line(f.line),
        });
    }
    for &s in &m.chain(m.final_stage) {
        let insts = &m.stages[s].instructions;
        for (k, i) in insts.iter().enumerate().rev() {
            let wrote = match i.kind {
                Kind::Copy | Kind::Add => {
                    let workdir = workdir_before(m, s, k);
                    i.paths
                        .split_last()
                        .is_some_and(|(dest, srcs)| writes(srcs, dest, &workdir, path))
                }
                _ => false,
            };
            if wrote {
                return Some(SourceLine {
                    file: Some(file.to_string()),
                    line: Some(i.lines.start),
                    end_line: Some(i.lines.end),
                    layer: None,
                    history: None,
                    rule: None,
                    message: format!("this instruction put {path} in the image"),
                    instruction: first_line(i.lines.start),
                });
            }
        }
    }
    None
}

/// The WORKDIR in effect before instruction `k` of stage `s` (its own, or
/// inherited from the stage it is built on; `/` when none).
fn workdir_before(m: &Model, s: usize, k: usize) -> String {
    let mut chain = m.chain(s).to_vec();
    chain.reverse();
    let mut wd = String::from("/");
    for &c in &chain {
        let upto = if c == s {
            k
        } else {
            m.stages[c].instructions.len()
        };
        for i in &m.stages[c].instructions[..upto] {
            if i.kind == Kind::Other("WORKDIR") {
                let w = i.text.trim();
                wd = if w.starts_with('/') {
                    w.to_string()
                } else {
                    format!("{}/{w}", wd.trim_end_matches('/'))
                };
            }
        }
    }
    wd
}

/// Whether a COPY/ADD of `srcs` to `dest` (relative to `workdir`) wrote
/// `path`: the destination itself, or a folder holding it that one of the
/// sources names by its file name (`COPY . .` could hold anything: not
/// claimed).
fn writes(srcs: &[String], dest: &str, workdir: &str, path: &str) -> bool {
    let abs = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", workdir.trim_end_matches('/'))
    };
    let folder = dest.ends_with('/') || dest == "." || srcs.len() > 1;
    let d = abs.trim_end_matches(['/', '.']).trim_end_matches('/');
    if !folder {
        return path == d;
    }
    let Some(name) = path.strip_prefix(&format!("{d}/")) else {
        return false;
    };
    srcs.iter()
        .any(|s| s.trim_end_matches('/').rsplit('/').next() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm64() -> Platform {
        Platform::parse("linux/arm64").unwrap()
    }

    #[test]
    fn the_rule_that_explains_it_else_the_copy_that_wrote_it() {
        let text = "FROM golang AS build\nRUN CGO_ENABLED=0 GOARCH=amd64 go build -o /app\nFROM scratch\nCOPY --from=build /app /usr/bin/app\nENTRYPOINT [\"app\"]\n";
        let s = explain("Dockerfile", text, &arm64(), None, "/usr/bin/app").unwrap();
        assert_eq!(
            (s.line, s.end_line, s.rule.as_deref()),
            (Some(2), Some(2), Some("FixedGoArch"))
        );
        assert_eq!(
            s.instruction,
            "RUN CGO_ENABLED=0 GOARCH=amd64 go build -o /app"
        );
        // Built for amd64, the fixed GOARCH is no error: the COPY is named.
        let amd = Platform::parse("linux/amd64").unwrap();
        let s = explain("Dockerfile", text, &amd, None, "/usr/bin/app").unwrap();
        assert_eq!((s.line, s.rule), (Some(4), None));
        let copied = "FROM scratch\nCOPY app /bin/\nENTRYPOINT [\"/bin/app\"]\n";
        let s = explain("D", copied, &arm64(), None, "/bin/app").unwrap();
        assert_eq!((s.line, s.rule), (Some(2), None));
        assert_eq!(s.message, "this instruction put /bin/app in the image");
        assert!(explain("D", copied, &arm64(), None, "/usr/bin/other").is_none());
        // A copy of an amd64 file is the rule's.
        let suffixed = "FROM scratch\nCOPY app-amd64 /app\n";
        let s = explain("D", suffixed, &arm64(), None, "/app").unwrap();
        assert_eq!(s.rule.as_deref(), Some("ArchSuffixedCopy"));
        assert!(explain("D", "BOGUS\n", &arm64(), None, "/x").is_none());
    }

    #[test]
    fn destinations_that_hold_a_path() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(writes(&v(&["app"]), "/app", "/", "/app"));
        assert!(writes(
            &v(&["build/tool"]),
            "/usr/local/bin/",
            "/",
            "/usr/local/bin/tool"
        ));
        assert!(writes(&v(&["x"]), "bin/x", "/", "/bin/x"));
        assert!(writes(&v(&["x"]), "x", "/srv", "/srv/x"));
        assert!(!writes(&v(&["app"]), "/app", "/", "/application"));
        // Review finding: `COPY . .` was said to have written anything.
        assert!(!writes(&v(&["."]), ".", "/app", "/usr/local/bin/x"));
        assert!(!writes(&v(&["."]), ".", "/app", "/app/x"));
    }

    #[test]
    fn workdir_is_followed_through_the_stages() {
        let text = "FROM a AS base\nWORKDIR /srv\nFROM base\nWORKDIR bin\nCOPY tool .\n";
        let s = explain("D", text, &arm64(), None, "/srv/bin/tool").unwrap();
        assert_eq!(s.line, Some(5));
    }
}
