//! The gate: every platform of a build result, judged on the BuildKit
//! gateway before anything is exported. Each platform's image config comes
//! from the result's metadata and its files from a gateway `RootFs`; the
//! inspection engine judges them, and the answer to `Return` follows: the
//! result when every platform passed, else an error naming each failing
//! platform.
//!
//! The one idea: one function (`Gate::judge`) for every runner that holds a
//! result on a gateway: the client-side build of `archgate build` now, the
//! frontend image later. They differ only in how they got the result.

use std::collections::HashMap;

use tokio::sync::mpsc::UnboundedSender;

use crate::buildkit::gateway::Gateway;
use crate::buildkit::proto::control::StatusResponse;
use crate::buildkit::proto::gateway::{self as gw, result::Result as ResultArm};
use crate::buildkit::solve::Answer;
use crate::inspect::{self, ImageConfig, Platform, PlatformReport, Verdict};

/// Metadata keys of a `dockerfile.v0` result (buildkit
/// `exporter/containerimage/exptypes/types.go`).
const MD_CONFIG: &str = "containerimage.config";
const MD_PLATFORMS: &str = "refs.platforms";

/// What a gated build reports while it runs, for the progress display.
#[derive(Debug, Clone)]
pub enum Event {
    /// A `Control.Status` message from the daemon.
    Status(Box<StatusResponse>),
    /// archgate's own check of one platform started.
    CheckStarted { platform: String },
    /// ... and finished, with its one-line outcome.
    CheckDone {
        platform: String,
        verdict: Option<Verdict>,
        summary: String,
    },
}

/// What the gate decided; the error returned to the daemon says the same.
#[derive(Debug)]
pub enum Decision {
    /// Every platform passed: the result was let through.
    Pass(Vec<PlatformReport>),
    /// Some platform failed (with `strict`, warned or was skipped too): the
    /// reports say why. Nothing is exported.
    Fail(Vec<PlatformReport>),
    /// The build itself failed, or built something else than asked: this
    /// error, BuildKit's details kept, fails the solve.
    BuildFailed(tonic::Status),
    /// A platform could not be checked (could not decide).
    Undecided { platform: String, message: String },
}

/// The gate of one build.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The platforms asked for; empty: whichever single platform the daemon
    /// builds by default.
    pub platforms: Vec<Platform>,
    /// The daemon's default platform (its first worker's first).
    pub default_platform: Platform,
    /// Warnings and skips fail the gate too.
    pub strict: bool,
    pub events: Option<UnboundedSender<Event>>,
}

/// Whether a platform verdict stops the export.
pub fn gate_fails(v: Verdict, strict: bool) -> bool {
    match v {
        Verdict::Fail => true,
        Verdict::Warn | Verdict::Skip => strict,
        Verdict::Pass => false,
    }
}

/// The answer for a build that failed before the gate: its error, returned
/// as is, so the solve fails with it.
pub fn build_failed(s: tonic::Status) -> Answer<Decision> {
    Answer {
        ret: Err(s.clone()),
        value: Decision::BuildFailed(s),
    }
}

/// `linux/amd64,linux/arm64`, as the `platform` frontend option takes them.
pub fn platform_list(p: &[Platform]) -> String {
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl Gate {
    /// The platforms to build: those asked for, else the default one. One
    /// platform gives a single ref (so exporters write a plain manifest, as
    /// buildx does), several a map keyed by platform.
    pub fn targets(&self) -> Vec<Platform> {
        if self.platforms.is_empty() {
            vec![self.default_platform.clone()]
        } else {
            self.platforms.clone()
        }
    }

    fn send(&self, e: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }

    /// Judge `res`, the result of a Dockerfile solve on `gw` (not yet
    /// returned). `has_evaluate`: the daemon has the gateway's `Evaluate`.
    pub async fn judge(
        &self,
        gw: &Gateway,
        res: gw::Result,
        has_evaluate: bool,
    ) -> Answer<Decision> {
        let targets = self.targets();
        let refs: Vec<(String, String)> = match &res.result {
            Some(ResultArm::Refs(m)) => {
                let mut v: Vec<_> = m
                    .refs
                    .iter()
                    .map(|(k, r)| (k.clone(), r.id.clone()))
                    .collect();
                v.sort();
                v
            }
            Some(ResultArm::Ref(r)) => vec![(single_key(&res.metadata, &targets[0]), r.id.clone())],
            _ => {
                return build_failed(tonic::Status::internal(
                    "the Dockerfile frontend returned no result refs",
                ))
            }
        };

        // The result must be exactly the platforms asked for: a platform
        // judged against a different one than it claims would make the gate
        // meaningless (a custom `# syntax=` frontend could return anything).
        let mut parsed = Vec::new();
        for (key, id) in &refs {
            match Platform::parse(key) {
                Ok(p) => parsed.push((key.clone(), p, id.clone())),
                Err(e) => {
                    return build_failed(tonic::Status::failed_precondition(format!(
                    "archgate: the frontend returned a result for an unknown platform {key:?}: {e}"
                )))
                }
            }
        }
        let mut got: Vec<String> = parsed.iter().map(|(_, p, _)| p.to_string()).collect();
        let mut asked: Vec<String> = targets.iter().map(|p| p.to_string()).collect();
        got.sort();
        asked.sort();
        if self.platforms.is_empty() && got.len() == 1 {
            // No --platform: whatever single platform the daemon defaulted to.
        } else if got != asked {
            return build_failed(tonic::Status::failed_precondition(format!(
                "archgate: the frontend built {} but {} was asked for",
                got.join(","),
                asked.join(",")
            )));
        }

        // Build every platform now, so a failing step is a build error
        // rather than a read error in the middle of an inspection.
        for (_, id) in &refs {
            if let Err(s) = gw.evaluate(id, has_evaluate).await {
                return build_failed(s);
            }
        }

        let mut reports = Vec::new();
        for (key, platform, id) in &parsed {
            match self.check(gw, &res.metadata, key, platform, id).await {
                Ok(report) => reports.push(report),
                Err(message) => {
                    let status = tonic::Status::failed_precondition(format!(
                        "archgate could not check {key}: {message}"
                    ));
                    return Answer {
                        ret: Err(status),
                        value: Decision::Undecided {
                            platform: key.clone(),
                            message,
                        },
                    };
                }
            }
        }

        let failing: Vec<&PlatformReport> = reports
            .iter()
            .filter(|r| gate_fails(r.verdict, self.strict))
            .collect();
        if failing.is_empty() {
            return Answer {
                ret: Ok(res),
                value: Decision::Pass(reports),
            };
        }
        let list: Vec<String> = failing
            .iter()
            .map(|r| format!("{}: {} ({})", r.platform, r.reason.as_str(), r.message))
            .collect();
        let status = tonic::Status::failed_precondition(format!(
            "archgate: gate failed, nothing exported: {}",
            list.join("; ")
        ));
        Answer {
            ret: Err(status),
            value: Decision::Fail(reports),
        }
    }

    /// One platform: its config from the result's metadata, its programs
    /// through the ref's `RootFs`. The error says why it could not be
    /// checked.
    async fn check(
        &self,
        gw: &Gateway,
        metadata: &HashMap<String, Vec<u8>>,
        key: &str,
        platform: &Platform,
        id: &str,
    ) -> Result<PlatformReport, String> {
        let config_key = format!("{MD_CONFIG}/{key}");
        let raw = metadata
            .get(&config_key)
            .or_else(|| metadata.get(MD_CONFIG));
        self.send(Event::CheckStarted {
            platform: key.to_string(),
        });
        let started = std::time::Instant::now();
        let outcome = match raw {
            None => Err(format!(
                "the build result has no image config ({config_key})"
            )),
            Some(raw) => match ImageConfig::from_json(raw) {
                Err(e) => Err(format!("image config: {e}")),
                Ok(cfg) => inspect::inspect(&cfg, platform, &gw.rootfs(id))
                    .await
                    .map_err(|e| format!("{e:#}")),
            },
        };
        match outcome {
            Ok(mut report) => {
                report.check_micros = Some(started.elapsed().as_micros() as u64);
                self.send(Event::CheckDone {
                    platform: key.to_string(),
                    verdict: Some(report.verdict),
                    summary: format!("{}: {}", report.verdict.as_str(), report.message),
                });
                Ok(report)
            }
            Err(message) => {
                self.send(Event::CheckDone {
                    platform: key.to_string(),
                    verdict: None,
                    summary: message.clone(),
                });
                Err(message)
            }
        }
    }
}

/// The platform id of a single-ref result: the one `refs.platforms` names
/// (BuildKit v0.11+), else the platform asked for.
fn single_key(md: &HashMap<String, Vec<u8>>, asked: &Platform) -> String {
    #[derive(serde::Deserialize)]
    struct Platforms {
        #[serde(rename = "Platforms")]
        platforms: Vec<Id>,
    }
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "ID")]
        id: String,
    }
    md.get(MD_PLATFORMS)
        .and_then(|b| serde_json::from_slice::<Platforms>(b).ok())
        .and_then(|p| (p.platforms.len() == 1).then(|| p.platforms[0].id.clone()))
        .unwrap_or_else(|| asked.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_blocks_fail_always_and_warn_only_when_strict() {
        assert!(gate_fails(Verdict::Fail, false));
        assert!(!gate_fails(Verdict::Warn, false));
        assert!(gate_fails(Verdict::Warn, true));
        assert!(gate_fails(Verdict::Skip, true));
        assert!(!gate_fails(Verdict::Pass, true));
    }
}
