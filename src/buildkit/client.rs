//! First calls on a connected daemon: which workers (and so which platforms)
//! it has, and which BuildKit version it runs.
//!
//! The one idea: turn wire records into archgate's own types at this edge
//! (canonical `Platform`s, `None` for "the daemon cannot say"), so callers
//! never see prost types or version quirks.

use std::collections::BTreeMap;
use std::fmt;

use tonic::transport::Channel;

use super::proto::control::control_client::ControlClient;
use super::proto::control::{InfoRequest, ListWorkersRequest};
use super::proto::gateway::llb_bridge_client::LlbBridgeClient;
use super::proto::{pb, worker};
use super::transport::MAX_MESSAGE_SIZE;
use super::BuildError;
use crate::inspect::Platform;

/// A Control client with archgate's message limits.
pub fn control_client(channel: Channel) -> ControlClient<Channel> {
    ControlClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE)
}

/// An LLBBridge (gateway) client with archgate's message limits.
pub fn gateway_client(channel: Channel) -> LlbBridgeClient<Channel> {
    LlbBridgeClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE)
}

/// One BuildKit worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    /// Platforms it can build for, in the daemon's order (the first is the
    /// default).
    pub platforms: Vec<Platform>,
    /// Only daemons from v0.11 on report it per worker.
    pub buildkit_version: Option<BuildkitVersion>,
}

/// What a daemon says about its BuildKit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildkitVersion {
    /// Go module path, e.g. `github.com/moby/buildkit`.
    pub package: String,
    /// e.g. `v0.13.2`; Docker's embedded BuildKit may say something else.
    pub version: String,
    pub revision: String,
}

impl BuildkitVersion {
    /// The release as `(major, minor, patch)`, if the version names one.
    /// Builds that do not stamp BuildKit's version (Debian's dockerd, for
    /// one) report Go's placeholder `v0.0.0+unknown`: `None`.
    pub fn release(&self) -> Option<(u64, u64, u64)> {
        let v = self.version.strip_prefix('v').unwrap_or(&self.version);
        let core = v.split(['-', '+']).next().unwrap_or("");
        let mut it = core.split('.').map(|n| n.parse::<u64>().ok());
        let r = (it.next()??, it.next()??, it.next()??);
        (r != (0, 0, 0)).then_some(r)
    }
}

impl fmt::Display for BuildkitVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.package, self.version)?;
        if !self.revision.is_empty() {
            write!(f, " ({})", self.revision)?;
        }
        Ok(())
    }
}

/// `Control.ListWorkers`: every worker with its platforms.
pub async fn list_workers(channel: Channel) -> Result<Vec<WorkerInfo>, BuildError> {
    let resp = control_client(channel)
        .list_workers(ListWorkersRequest { filter: vec![] })
        .await
        .map_err(|s| BuildError::rpc("ListWorkers", &s))?;
    Ok(resp
        .into_inner()
        .record
        .into_iter()
        .map(worker_info)
        .collect())
}

/// `Control.Info`: the daemon's BuildKit version. `Ok(None)` when the daemon
/// predates the call (BuildKit < v0.11, as in Docker 20.10 and 23, answers
/// Unimplemented) or leaves the version empty: unknown, not an error.
pub async fn info(channel: Channel) -> Result<Option<BuildkitVersion>, BuildError> {
    match control_client(channel).info(InfoRequest {}).await {
        Ok(resp) => Ok(resp.into_inner().buildkit_version.and_then(version)),
        Err(s) if s.code() == tonic::Code::Unimplemented => Ok(None),
        Err(s) => Err(BuildError::rpc("Info", &s)),
    }
}

pub(crate) fn worker_info(w: worker::WorkerRecord) -> WorkerInfo {
    WorkerInfo {
        id: w.id,
        labels: w.labels.into_iter().collect(),
        platforms: w.platforms.iter().map(platform).collect(),
        buildkit_version: w.buildkit_version.and_then(version),
    }
}

pub(crate) fn platform(p: &pb::Platform) -> Platform {
    Platform::new(&p.os, &p.architecture, Some(p.variant.as_str()))
}

fn version(v: worker::BuildkitVersion) -> Option<BuildkitVersion> {
    if v.package.is_empty() && v.version.is_empty() && v.revision.is_empty() {
        return None;
    }
    Some(BuildkitVersion {
        package: v.package,
        version: v.version,
        revision: v.revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// A ListWorkers answer as Docker 26 sends it, hand-encoded from the field
    /// numbers (record=1; ID=1, Labels=2, platforms=3; Architecture=1, OS=2,
    /// Variant=3), so a numbering mistake in proto/ cannot hide here.
    #[test]
    fn decodes_wire_bytes_by_field_number() {
        fn varint(mut n: usize, out: &mut Vec<u8>) {
            while n >= 0x80 {
                out.push((n as u8) | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        // A length-delimited field: tag (num << 3 | 2), length, payload.
        fn field(num: u32, payload: &[u8]) -> Vec<u8> {
            let mut v = Vec::new();
            varint(((num << 3) | 2) as usize, &mut v);
            varint(payload.len(), &mut v);
            v.extend_from_slice(payload);
            v
        }
        let amd64v2 = [field(1, b"amd64"), field(2, b"linux"), field(3, b"v2")].concat();
        let i386 = [field(1, b"386"), field(2, b"linux")].concat();
        let label = [
            field(1, b"org.mobyproject.buildkit.worker.moby.host-gateway-ip"),
            field(2, b"172.17.0.1"),
        ]
        .concat();
        let version = [field(1, b"github.com/moby/buildkit"), field(2, b"v0.13.2")].concat();
        let record = [
            field(1, b"abc"),
            field(2, &label),
            field(3, &amd64v2),
            field(3, &i386),
            field(5, &version),
        ]
        .concat();
        let wire = field(1, &record);
        let resp = crate::buildkit::proto::control::ListWorkersResponse::decode(&wire[..]).unwrap();
        let w = worker_info(resp.record.into_iter().next().unwrap());
        assert_eq!(w.id, "abc");
        assert_eq!(
            w.platforms,
            vec![
                Platform::new("linux", "amd64", Some("v2")),
                Platform::new("linux", "386", None)
            ]
        );
        assert_eq!(w.platforms[0].to_string(), "linux/amd64/v2");
        assert_eq!(
            w.labels
                .get("org.mobyproject.buildkit.worker.moby.host-gateway-ip")
                .map(String::as_str),
            Some("172.17.0.1")
        );
        assert_eq!(w.buildkit_version.unwrap().version, "v0.13.2");
    }

    #[test]
    fn release_numbers_and_the_unstamped_placeholder() {
        let v = |s: &str| BuildkitVersion {
            package: "github.com/moby/buildkit".into(),
            version: s.into(),
            revision: String::new(),
        };
        assert_eq!(v("v0.13.2").release(), Some((0, 13, 2)));
        assert_eq!(v("v0.11.6-rc1").release(), Some((0, 11, 6)));
        assert_eq!(v("0.12.5+dirty").release(), Some((0, 12, 5)));
        assert_eq!(v("v0.0.0+unknown").release(), None);
        assert_eq!(v("").release(), None);
        assert_eq!(v("v0.13").release(), None);
    }

    #[test]
    fn empty_version_is_unknown() {
        assert_eq!(version(worker::BuildkitVersion::default()), None);
    }
}
