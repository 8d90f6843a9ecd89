//! The rules about what a stage fetches or compiles: downloads of one
//! architecture's build, compiler targets fixed to one architecture,
//! cross builds never told the target, and glibc-linked Go programs in
//! images without glibc.

use super::{
    derives_arch, finding, script, severity, stage_name, without_messages, ARCH_SPECIFIC_DOWNLOAD,
    ARCH_SUFFIXED_COPY, CROSS_BUILD_WITHOUT_TARGET, DYNAMIC_BINARY_IN_STATIC_BASE,
    FIXED_CROSS_TOOLCHAIN,
};
use crate::inspect::Platform;
use crate::lint::model::{Base, Inst, Kind, Model, Stage, StagePlatform, TARGET_ARGS};
use crate::lint::{Finding, Options};

pub(super) fn run(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    arch_specific_download(m, o, out);
    arch_suffixed_copy(m, o, out);
    fixed_cross_toolchain(m, o, out);
    cross_build_without_target(m, out);
    cross_build_without_goarm(m, o, out);
    dynamic_binary_in_static_base(m, o, out);
}

/// Architecture words as release assets spell them, and the Go arch each
/// names.
const ARCH_WORDS: &[(&str, &str)] = &[
    ("amd64", "amd64"),
    ("x86_64", "amd64"),
    ("x86-64", "amd64"),
    ("x64", "amd64"),
    ("linux64", "amd64"),
    ("arm64", "arm64"),
    ("aarch64", "arm64"),
    ("armv7", "arm"),
    ("armv7l", "arm"),
    ("armhf", "arm"),
    ("armv6", "arm"),
    ("i386", "386"),
    ("i686", "386"),
    ("ppc64le", "ppc64le"),
    ("s390x", "s390x"),
    ("riscv64", "riscv64"),
];

/// Release assets whose unsuffixed name is the amd64 build (the others
/// carry a suffix: tini-static-arm64).
const AMD64_BY_DEFAULT: &[&str] = &["tini", "tini-static"];

/// The architecture a URL or file name names, if one: an arch word between
/// separators, or an asset known to be amd64 unsuffixed.
fn named_arch(word: &str) -> Option<&'static str> {
    let w = word.trim_matches(|c| c == '"' || c == '\'');
    let last = w.rsplit('/').next().unwrap_or(w);
    if w.contains("://") && AMD64_BY_DEFAULT.contains(&last) {
        return Some("amd64");
    }
    // x86_64 and x86-64 span a separator: look for them whole first.
    let sep = |c: Option<char>| c.is_none_or(|c| "/_-.=?&".contains(c));
    for spelled in ["x86_64", "x86-64"] {
        for (at, _) in w.match_indices(spelled) {
            if sep(w[..at].chars().next_back()) && sep(w[at + spelled.len()..].chars().next()) {
                return Some("amd64");
            }
        }
    }
    for part in w.split(['/', '_', '-', '.', '=', '?', '&']) {
        if let Some((_, arch)) = ARCH_WORDS
            .iter()
            .find(|(a, _)| part.eq_ignore_ascii_case(a))
        {
            return Some(arch);
        }
    }
    None
}

/// The downloads of a RUN (URLs after curl/wget/ADD-like tools) or an ADD
/// (URL sources), with the architecture each names.
fn downloads(i: &Inst) -> Vec<(String, &'static str)> {
    urls(i)
        .into_iter()
        .filter_map(|w| named_arch(&w).map(|a| (w, a)))
        .collect()
}

/// The URLs a RUN or an ADD downloads, as written (variables unexpanded).
pub(super) fn urls(i: &Inst) -> Vec<String> {
    let words: Vec<String> = match i.kind {
        Kind::Add => i.paths[..i.paths.len().saturating_sub(1)].to_vec(),
        Kind::Run => script(i)
            .split(|c: char| c.is_whitespace() || c == ';')
            .map(str::to_string)
            .collect(),
        _ => return Vec::new(),
    };
    words
        .into_iter()
        .filter(|w| w.contains("://"))
        // `url=https://...`, `"https://..."`: the URL itself.
        .map(|w| {
            let at = w.find("://").unwrap_or(0);
            // After the last character that cannot be in a scheme (it may
            // take more than one byte: a fuzzer found that).
            let start = w[..at]
                .char_indices()
                .rev()
                .find(|&(_, c)| !c.is_ascii_alphanumeric() && c != '+')
                .map_or(0, |(i, c)| i + c.len_utf8());
            w[start..].trim_end_matches(['"', '\'']).to_string()
        })
        .collect()
}

/// The stages whose filesystem is the image: the final one and those it is
/// built on.
pub(super) fn image_chain(m: &Model) -> crate::lint::model::Chain<'_> {
    m.chain(m.final_stage)
}

/// Whether a reaching stage copies something that looks like `stage`'s
/// program: a path under a bin directory, or one of `names`.
fn output_copied(m: &Model, stage: &Stage, names: &[String]) -> bool {
    copies_from(m, stage, |p| {
        p.contains("bin/")
            || names
                .iter()
                .any(|n| !n.is_empty() && p.trim_end_matches('/').ends_with(n.as_str()))
    })
}

fn arch_specific_download(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    let chain = image_chain(m);
    for s in m.reaching() {
        // On the builder's platform a tool for the builder is right.
        if s.platform == StagePlatform::Build {
            continue;
        }
        for i in &s.instructions {
            if !matches!(i.kind, Kind::Run | Kind::Add) || derives_arch(&script(i)) {
                continue;
            }
            let found = downloads(i);
            let Some((url, arch)) = found.first() else {
                continue;
            };
            // URLs for two architectures: the script picks one of them.
            if found.iter().any(|(_, a)| a != arch) {
                continue;
            }
            if !chain.contains(&s.index) {
                // A build stage: only when what it fetched is copied out.
                let mut names: Vec<String> = found
                    .iter()
                    .filter_map(|(u, _)| u.rsplit('/').next())
                    .map(str::to_string)
                    .collect();
                if i.kind == Kind::Add {
                    names.extend(i.paths.last().cloned());
                }
                if !output_copied(m, s, &names) {
                    continue;
                }
            }
            let arch = *arch;
            out.push(finding(
                &ARCH_SPECIFIC_DOWNLOAD,
                severity(m, o, |p: &Platform| p.arch != arch),
                s,
                i,
                format!(
                    "{url} is the {arch} build, fetched for every platform; name the asset \
                     from `ARG TARGETARCH` (or `uname -m` in a stage on the target platform)"
                ),
            ));
        }
    }
}

/// COPY/ADD of a local file (or one from a stage) whose name says one
/// architecture, into the image's stages, with no per-platform choice in
/// the path (`${TARGETARCH}` or another variable).
fn arch_suffixed_copy(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    // The arch-named programs a COPY/ADD copies.
    let named = |i: &Inst| -> Vec<(String, &'static str)> {
        i.paths[..i.paths.len().saturating_sub(1)]
            .iter()
            .filter_map(|p| {
                // A target triple's folder (target/x86_64-unknown-linux-musl/):
                // FixedCrossToolchain names the build that chose it.
                if p.contains("://")
                    || p.contains('$')
                    || p.contains("-linux-")
                    || !looks_like_program(p)
                {
                    return None;
                }
                // The file's own name (a folder named for one arch counts
                // too: bin/linux_amd64/app).
                named_arch(p).map(|a| (p.clone(), a))
            })
            .collect()
    };
    for &c in &image_chain(m) {
        let s = &m.stages[c];
        let copies = || {
            s.instructions
                .iter()
                .enumerate()
                .filter(|(_, i)| matches!(i.kind, Kind::Copy | Kind::Add))
        };
        // Every arch's build copied in (by one COPY or several of the
        // stage) and a later RUN picking one by the platform: a choice,
        // not a fixed arch (red team fp18).
        let mut arches: Vec<&str> = copies()
            .flat_map(|(_, i)| named(i))
            .map(|(_, a)| a)
            .collect();
        arches.sort_unstable();
        arches.dedup();
        for (k, i) in copies() {
            let found = named(i);
            let Some((src, arch)) = found.first().cloned() else {
                continue;
            };
            let picked_later = arches.len() > 1
                && s.instructions[k + 1..]
                    .iter()
                    .any(|l| l.kind == Kind::Run && derives_arch(&without_messages(&script(l))));
            if picked_later {
                continue;
            }
            out.push(finding(
                &ARCH_SUFFIXED_COPY,
                severity(m, o, |p: &Platform| p.arch != arch),
                s,
                i,
                format!(
                    "{src} is the {arch} build, copied into every platform's image; choose it \
                     per platform: `ARG TARGETARCH` and a path with ${{TARGETARCH}}"
                ),
            ));
        }
    }
}

/// Whether a copied path looks like a program (or a folder or archive of
/// them): its last part has no extension, a version number for one
/// (app-amd64-1.2.3), or a binary, library or package extension. A
/// README.md, a checksum or a config file named for an arch is no program
/// of the image (red team fp12); a glob or a folder counts, as it may hold
/// programs.
fn looks_like_program(path: &str) -> bool {
    const BINARY: &[&str] = &[
        "bin", "so", "a", "exe", "run", "appimage", "node", "wasm", "tar", "gz", "tgz", "xz",
        "txz", "bz2", "tbz", "zst", "zip", "deb", "rpm", "apk", "jar",
    ];
    let p = path.trim_end_matches('/');
    let last = p.rsplit('/').next().unwrap_or(p);
    if path.ends_with('/') || last.contains(['*', '?', '[']) {
        return true;
    }
    let Some((_, ext)) = last.rsplit_once('.') else {
        return true;
    };
    let ext = ext.to_ascii_lowercase();
    ext.is_empty()
        || ext.bytes().all(|b| b.is_ascii_digit())
        || BINARY.contains(&ext.as_str())
        // libfoo.so.1
        || last.to_ascii_lowercase().contains(".so.")
}

/// The Go arch of a Rust/C target triple's first part.
fn triple_arch(triple: &str) -> Option<&'static str> {
    let first = triple.split('-').next()?;
    Some(match first {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i686" | "i586" | "i386" => "386",
        "powerpc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64gc" | "riscv64" => "riscv64",
        a if a.starts_with("armv7") || a.starts_with("arm") => "arm",
        _ => return None,
    })
}

/// Constant `--target TRIPLE` of cargo build/install in a script.
fn cargo_targets(script: &str) -> Vec<String> {
    let words: Vec<&str> = script.split_whitespace().collect();
    let runs_cargo = words
        .windows(2)
        .any(|w| w[0].ends_with("cargo") && matches!(w[1], "build" | "install" | "zigbuild"));
    if !runs_cargo {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (k, w) in words.iter().enumerate() {
        let v = if *w == "--target" {
            words.get(k + 1).copied()
        } else {
            w.strip_prefix("--target=")
        };
        if let Some(v) = v {
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            if !v.contains('$') && triple_arch(v).is_some() {
                out.push(v.to_string());
            }
        }
    }
    out
}

fn fixed_cross_toolchain(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    for s in m.reaching() {
        for (k, i) in s.instructions.iter().enumerate() {
            let mut fixed: Vec<(String, String)> = Vec::new();
            match i.kind {
                Kind::Run => {
                    let sc = script(i);
                    if derives_arch(&sc) {
                        continue;
                    }
                    for t in cargo_targets(&sc) {
                        fixed.push(("--target".into(), t));
                    }
                }
                Kind::Env => {
                    for (name, value) in &i.pairs {
                        let Some(v) = value else { continue };
                        if name == "CARGO_BUILD_TARGET"
                            && !v.contains('$')
                            && triple_arch(v).is_some()
                        {
                            // Only when a cargo build follows.
                            let builds = s.instructions[k + 1..]
                                .iter()
                                .any(|l| l.kind == Kind::Run && script(l).contains("cargo "));
                            if builds {
                                fixed.push((name.clone(), v.clone()));
                            }
                        }
                    }
                }
                _ => continue,
            }
            for (how, triple) in fixed {
                let Some(arch) = triple_arch(&triple) else {
                    continue;
                };
                out.push(finding(
                    &FIXED_CROSS_TOOLCHAIN,
                    severity(m, o, |p: &Platform| p.arch != arch),
                    s,
                    i,
                    format!(
                        "{how} {triple} builds for {arch} on every platform; choose the target \
                         from `ARG TARGETARCH`, or build without --target in a stage on the \
                         target platform"
                    ),
                ));
            }
        }
    }
}

/// Whether an instruction passes the target to a build in any way
/// (printing it to the build log is not); a stage tells the target when
/// one of its chain's does (the ENV of the stages it is built on counts).
fn tells_target(i: &Inst) -> bool {
    let sc = without_messages(&script(i));
    derives_arch(&sc)
        || TARGET_ARGS.iter().any(|a| sc.contains(a))
        || i.pairs.iter().any(|(k, _)| {
            matches!(
                k.as_str(),
                "GOARCH" | "GOOS" | "CARGO_BUILD_TARGET" | "CC" | "TARGETARCH"
            )
        })
        || sc.contains("GOARCH=")
        || sc.contains("--target")
}

/// What a stage's builds write (`-o NAME`), and whether a reaching stage
/// copies it out: a stage that builds a generator and copies out only what
/// it generated ships no binary.
fn builds_copied_out(m: &Model, s: &Stage) -> bool {
    let outputs: Vec<String> = s
        .instructions
        .iter()
        .filter(|i| i.kind == Kind::Run)
        .flat_map(|i| output_names(&script(i)))
        .collect();
    output_copied(m, s, &outputs)
}

fn cross_build_without_target(m: &Model, out: &mut Vec<Finding>) {
    let chain = image_chain(m);
    let told = m.chain_any(tells_target);
    for s in m.reaching() {
        if s.platform != StagePlatform::Build || chain.contains(&s.index) || told[s.index] {
            continue;
        }
        if !builds_copied_out(m, s) && !copies_cargo_target(m, s) {
            continue;
        }
        let toolchain_image = match &m.stages[*m.chain(s.index).last().unwrap_or(&s.index)].base {
            Base::Image(img) => img.contains("golang") || img.contains("rust"),
            Base::Stage(_) => false,
        };
        for i in s.instructions.iter().filter(|i| i.kind == Kind::Run) {
            let sc = without_messages(&script(i));
            // `make` counts in a Go or Rust image: it runs their build.
            let compiles = builds_the_program(&sc)
                || (toolchain_image
                    && sc
                        .split_whitespace()
                        .any(|w| matches!(w, "make" | "goreleaser" | "mage")));
            if !compiles {
                continue;
            }
            out.push(finding(
                &CROSS_BUILD_WITHOUT_TARGET,
                super::super::Severity::Error,
                s,
                i,
                format!(
                    "stage {} runs on the builder's platform ($BUILDPLATFORM) and this build is \
                     never told the target, so it builds for the builder; declare `ARG TARGETOS \
                     TARGETARCH` and pass them (GOOS=$TARGETOS GOARCH=$TARGETARCH), or drop \
                     --platform from the stage",
                    stage_name(s)
                ),
            ));
        }
    }
}

/// A Go cross build for 32-bit ARM told GOARCH but not the variant. Go
/// takes GOARM's default from how the toolchain itself was built (cmd/dist
/// `xgetgoarm`, baked in at make.bash, not detected at `go build`): since
/// Go 1.21 a toolchain built on a non-ARM machine (the amd64 and arm64
/// golang images, upstream's own builds) defaults to GOARM=7 (golang/go
/// #62164, CL 470695); up to Go 1.20 it was 5, which runs on every ARM. So
/// on `$BUILDPLATFORM` with Go 1.21 or later, a linux/arm/v6 (or v5) image
/// gets ARMv7 code: illegal instruction on a Raspberry Pi Zero or 1
/// (TeslaBleHttpProxy PR #70). Only when those platforms are built
/// (`--platform`). Never on the target platform: there the golang image of
/// that variant is used, whose toolchain was built for it (upstream's
/// linux-armv6l build has GOARM=6; Docker's arm32v7 image sets GOARM=7),
/// and QEMU's CPU plays no part, as nothing is detected at build time.
/// Never when GOARM or TARGETVARIANT is used in the stage (any spelling:
/// `GOARM=${TARGETVARIANT#v}`, an ARG default, a case on
/// $TARGETPLATFORM setting GOARM: a fixed GOARM is FixedGoArch's), nor
/// with tonistiigi/xx (`xx-go` sets GOARM from the platform).
fn cross_build_without_goarm(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    let old_arm: Vec<&Platform> = o
        .platforms
        .iter()
        .filter(|p| p.arch == "arm" && matches!(p.variant.as_deref(), Some("v5" | "v6")))
        .collect();
    let Some(first) = old_arm.first() else {
        return;
    };
    let chain = image_chain(m);
    let told = m.chain_any(tells_target);
    let told_variant = m.chain_any(|i| {
        let sc = without_messages(&script(i));
        ["GOARM", "TARGETVARIANT", "xx-go", "xx-info"]
            .iter()
            .any(|w| sc.contains(w))
            || i.pairs.iter().any(|(k, _)| k == "GOARM")
    });
    for s in m.reaching() {
        if s.platform != StagePlatform::Build || chain.contains(&s.index) {
            continue;
        }
        // Not told the target at all: cross_build_without_target's.
        if !told[s.index] || told_variant[s.index] {
            continue;
        }
        let root = *m.chain(s.index).last().unwrap_or(&s.index);
        let go_image = match &m.stages[root].base {
            Base::Image(img) => img.rsplit('/').next().unwrap_or(img).starts_with("golang"),
            Base::Stage(_) => false,
        };
        if let (true, Base::Image(img)) = (go_image, &m.stages[root].base) {
            if go_before_1_21(img) {
                continue;
            }
        }
        if !builds_copied_out(m, s) {
            continue;
        }
        for i in s.instructions.iter().filter(|i| i.kind == Kind::Run) {
            let sc = without_messages(&script(i));
            let words: Vec<&str> = sc.split_whitespace().collect();
            let go_build = (builds_the_program(&sc) && !sc.contains("cargo"))
                || (go_image && words.iter().any(|w| matches!(*w, "make" | "mage")));
            if !go_build {
                continue;
            }
            out.push(finding(
                &CROSS_BUILD_WITHOUT_TARGET,
                super::super::Severity::Error,
                s,
                i,
                format!(
                    "stage {} cross-compiles on the builder's platform and passes GOARCH but \
                     not the ARM variant: Go 1.21 and later then default to GOARM=7, and the \
                     {first} image gets ARMv7 code (illegal instruction on ARMv6 CPUs); declare \
                     `ARG TARGETVARIANT` and pass GOARM=${{TARGETVARIANT#v}} (or build with \
                     xx-go)",
                    stage_name(s)
                ),
            ));
        }
    }
}

/// Whether a Go image's tag names a Go release before 1.21 (whose
/// toolchains default to GOARM=5 when cross-compiling); a tag without a
/// version (latest, alpine) is a current Go.
fn go_before_1_21(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or(image);
    let Some(tag) = name
        .split('@')
        .next()
        .and_then(|n| n.split_once(':'))
        .map(|(_, t)| t)
    else {
        return false;
    };
    let mut nums = tag.split(['.', '-']);
    let major = nums.next().and_then(|n| n.parse::<u32>().ok());
    let minor = nums.next().and_then(|n| n.parse::<u32>().ok());
    matches!((major, minor), (Some(1), Some(m)) if m < 21)
}

/// Whether a script compiles the project (not a tool for the build:
/// `go install tool@version`, `cargo install NAME` without `--path`, nor
/// `cargo build-deps`).
fn builds_the_program(script: &str) -> bool {
    let words: Vec<&str> = script
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    (0..words.len().saturating_sub(1)).any(|k| {
        let args: Vec<&str> = words[k + 2..]
            .iter()
            .copied()
            .take_while(|a| !matches!(*a, "&&" | "||" | ";"))
            .collect();
        match (
            words[k].rsplit('/').next().unwrap_or(words[k]),
            words[k + 1],
        ) {
            ("go", "build") | ("cargo", "build") => true,
            ("go", "install") => !args.iter().any(|a| a.contains('@')),
            ("cargo", "install") => args.iter().any(|a| a.starts_with("--path")),
            _ => false,
        }
    })
}

/// The file names a build writes: `-o PATH` (go build), as base names.
fn output_names(script: &str) -> Vec<String> {
    let words: Vec<&str> = script.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-o")
        .map(|w| {
            w[1].trim_matches(|c| c == '"' || c == '\'')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|n| !n.is_empty() && !n.contains('$'))
        .collect()
}

/// Whether a reaching stage copies out of `s` a source path `wanted`
/// accepts (every COPY --from naming the stage by name or index).
fn copies_from(m: &Model, s: &Stage, wanted: impl Fn(&str) -> bool) -> bool {
    let me = s.name.clone().unwrap_or_default();
    let idx = s.index.to_string();
    // Indexed by the model: looking through every stage for each stage
    // made 20,000 stages that copy from the one before take 39 s.
    [me.as_str(), idx.as_str()].iter().any(|r| {
        m.copies_naming(r).iter().any(|&(c, k)| {
            let i = &m.stages[c].instructions[k];
            i.paths[..i.paths.len().saturating_sub(1)]
                .iter()
                .any(|p| wanted(p))
        })
    })
}

/// Whether a reaching stage copies a cargo build's output out of `s`.
fn copies_cargo_target(m: &Model, s: &Stage) -> bool {
    copies_from(m, s, |p| p.contains("target/") || p.contains("/cargo/bin/"))
}

/// Whether any reaching stage copies from `s`.
pub(super) fn copied_at_all(m: &Model, s: &Stage) -> bool {
    copies_from(m, s, |_| true)
}

/// Whether an image has no glibc loader: scratch, distroless static,
/// alpine (musl), busybox's default (uclibc/musl).
fn lacks_glibc(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or(image);
    let repo = name.split([':', '@']).next().unwrap_or(name);
    image == "scratch"
        || image.contains("distroless/static")
        || repo == "alpine"
        || (repo == "busybox" && !name.contains("glibc"))
}

/// Whether a Go image is glibc-based (cgo on by default there).
fn glibc_go_image(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or(image);
    name.starts_with("golang") && !name.contains("alpine")
}

fn dynamic_binary_in_static_base(m: &Model, o: &Options, out: &mut Vec<Finding>) {
    let chain = image_chain(m);
    let Some(Base::Image(final_image)) = chain.last().map(|&c| &m.stages[c].base) else {
        return;
    };
    if !lacks_glibc(final_image) {
        return;
    }
    // alpine with a glibc compatibility layer (libc6-compat, gcompat): the
    // loader path exists, so the program may start; it is a warning, as
    // many glibc programs still fail there (symbols gcompat lacks, glibc
    // versioned symbols, NSS), red team fp21, fp22.
    let compat = chain.iter().any(|&c| {
        m.stages[c].instructions.iter().any(|i| {
            i.kind == Kind::Run && {
                let sc = without_messages(&script(i));
                sc.split_whitespace()
                    .any(|w| matches!(w, "libc6-compat" | "gcompat"))
            }
        })
    });
    let static_somewhere = m.chain_any(|i| {
        let sc = script(i);
        sc.contains("CGO_ENABLED=0")
            || i.pairs
                .iter()
                .any(|(k, v)| k == "CGO_ENABLED" && v.as_deref() == Some("0"))
            || sc.contains("netgo")
            || sc.contains("-static")
            // A GOARCH other than the native one (a constant; the stage is
            // on the target platform, so $TARGETARCH is native) turns cgo
            // off, unless CGO_ENABLED=1 keeps it (red team fn08).
            || (!super::constant_assignments(&sc, "GOARCH").is_empty()
                && !sc.contains("CGO_ENABLED=1"))
    });
    for s in m.reaching() {
        // Cross builds (GOARCH set) turn cgo off by themselves.
        if chain.contains(&s.index) || s.platform != StagePlatform::Target {
            continue;
        }
        let root = *m.chain(s.index).last().unwrap_or(&s.index);
        let Base::Image(img) = &m.stages[root].base else {
            continue;
        };
        if !glibc_go_image(img) || !copied_at_all(m, s) {
            continue;
        }
        if static_somewhere[s.index] {
            continue;
        }
        for i in s.instructions.iter().filter(|i| i.kind == Kind::Run) {
            let sc = script(i);
            if !builds_the_program(&sc) || sc.contains("cargo ") {
                continue;
            }
            let (sev, message) = if compat {
                (
                    super::super::Severity::Warning,
                    format!(
                        "this go build runs in {img} (glibc, cgo on by default), and its program \
                         is copied into {final_image}, which has only a glibc compatibility \
                         layer over musl (libc6-compat/gcompat): it may start, but glibc \
                         programs often still fail there (missing or versioned symbols); build \
                         with CGO_ENABLED=0 (or -tags netgo,osusergo)"
                    ),
                )
            } else {
                (
                    severity(m, o, |_| true),
                    format!(
                        "this go build runs in {img} (glibc, cgo on by default), and its program \
                         is copied into {final_image}, which has no glibc loader: build with \
                         CGO_ENABLED=0 (or -tags netgo,osusergo)"
                    ),
                )
            };
            out.push(finding(&DYNAMIC_BINARY_IN_STATIC_BASE, sev, s, i, message));
        }
    }
}
