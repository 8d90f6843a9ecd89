//! Path resolution exactly as the runtime does it inside a container root.
//!
//! The one idea: walk one component at a time with `lstat`, splice each link
//! target into the components still to walk (an absolute target restarts at
//! the image root, `..` never climbs above `/`), and count hops the way Linux
//! does, so a link can never escape the root and a loop always ends.

use crate::rootfs::{clean_abs, Entry, FsError, Kind, RootFs};
use std::collections::VecDeque;

/// Linux's limit on symlinks followed in one lookup (`MAXSYMLINKS`,
/// include/linux/namei.h).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// The PATH Docker starts every container's environment from
/// (moby `container/container.go`, `CreateDaemonEnvironment`, with
/// `DefaultPathEnv` for Linux): the image's own `PATH`, when it sets one,
/// replaces it, even when empty. It is also dash's built-in default.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// glibc's `execvp` search path when PATH is unset (posix/execvpe.c).
const GLIBC_UNSET_PATH: &str = "/bin:/usr/bin";
/// musl's (src/process/execvp.c).
const MUSL_UNSET_PATH: &str = "/usr/local/bin:/bin:/usr/bin";

/// Where a path led. Paths are bytes, as in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The final entry (a link only when `follow_final` was false).
    Found {
        path: Vec<u8>,
        entry: Entry,
        chain: Vec<Vec<u8>>,
    },
    /// Some component does not exist, or a non-directory was used as one.
    NotFound {
        chain: Vec<Vec<u8>>,
        missing: Vec<u8>,
        not_dir: bool,
    },
    /// More than `MAX_SYMLINK_HOPS` links.
    Loop { chain: Vec<Vec<u8>> },
}

impl Resolution {
    pub fn chain(&self) -> &[Vec<u8>] {
        match self {
            Resolution::Found { chain, .. }
            | Resolution::NotFound { chain, .. }
            | Resolution::Loop { chain } => chain,
        }
    }
}

fn join(dirs: &[Vec<u8>]) -> Vec<u8> {
    if dirs.is_empty() {
        return b"/".to_vec();
    }
    let mut s = Vec::new();
    for d in dirs {
        s.push(b'/');
        s.extend_from_slice(d);
    }
    s
}

/// Prepend `path`'s components to what remains to be walked. `.` is kept,
/// and a trailing slash becomes `.`, because both require the component
/// before them to be a directory: `/app/` and `/app/.` are ENOTDIR when
/// `/app` is a file, as in the kernel's path walk.
fn push_components(queue: &mut VecDeque<Vec<u8>>, path: &[u8]) {
    let mut parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    let trailing_slash = parts.len() > 1 && parts.last().is_some_and(|c| c.is_empty());
    if trailing_slash {
        *parts.last_mut().expect("non-empty") = b".";
    }
    for c in parts.into_iter().rev() {
        if !c.is_empty() {
            queue.push_front(c.to_vec());
        }
    }
}

/// Make `path` absolute against `cwd` (itself absolute or empty for `/`).
pub fn absolutize(path: &[u8], cwd: Option<&[u8]>) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        path.to_vec()
    } else {
        let cwd = cwd.filter(|c| c.first() == Some(&b'/')).unwrap_or(b"/");
        let mut out = cwd.to_vec();
        while out.last() == Some(&b'/') {
            out.pop();
        }
        out.push(b'/');
        out.extend_from_slice(path);
        out
    }
}

/// Resolve an absolute `path` inside the root. Intermediate links are always
/// followed; the final one only when `follow_final`.
pub async fn resolve<R: RootFs>(
    fs: &R,
    path: &[u8],
    follow_final: bool,
) -> Result<Resolution, FsError> {
    let mut dirs: Vec<Vec<u8>> = Vec::new();
    let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
    push_components(&mut queue, path);
    let mut chain = vec![clean_abs(path)];
    let mut hops = 0usize;

    // The root itself.
    if queue.iter().all(|c| c == b".." || c == b".") {
        let entry = fs.lstat(b"/").await?.unwrap_or_else(|| Entry::dir(0o755));
        return Ok(Resolution::Found {
            path: b"/".to_vec(),
            entry,
            chain,
        });
    }

    while let Some(comp) = queue.pop_front() {
        // Every component walked so far is a directory, so `.` and `..`
        // only move within them.
        if comp == b".." {
            dirs.pop();
            continue;
        }
        if comp == b"." {
            continue;
        }
        let here = {
            let mut d = join(&dirs);
            if d.len() > 1 {
                d.push(b'/');
            }
            d.extend_from_slice(&comp);
            d
        };
        let last = queue.is_empty();
        let Some(entry) = fs.lstat(&here).await? else {
            return Ok(Resolution::NotFound {
                chain,
                missing: here,
                not_dir: false,
            });
        };
        match entry.kind {
            Kind::Symlink if !last || follow_final => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Ok(Resolution::Loop { chain });
                }
                let target = entry.link.clone().unwrap_or_default();
                if target.first() == Some(&b'/') {
                    dirs.clear();
                }
                push_components(&mut queue, &target);
                // Evidence: the logical path after this hop.
                let mut logical = join(&dirs);
                for c in &queue {
                    logical.push(b'/');
                    logical.extend_from_slice(c);
                }
                let logical = clean_abs(&logical);
                if chain.last() != Some(&logical) {
                    chain.push(logical);
                }
            }
            Kind::Dir => {
                dirs.push(comp);
                if last {
                    let path = join(&dirs);
                    fix_chain_end(&mut chain, &path);
                    return Ok(Resolution::Found { path, entry, chain });
                }
            }
            _ if last => {
                fix_chain_end(&mut chain, &here);
                return Ok(Resolution::Found {
                    path: here,
                    entry,
                    chain,
                });
            }
            _ => {
                // A file used as a directory: ENOTDIR, which the runtime
                // reports like a missing file.
                return Ok(Resolution::NotFound {
                    chain,
                    missing: here,
                    not_dir: true,
                });
            }
        }
    }
    // Reached when the path ended in `.`, `..` or a slash after a
    // directory: resolve the directory we are in.
    let path = join(&dirs);
    let entry = fs.lstat(&path).await?.unwrap_or_else(|| Entry::dir(0o755));
    fix_chain_end(&mut chain, &path);
    Ok(Resolution::Found { path, entry, chain })
}

fn fix_chain_end(chain: &mut Vec<Vec<u8>>, path: &[u8]) {
    if chain.last().map(Vec::as_slice) != Some(path) {
        chain.push(path.to_vec());
    }
}

/// One PATH candidate that was passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: Vec<u8>,
    pub why: &'static str,
}

/// The result of looking a bare command name up in PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found {
        candidate: Vec<u8>,
        resolution: Resolution,
        skipped: Vec<Skipped>,
        /// The hit came through an empty or relative PATH entry, i.e. from
        /// the working directory (what Go's `exec.ErrDot` is about).
        relative: bool,
        /// The position of its directory in the directories searched.
        index: usize,
    },
    /// Nothing usable; `skipped` says what was there.
    NotFound {
        searched: Vec<Vec<u8>>,
        skipped: Vec<Skipped>,
    },
}

/// Whose rules split PATH: they differ only when PATH is unset or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRules {
    /// Go's `exec.LookPath` (runc, gosu): `filepath.SplitList`, so an empty
    /// PATH has no entries at all and an unset one neither (go/src/os/exec/
    /// lp_unix.go); an empty entry inside PATH is ".".
    Go,
    /// glibc `execvp` (posix/execvpe.c): unset is "/bin:/usr/bin"; an empty
    /// entry, including PATH="", is the working directory.
    Glibc,
    /// musl `execvp` (src/process/execvp.c): unset is
    /// "/usr/local/bin:/bin:/usr/bin"; empty entries as glibc.
    Musl,
    /// dash's own command search (src/exec.c, `padvance`): unset is its
    /// built-in default path; empty entries as glibc.
    Shell,
}

/// The longest single argv or environment string execve(2) accepts
/// (`MAX_ARG_STRLEN`, 32 pages: include/uapi/linux/binfmts.h); a longer
/// `PATH=...` makes the exec fail with E2BIG.
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// The directories a search walks, in order ("." for the working directory).
/// Only the first `MAX_ARG_STRLEN` bytes of PATH are looked at: no process
/// can have a longer one.
pub fn path_entries(path: Option<&[u8]>, rules: PathRules) -> Vec<Vec<u8>> {
    let path: &[u8] = match (path, rules) {
        (None, PathRules::Go) => return Vec::new(),
        (Some(b""), PathRules::Go) => return Vec::new(),
        (None, PathRules::Glibc) => GLIBC_UNSET_PATH.as_bytes(),
        (None, PathRules::Musl) => MUSL_UNSET_PATH.as_bytes(),
        (None, PathRules::Shell) => DEFAULT_PATH.as_bytes(),
        (Some(p), _) => &p[..p.len().min(MAX_ARG_STRLEN)],
    };
    // A repeated entry can only repeat the first one's answer: keep the
    // first, so a hostile PATH of many copies costs one lookup each.
    let mut seen = std::collections::HashSet::new();
    path.split(|&b| b == b':')
        .map(|d| if d.is_empty() { &b"."[..] } else { d })
        .filter(|d| seen.insert(*d))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Look `name` up in `dirs` as Go's `exec.LookPath` and libc's `execvp`
/// both do inside the container: each directory in order, relative ones
/// from the working directory; a candidate counts when it stats (following
/// links) to a non-directory with an execute bit, and the first one that
/// counts is the answer. Whether a hit from a relative directory is allowed
/// is the caller's rule (`relative` in the answer).
pub async fn lookup_path<R: RootFs>(
    fs: &R,
    name: &[u8],
    dirs: &[Vec<u8>],
    cwd: Option<&[u8]>,
) -> Result<Lookup, FsError> {
    let mut searched = Vec::new();
    let mut skipped = Vec::new();
    for (index, dir) in dirs.iter().enumerate() {
        let mut joined = dir.clone();
        joined.push(b'/');
        joined.extend_from_slice(name);
        // Go's filepath.Join cleans the candidate lexically.
        let candidate = clean_abs(&absolutize(&joined, cwd));
        searched.push(candidate.clone());
        let res = resolve(fs, &candidate, true).await?;
        match &res {
            Resolution::Found { entry, .. } => {
                let why = match entry.kind {
                    Kind::Dir => Some("a directory"),
                    _ if !entry.is_executable() => Some("not executable"),
                    Kind::File => None,
                    _ => Some("not a regular file"),
                };
                match why {
                    None => {
                        return Ok(Lookup::Found {
                            candidate,
                            resolution: res,
                            skipped,
                            relative: dir.first() != Some(&b'/'),
                            index,
                        });
                    }
                    Some(why) => skipped.push(Skipped {
                        path: candidate,
                        why,
                    }),
                }
            }
            Resolution::Loop { .. } => skipped.push(Skipped {
                path: candidate,
                why: "symlink loop",
            }),
            Resolution::NotFound { .. } => {}
        }
    }
    Ok(Lookup::NotFound { searched, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::mem::MemFs;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn found(r: Resolution) -> (String, Vec<String>) {
        match r {
            Resolution::Found { path, chain, .. } => (
                String::from_utf8(path).unwrap(),
                chain
                    .into_iter()
                    .map(|c| String::from_utf8(c).unwrap())
                    .collect(),
            ),
            other => panic!("expected found, got {other:?}"),
        }
    }

    #[test]
    fn follows_relative_and_absolute_links_inside_root() {
        let mut fs = MemFs::new();
        fs.file("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0o755, "x")
            .symlink("/lib", "usr/lib")
            .symlink(
                "/lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            );
        let (path, chain) =
            found(block_on(resolve(&fs, b"/lib64/ld-linux-x86-64.so.2", true)).unwrap());
        assert_eq!(path, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        assert_eq!(
            chain,
            vec![
                "/lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn dotdot_never_leaves_root() {
        let mut fs = MemFs::new();
        fs.file("/bin/busybox", 0o755, "x")
            .symlink("/app/run", "../../../../bin/busybox");
        let (path, _) = found(block_on(resolve(&fs, b"/app/run", true)).unwrap());
        assert_eq!(path, "/bin/busybox");
    }

    #[test]
    fn absolute_link_is_rerooted() {
        // A link that points at a host path must land in the image.
        let mut fs = MemFs::new();
        fs.file("/usr/bin/real", 0o755, "x")
            .symlink("/bin/x", "/usr/bin/real");
        let (path, _) = found(block_on(resolve(&fs, b"/bin/x", true)).unwrap());
        assert_eq!(path, "/usr/bin/real");
    }

    #[test]
    fn loops_end_after_forty_hops() {
        let mut fs = MemFs::new();
        fs.symlink("/a", "/b").symlink("/b", "/a");
        assert!(matches!(
            block_on(resolve(&fs, b"/a", true)).unwrap(),
            Resolution::Loop { .. }
        ));
        // A long but finite chain of 40 links resolves.
        let mut fs = MemFs::new();
        fs.file("/l40", 0o755, "x");
        for i in 0..40 {
            fs.symlink(format!("/l{i}"), format!("l{}", i + 1));
        }
        assert_eq!(
            found(block_on(resolve(&fs, b"/l0", true)).unwrap()).0,
            "/l40"
        );
        fs.symlink("/l40", "l41").file("/l41", 0o755, "x");
        assert!(matches!(
            block_on(resolve(&fs, b"/l0", true)).unwrap(),
            Resolution::Loop { .. }
        ));
    }

    #[test]
    fn file_as_directory_is_not_found() {
        let mut fs = MemFs::new();
        fs.file("/bin", 0o755, "x");
        let r = block_on(resolve(&fs, b"/bin/sh", true)).unwrap();
        assert!(matches!(r, Resolution::NotFound { not_dir: true, .. }));
    }

    #[test]
    fn final_link_kept_when_not_following() {
        let mut fs = MemFs::new();
        fs.symlink("/x", "/nowhere");
        match block_on(resolve(&fs, b"/x", false)).unwrap() {
            Resolution::Found { entry, .. } => assert_eq!(entry.kind, Kind::Symlink),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_lookup_skips_non_executables_and_dirs() {
        let mut fs = MemFs::new();
        fs.file("/usr/local/bin/app", 0o644, "x")
            .dir("/usr/bin/app", 0o755)
            .file("/bin/real-app", 0o755, "x")
            .symlink("/sbin/app", "../bin/real-app");
        let default = path_entries(Some(DEFAULT_PATH.as_bytes()), PathRules::Go);
        match block_on(lookup_path(&fs, b"app", &default, None)).unwrap() {
            Lookup::Found {
                candidate,
                resolution,
                skipped,
                relative,
                ..
            } => {
                assert!(!relative);
                assert_eq!(candidate, b"/sbin/app");
                assert_eq!(found(resolution).0, "/bin/real-app");
                assert_eq!(skipped.len(), 2);
                assert_eq!(skipped[0].path, b"/usr/local/bin/app");
            }
            other => panic!("{other:?}"),
        }
        match block_on(lookup_path(&fs, b"nope", &[b"/bin".to_vec()], None)).unwrap() {
            Lookup::NotFound { searched, .. } => assert_eq!(searched, vec![b"/bin/nope".to_vec()]),
            other => panic!("{other:?}"),
        }
    }

    /// runc's Go >= 1.19 `exec.LookPath` refuses a hit from an empty or
    /// relative PATH entry (ErrDot) instead of running it from WorkingDir:
    /// the lookup finds it there and says it came from a relative entry.
    #[test]
    fn relative_path_entry_hit_is_flagged_for_errdot() {
        let mut fs = MemFs::new();
        fs.file("/srv/tools/app", 0o755, "x")
            .file("/srv/app", 0o755, "x");
        for (path, want) in [
            (&b"tools:/bin"[..], &b"/srv/tools/app"[..]),
            (b":/bin", b"/srv/app"),
            (b".", b"/srv/app"),
        ] {
            let dirs = path_entries(Some(path), PathRules::Go);
            match block_on(lookup_path(&fs, b"app", &dirs, Some(b"/srv"))).unwrap() {
                Lookup::Found {
                    candidate,
                    relative,
                    ..
                } => {
                    assert_eq!(candidate, want);
                    assert!(relative, "{}", String::from_utf8_lossy(path));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// PATH="" (and unset) has no entries for Go, so nothing is searched;
    /// for libc and shells an empty entry is the working directory.
    #[test]
    fn empty_path_has_no_entries_for_go_but_cwd_for_libc() {
        assert!(path_entries(Some(b""), PathRules::Go).is_empty());
        assert!(path_entries(None, PathRules::Go).is_empty());
        assert_eq!(
            path_entries(Some(b""), PathRules::Glibc),
            vec![b".".to_vec()]
        );
        assert_eq!(
            path_entries(None, PathRules::Glibc),
            vec![b"/bin".to_vec(), b"/usr/bin".to_vec()]
        );
        assert_eq!(path_entries(None, PathRules::Musl).len(), 3);
        assert_eq!(path_entries(None, PathRules::Shell).len(), 6);
    }

    /// `/app/` where /app is a file is ENOTDIR, not /app (it used to pass).
    #[test]
    fn trailing_slash_on_a_file_is_not_a_directory() {
        let mut fs = MemFs::new();
        fs.file("/app", 0o755, "x")
            .dir("/d", 0o755)
            .symlink("/l", "/app")
            .symlink("/ld", "d");
        for p in [&b"/app/"[..], b"/app/.", b"/l/", b"/app/./"] {
            let r = block_on(resolve(&fs, p, true)).unwrap();
            assert!(
                matches!(r, Resolution::NotFound { not_dir: true, .. }),
                "{}: {r:?}",
                String::from_utf8_lossy(p)
            );
        }
        for (p, want) in [
            (&b"/d/"[..], "/d"),
            (b"/ld/", "/d"),
            (b"/d/.", "/d"),
            (b"/./app", "/app"),
        ] {
            assert_eq!(found(block_on(resolve(&fs, p, true)).unwrap()).0, want);
        }
        // A link to a file named with a trailing slash is followed even when
        // the final link would be kept.
        let r = block_on(resolve(&fs, b"/ld/", false)).unwrap();
        assert_eq!(found(r).0, "/d");
    }
}
