//! The Dockerfile line behind a failed gate: for a platform whose program
//! failed, the lint finding that explains it (an error for that platform),
//! else the instruction that wrote the failing path into the image.

use super::model::{Inst, Kind, Model};
use super::{lint_model, Finding, Options};
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
    let errors: Vec<Finding> = lint_model(m, &opts)
        .into_iter()
        .filter(|f| f.severity == super::Severity::Error)
        .collect();
    let from_rule = |f: &Finding| SourceLine {
        file: Some(file.to_string()),
        line: Some(f.line),
        end_line: Some(f.end_line),
        layer: None,
        history: None,
        rule: Some(f.rule.to_string()),
        message: f.message.clone(),
        instruction: first_line(f.line),
    };
    // The instruction that wrote the failing path, and the error that
    // explains what it wrote: one on that instruction, or in a stage its
    // files come from. An error elsewhere in the file is not the cause
    // (red-team: a wasm build's finding was named for a COPY from the
    // context).
    if let Some(i) = writer(m, path) {
        let feeding = feeding_stages(m, i);
        let explains = |f: &&Finding| {
            (f.line <= i.lines.end && f.end_line >= i.lines.start)
                || stage_of(m, &f.stage).is_some_and(|st| feeding.contains(&st))
        };
        if let Some(f) = errors.iter().find(explains) {
            return Some(from_rule(f));
        }
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
    // Nothing in the file wrote it (the base image's, or a RUN's): an
    // error in the built stage's own chain explains it.
    let chain = m.chain(m.final_stage);
    errors
        .iter()
        .find(|f| stage_of(m, &f.stage).is_some_and(|st| chain.contains(&st)))
        .map(from_rule)
}

/// The last COPY/ADD of the built stage's chain that wrote `path`: the
/// chain read once from its root up, the WORKDIR in effect carried along
/// (finding it again for each COPY was quadratic in a long chain).
fn writer<'m>(m: &'m Model, path: &str) -> Option<&'m Inst> {
    let mut workdir = Workdir::root();
    let mut last = None;
    for &s in m.chain(m.final_stage).iter().rev() {
        for i in &m.stages[s].instructions {
            match i.kind {
                Kind::Other("WORKDIR") => workdir.set(i.text.trim()),
                Kind::Copy | Kind::Add
                    if i.paths
                        .split_last()
                        .is_some_and(|(dest, srcs)| writes(srcs, dest, &workdir, path)) =>
                {
                    last = Some(i)
                }
                _ => {}
            }
        }
    }
    last
}

/// The stage a finding's `stage` names (its `AS` name or its index).
fn stage_of(m: &Model, name: &str) -> Option<usize> {
    m.stages
        .iter()
        .position(|st| st.name.as_deref() == Some(name))
        .or_else(|| name.parse::<usize>().ok().filter(|&i| i < m.stages.len()))
}

/// The stages a COPY/ADD's files come from: its `--from` stage and every
/// stage that one builds on or takes files from.
fn feeding_stages(m: &Model, i: &Inst) -> Vec<usize> {
    let mut out: Vec<usize> = i
        .from
        .iter()
        .filter_map(|f| stage_of(m, &f.to_ascii_lowercase()))
        .collect();
    let mut k = 0;
    while k < out.len() {
        for &d in &m.stages[out[k]].deps {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        k += 1;
    }
    out
}

/// The WORKDIR in effect, with its length once trailing `/` are trimmed
/// and once trailing `/` and `.` are: relative WORKDIRs can make it as
/// long as the file, so it is grown in place and a COPY is matched
/// against its parts, never copied.
struct Workdir {
    path: String,
    slash: usize,
    dots: usize,
}

impl Workdir {
    fn root() -> Workdir {
        Workdir {
            path: "/".to_string(),
            slash: 0,
            dots: 0,
        }
    }

    /// `WORKDIR w`: an absolute `w` replaces it, a relative one is joined
    /// to it (one `/` between).
    fn set(&mut self, w: &str) {
        let (slash, dots) = (
            w.trim_end_matches('/').len(),
            w.trim_end_matches(['/', '.']).len(),
        );
        if w.starts_with('/') {
            self.path.clear();
            self.path.push_str(w);
            (self.slash, self.dots) = (slash, dots);
            return;
        }
        // Trimmed, `slash/w` is the old part up to `slash`, then `/` and
        // `w`'s own, when `w` has something left; else the old part.
        self.path.truncate(self.slash);
        self.path.push('/');
        self.path.push_str(w);
        if dots > 0 {
            self.dots = self.slash + 1 + dots;
        }
        if slash > 0 {
            self.slash += 1 + slash;
        }
    }
}

/// Whether a COPY/ADD of `srcs` to `dest` (relative to `workdir`) wrote
/// `path`: the destination itself, or a folder holding it that one of the
/// sources names by its file name (`COPY . .` could hold anything: not
/// claimed).
fn writes(srcs: &[String], dest: &str, workdir: &Workdir, path: &str) -> bool {
    let folder = dest.ends_with('/') || dest == "." || srcs.len() > 1;
    // The destination made absolute, without its trailing `/` and `.`, in
    // parts.
    let tail = dest.trim_end_matches(['/', '.']);
    let parts = if dest.starts_with('/') {
        [tail, "", ""]
    } else if tail.is_empty() {
        [&workdir.path[..workdir.dots], "", ""]
    } else {
        [&workdir.path[..workdir.slash], "/", tail]
    };
    let rest = parts.iter().try_fold(path, |rest, p| rest.strip_prefix(p));
    if !folder {
        return rest == Some("");
    }
    let Some(name) = rest.and_then(|r| r.strip_prefix('/')) else {
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

    /// Red-team finding: the first lint error of the file was named for a
    /// program it had nothing to do with (a COPY from the context wrote
    /// it).
    #[test]
    fn only_an_error_behind_the_failing_path_explains_it() {
        let text = "FROM golang AS tools\nRUN GOARCH=amd64 go build -o /tool ./cmd/tool\nFROM scratch\nCOPY --from=tools /tool /usr/bin/tool\nCOPY app /app\nENTRYPOINT [\"/app\"]\n";
        let s = explain("D", text, &arm64(), None, "/app").unwrap();
        assert_eq!((s.line, s.rule.as_deref()), (Some(5), None));
        let s = explain("D", text, &arm64(), None, "/usr/bin/tool").unwrap();
        assert_eq!((s.line, s.rule.as_deref()), (Some(2), Some("FixedGoArch")));
        // A stage the copied one builds on explains it too.
        let chained = "FROM golang AS base\nENV GOARCH=amd64\nFROM base AS build\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\n";
        let s = explain("D", chained, &arm64(), None, "/app").unwrap();
        assert_eq!(s.rule.as_deref(), Some("FixedGoArch"), "{s:?}");
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
        let wd = |p: &str| {
            let mut w = Workdir::root();
            w.set(p);
            w
        };
        assert!(writes(&v(&["app"]), "/app", &wd("/"), "/app"));
        assert!(writes(
            &v(&["build/tool"]),
            "/usr/local/bin/",
            &wd("/"),
            "/usr/local/bin/tool"
        ));
        assert!(writes(&v(&["x"]), "bin/x", &wd("/"), "/bin/x"));
        assert!(writes(&v(&["x"]), "x", &wd("/srv"), "/srv/x"));
        assert!(!writes(&v(&["app"]), "/app", &wd("/"), "/application"));
        // Review finding: `COPY . .` was said to have written anything.
        assert!(!writes(&v(&["."]), ".", &wd("/app"), "/usr/local/bin/x"));
        assert!(!writes(&v(&["."]), ".", &wd("/app"), "/app/x"));
    }

    /// Review finding: the WORKDIR before each COPY was found by walking
    /// the whole chain again, quadratic in a long chain's COPYs. The file
    /// is read once, so 20,000 stages of a COPY each are explained at
    /// once: the path the first one wrote, relative to its WORKDIR.
    #[test]
    fn a_long_chain_of_copies_is_searched_once() {
        let n = 20_000;
        let mut text = String::from("FROM scratch AS s0\nWORKDIR /w\nCOPY a0 x0\n");
        for i in 1..n {
            text.push_str(&format!("FROM s{} AS s{i}\nCOPY a{i} x{i}\n", i - 1));
        }
        let s = explain("D", &text, &arm64(), None, "/w/x0").unwrap();
        assert_eq!((s.line, s.rule), (Some(3), None));
        let s = explain("D", &text, &arm64(), None, &format!("/w/x{}", n - 1)).unwrap();
        assert_eq!(s.line, Some(2 * n as u32 + 1));
        assert!(explain("D", &text, &arm64(), None, "/x0").is_none());
    }

    /// The WORKDIR kept in place, with its trimmed lengths, is the one
    /// joined as text (`{trimmed}/{w}`) and trimmed again.
    #[test]
    fn workdirs_join_as_text_does() {
        for seq in [
            &["/srv", "bin"][..],
            &["a", "b/", "c//"],
            &["/x/", ".", "..", "./", "y"],
            &["/", "", "/", "//", "."],
            &["/a/.", "./.", "b/./"],
            &["é", "ü/", ".."],
        ] {
            let (mut w, mut text) = (Workdir::root(), String::from("/"));
            for step in seq {
                w.set(step);
                text = if step.starts_with('/') {
                    step.to_string()
                } else {
                    format!("{}/{step}", text.trim_end_matches('/'))
                };
                assert_eq!(w.path, text, "{seq:?}");
                assert_eq!(
                    (&w.path[..w.slash], &w.path[..w.dots]),
                    (
                        text.trim_end_matches('/'),
                        text.trim_end_matches(['/', '.'])
                    ),
                    "{seq:?}"
                );
            }
        }
    }

    /// Relative WORKDIRs make the WORKDIR as long as the file: a COPY is
    /// matched against it without copying it (that was quadratic too).
    #[test]
    fn a_workdir_as_long_as_the_file_is_not_copied_per_copy() {
        let n = 40_000;
        let unit = "WORKDIR a\nCOPY x y\nWORKDIR .\nCOPY x .\n";
        let text = format!("FROM scratch\n{}", unit.repeat(n));
        let s = explain("D", &text, &arm64(), None, "/a/y").unwrap();
        assert_eq!(s.line, Some(3));
        let s = explain("D", &text, &arm64(), None, "/a/x").unwrap();
        assert_eq!(s.line, Some(5));
        let s = explain("D", &text, &arm64(), None, "/a/./a/./a/y").unwrap();
        assert_eq!(s.line, Some(11));
        let s = explain("D", &text, &arm64(), None, "/a/./a/x").unwrap();
        assert_eq!(s.line, Some(9));
        assert!(explain("D", &text, &arm64(), None, "/a/./x").is_none());
    }

    #[test]
    fn workdir_is_followed_through_the_stages() {
        let text = "FROM a AS base\nWORKDIR /srv\nFROM base\nWORKDIR bin\nCOPY tool .\n";
        let s = explain("D", text, &arm64(), None, "/srv/bin/tool").unwrap();
        assert_eq!(s.line, Some(5));
    }
}
