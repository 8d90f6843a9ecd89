//! The client-side frontend of `archgate build`: the build function the
//! BuildKit runner calls. It solves `dockerfile.v0` over the LLBBridge for
//! every platform and hands the result to the gate.
//!
//! The one idea: the daemon's own Dockerfile frontend does the building;
//! archgate only asks for the result back (`allow_result_return`) so the
//! gate can read it before anything is exported. A `--call` subrequest
//! builds nothing: its answer (the result's metadata) is handed back
//! unjudged.

use std::collections::BTreeMap;

use crate::buildkit::gateway::Gateway;
use crate::buildkit::solve::Answer;
use crate::buildkit::BuildError;
use crate::gate::{
    build_failed, forward_solve, missing_cap, platform_list, Decision, Gate, CAP_EVALUATE,
};

/// What the build function learnt.
#[derive(Debug)]
pub(super) enum Built {
    /// The gate's decision on the built platforms.
    Judged(Decision),
    /// The frontend's answer to a `--call` subrequest (`result.txt`,
    /// `result.json`, `result.statuscode`, `version`), not judged.
    Called(BTreeMap<String, Vec<u8>>),
    /// The subrequest failed on the daemon.
    CallFailed(tonic::Status),
}

/// Build the Dockerfile with `opts` (the `dockerfile.v0` options) for the
/// gate's platforms, and judge the result; with `call`, ask the frontend's
/// subrequest (its `requestid` is in `opts`) and return its answer as it is.
///
/// With `rendezvous` (one node's share of a multi-node build), a passing
/// result is handed back only once every node's gate passed, so no node
/// exports anything while another may still fail.
pub(super) async fn build(
    gw: Gateway,
    mut opts: BTreeMap<String, String>,
    gate: &Gate,
    call: bool,
    rendezvous: Option<super::nodes::Rendezvous>,
) -> Result<Answer<Built>, BuildError> {
    let caps = gw
        .ping()
        .await
        .map_err(|s| BuildError::rpc("LLBBridge.Ping", &s))?;
    if let Some(need) = missing_cap(&caps) {
        return Err(BuildError::Session(format!(
            "the daemon's gateway lacks the {need:?} capability archgate needs"
        )));
    }
    let has_evaluate = caps.iter().any(|c| c == CAP_EVALUATE);
    opts.insert("platform".into(), platform_list(&gate.targets()));
    let req = forward_solve("dockerfile.v0", opts, Default::default());
    let judged = |a: Answer<Decision>| Answer {
        ret: a.ret,
        value: Built::Judged(a.value),
    };
    match gw.solve(req).await {
        Ok(r) if call => {
            let result = r.result.unwrap_or_default();
            Ok(Answer {
                value: Built::Called(result.metadata.clone().into_iter().collect()),
                ret: Ok(result),
            })
        }
        Ok(r) => {
            let answer = gate
                .judge(&gw, r.result.unwrap_or_default(), has_evaluate)
                .await;
            if let (Ok(_), Some(all), Decision::Pass(reports)) =
                (&answer.ret, rendezvous, &answer.value)
            {
                all.passed(reports).await;
            }
            Ok(judged(answer))
        }
        Err(s) if call => Ok(Answer {
            ret: Err(s.clone()),
            value: Built::CallFailed(s),
        }),
        Err(s) => Ok(judged(build_failed(s))),
    }
}
