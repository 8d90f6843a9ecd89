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

use super::binary::{self, Ident};
use super::config::{env_lookup, errdot_off, ImageConfig};
use super::exec::{
    self, basename, FirstCommand, Kind as ProgKind, Libc, ScriptEnd, ShellRun, Wrapper, WrapperCtx,
};
use super::platform::{kernel_elf, Platform, EM_386, EM_486, EM_ARM};
use super::resolve::{self, absolutize, path_entries, Lookup, PathRules, Resolution};
use super::user::{resolve_user, Cred};
use super::verdict::{BinaryFacts, Check, PlatformReport, Reason, Role, Verdict};
use crate::rootfs::{display, FsError, Kind, RootFs};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

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

/// `ARG_MAX` (include/uapi/linux/limits.h) and `_STK_LIM`
/// (include/uapi/linux/resource.h): execve's floor for the argument space
/// and the stack size its ceiling is 3/4 of (fs/exec.c `bprm_stack_limits`).
const ARG_MAX: u64 = 128 * 1024;
const STK_LIM: u64 = 8 << 20;

/// The smallest and largest page size a kernel of this architecture can
/// run with (`MAX_ARG_STRLEN` is 32 pages): 4 KiB only on x86, 32-bit ARM,
/// s390x and RISC-V; arm64, POWER, MIPS and LoongArch kernels are built
/// with 4, 16 or 64 KiB pages.
fn page_sizes(arch: &str) -> (u64, u64) {
    match arch {
        "amd64" | "386" | "arm" | "s390x" | "riscv64" => (4096, 4096),
        _ => (4096, 65536),
    }
}

/// How much of a shell binary is read to find an option name in it, and in
/// what chunks.
const MAX_SCAN: u64 = 16 << 20;
const SCAN_CHUNK: u64 = 1 << 20;

/// How much of an entrypoint script's end is read to find its last statement.
const SCRIPT_TAIL: u64 = 64 * 1024;

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
    // directory '%s' is invalid, it needs to be an absolute path").
    if let Some(wd) = config
        .working_dir
        .as_deref()
        .filter(|w| !w.starts_with('/'))
    {
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

const ERRDOT_HINT: &str = "runc refuses a program found through an empty, `.` or relative PATH entry (Go's exec.ErrDot): name it by its path (ENTRYPOINT [\"/srv/app\"] or [\"./app\"]) or put its directory in PATH as an absolute path";
const LOOP_HINT: &str = "more than 5 nested #! scripts: Linux stops with ELOOP (\"too many levels of symbolic links\"); run the innermost interpreter directly or exec it from the script";

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

    /// Whether execve(2) takes this argv and environment: a single string
    /// of `MAX_ARG_STRLEN` (32 pages, counting its NUL) or more, or more
    /// than the stack limit allows for all of them with their pointers, is
    /// E2BIG (torvalds/linux fs/exec.c `copy_strings`, `valid_arg_len`,
    /// `bprm_stack_limits`: a quarter of RLIMIT_STACK, at least `ARG_MAX`
    /// 128 KiB, at most 3/4 of `_STK_LIM` = 6 MiB). What depends on the
    /// node (its page size, the container's stack limit) is noted; what no
    /// node takes fails with a check of `role`. `false` when it fails.
    fn exec_size(&mut self, role: Role, argv: &[Vec<u8>], env: &[String]) -> bool {
        let (min_page, max_page) = page_sizes(&self.platform.arch);
        let strings = argv.iter().map(Vec::len).chain(env.iter().map(String::len));
        let longest = strings.clone().max().unwrap_or(0) as u64 + 1;
        let ptr = match self.platform.identity().map(|i| i.bits) {
            Some(32) => 4,
            _ => 8,
        };
        // The file name is copied to the new stack too (`execfn`).
        let total: u64 = strings.map(|n| n as u64 + 1 + ptr).sum::<u64>()
            + argv.first().map_or(0, |a| a.len() as u64 + 1);
        let fail = if longest > 32 * max_page {
            Some(format!(
                "a single argument or environment string is {} bytes: execve refuses any of 32 pages ({} bytes here) or more with E2BIG (\"argument list too long\")",
                longest - 1,
                32 * max_page
            ))
        } else if total > STK_LIM / 4 * 3 {
            Some(format!(
                "the arguments and environment take {total} bytes of the new stack: execve refuses more than 6 MiB on any node with E2BIG (\"argument list too long\")"
            ))
        } else {
            None
        };
        if let Some(message) = fail {
            self.checks.push(Check {
                role,
                path: argv.first().map(|a| display(a)).unwrap_or_default(),
                resolved: String::new(),
                chain: Vec::new(),
                verdict: Verdict::Fail,
                reason: Reason::BadInvocation,
                message,
                binary: None,
            });
            return false;
        }
        if longest > 32 * min_page {
            self.note(format!(
                "a single argument or environment string is {} bytes: execve takes it only on kernels with pages of {} bytes or more (E2BIG on {min_page}-byte pages): not judged",
                longest - 1,
                longest.div_ceil(32)
            ));
        } else if total > ARG_MAX {
            self.note(format!(
                "the arguments and environment take {total} bytes: execve takes them only if the container's stack limit (RLIMIT_STACK) is at least 4 times that (E2BIG otherwise): not judged"
            ));
        }
        true
    }

    /// The credentials the image's `User` gives the process, read from the
    /// image's /etc/passwd and /etc/group as Docker reads them (see
    /// `user::resolve_user`). What cannot be resolved is noted and leaves
    /// permissions to the execute bits alone.
    async fn process_user(&mut self, spec: &str) -> Result<Option<Cred>, FsError> {
        if spec.is_empty() {
            return Ok(Some(Cred::root()));
        }
        let passwd = self.small_file(b"/etc/passwd").await?;
        let group = self.small_file(b"/etc/group").await?;
        let (Ok(passwd), Ok(group)) = (passwd, group) else {
            self.note(format!(
                "User {spec:?}: the image's /etc/passwd or /etc/group is too large or not a file to read: execute permissions are judged by the execute bits alone"
            ));
            return Ok(None);
        };
        match resolve_user(spec, passwd.as_deref(), group.as_deref()) {
            Ok(c) => Ok(Some(c)),
            Err(why) => {
                self.note(format!(
                    "User {spec:?}: {why}; execute permissions are judged by the execute bits alone"
                ));
                Ok(None)
            }
        }
    }

    /// A small file of the image (links followed inside the root):
    /// `Ok(None)` when it does not exist, `Err(())` when it is no regular
    /// file or larger than 1 MiB.
    async fn small_file(&mut self, path: &[u8]) -> Result<Result<Option<Vec<u8>>, ()>, FsError> {
        Ok(match resolve::resolve(self.fs, path, true).await? {
            Resolution::Found { path, entry, .. } if entry.kind == Kind::File => {
                if entry.size > 1 << 20 {
                    Err(())
                } else {
                    Ok(Some(self.fs.read_at(&path, 0, entry.size as usize).await?))
                }
            }
            Resolution::Found { .. } | Resolution::Loop { .. } => Err(()),
            Resolution::NotFound { .. } => Ok(None),
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

    /// What the binary that runs does with its argv: exec a program a
    /// wrapper names, run a shell string or script, or read its arguments.
    fn follow<'s>(&'s mut self, chain: Chain, argv: Vec<Vec<u8>>, loaded: Loaded) -> Boxed<'s, ()> {
        Box::pin(async move {
            let (kind, applets, argv) = kind_of(argv, &loaded.path);
            if applets {
                self.saw_busybox(&loaded.path);
            }
            let ctx = loaded.ctx.clone();
            let name = shown(basename(&argv[0]));
            match kind {
                ProgKind::Wrapper(w) => match exec::parse_wrapper(
                    w,
                    &argv[1..],
                    WrapperCtx {
                        libc: self.libc_of(&loaded.path),
                        posixly_correct: ctx.posix,
                        busybox: applets,
                    },
                ) {
                    exec::WrapperRun::Exec(next) => {
                        if !self.hop(&next.argv[0]) {
                            return Ok(());
                        }
                        let finder = self.wrapper_finder(w, &loaded.path, applets).await?;
                        let role = if loaded.via_shebang {
                            Role::Interpreter
                        } else {
                            chain.argument()
                        };
                        let mut ctx = apply_env(&ctx, &next);
                        if matches!(w, Wrapper::Gosu | Wrapper::SuExec) {
                            // It runs its program as another user.
                            ctx.cred = None;
                        }
                        self.run_argv(role, next.argv, ctx, finder, Missing::Fail, chain)
                            .await?;
                    }
                    exec::WrapperRun::Nothing(why) => self.note(format!("{name}: {why}")),
                    exec::WrapperRun::Unknown(why) => {
                        self.note(format!("{why}: what it runs is not judged"))
                    }
                    exec::WrapperRun::Refused(why) => self.refused(&loaded, &argv[0], why),
                },
                ProgKind::Shell { .. } => {
                    let shell = exec::Shell::of(&loaded.path, &argv[0]);
                    self.follow_shell(chain, shell, applets, argv, loaded)
                        .await?
                }
                ProgKind::Interpreter { reads_pe } => {
                    self.data_args(chain, &argv, reads_pe, true, &ctx).await?
                }
                ProgKind::Unknown => self.data_args(chain, &argv, false, false, &ctx).await?,
                ProgKind::Emulator { goarch } => match exec::qemu_program(&argv[1..]) {
                    // qemu-user loads the program itself, for the machine
                    // it emulates: the kernel never execs it, so it is not
                    // judged against the platform (its loader comes from
                    // qemu's -L/QEMU_LD_PREFIX). Its own arguments are what
                    // any unknown program's are.
                    Ok(k) => {
                        let program = &argv[1 + k];
                        self.note(format!(
                            "{}: run by {name} (qemu user-mode emulation{}), not exec'd by the kernel: not judged against {}",
                            shown(program),
                            goarch.map(|g| format!(" of {g}")).unwrap_or_default(),
                            self.platform
                        ));
                        let rest: Vec<Vec<u8>> = argv[1 + k..].to_vec();
                        self.data_args(chain, &rest, false, false, &ctx).await?
                    }
                    Err(why) => self.note(format!("{why}: what it runs is not judged")),
                },
            }
            Ok(())
        })
    }

    /// A shell's argv: its options, then a `-c` string, a script file it
    /// reads, or stdin.
    async fn follow_shell(
        &mut self,
        chain: Chain,
        shell: exec::Shell,
        applets: bool,
        argv: Vec<Vec<u8>>,
        loaded: Loaded,
    ) -> Result<(), FsError> {
        let ctx = loaded.ctx.clone();
        let name = shown(basename(&argv[0]));
        let bash = shell == exec::Shell::Bash;
        let (opts, run) = match exec::parse_shell(shell, &argv[1..]) {
            ShellRun::Refused(why) => {
                self.refused(&loaded, &argv[0], why);
                return Ok(());
            }
            ShellRun::Stdin => return Ok(()),
            ShellRun::Nothing(why) => {
                self.note(why);
                return Ok(());
            }
            ShellRun::Unknown(why) => {
                self.note(format!("{name}: {why}: what it runs is not judged"));
                return Ok(());
            }
            run @ (ShellRun::String { .. } | ShellRun::Script { .. }) => {
                let opts = match &run {
                    ShellRun::String { opts, .. } | ShellRun::Script { opts, .. } => opts.clone(),
                    _ => unreachable!("matched above"),
                };
                (opts, run)
            }
        };
        // `-o NAME`: a name the shell does not know stops it before anything
        // runs ("Illegal option -o pipefail": dash up to 0.5.12 has no
        // pipefail). The names every release knows are taken as they are;
        // others are looked for in the shell binary's option table.
        for (letter, opt) in &opts.named {
            if *letter == b'o' && exec::well_known_o_name(shell, opt) {
                continue;
            }
            let control: &[u8] = if *letter == b'O' {
                b"extglob"
            } else {
                b"errexit"
            };
            match self.binary_has_cstr(&loaded.path, control, opt).await? {
                Some(true) => {}
                Some(false) => {
                    let how = if shell == exec::Shell::Busybox {
                        "exits"
                    } else {
                        "exits 2"
                    };
                    self.refused(
                        &loaded,
                        &argv[0],
                        format!(
                            "{} does not know the option -{} {} (its binary has no such option name: \"illegal option\"), and {how} before running anything",
                            shell.name(),
                            *letter as char,
                            shown(opt)
                        ),
                    );
                    return Ok(());
                }
                None => {
                    self.note(format!(
                        "{name}: whether it knows the option -{} {} cannot be told from its binary: what it runs is not judged",
                        *letter as char,
                        shown(opt)
                    ));
                    return Ok(());
                }
            }
        }
        // A login shell (`-l`, `--login`, argv[0] starting with `-`) reads
        // /etc/profile and the user's profile first (bash: the first of
        // ~/.bash_profile, ~/.bash_login, ~/.profile; dash and ash:
        // ~/.profile), which may set PATH, change directory or define
        // functions (bash shell.c `run_startup_files`, dash src/main.c,
        // busybox ash.c `ash_main`).
        let login = opts.login || argv[0].first() == Some(&b'-');
        if login {
            if let Some(profile) = self.login_profile(bash).await? {
                self.note(format!(
                    "{name} is a login shell and reads {} first, which may set PATH or define anything: what it runs is not judged",
                    shown(&profile)
                ));
                return Ok(());
            }
        }
        match run {
            ShellRun::String { string, rest, .. } => {
                let s = format!("{:?}", display(&string));
                // Binaries among $0, $1, ...: the string may run them.
                let mut positional = vec![argv[0].clone()];
                positional.extend(rest.iter().cloned());
                self.data_args(chain, &positional, false, false, &ctx)
                    .await?;
                if bash && self.bash_env {
                    self.note(format!(
                        "{name} -c {s}: not judged: bash reads the BASH_ENV file first, which may define anything"
                    ));
                    return Ok(());
                }
                match exec::first_command(&string, shell) {
                    FirstCommand::Run {
                        argv: words,
                        path,
                        args_known,
                    } => {
                        if !self.hop(&words[0]) {
                            return Ok(());
                        }
                        let mut ctx = ctx;
                        if let Some(p) = path {
                            ctx.path = Some(p);
                        }
                        let finder = Finder::Shell { shell, applets };
                        if args_known {
                            self.run_argv(
                                chain.command(),
                                words,
                                ctx,
                                finder,
                                Missing::Fail,
                                chain,
                            )
                            .await?;
                        } else {
                            // Its arguments need expansion: judge the
                            // program, follow nothing further.
                            self.check_program(
                                chain.command(),
                                &words[0],
                                finder,
                                &ctx,
                                0,
                                &Missing::Fail,
                            )
                            .await?;
                        }
                    }
                    FirstCommand::Nothing(why) => self.note(format!("{name} -c {s}: {why}")),
                    FirstCommand::GiveUp(why) => {
                        let end = exec::script_end(&string);
                        if end == ScriptEnd::Other {
                            self.note(format!("{name} -c {s}: what it runs is not judged: {why}"));
                        } else {
                            // `sh -c 'exec "$@"' $0 PROGRAM ARGS`
                            let params = rest.get(1..).unwrap_or_default().to_vec();
                            let what = format!("{name} -c {s}");
                            self.exec_args(chain, &what, &end, params, shell, applets, &ctx)
                                .await?;
                        }
                    }
                }
            }
            ShellRun::Script { path, args, .. } => {
                self.shell_script(chain, &argv[0], shell, applets, &path, args, &loaded)
                    .await?;
            }
            _ => unreachable!("only a string or a script gets here"),
        }
        Ok(())
    }

    /// Record that the program `loaded` runs refuses its arguments: it
    /// exits before running anything.
    fn refused(&mut self, loaded: &Loaded, argv0: &[u8], why: String) {
        self.checks.push(Check {
            role: loaded.role,
            path: display(argv0),
            resolved: display(&loaded.path),
            chain: Vec::new(),
            verdict: Verdict::Fail,
            reason: Reason::BadInvocation,
            message: why,
            binary: None,
        });
    }

    /// The first profile a login shell of this kind would read, if the
    /// image has one: /etc/profile, then the user's (HOME from the process
    /// env when set, else `/root` and `/`, where runc points HOME for root
    /// without a passwd entry).
    async fn login_profile(&mut self, bash: bool) -> Result<Option<Vec<u8>>, FsError> {
        let homes: Vec<Vec<u8>> = match &self.home {
            Some(h) => vec![h.clone()],
            None => vec![b"/root".to_vec(), b"/".to_vec()],
        };
        let mut candidates = vec![b"/etc/profile".to_vec()];
        let names: &[&[u8]] = if bash {
            &[b".bash_profile", b".bash_login", b".profile"]
        } else {
            &[b".profile"]
        };
        for h in &homes {
            for n in names {
                let mut p = h.clone();
                if p.last() != Some(&b'/') {
                    p.push(b'/');
                }
                p.extend_from_slice(n);
                candidates.push(p);
            }
        }
        for c in candidates {
            if let Resolution::Found { entry, .. } = resolve::resolve(self.fs, &c, true).await? {
                if entry.kind == Kind::File {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }

    /// Whether the file holds `needle` as a NUL-terminated string, looked
    /// for when it holds `control` so (an option table is there to read:
    /// a packed or compressed binary has neither). `None`: cannot tell.
    async fn binary_has_cstr(
        &mut self,
        path: &[u8],
        control: &[u8],
        needle: &[u8],
    ) -> Result<Option<bool>, FsError> {
        let with_nul = |w: &[u8]| [w, b"\0"].concat();
        let found = self
            .scan_binary(path, &[with_nul(needle), with_nul(control)])
            .await?;
        Ok(found.and_then(|f| f[1].then_some(f[0])))
    }

    /// Whether the busybox at `path` has an applet `name`: its applet names
    /// are one NUL-separated list (libbb applet_tables), which holds `sh`,
    /// `ash` or `env` when it can be read at all. `None`: cannot tell.
    async fn busybox_has_applet(
        &mut self,
        path: &[u8],
        name: &[u8],
    ) -> Result<Option<bool>, FsError> {
        let delimited = |w: &[u8]| [b"\0", w, b"\0"].concat();
        let found = self
            .scan_binary(
                path,
                &[
                    delimited(name),
                    delimited(b"sh"),
                    delimited(b"ash"),
                    delimited(b"env"),
                ],
            )
            .await?;
        Ok(found.and_then(|f| f[1..].iter().any(|&c| c).then_some(f[0])))
    }

    /// Which of `patterns` the file holds (read in chunks, up to
    /// `MAX_SCAN` bytes; `None` past that), cached per file and pattern.
    async fn scan_binary(
        &mut self,
        path: &[u8],
        patterns: &[Vec<u8>],
    ) -> Result<Option<Vec<bool>>, FsError> {
        let key = |p: &Vec<u8>| (path.to_vec(), p.clone());
        if let Some(cached) = patterns
            .iter()
            .map(|p| self.cstr_cache.get(&key(p)).copied())
            .collect::<Option<Vec<Option<bool>>>>()
        {
            return Ok(cached.into_iter().collect());
        }
        let size = match self.fs.lstat(path).await? {
            Some(e) if e.kind == Kind::File => e.size,
            _ => return Ok(None),
        };
        let answer = if size > MAX_SCAN {
            None
        } else {
            let mut found = vec![false; patterns.len()];
            let overlap = patterns.iter().map(Vec::len).max().unwrap_or(1) as u64;
            let mut off = 0u64;
            while off < size && !found.iter().all(|&f| f) {
                let len = SCAN_CHUNK.min(size - off);
                let data = self.fs.read_at(path, off, len as usize).await?;
                for (f, w) in found.iter_mut().zip(patterns) {
                    *f |= memchr::memmem::find(&data, w).is_some();
                }
                if off + len >= size {
                    break;
                }
                off += len - overlap.min(len);
            }
            Some(found)
        };
        for (i, p) in patterns.iter().enumerate() {
            self.cstr_cache
                .insert(key(p), answer.as_ref().map(|f| f[i]));
        }
        Ok(answer)
    }

    /// How a wrapper looks its program up: gosu with Go's LookPath (ErrDot
    /// from Go 1.19, read from its build info), the C wrappers with their
    /// libc's `execvp`.
    async fn wrapper_finder(
        &mut self,
        w: Wrapper,
        path: &[u8],
        applets: bool,
    ) -> Result<Finder, FsError> {
        if w == Wrapper::Gosu {
            let mut minor = None;
            if let Some((Ident::Elf(elf), _)) = self.idents.get(path) {
                let elf = elf.clone();
                minor = binary::go_buildinfo(self.fs, path, &elf)
                    .await?
                    .and_then(|g| g.version)
                    .and_then(|v| go_minor(&v));
            }
            // ErrDot exists from Go 1.19 (os/exec lp_unix.go).
            let errdot = match minor {
                Some(m) if m < 19 => Some(false),
                m => self.errdot(m),
            };
            return Ok(Finder::Go {
                errdot,
                who: "gosu",
            });
        }
        Ok(Finder::Execvp {
            libc: self.libc_of(path),
            applets,
            who: w.name(),
        })
    }

    /// Whether a Go program built with Go 1.`go_minor` refuses ErrDot hits
    /// under this process's GODEBUG (`None`: it depends on the release).
    fn errdot(&self, go_minor: Option<u32>) -> Option<bool> {
        errdot_off(self.godebug.as_deref(), go_minor).map(|off| !off)
    }

    /// glibc or musl, from the binary's PT_INTERP.
    fn libc_of(&self, path: &[u8]) -> Libc {
        match self.idents.get(path) {
            Some((Ident::Elf(e), _)) => match &e.interp {
                Some(i) if memchr::memmem::find(i, b"musl").is_some() => Libc::Musl,
                Some(_) => Libc::Glibc,
                None => Libc::Unknown,
            },
            _ => Libc::Unknown,
        }
    }

    /// `sh FILE ARGS`: the shell reads FILE as data (its `#!` line is a
    /// comment, nothing execs it). When FILE is the official-image
    /// entrypoint (it ends in `exec "$@"`), what it runs is its first
    /// argument. A binary is no shell script: bash refuses it ("cannot
    /// execute binary file", 126), dash and ash stop at a syntax error (2).
    #[allow(clippy::too_many_arguments)]
    async fn shell_script(
        &mut self,
        chain: Chain,
        argv0: &[u8],
        shell: exec::Shell,
        applets: bool,
        script: &[u8],
        args: Vec<Vec<u8>>,
        loaded: &Loaded,
    ) -> Result<(), FsError> {
        let ctx = &loaded.ctx;
        let via_shebang = loaded.via_shebang;
        let sh = shown(basename(argv0));
        let name = shown(script);
        let abs = absolutize(script, ctx.cwd.as_deref());
        let (path, size) = match resolve::resolve(self.fs, &abs, true).await? {
            Resolution::Found { path, entry, .. } if entry.kind == Kind::File => (path, entry.size),
            _ => {
                self.note(format!(
                    "{name}: {sh} reads it as a script, but it is not a file in the image"
                ));
                return Ok(());
            }
        };
        if let ident @ (Ident::Elf(_) | Ident::Macho | Ident::Pe) =
            self.ident_of(&path, size).await?
        {
            let what = match ident {
                Ident::Elf(_) => "an ELF binary",
                Ident::Macho => "a Mach-O binary",
                _ => "a Windows PE binary",
            };
            self.checks.push(Check {
                role: chain.argument(),
                path: display(script),
                resolved: display(&path),
                chain: Vec::new(),
                verdict: Verdict::Fail,
                reason: Reason::NotAProgram,
                message: format!(
                    "{name} is {what}, which {sh} reads as a shell script (it is not exec'd): bash refuses it (\"cannot execute binary file\"), dash and busybox sh stop at a syntax error"
                ),
                binary: self.idents.get(&path).map(|(_, f)| f.clone()),
            });
            return Ok(());
        }
        let len = size.min(SCRIPT_TAIL);
        let tail = self.fs.read_at(&path, size - len, len as usize).await?;
        let end = exec::script_end(&tail);
        if end == ScriptEnd::Other {
            self.note(if via_shebang {
                format!(
                    "{name} runs under {sh} and does not end in exec \"$@\": what it runs is not judged"
                )
            } else {
                format!(
                    "{name} is read by {sh} as data (its #! line is not used) and does not end in exec \"$@\": what it runs is not judged"
                )
            });
            let mut argv = vec![script.to_vec()];
            argv.extend(args);
            return self.data_args(chain, &argv, false, false, ctx).await;
        }
        // The official images drop privileges by re-running the script
        // through gosu or su-exec before its last line (notes/exec.md
        // section 6): that exec runs first whenever its `if` holds.
        if size > SCRIPT_TAIL {
            self.note(format!(
                "only the last {} KiB of {name} are read: an exec before them is not judged",
                SCRIPT_TAIL / 1024
            ));
        }
        let mut ctx = ctx.clone();
        for m in exec::mid_execs(&tail) {
            let line = shown(&m.line);
            let (Some(wrapper), Some(conds)) = (&m.reexec, &m.conds) else {
                self.note(format!(
                    "{name}: `{line}` is an exec archgate does not follow: what it runs is not judged"
                ));
                continue;
            };
            let arg1 = if m.args_changed {
                None
            } else {
                args.first().map(Vec::as_slice)
            };
            let uid = ctx.cred.as_ref().map(|c| c.uid);
            let values: Vec<Option<bool>> = conds
                .iter()
                .map(|c| exec::eval_condition(c, arg1, uid))
                .collect();
            let holds = if values.contains(&Some(false)) {
                Some(false)
            } else if values.contains(&None) {
                None
            } else {
                Some(true)
            };
            match holds {
                Some(true) => {
                    if !self.hop(wrapper) {
                        return Ok(());
                    }
                    let finder = Finder::Shell { shell, applets };
                    self.check_program(chain.command(), wrapper, finder, &ctx, 0, &Missing::Fail)
                        .await?;
                    // The rest of the script runs again as the user gosu
                    // switches to.
                    ctx.cred = None;
                }
                Some(false) => {}
                None => self.note(format!(
                    "{name}: `{line}` runs only if {}, which archgate cannot evaluate: not judged",
                    conds
                        .iter()
                        .map(|c| shown(c))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )),
            }
        }
        self.exec_args(chain, &name, &end, args, shell, applets, &ctx)
            .await
    }

    /// A script (or `-c` string) whose last statement is `exec "$@"`, or
    /// `exec gosu|su-exec USER "$@"`, runs its arguments: judge the first
    /// one (`command`), leniently (the script may rewrite it first).
    #[allow(clippy::too_many_arguments)]
    async fn exec_args(
        &mut self,
        chain: Chain,
        name: &str,
        end: &ScriptEnd,
        args: Vec<Vec<u8>>,
        shell: exec::Shell,
        applets: bool,
        ctx: &Ctx,
    ) -> Result<(), FsError> {
        let Some(first) = args.first() else {
            self.note(format!(
                "{name} ends in exec \"$@\" but is given no arguments: it runs nothing"
            ));
            return Ok(());
        };
        if first.first() == Some(&b'-') {
            self.note(format!(
                "{name} ends in exec \"$@\"; its first argument {} is an option, which official entrypoint scripts hand to their own program: not judged",
                shown(first)
            ));
            return Ok(());
        }
        let mut finder = Finder::Shell { shell, applets };
        let mut via = String::new();
        if let ScriptEnd::ExecVia { wrapper } = end {
            // The script execs the wrapper (always, as its last statement),
            // which runs the arguments as another user.
            if !self.hop(wrapper) {
                return Ok(());
            }
            let ran = self
                .check_program(chain.command(), wrapper, finder, ctx, 0, &Missing::Fail)
                .await?;
            let (Some(o), Some(l)) = (ran.outcome, ran.loaded) else {
                return Ok(());
            };
            if o.verdict == Verdict::Fail {
                return Ok(());
            }
            let w = match exec::classify(basename(wrapper)) {
                ProgKind::Wrapper(w) => w,
                _ => Wrapper::SuExec,
            };
            let applets = basename(&l.path) == b"busybox";
            finder = self.wrapper_finder(w, &l.path, applets).await?;
            via = format!(" through {}", shown(basename(wrapper)));
        }
        if !self.hop(first) {
            return Ok(());
        }
        let context = format!(
            "{name} ends in exec \"$@\"{via}, but its first argument {} is not a program it can run ",
            shown(first)
        );
        let mut ctx = ctx.clone();
        if !via.is_empty() {
            // gosu and su-exec run it as another user.
            ctx.cred = None;
        }
        self.run_argv(
            chain.command(),
            args,
            ctx,
            finder,
            Missing::Note(context),
            chain,
        )
        .await?;
        Ok(())
    }

    /// The arguments of a program that does not exec them itself: a binary
    /// (ELF, Mach-O, PE) given by absolute path is judged, since wrappers
    /// archgate does not know exec such arguments; a `#!` script is judged
    /// unless an interpreter reads it (`scripts_are_data`); the rest is data
    /// and only noted.
    async fn data_args(
        &mut self,
        chain: Chain,
        argv: &[Vec<u8>],
        reads_pe: bool,
        scripts_are_data: bool,
        ctx: &Ctx,
    ) -> Result<(), FsError> {
        let who = shown(basename(&argv[0]));
        for arg in argv.iter().skip(1) {
            if arg.first() != Some(&b'/') {
                continue;
            }
            let Resolution::Found { path, entry, .. } =
                resolve::resolve(self.fs, arg, true).await?
            else {
                continue;
            };
            if entry.kind != Kind::File {
                continue;
            }
            // Judged already (by the path's bytes: two names that display
            // alike are still two files).
            if self.judged.contains_key(&path) {
                continue;
            }
            let ident = self.ident_of(&path, entry.size).await?;
            let (program, what) = match &ident {
                Ident::Elf(_) | Ident::Macho => (true, String::new()),
                Ident::Pe => (!reads_pe, "a Windows PE file".to_string()),
                Ident::Script { .. } => (!scripts_are_data, "a #! script".to_string()),
                Ident::NotAProgram { why, .. } => (false, why.clone()),
            };
            if program && entry.is_executable() {
                self.check_program(
                    chain.argument(),
                    arg,
                    Finder::Kernel,
                    ctx,
                    0,
                    &Missing::Fail,
                )
                .await?;
            } else if scripts_are_data || entry.is_executable() {
                self.note(format!(
                    "{}: {what}, data for {who} (read, not exec'd): not judged",
                    shown(arg)
                ));
            }
        }
        Ok(())
    }

    async fn ident_of(&mut self, path: &[u8], size: u64) -> Result<Ident, FsError> {
        if let Some((i, _)) = self.idents.get(path) {
            return Ok(i.clone());
        }
        let kernel = kernel_elf(&self.platform.arch);
        let ident = binary::identify(self.fs, path, size, kernel).await?;
        let facts = binary::facts(self.fs, path, &ident).await?;
        self.idents.insert(path.to_vec(), (ident.clone(), facts));
        Ok(ident)
    }

    /// Locate, identify and judge one program; push its `Check` (and those of
    /// its interpreter or loader) and return its outcome and what runs.
    fn check_program<'s>(
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

    /// Remember which busybox binary runs the shells and envs with applets
    /// (an image with two different ones: `None`, applets unknown).
    fn saw_busybox(&mut self, path: &[u8]) {
        match &self.busybox {
            None => self.busybox = Some(Some(path.to_vec())),
            Some(Some(p)) if p != path => self.busybox = Some(None),
            _ => {}
        }
    }

    /// Whether the busybox that looks `name` up may run an applet of that
    /// name instead (`true` unless its binary shows it has none).
    async fn may_be_applet(&mut self, name: &[u8]) -> Result<bool, FsError> {
        if !applet_like(name) {
            return Ok(false);
        }
        let Some(Some(path)) = self.busybox.clone() else {
            return Ok(true);
        };
        Ok(self.busybox_has_applet(&path, name).await? != Some(false))
    }

    #[allow(clippy::too_many_arguments)]
    async fn judge(
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
    async fn check_loader(
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

    fn judge_foreign_format(
        &self,
        facts: &BinaryFacts,
        path: &str,
        os: &str,
        what: &str,
    ) -> (Outcome, String) {
        let p = self.platform;
        if p.os != os {
            return (
                Outcome {
                    verdict: Verdict::Fail,
                    reason: Reason::OsMismatch,
                },
                format!("{path} is {what}, but the platform is {p}"),
            );
        }
        match &facts.arch {
            Some(a) if *a == p.arch => (
                Outcome {
                    verdict: Verdict::Pass,
                    reason: Reason::Match,
                },
                format!("{path} is {what} for {a}"),
            ),
            a => (
                Outcome {
                    verdict: Verdict::Fail,
                    reason: Reason::ArchMismatch,
                },
                format!(
                    "{path} is {what} for {}, but the platform is {p}",
                    a.as_deref().unwrap_or("an unknown machine")
                ),
            ),
        }
    }

    async fn judge_elf(
        &mut self,
        elf: &binary::ElfInfo,
        facts: &mut BinaryFacts,
        path_bytes: &[u8],
    ) -> Result<(Outcome, String), FsError> {
        let p = self.platform;
        let path = shown(path_bytes);
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
                message: if program.is_empty() {
                    "the image config has no ENTRYPOINT or CMD: nothing to run".into()
                } else {
                    format!("{program} was not judged: see the notes")
                },
                program,
                resolved,
                checks: Vec::new(),
                notes: self.notes,
                hint: None,
                digest: None,
                check_micros: None,
                deep: None,
            };
        }
        let worst = self
            .checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Pass);
        let (decider_idx, decider) = self
            .checks
            .iter()
            .enumerate()
            .find(|(_, c)| c.verdict == worst)
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
        // A hint tied to a check that shares the verdict (an interpreter's
        // ErrDot or nesting), else the reason's usual one.
        let special = self
            .hints
            .iter()
            .find(|(&i, _)| {
                i >= decider_idx
                    && self
                        .checks
                        .get(i)
                        .is_some_and(|c| c.verdict == worst && c.reason == reason)
            })
            .map(|(_, h)| h.clone());
        let hint = special.or_else(|| hint_for(reason, &self.checks, self.platform));
        PlatformReport {
            platform,
            verdict: worst,
            reason,
            message,
            program,
            resolved,
            checks: self.checks,
            notes: self.notes,
            hint,
            digest: None,
            check_micros: None,
            deep: None,
        }
    }
}

/// Classify the binary that runs by its argv[0] (busybox picks its applet by
/// it, and `busybox APPLET ARGS` by the first argument), else by its file
/// name. Also says whether it is busybox.
fn kind_of(mut argv: Vec<Vec<u8>>, resolved: &[u8]) -> (ProgKind, bool, Vec<Vec<u8>>) {
    let applets = basename(resolved) == b"busybox";
    if applets && basename(&argv[0]) == b"busybox" && argv.len() > 1 {
        argv.remove(0);
    }
    let mut kind = exec::classify(&argv[0]);
    if kind == ProgKind::Unknown && !applets {
        kind = exec::classify(resolved);
    }
    (kind, applets, argv)
}

/// Could busybox have an applet of this name (`sh`, `run-parts`, `[`,
/// `fsck.minix`)? Never one with a control byte, a blank or a slash.
fn applet_like(name: &[u8]) -> bool {
    name.iter()
        .all(|b| b.is_ascii_graphic() && *b != b'/' && *b != b'\\')
}

/// The environment a wrapper's program gets (`env -i`, `env PATH=...`,
/// `env -C DIR`).
fn apply_env(ctx: &Ctx, next: &exec::Next) -> Ctx {
    let mut c = ctx.clone();
    if let Some(p) = &next.path {
        c.path = p.clone();
    }
    if let Some(d) = &next.chdir {
        c.cwd = Some(absolutize(d, ctx.cwd.as_deref()));
    }
    if let Some(p) = next.posix {
        c.posix = p;
    }
    c
}

/// The minor version of a Go release string (`go1.19.8` is 19).
fn go_minor(v: &str) -> Option<u32> {
    let rest = v.strip_prefix("go1.")?;
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    n.parse().ok()
}

/// "an ELF 64-bit LSB executable for arm64, static" and the like.
/// A binary runs only through its loader: its outcome (`out`: verdict and
/// message, `path` shown) becomes the loader's (`lo`, message `lmsg`) when
/// that is worse. `judge` and `--deep`'s completion both use this.
fn needs_loader(out: &mut (Outcome, String), path: &str, lo: Outcome, lmsg: &str) {
    if lo.verdict > out.0.verdict {
        *out = (lo, format!("{path} needs its loader: {lmsg}"));
    }
}

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
        Reason::NotFound
            if checks
                .iter()
                .any(|c| c.verdict == Verdict::Fail && c.path.contains('\r')) =>
        {
            "the #! line ends in a carriage return (CRLF line endings, e.g. a Windows checkout), so the kernel or env looks for a program whose name ends in \\r: convert the script to LF line endings (dos2unix, or `*.sh text eol=lf` in .gitattributes)".to_string()
        }
        Reason::NotFound => {
            "the program is not in this platform's image: check the ENTRYPOINT/CMD path, PATH, and that the COPY for this platform brought it in".to_string()
        }
        Reason::NotAProgram => {
            "the file is neither a binary nor a #! script: a truncated download, an HTML error page, or a text file without #!?".to_string()
        }
        Reason::SymlinkLoop => "a symlink in the chain points back at itself".to_string(),
        Reason::BadInvocation => {
            "the command line is refused before anything runs: fix the option, argument or setting the message names".to_string()
        }
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

pub mod deep;
pub use deep::{fold_deep, inspect_file, inspect_loader, soften_script, DeepFile};

#[cfg(test)]
mod tests;
