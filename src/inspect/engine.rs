//! The verdict rules: which programs a platform's config makes the runtime
//! exec, and whether each can run there.
//!
//! The one idea: every program (argv[0], the program a wrapper or shell runs
//! next, a binary argument, the HEALTHCHECK program, each `#!` interpreter,
//! each ELF loader) goes through one `check_program`, which locates it as
//! the program that execs it would (runc, the kernel, libc's `execvp`, a
//! shell), records a flat `Check` and returns its verdict and the binary
//! that finally runs; `follow` then reads that binary's argv with the
//! grammar of `exec.rs` to find the next program. A program's verdict is the
//! worst of its own and those it depends on.
//!
//! Here: the entry point, the engine's state and the walk from program to
//! program. `process` (E2BIG, the user), `search` (`check_program` and the
//! PATH search after a failed exec), `judge` (one program's verdict),
//! `machine` (a binary against the platform), `follow` and `shell` (what
//! the program that runs does with its argv), `scan` (option names and
//! applets in a binary's bytes), `report`; `deep` is `--deep`.

use super::binary::Ident;
use super::config::{env_lookup, ImageConfig};
use super::exec::{self, Libc};
use super::platform::Platform;
use super::resolve::Lookup;
use super::user::Cred;
use super::verdict::{BinaryFacts, Check, PlatformReport, Reason, Role, Verdict};
use crate::rootfs::{display, FsError, RootFs};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

mod follow;
mod judge;
mod machine;
mod process;
mod report;
mod scan;
mod search;
mod shell;

use follow::{apply_env, kind_of};

/// At most this many `#!` files in one exec, counting the file exec'd:
/// `exec_binprm` (torvalds/linux fs/exec.c) gives ELOOP once its loop depth
/// passes 5, so depths 0..=5 run a handler and the last must load a binary.
/// The ELF loader does not count (binfmt_elf opens it itself).
/// tests/e2e/kernel_exec.rs measures the limit of the running kernel against it.
pub const MAX_SCRIPT_DEPTH: usize = 5;

/// How many programs archgate follows through wrappers and shells for one
/// image, so that a wrapper or `env` loop ends. Past it the platform is
/// undecided (exit 2): what was not followed was not judged.
const MAX_EXEC_HOPS: usize = 32;

/// Notes kept per platform (an argv of thousands of data files stays short).
const MAX_NOTES: usize = 64;

/// The engine could not decide: the image's files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The image makes archgate follow more programs than it will.
    #[error("{0}")]
    Undecided(String),
}

/// A name from the image for a message: `display`, with control bytes
/// escaped (`/bin/sh\r` stays visible on a terminal).
pub fn shown(b: &[u8]) -> String {
    let mut out = String::new();
    for ch in display(b).chars() {
        match ch {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Inspect one platform of an image.
pub async fn inspect<R: RootFs>(
    config: &ImageConfig,
    platform: &Platform,
    fs: &R,
) -> Result<PlatformReport, InspectError> {
    // The process environment Docker hands runc (moby
    // `CreateDaemonEnvironment`: its default PATH, replaced by the image's
    // PATH when it sets one, even to empty, and removed by a bare `PATH`).
    // containerd's `WithImageConfigArgs` (ctr, nerdctl) only adds the
    // default when the image Env is empty; archgate follows Docker.
    let env = config.process_env();
    let ctx = Ctx {
        path: env_lookup(&env, "PATH").map(|p| p.as_bytes().to_vec()),
        cwd: config.working_dir.as_ref().map(|d| d.as_bytes().to_vec()),
        posix: env_lookup(&env, "POSIXLY_CORRECT").is_some(),
        cred: None,
    };
    let mut ctx = ctx;
    let mut e = Engine::new(fs, platform);
    ctx.cred = e.process_user(&config.user).await?;
    // Go re-reads GODEBUG when runc's init sets the container env, so
    // `GODEBUG=execerrdot=0` in the image turns ErrDot off; runc's own Go
    // release is not known, which matters only for a repeated setting.
    e.godebug = env_lookup(&env, "GODEBUG").map(str::to_string);
    e.home = env_lookup(&env, "HOME")
        .filter(|h| !h.is_empty())
        .map(|h| h.as_bytes().to_vec());
    // bash reads BASH_ENV before a -c string, and imports functions from
    // BASH_FUNC_NAME%% variables (variables.c).
    e.bash_env = env_lookup(&env, "BASH_ENV").is_some_and(|v| !v.is_empty())
        || env.iter().any(|kv| kv.starts_with("BASH_FUNC_"));
    let runc = Finder::Go {
        errdot: e.errdot(None),
        who: "runc",
    };

    // Docker resets an ENTRYPOINT of exactly [""] (the Dockerfile idiom for
    // clearing the base image's) to none before it runs anything (moby
    // daemon/create.go, `mergeAndVerifyConfig`), so CMD alone is the argv.
    let reset = config.entrypoint.len() == 1 && config.entrypoint[0].is_empty();
    let argv: Vec<Vec<u8>> = if config.entrypoint.is_empty() || reset {
        config.cmd.iter().map(|s| s.as_bytes().to_vec()).collect()
    } else {
        config
            .entrypoint
            .iter()
            .chain(config.cmd.iter())
            .map(|s| s.as_bytes().to_vec())
            .collect()
    };

    let mut program = String::new();
    let mut resolved = String::new();
    if !argv.is_empty() {
        program = display(&argv[0]);
    }
    // Docker refuses to create a container whose WorkingDir is not absolute
    // (moby daemon/container.go `verifyContainerSettings`: "the working
    // directory '%s' is invalid, it needs to be an absolute path"), by the
    // platform's own rule: on Windows `\app` and `C:\app` are absolute
    // (moby pkg/system `IsAbs`, Go's filepath on Windows; BuildKit writes
    // every Windows WorkingDir as `\...`: a red-team run found all Windows
    // images failing here).
    let absolute = |w: &str| {
        if platform.os == "windows" {
            let b = w.as_bytes();
            w.starts_with(['\\', '/'])
                || (b.len() >= 3
                    && b[0].is_ascii_alphabetic()
                    && b[1] == b':'
                    && matches!(b[2], b'\\' | b'/'))
        } else {
            w.starts_with('/')
        }
    };
    if let Some(wd) = config.working_dir.as_deref().filter(|w| !absolute(w)) {
        if !argv.is_empty() {
            e.checks.push(Check {
                role: Role::Entrypoint,
                path: program.clone(),
                resolved: String::new(),
                chain: Vec::new(),
                verdict: Verdict::Fail,
                reason: Reason::BadInvocation,
                message: format!(
                    "the image's WorkingDir {wd:?} is relative: Docker refuses to create the container (\"the working directory '{}' is invalid, it needs to be an absolute path\")",
                    shown(wd.as_bytes())
                ),
                binary: None,
            });
            return Ok(e.report(program, resolved));
        }
    }
    if !argv.is_empty() && e.exec_size(Role::Entrypoint, &argv, &env) {
        let i = e.checks.len();
        e.run_argv(
            Role::Entrypoint,
            argv,
            ctx.clone(),
            runc,
            Missing::Fail,
            Chain::Main,
        )
        .await?;
        resolved = e
            .checks
            .get(i)
            .map(|c| c.resolved.clone())
            .unwrap_or_default();
    }
    if let Some(test) = &config.healthcheck {
        let argv: Option<Vec<Vec<u8>>> = match test.first().map(String::as_str) {
            Some("CMD") if test.len() > 1 && !test[1].is_empty() => {
                Some(test[1..].iter().map(|s| s.as_bytes().to_vec()).collect())
            }
            Some("CMD-SHELL") if test.len() > 1 => {
                // Docker runs it with the image's SHELL, default `/bin/sh -c`.
                let mut argv: Vec<Vec<u8>> = if config.shell.is_empty() {
                    vec![b"/bin/sh".to_vec(), b"-c".to_vec()]
                } else {
                    config.shell.iter().map(|s| s.as_bytes().to_vec()).collect()
                };
                argv.push(test[1..].join(" ").into_bytes());
                Some(argv)
            }
            _ => None,
        };
        if let Some(argv) = argv.filter(|a| e.exec_size(Role::Healthcheck, a, &env)) {
            e.run_argv(
                Role::Healthcheck,
                argv,
                ctx,
                runc,
                Missing::Fail,
                Chain::Health,
            )
            .await?;
        }
    }

    if let Some(why) = e.undecided.take() {
        return Err(InspectError::Undecided(why));
    }
    Ok(e.report(program, resolved))
}

struct Engine<'a, R> {
    fs: &'a R,
    platform: &'a Platform,
    /// The process's GODEBUG, for Go programs' ErrDot rule.
    godebug: Option<String>,
    bash_env: bool,
    checks: Vec<Check>,
    idents: HashMap<Vec<u8>, (Ident, BinaryFacts)>,
    notes: Vec<String>,
    /// Hints for particular checks (by index), ahead of the reason's usual one.
    hints: BTreeMap<usize, String>,
    /// Programs followed through wrappers and shells so far.
    hops: usize,
    /// Set when more programs than `MAX_EXEC_HOPS` would be followed.
    undecided: Option<String>,
    /// The class, machine and description of the binary whose loader is
    /// judged next.
    loader_for: Option<(u8, u16, String)>,
    /// Where in PATH the last lookup found its program.
    last_found: Option<usize>,
    /// Checks whose failure is not their own exec's (env's search after a
    /// `#!/usr/bin/env` line).
    later_failures: std::collections::HashSet<usize>,
    /// The busybox binary seen running a shell or env (`Some(None)`: more
    /// than one).
    busybox: Option<Option<Vec<u8>>>,
    /// Checks that failed because the process's user may not execute the
    /// file (its mode has execute bits for others).
    user_denied: std::collections::HashSet<usize>,
    /// PATH lookups done, by (name, directories, working directory).
    lookups: HashMap<LookupKey, Lookup>,
    /// The file each check resolved to, by check index, and the first
    /// check of each file (path bytes).
    check_paths: BTreeMap<usize, Vec<u8>>,
    judged: HashMap<Vec<u8>, usize>,
    /// `binary_has_cstr` answers, by (file, name).
    cstr_cache: HashMap<(Vec<u8>, Vec<u8>), Option<bool>>,
    /// HOME in the process environment, when set.
    home: Option<Vec<u8>>,
}

type LookupKey = (Vec<u8>, Vec<Vec<u8>>, Vec<u8>);

/// What a program check concluded, passed up to the program that needs it.
#[derive(Clone, Copy)]
struct Outcome {
    verdict: Verdict,
    reason: Reason,
}

/// The process environment that matters for finding programs.
#[derive(Clone, Debug)]
struct Ctx {
    /// PATH; `None` when unset (after `env -i`).
    path: Option<Vec<u8>>,
    /// The working directory; `None` is `/`.
    cwd: Option<Vec<u8>>,
    /// POSIXLY_CORRECT is set (glibc's getopt then does not permute).
    posix: bool,
    /// Who the process runs as (`None`: not known, execute permission is
    /// then judged by the mode's execute bits alone).
    cred: Option<Cred>,
}

/// Who looks a program up, with that looker's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finder {
    /// The kernel: `#!` interpreter names and PT_INTERP, opened as written
    /// (relative to the working directory), never searched in PATH.
    Kernel,
    /// Go's `exec.LookPath` (go/src/os/exec/lp_unix.go): runc's init
    /// (opencontainers/runc libcontainer/standard_init_linux.go, `Init`) and
    /// gosu. With Go >= 1.19 a hit through an empty or relative PATH entry
    /// is the error `exec.ErrDot`, not a program. `errdot`: whether that
    /// rule applies (`None`: it depends on a Go release archgate does not
    /// know, see `config::errdot_off`).
    Go {
        errdot: Option<bool>,
        who: &'static str,
    },
    /// libc's `execvp`, as the C wrappers use it.
    Execvp {
        libc: Libc,
        applets: bool,
        who: &'static str,
    },
    /// A shell's own search (dash src/exec.c, bash findcmd.c): empty entries
    /// are the working directory, and a file that is not a program is run
    /// as a shell script. `applets`: the shell is busybox, which runs its own
    /// applet of that name when it has one.
    Shell { shell: exec::Shell, applets: bool },
}

/// What to do when the program is not there.
enum Missing {
    Fail,
    /// Record a note (this text, then why) instead of failing.
    Note(String),
}

/// Which program list a check belongs to, for the roles it gives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Chain {
    Main,
    Health,
}

impl Chain {
    fn argument(self) -> Role {
        match self {
            Chain::Main => Role::Argument,
            Chain::Health => Role::Healthcheck,
        }
    }
    fn command(self) -> Role {
        match self {
            Chain::Main => Role::Command,
            Chain::Health => Role::Healthcheck,
        }
    }
}

/// The binary that finally runs after a program's `#!` chain, with the argv
/// the kernel built for it: `prefix` followed by the caller's argv[1..].
#[derive(Clone, Debug)]
struct Loaded {
    path: Vec<u8>,
    prefix: Vec<Vec<u8>>,
    ctx: Ctx,
    via_shebang: bool,
    /// The role of the check that found it (what a refusal is filed under).
    role: Role,
}

/// The result of one `check_program`.
struct Ran {
    /// `None` when it was not judged (a note says why).
    outcome: Option<Outcome>,
    /// The binary that runs, when the program can run.
    loaded: Option<Loaded>,
}

/// What `judge` concluded.
enum Judged {
    Done(Outcome, String, Option<Loaded>),
    /// Not judged; the note says why.
    NotJudged(String),
}

type Boxed<'s, T> = Pin<Box<dyn Future<Output = Result<T, FsError>> + 's>>;

fn fail(reason: Reason, msg: String) -> Result<Judged, FsError> {
    Ok(Judged::Done(
        Outcome {
            verdict: Verdict::Fail,
            reason,
        },
        msg,
        None,
    ))
}

impl<'a, R: RootFs> Engine<'a, R> {
    fn new(fs: &'a R, platform: &'a Platform) -> Self {
        Engine {
            fs,
            platform,
            godebug: None,
            bash_env: false,
            checks: Vec::new(),
            idents: HashMap::new(),
            notes: Vec::new(),
            hints: BTreeMap::new(),
            hops: 0,
            undecided: None,
            loader_for: None,
            last_found: None,
            later_failures: std::collections::HashSet::new(),
            busybox: None,
            user_denied: std::collections::HashSet::new(),
            lookups: HashMap::new(),
            cstr_cache: HashMap::new(),
            home: None,
            check_paths: BTreeMap::new(),
            judged: HashMap::new(),
        }
    }
}

impl<R: RootFs> Engine<'_, R> {
    /// Check `argv[0]` as `finder` finds it and, when it can run, follow what
    /// it does with its arguments.
    fn run_argv<'s>(
        &'s mut self,
        role: Role,
        argv: Vec<Vec<u8>>,
        ctx: Ctx,
        finder: Finder,
        missing: Missing,
        chain: Chain,
    ) -> Boxed<'s, Option<Outcome>> {
        Box::pin(async move {
            let Some(word) = argv.first().cloned() else {
                return Ok(None);
            };
            let ran = self
                .check_program(role, &word, finder, &ctx, 0, &missing)
                .await?;
            if let (Some(o), Some(l)) = (ran.outcome, ran.loaded) {
                if o.verdict < Verdict::Fail {
                    let mut full = l.prefix.clone();
                    full.extend(argv[1..].iter().cloned());
                    self.follow(chain, full, l).await?;
                }
            }
            Ok(ran.outcome)
        })
    }

    /// Drop the checks from `idx` on (they were not judged after all).
    fn truncate_checks(&mut self, idx: usize) {
        self.checks.truncate(idx);
        self.hints.retain(|&k, _| k < idx);
        self.later_failures.retain(|&k| k < idx);
        self.user_denied.retain(|&k| k < idx);
        for (i, path) in self.check_paths.split_off(&idx) {
            if self.judged.get(&path) == Some(&i) {
                self.judged.remove(&path);
            }
        }
    }

    fn note(&mut self, n: String) {
        if self.notes.len() < MAX_NOTES {
            if !self.notes.contains(&n) {
                self.notes.push(n);
            }
        } else if self.notes.len() == MAX_NOTES {
            self.notes.push("(more notes left out)".into());
        }
    }

    /// One more program followed, or `false` (with a note) past the limit.
    fn hop(&mut self, what: &[u8]) -> bool {
        if self.hops >= MAX_EXEC_HOPS {
            self.undecided.get_or_insert_with(|| {
                format!(
                    "cannot decide: the programs exec each other more than {MAX_EXEC_HOPS} times (a wrapper, env or script loop?), and archgate follows no more; {} was not judged",
                    shown(what)
                )
            });
            return false;
        }
        self.hops += 1;
        true
    }
}

pub mod deep;
pub use deep::{fold_deep, inspect_file, inspect_loader, soften_script, DeepFile};

#[cfg(test)]
mod tests;
