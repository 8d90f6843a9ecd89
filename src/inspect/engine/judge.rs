//! The verdict on one program: found (PATH, the working directory, links
//! inside the root), allowed to run (its mode, the user), then judged by
//! what it is: a `#!` script through its interpreter (and `env`'s program),
//! an ELF binary with its loader, PE or Mach-O, or no program at all.

use super::machine::describe_elf;
use super::{
    apply_env, fail, kind_of, shown, Ctx, Engine, Finder, Judged, Loaded, Missing, Outcome,
    MAX_SCRIPT_DEPTH,
};
use crate::inspect::binary::{self, Ident};
use crate::inspect::exec::{self, Kind as ProgKind, Libc, Wrapper, WrapperCtx};
use crate::inspect::platform::{kernel_elf, EM_386, EM_486};
use crate::inspect::resolve::{self, absolutize, path_entries, Lookup, PathRules, Resolution};
use crate::inspect::verdict::{Reason, Role, Verdict};
use crate::rootfs::{display, FsError, Kind, RootFs};

const ERRDOT_HINT: &str = "runc refuses a program found through an empty, `.` or relative PATH entry (Go's exec.ErrDot): name it by its path (ENTRYPOINT [\"/srv/app\"] or [\"./app\"]) or put its directory in PATH as an absolute path";

const LOOP_HINT: &str = "more than 5 nested #! scripts: Linux stops with ELOOP (\"too many levels of symbolic links\"); run the innermost interpreter directly or exec it from the script";

impl<R: RootFs> Engine<'_, R> {
    pub(super) async fn ident_of(&mut self, path: &[u8], size: u64) -> Result<Ident, FsError> {
        if let Some((i, _)) = self.idents.get(path) {
            return Ok(i.clone());
        }
        let kernel = kernel_elf(&self.platform.arch);
        let ident = binary::identify(self.fs, path, size, kernel).await?;
        let facts = binary::facts(self.fs, path, &ident).await?;
        self.idents.insert(path.to_vec(), (ident.clone(), facts));
        Ok(ident)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn judge(
        &mut self,
        idx: usize,
        role: Role,
        word_bytes: &[u8],
        finder: Finder,
        ctx: &Ctx,
        depth: usize,
        missing: &Missing,
        start: usize,
    ) -> Result<Judged, FsError> {
        let expected_loader = if role == Role::Loader {
            self.loader_for.take()
        } else {
            None
        };
        let word = shown(word_bytes);
        let word = word.as_str();
        let missing_reason = if role == Role::Loader {
            Reason::LoaderMissing
        } else {
            Reason::NotFound
        };
        // Where the lenient mode turns a failure to find or open the program
        // into a note.
        let lenient = |why: String| -> Option<Judged> {
            match missing {
                Missing::Note(context) => Some(Judged::NotJudged(format!(
                    "{context}({why}); the script may map it to its own program: not judged"
                ))),
                Missing::Fail => None,
            }
        };
        if word_bytes.is_empty() {
            if finder == Finder::Kernel {
                return fail(
                    Reason::NotExecutable,
                    "the name is empty: the kernel opens \"\", the working directory, and fails with EACCES".into(),
                );
            }
            return fail(missing_reason, "empty program name".into());
        }

        // 1. Locate it as the program that execs it would.
        let mut note = String::new();
        let mut exec_path = word_bytes.to_vec();
        let resolution = if finder != Finder::Kernel && !word_bytes.contains(&b'/') {
            let (rules, applets, who) = match finder {
                Finder::Go { who, .. } => (PathRules::Go, false, who),
                Finder::Execvp { libc, applets, who } => (
                    if libc == Libc::Musl {
                        PathRules::Musl
                    } else {
                        PathRules::Glibc
                    },
                    applets,
                    who,
                ),
                Finder::Shell { applets, .. } => (PathRules::Shell, applets, "the shell"),
                Finder::Kernel => unreachable!("kernel names are never searched"),
            };
            let all_dirs = path_entries(ctx.path.as_deref(), rules);
            let dirs = all_dirs.get(start..).unwrap_or_default().to_vec();
            let path_shown = match &ctx.path {
                Some(p) if p.is_empty() => "PATH is empty".to_string(),
                Some(p) => shown(p),
                None => "PATH is unset".to_string(),
            };
            let key = (
                word_bytes.to_vec(),
                dirs.clone(),
                ctx.cwd.clone().unwrap_or_default(),
            );
            let found = match self.lookups.get(&key) {
                Some(l) => l.clone(),
                None => {
                    let l = resolve::lookup_path(self.fs, word_bytes, &dirs, ctx.cwd.as_deref())
                        .await?;
                    self.lookups.insert(key, l.clone());
                    l
                }
            };
            match found {
                Lookup::Found {
                    candidate,
                    resolution,
                    skipped,
                    relative,
                    index,
                } => {
                    self.last_found = Some(start + index);
                    if relative {
                        if let Finder::Go { errdot, who } = finder {
                            if errdot.is_none() {
                                return Ok(Judged::NotJudged(format!(
                                    "{word}: found only as {} through a relative PATH entry; whether {who} refuses it (Go exec.ErrDot) depends on which of the repeated GODEBUG execerrdot settings its Go release reads: not judged",
                                    shown(&candidate)
                                )));
                            }
                            if errdot == Some(true) {
                                if let Some(j) = lenient(format!(
                                    "{who} refuses {}, found through a relative PATH entry",
                                    shown(&candidate)
                                )) {
                                    return Ok(j);
                                }
                                self.checks[idx].chain = vec![display(&candidate)];
                                self.hints.insert(idx, ERRDOT_HINT.into());
                                return fail(
                                    Reason::NotFound,
                                    format!(
                                        "{word} is found only as {} through a relative PATH entry ({path_shown}), i.e. relative to the working directory: {who} refuses to run programs found relative to the working directory (Go exec.ErrDot: \"cannot run executable found relative to current directory\")",
                                        shown(&candidate)
                                    ),
                                );
                            }
                            note = "allowed by GODEBUG=execerrdot=0; ".into();
                        }
                    }
                    note.push_str(&format!("found in PATH as {}", shown(&candidate)));
                    for s in &skipped {
                        note.push_str(&format!("; skipped {} ({})", shown(&s.path), s.why));
                    }
                    exec_path = candidate;
                    resolution
                }
                Lookup::NotFound { searched, skipped } => {
                    if applets && self.may_be_applet(word_bytes).await? {
                        return Ok(Judged::NotJudged(format!(
                            "{word}: not in PATH ({path_shown}); {who} is busybox, which runs its own applet of that name if it has one: not judged"
                        )));
                    }
                    if let Some(j) = lenient(format!("not found in PATH: {path_shown}")) {
                        return Ok(j);
                    }
                    self.checks[idx].chain = searched.iter().map(|p| display(p)).collect();
                    if let Some(s) = skipped.iter().find(|s| s.why == "not executable") {
                        return fail(
                            Reason::NotExecutable,
                            format!(
                                "{word}: not found in PATH; {} exists but has no execute bit",
                                shown(&s.path)
                            ),
                        );
                    }
                    if let Some(s) = skipped.iter().find(|s| s.why == "symlink loop") {
                        return fail(
                            Reason::SymlinkLoop,
                            format!(
                                "{word}: not found in PATH; {} is a symlink loop",
                                shown(&s.path)
                            ),
                        );
                    }
                    return fail(
                        missing_reason,
                        format!("{word}: executable file not found in PATH ({path_shown})"),
                    );
                }
            }
        } else {
            let abs = absolutize(word_bytes, ctx.cwd.as_deref());
            resolve::resolve(self.fs, &abs, true).await?
        };

        let (path_bytes, entry) = match resolution {
            Resolution::Found { path, entry, chain } => {
                self.checks[idx].chain = chain.iter().map(|p| display(p)).collect();
                self.checks[idx].resolved = display(&path);
                self.judged.entry(path.clone()).or_insert(idx);
                self.check_paths.insert(idx, path.clone());
                (path, entry)
            }
            Resolution::NotFound {
                chain,
                missing: gone,
                not_dir,
            } => {
                let gone = shown(&gone);
                let what = if not_dir {
                    format!("{gone} is not a directory")
                } else {
                    format!("{gone} does not exist")
                };
                if let Some(j) = lenient(what.clone()) {
                    return Ok(j);
                }
                self.checks[idx].chain = chain.iter().map(|p| display(p)).collect();
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
        let path = shown(&path_bytes);
        let path_bytes = path_bytes.as_slice();
        let with_note = |m: String| {
            if note.is_empty() {
                m
            } else {
                format!("{m} ({note})")
            }
        };

        // 2. Mode.
        let refusal = match entry.kind {
            Kind::Dir => Some(format!("{path} is a directory")),
            Kind::File if !entry.is_executable() => Some(format!(
                "{path} has no execute bit (mode {:04o})",
                entry.mode & 0o7777
            )),
            Kind::File => None,
            _ => Some(format!("{path} is not a regular file")),
        };
        if let Some(why) = refusal {
            if let Some(j) = lenient(why.clone()) {
                return Ok(j);
            }
            return fail(Reason::NotExecutable, why);
        }
        // The process's user must have execute permission itself: the
        // owner's, group's or others' bits (see `Cred::may_execute`).
        if let (Some(cred), Some(owner)) = (&ctx.cred, entry.owner) {
            if !cred.may_execute(entry.mode, owner) {
                let why = format!(
                    "{path} is not executable by uid {} (gid {}): mode {:04o}, owner {}:{}: the kernel refuses with EACCES (\"permission denied\")",
                    cred.uid,
                    cred.gid,
                    entry.mode & 0o7777,
                    owner.0,
                    owner.1
                );
                if let Some(j) = lenient(why.clone()) {
                    return Ok(j);
                }
                self.user_denied.insert(idx);
                return fail(Reason::NotExecutable, why);
            }
        }

        // 3. Identify.
        let ident = self.ident_of(path_bytes, entry.size).await?;
        let mut facts = self.idents[path_bytes].1.clone();
        let loaded_here = |ctx: &Ctx| Loaded {
            path: path_bytes.to_vec(),
            prefix: vec![word_bytes.to_vec()],
            ctx: ctx.clone(),
            via_shebang: false,
            role,
        };

        // 4. Judge.
        let not_elf_loader = |what: &str| {
            fail(
                Reason::NotAProgram,
                format!("the ELF loader {path} is {what}, not an ELF file: the kernel fails with ELIBBAD"),
            )
        };
        match &ident {
            Ident::NotAProgram { why, text } => {
                self.checks[idx].binary = Some(facts);
                if role == Role::Loader {
                    return not_elf_loader(why);
                }
                let text = *text;
                match finder {
                    Finder::Shell { .. } if text => {
                        return Ok(Judged::Done(
                            Outcome {
                                verdict: Verdict::Pass,
                                reason: Reason::Match,
                            },
                            with_note(format!(
                                "{path} is {why}: the kernel refuses it (ENOEXEC), so the shell runs it as a shell script"
                            )),
                            None,
                        ))
                    }
                    Finder::Execvp {
                        libc: Libc::Glibc,
                        who,
                        ..
                    } if text => {
                        // glibc's execvp runs `/bin/sh FILE ARGS` on ENOEXEC
                        // (posix/execvpe.c, maybe_script_execute).
                        let sh = self
                            .check_program(
                                Role::Interpreter,
                                b"/bin/sh",
                                Finder::Kernel,
                                ctx,
                                0,
                                &Missing::Fail,
                            )
                            .await?;
                        let out = sh.outcome.expect("judged");
                        let loaded = sh.loaded.map(|mut l| {
                            l.prefix.push(exec_path.clone());
                            l
                        });
                        return Ok(Judged::Done(
                            out,
                            with_note(format!(
                                "{path} is {why}: {who} (glibc execvp) runs it with /bin/sh"
                            )),
                            loaded,
                        ));
                    }
                    Finder::Execvp {
                        libc: Libc::Unknown,
                        who,
                        ..
                    } if text => {
                        return Ok(Judged::NotJudged(format!(
                            "{path} is {why}: {who} runs it with /bin/sh only if its execvp is glibc's (musl's refuses it), and {who} is statically linked: not judged"
                        )));
                    }
                    _ => {}
                }
                fail(
                    Reason::NotAProgram,
                    format!("{path} is {why}: exec format error"),
                )
            }
            Ident::Script { interpreter, arg } => {
                self.checks[idx].binary = Some(facts);
                if role == Role::Loader {
                    return not_elf_loader("a #! script");
                }
                let interpreter = interpreter.clone();
                let arg = arg.clone();
                if depth + 1 > MAX_SCRIPT_DEPTH {
                    return self.too_deep(idx, &path, &interpreter, ctx, depth).await;
                }
                let ir = self
                    .check_program(
                        Role::Interpreter,
                        &interpreter,
                        Finder::Kernel,
                        ctx,
                        depth + 1,
                        &Missing::Fail,
                    )
                    .await?;
                let mut out = ir.outcome.expect("judged");
                let mut msg = if interpreter.is_empty() {
                    format!("{path} is a script whose #! line names an empty interpreter")
                } else {
                    format!("{path} is a script run by {}", shown(&interpreter))
                };
                if interpreter.contains(&b'\r') {
                    msg.push_str(" (the name ends in a carriage return: CRLF line endings)");
                }
                let mut loaded = ir.loaded.map(|mut l| {
                    l.prefix.extend(arg.clone());
                    l.prefix.push(exec_path.clone());
                    l.via_shebang = true;
                    l
                });
                // `#!/usr/bin/env NAME`: env execs NAME, a new exec judged
                // here so that the script's verdict includes it.
                if let Some(l) = loaded.clone() {
                    let (kind, applets, argv) = kind_of(l.prefix.clone(), &l.path);
                    if applets {
                        self.saw_busybox(&l.path);
                    }
                    if kind == ProgKind::Wrapper(Wrapper::Env) {
                        loaded = None;
                        let wctx = WrapperCtx {
                            libc: self.libc_of(&l.path),
                            posixly_correct: l.ctx.posix,
                            busybox: applets,
                        };
                        match exec::parse_wrapper(Wrapper::Env, &argv[1..], wctx) {
                            exec::WrapperRun::Exec(next) if self.hop(&next.argv[0]) => {
                                let env_ctx = apply_env(&l.ctx, &next);
                                let finder = Finder::Execvp {
                                    libc: self.libc_of(&l.path),
                                    applets,
                                    who: "env",
                                };
                                let tr = self
                                    .check_program(
                                        Role::Interpreter,
                                        &next.argv[0],
                                        finder,
                                        &env_ctx,
                                        0,
                                        &Missing::Fail,
                                    )
                                    .await?;
                                if let Some(o) = tr.outcome {
                                    if o.verdict > out.verdict {
                                        out = o;
                                        // env's own exec failed, not this one.
                                        self.later_failures.insert(idx);
                                    }
                                }
                                msg = format!(
                                    "{path} is a script run by {} {}",
                                    shown(&interpreter),
                                    shown(&next.argv[0])
                                );
                                if next.argv[0].contains(&b'\r') {
                                    msg.push_str(
                                        " (the name ends in a carriage return: CRLF line endings)",
                                    );
                                }
                                loaded = tr.loaded.map(|mut t| {
                                    t.prefix.extend(next.argv[1..].iter().cloned());
                                    t.via_shebang = true;
                                    t
                                });
                            }
                            exec::WrapperRun::Exec(_) => {}
                            exec::WrapperRun::Nothing(why) | exec::WrapperRun::Unknown(why) => {
                                self.note(format!("{path}: {why}"))
                            }
                            exec::WrapperRun::Refused(why) => {
                                self.later_failures.insert(idx);
                                out = Outcome {
                                    verdict: Verdict::Fail,
                                    reason: Reason::BadInvocation,
                                };
                                msg = format!(
                                    "{path} is a script run by {}: {why}",
                                    shown(&interpreter)
                                );
                            }
                        }
                    }
                }
                let last = self
                    .checks
                    .iter()
                    .rev()
                    .find(|c| c.role == Role::Interpreter && c.verdict == out.verdict);
                if out.verdict != Verdict::Pass {
                    if let Some(c) = last {
                        msg = format!("{msg}: {}", c.message);
                    }
                }
                Ok(Judged::Done(out, with_note(msg), loaded))
            }
            Ident::Pe | Ident::Macho if role == Role::Loader => {
                self.checks[idx].binary = Some(facts);
                not_elf_loader(if ident == Ident::Pe {
                    "a Windows PE file"
                } else {
                    "a Mach-O file"
                })
            }
            Ident::Pe => {
                let r =
                    self.judge_foreign_format(&facts, &path, "windows", "a Windows PE executable");
                self.checks[idx].binary = Some(facts);
                Ok(Judged::Done(r.0, with_note(r.1), Some(loaded_here(ctx))))
            }
            Ident::Macho => {
                let r =
                    self.judge_foreign_format(&facts, &path, "darwin", "a macOS Mach-O executable");
                self.checks[idx].binary = Some(facts);
                Ok(Judged::Done(r.0, with_note(r.1), Some(loaded_here(ctx))))
            }
            Ident::Elf(elf) => {
                let elf = elf.clone();
                let mut out = self.judge_elf(&elf, &mut facts, path_bytes).await?;
                self.checks[idx].binary = Some(facts.clone());
                // binfmt_elf reads the loader with the binary's own handler:
                // its class and machine must be the binary's, else ELIBBAD
                // (fs/binfmt_elf.c `load_elf_binary`: `elf_check_arch` and
                // `load_elf_phdrs` on the interpreter's header). An i386
                // binary cannot use the x86-64 loader, nor the reverse.
                if let (Role::Loader, Some((bits, machine, main))) = (role, expected_loader) {
                    let same = |m: u16| if m == EM_486 { EM_386 } else { m };
                    if out.0.verdict < Verdict::Fail
                        && (elf.bits != bits || same(elf.machine) != same(machine))
                    {
                        return fail(
                            Reason::NotAProgram,
                            format!(
                                "the ELF loader {path} is {}, which the kernel cannot load for {main}: ELIBBAD (\"accessing a corrupted shared library\")",
                                describe_elf(&facts)
                            ),
                        );
                    }
                }
                if role != Role::Loader && out.0.verdict < Verdict::Fail {
                    // binfmt_elf checks PT_INTERP after the machine; a
                    // loader's own PT_INTERP is never looked at.
                    if let Some(why) = &elf.interp_error {
                        let arch = facts.arch.as_deref().unwrap_or("an unknown machine");
                        return fail(
                            Reason::NotAProgram,
                            format!("{path} is a dynamically linked ELF binary for {arch}, but {why}: exec format error"),
                        );
                    }
                    if let Some(interp) = &elf.interp {
                        let main = (elf.bits, elf.machine, describe_elf(&facts));
                        let lo = self.check_loader(interp, main, ctx, depth + 1).await?;
                        // A loader check adds no nested checks: the last
                        // check is the loader's.
                        let lmsg = self
                            .checks
                            .last()
                            .map(|c| c.message.clone())
                            .unwrap_or_default();
                        needs_loader(&mut out, &path, lo, &lmsg);
                    }
                }
                Ok(Judged::Done(
                    out.0,
                    with_note(out.1),
                    Some(loaded_here(ctx)),
                ))
            }
        }
    }

    /// The loader (PT_INTERP `interp`) of an ELF binary of class, machine
    /// and description `main`, judged as binfmt_elf opens it: found from
    /// the root, and of the binary's own class and machine, else ELIBBAD
    /// (`judge`, with `loader_for`). `judge` and `--deep` both judge a
    /// loader through this, so they cannot drift apart.
    pub(super) async fn check_loader(
        &mut self,
        interp: &[u8],
        main: (u8, u16, String),
        ctx: &Ctx,
        depth: usize,
    ) -> Result<Outcome, FsError> {
        self.loader_for = Some(main);
        let lo = self
            .check_program(
                Role::Loader,
                interp,
                Finder::Kernel,
                ctx,
                depth,
                &Missing::Fail,
            )
            .await?
            .outcome
            .expect("judged");
        self.loader_for = None;
        Ok(lo)
    }

    /// The script at kernel depth `depth` is one too many: the kernel still
    /// opens its interpreter (so a missing one is ENOENT), then stops with
    /// ELOOP.
    async fn too_deep(
        &mut self,
        idx: usize,
        path: &str,
        interpreter: &[u8],
        ctx: &Ctx,
        depth: usize,
    ) -> Result<Judged, FsError> {
        let name = shown(interpreter);
        if interpreter.is_empty() {
            return fail(
                Reason::NotExecutable,
                format!("{path} names an empty #! interpreter: the kernel opens the working directory and fails with EACCES"),
            );
        }
        let abs = absolutize(interpreter, ctx.cwd.as_deref());
        match resolve::resolve(self.fs, &abs, true).await? {
            Resolution::NotFound { missing, .. } => fail(
                Reason::NotFound,
                format!(
                    "{path} is a script run by {name}: no such file ({} is missing)",
                    shown(&missing)
                ),
            ),
            Resolution::Loop { .. } => fail(
                Reason::SymlinkLoop,
                format!("{path} is a script run by {name}: too many levels of symbolic links"),
            ),
            Resolution::Found { entry, .. }
                if entry.kind != Kind::File || !entry.is_executable() =>
            {
                fail(
                    Reason::NotExecutable,
                    format!("{path} is a script run by {name}, which is not an executable file"),
                )
            }
            Resolution::Found { .. } => {
                self.hints.insert(idx, LOOP_HINT.into());
                fail(
                    Reason::SymlinkLoop,
                    format!(
                        "{path} is #! script number {} of one exec: Linux runs at most {MAX_SCRIPT_DEPTH} nested #! scripts (ELOOP, \"too many levels of symbolic links\")",
                        depth + 1
                    ),
                )
            }
        }
    }
}

/// A binary runs only through its loader: its outcome (`out`: verdict and
/// message, `path` shown) becomes the loader's (`lo`, message `lmsg`) when
/// that is worse. `judge` and `--deep`'s completion both use this.
pub(super) fn needs_loader(out: &mut (Outcome, String), path: &str, lo: Outcome, lmsg: &str) {
    if lo.verdict > out.0.verdict {
        *out = (lo, format!("{path} needs its loader: {lmsg}"));
    }
}
