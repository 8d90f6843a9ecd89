//! The options that shape what BuildKit builds (context, Dockerfile,
//! `--build-arg`, `--label`, `--target`, `--no-cache`, `--network`), checked
//! and translated into frontend options and the session's local
//! directories, before the daemon is asked anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::stdin::{is_stdin, StdinInputs};
use super::{Network, Request};
use crate::buildkit::solve::Solve;

/// Why the options cannot make a build (exit 2, before anything runs).
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("build context {}: {reason}", path.display())]
    Context { path: PathBuf, reason: String },
    #[error("dockerfile {}: {reason}", path.display())]
    Dockerfile { path: PathBuf, reason: String },
    #[error("invalid {flag} {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

/// Translate what shapes the build into what BuildKit understands: the
/// solve (frontend options, entitlements, the session's name and shared
/// key; exporters and platforms are added later) and the local directories
/// the session serves, by the names the frontend asks for (`context`,
/// `dockerfile`). `env` is read for `--build-arg KEY` without a value (as
/// buildx does: taken from the environment when set, else dropped).
pub fn prepare(
    req: &Request,
    stdin: &StdinInputs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Solve, BTreeMap<String, PathBuf>), OptionsError> {
    let loc = locals(req, stdin)?;
    let mut opts = BTreeMap::new();
    opts.insert("filename".to_string(), loc.filename.clone());
    if let Some(url) = &loc.remote {
        // BuildKit fetches a remote context itself (`context` is read as a
        // git or http source); a local Dockerfile then comes from its own
        // local, named by `dockerfilekey` (`build/opt.go`).
        opts.insert("context".into(), url.clone());
    }
    if loc.dockerfilekey {
        opts.insert("dockerfilekey".into(), "dockerfile".into());
    }
    for a in &req.build_args {
        match a.split_once('=') {
            Some((k, v)) => {
                check_key("--build-arg", a, k)?;
                opts.insert(format!("build-arg:{k}"), v.to_string());
            }
            None => {
                check_key("--build-arg", a, a)?;
                if let Some(v) = env(a) {
                    opts.insert(format!("build-arg:{a}"), v);
                }
            }
        }
    }
    for l in &req.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        check_key("--label", l, k)?;
        opts.insert(format!("label:{k}"), v.to_string());
    }
    if let Some(t) = &req.target {
        opts.insert("target".into(), t.clone());
    }
    if req.no_cache {
        opts.insert("no-cache".into(), String::new());
    }
    let mut entitlements = Vec::new();
    let mut local_dirs = BTreeMap::new();
    let mut oci_stores = Vec::new();
    super::flags::apply(
        &req.flags,
        &mut opts,
        &mut entitlements,
        &mut local_dirs,
        &mut oci_stores,
    )?;
    match req.network {
        Network::Default => {}
        Network::None => {
            opts.insert("force-network-mode".into(), "none".into());
        }
        Network::Host => {
            opts.insert("force-network-mode".into(), "host".into());
            if !entitlements.iter().any(|e| e == "network.host") {
                entitlements.push("network.host".to_string());
            }
        }
    }

    if let Some(c) = &loc.context {
        local_dirs.insert("context".to_string(), c.clone());
    }
    if let Some(d) = &loc.dockerfile_dir {
        local_dirs.insert("dockerfile".to_string(), d.clone());
    }

    let solve = Solve {
        frontend_attrs: opts,
        entitlements,
        oci_stores,
        shared_key: shared_key(&loc.key),
        session_name: loc
            .key
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "context".into()),
        ..Default::default()
    };
    Ok((solve, local_dirs))
}

/// Where the build's context and Dockerfile come from.
struct Locals {
    /// The context directory served as `context`; none for a remote one.
    context: Option<PathBuf>,
    /// A remote context (git or http URL) BuildKit fetches itself.
    remote: Option<String>,
    /// The Dockerfile's folder served as `dockerfile`; none when the
    /// Dockerfile is inside a remote context.
    dockerfile_dir: Option<PathBuf>,
    /// The `filename` option.
    filename: String,
    /// The Dockerfile is not in the context (a remote context's local
    /// Dockerfile, or one read from stdin): named by `dockerfilekey`.
    dockerfilekey: bool,
    /// What the session's shared key and name derive from.
    key: PathBuf,
}

/// The context and Dockerfile of `req` (and what stdin gave), checked.
fn locals(req: &Request, stdin: &StdinInputs) -> Result<Locals, OptionsError> {
    let from_stdin = stdin.dockerfile.as_ref().map(|d| d.path().to_path_buf());
    if is_stdin(&req.context) {
        // `build/opt.go` loadInputs: a tar is the context (its Dockerfile
        // is `-f` as given, inside it); a Dockerfile alone is built with an
        // empty context.
        return Ok(
            match (&stdin.context_url, from_stdin, &stdin.empty_context) {
                (Some(url), _, _) => Locals {
                    context: None,
                    remote: Some(url.clone()),
                    dockerfile_dir: None,
                    filename: req.file.as_ref().map_or_else(
                        || "Dockerfile".to_string(),
                        |f| f.to_string_lossy().into_owned(),
                    ),
                    dockerfilekey: false,
                    key: req.context.clone(),
                },
                (None, Some(dir), Some(empty)) => Locals {
                    context: Some(empty.path().to_path_buf()),
                    remote: None,
                    dockerfile_dir: Some(dir),
                    filename: "Dockerfile".into(),
                    dockerfilekey: true,
                    key: req.context.clone(),
                },
                _ => {
                    return Err(OptionsError::Context {
                        path: req.context.clone(),
                        reason: "stdin was not read".into(),
                    })
                }
            },
        );
    }
    if let Some(url) = req
        .context
        .to_str()
        .filter(|c| super::flags::is_remote_url(c))
    {
        // A remote context: an absolute `-f` is a local file of its own,
        // a relative one a path inside the context (`build/opt.go`).
        let (dockerfile_dir, filename) = match &req.file {
            Some(f) if is_stdin(f) => (from_stdin.clone(), "Dockerfile".to_string()),
            Some(f) if f.is_absolute() => {
                let (dir, name) = local_dockerfile(f, f.clone())?;
                (Some(dir), name)
            }
            Some(f) => (None, f.to_string_lossy().into_owned()),
            None => (None, "Dockerfile".to_string()),
        };
        return Ok(Locals {
            context: None,
            remote: Some(url.to_string()),
            dockerfilekey: dockerfile_dir.is_some(),
            dockerfile_dir,
            filename,
            key: PathBuf::from(url),
        });
    }
    let context = std::path::absolute(&req.context).map_err(|e| OptionsError::Context {
        path: req.context.clone(),
        reason: e.to_string(),
    })?;
    match std::fs::metadata(&context) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(OptionsError::Context {
                path: req.context.clone(),
                reason: "not a directory".into(),
            })
        }
        Err(e) => {
            return Err(OptionsError::Context {
                path: req.context.clone(),
                reason: e.to_string(),
            })
        }
    }

    if let Some(dir) = from_stdin {
        return Ok(Locals {
            context: Some(context.clone()),
            remote: None,
            dockerfile_dir: Some(dir),
            filename: "Dockerfile".into(),
            dockerfilekey: true,
            key: context,
        });
    }
    // The Dockerfile's folder is served as its own local; the frontend
    // reads `filename` inside it.
    let dockerfile = match &req.file {
        Some(f) => std::path::absolute(f).map_err(|e| OptionsError::Dockerfile {
            path: f.clone(),
            reason: e.to_string(),
        })?,
        None => context.join("Dockerfile"),
    };
    let shown = req.file.clone().unwrap_or_else(|| dockerfile.clone());
    match std::fs::metadata(&dockerfile) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(OptionsError::Dockerfile {
                path: shown,
                reason: "not a regular file".into(),
            })
        }
        Err(e) => {
            return Err(OptionsError::Dockerfile {
                path: shown,
                reason: e.to_string(),
            })
        }
    }
    let (dir, filename) = local_dockerfile(&dockerfile, shown)?;
    Ok(Locals {
        context: Some(context.clone()),
        remote: None,
        dockerfile_dir: Some(dir),
        filename,
        dockerfilekey: false,
        key: context,
    })
}

/// A local Dockerfile's folder (served as `dockerfile`) and name.
fn local_dockerfile(dockerfile: &Path, shown: PathBuf) -> Result<(PathBuf, String), OptionsError> {
    let (Some(dir), Some(name)) = (dockerfile.parent(), dockerfile.file_name()) else {
        return Err(OptionsError::Dockerfile {
            path: shown,
            reason: "has no parent directory".into(),
        });
    };
    let name = name.to_str().ok_or_else(|| OptionsError::Dockerfile {
        path: dockerfile.to_path_buf(),
        reason: "the file name is not UTF-8".into(),
    })?;
    Ok((dir.to_path_buf(), name.to_string()))
}

fn check_key(flag: &'static str, value: &str, key: &str) -> Result<(), OptionsError> {
    if key.is_empty() {
        return Err(OptionsError::Flag {
            flag,
            value: value.to_string(),
            reason: "the name is empty".into(),
        });
    }
    Ok(())
}

/// A stable key per context directory (and machine), so repeated builds of
/// the same folder only transfer what changed.
fn shared_key(context: &Path) -> String {
    let mut h = Sha256::new();
    h.update(context.as_os_str().as_encoded_bytes());
    if let Ok(host) = std::fs::read_to_string("/etc/machine-id") {
        h.update(host.trim().as_bytes());
    }
    format!("archgate-{}", &hex::encode(h.finalize())[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        d
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_serve_the_context_twice_and_name_the_dockerfile() {
        let d = ctx();
        let (p, dirs) = prepare(
            &Request {
                context: d.path().into(),
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap();
        assert_eq!(p.frontend_attrs.get("filename").unwrap(), "Dockerfile");
        assert_eq!(dirs["context"], d.path());
        assert_eq!(dirs["dockerfile"], d.path());
        assert!(p.entitlements.is_empty());
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_its_own_local() {
        let d = ctx();
        let other = tempfile::tempdir().unwrap();
        let f = other.path().join("build.Dockerfile");
        std::fs::write(&f, "FROM scratch\n").unwrap();
        let (p, dirs) = prepare(
            &Request {
                context: d.path().into(),
                file: Some(f),
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap();
        assert_eq!(p.frontend_attrs["filename"], "build.Dockerfile");
        assert_eq!(dirs["dockerfile"], other.path());
    }

    #[test]
    fn build_args_labels_target_network() {
        let d = ctx();
        let env = |k: &str| (k == "FROM_ENV").then(|| "e".to_string());
        let (p, _) = prepare(
            &Request {
                context: d.path().into(),
                build_args: vec!["A=1".into(), "B=".into(), "FROM_ENV".into(), "UNSET".into()],
                labels: vec!["l=v".into(), "bare".into()],
                target: Some("final".into()),
                no_cache: true,
                network: Network::Host,
                ..Default::default()
            },
            &StdinInputs::default(),
            &env,
        )
        .unwrap();
        let o = &p.frontend_attrs;
        assert_eq!(o["build-arg:A"], "1");
        assert_eq!(o["build-arg:B"], "");
        assert_eq!(o["build-arg:FROM_ENV"], "e");
        assert!(!o.contains_key("build-arg:UNSET"));
        assert_eq!(o["label:l"], "v");
        assert_eq!(o["label:bare"], "");
        assert_eq!(o["target"], "final");
        assert_eq!(o["no-cache"], "");
        assert_eq!(o["force-network-mode"], "host");
        assert_eq!(p.entitlements, vec!["network.host"]);
    }

    #[test]
    fn missing_context_or_dockerfile_is_named() {
        let e = prepare(
            &Request {
                context: "/nonexistent/ctx".into(),
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ctx"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let e = prepare(
            &Request {
                context: d.path().into(),
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("Dockerfile"), "{e}");
        let d = ctx();
        let e = prepare(
            &Request {
                context: d.path().into(),
                build_args: vec!["=x".into()],
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("--build-arg"), "{e}");
    }

    #[test]
    fn a_git_context_is_the_frontends_with_no_local_context() {
        let url = "git://127.0.0.1:9418/repo.git#main:sub";
        let (p, dirs) = prepare(
            &Request {
                context: url.into(),
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap();
        assert_eq!(p.frontend_attrs["context"], url);
        assert_eq!(p.frontend_attrs["filename"], "Dockerfile");
        assert!(dirs.is_empty(), "{dirs:?}");
        // An absolute -f is served from here; a relative one is in the repo.
        let other = tempfile::tempdir().unwrap();
        let f = other.path().join("ci.Dockerfile");
        std::fs::write(&f, "FROM scratch\n").unwrap();
        let (p, dirs) = prepare(
            &Request {
                context: url.into(),
                file: Some(f),
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap();
        assert_eq!(p.frontend_attrs["dockerfilekey"], "dockerfile");
        assert_eq!(p.frontend_attrs["filename"], "ci.Dockerfile");
        assert_eq!(dirs["dockerfile"], other.path());
        let (p, _) = prepare(
            &Request {
                context: url.into(),
                file: Some("build/Dockerfile".into()),
                ..Default::default()
            },
            &StdinInputs::default(),
            &no_env,
        )
        .unwrap();
        assert_eq!(p.frontend_attrs["filename"], "build/Dockerfile");
        assert!(!p.frontend_attrs.contains_key("dockerfilekey"));
    }

    #[test]
    fn stdin_inputs_become_locals_as_buildx_makes_them() {
        use crate::buildkit::upload::UploadService;
        use std::io::Read;
        let up = UploadService::new();
        let stdin = |b: &'static [u8]| move || Box::new(b) as Box<dyn Read + Send>;
        // A Dockerfile alone: an empty context and the Dockerfile's folder.
        let req = Request {
            context: "-".into(),
            ..Default::default()
        };
        let got =
            super::super::stdin::read(&req.context, None, stdin(b"FROM scratch\n"), &up).unwrap();
        let (p, dirs) = prepare(&req, &got, &no_env).unwrap();
        assert_eq!(p.frontend_attrs["filename"], "Dockerfile");
        assert_eq!(p.frontend_attrs["dockerfilekey"], "dockerfile");
        assert!(!p.frontend_attrs.contains_key("context"));
        assert_eq!(dirs["context"], got.empty_context.as_ref().unwrap().path());
        assert_eq!(dirs["dockerfile"], got.dockerfile.as_ref().unwrap().path());

        // `-f -` with a directory: the context as usual, the Dockerfile
        // from stdin.
        let d = ctx();
        let req = Request {
            context: d.path().into(),
            file: Some("-".into()),
            ..Default::default()
        };
        let got = super::super::stdin::read(
            &req.context,
            req.file.as_deref(),
            stdin(b"FROM scratch\n"),
            &up,
        )
        .unwrap();
        let (p, dirs) = prepare(&req, &got, &no_env).unwrap();
        assert_eq!(dirs["context"], d.path());
        assert_eq!(dirs["dockerfile"], got.dockerfile.as_ref().unwrap().path());
        assert_eq!(p.frontend_attrs["dockerfilekey"], "dockerfile");

        // A tar: the upload's URL is the context; -f names a file in it.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, "sub/x.Dockerfile", std::io::empty())
            .unwrap();
        let tar: &'static [u8] = Box::leak(b.into_inner().unwrap().into_boxed_slice());
        let req = Request {
            context: "-".into(),
            file: Some("sub/x.Dockerfile".into()),
            ..Default::default()
        };
        let got =
            super::super::stdin::read(&req.context, req.file.as_deref(), stdin(tar), &up).unwrap();
        let (p, dirs) = prepare(&req, &got, &no_env).unwrap();
        assert!(p.frontend_attrs["context"].starts_with("http://buildkit-session/"));
        assert_eq!(p.frontend_attrs["filename"], "sub/x.Dockerfile");
        assert!(!p.frontend_attrs.contains_key("dockerfilekey"));
        assert!(dirs.is_empty(), "{dirs:?}");
    }

    #[test]
    fn shared_key_is_stable_per_context() {
        assert_eq!(shared_key(Path::new("/a")), shared_key(Path::new("/a")));
        assert_ne!(shared_key(Path::new("/a")), shared_key(Path::new("/b")));
    }
}
