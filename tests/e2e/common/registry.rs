//! Support for the `docker://` end-to-end tests: pushing fixture layouts to
//! the testenv's registries with skopeo, a registry process of the test's
//! own (to kill), an HTTP relay that damages one response on purpose, and a
//! runner for `archgate` with a private environment.
//!
//! The one idea: faults are made at the byte level between a real registry
//! and archgate (the relay), or by killing a real registry, so what archgate
//! sees is what a broken network or registry really sends.

use super::buildenv::{env, unique};
use super::{Layout, Run};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
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
/// variable). Checked like `super::archgate`: no panic, exit 0..=2.
pub fn archgate_env(args: &[&str], vars: &[(&str, Option<OsString>)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archgate"));
    cmd.args(args)
        .env_remove("ARCHGATE_LOG")
        .env("NO_COLOR", "1")
        // Never the developer's own docker config.
        .env("DOCKER_CONFIG", "/nonexistent/archgate-e2e-docker-config");
    for (k, v) in vars {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("running archgate");
    let run = Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "archgate panicked\n{run}");
    assert!(
        (0..=2).contains(&run.code),
        "exit code outside 0..=2 (or killed)\n{run}"
    );
    run
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
// A relay that damages one response

/// What the relay does to responses for request paths containing `path`.
#[derive(Clone)]
pub enum Fault {
    /// Flip the lowest bit of the body's byte at `offset` (offset 4 of a
    /// gzip stream is its MTIME: only a digest can tell).
    FlipBodyByte { path: String, offset: u64 },
    /// Close the connection after `bytes` of the response.
    CutAfter { path: String, bytes: u64 },
    /// Answer `429 Too Many Requests` (`Retry-After: 1`, or `0` when
    /// `times` is `u32::MAX`) to the first `times` matching requests.
    TooManyRequests { path: String, times: u32 },
    /// After `bytes` of the response, say so on the channel and keep
    /// relaying (slowly) whatever the registry still sends.
    NotifyAfter {
        path: String,
        bytes: u64,
        tx: Arc<Mutex<mpsc::Sender<()>>>,
    },
}

/// A loopback HTTP/1.1 relay in front of a registry: one request per
/// connection (`Connection: close` is forced), so each response can be
/// told apart.
pub struct Relay {
    pub addr: String,
    stop: Arc<AtomicBool>,
}

/// Requests answered 429 so far, per relay.
type Counter = Arc<std::sync::atomic::AtomicU32>;

impl Relay {
    pub fn start(upstream: &str, fault: Fault) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_string();
        let stop2 = stop.clone();
        let count: Counter = Arc::default();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let upstream = upstream.clone();
                let fault = fault.clone();
                let count = count.clone();
                std::thread::spawn(move || {
                    let _ = relay_one(conn, &upstream, &fault, &count);
                });
            }
        });
        Relay { addr, stop }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn relay_one(
    mut client: TcpStream,
    upstream: &str,
    fault: &Fault,
    count: &Counter,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    // The request head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    if let Fault::TooManyRequests { path: p, times } = fault {
        if path.contains(p.as_str()) && count.fetch_add(1, Ordering::SeqCst) < *times {
            let after = if *times == u32::MAX { 0 } else { 1 };
            client.write_all(
                format!(
                    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {after}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )?;
            return Ok(());
        }
    }
    let mut rewritten = String::new();
    for (i, line) in text.split("\r\n").enumerate() {
        if line.is_empty() {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("host:")) {
            continue;
        }
        rewritten.push_str(line);
        rewritten.push_str("\r\n");
        if i == 0 {
            rewritten.push_str(&format!("Host: {upstream}\r\nConnection: close\r\n"));
        }
    }
    rewritten.push_str("\r\n");
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(rewritten.as_bytes())?;
    // GETs only: no request body to forward.
    let applies = |p: &str| path.contains(p);
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent: u64 = 0;
    let mut head_seen: Vec<u8> = Vec::new();
    let mut body_start: Option<u64> = None;
    let mut flipped = false;
    let mut notified = false;
    loop {
        let n = match up.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        match fault {
            Fault::FlipBodyByte { path: p, offset } if applies(p) => {
                // Find the end of the response head, then the byte.
                let start = sent as usize;
                head_seen
                    .extend_from_slice(&chunk[..n.min(65536usize.saturating_sub(head_seen.len()))]);
                if body_start.is_none() {
                    if let Some(i) = head_seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        body_start = Some(i as u64 + 4);
                    }
                }
                if let Some(b) = body_start {
                    let at = b + offset;
                    if at >= start as u64 && at < (start + n) as u64 && !flipped {
                        chunk[(at - start as u64) as usize] ^= 0x01;
                        flipped = true;
                    }
                }
                client.write_all(chunk)?;
            }
            Fault::CutAfter { path: p, bytes } if applies(p) => {
                let room = bytes.saturating_sub(sent) as usize;
                let k = room.min(n);
                client.write_all(&chunk[..k])?;
                if k < n {
                    let _ = client.shutdown(Shutdown::Both);
                    return Ok(());
                }
            }
            Fault::NotifyAfter { path: p, bytes, tx } if applies(p) => {
                client.write_all(chunk)?;
                if sent + n as u64 >= *bytes && !notified {
                    notified = true;
                    if let Ok(tx) = tx.lock() {
                        let _ = tx.send(());
                    }
                }
                if notified {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            _ => client.write_all(chunk)?,
        }
        sent += n as u64;
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
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
