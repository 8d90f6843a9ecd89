//! Support for the `docker://` end-to-end tests: pushing fixture layouts to
//! the testenv's registries with skopeo, a registry process of the test's
//! own (to kill), docker config dirs and credential helpers, and `archgate`
//! runs that never see the developer's own docker config.
//!
//! The one idea: faults are made at the byte level between a real registry
//! and archgate (`super::relay`), or by killing a real registry, so what
//! archgate sees is what a broken network or registry really sends.

use super::buildenv::{env, unique};
use super::{Archgate, Layout, Run};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `REG/NAME:TAG` for a test: the repository is unique to this test run.
pub fn repo_ref(registry: &str, test: &str, tag: &str) -> String {
    format!("{registry}/archgate-e2e/{}:{tag}", unique(test))
}

/// Write `layout` to a temp dir and push all of it (`skopeo copy --all`) to
/// `dest` (`REG/NAME:TAG`), with Basic credentials when given. The layout's
/// top entry is chosen by `ref_name` when it has one.
pub fn push(layout: &Layout, ref_name: Option<&str>, dest: &str, creds: Option<(&str, &str)>) {
    let t = super::tmp();
    let dir = t.path().join("layout");
    layout.write_dir(&dir);
    push_dir(&dir, ref_name, dest, creds);
}

/// Push an OCI layout directory with skopeo.
pub fn push_dir(dir: &Path, ref_name: Option<&str>, dest: &str, creds: Option<(&str, &str)>) {
    let src = match ref_name {
        Some(r) => format!("oci:{}:{r}", dir.display()),
        None => format!("oci:{}", dir.display()),
    };
    let tmp = super::tmp();
    let mut cmd = Command::new(env().tool("skopeo"));
    cmd.env("TMPDIR", tmp.path()).env("HOME", tmp.path()).args([
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--quiet",
    ]);
    if let Some((u, p)) = creds {
        cmd.arg("--dest-creds").arg(format!("{u}:{p}"));
    }
    cmd.arg(&src).arg(format!("docker://{dest}"));
    let out = cmd.output().expect("running skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {src} docker://{dest} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The layer digests of a pushed single-platform image, as the registry has
/// them (skopeo may recompress on the way).
pub fn pushed_layers(registry: &str, reference: &str) -> (String, Vec<String>) {
    let (name, tag) = super::buildenv::repo_and_tag(reference);
    let m = super::buildenv::Registry::anonymous_on(registry).manifest(&name, &tag);
    let layers = m["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("{reference} is not a single manifest: {m}"))
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (m["config"]["digest"].as_str().unwrap().to_string(), layers)
}

/// Run the built archgate with extra environment (`None` removes a
/// variable), never with the developer's own docker config.
pub fn archgate_env(args: &[&str], vars: &[(&str, Option<OsString>)]) -> Run {
    Archgate::new(args)
        .env("DOCKER_CONFIG", "/nonexistent/archgate-e2e-docker-config")
        .envs(vars)
        .run()
}

/// `archgate check --format json IMAGE` against a registry reference.
pub fn check_docker(reference: &str, extra: &[&str]) -> Run {
    let image = format!("docker://{reference}");
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(&image);
    archgate_env(&args, &[])
}

// ---------------------------------------------------------------------------
// A registry of the test's own

/// `docker-registry serve` on a kernel-picked loopback port, in-memory
/// storage (as scripts/testenv configures its registries). Killed on drop.
pub struct OwnRegistry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl OwnRegistry {
    pub fn start() -> OwnRegistry {
        let dir = super::tmp();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            "version: 0.1\n\
             log: {level: info}\n\
             storage:\n  inmemory: {}\n  maintenance: {uploadpurging: {enabled: false}}\n\
             http:\n  addr: 127.0.0.1:0\n  secret: archgate-e2e-own-registry\n",
        )
        .unwrap();
        let mut child = Command::new(env().tool("docker-registry"))
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting docker-registry");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(i) = line.find("listening on ") {
                        let rest = &line[i + "listening on ".len()..];
                        let addr: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                            .collect();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("docker-registry did not say where it listens");
        OwnRegistry {
            child,
            addr,
            _dir: dir,
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// Docker config dirs and credential helpers

/// A docker config dir whose `config.json` is `json`.
pub fn docker_config(json: &serde_json::Value) -> tempfile::TempDir {
    let d = super::tmp();
    std::fs::write(
        d.path().join("config.json"),
        serde_json::to_vec_pretty(json).unwrap(),
    )
    .unwrap();
    d
}

/// A directory holding an executable `docker-credential-NAME` that answers
/// `get` for `host` with `user`/`secret` (and "not found" otherwise), and a
/// PATH value with it first.
pub fn credential_helper(
    name: &str,
    host: &str,
    user: &str,
    secret: &str,
) -> (tempfile::TempDir, OsString) {
    use std::os::unix::fs::PermissionsExt;
    let d = super::tmp();
    let script = d.path().join(format!("docker-credential-{name}"));
    let answer = serde_json::json!({"ServerURL": host, "Username": user, "Secret": secret});
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\nif [ \"$host\" = '{host}' ]; then\n  echo '{answer}'\nelse\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(d.path().to_path_buf()).chain(std::env::split_paths(&inherited)),
    )
    .unwrap();
    (d, path)
}
