use super::*;
use crate::buildkit::filesync::send::{send_dir, SendOptions};
use crate::buildkit::filesync::stat_packet;
use std::os::unix::fs::{symlink, MetadataExt};
use tokio_stream::wrappers::ReceiverStream;

fn write(path: &Path, content: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// (relative path, kind, perm, content or link target, mtime ns) for a
/// tree, sorted, plus the groups of hardlinked paths.
/// (relative path, kind, perm, content or link target, mtime ns).
type Entry = (String, char, u32, Vec<u8>, i64);

fn snapshot(root: &Path) -> (Vec<Entry>, Vec<Vec<String>>) {
    let mut out = Vec::new();
    let mut inodes: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut Vec<Entry>,
        inodes: &mut std::collections::BTreeMap<u64, Vec<String>>,
    ) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.push((rel, 'l', 0, t.to_string_lossy().as_bytes().to_vec(), 0));
            } else if md.is_dir() {
                out.push((rel, 'd', md.mode() & 0o7777, Vec::new(), 0));
                walk(root, &p, out, inodes);
            } else {
                inodes.entry(md.ino()).or_default().push(rel.clone());
                let mtime = md.mtime() * 1_000_000_000 + md.mtime_nsec();
                out.push((rel, 'f', md.mode() & 0o7777, fs::read(&p).unwrap(), mtime));
            }
        }
    }
    walk(root, root, &mut out, &mut inodes);
    out.sort();
    let mut links: Vec<Vec<String>> = inodes
        .into_values()
        .filter(|v| v.len() > 1)
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    links.sort();
    (out, links)
}

async fn loopback(src: &Path, dest: &Path) -> Result<(), FileSyncError> {
    let (to_sender, sender_in) = mpsc::channel(8);
    let (to_receiver, receiver_in) = mpsc::channel(8);
    let sender = tokio::spawn(send_dir(
        src.to_path_buf(),
        SendOptions::default(),
        ReceiverStream::new(sender_in),
        to_receiver,
    ));
    let received = receive_local(ReceiverStream::new(receiver_in), to_sender, dest).await;
    sender.await.unwrap()?;
    received
}

#[tokio::test]
async fn sender_to_local_receiver_reproduces_the_tree() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    write(&s.join("Dockerfile"), b"FROM scratch\n", 0o644);
    write(&s.join("bin/tool"), b"#!/bin/sh\n", 0o755);
    write(&s.join("bin/readonly"), b"ro", 0o444);
    write(&s.join("data/big.bin"), &big, 0o600);
    write(&s.join("data/empty"), b"", 0o640);
    write(&s.join("suid"), b"s", 0o4755);
    fs::create_dir_all(s.join("locked")).unwrap();
    write(&s.join("locked/inner"), b"i", 0o644);
    fs::set_permissions(s.join("locked"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::create_dir_all(s.join("emptydir")).unwrap();
    fs::set_permissions(s.join("emptydir"), fs::Permissions::from_mode(0o750)).unwrap();
    symlink("../Dockerfile", s.join("bin/df")).unwrap();
    symlink("/nonexistent/abs", s.join("dangling")).unwrap();
    fs::hard_link(s.join("data/big.bin"), s.join("data/big.hardlink")).unwrap();

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("export");
    loopback(s, &dest).await.unwrap();

    let (want, want_links) = snapshot(s);
    let (got, got_links) = snapshot(&dest);
    // setuid is dropped on export; everything else must match.
    let want: Vec<_> = want
        .into_iter()
        .map(|(p, k, m, c, t)| (p, k, m & 0o1777, c, t))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got_links, want_links);
    assert_eq!(
        got_links,
        [vec![
            "data/big.bin".to_string(),
            "data/big.hardlink".to_string()
        ]]
    );
    // Nothing left next to dest.
    let siblings: Vec<_> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["export"]);
    fs::set_permissions(s.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dest.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn existing_dest_is_merged_after_everything_arrived() {
    let src = tempfile::tempdir().unwrap();
    write(&src.path().join("a/new.txt"), b"new", 0o644);
    write(&src.path().join("same.txt"), b"replaced", 0o644);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("dest");
    write(&dest.join("keep.txt"), b"kept", 0o644);
    write(&dest.join("same.txt"), b"old", 0o644);
    write(&dest.join("a/old.txt"), b"old", 0o644);
    loopback(src.path(), &dest).await.unwrap();
    assert_eq!(fs::read(dest.join("keep.txt")).unwrap(), b"kept");
    assert_eq!(fs::read(dest.join("same.txt")).unwrap(), b"replaced");
    assert_eq!(fs::read(dest.join("a/old.txt")).unwrap(), b"old");
    assert_eq!(fs::read(dest.join("a/new.txt")).unwrap(), b"new");
}

fn stat(path: &str, mode: u32, linkname: &str) -> Packet {
    stat_packet(Some(Stat {
        path: path.to_string(),
        mode,
        linkname: linkname.to_string(),
        ..Default::default()
    }))
}

/// Run the receiver on a scripted sender; returns its result and the
/// packets it sent.
async fn scripted(packets: Vec<Packet>, dest: &Path) -> (Result<(), FileSyncError>, Vec<Packet>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let incoming = futures::stream::iter(packets.into_iter().map(Ok));
    let result = receive_local(incoming, tx, dest).await;
    let mut sent = Vec::new();
    while let Ok(p) = rx.try_recv() {
        sent.push(p.unwrap());
    }
    (result, sent)
}

const DIR: u32 = GoMode::DIR | 0o755;
const FILE: u32 = 0o644;
const LINK: u32 = GoMode::SYMLINK | 0o777;

#[tokio::test]
async fn hostile_listings_are_refused_and_leave_no_dest() {
    let cases: Vec<(&str, Vec<Packet>)> = vec![
        ("dotdot", vec![stat("../x", FILE, "")]),
        ("absolute", vec![stat("/etc/x", FILE, "")]),
        ("unclean", vec![stat("a/./b", FILE, "")]),
        (
            "out of order",
            vec![stat("b", FILE, ""), stat("a", FILE, "")],
        ),
        ("duplicate", vec![stat("a", DIR, ""), stat("a", DIR, "")]),
        ("missing parent", vec![stat("d/x", FILE, "")]),
        (
            "under a symlink",
            vec![stat("escape", LINK, "/tmp"), stat("escape/pwned", FILE, "")],
        ),
        ("hardlink to unknown", vec![stat("a", FILE, "/etc/passwd")]),
        (
            "hardlink to a symlink",
            vec![stat("l", LINK, "/etc/passwd"), stat("m", FILE, "l")],
        ),
    ];
    for (name, packets) in cases {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("dest");
        let (result, _) = scripted(packets, &dest).await;
        let err = result.expect_err(name);
        assert!(
            matches!(err, FileSyncError::BadEntry { .. }),
            "{name}: {err}"
        );
        assert!(!dest.exists(), "{name}");
        assert_eq!(
            fs::read_dir(out.path()).unwrap().count(),
            0,
            "{name}: staging left behind"
        );
    }
}

#[tokio::test]
async fn scripted_transfer_requests_every_file_and_finishes() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("dest");
    let packets = vec![
        stat("a", DIR, ""),
        stat("a/f", FILE, ""),
        stat("g", FILE, ""),
        stat("h", FILE, "a/f"),
        stat_packet(None),
        control_packet(PacketType::PacketData, 1, b"hello".to_vec()),
        control_packet(PacketType::PacketData, 2, Vec::new()),
        control_packet(PacketType::PacketData, 1, Vec::new()),
        control_packet(PacketType::PacketFin, 0, Vec::new()),
    ];
    let (result, sent) = scripted(packets, &dest).await;
    result.unwrap();
    let kinds: Vec<(Option<PacketType>, u32)> =
        sent.iter().map(|p| (packet_type(p), p.id)).collect();
    assert_eq!(
        kinds,
        [
            (Some(PacketType::PacketReq), 1),
            (Some(PacketType::PacketReq), 2),
            (Some(PacketType::PacketFin), 0)
        ]
    );
    assert_eq!(fs::read(dest.join("h")).unwrap(), b"hello");
    assert_eq!(fs::read(dest.join("g")).unwrap(), b"");
}

/// CI failure: a two-platform build with `--output type=local` passed its
/// gate, pushed, and then exited 2 with "writing the exported result:
/// stream failed: Unknown: error reading a body from connection": the
/// daemon reset the stream right after its sender returned, before its FIN
/// reached us. Once our FIN is sent the transfer is complete.
#[tokio::test]
async fn reset_after_our_fin_keeps_the_complete_transfer() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("dest");
    let (tx, mut rx) = mpsc::channel(1024);
    let incoming = futures::stream::iter(vec![
        Ok(stat("f", FILE, "")),
        Ok(stat_packet(None)),
        Ok(control_packet(PacketType::PacketData, 0, b"body".to_vec())),
        Ok(control_packet(PacketType::PacketData, 0, Vec::new())),
        Err(Status::unknown("error reading a body from connection")),
    ]);
    receive_local(incoming, tx, &dest).await.unwrap();
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"body");
    let mut sent = Vec::new();
    while let Ok(p) = rx.try_recv() {
        sent.push(packet_type(&p.unwrap()));
    }
    assert_eq!(
        sent,
        [Some(PacketType::PacketReq), Some(PacketType::PacketFin)]
    );
}

#[tokio::test]
async fn sender_error_or_early_end_leaves_no_dest() {
    for tail in [
        vec![control_packet(PacketType::PacketErr, 0, b"boom".to_vec())],
        vec![],
        vec![control_packet(PacketType::PacketData, 9, b"x".to_vec())],
    ] {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("dest");
        let mut packets = vec![stat("f", FILE, ""), stat_packet(None)];
        packets.extend(tail);
        let (result, _) = scripted(packets, &dest).await;
        assert!(result.is_err());
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
    }
    // A reset before every file arrived is a failed transfer.
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("dest");
    let (tx, _rx) = mpsc::channel(1024);
    let incoming = futures::stream::iter(vec![
        Ok(stat("f", FILE, "")),
        Ok(stat_packet(None)),
        Ok(control_packet(PacketType::PacketData, 0, b"half".to_vec())),
        Err(Status::cancelled("reset")),
    ]);
    assert!(receive_local(incoming, tx, &dest).await.is_err());
    assert!(!dest.exists());
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn tar_dest_appears_only_after_a_clean_end() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("image.tar");
    let msgs = vec![
        Ok(BytesMessage {
            data: b"abc".to_vec(),
        }),
        Ok(BytesMessage {
            data: b"def".to_vec(),
        }),
    ];
    let n = receive_tar(futures::stream::iter(msgs), &TarDest::File(dest.clone()))
        .await
        .unwrap();
    assert_eq!(n, 6);
    assert_eq!(fs::read(&dest).unwrap(), b"abcdef");
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);

    let failed = out.path().join("failed.tar");
    let msgs = vec![
        Ok(BytesMessage {
            data: b"abc".to_vec(),
        }),
        Err(Status::cancelled("build failed")),
    ];
    let err = receive_tar(futures::stream::iter(msgs), &TarDest::File(failed.clone()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("build failed"), "{err}");
    assert!(!failed.exists());
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);
}
