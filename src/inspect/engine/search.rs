//! One program checked as its looker finds it (`check_program`), and
//! whether the PATH search goes on after a failed exec, as each looker's
//! does (glibc and musl `execvp`, dash and ash, bash, Go's `LookPath`).

use super::{shown, Boxed, Ctx, Engine, Finder, Judged, Missing, Outcome, Ran};
use crate::inspect::exec::{self, Libc};
use crate::inspect::resolve::{self, path_entries, Lookup, PathRules};
use crate::inspect::verdict::{Check, Reason, Role, Verdict};
use crate::rootfs::{display, FsError, RootFs};
use std::collections::BTreeMap;

/// The errors execve(2) fails with that decide whether a search goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Errno {
    Enoent,
    Eacces,
    Enoexec,
    Elibbad,
    Eloop,
}

impl Errno {
    fn name(self) -> &'static str {
        match self {
            Errno::Enoent => "ENOENT",
            Errno::Eacces => "EACCES",
            Errno::Enoexec => "ENOEXEC",
            Errno::Elibbad => "ELIBBAD",
            Errno::Eloop => "ELOOP",
        }
    }
}

impl<R: RootFs> Engine<'_, R> {
    /// Locate, identify and judge one program; push its `Check` (and those of
    /// its interpreter or loader) and return its outcome and what runs.
    pub(super) fn check_program<'s>(
        &'s mut self,
        role: Role,
        word: &'s [u8],
        finder: Finder,
        ctx: &'s Ctx,
        depth: usize,
        missing: &'s Missing,
    ) -> Boxed<'s, Ran> {
        Box::pin(async move {
            let idx = self.checks.len();
            self.checks.push(pending(role, word));
            // The PATH entry to search from: execvp and the ash shells try
            // the next one when an exec fails (see `search_goes_on`).
            let mut start = 0;
            let mut first_failure: Option<(Judged, Vec<Check>, BTreeMap<usize, String>)> = None;
            let mut skipped_notes: Vec<String> = Vec::new();
            // `last_found` is the caller's while this check runs nested in
            // its judge: keep it for it.
            let callers_found = self.last_found.take();
            let mut path_hit = false;
            let judged = loop {
                self.last_found = None;
                let j = self
                    .judge(idx, role, word, finder, ctx, depth, missing, start)
                    .await?;
                let found_at = self.last_found.take();
                path_hit |= found_at.is_some();
                let failed = match &j {
                    Judged::Done(o, msg, _) if o.verdict == Verdict::Fail => {
                        Some((*o, msg.clone()))
                    }
                    _ => None,
                };
                match (failed, found_at) {
                    (Some((o, msg)), Some(at)) => {
                        let errno = self.exec_errno(idx, o);
                        let goes_on = if self.user_denied.contains(&idx) {
                            // Not executable *by this user*: execvp and dash
                            // go on (EACCES), and so do bash (its search
                            // checks executability, findcmd.c) and Go
                            // >= 1.20's LookPath (unix.Eaccess); Go 1.19's
                            // does not, and runc's Go release is not known.
                            match finder {
                                Finder::Execvp { .. } => Some(true),
                                Finder::Shell { shell, .. } if shell != exec::Shell::Other => {
                                    Some(true)
                                }
                                Finder::Kernel => Some(false),
                                Finder::Shell { .. } | Finder::Go { .. } => {
                                    if self.later_hit(word, finder, ctx, at + 1).await? {
                                        None
                                    } else {
                                        Some(false)
                                    }
                                }
                            }
                        } else {
                            match self.search_goes_on(finder, errno) {
                                // It matters only with a later hit.
                                None if !self.later_hit(word, finder, ctx, at + 1).await? => {
                                    Some(false)
                                }
                                other => other,
                            }
                        };
                        match goes_on {
                            Some(true) => {
                                skipped_notes.push(format!(
                                    "{} ({})",
                                    msg,
                                    errno.map(Errno::name).unwrap_or("?")
                                ));
                                if first_failure.is_none() {
                                    let tail = self.checks[idx..].to_vec();
                                    let hints = self
                                        .hints
                                        .range(idx..)
                                        .map(|(k, v)| (*k, v.clone()))
                                        .collect();
                                    first_failure = Some((j, tail, hints));
                                }
                                self.truncate_checks(idx);
                                self.checks.push(pending(role, word));
                                start = at + 1;
                                continue;
                            }
                            None => {
                                break Judged::NotJudged(format!(
                                    "{}: {msg}; whether the looker then tries the next PATH entry cannot be told (dash and ash do, bash does not; Go's LookPath does for a user without permission from Go 1.20): not judged",
                                    shown(word)
                                ));
                            }
                            Some(false) => {}
                        }
                        break j;
                    }
                    (Some(_), None) if first_failure.is_some() => {
                        // Nothing further in PATH runs: the first failure
                        // stands.
                        let (j, tail, hints) = first_failure.take().expect("saved");
                        self.truncate_checks(idx);
                        self.checks.extend(tail);
                        self.hints.extend(hints);
                        skipped_notes.clear();
                        break j;
                    }
                    _ => break j,
                }
            };
            // busybox built with FEATURE_SH_STANDALONE or
            // FEATURE_PREFER_APPLETS (Debian's is) runs its own applet of a
            // name before it looks in PATH (shell/ash.c `find_command`,
            // libbb `BB_EXECVP`); other builds (Alpine's) do not: a PATH hit
            // that fails may never run.
            let applet = path_hit
                && self.finder_applets(finder)
                && matches!(&judged, Judged::Done(o, ..) if o.verdict == Verdict::Fail)
                && self.may_be_applet(word).await?;
            let judged = match judged {
                Judged::Done(_, msg, _) if applet => {
                    Judged::NotJudged(format!(
                        "{}: {msg}; but busybox runs its own applet of that name instead when it has one and was built to prefer applets (Debian's busybox is): not judged",
                        shown(word)
                    ))
                }
                other => other,
            };
            self.last_found = callers_found;
            for n in skipped_notes {
                self.note(format!(
                    "{}: skipped: {n}; the search goes on in the next PATH entry",
                    shown(word)
                ));
            }
            match judged {
                Judged::Done(o, msg, loaded) => {
                    let c = &mut self.checks[idx];
                    c.verdict = o.verdict;
                    c.reason = o.reason;
                    c.message = msg;
                    Ok(Ran {
                        outcome: Some(o),
                        loaded: loaded.filter(|_| o.verdict < Verdict::Fail),
                    })
                }
                Judged::NotJudged(note) => {
                    self.truncate_checks(idx);
                    self.note(note);
                    Ok(Ran {
                        outcome: None,
                        loaded: None,
                    })
                }
            }
        })
    }

    /// Whether `word` is also found in PATH entries from `from` on.
    async fn later_hit(
        &mut self,
        word: &[u8],
        finder: Finder,
        ctx: &Ctx,
        from: usize,
    ) -> Result<bool, FsError> {
        let rules = match finder {
            Finder::Go { .. } => PathRules::Go,
            Finder::Execvp {
                libc: Libc::Musl, ..
            } => PathRules::Musl,
            Finder::Execvp { .. } => PathRules::Glibc,
            Finder::Shell { .. } => PathRules::Shell,
            Finder::Kernel => return Ok(false),
        };
        let dirs = path_entries(ctx.path.as_deref(), rules);
        let rest = dirs.get(from..).unwrap_or_default();
        Ok(matches!(
            resolve::lookup_path(self.fs, word, rest, ctx.cwd.as_deref()).await?,
            Lookup::Found { .. }
        ))
    }

    /// What execve itself failed with, for the failure of check `idx` (its
    /// `#!` chain and loader included); `None` when the exec went through
    /// and something later failed (env's own search, a refusal, an ARM
    /// level the CPU lacks).
    fn exec_errno(&self, idx: usize, o: Outcome) -> Option<Errno> {
        if self.later_failures.contains(&idx) {
            return None;
        }
        match o.reason {
            Reason::NotFound | Reason::LoaderMissing => Some(Errno::Enoent),
            Reason::NotExecutable => Some(Errno::Eacces),
            Reason::SymlinkLoop => Some(Errno::Eloop),
            Reason::NotAProgram | Reason::ArchMismatch | Reason::OsMismatch => {
                let loader = self.checks[idx + 1..].iter().any(|c| {
                    c.role == Role::Loader
                        && c.verdict == Verdict::Fail
                        && c.reason != Reason::LoaderMissing
                });
                Some(if loader {
                    Errno::Elibbad
                } else {
                    Errno::Enoexec
                })
            }
            _ => None,
        }
    }

    /// Whether the looker tries the next PATH entry after an exec failed
    /// with `errno` (`None`: cannot be told). glibc's execvp goes on after
    /// EACCES, ENOENT, ENOTDIR, ESTALE, ENODEV, ETIMEDOUT (posix/execvpe.c
    /// `__execvpe_common`), musl's after EACCES, ENOENT, ENOTDIR
    /// (src/process/execvp.c); dash and busybox ash try every later entry
    /// after any failure (dash src/exec.c and busybox shell/ash.c
    /// `shellexec`; ENOEXEC is not a failure there: the file runs as a
    /// script through /bin/sh); bash and Go's LookPath (runc, gosu) run the
    /// one file they found.
    fn search_goes_on(&self, finder: Finder, errno: Option<Errno>) -> Option<bool> {
        let Some(e) = errno else { return Some(false) };
        match finder {
            Finder::Execvp { .. } => Some(matches!(e, Errno::Enoent | Errno::Eacces)),
            Finder::Shell { shell, .. } => match shell {
                exec::Shell::Dash | exec::Shell::Busybox => Some(e != Errno::Enoexec),
                exec::Shell::Bash => Some(false),
                exec::Shell::Other if e == Errno::Enoexec => Some(false),
                exec::Shell::Other => None,
            },
            Finder::Go { .. } | Finder::Kernel => Some(false),
        }
    }

    /// The looker is busybox (its shell or its env).
    fn finder_applets(&self, finder: Finder) -> bool {
        matches!(
            finder,
            Finder::Shell { applets: true, .. } | Finder::Execvp { applets: true, .. }
        )
    }
}

/// The check of a program not judged yet: filled in once it is found.
fn pending(role: Role, word: &[u8]) -> Check {
    Check {
        role,
        path: display(word),
        resolved: String::new(),
        chain: Vec::new(),
        verdict: Verdict::Pass,
        reason: Reason::Match,
        message: String::new(),
        binary: None,
    }
}
