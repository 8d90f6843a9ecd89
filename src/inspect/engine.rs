//! The verdict rules: which programs a platform's config makes the runtime
//! exec, and whether each can run there.
//!
//! The one idea: every program (argv[0], later absolute-path arguments, the
//! HEALTHCHECK program, each `#!` interpreter, each ELF loader) goes through
//! one `check_program`, which records a flat `Check` and returns its verdict;
//! a program's verdict is the worst of its own and those it depends on.

use super::binary::{self, Ident};
use super::config::ImageConfig;
use super::platform::{Platform, EM_ARM};
use super::resolve::{self, absolutize, Lookup, Resolution, DEFAULT_PATH};
use super::verdict::{BinaryFacts, Check, PlatformReport, Reason, Role, Verdict};
use crate::rootfs::{display, FsError, Kind, RootFs};
use std::collections::HashMap;

/// Linux follows at most this many nested `#!` interpreters
/// (fs/exec.c, `bprm->have_execfd` recursion limit of 5 in search_binary_handler).
const MAX_INTERP_DEPTH: usize = 5;

/// The engine could not decide: the image's files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Inspect one platform of an image.
pub async fn inspect<R: RootFs>(
    config: &ImageConfig,
    platform: &Platform,
    fs: &R,
) -> Result<PlatformReport, InspectError> {
    let mut e = Engine {
        fs,
        platform,
        path_var: config
            .env_var("PATH")
            .unwrap_or(DEFAULT_PATH)
            .as_bytes()
            .to_vec(),
        cwd: config.working_dir.as_ref().map(|d| d.as_bytes().to_vec()),
        checks: Vec::new(),
        idents: HashMap::new(),
    };

    let argv: Vec<String> = if config.entrypoint.is_empty() {
        config.cmd.clone()
    } else {
        config
            .entrypoint
            .iter()
            .chain(config.cmd.iter())
            .cloned()
            .collect()
    };

    let mut program = String::new();
    let mut resolved = String::new();
    if let Some(argv0) = argv.first() {
        program = argv0.clone();
        let i = e.checks.len();
        e.check_program(Role::Entrypoint, argv0.as_bytes(), true, 0)
            .await?;
        resolved = e.checks[i].resolved.clone();
        // Later arguments that are absolute paths to executables in the image
        // are programs too (`/tini -- /app`, `/bin/sh /entrypoint.sh`).
        for arg in &argv[1..] {
            if !arg.starts_with('/') || e.already_checked(arg.as_bytes()) {
                continue;
            }
            if let Resolution::Found { entry, path, .. } =
                resolve::resolve(fs, arg.as_bytes(), true).await?
            {
                if entry.kind == Kind::File && entry.is_executable() && display(&path) != resolved {
                    e.check_program(Role::Argument, arg.as_bytes(), false, 0)
                        .await?;
                }
            }
        }
    }
    if let Some(test) = &config.healthcheck {
        match test.first().map(String::as_str) {
            Some("CMD") if test.len() > 1 && !test[1].is_empty() => {
                e.check_program(Role::Healthcheck, test[1].as_bytes(), true, 0)
                    .await?;
            }
            Some("CMD-SHELL") if test.len() > 1 => {
                // Docker runs it with the image's SHELL, default `/bin/sh -c`.
                let shell = config
                    .shell
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "/bin/sh".into());
                e.check_program(Role::Healthcheck, shell.as_bytes(), true, 0)
                    .await?;
            }
            _ => {}
        }
    }

    Ok(e.report(program, resolved))
}

struct Engine<'a, R> {
    fs: &'a R,
    platform: &'a Platform,
    path_var: Vec<u8>,
    cwd: Option<Vec<u8>>,
    checks: Vec<Check>,
    idents: HashMap<Vec<u8>, (Ident, BinaryFacts)>,
}

/// What a program check concluded, passed up to the program that needs it.
#[derive(Clone, Copy)]
struct Outcome {
    verdict: Verdict,
    reason: Reason,
}

impl<R: RootFs> Engine<'_, R> {
    fn already_checked(&self, word: &[u8]) -> bool {
        let word = display(word);
        self.checks.iter().any(|c| c.path == word)
    }

    /// Locate, identify and judge one program; push its `Check` (and those of
    /// its interpreter or loader) and return its outcome.
    fn check_program<'s>(
        &'s mut self,
        role: Role,
        word: &'s [u8],
        path_lookup: bool,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, FsError>> + 's>> {
        Box::pin(async move {
            let idx = self.checks.len();
            self.checks.push(Check {
                role,
                path: display(word),
                resolved: String::new(),
                chain: Vec::new(),
                verdict: Verdict::Pass,
                reason: Reason::Match,
                message: String::new(),
                binary: None,
            });
            let out = self.judge(idx, role, word, path_lookup, depth).await?;
            let c = &mut self.checks[idx];
            c.verdict = out.0.verdict;
            c.reason = out.0.reason;
            c.message = out.1;
            Ok(out.0)
        })
    }

    async fn judge(
        &mut self,
        idx: usize,
        role: Role,
        word_bytes: &[u8],
        path_lookup: bool,
        depth: usize,
    ) -> Result<(Outcome, String), FsError> {
        let word = display(word_bytes);
        let word = word.as_str();
        let fail = |reason, msg: String| {
            Ok((
                Outcome {
                    verdict: Verdict::Fail,
                    reason,
                },
                msg,
            ))
        };
        let missing_reason = if role == Role::Loader {
            Reason::LoaderMissing
        } else {
            Reason::NotFound
        };
        if word.is_empty() {
            return fail(missing_reason, "empty program name".into());
        }

        // 1. Locate it as the runtime would.
        let mut note = String::new();
        let resolution = if path_lookup && !word_bytes.contains(&b'/') {
            match resolve::lookup_path(self.fs, word_bytes, &self.path_var, self.cwd.as_deref())
                .await?
            {
                Lookup::Found {
                    candidate,
                    resolution,
                    skipped,
                } => {
                    note = format!("found in PATH as {}", display(&candidate));
                    for s in &skipped {
                        note.push_str(&format!("; skipped {} ({})", display(&s.path), s.why));
                    }
                    resolution
                }
                Lookup::NotFound { searched, skipped } => {
                    self.checks[idx].chain = searched.iter().map(|p| display(p)).collect();
                    if let Some(s) = skipped.iter().find(|s| s.why == "not executable") {
                        return fail(
                            Reason::NotExecutable,
                            format!(
                                "{word}: not found in PATH; {} exists but has no execute bit",
                                display(&s.path)
                            ),
                        );
                    }
                    if let Some(s) = skipped.iter().find(|s| s.why == "symlink loop") {
                        return fail(
                            Reason::SymlinkLoop,
                            format!(
                                "{word}: not found in PATH; {} is a symlink loop",
                                display(&s.path)
                            ),
                        );
                    }
                    return fail(
                        missing_reason,
                        format!(
                            "{word}: executable file not found in PATH ({})",
                            display(&self.path_var)
                        ),
                    );
                }
            }
        } else {
            let abs = absolutize(word_bytes, self.cwd.as_deref());
            resolve::resolve(self.fs, &abs, true).await?
        };

        let (path_bytes, entry) = match resolution {
            Resolution::Found { path, entry, chain } => {
                self.checks[idx].chain = chain.iter().map(|p| display(p)).collect();
                self.checks[idx].resolved = display(&path);
                (path, entry)
            }
            Resolution::NotFound {
                chain,
                missing,
                not_dir,
            } => {
                self.checks[idx].chain = chain.iter().map(|p| display(p)).collect();
                let missing = display(&missing);
                let what = if not_dir {
                    format!("{missing} is not a directory")
                } else {
                    format!("{missing} does not exist")
                };
                let msg = if role == Role::Loader {
                    format!("the ELF loader {word} is not in the image ({what})")
                } else {
                    format!("{word}: no such file ({what})")
                };
                return fail(missing_reason, msg);
            }
            Resolution::Loop { chain } => {
                self.checks[idx].chain = chain.iter().map(|p| display(p)).collect();
                return fail(
                    Reason::SymlinkLoop,
                    format!("{word}: too many levels of symbolic links"),
                );
            }
        };
        let path = display(&path_bytes);
        let path_bytes = path_bytes.as_slice();
        let with_note = |m: String| {
            if note.is_empty() {
                m
            } else {
                format!("{m} ({note})")
            }
        };

        // 2. Mode.
        match entry.kind {
            Kind::Dir => return fail(Reason::NotExecutable, format!("{path} is a directory")),
            Kind::File => {}
            _ => {
                return fail(
                    Reason::NotExecutable,
                    format!("{path} is not a regular file"),
                )
            }
        }
        if !entry.is_executable() {
            return fail(
                Reason::NotExecutable,
                format!(
                    "{path} has no execute bit (mode {:04o})",
                    entry.mode & 0o7777
                ),
            );
        }

        // 3. Identify.
        let (ident, mut facts) = match self.idents.get(path_bytes) {
            Some(v) => v.clone(),
            None => {
                let ident = binary::identify(self.fs, path_bytes, entry.size).await?;
                let facts = binary::facts(self.fs, path_bytes, &ident).await?;
                self.idents
                    .insert(path_bytes.to_vec(), (ident.clone(), facts.clone()));
                (ident, facts)
            }
        };

        // 4. Judge.
        let result = match &ident {
            Ident::NotAProgram { why } => {
                self.checks[idx].binary = Some(facts);
                return fail(
                    Reason::NotAProgram,
                    format!("{path} is {why}: exec format error"),
                );
            }
            Ident::Script { interpreter, arg } => {
                self.checks[idx].binary = Some(facts);
                if role == Role::Loader {
                    return fail(
                        Reason::NotAProgram,
                        format!("the loader {path} is a script"),
                    );
                }
                if depth + 1 >= MAX_INTERP_DEPTH {
                    return fail(
                        Reason::NotAProgram,
                        format!("{path}: too many nested #! interpreters"),
                    );
                }
                let interpreter = interpreter.clone();
                let arg = arg.clone();
                let mut out = self
                    .check_program(Role::Interpreter, &interpreter, false, depth + 1)
                    .await?;
                let mut msg = format!("{path} is a script run by {}", display(&interpreter));
                // `#!/usr/bin/env NAME`: env looks NAME up in PATH.
                if let Some(name) = env_program(&interpreter, arg.as_deref()) {
                    if out.verdict < Verdict::Fail {
                        let o2 = self
                            .check_program(Role::Interpreter, &name, true, depth + 1)
                            .await?;
                        if o2.verdict > out.verdict {
                            out = o2;
                        }
                        msg = format!(
                            "{path} is a script run by {} {}",
                            display(&interpreter),
                            display(&name)
                        );
                    }
                }
                let last = self
                    .checks
                    .iter()
                    .rev()
                    .find(|c| c.role == Role::Interpreter);
                if out.verdict != Verdict::Pass {
                    if let Some(c) = last.filter(|c| c.verdict == out.verdict) {
                        msg = format!("{msg}: {}", c.message);
                    }
                }
                return Ok((out, with_note(msg)));
            }
            Ident::Pe => {
                self.judge_foreign_format(&facts, &path, "windows", "a Windows PE executable")
            }
            Ident::Macho => {
                self.judge_foreign_format(&facts, &path, "darwin", "a macOS Mach-O executable")
            }
            Ident::Elf(elf) => {
                let elf = elf.clone();
                let mut out = self.judge_elf(&elf, &mut facts, path_bytes).await?;
                self.checks[idx].binary = Some(facts.clone());
                if let (Some(interp), true) = (&elf.interp, role != Role::Loader) {
                    if out.0.verdict < Verdict::Fail {
                        let lo = self
                            .check_program(Role::Loader, interp, false, depth + 1)
                            .await?;
                        if lo.verdict > out.0.verdict {
                            // A loader check adds no nested checks: the last
                            // check is the loader's.
                            let lmsg = self
                                .checks
                                .last()
                                .map(|c| c.message.clone())
                                .unwrap_or_default();
                            out = (lo, format!("{path} needs its loader: {lmsg}"));
                        }
                    }
                }
                return Ok((out.0, with_note(out.1)));
            }
        };
        self.checks[idx].binary = Some(facts);
        result.map(|(o, m)| (o, with_note(m)))
    }

    fn judge_foreign_format(
        &self,
        facts: &BinaryFacts,
        path: &str,
        os: &str,
        what: &str,
    ) -> Result<(Outcome, String), FsError> {
        let p = self.platform;
        if p.os != os {
            return Ok((
                Outcome {
                    verdict: Verdict::Fail,
                    reason: Reason::OsMismatch,
                },
                format!("{path} is {what}, but the platform is {p}"),
            ));
        }
        match &facts.arch {
            Some(a) if *a == p.arch => Ok((
                Outcome {
                    verdict: Verdict::Pass,
                    reason: Reason::Match,
                },
                format!("{path} is {what} for {a}"),
            )),
            a => Ok((
                Outcome {
                    verdict: Verdict::Fail,
                    reason: Reason::ArchMismatch,
                },
                format!(
                    "{path} is {what} for {}, but the platform is {p}",
                    a.as_deref().unwrap_or("an unknown machine")
                ),
            )),
        }
    }

    async fn judge_elf(
        &mut self,
        elf: &binary::ElfInfo,
        facts: &mut BinaryFacts,
        path_bytes: &[u8],
    ) -> Result<(Outcome, String), FsError> {
        let p = self.platform;
        let path = display(path_bytes);
        let pass = |m: String| {
            (
                Outcome {
                    verdict: Verdict::Pass,
                    reason: Reason::Match,
                },
                m,
            )
        };
        let fail = |r, m: String| {
            (
                Outcome {
                    verdict: Verdict::Fail,
                    reason: r,
                },
                m,
            )
        };
        let warn = |r, m: String| {
            (
                Outcome {
                    verdict: Verdict::Warn,
                    reason: r,
                },
                m,
            )
        };

        if p.os != "linux" && p.os != "android" {
            let desc = describe_elf(facts);
            return Ok(fail(
                Reason::OsMismatch,
                format!("{path} is {desc}, but the platform is {p}"),
            ));
        }
        let arch = facts.arch.clone();
        let is_arm = elf.machine == EM_ARM && elf.bits == 32;
        if is_arm {
            self.arm_variant(elf, facts, path_bytes).await?;
        }
        let desc = describe_elf(facts);
        let outcome = match arch.as_deref() {
            Some(a) if a == p.arch => {
                if p.arch == "arm" {
                    self.judge_arm_variant(facts, &path, &desc)
                } else {
                    pass(format!("{path} is {desc}"))
                }
            }
            Some("386") if p.arch == "amd64" => warn(
                Reason::Compat32bit,
                format!("{path} is {desc}: it runs on {p} only where the kernel supports 32-bit x86 binaries"),
            ),
            Some("arm") if p.arch == "arm64" => warn(
                Reason::Compat32bit,
                format!("{path} is {desc}: it runs on {p} only on CPUs and kernels with AArch32 support"),
            ),
            _ => fail(Reason::ArchMismatch, format!("{path} is {desc}, but the platform is {p}")),
        };
        if outcome.0.verdict == Verdict::Fail && facts.go.is_none() {
            // The Go build settings are the evidence for the Dockerfile hint.
            facts.go = binary::go_buildinfo(self.fs, path_bytes, elf).await?;
        }
        Ok(outcome)
    }

    /// Fill `facts.variant` from `.ARM.attributes`, or from Go's GOARM.
    async fn arm_variant(
        &mut self,
        elf: &binary::ElfInfo,
        facts: &mut BinaryFacts,
        path: &[u8],
    ) -> Result<(), FsError> {
        if let Some(attrs) = binary::arm_attributes(self.fs, path, elf).await? {
            if let Some(cpu) = attrs.cpu_arch {
                facts.variant = Some(binary::arm_variant_of_cpu_arch(cpu).to_string());
            }
            if attrs.vfp_args == Some(1) {
                facts.float = Some("hard");
            }
        }
        if facts.variant.is_none() {
            facts.go = binary::go_buildinfo(self.fs, path, elf).await?;
            if let Some(goarm) = facts.go.as_ref().and_then(|g| g.goarm.as_deref()) {
                let n = goarm
                    .trim_start_matches('v')
                    .split(',')
                    .next()
                    .unwrap_or("");
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
                    facts.variant = Some(format!("v{n}"));
                }
            }
        }
        Ok(())
    }

    fn judge_arm_variant(&self, facts: &BinaryFacts, path: &str, desc: &str) -> (Outcome, String) {
        let p = self.platform;
        let level = p.arm_level().unwrap_or(7);
        let bin = facts
            .variant
            .as_deref()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|n| n.parse::<u32>().ok());
        match bin {
            Some(b) if b > level => (
                Outcome { verdict: Verdict::Fail, reason: Reason::VariantMismatch },
                format!("{path} is {desc}, which needs ARMv{b}; the platform is {p}"),
            ),
            Some(_) => (
                Outcome { verdict: Verdict::Pass, reason: Reason::Match },
                format!("{path} is {desc}"),
            ),
            None if level < 7 => (
                Outcome { verdict: Verdict::Warn, reason: Reason::VariantUnknown },
                format!("{path} is {desc} with no evidence of its ARM architecture level; the platform is {p}"),
            ),
            None => (
                Outcome { verdict: Verdict::Pass, reason: Reason::Match },
                format!("{path} is {desc}"),
            ),
        }
    }

    fn report(self, program: String, resolved: String) -> PlatformReport {
        let platform = self.platform.to_string();
        if self.checks.is_empty() {
            return PlatformReport {
                platform,
                verdict: Verdict::Skip,
                reason: Reason::NoCommand,
                message: "the image config has no ENTRYPOINT or CMD: nothing to run".into(),
                program,
                resolved,
                checks: Vec::new(),
                hint: None,
                digest: None,
                check_micros: None,
            };
        }
        let worst = self
            .checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Pass);
        let decider = self
            .checks
            .iter()
            .find(|c| c.verdict == worst)
            .expect("a check exists");
        let (reason, message) = if worst == Verdict::Pass {
            let n = self.checks.len();
            let what = if n == 1 {
                "the program".to_string()
            } else {
                format!("all {n} checked programs, interpreters and loaders")
            };
            (Reason::Match, format!("{what} can run on {platform}"))
        } else {
            (
                decider.reason,
                format!(
                    "{} {}: {}",
                    decider.role.as_str(),
                    decider.path,
                    decider.message
                ),
            )
        };
        let hint = hint_for(reason, &self.checks, self.platform);
        PlatformReport {
            platform,
            verdict: worst,
            reason,
            message,
            program,
            resolved,
            checks: self.checks,
            hint,
            digest: None,
            check_micros: None,
        }
    }
}

/// `#!/usr/bin/env NAME`: the program env will look up. The kernel passes
/// everything after the interpreter as one argument, so `env python3 -u` asks
/// env for a program literally named "python3 -u", unless `-S` splits it.
fn env_program(interpreter: &[u8], arg: Option<&[u8]>) -> Option<Vec<u8>> {
    let base = interpreter.rsplit(|&b| b == b'/').next()?;
    if base != b"env" {
        return None;
    }
    let arg = arg?;
    let blank = |b: &u8| b.is_ascii_whitespace();
    let words: Vec<&[u8]> = if let Some(rest) = arg
        .strip_prefix(b"-S")
        .or_else(|| arg.strip_prefix(b"--split-string"))
    {
        let rest = rest.strip_prefix(b"=").unwrap_or(rest);
        rest.split(blank).filter(|w| !w.is_empty()).collect()
    } else {
        vec![arg]
    };
    let mut it = words.into_iter().peekable();
    while let Some(w) = it.next() {
        let has_blank = w.contains(&b' ');
        match w {
            b"-i" | b"--ignore-environment" | b"-" | b"-0" | b"--null" | b"--" => continue,
            b"-u" | b"--unset" | b"-C" | b"--chdir" => {
                it.next();
            }
            w if w.first() == Some(&b'-') && !has_blank => continue,
            w if w.contains(&b'=') && w.first() != Some(&b'=') && !has_blank => continue,
            w => return Some(w.to_vec()),
        }
    }
    None
}

/// "an ELF 64-bit LSB executable for arm64, static" and the like.
fn describe_elf(f: &BinaryFacts) -> String {
    let arch = match &f.arch {
        Some(a) => a.clone(),
        None => format!("machine {}", f.machine.unwrap_or(0)),
    };
    let endian = if f.endian == Some("big") {
        "MSB"
    } else {
        "LSB"
    };
    let mut s = format!(
        "an ELF {}-bit {endian} binary for {arch}",
        f.bits.unwrap_or(0)
    );
    if let Some(v) = &f.variant {
        s.push_str(&format!(" ({v})"));
    }
    match &f.interpreter {
        Some(i) => s.push_str(&format!(", dynamically linked ({i})")),
        None => s.push_str(", statically linked"),
    }
    if let Some(g) = f.go.as_ref().and_then(|g| g.goarch.as_ref()) {
        s.push_str(&format!(", Go GOARCH={g}"));
        if let Some(arm) = f.go.as_ref().and_then(|g| g.goarm.as_ref()) {
            s.push_str(&format!(" GOARM={arm}"));
        }
    }
    s
}

/// The usual Dockerfile cause of a verdict, for people.
fn hint_for(reason: Reason, checks: &[Check], p: &Platform) -> Option<String> {
    let c = checks
        .iter()
        .find(|c| c.reason == reason && c.verdict != Verdict::Pass);
    let go = c
        .and_then(|c| c.binary.as_ref())
        .and_then(|b| b.go.as_ref());
    Some(match reason {
        Reason::ArchMismatch => match go.and_then(|g| g.goarch.as_deref()) {
            Some(goarch) => format!(
                "built by Go with GOARCH={goarch}: declare `ARG TARGETOS TARGETARCH` and build with GOOS=$TARGETOS GOARCH=$TARGETARCH instead of a fixed value"
            ),
            None => format!(
                "the binary was built or downloaded for another architecture: pick it per platform with `ARG TARGETARCH` (e.g. COPY app-${{TARGETARCH}}), or cross-compile for {}",
                p.arch
            ),
        },
        Reason::VariantMismatch => match go.and_then(|g| g.goarm.as_deref()) {
            Some(goarm) => format!(
                "built by Go with GOARM={goarm}: derive GOARM from `ARG TARGETVARIANT` (linux/arm/v6 -> GOARM=6) instead of a fixed value"
            ),
            None => format!(
                "built for a newer ARM level than {p}: use a toolchain or package for that level (Debian armel for v5/v6, armhf for v7), picked per platform with `ARG TARGETVARIANT`"
            ),
        },
        Reason::LoaderMissing => {
            let loader = c.map(|c| c.path.as_str()).unwrap_or("");
            if loader.contains("musl") {
                "the binary is linked against musl: use an Alpine-based image, or link it statically".to_string()
            } else {
                "the binary is dynamically linked against glibc but the image has no glibc: build it statically (CGO_ENABLED=0 for Go, -static or musl for C), or use a base image with glibc (debian-slim, distroless/base)".to_string()
            }
        }
        Reason::NotExecutable => {
            "add the execute bit: `COPY --chmod=0755` or `RUN chmod +x`".to_string()
        }
        Reason::NotFound => {
            "the program is not in this platform's image: check the ENTRYPOINT/CMD path, PATH, and that the COPY for this platform brought it in".to_string()
        }
        Reason::NotAProgram => {
            "the file is neither a binary nor a #! script: a truncated download, an HTML error page, or a text file without #!?".to_string()
        }
        Reason::SymlinkLoop => "a symlink in the chain points back at itself".to_string(),
        Reason::OsMismatch => format!("the program is built for another OS; the platform is {p}"),
        Reason::Compat32bit => {
            "a 32-bit binary on a 64-bit platform: build it for the platform's own architecture to run everywhere".to_string()
        }
        Reason::VariantUnknown => {
            "nothing in the binary says which ARM level it needs: make sure it was built for the platform's variant".to_string()
        }
        Reason::Match | Reason::NoCommand => return None,
    })
}

#[cfg(test)]
mod tests;
