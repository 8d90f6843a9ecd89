//! `WWW-Authenticate` challenges (RFC 7235) as registries send them:
//! `Bearer realm="https://auth.example/token",service="reg",scope="..."` or
//! `Basic realm="..."`, possibly several in one header or over several.
//!
//! The one idea: parse into (scheme, parameters) pairs and let the caller pick
//! the scheme it can answer; anything unparsable is skipped, never guessed.

use std::collections::HashMap;

/// One challenge: the scheme in lower case and its parameters (names in
/// lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge in the values of the `WWW-Authenticate` headers.
pub fn parse_all<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    headers.into_iter().flat_map(parse).collect()
}

/// The challenges of one header value.
pub fn parse(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws_commas();
        let Some(word) = p.token() else { break };
        p.skip_ws();
        if p.peek() == Some(b'=') {
            // A parameter of the current challenge.
            p.i += 1;
            p.skip_ws();
            let v = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token()
            };
            match (out.last_mut(), v) {
                (Some(c), Some(v)) => {
                    c.params.insert(word.to_ascii_lowercase(), v);
                }
                _ => p.skip_to_comma(),
            }
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: HashMap::new(),
            });
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn skip_to_comma(&mut self) {
        while !matches!(self.peek(), None | Some(b',')) {
            self.i += 1;
        }
    }
    /// An RFC 7230 token (plus `/` and `:`, which unquoted scopes carry).
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(b) = self.peek() {
            let ok = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b);
            if !ok {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            // Not a token: skip the offending byte so parsing moves on.
            if self.i < self.s.len() {
                self.i += 1;
            }
            return None;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                b => out.push(b),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/alpine:pull"));
        let c = parse(r#"Basic realm="archgate-testenv""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("archgate-testenv"));
    }

    #[test]
    fn several_challenges_odd_spacing_and_escapes() {
        let c = parse_all([
            r#"Basic realm="a, b", Bearer  realm = "https://x/t" , service=reg"#,
            r#"Bearer realm="q\"uote""#,
        ]);
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(c[0].param("realm"), Some("a, b"));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://x/t"));
        assert_eq!(c[1].param("service"), Some("reg"));
        assert_eq!(c[2].param("realm"), Some("q\"uote"));
    }

    #[test]
    fn garbage_yields_nothing_harmful() {
        assert!(parse("").is_empty());
        assert!(parse(" , ,").is_empty());
        let c = parse(r#"=x, "unterminated"#);
        assert!(c.iter().all(|c| c.params.is_empty()), "{c:?}");
        let c = parse(r#"Bearer realm="unterminated"#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].param("realm"), None);
    }
}
