//! Build secrets: parsing `--secret` values the way `docker buildx build`
//! does (`id=ID,src=FILE`, `id=ID,env=VAR`, `type=file|env`, and the bare
//! `id=ID` shorthand), and the session's `moby.buildkit.secrets.v1.Secrets`
//! service that hands them to `RUN --mount=type=secret`.
//!
//! The one idea: decide everything at parse time (which source, whether the
//! file is readable and small enough), so a bad `--secret` fails before the
//! build starts; at request time only the file's bytes are read, and an
//! unknown id is `NotFound`, which the daemon treats as "no such secret".

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::proto::moby::buildkit::secrets::v1::{
    secrets_server::{Secrets, SecretsServer},
    GetSecretRequest, GetSecretResponse,
};
use crate::goparse::csv_fields;

/// Largest secret file accepted (buildkit
/// `session/secrets/secretsprovider/secretsprovider.go` `MaxSecretSize`,
/// 500 KiB).
pub const MAX_SECRET_SIZE: u64 = 500 * 1024;

/// Why a `--secret` value or a secret file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The `--secret` value itself is malformed.
    #[error("invalid --secret {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },

    /// The secret's file cannot be opened or is not a regular file.
    #[error("secret {id:?}: cannot read {}: {reason}", path.display())]
    Unreadable {
        id: String,
        path: PathBuf,
        reason: String,
    },

    /// The secret's file is over [`MAX_SECRET_SIZE`].
    #[error(
        "secret {id:?}: {} is {size} bytes, over the {} byte limit for secrets",
        path.display(),
        MAX_SECRET_SIZE
    )]
    TooBig {
        id: String,
        path: PathBuf,
        size: u64,
    },
}

/// Where a secret's bytes come from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Read at request time (absolute path).
    File(PathBuf),
    /// An environment variable's value, taken when the flag was parsed (an
    /// unset variable gives an empty secret, as with buildx).
    Env { var: String, value: Vec<u8> },
}

impl std::fmt::Debug for SecretSource {
    // Never print a secret's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(p) => f.debug_tuple("File").field(p).finish(),
            SecretSource::Env { var, value } => f
                .debug_struct("Env")
                .field("var", var)
                .field("len", &value.len())
                .finish(),
        }
    }
}

/// One parsed `--secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

/// Parse one `--secret` value against the process environment.
pub fn parse_secret(spec: &str) -> Result<SecretSpec, SecretError> {
    parse_secret_with(spec, &|name| std::env::var_os(name))
}

/// Parse every `--secret` value (empty ones are skipped, as buildx does).
pub fn parse_secrets(specs: &[String]) -> Result<Vec<SecretSpec>, SecretError> {
    specs
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| parse_secret(s))
        .collect()
}

/// Parse one `--secret` value; `env` looks variables up (`Some("")` for a
/// variable that is set but empty).
///
/// Rules (docker/buildx `util/buildflags/secrets.go` and buildkit
/// `session/secrets/secretsprovider/store.go`): CSV fields `key=value`,
/// keys case-insensitive: `id`, `src`/`source`, `env`, `type` (`file` or
/// `env`). With `type=env` and no `env=`, `src` names the variable. With
/// neither `src` nor `env`, the id names an environment variable if one is
/// set, else a file. With both, the variable wins.
pub fn parse_secret_with(
    spec: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<SecretSpec, SecretError> {
    let invalid = |reason: String| SecretError::Invalid {
        spec: spec.to_string(),
        reason,
    };
    let fields = csv_fields(spec).map_err(invalid)?;
    let (mut id, mut src, mut var, mut typ) = (String::new(), None, None, None);
    for field in &fields {
        let Some((key, value)) = field.split_once('=') else {
            return Err(invalid(format!("field {field:?} must be a key=value pair")));
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => match value {
                "file" | "env" => typ = Some(value.to_string()),
                _ => {
                    return Err(invalid(format!(
                        "unsupported secret type {value:?} (want file or env)"
                    )))
                }
            },
            "id" => id = value.to_string(),
            "src" | "source" => src = Some(value.to_string()).filter(|v| !v.is_empty()),
            "env" => var = Some(value.to_string()).filter(|v| !v.is_empty()),
            other => return Err(invalid(format!("unexpected key {other:?} in {field:?}"))),
        }
    }
    if typ.as_deref() == Some("env") && var.is_none() {
        var = src.take();
    }
    if id.is_empty() {
        return Err(invalid("missing id".to_string()));
    }
    if var.is_none() && src.is_none() {
        if env(&id).is_some() {
            var = Some(id.clone());
        } else {
            src = Some(id.clone());
        }
    }
    // buildkit stats the file even when the variable wins; so do we.
    let file = match src {
        Some(src) => Some(check_file(&id, Path::new(&src))?),
        None => None,
    };
    let source = match (var, file) {
        (Some(var), _) => {
            let value = env(&var).map(os_bytes).unwrap_or_default();
            SecretSource::Env { var, value }
        }
        (None, Some(file)) => SecretSource::File(file),
        (None, None) => return Err(invalid("no source".to_string())),
    };
    Ok(SecretSpec { id, source })
}

#[cfg(unix)]
fn os_bytes(s: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    s.into_vec()
}

#[cfg(not(unix))]
fn os_bytes(s: OsString) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}

/// The file must open, be a regular file and be small enough; returns its
/// absolute path.
fn check_file(id: &str, path: &Path) -> Result<PathBuf, SecretError> {
    let unreadable = |reason: String| SecretError::Unreadable {
        id: id.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.is_dir() {
        return Err(unreadable("is a directory".to_string()));
    }
    if !meta.is_file() {
        // A pipe or device (`src=/dev/stdin`): opening could block, and its
        // size says nothing; it is read, capped, when the build asks.
        return std::path::absolute(path).map_err(|e| unreadable(e.to_string()));
    }
    // Opening proves it is readable now (permissions), not just present.
    std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.len() > MAX_SECRET_SIZE {
        return Err(SecretError::TooBig {
            id: id.to_string(),
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    std::path::absolute(path).map_err(|e| unreadable(e.to_string()))
}

/// Read a secret file now, refusing one that grew past the limit.
fn read_file(id: &str, path: &Path) -> Result<Vec<u8>, SecretError> {
    let unreadable = |reason: String| SecretError::Unreadable {
        id: id.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let mut data = Vec::new();
    file.take(MAX_SECRET_SIZE + 1)
        .read_to_end(&mut data)
        .map_err(|e| unreadable(e.to_string()))?;
    if data.len() as u64 > MAX_SECRET_SIZE {
        let size = std::fs::metadata(path).map_or(data.len() as u64, |m| m.len());
        return Err(SecretError::TooBig {
            id: id.to_string(),
            path: path.to_path_buf(),
            size,
        });
    }
    Ok(data)
}

/// The session's Secrets service. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SecretsService {
    secrets: Arc<HashMap<String, SecretSource>>,
}

impl SecretsService {
    /// Serve these secrets; a later spec with the same id wins.
    pub fn new(specs: impl IntoIterator<Item = SecretSpec>) -> Self {
        let secrets = specs.into_iter().map(|s| (s.id, s.source)).collect();
        SecretsService {
            secrets: Arc::new(secrets),
        }
    }

    /// Parse `--secret` values and serve them.
    pub fn from_flags(flags: &[String]) -> Result<Self, SecretError> {
        Ok(Self::new(parse_secrets(flags)?))
    }

    /// The ids served, sorted.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.secrets.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// The tonic service to add to the session's server.
    pub fn into_server(self) -> SecretsServer<SecretsService> {
        SecretsServer::new(self)
    }
}

impl super::session::Advertised for SecretsServer<SecretsService> {
    const METHODS: &'static [&'static str] = &["GetSecret"];
}

#[tonic::async_trait]
impl Secrets for SecretsService {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = request.into_inner().id;
        let data = match self.secrets.get(&id) {
            None => {
                // NotFound lets `required=false` mounts go without.
                return Err(Status::not_found(format!("secret {id:?} not found")));
            }
            Some(SecretSource::Env { value, .. }) => value.clone(),
            Some(SecretSource::File(path)) => {
                let (id, path) = (id.clone(), path.clone());
                tokio::task::spawn_blocking(move || read_file(&id, &path))
                    .await
                    .map_err(|e| Status::internal(format!("reading a secret: {e}")))?
                    .map_err(|e| match e {
                        SecretError::TooBig { .. } => Status::resource_exhausted(e.to_string()),
                        _ => Status::unknown(e.to_string()),
                    })?
            }
        };
        tracing::debug!(id = %id, bytes = data.len(), "secret served");
        Ok(Response::new(GetSecretResponse { data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn file_with(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn parse_table() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(dir.path(), "tok", b"file-secret");
        // A file named like the id, for the shorthand.
        let cwd_rel = file_with(dir.path(), "bare", b"x");
        let env = env_of(&[("TOKEN", "env-secret"), ("EMPTY", "")]);
        let fp = f.display().to_string();
        let file = |id: &str, p: &Path| SecretSpec {
            id: id.into(),
            source: SecretSource::File(p.to_path_buf()),
        };
        let envs = |id: &str, var: &str, v: &str| SecretSpec {
            id: id.into(),
            source: SecretSource::Env {
                var: var.into(),
                value: v.as_bytes().to_vec(),
            },
        };
        let cases: Vec<(String, SecretSpec)> = vec![
            (format!("id=a,src={fp}"), file("a", &f)),
            (format!("id=a,source={fp}"), file("a", &f)),
            (format!("ID=a,SRC={fp}"), file("a", &f)),
            (format!("type=file,id=a,src={fp}"), file("a", &f)),
            ("id=a,env=TOKEN".into(), envs("a", "TOKEN", "env-secret")),
            (
                "id=a,type=env,src=TOKEN".into(),
                envs("a", "TOKEN", "env-secret"),
            ),
            ("id=a,env=UNSET".into(), envs("a", "UNSET", "")),
            ("id=a,env=EMPTY".into(), envs("a", "EMPTY", "")),
            // Shorthand: the id is a set variable...
            ("id=TOKEN".into(), envs("TOKEN", "TOKEN", "env-secret")),
            ("id=EMPTY".into(), envs("EMPTY", "EMPTY", "")),
            (
                "type=env,id=TOKEN".into(),
                envs("TOKEN", "TOKEN", "env-secret"),
            ),
            // ...else a file path.
            (
                format!("id={}", cwd_rel.display()),
                file(&cwd_rel.display().to_string(), &cwd_rel),
            ),
            // Both: the variable wins (the file must still exist).
            (
                format!("id=a,src={fp},env=TOKEN"),
                envs("a", "TOKEN", "env-secret"),
            ),
            // Quoted CSV field.
            (format!("\"id=a\",\"src={fp}\""), file("a", &f)),
        ];
        for (spec, want) in cases {
            let got = parse_secret_with(&spec, &env).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn parse_errors() {
        let dir = tempfile::tempdir().unwrap();
        let big = file_with(dir.path(), "big", &vec![b'x'; MAX_SECRET_SIZE as usize + 1]);
        let exact = file_with(dir.path(), "exact", &vec![b'x'; MAX_SECRET_SIZE as usize]);
        let missing = dir.path().join("nope");
        let env = env_of(&[]);
        let cases = [
            ("id=a,src".to_string(), "must be a key=value pair"),
            (
                "id=a,type=ssh".to_string(),
                "unsupported secret type \"ssh\"",
            ),
            ("id=a,foo=bar".to_string(), "unexpected key \"foo\""),
            ("src=/etc/hostname".to_string(), "missing id"),
            ("id=a,src=\"unterminated".to_string(), "invalid --secret"),
            (format!("id=a,src={}", missing.display()), "cannot read"),
            (
                format!("id=a,src={}", dir.path().display()),
                "is a directory",
            ),
            (
                format!("id=a,src={}", big.display()),
                "over the 512000 byte limit",
            ),
            // No variable of that name: a file that does not exist.
            ("id=NOPE_NOT_SET".to_string(), "cannot read NOPE_NOT_SET"),
        ];
        for (spec, needle) in cases {
            let err = parse_secret_with(&spec, &env).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
        let err = parse_secret_with(&format!("id=a,src={}", missing.display()), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(parse_secret_with(&format!("id=a,src={}", exact.display()), &env).is_ok());
    }

    #[test]
    fn unreadable_file_is_refused_at_parse_time() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(dir.path(), "locked", b"x");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::File::open(&f).is_ok() {
            return; // running as root: permissions do not apply
        }
        let err = parse_secret_with(&format!("id=a,src={}", f.display()), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read") && err.contains("locked"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn devices_are_accepted_and_read_when_asked() {
        let spec = parse_secret_with("id=a,src=/dev/null", &env_of(&[])).unwrap();
        assert_eq!(spec.source, SecretSource::File("/dev/null".into()));
        let svc = SecretsService::new([spec]);
        assert_eq!(get(&svc, "a").await.unwrap(), b"");
    }

    #[test]
    fn empty_flags_are_skipped() {
        assert!(parse_secrets(&[String::new()]).unwrap().is_empty());
    }

    #[test]
    fn debug_hides_values() {
        let s = SecretSource::Env {
            var: "V".into(),
            value: b"hunter2".to_vec(),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    async fn get(svc: &SecretsService, id: &str) -> Result<Vec<u8>, Status> {
        svc.get_secret(Request::new(GetSecretRequest {
            id: id.to_string(),
            annotations: Default::default(),
        }))
        .await
        .map(|r| r.into_inner().data)
    }

    #[tokio::test]
    async fn service_reads_files_at_request_time() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(dir.path(), "s", b"v1");
        let env = env_of(&[("TOKEN", "env-secret")]);
        let svc = SecretsService::new([
            parse_secret_with(&format!("id=file,src={}", f.display()), &env).unwrap(),
            parse_secret_with("id=env,env=TOKEN", &env).unwrap(),
        ]);
        assert_eq!(svc.ids(), ["env", "file"]);
        assert_eq!(get(&svc, "file").await.unwrap(), b"v1");
        assert_eq!(get(&svc, "env").await.unwrap(), b"env-secret");

        std::fs::write(&f, b"v2").unwrap();
        assert_eq!(get(&svc, "file").await.unwrap(), b"v2");

        let st = get(&svc, "unknown").await.unwrap_err();
        assert_eq!(st.code(), tonic::Code::NotFound);

        std::fs::write(&f, vec![b'x'; MAX_SECRET_SIZE as usize + 10]).unwrap();
        let st = get(&svc, "file").await.unwrap_err();
        assert_eq!(st.code(), tonic::Code::ResourceExhausted);
        assert!(st.message().contains("\"file\""), "{st:?}");

        std::fs::remove_file(&f).unwrap();
        let st = get(&svc, "file").await.unwrap_err();
        assert_eq!(st.code(), tonic::Code::Unknown);
        assert!(st.message().contains(&f.display().to_string()), "{st:?}");
    }

    #[test]
    fn later_duplicate_id_wins() {
        let env = env_of(&[("A", "1"), ("B", "2")]);
        let svc = SecretsService::new([
            parse_secret_with("id=x,env=A", &env).unwrap(),
            parse_secret_with("id=x,env=B", &env).unwrap(),
        ]);
        assert_eq!(
            svc.secrets.get("x"),
            Some(&SecretSource::Env {
                var: "B".into(),
                value: b"2".to_vec()
            })
        );
    }
}
