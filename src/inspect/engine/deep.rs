//! `--deep`: every program in the image, not only the ones the config runs.
//!
//! The one idea: a file anywhere in the image is judged like a program the
//! runtime might exec later (a helper, a plugin) or load (a shared library):
//! its own format against the platform first, then, for an executable, what
//! the kernel needs to run it (the ELF loader, the `#!` interpreter). A
//! caller that streams layers judges each file's bytes as they pass
//! (`follow: false`, and `DeepFile::needs` says what is left) and the few
//! distinct loaders and interpreters once at the end (`Completer`), which
//! gives what following would have given.
//!
//! Files are judged under a stand-in name ([`SYNTH`]) when many of them are
//! to share one judgement: the result is then a template, and [`repath`]
//! puts each file's own path in.

use super::judge::needs_loader;
use super::report::hint_for;
use super::{shown, Ctx, Engine, Finder, Missing, Outcome};
use crate::inspect::binary::{Ident, ET_DYN};
use crate::inspect::platform::{goarch_of_elf, EM_386, EM_486};
use crate::inspect::resolve::DEFAULT_PATH;
use crate::inspect::verdict::{Check, DeepSummary, PlatformReport, Reason, Role, Verdict};
use crate::inspect::{InspectError, Platform};
use crate::rootfs::{display, Entry, FsError, Kind, RootFs};
use std::collections::HashMap;

/// What `--deep` made of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeepFile {
    /// The file's own check (role `file`) first, then, when it was
    /// followed, the checks of its interpreter or loader.
    pub checks: Vec<Check>,
    /// Judged without following: the loader (role `loader`) or interpreter
    /// (role `interpreter`) the kernel would open to run it, still to judge.
    pub needs: Option<(Role, Vec<u8>)>,
    /// With an interpreter in `needs`: the argument of its `#!` line.
    pub arg: Option<Vec<u8>>,
    /// What was not judged, and why (a relative interpreter or loader).
    pub note: Option<String>,
    /// A shared object for another known CPU, with no execute bit: it
    /// fails only where the loader finds it by itself, and warns elsewhere.
    /// Its verdict here is the failure; [`place`] decides it per path.
    pub placed: bool,
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

    /// The path the file was judged at.
    pub fn path(&self) -> &str {
        self.checks.first().map_or("", |c| c.path.as_str())
    }
}

/// The stand-in path of a file judged as a template: an absolute name right
/// under `/` (so it resolves whatever the image has), valid UTF-8 (a
/// gateway path must be), with a noncharacter no real name contains.
pub const SYNTH: &[u8] = "/\u{fffe}archgate-deep".as_bytes();

/// Whether `--deep` looks at a file: a regular, non-empty file with an
/// execute bit (what exec can run), or whose name has `.so` in it (a shared
/// library: the loader and `dlopen` map it without an execute bit). Both
/// backends walk files by this rule, so `check` and `build` judge the same
/// files.
pub fn is_candidate(name: &[u8], entry: &Entry) -> bool {
    entry.kind == Kind::File
        && entry.size > 0
        && (entry.is_executable() || memchr::memmem::find(name, b".so").is_some())
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
/// a PE or Mach-O file in an image for Linux (no Linux kernel has a handler
/// for them: they are data there, like a .NET assembly `dotnet` loads), a
/// non-executable ELF executable (only a shared object can be loaded
/// without an execute bit; glibc refuses to `dlopen` an `ET_EXEC` file), or
/// a non-executable ELF file for a machine that is no CPU archgate knows
/// (GPU and DSP code ship as ELF too).
///
/// Executables are judged as exec would (`follow`: with their loader or
/// interpreter); a script whose interpreter is missing is only a warning
/// here, since nothing says it ever runs. Shared objects without an execute
/// bit are judged by their machine alone; one for another known CPU fails
/// only where the platform's loader finds it by itself, which depends on
/// the file's path and the whole image: it comes back failed and
/// [`DeepFile::placed`], for the caller to [`place`] at each of its paths.
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
        Ident::Script { .. } if !exec => Ok(None),
        Ident::Pe | Ident::Macho if !exec || platform.os == "linux" => Ok(None),
        Ident::Elf(elf)
            if !exec
                && (elf.e_type != ET_DYN
                    || e.idents.get(path).is_none_or(|(_, f)| f.arch.is_none())) =>
        {
            Ok(None)
        }
        // `#!` alone names no interpreter: judged in full below, as for an
        // entrypoint.
        Ident::Script { interpreter, arg }
            if (!follow || !interpreter.starts_with(b"/")) && !interpreter.is_empty() =>
        {
            if !interpreter.starts_with(b"/") {
                let c = own(
                    &e,
                    Verdict::Pass,
                    Reason::Match,
                    format!(
                        "{} is a script run by {}, a relative name: its interpreter is not judged",
                        shown(path),
                        shown(interpreter)
                    ),
                );
                return Ok(Some(DeepFile {
                    checks: vec![c],
                    needs: None,
                    arg: None,
                    note: Some(relative_note(path, "#! interpreter", interpreter)),
                    placed: false,
                }));
            }
            let c = own(
                &e,
                Verdict::Pass,
                Reason::Match,
                format!("{} is a script run by {}", shown(path), shown(interpreter)),
            );
            Ok(Some(DeepFile {
                checks: vec![c],
                needs: Some((Role::Interpreter, interpreter.clone())),
                arg: arg.clone(),
                note: None,
                placed: false,
            }))
        }
        Ident::Elf(elf)
            if !exec || !follow || elf.interp.as_ref().is_some_and(|i| !i.starts_with(b"/")) =>
        {
            let elf = elf.clone();
            let mut facts = e.idents[path].1.clone();
            let (mut o, mut msg) = e.judge_elf(&elf, &mut facts, path).await?;
            // binfmt_elf checks PT_INTERP after the machine (as `judge`).
            if let (true, true, Some(why)) = (exec, o.verdict < Verdict::Fail, &elf.interp_error) {
                let arch = facts.arch.as_deref().unwrap_or("an unknown machine");
                o.verdict = Verdict::Fail;
                o.reason = Reason::NotAProgram;
                msg = format!(
                    "{} is a dynamically linked ELF binary for {arch}, but {why}: exec format error",
                    shown(path)
                );
            }
            if !exec && elf.interp.is_none() {
                // A library: "statically linked" would mislead.
                msg = msg.replacen(", statically linked", ", a shared object", 1);
            }
            let placed = !exec && o.verdict == Verdict::Fail && o.reason == Reason::ArchMismatch;
            let mut c = own(&e, o.verdict, o.reason, msg);
            c.binary = Some(facts);
            let (needs, note) = match &elf.interp {
                Some(i) if exec && o.verdict < Verdict::Fail && !i.starts_with(b"/") => {
                    (None, Some(relative_note(path, "ELF loader (PT_INTERP)", i)))
                }
                Some(i) if exec && o.verdict < Verdict::Fail => {
                    (Some((Role::Loader, i.clone())), None)
                }
                _ => (None, None),
            };
            Ok(Some(DeepFile {
                checks: vec![c],
                needs,
                arg: None,
                note,
                placed,
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
                arg: None,
                note: None,
                placed: false,
            }))
        }
    }
}

/// Decide a [`DeepFile::placed`] library at one of its paths: where the
/// loader finds it by itself (`searched`, [`LoaderDirs::searches`]) it
/// fails as judged; elsewhere (a cross toolchain's
/// `/usr/aarch64-linux-gnu/lib`) the loader never finds it on its own, and
/// skips a wrong-machine file when it does (glibc elf/dl-load.c
/// `open_verify`): a warning.
///
/// [`LoaderDirs::searches`]: crate::inspect::ldpath::LoaderDirs::searches
pub fn place(f: &mut DeepFile, platform: &Platform, searched: bool) {
    if !f.placed || searched {
        return;
    }
    f.placed = false;
    if let Some(c) = f.checks.first_mut() {
        c.verdict = Verdict::Warn;
        c.message = format!(
            "{}, outside the directories the {platform} dynamic loader searches (and it skips \
             a library for another machine): a problem only if a program loads it through \
             RPATH/RUNPATH, LD_LIBRARY_PATH or dlopen of its path (a cross toolchain's \
             sysroot is only linked against)",
            c.message
        );
    }
}

/// The note for a program whose interpreter or loader (`what`, named
/// `word`) is a relative name: the kernel opens it from the working
/// directory of the process that calls execve (fs/exec.c `open_exec` →
/// `do_open_execat(AT_FDCWD, ...)`, for binfmt_script and binfmt_elf
/// alike), which `--deep` cannot know for a file no config runs. Resolving
/// it from `/` would be a guess.
fn relative_note(path: &[u8], what: &str, word: &[u8]) -> String {
    format!(
        "--deep: {}: its {what} {} is a relative name, which the kernel resolves \
         against the working directory of whoever runs it, unknown for a file no config \
         runs: the {what} is not judged",
        shown(path),
        shown(word)
    )
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

/// An ELF program's class, machine and whether it is big-endian.
type ElfClass = (u8, u16, bool);

/// The class and machine of an ELF binary whose loader is still to judge,
/// as its own check recorded them, the machine normalised as binfmt_elf
/// compares it (EM_486 is EM_386): what its loader's verdict depends on.
fn elf_class(f: &DeepFile) -> Option<ElfClass> {
    let b = f.checks.first()?.binary.as_ref()?;
    let m = u16::try_from(b.machine?).ok()?;
    let m = if m == EM_486 { EM_386 } else { m };
    Some((b.bits?, m, b.endian == Some("big")))
}

/// Judge the loader (PT_INTERP `word`, as written, relative names from `/`)
/// of an ELF program `--deep` found, of class `bits`, `machine` and byte
/// order, as
/// `judge` does: through [`Engine::check_loader`], so a loader of another
/// class or machine is ELIBBAD here too (fs/binfmt_elf.c
/// `load_elf_binary`). The loader's checks.
pub async fn inspect_loader<R: RootFs>(
    platform: &Platform,
    fs: &R,
    word: &[u8],
    (bits, machine, big): ElfClass,
) -> Result<Vec<Check>, InspectError> {
    let mut e = Engine::new(fs, platform);
    let ctx = default_ctx();
    // One description per class and machine, so one judgement serves every
    // program that shares them.
    let arch = goarch_of_elf(machine, bits, big);
    let main = match arch {
        Some(a) => format!("an ELF {bits}-bit binary for {a}"),
        None => format!("an ELF {bits}-bit binary for machine {machine}"),
    };
    e.check_loader(word, (bits, machine, main), &ctx, 0).await?;
    Ok(e.checks)
}

/// An ELF executable judged without following, completed with its loader's
/// checks by the rule `judge` uses ([`needs_loader`]): the file takes the
/// loader's verdict when that is worse ("needs its loader: ..."), and the
/// loader's checks follow.
pub fn with_loader(mut f: DeepFile, loader: &[Check]) -> DeepFile {
    if let (Some(own), Some(lo)) = (f.checks.first_mut(), loader.first()) {
        let mut out = (
            Outcome {
                verdict: own.verdict,
                reason: own.reason,
            },
            std::mem::take(&mut own.message),
        );
        let lo_out = Outcome {
            verdict: lo.verdict,
            reason: lo.reason,
        };
        needs_loader(&mut out, &own.path, lo_out, &lo.message);
        (own.verdict, own.reason, own.message) = (out.0.verdict, out.0.reason, out.1);
    }
    f.checks.extend(loader.iter().cloned());
    f.needs = None;
    f.arg = None;
    f
}

/// A note written for a file judged at [`SYNTH`], for the file at `to`.
pub fn repath_note(note: &str, to: &[u8]) -> String {
    note.replace(&shown(SYNTH), &shown(to))
}

/// Put `to` where `from` is in checks judged at `from` (the file's own
/// check, and messages that name it).
pub fn repath(checks: &mut [Check], from: &[u8], to: &[u8]) {
    if from == to {
        return;
    }
    let (from_d, to_d) = (display(from), display(to));
    let (from_s, to_s) = (shown(from), shown(to));
    for c in checks {
        for s in std::iter::once(&mut c.path)
            .chain(std::iter::once(&mut c.resolved))
            .chain(c.chain.iter_mut())
        {
            if *s == from_d {
                *s = to_d.clone();
            }
        }
        if c.message.contains(&from_s) {
            c.message = c.message.replace(&from_s, &to_s);
        }
    }
}

/// The `#!` line that parses to (`interpreter`, `arg`) exactly as the
/// original did (binfmt_script): the name, one blank, the argument as it
/// was, then NUL padding instead of a newline, so the kernel's trimming of
/// blanks before a newline cannot change the argument. Never longer than
/// the original line's first 255 bytes, so within the buffer the kernel
/// reads.
fn synthetic_script(interpreter: &[u8], arg: Option<&[u8]>) -> Vec<u8> {
    let mut s = b"#!".to_vec();
    s.extend_from_slice(interpreter);
    if let Some(a) = arg {
        s.push(b' ');
        s.extend_from_slice(a);
    }
    s
}

/// `fs` with one more file: an executable at [`SYNTH`] holding `data`.
struct WithSynth<'a, R> {
    base: &'a R,
    data: Vec<u8>,
}

impl<R: RootFs> RootFs for WithSynth<'_, R> {
    async fn lstat(&self, path: &[u8]) -> Result<Option<Entry>, FsError> {
        if path == SYNTH {
            return Ok(Some(Entry::file(0o755, self.data.len() as u64)));
        }
        self.base.lstat(path).await
    }

    async fn read_at(&self, path: &[u8], offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        if path == SYNTH {
            let start = (offset as usize).min(self.data.len());
            let end = start.saturating_add(len).min(self.data.len());
            return Ok(self.data[start..end].to_vec());
        }
        self.base.read_at(path, offset, len).await
    }
}

/// Distinct loaders and interpreters kept by the [`Completer`]; past this,
/// each is judged again for every file that needs it.
const MAX_CACHED: usize = 4096;

/// A `#!` line as the kernel parses it: interpreter and argument.
type ShebangLine = (Vec<u8>, Option<Vec<u8>>);

/// Completes files judged without following, judging each distinct loader
/// once, and each distinct `#!` line (interpreter and argument) once.
#[derive(Default)]
pub struct Completer {
    /// Keyed by PT_INTERP and the class and machine of the programs that
    /// name it: the same loader is ELIBBAD for some and fine for others.
    loaders: HashMap<(Vec<u8>, ElfClass), Vec<Check>>,
    scripts: HashMap<ShebangLine, Option<DeepFile>>,
}

impl Completer {
    /// `f`, judged at `path` with `follow: false`, as following would have
    /// judged it, its loader or interpreter read from `fs`.
    pub async fn complete<R: RootFs>(
        &mut self,
        platform: &Platform,
        fs: &R,
        path: &[u8],
        f: DeepFile,
    ) -> Result<DeepFile, InspectError> {
        let Some((role, word)) = f.needs.clone() else {
            return Ok(f);
        };
        if role == Role::Loader {
            // Only an ELF program needs a loader, and its check has its
            // class and machine.
            let Some(class) = elf_class(&f) else {
                return Ok(f);
            };
            let key = (word, class);
            let checks = match self.loaders.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let c = inspect_loader(platform, fs, &key.0, class).await?;
                    if self.loaders.len() < MAX_CACHED {
                        self.loaders.insert(key, c.clone());
                    }
                    c
                }
            };
            return Ok(with_loader(f, &checks));
        }
        // A script: the verdict of its `#!` line, found once with a
        // stand-in script holding just that line.
        let key = (word, f.arg.clone());
        let judged = match self.scripts.get(&key) {
            Some(j) => j.clone(),
            None => {
                let data = synthetic_script(&key.0, key.1.as_deref());
                let over = WithSynth { base: fs, data };
                let entry = Entry::file(0o755, over.data.len() as u64);
                let j = inspect_file(platform, &over, SYNTH, &entry, true).await?;
                if self.scripts.len() < MAX_CACHED {
                    self.scripts.insert(key, j.clone());
                }
                j
            }
        };
        Ok(match judged {
            Some(mut d) => {
                repath(&mut d.checks, SYNTH, path);
                d
            }
            // Cannot happen for a line that parsed as a script; keep the
            // file's own check.
            None => DeepFile {
                needs: None,
                arg: None,
                ..f
            },
        })
    }
}

/// Files listed per verdict (fail, warn) in a platform's report; the others
/// are counted.
pub const LIST_MAX: usize = 1000;

/// What `--deep` found on one platform, as it is found: every program
/// counted, those that did not pass listed (up to [`LIST_MAX`] failures and
/// as many warnings, so a report stays readable and bounded).
#[derive(Debug, Default)]
pub struct Findings {
    files: usize,
    failed: usize,
    warned: usize,
    listed: Vec<DeepFile>,
    listed_failed: usize,
    listed_warned: usize,
    /// What was not judged (a file's relative interpreter or loader, a
    /// directory that could not be listed): the first [`NOTES_MAX`] notes,
    /// then a count.
    notes: Vec<String>,
    more_notes: usize,
}

/// Notes about files not fully judged kept per platform; the others are
/// counted.
pub const NOTES_MAX: usize = 20;

impl Findings {
    /// A file's note (see [`DeepFile::note`]).
    pub fn note(&mut self, n: String) {
        if self.notes.len() < NOTES_MAX {
            self.notes.push(n);
        } else {
            self.more_notes += 1;
        }
    }

    /// `n` more files' notes, counted.
    pub fn more_notes(&mut self, n: usize) {
        self.more_notes += n;
    }

    /// One file judged.
    pub fn add(&mut self, mut f: DeepFile) {
        if let Some(n) = f.note.take() {
            self.note(n);
        }
        let v = f.verdict();
        self.files += 1;
        let listed = match v {
            Verdict::Fail => {
                self.failed += 1;
                &mut self.listed_failed
            }
            Verdict::Warn => {
                self.warned += 1;
                &mut self.listed_warned
            }
            _ => return,
        };
        if *listed < LIST_MAX {
            *listed += 1;
            self.listed.push(f);
        }
    }

    /// `n` files judged with verdict `v`, not listed.
    pub fn count(&mut self, v: Verdict, n: usize) {
        self.files += n;
        match v {
            Verdict::Fail => self.failed += n,
            Verdict::Warn => self.warned += n,
            _ => {}
        }
    }

    /// Whether another file with verdict `v` would still be listed.
    pub fn lists(&self, v: Verdict) -> bool {
        match v {
            Verdict::Fail => self.listed_failed < LIST_MAX,
            Verdict::Warn => self.listed_warned < LIST_MAX,
            _ => false,
        }
    }

    /// Fold into the platform's report: the listed files' checks (sorted by
    /// path, failures first), the summary, and a note for what was not
    /// listed.
    pub fn fold(mut self, report: &mut PlatformReport, platform: &Platform) {
        self.listed.sort_by(|a, b| {
            b.verdict()
                .cmp(&a.verdict())
                .then_with(|| a.path().cmp(b.path()))
        });
        let unlisted = self.failed + self.warned - self.listed_failed - self.listed_warned;
        fold_deep(report, self.files, self.listed, platform);
        if let Some(d) = report.deep.as_mut() {
            d.failed = self.failed;
            d.warned = self.warned;
        }
        report.notes.append(&mut self.notes);
        if self.more_notes > 0 {
            report.notes.push(format!(
                "--deep: {} more notes about files or directories not judged are left out",
                self.more_notes
            ));
        }
        if unlisted > 0 {
            report.notes.push(format!(
                "--deep: {unlisted} more files that did not pass are counted, not listed \
                 (at most {LIST_MAX} failures and {LIST_MAX} warnings are)"
            ));
        }
    }
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
