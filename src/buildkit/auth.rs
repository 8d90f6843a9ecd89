//! Registry credentials for the daemon: the session's `moby.filesync.v1.Auth`
//! service, answering `Credentials(host)` from the docker CLI's config.
//!
//! The one idea: this is only the gRPC face of [`crate::docker::credentials`], which
//! looks hosts up exactly as docker/cli does; lookups may run a credential
//! helper, so they run on the blocking pool.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tonic::{Request, Response, Status};

use super::proto::moby::filesync::v1::{
    auth_server::{Auth, AuthServer},
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use crate::docker::credentials::{CredentialStore, Credentials, CredentialsError};

/// The session's Auth service. Cheap to clone; clones share the cache.
#[derive(Clone, Debug)]
pub struct AuthService {
    store: CredentialStore,
}

impl AuthService {
    /// Read the config from [`crate::docker::config::config_dir`]. A missing file means
    /// anonymous; an unreadable or malformed one is an error.
    pub fn new() -> Result<Self, CredentialsError> {
        Ok(AuthService {
            store: CredentialStore::new()?,
        })
    }

    /// Read `DIR/config.json`.
    pub fn from_config_dir(dir: &Path) -> Result<Self, CredentialsError> {
        Ok(AuthService {
            store: CredentialStore::from_config_dir(dir)?,
        })
    }

    /// Search these directories (a `PATH` value) for `docker-credential-*`
    /// helpers instead of the process's `PATH`.
    pub fn with_helper_path(self, path: impl Into<OsString>) -> Self {
        AuthService {
            store: self.store.with_helper_path(path),
        }
    }

    /// Kill a helper that has not answered after `timeout`.
    pub fn with_helper_timeout(self, timeout: Duration) -> Self {
        AuthService {
            store: self.store.with_helper_timeout(timeout),
        }
    }

    /// The tonic service to add to the session's server.
    pub fn into_server(self) -> AuthServer<AuthService> {
        AuthServer::new(self)
    }

    /// Credentials for a registry host (see
    /// [`CredentialStore::credentials_for`]); blocks.
    pub fn credentials_for(&self, host: &str) -> Result<Credentials, CredentialsError> {
        self.store.credentials_for(host)
    }
}

impl super::session::Advertised for AuthServer<AuthService> {
    const METHODS: &'static [&'static str] = &[
        "Credentials",
        "FetchToken",
        "GetTokenAuthority",
        "VerifyTokenAuthority",
    ];
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        let this = self.clone();
        let lookup_host = host.clone();
        let answer = tokio::task::spawn_blocking(move || this.credentials_for(&lookup_host))
            .await
            .map_err(|e| Status::internal(format!("credentials lookup for {host}: {e}")))?;
        match answer {
            Ok(creds) => {
                tracing::debug!(host = %host, anonymous = creds.is_none(), "registry credentials");
                let (username, secret) = creds.unwrap_or_default();
                Ok(Response::new(CredentialsResponse { username, secret }))
            }
            Err(e) => Err(Status::unknown(e.to_string())),
        }
    }

    async fn fetch_token(
        &self,
        _request: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented(
            "archgate does not fetch registry tokens; the daemon does",
        ))
    }

    async fn get_token_authority(
        &self,
        _request: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        // Unavailable (like buildkit's provider with BUILDKIT_NO_CLIENT_TOKEN)
        // makes the daemon ask for Credentials and fetch tokens itself.
        Err(Status::unavailable(
            "archgate has no token authority; fetch tokens with the credentials",
        ))
    }

    async fn verify_token_authority(
        &self,
        _request: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("archgate has no token authority"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        crate::docker::credentials::tests_support::b64(s)
    }

    fn service(dir: &Path, config: &str) -> AuthService {
        std::fs::write(dir.join("config.json"), config).unwrap();
        AuthService::from_config_dir(dir).unwrap()
    }

    fn helper_dir() -> (tempfile::TempDir, OsString) {
        crate::docker::credentials::tests_support::helper_dir()
    }

    #[tokio::test]
    async fn grpc_methods() {
        let dir = tempfile::tempdir().unwrap();
        let (_h, bin) = helper_dir();
        let cfg = format!(
            r#"{{"auths": {{"reg.example": {{"auth": "{}"}}}}, "credHelpers": {{"fail.example": "test"}}}}"#,
            b64("bob:pw")
        );
        let svc = service(dir.path(), &cfg).with_helper_path(&bin);
        let ask = |host: &str| {
            Request::new(CredentialsRequest {
                host: host.to_string(),
            })
        };
        let r = svc
            .credentials(ask("reg.example"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((r.username.as_str(), r.secret.as_str()), ("bob", "pw"));
        let r = svc
            .credentials(ask("other.example"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((r.username.as_str(), r.secret.as_str()), ("", ""));
        let st = svc.credentials(ask("fail.example")).await.unwrap_err();
        assert_eq!(st.code(), tonic::Code::Unknown);
        assert!(st.message().contains("docker-credential-test"), "{st:?}");
        assert!(st.message().contains("fail.example"), "{st:?}");

        let st = svc
            .get_token_authority(Request::new(GetTokenAuthorityRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(st.code(), tonic::Code::Unavailable);
        let st = svc
            .fetch_token(Request::new(FetchTokenRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(st.code(), tonic::Code::Unimplemented);
        let st = svc
            .verify_token_authority(Request::new(VerifyTokenAuthorityRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(st.code(), tonic::Code::Unimplemented);
    }

    #[test]
    fn debug_never_prints_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(
            dir.path(),
            &format!(
                r#"{{"auths": {{"r": {{"auth": "{}"}}}}}}"#,
                b64("user:topsecret")
            ),
        );
        assert!(!format!("{svc:?}").contains("topsecret"));
    }
}
