//! A buildx builder of several nodes (`buildx create --append`): each
//! platform is built on the node buildx would pick (`route`), every node's
//! share is solved at once and gated on that node, and nothing is published
//! until every node passed.
//!
//! The one idea: a node's share is an ordinary `archgate build` on that
//! node (the same options, gate and exporters) with three changes, as
//! buildx makes them (docker/buildx `build/build.go`): the result is an
//! index even for one platform (`multi-platform`), an image push goes to the
//! repositories by digest only (`push-by-digest`), and received output
//! waits. Stricter than buildx, a share whose gate passed lets its exporter
//! run only once every share's gate passed (`Rendezvous`): when any share
//! fails or errors, the other solves are cancelled before they export
//! anything, so no node pushes even by digest. Once every share exported,
//! the runner writes the one index that joins the nodes' indexes under the
//! tags (buildx `imagetools.Combine`), moves received output into place,
//! and writes the image ID.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::output::{self, DaemonKind, ExportPlan};
use super::route::{self, NodePlatforms, Share};
use super::{ExecError, Outcome, Request};
use crate::buildkit::addr::BuilderAddr;
use crate::buildkit::client::list_workers;
use crate::buildkit::solve::Solve;
use crate::buildkit::store::{NodeTarget, Resolved, Source};
use crate::buildkit::transport::connect_with;
use crate::check::registry::{Client, ClientOptions};
use crate::docker::Environment;
use crate::gate::Event;
use crate::inspect::{gate_fails, ImageReport, Platform};
use crate::reference::{RegistryRef, Target};

/// One node's share of a build, as `execute` receives it.
#[derive(Debug, Clone)]
pub struct NodePart {
    pub name: String,
    pub addr: BuilderAddr,
    /// How many nodes share the build (1: this node builds all of it, as
    /// an ordinary build).
    pub nodes: usize,
    /// Where the shares wait for each other's gates.
    pub rendezvous: Option<Rendezvous>,
}

/// A share's output the runner finishes: the received output, not yet
/// moved into place, and the names an image push was meant for (pushed by
/// digest only).
#[derive(Debug)]
pub struct ShareOutput {
    pub pending: Vec<crate::buildkit::filesync::ExportHandle>,
    pub push_names: Option<String>,
}

/// Where the nodes' shares meet: a share whose gate passed waits here
/// until every share's gate passed, and only then lets its exporter run.
/// A share that fails (or errors) never arrives: the runner then cancels
/// the waiting ones, so nothing of any node is exported.
#[derive(Debug, Clone)]
pub struct Rendezvous {
    passed: std::sync::Arc<tokio::sync::watch::Sender<usize>>,
    total: usize,
    /// The reports of the shares that passed, for the report of a build
    /// another share failed.
    reports: std::sync::Arc<std::sync::Mutex<Vec<crate::inspect::PlatformReport>>>,
}

impl Rendezvous {
    pub fn new(total: usize) -> Self {
        Rendezvous {
            passed: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            total,
            reports: Default::default(),
        }
    }

    /// This share passed with these reports: wait for all the others.
    pub async fn passed(&self, reports: &[crate::inspect::PlatformReport]) {
        if let Ok(mut r) = self.reports.lock() {
            r.extend(reports.iter().cloned());
        }
        let mut seen = self.passed.subscribe();
        self.passed.send_modify(|n| *n += 1);
        let _ = seen.wait_for(|n| *n >= self.total).await;
    }

    /// The reports of the shares that passed so far.
    fn reports(&self) -> Vec<crate::inspect::PlatformReport> {
        self.reports.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl NodePart {
    /// The node as the builder to dial.
    pub fn resolved(&self) -> Resolved {
        Resolved {
            addr: self.addr.clone(),
            source: Source::BuilderFlag(format!("node {}", self.name)),
            nodes: Vec::new(),
        }
    }

    /// Make a share of a multi-node build (buildx `build/build.go`): an
    /// index from every node, an image push by digest to the repositories.
    /// The names the push was meant for, when there is one.
    pub fn adapt(
        &self,
        plans: &mut [ExportPlan],
        solve: &mut Solve,
    ) -> Result<Option<String>, ExecError> {
        if self.nodes < 2 {
            return Ok(None);
        }
        solve
            .frontend_attrs
            .insert("multi-platform".into(), "true".into());
        let mut names = None;
        for p in plans.iter_mut() {
            let push = p
                .attrs
                .get("push")
                .and_then(|v| crate::goparse::parse_go_bool(v))
                .unwrap_or(false);
            if p.exporter != "image" || !push || names.is_some() {
                continue;
            }
            let name = p.attrs.get("name").cloned().unwrap_or_default();
            p.attrs.insert("name".into(), repositories(&name)?);
            p.attrs.insert("push-by-digest".into(), "true".into());
            names = Some(name);
        }
        Ok(names)
    }
}

/// `a/b:1,c/d@sha256:...` to `DOMAIN/a/b,DOMAIN/c/d` (buildx `toRepoOnly`).
fn repositories(names: &str) -> Result<String, ExecError> {
    let mut repos: Vec<String> = Vec::new();
    for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let r = RegistryRef::parse(n).map_err(|reason| {
            ExecError::Unsupported(format!("invalid image name {n:?}: {reason}"))
        })?;
        let repo = format!("{}/{}", r.domain, r.repository);
        if !repos.contains(&repo) {
            repos.push(repo);
        }
    }
    Ok(repos.join(","))
}

/// What a multi-node builder cannot do, refused before any node is asked.
fn refuse_unsupported(req: &Request, platforms: usize) -> Result<(), ExecError> {
    let stdin = |p: &std::path::Path| p.as_os_str() == "-";
    if stdin(&req.context) || req.file.as_deref().is_some_and(stdin) {
        return Err(ExecError::Unsupported(
            "a build context or Dockerfile on stdin cannot be sent to several nodes of a builder: give a directory, or build on one node (--builder NODE's own builder, or --addr)".into(),
        ));
    }
    if req.cache_to.iter().any(|c| c.contains("type=local")) {
        return Err(ExecError::Unsupported(
            "--cache-to type=local on a multi-node builder: every node would write the same directory; use type=registry".into(),
        ));
    }
    if output::may_load(&req.outputs, req.load) {
        return Err(ExecError::Unsupported(
            "--load on a multi-node builder: each node would load its platforms over the other's under the same name; push, or build on one node".into(),
        ));
    }
    // The exporters as a BuildKit daemon takes them.
    let daemon = DaemonKind {
        docker_engine: false,
        containerd_store: false,
        load_oci: false,
    };
    let plans = output::plan(
        &req.outputs,
        req.push,
        req.load,
        &req.tags,
        platforms.max(1),
        false,
        &daemon,
    )?;
    let mut pushes = 0;
    for p in &plans {
        if matches!(p.exporter.as_str(), "oci" | "tar" | "docker") {
            // buildx: "oci for multi-node builds currently not supported".
            return Err(ExecError::Unsupported(format!(
                "{} for multi-node builds currently not supported",
                p.exporter
            )));
        }
        let flag = |k: &str| {
            p.attrs
                .get(k)
                .and_then(|v| crate::goparse::parse_go_bool(v))
                .unwrap_or(false)
        };
        if p.exporter == "local"
            && p.attrs.get("platform-split").map(String::as_str) == Some("false")
        {
            return Err(ExecError::Unsupported(
                "-o type=local,platform-split=false on a multi-node builder: the nodes would write the same paths over each other".into(),
            ));
        }
        if p.exporter == "image" && flag("push") {
            pushes += 1;
            // Every name must take the joined index: tags, not digests.
            for n in p.attrs.get("name").into_iter().flat_map(|n| n.split(',')) {
                let n = n.trim();
                if n.is_empty() {
                    continue;
                }
                let r = RegistryRef::parse(n).map_err(|reason| {
                    ExecError::Unsupported(format!("invalid image name {n:?}: {reason}"))
                })?;
                if matches!(r.target, Target::Digest { .. }) {
                    return Err(ExecError::Unsupported(format!(
                        "{n}: a name pinned by digest cannot take the index a multi-node build joins; give a tag"
                    )));
                }
            }
        }
        // As a build on one node refuses it (buildx `build/opt.go`).
        if req.iidfile.is_some() && matches!(p.exporter.as_str(), "local" | "tar") {
            return Err(ExecError::Unsupported(format!(
                "--iidfile: the {} exporter writes no image: --iidfile needs type=image, docker, oci or registry",
                p.exporter
            )));
        }
    }
    if pushes > 1 {
        return Err(ExecError::Unsupported(
            "several pushed image outputs on a multi-node builder: one index joins the nodes' platforms; give every name to one output (-t A -t B --push)".into(),
        ));
    }
    Ok(())
}

type NodeRun<'a> = Pin<Box<dyn Future<Output = (usize, Result<Outcome, ExecError>)> + 'a>>;

/// Build on the nodes of `resolved`.
pub async fn execute(
    req: &Request,
    events: Option<UnboundedSender<Event>>,
    resolved: Resolved,
    env: &Environment,
) -> Result<Outcome, ExecError> {
    let requested = super::parse_platforms(&req.platforms)?;
    let mut known: Vec<NodePlatforms> = resolved
        .nodes
        .iter()
        .map(|n| NodePlatforms {
            declared: n.declared.clone(),
            workers: Vec::new(),
        })
        .collect();
    if !requested.is_empty() && !route::perfect(&requested, &known) {
        // Only then are the workers asked (buildx boots every node).
        let asked =
            futures::future::join_all(resolved.nodes.iter().map(|n| workers_of(n, env))).await;
        for (k, w) in known.iter_mut().zip(asked) {
            k.workers = w?;
        }
    }
    let shares = route::route(&requested, &known);
    let rendezvous = Rendezvous::new(shares.len());
    let part = |s: &Share| {
        let n = &resolved.nodes[s.node];
        let mut r = req.clone();
        r.platforms = s.platforms.iter().map(|p| p.to_string()).collect();
        r.node = Some(NodePart {
            name: n.name.clone(),
            addr: n.addr.clone(),
            nodes: shares.len(),
            rendezvous: (shares.len() > 1).then(|| rendezvous.clone()),
        });
        r
    };
    for s in &shares {
        tracing::debug!(node = %resolved.nodes[s.node].name, platforms = ?s.platforms, "share");
    }
    if shares.len() == 1 || req.flags.call.is_some() {
        // One node builds it all: an ordinary build there (a `--call`
        // subrequest asks the first node, as it builds nothing).
        let whole = Share {
            node: shares[0].node,
            platforms: requested.clone(),
        };
        let mut r = part(&whole);
        if let Some(p) = r.node.as_mut() {
            p.nodes = 1;
            p.rendezvous = None;
        }
        return execute_share(r, events).await;
    }
    refuse_unsupported(req, requested.len())?;
    if let Some(iid) = &req.iidfile {
        // No stale ID survives a failed build (as buildx).
        match std::fs::remove_file(iid) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ExecError::Metadata {
                    what: "image ID file",
                    path: iid.clone(),
                    reason: format!("removing the stale file: {e}"),
                })
            }
            _ => {}
        }
    }
    let index_annotations: BTreeMap<String, String> =
        super::attest::parse_annotations(&req.annotations)?
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("annotation-index.")?.to_string(), v)))
            .collect();

    let mut runs: FuturesUnordered<NodeRun<'_>> = FuturesUnordered::new();
    for (i, s) in shares.iter().enumerate() {
        let mut r = part(s);
        // Written once, for the whole build.
        r.iidfile = None;
        r.metadata_file = None;
        let tx = relay(&events, &resolved.nodes[s.node].name);
        runs.push(Box::pin(async move { (i, execute_share(r, tx).await) }));
    }
    let mut done: Vec<Option<Outcome>> = (0..shares.len()).map(|_| None).collect();
    while let Some((i, result)) = runs.next().await {
        let name = &resolved.nodes[shares[i].node].name;
        let outcome = result.map_err(|e| node_error(name, e))?;
        let failed = outcome
            .report
            .platforms
            .iter()
            .any(|p| gate_fails(p.verdict, req.strict))
            || outcome.report.platforms.is_empty();
        if failed {
            // Dropping the other runs cancels their solves: nothing is
            // tagged, nothing written. The report keeps the platforms of
            // the nodes that had passed.
            drop(runs);
            tracing::debug!("node {name} failed the gate: the other nodes' builds were cancelled");
            let mut report = outcome.report;
            let mut passed = rendezvous.reports();
            passed.retain(|p| !report.platforms.iter().any(|q| q.platform == p.platform));
            passed.append(&mut report.platforms);
            report.platforms = passed;
            sort_as_asked(&mut report.platforms, req);
            return Ok(Outcome {
                report,
                share: None,
                exported: false,
                exporter_response: BTreeMap::new(),
                called: None,
            });
        }
        done[i] = Some(outcome);
    }
    let outcomes: Vec<Outcome> = done.into_iter().flatten().collect();
    finish(req, outcomes, index_annotations).await
}

/// Reports in the order the platforms were asked for.
fn sort_as_asked(platforms: &mut [crate::inspect::PlatformReport], req: &Request) {
    let order: Vec<String> = super::parse_platforms(&req.platforms)
        .unwrap_or_default()
        .iter()
        .map(|p| p.to_string())
        .collect();
    platforms.sort_by_key(|p| {
        order
            .iter()
            .position(|o| *o == p.platform)
            .unwrap_or(usize::MAX)
    });
}

/// One share, boxed: `execute` calls back into this module.
fn execute_share(
    r: Request,
    events: Option<UnboundedSender<Event>>,
) -> Pin<Box<dyn Future<Output = Result<Outcome, ExecError>>>> {
    Box::pin(async move { super::execute(&r, events).await })
}

fn node_error(name: &str, e: ExecError) -> ExecError {
    match e {
        ExecError::Build(m) => ExecError::Build(format!("node {name}: {m}")),
        ExecError::Builder(b) => ExecError::Build(format!("node {name}: {b}")),
        other => other,
    }
}

/// A node's worker platforms, for routing.
async fn workers_of(n: &NodeTarget, env: &Environment) -> Result<Vec<Platform>, ExecError> {
    let fail = |e: String| ExecError::Build(format!("node {}: {e}", n.name));
    let channel = connect_with(&n.addr, env)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let workers = list_workers(channel)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut out: Vec<Platform> = Vec::new();
    for p in workers.into_iter().flat_map(|w| w.platforms) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// A node's progress into the build's one display: its steps named with
/// the node (`[NODE] ...`), and their ids kept apart from the other
/// nodes' (the same step has the same digest on every node).
fn relay(events: &Option<UnboundedSender<Event>>, node: &str) -> Option<UnboundedSender<Event>> {
    let out = events.clone()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let node = node.to_string();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let ev = match ev {
                Event::Status(mut s) => {
                    let id = |d: &mut String| {
                        if !d.is_empty() {
                            *d = format!("{d}@{node}");
                        }
                    };
                    for v in &mut s.vertexes {
                        id(&mut v.digest);
                        v.inputs.iter_mut().for_each(id);
                        v.name = format!("[{node}] {}", v.name);
                    }
                    for st in &mut s.statuses {
                        id(&mut st.vertex);
                    }
                    for l in &mut s.logs {
                        id(&mut l.vertex);
                    }
                    for w in &mut s.warnings {
                        id(&mut w.vertex);
                    }
                    Event::Status(s)
                }
                Event::CheckStarted { platform } => Event::CheckStarted {
                    platform: format!("{platform} on {node}"),
                },
                Event::CheckDone {
                    platform,
                    verdict,
                    fails,
                    summary,
                } => Event::CheckDone {
                    platform: format!("{platform} on {node}"),
                    verdict,
                    fails,
                    summary,
                },
            };
            if out.send(ev).is_err() {
                break;
            }
        }
    });
    Some(tx)
}

/// Every share passed: write the joined index under the tags, move
/// received output into place, write the image ID and metadata.
async fn finish(
    req: &Request,
    outcomes: Vec<Outcome>,
    index_annotations: BTreeMap<String, String>,
) -> Result<Outcome, ExecError> {
    // Received output first: a tag is the last thing written.
    for o in &outcomes {
        for h in o.share.iter().flat_map(|s| s.pending.iter()) {
            h.commit().await.map_err(ExecError::Export)?;
        }
    }
    let names = outcomes
        .iter()
        .find_map(|o| o.share.as_ref().and_then(|s| s.push_names.clone()));
    // Without a push there is no joined index: the image ID is the first
    // node's (buildx keeps the first node's response).
    let mut exporter_response = match outcomes.first() {
        Some(o) if names.is_none() => o.exporter_response.clone(),
        _ => BTreeMap::new(),
    };
    if let Some(names) = names {
        let digests: Vec<String> = outcomes
            .iter()
            .map(|o| {
                o.exporter_response
                    .get("containerimage.digest")
                    .cloned()
                    .ok_or_else(|| ExecError::Export("a node pushed no image digest".into()))
            })
            .collect::<Result<_, _>>()?;
        let digest =
            tokio::task::spawn_blocking(move || publish(&names, &digests, &index_annotations))
                .await
                .map_err(|e| ExecError::Export(e.to_string()))??;
        exporter_response.insert("containerimage.digest".to_string(), digest);
    }
    super::write_id_files(req, &exporter_response)?;
    let exported = outcomes.iter().any(|o| o.exported);
    let mut platforms = Vec::new();
    for o in outcomes {
        platforms.extend(o.report.platforms);
    }
    sort_as_asked(&mut platforms, req);
    Ok(Outcome {
        report: ImageReport {
            image: super::image_name(req),
            platforms,
            error: None,
        },
        exported,
        exporter_response,
        called: None,
        share: None,
    })
}

/// The largest node index read back.
const INDEX_LIMIT: u64 = 4 << 20;

/// Read each node's index from the registry, join their manifests into one
/// index (buildx `imagetools.Combine`: every manifest once, in node order;
/// a Docker manifest list when every node's is one, else an OCI index) and
/// put it under every name. Its digest.
fn publish(
    names: &str,
    digests: &[String],
    annotations: &BTreeMap<String, String>,
) -> Result<String, ExecError> {
    let fail = |what: &str, e: String| ExecError::Export(format!("{what}: {e}"));
    let refs: Vec<RegistryRef> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| RegistryRef::parse(n).map_err(|e| fail(n, e)))
        .collect::<Result<_, _>>()?;
    let first = refs
        .first()
        .ok_or_else(|| ExecError::Export("no image name to push".into()))?;
    let options = ClientOptions {
        push: true,
        ..ClientOptions::default()
    };
    let client = Client::connect(first, options.clone())
        .map_err(|e| fail(&first.repository, e.to_string()))?;
    let mut manifests: Vec<Value> = Vec::new();
    let mut all_docker = true;
    for d in digests {
        let m = client
            .manifest(d, INDEX_LIMIT)
            .map_err(|e| fail(d, e.to_string()))?
            .map_err(|e| fail(d, format!("not in {}: {e}", first.repository)))?;
        let got = crate::digest::Digest::sha256_of(&m.bytes).to_string();
        if &got != d {
            return Err(fail(
                d,
                format!("the registry served content of digest {got}"),
            ));
        }
        let v: Value =
            serde_json::from_slice(&m.bytes).map_err(|e| fail(d, format!("not an index: {e}")))?;
        let list = v["manifests"]
            .as_array()
            .ok_or_else(|| fail(d, "not an index: no manifests".into()))?;
        all_docker &= m.media_type == DOCKER_LIST;
        for entry in list {
            if !manifests.iter().any(|e| e["digest"] == entry["digest"]) {
                manifests.push(entry.clone());
            }
        }
    }
    let media_type = if all_docker { DOCKER_LIST } else { OCI_INDEX };
    let mut index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    });
    if !annotations.is_empty() {
        // `--annotation index:KEY=VALUE`, on the index users pull.
        index["annotations"] = serde_json::json!(annotations);
    }
    let bytes = serde_json::to_vec_pretty(&index).map_err(|e| fail("the index", e.to_string()))?;
    let digest = crate::digest::Digest::sha256_of(&bytes).to_string();
    for r in &refs {
        let reference = match &r.target {
            Target::Tag(t) => t.clone(),
            Target::Digest { digest, .. } => digest.to_string(),
        };
        let c = if r.domain == first.domain && r.repository == first.repository {
            None
        } else {
            Some(
                Client::connect(r, options.clone())
                    .map_err(|e| fail(&r.repository, e.to_string()))?,
            )
        };
        c.as_ref()
            .unwrap_or(&client)
            .put_manifest(&reference, media_type, &bytes)
            .map_err(|e| fail(&format!("{}:{reference}", r.repository), e.to_string()))?;
    }
    Ok(digest)
}

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_go_to_the_repositories_by_digest() {
        assert_eq!(
            repositories("127.0.0.1:5000/a/b:1,127.0.0.1:5000/a/b:2,alpine").unwrap(),
            "127.0.0.1:5000/a/b,docker.io/library/alpine"
        );
        let part = NodePart {
            name: "n1".into(),
            addr: BuilderAddr::parse("unix:///run/bk.sock").unwrap(),
            nodes: 2,
            rendezvous: None,
        };
        let mut plans = vec![
            ExportPlan {
                exporter: "image".into(),
                attrs: BTreeMap::from([
                    ("name".into(), "127.0.0.1:5000/a/b:1".into()),
                    ("push".into(), "true".into()),
                ]),
                dest: None,
                wire: output::Wire::None,
            },
            ExportPlan {
                exporter: "local".into(),
                attrs: BTreeMap::new(),
                dest: None,
                wire: output::Wire::Packets,
            },
        ];
        let mut solve = Solve::default();
        let names = part.adapt(&mut plans, &mut solve).unwrap();
        assert_eq!(names.as_deref(), Some("127.0.0.1:5000/a/b:1"));
        assert_eq!(plans[0].attrs["name"], "127.0.0.1:5000/a/b");
        assert_eq!(plans[0].attrs["push-by-digest"], "true");
        assert!(plans[1].attrs.is_empty());
        assert_eq!(solve.frontend_attrs["multi-platform"], "true");
        // A node that builds it all: untouched.
        let whole = NodePart { nodes: 1, ..part };
        let mut solve = Solve::default();
        let mut plans2 = plans.clone();
        plans2[0].attrs.remove("push-by-digest");
        assert_eq!(whole.adapt(&mut plans2, &mut solve).unwrap(), None);
        assert!(solve.frontend_attrs.is_empty());
    }

    #[test]
    fn local_is_the_clients_own_platform() {
        let p = super::super::parse_platforms(&["local".into(), "linux/arm64".into()]).unwrap();
        assert_eq!(p[0].os, std::env::consts::OS);
        assert_eq!(
            p[0],
            Platform::new(std::env::consts::OS, std::env::consts::ARCH, None)
        );
        assert_eq!(p[1].to_string(), "linux/arm64");
    }

    #[tokio::test]
    async fn a_passing_share_waits_for_every_other() {
        let all = Rendezvous::new(2);
        let first = all.clone();
        let waiting = tokio::spawn(async move { first.passed(&[]).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "one of two passed: still waiting");
        all.passed(&[]).await;
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("both passed: the first goes on")
            .unwrap();
    }

    #[test]
    fn what_several_nodes_cannot_do_is_refused() {
        let base = Request {
            context: ".".into(),
            ..Request::default()
        };
        let refused = |r: Request| match refuse_unsupported(&r, 2) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("accepted: outputs {:?} tags {:?}", r.outputs, r.tags),
        };
        assert!(refused(Request {
            load: true,
            ..base.clone()
        })
        .contains("--load on a multi-node builder"));
        assert!(refused(Request {
            outputs: vec!["type=oci,dest=x.tar".into()],
            ..base.clone()
        })
        .contains("oci for multi-node builds currently not supported"));
        assert!(refused(Request {
            context: "-".into(),
            ..base.clone()
        })
        .contains("stdin"));
        assert!(refused(Request {
            cache_to: vec!["type=local,dest=c".into()],
            ..base.clone()
        })
        .contains("type=local"));
        assert!(refused(Request {
            outputs: vec![
                "type=image,name=127.0.0.1:5000/a:1,push=true".into(),
                "type=image,name=127.0.0.1:5000/b:1,push=true".into()
            ],
            ..base.clone()
        })
        .contains("several pushed image outputs"));
        assert!(refused(Request {
            push: true,
            tags: vec![format!("127.0.0.1:5000/a@sha256:{}", "0".repeat(64))],
            ..base.clone()
        })
        .contains("pinned by digest"));
        assert!(refused(Request {
            outputs: vec!["type=local,dest=d,platform-split=false".into()],
            ..base.clone()
        })
        .contains("platform-split=false"));
        assert!(refused(Request {
            outputs: vec!["type=local,dest=d".into()],
            iidfile: Some("iid".into()),
            ..base.clone()
        })
        .contains("--iidfile"));
        assert!(refuse_unsupported(
            &Request {
                push: true,
                tags: vec!["127.0.0.1:5000/a:1".into()],
                outputs: vec!["type=local,dest=d".into()],
                ..base
            },
            2
        )
        .is_ok());
    }
}
