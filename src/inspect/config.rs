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
