//! One repository on one registry, spoken to as the docker CLI does: ping
//! `/v2/` (HTTPS; plain HTTP only for loopback or `--insecure`), answer its
//! challenge (Bearer token or Basic, from the docker config's credentials),
//! then GET manifests and blobs, retrying 429s with a bounded backoff.
//!
//! The one idea: every request goes through `send`, which owns the three
//! things that may make a registry say "not now": a missing or stale
//! `Authorization` (one re-authentication, then a clear 401/403 error), rate
//! limiting (bounded retries), and transport failures (one line naming the
//! registry). Credentials and tokens only ever travel in headers: no message,
//! log line or `Debug` output holds them.

use super::challenge::{self, Challenge};
use super::RegistryError;
use crate::docker::credentials::{CredentialStore, Credentials, CredentialsError};
use crate::reference::RegistryRef;
use base64::Engine as _;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use ureq::http::{Response, StatusCode};
use ureq::Body;

/// Manifest media types archgate asks for (OCI image-spec `media-types.md`;
/// distribution `docs/spec/manifest-v2-2.md`).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";
/// The largest token answer or error body read.
const SMALL_BODY_LIMIT: u64 = 1 << 20;
/// Connect and per-read timeouts: a registry that stops sending mid-blob is
/// given up on after `READ_TIMEOUT` of silence.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed (blobs are often served from object storage).
const MAX_REDIRECTS: u32 = 10;

/// How often and how long to wait on 429 Too Many Requests.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Requests made in all (the first one included).
    pub attempts: u32,
    /// The first wait; each further one doubles.
    pub base: Duration,
    /// No single wait is longer, whatever `Retry-After` asks for.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `n` (0-based), honouring `Retry-After`
    /// (seconds) up to `max_wait`.
    pub fn wait(&self, n: u32, retry_after: Option<&str>) -> Duration {
        if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
            return Duration::from_secs(secs).min(self.max_wait);
        }
        let factor = 1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max_wait)
    }
}

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Allow plain HTTP (and unverified HTTPS) for a non-loopback registry.
    pub insecure: bool,
    /// The docker config dir (default: `$DOCKER_CONFIG`, else `~/.docker`).
    pub docker_config: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// Ask the token service for push as well as pull (writing manifests).
    pub push: bool,
}

/// What the client currently sends as `Authorization`.
#[derive(Default)]
struct AuthState {
    header: Option<String>,
    /// Whether `header` was made from configured credentials.
    with_credentials: bool,
}

/// A repository on a registry.
pub struct Client {
    /// As the user named it: `docker.io`, `127.0.0.1:5000`.
    registry: String,
    repository: String,
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    base: String,
    agent: ureq::Agent,
    options: ClientOptions,
    store: OnceLock<Result<CredentialStore, CredentialsError>>,
    auth: Mutex<AuthState>,
}

impl std::fmt::Debug for Client {
    // Never print the Authorization header.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("repository", &self.repository)
            .finish()
    }
}

/// A manifest as the registry served it.
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    /// `Content-Type`, without parameters.
    pub media_type: String,
    /// `Docker-Content-Digest`, when sent.
    pub digest_header: Option<String>,
}

/// See `agent`.
const IDLE_PER_HOST: usize = 10;

fn agent(insecure: bool) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let mut tls = TlsConfig::builder().provider(TlsProvider::Rustls);
    if insecure {
        tls = tls.disable_verification(true);
    } else {
        // The system's roots (as docker uses them), else Mozilla's.
        let native = rustls_native_certs::load_native_certs();
        let certs: Vec<Certificate<'static>> = native
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        tls = tls.root_certs(if certs.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::from(certs)
        });
    }
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(MAX_REDIRECTS)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        // Layers are fetched on as many threads as read them at once (one
        // per core, at most 8, plus a lookup's own): keep that many
        // connections alive between blobs (ureq keeps 3 per host).
        .max_idle_connections_per_host(IDLE_PER_HOST)
        .user_agent(concat!("archgate/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build()
        .new_agent()
}

/// `Retry-After` and other single headers as text.
fn header<'a>(r: &'a Response<Body>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The registry's error codes from a JSON error body, as one short line
/// (`MANIFEST_UNKNOWN: manifest unknown`), or the status text.
fn error_detail(r: Response<Body>) -> String {
    let status = r.status();
    let bytes = r
        .into_body()
        .with_config()
        .limit(SMALL_BODY_LIMIT)
        .read_to_vec()
        .unwrap_or_default();
    let parsed: Option<Vec<String>> = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            let errs = v.get("errors")?.as_array()?.clone();
            Some(
                errs.iter()
                    .map(|e| {
                        let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                        let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                        format!("{code}: {msg}")
                    })
                    .collect(),
            )
        });
    let text = match parsed {
        Some(v) if !v.is_empty() => format!("{} ({})", status_text(status), v.join("; ")),
        _ => status_text(status),
    };
    one_line(&text, 300)
}

pub fn status_text(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {}", s.as_u16(), r.to_ascii_lowercase()),
        None => s.as_u16().to_string(),
    }
}

/// Control characters out, length capped: registry text in one line.
fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push_str("...");
    }
    out
}

/// `application/json; charset=utf-8` -> `application/json`.
fn media_type_of(r: &Response<Body>) -> String {
    header(r, "content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Percent-encode a query value (RFC 3986 unreserved characters kept).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Find the registry's API (`GET /v2/`), choosing the scheme, and
    /// authenticate if it asks for it.
    pub fn connect(r: &RegistryRef, options: ClientOptions) -> Result<Client, RegistryError> {
        let loose = options.insecure || r.is_loopback();
        let endpoint = r.endpoint().to_string();
        let mut client = Client {
            registry: r.domain.clone(),
            repository: r.repository.clone(),
            base: format!("https://{endpoint}"),
            agent: agent(loose),
            options,
            store: OnceLock::new(),
            auth: Mutex::default(),
        };
        let ping = if loose {
            // Plain HTTP first: a TLS server answers a plain request at once
            // (an alert, or Go's 400), while a plain server may sit on a TLS
            // hello until it times out. Then HTTPS, unverified, as docker
            // does for insecure registries.
            client.base = format!("http://{endpoint}");
            match client.ping() {
                Ok(resp) if resp.status() != StatusCode::BAD_REQUEST => resp,
                first => {
                    tracing::debug!(registry = %client.registry, "no plain HTTP answer; trying HTTPS");
                    client.base = format!("https://{endpoint}");
                    match (client.ping(), first) {
                        (Ok(resp), _) => resp,
                        (Err(_), Err(e)) => return Err(e),
                        (Err(e), Ok(_)) => return Err(e),
                    }
                }
            }
        } else {
            client.ping()?
        };
        match ping.status().as_u16() {
            200..=299 => Ok(client),
            401 => {
                let challenges = challenges(&ping);
                drop(ping);
                client.authenticate(&challenges)?;
                Ok(client)
            }
            _ => Err(RegistryError::NotARegistry {
                registry: client.registry.clone(),
                url: format!("{}/v2/", client.base),
                detail: error_detail(ping),
            }),
        }
    }

    fn ping(&self) -> Result<Response<Body>, RegistryError> {
        let url = format!("{}/v2/", self.base);
        self.retrying(&url, "GET /v2/", || self.agent.get(&url).call())
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Issue a request, waiting out 429s within the retry policy.
    fn retrying(
        &self,
        url: &str,
        what: &str,
        call: impl Fn() -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, RegistryError> {
        let policy = self.options.retry;
        let mut n = 0;
        loop {
            let resp = call().map_err(|e| RegistryError::Unreachable {
                registry: self.registry.clone(),
                url: url.to_string(),
                detail: one_line(&e.to_string(), 300),
            })?;
            if resp.status() != StatusCode::TOO_MANY_REQUESTS {
                return Ok(resp);
            }
            n += 1;
            if n >= policy.attempts.max(1) {
                return Err(RegistryError::RateLimited {
                    registry: self.registry.clone(),
                    what: what.to_string(),
                    attempts: n,
                });
            }
            let wait = policy.wait(n - 1, header(&resp, "retry-after"));
            tracing::debug!(registry = %self.registry, ?wait, "429 too many requests; waiting");
            drop(resp);
            std::thread::sleep(wait);
        }
    }

    /// GET with the current authorisation; on 401, authenticate again with
    /// the registry's new challenge and retry once.
    fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<Response<Body>, RegistryError> {
        self.authorized(path, what, |url, auth| {
            let mut req = self.agent.get(url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(h) = auth {
                req = req.header("Authorization", h);
            }
            req.call()
        })
    }

    /// PUT a manifest under a tag or digest (distribution `docs/spec/api.md`
    /// "Pushing An Image Manifest"); the client must have been connected
    /// with `push`. The digest the registry gives it.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repository);
        let what = format!("manifest {reference}");
        let resp = self.authorized(&path, &what, |url, auth| {
            let mut req = self.agent.put(url).header("Content-Type", media_type);
            if let Some(h) = auth {
                req = req.header("Authorization", h);
            }
            req.send(bytes)
        })?;
        if !resp.status().is_success() {
            return Err(self.unexpected(&what, resp));
        }
        Ok(header(&resp, "docker-content-digest")
            .map(str::to_string)
            .unwrap_or_else(|| crate::digest::Digest::sha256_of(bytes).to_string()))
    }

    /// Issue a request with the current credentials, authenticating again
    /// once on a 401.
    fn authorized(
        &self,
        path: &str,
        what: &str,
        call: impl Fn(&str, Option<&str>) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, RegistryError> {
        let url = format!("{}{path}", self.base);
        let mut reauthenticated = false;
        loop {
            let auth = self.lock().header.clone();
            let resp = self.retrying(&url, what, || call(&url, auth.as_deref()))?;
            match resp.status().as_u16() {
                401 if !reauthenticated => {
                    reauthenticated = true;
                    let challenges = challenges(&resp);
                    drop(resp);
                    // Another thread may have refreshed it meanwhile.
                    if self.lock().header == auth {
                        self.authenticate(&challenges)?;
                    }
                }
                401 => return Err(self.unauthorized(error_detail(resp))),
                403 => return Err(self.denied(error_detail(resp))),
                _ => return Ok(resp),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config_file(&self) -> String {
        match self.store.get() {
            Some(Ok(s)) => s.config_file().display().to_string(),
            _ => self
                .options
                .docker_config
                .clone()
                .unwrap_or_else(crate::docker::config::config_dir)
                .join("config.json")
                .display()
                .to_string(),
        }
    }

    fn unauthorized(&self, detail: String) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            refused: self.lock().with_credentials,
            config: self.config_file(),
            detail,
        }
    }

    fn denied(&self, detail: String) -> RegistryError {
        RegistryError::Denied {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            with_credentials: self.lock().with_credentials,
            config: self.config_file(),
            detail,
        }
    }

    /// The configured credentials for this registry (docker's lookup).
    fn credentials(&self) -> Result<Credentials, RegistryError> {
        let store = self
            .store
            .get_or_init(|| match &self.options.docker_config {
                Some(d) => CredentialStore::from_config_dir(d),
                None => CredentialStore::new(),
            });
        match store {
            Ok(s) => s
                .credentials_for(&self.registry)
                .map_err(RegistryError::Credentials),
            Err(e) => Err(RegistryError::Credentials(e.clone())),
        }
    }

    /// Answer a 401's challenges: a Bearer token (anonymous or with the
    /// configured credentials), else Basic with the credentials.
    fn authenticate(&self, challenges: &[Challenge]) -> Result<(), RegistryError> {
        let creds = self.credentials()?;
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.fetch_token(bearer, &creds)?;
            let mut st = self.lock();
            st.header = Some(format!("Bearer {token}"));
            st.with_credentials = creds.is_some();
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            let Some((user, secret)) = creds else {
                return Err(self.unauthorized("401 unauthorized".into()));
            };
            let raw = format!("{user}:{secret}");
            let mut st = self.lock();
            st.header = Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ));
            st.with_credentials = true;
            return Ok(());
        }
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        Err(RegistryError::UnsupportedAuth {
            registry: self.registry.clone(),
            schemes: if schemes.is_empty() {
                "none".into()
            } else {
                schemes.join(", ")
            },
        })
    }

    /// The token flow of distribution `docs/spec/auth/token.md`: GET the
    /// realm with `service` and `scope` (Basic credentials when there are
    /// some), or the OAuth2 refresh-token POST for an identity token.
    fn fetch_token(&self, ch: &Challenge, creds: &Credentials) -> Result<String, RegistryError> {
        let bad = |reason: String| RegistryError::Token {
            registry: self.registry.clone(),
            reason,
        };
        let realm = ch
            .param("realm")
            .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
            .ok_or_else(|| bad("the Bearer challenge names no http(s) realm".into()))?;
        let actions = if self.options.push {
            "pull,push"
        } else {
            "pull"
        };
        let scope = format!("repository:{}:{actions}", self.repository);
        let service = ch.param("service").unwrap_or("");
        let what = "the token request";
        let resp = match creds {
            Some((user, secret)) if user.is_empty() => {
                // An identity token: OAuth2 refresh (docker/distribution
                // `registry/client/auth/session.go` fetchTokenWithOAuth).
                self.retrying(realm, what, || {
                    self.agent.post(realm).send_form([
                        ("grant_type", "refresh_token"),
                        ("refresh_token", secret.as_str()),
                        ("service", service),
                        ("scope", scope.as_str()),
                        ("client_id", "archgate"),
                    ])
                })?
            }
            _ => {
                let sep = if realm.contains('?') { '&' } else { '?' };
                let mut url = format!("{realm}{sep}scope={}", query_escape(&scope));
                if !service.is_empty() {
                    url.push_str(&format!("&service={}", query_escape(service)));
                }
                let basic = creds.as_ref().map(|(u, s)| {
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{s}"))
                    )
                });
                self.retrying(realm, what, || {
                    let mut req = self.agent.get(&url);
                    if let Some(b) = &basic {
                        req = req.header("Authorization", b);
                    }
                    req.call()
                })?
            }
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let mut st = self.lock();
            st.with_credentials = creds.is_some();
            drop(st);
            return Err(
                self.unauthorized(format!("the token service answered {}", error_detail(resp)))
            );
        }
        if !status.is_success() {
            return Err(bad(format!(
                "the token service answered {}",
                error_detail(resp)
            )));
        }
        let bytes = resp
            .into_body()
            .with_config()
            .limit(SMALL_BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| {
                bad(format!(
                    "reading its answer: {}",
                    one_line(&e.to_string(), 200)
                ))
            })?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| bad("its answer is not JSON".into()))?;
        ["token", "access_token"]
            .iter()
            .filter_map(|k| v.get(k).and_then(|t| t.as_str()))
            .find(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| bad("its answer holds no token".into()))
    }

    /// GET a manifest (tag or digest), capped at `limit` bytes. `Ok(None)`
    /// when the registry has no such manifest (404).
    pub fn manifest(
        &self,
        reference: &str,
        limit: u64,
    ) -> Result<Result<FetchedManifest, String>, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repository);
        let what = format!("manifest {reference}");
        let resp = self.get(&path, Some(MANIFEST_ACCEPT), &what)?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Err(error_detail(resp)));
        }
        if !status.is_success() {
            return Err(self.unexpected(&what, resp));
        }
        let media_type = media_type_of(&resp);
        let digest_header = header(&resp, "docker-content-digest").map(str::to_string);
        if resp.body().content_length().is_some_and(|n| n > limit) {
            return Err(RegistryError::TooLarge {
                registry: self.registry.clone(),
                what,
                limit,
            });
        }
        let bytes = resp
            .into_body()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge {
                    registry: self.registry.clone(),
                    what: what.clone(),
                    limit,
                },
                e => RegistryError::Unreachable {
                    registry: self.registry.clone(),
                    url: format!("{}{path}", self.base),
                    detail: one_line(&e.to_string(), 300),
                },
            })?;
        Ok(Ok(FetchedManifest {
            bytes,
            media_type,
            digest_header,
        }))
    }

    /// Stream a blob (redirects followed). `Ok(Err(detail))` on 404.
    pub fn blob(
        &self,
        digest: &str,
    ) -> Result<Result<Box<dyn Read + Send>, String>, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repository);
        let what = format!("blob {digest}");
        let resp = self.get(&path, None, &what)?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Err(error_detail(resp)));
        }
        if !status.is_success() {
            return Err(self.unexpected(&what, resp));
        }
        Ok(Ok(Box::new(resp.into_body().into_reader())))
    }

    fn unexpected(&self, what: &str, resp: Response<Body>) -> RegistryError {
        RegistryError::Status {
            registry: self.registry.clone(),
            what: what.to_string(),
            detail: error_detail(resp),
        }
    }
}

fn challenges(r: &Response<Body>) -> Vec<Challenge> {
    challenge::parse_all(
        r.headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max_wait: Duration::from_secs(2),
        };
        assert_eq!(p.wait(0, None), Duration::from_millis(100));
        assert_eq!(p.wait(1, None), Duration::from_millis(200));
        assert_eq!(p.wait(3, None), Duration::from_millis(800));
        assert_eq!(p.wait(10, None), Duration::from_secs(2));
        assert_eq!(p.wait(40, None), Duration::from_secs(2));
        assert_eq!(p.wait(0, Some("1")), Duration::from_secs(1));
        assert_eq!(p.wait(0, Some("3600")), Duration::from_secs(2));
        // An HTTP date is not understood: the backoff applies.
        assert_eq!(
            p.wait(1, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            query_escape("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(query_escape("reg.example-1_~"), "reg.example-1_~");
    }

    #[test]
    fn one_line_strips_controls_and_caps() {
        assert_eq!(one_line("a\nb\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc...");
    }
}
