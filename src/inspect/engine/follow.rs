//! What the binary that runs does with its argv: a wrapper's program found
//! as that wrapper finds it (in the environment it sets), a shell handed to
//! `shell`, an emulator's or interpreter's arguments read as data.

use super::{shown, Boxed, Chain, Ctx, Engine, Finder, Loaded, Missing};
use crate::inspect::binary::{self, Ident};
use crate::inspect::config::errdot_off;
use crate::inspect::exec::{self, basename, Kind as ProgKind, Libc, Wrapper, WrapperCtx};
use crate::inspect::resolve::{self, absolutize, Resolution};
use crate::inspect::verdict::{Check, Reason, Role, Verdict};
use crate::rootfs::{display, FsError, Kind, RootFs};

impl<R: RootFs> Engine<'_, R> {
    /// What the binary that runs does with its argv: exec a program a
    /// wrapper names, run a shell string or script, or read its arguments.
    pub(super) fn follow<'s>(
        &'s mut self,
        chain: Chain,
        argv: Vec<Vec<u8>>,
        loaded: Loaded,
    ) -> Boxed<'s, ()> {
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

    /// Record that the program `loaded` runs refuses its arguments: it
    /// exits before running anything.
    pub(super) fn refused(&mut self, loaded: &Loaded, argv0: &[u8], why: String) {
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

    /// How a wrapper looks its program up: gosu with Go's LookPath (ErrDot
    /// from Go 1.19, read from its build info), the C wrappers with their
    /// libc's `execvp`.
    pub(super) async fn wrapper_finder(
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
    pub(super) fn errdot(&self, go_minor: Option<u32>) -> Option<bool> {
        errdot_off(self.godebug.as_deref(), go_minor).map(|off| !off)
    }

    /// glibc or musl, from the binary's PT_INTERP.
    pub(super) fn libc_of(&self, path: &[u8]) -> Libc {
        match self.idents.get(path) {
            Some((Ident::Elf(e), _)) => match &e.interp {
                Some(i) if memchr::memmem::find(i, b"musl").is_some() => Libc::Musl,
                Some(_) => Libc::Glibc,
                None => Libc::Unknown,
            },
            _ => Libc::Unknown,
        }
    }

    /// The arguments of a program that does not exec them itself: a binary
    /// (ELF, Mach-O, PE) given by absolute path is judged, since wrappers
    /// archgate does not know exec such arguments; a `#!` script is judged
    /// unless an interpreter reads it (`scripts_are_data`); the rest is data
    /// and only noted.
    pub(super) async fn data_args(
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
}

/// Classify the binary that runs by its argv[0] (busybox picks its applet by
/// it, and `busybox APPLET ARGS` by the first argument), else by its file
/// name. Also says whether it is busybox.
pub(super) fn kind_of(mut argv: Vec<Vec<u8>>, resolved: &[u8]) -> (ProgKind, bool, Vec<Vec<u8>>) {
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

/// The environment a wrapper's program gets (`env -i`, `env PATH=...`,
/// `env -C DIR`).
pub(super) fn apply_env(ctx: &Ctx, next: &exec::Next) -> Ctx {
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
