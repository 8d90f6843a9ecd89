//! Verdicts, reason codes and the evidence behind them: the engine's output and
//! the stable JSON contract (`DESIGN.md`), serialised as is.
//!
//! The one idea: a platform's verdict is its worst check's, so every rule only
//! has to judge one program at a time.

use serde::Serialize;

/// Ordered from best to worst, so `max` gives the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Skip,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Skip => "skip",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// Stable reason codes; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Match,
    ArchMismatch,
    OsMismatch,
    VariantMismatch,
    LoaderMissing,
    NotFound,
    NotExecutable,
    NotAProgram,
    SymlinkLoop,
    /// The runtime or a program refuses how it is invoked and exits before
    /// running anything: E2BIG, a relative WorkingDir, an option a wrapper or
    /// shell does not take, `sh -c` without a string.
    BadInvocation,
    #[serde(rename = "compat-32bit")]
    Compat32bit,
    VariantUnknown,
    NoCommand,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Match => "match",
            Reason::ArchMismatch => "arch-mismatch",
            Reason::OsMismatch => "os-mismatch",
            Reason::VariantMismatch => "variant-mismatch",
            Reason::LoaderMissing => "loader-missing",
            Reason::NotFound => "not-found",
            Reason::NotExecutable => "not-executable",
            Reason::NotAProgram => "not-a-program",
            Reason::SymlinkLoop => "symlink-loop",
            Reason::BadInvocation => "bad-invocation",
            Reason::Compat32bit => "compat-32bit",
            Reason::VariantUnknown => "variant-unknown",
            Reason::NoCommand => "no-command",
        }
    }
}

/// Why a program was checked. Values are only ever added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// argv[0] of ENTRYPOINT + CMD.
    Entrypoint,
    /// A later argv word that runs: the program a known wrapper (tini,
    /// dumb-init, catatonit, su-exec, gosu, env) execs, or a binary given as
    /// an argument.
    Argument,
    /// The HEALTHCHECK program, and what its shell or wrappers run.
    Healthcheck,
    /// A `#!` interpreter (and what `#!/usr/bin/env` looks up).
    Interpreter,
    /// An ELF loader (PT_INTERP).
    Loader,
    /// What a shell runs: the first word of `sh -c STRING` (Docker's shell
    /// form), or CMD[0] run by an entrypoint script ending in `exec "$@"`.
    Command,
    /// `--deep`: a program found anywhere in the image (an executable, a
    /// shared library), whatever the config runs.
    File,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Entrypoint => "entrypoint",
            Role::Argument => "argument",
            Role::Healthcheck => "healthcheck",
            Role::Interpreter => "interpreter",
            Role::Loader => "loader",
            Role::Command => "command",
            Role::File => "file",
        }
    }
}

/// What the bytes of a file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Elf,
    Pe,
    Macho,
    Script,
    Unknown,
}

/// Go build info facts (`go version -m`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GoInfo {
    #[serde(rename = "GOARCH", skip_serializing_if = "Option::is_none")]
    pub goarch: Option<String>,
    #[serde(rename = "GOARM", skip_serializing_if = "Option::is_none")]
    pub goarm: Option<String>,
    #[serde(rename = "GOOS", skip_serializing_if = "Option::is_none")]
    pub goos: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "CGO_ENABLED", skip_serializing_if = "Option::is_none")]
    pub cgo_enabled: Option<String>,
}

/// The facts about a file's bytes that a verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryFacts {
    pub format: Format,
    /// GOARCH name, when the machine is one archgate knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// ARM variant (`v5`, `v6`, `v7`, `v8`) when the binary proves one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endian: Option<&'static str>,
    /// PT_INTERP, for a dynamically linked ELF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go: Option<GoInfo>,
    /// Raw machine number (ELF e_machine, PE Machine, Mach-O cputype).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<u32>,
    /// `hard` or `soft`, for ARM ELF binaries that say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float: Option<&'static str>,
    /// The OS the format implies (`linux` for ELF, `windows` for PE, `darwin`
    /// for Mach-O).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<&'static str>,
    /// For scripts: the `#!` line's interpreter and its optional argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shebang: Option<Vec<String>>,
}

impl BinaryFacts {
    pub fn of(format: Format) -> Self {
        BinaryFacts {
            format,
            arch: None,
            variant: None,
            bits: None,
            endian: None,
            interpreter: None,
            go: None,
            machine: None,
            float: None,
            os: None,
            shebang: None,
        }
    }
}

/// One program checked, with how it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub role: Role,
    /// The path as written (argv word, `#!` interpreter, PT_INTERP).
    pub path: String,
    /// Where it resolved to inside the image (empty when not found).
    pub resolved: String,
    /// Every path visited on the way: PATH candidate, each symlink hop.
    pub chain: Vec<String>,
    pub verdict: Verdict,
    pub reason: Reason,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<BinaryFacts>,
}

/// A platform's verdict: its worst check's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformReport {
    pub platform: String,
    pub verdict: Verdict,
    pub reason: Reason,
    pub message: String,
    /// argv[0] as the config gives it (empty when nothing runs).
    pub program: String,
    /// Where argv[0] resolved to (empty when it did not).
    pub resolved: String,
    pub checks: Vec<Check>,
    /// Evidence that decided nothing: arguments an interpreter reads as data,
    /// and commands archgate found but did not judge, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// A hint at the usual Dockerfile cause, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// `--deep` only: how many files were judged as programs; those that
    /// did not pass are among `checks` (role `file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deep: Option<DeepSummary>,
    /// The manifest digest this platform came from, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `build` only: milliseconds the check of this platform took (reading
    /// its files from the build result and judging them).
    #[serde(
        rename = "check_ms",
        skip_serializing_if = "Option::is_none",
        serialize_with = "micros_as_ms"
    )]
    pub check_micros: Option<u64>,
    /// A failing platform's origin: its Dockerfile line (`archgate build`
    /// from the Dockerfile on disk, `archgate check` from the Dockerfile a
    /// provenance attestation carries), both from `lint::explain`; else
    /// (`check`) the config's history entry that made the layer holding
    /// the failing path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLine>,
}

/// Where a failing platform's program came from: a Dockerfile line (`file`,
/// `line`, `end_line`), or an entry of the image's history (`layer`,
/// `history`) when no Dockerfile is at hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLine {
    /// The Dockerfile, as the user named it or the build recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    /// The layer that holds the failing path (0 is the bottom one, as the
    /// manifest lists them), when the source is the image's history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The index of the config's `history` entry that made that layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<usize>,
    /// The lint rule that explains the failure, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What is wrong there (the rule's message), or what the instruction
    /// did (wrote the path).
    pub message: String,
    /// The instruction: its first line as written in the Dockerfile, or the
    /// history entry's `created_by`.
    pub instruction: String,
}

impl SourceLine {
    /// The Dockerfile and line range, when the source has them.
    pub fn dockerfile_line(&self) -> Option<(&str, u32, u32)> {
        let line = self.line?;
        Some((self.file.as_deref()?, line, self.end_line.unwrap_or(line)))
    }
}

/// What `--deep` judged on one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeepSummary {
    /// Files judged as programs (executables, scripts, shared libraries).
    pub files: usize,
    /// Of them, how many failed and how many warned.
    pub failed: usize,
    pub warned: usize,
}

fn micros_as_ms<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(us) => s.serialize_f64(*us as f64 / 1000.0),
        None => s.serialize_none(),
    }
}

/// One image reference with all of its checked platforms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageReport {
    pub image: String,
    pub platforms: Vec<PlatformReport>,
    /// Why the image could not be checked (then `platforms` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The verdict of a whole run: `error` when some image could not be decided
/// (exit 2), so a script reading only this field never lets it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunVerdict {
    Pass,
    Warn,
    Fail,
    Error,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub verdict: RunVerdict,
    pub images: Vec<ImageReport>,
    /// How many images could not be checked.
    pub errors: usize,
}

impl Report {
    /// Overall verdict: `error` if any image could not be checked, else
    /// `fail` if any platform failed, `warn` if any warned or was skipped,
    /// else `pass`.
    pub fn new(images: Vec<ImageReport>) -> Self {
        let errors = images.iter().filter(|i| i.error.is_some()).count();
        let worst = images
            .iter()
            .flat_map(|i| i.platforms.iter().map(|p| p.verdict))
            .max()
            .unwrap_or(Verdict::Pass);
        let verdict = match worst {
            _ if errors > 0 => RunVerdict::Error,
            Verdict::Fail => RunVerdict::Fail,
            Verdict::Warn | Verdict::Skip => RunVerdict::Warn,
            Verdict::Pass => RunVerdict::Pass,
        };
        Report {
            verdict,
            images,
            errors,
        }
    }

    /// How the run ends: could not decide when some image could not be
    /// checked, else the gate failed when some platform fails it
    /// ([`gate_fails`]), else pass.
    pub fn exit(&self, strict: bool) -> Exit {
        if self.errors > 0 {
            return Exit::Undecided;
        }
        let failed = self
            .images
            .iter()
            .flat_map(|i| i.platforms.iter())
            .any(|p| gate_fails(p.verdict, strict));
        if failed {
            Exit::GateFailed
        } else {
            Exit::Pass
        }
    }
}

/// The gate rule, the one every command and the build's progress view
/// follow: a platform fails the gate when it failed, or, with `strict`
/// (`--strict`), when it warned or was skipped.
pub fn gate_fails(v: Verdict, strict: bool) -> bool {
    match v {
        Verdict::Fail => true,
        Verdict::Warn | Verdict::Skip => strict,
        Verdict::Pass => false,
    }
}

/// The process exit codes, the contract scripts rely on (`DESIGN.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every platform passed (warnings allowed unless `--strict`); also a
    /// request for help or the version.
    Pass = 0,
    /// The gate failed: some platform failed it ([`gate_fails`]).
    GateFailed = 1,
    /// archgate could not decide: bad arguments, an unreadable image, an
    /// unreachable daemon, a failed build, an interrupted run.
    Undecided = 2,
}

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_blocks_fail_always_and_warn_only_when_strict() {
        assert!(gate_fails(Verdict::Fail, false));
        assert!(!gate_fails(Verdict::Warn, false));
        assert!(gate_fails(Verdict::Warn, true));
        assert!(gate_fails(Verdict::Skip, true));
        assert!(!gate_fails(Verdict::Pass, true));
    }
}
