//! The `docker buildx build` flags that only become frontend options or
//! `Control.Solve` entitlements (`--add-host`, `--shm-size`, `--ulimit`,
//! `--cgroup-parent`, `--no-cache-filter`, `--pull`, `--allow`, `--call`,
//! `--build-context`), each parsed and refused as buildx 0.29 does
//! (`build/opt.go`, `build/utils.go`, `util/buildflags`, docker/cli's
//! `opts`), before anything is sent to the builder.
//!
//! The one idea: each flag is a pure function from its values to frontend
//! options; what a build context needs from the session (a local directory
//! of its own) is handed back for `options::prepare` to serve.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::options::OptionsError;

/// The flags of this module, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct FrontendFlags {
    /// `--add-host host:ip` (or `host=ip`); commas separate values, as
    /// pflag's string slices do.
    pub add_hosts: Vec<String>,
    /// `--shm-size` as given (`64m`, `1g`, bytes).
    pub shm_size: Option<String>,
    /// `--ulimit name=soft[:hard]`.
    pub ulimits: Vec<String>,
    pub cgroup_parent: Option<String>,
    /// `--no-cache-filter STAGE`.
    pub no_cache_filter: Vec<String>,
    /// `--pull`: always resolve base images in the registry.
    pub pull: bool,
    /// `--allow` entitlements (commas separate values).
    pub allow: Vec<String>,
    /// `--call` (`--check` is `--call=check`).
    pub call: Option<String>,
    /// `--build-context NAME=VALUE`.
    pub build_contexts: Vec<String>,
}

/// A `--call` request: the frontend's subrequest, and how buildx prints
/// its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The subrequest's name (`outline`, `targets`, `lint` for `check`,
    /// `subrequests.describe`): `requestid=frontend.NAME`.
    pub name: String,
    /// `format=json`: print `result.json` instead.
    pub json: bool,
    /// `ignorestatus=true`: exit 0 whatever the frontend's status code.
    pub ignore_status: bool,
}

/// The subrequests buildx 0.29 knows how to print (`commands/build.go`
/// `printResult`); `check` is its alias for `lint`.
const CALL_NAMES: &[&str] = &[
    "check",
    "lint",
    "outline",
    "targets",
    "subrequests.describe",
];
const CALL_FORM: &str =
    "expected build, check, outline, targets or subrequests.describe[,format=json][,ignorestatus=BOOL]";

/// The frontend capability a subrequest needs (buildx adds it with
/// `+forward`, `build/build.go`).
pub const CAP_SUBREQUESTS: &str = "moby.buildkit.frontend.subrequests+forward";
/// The frontend capability named contexts need (`build/opt.go`).
pub const CAP_CONTEXTS: &str = "moby.buildkit.frontend.contexts+forward";

fn bad(flag: &'static str, value: &str, reason: impl Into<String>) -> OptionsError {
    OptionsError::Flag {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Split pflag string-slice values on commas (empty parts dropped).
fn comma_list(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Add every flag's frontend options to `opts` and entitlements to
/// `entitlements`; the build contexts' directories go to `local_dirs`, their
/// OCI layouts to `oci_stores` (store id, directory).
pub fn apply(
    f: &FrontendFlags,
    opts: &mut BTreeMap<String, String>,
    entitlements: &mut Vec<String>,
    local_dirs: &mut BTreeMap<String, PathBuf>,
    oci_stores: &mut Vec<(String, PathBuf)>,
) -> Result<(), OptionsError> {
    let hosts = extra_hosts(&f.add_hosts)?;
    if !hosts.is_empty() {
        opts.insert("add-hosts".into(), hosts);
    }
    if let Some(s) = &f.shm_size {
        let n = ram_in_bytes(s).ok_or_else(|| {
            bad(
                "--shm-size",
                s,
                "expected a size in bytes with an optional unit (b, k, m, g, t, p), e.g. 64m",
            )
        })?;
        if n > 0 {
            opts.insert("shm-size".into(), n.to_string());
        }
    }
    let ulimits = ulimits(&f.ulimits)?;
    if !ulimits.is_empty() {
        opts.insert("ulimit".into(), ulimits);
    }
    if let Some(c) = f.cgroup_parent.as_deref().filter(|c| !c.is_empty()) {
        opts.insert("cgroup-parent".into(), c.to_string());
    }
    // `--no-cache` (set already, `""`: every stage) wins over the filter.
    if !f.no_cache_filter.is_empty() && !opts.contains_key("no-cache") {
        opts.insert("no-cache".into(), f.no_cache_filter.join(","));
    }
    if f.pull {
        // pb.AttrImageResolveModeForcePull
        opts.insert("image-resolve-mode".into(), "pull".into());
    }
    for e in comma_list(&f.allow) {
        let e = entitlement(e)?;
        if !entitlements.iter().any(|have| have == e) {
            entitlements.push(e.to_string());
        }
    }
    named_contexts(&f.build_contexts, opts, local_dirs, oci_stores)?;
    let call = match &f.call {
        Some(c) => parse_call(c)?,
        None => None,
    };
    if let Some(c) = &call {
        add_cap(opts, CAP_SUBREQUESTS);
        opts.insert("requestid".into(), format!("frontend.{}", c.name));
    }
    Ok(())
}

/// Append a capability to `frontend.caps`.
fn add_cap(opts: &mut BTreeMap<String, String>, cap: &str) {
    match opts.get_mut("frontend.caps") {
        Some(v) if v.split(',').any(|c| c == cap) => {}
        Some(v) => {
            v.push(',');
            v.push_str(cap);
        }
        None => {
            opts.insert("frontend.caps".into(), cap.to_string());
        }
    }
}

/// `--add-host`: `host:ip` or `host=ip`, the IP possibly in brackets, as
/// BuildKit's csv `host=ip,...` (`toBuildkitExtraHosts`). `host-gateway`
/// needs the worker's gateway label, which archgate does not read: refused.
fn extra_hosts(values: &[String]) -> Result<String, OptionsError> {
    const FORM: &str = "expected host:ip (or host=ip)";
    let mut out = Vec::new();
    for h in comma_list(values) {
        let (host, ip) = h
            .split_once('=')
            .or_else(|| h.split_once(':'))
            .filter(|(host, ip)| !host.is_empty() && !ip.is_empty())
            .ok_or_else(|| bad("--add-host", h, FORM))?;
        if ip == "host-gateway" {
            return Err(bad(
                "--add-host",
                h,
                "host-gateway is not supported by archgate; give the IP",
            ));
        }
        let ip = ip
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(ip);
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(bad("--add-host", h, format!("{ip:?} is not an IP; {FORM}")));
        }
        out.push(format!("{host}={ip}"));
    }
    Ok(out.join(","))
}

/// go-units' `RAMInBytes` (docker/cli's `MemBytes`): a decimal number, an
/// optional space, an optional binary unit `k m g t p` with optional `i`
/// and `b` (`512m`, `1.5g`, `64MiB`, `100`).
fn ram_in_bytes(s: &str) -> Option<i64> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.contains("..") {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let shift = match chars.peek().map(|c| c.to_ascii_lowercase()) {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            chars.next();
            match c {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                _ => 50,
            }
        }
        _ => 0,
    };
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        chars.next();
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let bytes = value * (1u64 << shift) as f64;
    (bytes < i64::MAX as f64).then_some(bytes as i64)
}

/// The ulimit names docker knows (go-units `ulimitNameMapping`).
const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit name=soft[:hard]` (go-units `ParseUlimit`) as BuildKit's csv
/// `name=soft:hard,...`; a later value for a name replaces an earlier one.
fn ulimits(values: &[String]) -> Result<String, OptionsError> {
    const FORM: &str = "expected name=soft[:hard], e.g. nofile=1024:2048";
    let mut by_name = BTreeMap::new();
    for u in values {
        let (name, limits) = u.split_once('=').ok_or_else(|| bad("--ulimit", u, FORM))?;
        if !ULIMIT_NAMES.contains(&name) {
            return Err(bad(
                "--ulimit",
                u,
                format!(
                    "unknown ulimit {name:?}; {FORM} with name one of {}",
                    ULIMIT_NAMES.join(", ")
                ),
            ));
        }
        let parse = |v: &str| v.parse::<i64>().map_err(|_| bad("--ulimit", u, FORM));
        let (soft, hard) = match limits.split(':').collect::<Vec<_>>()[..] {
            [soft] => (parse(soft)?, parse(soft)?),
            [soft, hard] => (parse(soft)?, parse(hard)?),
            _ => return Err(bad("--ulimit", u, FORM)),
        };
        if hard != -1 && soft > hard {
            return Err(bad(
                "--ulimit",
                u,
                format!("the soft limit {soft} is above the hard limit {hard}"),
            ));
        }
        by_name.insert(name.to_string(), format!("{name}={soft}:{hard}"));
    }
    Ok(by_name.into_values().collect::<Vec<_>>().join(","))
}

/// An `--allow` entitlement as BuildKit names it (`util/entitlements`).
fn entitlement(e: &str) -> Result<&str, OptionsError> {
    match e {
        "network.host" | "security.insecure" | "device" => Ok(e),
        _ => Err(bad(
            "--allow",
            e,
            "expected network.host, security.insecure or device",
        )),
    }
}

/// `--call` as buildx parses it (`util/buildflags/printfunc.go`): a name
/// and `format=`/`ignorestatus=` fields; `build` is no call at all.
pub fn parse_call(s: &str) -> Result<Option<Call>, OptionsError> {
    let mut name: Option<&str> = None;
    let mut call = Call {
        name: String::new(),
        json: false,
        ignore_status: false,
    };
    for field in s.split(',') {
        match field.split_once('=') {
            Some(("format", "json")) => call.json = true,
            Some(("format", "text" | "")) => call.json = false,
            Some(("ignorestatus", v)) => {
                call.ignore_status = go_bool(v).ok_or_else(|| bad("--call", s, CALL_FORM))?
            }
            Some(_) => return Err(bad("--call", s, CALL_FORM)),
            None if name.is_none() => name = Some(field),
            None => return Err(bad("--call", s, CALL_FORM)),
        }
    }
    match name {
        None | Some("build") => Ok(None),
        Some(n) if CALL_NAMES.contains(&n) => {
            call.name = if n == "check" { "lint" } else { n }.to_string();
            Ok(Some(call))
        }
        Some(_) => Err(bad("--call", s, CALL_FORM)),
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Whether a context is remote, as buildx's `IsRemoteURL`: an http(s) URL,
/// or a git reference (`git://`, `git@host:`, `ssh://`, a URL ending in
/// `.git` with an optional `#fragment`).
pub fn is_remote_url(s: &str) -> bool {
    s.starts_with("http://")
        || s.starts_with("https://")
        || s.starts_with("git://")
        || s.starts_with("git@")
        || s.starts_with("ssh://")
        || s.starts_with("github.com/")
}

/// `--build-context NAME=VALUE` (`util/buildflags/context.go`, the values
/// as `build/opt.go` passes them): a remote URL, `docker-image://` or
/// `target:` passed through; a directory served as its own local; an
/// `oci-layout://` resolved (`oci_context`) and served as a content store
/// of its own, `oci:ID`.
fn named_contexts(
    values: &[String],
    opts: &mut BTreeMap<String, String>,
    local_dirs: &mut BTreeMap<String, PathBuf>,
    oci_stores: &mut Vec<(String, PathBuf)>,
) -> Result<(), OptionsError> {
    const FORM: &str =
        "expected NAME=PATH|docker-image://REF|oci-layout://DIR[:TAG][@DIGEST]|URL|target:STAGE";
    for v in values {
        let (name, value) = v
            .split_once('=')
            .filter(|(_, value)| !value.is_empty())
            .ok_or_else(|| bad("--build-context", v, FORM))?;
        let name = context_name(name).map_err(|r| {
            bad(
                "--build-context",
                v,
                format!("invalid context name {name:?} ({r}); {FORM}"),
            )
        })?;
        add_cap(opts, CAP_CONTEXTS);
        if let Some(image) = value.strip_prefix("docker-image://") {
            crate::reference::Reference::parse(image).map_err(|r| {
                bad(
                    "--build-context",
                    v,
                    format!("invalid image reference {image:?} ({r}); {FORM}"),
                )
            })?;
            opts.insert(format!("context:{name}"), value.to_string());
            continue;
        }
        if is_remote_url(value) || value.starts_with("target:") {
            opts.insert(format!("context:{name}"), value.to_string());
            continue;
        }
        if let Some(rest) = value.strip_prefix("oci-layout://") {
            let c = super::oci_context::resolve(rest).map_err(|r| bad("--build-context", v, r))?;
            // buildx names the store with `identity.NewID()`.
            let id = crate::buildkit::session::new_id()
                .map_err(|e| bad("--build-context", v, e.to_string()))?;
            opts.insert(
                format!("context:{name}"),
                format!("oci-layout://{id}:{}@{}", c.tag, c.digest),
            );
            oci_stores.push((format!("oci:{id}"), c.dir));
            continue;
        }
        let dir =
            std::path::absolute(value).map_err(|e| bad("--build-context", v, e.to_string()))?;
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(bad("--build-context", v, "not a directory")),
            Err(e) => return Err(bad("--build-context", v, e.to_string())),
        }
        // `context` and `dockerfile` are the build's own locals.
        let local = match name.as_str() {
            "context" | "dockerfile" => format!("_{name}"),
            _ => name.clone(),
        };
        opts.insert(format!("context:{name}"), format!("local:{local}"));
        local_dirs.insert(local, dir);
    }
    Ok(())
}

/// A context name as buildx normalises it (`reference.FamiliarString` of
/// the name, `:latest` dropped): `docker.io/library/alpine:latest` is
/// `alpine`.
fn context_name(name: &str) -> Result<String, String> {
    let r = crate::reference::Reference::parse(name)?;
    let mut out = match r.domain.as_deref() {
        None | Some("docker.io") | Some("index.docker.io") => r
            .path
            .strip_prefix("library/")
            .filter(|p| !p.contains('/'))
            .unwrap_or(&r.path)
            .to_string(),
        Some(d) => format!("{d}/{}", r.path),
    };
    if let Some(t) = r.tag.as_deref().filter(|t| *t != "latest") {
        out.push(':');
        out.push_str(t);
    }
    if let Some(d) = &r.digest {
        out.push('@');
        out.push_str(&d.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn applied(f: &FrontendFlags) -> (BTreeMap<String, String>, Vec<String>) {
        let mut opts = BTreeMap::new();
        let mut ents = Vec::new();
        let mut dirs = BTreeMap::new();
        apply(f, &mut opts, &mut ents, &mut dirs, &mut Vec::new()).unwrap();
        (opts, ents)
    }

    fn refused(f: &FrontendFlags) -> String {
        let mut dirs = BTreeMap::new();
        apply(
            f,
            &mut BTreeMap::new(),
            &mut Vec::new(),
            &mut dirs,
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn add_host_becomes_buildkits_csv() {
        let (o, _) = applied(&FrontendFlags {
            add_hosts: s(&["db:10.0.0.5", "v6=[::1],web:192.168.1.2"]),
            ..Default::default()
        });
        assert_eq!(o["add-hosts"], "db=10.0.0.5,v6=::1,web=192.168.1.2");
        for v in ["db", "db:", ":1.2.3.4", "db:notanip", "db:host-gateway"] {
            let e = refused(&FrontendFlags {
                add_hosts: s(&[v]),
                ..Default::default()
            });
            assert!(e.starts_with("invalid --add-host"), "{v}: {e}");
        }
    }

    #[test]
    fn shm_size_in_bytes_as_go_units_reads_it() {
        for (v, want) in [
            ("64m", Some(67108864)),
            ("1g", Some(1073741824)),
            ("1.5k", Some(1536)),
            ("100", Some(100)),
            ("2MiB", Some(2097152)),
            ("3 kb", Some(3072)),
            ("0", Some(0)),
            ("", None),
            ("m", None),
            ("-1", None),
            ("12x", None),
            ("1.g", None),
        ] {
            assert_eq!(ram_in_bytes(v), want, "{v:?}");
        }
        let (o, _) = applied(&FrontendFlags {
            shm_size: Some("128m".into()),
            ..Default::default()
        });
        assert_eq!(o["shm-size"], "134217728");
        let (o, _) = applied(&FrontendFlags {
            shm_size: Some("0".into()),
            ..Default::default()
        });
        assert!(!o.contains_key("shm-size"));
        let e = refused(&FrontendFlags {
            shm_size: Some("lots".into()),
            ..Default::default()
        });
        assert!(
            e.starts_with("invalid --shm-size \"lots\": expected"),
            "{e}"
        );
    }

    #[test]
    fn ulimits_sorted_hard_defaults_to_soft() {
        let (o, _) = applied(&FrontendFlags {
            ulimits: s(&["nproc=10", "nofile=1024:2048", "nproc=20:-1"]),
            ..Default::default()
        });
        assert_eq!(o["ulimit"], "nofile=1024:2048,nproc=20:-1");
        for v in [
            "nofile",
            "bogus=1",
            "nofile=a",
            "nofile=2:1",
            "nofile=1:2:3",
        ] {
            let e = refused(&FrontendFlags {
                ulimits: s(&[v]),
                ..Default::default()
            });
            assert!(e.starts_with("invalid --ulimit"), "{v}: {e}");
        }
    }

    #[test]
    fn cgroup_parent_no_cache_filter_pull_allow() {
        let (o, ents) = applied(&FrontendFlags {
            cgroup_parent: Some("ci.slice".into()),
            no_cache_filter: s(&["build", "test"]),
            pull: true,
            allow: s(&["network.host,security.insecure", "network.host"]),
            ..Default::default()
        });
        assert_eq!(o["cgroup-parent"], "ci.slice");
        assert_eq!(o["no-cache"], "build,test");
        assert_eq!(o["image-resolve-mode"], "pull");
        assert_eq!(ents, vec!["network.host", "security.insecure"]);
        let e = refused(&FrontendFlags {
            allow: s(&["root"]),
            ..Default::default()
        });
        assert!(e.starts_with("invalid --allow \"root\""), "{e}");
    }

    #[test]
    fn no_cache_wins_over_the_filter() {
        let mut opts = BTreeMap::from([("no-cache".to_string(), String::new())]);
        apply(
            &FrontendFlags {
                no_cache_filter: s(&["build"]),
                ..Default::default()
            },
            &mut opts,
            &mut Vec::new(),
            &mut BTreeMap::new(),
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(opts["no-cache"], "");
    }

    #[test]
    fn call_names_formats_and_the_subrequest_options() {
        assert_eq!(parse_call("build").unwrap(), None);
        let c = parse_call("check").unwrap().unwrap();
        assert_eq!((c.name.as_str(), c.json), ("lint", false));
        let c = parse_call("outline,format=json,ignorestatus=true")
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.name.as_str(), c.json, c.ignore_status),
            ("outline", true, true)
        );
        for v in [
            "bogus",
            "outline,targets",
            "outline,format=yaml",
            "outline,x=1",
        ] {
            let e = parse_call(v).unwrap_err().to_string();
            assert!(e.starts_with("invalid --call"), "{v}: {e}");
        }
        let (o, _) = applied(&FrontendFlags {
            call: Some("targets".into()),
            build_contexts: s(&["base=docker-image://alpine:3"]),
            ..Default::default()
        });
        assert_eq!(o["requestid"], "frontend.targets");
        assert_eq!(
            o["frontend.caps"],
            format!("{CAP_CONTEXTS},{CAP_SUBREQUESTS}")
        );
    }

    #[test]
    fn build_contexts_by_kind() {
        let d = tempfile::tempdir().unwrap();
        let mut opts = BTreeMap::new();
        let mut dirs = BTreeMap::new();
        let values = s(&[
            &format!("src={}", d.path().display()),
            &format!("context={}", d.path().display()),
            "docker.io/library/alpine:latest=docker-image://alpine:3.20",
            "repo=https://example.invalid/repo.git#main:sub",
            "gitssh=git@example.invalid:o/r.git",
            "stage=target:build",
        ]);
        let mut oci = Vec::new();
        named_contexts(&values, &mut opts, &mut dirs, &mut oci).unwrap();
        assert!(oci.is_empty());
        assert_eq!(opts["context:src"], "local:src");
        assert_eq!(opts["context:context"], "local:_context");
        assert_eq!(dirs["src"], d.path());
        assert_eq!(dirs["_context"], d.path());
        assert_eq!(opts["context:alpine"], "docker-image://alpine:3.20");
        assert_eq!(
            opts["context:repo"],
            "https://example.invalid/repo.git#main:sub"
        );
        assert_eq!(opts["context:gitssh"], "git@example.invalid:o/r.git");
        assert_eq!(opts["context:stage"], "target:build");
        assert_eq!(opts["frontend.caps"], CAP_CONTEXTS);
        for v in [
            "noequals",
            "x=",
            "Upper=docker-image://a",
            "x=docker-image://UPPER",
            "x=/nonexistent/dir",
            "x=oci-layout:///nonexistent/layout",
        ] {
            let e = named_contexts(
                &s(&[v]),
                &mut BTreeMap::new(),
                &mut BTreeMap::new(),
                &mut Vec::new(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.starts_with("invalid --build-context"), "{v}: {e}");
        }
    }

    #[test]
    fn an_oci_layout_context_is_a_store_of_its_own_named_as_buildx_names_it() {
        let d = tempfile::tempdir().unwrap();
        let body = b"{}";
        let digest = crate::digest::Digest::sha256_of(body).to_string();
        std::fs::create_dir_all(d.path().join("blobs/sha256")).unwrap();
        std::fs::write(d.path().join("blobs/sha256").join(&digest[7..]), body).unwrap();
        std::fs::write(
            d.path().join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"digest":"{digest}","size":2,"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#
            ),
        )
        .unwrap();
        let mut opts = BTreeMap::new();
        let mut oci = Vec::new();
        let v = format!("base=oci-layout://{}:v1", d.path().display());
        named_contexts(&s(&[&v]), &mut opts, &mut BTreeMap::new(), &mut oci).unwrap();
        assert_eq!(oci.len(), 1);
        let (store, dir) = &oci[0];
        assert_eq!(dir, d.path());
        let id = store.strip_prefix("oci:").unwrap();
        assert_eq!(id.len(), 25);
        assert_eq!(
            opts["context:base"],
            format!("oci-layout://{id}:v1@{digest}")
        );
        assert_eq!(opts["frontend.caps"], CAP_CONTEXTS);
        let e = named_contexts(
            &s(&[&format!(
                "base=oci-layout://{}:v1@sha256:{}",
                d.path().display(),
                "0".repeat(64)
            )]),
            &mut BTreeMap::new(),
            &mut BTreeMap::new(),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("invalid --build-context") && e.contains("has no blob"),
            "{e}"
        );
    }
}
