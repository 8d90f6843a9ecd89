//! Values as Go programs write them, read the way Go reads them: the
//! syntaxes BuildKit, buildx and the docker CLI put in flags, gRPC metadata
//! and config files (`strconv.ParseBool`, `encoding/csv`,
//! `url.QueryUnescape`, `base64.StdEncoding`).
//!
//! The one idea: one place per Go parser, each naming the Go function it
//! mirrors, so every caller accepts exactly what the Go side would.

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Split one CSV record the way Go's `encoding/csv` reads it (comma
/// separated; a field may be double-quoted, `""` inside quotes is a quote; a
/// quote inside an unquoted field is an error).
pub(crate) fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut rest = s;
    loop {
        if let Some(mut q) = rest.strip_prefix('"') {
            let mut field = String::new();
            loop {
                let Some(end) = q.find('"') else {
                    return Err("extraneous or missing \" in quoted-field".to_string());
                };
                field.push_str(&q[..end]);
                q = &q[end + 1..];
                if let Some(after) = q.strip_prefix('"') {
                    field.push('"');
                    q = after;
                    continue;
                }
                break;
            }
            fields.push(field);
            if q.is_empty() {
                return Ok(fields);
            }
            match q.strip_prefix(',') {
                Some(after) => rest = after,
                None => return Err("extraneous or missing \" in quoted-field".to_string()),
            }
        } else {
            let (field, after) = match rest.find(',') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if field.contains('"') {
                return Err("bare \" in non-quoted-field".to_string());
            }
            fields.push(field.to_string());
            match after {
                Some(a) => rest = a,
                None => return Ok(fields),
            }
        }
    }
}

/// Go `url.QueryUnescape`: `+` is a space, `%XX` a byte.
pub(crate) fn query_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Standard base64 with padding, as Go's `base64.StdEncoding` decodes it
/// (CR and LF are skipped; anything else outside the alphabet is an error).
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let clean: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_like_go() {
        let ok = |s: &str| csv_fields(s).unwrap();
        assert_eq!(ok("a=b,c=d"), ["a=b", "c=d"]);
        assert_eq!(ok("a=b,"), ["a=b", ""]);
        assert_eq!(ok("\"a=b,c\",d=e"), ["a=b,c", "d=e"]);
        assert_eq!(ok("\"a=\"\"q\"\"\""), ["a=\"q\""]);
        assert_eq!(ok(""), [""]);
        assert!(csv_fields("a=\"b\"").is_err());
        assert!(csv_fields("\"a=b").is_err());
        assert!(csv_fields("\"a\"b").is_err());
    }
}
