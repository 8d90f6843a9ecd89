//! What the programs archgate knows do with their argv: wrappers that exec
//! another program (tini, dumb-init, catatonit, su-exec, gosu, env), shells
//! (`sh -c STRING`, `sh FILE`), interpreters that read their arguments as
//! data, and the official-image entrypoint script that ends in `exec "$@"`.
//!
//! The one idea: follow each grammar exactly as far as it decides which
//! program runs next, and give up (judge nothing, say why) as soon as the
//! answer would need an expansion, a quote or a keyword. Pure functions on
//! bytes; the engine does the lookups.

/// What a program is, as far as its argv is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Wrapper(Wrapper),
    /// A POSIX shell; `bash` for bash's extra options and builtins.
    Shell {
        bash: bool,
    },
    /// An interpreter that reads its arguments (script, jar, module) as
    /// data; `reads_pe` for those that load Windows PE files themselves.
    Interpreter {
        reads_pe: bool,
    },
    /// A qemu-user emulator (`qemu-aarch64-static`): it loads and runs the
    /// program named after its options itself, for the machine in its name
    /// (the GOARCH when archgate knows it).
    Emulator {
        goarch: Option<&'static str>,
    },
    Unknown,
}

/// Programs that exec another program named in their arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    Tini,
    DumbInit,
    Catatonit,
    SuExec,
    Gosu,
    Env,
}

impl Wrapper {
    pub fn name(self) -> &'static str {
        match self {
            Wrapper::Tini => "tini",
            Wrapper::DumbInit => "dumb-init",
            Wrapper::Catatonit => "catatonit",
            Wrapper::SuExec => "su-exec",
            Wrapper::Gosu => "gosu",
            Wrapper::Env => "env",
        }
    }
}

/// The last path component.
pub fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/')
        .find(|c| !c.is_empty())
        .unwrap_or(b"")
}

/// `name` followed by nothing or by a version made of digits and dots
/// (`python3.11`, `perl5.36`).
fn versioned(base: &[u8], name: &[u8]) -> bool {
    base.strip_prefix(name)
        .is_some_and(|v| v.iter().all(|b| b.is_ascii_digit() || *b == b'.'))
}

/// Classify a program by its file name (argv[0] as written, or the file it
/// resolved to). Release downloads keep their suffixes (`tini-static-amd64`,
/// `dumb-init_1.2.5_x86_64`, `gosu-arm64`).
pub fn classify(name: &[u8]) -> Kind {
    let base = basename(name);
    let starts = |p: &[u8]| base.starts_with(p);
    match base {
        // docker-init is the tini that `docker run --init` injects.
        b"tini" | b"docker-init" => Kind::Wrapper(Wrapper::Tini),
        _ if starts(b"tini-") => Kind::Wrapper(Wrapper::Tini),
        b"dumb-init" => Kind::Wrapper(Wrapper::DumbInit),
        _ if starts(b"dumb-init_") || starts(b"dumb-init-") => Kind::Wrapper(Wrapper::DumbInit),
        b"catatonit" => Kind::Wrapper(Wrapper::Catatonit),
        b"su-exec" => Kind::Wrapper(Wrapper::SuExec),
        b"gosu" => Kind::Wrapper(Wrapper::Gosu),
        _ if starts(b"gosu-") => Kind::Wrapper(Wrapper::Gosu),
        b"env" => Kind::Wrapper(Wrapper::Env),
        b"sh" | b"dash" | b"ash" => Kind::Shell { bash: false },
        b"bash" => Kind::Shell { bash: true },
        _ if qemu_goarch(base).is_some() => Kind::Emulator {
            goarch: qemu_goarch(base),
        },
        b"dotnet" | b"mono" | b"wine" | b"wine64" => Kind::Interpreter { reads_pe: true },
        b"node" | b"nodejs" | b"deno" | b"bun" | b"java" | b"luajit" | b"Rscript" => {
            Kind::Interpreter { reads_pe: false }
        }
        _ if [
            &b"python"[..],
            b"pypy",
            b"ruby",
            b"perl",
            b"php",
            b"lua",
            b"tclsh",
        ]
        .iter()
        .any(|n| versioned(base, n)) =>
        {
            Kind::Interpreter { reads_pe: false }
        }
        _ => Kind::Unknown,
    }
}

/// The GOARCH a qemu-user binary (`qemu-ARCH`, `qemu-ARCH-static`) runs.
fn qemu_goarch(base: &[u8]) -> Option<&'static str> {
    let arch = base.strip_prefix(b"qemu-")?;
    let arch = arch.strip_suffix(b"-static").unwrap_or(arch);
    Some(match arch {
        b"aarch64" => "arm64",
        b"arm" => "arm",
        b"x86_64" => "amd64",
        b"i386" => "386",
        b"riscv64" => "riscv64",
        b"ppc64le" => "ppc64le",
        b"ppc64" => "ppc64",
        b"s390x" => "s390x",
        b"mips" => "mips",
        b"mipsel" => "mipsle",
        b"mips64" => "mips64",
        b"mips64el" => "mips64le",
        b"loongarch64" => "loong64",
        _ => return None,
    })
}

/// Where the program is in a qemu-user command line (qemu
/// linux-user/main.c `parse_args`): options are `-NAME` or `--NAME`, those
/// of `arg_table` that take a value take the next word, `--` ends them, and
/// the first word that does not start with `-` is the program (`optind`).
/// An option archgate does not know (releases and builds add them) is an
/// error: what qemu runs is then not judged.
pub fn qemu_program(args: &[Vec<u8>]) -> Result<usize, String> {
    const VALUE: &[&[u8]] = &[
        b"g",
        b"L",
        b"s",
        b"cpu",
        b"E",
        b"U",
        b"0",
        b"R",
        b"r",
        b"B",
        b"d",
        b"dfilter",
        b"D",
        b"p",
        b"seed",
        b"trace",
        b"plugin",
        b"tb-size",
        b"native-bypass",
    ];
    const FLAG: &[&[u8]] = &[
        b"strace",
        b"one-insn-per-tb",
        b"singlestep",
        b"perfmap",
        b"jitdump",
        b"qemu-children",
        b"xtensa-abi-call0",
    ];
    const EXIT: &[&[u8]] = &[b"h", b"help", b"version"];
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a.first() != Some(&b'-') {
            return Ok(i);
        }
        i += 1;
        let mut r = &a[1..];
        if r == b"-" {
            break;
        }
        if r.first() == Some(&b'-') {
            r = &r[1..];
        }
        if EXIT.contains(&r) {
            return Err(format!("qemu -{} prints and exits", shown(r)));
        } else if VALUE.contains(&r) {
            i += 1;
        } else if !FLAG.contains(&r) {
            return Err(format!(
                "qemu option {} is not one archgate knows",
                shown(a)
            ));
        }
    }
    if i < args.len() {
        Ok(i)
    } else {
        Err("qemu is given no program to run".into())
    }
}

/// The program a wrapper execs, and how it changed the environment first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    /// argv of the next program; argv[0] is the name the wrapper looks up.
    pub argv: Vec<Vec<u8>>,
    /// `None`: PATH unchanged; `Some(None)`: unset; `Some(Some(v))`: set.
    pub path: Option<Option<Vec<u8>>>,
    /// `env -C DIR`: the directory relative names are found from.
    pub chdir: Option<Vec<u8>>,
    /// `None`: POSIXLY_CORRECT unchanged; `Some(set)`: set or unset (`env
    /// -i`, `-u POSIXLY_CORRECT`, `POSIXLY_CORRECT=...`).
    pub posix: Option<bool>,
}

/// Which C library a program is linked with (from its PT_INTERP): its
/// `getopt` and `execvp` differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Libc {
    Glibc,
    Musl,
    /// Statically linked: archgate cannot tell.
    Unknown,
}

/// What, besides its arguments, decides how a wrapper parses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrapperCtx {
    pub libc: Libc,
    /// POSIXLY_CORRECT is set in its environment (glibc's getopt then stops
    /// at the first non-option).
    pub posixly_correct: bool,
    /// The wrapper is busybox's applet of that name.
    pub busybox: bool,
}

impl Default for WrapperCtx {
    fn default() -> Self {
        WrapperCtx {
            libc: Libc::Glibc,
            posixly_correct: false,
            busybox: false,
        }
    }
}

/// What a wrapper does with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrapperRun {
    Exec(Next),
    /// It runs no program (help, version, pause mode, nothing given).
    Nothing(String),
    /// Options archgate does not know: not followed.
    Unknown(String),
    /// The wrapper refuses its arguments (an option it does not take): it
    /// prints its usage and exits before running anything.
    Refused(String),
}

fn exec_from(args: &[Vec<u8>], i: usize, who: &str) -> WrapperRun {
    match args.get(i..) {
        Some(rest) if !rest.is_empty() => exec_argv(rest.to_vec(), who),
        _ => WrapperRun::Nothing(format!("{who} is given no program to run")),
    }
}

fn exec_argv(argv: Vec<Vec<u8>>, who: &str) -> WrapperRun {
    if argv.is_empty() {
        return WrapperRun::Nothing(format!("{who} is given no program to run"));
    }
    WrapperRun::Exec(Next {
        argv,
        path: None,
        chdir: None,
        posix: None,
    })
}

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HasArg {
    No,
    Required,
}

/// One option `getopt` returned, in the order it returned them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Opt {
    Short(u8, Option<Vec<u8>>),
    Long(&'static str, Option<Vec<u8>>),
    /// `?`: an unknown option, or one missing its value (getopt prints
    /// "invalid option" or "option requires an argument").
    Bad(String),
}

/// `getopt`/`getopt_long` over `args` (argv without argv[0]), as glibc
/// (posix/getopt.c `_getopt_internal_r`) and musl (src/misc/getopt.c,
/// getopt_long.c) run them: every element that starts with `-` and is more
/// than `-` is an option cluster (a `--NAME[=VALUE]` long option when
/// `longs` is given: exact, else a unique prefix), `--` ends the options,
/// a value is the rest of the cluster or the next element whatever it
/// looks like. `permute`: non-options are set aside and scanning goes on
/// (glibc's default, and musl's getopt_long), else scanning stops at the
/// first one (POSIX, musl's getopt, glibc with POSIXLY_CORRECT or a `+`).
/// Returns the options in order and the operands: the program and its
/// arguments, the non-options in order, then everything after `--`.
fn getopt(
    args: &[Vec<u8>],
    shorts: &[(u8, HasArg)],
    longs: &[(&'static str, HasArg)],
    permute: bool,
) -> (Vec<Opt>, Vec<Vec<u8>>) {
    let mut opts = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == b"--" {
            operands.extend(args[i..].iter().cloned());
            return (opts, operands);
        }
        if a.len() < 2 || a[0] != b'-' {
            if permute {
                operands.push(a.clone());
                continue;
            }
            operands.extend(args[i - 1..].iter().cloned());
            return (opts, operands);
        }
        if a.starts_with(b"--") && !longs.is_empty() {
            let body = &a[2..];
            let (name, value) = match body.iter().position(|&b| b == b'=') {
                Some(k) => (&body[..k], Some(&body[k + 1..])),
                None => (body, None),
            };
            let hits: Vec<usize> = match longs.iter().position(|(n, _)| n.as_bytes() == name) {
                Some(k) => vec![k],
                None => (0..longs.len())
                    .filter(|&k| longs[k].0.as_bytes().starts_with(name))
                    .collect(),
            };
            let [k] = hits[..] else {
                opts.push(Opt::Bad(format!(
                    "{} option '{}'",
                    if hits.is_empty() {
                        "unrecognized"
                    } else {
                        "ambiguous"
                    },
                    shown(a)
                )));
                continue;
            };
            let (long, has) = longs[k];
            match (has, value) {
                (HasArg::No, Some(_)) => opts.push(Opt::Bad(format!(
                    "option '--{long}' doesn't allow an argument"
                ))),
                (HasArg::Required, None) if i >= args.len() => {
                    opts.push(Opt::Bad(format!("option '--{long}' requires an argument")))
                }
                (HasArg::Required, None) => {
                    opts.push(Opt::Long(long, Some(args[i].clone())));
                    i += 1;
                }
                (_, v) => opts.push(Opt::Long(long, v.map(<[u8]>::to_vec))),
            }
            continue;
        }
        let mut j = 1;
        while j < a.len() {
            let c = a[j];
            j += 1;
            match shorts.iter().find(|(o, _)| *o == c) {
                None => opts.push(Opt::Bad(format!("invalid option -- '{}'", shown(&[c])))),
                Some((_, HasArg::No)) => opts.push(Opt::Short(c, None)),
                Some((_, HasArg::Required)) => {
                    let value = if j < a.len() {
                        a[j..].to_vec()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        opts.push(Opt::Bad(format!(
                            "option requires an argument -- '{}'",
                            c as char
                        )));
                        break;
                    };
                    opts.push(Opt::Short(c, Some(value)));
                    break;
                }
            }
        }
    }
    (opts, operands)
}

fn shown(b: &[u8]) -> String {
    crate::inspect::engine::shown(b)
}

/// A long option `--NAME[=VALUE]` matched as getopt_long does: exactly, or
/// by a unique prefix. Returns the index in `names` and the attached value.
fn long_option<'a>(arg: &'a [u8], names: &[&str]) -> Option<(usize, Option<&'a [u8]>)> {
    let body = arg.strip_prefix(b"--")?;
    let (name, value) = match body.iter().position(|&b| b == b'=') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(i) = names.iter().position(|n| n.as_bytes() == name) {
        return Some((i, value));
    }
    let hits: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].as_bytes().starts_with(name))
        .collect();
    (hits.len() == 1 && !name.is_empty()).then(|| (hits[0], value))
}

/// Parse a wrapper's argv (without argv[0]) as that wrapper does.
pub fn parse_wrapper(w: Wrapper, args: &[Vec<u8>], ctx: WrapperCtx) -> WrapperRun {
    match w {
        Wrapper::Tini => tini(args, ctx),
        Wrapper::DumbInit => dumb_init(args),
        Wrapper::Catatonit => catatonit(args, ctx),
        Wrapper::SuExec => {
            // ncopa/su-exec su-exec.c: `su-exec USER[:GROUP] COMMAND ARGS`,
            // no options; fewer than two arguments prints usage.
            if args.len() < 2 {
                return WrapperRun::Nothing("su-exec needs a user and a program".into());
            }
            exec_from(args, 1, "su-exec")
        }
        Wrapper::Gosu => {
            // tianon/gosu main.go: a first argument of --help, -h, -?,
            // --version or -v prints and exits; else `gosu USER COMMAND ARGS`.
            if let Some(a) = args.first() {
                if [&b"--help"[..], b"-h", b"-?", b"--version", b"-v"].contains(&a.as_slice()) {
                    return WrapperRun::Nothing(format!("gosu {} prints and exits", shown(a)));
                }
            }
            if args.len() < 2 {
                return WrapperRun::Nothing("gosu needs a user and a program".into());
            }
            exec_from(args, 1, "gosu")
        }
        Wrapper::Env if ctx.busybox => busybox_env(args),
        Wrapper::Env => env(args),
    }
}

/// Run a getopt-parsing wrapper's options both ways when its libc is not
/// known and the ways disagree: then it is not judged.
fn either_way(who: &str, permute: Option<bool>, parse: impl Fn(bool) -> WrapperRun) -> WrapperRun {
    match permute {
        Some(p) => parse(p),
        None => {
            let (a, b) = (parse(true), parse(false));
            if a == b || matches!((&a, &b), (WrapperRun::Refused(_), WrapperRun::Refused(_))) {
                b
            } else {
                WrapperRun::Unknown(format!(
                    "{who} is statically linked: whether its getopt takes the options after the program for its own (glibc) or leaves them to the program (musl) cannot be told"
                ))
            }
        }
    }
}

/// krallin/tini src/tini.c `parse_args`: `--version` alone prints, else
/// `getopt(argc, argv, "p:hvwgle:s")`: -h and -l print and exit, an option
/// tini does not take (or -p/-e without a value) prints the usage and exits
/// 1, and the program is `argv[optind]`. glibc's getopt permutes: options
/// *after* the program are tini's too (`tini node --max-old-space-size=1`
/// exits 1, "invalid option -- '-'", node never runs) unless `--` comes
/// first or POSIXLY_CORRECT is set; musl's getopt stops at the program.
/// Forks add -R, -a, -k: those are not judged.
fn tini(args: &[Vec<u8>], ctx: WrapperCtx) -> WrapperRun {
    if args.len() == 1 && args[0] == b"--version" {
        return WrapperRun::Nothing("tini --version prints its version".into());
    }
    const SHORTS: &[(u8, HasArg)] = &[
        (b'p', HasArg::Required),
        (b'h', HasArg::No),
        (b'v', HasArg::No),
        (b'w', HasArg::No),
        (b'g', HasArg::No),
        (b'l', HasArg::No),
        (b'e', HasArg::Required),
        (b's', HasArg::No),
    ];
    let permute = match ctx.libc {
        Libc::Glibc => Some(!ctx.posixly_correct),
        Libc::Musl => Some(false),
        Libc::Unknown => None,
    };
    either_way("tini", permute, |permute| {
        let (opts, operands) = getopt(args, SHORTS, &[], permute);
        for o in opts {
            match o {
                Opt::Short(c @ (b'h' | b'l'), _) => {
                    return WrapperRun::Nothing(format!("tini -{} prints and exits", c as char))
                }
                Opt::Bad(why) if ["-R", "-a", "-k", "'R'", "'a'", "'k'"]
                    .iter()
                    .any(|f| why.contains(f)) =>
                {
                    return WrapperRun::Unknown(format!(
                        "tini: {why} (an option of some tini forks)"
                    ))
                }
                Opt::Bad(why) => {
                    return WrapperRun::Refused(format!(
                        "tini's getopt{}: {why}: tini prints its usage and exits 1 before running anything",
                        if permute { " (glibc's, which reads options after the program too)" } else { "" }
                    ))
                }
                _ => {}
            }
        }
        exec_argv(operands, "tini")
    })
}

/// Yelp/dumb-init dumb-init.c `parse_command`: getopt_long "+hvVcr:"
/// (stops at the first non-option) with --help, --single-child, --verbose,
/// --version, --rewrite s:r.
fn dumb_init(args: &[Vec<u8>]) -> WrapperRun {
    const LONG: [&str; 5] = ["help", "single-child", "verbose", "version", "rewrite"];
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == b"--" {
            return exec_from(args, i + 1, "dumb-init");
        }
        if a.starts_with(b"--") {
            match long_option(a, &LONG) {
                Some((0 | 3, _)) => {
                    return WrapperRun::Nothing(format!("dumb-init {} prints and exits", shown(a)))
                }
                Some((4, None)) => i += 1,
                Some(_) => {}
                None => {
                    return WrapperRun::Unknown(format!(
                        "dumb-init does not take the option {}",
                        shown(a)
                    ))
                }
            }
            i += 1;
            continue;
        }
        if a.len() > 1 && a[0] == b'-' {
            for (j, &c) in a.iter().enumerate().skip(1) {
                match c {
                    b'h' | b'V' => {
                        return WrapperRun::Nothing(format!(
                            "dumb-init -{} prints and exits",
                            c as char
                        ))
                    }
                    b'v' | b'c' => {}
                    b'r' => {
                        if j + 1 == a.len() {
                            i += 1;
                        }
                        break;
                    }
                    _ => {
                        return WrapperRun::Unknown(format!(
                            "dumb-init does not take the option {}",
                            shown(a)
                        ))
                    }
                }
            }
            i += 1;
            continue;
        }
        return exec_from(args, i, "dumb-init");
    }
    WrapperRun::Nothing("dumb-init is given no program to run".into())
}

/// openSUSE/catatonit catatonit.c `main`: `getopt_long(argc, argv,
/// "ghLPV", {"version"})`; -h, -L, -V print and exit, -P is pause mode (no
/// program), anything else prints the usage and exits 1. getopt_long
/// permutes in glibc (unless POSIXLY_CORRECT) and in musl
/// (src/misc/getopt_long.c), so options after the program are catatonit's.
fn catatonit(args: &[Vec<u8>], ctx: WrapperCtx) -> WrapperRun {
    const SHORTS: &[(u8, HasArg)] = &[
        (b'g', HasArg::No),
        (b'h', HasArg::No),
        (b'L', HasArg::No),
        (b'P', HasArg::No),
        (b'V', HasArg::No),
    ];
    const LONGS: &[(&str, HasArg)] = &[("version", HasArg::No)];
    let permute = match ctx.libc {
        Libc::Glibc => Some(!ctx.posixly_correct),
        Libc::Musl => Some(true),
        Libc::Unknown if ctx.posixly_correct => None,
        Libc::Unknown => Some(true),
    };
    either_way("catatonit", permute, |permute| {
        let (opts, operands) = getopt(args, SHORTS, LONGS, permute);
        let mut pause = false;
        for o in opts {
            match o {
                Opt::Short(c @ (b'h' | b'L' | b'V'), _) => {
                    return WrapperRun::Nothing(format!("catatonit -{} prints and exits", c as char))
                }
                Opt::Long(..) => {
                    return WrapperRun::Nothing("catatonit --version prints and exits".into())
                }
                Opt::Short(b'P', _) => pause = true,
                Opt::Bad(why) => {
                    return WrapperRun::Refused(format!(
                        "catatonit's getopt_long: {why}: catatonit prints its usage and exits 1 before running anything"
                    ))
                }
                _ => {}
            }
        }
        if pause {
            return WrapperRun::Nothing("catatonit -P only pauses: it runs no program".into());
        }
        exec_argv(operands, "catatonit")
    })
}

/// Bytes that make a word more than a literal to a shell or to `env -S`.
const SPECIAL: &[u8] = b"$`\\'\"*?[]{}!";

/// GNU coreutils src/env.c `main`: getopt_long "+C:iS:u:v0" (stops at the
/// first non-option); a lone `-` after the options is -i; then NAME=VALUE
/// words; the first word without `=` is the program, run with `execvp` in
/// the modified environment. `-S STRING` splits STRING into words that
/// replace it and parsing starts over.
fn env(args: &[Vec<u8>]) -> WrapperRun {
    const LONG: [&str; 12] = [
        "ignore-environment",
        "null",
        "unset",
        "chdir",
        "split-string",
        "debug",
        "default-signal",
        "ignore-signal",
        "block-signal",
        "list-signal-handling",
        "help",
        "version",
    ];
    let mut args: Vec<Vec<u8>> = args.to_vec();
    let mut clear = false;
    let mut null = false;
    let mut unsets: Vec<Vec<u8>> = Vec::new();
    let mut chdir = None;
    let mut i = 0;
    let mut splits = 0;
    'options: while i < args.len() {
        let a = args[i].clone();
        if a == b"--" {
            i += 1;
            break;
        }
        // An option that takes a value: its value, attached or the next word.
        let value = |attached: &[u8], i: &mut usize| -> Option<Vec<u8>> {
            if !attached.is_empty() {
                return Some(attached.to_vec());
            }
            *i += 1;
            args.get(*i).cloned()
        };
        let mut split: Option<Vec<u8>> = None;
        if a.starts_with(b"--") {
            let Some((k, attached)) = long_option(&a, &LONG) else {
                return WrapperRun::Unknown(format!("env does not take the option {}", shown(&a)));
            };
            let attached = attached.unwrap_or(b"");
            match LONG[k] {
                "ignore-environment" => clear = true,
                "null" => null = true,
                "unset" => {
                    let Some(v) = value(attached, &mut i) else {
                        return WrapperRun::Unknown("env --unset without a name".into());
                    };
                    unsets.push(v);
                }
                "chdir" => chdir = value(attached, &mut i),
                "split-string" => split = value(attached, &mut i),
                "list-signal-handling" | "help" | "version" => {
                    return WrapperRun::Nothing(format!("env {} prints and exits", shown(&a)))
                }
                _ => {}
            }
        } else if a.len() > 1 && a[0] == b'-' {
            let mut j = 1;
            while j < a.len() {
                let c = a[j];
                let rest = &a[j + 1..];
                match c {
                    b'i' => clear = true,
                    b'0' => null = true,
                    b'v' => {}
                    b'u' => {
                        let Some(v) = value(rest, &mut i) else {
                            return WrapperRun::Unknown("env -u without a name".into());
                        };
                        unsets.push(v);
                        break;
                    }
                    b'C' => {
                        chdir = value(rest, &mut i);
                        break;
                    }
                    b'S' => {
                        split = value(rest, &mut i);
                        if split.is_none() {
                            return WrapperRun::Unknown("env -S without a string".into());
                        }
                        break;
                    }
                    _ => {
                        return WrapperRun::Unknown(format!(
                            "env does not take the option {}",
                            shown(&a)
                        ))
                    }
                }
                j += 1;
            }
        } else {
            break;
        }
        i += 1;
        if let Some(s) = split {
            if s.iter().any(|b| SPECIAL.contains(b) || *b == b'#') {
                return WrapperRun::Unknown(format!(
                    "env -S {} needs quoting or expansion rules archgate does not follow",
                    shown(&s)
                ));
            }
            splits += 1;
            if splits > 8 {
                return WrapperRun::Unknown("env -S nested too deep".into());
            }
            let mut words: Vec<Vec<u8>> = s
                .split(|b| b" \t\n\x0b\x0c\r".contains(b))
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            words.extend(args.drain(i..));
            args = words;
            i = 0;
            continue 'options;
        }
    }
    let rest = args.get(i..).unwrap_or_default();
    if null {
        return match env_run(rest, clear, &unsets, chdir) {
            WrapperRun::Exec(_) => {
                WrapperRun::Nothing("env refuses -0 (--null) with a program".into())
            }
            other => other,
        };
    }
    env_run(rest, clear, &unsets, chdir)
}

/// What env does after its options (GNU coreutils src/env.c, busybox
/// coreutils/env.c): a lone `-` is `-i`, then every word with a `=` is an
/// assignment (even `=x`), and the first word without one is the program,
/// run with `execvp` in the environment so changed.
fn env_run(
    args: &[Vec<u8>],
    mut clear: bool,
    unsets: &[Vec<u8>],
    chdir: Option<Vec<u8>>,
) -> WrapperRun {
    let mut i = 0;
    if args.first().is_some_and(|a| a == b"-") {
        clear = true;
        i += 1;
    }
    let unset = |name: &[u8]| unsets.iter().any(|u| u == name);
    let mut path: Option<Option<Vec<u8>>> = (clear || unset(b"PATH")).then_some(None);
    let mut posix: Option<bool> = (clear || unset(b"POSIXLY_CORRECT")).then_some(false);
    while let Some(a) = args.get(i) {
        match a.iter().position(|&b| b == b'=') {
            None => break,
            Some(k) => {
                match &a[..k] {
                    b"PATH" => path = Some(Some(a[k + 1..].to_vec())),
                    b"POSIXLY_CORRECT" => posix = Some(true),
                    _ => {}
                }
                i += 1;
            }
        }
    }
    if i >= args.len() {
        return WrapperRun::Nothing("env without a program prints the environment".into());
    }
    WrapperRun::Exec(Next {
        argv: args[i..].to_vec(),
        path,
        chdir,
        posix,
    })
}

/// busybox coreutils/env.c: `getopt32long(argv, "+i0u:*", ...)` with
/// --ignore-environment, --null, --unset: nothing else. `env -S ...` (a
/// `#!/usr/bin/env -S` line) or `-C` makes it print its usage and exit 1
/// (checked with busybox 1.35.0).
fn busybox_env(args: &[Vec<u8>]) -> WrapperRun {
    const SHORTS: &[(u8, HasArg)] = &[
        (b'i', HasArg::No),
        (b'0', HasArg::No),
        (b'u', HasArg::Required),
    ];
    const LONGS: &[(&str, HasArg)] = &[
        ("ignore-environment", HasArg::No),
        ("null", HasArg::No),
        ("unset", HasArg::Required),
    ];
    let (opts, operands) = getopt(args, SHORTS, LONGS, false);
    let mut clear = false;
    let mut unsets = Vec::new();
    for o in opts {
        match o {
            Opt::Short(b'i', _) | Opt::Long("ignore-environment", _) => clear = true,
            Opt::Short(b'u', Some(v)) | Opt::Long("unset", Some(v)) => unsets.push(v),
            Opt::Bad(why) => {
                return WrapperRun::Refused(format!(
                    "busybox env: {why}: it prints its usage and exits 1 before running anything (busybox env takes only -i, -0, -u)"
                ))
            }
            _ => {}
        }
    }
    env_run(&operands, clear, &unsets, None)
}

/// Which shell runs, as far as its grammar and builtins differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// GNU bash (also when installed as /bin/sh).
    Bash,
    /// dash, Debian's and Ubuntu's /bin/sh.
    Dash,
    /// busybox's ash.
    Busybox,
    /// Another shell, or one archgate cannot tell (a copy named `sh`).
    Other,
}

impl Shell {
    /// Tell the shell by the file that runs (`/bin/sh` is a link to dash,
    /// bash or busybox), else by the name it was run as.
    pub fn of(resolved: &[u8], argv0: &[u8]) -> Shell {
        match basename(resolved) {
            b"bash" => Shell::Bash,
            b"dash" => Shell::Dash,
            b"busybox" => Shell::Busybox,
            _ if basename(argv0) == b"bash" => Shell::Bash,
            _ => Shell::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Dash => "dash",
            Shell::Busybox => "busybox sh",
            Shell::Other => "the shell",
        }
    }
}

/// Options of a shell invocation that decide more than the command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellOpts {
    /// A login shell (`-l`, bash's `--login`): it reads /etc/profile and
    /// the user's profile first.
    pub login: bool,
    /// The names given to `-o`/`+o` (and bash's `-O`/`+O`), which the shell
    /// must know or it refuses to start.
    pub named: Vec<(u8, Vec<u8>)>,
}

/// What a shell does with its argv (without argv[0]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellRun {
    /// `-c STRING`: the command string, then `$0` and the positional
    /// parameters.
    String {
        string: Vec<u8>,
        rest: Vec<Vec<u8>>,
        opts: ShellOpts,
    },
    /// A script file the shell opens and reads (data: never exec'd, its
    /// `#!` line is a comment), and the script's arguments.
    Script {
        path: Vec<u8>,
        args: Vec<Vec<u8>>,
        opts: ShellOpts,
    },
    /// Commands come from stdin (`-s`, or no operand).
    Stdin,
    /// It runs nothing (`--help`, `--version`).
    Nothing(String),
    /// The shell refuses its arguments: it prints an error and exits (2)
    /// before running anything.
    Refused(String),
    Unknown(String),
}

/// bash's long options (shell.c `long_args`, bash 5.2; `--protected` and
/// `--wordexp` are gone): with a value, and those that run nothing.
const BASH_LONG_VALUE: &[&[u8]] = &[b"--rcfile", b"--init-file"];
const BASH_LONG_EXIT: &[&[u8]] = &[
    b"--help",
    b"--version",
    b"--dump-strings",
    b"--dump-po-strings",
];
const BASH_LONG: &[&[u8]] = &[
    b"--debug",
    b"--debugger",
    b"--login",
    b"--noediting",
    b"--noprofile",
    b"--norc",
    b"--posix",
    b"--pretty-print",
    b"--restricted",
    b"--verbose",
];

/// Parse a shell's options as dash (src/options.c `procargs`, `options`),
/// busybox ash (shell/ash.c `options`) and bash (shell.c
/// `parse_long_options`, `parse_shell_options`) do: bash's long options
/// first, then option clusters with `-` or `+` anywhere before the first
/// operand (`-ec`, `-c -e`, `-o pipefail`, each `o`/`O` in a cluster taking
/// the next word), `--` or `-` ending them. With `-c` the first operand is
/// the command string; without it, a script file.
///
/// What every shell refuses (it prints "Illegal option" and exits before
/// running anything) is `Refused`: a character that is no option letter in
/// a cluster (a blank, as in `#!/bin/sh -e -x`, which the kernel hands over
/// as the one word "-e -x"; a digit; `-` for dash and bash), bash's unknown
/// long options, `-c` without a string. Unknown letters are not judged
/// (shells add options between releases); `-o` names are returned for the
/// engine to check against the shell binary.
pub fn parse_shell(shell: Shell, args: &[Vec<u8>]) -> ShellRun {
    let mut i = 0;
    let mut opts = ShellOpts::default();
    let refuse = |what: &[u8]| {
        ShellRun::Refused(format!(
            "{} refuses the option {} (\"illegal option\") and exits with an error before running anything",
            shell.name(),
            shown(what)
        ))
    };
    if shell == Shell::Bash {
        while let Some(a) = args.get(i) {
            if !a.starts_with(b"--") || a.len() == 2 {
                break;
            }
            let a = a.as_slice();
            if BASH_LONG_VALUE.contains(&a) {
                i += 2;
            } else if BASH_LONG_EXIT.contains(&a) {
                return ShellRun::Nothing(format!("bash {} prints and exits", shown(a)));
            } else if BASH_LONG.contains(&a) {
                opts.login |= a == b"--login";
                i += 1;
            } else {
                return ShellRun::Refused(format!(
                    "bash does not take the option {} (\"invalid option\") and exits with an error before running anything",
                    shown(a)
                ));
            }
        }
    }
    let (mut c, mut s) = (false, false);
    while let Some(a) = args.get(i) {
        if a == b"--" || a == b"-" {
            i += 1;
            break;
        }
        if a.len() < 2 || (a[0] != b'-' && a[0] != b'+') {
            break;
        }
        if a.starts_with(b"--") {
            match shell {
                // ash skips a `--word` (ash.c `options`: `--login` and
                // anything else after `--`).
                Shell::Busybox => {
                    i += 1;
                    continue;
                }
                Shell::Other => {
                    return ShellRun::Unknown(format!("the shell's long option {}", shown(a)))
                }
                Shell::Dash | Shell::Bash => return refuse(a),
            }
        }
        let mut values = Vec::new();
        for &ch in &a[1..] {
            match ch {
                b'c' => c = true,
                b's' => s = true,
                b'l' => opts.login = true,
                b'o' => values.push(b'o'),
                b'O' if shell == Shell::Bash => values.push(b'O'),
                ch if ch.is_ascii_alphabetic() => {}
                // busybox ash passes over a `-` inside a cluster.
                b'-' if shell == Shell::Busybox => {}
                b'-' if shell == Shell::Other => {
                    return ShellRun::Unknown(format!("the shell's option {}", shown(a)))
                }
                _ => return refuse(a),
            }
        }
        i += 1;
        for v in values {
            if let Some(name) = args.get(i) {
                // No shell has an option named "" or "-x": `sh -o -c a` is
                // "Illegal option -o -c".
                if name.is_empty() || name[0] == b'-' {
                    return ShellRun::Refused(format!(
                        "{} has no option -{} {} and exits with an error before running anything",
                        shell.name(),
                        v as char,
                        shown(name)
                    ));
                }
                opts.named.push((v, name.clone()));
                i += 1;
            }
        }
    }
    let operands = args.get(i..).unwrap_or_default();
    if c {
        return match operands.split_first() {
            Some((string, rest)) => ShellRun::String {
                string: string.clone(),
                rest: rest.to_vec(),
                opts,
            },
            None => ShellRun::Refused(format!(
                "{} -c without a command string: \"-c requires an argument\", it exits with an error",
                shell.name()
            )),
        };
    }
    match operands.split_first() {
        Some((path, args)) if !s => ShellRun::Script {
            path: path.clone(),
            args: args.to_vec(),
            opts,
        },
        _ => ShellRun::Stdin,
    }
}

/// The `-o` option names a shell knows in all the releases archgate has
/// seen (dash 0.5.12 src/options.h `optnames`, busybox ash `optletters_optnames`,
/// bash 5.2 `o_options`): no need to look into the binary for them.
pub fn well_known_o_name(shell: Shell, name: &[u8]) -> bool {
    const POSIX: &[&[u8]] = &[
        b"allexport",
        b"errexit",
        b"ignoreeof",
        b"monitor",
        b"noclobber",
        b"noexec",
        b"noglob",
        b"nolog",
        b"notify",
        b"nounset",
        b"verbose",
        b"vi",
        b"emacs",
        b"xtrace",
    ];
    const BASH: &[&[u8]] = &[
        b"braceexpand",
        b"errtrace",
        b"functrace",
        b"hashall",
        b"histexpand",
        b"history",
        b"interactive-comments",
        b"keyword",
        b"onecmd",
        b"physical",
        b"pipefail",
        b"posix",
        b"privileged",
    ];
    POSIX.contains(&name) || (shell == Shell::Bash && BASH.contains(&name))
}

/// The first simple command of a `-c` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstCommand {
    /// The shell runs `argv[0]` first. `args_known` is false when words after
    /// the command name needed expansion (then `argv` holds the plain words
    /// before them). `path`: a `PATH=` assignment in front of it.
    Run {
        argv: Vec<Vec<u8>>,
        path: Option<Vec<u8>>,
        args_known: bool,
    },
    /// The string runs no program (empty, a comment, only assignments).
    Nothing(String),
    /// Not a plain command: not judged.
    GiveUp(String),
}

/// POSIX reserved words, and bash's.
const RESERVED: &[&str] = &[
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
    "until", "while", "[[", "]]", "function", "select", "time", "coproc",
];

/// POSIX special builtins, common regular builtins, and bash's.
const BUILTINS: &[&str] = &[
    "break",
    ":",
    "continue",
    ".",
    "eval",
    "exec",
    "exit",
    "export",
    "readonly",
    "return",
    "set",
    "shift",
    "times",
    "trap",
    "unset",
    "alias",
    "bg",
    "cd",
    "command",
    "echo",
    "false",
    "fc",
    "fg",
    "getopts",
    "hash",
    "jobs",
    "kill",
    "newgrp",
    "printf",
    "pwd",
    "read",
    "test",
    "[",
    "true",
    "type",
    "ulimit",
    "umask",
    "unalias",
    "wait",
    "local",
    "source",
    "declare",
    "let",
    "typeset",
    "shopt",
    "builtin",
    "enable",
    "mapfile",
    "readarray",
    "caller",
    "compgen",
    "complete",
    "compopt",
    "dirs",
    "disown",
    "help",
    "history",
    "logout",
    "popd",
    "pushd",
    "suspend",
];

/// Builtins of the ash family that bash does not have: dash
/// (src/builtins.def.in: `cd chdir`) and busybox ash (shell/ash.c
/// `builtintab`). In bash `chdir` is an external program (bash: "chdir:
/// command not found").
const ASH_BUILTINS: &[&str] = &["chdir"];

#[derive(Debug)]
struct Token {
    text: Vec<u8>,
    /// Needs expansion (globs, braces, tilde, `!`).
    special: bool,
}

/// Split the first simple command of `s` into words, dropping
/// redirections. Stops at a command separator or a comment, and at the first
/// quote, backslash, `$`, backtick or here-document (which could hide a
/// separator), then also saying what it stopped at.
fn first_words(s: &[u8]) -> (Vec<Token>, Option<String>) {
    let blank = |b: u8| b == b' ' || b == b'\t';
    let hard = |b: u8| b"$`\\'\"".contains(&b);
    let mut out: Vec<Token> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut special = false;
    let mut i = 0;
    let flush = |cur: &mut Vec<u8>, special: &mut bool, out: &mut Vec<Token>| {
        if !cur.is_empty() {
            out.push(Token {
                text: std::mem::take(cur),
                special: *special,
            });
        }
        *special = false;
    };
    while i < s.len() {
        let b = s[i];
        if blank(b) {
            flush(&mut cur, &mut special, &mut out);
            i += 1;
            continue;
        }
        if b"()".contains(&b) {
            // `name() { ...; }` defines a function; otherwise a syntax error.
            return (out, Some("a function definition or subshell".into()));
        }
        if b";&|\n".contains(&b) {
            break;
        }
        if hard(b) {
            return (out, Some(format!("{:?}", b as char)));
        }
        if b == b'#' && cur.is_empty() {
            // A comment runs to the end of the line.
            break;
        }
        if b == b'<' || b == b'>' {
            // An all-digit word before it is the redirection's fd.
            if !cur.iter().all(u8::is_ascii_digit) {
                flush(&mut cur, &mut special, &mut out);
            }
            cur.clear();
            special = false;
            let next = s.get(i + 1).copied();
            if b == b'<' && next == Some(b'<') {
                return (out, Some("a here-document".into()));
            }
            i += 1;
            if matches!(
                (b, next),
                (b'>', Some(b'>' | b'&' | b'|')) | (b'<', Some(b'>' | b'&'))
            ) {
                i += 1;
            }
            while i < s.len() && blank(s[i]) {
                i += 1;
            }
            let start = i;
            while i < s.len() && !blank(s[i]) && !b";&|\n()<>".contains(&s[i]) {
                if hard(s[i]) {
                    return (out, Some(format!("{:?}", s[i] as char)));
                }
                i += 1;
            }
            if i == start {
                return (out, Some("a redirection without a target".into()));
            }
            continue;
        }
        if SPECIAL.contains(&b) || (cur.is_empty() && b == b'~') {
            special = true;
        }
        cur.push(b);
        i += 1;
    }
    flush(&mut cur, &mut special, &mut out);
    (out, None)
}

fn is_assignment(w: &[u8]) -> Option<(&[u8], &[u8])> {
    let k = w.iter().position(|&b| b == b'=')?;
    let name = &w[..k];
    let ok = !name.is_empty()
        && !name[0].is_ascii_digit()
        && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    ok.then(|| (name, &w[k + 1..]))
}

/// The program a `-c` string runs first, by the conservative procedure of
/// the README: skip assignments (a `PATH=` one is used for the lookup),
/// redirections, `exec` and `command`; give up on anything a shell would
/// have to expand, on keywords and builtins.
pub fn first_command(s: &[u8], shell: Shell) -> FirstCommand {
    let trimmed = {
        let start = s
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(s.len());
        &s[start..]
    };
    match trimmed.first() {
        None => return FirstCommand::Nothing("the command string is empty".into()),
        Some(b'#') => return FirstCommand::Nothing("the command string is a comment".into()),
        Some(&b) if b";&|\n(){}".contains(&b) => {
            return FirstCommand::GiveUp(format!("the command string starts with {:?}", b as char))
        }
        _ => {}
    }
    let (words, stopped) = first_words(trimmed);
    if let Some(why) = stopped.as_deref().filter(|w| w.starts_with("a function")) {
        return FirstCommand::GiveUp(format!("the command string has {why}"));
    }
    let give_up_at =
        |what: &str| FirstCommand::GiveUp(format!("the command string needs expansion ({what})"));
    let mut path = None;
    let mut k = 0;
    while let Some(w) = words.get(k) {
        if w.special {
            return give_up_at(&shown(&w.text));
        }
        match is_assignment(&w.text) {
            Some((name, value)) => {
                if name == b"PATH" {
                    path = Some(value.to_vec());
                }
                k += 1;
            }
            None => break,
        }
    }
    loop {
        let Some(w) = words.get(k) else {
            return match stopped {
                Some(at) => give_up_at(&at),
                None => FirstCommand::Nothing(
                    "the command string only sets variables or redirects".into(),
                ),
            };
        };
        if w.special {
            return give_up_at(&shown(&w.text));
        }
        match w.text.as_slice() {
            b"exec" | b"command" => {
                let exec = w.text == b"exec";
                let what = shown(&w.text);
                match words.get(k + 1) {
                    None if stopped.is_none() => {
                        return FirstCommand::Nothing(format!("`{what}` is given no program"))
                    }
                    Some(n) if n.text.starts_with(b"-") => {
                        return FirstCommand::GiveUp(format!(
                            "`{what} {}` has options",
                            shown(&n.text)
                        ))
                    }
                    _ => k += 1,
                }
                if exec {
                    // `exec` replaces the shell with the next word as an
                    // external program, even one named like a builtin
                    // (`exec true` runs /bin/true, `exec command x` looks
                    // for a program named "command").
                    match words.get(k) {
                        Some(n) if !n.special => break,
                        Some(n) => return give_up_at(&shown(&n.text)),
                        None => return give_up_at(stopped.as_deref().unwrap_or("?")),
                    }
                }
            }
            t => {
                let word = String::from_utf8_lossy(t);
                if RESERVED.contains(&&*word)
                    || BUILTINS.contains(&&*word)
                    || (shell != Shell::Bash && ASH_BUILTINS.contains(&&*word))
                {
                    return FirstCommand::GiveUp(format!(
                        "`{}` is a shell keyword or builtin",
                        shown(t)
                    ));
                }
                break;
            }
        }
    }
    let mut argv = Vec::new();
    let mut args_known = stopped.is_none();
    for w in &words[k..] {
        if w.special {
            args_known = false;
            break;
        }
        argv.push(w.text.clone());
    }
    FirstCommand::Run {
        argv,
        path,
        args_known,
    }
}

/// How an entrypoint script ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptEnd {
    /// Its last statement is `exec "$@"`: it runs its arguments.
    ExecArgs,
    /// `exec gosu USER "$@"` or `exec su-exec USER "$@"`: that wrapper runs
    /// them as USER.
    ExecVia {
        wrapper: Vec<u8>,
    },
    Other,
}

/// The official-image pattern (docker-library's `docker-entrypoint.sh`):
/// look at the last statement of the script's tail (blank and comment
/// lines skipped), and only accept it as written there.
pub fn script_end(tail: &[u8]) -> ScriptEnd {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let Some(line) = tail.split(|&b| b == b'\n').rev().find(|l| {
        let first = l.iter().position(|b| !blank(b));
        first.is_some_and(|i| l[i] != b'#')
    }) else {
        return ScriptEnd::Other;
    };
    let words: Vec<&[u8]> = line.split(blank).filter(|w| !w.is_empty()).collect();
    let all_args = |w: &[u8]| w == b"\"$@\"" || w == b"\"${@}\"";
    match words.as_slice() {
        [b"exec", a] if all_args(a) => ScriptEnd::ExecArgs,
        [b"exec", w, _user, a] if all_args(a) && matches!(basename(w), b"gosu" | b"su-exec") => {
            ScriptEnd::ExecVia {
                wrapper: w.to_vec(),
            }
        }
        _ => ScriptEnd::Other,
    }
}

/// An `exec` in the middle of an entrypoint script, before its last
/// statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MidExec {
    /// The line, trimmed.
    pub line: Vec<u8>,
    /// `exec gosu|su-exec USER "$0"|"$BASH_SOURCE" "$@"`: the official
    /// images' privilege drop, which re-runs the script as USER. The
    /// wrapper as written.
    pub reexec: Option<Vec<u8>>,
    /// The conditions of the `if`s it is in, all of which must hold for it
    /// to run (`None`: it is somewhere archgate does not follow: an `else`,
    /// a loop, a `case`, a function).
    pub conds: Option<Vec<Vec<u8>>>,
    /// A `set --` comes before it, so `$1` may no longer be the script's
    /// first argument.
    pub args_changed: bool,
}

/// The `exec`s of a script other than its last statement, each with the
/// `if` conditions around it (docker-library entrypoints:
/// `if [ "$1" = 'redis-server' -a "$(id -u)" = '0' ]; then ... exec gosu
/// redis "$0" "$@"; fi`). A line-by-line reading: `if`/`elif`/`else`/`fi`,
/// loops, `case` and braces are tracked; anything unbalanced makes every
/// condition unknown.
pub fn mid_execs(script: &[u8]) -> Vec<MidExec> {
    #[derive(PartialEq)]
    enum Frame {
        Then(Vec<u8>),
        OtherBranch,
        Block,
    }
    let word =
        |l: &[u8], w: &[u8]| l.starts_with(w) && l.get(w.len()).is_none_or(|b| b" \t;".contains(b));
    let mut stack: Vec<Frame> = Vec::new();
    let mut broken = false;
    let mut args_changed = false;
    let mut out = Vec::new();
    let lines: Vec<&[u8]> = script
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .collect();
    for (n, l) in lines.iter().enumerate() {
        let l = *l;
        if word(l, b"if") {
            let rest = &l[2..];
            let cond = match memchr::memmem::find(rest, b"; then") {
                Some(i) => &rest[..i],
                None => rest,
            };
            if rest.split(|b| b" ;\t".contains(b)).any(|w| w == b"fi") {
                // A one-line if: nothing opens (an exec in it is found
                // below as an exec archgate does not follow).
                one_line_exec(l, &mut out, args_changed);
                continue;
            }
            stack.push(Frame::Then(cond.trim_ascii().to_vec()));
        } else if word(l, b"elif") || word(l, b"else") {
            match stack.last_mut() {
                Some(f @ (Frame::Then(_) | Frame::OtherBranch)) => *f = Frame::OtherBranch,
                _ => broken = true,
            }
        } else if word(l, b"fi") {
            match stack.pop() {
                Some(Frame::Then(_) | Frame::OtherBranch) => {}
                _ => broken = true,
            }
        } else if word(l, b"for") || word(l, b"while") || word(l, b"until") || word(l, b"case") {
            let closes = [&b"done"[..], b"esac"];
            if !l
                .split(|b| b" ;\t".contains(b))
                .any(|w| closes.contains(&w))
            {
                stack.push(Frame::Block);
            }
        } else if word(l, b"done") || word(l, b"esac") || l == b"}" || l.starts_with(b"} ") {
            match stack.pop() {
                Some(Frame::Block) => {}
                _ => broken = true,
            }
        } else if l.ends_with(b"{") {
            stack.push(Frame::Block);
        } else if word(l, b"set") && l[3..].trim_ascii_start().starts_with(b"--") {
            args_changed = true;
        } else if !word(l, b"exec") && n + 1 < lines.len() {
            one_line_exec(l, &mut out, args_changed);
        } else if word(l, b"exec") && n + 1 < lines.len() {
            let words: Vec<&[u8]> = l
                .split(|b| b" \t".contains(b))
                .filter(|w| !w.is_empty())
                .collect();
            let script_self = |w: &[u8]| {
                [
                    &b"\"$0\""[..],
                    b"\"$BASH_SOURCE\"",
                    b"\"${BASH_SOURCE}\"",
                    b"\"${BASH_SOURCE[0]}\"",
                ]
                .contains(&w)
            };
            let reexec = match words.as_slice() {
                [_, w, _user, me, all]
                    if matches!(basename(w), b"gosu" | b"su-exec")
                        && script_self(me)
                        && (*all == b"\"$@\"" || *all == b"\"${@}\"") =>
                {
                    Some(w.to_vec())
                }
                _ => None,
            };
            let conds = stack
                .iter()
                .map(|f| match f {
                    Frame::Then(c) => Some(c.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            out.push(MidExec {
                line: l.to_vec(),
                reexec,
                conds,
                args_changed,
            });
        }
    }
    if broken || !stack.is_empty() {
        for m in &mut out {
            m.conds = None;
        }
    }
    out
}

/// An `exec` that is not at the start of its line (`[ ... ] && exec x`,
/// a one-line `if`): recorded as one archgate does not follow.
fn one_line_exec(l: &[u8], out: &mut Vec<MidExec>, args_changed: bool) {
    if l.split(|b| b" ;\t&|".contains(b)).any(|w| w == b"exec") {
        out.push(MidExec {
            line: l.to_vec(),
            reexec: None,
            conds: None,
            args_changed,
        });
    }
}

/// Evaluate an `if` condition made of `[ ... ]` tests joined by `&&` and
/// `||` (and `-a`, `-o`, `!` inside the brackets), comparing quoted
/// strings, `$1` (`arg1`) and `$(id -u)` (`uid`) with `=`, `==`, `!=`,
/// `-eq`, `-ne`, as test(1) does. `None` for anything else, or a value not
/// known.
pub fn eval_condition(cond: &[u8], arg1: Option<&[u8]>, uid: Option<u32>) -> Option<bool> {
    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Op(Vec<u8>),
        Val(Option<Vec<u8>>),
    }
    // Words, with quotes taken off; a quoted word is always a value.
    let mut toks: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < cond.len() {
        let c = cond[i];
        if c == b' ' || c == b'\t' {
            i += 1;
            continue;
        }
        let start = i;
        let mut quoted = false;
        let mut text = Vec::new();
        while i < cond.len() && cond[i] != b' ' && cond[i] != b'\t' {
            match cond[i] {
                q @ (b'\'' | b'"') => {
                    quoted = true;
                    let end = cond[i + 1..].iter().position(|&b| b == q)? + i + 1;
                    let inner = &cond[i + 1..end];
                    if q == b'"' && inner.contains(&b'$') {
                        text.extend_from_slice(&cond[i..=end]);
                    } else {
                        text.extend_from_slice(inner);
                    }
                    i = end + 1;
                }
                b => {
                    text.push(b);
                    i += 1;
                }
            }
        }
        let raw = &cond[start..i];
        let value = |t: &[u8]| -> Option<Vec<u8>> {
            match t {
                b"\"$1\"" | b"\"${1}\"" | b"$1" | b"${1}" => arg1.map(<[u8]>::to_vec),
                b"\"$(id -u)\"" | b"$(id -u)" | b"\"`id -u`\"" | b"`id -u`" => {
                    uid.map(|u| u.to_string().into_bytes())
                }
                t if t.iter().any(|b| b"$`\\*?".contains(b)) => None,
                t => Some(t.to_vec()),
            }
        };
        if quoted {
            toks.push(Tok::Val(value(&text)));
        } else if [
            &b"["[..],
            b"]",
            b"&&",
            b"||",
            b"-a",
            b"-o",
            b"!",
            b"=",
            b"==",
            b"!=",
            b"-eq",
            b"-ne",
        ]
        .contains(&raw)
        {
            toks.push(Tok::Op(raw.to_vec()));
        } else {
            toks.push(Tok::Val(value(raw)));
        }
    }
    // [ p (-a|-o p)* ] ((&&|||) [ ... ])*
    let mut pos = 0;
    let op = |t: Option<&Tok>, o: &[u8]| matches!(t, Some(Tok::Op(x)) if x == o);
    let primary = |pos: &mut usize| -> Option<Option<bool>> {
        let mut negate = false;
        while op(toks.get(*pos), b"!") {
            negate = !negate;
            *pos += 1;
        }
        let Some(Tok::Val(a)) = toks.get(*pos) else {
            return None;
        };
        let (b, cmp) = match (toks.get(*pos + 1), toks.get(*pos + 2)) {
            (Some(Tok::Op(o)), Some(Tok::Val(b)))
                if [&b"="[..], b"==", b"!=", b"-eq", b"-ne"].contains(&o.as_slice()) =>
            {
                *pos += 3;
                (b.clone(), o.clone())
            }
            _ => {
                *pos += 1;
                return Some(a.as_ref().map(|a| a.is_empty() == negate));
            }
        };
        let r = match (a, b) {
            (Some(a), Some(b)) => match cmp.as_slice() {
                b"=" | b"==" => Some(*a == b),
                b"!=" => Some(*a != b),
                _ => {
                    let n = |v: &[u8]| std::str::from_utf8(v).ok()?.trim().parse::<i64>().ok();
                    let (x, y) = (n(a)?, n(&b)?);
                    Some(if cmp == b"-eq" { x == y } else { x != y })
                }
            },
            _ => None,
        };
        Some(r.map(|r| r != negate))
    };
    let and = |a: Option<bool>, b: Option<bool>| match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    let or = |a: Option<bool>, b: Option<bool>| match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    };
    let mut result: Option<Option<bool>> = None;
    let mut joiner: Option<Vec<u8>> = None;
    loop {
        if !op(toks.get(pos), b"[") {
            return None;
        }
        pos += 1;
        // -a binds tighter than -o (test(1)).
        let mut all = primary(&mut pos)?;
        let mut disj: Option<bool> = Some(false);
        loop {
            if op(toks.get(pos), b"-a") {
                pos += 1;
                all = and(all, primary(&mut pos)?);
            } else if op(toks.get(pos), b"-o") {
                pos += 1;
                disj = or(disj, all);
                all = primary(&mut pos)?;
            } else {
                break;
            }
        }
        let test = or(disj, all);
        if !op(toks.get(pos), b"]") {
            return None;
        }
        pos += 1;
        result = Some(match (result, joiner.as_deref()) {
            (None, _) => test,
            (Some(r), Some(b"&&")) => and(r, test),
            (Some(r), Some(b"||")) => or(r, test),
            _ => return None,
        });
        match toks.get(pos) {
            None => return result.flatten(),
            Some(Tok::Op(o)) if o == b"&&" || o == b"||" => {
                joiner = Some(o.clone());
                pos += 1;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn target(r: WrapperRun) -> Vec<String> {
        match r {
            WrapperRun::Exec(n) => n
                .argv
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn classify_by_name() {
        assert_eq!(classify(b"/sbin/tini"), Kind::Wrapper(Wrapper::Tini));
        assert_eq!(
            classify(b"/tini-static-arm64"),
            Kind::Wrapper(Wrapper::Tini)
        );
        assert_eq!(
            classify(b"/usr/local/bin/dumb-init_1.2.5_x86_64"),
            Kind::Wrapper(Wrapper::DumbInit)
        );
        assert_eq!(classify(b"gosu"), Kind::Wrapper(Wrapper::Gosu));
        assert_eq!(classify(b"/usr/bin/env"), Kind::Wrapper(Wrapper::Env));
        assert_eq!(classify(b"/bin/sh"), Kind::Shell { bash: false });
        assert_eq!(classify(b"bash"), Kind::Shell { bash: true });
        assert_eq!(
            classify(b"/usr/bin/python3.11"),
            Kind::Interpreter { reads_pe: false }
        );
        assert_eq!(classify(b"java"), Kind::Interpreter { reads_pe: false });
        assert_eq!(classify(b"dotnet"), Kind::Interpreter { reads_pe: true });
        assert_eq!(classify(b"python-config"), Kind::Unknown);
        assert_eq!(
            classify(b"/usr/bin/qemu-aarch64-static"),
            Kind::Emulator {
                goarch: Some("arm64")
            }
        );
        assert_eq!(
            classify(b"qemu-x86_64"),
            Kind::Emulator {
                goarch: Some("amd64")
            }
        );
        assert_eq!(classify(b"qemu-img"), Kind::Unknown);
        assert_eq!(classify(b"qemu-system-aarch64"), Kind::Unknown);
        let q = |a: &[&str]| qemu_program(&v(a));
        assert_eq!(q(&["/opt/app", "-x"]), Ok(0));
        assert_eq!(
            q(&["-L", "/usr/aarch64-linux-gnu", "-strace", "app"]),
            Ok(3)
        );
        assert_eq!(q(&["--cpu", "max", "--", "app"]), Ok(3));
        assert!(q(&["-version"]).is_err());
        assert!(q(&["-frob", "app"]).is_err());
        assert!(q(&["-L", "/x"]).is_err());
        assert_eq!(classify(b"/app"), Kind::Unknown);
    }

    #[test]
    fn tini_grammar() {
        let t = |a: &[&str]| parse_wrapper(Wrapper::Tini, &v(a), WrapperCtx::default());
        assert_eq!(target(t(&["--", "/app", "-x"])), ["/app", "-x"]);
        assert_eq!(target(t(&["-s", "-p", "SIGTERM", "--", "app"])), ["app"]);
        assert_eq!(target(t(&["-gpSIGTERM", "app"])), ["app"]);
        // glibc's getopt takes `--` out wherever it is.
        assert_eq!(target(t(&["-e", "143", "app", "--", "x"])), ["app", "x"]);
        assert!(matches!(t(&["--version"]), WrapperRun::Nothing(_)));
        assert!(matches!(t(&["-h", "app"]), WrapperRun::Nothing(_)));
        assert!(matches!(t(&["--"]), WrapperRun::Nothing(_)));
        assert!(matches!(t(&["-z", "app"]), WrapperRun::Refused(_)));
        assert!(matches!(t(&["-a", "app"]), WrapperRun::Unknown(_)));
        assert!(matches!(t(&["-p"]), WrapperRun::Refused(_)));
    }

    /// glibc's getopt permutes: the program's options are tini's and
    /// catatonit's too, unless `--` comes first or POSIXLY_CORRECT is set;
    /// musl's getopt (tini) does not, musl's getopt_long (catatonit) does.
    #[test]
    fn getopt_permutation_by_libc() {
        let ctx = |libc, posixly_correct| WrapperCtx {
            libc,
            posixly_correct,
            busybox: false,
        };
        let t = |a: &[&str], c| parse_wrapper(Wrapper::Tini, &v(a), c);
        let node = ["node", "--max-old-space-size=4096", "/app/server.js"];
        assert!(matches!(
            t(&node, ctx(Libc::Glibc, false)),
            WrapperRun::Refused(_)
        ));
        assert_eq!(target(t(&node, ctx(Libc::Glibc, true))), node);
        assert_eq!(target(t(&node, ctx(Libc::Musl, false))), node);
        assert!(matches!(
            t(&node, ctx(Libc::Unknown, false)),
            WrapperRun::Unknown(_)
        ));
        let dd = ["--", "node", "--max-old-space-size=4096", "/app/server.js"];
        for c in [Libc::Glibc, Libc::Musl, Libc::Unknown] {
            assert_eq!(target(t(&dd, ctx(c, false))), node);
        }
        // A known option after the program is tini's: the program runs
        // without it.
        assert_eq!(
            target(t(&["app", "-v", "x"], ctx(Libc::Glibc, false))),
            ["app", "x"]
        );
        assert!(matches!(
            t(&["app", "-h"], ctx(Libc::Glibc, false)),
            WrapperRun::Nothing(_)
        ));
        let c = |a: &[&str], cx| parse_wrapper(Wrapper::Catatonit, &v(a), cx);
        for cx in [
            ctx(Libc::Glibc, false),
            ctx(Libc::Musl, false),
            ctx(Libc::Musl, true),
        ] {
            assert!(matches!(
                c(&["/bin/echo", "-n", "hi"], cx),
                WrapperRun::Refused(_)
            ));
        }
        assert_eq!(
            target(c(&["/bin/echo", "-n", "hi"], ctx(Libc::Glibc, true))),
            ["/bin/echo", "-n", "hi"]
        );
        assert!(matches!(
            c(&["/bin/echo", "-n"], ctx(Libc::Unknown, true)),
            WrapperRun::Unknown(_)
        ));
        assert!(matches!(
            c(&["--vers"], ctx(Libc::Glibc, false)),
            WrapperRun::Nothing(_)
        ));
        assert!(matches!(
            c(&["--help", "x"], ctx(Libc::Glibc, false)),
            WrapperRun::Refused(_)
        ));
    }

    /// busybox's env takes -i, -0, -u and their long forms only.
    #[test]
    fn busybox_env_grammar() {
        let bb = WrapperCtx {
            busybox: true,
            ..WrapperCtx::default()
        };
        let e = |a: &[&str]| parse_wrapper(Wrapper::Env, &v(a), bb);
        assert!(matches!(
            e(&["-S sh -e", "/app.sh"]),
            WrapperRun::Refused(_)
        ));
        assert!(matches!(e(&["-C", "/", "app"]), WrapperRun::Refused(_)));
        assert_eq!(target(e(&["-0", "-iu", "X", "--", "app"])), ["app"]);
        match e(&["--unset=PATH", "POSIXLY_CORRECT=1", "app"]) {
            WrapperRun::Exec(n) => {
                assert_eq!(n.path, Some(None));
                assert_eq!(n.posix, Some(true));
            }
            other => panic!("{other:?}"),
        }
        match e(&["--ign", "app"]) {
            WrapperRun::Exec(n) => assert_eq!((n.path, n.posix), (Some(None), Some(false))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dumb_init_catatonit_su_exec_gosu_grammars() {
        let d = |a: &[&str]| parse_wrapper(Wrapper::DumbInit, &v(a), WrapperCtx::default());
        assert_eq!(target(d(&["--single-child", "--", "app"])), ["app"]);
        assert_eq!(target(d(&["-r", "15:2", "app", "-c"])), ["app", "-c"]);
        assert_eq!(target(d(&["--rewrite=15:2", "-cv", "app"])), ["app"]);
        assert_eq!(target(d(&["--rewrite", "15:2", "app"])), ["app"]);
        assert_eq!(target(d(&["--single", "app"])), ["app"]);
        assert!(matches!(d(&["--version"]), WrapperRun::Nothing(_)));
        let c = |a: &[&str]| parse_wrapper(Wrapper::Catatonit, &v(a), WrapperCtx::default());
        assert_eq!(target(c(&["-g", "--", "app"])), ["app"]);
        assert!(matches!(c(&["-P"]), WrapperRun::Nothing(_)));
        let s = |a: &[&str]| parse_wrapper(Wrapper::SuExec, &v(a), WrapperCtx::default());
        assert_eq!(
            target(s(&["app:app", "redis-server", "-x"])),
            ["redis-server", "-x"]
        );
        assert!(matches!(s(&["app"]), WrapperRun::Nothing(_)));
        let g = |a: &[&str]| parse_wrapper(Wrapper::Gosu, &v(a), WrapperCtx::default());
        assert_eq!(
            target(g(&["postgres", "postgres", "-D", "x"])),
            ["postgres", "-D", "x"]
        );
        assert!(matches!(g(&["--version"]), WrapperRun::Nothing(_)));
        assert!(matches!(g(&["user"]), WrapperRun::Nothing(_)));
    }

    #[test]
    fn env_grammar() {
        let e = |a: &[&str]| parse_wrapper(Wrapper::Env, &v(a), WrapperCtx::default());
        assert_eq!(target(e(&["python3", "-u"])), ["python3", "-u"]);
        assert_eq!(target(e(&["A=1", "B=2", "app"])), ["app"]);
        assert_eq!(target(e(&["-i", "--", "app"])), ["app"]);
        assert_eq!(target(e(&["-u", "X", "-uY", "app"])), ["app"]);
        // The kernel hands `#!/usr/bin/env -S python3 -u` over as one word.
        assert_eq!(
            target(e(&["-S python3 -u", "/s.py"])),
            ["python3", "-u", "/s.py"]
        );
        assert_eq!(target(e(&["-S", "-i python3", "x"])), ["python3", "x"]);
        // ... and `#!/usr/bin/env python3 -u` as one word too: env looks for
        // a program named "python3 -u".
        assert_eq!(target(e(&["python3 -u", "/s.py"])), ["python3 -u", "/s.py"]);
        match e(&["-i", "PATH=/opt/bin", "app"]) {
            WrapperRun::Exec(n) => assert_eq!(n.path, Some(Some(b"/opt/bin".to_vec()))),
            other => panic!("{other:?}"),
        }
        match e(&["-", "app"]) {
            WrapperRun::Exec(n) => assert_eq!(n.path, Some(None)),
            other => panic!("{other:?}"),
        }
        match e(&["--unset=PATH", "-C", "/srv", "app"]) {
            WrapperRun::Exec(n) => {
                assert_eq!(n.path, Some(None));
                assert_eq!(n.chdir.as_deref(), Some(&b"/srv"[..]));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(e(&["A=1"]), WrapperRun::Nothing(_)));
        assert!(matches!(e(&["-0", "app"]), WrapperRun::Nothing(_)));
        assert_eq!(target(e(&["=x", "app"])), ["app"]);
        assert!(matches!(e(&["-S", "'a b'"]), WrapperRun::Unknown(_)));
        assert!(matches!(e(&["--frobnicate", "x"]), WrapperRun::Unknown(_)));
    }

    #[test]
    fn shell_options() {
        let s = |bash: bool, a: &[&str]| {
            parse_shell(if bash { Shell::Bash } else { Shell::Dash }, &v(a))
        };
        let string = |r: ShellRun| match r {
            ShellRun::String { string, .. } => String::from_utf8(string).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(string(s(false, &["-c", "app", "x"])), "app");
        assert_eq!(string(s(false, &["-ec", "app"])), "app");
        assert_eq!(string(s(false, &["-c", "-e", "app"])), "app");
        assert_eq!(string(s(true, &["-o", "pipefail", "-c", "app"])), "app");
        assert_eq!(string(s(true, &["-eo", "pipefail", "-c", "app"])), "app");
        assert_eq!(string(s(true, &["--norc", "-xc", "app"])), "app");
        assert_eq!(string(s(false, &["-ce", "--", "app"])), "app");
        assert_eq!(
            s(false, &["/entrypoint.sh", "a"]),
            ShellRun::Script {
                path: b"/entrypoint.sh".to_vec(),
                args: v(&["a"]),
                opts: ShellOpts::default(),
            }
        );
        assert_eq!(s(false, &["-e"]), ShellRun::Stdin);
        assert_eq!(s(false, &["-s", "x"]), ShellRun::Stdin);
        assert!(matches!(s(true, &["--version"]), ShellRun::Nothing(_)));
        match s(true, &["-o", "pipefail", "+O", "extglob", "-lc", "app"]) {
            ShellRun::String { opts, .. } => {
                assert!(opts.login);
                assert_eq!(
                    opts.named,
                    vec![(b'o', b"pipefail".to_vec()), (b'O', b"extglob".to_vec())]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// What dash, bash and busybox sh refuse before running anything
    /// (checked with dash 0.5.12, bash 5.2.15 and busybox 1.35.0).
    #[test]
    fn shell_refusals() {
        let p = |sh, a: &[&str]| parse_shell(sh, &v(a));
        for sh in [Shell::Bash, Shell::Dash, Shell::Busybox, Shell::Other] {
            // `#!/bin/sh -e -x`: one word.
            assert!(
                matches!(p(sh, &["-e -x", "/s"]), ShellRun::Refused(_)),
                "{sh:?}"
            );
            assert!(matches!(p(sh, &["-c"]), ShellRun::Refused(_)), "{sh:?}");
            assert!(
                matches!(p(sh, &["-e", "-c"]), ShellRun::Refused(_)),
                "{sh:?}"
            );
            assert!(
                matches!(p(sh, &["-1", "-c", "x"]), ShellRun::Refused(_)),
                "{sh:?}"
            );
            assert!(
                matches!(p(sh, &["-o", "-c", "x"]), ShellRun::Refused(_)),
                "{sh:?}"
            );
        }
        assert!(matches!(
            p(Shell::Dash, &["--login", "-c", "x"]),
            ShellRun::Refused(_)
        ));
        assert!(matches!(
            p(Shell::Dash, &["-e-", "-c", "x"]),
            ShellRun::Refused(_)
        ));
        assert!(matches!(
            p(Shell::Bash, &["-e-", "-c", "x"]),
            ShellRun::Refused(_)
        ));
        assert!(matches!(
            p(Shell::Bash, &["--foo", "-c", "x"]),
            ShellRun::Refused(_)
        ));
        assert!(matches!(
            p(Shell::Busybox, &["--foo", "-c", "x"]),
            ShellRun::String { .. }
        ));
        assert!(matches!(
            p(Shell::Busybox, &["-e-", "-c", "x"]),
            ShellRun::String { .. }
        ));
        assert!(matches!(
            p(Shell::Other, &["--foo", "-c", "x"]),
            ShellRun::Unknown(_)
        ));
        assert!(matches!(
            p(Shell::Dash, &["-l", "-c", "x"]),
            ShellRun::String { .. }
        ));
    }

    #[test]
    fn chdir_is_a_builtin_of_dash_and_ash_only() {
        for sh in [Shell::Dash, Shell::Busybox, Shell::Other] {
            assert!(matches!(
                first_command(b"chdir /srv && exec app", sh),
                FirstCommand::GiveUp(_)
            ));
        }
        assert!(matches!(
            first_command(b"chdir /srv && exec app", Shell::Bash),
            FirstCommand::Run { .. }
        ));
    }

    fn run(s: &str) -> (Vec<String>, Option<String>, bool) {
        match first_command(s.as_bytes(), Shell::Dash) {
            FirstCommand::Run {
                argv,
                path,
                args_known,
            } => (
                argv.iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect(),
                path.map(|p| String::from_utf8(p).unwrap()),
                args_known,
            ),
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn first_command_of_plain_strings() {
        assert_eq!(run("app --serve").0, ["app", "--serve"]);
        assert_eq!(run("  exec /app -x; echo done").0, ["/app", "-x"]);
        assert_eq!(run("FOO=1 exec app").0, ["app"]);
        assert_eq!(run("PATH=/opt/bin app").1.as_deref(), Some("/opt/bin"));
        assert_eq!(run(">/dev/null 2>&1 exec app").0, ["app"]);
        assert_eq!(run("app 2>&1 | tee log").0, ["app"]);
        assert_eq!(run("app >log").0, ["app"]);
        assert_eq!(run("app>log").0, ["app"]);
        assert_eq!(run("command app").0, ["app"]);
        // After exec the word is an external program, builtin name or not.
        assert_eq!(run("exec command app").0, ["command", "app"]);
        assert_eq!(run("exec true").0, ["true"]);
        assert_eq!(run("wget -q -O- http://localhost/ || exit 1").0[0], "wget");
        let (argv, _, known) = run("exec app \"$@\"");
        assert_eq!((argv, known), (vec!["app".to_string()], false));
        let (argv, _, known) = run("app *.conf");
        assert_eq!((argv, known), (vec!["app".to_string()], false));
        // A here-document cannot hide the command before it.
        let (argv, _, known) = run("cat <<EOF");
        assert_eq!((argv, known), (vec!["cat".to_string()], false));
    }

    #[test]
    fn first_command_gives_up_or_finds_nothing() {
        for s in [
            "$APP",
            "exec \"$@\"",
            "cd /app && exec ./run",
            "set -e; app",
            "if true; then app; fi",
            "(app)",
            "app() { exec /x; }; app",
            "app (){ :; }",
            "app x(",
            "{ app; }",
            "PATH=$PATH:/x app",
            "exec -a name app",
            "command -v app",
            "'app'",
            "\\app",
            "`which app`",
            "~/bin/app",
            "app* x",
            "echo hi",
            "[ -f x ] && app",
        ] {
            assert!(
                matches!(
                    first_command(s.as_bytes(), Shell::Dash),
                    FirstCommand::GiveUp(_)
                ),
                "{s:?}: {:?}",
                first_command(s.as_bytes(), Shell::Dash)
            );
        }
        for s in ["", "   ", "# comment", "A=1 B=2", "exec", ">/dev/null"] {
            assert!(
                matches!(
                    first_command(s.as_bytes(), Shell::Dash),
                    FirstCommand::Nothing(_)
                ),
                "{s:?}: {:?}",
                first_command(s.as_bytes(), Shell::Dash)
            );
        }
    }

    #[test]
    fn entrypoint_script_endings() {
        assert_eq!(
            script_end(b"#!/bin/sh\nset -e\nexec \"$@\"\n"),
            ScriptEnd::ExecArgs
        );
        assert_eq!(
            script_end(b"#!/bin/sh\nexec \"$@\"\n\n# done\n  \n"),
            ScriptEnd::ExecArgs
        );
        assert_eq!(
            script_end(b"#!/bin/bash\n\texec gosu redis \"$@\"\n"),
            ScriptEnd::ExecVia {
                wrapper: b"gosu".to_vec()
            }
        );
        assert_eq!(
            script_end(b"exec /sbin/su-exec app:app \"$@\""),
            ScriptEnd::ExecVia {
                wrapper: b"/sbin/su-exec".to_vec()
            }
        );
        for s in [
            &b"#!/bin/sh\nexec \"$@\"\nfi\n"[..],
            b"#!/bin/sh\nexec app \"$@\"\n",
            b"#!/bin/sh\nexec \"$@\"\r\n",
            b"#!/bin/sh\n_main \"$@\"\n",
            b"#!/bin/sh\nexec $@\n",
            b"",
        ] {
            assert_eq!(script_end(s), ScriptEnd::Other, "{s:?}");
        }
    }

    #[test]
    fn mid_script_execs_and_their_conditions() {
        let redis = b"#!/bin/sh\nset -e\nif [ \"$1\" = 'redis-server' -a \"$(id -u)\" = '0' ]; then\n\tfind . \\! -user redis -exec chown redis '{}' +\n\texec gosu redis \"$0\" \"$@\"\nfi\nexec \"$@\"\n";
        let m = mid_execs(redis);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].reexec.as_deref(), Some(&b"gosu"[..]));
        let conds = m[0].conds.clone().unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(
            eval_condition(&conds[0], Some(b"redis-server"), Some(0)),
            Some(true)
        );
        assert_eq!(eval_condition(&conds[0], Some(b"sh"), Some(0)), Some(false));
        assert_eq!(
            eval_condition(&conds[0], Some(b"redis-server"), Some(999)),
            Some(false)
        );
        assert_eq!(eval_condition(&conds[0], Some(b"redis-server"), None), None);
        // In an else, a loop or a function: not followed.
        for s in [
            &b"if [ 1 = 1 ]; then\n:\nelse\nexec gosu u \"$0\" \"$@\"\nfi\nexec \"$@\"\n"[..],
            b"for x in a; do\nexec gosu u \"$0\" \"$@\"\ndone\nexec \"$@\"\n",
            b"f() {\nexec gosu u \"$0\" \"$@\"\n}\nexec \"$@\"\n",
            b"if [ 1 = 1 ]; then\nexec gosu u \"$0\" \"$@\"\nexec \"$@\"\n",
        ] {
            let m = mid_execs(s);
            assert_eq!(m.len(), 1, "{}", String::from_utf8_lossy(s));
            assert_eq!(m[0].conds, None, "{}", String::from_utf8_lossy(s));
        }
        // Top level: no condition; other execs are recorded without reexec;
        // set -- is seen.
        let m = mid_execs(b"set -- app \"$@\"\nexec su-exec app \"$BASH_SOURCE\" \"$@\"\n[ -x /x ] && exec /x\nexec \"$@\"\n");
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].conds, Some(vec![]));
        assert!(m[0].args_changed);
        assert_eq!(m[1].reexec, None);
    }

    #[test]
    fn test_conditions() {
        let e = |c: &str| eval_condition(c.as_bytes(), Some(b"postgres"), Some(0));
        assert_eq!(e("[ \"$(id -u)\" = '0' ]"), Some(true));
        assert_eq!(e("[ \"$(id -u)\" -eq 0 ]"), Some(true));
        assert_eq!(
            e("[ \"$1\" = 'postgres' ] && [ \"$(id -u)\" = '0' ]"),
            Some(true)
        );
        assert_eq!(
            e("[ \"$1\" = 'x' ] || [ \"$(id -u)\" != '0' ]"),
            Some(false)
        );
        assert_eq!(e("[ \"$1\" = 'x' -o \"$1\" = 'postgres' ]"), Some(true));
        assert_eq!(e("[ ! \"$1\" = 'x' ]"), Some(true));
        assert_eq!(e("[ \"$2\" = 'x' ]"), None);
        assert_eq!(e("[[ \"$1\" == postgres* ]]"), None);
        assert_eq!(e("_is_sourced"), None);
        assert_eq!(e("[ \"$1\" = 'postgres' ] && ! _pg_want_help \"$@\""), None);
    }

    /// Noise never panics or loops: random argv for every grammar, random
    /// command strings and script tails (a fixed-seed generator).
    #[test]
    fn grammars_survive_noise() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"-+=:;&|<>()'\"$`\\ \t\n\r\0#!{}[]*?~/.aceiosuvCSOPR0123456789";
        let words = [
            &b"--"[..],
            b"-",
            b"-c",
            b"-S",
            b"-i",
            b"-u",
            b"-C",
            b"-o",
            b"exec",
            b"command",
            b"PATH=",
            b"a=b",
            b"\"$@\"",
            b"--rewrite",
            b"-p",
            b"gosu",
            b"sh",
        ];
        for _ in 0..20_000 {
            let n = (next() % 8) as usize;
            let argv: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    if next() % 3 == 0 {
                        words[(next() % words.len() as u64) as usize].to_vec()
                    } else {
                        let len = (next() % 12) as usize;
                        (0..len)
                            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                            .collect()
                    }
                })
                .collect();
            for w in [
                Wrapper::Tini,
                Wrapper::DumbInit,
                Wrapper::Catatonit,
                Wrapper::SuExec,
                Wrapper::Gosu,
                Wrapper::Env,
            ] {
                if let WrapperRun::Exec(n) = parse_wrapper(w, &argv, WrapperCtx::default()) {
                    assert!(!n.argv.is_empty());
                }
            }
            for sh in [Shell::Bash, Shell::Dash, Shell::Busybox, Shell::Other] {
                let _ = parse_shell(sh, &argv);
            }
            let joined = argv.join(&b' ');
            if let FirstCommand::Run { argv, .. } = first_command(&joined, Shell::Other) {
                assert!(!argv.is_empty());
            }
            let _ = script_end(&joined);
            let _ = classify(&joined);
        }
    }
}
