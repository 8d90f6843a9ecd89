//! The lint rules. Each reports the instruction that fixes the wrong
//! architecture, only in stages whose result reaches the image built, and
//! says how to fix it. How BuildKit treats each construct was checked on
//! the test environment's daemons (README, "archgate lint").

use super::model::{Base, Inst, Kind, Model, Stage, StagePlatform, TARGET_ARGS};
use super::words::var_refs;
use super::{Finding, Options, Rule, Severity};
use crate::inspect::Platform;
use std::collections::HashSet;

pub static FIXED_GO_ARCH: Rule = Rule {
    id: "FixedGoArch",
    summary: "a Go build whose GOARCH (or GOOS, GOARM) is fixed to one value",
    doc: "GOARCH=amd64 (inline, ENV or an ARG default) makes `go build` produce an amd64 \
          binary whatever platform the image is built for: the arm64 image ships it and \
          dies with `exec format error`. Take the target from BuildKit instead: `ARG \
          TARGETOS TARGETARCH` in the stage, then `GOOS=$TARGETOS GOARCH=$TARGETARCH go \
          build`, or set nothing when the stage runs on the target platform.",
};

pub static PLATFORM_ARG_DEFAULT: Rule = Rule {
    id: "PlatformArgDefault",
    summary: "an automatic platform arg given a default",
    doc: "BuildKit sets TARGETPLATFORM, TARGETARCH and TARGETVARIANT for each platform it \
          builds (and BUILDPLATFORM, BUILDARCH for the builder's), but a default written in \
          the Dockerfile (`ARG TARGETARCH=amd64`, also a global one the stage re-declares) \
          wins over it: every platform gets the default. Declare the arg without a value: \
          `ARG TARGETARCH`.",
};

pub static UNDECLARED_PLATFORM_ARG: Rule = Rule {
    id: "UndeclaredPlatformArg",
    summary: "a target platform arg used in a stage that does not declare it",
    doc: "Inside a stage, $TARGETARCH (and TARGETPLATFORM, TARGETOS, TARGETVARIANT) is \
          empty unless the stage declares it with `ARG TARGETARCH`; in a stage that runs on \
          the builder's platform (or a fixed one) the build then targets that platform, not \
          the one being built. In a stage on the target platform an empty arg is harmless \
          where the tools default to the native platform (GOARCH), but not where the script \
          chooses by it (`[ \"$TARGETPLATFORM\" = linux/arm64 ]`, `case \"$TARGETARCH\" in`, \
          a URL built from it): every platform then takes the same branch, usually the \
          amd64 one. Add `ARG TARGETARCH` (and the others used) after the FROM.",
};

pub static CONSTANT_FROM_PLATFORM: Rule = Rule {
    id: "ConstantFromPlatform",
    summary: "the image built is on a fixed platform",
    doc: "`FROM --platform=linux/amd64` for the stage that becomes the image makes every \
          platform's image an amd64 one, whatever --platform asked for. Drop the flag (the \
          stage then runs on each target platform), or use it only on build stages that \
          cross-compile for $TARGETPLATFORM.",
};

pub static FINAL_ON_BUILD_PLATFORM: Rule = Rule {
    id: "FinalStageOnBuildPlatform",
    summary: "the image built is on the builder's platform",
    doc: "`FROM --platform=$BUILDPLATFORM` belongs on stages that cross-compile; on the \
          stage that becomes the image it makes every platform's image the builder's \
          architecture (its base image's binaries included). Drop the flag from the final \
          stage. A base with no programs at all (scratch, distroless static, Chainguard \
          static) into which the stages only copy files is a warning, not an error: no \
          program of the builder's architecture ships (the copied ones are other rules' \
          business), but the image's config may still name the builder's architecture. \
          Distroless base, cc, java or python carry a glibc loader and libraries of the \
          builder's architecture: an error as any other base.",
};

pub static ARCH_SPECIFIC_DOWNLOAD: Rule = Rule {
    id: "ArchSpecificDownload",
    summary: "a download of one architecture's build, whatever the platform",
    doc: "A URL or file name naming one architecture (linux_amd64, x86_64, aarch64, ...; \
          or a release asset whose unsuffixed name is the amd64 build, like tini-static) \
          fetches that build for every platform, and the image of any other platform ships \
          it. Derive the name from `ARG TARGETARCH` (mapping amd64/arm64 to the project's \
          spelling), or from `uname -m`/`dpkg --print-architecture` in a stage that runs on \
          the target platform.",
};

pub static ARCH_SUFFIXED_COPY: Rule = Rule {
    id: "ArchSuffixedCopy",
    summary: "a COPY of one architecture's prebuilt binary, whatever the platform",
    doc: "`COPY app-amd64 /app` (or bin/linux_arm64/app) copies that architecture's build \
          into every platform's image. Choose the file per platform: `ARG TARGETARCH` and \
          `COPY app-${TARGETARCH} /app` (or a stage per arch selected with \
          `FROM app-${TARGETARCH}`).",
};

pub static FIXED_CROSS_TOOLCHAIN: Rule = Rule {
    id: "FixedCrossToolchain",
    summary: "a compiler target fixed to one architecture",
    doc: "`cargo build --target x86_64-unknown-linux-musl` (or CARGO_BUILD_TARGET, a \
          CC=aarch64-linux-gnu-gcc) builds for that architecture on every platform. Choose \
          the target from `ARG TARGETARCH` (e.g. a case mapping amd64 to x86_64 and arm64 \
          to aarch64), or build natively without --target in a stage on the target \
          platform.",
};

pub static CROSS_BUILD_WITHOUT_TARGET: Rule = Rule {
    id: "CrossBuildWithoutTarget",
    summary: "a stage on the builder's platform compiles without the target architecture",
    doc: "A stage on `--platform=$BUILDPLATFORM` runs on the builder; a `go build` (or \
          cargo, make) there that is never told the target (GOARCH, --target, xx-*) builds \
          for the builder, and the stages that copy its output ship the builder's \
          architecture. Declare `ARG TARGETOS TARGETARCH` and pass them (GOOS=$TARGETOS \
          GOARCH=$TARGETARCH), or drop --platform from the stage. For linux/arm/v5 and v6 \
          the variant is part of the target: a Go build told GOARCH but not GOARM gets Go's \
          default, 7 since Go 1.21 for a toolchain built off ARM, and the v6 image ships \
          ARMv7 code (illegal instruction); declare `ARG TARGETVARIANT` and pass \
          GOARM=${TARGETVARIANT#v}, or use tonistiigi/xx's xx-go.",
};

pub static DYNAMIC_BINARY_IN_STATIC_BASE: Rule = Rule {
    id: "DynamicBinaryInStaticBase",
    summary: "a glibc-linked Go program copied into an image without glibc",
    doc: "In a glibc-based Go image (golang:1.x, not -alpine) cgo is on by default, and a \
          program using net or os/user links against glibc's loader. scratch, distroless \
          static and alpine have none: the container dies with `exec /app: no such file or \
          directory`. Build with CGO_ENABLED=0 (or -tags netgo,osusergo), or use a base \
          with glibc (distroless base or cc, debian).",
};

/// Every rule, in the order of their documentation.
pub static RULES: &[&Rule] = &[
    &FIXED_GO_ARCH,
    &PLATFORM_ARG_DEFAULT,
    &UNDECLARED_PLATFORM_ARG,
    &CONSTANT_FROM_PLATFORM,
    &FINAL_ON_BUILD_PLATFORM,
    &ARCH_SPECIFIC_DOWNLOAD,
    &ARCH_SUFFIXED_COPY,
    &FIXED_CROSS_TOOLCHAIN,
    &CROSS_BUILD_WITHOUT_TARGET,
    &DYNAMIC_BINARY_IN_STATIC_BASE,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// Run every rule on `m`.
pub fn run(m: &Model, o: &Options) -> Vec<Finding> {
    let mut out = Vec::new();
    fixed_go_arch(m, o, &mut out);
    platform_arg_default(m, o, &mut out);
    undeclared_platform_arg(m, &mut out);
    final_stage_platform(m, o, &mut out);
    artifacts::run(m, o, &mut out);
    out
}

pub(super) fn stage_name(s: &Stage) -> String {
    s.name.clone().unwrap_or_else(|| s.index.to_string())
}

pub(super) fn finding(
    rule: &Rule,
    severity: Severity,
    s: &Stage,
    i: &Inst,
    message: String,
) -> Finding {
    Finding {
        rule: rule.id,
        severity,
        line: i.lines.start,
        end_line: i.lines.end,
        stage: stage_name(s),
        message,
    }
}

/// The severity of something that builds for `fixed` only (an arch, or
/// `None` when it cannot be said): an error when the file is built for
/// another platform (`--platform`) or, without `--platform`, when the file
/// uses the automatic platform args (it is meant for several); otherwise a
/// warning.
pub(super) fn severity(m: &Model, o: &Options, differs: impl Fn(&Platform) -> bool) -> Severity {
    if o.platforms.is_empty() {
        if m.mentions_platform_args {
            Severity::Error
        } else {
            Severity::Warning
        }
    } else if o.platforms.iter().any(differs) {
        Severity::Error
    } else {
        Severity::Warning
    }
}

/// The whole script of a RUN: its command line and heredocs.
pub(super) fn script(i: &Inst) -> String {
    let mut s = i.text.clone();
    for h in &i.heredocs {
        s.push('\n');
        s.push_str(h);
    }
    s
}

/// Whether a script derives the architecture from the platform being built
/// (then a constant in it is one branch of a choice, not a fixed value).
pub(super) fn derives_arch(script: &str) -> bool {
    const MARKERS: &[&str] = &[
        "TARGETARCH",
        "TARGETPLATFORM",
        "TARGETVARIANT",
        "uname -m",
        "uname -p",
        "uname --machine",
        "$(arch)",
        "`arch`",
        "go env GOARCH",
        "--print-architecture",
        "--print-arch",
        "xx-go",
        "xx-info",
        "xx-clang",
        "xx-cargo",
        "dpkg-architecture",
    ];
    // What only prints (echo, printf) or is a comment decides nothing (red
    // team fn14, fn15).
    let sc = without_messages(&without_comments(script));
    MARKERS.iter().any(|m| sc.contains(m))
}

/// A shell script without its comments: from a `#` that starts a word to
/// the end of its line (`${V#v}` and `a#b` are no comments).
fn without_comments(script: &str) -> String {
    script
        .lines()
        .map(|line| {
            let b = line.as_bytes();
            let at = (0..b.len())
                .find(|&k| b[k] == b'#' && (k == 0 || b[k - 1] == b' ' || b[k - 1] == b'\t'));
            at.map_or(line, |k| &line[..k])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a script derives Go variable `var` from the platform built:
/// the architecture for GOARCH and GOOS, the ARM variant for GOARM (which
/// TARGETARCH alone does not give: it is `arm` for v5, v6 and v7).
fn derives(script: &str, var: &str) -> bool {
    if var != "GOARM" {
        return derives_arch(script);
    }
    let without_arch = script
        .replace("TARGETARCH", "")
        .replace("go env GOARCH", "");
    derives_arch(&without_arch)
}

/// Whether a script runs a Go build (or a build tool that runs one).
pub(super) fn runs_go_build(script: &str) -> bool {
    let words: Vec<&str> = script
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .any(|w| (w[0] == "go" || w[0].ends_with("/go")) && matches!(w[1], "build" | "install"))
        || words
            .iter()
            .any(|w| matches!(*w, "make" | "goreleaser" | "mage"))
}

/// Constant values `script` assigns to `var` (`VAR=value` as a word, also
/// after `export`/`env`); a value built from variables or commands is not
/// constant and is skipped.
pub(super) fn constant_assignments(script: &str, var: &str) -> Vec<String> {
    let pat = format!("{var}=");
    let mut out = Vec::new();
    let b = script.as_bytes();
    for (at, _) in script.match_indices(&pat) {
        let starts_word =
            at == 0 || matches!(b[at - 1], b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(');
        if !starts_word {
            continue;
        }
        let rest = &script[at + pat.len()..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | ')'))
            .unwrap_or(rest.len());
        let value = rest[..end].trim_matches(|c| c == '"' || c == '\'');
        if !value.is_empty() && !value.contains('$') && !value.contains('`') {
            out.push(value.to_string());
        }
    }
    out
}

/// Which built platforms a fixed value is wrong for.
type Breaks = Box<dyn Fn(&Platform) -> bool>;

/// What a fixed Go variable breaks, for the platforms built: `None` when
/// the value is harmless (GOOS=linux).
fn go_var_breaks(var: &str, value: &str) -> Option<Breaks> {
    let value = value.to_string();
    match var {
        // wasm (GOOS=js or wasip1) is no Linux program: a file served or
        // loaded by one, whatever the platform.
        "GOARCH" if value != "wasm" => Some(Box::new(move |p: &Platform| p.arch != value)),
        "GOARM" => Some(Box::new(move |p: &Platform| {
            p.arch == "arm" && p.variant.as_deref() != Some(&format!("v{value}"))
        })),
        _ => None,
    }
}

fn fixed_go_arch(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    let other_os = OtherOs::of(m);
    for s in m.reaching() {
        // Inline assignments in a RUN that builds.
        for i in s.instructions.iter().filter(|i| i.kind == Kind::Run) {
            let sc = script(i);
            if !runs_go_build(&sc) || builds_for_other_os(&other_os, s, &sc) {
                continue;
            }
            for var in ["GOARCH", "GOOS", "GOARM"] {
                // A choice by TARGETARCH fixes no GOARCH, but a GOARM=7
                // beside GOARCH=$TARGETARCH is fixed for every ARM variant.
                if derives(&sc, var) {
                    continue;
                }
                let mut values = constant_assignments(&sc, var);
                values.sort();
                values.dedup();
                // Two values in one script: it chooses between them (a case
                // on something archgate does not know), it does not fix one.
                if values.len() > 1 {
                    continue;
                }
                for value in values {
                    if var == "GOARM" && o.platforms.is_empty() {
                        continue;
                    }
                    let Some(breaks) = go_var_breaks(var, &value) else {
                        continue;
                    };
                    out.push(finding(
                        &FIXED_GO_ARCH,
                        severity(m, o, &breaks),
                        s,
                        i,
                        format!(
                            "{var}={value} fixes the Go build of stage {} to one {}, whatever \
                             platform is built; use `ARG TARGETOS TARGETARCH` and \
                             {var}=${} instead",
                            stage_name(s),
                            if var == "GOOS" { "OS" } else { "architecture" },
                            match var {
                                "GOOS" => "TARGETOS",
                                "GOARM" => "{TARGETVARIANT#v}",
                                _ => "TARGETARCH",
                            }
                        ),
                    ));
                }
            }
        }
        // ENV or an ARG default in effect for a later Go build of the stage.
        for (k, i) in s.instructions.iter().enumerate() {
            if !matches!(i.kind, Kind::Env | Kind::Arg) {
                continue;
            }
            for (name, value) in &i.pairs {
                let Some(value) = value else { continue };
                if !matches!(name.as_str(), "GOARCH" | "GOOS" | "GOARM")
                    || value.is_empty()
                    || value.contains('$')
                    || (name == "GOARM" && o.platforms.is_empty())
                {
                    continue;
                }
                let Some(breaks) = go_var_breaks(name, value) else {
                    continue;
                };
                let builds_later = later_runs(m, s, k).any(|r| {
                    let sc = script(r);
                    runs_go_build(&sc)
                        && !derives(&sc, name)
                        && !resets(&sc, name)
                        && !builds_for_other_os(&other_os, s, &sc)
                });
                if !builds_later {
                    continue;
                }
                let how = if i.kind == Kind::Env { "ENV" } else { "ARG" };
                out.push(finding(
                    &FIXED_GO_ARCH,
                    severity(m, o, &breaks),
                    s,
                    i,
                    format!(
                        "{how} {name}={value} fixes the Go builds that follow to one {}, \
                         whatever platform is built; declare `ARG {}` and use {name}=${}",
                        if name == "GOOS" { "OS" } else { "architecture" },
                        if name == "GOARM" {
                            "TARGETVARIANT"
                        } else {
                            "TARGETOS TARGETARCH"
                        },
                        match name.as_str() {
                            "GOOS" => "TARGETOS",
                            "GOARM" => "{TARGETVARIANT#v}",
                            _ => "TARGETARCH",
                        }
                    ),
                ));
            }
        }
    }
}

/// Whether the Go build of `script` (in stage `s`) makes no Linux program:
/// GOOS fixed to another OS (windows, darwin, js) or GOARCH=wasm, inline or
/// by an ENV/ARG of the stage or those it is built on. Such a program is
/// data in the image (a download served, a wasm module), not something it
/// runs, so its fixed architecture is right for every platform (red team
/// fp19, fp20, fp23).
fn builds_for_other_os(chain: &OtherOs, s: &Stage, script: &str) -> bool {
    let inline = |var: &str| constant_assignments(script, var);
    let goos = inline("GOOS");
    if goos.iter().any(|v| v != "linux") || inline("GOARCH").iter().any(|v| v == "wasm") {
        return true;
    }
    // An inline GOOS=linux overrides the stage's.
    chain.wasm[s.index] || (goos.is_empty() && chain.goos[s.index])
}

/// Per stage, whether an ENV or ARG of its chain sets, to a constant,
/// GOOS to another OS than linux (`goos`) or GOARCH to wasm (`wasm`): each
/// instruction read once (asked per Go build along the chain, it was
/// quadratic in a long chain).
struct OtherOs {
    goos: Vec<bool>,
    wasm: Vec<bool>,
}

impl OtherOs {
    fn of(m: &Model) -> OtherOs {
        let sets = |var: &'static str, other: fn(&str) -> bool| {
            m.chain_any(move |i| {
                matches!(i.kind, Kind::Env | Kind::Arg)
                    && i.pairs.iter().any(|(k, v)| {
                        k == var && v.as_deref().is_some_and(|v| !v.contains('$') && other(v))
                    })
            })
        };
        OtherOs {
            goos: sets("GOOS", |v| v != "linux"),
            wasm: sets("GOARCH", |v| v == "wasm"),
        }
    }
}

/// Whether a script sets `var` itself (then an ENV before it does not
/// apply).
fn resets(script: &str, var: &str) -> bool {
    script.contains(&format!("{var}="))
}

/// The RUN instructions after instruction `k` of stage `s`, and those of
/// the reaching stages built on `s`: ENV and ARG are both inherited by a
/// stage built `FROM` another (checked on Docker 26 and 28).
fn later_runs<'m>(m: &'m Model, s: &'m Stage, k: usize) -> impl Iterator<Item = &'m Inst> {
    let own = s.instructions[k + 1..].iter();
    own.chain(children(m, s).flat_map(|c| c.instructions.iter()))
        .filter(|i| i.kind == Kind::Run)
}

/// The reaching stages built on `s` (through `FROM s`, at any depth).
fn children<'m>(m: &'m Model, s: &'m Stage) -> impl Iterator<Item = &'m Stage> {
    m.reaching()
        .filter(move |c| c.index != s.index && m.builds_on(c.index, s.index))
}

/// Whether a default for an automatic platform arg matters: TARGETOS=linux
/// is what every Linux build gets anyway.
fn platform_default_breaks(name: &str, value: &str) -> Option<Breaks> {
    let value = value.to_string();
    match name {
        "TARGETARCH" => Some(Box::new(move |p: &Platform| p.arch != value)),
        "TARGETVARIANT" => Some(Box::new(move |p: &Platform| {
            p.variant.as_deref().unwrap_or("") != value
        })),
        "TARGETPLATFORM" => {
            let want = Platform::parse(&value).ok();
            Some(Box::new(move |p: &Platform| want.as_ref() != Some(p)))
        }
        "TARGETOS" if value != "linux" => Some(Box::new(move |p: &Platform| p.os != value)),
        // The builder's platform is not known here: a default for it is
        // wrong on every builder of another platform.
        "BUILDPLATFORM" | "BUILDARCH" | "BUILDVARIANT" => Some(Box::new(|_: &Platform| true)),
        "BUILDOS" if value != "linux" => Some(Box::new(|_: &Platform| true)),
        _ => None,
    }
}

/// Whether an instruction refers to `name`. In a RUN, what only `echo`
/// or `printf` prints (to the build log) does not count.
pub(super) fn refers_to(i: &Inst, name: &str) -> bool {
    let shell = i.kind == Kind::Run;
    let text = |t: &str| {
        if shell {
            without_messages(t)
        } else {
            t.to_string()
        }
    };
    var_refs(&text(&i.text), shell)
        .iter()
        .any(|r| r.name == name)
        || i.heredocs
            .iter()
            .any(|h| var_refs(&text(h), shell).iter().any(|r| r.name == name))
}

/// A shell script without the `echo`/`printf` commands that only print to
/// the build log (split at `;`, `&&`, `||`, `|` and newlines; one that
/// redirects into a file writes the image and stays): what is left
/// decides what is built.
pub(super) fn without_messages(script: &str) -> String {
    script
        .split(['\n', ';', '|', '&'])
        .filter(|seg| {
            let first = seg.split_whitespace().next().unwrap_or("");
            !matches!(first, "echo" | "printf") || seg.contains('>')
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn platform_arg_default(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    for s in m.reaching() {
        // The names the stage's ARGs declared so far (scanning the stage
        // again for each ARG was quadratic in its ARGs).
        let mut declared: HashSet<&str> = HashSet::new();
        for (k, i) in s.instructions.iter().enumerate() {
            if i.kind != Kind::Arg {
                continue;
            }
            for (name, value) in &i.pairs {
                // An ARG without a value re-declaring a global default.
                let (value, global) = match value {
                    Some(v) => (v.clone(), false),
                    None => match m
                        .global_args
                        .iter()
                        .rev()
                        .find(|(g, _, _)| g == name)
                        .and_then(|(_, v, _)| v.clone())
                    {
                        Some(v) => (v, true),
                        None => continue,
                    },
                };
                // `ARG TARGETARCH` then `ARG TARGETARCH=${TARGETARCH:-amd64}`:
                // BuildKit expands a default with the stage's args so far
                // (dispatchArg: ProcessWord on the default with the state's
                // env, to which the earlier ARG added the automatic value),
                // so the default is only the fallback of a value already
                // set (red team fp13). Without the earlier declaration the
                // reference is empty and the fallback is what every
                // platform gets.
                if !global
                    && {
                        let refs = var_refs(&value, false);
                        !refs.is_empty() && refs.iter().all(|r| r.name == *name)
                    }
                    && declared_before(m, s, &declared, name)
                {
                    continue;
                }
                let Some(breaks) = platform_default_breaks(name, &value) else {
                    continue;
                };
                let used = s.instructions[k + 1..].iter().any(|l| refers_to(l, name))
                    || children(m, s).any(|c| c.instructions.iter().any(|l| refers_to(l, name)));
                if !used {
                    continue;
                }
                let sev = if o.platforms.is_empty() {
                    Severity::Error
                } else {
                    severity(m, o, &breaks)
                };
                let whose = if name.starts_with("BUILD") {
                    "instead of the builder's own platform"
                } else {
                    "for every platform it builds"
                };
                let mut f = finding(
                    &PLATFORM_ARG_DEFAULT,
                    sev,
                    s,
                    i,
                    format!(
                        "{name} defaults to {value:?}{}, and BuildKit uses that default \
                         {whose}; declare it without a value: `ARG {name}`",
                        if global {
                            " (the ARG before the first FROM)"
                        } else {
                            ""
                        }
                    ),
                );
                if global {
                    // Point at the global ARG that holds the default.
                    if let Some((_, _, lines)) =
                        m.global_args.iter().rev().find(|(g, _, _)| g == name)
                    {
                        f.line = lines.start;
                        f.end_line = lines.end;
                    }
                }
                out.push(f);
            }
            declared.extend(i.pairs.iter().map(|(n, _)| n.as_str()));
        }
    }
}

/// Whether `name` is declared by an ARG before an instruction of stage
/// `s` (`declared`, the stage's own before it) or in a stage it is built
/// on, so that it holds a value there.
fn declared_before(m: &Model, s: &Stage, declared: &HashSet<&str>, name: &str) -> bool {
    let is_arg = |i: &Inst| i.kind == Kind::Arg && i.pairs.iter().any(|(n, _)| n == name);
    declared.contains(name)
        || m.chain(s.index)[1..]
            .iter()
            .any(|&b| m.stages[b].instructions.iter().any(is_arg))
}

fn undeclared_platform_arg(m: &Model, out: &mut Vec<Finding>) {
    let image = artifacts::image_chain(m);
    for s in m.reaching() {
        // On the target platform an empty arg usually does no harm (an
        // empty GOARCH is the native one: main corpus 046); it does when the
        // script chooses by it (holdout2 039: an if chain on
        // $TARGETPLATFORM falls to its amd64 else), and then only when the
        // stage's result reaches the image.
        let on_target = match s.platform {
            StagePlatform::Build | StagePlatform::Constant(_) => false,
            StagePlatform::Target => true,
            StagePlatform::Unknown(_) => continue,
        };
        if on_target && !image.contains(&s.index) && !artifacts::copied_at_all(m, s) {
            continue;
        }
        // ENV and ARG are inherited from the stages this one builds on.
        // (Only the TARGET_ARGS are asked about; the model keeps which.)
        let mut known: Vec<String> = TARGET_ARGS
            .iter()
            .filter(|n| m.inherits_target_arg(s.index, n))
            .map(|n| n.to_string())
            .collect();
        for i in &s.instructions {
            if matches!(i.kind, Kind::Arg | Kind::Env) {
                // Its own value may refer to the arg before declaring it;
                // that is the arg's business, not a use.
                known.extend(i.pairs.iter().map(|(k, _)| k.clone()));
                continue;
            }
            let mut choice = None;
            let missing: Vec<&str> = TARGET_ARGS
                .iter()
                .copied()
                .filter(|n| !known.iter().any(|k| k == n) && refers_to(i, n))
                .filter(|n| {
                    if !on_target {
                        return true;
                    }
                    let c = chooses_by(i, n);
                    if choice.is_none() {
                        choice = c;
                    }
                    c.is_some()
                })
                .collect();
            if missing.is_empty() {
                continue;
            }
            let message = match (&s.platform, choice) {
                (StagePlatform::Target, Some(how)) => format!(
                    "${} is empty here: stage {} never declares it, so {}; add `ARG {}` \
                     after its FROM",
                    missing[0],
                    stage_name(s),
                    how.effect(),
                    missing.join(" ")
                ),
                (p, _) => {
                    let on = match p {
                        StagePlatform::Constant(p) => p.clone(),
                        _ => "the builder's platform ($BUILDPLATFORM)".to_string(),
                    };
                    format!(
                        "${} is empty here: stage {} never declares it, and it runs on {on}, \
                         so this builds for that platform; add `ARG {}` after its FROM",
                        missing[0],
                        stage_name(s),
                        missing.join(" ")
                    )
                }
            };
            out.push(finding(
                &UNDECLARED_PLATFORM_ARG,
                Severity::Error,
                s,
                i,
                message,
            ));
        }
    }
}

/// How a script chooses by a platform arg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// `[ "$X" = value ]` (or `==`): false when empty.
    Equals,
    /// Another comparison (`!=`, `=~`).
    Compared,
    /// `case "$X" in`, with or without a `*)` branch.
    Case { fallback: bool },
    /// Part of a URL that is downloaded.
    Url,
}

impl Choice {
    fn effect(self) -> &'static str {
        match self {
            Choice::Equals => {
                "each `=` test of it is false and the script takes the same fallback (else) \
                 branch on every platform"
            }
            Choice::Compared => {
                "its tests see an empty value and take the same branch on every platform"
            }
            Choice::Case { fallback: true } => {
                "the case on it takes its `*)` branch on every platform"
            }
            Choice::Case { fallback: false } => "the case on it matches no branch on any platform",
            Choice::Url => "the URL downloaded has it empty, the same for every platform",
        }
    }
}

/// Whether instruction `i` (in a stage on the target platform) chooses by
/// `name`: compares it in `[ ]`, `[[ ]]` or `test`, switches on it with
/// `case`, or downloads a URL built with it. A script that also asks the
/// machine (`uname -m`, `dpkg --print-architecture`) falls back to that
/// when the arg is empty: not a choice by the arg alone.
fn chooses_by(i: &Inst, name: &str) -> Option<Choice> {
    if artifacts::urls(i).iter().any(|u| {
        var_refs(u, i.kind == Kind::Run)
            .iter()
            .any(|r| r.name == name)
    }) {
        return Some(Choice::Url);
    }
    if i.kind != Kind::Run {
        return None;
    }
    let sc = without_messages(&script(i));
    const NATIVE: &[&str] = &[
        "uname -m",
        "uname -p",
        "uname --machine",
        "$(arch)",
        "`arch`",
        "--print-architecture",
        "--print-arch",
        "dpkg-architecture",
        "go env GOARCH",
        "xx-info",
    ];
    if NATIVE.iter().any(|n| sc.contains(n)) {
        return None;
    }
    let refers = |w: &str| var_refs(w, true).iter().any(|r| r.name == name);
    for seg in sc.split(['\n', ';', '|', '&']) {
        let words: Vec<&str> = seg
            .split_whitespace()
            .skip_while(|w| {
                matches!(
                    *w,
                    "if" | "elif" | "while" | "until" | "then" | "else" | "do" | "!" | "{" | "("
                )
            })
            .collect();
        if matches!(words.first(), Some(&("[" | "[[" | "test"))) && refers(seg) {
            if words.iter().any(|w| matches!(*w, "=" | "==")) {
                return Some(Choice::Equals);
            }
            if words.iter().any(|w| matches!(*w, "!=" | "=~")) {
                return Some(Choice::Compared);
            }
        }
    }
    let words: Vec<&str> = sc.split_whitespace().collect();
    let case_on = words
        .windows(3)
        .any(|w| w[0] == "case" && refers(w[1]) && w[2] == "in");
    if case_on {
        let fallback = words
            .iter()
            .any(|w| w.trim_start_matches('(').starts_with("*)"));
        return Some(Choice::Case { fallback });
    }
    None
}

fn final_stage_platform(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    // The stage of the final one's chain whose --platform decides it.
    let Some(&decides) = m
        .chain(m.final_stage)
        .iter()
        .find(|&&i| m.stages[i].platform_flag.is_some())
    else {
        return;
    };
    let s = &m.stages[decides];
    let fin = &m.stages[m.final_stage];
    let from = Inst {
        kind: Kind::Other("FROM"),
        lines: s.from_lines,
        text: String::new(),
        heredocs: Vec::new(),
        pairs: Vec::new(),
        from: Vec::new(),
        paths: Vec::new(),
    };
    match &s.platform {
        StagePlatform::Constant(p) => {
            let fixed = Platform::parse(p).ok();
            let sev = severity(m, o, |q| fixed.as_ref() != Some(q));
            out.push(finding(
                &CONSTANT_FROM_PLATFORM,
                sev,
                s,
                &from,
                format!(
                    "--platform={p} makes the image built (stage {}) a {p} image for every \
                     platform; drop the flag from this FROM",
                    stage_name(fin)
                ),
            ));
        }
        StagePlatform::Build => {
            // A base with no programs (scratch, distroless static) into
            // which the image's stages only copy files: nothing of the
            // builder's architecture runs in the image (a program copied in
            // is judged where it is built, by the other rules), so a
            // warning: the flag still makes the image's config name the
            // builder's architecture, which `docker run` and platform
            // checks read. Not no finding: the flag is wrong and does
            // nothing useful there. Holdout2 004 (minekube/gate).
            if let Some(base) = programless_base(m) {
                out.push(finding(
                    &FINAL_ON_BUILD_PLATFORM,
                    Severity::Warning,
                    s,
                    &from,
                    format!(
                        "--platform=$BUILDPLATFORM on the image built (stage {}): its base \
                         {base} holds no programs and the stages only copy files into it, so \
                         nothing of the builder's architecture runs, but the image's config \
                         may still name the builder's architecture for every platform; drop \
                         the flag from this FROM",
                        stage_name(fin)
                    ),
                ));
                return;
            }
            let sev = if o.platforms.len() > 1 || m.mentions_platform_args {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(finding(
                &FINAL_ON_BUILD_PLATFORM,
                sev,
                s,
                &from,
                format!(
                    "--platform=$BUILDPLATFORM makes the image built (stage {}) the builder's \
                     architecture for every platform; drop the flag from this FROM",
                    stage_name(fin)
                ),
            ));
        }
        _ => {}
    }
}

/// The base image of the image built when it holds no programs and the
/// image's stages add none by running anything: no RUN, and every `COPY
/// --from` names a stage (an image named there may be the builder's
/// architecture's programs).
fn programless_base(m: &Model) -> Option<String> {
    let chain = m.chain(m.final_stage);
    let Base::Image(img) = &m.stages[*chain.last()?].base else {
        return None;
    };
    if !has_no_programs(img) {
        return None;
    }
    let is_stage = |f: &str| {
        let f = f.to_ascii_lowercase();
        m.stages
            .iter()
            .any(|s| s.name.as_deref() == Some(f.as_str()) || s.index.to_string() == f)
    };
    let adds_programs = chain.iter().any(|&c| {
        m.stages[c]
            .instructions
            .iter()
            .any(|i| i.kind == Kind::Run || i.from.iter().any(|f| !is_stage(f)))
    });
    (!adds_programs).then(|| img.clone())
}

/// Whether an image has no executables at all: scratch, distroless
/// `static` (any Debian release, tag or digest, not `:debug`, which has a
/// busybox shell) and Chainguard's static. Distroless base, cc, java and
/// python carry a glibc loader and libraries: they have programs.
fn has_no_programs(image: &str) -> bool {
    let image = image.to_ascii_lowercase();
    let name = image.split('@').next().unwrap_or(&image);
    let (repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (name, ""),
    };
    if tag.contains("debug") || tag.contains("dev") {
        return false;
    }
    let mut parts = repo.rsplit('/');
    let last = parts.next().unwrap_or("");
    let owner = parts.next().unwrap_or("");
    let static_release = |s: &str| {
        s == "static"
            || s.strip_prefix("static-debian")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    repo == "scratch"
        || (owner == "distroless" && static_release(last))
        || (owner == "chainguard" && last == "static")
}

mod artifacts;
#[cfg(test)]
mod tests;
