//! Registry image names as docker reads them: `[DOMAIN/]PATH[:TAG][@DIGEST]`,
//! with Docker Hub's defaults filled in (`alpine` is
//! `docker.io/library/alpine:latest`).
//!
//! The one idea: split off the domain exactly where docker does (a first
//! component with a `.` or a `:`, `localhost`, or one with upper case), then
//! validate each part against the distribution grammar, so a name that docker
//! accepts means the same repository here and nothing else gets through.

use crate::digest::Digest;
use std::fmt;

/// Docker Hub's name in references (distribution `reference/normalize.go`
/// `defaultDomain`), the legacy spelling it replaces (`legacyDefaultDomain`),
/// and the repository prefix of official images (`officialRepoPrefix`).
pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
/// Where Docker Hub's registry API answers (docker/docker
/// `registry/config.go` `DefaultRegistryHost`).
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
/// The tag used when none is given (distribution `reference` `DefaultTag`).
pub const DEFAULT_TAG: &str = "latest";
/// Longest repository name (distribution `reference` `NameTotalLengthMax`).
const NAME_MAX: usize = 255;
/// Longest tag (distribution `reference/regexp.go` `tag`: 1 + 127).
const TAG_MAX: usize = 128;

/// What a repository reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tag(String),
    /// A digest; a tag written next to it is kept for messages only (docker
    /// ignores it too).
    Digest {
        digest: Digest,
        tag: Option<String>,
    },
}

/// A normalised registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`.
    pub domain: String,
    /// `library/alpine`, `org/app`.
    pub repository: String,
    pub target: Target,
}

impl RegistryRef {
    /// Parse `NAME[:TAG][@DIGEST]` as `docker pull` does. The error is a
    /// reason, for `CheckError::BadReference`.
    pub fn parse(s: &str) -> Result<RegistryRef, String> {
        if s.is_empty() {
            return Err("no image name".into());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let digest = Digest::parse(d).ok_or_else(|| {
                    format!("invalid digest {d:?} (expected sha256:<64 hex> or sha512:<128 hex>)")
                })?;
                (r, Some(digest))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':'
        // before it is the domain's port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag {
            check_tag(t)?;
        }
        let (domain, path) = split_domain(name);
        check_domain(&domain)?;
        check_path(&path)?;
        if domain.len() + 1 + path.len() > NAME_MAX {
            return Err(format!("repository name longer than {NAME_MAX} characters"));
        }
        let target = match digest {
            Some(digest) => Target::Digest {
                digest,
                tag: tag.map(str::to_string),
            },
            None => Target::Tag(tag.unwrap_or(DEFAULT_TAG).to_string()),
        };
        Ok(RegistryRef {
            domain,
            repository: path,
            target,
        })
    }

    /// The `host[:port]` the registry API answers on.
    pub fn endpoint(&self) -> &str {
        if self.domain == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            &self.domain
        }
    }

    /// The tag or digest to ask `/v2/NAME/manifests/` for.
    pub fn manifest_reference(&self) -> String {
        match &self.target {
            Target::Tag(t) => t.clone(),
            Target::Digest { digest, .. } => digest.to_string(),
        }
    }

    /// Whether docker would talk plain HTTP to this registry unasked: a
    /// loopback address (127.0.0.0/8, ::1) or `localhost` (docker/docker
    /// `registry/config.go` treats 127.0.0.0/8 as insecure).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.domain)
    }
}

/// Whether `host[:port]` names this machine.
pub fn is_loopback_host(domain: &str) -> bool {
    let host = if let Some(rest) = domain.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        domain.rsplit_once(':').map_or(domain, |(h, _)| h)
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.repository)?;
        match &self.target {
            Target::Tag(t) => write!(f, ":{t}"),
            Target::Digest { digest, tag } => {
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                write!(f, "@{digest}")
            }
        }
    }
}

/// `docker.io`'s rules (distribution `reference/normalize.go` splitDockerDomain).
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DOCKER_HUB {
        DOCKER_HUB.to_string()
    } else {
        domain
    };
    let path = if domain == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

/// `[\w][\w.-]{0,127}`
fn check_tag(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= TAG_MAX
        && t.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || c == '_' || (i > 0 && (c == '.' || c == '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag {t:?} (letters, digits, '_', '.', '-'; at most {TAG_MAX})"
        ))
    }
}

/// A host name or IPv4 address with an optional port, or `[IPv6]:port`.
fn check_domain(d: &str) -> Result<(), String> {
    let bad = || Err(format!("invalid registry host {d:?}"));
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return bad();
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return bad();
        }
        match after {
            "" => return Ok(()),
            p => (None, Some(p.strip_prefix(':').unwrap_or("x"))),
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return bad();
        }
    }
    if let Some(h) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if h.is_empty() || !h.split('.').all(label_ok) {
            return bad();
        }
    }
    Ok(())
}

/// Components of `[a-z0-9]+` joined by `.`, `_`, `__` or `-+`, separated by
/// `/` (distribution `reference/regexp.go` pathComponent).
fn check_path(p: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid repository name {p:?}: {why}"));
    if p.is_empty() {
        return bad("empty");
    }
    for comp in p.split('/') {
        if comp.is_empty() {
            return bad("empty path component");
        }
        if comp.chars().any(|c| c.is_ascii_uppercase()) {
            return bad("repository names must be lowercase");
        }
        let bytes = comp.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return bad("a component must start and end with a letter or digit");
        }
        let mut i = 0;
        while i < bytes.len() {
            if alnum(bytes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let sep = &comp[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return bad(&format!("invalid separator {sep:?}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RegistryRef {
        RegistryRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_defaults() {
        let r = p("alpine");
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        assert_eq!(r.endpoint(), "registry-1.docker.io");
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(
            p("alpine:3.19").to_string(),
            "docker.io/library/alpine:3.19"
        );
        assert_eq!(p("org/app").to_string(), "docker.io/org/app:latest");
        assert_eq!(
            p("docker.io/alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(
            p("index.docker.io/org/app:v1").to_string(),
            "docker.io/org/app:v1"
        );
        assert!(!r.is_loopback());
    }

    #[test]
    fn domains_ports_and_digests() {
        let r = p("localhost:5000/x");
        assert_eq!(
            (r.domain.as_str(), r.repository.as_str()),
            ("localhost:5000", "x")
        );
        assert_eq!(r.endpoint(), "localhost:5000");
        assert!(r.is_loopback());
        let r = p("localhost/a/b:v");
        assert_eq!(r.domain, "localhost");
        assert!(r.is_loopback());
        let r = p("127.0.0.1:41234/ns/img:tag");
        assert_eq!(r.repository, "ns/img");
        assert_eq!(r.target, Target::Tag("tag".into()));
        assert!(r.is_loopback());
        assert!(p("127.9.9.9:1/x").is_loopback());
        assert!(p("[::1]:5000/x").is_loopback());
        assert!(!p("ghcr.io/o/x").is_loopback());
        assert!(!p("128.0.0.1:5000/x").is_loopback());
        // An upper-case first component is a domain, as in docker.
        assert_eq!(p("Myhost/x").domain, "Myhost");
        let dg = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("ghcr.io/o/x@{dg}"));
        assert_eq!(r.manifest_reference(), dg);
        assert_eq!(r.to_string(), format!("ghcr.io/o/x@{dg}"));
        let r = p(&format!("ghcr.io/o/x:v1@{dg}"));
        assert_eq!(r.manifest_reference(), dg);
        assert_eq!(r.to_string(), format!("ghcr.io/o/x:v1@{dg}"));
        assert_eq!(p(&format!("alpine@{dg}")).repository, "library/alpine");
    }

    #[test]
    fn invalid_names_are_refused() {
        for bad in [
            "",
            "Alpine",
            "docker.io/Alpine",
            "a//b",
            "a/",
            "-a",
            "a--/b",
            "a..b",
            "a:",
            "a:-x",
            "a@sha256:abc",
            "a@md5:00",
            "host:99999/x",
            "host:abc/x",
            "ho_st.io/x",
            "[zz]:5000/x",
        ] {
            assert!(RegistryRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
        // Separators the grammar allows.
        for ok in ["a_b", "a__b", "a---b", "a.b", "a-b/c.d_e"] {
            p(ok);
        }
        let e = RegistryRef::parse("Alpine").unwrap_err();
        assert!(e.contains("lowercase"), "{e}");
        let long = format!("x/{}", "a".repeat(300));
        assert!(RegistryRef::parse(&long).is_err());
    }
}
