//! `--deep`: every program in the image, not only the ones the config runs.
//!
//! The one idea: a file anywhere in the image is judged like a program the
//! runtime might exec later (a helper, a plugin) or load (a shared library):
//! its own format against the platform first, then, for an executable, what
//! the kernel needs to run it (the ELF loader, the `#!` interpreter). A
//! caller that streams layers judges each file's bytes as they pass
//! (`follow: false`, and `DeepFile::needs` says what is left) and the few
//! distinct loaders and interpreters once at the end (`inspect_exec`).

use super::{hint_for, Ctx, Engine, Finder, Missing};
use crate::inspect::binary::Ident;
use crate::inspect::resolve::DEFAULT_PATH;
use crate::inspect::verdict::{Check, DeepSummary, PlatformReport, Reason, Role, Verdict};
use crate::inspect::{InspectError, Platform};
use crate::rootfs::{display, Entry, Kind, RootFs};

/// What `--deep` made of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeepFile {
    /// The file's own check (role `file`) first, then, when it was
    /// followed, the checks of its interpreter or loader.
    pub checks: Vec<Check>,
    /// Judged without following: the loader (role `loader`) or interpreter
    /// (role `interpreter`) the kernel would open to run it, still to judge.
    pub needs: Option<(Role, Vec<u8>)>,
}

impl DeepFile {
    /// The file's verdict: its own check's, or worse through what it needs.
    pub fn verdict(&self) -> Verdict {
        self.checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Pass)
    }
}

fn default_ctx() -> Ctx {
    Ctx {
        path: Some(DEFAULT_PATH.as_bytes().to_vec()),
        cwd: None,
        posix: false,
        cred: None,
    }
}

/// Judge the regular file at `path` (already resolved; `entry` is its
/// lstat) as `--deep` does. `None` when it is not a program: data, text
/// without `#!`, an object file, a non-executable script or PE/Mach-O file,
/// or a non-executable ELF file for a machine that is no CPU archgate knows
/// (GPU and DSP code ship as ELF too).
///
/// Executables are judged as exec would (`follow`: with their loader or
/// interpreter); a script whose interpreter is missing is only a warning
/// here, since nothing says it ever runs. Other ELF files (shared libraries,
/// binaries without an execute bit) are judged by their machine alone.
pub async fn inspect_file<R: RootFs>(
    platform: &Platform,
    fs: &R,
    path: &[u8],
    entry: &Entry,
    follow: bool,
) -> Result<Option<DeepFile>, InspectError> {
    if entry.kind != Kind::File {
        return Ok(None);
    }
    let exec = entry.is_executable();
    let mut e = Engine::new(fs, platform);
    let ident = e.ident_of(path, entry.size).await?;
    let own = |e: &Engine<'_, R>, verdict, reason, message: String| Check {
        role: Role::File,
        path: display(path),
        resolved: display(path),
        chain: vec![display(path)],
        verdict,
        reason,
        message,
        binary: e.idents.get(path).map(|(_, f)| f.clone()),
    };
    match &ident {
        Ident::NotAProgram { .. } => Ok(None),
        Ident::Script { .. } | Ident::Pe | Ident::Macho if !exec => Ok(None),
        Ident::Elf(_) if !exec && e.idents.get(path).is_none_or(|(_, f)| f.arch.is_none()) => {
            Ok(None)
        }
        Ident::Script { interpreter, .. } if !follow => {
            let c = own(
                &e,
                Verdict::Pass,
                Reason::Match,
                format!(
                    "{} is a script run by {}",
                    display(path),
                    display(interpreter)
                ),
            );
            Ok(Some(DeepFile {
                checks: vec![c],
                needs: Some((Role::Interpreter, interpreter.clone())),
            }))
        }
        Ident::Elf(elf) if !exec || !follow => {
            let elf = elf.clone();
            let mut facts = e.idents[path].1.clone();
            let (o, msg) = e.judge_elf(&elf, &mut facts, path).await?;
            let mut c = own(&e, o.verdict, o.reason, msg);
            c.binary = Some(facts);
            let needs = match &elf.interp {
                Some(i) if exec && o.verdict < Verdict::Fail && elf.interp_error.is_none() => {
                    Some((Role::Loader, i.clone()))
                }
                _ => None,
            };
            Ok(Some(DeepFile {
                checks: vec![c],
                needs,
            }))
        }
        _ => {
            let ctx = default_ctx();
            e.check_program(Role::File, path, Finder::Kernel, &ctx, 0, &Missing::Fail)
                .await?;
            let mut checks = e.checks;
            if matches!(ident, Ident::Script { .. }) {
                soften_script(&mut checks);
            }
            Ok(Some(DeepFile {
                checks,
                needs: None,
            }))
        }
    }
}

/// A script `--deep` found fails only when its interpreter is there and
/// built for another machine; one that cannot start for another reason (its
/// interpreter missing, CRLF line endings) is a warning: nothing says it
/// ever runs, and the interpreter binary is judged on its own anyway.
pub fn soften_script(checks: &mut [Check]) {
    let foreign = |r: Reason| {
        matches!(
            r,
            Reason::ArchMismatch | Reason::OsMismatch | Reason::VariantMismatch
        )
    };
    if checks
        .iter()
        .any(|c| c.verdict == Verdict::Fail && foreign(c.reason))
    {
        return;
    }
    for c in checks.iter_mut().filter(|c| c.verdict == Verdict::Fail) {
        c.verdict = Verdict::Warn;
    }
}

/// Judge what the kernel opens to run a program found by `--deep`: its
/// loader (`role` loader, PT_INTERP) or its `#!` interpreter (`role`
/// interpreter), as written, relative names from `/`. The checks of the
/// loader or interpreter and of whatever it needs in turn.
pub async fn inspect_exec<R: RootFs>(
    platform: &Platform,
    fs: &R,
    role: Role,
    word: &[u8],
) -> Result<Vec<Check>, InspectError> {
    let mut e = Engine::new(fs, platform);
    let ctx = default_ctx();
    e.check_program(role, word, Finder::Kernel, &ctx, 0, &Missing::Fail)
        .await?;
    Ok(e.checks)
}

/// Fold `--deep`'s findings into a platform's report: the files that did not
/// pass are added to its checks (those that passed are only counted), and
/// the platform's verdict becomes the worst of both.
pub fn fold_deep(
    report: &mut PlatformReport,
    judged: usize,
    files: Vec<DeepFile>,
    platform: &Platform,
) {
    let mut summary = DeepSummary {
        files: judged,
        failed: 0,
        warned: 0,
    };
    let before = report.checks.len();
    for f in files {
        match f.verdict() {
            Verdict::Fail => summary.failed += 1,
            Verdict::Warn => summary.warned += 1,
            _ => continue,
        }
        report.checks.extend(f.checks);
    }
    report.deep = Some(summary);
    let Some(worst) = report.checks[before..].iter().map(|c| c.verdict).max() else {
        return;
    };
    if worst <= report.verdict {
        return;
    }
    let Some(decider) = report.checks[before..].iter().find(|c| c.verdict == worst) else {
        return;
    };
    report.verdict = worst;
    report.reason = decider.reason;
    report.message = format!(
        "{} {}: {}",
        decider.role.as_str(),
        decider.path,
        decider.message
    );
    report.hint = hint_for(decider.reason, &report.checks[before..], platform);
}
