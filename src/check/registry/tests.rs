//! The registry client against a tiny in-test HTTP server: the Bearer token
//! flow and media types the testenv's htpasswd registry cannot show.

use super::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Mutex;

/// One recorded request: method, path, Authorization.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// Serve `answer(path, authorization) -> (status, headers, body)` on a
/// loopback port, one request per connection.
fn serve(
    answer: impl Fn(&str, Option<&str>) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + 'static,
) -> (String, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            let mut auth = None;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("authorization") {
                        auth = Some(v.trim().to_string());
                    }
                }
            }
            let mut parts = first.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            seen2
                .lock()
                .unwrap()
                .push((method, path.clone(), auth.clone()));
            let (status, headers, body) = answer(&path, auth.as_deref());
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    (addr, seen)
}

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

fn no_config() -> ClientOptions {
    ClientOptions {
        docker_config: Some("/nonexistent/archgate-test".into()),
        ..Default::default()
    }
}

#[test]
fn bearer_token_flow_and_unknown_media_type() {
    let realm = Arc::new(Mutex::new(String::new()));
    let realm2 = realm.clone();
    let (addr, seen) = serve(move |path, auth| {
        let challenge = format!(
            r#"Bearer realm="{}",service="test-registry",scope="repository:ns/img:pull""#,
            realm2.lock().unwrap()
        );
        if path.starts_with("/token?") {
            return (200, vec![], br#"{"access_token":"tok-123"}"#.to_vec());
        }
        if auth != Some("Bearer tok-123") {
            return (401, vec![h("WWW-Authenticate", &challenge)], vec![]);
        }
        match path {
            "/v2/" => (200, vec![], vec![]),
            _ => (
                200,
                vec![h(
                    "Content-Type",
                    "application/vnd.docker.distribution.manifest.v1+prettyjws",
                )],
                br#"{"schemaVersion":1,"fsLayers":[]}"#.to_vec(),
            ),
        }
    });
    *realm.lock().unwrap() = format!("http://{addr}/token");
    let r = RegistryRef::parse(&format!("{addr}/ns/img:v1")).unwrap();
    let e = open(&r, no_config()).unwrap_err().to_string();
    assert!(
        e.contains("unsupported media type") && e.contains("manifest.v1+prettyjws"),
        "{e}"
    );
    let seen = seen.lock().unwrap().clone();
    let token_req = seen
        .iter()
        .find(|(_, p, _)| p.starts_with("/token?"))
        .expect("a token request");
    assert!(
        token_req.1.contains("scope=repository%3Ans%2Fimg%3Apull")
            && token_req.1.contains("service=test-registry"),
        "{token_req:?}"
    );
    // Anonymous: no Basic credentials were sent to the realm.
    assert_eq!(token_req.2, None);
    assert!(seen
        .iter()
        .any(|(_, p, a)| p == "/v2/ns/img/manifests/v1" && a.as_deref() == Some("Bearer tok-123")));
}

#[test]
fn missing_token_service_answer_is_an_error_not_a_hang() {
    let (addr, _) = serve(move |path, _| {
        if path == "/v2/" {
            return (
                401,
                vec![h("WWW-Authenticate", r#"Bearer realm="ftp://x/token""#)],
                vec![],
            );
        }
        (404, vec![], vec![])
    });
    let r = RegistryRef::parse(&format!("{addr}/x:v1")).unwrap();
    let e = open(&r, no_config()).unwrap_err().to_string();
    assert!(e.contains("no http(s) realm") && e.contains(&addr), "{e}");
}

#[test]
fn tag_digest_header_is_checked() {
    let (addr, _) = serve(move |path, _| match path {
        "/v2/" => (200, vec![], vec![]),
        _ => (
            200,
            vec![
                h("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                h(
                    "Docker-Content-Digest",
                    &format!("sha256:{}", "0".repeat(64)),
                ),
            ],
            br#"{"schemaVersion":2}"#.to_vec(),
        ),
    });
    let r = RegistryRef::parse(&format!("{addr}/x:v1")).unwrap();
    let e = open(&r, no_config()).unwrap_err().to_string();
    assert!(
        e.contains("the registry says the manifest's digest is"),
        "{e}"
    );
}
