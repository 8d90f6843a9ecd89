//! The parts of an OCI/Docker image config that decide what the runtime runs.
//!
//! The one idea: parse leniently (Docker and OCI spell the same fields the same
//! way, and unknown fields are ignored) but never guess: a missing field is
//! `None`, and the runtime defaults are applied where the runtime applies them.

use super::platform::Platform;
use serde::Deserialize;

/// What the engine needs from an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// Docker's `Healthcheck.Test`: `["CMD", prog, ...]`, `["CMD-SHELL", cmd]`,
    /// `["NONE"]`.
    pub healthcheck: Option<Vec<String>>,
    /// Docker's `Shell` (the SHELL instruction), used by CMD-SHELL
    /// healthchecks; empty means `/bin/sh -c`.
    pub shell: Vec<String>,
    /// `User` (the USER instruction): `user`, `uid`, `user:group`, ...;
    /// empty is root.
    pub user: String,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed image config: {0}")]
pub struct ConfigError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<RawRuntime>,
}

#[derive(Deserialize, Default)]
struct RawRuntime {
    #[serde(rename = "Entrypoint", default)]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default)]
    env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    working_dir: Option<String>,
    #[serde(rename = "Healthcheck", default)]
    healthcheck: Option<RawHealth>,
    #[serde(rename = "Shell", default)]
    shell: Option<Vec<String>>,
    #[serde(rename = "User", default)]
    user: Option<String>,
}

#[derive(Deserialize)]
struct RawHealth {
    #[serde(rename = "Test", default)]
    test: Option<Vec<String>>,
}

impl ImageConfig {
    /// Parse an image config blob (`application/vnd.oci.image.config.v1+json`
    /// or Docker's `container.image.v1+json`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_slice(bytes)?;
        let rt = raw.config.unwrap_or_default();
        Ok(ImageConfig {
            os: raw.os,
            architecture: raw.architecture,
            variant: raw.variant.filter(|v| !v.is_empty()),
            entrypoint: rt.entrypoint.unwrap_or_default(),
            cmd: rt.cmd.unwrap_or_default(),
            env: rt.env.unwrap_or_default(),
            working_dir: rt.working_dir.filter(|w| !w.is_empty()),
            healthcheck: rt.healthcheck.and_then(|h| h.test),
            shell: rt.shell.unwrap_or_default(),
            user: rt.user.unwrap_or_default(),
        })
    }

    /// The platform the config itself claims.
    pub fn platform(&self) -> Platform {
        Platform::new(
            if self.os.is_empty() {
                "linux"
            } else {
                &self.os
            },
            &self.architecture,
            self.variant.as_deref(),
        )
    }

    /// The value of `name` in Env (last one wins, as in Docker).
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then_some(v)
        })
    }

    /// The environment Docker gives the container's process, before runc
    /// sets it (moby container/container.go `CreateDaemonEnvironment`):
    /// `PATH` (Docker's default) and `HOSTNAME` first, then the image's Env
    /// merged by `ReplaceOrAppendEnvValues` (container/env.go): `K=V`
    /// replaces a default of that name or is appended; a bare `K` (no `=`)
    /// removes a default of that name (`Env ["PATH"]` unsets PATH), and is
    /// otherwise dropped. Only the defaults are looked at for replacing and
    /// removing, so a repeated image variable is appended twice (runc sets
    /// them in order: the last one wins). HOSTNAME's value is the container
    /// ID's first 12 hex digits, unknown here: a placeholder of that length.
    pub fn process_env(&self) -> Vec<String> {
        let mut env: Vec<Option<String>> = vec![
            Some(format!("PATH={}", super::resolve::DEFAULT_PATH)),
            Some("HOSTNAME=000000000000".to_string()),
        ];
        let defaults: Vec<String> = ["PATH", "HOSTNAME"].map(String::from).to_vec();
        for kv in &self.env {
            match kv.split_once('=') {
                None => {
                    if let Some(i) = defaults.iter().position(|d| d == kv) {
                        env[i] = None;
                    }
                }
                Some((k, _)) => match defaults.iter().position(|d| d == k) {
                    Some(i) => env[i] = Some(kv.clone()),
                    None => env.push(Some(kv.clone())),
                },
            }
        }
        env.into_iter().flatten().collect()
    }
}

/// The value of `name` in a process environment as runc leaves it: runc's
/// init sets each `K=V` in order with Go's `os.Setenv`
/// (opencontainers/runc libcontainer/init_linux.go
/// `populateProcessEnvironment`), so the last one wins.
pub fn env_lookup<'e>(env: &'e [String], name: &str) -> Option<&'e str> {
    env.iter().rev().find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Whether a Go program turns `exec.ErrDot` off through
/// `GODEBUG=execerrdot=0`, as the Go release it was built with parses
/// GODEBUG: the setting's name must match exactly (no blanks trimmed), its
/// value must be exactly `0`, and when the name repeats Go 1.19 and 1.20
/// take the first (internal/godebug `get`, which scans forward for the name
/// at the start or after a comma) and Go 1.21 and later the last (the
/// runtime parses GODEBUG from its end, internal/godebug `update`).
/// `go_minor` is the Go 1.x release when known. `None`: it depends on the
/// Go release, which is not known.
pub fn errdot_off(godebug: Option<&str>, go_minor: Option<u32>) -> Option<bool> {
    let Some(g) = godebug else {
        return Some(false);
    };
    let values: Vec<&str> = g
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "execerrdot")
        .map(|(_, v)| v)
        .collect();
    let (Some(first), Some(last)) = (values.first(), values.last()) else {
        return Some(false);
    };
    let (first, last) = (*first == "0", *last == "0");
    match go_minor {
        Some(m) if m <= 20 => Some(first),
        Some(_) => Some(last),
        None if first == last => Some(first),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_config() {
        let j = br#"{"architecture":"arm64","os":"linux","variant":"v8","config":{"Entrypoint":["/tini","--"],"Cmd":["app"],"Env":["PATH=/x:/y","A=1","PATH=/z"],"WorkingDir":"/srv","Healthcheck":{"Test":["CMD","/bin/check"]}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::from_json(j).unwrap();
        assert_eq!(c.entrypoint, vec!["/tini", "--"]);
        assert_eq!(c.cmd, vec!["app"]);
        assert_eq!(c.env_var("PATH"), Some("/z"));
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            c.healthcheck.as_deref(),
            Some(&["CMD".to_string(), "/bin/check".to_string()][..])
        );
        assert_eq!(c.platform().to_string(), "linux/arm64");
    }

    /// moby's `ReplaceOrAppendEnvValues`: a bare name unsets a default,
    /// `K=V` replaces it, other variables are appended.
    #[test]
    fn process_env_merges_as_docker_does() {
        let c = |env: &[&str]| ImageConfig {
            env: env.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let e = c(&["PATH"]).process_env();
        assert_eq!(env_lookup(&e, "PATH"), None);
        let e = c(&["A=1", "PATH=/x", "A=2"]).process_env();
        assert_eq!(env_lookup(&e, "PATH"), Some("/x"));
        assert_eq!(env_lookup(&e, "A"), Some("2"));
        assert_eq!(e[0], "PATH=/x");
        // `PATH=/x` then `PATH`: the default entry (now /x) is removed.
        let e = c(&["PATH=/x", "PATH"]).process_env();
        assert_eq!(env_lookup(&e, "PATH"), None);
        // A bare name that is no default is dropped, not an unset.
        let e = c(&["A=1", "A"]).process_env();
        assert_eq!(env_lookup(&e, "A"), Some("1"));
        let e = c(&[]).process_env();
        assert!(env_lookup(&e, "PATH")
            .unwrap()
            .starts_with("/usr/local/sbin"));
    }

    /// Go's GODEBUG parsing: exact names, exact value, first or last wins.
    #[test]
    fn execerrdot_is_parsed_as_go_does() {
        for (g, want) in [
            ("execerrdot=0", Some(true)),
            (" execerrdot=0", Some(false)),
            ("a=1, execerrdot=0", Some(false)),
            ("a=1,execerrdot=0", Some(true)),
            ("execerrdot=0 ", Some(false)),
            ("execerrdot=00", Some(false)),
            ("execerrdot=1", Some(false)),
            ("xexecerrdot=0", Some(false)),
            ("execerrdot=0,execerrdot=1", None),
            ("execerrdot=1,execerrdot=0", None),
            ("execerrdot=0,execerrdot=0", Some(true)),
        ] {
            assert_eq!(errdot_off(Some(g), None), want, "{g:?}");
        }
        assert_eq!(
            errdot_off(Some("execerrdot=0,execerrdot=1"), Some(19)),
            Some(true)
        );
        assert_eq!(
            errdot_off(Some("execerrdot=0,execerrdot=1"), Some(22)),
            Some(false)
        );
        assert_eq!(errdot_off(None, None), Some(false));
    }

    #[test]
    fn null_fields_are_empty() {
        let c = ImageConfig::from_json(
            br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":null,"Cmd":null}}"#,
        )
        .unwrap();
        assert!(c.entrypoint.is_empty() && c.cmd.is_empty());
        assert!(ImageConfig::from_json(b"{").is_err());
        assert!(ImageConfig::from_json(br#"{"config":{"Cmd":"sh"}}"#).is_err());
    }
}
