//! The gate: every platform of a build result, judged on the BuildKit
//! gateway before anything is exported. Each platform's image config comes
//! from the result's metadata and its files from a gateway `RootFs`; the
//! inspection engine judges them, and the answer to `Return` follows: the
//! result when every platform passed, else an error naming each failing
//! platform.
//!
//! The one idea: one function (`Gate::judge`) for every runner that holds a
//! result on a gateway: the client-side build of `archgate build` and the
//! frontend image's in-daemon build (`frontend_cmd`). They differ only in
//! how they got the result.

use std::collections::HashMap;

use tokio::sync::mpsc::UnboundedSender;

use crate::buildkit::gateway::{Gateway, GatewayFs};
use crate::buildkit::proto::control::StatusResponse;
use crate::buildkit::proto::gateway::{self as gw, result::Result as ResultArm};
use crate::buildkit::solve::Answer;
use crate::inspect::engine::deep;
use crate::inspect::{self, gate_fails, ImageConfig, Platform, PlatformReport, Verdict};
use crate::rootfs::Kind;

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
    /// ... and finished, with its one-line outcome. `verdict` is `None`
    /// when the platform could not be checked; `fails` says whether the
    /// platform stops the export (the gate rule, [`gate_fails`], with this
    /// build's `strict`; always when it could not be checked).
    CheckDone {
        platform: String,
        verdict: Option<Verdict>,
        fails: bool,
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
    /// `--deep`: every program of the result is judged too (a walk of its
    /// whole tree, bounded by [`MAX_DEEP_ENTRIES`]).
    pub deep: bool,
    pub events: Option<UnboundedSender<Event>>,
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

        // Build every platform now (all at once), so a failing step is a
        // build error rather than a read error in the middle of an
        // inspection.
        let evaluated =
            futures::future::try_join_all(refs.iter().map(|(_, id)| gw.evaluate(id, has_evaluate)));
        if let Err(s) = evaluated.await {
            return build_failed(s);
        }

        // Every platform checked at once; the answers in platform order.
        let checked = futures::future::join_all(
            parsed
                .iter()
                .map(|(key, platform, id)| self.check(gw, &res.metadata, key, platform, id)),
        )
        .await;
        let mut reports = Vec::new();
        for ((key, _, _), outcome) in parsed.iter().zip(checked) {
            match outcome {
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
                Ok(cfg) => {
                    let fs = gw.rootfs(id);
                    match inspect::inspect(&cfg, platform, &fs).await {
                        Err(e) => Err(format!("{e:#}")),
                        Ok(report) if !self.deep => Ok(report),
                        Ok(mut report) => match deep_walk(platform, &fs).await {
                            Ok(findings) => {
                                findings.fold(&mut report, platform);
                                Ok(report)
                            }
                            Err(e) => Err(e),
                        },
                    }
                }
            },
        };
        match outcome {
            Ok(mut report) => {
                report.check_micros = Some(started.elapsed().as_micros() as u64);
                self.send(Event::CheckDone {
                    platform: key.to_string(),
                    verdict: Some(report.verdict),
                    fails: gate_fails(report.verdict, self.strict),
                    summary: format!("{}: {}", report.verdict.as_str(), report.message),
                });
                Ok(report)
            }
            Err(message) => {
                self.send(Event::CheckDone {
                    platform: key.to_string(),
                    verdict: None,
                    fails: true,
                    summary: message.clone(),
                });
                Err(message)
            }
        }
    }
}

/// Entries (files, directories, links) `--deep` walks in one platform's
/// result at most: a bound on the gateway calls and the time, not on what
/// real images hold (a full Debian with a JDK and Go has about 10,000).
pub const MAX_DEEP_ENTRIES: usize = 1_000_000;

/// Gateway calls `--deep` keeps in flight (each is a round trip to the
/// daemon; the daemon reads the snapshot in parallel).
const DEEP_CONCURRENCY: usize = 16;

/// `--deep` on a build result: walk its whole tree with gateway `ReadDir`
/// (links are not followed: each file is seen once, at its own path), then
/// judge every candidate file (`deep::is_candidate`) from ranged reads of
/// the bytes identification needs; each distinct loader or `#!` line is
/// judged once for all the files that share it.
async fn deep_walk(platform: &Platform, fs: &GatewayFs) -> Result<deep::Findings, String> {
    use futures::stream::{self, FuturesUnordered, StreamExt};
    let err = |e: &dyn std::fmt::Display| format!("{e:#}");
    let mut candidates: Vec<(Vec<u8>, crate::rootfs::Entry)> = Vec::new();
    let mut todo: Vec<Vec<u8>> = vec![b"/".to_vec()];
    let mut listing = FuturesUnordered::new();
    let mut seen = 0usize;
    let mut unlisted: Vec<String> = Vec::new();
    let mut ld_seen = crate::inspect::ldpath::Seen::default();
    let walk_started = std::time::Instant::now();
    loop {
        while listing.len() < DEEP_CONCURRENCY {
            let Some(dir) = todo.pop() else { break };
            listing.push(async move {
                let r = fs.read_dir(&dir).await;
                (dir, r)
            });
        }
        let Some((dir, entries)) = listing.next().await else {
            break;
        };
        let Some(entries) = entries.map_err(|e| err(&e))? else {
            let d = crate::rootfs::display(&dir);
            unlisted.push(format!(
                "--deep: {d} holds a name that is not UTF-8, which the gateway's ReadDir \
                 cannot carry (fsutil Stat.path is a string): that directory is not walked"
            ));
            continue;
        };
        seen += entries.len();
        if seen > MAX_DEEP_ENTRIES {
            return Err(format!(
                "--deep: the result has more than {MAX_DEEP_ENTRIES} files and directories \
                 (archgate walks at most that many)"
            ));
        }
        for (name, entry) in entries {
            let mut path = dir.clone();
            if path != b"/" {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            match entry.kind {
                Kind::Dir => todo.push(path),
                Kind::File if deep::is_candidate(&name, &entry) => {
                    ld_seen.saw(&path, Kind::File);
                    candidates.push((path, entry));
                }
                k => ld_seen.saw(&path, k),
            }
        }
    }
    tracing::debug!(
        entries = seen,
        candidates = candidates.len(),
        elapsed = ?walk_started.elapsed(),
        "--deep: walked the result"
    );
    let mut judged = stream::iter(candidates.iter())
        .map(|(path, entry)| async move {
            deep::inspect_file(platform, fs, path, entry, false)
                .await
                .map(|f| (path, f))
        })
        .buffer_unordered(DEEP_CONCURRENCY);
    let mut completer = deep::Completer::default();
    let mut findings = deep::Findings::default();
    for n in unlisted {
        findings.note(n);
    }
    let mut placed = Vec::new();
    while let Some(r) = judged.next().await {
        let (path, f) = r.map_err(|e| err(&e))?;
        match f {
            Some(f) if f.placed => placed.push((path, f)),
            Some(f) => {
                let f = completer
                    .complete(platform, fs, path, f)
                    .await
                    .map_err(|e| err(&e))?;
                findings.add(f);
            }
            None => {}
        }
    }
    drop(judged);
    // Libraries for another machine: where the loader finds them by
    // itself, read once when there is one.
    if !placed.is_empty() {
        let dirs = crate::inspect::ldpath::LoaderDirs::load(platform, fs, &ld_seen)
            .await
            .map_err(|e| err(&e))?;
        for (path, mut f) in placed {
            deep::place(&mut f, platform, dirs.searches(path));
            findings.add(f);
        }
        for n in dirs.notes {
            findings.note(n);
        }
    }
    Ok(findings)
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
