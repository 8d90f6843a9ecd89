//! `docker://ENGINE`: a Docker Engine's embedded BuildKit, reached by asking
//! the engine API to switch the connection to h2c (`POST /grpc`,
//! `moby/moby api/server/router/grpc`), after which it is plain HTTP/2 to
//! BuildKit.

use crate::dial::{BoxIo, TlsSetup};
use crate::docker::api::{dial_host, host_header, upgrade};
use crate::docker::EngineHost;

/// Dial the engine and upgrade the connection to its BuildKit.
pub(super) async fn dial(host: &EngineHost, tls: Option<TlsSetup>) -> Result<BoxIo, String> {
    let io = dial_host(host, tls).await?;
    upgrade(io, &host_header(host), "/grpc", &[]).await
}
