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

use std::collections::{BTreeMap, HashMap};

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

/// Gateway caps (buildkit `frontend/gateway/pb/caps.go`): the three the
/// gate needs, and those it uses when the daemon has them.
pub const CAP_REFARRAY: &str = "proto.refarray";
pub const CAP_RETURNMAP: &str = "returnmap";
pub const CAP_READDIR: &str = "readdir";
pub const CAP_EVALUATE: &str = "gateway.evaluate";
pub const CAP_INPUTS: &str = "frontend.inputs";
pub const CAP_WARNINGS: &str = "gateway.warnings";

/// The first cap the gate needs (results as a ref map, returned, read with
/// ReadDir) that the daemon's enabled `caps` lack.
pub fn missing_cap(caps: &[String]) -> Option<&'static str> {
    [CAP_REFARRAY, CAP_RETURNMAP, CAP_READDIR]
        .into_iter()
        .find(|need| !caps.iter().any(|c| c == need))
}

/// The solve that has `frontend` (`dockerfile.v0`, or `gateway.v0` with a
/// `source` image) build the Dockerfile with `opts` and `inputs`, and
/// hand the result back instead of exporting it.
pub fn forward_solve(
    frontend: &str,
    opts: BTreeMap<String, String>,
    inputs: HashMap<String, Vec<u8>>,
) -> gw::SolveRequest {
    gw::SolveRequest {
        frontend: frontend.into(),
        frontend_opt: opts.into_iter().collect(),
        allow_result_return: true,
        allow_result_array_ref: true,
        frontend_inputs: inputs,
        // Not `evaluate`: BuildKit v0.11-v0.12 dereference a nil ref when it
        // is set on a multi-platform frontend solve (fixed in v0.13, buildkit
        // #4544). The gate evaluates each ref on its own instead.
        ..Default::default()
    }
}

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
    /// Some platform could not be checked (could not decide): `undecided`
    /// says which and why (in platform order), `reports` holds the
    /// platforms that were.
    Undecided {
        undecided: Vec<(String, String)>,
        reports: Vec<PlatformReport>,
    },
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
            // A platform asked for twice (`linux/arm64,linux/arm64/v8`) is
            // built once, as BuildKit does.
            let mut out: Vec<Platform> = Vec::new();
            for p in &self.platforms {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            out
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
        let refs = match result_platforms(&res, &targets[0]) {
            Ok(refs) => refs,
            Err(message) => return build_failed(own_error(format!("archgate: {message}"))),
        };

        // The result must be exactly the platforms asked for: a platform
        // judged against a different one than it claims would make the gate
        // meaningless (a custom `# syntax=` frontend could return anything).
        let mut got: Vec<&Platform> = refs.iter().map(|r| &r.platform).collect();
        let mut asked: Vec<&Platform> = targets.iter().collect();
        got.sort();
        got.dedup();
        asked.sort();
        if self.platforms.is_empty() && refs.len() == 1 {
            // No --platform: whatever single platform the daemon defaulted to.
        } else if got != asked || got.len() != refs.len() {
            let list = |v: &[&Platform]| {
                v.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let built: Vec<&Platform> = refs.iter().map(|r| &r.platform).collect();
            return build_failed(own_error(format!(
                "archgate: the frontend built {} but {} was asked for",
                list(&built),
                list(&asked)
            )));
        }

        // Build every platform now (all at once), so a failing step is a
        // build error rather than a read error in the middle of an
        // inspection; the error shown is the first platform's that failed.
        let evaluated =
            futures::future::join_all(refs.iter().map(|r| gw.evaluate(&r.id, has_evaluate))).await;
        if let Some(Err(s)) = evaluated.into_iter().find(Result::is_err) {
            return build_failed(s);
        }

        // Every platform checked at once; the answers in platform order.
        let checked = futures::future::join_all(
            refs.iter()
                .map(|r| self.check(gw, &res.metadata, &r.key, &r.platform, &r.id)),
        )
        .await;
        let mut reports = Vec::new();
        let mut undecided = Vec::new();
        for (r, outcome) in refs.iter().zip(checked) {
            match outcome {
                Ok(report) => reports.push(report),
                Err(message) => undecided.push((r.platform.to_string(), message)),
            }
        }
        if !undecided.is_empty() {
            let list: Vec<String> = undecided
                .iter()
                .map(|(p, m)| format!("archgate could not check {p}: {m}"))
                .collect();
            return Answer {
                ret: Err(own_error(list.join("; "))),
                value: Decision::Undecided { undecided, reports },
            };
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
        let status = own_error(format!(
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

/// Directory levels `--deep` walks at most through the gateway: BuildKit's
/// `ReadDir` of a path costs in proportion to its depth, so a chain of
/// thousands of nested folders took minutes (a red-team run: 1,000 levels
/// 76 s); programs that deep are not where images keep them.
const MAX_DEEP_DEPTH: usize = 64;

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
    let mut too_deep = 0usize;
    let depth = |p: &[u8]| p.iter().filter(|&&b| b == b'/').count();
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
                Kind::Dir if depth(&path) > MAX_DEEP_DEPTH => too_deep += 1,
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
    if too_deep > 0 {
        findings.note(format!(
            "--deep: {too_deep} directories more than {MAX_DEEP_DEPTH} levels deep are not \
             walked (each level is a round trip to the daemon)"
        ));
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

/// One platform of a build result: its key in the result (and in the
/// metadata's per-platform keys), the platform its image will be exported
/// as, and its ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultPlatform {
    pub key: String,
    pub platform: Platform,
    pub id: String,
}

/// The platforms of a Dockerfile result, in key order. Each ref is judged
/// as the platform the exporter will label it with: its entry in
/// `refs.platforms` (BuildKit v0.11+; buildkit
/// `exporter/containerimage/exptypes/parse.go`, ParsePlatforms), else its
/// key parsed as a platform (what older exporters did); a single ref
/// without either is the platform asked for. The error says why the
/// result cannot be judged: no refs, a ref `refs.platforms` does not list
/// (the exporter would refuse it too), a key that is no platform.
pub fn result_platforms(res: &gw::Result, asked: &Platform) -> Result<Vec<ResultPlatform>, String> {
    let listed = match res.metadata.get(MD_PLATFORMS) {
        None => None,
        Some(raw) => Some(
            serde_json::from_slice::<ExportPlatforms>(raw)
                .map_err(|e| format!("the result's {MD_PLATFORMS} is not valid: {e}"))?,
        ),
    };
    let listed_platform = |key: &str| -> Result<Option<Platform>, String> {
        let Some(l) = &listed else { return Ok(None) };
        let Some(entry) = l.platforms.iter().find(|p| p.id == key) else {
            return Err(format!(
                "the result's {MD_PLATFORMS} does not list its ref {key:?}"
            ));
        };
        let p = &entry.platform;
        if p.os.is_empty() || p.architecture.is_empty() {
            return Err(format!(
                "the result's {MD_PLATFORMS} gives {key:?} no os or architecture"
            ));
        }
        Ok(Some(Platform::new(
            &p.os,
            &p.architecture,
            p.variant.as_deref(),
        )))
    };
    match &res.result {
        Some(ResultArm::Refs(m)) if !m.refs.is_empty() => {
            let mut out = Vec::new();
            for (key, r) in &m.refs {
                let platform = match listed_platform(key)? {
                    Some(p) => p,
                    None => Platform::parse(key).map_err(|e| {
                        format!(
                            "the frontend returned a result for an unknown platform {key:?}: {e}"
                        )
                    })?,
                };
                out.push(ResultPlatform {
                    key: key.clone(),
                    platform,
                    id: r.id.clone(),
                });
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        }
        Some(ResultArm::Ref(r)) => {
            let single = listed.as_ref().filter(|l| l.platforms.len() == 1);
            let (key, platform) = match single {
                Some(l) => {
                    let key = l.platforms[0].id.clone();
                    let platform = listed_platform(&key)?.unwrap_or_else(|| asked.clone());
                    (key, platform)
                }
                None => (asked.to_string(), asked.clone()),
            };
            Ok(vec![ResultPlatform {
                key,
                platform,
                id: r.id.clone(),
            }])
        }
        _ => Err("the Dockerfile frontend returned no result refs".into()),
    }
}

/// `refs.platforms`: buildkit `exptypes.Platforms`.
#[derive(serde::Deserialize)]
struct ExportPlatforms {
    #[serde(rename = "Platforms", default)]
    platforms: Vec<ExportPlatform>,
}

#[derive(serde::Deserialize)]
struct ExportPlatform {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Platform", default)]
    platform: OciPlatform,
}

/// An OCI platform as JSON (image-spec `specs-go/v1/descriptor.go`).
#[derive(serde::Deserialize, Default)]
struct OciPlatform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

/// An error of archgate's own, as the build's error. Code Unknown: BuildKit
/// shows the message alone (any other code is prefixed to it, once per
/// layer the error passes: `FailedPrecondition: FailedPrecondition: ...`;
/// buildkit `util/grpcerrors`). Errors from the Dockerfile frontend keep
/// theirs.
pub fn own_error(message: String) -> tonic::Status {
    tonic::Status::unknown(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::proto::gateway::{Ref, RefMap};

    fn refs(keys: &[&str], platforms: Option<&str>) -> gw::Result {
        gw::Result {
            result: Some(ResultArm::Refs(RefMap {
                refs: keys
                    .iter()
                    .map(|k| {
                        (
                            k.to_string(),
                            Ref {
                                id: format!("ref-{k}"),
                                ..Default::default()
                            },
                        )
                    })
                    .collect(),
            })),
            metadata: platforms
                .map(|p| (MD_PLATFORMS.to_string(), p.as_bytes().to_vec()))
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn amd64() -> Platform {
        Platform::parse("linux/amd64").unwrap()
    }

    /// Review finding: a ref was judged as the platform its key spells,
    /// while the exporter labels its manifest with its `refs.platforms`
    /// entry: a frontend keying an amd64 result `linux/arm64` passed an
    /// arm64 gate.
    #[test]
    fn each_ref_is_the_platform_the_exporter_labels_it() {
        let md = r#"{"Platforms":[
            {"ID":"linux/arm64","Platform":{"architecture":"amd64","os":"linux"}},
            {"ID":"linux/amd64","Platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let got =
            result_platforms(&refs(&["linux/arm64", "linux/amd64"], Some(md)), &amd64()).unwrap();
        let platforms: Vec<(String, String)> = got
            .iter()
            .map(|r| (r.key.clone(), r.platform.to_string()))
            .collect();
        assert_eq!(
            platforms,
            [
                ("linux/amd64".to_string(), "linux/amd64".to_string()),
                ("linux/arm64".to_string(), "linux/amd64".to_string())
            ]
        );
        // Variants are normalised: arm64/v8 is arm64.
        let md = r#"{"Platforms":[{"ID":"a","Platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;
        let got = result_platforms(&refs(&["a"], Some(md)), &amd64()).unwrap();
        assert_eq!(got[0].platform.to_string(), "linux/arm64");
    }

    #[test]
    fn a_result_the_exporter_would_refuse_is_not_judged() {
        let unlisted = r#"{"Platforms":[{"ID":"linux/amd64","Platform":{"architecture":"amd64","os":"linux"}}]}"#;
        for (res, want) in [
            (
                refs(&["linux/amd64", "linux/arm64"], Some(unlisted)),
                "does not list its ref \"linux/arm64\"",
            ),
            (
                refs(&["linux/amd64"], Some("{")),
                "refs.platforms is not valid",
            ),
            (
                refs(&["x"], Some(r#"{"Platforms":[{"ID":"x","Platform":{}}]}"#)),
                "no os or architecture",
            ),
            (refs(&["not/a/plat/form"], None), "unknown platform"),
            (refs(&[], None), "no result refs"),
            (gw::Result::default(), "no result refs"),
        ] {
            let e = result_platforms(&res, &amd64()).unwrap_err();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    /// Red-team finding: `--platform linux/amd64,linux/amd64` failed with
    /// "built linux/amd64 but linux/amd64,linux/amd64 was asked for".
    #[test]
    fn a_platform_asked_twice_is_built_once() {
        let g = Gate {
            platforms: [
                "linux/amd64",
                "linux/arm64",
                "linux/arm64/v8",
                "linux/amd64",
            ]
            .map(|p| Platform::parse(p).unwrap())
            .to_vec(),
            default_platform: amd64(),
            strict: false,
            deep: false,
            events: None,
        };
        let t: Vec<String> = g.targets().iter().map(Platform::to_string).collect();
        assert_eq!(t, ["linux/amd64", "linux/arm64"]);
    }

    #[test]
    fn without_refs_platforms_keys_are_parsed_and_a_single_ref_is_what_was_asked() {
        let got =
            result_platforms(&refs(&["linux/arm/v7", "linux/amd64"], None), &amd64()).unwrap();
        assert_eq!(got[1].platform.to_string(), "linux/arm/v7");
        let single = gw::Result {
            result: Some(ResultArm::Ref(Ref {
                id: "r".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let got = result_platforms(&single, &amd64()).unwrap();
        assert_eq!(
            (got[0].key.as_str(), got[0].id.as_str()),
            ("linux/amd64", "r")
        );
        let mut labelled = single.clone();
        labelled.metadata.insert(
            MD_PLATFORMS.into(),
            br#"{"Platforms":[{"ID":"linux/riscv64","Platform":{"architecture":"riscv64","os":"linux"}}]}"#.to_vec(),
        );
        let got = result_platforms(&labelled, &amd64()).unwrap();
        assert_eq!(got[0].key, "linux/riscv64");
        assert_eq!(got[0].platform.to_string(), "linux/riscv64");
    }
}
