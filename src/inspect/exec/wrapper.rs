//! The wrappers' option grammars (tini, dumb-init, catatonit, su-exec,
//! gosu, GNU and busybox env), each as its own source parses its argv: which
//! program it execs next, with what environment, or why it runs none.

use super::getopt::{getopt, long_option, HasArg, Opt};
use super::{shown, Wrapper, SPECIAL};

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
