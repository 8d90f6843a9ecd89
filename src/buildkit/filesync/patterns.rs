//! `.dockerignore`-style path patterns with the semantics of moby/patternmatcher
//! as fsutil's walker uses them: `*`, `?`, `[...]`, `**`, leading `!`
//! exceptions, a pattern matching a directory applies to everything below it,
//! and the decision whether a directory can be skipped without walking it.
//!
//! The one idea: a pattern is compiled once into the same four shapes
//! upstream uses (exact, prefix, suffix, token sequence), so the odd corners
//! of upstream (`**foo` as a plain suffix, `abc**` as a plain prefix) behave
//! the same here; the token sequence is matched by a small backtracking
//! matcher instead of a regular expression.

/// Characters that make a pattern more than a plain path prefix
/// (fsutil `filter.go` `patternChars`, unix flavour).
const PATTERN_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One literal character.
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` followed by more pattern: nothing, or anything ending in `/`.
    DirStar,
    /// `**` at the end of a pattern that is not a plain prefix: anything.
    Rest,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    /// The cleaned pattern minus its trailing `**`.
    Prefix(String),
    /// The cleaned pattern minus its leading `**`.
    Suffix(String),
    Tokens(Vec<Token>),
}

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    /// The cleaned pattern text, without the leading `!`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether the slash-separated relative `path` matches this pattern
    /// itself (no parent-directory rule).
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Tokens(tokens) => {
                let chars: Vec<char> = path.chars().collect();
                match_tokens(tokens, &chars)
            }
        }
    }

    /// The pattern without a trailing `/**` or `/*` (fsutil
    /// `patternWithoutTrailingGlob`).
    fn without_trailing_glob(&self) -> &str {
        let p = self.cleaned.as_str();
        let p = p.strip_suffix("/**").unwrap_or(p);
        p.strip_suffix("/*").unwrap_or(p)
    }
}

fn compile(pattern: &str, cleaned: String, exclusion: bool) -> Result<Pattern, PatternError> {
    let bad = |reason| PatternError {
        pattern: pattern.to_string(),
        reason,
    };
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Tokens,
    }
    let mut detected = Detected::Exact;
    let mut tokens = Vec::new();
    let mut chars = cleaned.chars().peekable();
    let mut index = 0usize;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is the same as `**`.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        tokens.push(Token::Rest);
                        detected = Detected::Tokens;
                    }
                } else {
                    tokens.push(Token::DirStar);
                    detected = Detected::Tokens;
                }
                if index == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                detected = Detected::Tokens;
            }
            '?' => {
                tokens.push(Token::One);
                detected = Detected::Tokens;
            }
            '\\' => match chars.next() {
                Some(escaped) => {
                    tokens.push(Token::Lit(escaped));
                    detected = Detected::Tokens;
                }
                None => return Err(bad("trailing backslash")),
            },
            '[' => {
                tokens.push(parse_class(&mut chars).map_err(bad)?);
                detected = Detected::Tokens;
            }
            ']' => {
                tokens.push(Token::Lit(']'));
                detected = Detected::Tokens;
            }
            other => tokens.push(Token::Lit(other)),
        }
        index += 1;
    }
    let kind = match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(cleaned[..cleaned.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(cleaned[2..].to_string()),
        Detected::Tokens => Kind::Tokens(tokens),
    };
    Ok(Pattern {
        cleaned,
        exclusion,
        kind,
    })
}

/// Parse the rest of a `[...]` class (the `[` is consumed).
fn parse_class(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<Token, &'static str> {
    let negated = chars.peek() == Some(&'^');
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    loop {
        let lo = match chars.next() {
            None => return Err("unterminated character class"),
            Some(']') if ranges.is_empty() => return Err("empty character class"),
            Some(']') => break,
            Some('\\') => chars.next().ok_or("unterminated character class")?,
            Some(c) => c,
        };
        let mut hi = lo;
        if chars.peek() == Some(&'-') {
            chars.next();
            hi = match chars.next() {
                None => return Err("unterminated character class"),
                Some(']') => {
                    // `[a-]`: the dash is literal.
                    ranges.push((lo, lo));
                    ranges.push(('-', '-'));
                    break;
                }
                Some('\\') => chars.next().ok_or("unterminated character class")?,
                Some(c) => c,
            };
            if hi < lo {
                return Err("character range out of order");
            }
        }
        ranges.push((lo, hi));
    }
    Ok(Token::Class { negated, ranges })
}

/// Anchored match of `tokens` against all of `s`.
fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match first {
        Token::Lit(c) => s.first() == Some(c) && match_tokens(rest, &s[1..]),
        Token::One => s.first().is_some_and(|c| *c != '/') && match_tokens(rest, &s[1..]),
        Token::Class { negated, ranges } => {
            s.first().is_some_and(|c| {
                let inside = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
                inside != *negated
            }) && match_tokens(rest, &s[1..])
        }
        Token::Star => {
            let mut i = 0;
            loop {
                if match_tokens(rest, &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Token::DirStar => {
            if match_tokens(rest, s) {
                return true;
            }
            (0..s.len()).any(|i| s[i] == '/' && match_tokens(rest, &s[i + 1..]))
        }
        Token::Rest => true,
    }
}

/// Go's `path.Clean` for slash-separated paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Per-pattern results for a directory, handed to its children
/// (patternmatcher `MatchInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// An ordered list of patterns; later patterns override earlier ones, `!`
/// patterns re-include what earlier patterns matched.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// Compile patterns like patternmatcher `New`: trim whitespace, skip empty
    /// ones, clean the path (before looking at a leading `!`, as upstream
    /// does), and reject a lone `!` or malformed syntax.
    pub fn new<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = PatternMatcher::default();
        for raw in patterns {
            let raw = raw.as_ref();
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean_path(trimmed);
            let (exclusion, body) = match cleaned.strip_prefix('!') {
                Some("") => {
                    return Err(PatternError {
                        pattern: raw.to_string(),
                        reason: "illegal exclusion pattern \"!\"",
                    })
                }
                Some(body) => (true, body.to_string()),
                None => (false, cleaned),
            };
            out.exclusions |= exclusion;
            out.patterns.push(compile(raw, body, exclusion)?);
        }
        Ok(out)
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether `path` (slash-separated, relative) or one of its parent
    /// directories matches, after exceptions (patternmatcher
    /// `MatchesOrParentMatches`).
    pub fn matches_or_parent_matches(&self, path: &str) -> bool {
        self.matches_using_parent_results(path, &MatchInfo::default())
            .0
    }

    /// Match `path` given its parent directory's results (patternmatcher
    /// `MatchesUsingParentResults`). With an empty `parent` the parent
    /// directories are matched from the path itself.
    pub fn matches_using_parent_results(
        &self,
        path: &str,
        parent: &MatchInfo,
    ) -> (bool, MatchInfo) {
        let have_parent =
            parent.parent_matched.len() == self.patterns.len() && !self.patterns.is_empty();
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = have_parent && parent.parent_matched[i];
            if !hit {
                // An include pattern cannot change an already matched path,
                // an exception cannot change an unmatched one.
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(path);
                if !hit && !have_parent {
                    hit = parent_dirs(path).any(|dir| pattern.matches(dir));
                }
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }

    /// Whether every pattern of the given polarity is a plain path (ignoring a
    /// trailing `/**` or `/*`), which makes prefix reasoning about
    /// directories exact (fsutil `onlyPrefixIncludes` /
    /// `onlyPrefixExcludeExceptions`).
    pub fn only_plain_paths(&self, exclusions: bool) -> bool {
        self.patterns
            .iter()
            .filter(|p| p.exclusion == exclusions)
            .all(|p| !p.without_trailing_glob().contains(PATTERN_CHARS))
    }

    /// Whether some pattern of the given polarity names a path at or below
    /// directory `dir` (prefix test, meaningful when `only_plain_paths`).
    pub fn names_path_inside(&self, dir: &str, exclusions: bool) -> bool {
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exclusion == exclusions)
            .any(|p| format!("{}/", p.without_trailing_glob()).starts_with(&dir_slash))
    }

    /// For an include list: whether unmatched directory `dir` can be skipped
    /// wholesale because no include pattern could match below it.
    pub fn include_dir_skippable(&self, dir: &str) -> bool {
        self.only_plain_paths(false) && !self.names_path_inside(dir, false)
    }

    /// For an exclude list: whether excluded directory `dir` can be skipped
    /// wholesale because no `!` exception could re-include anything below it.
    pub fn exclude_dir_skippable(&self, dir: &str) -> bool {
        if !self.only_plain_paths(true) {
            return false;
        }
        !self.exclusions || !self.names_path_inside(dir, true)
    }
}

/// The parent directories of `path`, shortest first: `a/b/c` gives `a`, `a/b`.
fn parent_dirs(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str], path: &str) -> bool {
        PatternMatcher::new(patterns)
            .unwrap()
            .matches_or_parent_matches(path)
    }

    #[test]
    fn single_pattern_table() {
        // (pattern, path, matches) from the documented .dockerignore syntax
        // and upstream's compile shapes.
        let cases: &[(&str, &str, bool)] = &[
            ("foo", "foo", true),
            ("foo", "foo/bar", true), // a dir match applies below it
            ("foo", "foobar", false),
            ("foo", "a/foo", false),
            ("*.md", "README.md", true),
            ("*.md", "docs/a.md", false),
            ("*/*.md", "docs/a.md", true),
            ("*", "anything", true),
            ("*", "a/b", true), // via parent "a"
            ("?.txt", "a.txt", true),
            ("?.txt", "ab.txt", false),
            ("?", "/", false),
            ("a?c", "a/c", false),
            ("[abc].go", "b.go", true),
            ("[abc].go", "d.go", false),
            ("[a-c].go", "c.go", true),
            ("[^a].go", "b.go", true),
            ("[^a].go", "a.go", false),
            ("[\\]].go", "].go", true),
            ("**", "x/y/z", true),
            ("**/foo", "foo", true),
            ("**/foo", "a/b/foo", true),
            ("**/foo", "a/bfoo", false),
            ("**foo", "a/bfoo", true), // upstream suffix shape
            ("**/*.go", "main.go", true),
            ("**/*.go", "a/b/main.go", true),
            ("**/*.go", "a/b/main.rs", false),
            ("a/**", "a/b", true),
            ("a/**", "a", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/x/yb", false),
            ("a/**/*.c", "a/x/y.c", true),
            ("abc**", "abcdef/g", true), // upstream prefix shape
            ("a*/**", "ab/c", true),
            ("a*/**", "ab", false),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("a.b", "axb", false), // dots are literal
            ("a+b", "a+b", true),
            ("(x)", "(x)", true),
            ("./foo/", "foo", true), // cleaned
            ("foo//bar", "foo/bar", true),
            ("foo/../bar", "bar", true),
            ("  spaced  ", "spaced", true),
            ("dir/*", "dir/a/b", true),
            ("dir/*", "dir", false),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(
                m(&[pattern], path),
                *want,
                "pattern {pattern:?} path {path:?}"
            );
        }
    }

    #[test]
    fn exceptions_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*.md", "!README.md"], "README.md", false),
            (&["*.md", "!README.md"], "CHANGES.md", true),
            (&["!README.md", "*.md"], "README.md", true), // order matters
            (&["docs", "!docs/keep.txt"], "docs/keep.txt", false),
            (&["docs", "!docs/keep.txt"], "docs/other.txt", true),
            (&["docs", "!docs/keep.txt"], "docs", true),
            (&["**", "!src"], "src/main.rs", false),
            (&["**", "!src", "src/gen"], "src/gen/x.rs", true),
            (&["a", "!a/b", "a/b/c"], "a/b/c/d", true),
            (&["a", "!a/b", "a/b/c"], "a/b/x", false),
        ];
        for (patterns, path, want) in cases {
            assert_eq!(
                m(patterns, path),
                *want,
                "patterns {patterns:?} path {path:?}"
            );
        }
    }

    #[test]
    fn parent_results_agree_with_full_match() {
        let pm = PatternMatcher::new(["docs", "!docs/keep", "*.tmp", "!**/x.tmp"]).unwrap();
        let (dm, dinfo) = pm.matches_using_parent_results("docs", &MatchInfo::default());
        assert!(dm);
        for child in ["docs/keep", "docs/other", "docs/x.tmp"] {
            let (got, _) = pm.matches_using_parent_results(child, &dinfo);
            assert_eq!(got, pm.matches_or_parent_matches(child), "{child}");
        }
        let (_, kinfo) = pm.matches_using_parent_results("docs/keep", &dinfo);
        let (deep, _) = pm.matches_using_parent_results("docs/keep/deep", &kinfo);
        assert!(!deep);
        assert!(!pm.matches_or_parent_matches("docs/keep/deep"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for bad in ["!", "[abc", "a\\", "[]", "[z-a]"] {
            let err = PatternMatcher::new([bad]).unwrap_err();
            assert_eq!(err.pattern, bad);
        }
        assert!(PatternMatcher::new(["", "   "])
            .unwrap()
            .patterns()
            .is_empty());
    }

    #[test]
    fn skip_decisions() {
        let inc = PatternMatcher::new(["src/main.rs", "docs/**"]).unwrap();
        assert!(inc.only_plain_paths(false));
        assert!(!inc.include_dir_skippable("src"));
        assert!(!inc.include_dir_skippable("docs"));
        assert!(inc.include_dir_skippable("target"));
        assert!(inc.include_dir_skippable("sr")); // prefix of a name, not a dir

        let globby = PatternMatcher::new(["*.rs"]).unwrap();
        assert!(!globby.include_dir_skippable("target"));

        let exc = PatternMatcher::new(["node_modules", "build", "!build/keep"]).unwrap();
        assert!(exc.exclude_dir_skippable("node_modules"));
        assert!(!exc.exclude_dir_skippable("build"));
        let no_exceptions = PatternMatcher::new(["*"]).unwrap();
        assert!(no_exceptions.exclude_dir_skippable("anything"));
        let glob_exception = PatternMatcher::new(["build", "!**/*.keep"]).unwrap();
        assert!(!glob_exception.exclude_dir_skippable("build"));
    }

    #[test]
    fn clean_like_go() {
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("./a/", "a"),
            ("a//b/./c/..", "a/b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/../..", ".."),
        ] {
            assert_eq!(clean_path(input), want, "{input:?}");
        }
    }
}
