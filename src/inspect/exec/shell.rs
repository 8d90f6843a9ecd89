//! The shells' own options (dash, bash, busybox ash): which of them stop the
//! shell before it runs anything, and whether it runs a `-c` string, a
//! script file or stdin.

use super::{basename, shown};

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
