use super::*;
use crate::rootfs::mem::MemFs;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// `fs` walked as a backend would: every entry shown to a `Seen`.
fn seen_of(paths: &[(&str, Kind)]) -> Seen {
    let mut s = Seen::default();
    for (p, k) in paths {
        s.saw(p.as_bytes(), *k);
    }
    s
}

fn load(platform: &str, fs: &MemFs, seen: &Seen) -> LoaderDirs {
    let p = Platform::parse(platform).unwrap();
    rt().block_on(LoaderDirs::load(&p, fs, seen)).unwrap()
}

#[test]
fn fnmatch_follows_glob_rules_on_one_component() {
    for (pat, name, want) in [
        ("*.conf", "libc.conf", true),
        ("*.conf", "libc.conf~", false),
        ("*.conf", ".conf", true),
        ("x86_64-*.conf", "x86_64-linux-gnu.conf", true),
        ("?.conf", "a.conf", true),
        ("?.conf", "ab.conf", false),
        ("[a-c]*.conf", "cuda.conf", true),
        ("[!a-c]*.conf", "cuda.conf", false),
        ("[!a-c]*.conf", "zlib.conf", true),
        ("[abc", "[abc", true),
        ("*", "", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
    ] {
        assert_eq!(
            fnmatch(pat.as_bytes(), name.as_bytes()),
            want,
            "{pat} {name}"
        );
    }
}

#[test]
fn builtin_dirs_need_no_image() {
    let fs = MemFs::new();
    let d = load("linux/arm64", &fs, &Seen::default());
    // Nothing exists: no directory resolves, nothing is searched.
    assert!(!d.searches(b"/usr/lib/libx.so"));
    let mut fs = MemFs::new();
    fs.dir("/usr/lib/aarch64-linux-gnu", 0o755)
        .dir("/usr/lib/x86_64-linux-gnu", 0o755);
    let d = load("linux/arm64", &fs, &Seen::default());
    assert!(d.searches(b"/usr/lib/libx.so"));
    assert!(d.searches(b"/usr/lib/aarch64-linux-gnu/libx.so"));
    assert!(!d.searches(b"/usr/lib/x86_64-linux-gnu/libx.so"));
    assert!(!d.searches(b"/usr/lib/aarch64-linux-gnu/sub/libx.so"));
    // glibc-hwcaps subdirectories are searched (glibc >= 2.33).
    assert!(d.searches(b"/usr/lib/aarch64-linux-gnu/glibc-hwcaps/v2/libx.so"));
}

#[test]
fn a_searched_directory_that_is_a_link_searches_its_target() {
    let mut fs = MemFs::new();
    fs.dir("/opt/lib64", 0o755)
        .symlink("/lib64", "opt/lib64")
        .dir("/usr", 0o755)
        .symlink("/usr/lib", "../opt/lib64");
    let d = load("linux/amd64", &fs, &Seen::default());
    assert!(d.searches(b"/opt/lib64/libx.so.1"));
    assert!(!d.searches(b"/opt/libx.so.1"));
}

#[test]
fn ld_so_conf_and_its_includes_add_directories() {
    let mut fs = MemFs::new();
    fs.file(
        "/etc/ld.so.conf",
        0o644,
        b"# comment\ninclude /etc/ld.so.conf.d/*.conf\n  /opt/a/lib/  # trailing\nhwcap 1 x\n"
            .to_vec(),
    )
    .file(
        "/etc/ld.so.conf.d/cuda.conf",
        0o644,
        b"/usr/local/cuda/lib64\n".to_vec(),
    )
    .file(
        "/etc/ld.so.conf.d/zz.conf",
        0o644,
        b"include nested/*.conf\n".to_vec(),
    )
    .file(
        "/etc/ld.so.conf.d/nested/n.conf",
        0o644,
        b"/opt/n:/opt/m,/opt/k\n".to_vec(),
    )
    .file(
        "/etc/ld.so.conf.d/skip.conf.bak",
        0o644,
        b"/opt/skip\n".to_vec(),
    );
    for d in [
        "/opt/a/lib",
        "/usr/local/cuda/lib64",
        "/opt/n",
        "/opt/m",
        "/opt/k",
        "/opt/skip",
    ] {
        fs.dir(d, 0o755);
    }
    let seen = seen_of(&[
        ("/etc/ld.so.conf.d/cuda.conf", Kind::File),
        ("/etc/ld.so.conf.d/zz.conf", Kind::File),
        ("/etc/ld.so.conf.d/nested/n.conf", Kind::File),
        ("/etc/ld.so.conf.d/skip.conf.bak", Kind::File),
    ]);
    let d = load("linux/amd64", &fs, &seen);
    for dir in [
        "/opt/a/lib",
        "/usr/local/cuda/lib64",
        "/opt/n",
        "/opt/m",
        "/opt/k",
    ] {
        assert!(d.searches(format!("{dir}/libx.so").as_bytes()), "{dir}");
    }
    assert!(!d.searches(b"/opt/skip/libx.so"));
    assert!(d.notes.is_empty(), "{:?}", d.notes);
}

#[test]
fn an_include_loop_ends_and_an_unexpanded_glob_is_a_note() {
    let mut fs = MemFs::new();
    fs.file(
        "/etc/ld.so.conf",
        0o644,
        b"include /etc/ld.so.conf\ninclude /srv/*/x.conf\n".to_vec(),
    );
    let d = load("linux/amd64", &fs, &Seen::default());
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(d.notes[0].contains("/srv/*/x.conf"), "{:?}", d.notes);
}

#[test]
fn musl_path_file_adds_directories() {
    let mut fs = MemFs::new();
    fs.file(
        "/etc/ld-musl-aarch64.path",
        0o644,
        b"/opt/musl/lib\n/opt/b:/opt/c\n".to_vec(),
    );
    for d in ["/opt/musl/lib", "/opt/b", "/opt/c"] {
        fs.dir(d, 0o755);
    }
    let d = load("linux/arm64", &fs, &Seen::default());
    for dir in ["/opt/musl/lib", "/opt/b", "/opt/c"] {
        assert!(d.searches(format!("{dir}/libx.so").as_bytes()), "{dir}");
    }
    // Another architecture's path file is not this loader's.
    let d = load("linux/amd64", &fs, &Seen::default());
    assert!(!d.searches(b"/opt/b/libx.so"));
}

/// Debian's alternatives: the library's name in a searched directory is a
/// link, through /etc/alternatives, to a file in a subdirectory.
#[test]
fn a_library_link_in_a_searched_directory_searches_the_file_it_reaches() {
    let mut fs = MemFs::new();
    let t = "/usr/lib/x86_64-linux-gnu";
    fs.dir(t, 0o755)
        .file(format!("{t}/blas/libblas.so.3"), 0o644, b"x".to_vec())
        .file(format!("{t}/blas/libother.so.3"), 0o644, b"x".to_vec())
        .symlink(
            "/etc/alternatives/libblas.so.3-x86_64-linux-gnu",
            format!("{t}/blas/libblas.so.3"),
        )
        .symlink(
            format!("{t}/libblas.so.3"),
            "/etc/alternatives/libblas.so.3-x86_64-linux-gnu",
        )
        // A link outside the searched directories counts for nothing.
        .symlink("/opt/libother.so.3", format!("{t}/blas/libother.so.3"));
    let seen = seen_of(&[
        (&format!("{t}/libblas.so.3"), Kind::Symlink),
        (
            "/etc/alternatives/libblas.so.3-x86_64-linux-gnu",
            Kind::Symlink,
        ),
        ("/opt/libother.so.3", Kind::Symlink),
    ]);
    let d = load("linux/amd64", &fs, &seen);
    assert!(d.searches(format!("{t}/blas/libblas.so.3").as_bytes()));
    assert!(!d.searches(format!("{t}/blas/libother.so.3").as_bytes()));
}

#[test]
fn seen_keeps_only_library_links_and_conf_files_under_etc() {
    let s = seen_of(&[
        ("/usr/lib/libx.so.1", Kind::Symlink),
        ("/usr/bin/python3", Kind::Symlink),
        ("/etc/ld.so.conf.d/a.conf", Kind::File),
        ("/etc/a.conf", Kind::File),
        ("/opt/a.conf", Kind::File),
        ("/etc/ld.so.conf.d/a.conf", Kind::Dir),
    ]);
    assert_eq!(s.links, [b"/usr/lib/libx.so.1".to_vec()]);
    assert_eq!(
        s.conf,
        [
            b"/etc/ld.so.conf.d/a.conf".to_vec(),
            b"/etc/a.conf".to_vec()
        ]
    );
}
