//! A shell's argv followed: its options (an `-o` name it may not know, a
//! login shell's profile), the first command of a `-c` string, and an
//! entrypoint script read as data, its `exec "$@"` ending and the gosu
//! re-exec inside its `if`s.

use super::{shown, Chain, Ctx, Engine, Finder, Loaded, Missing};
use crate::inspect::binary::Ident;
use crate::inspect::exec::{
    self, basename, FirstCommand, Kind as ProgKind, ScriptEnd, ShellRun, Wrapper,
};
use crate::inspect::resolve::{self, absolutize, Resolution};
use crate::inspect::verdict::{Check, Reason, Verdict};
use crate::rootfs::{display, FsError, Kind, RootFs};

/// How much of an entrypoint script's end is read to find its last statement.
const SCRIPT_TAIL: u64 = 64 * 1024;

impl<R: RootFs> Engine<'_, R> {
    /// A shell's argv: its options, then a `-c` string, a script file it
    /// reads, or stdin.
    pub(super) async fn follow_shell(
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
}
