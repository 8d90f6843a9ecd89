//! `archgate lint`: the Dockerfile line that ships a wrong-architecture
//! binary, found before any build. A Dockerfile is read as BuildKit reads
//! it (`model`), and each rule (`rules`) reports an instruction only when
//! what it taints reaches the image that is built (the last stage, or the
//! `--target` one).
//!
//! The one idea: every finding is one instruction, one stable rule id and
//! the fix; whether it is an error or a warning depends on the platforms
//! the file is built for (`--platform`, or the file's own use of the
//! automatic platform args), never on guesses about the code.

pub mod explain;
pub mod model;
pub mod output;
pub mod rules;
pub mod words;

use crate::inspect::Platform;
pub use model::{Lines, Model, ParseError};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The build would ship a wrong binary for a platform it is built for
    /// (exit 1).
    Error,
    /// The same, for platforms the file is not known to be built for.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A rule: a stable id (as BuildKit names its checks), what it finds, and
/// where its documentation is.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub summary: &'static str,
    /// Why it matters and how to fix it (the rule's short doc).
    pub doc: &'static str,
}

/// One finding: an instruction and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// The instruction's first and last line.
    pub line: u32,
    pub end_line: u32,
    /// The stage it is in (`AS name`, or its index).
    pub stage: String,
    /// What is wrong and the fix.
    pub message: String,
}

/// What a lint run needs to know besides the file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The platforms the file is built for (`--platform`); empty: unknown.
    pub platforms: Vec<Platform>,
    /// The stage that is built (`--target`); `None`: the last.
    pub target: Option<String>,
}

/// Lint one Dockerfile's text. The findings are in line order.
pub fn lint_text(text: &str, opts: &Options) -> Result<Vec<Finding>, ParseError> {
    let model = Model::parse(text, opts.target.as_deref())?;
    Ok(lint_model(&model, opts))
}

/// Lint a Dockerfile already read (parsed for `opts.target`).
pub fn lint_model(model: &Model, opts: &Options) -> Vec<Finding> {
    let mut findings = rules::run(model, opts);
    findings.sort_by(|a, b| (a.line, a.rule).cmp(&(b.line, b.rule)));
    findings.dedup();
    findings
}

/// Whether `name` is a file `archgate lint DIR` picks up: `Dockerfile`,
/// `*.Dockerfile`, `Dockerfile.*` (as BuildKit's and buildx's tooling name
/// them; `*.dockerfile` too).
pub fn is_dockerfile_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "dockerfile" || lower.ends_with(".dockerfile") || lower.starts_with("dockerfile.")
}

/// `archgate lint`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Dockerfiles or directories (searched for Dockerfiles, hidden folders
    /// and `node_modules` skipped); `-` reads standard input. Empty: `.`.
    pub paths: Vec<std::path::PathBuf>,
    /// `--platform` values, as given.
    pub platforms: Vec<String>,
    pub target: Option<String>,
}

/// Go's operating systems (`go tool dist list`), as BuildKit's platform
/// parser knows them (containerd `platforms/database.go`).
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// A `--platform` value: OS/ARCH[/VARIANT] (or ARCH alone) with an OS and an
/// architecture archgate knows; a typo (`lunix/amd64`, `bogus`) would
/// silently lint for a platform nothing is built for.
fn known_platform(p: &str) -> Result<Platform, String> {
    let platform = Platform::parse(p).map_err(|e| format!("--platform: {e}"))?;
    if !KNOWN_OS.contains(&platform.os.as_str()) {
        return Err(format!(
            "--platform {p:?}: unknown operating system {:?} (expected OS/ARCH[/VARIANT], e.g. linux/arm64)",
            platform.os
        ));
    }
    if platform.identity().is_none() {
        return Err(format!(
            "--platform {p:?}: unknown architecture {:?} (expected OS/ARCH[/VARIANT], e.g. linux/arm64)",
            platform.arch
        ));
    }
    Ok(platform)
}

/// The largest Dockerfile archgate reads. BuildKit's own frontend reads one
/// of any size; this is generous (real ones are kilobytes) and keeps a
/// hostile file from costing memory and time without end.
pub const MAX_DOCKERFILE_BYTES: u64 = 16 << 20;

/// Lint every file `req` names. The error is a bad argument (a platform
/// that does not parse, a path that does not exist): exit 2 before any
/// file is read.
pub fn run(req: &Request) -> Result<output::LintReport, String> {
    let platforms = req
        .platforms
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(known_platform)
        .collect::<Result<Vec<_>, _>>()?;
    let opts = Options {
        platforms,
        target: req.target.clone(),
    };
    let roots = if req.paths.is_empty() {
        vec![std::path::PathBuf::from(".")]
    } else {
        req.paths.clone()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.as_os_str() == "-" {
            files.push(root.clone());
            continue;
        }
        let md = std::fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
        if md.is_dir() {
            let before = files.len();
            find_dockerfiles(root, &mut files).map_err(|e| format!("{}: {e}", root.display()))?;
            if files.len() == before {
                return Err(format!("{}: no Dockerfile in it", root.display()));
            }
        } else {
            files.push(root.clone());
        }
    }
    let mut reports = Vec::new();
    for f in &files {
        reports.push({
            // `./Dockerfile` as `Dockerfile`: paths as the user would write them.
            let shown = f
                .strip_prefix(".")
                .ok()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(f)
                .display()
                .to_string();
            let read = if f.as_os_str() == "-" {
                let mut s = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(std::io::stdin(), MAX_DOCKERFILE_BYTES + 1),
                    &mut s,
                )
                .map(|_| s)
            } else {
                std::fs::read(f)
            };
            if read
                .as_ref()
                .is_ok_and(|b| b.len() as u64 > MAX_DOCKERFILE_BYTES)
            {
                return Err(format!(
                    "{shown}: larger than {} MiB: not read as a Dockerfile",
                    MAX_DOCKERFILE_BYTES >> 20
                ));
            }
            match read {
                Err(e) => output::FileReport::unreadable(shown, e.to_string()),
                Ok(bytes) => {
                    // BuildKit reads a Dockerfile as bytes (a Latin-1
                    // comment builds): read it so, invalid sequences shown
                    // as U+FFFD.
                    let text = String::from_utf8_lossy(&bytes);
                    let result = lint_text(&text, &opts);
                    output::FileReport::new(shown, &text, result)
                }
            }
        });
    }
    Ok(output::LintReport::new(reports))
}

/// The Dockerfiles under `dir`, sorted, hidden folders and `node_modules`
/// skipped, symlinked folders not followed.
fn find_dockerfiles(
    dir: &std::path::Path,
    out: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ft = e.file_type()?;
        if ft.is_dir() {
            if !name.starts_with('.') && name != "node_modules" {
                find_dockerfiles(&e.path(), out)?;
            }
        } else if is_dockerfile_name(&name) && (ft.is_file() || ft.is_symlink()) {
            out.push(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bad input is an error, never a panic: every prefix of every corpus
    /// file (cut anywhere: mid-instruction, mid-heredoc, mid-character
    /// boundary avoided), and the files with bytes swapped.
    #[test]
    fn any_cut_of_a_real_dockerfile_lints_or_errs_without_panicking() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint-corpus/files");
        let opts = Options {
            platforms: vec![Platform::parse("linux/arm64").unwrap()],
            target: None,
        };
        let mut seen = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let mut cut = 0;
            while cut < text.len() {
                if text.is_char_boundary(cut) {
                    let _ = lint_text(&text[..cut], &opts);
                    let swapped: String = text[cut..].chars().chain(text[..cut].chars()).collect();
                    let _ = lint_text(&swapped, &opts);
                    seen += 1;
                }
                cut += 5;
            }
        }
        assert!(seen > 1000, "{seen}");
    }

    /// Red-team inputs that were cubic or quadratic (now linear): each is
    /// linted and its result checked on a large generated file.
    fn chain(n: usize) -> String {
        let mut t =
            String::from("FROM --platform=$BUILDPLATFORM golang:1.22 AS s0\nARG TARGETARCH\n");
        for i in 1..n {
            t.push_str(&format!("FROM s{} AS s{i}\n", i - 1));
        }
        t
    }

    fn arm64() -> Options {
        Options {
            platforms: vec![Platform::parse("linux/arm64").unwrap()],
            target: None,
        }
    }

    #[test]
    fn a_100k_stage_chain_is_read_whole() {
        let m = Model::parse(&chain(100_000), None).unwrap();
        assert_eq!(m.final_stage, 99_999);
        assert!(m.reachable.iter().all(|&r| r));
        let c = m.chain(m.final_stage);
        assert_eq!(
            (c.len(), c.last(), c.contains(&0)),
            (100_000, Some(&0), true)
        );
        assert!(!m.chain(5).contains(&6));
        assert!(m.inherits_target_arg(99_999, "TARGETARCH"));
        assert!(!m.inherits_target_arg(0, "TARGETARCH"));
        assert_eq!(m.stages[99_999].platform, model::StagePlatform::Build);
        // The builder's platform reaches the image through 99,999 FROMs.
        let f = lint_text(&chain(100_000), &arm64()).unwrap();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].rule, f[0].line, f[0].stage.as_str()),
            ("FinalStageOnBuildPlatform", 1, "s0")
        );
        assert!(f[0].message.contains("stage s99999"), "{}", f[0].message);
    }

    /// Review finding: the cross-build rules asked each builder stage's
    /// whole chain whether it tells the target, the variant, or links
    /// statically (quadratic: 3,000 stages took 3 min in a debug build).
    /// 20,000 builder stages whose last one's program is copied out.
    #[test]
    fn a_20k_stage_builder_chain_is_judged_once_per_instruction() {
        let n = 20_000;
        let copied = |build: &str| {
            format!(
                "{}RUN {build} go build -o /out/app .\nFROM alpine\nCOPY --from=s{} /out/app /app\n",
                chain(n),
                n - 1
            )
        };
        let arm_v6 = Options {
            platforms: vec![Platform::parse("linux/arm/v6").unwrap()],
            target: None,
        };
        // The one finding: CrossBuildWithoutTarget on `line`, saying `why`.
        let only = |f: Vec<Finding>, line: usize, why: &str| {
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(
                (f[0].rule, f[0].line),
                ("CrossBuildWithoutTarget", line as u32)
            );
            assert!(f[0].message.contains(why), "{}", f[0].message);
        };
        // Told the target 19,999 stages down (ARG TARGETARCH), not the
        // variant.
        let f = lint_text(&copied("GOARCH=$TARGETARCH"), &arm_v6).unwrap();
        only(f, n + 2, "GOARM");
        // Told both (the variant declared too).
        let both = copied("GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v}")
            .replace("ARG TARGETARCH\n", "ARG TARGETARCH\nARG TARGETVARIANT\n");
        let f = lint_text(&both, &arm_v6).unwrap();
        assert!(f.is_empty(), "{f:?}");
        // Never told the target: no ARG TARGETARCH, a plain go build.
        let untold = copied("").replace("ARG TARGETARCH\n", "");
        only(
            lint_text(&untold, &arm64()).unwrap(),
            n + 1,
            "never told the target",
        );
    }

    /// Review finding: each Go build asked its stage's whole chain for an
    /// ENV setting another OS (quadratic: 20,000 stages of two builds took
    /// 4 min in a debug build). A GOARCH fixed 20,000 stages above
    /// `ENV GOOS=windows` builds no Linux program.
    #[test]
    fn a_20k_stage_chain_is_asked_for_another_os_once() {
        let n = 20_000;
        let linux = format!("{}RUN GOARCH=amd64 go build -o /app .\n", chain(n));
        let fixed = |text: &str| {
            let f = lint_text(text, &arm64()).unwrap();
            f.iter().filter(|f| f.rule == "FixedGoArch").count()
        };
        assert_eq!(fixed(&linux), 1);
        let windows = linux.replace("ARG TARGETARCH\n", "ARG TARGETARCH\nENV GOOS=windows\n");
        assert_eq!(fixed(&windows), 0);
        // An inline GOOS=linux overrides the ENV.
        let inline = windows.replace("RUN GOARCH", "RUN GOOS=linux GOARCH");
        assert_eq!(fixed(&inline), 1);
    }

    #[test]
    fn deep_default_nesting_is_unknown_past_the_bound() {
        let nest = |n: usize| {
            let mut s = String::from("linux/amd64");
            for i in 0..n {
                s = format!("${{A{i}:-{s}}}");
            }
            format!("FROM --platform={s} alpine\nRUN true\n")
        };
        let shallow = Model::parse(&nest(10), None).unwrap();
        assert_eq!(
            shallow.stages[0].platform,
            model::StagePlatform::Constant("linux/amd64".into())
        );
        let deep = Model::parse(&nest(50_000), None).unwrap();
        assert!(matches!(
            deep.stages[0].platform,
            model::StagePlatform::Unknown(_)
        ));
        assert_eq!(lint_text(&nest(50_000), &arm64()).unwrap(), vec![]);
        let open = format!("FROM --platform={} alpine\n", "${A:-".repeat(50_000));
        let m = Model::parse(&open, None).unwrap();
        assert!(matches!(
            m.stages[0].platform,
            model::StagePlatform::Unknown(_)
        ));
    }

    #[test]
    fn many_copies_and_args_are_indexed() {
        let mut t = String::from("FROM alpine AS s0\n");
        for i in 1..20_000 {
            t.push_str(&format!(
                "FROM alpine AS s{i}\nCOPY --from=s{} /bin/app /bin/app\n",
                i - 1
            ));
        }
        let m = Model::parse(&t, None).unwrap();
        assert!(m.reachable.iter().all(|&r| r));
        assert_eq!(m.copies_naming("S0"), &[(1, 0)]);
        assert_eq!(lint_text(&t, &arm64()).unwrap(), vec![]);
        let runs = "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\n".to_string()
            + &"ARG TARGETARCH=amd64\nRUN echo $TARGETARCH\n".repeat(2000)
            + "FROM alpine\nCOPY --from=b /app /app\n";
        assert_eq!(lint_text(&runs, &arm64()).unwrap(), vec![]);
    }

    #[test]
    fn a_file_past_the_size_bound_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("Dockerfile");
        std::fs::write(&f, "#".repeat(MAX_DOCKERFILE_BYTES as usize + 1)).unwrap();
        let req = Request {
            paths: vec![f.clone()],
            ..Request::default()
        };
        let err = run(&req).err().unwrap();
        assert!(
            err.contains(&f.display().to_string()) && err.contains("16 MiB"),
            "{err}"
        );
    }
}
