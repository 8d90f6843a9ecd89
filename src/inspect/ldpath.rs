//! Where the platform's dynamic loader finds a shared library by itself (no
//! RPATH/RUNPATH, no `LD_LIBRARY_PATH`), read from the image: what `--deep`
//! needs to tell a wrong-machine library the loader will pick up from one
//! it never looks at.
//!
//! The one idea: a library is found by its name in a searched directory,
//! and opening that name follows links. So the searched set is the
//! built-in directories plus the image's `ld.so.conf` (what `ldconfig`
//! puts in `ld.so.cache`) and musl's path file, each resolved through the
//! image's links to the real directory; and a file is searched when it is
//! in one of them, or when a library-named link in one of them leads to it
//! (Debian's alternatives: `/usr/lib/<triplet>/libblas.so.3` ->
//! `/etc/alternatives/...` -> `/usr/lib/<triplet>/blas/libblas.so.3`).

use super::resolve::{resolve, Resolution};
use super::Platform;
use crate::rootfs::{display, split_parent, FsError, Kind, RootFs};
use std::collections::HashSet;

/// Debian's multiarch triplets (the directory names under `/lib` and
/// `/usr/lib` its libc6 puts in `/etc/ld.so.conf.d/<triplet>.conf`), per
/// GOARCH and, for arm, variant: Debian's `armel` is v5, `armhf` v7.
fn multiarch_triplets(platform: &Platform) -> &'static [&'static str] {
    match platform.arch.as_str() {
        "amd64" => &["x86_64-linux-gnu"],
        "386" => &["i386-linux-gnu"],
        "arm64" => &["aarch64-linux-gnu"],
        "arm" => &["arm-linux-gnueabihf", "arm-linux-gnueabi"],
        "ppc64le" => &["powerpc64le-linux-gnu"],
        "ppc64" => &["powerpc64-linux-gnu"],
        "s390x" => &["s390x-linux-gnu"],
        "riscv64" => &["riscv64-linux-gnu"],
        "mips64le" => &["mips64el-linux-gnuabi64"],
        "mips64" => &["mips64-linux-gnuabi64"],
        "mipsle" => &["mipsel-linux-gnu"],
        "mips" => &["mips-linux-gnu"],
        "loong64" => &["loongarch64-linux-gnu"],
        _ => &[],
    }
}

/// musl's name for the architecture in `/etc/ld-musl-<arch>.path`
/// (its `arch/*/reloc.h` `LDSO_ARCH`, without the float and endian
/// suffixes the other variants add).
fn musl_arch(platform: &Platform) -> &'static [&'static str] {
    match platform.arch.as_str() {
        "amd64" => &["x86_64"],
        "386" => &["i386"],
        "arm64" => &["aarch64"],
        "arm" => &["armhf", "arm"],
        "ppc64le" => &["powerpc64le"],
        "ppc64" => &["powerpc64"],
        "s390x" => &["s390x"],
        "riscv64" => &["riscv64"],
        "mips64le" => &["mips64el"],
        "mips64" => &["mips64"],
        "mipsle" => &["mipsel"],
        "mips" => &["mips"],
        "loong64" => &["loongarch64"],
        _ => &[],
    }
}

const FIXED: [&str; 5] = ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"];

/// The directories searched whatever the image says:
/// - glibc: its built-in system directories (elf/dl-load.c
///   `system_dirs`, `$(slibdir)` and `$(libdir)`: `/lib64` and
///   `/usr/lib64` where the ABI says so, else `/lib` and `/usr/lib`), and
///   what `ldconfig` always puts in ld.so.cache: the trusted `/lib` and
///   `/usr/lib` (elf/ldconfig.c); Debian's `/etc/ld.so.conf.d/libc.conf`
///   (`/usr/local/lib`) and `<triplet>.conf` (`/lib/<triplet>`,
///   `/usr/lib/<triplet>`, `/usr/local/lib/<triplet>`) are counted even
///   when the image lacks them;
/// - musl: `/lib:/usr/local/lib:/usr/lib` when there is no
///   `/etc/ld-musl-<arch>.path` (ldso/dynlink.c `load_library`).
pub fn builtin_dirs(platform: &Platform) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = FIXED.iter().map(|d| d.as_bytes().to_vec()).collect();
    for t in multiarch_triplets(platform) {
        for base in ["/lib/", "/usr/lib/", "/usr/local/lib/"] {
            out.push(format!("{base}{t}").into_bytes());
        }
    }
    out
}

/// Whether `path`'s directory is one of [`builtin_dirs`], as named (links
/// not followed). What [`LoaderDirs::searches`] says of an image with no
/// links, configuration or path file of its own.
pub fn builtin_searches(platform: &Platform, path: &[u8]) -> bool {
    let Some((dir, _)) = split_parent(path) else {
        return false;
    };
    builtin_dirs(platform).iter().any(|d| d == dir)
}

/// What a walk of the image saw that [`LoaderDirs::load`] needs: the
/// regular files under `/etc` named `*.conf` (what an `ld.so.conf`
/// `include` glob may match) and the links whose name has `.so` in it (a
/// library's name in a searched directory). Bounded.
#[derive(Debug, Default)]
pub struct Seen {
    conf: Vec<Vec<u8>>,
    links: Vec<Vec<u8>>,
    bytes: usize,
    dropped: usize,
}

/// Bytes of paths a [`Seen`] keeps (a Debian image with every `-dev`
/// package has a few thousand library links).
const SEEN_BUDGET: usize = 8 << 20;
/// Bytes of one configuration file read.
const CONF_MAX: usize = 64 << 10;
/// `include` nesting followed (each file once).
const INCLUDE_DEPTH: usize = 8;

impl Seen {
    /// Whether [`Self::saw`] keeps an entry of this kind at `path`: a caller
    /// can ask before paying for overlay rules.
    pub fn wants(path: &[u8], kind: Kind) -> bool {
        let Some((dir, name)) = split_parent(path) else {
            return false;
        };
        match kind {
            Kind::Symlink => memchr::memmem::find(name, b".so").is_some(),
            Kind::File => (dir == b"/etc" || dir.starts_with(b"/etc/")) && name.ends_with(b".conf"),
            _ => false,
        }
    }

    /// An entry of the image at `path` (a visible one: the caller applies
    /// overlay rules).
    pub fn saw(&mut self, path: &[u8], kind: Kind) {
        if !Self::wants(path, kind) {
            return;
        }
        if self.bytes + path.len() > SEEN_BUDGET {
            self.dropped += 1;
            return;
        }
        self.bytes += path.len();
        match kind {
            Kind::Symlink => self.links.push(path.to_vec()),
            _ => self.conf.push(path.to_vec()),
        }
    }
}

/// The directories the platform's loader searches in one image, resolved
/// to real directories, and the files reached through library links in
/// them. See the module comment.
#[derive(Debug, Default)]
pub struct LoaderDirs {
    dirs: HashSet<Vec<u8>>,
    linked: HashSet<Vec<u8>>,
    /// What could not be followed (an `include` glob archgate does not
    /// expand, entries past a bound).
    pub notes: Vec<String>,
}

impl LoaderDirs {
    /// Read the image (`fs`) for `platform`: [`builtin_dirs`], the
    /// directories of `/etc/ld.so.conf` (with its `include`s, as glibc's
    /// ldconfig parses them: elf/ldconfig.c `parse_conf`) and of
    /// `/etc/ld-musl-<arch>.path` (musl ldso/dynlink.c: one directory per
    /// line or `:`-separated), each resolved through links; then the
    /// library links `seen` in them.
    pub async fn load<R: RootFs>(
        platform: &Platform,
        fs: &R,
        seen: &Seen,
    ) -> Result<LoaderDirs, FsError> {
        let mut me = LoaderDirs::default();
        let mut named = builtin_dirs(platform);
        let mut visited = HashSet::new();
        me.parse_conf(fs, seen, b"/etc/ld.so.conf", 0, &mut named, &mut visited)
            .await?;
        for a in musl_arch(platform) {
            let p = format!("/etc/ld-musl-{a}.path");
            if let Some(text) = read_small(fs, p.as_bytes()).await? {
                named.extend(
                    text.split(|&b| b == b'\n' || b == b':')
                        .filter(|d| d.first() == Some(&b'/'))
                        .map(<[u8]>::to_vec),
                );
            }
        }
        for d in named {
            if let Resolution::Found { path, entry, .. } = resolve(fs, &d, true).await? {
                if entry.kind == Kind::Dir {
                    me.dirs.insert(path);
                }
            }
        }
        for l in &seen.links {
            let Some((dir, _)) = split_parent(l) else {
                continue;
            };
            if !me.dirs.contains(dir) {
                continue;
            }
            if let Resolution::Found { path, entry, .. } = resolve(fs, l, true).await? {
                if entry.kind == Kind::File {
                    me.linked.insert(path);
                }
            }
        }
        if seen.dropped > 0 {
            me.notes.push(format!(
                "--deep: {} library links or configuration files past the first {} MiB of \
                 names were not read for the loader's search path",
                seen.dropped,
                SEEN_BUDGET >> 20
            ));
        }
        Ok(me)
    }

    /// Whether the loader finds the regular file at `path` (a real path:
    /// every directory in it a directory, as a walk of the image gives)
    /// by its name alone: in a searched directory or in one of its
    /// `glibc-hwcaps/<level>` subdirectories (glibc >= 2.33,
    /// elf/dl-hwcaps.c), or reached from a library link in one.
    pub fn searches(&self, path: &[u8]) -> bool {
        if self.linked.contains(path) {
            return true;
        }
        let Some((dir, _)) = split_parent(path) else {
            return false;
        };
        if self.dirs.contains(dir) {
            return true;
        }
        split_parent(dir)
            .and_then(|(up, _)| split_parent(up))
            .is_some_and(|(base, name)| name == b"glibc-hwcaps" && self.dirs.contains(base))
    }

    /// One `ld.so.conf`-syntax file: per line, from `#` on is a comment;
    /// blanks around are dropped; `include PATTERN...` reads each file
    /// the glob matches (relative to this file's directory, in sorted
    /// order); `hwcap ...` is ignored; anything else names directories
    /// (split on blanks, `:` and `,`, as older ldconfig did).
    fn parse_conf<'a, R: RootFs>(
        &'a mut self,
        fs: &'a R,
        seen: &'a Seen,
        file: &'a [u8],
        depth: usize,
        named: &'a mut Vec<Vec<u8>>,
        visited: &'a mut HashSet<Vec<u8>>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FsError>> + 'a>> {
        Box::pin(async move {
            if depth > INCLUDE_DEPTH || !visited.insert(file.to_vec()) {
                return Ok(());
            }
            let Some(text) = read_small(fs, file).await? else {
                return Ok(());
            };
            let here = split_parent(file).map_or(&b"/"[..], |(d, _)| d).to_vec();
            for line in text.split(|&b| b == b'\n') {
                let line = line.split(|&b| b == b'#').next().unwrap_or(b"");
                let line = line.trim_ascii();
                let word_end = line
                    .iter()
                    .position(|b| b.is_ascii_whitespace())
                    .unwrap_or(line.len());
                let (word, rest) = line.split_at(word_end);
                if word == b"include" && !rest.is_empty() {
                    for pat in rest
                        .split(|b| b.is_ascii_whitespace())
                        .filter(|p| !p.is_empty())
                    {
                        let pat = if pat.first() == Some(&b'/') {
                            pat.to_vec()
                        } else {
                            [&here[..], b"/", pat].concat()
                        };
                        for f in self.expand(seen, &pat) {
                            self.parse_conf(fs, seen, &f, depth + 1, named, visited)
                                .await?;
                        }
                    }
                } else if !word.eq_ignore_ascii_case(b"hwcap") || rest.is_empty() {
                    // (A `hwcap` line names no directory.)
                    named.extend(
                        line.split(|&b| b.is_ascii_whitespace() || b == b':' || b == b',')
                            .filter(|d| d.first() == Some(&b'/'))
                            .map(|d| {
                                let mut d = d.to_vec();
                                while d.len() > 1 && d.last() == Some(&b'/') {
                                    d.pop();
                                }
                                d
                            }),
                    );
                }
            }
            Ok(())
        })
    }

    /// The files an `include` glob matches, among those `seen` (sorted, as
    /// glob(3) returns them). A pattern with a wildcard before its last
    /// component, or outside `/etc`, is not expanded: a note says so.
    fn expand(&mut self, seen: &Seen, pat: &[u8]) -> Vec<Vec<u8>> {
        let Some((dir, last)) = split_parent(pat) else {
            return Vec::new();
        };
        let wild = |s: &[u8]| s.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        if !wild(pat) {
            return vec![pat.to_vec()];
        }
        if wild(dir) || !(dir == b"/etc" || dir.starts_with(b"/etc/")) {
            self.notes.push(format!(
                "--deep: ld.so.conf includes {}, a pattern archgate does not expand: the \
                 directories it names count as not searched",
                display(pat)
            ));
            return Vec::new();
        }
        let mut out: Vec<Vec<u8>> = seen
            .conf
            .iter()
            .filter(|f| split_parent(f).is_some_and(|(d, n)| d == dir && fnmatch(last, n)))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A configuration file's bytes (links followed inside the root), at most
/// [`CONF_MAX`]; `None` when there is no such regular file.
async fn read_small<R: RootFs>(fs: &R, path: &[u8]) -> Result<Option<Vec<u8>>, FsError> {
    match resolve(fs, path, true).await? {
        Resolution::Found { path, entry, .. } if entry.kind == Kind::File => {
            let n = (entry.size as usize).min(CONF_MAX);
            Ok(Some(fs.read_at(&path, 0, n).await?))
        }
        _ => Ok(None),
    }
}

/// fnmatch(3) without flags on one path component: `*`, `?`, and bracket
/// expressions (`[abc]`, `[a-z]`, `[!x]`); a `[` that does not close is
/// itself.
fn fnmatch(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it matches up to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match bracket(&pat[p..], name[n]) {
                Some((true, len)) => Some(p + len),
                Some((false, _)) => None,
                None => (name[n] == b'[').then_some(p + 1),
            },
            Some(&c) => (c == name[n]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((sp, sn))) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A bracket expression at the start of `pat`: whether `c` matches and
/// its length; `None` when it does not close.
fn bracket(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &b = pat.get(i)?;
        if b == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&e| e != b']') {
            hit |= (b..=pat[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= b == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests;
