//! `archgate check docker-daemon:NAME[:TAG]` end to end against the two real
//! engines of `scripts/testenv up`: Docker 20.10 (classic store, whose export
//! is a docker archive) and Docker 26.1 (containerd store, whose export is an
//! OCI layout that may be multi-platform with some platforms' content
//! missing).
//!
//! The one idea: every image is put into the engine the way users put them
//! there (`docker load` of an archive built from the real-binary fixtures,
//! `docker import`, `docker pull` of one platform), under a name unique to
//! the test, and removed again when the test ends, pass or fail.
//!
//! Needs the daemons (`scripts/testenv up`, or ARCHGATE_TESTENV_DIR naming a
//! running environment) and the fixtures (`scripts/fixtures`).

use crate::common;

use common::buildenv::{env, run_ok, unique};
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Engine {
    D20,
    D26,
}

const BOTH: [Engine; 2] = [Engine::D20, Engine::D26];

impl Engine {
    fn host(self) -> &'static str {
        match self {
            Engine::D20 => env().docker20_host(),
            Engine::D26 => env().docker26_host(),
        }
    }

    fn docker(self) -> Command {
        env().docker_cli(self.host(), &env().docker_config())
    }
}

/// Image names created in an engine, removed when dropped.
struct Created {
    engine: Engine,
    names: Vec<String>,
}

impl Created {
    fn new(engine: Engine) -> Self {
        Created {
            engine,
            names: Vec::new(),
        }
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        let _ = self
            .engine
            .docker()
            .arg("rmi")
            .arg("-f")
            .args(&self.names)
            .stdin(std::process::Stdio::null())
            .output();
    }
}

/// `archgate-e2e/<unique>:v1` for this test and engine.
fn name_for(test: &str, engine: Engine) -> String {
    format!("archgate-e2e/{}-{engine:?}:v1", unique(test)).to_lowercase()
}

/// `docker load` a `docker save`-shaped archive of `img` tagged `name`.
fn load(engine: Engine, img: &Image, name: &str, created: &mut Created) {
    let t = tmp();
    let file = t.path().join("image.tar");
    write_docker_archive(img, &[name], &file);
    created.names.push(name.to_string());
    run_ok(
        engine.docker().arg("load").arg("-i").arg(&file),
        &format!("docker load into {engine:?}"),
    );
}

/// Run `archgate check --format json ARGS...` with DOCKER_HOST set to `host`.
fn check_on(host: &str, args: &[&str]) -> Run {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    Archgate::new(&all)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", env().docker_config())
        .run()
}

fn daemon_ref(name: &str) -> String {
    format!("docker-daemon:{name}")
}

fn go_app(platform: &str, binary: &str) -> Image {
    Image::new(platform)
        .entrypoint(&["/app"])
        .layer(Layer::new().file_from("app", go_hello(binary)))
}

fn glibc_hello(debarch: &str, platform: &str, with_loader: bool) -> Image {
    Image::new(platform)
        .entrypoint(&["/usr/bin/hello"])
        .layer(glibc_hello_layer(debarch, with_loader))
}

/// The platform reports of the only image, by platform.
fn by_platform(run: &Run) -> std::collections::BTreeMap<String, serde_json::Value> {
    run.platforms()
        .into_iter()
        .map(|p| (p["platform"].as_str().unwrap_or("?").to_string(), p))
        .collect()
}

// ---------------------------------------------------------------------------
// Both engines

#[test]
fn good_image_passes_on_both_engines() {
    for engine in BOTH {
        let mut created = Created::new(engine);
        let name = name_for("good", engine);
        load(engine, &go_app("linux/arm64", "arm64"), &name, &mut created);
        let run = check_on(engine.host(), &[&daemon_ref(&name)]);
        let p = run.expect(0, "pass", "match");
        assert_eq!(p["platform"], "linux/arm64", "{engine:?}\n{run}");
        assert_eq!(p["resolved"], "/app", "{engine:?}\n{run}");
    }
}

#[test]
fn arm64_image_with_x86_64_binary_fails_on_both_engines() {
    for engine in BOTH {
        let mut created = Created::new(engine);
        let name = name_for("archmismatch", engine);
        load(engine, &go_app("linux/arm64", "amd64"), &name, &mut created);
        let run = check_on(engine.host(), &[&daemon_ref(&name)]);
        let p = run.expect(1, "fail", "arch-mismatch");
        assert_eq!(p["platform"], "linux/arm64", "{engine:?}\n{run}");
    }
}

#[test]
fn glibc_hello_without_loader_fails_on_both_engines() {
    for engine in BOTH {
        let mut created = Created::new(engine);
        let name = name_for("noloader", engine);
        load(
            engine,
            &glibc_hello("amd64", "linux/amd64", false),
            &name,
            &mut created,
        );
        let run = check_on(engine.host(), &[&daemon_ref(&name)]);
        run.expect(1, "fail", "loader-missing");

        // The same image with its loader passes: the verdict came from the
        // image, not from the export.
        let name = name_for("withloader", engine);
        load(
            engine,
            &glibc_hello("amd64", "linux/amd64", true),
            &name,
            &mut created,
        );
        let run = check_on(engine.host(), &[&daemon_ref(&name)]);
        run.expect(0, "pass", "match");
    }
}

#[test]
fn image_id_and_untagged_name_are_found() {
    for engine in BOTH {
        let mut created = Created::new(engine);
        let name = name_for("byid", engine);
        load(engine, &go_app("linux/arm64", "arm64"), &name, &mut created);
        let id = run_ok(
            engine
                .docker()
                .args(["image", "inspect", "--format", "{{.Id}}"])
                .arg(&name),
            "docker image inspect",
        );
        let run = check_on(engine.host(), &[&daemon_ref(id.trim())]);
        run.expect(0, "pass", "match");

        // NAME alone means NAME:latest, as in docker and skopeo.
        let repo = name.trim_end_matches(":v1");
        let latest = format!("{repo}:latest");
        run_ok(engine.docker().args(["tag", &name, &latest]), "docker tag");
        created.names.push(latest);
        let run = check_on(engine.host(), &[&daemon_ref(repo)]);
        run.expect(0, "pass", "match");
    }
}

#[test]
fn unknown_name_is_undecided_with_the_engines_message() {
    for (engine, message) in [
        (Engine::D20, "reference does not exist"),
        (Engine::D26, "No such image"),
    ] {
        let name = name_for("unknown", engine);
        let run = check_on(engine.host(), &[&daemon_ref(&name)]);
        run.expect_undecided(&[&name, message, engine.host()]);
    }
}

#[test]
fn missing_socket_is_undecided_and_named_quickly() {
    let t = tmp();
    let sock = t.path().join("no-engine.sock");
    let host = format!("unix://{}", sock.display());
    let start = Instant::now();
    let run = check_on(&host, &[&daemon_ref("alpine:3.19")]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}\n{run}",
        start.elapsed()
    );
    run.expect_undecided(&[&sock.display().to_string(), "cannot reach"]);
}

#[test]
fn unsupported_docker_host_is_undecided() {
    let run = check_on("ssh://user@host", &[&daemon_ref("alpine:3.19")]);
    run.expect_undecided(&["docker-daemon:alpine:3.19", "DOCKER_HOST", "ssh://"]);
}

#[test]
fn bad_reference_is_undecided_without_asking_an_engine() {
    let run = check_on("unix:///nonexistent.sock", &[&daemon_ref("Upper/Case")]);
    run.expect_undecided(&["docker-daemon:Upper/Case", "lowercase"]);
}

// ---------------------------------------------------------------------------
// Docker 26: the containerd store

#[test]
fn docker26_import_with_gzip_layers_is_checked() {
    let engine = Engine::D26;
    let mut created = Created::new(engine);
    let name = name_for("import", engine);
    let t = tmp();
    std::fs::copy(go_hello("arm64"), t.path().join("app")).expect("copy");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(t.path())
        .args(["-c", "app"])
        .output()
        .expect("tar");
    assert!(tar.status.success());
    created.names.push(name.clone());
    let mut child = engine
        .docker()
        .args([
            "import",
            "--platform",
            "linux/arm64",
            "--change",
            r#"ENTRYPOINT ["/app"]"#,
            "-",
            &name,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker import");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&tar.stdout).expect("write");
    }
    assert!(child.wait_with_output().expect("wait").status.success());
    let run = check_on(engine.host(), &[&daemon_ref(&name)]);
    let p = run.expect(0, "pass", "match");
    assert!(
        p["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "the containerd export is read through its OCI index\n{run}"
    );
}

/// `docker-daemon:` reads names as docker's reference grammar does (as
/// `docker://` and `build -t` do): an upper-case first component and an
/// IPv6 host are registry domains, passed to the engine as written.
#[test]
fn docker26_names_with_a_domain_read_like_docker_references() {
    let engine = Engine::D26;
    let mut created = Created::new(engine);
    let name = name_for("refnames", engine);
    load(engine, &go_app("linux/arm64", "arm64"), &name, &mut created);
    for alias in [format!("Myhost/{name}"), format!("[::1]:5000/{name}")] {
        created.names.push(alias.clone());
        run_ok(
            engine.docker().args(["tag", &name, &alias]),
            &format!("docker tag {alias}"),
        );
        let run = check_on(engine.host(), &[&daemon_ref(&alias)]);
        run.expect(0, "pass", "match");
    }
}

/// The engine's own architecture (`docker version`), and the other one of
/// amd64/arm64.
fn host_and_other_arch(engine: Engine) -> (String, String) {
    let host = run_ok(
        engine
            .docker()
            .args(["version", "--format", "{{.Server.Arch}}"]),
        "docker version",
    )
    .trim()
    .to_string();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    (host, other.to_string())
}

/// An image of `platform` whose entrypoint is the Go hello `binary`, with a
/// file unique to the test so that no blob is shared with other tests (the
/// containerd store is content-addressed: a shared blob would already be
/// there).
fn unique_app(platform: &str, binary: &str, test: &str) -> Image {
    Image::new(platform).entrypoint(&["/app"]).layer(
        Layer::new().file_from("app", go_hello(binary)).file(
            "id",
            format!("{test} {platform}"),
            0o644,
        ),
    )
}

/// Push a two-platform image (the engine's own arch good, the other arch
/// holding an s390x binary) with buildx's attestation manifests to the test
/// registry with `skopeo copy --all`; returns `REG/NAME:v1`.
fn push_two_platforms(test: &str, host: &str, other: &str) -> String {
    let id = unique(test);
    let t = tmp();
    let dir = t.path().join("layout");
    Layout::buildx(vec![
        unique_app(&format!("linux/{host}"), host, &id),
        unique_app(&format!("linux/{other}"), "s390x", &id),
    ])
    .write_dir(&dir);
    let remote = format!("{}/archgate-e2e/{id}:v1", env().registry());
    run_ok(
        Command::new(env().tool("skopeo"))
            .args(["copy", "--all", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", dir.display()))
            .arg(format!("docker://{remote}")),
        "skopeo copy --all",
    );
    remote
}

fn pull(engine: Engine, platform: &str, remote: &str) {
    run_ok(
        engine
            .docker()
            .args(["pull", "-q", "--platform", platform, remote]),
        &format!("docker pull --platform {platform}"),
    );
}

#[test]
fn docker26_multi_platform_pull_checks_the_platforms_it_holds() {
    let engine = Engine::D26;
    let (host, other) = host_and_other_arch(engine);
    let (host_p, other_p) = (format!("linux/{host}"), format!("linux/{other}"));
    let mut created = Created::new(engine);
    let remote = push_two_platforms("multipull", &host, &other);
    created.names.push(remote.clone());

    // The engine's own platform pulled: the other has no content in the
    // store; it is skipped with a note, not failed.
    pull(engine, &host_p, &remote);
    let run = check_on(engine.host(), &[&daemon_ref(&remote)]);
    let p = run.expect(0, "pass", "match");
    assert_eq!(p["platform"], host_p.as_str(), "{run}");
    assert!(
        run.stderr.contains(&other_p) && run.stderr.contains("not in the engine's store"),
        "the skipped platform is noted on stderr\n{run}"
    );

    // Both pulled: both checked, each on its own verdict.
    pull(engine, &other_p, &remote);
    let run = check_on(engine.host(), &[&daemon_ref(&remote)]);
    assert_eq!(run.code, 1, "{run}");
    let ps = by_platform(&run);
    let mut want = vec![host_p.clone(), other_p.clone()];
    want.sort();
    assert_eq!(ps.keys().cloned().collect::<Vec<_>>(), want, "{run}");
    assert_eq!(ps[&host_p]["verdict"], "pass", "{run}");
    assert_eq!(ps[&other_p]["reason"], "arch-mismatch", "{run}");
    assert!(!run.stderr.contains("not in the engine's store"), "{run}");

    // --platform selects among them as for any image.
    let run = check_on(
        engine.host(),
        &["--platform", &host_p, &daemon_ref(&remote)],
    );
    run.expect(0, "pass", "match");
}

/// Docker 26.1 cannot export a multi-platform image whose host-platform
/// manifest is missing (its `manifest.json` points at the host platform):
/// the engine's refusal is passed on, with what to do about it.
#[test]
fn docker26_pull_of_a_foreign_platform_only_is_undecided_with_a_hint() {
    let engine = Engine::D26;
    let (host, other) = host_and_other_arch(engine);
    let mut created = Created::new(engine);
    let remote = push_two_platforms("foreignpull", &host, &other);
    created.names.push(remote.clone());
    pull(engine, &format!("linux/{other}"), &remote);
    let run = check_on(engine.host(), &[&daemon_ref(&remote)]);
    run.expect_undecided(&[
        &remote,
        "unable to create manifests file",
        "docker pull --platform",
    ]);
}

/// `docker load` of buildx's OCI output (an index of two platforms plus
/// attestation manifests): the containerd store keeps every platform, and
/// each is checked.
#[test]
fn docker26_multi_platform_load_checks_every_platform() {
    let engine = Engine::D26;
    let mut created = Created::new(engine);
    let id = unique("multiload");
    let t = tmp();
    let file = t.path().join("multi.tar");
    // ocibuild names a buildx target docker.io/library/test:<ref> (the
    // io.containerd.image.name annotation docker load goes by).
    Layout::new()
        .add(
            Some(&id),
            Target::Buildx(vec![
                unique_app("linux/arm64", "arm64", &id),
                unique_app("linux/amd64", "arm64", &id),
            ]),
        )
        .write_archive(&file);
    let name = format!("test:{id}");
    created.names.push(name.clone());
    let out = run_ok(
        engine.docker().arg("load").arg("-i").arg(&file),
        "docker load (OCI, two platforms)",
    );
    assert!(out.contains(&name), "docker load said {out:?}");
    let run = check_on(engine.host(), &[&daemon_ref(&name)]);
    assert_eq!(run.code, 1, "{run}");
    let ps = by_platform(&run);
    assert_eq!(
        ps.keys().cloned().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"],
        "{run}"
    );
    assert_eq!(ps["linux/arm64"]["verdict"], "pass", "{run}");
    assert_eq!(ps["linux/amd64"]["reason"], "arch-mismatch", "{run}");
    assert!(!run.stderr.contains("not in the engine's store"), "{run}");
}
