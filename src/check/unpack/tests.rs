//! The unpacker's rules, one test per rule, on headers made by hand. The
//! same constructs run through the real Docker engines in tests/e2e/unpack.rs.

use super::rootpath::{go_clean, go_split};
use super::*;
use crate::check::gotar::Header;

const BIG: TreeLimits = TreeLimits {
    max_bytes: 1 << 30,
    max_steps: 1 << 30,
};

fn hdr(name: &[u8], typeflag: u8) -> Header {
    Header {
        name: name.to_vec(),
        typeflag,
        mode: 0o755,
        size: 0,
        ..Header::default()
    }
}
fn file(name: &[u8]) -> Header {
    hdr(name, b'0')
}
fn dir(name: &[u8]) -> Header {
    hdr(name, b'5')
}
fn sym(name: &[u8], target: &[u8]) -> Header {
    Header {
        linkname: target.to_vec(),
        ..hdr(name, b'2')
    }
}
fn link(name: &[u8], target: &[u8]) -> Header {
    Header {
        linkname: target.to_vec(),
        ..hdr(name, b'1')
    }
}
fn chr(name: &[u8], major: i64, minor: i64) -> Header {
    Header {
        devmajor: major,
        devminor: minor,
        ..hdr(name, b'3')
    }
}

/// Apply entries to an upper (Mode U) or first-layer tree.
fn build(naive: bool, entries: &[Header]) -> Result<LayerTree, TreeError> {
    let mut t = LayerTree::new(naive, BIG);
    for (i, h) in entries.iter().enumerate() {
        t.apply(h, i as u32 + 1)?;
    }
    Ok(t)
}

fn upper(entries: &[Header]) -> LayerTree {
    build(false, entries).unwrap()
}

fn fails(naive: bool, entries: &[Header]) -> String {
    match build(naive, entries) {
        Err(TreeError::Unpack { why, .. }) => why,
        Err(e) => panic!("not an unpack failure: {e:?}"),
        Ok(_) => panic!("the unpacker fails on this layer; the model did not"),
    }
}

/// The kind at `path`, `None` when absent.
fn kind(t: &LayerTree, path: &[u8]) -> Option<NodeKind> {
    match t.lookup(path) {
        Lookup::Found(n) => Some(t.kind(n)),
        _ => None,
    }
}

fn node(t: &LayerTree, path: &[u8]) -> NodeId {
    match t.lookup(path) {
        Lookup::Found(n) => n,
        other => panic!("{}: {other:?}", String::from_utf8_lossy(path)),
    }
}

#[test]
fn go_clean_and_split_match_go() {
    for (i, o) in [
        (&b""[..], &b"."[..]),
        (b"tmp/../app", b"app"),
        (b"../app", b"../app"),
        (b"a/../../x", b"../x"),
        (b"/../x", b"/x"),
        (b"./y//z/", b"y/z"),
        (b"/", b"/"),
        (b"..", b".."),
        (b"x/..", b"."),
    ] {
        assert_eq!(go_clean(i), o, "{}", String::from_utf8_lossy(i));
    }
    assert_eq!(go_split(b"a/b"), (&b"a/"[..], &b"b"[..]));
    assert_eq!(go_split(b"b"), (&b""[..], &b"b"[..]));
    assert_eq!(go_split(b"/"), (&b"/"[..], &b""[..]));
}

#[test]
fn dot_dot_names_are_clamped_at_the_root_never_skipped() {
    let t = upper(&[
        file(b"tmp/../app"),
        file(b"../up"),
        file(b"a/../../x"),
        file(b"/abs"),
        file(b"./y"),
    ]);
    for p in [&b"/app"[..], b"/up", b"/x", b"/abs", b"/y"] {
        assert_eq!(
            kind(&t, p),
            Some(NodeKind::File),
            "{}",
            String::from_utf8_lossy(p)
        );
    }
    assert_eq!(kind(&t, b"/tmp"), None, "tmp/.. is lexical: no tmp dir");
}

#[test]
fn names_that_resolve_to_the_root_are_skipped() {
    let mut t = LayerTree::new(false, BIG);
    for n in [&b"."[..], b"/", b"..", b"./", b"../..", b"x/.."] {
        assert_eq!(t.apply(&file(n), 1), Ok(Applied::Skipped));
    }
    // Even an unsupported type: the root check comes first.
    assert_eq!(t.apply(&hdr(b"./", b'7'), 2), Ok(Applied::Skipped));
}

#[test]
fn implied_directories_are_real_directories() {
    let t = upper(&[file(b"bin/app")]);
    let b = node(&t, b"/bin");
    assert_eq!(t.kind(b), NodeKind::Dir);
    assert!(t.is_implicit(b));
    assert_eq!(t.lookup(b"/bin/app/x"), Lookup::Hidden);
}

#[test]
fn entry_under_a_same_layer_symlink_lands_at_its_target() {
    let t = upper(&[
        sym(b"lib", b"usr/lib"),
        file(b"lib/foo"),
        sym(b"abs", b"/opt/real"),
        file(b"abs/bar"),
        dir(b"a/"),
        sym(b"a/b", b"../../../../etc"),
        file(b"a/b/x"),
    ]);
    assert_eq!(kind(&t, b"/lib"), Some(NodeKind::Symlink));
    assert_eq!(kind(&t, b"/usr/lib/foo"), Some(NodeKind::File));
    assert_eq!(kind(&t, b"/opt/real/bar"), Some(NodeKind::File));
    assert_eq!(
        kind(&t, b"/etc/x"),
        Some(NodeKind::File),
        "clamped at the root"
    );
}

#[test]
fn symlink_loop_in_a_parent_fails() {
    let why = fails(false, &[sym(b"a", b"b"), sym(b"b", b"a"), file(b"a/x")]);
    assert!(why.contains("too many links"), "{why}");
}

#[test]
fn file_as_a_parent_fails_not_a_directory() {
    assert!(fails(false, &[file(b"f"), file(b"f/x")]).contains("not a directory"));
    assert!(fails(false, &[file(b"f"), file(b"f/x/y")]).contains("not a directory"));
    // Through a symlink to a file.
    assert!(fails(false, &[file(b"f"), sym(b"l", b"f"), file(b"l/x")]).contains("not a directory"));
}

#[test]
fn existing_path_is_replaced_unless_both_are_directories() {
    let t = upper(&[dir(b"d/"), file(b"d/x"), file(b"d")]);
    assert_eq!(kind(&t, b"/d"), Some(NodeKind::File));
    assert_eq!(t.lookup(b"/d/x"), Lookup::Hidden);
    let t = upper(&[
        dir(b"d/"),
        file(b"d/x"),
        Header {
            mode: 0o700,
            ..dir(b"d")
        },
    ]);
    assert_eq!(
        kind(&t, b"/d/x"),
        Some(NodeKind::File),
        "dir over dir merges"
    );
    assert_eq!(t.mode(node(&t, b"/d")), 0o700);
    // A directory replaces a file.
    let t = upper(&[file(b"d"), dir(b"d"), file(b"d/y")]);
    assert_eq!(kind(&t, b"/d/y"), Some(NodeKind::File));
}

#[test]
fn hardlink_shares_the_inode_and_the_header_mode_lands_on_it() {
    let mut a = file(b"a");
    a.mode = 0o644;
    a.size = 7;
    let mut l = link(b"b", b"a");
    l.mode = 0o755;
    let t = upper(&[a, l, file(b"a")]);
    let b = node(&t, b"/b");
    assert_eq!(t.kind(b), NodeKind::File);
    assert_eq!(t.inode(b).ordinal, 1, "the old inode, not the new /a");
    assert_eq!(t.mode(b), 0o755);
    assert_eq!(t.inode(node(&t, b"/a")).ordinal, 3);
}

#[test]
fn hardlink_to_a_lower_layer_file_fails() {
    let why = fails(false, &[link(b"bin/app", b"usr/bin/real")]);
    assert!(why.contains("no such file"), "{why}");
}

#[test]
fn hardlink_to_a_directory_fails() {
    assert!(fails(false, &[dir(b"d"), link(b"h", b"d")]).contains("operation not permitted"));
    // `..` climbs above the root: the root, a directory.
    assert!(fails(false, &[link(b"h", b"..")]).contains("operation not permitted"));
}

#[test]
fn hardlink_to_a_symlink_is_a_symlink() {
    let t = upper(&[sym(b"s", b"/bin/busybox"), link(b"h", b"s")]);
    let h = node(&t, b"/h");
    assert_eq!(t.kind(h), NodeKind::Symlink);
    assert_eq!(t.link(h), b"/bin/busybox");
}

#[test]
fn hardlink_to_a_whiteout_is_a_whiteout() {
    let t = upper(&[file(b".wh.x"), link(b"h", b"x")]);
    assert_eq!(kind(&t, b"/h"), Some(NodeKind::Whiteout));
    // The first layer deletes instead: the target is gone.
    assert!(fails(true, &[file(b"x"), file(b".wh.x"), link(b"h", b"x")]).contains("no such file"));
}

#[test]
fn hardlink_target_is_resolved_through_same_layer_symlinks() {
    let t = upper(&[file(b"real/f"), sym(b"l", b"real"), link(b"h", b"l/f")]);
    assert_eq!(t.inode(node(&t, b"/h")).ordinal, 1);
    // `..` after a symlink applies to the link's target.
    let t = upper(&[file(b"x/y/f"), sym(b"l", b"x/y"), link(b"h", b"l/../y/f")]);
    assert_eq!(kind(&t, b"/h"), Some(NodeKind::File));
}

#[test]
fn hardlink_to_itself_fails_after_its_removal() {
    assert!(fails(false, &[file(b"a"), link(b"a", b"a")]).contains("no such file"));
}

#[test]
fn whiteout_after_the_same_path_in_one_layer_fails() {
    let why = fails(false, &[file(b"x"), file(b".wh.x")]);
    assert!(why.contains("file exists"), "{why}");
    // The first layer removes it instead.
    let t = build(true, &[file(b"x"), file(b".wh.x")]).unwrap();
    assert_eq!(kind(&t, b"/x"), None);
}

#[test]
fn path_after_its_whiteout_in_one_layer_is_kept() {
    let t = upper(&[file(b".wh.x"), file(b"x")]);
    assert_eq!(kind(&t, b"/x"), Some(NodeKind::File));
    // But not as a parent: the whiteout device is not a directory.
    assert!(fails(false, &[file(b".wh.d"), file(b"d/x")]).contains("not a directory"));
    let t = build(true, &[file(b".wh.d"), file(b"d/x")]).unwrap();
    assert_eq!(kind(&t, b"/d/x"), Some(NodeKind::File));
}

#[test]
fn invalid_whiteout_names_fail() {
    for n in [&b".wh."[..], b"d/.wh..", b".wh..."] {
        for naive in [false, true] {
            let why = fails(naive, &[file(n)]);
            assert!(why.contains("invalid whiteout name"), "{why}");
        }
    }
}

#[test]
fn opaque_marker_marks_its_directory_and_not_the_root() {
    let t = upper(&[
        file(b"opt/.wh..wh..opq"),
        file(b".wh..wh..opq"),
        file(b"opt/new"),
    ]);
    assert_eq!(t.lookup(b"/opt/old"), Lookup::Absent { opaque: true });
    assert_eq!(t.lookup(b"/etc/x"), Lookup::Absent { opaque: false });
    assert_eq!(kind(&t, b"/opt/new"), Some(NodeKind::File));
}

#[test]
fn first_layer_opaque_marker_removes_what_the_layer_only_implied() {
    let t = build(
        true,
        &[
            dir(b"d/"),
            file(b"d/kept"),
            file(b"d/implied/f"),
            file(b"d/.wh..wh..opq"),
            file(b"d/after"),
        ],
    )
    .unwrap();
    assert_eq!(kind(&t, b"/d/kept"), Some(NodeKind::File));
    assert_eq!(kind(&t, b"/d/implied"), None);
    assert_eq!(kind(&t, b"/d/after"), Some(NodeKind::File));
}

#[test]
fn whiteout_under_a_lower_symlink_makes_a_real_directory() {
    // Mode U: `lib` is only a symlink in a lower layer; here it is a
    // directory holding a whiteout.
    let t = upper(&[file(b"lib/.wh.foo")]);
    assert_eq!(kind(&t, b"/lib"), Some(NodeKind::Dir));
    assert_eq!(kind(&t, b"/lib/foo"), Some(NodeKind::Whiteout));
}

#[test]
fn char_device_0_0_is_a_whiteout_and_others_are_devices() {
    let t = upper(&[
        chr(b"w", 0, 0),
        chr(b"null", 1, 3),
        Header {
            devmajor: 0,
            devminor: 0,
            ..hdr(b"blk", b'4')
        },
    ]);
    assert_eq!(kind(&t, b"/w"), Some(NodeKind::Whiteout));
    assert_eq!(kind(&t, b"/null"), Some(NodeKind::Other));
    assert_eq!(kind(&t, b"/blk"), Some(NodeKind::Other));
    assert!(fails(false, &[chr(b"c", 1 << 32, 0)]).contains("out of range"));
    assert!(fails(false, &[chr(b"c", -1, 0)]).contains("out of range"));
}

#[test]
fn unsupported_entry_types_fail() {
    for t in [b'7', b'S', b'V', b'Z', b'M'] {
        let why = fails(false, &[hdr(b"x", t)]);
        assert!(why.contains("unhandled tar header type"), "{why}");
    }
    // A whiteout name is a whiteout whatever its type.
    let t = upper(&[hdr(b".wh.x", b'7')]);
    assert_eq!(kind(&t, b"/x"), Some(NodeKind::Whiteout));
}

#[test]
fn global_header_removes_its_path_and_creates_its_parents() {
    let t = upper(&[file(b"a"), hdr(b"a", b'g'), hdr(b"bin/zz", b'g')]);
    assert_eq!(kind(&t, b"/a"), None);
    assert_eq!(kind(&t, b"/bin"), Some(NodeKind::Dir));
    assert_eq!(kind(&t, b"/bin/zz"), None);
}

#[test]
fn symlink_targets_empty_or_too_long_fail() {
    assert!(fails(false, &[sym(b"s", b"")]).contains("no such file"));
    assert!(fails(false, &[sym(b"s", &[b'a'; 4096])]).contains("too long"));
    upper(&[sym(b"s", &[b'a'; 4095])]);
}

#[test]
fn components_longer_than_name_max_fail() {
    let long = [b'n'; 256];
    let mut name = long.to_vec();
    assert!(fails(false, &[file(&name)]).contains("too long"));
    name.extend_from_slice(b"/x");
    assert!(fails(false, &[file(&name)]).contains("too long"));
    upper(&[file(&[b'n'; 255])]);
}

#[test]
fn paths_of_path_max_or_more_fail() {
    let dir = [b'd'; 200];
    let mut name = Vec::new();
    while name.len() < 4000 {
        name.extend_from_slice(&dir);
        name.push(b'/');
    }
    let mut ok = name.clone();
    ok.extend_from_slice(b"f");
    upper(&[file(&ok)]);
    name.extend_from_slice(&[b'f'; 200]);
    assert!(fails(false, &[file(&name)]).contains("too long"));
    name.extend_from_slice(b"/x");
    assert!(fails(false, &[file(&name)]).contains("too long"));
}

#[test]
fn names_and_targets_are_bytes() {
    let t = upper(&[file(b"caf\xe9/\xff"), sym(b"l\xfe", b"\xff\xfe")]);
    assert_eq!(kind(&t, b"/caf\xe9/\xff"), Some(NodeKind::File));
    assert_eq!(t.link(node(&t, b"/l\xfe")), b"\xff\xfe");
}

#[test]
fn layer_index_bytes_and_steps_are_bounded() {
    let mut t = LayerTree::new(
        false,
        TreeLimits {
            max_bytes: 1 << 20,
            max_steps: 1 << 30,
        },
    );
    let mut err = None;
    for i in 0..100_000u32 {
        if let Err(e) = t.apply(&file(format!("d{}/f{i}", i % 50).as_bytes()), i + 1) {
            err = Some(e);
            break;
        }
    }
    assert!(matches!(err, Some(TreeError::Limit(m)) if m.contains("--max-layer-index")));
    // A chain of 200 links walked by every entry.
    let mut t = LayerTree::new(
        false,
        TreeLimits {
            max_bytes: 1 << 30,
            max_steps: 100_000,
        },
    );
    t.apply(&dir(b"d"), 1).unwrap();
    for i in 0..200u32 {
        let next = if i == 199 {
            "d".to_string()
        } else {
            format!("l{}", i + 1)
        };
        t.apply(&sym(format!("l{i}").as_bytes(), next.as_bytes()), i + 2)
            .unwrap();
    }
    let mut err = None;
    for i in 0..10_000u32 {
        // A symlink between entries: the parent cannot be reused.
        let r = t
            .apply(&sym(format!("z{i}").as_bytes(), b"d"), 300 + 2 * i)
            .and_then(|_| t.apply(&file(format!("l0/f{i}").as_bytes()), 301 + 2 * i));
        if let Err(e) = r {
            err = Some(e);
            break;
        }
    }
    assert!(matches!(err, Some(TreeError::Limit(m)) if m.contains("steps")));
}

#[test]
fn live_ordinals_skip_removed_files() {
    let t = upper(&[
        file(b"a"),
        file(b"d/b"),
        file(b"d"),
        file(b"c"),
        link(b"e", b"c"),
    ]);
    assert_eq!(t.live_ordinals(), vec![1, 3, 4], "d/b went with d");
}

#[test]
fn live_files_lists_every_path_of_every_file_left() {
    let t = build(
        true,
        &[
            file(b"usr/bin/a"),
            file(b"usr/bin/gone"),
            link(b"usr/lib/a-link", b"usr/bin/a"),
            sym(b"bin", b"usr/bin"),
            file(b"usr/bin/.wh.gone"),
            dir(b"empty"),
        ],
    )
    .unwrap();
    let mut seen = Vec::new();
    t.live_files(|p, _, ino| seen.push((p.to_vec(), ino.ordinal)));
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (b"/usr/bin/a".to_vec(), 1),
            (b"/usr/lib/a-link".to_vec(), 1)
        ]
    );
}

#[test]
fn overlay_says_what_a_layer_does_to_the_layers_below() {
    let t = upper(&[
        file(b"bin/app"),
        file(b"bin/.wh.old"),
        file(b"opt/.wh..wh..opq"),
        sym(b"lib", b"usr/lib"),
    ]);
    let app = node(&t, b"/bin/app");
    assert_eq!(t.overlay(b"/bin/app"), Overlay::Shows(app));
    assert_eq!(t.overlay(b"/bin/old"), Overlay::Hides, "a whiteout");
    assert_eq!(t.overlay(b"/opt/x"), Overlay::Hides, "an opaque directory");
    assert_eq!(
        t.overlay(b"/lib/x"),
        Overlay::Hides,
        "a non-directory above"
    );
    assert_eq!(t.overlay(b"/bin/other"), Overlay::PassesDown);
    assert_eq!(t.overlay(b"/etc/x"), Overlay::PassesDown);
}

#[test]
fn a_small_layer_index_holds_what_it_uses() {
    // Chunks are allocated whole while a layer is read; once it is read
    // the tree gives back what it did not use, else every small layer of
    // an image of a hundred layers took ~450 KB of the 32 MiB index bound.
    let mut t = LayerTree::new(false, BIG);
    t.apply(&file(b"app"), 1).unwrap();
    t.apply(&sym(b"bin/sh", b"busybox"), 2).unwrap();
    assert!(t.bytes() > 100_000, "{}", t.bytes());
    t.shrink();
    assert!(t.bytes() < 4096, "{}", t.bytes());
    assert_eq!(kind(&t, b"/app"), Some(NodeKind::File));
    assert_eq!(t.link(node(&t, b"/bin/sh")), b"busybox");
    // A tree that grows again after shrinking stays whole.
    for i in 0..5000u32 {
        t.apply(&file(format!("d/f{i}").as_bytes()), i + 3).unwrap();
    }
    assert_eq!(kind(&t, b"/d/f4999"), Some(NodeKind::File));
    assert_eq!(kind(&t, b"/app"), Some(NodeKind::File));
}
