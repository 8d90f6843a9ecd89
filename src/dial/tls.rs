//! TLS client settings as buildctl and the docker CLI take them (files for
//! the CA, the client certificate and key), made into a rustls connector
//! (ring provider; no OpenSSL).
//!
//! The one idea: the connector is built before dialling, so a missing or
//! unreadable file is reported as such, not as a failed connection.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::TcpAddr;

/// TLS material in files, as buildctl's `--tlscacert/--tlscert/--tlskey/
/// --tlsservername` take it. No CA means the system roots; a certificate and
/// key together enable client authentication (buildkitd with `--tlscacert`
/// requires it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub ca_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub server_name: Option<String>,
}

impl TlsOptions {
    /// Whether any TLS setting is present (buildctl turns TLS on then).
    pub fn is_set(&self) -> bool {
        self.ca_cert.is_some()
            || self.cert.is_some()
            || self.key.is_some()
            || self.server_name.is_some()
    }
}

/// A ready TLS client for one server.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    connector: tokio_rustls::TlsConnector,
    server_name: rustls::pki_types::ServerName<'static>,
}

impl TlsSetup {
    /// Read the files of `opts` for a connection to `addr`. `h2` offers ALPN
    /// `h2`, which grpc-go servers require; the Docker Engine API is
    /// HTTP/1.1 (until an upgrade) and gets none.
    pub(crate) fn new(addr: &TcpAddr, opts: &TlsOptions, h2: bool) -> Result<TlsSetup, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

        let mut roots = rustls::RootCertStore::empty();
        match &opts.ca_cert {
            Some(ca) => {
                let certs = CertificateDer::pem_file_iter(ca)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("ca certificate {}: {e}", ca.display()))?;
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("ca certificate {}: {e}", ca.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "ca certificate {}: no certificates in the file",
                        ca.display()
                    ));
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
                if roots.is_empty() {
                    return Err(
                        "no CA certificate given (--tlscacert) and no system roots found".into(),
                    );
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match (&opts.cert, &opts.key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
                if chain.is_empty() {
                    return Err(format!(
                        "client certificate {}: no certificates in the file",
                        cert.display()
                    ));
                }
                let key_der = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("client key {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| format!("client certificate and key: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => return Err("--tlscert needs --tlskey".into()),
            (None, Some(_)) => return Err("--tlskey needs --tlscert".into()),
        };
        if h2 {
            config.alpn_protocols = vec![b"h2".to_vec()];
        }
        let host = opts
            .server_name
            .clone()
            .unwrap_or_else(|| addr.host.clone());
        let server_name =
            ServerName::try_from(host.clone()).map_err(|e| format!("server name {host:?}: {e}"))?;
        Ok(TlsSetup {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The handshake on a connected socket.
    pub(crate) async fn handshake(
        self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        self.connector
            .connect(self.server_name, tcp)
            .await
            .map_err(|e| format!("tls handshake: {e}"))
    }
}
