//! The client-side frontend of `archgate build`: the build function the
//! BuildKit runner calls. It solves `dockerfile.v0` over the LLBBridge for
//! every platform and hands the result to the gate.
//!
//! The one idea: the daemon's own Dockerfile frontend does the building;
//! archgate only asks for the result back (`allow_result_return`) so the
//! gate can read it before anything is exported.

use std::collections::BTreeMap;

use crate::buildkit::gateway::Gateway;
use crate::buildkit::solve::Answer;
use crate::buildkit::BuildError;
use crate::gate::{
    build_failed, forward_solve, missing_cap, platform_list, Decision, Gate, CAP_EVALUATE,
};

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
    if let Some(need) = missing_cap(&caps) {
        return Err(BuildError::Session(format!(
            "the daemon's gateway lacks the {need:?} capability archgate needs"
        )));
    }
    let has_evaluate = caps.iter().any(|c| c == CAP_EVALUATE);
    opts.insert("platform".into(), platform_list(&gate.targets()));
    let req = forward_solve("dockerfile.v0", opts, Default::default());
    match gw.solve(req).await {
        Ok(r) => Ok(gate
            .judge(&gw, r.result.unwrap_or_default(), has_evaluate)
            .await),
        Err(s) => Ok(build_failed(s)),
    }
}
