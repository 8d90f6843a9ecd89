use super::*;
use std::os::unix::fs::{symlink, PermissionsExt};
use tokio_stream::wrappers::ReceiverStream;

pub(crate) type PacketTx = mpsc::Sender<Result<Packet, Status>>;
pub(crate) type PacketRx = mpsc::Receiver<Result<Packet, Status>>;

/// A running sender: feed it packets through `to_sender`, read its
/// output from `from_sender`.
pub(crate) struct Running {
    pub(crate) to_sender: PacketTx,
    pub(crate) from_sender: PacketRx,
    pub(crate) task: tokio::task::JoinHandle<Result<(), FileSyncError>>,
}

pub(crate) fn start(root: &Path, opts: SendOptions, depth: usize) -> Running {
    let (to_sender, rx) = mpsc::channel(1024);
    let (tx, from_sender) = mpsc::channel(depth);
    let task = tokio::spawn(send_dir(
        root.to_path_buf(),
        opts,
        ReceiverStream::new(rx),
        tx,
    ));
    Running {
        to_sender,
        from_sender,
        task,
    }
}

fn write(path: &Path, content: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Read STATs up to the terminating empty one.
async fn listing(r: &mut Running) -> Vec<Stat> {
    let mut out = Vec::new();
    loop {
        let p = r.from_sender.recv().await.unwrap().unwrap();
        assert_eq!(packet_type(&p), Some(PacketType::PacketStat), "{p:?}");
        match p.stat {
            Some(s) => out.push(s),
            None => return out,
        }
    }
}

async fn listed_paths(root: &Path, opts: SendOptions) -> Vec<String> {
    let mut r = start(root, opts, 16);
    let paths = listing(&mut r).await.into_iter().map(|s| s.path).collect();
    fin(&mut r).await;
    r.task.await.unwrap().unwrap();
    paths
}

fn req(id: u32) -> Result<Packet, Status> {
    Ok(control_packet(PacketType::PacketReq, id, Vec::new()))
}

/// Request `id` and collect its DATA until the empty chunk.
async fn fetch(r: &mut Running, id: u32) -> Vec<Vec<u8>> {
    r.to_sender.send(req(id)).await.unwrap();
    let mut chunks = Vec::new();
    loop {
        let p = r.from_sender.recv().await.unwrap().unwrap();
        assert_eq!(packet_type(&p), Some(PacketType::PacketData));
        assert_eq!(p.id, id);
        if p.data.is_empty() {
            return chunks;
        }
        chunks.push(p.data);
    }
}

async fn fin(r: &mut Running) {
    r.to_sender
        .send(Ok(control_packet(PacketType::PacketFin, 0, Vec::new())))
        .await
        .unwrap();
    let p = r.from_sender.recv().await.unwrap().unwrap();
    assert_eq!(packet_type(&p), Some(PacketType::PacketFin));
}

#[tokio::test]
async fn protocol_doc_example_order_ids_modes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("Dockerfile"), b"FROM scratch\n", 0o644);
    mkdir(&root.join("a"), 0o755);
    write(&root.join("a/b.txt"), b"bee", 0o644);
    write(&root.join("a-b.txt"), b"", 0o644);
    mkdir(&root.join("a.c"), 0o755);
    symlink("a/b.txt", root.join("link")).unwrap();

    let mut r = start(root, SendOptions::default(), 16);
    let stats = listing(&mut r).await;
    let got: Vec<(&str, u32, &str)> = stats
        .iter()
        .map(|s| (s.path.as_str(), s.mode, s.linkname.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("Dockerfile", 0x1a4, ""),
            ("a", 0x8000_01ed, ""),
            ("a/b.txt", 0x1a4, ""),
            ("a-b.txt", 0x1a4, ""),
            ("a.c", 0x8000_01ed, ""),
            ("link", 0x0800_01ff, "a/b.txt"),
        ]
    );
    assert!(stats.iter().all(|s| s.uid == 0 && s.gid == 0));
    assert_eq!(stats[0].size, 13);
    assert_eq!(stats[1].size, 0);
    assert_eq!(stats[5].size, 7); // lstat size of a link = target length
    let mtime = fs::metadata(root.join("Dockerfile"))
        .unwrap()
        .modified()
        .unwrap();
    let ns = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert_eq!(stats[0].mod_time, ns);

    assert_eq!(fetch(&mut r, 0).await.concat(), b"FROM scratch\n");
    assert_eq!(fetch(&mut r, 2).await.concat(), b"bee");
    assert!(fetch(&mut r, 3).await.is_empty()); // empty file: only EOF
    fin(&mut r).await;
    r.task.await.unwrap().unwrap();
    // The stream ends after FIN.
    assert!(r.from_sender.recv().await.is_none());
}

#[tokio::test]
async fn dirs_and_links_are_not_requestable() {
    let dir = tempfile::tempdir().unwrap();
    mkdir(&dir.path().join("d"), 0o755);
    symlink("d", dir.path().join("l")).unwrap();
    for id in [0u32, 1, 7] {
        let mut r = start(dir.path(), SendOptions::default(), 16);
        listing(&mut r).await;
        r.to_sender.send(req(id)).await.unwrap();
        let err = r.task.await.unwrap().unwrap_err();
        assert!(
            matches!(err, FileSyncError::InvalidFileId { id: got } if got == id),
            "{err}"
        );
    }
}

#[tokio::test]
async fn hardlinks_point_at_the_first_path() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a"), b"same", 0o644);
    fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
    let mut r = start(dir.path(), SendOptions::default(), 16);
    let stats = listing(&mut r).await;
    assert_eq!(stats[0].path, "a");
    assert_eq!(stats[0].linkname, "");
    assert_eq!(stats[1].path, "b");
    assert_eq!(stats[1].linkname, "a");
    assert!(GoMode::is_regular(stats[1].mode));
    assert_eq!(fetch(&mut r, 0).await.concat(), b"same");
    r.to_sender.send(req(1)).await.unwrap();
    let err = r.task.await.unwrap().unwrap_err();
    assert!(
        matches!(err, FileSyncError::InvalidFileId { id: 1 }),
        "{err}"
    );
}

#[tokio::test]
async fn excludes_with_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in [
        "docs/keep.txt",
        "docs/drop.txt",
        "docs/sub/x.txt",
        "a.tmp",
        "src/b.tmp",
        "src/main.rs",
        "node_modules/m/i.js",
    ] {
        write(&root.join(f), b"x", 0o644);
    }
    let opts = SendOptions {
        exclude_patterns: vec![
            "docs".into(),
            "!docs/keep.txt".into(),
            "**/*.tmp".into(),
            "node_modules".into(),
        ],
        ..Default::default()
    };
    assert_eq!(
        listed_paths(root, opts).await,
        ["docs", "docs/keep.txt", "src", "src/main.rs"]
    );
}

#[tokio::test]
async fn include_patterns_emit_ancestor_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in [
        "a/b/c.txt",
        "a/b/d.txt",
        "a/e.txt",
        "z.txt",
        "y/q.go",
        "y/w/r.go",
    ] {
        write(&root.join(f), b"x", 0o644);
    }
    let opts = SendOptions {
        include_patterns: vec!["a/b/c.txt".into(), "**/*.go".into()],
        ..Default::default()
    };
    assert_eq!(
        listed_paths(root, opts).await,
        ["a", "a/b", "a/b/c.txt", "y", "y/q.go", "y/w", "y/w/r.go"]
    );
}

#[tokio::test]
async fn followpaths_resolve_a_symlinked_dockerfile() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("build/real.Dockerfile"), b"FROM x\n", 0o644);
    write(&root.join("build/other"), b"no", 0o644);
    write(&root.join("main.go"), b"no", 0o644);
    symlink("build/real.Dockerfile", root.join("Dockerfile")).unwrap();
    // An absolute link resolves inside the root, never outside it.
    symlink("/etc/passwd", root.join("abs")).unwrap();
    let opts = SendOptions {
        follow_paths: vec![
            "Dockerfile".into(),
            "Dockerfile.dockerignore".into(),
            "abs".into(),
        ],
        ..Default::default()
    };
    let mut r = start(root, opts, 16);
    let stats = listing(&mut r).await;
    let paths: Vec<&str> = stats.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        ["Dockerfile", "abs", "build", "build/real.Dockerfile"]
    );
    assert!(GoMode::is_symlink(stats[0].mode));
    assert_eq!(fetch(&mut r, 3).await.concat(), b"FROM x\n");
    fin(&mut r).await;
    r.task.await.unwrap().unwrap();

    let targets = follow_links(root, &["abs".to_string()]).unwrap().unwrap();
    assert_eq!(targets, ["abs", "etc/passwd"]);
}

#[tokio::test]
async fn large_file_streams_in_32k_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    write(&dir.path().join("big"), &content, 0o644);
    let mut r = start(dir.path(), SendOptions::default(), 4);
    let stats = listing(&mut r).await;
    assert_eq!(stats[0].size, content.len() as i64);
    let chunks = fetch(&mut r, 0).await;
    assert_eq!(chunks.len(), content.len().div_ceil(CHUNK_SIZE));
    assert!(chunks.iter().all(|c| c.len() <= CHUNK_SIZE));
    assert!(chunks.concat() == content);
    fin(&mut r).await;
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn reqs_are_served_while_still_listing() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2000 {
        write(&dir.path().join(format!("f{i:05}")), b"x", 0o644);
    }
    let mut r = start(dir.path(), SendOptions::default(), 2);
    let first = r.from_sender.recv().await.unwrap().unwrap();
    assert_eq!(first.stat.as_ref().map(|s| s.path.as_str()), Some("f00000"));
    r.to_sender.send(req(0)).await.unwrap();
    let mut stats_after_req = 0;
    let mut got_eof_before_listing_end = false;
    loop {
        let p = r.from_sender.recv().await.unwrap().unwrap();
        match packet_type(&p) {
            Some(PacketType::PacketData) if p.data.is_empty() => got_eof_before_listing_end = true,
            Some(PacketType::PacketStat) if p.stat.is_none() => break,
            Some(PacketType::PacketStat) => stats_after_req += 1,
            _ => {}
        }
    }
    assert_eq!(stats_after_req, 1999);
    assert!(got_eof_before_listing_end);
    fin(&mut r).await;
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn receiver_err_and_early_close_abort() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("f"), b"x", 0o644);
    let mut r = start(dir.path(), SendOptions::default(), 16);
    listing(&mut r).await;
    r.to_sender
        .send(Ok(control_packet(
            PacketType::PacketErr,
            0,
            b"disk full".to_vec(),
        )))
        .await
        .unwrap();
    let err = r.task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");

    let mut r = start(dir.path(), SendOptions::default(), 16);
    listing(&mut r).await;
    drop(r.to_sender);
    assert!(matches!(
        r.task.await.unwrap(),
        Err(FileSyncError::Protocol(_))
    ));
}

#[tokio::test]
async fn walk_error_becomes_err_packet_naming_the_path() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff"));
    write(&bad, b"x", 0o644);
    let mut r = start(dir.path(), SendOptions::default(), 16);
    let p = r.from_sender.recv().await.unwrap().unwrap();
    assert_eq!(packet_type(&p), Some(PacketType::PacketErr));
    let text = String::from_utf8_lossy(&p.data).into_owned();
    assert!(text.contains("bad"), "{text}");
    assert!(matches!(
        r.task.await.unwrap(),
        Err(FileSyncError::NonUtf8 { .. })
    ));
}

#[tokio::test]
async fn bad_pattern_fails_before_listing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SendOptions {
        exclude_patterns: vec!["[oops".into()],
        ..Default::default()
    };
    let mut r = start(dir.path(), opts, 16);
    assert!(matches!(
        r.task.await.unwrap(),
        Err(FileSyncError::Pattern(_))
    ));
    assert!(r.from_sender.recv().await.is_none());
}
