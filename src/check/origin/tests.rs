use super::*;
use serde_json::json;

fn entries(spec: &[(&str, bool)]) -> Vec<HistoryEntry> {
    spec.iter()
        .map(|(c, empty)| HistoryEntry {
            created_by: Some(c.to_string()),
            empty_layer: *empty,
        })
        .collect()
}

#[test]
fn the_nth_entry_that_made_a_layer_is_the_nth_layer() {
    let h = entries(&[
        ("ADD rootfs.tar.gz / # buildkit", false),
        ("CMD [\"sh\"]", true),
        ("ARG TARGETARCH", true),
        ("COPY app-amd64 /app # buildkit", false),
        ("ENTRYPOINT [\"/app\"]", true),
    ]);
    assert_eq!(history_of_layer(&h, 2, 0), Some(0));
    assert_eq!(history_of_layer(&h, 2, 1), Some(3));
    // Counts that disagree: the history does not describe these layers.
    assert_eq!(history_of_layer(&h, 3, 1), None);
    assert_eq!(history_of_layer(&h, 1, 0), None);
    assert_eq!(history_of_layer(&[], 0, 0), None);
    assert_eq!(history_of_layer(&h, 2, 2), None);
}

#[test]
fn a_history_that_does_not_parse_is_none() {
    let o = Origin::new(br#"{"history": "not a list"}"#, None);
    assert!(o.history.is_empty());
    let o = Origin::new(br#"{"history": [{"created_by": 7}]}"#, None);
    assert!(o.history.is_empty());
    let o = Origin::new(br#"{"architecture": "arm64"}"#, None);
    assert!(o.history.is_empty());
    let o = Origin::new(
        br#"{"history": [{"created_by": "COPY a /a # buildkit"}, {"empty_layer": true}]}"#,
        None,
    );
    assert_eq!(o.history.len(), 2);
    assert!(o.history[1].empty_layer && o.history[1].created_by.is_none());
}

const DOCKERFILE: &str =
    "FROM scratch AS final\nCOPY app-amd64 /usr/bin/app\nENTRYPOINT [\"/usr/bin/app\"]\n";

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The shape BuildKit v0.32 writes with `attest:provenance=mode=max`
/// (SLSA v1, its default), trimmed of the LLB definition.
fn slsa1(data: &str) -> serde_json::Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": SLSA_1,
        "subject": [],
        "predicate": {
            "buildDefinition": {
                "buildType": "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
                "externalParameters": {
                    "configSource": {},
                    "request": {
                        "frontend": "dockerfile.v0",
                        "args": {"target": "final"},
                        "locals": [{"name": "context"}, {"name": "dockerfile"}],
                        "root": {"configSource": {}, "request": {"args": {"target": "final"}}}
                    }
                },
                "internalParameters": {"builderPlatform": "linux/amd64"}
            },
            "runDetails": {
                "builder": {"id": ""},
                "metadata": {
                    "buildkit_metadata": {
                        "source": {
                            "locations": {"step1": {"locations": [{"ranges": [{"start": {"line": 2}, "end": {"line": 2}}]}]}},
                            "infos": [{"filename": "Dockerfile", "language": "Dockerfile", "data": data}]
                        }
                    }
                }
            }
        }
    })
}

/// `attest:provenance=mode=max,version=v0.2`, likewise trimmed.
fn slsa02(data: &str) -> serde_json::Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": SLSA_02,
        "subject": [],
        "predicate": {
            "builder": {"id": ""},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "invocation": {
                "configSource": {"entryPoint": "build/Dockerfile.prod"},
                "parameters": {"frontend": "dockerfile.v0", "args": {"target": "final"}},
                "environment": {"platform": "linux/amd64"}
            },
            "metadata": {
                "https://mobyproject.org/buildkit@v1#metadata": {
                    "source": {"infos": [{"language": "Dockerfile", "data": data}]}
                }
            }
        }
    })
}

fn parse(v: &serde_json::Value, predicate: &str) -> Result<Option<Recorded>, String> {
    parse_statement(&serde_json::to_vec(v).unwrap(), predicate)
}

#[test]
fn the_recorded_dockerfile_in_both_slsa_versions() {
    let r = parse(&slsa1(&b64(DOCKERFILE)), SLSA_1).unwrap().unwrap();
    assert_eq!(
        r,
        Recorded {
            filename: "Dockerfile".into(),
            text: DOCKERFILE.into(),
            target: Some("final".into()),
        }
    );
    // v0.2: no file name in the info, the configSource's is used.
    let r = parse(&slsa02(&b64(DOCKERFILE)), SLSA_02).unwrap().unwrap();
    assert_eq!(r.filename, "build/Dockerfile.prod");
    assert_eq!(r.text, DOCKERFILE);
    assert_eq!(r.target.as_deref(), Some("final"));
    // A frontend that forwarded the request: the client's target.
    let mut v = slsa1(&b64(DOCKERFILE));
    v["predicate"]["buildDefinition"]["externalParameters"]["request"]["args"] =
        json!({"source": "docker/dockerfile:1"});
    let r = parse(&v, SLSA_1).unwrap().unwrap();
    assert_eq!(r.target.as_deref(), Some("final"));
}

#[test]
fn mode_min_records_no_dockerfile() {
    // What `mode=min` writes: no source infos at all.
    let mut v = slsa1("");
    v["predicate"]["runDetails"]["metadata"]["buildkit_metadata"] = json!({});
    assert_eq!(parse(&v, SLSA_1).unwrap(), None);
    let v = json!({"predicateType": SLSA_1});
    assert_eq!(parse(&v, SLSA_1).unwrap(), None);
    // Infos of another language only (two of them: neither is chosen).
    let mut v = slsa1(&b64(DOCKERFILE));
    v["predicate"]["runDetails"]["metadata"]["buildkit_metadata"]["source"]["infos"] = json!([
        {"filename": "a.hcl", "language": "HCL", "data": b64("x")},
        {"filename": "b.hcl", "language": "HCL", "data": b64("y")}
    ]);
    assert_eq!(parse(&v, SLSA_1).unwrap(), None);
}

#[test]
fn malformed_statements_are_one_line_errors_never_panics() {
    let e = parse_statement(b"{not json", SLSA_1).unwrap_err();
    assert!(e.starts_with("malformed JSON"), "{e}");
    assert!(!e.contains('\n'));
    let e = parse(&slsa1("!!not base64!!"), SLSA_1).unwrap_err();
    assert_eq!(e, "the Dockerfile's data is not base64");
    let e = parse(
        &slsa1(&{
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00])
        }),
        SLSA_1,
    )
    .unwrap_err();
    assert_eq!(e, "the Dockerfile is not UTF-8");
    // The layer's annotation and the statement disagree.
    let e = parse(&slsa1(&b64(DOCKERFILE)), SLSA_02).unwrap_err();
    assert!(e.contains("predicate"), "{e}");
    // Wrong types where BuildKit writes strings.
    let mut v = slsa1(&b64(DOCKERFILE));
    v["predicate"]["buildDefinition"]["externalParameters"]["request"]["args"] =
        json!({"target": 3});
    assert!(parse(&v, SLSA_1).is_err());
    for junk in [&b"null"[..], b"[]", b"\"x\"", b"{\"predicate\": 5}", b""] {
        let _ = parse_statement(junk, SLSA_1);
    }
    // Deep nesting in a field nobody reads is skipped, not recursed into.
    let deep = format!(
        "{{\"predicateType\":\"{SLSA_1}\",\"x\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(parse_statement(deep.as_bytes(), SLSA_1), Ok(None));
}

/// Reading the attestation: verified as every small blob is. What went
/// wrong is one line, and only a blob unlike its descriptor counts as
/// tampered (warned about; `check::tests` shows the history answering).
#[test]
fn the_attestation_is_verified_and_bounded() {
    use crate::check::tests::{image_with_origin, provenance, BUILT_FROM};
    let (l, path) = image_with_origin(Some(&provenance(BUILT_FROM)));
    let path = path.unwrap();
    let img = l.open_one();
    let att = img.origin.attestation.as_ref().expect("the index lists it");
    assert_eq!(att.subject.to_string(), img.digest.clone().unwrap());
    let r = att.recorded().unwrap().unwrap();
    assert_eq!(
        (r.filename.as_str(), r.text.as_str()),
        ("Dockerfile", BUILT_FROM)
    );

    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let e = att.recorded().unwrap_err();
    assert!(e.tampered(), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("provenance statement sha256:") && !m.contains('\n'),
        "{m}"
    );

    let mut longer = good.clone();
    longer.push(b' ');
    std::fs::write(&path, &longer).unwrap();
    assert!(att.recorded().unwrap_err().tampered());

    let mut big = good.clone();
    big.extend(std::iter::repeat_n(
        b' ',
        (crate::check::source::JSON_LIMIT) as usize,
    ));
    std::fs::write(&path, &big).unwrap();
    let e = att.recorded().unwrap_err();
    assert!(
        !e.tampered() && matches!(e, ProvenanceError::Blob(WalkError::TooLarge { .. })),
        "{e}"
    );

    std::fs::remove_file(&path).unwrap();
    let e = att.recorded().unwrap_err();
    assert!(
        !e.tampered() && matches!(e, ProvenanceError::Blob(WalkError::MissingBlob { .. })),
        "{e}"
    );

    // An attestation whose subject is another manifest than the index says.
    std::fs::write(&path, &good).unwrap();
    let other = Attestation::new(
        att.src.clone(),
        att.manifest.clone(),
        Digest::sha256_of(b"another manifest"),
    );
    let e = other.recorded().unwrap_err();
    assert!(
        matches!(e, ProvenanceError::Malformed { .. }) && e.to_string().contains("subject"),
        "{e}"
    );
}

/// Red-team finding: a statement whose in-toto subject is another image
/// (all zeros, claiming another platform) was read as this platform's.
#[test]
fn a_statement_about_another_image_names_its_subjects() {
    let zeros = "0".repeat(64);
    let v = serde_json::json!({"subject": [{"name": "x", "digest": {"sha256": zeros}}]});
    assert_eq!(
        statement_subjects(&serde_json::to_vec(&v).unwrap()),
        vec![zeros]
    );
    let empty = serde_json::json!({"subject": []});
    assert!(statement_subjects(&serde_json::to_vec(&empty).unwrap()).is_empty());
    assert!(statement_subjects(b"{not json").is_empty());
}
