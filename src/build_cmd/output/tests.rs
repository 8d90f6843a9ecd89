use super::*;
use serde_json::json;

const BUILDKIT: DaemonKind = DaemonKind {
    docker_engine: false,
    containerd_store: false,
    load_oci: false,
};
/// A BuildKit daemon, `--load` going to an engine with the containerd store.
const BUILDKIT_LOAD_OCI: DaemonKind = DaemonKind {
    docker_engine: false,
    containerd_store: false,
    load_oci: true,
};
const ENGINE_CONTAINERD: DaemonKind = DaemonKind {
    docker_engine: true,
    containerd_store: true,
    load_oci: false,
};
const ENGINE_GRAPHDRIVER: DaemonKind = DaemonKind {
    docker_engine: true,
    containerd_store: false,
    load_oci: false,
};

struct Ask<'a> {
    outputs: &'a [&'a str],
    push: bool,
    load: bool,
    tags: &'a [&'a str],
    platforms: usize,
    attestations: bool,
}

const fn ask<'a>(outputs: &'a [&'a str]) -> Ask<'a> {
    Ask {
        outputs,
        push: false,
        load: false,
        tags: &[],
        platforms: 1,
        attestations: false,
    }
}

impl Ask<'_> {
    fn run_all(&self, daemon: &DaemonKind) -> Result<Vec<ExportPlan>, OutputError> {
        let outputs: Vec<String> = self.outputs.iter().map(|s| s.to_string()).collect();
        let tags: Vec<String> = self.tags.iter().map(|s| s.to_string()).collect();
        plan(
            &outputs,
            self.push,
            self.load,
            &tags,
            self.platforms,
            self.attestations,
            daemon,
        )
    }

    /// For asks that make at most one exporter.
    fn run(&self, daemon: &DaemonKind) -> Result<Option<ExportPlan>, OutputError> {
        self.run_all(daemon).map(|mut v| {
            assert!(v.len() <= 1, "expected one exporter, got {v:?}");
            v.pop()
        })
    }
}

fn want(
    exporter: &str,
    attrs: &[(&str, &str)],
    dest: Option<Dest>,
    wire: Wire,
) -> Option<ExportPlan> {
    Some(ExportPlan {
        exporter: exporter.into(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        dest,
        wire,
    })
}

fn file(p: &str) -> Option<Dest> {
    Some(Dest::File(PathBuf::from(p)))
}

fn dir(p: &str) -> Option<Dest> {
    Some(Dest::Dir(PathBuf::from(p)))
}

#[test]
fn generic_mapping_on_a_buildkit_daemon() {
    let push = Ask {
        push: true,
        tags: &["reg.example/app:1"],
        ..ask(&[])
    };
    let load = Ask {
        load: true,
        tags: &["app"],
        ..ask(&[])
    };
    let cases: Vec<(&str, Ask, Option<ExportPlan>)> = vec![
        ("nothing", ask(&[]), None),
        ("empty -o skipped", ask(&[""]), None),
        ("cacheonly", ask(&["type=cacheonly"]), None),
        (
            "dir shorthand",
            ask(&["out"]),
            want("local", &[], dir("out"), Wire::Packets),
        ),
        (
            "dash is tar to stdout",
            ask(&["-"]),
            want("tar", &[], Some(Dest::Stdout), Wire::Tar),
        ),
        (
            "local",
            ask(&["type=local,dest=out,platform-split=false"]),
            want(
                "local",
                &[("platform-split", "false")],
                dir("out"),
                Wire::Packets,
            ),
        ),
        (
            "tar file",
            ask(&["type=tar,dest=o.tar"]),
            want("tar", &[], file("o.tar"), Wire::Tar),
        ),
        (
            "tar default stdout",
            ask(&["type=tar"]),
            want("tar", &[], Some(Dest::Stdout), Wire::Tar),
        ),
        (
            "keys lowercased, Type too",
            ask(&["TYPE=tar,DEST=o.tar"]),
            want("tar", &[], file("o.tar"), Wire::Tar),
        ),
        (
            "oci file",
            ask(&["type=oci,dest=o.tar"]),
            want("oci", &[], file("o.tar"), Wire::Tar),
        ),
        (
            "oci default stdout",
            ask(&["type=oci"]),
            want("oci", &[], Some(Dest::Stdout), Wire::Tar),
        ),
        (
            "oci tar=true kept",
            ask(&["type=oci,dest=o.tar,tar=true"]),
            want("oci", &[("tar", "true")], file("o.tar"), Wire::Tar),
        ),
        (
            "docker with dest",
            ask(&["type=docker,dest=d.tar"]),
            want("docker", &[], file("d.tar"), Wire::Tar),
        ),
        (
            "docker to stdout",
            ask(&["type=docker,dest=-"]),
            want("docker", &[], Some(Dest::Stdout), Wire::Tar),
        ),
        (
            "docker without dest loads",
            ask(&["type=docker"]),
            want("docker", &[], Some(Dest::DockerLoad), Wire::Tar),
        ),
        (
            "--load",
            load,
            want(
                "docker",
                &[("name", "app")],
                Some(Dest::DockerLoad),
                Wire::Tar,
            ),
        ),
        (
            "--push",
            push,
            want(
                "image",
                &[("name", "reg.example/app:1"), ("push", "true")],
                None,
                Wire::None,
            ),
        ),
        (
            "--push with type=image",
            Ask {
                push: true,
                ..ask(&["type=image,name=r.example/a"])
            },
            want(
                "image",
                &[("name", "r.example/a"), ("push", "true")],
                None,
                Wire::None,
            ),
        ),
        (
            "registry is image+push",
            ask(&["type=registry,name=r.example/a"]),
            want(
                "image",
                &[("name", "r.example/a"), ("push", "true")],
                None,
                Wire::None,
            ),
        ),
        (
            "--push with type=registry",
            Ask {
                push: true,
                ..ask(&["type=registry,name=r.example/a"])
            },
            want(
                "image",
                &[("name", "r.example/a"), ("push", "true")],
                None,
                Wire::None,
            ),
        ),
        (
            "tags replace name",
            Ask {
                tags: &["a:1", "b:2"],
                ..ask(&["type=image,name=x,push=false"])
            },
            want(
                "image",
                &[("name", "a:1,b:2"), ("push", "false")],
                None,
                Wire::None,
            ),
        ),
        (
            "tags name oci",
            Ask {
                tags: &["a:1"],
                ..ask(&["type=oci,dest=o.tar"])
            },
            want("oci", &[("name", "a:1")], file("o.tar"), Wire::Tar),
        ),
        (
            "tags do not name tar",
            Ask {
                tags: &["a:1"],
                ..ask(&["type=tar,dest=o.tar"])
            },
            want("tar", &[], file("o.tar"), Wire::Tar),
        ),
        (
            "unknown exporter passes through with its attrs",
            ask(&["type=custom,dest=x,foo=bar"]),
            want("custom", &[("dest", "x"), ("foo", "bar")], None, Wire::None),
        ),
        (
            "quoted csv value",
            ask(&["type=image,\"name=a,b\",push=false"]),
            want(
                "image",
                &[("name", "a,b"), ("push", "false")],
                None,
                Wire::None,
            ),
        ),
        (
            "push=notabool is not a push",
            ask(&["type=image,push=maybe"]),
            want("image", &[("push", "maybe")], None, Wire::None),
        ),
        (
            "multi-platform tar",
            Ask {
                platforms: 3,
                ..ask(&["type=tar,dest=o.tar"])
            },
            want("tar", &[], file("o.tar"), Wire::Tar),
        ),
        (
            "multi-platform image push",
            Ask {
                platforms: 2,
                ..push_ask()
            },
            want(
                "image",
                &[("name", "reg.example/app:1"), ("push", "true")],
                None,
                Wire::None,
            ),
        ),
    ];
    for (name, a, expected) in cases {
        assert_eq!(a.run(&BUILDKIT), Ok(expected), "{name}");
    }
}

fn push_ask() -> Ask<'static> {
    Ask {
        push: true,
        tags: &["reg.example/app:1"],
        ..ask(&[])
    }
}

#[test]
fn docker_engine_with_containerd_store() {
    let d = ENGINE_CONTAINERD;
    let cases: Vec<(&str, Ask, Option<ExportPlan>)> = vec![
        (
            "--push keeps push on moby",
            push_ask(),
            want(
                "moby",
                &[("name", "reg.example/app:1"), ("push", "true")],
                None,
                Wire::None,
            ),
        ),
        (
            "--load is moby",
            Ask {
                load: true,
                tags: &["app"],
                ..ask(&[])
            },
            want("moby", &[("name", "app")], None, Wire::None),
        ),
        (
            "multi-platform --load",
            Ask {
                load: true,
                tags: &["app"],
                platforms: 2,
                ..ask(&[])
            },
            want("moby", &[("name", "app")], None, Wire::None),
        ),
        (
            "image is moby",
            ask(&["type=image,name=a"]),
            want("moby", &[("name", "a")], None, Wire::None),
        ),
        (
            "multi-platform image",
            Ask {
                platforms: 2,
                ..ask(&["type=image,name=a"])
            },
            want("moby", &[("name", "a")], None, Wire::None),
        ),
        (
            "oci",
            ask(&["type=oci,dest=o.tar"]),
            want("oci", &[], file("o.tar"), Wire::Tar),
        ),
        (
            "docker with dest",
            ask(&["type=docker,dest=d.tar"]),
            want("docker", &[], file("d.tar"), Wire::Tar),
        ),
        (
            "local",
            ask(&["out"]),
            want("local", &[], dir("out"), Wire::Packets),
        ),
        (
            "tar",
            ask(&["-"]),
            want("tar", &[], Some(Dest::Stdout), Wire::Tar),
        ),
    ];
    for (name, a, expected) in cases {
        assert_eq!(a.run(&d), Ok(expected), "{name}");
    }
}

#[test]
fn docker_engine_with_graph_driver() {
    let d = ENGINE_GRAPHDRIVER;
    let ok: Vec<(&str, Ask, Option<ExportPlan>)> = vec![
        (
            "local",
            ask(&["type=local,dest=out"]),
            want("local", &[], dir("out"), Wire::Packets),
        ),
        (
            "multi-platform local",
            Ask {
                platforms: 2,
                ..ask(&["type=local,dest=out"])
            },
            want("local", &[], dir("out"), Wire::Packets),
        ),
        (
            "multi-platform tar",
            Ask {
                platforms: 2,
                ..ask(&["type=tar,dest=o.tar"])
            },
            want("tar", &[], file("o.tar"), Wire::Tar),
        ),
        (
            "single-platform --load",
            Ask {
                load: true,
                tags: &["app"],
                ..ask(&[])
            },
            want("moby", &[("name", "app")], None, Wire::None),
        ),
        (
            "single-platform image",
            ask(&["type=image,name=app"]),
            want("moby", &[("name", "app")], None, Wire::None),
        ),
    ];
    for (name, a, expected) in ok {
        assert_eq!(a.run(&d), Ok(expected), "{name}");
    }
    let errors: Vec<(&str, Ask, OutputError)> = vec![
        ("push", push_ask(), OutputError::EnginePush),
        (
            "registry output",
            ask(&["type=registry,name=r.example/a"]),
            OutputError::EnginePush,
        ),
        (
            "oci",
            ask(&["type=oci,dest=o.tar"]),
            OutputError::EngineUnsupported {
                exporter: "oci".into(),
            },
        ),
        (
            "docker with dest",
            ask(&["type=docker,dest=d.tar"]),
            OutputError::EngineUnsupported {
                exporter: "docker".into(),
            },
        ),
        (
            "multi-platform --load",
            Ask {
                load: true,
                platforms: 2,
                ..ask(&[])
            },
            OutputError::LoadManifestList {
                why: ListCause::Platforms(2),
            },
        ),
        (
            "multi-platform image",
            Ask {
                platforms: 2,
                ..ask(&["type=image,name=a"])
            },
            OutputError::EngineMultiPlatform {
                exporter: "image".into(),
                platforms: 2,
            },
        ),
    ];
    for (name, a, expected) in errors {
        assert_eq!(a.run(&d), Err(expected), "{name}");
    }
    let msg = OutputError::EngineUnsupported {
        exporter: "oci".into(),
    }
    .to_string();
    assert!(
        msg.contains("oci exporter") && msg.contains("graph driver"),
        "{msg}"
    );
    assert!(OutputError::EnginePush
        .to_string()
        .contains("push is not supported"));
}

#[test]
fn errors_on_any_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let a_file = tmp.path().join("f");
    std::fs::write(&a_file, b"").unwrap();
    let a_dir = tmp.path().display().to_string();
    let a_file = a_file.display().to_string();
    let local_on_file = format!("type=local,dest={a_file}");
    let tar_on_dir = format!("type=tar,dest={a_dir}");
    let local_on_file = [local_on_file.as_str()];
    let tar_on_dir = [tar_on_dir.as_str()];
    let cases: Vec<(&str, Ask, OutputError)> = vec![
        (
            "two outputs to stdout",
            ask(&["-", "type=tar"]),
            OutputError::MultipleStdout { count: 2 },
        ),
        (
            "missing type",
            ask(&["dest=x,foo=bar"]),
            OutputError::MissingType {
                spec: "dest=x,foo=bar".into(),
            },
        ),
        (
            "field without =",
            ask(&["type=tar,oops"]),
            OutputError::Invalid {
                spec: "type=tar,oops".into(),
                reason: "invalid value \"oops\": want key=value".into(),
            },
        ),
        (
            "bad csv",
            ask(&["type=tar,de\"st=x"]),
            OutputError::Invalid {
                spec: "type=tar,de\"st=x".into(),
                reason: "bare \" in non-quoted-field".into(),
            },
        ),
        (
            "local needs dest",
            ask(&["type=local"]),
            OutputError::MissingDest {
                exporter: "local".into(),
            },
        ),
        (
            "local dest not stdout",
            ask(&["type=local,dest=-"]),
            OutputError::StdoutDir {
                exporter: "local".into(),
            },
        ),
        (
            "local dest is a file",
            ask(&local_on_file),
            OutputError::DestIsFile {
                path: PathBuf::from(&a_file),
            },
        ),
        (
            "tar dest is a dir",
            ask(&tar_on_dir),
            OutputError::DestIsDir {
                path: PathBuf::from(&a_dir),
            },
        ),
        (
            "oci tar=false",
            ask(&["type=oci,dest=layout,tar=false"]),
            OutputError::TarFalse {
                exporter: "oci".into(),
            },
        ),
        (
            "docker tar=0",
            ask(&["type=docker,dest=layout,tar=0"]),
            OutputError::TarFalse {
                exporter: "docker".into(),
            },
        ),
        (
            "push needs a tag",
            Ask {
                push: true,
                ..ask(&[])
            },
            OutputError::PushNeedsTag,
        ),
        (
            "registry needs a name",
            ask(&["type=registry"]),
            OutputError::PushNeedsTag,
        ),
        (
            "bad tag",
            Ask {
                tags: &["Bad/Name:x"],
                ..ask(&["out"])
            },
            OutputError::InvalidTag {
                tag: "Bad/Name:x".into(),
                reason: "repository name must be lowercase".into(),
            },
        ),
        (
            "multi-platform docker with dest",
            Ask {
                platforms: 2,
                ..ask(&["type=docker,dest=d.tar"])
            },
            OutputError::DockerManifestList {
                why: ListCause::Platforms(2),
            },
        ),
    ];
    for daemon in [BUILDKIT, ENGINE_CONTAINERD, ENGINE_GRAPHDRIVER] {
        for (name, a, expected) in &cases {
            assert_eq!(
                a.run(&daemon),
                Err(expected.clone()),
                "{name} on {daemon:?}"
            );
        }
    }
    assert!(OutputError::MultipleExporters { count: 2 }
        .to_string()
        .contains("v0.13"));
    assert!(OutputError::LoadManifestList {
        why: ListCause::Platforms(2),
    }
    .to_string()
    .contains("docker exporter does not currently support exporting manifest lists"));
}

#[test]
fn which_outputs_own_stdout() {
    let o = |v: &[&str]| writes_to_stdout(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(o(&["-"]));
    assert!(o(&["type=tar"]));
    assert!(o(&["type=oci"]));
    assert!(o(&["type=tar,dest=-"]));
    assert!(o(&["type=docker,dest=-"]));
    assert!(!o(&["type=docker"]), "docker without dest is --load");
    assert!(!o(&["type=tar,dest=x.tar", "out"]));
    assert!(!o(&["type=image,push=true"]));
    assert!(!o(&[]));
}

#[test]
fn push_and_load_add_exporters_to_the_outputs_like_buildx_0_13() {
    let kinds =
        |plans: Vec<ExportPlan>| -> Vec<String> { plans.into_iter().map(|p| p.exporter).collect() };
    let tags: &[&str] = &["reg.example/app:1"];
    let a = Ask {
        push: true,
        tags,
        ..ask(&["type=local,dest=out", "type=oci,dest=app.tar"])
    };
    assert_eq!(
        kinds(a.run_all(&BUILDKIT).unwrap()),
        ["local", "oci", "image"]
    );
    let pushed = a.run_all(&BUILDKIT).unwrap().pop().unwrap();
    assert_eq!(pushed.attrs.get("push").map(String::as_str), Some("true"));
    assert_eq!(
        pushed.attrs.get("name").map(String::as_str),
        Some("reg.example/app:1")
    );
    // --push marks an image output that is already there instead.
    let a = Ask {
        push: true,
        tags,
        ..ask(&["type=image"])
    };
    assert_eq!(kinds(a.run_all(&BUILDKIT).unwrap()), ["image"]);
    // --push with --load: both.
    let a = Ask {
        push: true,
        load: true,
        tags,
        ..ask(&[])
    };
    assert_eq!(
        kinds(a.run_all(&ENGINE_CONTAINERD).unwrap()),
        ["moby", "moby"]
    );
    // --load next to a docker output that has a dest adds one.
    let a = Ask {
        load: true,
        ..ask(&["type=docker,dest=app.tar"])
    };
    assert_eq!(kinds(a.run_all(&BUILDKIT).unwrap()), ["docker", "docker"]);
    let a = Ask {
        load: true,
        ..ask(&["type=docker"])
    };
    assert_eq!(kinds(a.run_all(&BUILDKIT).unwrap()), ["docker"]);
}

#[test]
fn multi_platform_load_only_on_a_containerd_engine() {
    let a = Ask {
        load: true,
        platforms: 2,
        ..ask(&[])
    };
    let refused = Err(OutputError::LoadManifestList {
        why: ListCause::Platforms(2),
    });
    assert_eq!(a.run(&BUILDKIT), refused);
    assert_eq!(a.run(&ENGINE_GRAPHDRIVER), refused);
    assert_eq!(
        a.run(&ENGINE_CONTAINERD),
        Ok(want("moby", &[], None, Wire::None))
    );
    // A BuildKit daemon loading into a containerd-store engine: the OCI
    // archive, every platform, through the engine's image load, as buildx
    // does; also for one platform.
    let oci = Ok(want("oci", &[], Some(Dest::DockerLoad), Wire::Tar));
    assert_eq!(a.run(&BUILDKIT_LOAD_OCI), oci);
    let one = Ask { platforms: 1, ..a };
    assert_eq!(one.run(&BUILDKIT_LOAD_OCI), oci);
    assert_eq!(
        one.run(&BUILDKIT),
        Ok(want("docker", &[], Some(Dest::DockerLoad), Wire::Tar))
    );
    // `-o type=docker` without a dest is a load too; with one, a file.
    assert!(may_load(&["type=docker".into()], false));
    assert!(!may_load(&["type=docker,dest=x.tar".into()], false));
    assert!(may_load(&[], true));
    assert!(!may_load(&["type=local,dest=d".into()], false));
}

#[test]
fn attestations_make_an_index_a_docker_tarball_cannot_hold() {
    // buildx `build/opt.go`: explicit attestations with the docker exporter
    // are refused unless the engine takes an OCI archive; a dest is
    // refused everywhere.
    let load = Ask {
        load: true,
        attestations: true,
        ..ask(&[])
    };
    let refused = Err(OutputError::LoadManifestList {
        why: ListCause::Attestations,
    });
    assert_eq!(load.run(&BUILDKIT), refused);
    assert_eq!(load.run(&ENGINE_GRAPHDRIVER), refused);
    assert_eq!(
        load.run(&BUILDKIT_LOAD_OCI),
        Ok(want("oci", &[], Some(Dest::DockerLoad), Wire::Tar))
    );
    assert_eq!(
        load.run(&ENGINE_CONTAINERD),
        Ok(want("moby", &[], None, Wire::None))
    );
    let file = Ask {
        attestations: true,
        ..ask(&["type=docker,dest=d.tar"])
    };
    for daemon in [BUILDKIT, BUILDKIT_LOAD_OCI, ENGINE_CONTAINERD] {
        assert_eq!(
            file.run(&daemon),
            Err(OutputError::DockerManifestList {
                why: ListCause::Attestations
            }),
            "{daemon:?}"
        );
    }
    // Other exporters keep attestations in their index.
    let push = Ask {
        push: true,
        attestations: true,
        tags: &["r.example/a"],
        ..ask(&[])
    };
    assert!(push.run(&BUILDKIT).is_ok());
    assert!(OutputError::LoadManifestList {
        why: ListCause::Attestations
    }
    .to_string()
    .contains("(attestations requested)"));
}

#[test]
fn push_by_digest_on_engine() {
    let a = Ask {
        tags: &["r.example/a"],
        ..ask(&["type=image,push=true,push-by-digest=true"])
    };
    assert_eq!(
        a.run(&ENGINE_CONTAINERD),
        Err(OutputError::EnginePushByDigest)
    );
    assert!(a.run(&BUILDKIT).is_ok());
}

#[test]
fn existing_destinations_of_the_right_kind_are_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("o.tar");
    std::fs::write(&f, b"old").unwrap();
    let d = tmp.path().display().to_string();
    let a = format!("type=local,dest={d}");
    assert_eq!(
        ask(&[&a]).run(&BUILDKIT).unwrap().unwrap().dest,
        Some(Dest::Dir(tmp.path().to_path_buf()))
    );
    let a = format!("type=tar,dest={}", f.display());
    assert_eq!(
        ask(&[&a]).run(&BUILDKIT).unwrap().unwrap().dest,
        Some(Dest::File(f.clone()))
    );
}

#[test]
fn stdout_terminal_is_refused() {
    let p = ask(&["-"]).run(&BUILDKIT).unwrap().unwrap();
    assert_eq!(
        p.check_stdout(true),
        Err(OutputError::StdoutTerminal {
            exporter: "tar".into()
        })
    );
    assert_eq!(p.check_stdout(false), Ok(()));
    let p = ask(&["out"]).run(&BUILDKIT).unwrap().unwrap();
    assert_eq!(p.check_stdout(true), Ok(()));
}

#[test]
fn daemon_kind_from_workers() {
    let worker = |labels: &[(&str, &str)]| WorkerInfo {
        id: "w".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        platforms: vec![],
        buildkit_version: None,
    };
    let d = DaemonKind::from_workers(true, &[worker(&[(SNAPSHOTTER_LABEL, "overlayfs")])]);
    assert_eq!(d, ENGINE_CONTAINERD);
    let d = DaemonKind::from_workers(true, &[worker(&[])]);
    assert_eq!(d, ENGINE_GRAPHDRIVER);
    let d = DaemonKind::from_workers(
        false,
        &[worker(&[(
            "org.mobyproject.buildkit.worker.executor",
            "oci",
        )])],
    );
    assert_eq!(d, BUILDKIT);
}

#[test]
fn tags_read_like_docker_references() {
    let sha384 = format!("app@sha384:{}", "a".repeat(96));
    for (tag, ok) in [
        ("Myhost/x", true),
        ("[::1]:5000/app:v1", true),
        (sha384.as_str(), false),
    ] {
        let tags = [tag];
        let r = Ask {
            tags: &tags,
            ..ask(&["out"])
        }
        .run(&BUILDKIT);
        assert_eq!(r.is_ok(), ok, "{tag}: {r:?}");
        if !ok {
            assert!(matches!(r, Err(OutputError::InvalidTag { .. })), "{r:?}");
        }
    }
}

#[test]
fn metadata_like_buildx() {
    let b64 = |s: &str| {
        // Test-only encoder.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                out.push(if i <= c.len() {
                    A[((n >> (18 - 6 * i)) & 63) as usize] as char
                } else {
                    '='
                });
            }
        }
        out
    };
    let desc = r#"{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:abc","size":123}"#;
    let resp: BTreeMap<String, String> = [
        ("containerimage.descriptor", b64(desc)),
        ("containerimage.digest", "sha256:abc".to_string()),
        ("image.name", "reg.example/app:1".to_string()),
        ("list", b64(r#"[{"a":1}]"#)),
        ("empty.object", b64("{}")),
        ("plain.b64", b64("not json")),
        ("number", b64("42")),
        ("result.json", r#"{"k":"v"}"#.to_string()),
        ("abcd", "abcd".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let got = metadata_json(&resp);
    let expected = json!({
        "containerimage.descriptor": {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": "sha256:abc",
            "size": 123
        },
        "containerimage.digest": "sha256:abc",
        "image.name": "reg.example/app:1",
        "list": [{"a": 1}],
        "empty.object": b64("{}"),
        "plain.b64": b64("not json"),
        "number": b64("42"),
        "result.json": {"k": "v"},
        "abcd": "abcd"
    });
    assert_eq!(got, expected);
}
