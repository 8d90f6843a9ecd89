use super::tests_support::{b64, helper_dir};
use super::*;

fn service(dir: &Path, config: &str) -> CredentialStore {
    std::fs::write(dir.join("config.json"), config).unwrap();
    CredentialStore::from_config_dir(dir).unwrap()
}

#[test]
fn base64_matches_go_std_encoding() {
    assert_eq!(decode_base64(&b64("user:pass")).unwrap(), b"user:pass");
    assert_eq!(decode_base64("YQ==").unwrap(), b"a");
    assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
    assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
    assert_eq!(decode_base64("YWJj\r\nZGVm").unwrap(), b"abcdef");
    assert_eq!(decode_base64("").unwrap(), b"");
    assert!(decode_base64("YQ").is_none(), "padding is required");
    assert!(
        decode_base64("YQ==YQ==").is_none(),
        "padding only at the end"
    );
    assert!(decode_base64("sha256:abcd").is_none());
    assert!(decode_base64("Y===").is_none());
}

#[test]
fn hostname_conversion_follows_docker_cli() {
    let cases = [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("http://localhost:5000", "localhost:5000"),
        ("https://reg.example/v2/", "reg.example"),
        ("https://user@reg.example:443/x", "reg.example:443"),
        ("https://[::1]:5000/", "[::1]:5000"),
        ("reg.example/path", "reg.example"),
        ("reg.example:5000", "reg.example:5000"),
        ("ghcr.io", "ghcr.io"),
    ];
    for (input, want) in cases {
        assert_eq!(convert_to_hostname(input), want, "{input}");
    }
    assert_eq!(config_key("registry-1.docker.io"), DOCKER_HUB_KEY);
    assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
    assert_eq!(config_key("index.docker.io"), DOCKER_HUB_KEY);
    assert_eq!(config_key(DOCKER_HUB_KEY), DOCKER_HUB_KEY);
    assert_eq!(config_key("localhost:5000"), "localhost:5000");
}

#[test]
fn auths_entries_by_exact_and_legacy_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{hub}"}},
                "reg.example:5000": {{"auth": "{reg}"}},
                "http://legacy.example": {{"auth": "{legacy}"}},
                "https://v1.example/v1/": {{"username": "u1", "password": "p1"}},
                "tok.example": {{"auth": "{tok}", "identitytoken": "idtok"}},
                "empty.example": {{}}
            }}}}"#,
        hub = b64("hubuser:hub:pass"),
        reg = b64("bob:pw"),
        legacy = b64("old:timer\0"),
        tok = b64("x:y"),
    );
    let svc = service(dir.path(), &cfg);
    let some = |u: &str, p: &str| Ok(Some((u.to_string(), p.to_string())));
    assert_eq!(
        svc.credentials_for("registry-1.docker.io"),
        some("hubuser", "hub:pass")
    );
    assert_eq!(
        svc.credentials_for("docker.io"),
        some("hubuser", "hub:pass")
    );
    assert_eq!(svc.credentials_for("reg.example:5000"), some("bob", "pw"));
    assert_eq!(svc.credentials_for("legacy.example"), some("old", "timer"));
    assert_eq!(svc.credentials_for("v1.example"), some("u1", "p1"));
    assert_eq!(svc.credentials_for("tok.example"), some("", "idtok"));
    assert_eq!(svc.credentials_for("empty.example"), Ok(None));
    assert_eq!(svc.credentials_for("unknown.example"), Ok(None));
    // The port is part of the host.
    assert_eq!(svc.credentials_for("reg.example"), Ok(None));
}

#[test]
fn missing_config_is_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let svc = CredentialStore::from_config_dir(dir.path()).unwrap();
    assert_eq!(svc.credentials_for("ghcr.io"), Ok(None));
    let svc = service(dir.path(), "  \n");
    assert_eq!(svc.credentials_for("ghcr.io"), Ok(None));
}

#[test]
fn malformed_config_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    for (text, needle) in [
        ("{not json", "invalid json"),
        ("[]", "not a json object"),
        (r#"{"auths": 5}"#, "auths: not a json object"),
        (
            r#"{"auths": {"r": {"auth": "%%%"}}}"#,
            "auths.r: auth: invalid base64",
        ),
        (
            &format!(r#"{{"auths": {{"r": {{"auth": "{}"}}}}}}"#, b64("nocolon")),
            "expected base64 of user:password",
        ),
        (
            r#"{"credHelpers": {"r": 1}}"#,
            "credHelpers.r: not a string",
        ),
        (r#"{"credsStore": true}"#, "credsStore: not a string"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = CredentialStore::from_config_dir(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(needle), "{text}: {msg}");
    }
}

#[test]
fn fields_match_case_insensitively_like_go() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(
        dir.path(),
        r#"{"Auths": {"r.example": {"Username": "U", "Password": "P"}}}"#,
    );
    assert_eq!(
        svc.credentials_for("r.example"),
        Ok(Some(("U".into(), "P".into())))
    );
}

#[test]
fn cred_helpers_and_creds_store() {
    let dir = tempfile::tempdir().unwrap();
    let (_h, bin) = helper_dir();
    let cfg = format!(
        r#"{{"auths": {{"ok.example": {{"auth": "{}"}}, "plain.example": {{"auth": "{}"}}}},
                "credHelpers": {{"ok.example": "test", "token.example": "test", "gone.example": "absent"}},
                "credsStore": ""}}"#,
        b64("file:ignored"),
        b64("plain:pw"),
    );
    let svc = service(dir.path(), &cfg).with_helper_path(&bin);
    // The helper wins over the auths entry; ServerURL is ignored.
    assert_eq!(
        svc.credentials_for("ok.example"),
        Ok(Some(("alice".into(), "s3cret".into())))
    );
    assert_eq!(
        svc.credentials_for("token.example"),
        Ok(Some((String::new(), "refresh-tok".into())))
    );
    // No helper for this host and no credsStore: the auths entry.
    assert_eq!(
        svc.credentials_for("plain.example"),
        Ok(Some(("plain".into(), "pw".into())))
    );
    // A helper that is not installed is an error naming it.
    let err = svc.credentials_for("gone.example").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("docker-credential-absent"), "{msg}");
    assert!(msg.contains("gone.example"), "{msg}");
}

#[test]
fn creds_store_for_every_host_and_hub_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_h, bin) = helper_dir();
    let cfg = format!(
        r#"{{"auths": {{"missing.example": {{"auth": "{0}"}}, "own.example": {{"auth": "{0}"}}}},
                "credHelpers": {{"own.example": ""}}, "credsStore": "test"}}"#,
        b64("file:pw")
    );
    let svc = service(dir.path(), &cfg).with_helper_path(&bin);
    assert_eq!(
        svc.credentials_for("registry-1.docker.io"),
        Ok(Some(("hubuser".into(), "hubpass".into())))
    );
    // "Not found" from the helper is anonymous, even with an auths entry
    // (docker/cli ignores it when a store is configured).
    assert_eq!(svc.credentials_for("missing.example"), Ok(None));
    // An empty credHelpers entry means the plain file, not credsStore.
    assert_eq!(
        svc.credentials_for("own.example"),
        Ok(Some(("file".into(), "pw".into())))
    );

    let err = svc.credentials_for("fail.example").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("docker-credential-test"), "{msg}");
    assert!(msg.contains("fail.example"), "{msg}");
    assert!(msg.contains("keychain locked"), "{msg}");
    assert!(matches!(err, CredentialsError::Helper { .. }));

    let err = svc.credentials_for("garbage.example").unwrap_err();
    assert!(err.to_string().contains("not json"), "{err}");
}

#[test]
fn hanging_helper_is_killed_and_answers_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (_h, bin) = helper_dir();
    let svc = service(dir.path(), r#"{"credsStore": "test"}"#)
        .with_helper_path(&bin)
        .with_helper_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let err = svc.credentials_for("hang.example").unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "not killed in time"
    );
    assert!(
        matches!(err, CredentialsError::HelperTimeout { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("docker-credential-test"), "{msg}");
    assert!(msg.contains("hang.example"), "{msg}");
    assert!(msg.contains("300ms"), "{msg}");
    // Cached: the second ask is immediate and the same.
    let start = Instant::now();
    assert_eq!(svc.credentials_for("hang.example"), Err(err));
    assert!(start.elapsed() < Duration::from_millis(250));
}

#[test]
fn cache_is_per_host_and_shared_by_clones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let svc = service(
        dir.path(),
        &format!(
            r#"{{"auths": {{"a.example": {{"auth": "{}"}}}}}}"#,
            b64("a:1")
        ),
    );
    let clone = svc.clone();
    assert_eq!(
        svc.credentials_for("a.example"),
        Ok(Some(("a".into(), "1".into())))
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        clone.credentials_for("a.example"),
        Ok(Some(("a".into(), "1".into())))
    );
}

#[test]
fn debug_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(
        dir.path(),
        &format!(
            r#"{{"auths": {{"r": {{"auth": "{}"}}}}}}"#,
            b64("user:topsecret")
        ),
    );
    assert!(!format!("{svc:?}").contains("topsecret"));
}
