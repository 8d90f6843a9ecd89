//! The text of instructions as BuildKit reads it: continuation lines joined,
//! comment lines inside them dropped, `KEY=VALUE` lists split, and the
//! variables a word refers to.

/// The logical text of a shell-form instruction whose raw text (as in the
/// file, from after the keyword) is `raw`: each `escape` + newline joins the
/// next line, and lines inside the continuation that are comments or blank
/// are dropped, as BuildKit's parser does (buildkit
/// `frontend/dockerfile/parser/parser.go`, isComment and the continuation
/// loop). A `\r` before a newline counts as part of the newline.
pub fn logical(raw: &str, escape: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut lines = raw.split('\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !first {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        first = false;
        let trimmed = line.trim_end();
        match trimmed.strip_suffix(escape) {
            Some(body) if lines.peek().is_some() => {
                out.push_str(body);
            }
            _ => {
                out.push_str(line);
                if lines.peek().is_some() {
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Split the arguments of `ARG` or `ENV` into `(name, value)` pairs the way
/// BuildKit does for the `KEY=VALUE` form (quotes removed, a backslash
/// escapes the next character). With `legacy` (ENV), `ENV KEY VALUE` (no
/// `=` in the first word) is one pair whose value is the rest; ARG takes
/// several names instead.
pub fn key_values(args: &str, legacy: bool) -> Vec<(String, Option<String>)> {
    let words = split_words(args);
    if let Some(first) = words.first() {
        if legacy && !first.0.contains('=') && words.len() > 1 && !first.1 {
            let rest = args.trim_start()[first.2..].trim().to_string();
            return vec![(first.0.clone(), Some(unquote(&rest)))];
        }
    }
    words
        .into_iter()
        .map(|(w, _, _)| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect()
}

/// Words separated by blanks, quotes removed: `(word, was_quoted, end)`
/// where `end` is the byte offset after the word in the trimmed input.
fn split_words(s: &str) -> Vec<(String, bool, usize)> {
    let s = s.trim_start();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                quoted = true;
                in_word = true;
            }
            (None, '\\') => {
                in_word = true;
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push((std::mem::take(&mut cur), quoted, i));
                    quoted = false;
                    in_word = false;
                }
            }
            (None, c) => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push((cur, quoted, s.len()));
    }
    out
}

fn unquote(s: &str) -> String {
    split_words(s)
        .into_iter()
        .map(|(w, _, _)| w)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A reference to a variable in a word: `$NAME` or `${NAME...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    pub name: String,
    /// Byte offset of the `$`.
    pub at: usize,
}

/// The variables `text` refers to. With `shell`, text inside single quotes
/// is skipped (the shell does not expand it); a `\` escapes the next
/// character either way.
pub fn var_refs(text: &str, shell: bool) -> Vec<VarRef> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_single = false;
    while i < b.len() {
        let c = b[i];
        if in_single {
            if c == b'\'' {
                in_single = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'\\' => i += 2,
            b'\'' if shell => {
                in_single = true;
                i += 1;
            }
            b'$' => {
                let at = i;
                i += 1;
                let braced = b.get(i) == Some(&b'{');
                if braced {
                    i += 1;
                }
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if i > start && !b[start].is_ascii_digit() {
                    out.push(VarRef {
                        name: text[start..i].to_string(),
                        at,
                    });
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// How deep `${A:-${B:-...}}` defaults are expanded. BuildKit's shell
/// lexer (buildkit `frontend/dockerfile/shell/lex.go`, `processDollar`)
/// recurses into a default with no limit of its own; no real Dockerfile
/// nests more than a few. Past this depth the text is kept as written, so
/// it reads as unknown (it still holds a `$`): never a constant, never a
/// finding. Without a bound, 50,000 levels took minutes (and the stack).
pub const MAX_EXPANSION_DEPTH: usize = 64;

/// `text` with `$NAME`/`${NAME}` replaced by `lookup(NAME)` where it knows
/// the value (others are kept as written): enough to read a constant
/// `--platform` or image name.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    // Each `{`'s matching `}`, found once for the whole text (looking for
    // it from every `${` made 50,000 unterminated `${A:-` quadratic).
    let mut close = vec![usize::MAX; text.len()];
    let mut open = Vec::new();
    for (k, &c) in text.as_bytes().iter().enumerate() {
        match c {
            b'{' => open.push(k),
            b'}' => {
                if let Some(o) = open.pop() {
                    close[o] = k;
                }
            }
            _ => {}
        }
    }
    expand_in(text, 0, text.len(), &close, lookup, 0)
}

/// [`expand`] of `text[from..to]`, `close` indexed in the whole `text`.
fn expand_in(
    text: &str,
    from: usize,
    to: usize,
    close: &[usize],
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> String {
    let part = &text[from..to];
    if depth > MAX_EXPANSION_DEPTH {
        return part.to_string();
    }
    let mut out = String::new();
    let mut last = from;
    let b = text.as_bytes();
    for r in var_refs(part, false) {
        let at = from + r.at;
        // A reference inside a default already replaced.
        if at < last {
            continue;
        }
        let braced = b.get(at + 1) == Some(&b'{');
        let name_end = at + 1 + usize::from(braced) + r.name.len();
        let end = if braced {
            // The `}` that closes this one: nested `${...}` in a default
            // count. (Inside `text[from..to]`, a default's own braces, its
            // matches are inside too.)
            match close[at + 1] {
                k if k < to => k + 1,
                _ => continue,
            }
        } else {
            name_end
        };
        // ${NAME:-default} and friends: the default when unset (itself
        // expanded).
        let inner_end = end.saturating_sub(usize::from(braced));
        let inner = &text[name_end..inner_end];
        let value = lookup(&r.name).or_else(|| {
            let skip = if inner.starts_with(":-") {
                2
            } else if inner.starts_with('-') {
                1
            } else {
                return None;
            };
            Some(expand_in(
                text,
                name_end + skip,
                inner_end,
                close,
                lookup,
                depth + 1,
            ))
        });
        if let Some(v) = value {
            out.push_str(&text[last..at]);
            out.push_str(&v);
            last = end;
        }
    }
    out.push_str(&text[last..to]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_join_and_drop_comment_lines() {
        assert_eq!(
            logical(
                "GOARCH=amd64 \\\n  # a comment\n\n  go build -o /app . ",
                '\\'
            ),
            "GOARCH=amd64   go build -o /app . "
        );
        assert_eq!(logical("a \\  \r\n b", '\\'), "a  b");
        assert_eq!(logical("echo a `\n  b", '`'), "echo a   b");
        assert_eq!(logical("one\ntwo", '\\'), "one\ntwo");
    }

    #[test]
    fn key_values_as_buildkit_splits_them() {
        assert_eq!(
            key_values("GOARCH=amd64 CGO_ENABLED=0", false),
            [
                ("GOARCH".to_string(), Some("amd64".to_string())),
                ("CGO_ENABLED".to_string(), Some("0".to_string()))
            ]
        );
        assert_eq!(
            key_values("TARGETOS TARGETARCH", false),
            [
                ("TARGETOS".to_string(), None),
                ("TARGETARCH".to_string(), None)
            ]
        );
        assert_eq!(
            key_values(r#"A="x y" B='z'"#, true),
            [
                ("A".to_string(), Some("x y".to_string())),
                ("B".to_string(), Some("z".to_string()))
            ]
        );
        assert_eq!(
            key_values("GOARCH amd64", true),
            [("GOARCH".to_string(), Some("amd64".to_string()))]
        );
        assert_eq!(
            key_values("PATH /usr/bin:/bin  extra", true),
            [("PATH".to_string(), Some("/usr/bin:/bin extra".to_string()))]
        );
    }

    #[test]
    fn variable_references() {
        let names = |t: &str, shell| -> Vec<String> {
            var_refs(t, shell).into_iter().map(|r| r.name).collect()
        };
        assert_eq!(
            names("GOARCH=$TARGETARCH go build ${X:-y} $1 \\$NOT", true),
            ["TARGETARCH", "X"]
        );
        assert_eq!(
            names("echo '$IN_SINGLE' \"$IN_DOUBLE\"", true),
            ["IN_DOUBLE"]
        );
        assert_eq!(names("'$A'", false), ["A"]);
    }

    #[test]
    fn expansion_of_known_values_and_defaults() {
        let look = |n: &str| (n == "GO").then(|| "1.22".to_string());
        assert_eq!(expand("golang:${GO}-alpine", &look), "golang:1.22-alpine");
        assert_eq!(expand("linux/${ARCH:-amd64}", &look), "linux/amd64");
        assert_eq!(expand("$BUILDPLATFORM", &look), "$BUILDPLATFORM");
        // Review finding: a variable in another's default panicked.
        assert_eq!(expand("${A:-${B:-alpine}}", &look), "alpine");
        assert_eq!(expand("${BASE:-$GO}-x", &look), "1.22-x");
        assert_eq!(expand("${A:-${B", &look), "${A:-${B");
    }
}
