//! `unix://` and `tcp://` BuildKit addresses: buildkitd's own socket, or
//! TCP, plain or with TLS (ALPN `h2`, which grpc-go servers require).

use std::path::Path;

use crate::dial::{self, BoxIo, TcpAddr, TlsSetup};

/// A buildkitd unix socket.
pub(super) async fn unix(path: &Path) -> Result<BoxIo, String> {
    Ok(Box::new(dial::unix(path).await?))
}

/// buildkitd over TCP, through TLS when `tls` is set.
pub(super) async fn tcp(addr: &TcpAddr, tls: Option<TlsSetup>) -> Result<BoxIo, String> {
    dial::tcp_tls(addr, tls).await
}
