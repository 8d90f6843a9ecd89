use super::*;
use crate::docker::testutil::fake_engine;

async fn export_from(pieces: Vec<Vec<u8>>) -> (Result<u64, ExportError>, Vec<u8>, String) {
    let (_t, host, h) = fake_engine(pieces);
    let mut out = Vec::new();
    let r = Engine::new(&host).unwrap().export("app:v1", &mut out).await;
    (r, out, h.join().unwrap())
}

fn stream_error(r: Result<u64, ExportError>) -> String {
    match r {
        Err(ExportError::Stream(m)) => m,
        other => panic!("expected a stream error, got {other:?}"),
    }
}

#[tokio::test]
async fn chunked_bodies_decode_however_they_are_split() {
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n";
    let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let want = b"hello 0123456789".to_vec();
    // Every split point of the body, one at a time.
    for i in 0..wire.len() {
        let (r, got, line) =
            export_from(vec![head.to_vec(), wire[..i].to_vec(), wire[i..].to_vec()]).await;
        assert_eq!(line, "GET /images/app:v1/get HTTP/1.1");
        assert_eq!(r.unwrap(), want.len() as u64, "split at {i}");
        assert_eq!(got, want, "split at {i}");
    }
    // Ended early: an error, not an image.
    let (r, got, _) = export_from(vec![head.to_vec(), b"5\r\nhel".to_vec()]).await;
    assert_eq!(got.as_slice(), &b"hel"[..]);
    assert!(stream_error(r).contains("broke off"));
    // Malformed.
    for bad in [&b"zz\r\n"[..], b"2\r\nabXY", &[b'1'; 5000][..]] {
        let (r, _, _) = export_from(vec![head.to_vec(), bad.to_vec()]).await;
        assert!(r.is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn heads_that_are_not_http_are_refused() {
    let (r, _, _) = export_from(vec![b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()]).await;
    assert!(stream_error(r).contains("not an HTTP answer"));
    let (r, _, _) = export_from(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n".to_vec()
    ])
    .await;
    assert!(r.is_err());
    let (r, _, _) = export_from(vec![]).await;
    assert!(stream_error(r).contains("without an answer"));
}

#[tokio::test]
async fn refusals_quote_the_engine_or_its_reason() {
    let (r, _, _) = export_from(vec![
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()
    ])
    .await;
    match r {
        Err(ExportError::Engine { status, message }) => {
            assert_eq!((status, message.as_str()), (404, "Not Found"));
        }
        other => panic!("{other:?}"),
    }
    let body = "{\"message\":\"unable to create manifests file: NotFound\"}";
    let answer = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (r, _, _) = export_from(vec![answer.into_bytes()]).await;
    let Err(ExportError::Engine { message, .. }) = r else {
        panic!("{r:?}")
    };
    assert!(message.contains("docker pull --platform"), "{message}");
}

#[tokio::test]
async fn a_short_body_counts_what_is_missing() {
    let (r, got, _) = export_from(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec(),
        b"1234".to_vec(),
    ])
    .await;
    assert_eq!(got, b"1234");
    let e = stream_error(r);
    assert!(e.contains("broke off") && e.contains("6 bytes"), "{e}");
}

#[tokio::test]
async fn references_are_sent_as_written() {
    for (reference, line) in [
        (
            "reg.example:5000/a/b:t",
            "GET /images/reg.example:5000/a/b:t/get HTTP/1.1",
        ),
        (
            "[::1]:5000/app:latest",
            "GET /images/%5B::1%5D:5000/app:latest/get HTTP/1.1",
        ),
    ] {
        let (_t, host, h) = fake_engine(vec![
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ]);
        let mut out = Vec::new();
        let _ = Engine::new(&host)
            .unwrap()
            .export(reference, &mut out)
            .await;
        assert_eq!(h.join().unwrap(), line);
    }
}

#[tokio::test]
async fn loaded_lines_from_a_chunked_answer() {
    let t = tempfile::tempdir().unwrap();
    let tar = t.path().join("image.tar");
    std::fs::write(&tar, b"not really a tar").unwrap();
    let body = "{\"stream\":\"Loaded image: app:1\\n\"}\r\n";
    let raw = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let (_t, host, h) = fake_engine(vec![raw.into_bytes()]);
    let loaded = Engine::new(&host).unwrap().load(&tar).await.unwrap();
    assert_eq!(loaded, vec!["Loaded image: app:1"]);
    assert_eq!(h.join().unwrap(), "POST /images/load?quiet=1 HTTP/1.1");

    let (_t, host, _h) = fake_engine(vec![b"garbage".to_vec()]);
    assert!(Engine::new(&host).unwrap().load(&tar).await.is_err());
}

#[test]
fn engine_version_from_the_version_answer() {
    assert_eq!(
        version_of(b"{\"Version\":\"26.1.5+dfsg1\",\"ApiVersion\":\"1.45\"}"),
        Some((26, 1))
    );
    assert_eq!(version_of(b"{}"), None);
}

#[test]
fn the_containerd_store_from_the_info_answer() {
    // Docker 26/28 with the containerd snapshotter, and with overlay2.
    let cd = br#"{"Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]]}"#;
    assert_eq!(containerd_store_of(cd), Some(true));
    let o2 = br#"{"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"]]}"#;
    assert_eq!(containerd_store_of(o2), Some(false));
    assert_eq!(
        containerd_store_of(br#"{"DriverStatus":null}"#),
        Some(false)
    );
    assert_eq!(containerd_store_of(b"{}"), None);
    assert_eq!(containerd_store_of(b"<html>"), None);
}

#[test]
fn engine_errors_are_reported() {
    let body = b"{\"errorDetail\":{\"message\":\"bad tar\"},\"error\":\"bad tar\"}\n";
    assert_eq!(
        load_answer(true, "HTTP/1.1 200 OK", body).unwrap_err(),
        "bad tar"
    );
    assert_eq!(
        load_answer(
            false,
            "HTTP/1.1 500 Internal Server Error",
            b"{\"message\":\"boom\"}"
        )
        .unwrap_err(),
        "HTTP/1.1 500 Internal Server Error: boom"
    );
}
