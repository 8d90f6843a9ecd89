use super::*;
use crate::buildkit::frontend::fake::Fake;
use crate::buildkit::proto::gateway::{Ref, SolveResponse};

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn options_come_from_the_archgate_build_args() {
    assert_eq!(Options::from_opts(&opts(&[])).unwrap(), Options::default());
    let o = Options::from_opts(&opts(&[
        ("build-arg:ARCHGATE_STRICT", "1"),
        ("build-arg:ARCHGATE_MODE", "warn"),
        ("build-arg:ARCHGATE_DEEP", "true"),
        (
            "build-arg:ARCHGATE_DOCKERFILE",
            "127.0.0.1:5000/dockerfile:1",
        ),
        ("build-arg:OTHER", "x"),
    ]))
    .unwrap();
    assert_eq!(
        o,
        Options {
            strict: true,
            mode: Mode::Warn,
            deep: true,
            dockerfile: Some("127.0.0.1:5000/dockerfile:1".into()),
        }
    );
    // Empty means the default.
    let o = Options::from_opts(&opts(&[
        ("build-arg:ARCHGATE_MODE", ""),
        ("build-arg:ARCHGATE_STRICT", ""),
    ]))
    .unwrap();
    assert_eq!(o, Options::default());
}

#[test]
fn a_malformed_build_arg_is_a_one_line_error() {
    let e = Options::from_opts(&opts(&[("build-arg:ARCHGATE_MODE", "loud")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build-arg ARCHGATE_MODE: \"loud\" is not fail or warn"
    );
    let e = Options::from_opts(&opts(&[("build-arg:ARCHGATE_STRICT", "yes")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build-arg ARCHGATE_STRICT: \"yes\" is not a boolean (1, true, 0, false)"
    );
    assert!(Options::from_opts(&opts(&[("build-arg:ARCHGATE_DOCKERFILE", "a b")])).is_err());
}

#[test]
fn forwarding_keeps_every_option_and_sets_cmdline_once() {
    let o = opts(&[
        ("source", "reg/archgate:1"),
        ("build-arg:BUILDKIT_SYNTAX", "reg/archgate:1"),
        ("context:extra", "input:extra"),
        ("frontend.caps", "moby.buildkit.frontend.contexts+forward"),
        ("platform", "linux/amd64,linux/arm64"),
    ]);
    let inputs: HashMap<_, _> = [("extra".to_string(), vec![0x0a, 0x01, 0x00])]
        .into_iter()
        .collect();
    let req = forward_request(&o, &Options::default(), inputs);
    assert_eq!(req.frontend, "dockerfile.v0");
    assert!(req.allow_result_return && req.allow_result_array_ref);
    assert_eq!(
        req.frontend_inputs["extra"],
        vec![0x0a, 0x01, 0x00],
        "bytes as received"
    );
    for (k, v) in &o {
        assert_eq!(req.frontend_opt.get(k), Some(v), "{k}");
    }
    // Without cmdline the builtin frontend would forward to us again.
    assert_eq!(req.frontend_opt["cmdline"], "reg/archgate:1");
    // The mark a frontend started by this forward finds (recursion).
    assert_eq!(req.frontend_opt["archgate.forwarded"], "1");
    assert_eq!(req.frontend_opt.len(), o.len() + 2);

    // A cmdline the daemon set (the directive's whole value) is kept.
    let mut o2 = o.clone();
    o2.insert("cmdline".into(), "reg/archgate:1 --x".into());
    let req = forward_request(&o2, &Options::default(), HashMap::new());
    assert_eq!(req.frontend_opt["cmdline"], "reg/archgate:1 --x");

    // ARCHGATE_DOCKERFILE: through gateway.v0 to that image.
    let with = Options {
        dockerfile: Some("reg/dockerfile:1".into()),
        ..Default::default()
    };
    let req = forward_request(&o, &with, HashMap::new());
    assert_eq!(req.frontend, "gateway.v0");
    assert_eq!(req.frontend_opt["source"], "reg/dockerfile:1");
    assert_eq!(req.frontend_opt["cmdline"], "reg/archgate:1");
}

fn failing_report() -> PlatformReport {
    use crate::inspect::verdict::{BinaryFacts, Check, Format, Reason, Role};
    PlatformReport {
        platform: "linux/arm64".into(),
        verdict: Verdict::Fail,
        reason: Reason::ArchMismatch,
        message: "/app is an amd64 binary".into(),
        program: "/app".into(),
        resolved: "/bin/app".into(),
        checks: vec![Check {
            role: Role::Entrypoint,
            path: "/app".into(),
            resolved: "/bin/app".into(),
            chain: vec!["/app".into(), "/usr/app".into(), "/bin/app".into()],
            verdict: Verdict::Fail,
            reason: Reason::ArchMismatch,
            message: "/app is an amd64 binary".into(),
            binary: Some(BinaryFacts {
                arch: Some("amd64".into()),
                bits: Some(64),
                endian: Some("little"),
                ..BinaryFacts::of(Format::Elf)
            }),
        }],
        notes: vec![],
        hint: Some("COPY the binary for ${TARGETARCH}".into()),
        deep: None,
        digest: None,
        check_micros: None,
        source: None,
    }
}

#[test]
fn the_failure_shows_the_platform_program_chain_facts_and_hint() {
    let mut pass = failing_report();
    pass.platform = "linux/amd64".into();
    pass.verdict = Verdict::Pass;
    let m = failure_message(&[pass, failing_report()], false);
    assert!(
        m.starts_with("archgate: wrong-architecture gate failed"),
        "{m}"
    );
    assert!(!m.contains("linux/amd64"), "{m}");
    for needle in [
        "FAIL linux/arm64  arch-mismatch",
        "entrypoint /app -> /bin/app",
        "chain: /app -> /usr/app -> /bin/app",
        "binary: ELF 64-bit little-endian amd64, static",
        "hint: COPY the binary for ${TARGETARCH}",
    ] {
        assert!(m.contains(needle), "{needle:?} missing from\n{m}");
    }
}

/// `--check`, `--call=outline`: the answer of the Dockerfile frontend goes
/// back untouched, never gated.
#[tokio::test]
async fn subrequests_pass_through_ungated() {
    let fake = Fake::default();
    // The lint answer carries the built result too (seen on Docker 28):
    // it goes back untouched all the same.
    let answer = gw::Result {
        metadata: [("result.txt".to_string(), b"outline".to_vec())]
            .into_iter()
            .collect(),
        result: Some(ResultArm::Ref(Ref {
            id: "built".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    {
        let mut st = fake.0.lock().unwrap();
        st.caps = vec!["frontend.inputs".into()];
        st.solve = Some(Ok(SolveResponse {
            result: Some(answer.clone()),
            ..Default::default()
        }));
    }
    let gw = fake.gateway().await;
    let o = opts(&[("requestid", "frontend.outline"), ("source", "reg/a:1")]);
    let got = build(gw, o, None).await.unwrap();
    assert_eq!(got, answer);
    let st = fake.0.lock().unwrap();
    assert_eq!(st.solves.len(), 1);
    assert_eq!(st.solves[0].frontend_opt["requestid"], "frontend.outline");
    assert_eq!(
        st.solves[0].frontend_inputs["extra"],
        vec![0x0a, 0x01, 0x00],
        "inputs forwarded as the daemon encoded them"
    );
}

/// The Dockerfile frontend's error comes back as it was.
#[tokio::test]
async fn a_failed_forward_is_the_error() {
    let fake = Fake::default();
    {
        let mut st = fake.0.lock().unwrap();
        st.caps = ["proto.refarray", "returnmap", "readdir"]
            .map(String::from)
            .to_vec();
        st.solve = Some(Err(tonic::Status::invalid_argument(
            "dockerfile parse error on line 2",
        )));
    }
    let gw = fake.gateway().await;
    let e = build(gw, opts(&[]), None).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(e.message(), "dockerfile parse error on line 2");
}

#[tokio::test]
async fn a_daemon_without_the_caps_is_refused() {
    let fake = Fake::default();
    fake.0.lock().unwrap().solve = Some(Ok(SolveResponse {
        result: Some(gw::Result {
            result: Some(ResultArm::Ref(Ref::default())),
            ..Default::default()
        }),
        ..Default::default()
    }));
    let gw = fake.gateway().await;
    let e = build(gw, opts(&[]), None).await.unwrap_err();
    assert!(e.message().contains("\"proto.refarray\""), "{e}");
    let e = build(
        fake.gateway().await,
        opts(&[("build-arg:ARCHGATE_MODE", "bogus")]),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.code(),
        tonic::Code::Unknown,
        "shown without a code prefix"
    );
    assert_eq!(
        e.message(),
        "archgate: build-arg ARCHGATE_MODE: \"bogus\" is not fail or warn"
    );
}

/// Review finding: warn mode dropped every report once one platform could
/// not be checked, and fail mode named only the undecided platform.
#[test]
fn every_platform_is_shown_when_one_could_not_be_checked() {
    let mut warned = failing_report();
    warned.platform = "linux/amd64".into();
    warned.verdict = Verdict::Warn;
    let decision = Decision::Undecided {
        undecided: vec![("linux/s390x".into(), "no image config".into())],
        reports: vec![warned, failing_report()],
    };
    let (shown, outcome) = decide(&decision, false, Mode::Warn);
    assert_eq!(outcome, Ok(()));
    let platforms: Vec<&str> = shown.iter().map(|w| w.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/s390x"]);
    assert_eq!(
        shown[2].short,
        "archgate could not check linux/s390x: no image config"
    );

    let (shown, outcome) = decide(&decision, false, Mode::Fail);
    let platforms: Vec<&str> = shown.iter().map(|w| w.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64"], "only what does not fail warns");
    let message = outcome.unwrap_err();
    assert!(message.contains("FAIL linux/arm64"), "{message}");
    assert!(
        message.ends_with("archgate could not check linux/s390x: no image config"),
        "{message}"
    );
    // --strict: the warning fails too.
    let (shown, outcome) = decide(&decision, true, Mode::Fail);
    assert!(shown.is_empty());
    assert!(outcome.unwrap_err().contains("linux/amd64"));
}

#[test]
fn a_pass_with_findings_warns_and_goes_on() {
    let mut warned = failing_report();
    warned.verdict = Verdict::Warn;
    let (shown, outcome) = decide(&Decision::Pass(vec![warned]), false, Mode::Fail);
    assert_eq!(outcome, Ok(()));
    assert_eq!(shown.len(), 1);
    let (shown, outcome) = decide(&Decision::Fail(vec![failing_report()]), false, Mode::Warn);
    assert_eq!(outcome, Ok(()));
    assert!(
        shown[0].short.starts_with("archgate: linux/arm64 fail"),
        "{:?}",
        shown[0]
    );
}

/// Red-team finding: `ARCHGATE_DOCKERFILE` naming archgate itself made each
/// archgate forward to the next, without end (642 frontends on Docker 28).
#[tokio::test]
async fn a_frontend_forwarded_to_by_archgate_refuses_at_once() {
    let fake = Fake::default();
    let o = opts(&[("archgate.forwarded", "1"), ("source", "reg/archgate:1")]);
    let e = build(fake.gateway().await, o, None).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unknown);
    assert!(
        e.message()
            .starts_with("archgate: ARCHGATE_DOCKERFILE names a frontend that is archgate again"),
        "{e}"
    );
    assert!(
        fake.0.lock().unwrap().solves.is_empty(),
        "nothing forwarded"
    );
}

/// Red-team finding: a misspelt option was silently ignored.
#[test]
fn an_unknown_archgate_option_is_named() {
    let e = Options::from_opts(&opts(&[("build-arg:ARCHGATE_STRCT", "1")])).unwrap_err();
    assert_eq!(
        e.value,
        "build-arg:ARCHGATE_STRCT".trim_start_matches("build-arg:")
    );
    assert!(e.to_string().contains("is not an archgate option"), "{e}");
    // Other build args are none of archgate's business.
    assert!(Options::from_opts(&opts(&[("build-arg:ARCH", "x")])).is_ok());
}
