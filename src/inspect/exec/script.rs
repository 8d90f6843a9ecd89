//! Entrypoint scripts (docker-library's `docker-entrypoint.sh` pattern): a
//! last statement of `exec "$@"`, the `exec`s before it with the `if`s
//! around a gosu or su-exec re-exec, and those `if` conditions evaluated as
//! test(1) does.

use super::basename;

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
