//! BuildKit transports against real daemons: the Docker 26 and 20.10 engines
//! of `scripts/testenv up`, reached through their embedded BuildKit.
//!
//! - `docker://ENGINE`: the engine's `POST /grpc` upgrade, on both engines;
//! - `tcp://` plain and with mutual TLS: through an in-test proxy that does
//!   the `/grpc` upgrade on the Docker 26 socket and then relays bytes, so the
//!   daemon behind it is real BuildKit;
//! - `docker://tcp://`, plain and TLS: a relay in front of the engine socket;
//! - `docker-container://`: `docker exec -i NAME buildctl dial-stdio` into a
//!   container on Docker 26. No BuildKit image can be pulled here, so the
//!   container's `buildctl` is a two-line shim that runs
//!   `docker buildx dial-stdio` (buildx's implementation of the same stdio
//!   proxy) against the engine socket mounted into it;
//! - failures: unreachable addresses, malformed addresses, a peer that is not
//!   BuildKit, a container that does not exist, a connection that is lost.
//!
//! Needs `scripts/testenv up` (it writes target/testenv/run/env); without it
//! the daemon tests fail and say so.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archgate::buildkit::{
    connect, connect_with, info, list_workers, BuildError, BuilderAddr, Environment, TlsOptions,
};
use archgate::inspect::Platform;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use crate::common::buildenv::env as testenv;
use crate::common::relay::Relay;

fn linux_amd64() -> Platform {
    Platform::new("linux", "amd64", None)
}

fn describe(workers: &[archgate::buildkit::WorkerInfo]) -> String {
    workers
        .iter()
        .map(|w| {
            let p: Vec<String> = w.platforms.iter().map(|p| p.to_string()).collect();
            format!("{} [{}]", w.id, p.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Connect, list workers, require linux/amd64; returns the workers.
async fn workers_via(addr: &BuilderAddr) -> Vec<archgate::buildkit::WorkerInfo> {
    let t = Instant::now();
    let ch = connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let connected = t.elapsed();
    let workers = list_workers(ch)
        .await
        .unwrap_or_else(|e| panic!("ListWorkers over {addr}: {e}"));
    eprintln!(
        "{addr}: connected in {connected:?}, workers: {}",
        describe(&workers)
    );
    assert!(
        workers.iter().any(|w| w.platforms.contains(&linux_amd64())),
        "no linux/amd64 worker over {addr}: {}",
        describe(&workers)
    );
    workers
}

/// Expect `connect` to fail within the connect timeout with the address in
/// the message; returns the message.
async fn connect_fails(addr: &BuilderAddr) -> String {
    let t = Instant::now();
    let err = match connect(addr).await {
        Ok(_) => panic!("connect {addr} succeeded"),
        Err(e) => e.to_string(),
    };
    let took = t.elapsed();
    eprintln!("{addr}: failed in {took:?}: {err}");
    assert!(
        took < Duration::from_secs(5),
        "{addr}: took {took:?} to fail"
    );
    assert!(
        err.contains(&addr.to_string()),
        "error does not name {addr}: {err}"
    );
    err
}

// ---------------------------------------------------------------------------
// docker:// on both engines

#[tokio::test]
async fn list_workers_over_docker_engine_26() {
    let addr = BuilderAddr::DockerEngine(Some(testenv().docker26_engine()));
    let workers = workers_via(&addr).await;
    // Docker 26 (BuildKit v0.13) reports its version per worker too.
    eprintln!(
        "docker 26 worker labels: {:?}",
        workers[0].labels.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn list_workers_over_docker_engine_20() {
    let addr = BuilderAddr::DockerEngine(Some(testenv().docker20_engine()));
    let workers = workers_via(&addr).await;
    // BuildKit v0.8 predates WorkerRecord.BuildkitVersion.
    assert!(workers.iter().all(|w| w.buildkit_version.is_none()));
}

#[tokio::test]
async fn docker_address_string_parses_and_connects() {
    let s = format!("docker://{}", testenv().docker26_host());
    let addr = BuilderAddr::parse(&s).unwrap();
    assert_eq!(addr.to_string(), s);
    workers_via(&addr).await;
}

#[tokio::test]
async fn bare_docker_address_follows_docker_host() {
    let env = Environment {
        docker_host: Some(testenv().docker20_host().to_string()),
        ..Default::default()
    };
    let ch = connect_with(&BuilderAddr::parse("docker://").unwrap(), &env)
        .await
        .unwrap();
    // Docker 20.10 has no Info: this being None proves which engine answered.
    assert_eq!(info(ch).await.unwrap(), None);
}

#[tokio::test]
async fn info_on_docker26_answers() {
    let ch = connect(&BuilderAddr::DockerEngine(Some(
        testenv().docker26_engine(),
    )))
    .await
    .unwrap();
    // Info exists from BuildKit v0.11 on; Docker 26.1 embeds v0.13.
    let v = info(ch.clone())
        .await
        .unwrap()
        .expect("Docker 26 answers Control.Info");
    eprintln!("docker 26 Info: {v} release={:?}", v.release());
    assert_eq!(v.package, "github.com/moby/buildkit");
    // Debian's dockerd does not stamp BuildKit's version: the daemon says
    // `v0.0.0+unknown`, which archgate reads as "no release known". A stamped
    // build must say v0.13.
    match v.release() {
        Some((major, minor, _)) => assert_eq!((major, minor), (0, 13), "{v}"),
        None => assert_eq!(v.version, "v0.0.0+unknown"),
    }
    // Docker's own worker leaves the record's copy (field 5, v0.11+) unset.
    let workers = list_workers(ch).await.unwrap();
    eprintln!(
        "docker 26 worker BuildkitVersion: {:?}",
        workers[0].buildkit_version
    );
}

#[tokio::test]
async fn info_on_docker20_is_unknown_not_an_error() {
    let ch = connect(&BuilderAddr::DockerEngine(Some(
        testenv().docker20_engine(),
    )))
    .await
    .unwrap();
    // Unimplemented there (BuildKit v0.8): reported as "unknown".
    assert_eq!(info(ch.clone()).await.unwrap(), None);
    // And the connection is still good afterwards.
    assert!(!list_workers(ch).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// Failures

#[tokio::test]
async fn unreachable_unix_socket_fails_fast_naming_it() {
    let err = connect_fails(&BuilderAddr::parse("unix:///nonexistent.sock").unwrap()).await;
    assert!(err.contains("No such file"), "{err}");
}

#[tokio::test]
async fn unreachable_tcp_port_fails_fast_naming_it() {
    let err = connect_fails(&BuilderAddr::parse("tcp://127.0.0.1:1").unwrap()).await;
    assert!(err.contains("refused"), "{err}");
}

#[tokio::test]
async fn unreachable_engine_fails_fast_naming_it() {
    connect_fails(&BuilderAddr::parse("docker://unix:///nonexistent/docker.sock").unwrap()).await;
}

#[tokio::test]
async fn a_silent_peer_times_out_within_5s() {
    // Accepts connections and never says anything (a wedged daemon, a
    // firewall that swallows packets after the handshake).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let err = connect_fails(&BuilderAddr::parse(&format!("tcp://127.0.0.1:{port}")).unwrap()).await;
    assert!(err.contains("no gRPC answer within"), "{err}");
}

#[test]
fn malformed_addresses_are_parse_errors() {
    for (s, want) in [
        ("localhost:1234", "no scheme"),
        ("tcp://127.0.0.1", "missing port"),
        ("tcp://127.0.0.1:99999", "not a number"),
        ("unix://", "socket path"),
        ("docker-container://", "container name"),
        ("buildkit://x", "unknown scheme"),
    ] {
        let e = BuilderAddr::parse(s).unwrap_err();
        assert!(matches!(e, BuildError::InvalidAddr { .. }), "{s}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("{s:?}")) && msg.contains(want),
            "{s}: {msg}"
        );
    }
}

#[tokio::test]
async fn an_engine_socket_is_not_a_buildkit_socket() {
    // The engine API is HTTP/1.1: addressing it as a BuildKit socket must fail
    // promptly and say so, not hang.
    let addr = BuilderAddr::Unix(testenv().socket26());
    let err = connect_fails(&addr).await;
    assert!(err.contains("HTTP/2") || err.contains("HTTP/1"), "{err}");
}

// ---------------------------------------------------------------------------
// tcp:// and docker://tcp:// through an in-test relay

/// A CA, a server certificate for 127.0.0.1, and a client certificate, as
/// PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: Vec<u8>,
    ca_der: rustls::pki_types::CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "archgate test ca");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut sp =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = sp.signed_by(&server_key, &ca).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
        cp.distinguished_name
            .push(DnType::CommonName, "archgate test client");
        cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = cp.signed_by(&client_key, &ca).unwrap();

        let write = |name: &str, pem: String| {
            std::fs::File::create(dir.path().join(name))
                .unwrap()
                .write_all(pem.as_bytes())
                .unwrap();
        };
        write("ca.pem", ca.pem());
        write("cert.pem", client.pem());
        write("key.pem", client_key.serialize_pem());
        Pki {
            server_chain: vec![server.der().clone()],
            server_key: server_key.serialize_der(),
            ca_der: ca.der().clone(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Client TLS options: this CA, and the client certificate if `mutual`.
    fn client(&self, mutual: bool) -> TlsOptions {
        TlsOptions {
            ca_cert: Some(self.path("ca.pem")),
            cert: mutual.then(|| self.path("cert.pem")),
            key: mutual.then(|| self.path("key.pem")),
            server_name: None,
        }
    }

    /// A server that requires a client certificate from this CA
    /// (buildkitd with --tlscacert), offering ALPN `alpn`.
    fn server(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.server_key.clone().into());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.server_chain.clone(), key)
            .unwrap();
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Arc::new(cfg)
    }
}

#[tokio::test]
async fn tcp_plain_reaches_buildkit() {
    let relay = Relay::to_unix(testenv().socket26()).upgrade_grpc().start();
    let addr = BuilderAddr::parse(&format!("tcp://127.0.0.1:{}", relay.port())).unwrap();
    workers_via(&addr).await;
}

#[tokio::test]
async fn tcp_mutual_tls_reaches_buildkit() {
    let pki = Pki::new();
    let relay = Relay::to_unix(testenv().socket26())
        .upgrade_grpc()
        .tls(pki.server(&[b"h2"]))
        .start();
    let addr = BuilderAddr::parse(&format!("tcp://127.0.0.1:{}", relay.port()))
        .unwrap()
        .with_tls(pki.client(true))
        .unwrap();
    workers_via(&addr).await;
}

#[tokio::test]
async fn tcp_tls_without_client_certificate_is_refused() {
    let pki = Pki::new();
    let relay = Relay::to_unix(testenv().socket26())
        .upgrade_grpc()
        .tls(pki.server(&[b"h2"]))
        .start();
    let addr = BuilderAddr::parse(&format!("tcp://127.0.0.1:{}", relay.port()))
        .unwrap()
        .with_tls(pki.client(false))
        .unwrap();
    connect_fails(&addr).await;
}

/// The standalone buildkitd of the test env listens on tcp with TLS only:
/// reached without TLS it closes the connection without a word, and the
/// error says TLS is probably wanted (it once said only that archgate
/// does not re-dial).
#[tokio::test]
async fn a_tls_only_buildkitd_reached_without_tls_says_tls_is_wanted() {
    let addr = BuilderAddr::parse(testenv().get("ARCHGATE_BUILDKIT_TLS_ADDR")).unwrap();
    let err = connect_fails(&addr).await;
    assert!(
        err.contains("wants TLS") && err.contains("--tlscacert"),
        "{err}"
    );
}

#[tokio::test]
async fn tcp_tls_with_the_wrong_ca_is_refused() {
    let pki = Pki::new();
    let other = Pki::new();
    let relay = Relay::to_unix(testenv().socket26())
        .upgrade_grpc()
        .tls(pki.server(&[b"h2"]))
        .start();
    let mut tls = pki.client(true);
    tls.ca_cert = Some(other.path("ca.pem"));
    let addr = BuilderAddr::parse(&format!("tcp://127.0.0.1:{}", relay.port()))
        .unwrap()
        .with_tls(tls)
        .unwrap();
    let err = connect_fails(&addr).await;
    assert!(err.contains("tls handshake"), "{err}");
}

#[tokio::test]
async fn tls_files_that_do_not_exist_are_named() {
    let addr = BuilderAddr::parse("tcp://127.0.0.1:1")
        .unwrap()
        .with_tls(TlsOptions {
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        })
        .unwrap();
    let err = connect(&addr).await.err().unwrap().to_string();
    assert!(
        err.contains("tcp://127.0.0.1:1") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

#[tokio::test]
async fn docker_engine_over_tcp_and_tls() {
    let plain = Relay::to_unix(testenv().socket26()).start();
    let addr = BuilderAddr::parse(&format!("docker://tcp://127.0.0.1:{}", plain.port())).unwrap();
    workers_via(&addr).await;

    // The engine API over TLS is HTTP/1.1 (no ALPN h2) until the upgrade.
    let pki = Pki::new();
    let tls = Relay::to_unix(testenv().socket26())
        .tls(pki.server(&[b"http/1.1"]))
        .start();
    let addr = BuilderAddr::parse(&format!("docker://tcp://127.0.0.1:{}", tls.port()))
        .unwrap()
        .with_tls(pki.client(true))
        .unwrap();
    workers_via(&addr).await;
}

#[tokio::test]
async fn a_lost_connection_fails_later_calls_instead_of_hanging() {
    let relay = Relay::to_unix(testenv().socket26()).upgrade_grpc().start();
    let addr = BuilderAddr::parse(&format!("tcp://127.0.0.1:{}", relay.port())).unwrap();
    let ch = connect(&addr).await.unwrap();
    list_workers(ch.clone()).await.unwrap();
    relay.cut();
    // Every later call fails promptly; none re-dials (the relay would accept).
    let mut last = String::new();
    for _ in 0..3 {
        let t = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), list_workers(ch.clone()))
            .await
            .expect("a call on a lost connection hung");
        last = r
            .expect_err("a call on a lost connection succeeded")
            .to_string();
        eprintln!("after the cut ({:?}): {last}", t.elapsed());
    }
    assert!(
        last.contains(&addr.to_string()) && last.contains("is closed"),
        "{last}"
    );
}

// ---------------------------------------------------------------------------
// docker-container://

/// A container on Docker 26 whose `buildctl dial-stdio` proxies to the
/// engine's BuildKit; removed on drop.
struct DialStdioContainer {
    name: String,
    image: String,
}

impl DialStdioContainer {
    fn docker(args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
        let env = testenv();
        let mut cmd = Command::new(env.tool("docker"));
        cmd.arg("--host")
            .arg(env.docker26_host())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run docker");
        if let Some(data) = stdin {
            child.stdin.take().unwrap().write_all(data).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn start() -> DialStdioContainer {
        let env = testenv();
        // The image: host /usr mounted at run time provides sh, docker and
        // libc; the rootfs only holds the merged-/usr links and the shim.
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(data.len() as u64);
            h.set_mtime(0);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            tar.append_data(&mut h, path, data).unwrap();
        };
        for d in [
            "buildkit/",
            "buildkit/bin/",
            "etc/",
            "tmp/",
            "root/",
            "usr/",
            "run/",
        ] {
            add(d, tar::EntryType::Directory, 0o755, b"", "");
        }
        for (l, t) in [
            ("bin", "usr/bin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("sbin", "usr/sbin"),
        ] {
            add(l, tar::EntryType::Symlink, 0o777, b"", t);
        }
        add(
            "buildkit/bin/buildctl",
            tar::EntryType::Regular,
            0o755,
            b"#!/bin/sh\n[ \"$1\" = dial-stdio ] || { echo \"shim: only dial-stdio\" >&2; exit 2; }\nexec docker buildx dial-stdio\n",
            "",
        );
        add(
            "etc/passwd",
            tar::EntryType::Regular,
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\n",
            "",
        );
        let rootfs = tar.into_inner().unwrap();
        let name = format!("archgate-test-dialstdio-{}", std::process::id());
        let image = format!("archgate-test/dial-stdio:{}", std::process::id());
        let out = Self::docker(
            &[
                "import",
                "-c",
                "ENV PATH=/buildkit/bin:/usr/local/bin:/usr/bin:/bin",
                "-c",
                "ENV DOCKER_HOST=unix:///run/docker.sock",
                "-c",
                "ENV DOCKER_CONFIG=/dockercfg",
                "-",
                &image,
            ],
            Some(&rootfs),
        );
        assert!(out.status.success(), "docker import: {out:?}");

        let _ = Self::docker(&["rm", "-f", &name], None);
        let buildx = std::fs::canonicalize(env.tool("docker-buildx")).unwrap();
        let sock = env.socket26();
        let out = Self::docker(
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                "-v",
                "/usr:/usr:ro",
                "-v",
                &format!("{}:/run/docker.sock", sock.display()),
                "-v",
                &format!(
                    "{}:/dockercfg/cli-plugins/docker-buildx:ro",
                    buildx.display()
                ),
                &image,
                "sleep",
                "infinity",
            ],
            None,
        );
        let container = DialStdioContainer { name, image };
        assert!(out.status.success(), "docker run: {out:?}");
        container
    }

    fn addr(&self) -> BuilderAddr {
        BuilderAddr::DockerContainer {
            container: self.name.clone(),
            context: None,
            engine: Some(testenv().docker26_engine()),
        }
    }
}

impl Drop for DialStdioContainer {
    fn drop(&mut self) {
        let _ = Self::docker(&["rm", "-f", &self.name], None);
        let _ = Self::docker(&["rmi", &self.image], None);
    }
}

/// The environment `docker-container://` runs `docker` with: the testenv's
/// CLI first on PATH.
fn env_with_testenv_docker() -> Environment {
    let mut env = Environment::from_process();
    let mut paths = vec![testenv().bin_dir()];
    if let Some(p) = &env.path {
        paths.extend(std::env::split_paths(p));
    }
    env.path = Some(std::env::join_paths(paths).unwrap());
    env
}

#[tokio::test]
async fn docker_container_dial_stdio_carries_grpc_and_fails_clearly_when_gone() {
    let container = DialStdioContainer::start();
    let addr = container.addr();
    let env = env_with_testenv_docker();

    let t = Instant::now();
    let ch = connect_with(&addr, &env)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let workers = list_workers(ch.clone()).await.unwrap();
    eprintln!(
        "{addr}: connected in {:?}, workers: {}",
        t.elapsed(),
        describe(&workers)
    );
    assert!(workers.iter().any(|w| w.platforms.contains(&linux_amd64())));
    let v = info(ch.clone()).await.unwrap();
    eprintln!("{addr}: Info {v:?}");
    assert!(v.is_some(), "Docker 26 answers Info through dial-stdio too");

    // Removing the container ends `docker exec`; the next calls fail and
    // name the address instead of hanging or re-dialling.
    drop(container);
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match list_workers(ch.clone()).await {
                Err(e) if e.to_string().contains("is closed") => return e.to_string(),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
    .expect("calls kept succeeding or hung after the container was removed");
    eprintln!("{addr}: after removal: {r}");
    assert!(
        r.contains("docker-container://archgate-test-dialstdio-"),
        "{r}"
    );
}

#[tokio::test]
async fn docker_container_that_does_not_exist_is_named() {
    let addr = BuilderAddr::DockerContainer {
        container: "archgate-no-such-container".into(),
        context: None,
        engine: Some(testenv().docker26_engine()),
    };
    let t = Instant::now();
    let err = connect_with(&addr, &env_with_testenv_docker())
        .await
        .expect_err("connected to a container that does not exist")
        .to_string();
    eprintln!("{addr}: failed in {:?}: {err}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        err.contains("docker-container://archgate-no-such-container")
            && err.contains("No such container"),
        "{err}"
    );
}
