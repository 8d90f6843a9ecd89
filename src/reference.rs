//! Image references as docker reads them, `[DOMAIN/]PATH[:TAG][@DIGEST]`:
//! the one grammar behind `docker://`, `docker-daemon:` and `build -t`
//! (distribution `reference/regexp.go`, `reference/normalize.go`), with
//! Docker Hub's defaults filled in for registries (`alpine` is
//! `docker.io/library/alpine:latest`).
//!
//! The one idea: split off the domain exactly where docker does (a first
//! component with a `.` or a `:`, `localhost`, or one with upper case), then
//! validate each part against the distribution grammar, so a name that docker
//! accepts means the same repository here and nothing else gets through.
//! Digests are those archgate can verify, the algorithms the OCI image spec
//! registers (image-spec `descriptor.md`: sha256, sha512); docker's
//! go-digest also registers sha384, which is refused here, for every reader
//! alike.

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

/// A reference as written, every part validated, nothing filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host, when the name has one (`ghcr.io`,
    /// `localhost:5000`, `[::1]:5000`, `Myhost`).
    pub domain: Option<String>,
    /// `alpine`, `org/app`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse `NAME[:TAG][@DIGEST]` as docker does. The error is a reason,
    /// for the caller to put next to the reference.
    pub fn parse(s: &str) -> Result<Reference, String> {
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
        if let Some(d) = domain {
            check_domain(d)?;
        }
        check_path(path)?;
        let r = Reference {
            domain: domain.map(str::to_string),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest,
        };
        let (domain, repository) = r.normalized_name();
        if domain.len() + 1 + repository.len() > NAME_MAX {
            return Err(format!("repository name longer than {NAME_MAX} characters"));
        }
        Ok(r)
    }

    /// The domain and repository with Docker Hub's defaults: `docker.io`
    /// for no domain (also for `index.docker.io`), `library/` for a
    /// one-component name on Docker Hub.
    fn normalized_name(&self) -> (String, String) {
        let domain = match self.domain.as_deref() {
            None | Some(LEGACY_DOCKER_HUB) => DOCKER_HUB,
            Some(d) => d,
        };
        let repository = if domain == DOCKER_HUB && !self.path.contains('/') {
            format!("{OFFICIAL_PREFIX}{}", self.path)
        } else {
            self.path.clone()
        };
        (domain.to_string(), repository)
    }

    /// The reference a registry is asked about.
    pub fn normalized(self) -> RegistryRef {
        let (domain, repository) = self.normalized_name();
        let target = match self.digest {
            Some(digest) => Target::Digest {
                digest,
                tag: self.tag,
            },
            None => Target::Tag(self.tag.unwrap_or_else(|| DEFAULT_TAG.to_string())),
        };
        RegistryRef {
            domain,
            repository,
            target,
        }
    }
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
        Reference::parse(s).map(Reference::normalized)
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

/// Where the domain ends (distribution `reference/normalize.go`
/// splitDockerDomain): a first component with a `.` or a `:`, `localhost`,
/// or one with upper case, is a domain.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
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
            // distribution `reference/errors.go` ErrNameContainsUppercase.
            return Err("repository name must be lowercase".into());
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

    #[test]
    fn build_tags_like_docker() {
        for good in [
            "app",
            "app:1.0",
            "library/app",
            "reg.example/app",
            "reg.example:5000/team/app:v1",
            "localhost:5000/app",
            "Reg.Example/app",
            "[::1]:5000/app",
            "a__b/c-d.e_f/g---h",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "App",
            "app:",
            "app:-x",
            "app/",
            "/app",
            "a..b",
            "app@sha256:short",
            "app:tag with space",
            "reg.example:port/app",
            "-app",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    /// `docker://`, `docker-daemon:` and `-t` used to disagree on these.
    #[test]
    fn one_grammar_for_every_reader() {
        let dg = format!("sha256:{}", "a".repeat(64));
        // Upper case in the first component makes it a domain, as in docker.
        let r = Reference::parse("Myhost/x").unwrap();
        assert_eq!(
            (r.domain.as_deref(), r.path.as_str()),
            (Some("Myhost"), "x")
        );
        let r = Reference::parse("[::1]:5000/app").unwrap();
        assert_eq!(r.domain.as_deref(), Some("[::1]:5000"));
        assert!(r.tag.is_none() && r.digest.is_none());
        // Only the digests archgate can verify, whoever reads them.
        for bad in [
            format!("app@sha384:{}", "a".repeat(96)),
            format!("app@sha256+b64:{}", "a".repeat(64)),
            "app@foo:0123456789abcdef0123456789abcdef".to_string(),
            format!("app@sha256:{}", "A".repeat(64)),
        ] {
            assert!(Reference::parse(&bad).is_err(), "{bad}");
        }
        let r = Reference::parse(&format!("app:v1@{dg}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.map(|d| d.to_string()), Some(dg.clone()));
        assert!(Reference::parse(&format!("app@sha512:{}", "b".repeat(128))).is_ok());
        // What is kept as written, and what registries are asked.
        let r = Reference::parse("alpine").unwrap();
        assert_eq!((r.domain.as_deref(), r.path.as_str()), (None, "alpine"));
        assert_eq!(
            r.normalized().to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(
            Reference::parse("Bad/Name:x").unwrap_err(),
            "repository name must be lowercase"
        );
    }
}
