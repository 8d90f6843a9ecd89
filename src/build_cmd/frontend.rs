//! The client-side frontend of `archgate build`: the build function the
//! BuildKit runner calls. It solves `dockerfile.v0` over the LLBBridge for
//! every platform and hands the result to the gate.
//!
//! The one idea: the daemon's own Dockerfile frontend does the building;
//! archgate only asks for the result back (`allow_result_return`) so the
//! gate can read it before anything is exported.

use std::collections::BTreeMap;

use crate::buildkit::gateway::Gateway;
use crate::buildkit::proto::gateway as gw;
use crate::buildkit::solve::Answer;
use crate::buildkit::BuildError;
use crate::gate::{build_failed, platform_list, Decision, Gate};

/// Gateway caps archgate relies on, and the one it uses when present
/// (buildkit `frontend/gateway/pb/caps.go`).
const CAP_EVALUATE: &str = "gateway.evaluate";
const CAP_REFARRAY: &str = "proto.refarray";
const CAP_RETURNMAP: &str = "returnmap";
const CAP_READDIR: &str = "readdir";

/// Build the Dockerfile with `opts` (the `dockerfile.v0` options) for the
/// gate's platforms, and judge the result.
pub(super) async fn build(
    gw: Gateway,
    mut opts: BTreeMap<String, String>,
    gate: &Gate,
) -> Result<Answer<Decision>, BuildError> {
    let caps = gw
        .ping()
        .await
        .map_err(|s| BuildError::rpc("LLBBridge.Ping", &s))?;
    for need in [CAP_REFARRAY, CAP_RETURNMAP, CAP_READDIR] {
        if !caps.iter().any(|c| c == need) {
            return Err(BuildError::Session(format!(
                "the daemon's gateway lacks the {need:?} capability archgate needs"
            )));
        }
    }
    let has_evaluate = caps.iter().any(|c| c == CAP_EVALUATE);

    opts.insert("platform".into(), platform_list(&gate.targets()));
    let req = gw::SolveRequest {
        frontend: "dockerfile.v0".into(),
        frontend_opt: opts.into_iter().collect(),
        allow_result_return: true,
        allow_result_array_ref: true,
        // Not `evaluate`: BuildKit v0.11-v0.12 dereference a nil ref when it
        // is set on a multi-platform frontend solve (fixed in v0.13, buildkit
        // #4544). The gate evaluates each ref on its own instead.
        ..Default::default()
    };
    match gw.solve(req).await {
        Ok(r) => Ok(gate
            .judge(&gw, r.result.unwrap_or_default(), has_evaluate)
            .await),
        Err(s) => Ok(build_failed(s)),
    }
}
