//! The first simple command of a shell's `-c` string, read by a conservative
//! procedure that gives up on anything a shell would have to expand, and on
//! keywords and builtins.

use super::shell::Shell;
use super::{shown, SPECIAL};

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
