//! Realistic Debian root filesystems for the end-to-end tests, built from the
//! bookworm packages `scripts/fixtures` extracts (a few files each) under
//! `debian/<debarch>/pkg/<package>/`.
//!
//! The one idea: a package's files keep the paths and link targets the
//! package ships (`/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...`,
//! an absolute link), and only the directory they land in changes. In a
//! merged-/usr root the top-level `bin`, `sbin`, `lib` (and per architecture
//! `lib32`, `lib64`, ...) are links to `usr/...`, so dpkg writing `/lib/x`
//! really writes `/usr/lib/x`, and a program finds its loader through the
//! `/lib64 -> usr/lib64` link at run time. [`DebRoot`] lays packages out that
//! way, one image layer per "apt-get install", as an image built `FROM
//! debian:bookworm` has them.

use super::{fixture, Layer, DEBIAN_ARCHES};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The architectures scripts/fixtures extracts the application packages for.
pub const APP_ARCHES: &[&str] = &["amd64", "arm64", "armhf"];

/// The architectures with the java launcher (openjdk-17-jre-headless).
pub const JAVA_ARCHES: &[&str] = &["amd64", "arm64"];

/// The architectures with a musl-linked hello (`musl/hello-<debarch>`).
pub const MUSL_ARCHES: &[&str] = &["amd64", "arm64"];

/// The OCI platform a Debian architecture's userland is built for.
pub fn debian_platform(debarch: &str) -> &'static str {
    DEBIAN_ARCHES
        .iter()
        .find(|(d, _)| *d == debarch)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no platform known for Debian {debarch}"))
}

/// Debian's multiarch triplet (`lib/<triplet>/`).
pub fn multiarch(debarch: &str) -> &'static str {
    match debarch {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "armhf" => "arm-linux-gnueabihf",
        other => panic!("no multiarch triplet known for {other}"),
    }
}

/// musl's loader (PT_INTERP of musl programs) for a Debian architecture.
pub fn musl_loader(debarch: &str) -> &'static str {
    match debarch {
        "amd64" => "/lib/ld-musl-x86_64.so.1",
        "arm64" => "/lib/ld-musl-aarch64.so.1",
        "armhf" => "/lib/ld-musl-armhf.so.1",
        other => panic!("no musl loader known for {other}"),
    }
}

/// The top-level directories a merged-/usr root has as links to `usr/DIR`:
/// `bin sbin lib` plus the architecture's multilib directories, the table of
/// debootstrap's `setup_merged_usr` (debootstrap's `functions` file).
pub fn merged_usr_dirs(debarch: &str) -> Vec<&'static str> {
    let mut dirs = vec!["bin", "sbin", "lib"];
    dirs.extend_from_slice(match debarch {
        "amd64" => &["lib32", "lib64", "libx32"][..],
        "i386" => &["lib64", "libx32"],
        "mipsel" => &["lib32", "lib64"],
        "mips64el" => &["lib32", "lib64", "libo32"],
        "ppc64el" => &["lib64"],
        "s390x" => &["lib32"],
        _ => &[],
    });
    dirs
}

/// The folder one package of one architecture was extracted into.
pub fn pkg_dir(debarch: &str, pkg: &str) -> PathBuf {
    fixture(&format!("debian/{debarch}/pkg/{pkg}"))
}

/// One file of an extracted package, by the path the package ships.
pub fn pkg_file(debarch: &str, pkg: &str, rel: &str) -> PathBuf {
    fixture(&format!(
        "debian/{debarch}/pkg/{pkg}/{}",
        rel.trim_start_matches('/')
    ))
}

/// The musl-linked C hello built for an architecture.
pub fn musl_hello(debarch: &str) -> PathBuf {
    fixture(&format!("musl/hello-{debarch}"))
}

/// Where the java launcher of openjdk-17 lives for an architecture.
pub fn java_home(debarch: &str) -> String {
    format!("/usr/lib/jvm/java-17-openjdk-{debarch}")
}

/// A Debian root being built, layer by layer.
#[derive(Debug, Clone)]
pub struct DebRoot {
    debarch: String,
    merged: Vec<&'static str>,
    done: Vec<Layer>,
    layer: Layer,
}

impl DebRoot {
    /// A merged-/usr root for `debarch`: the first layer starts with the
    /// top-level links (`bin -> usr/bin`, ...) and nothing else.
    pub fn merged(debarch: &str) -> Self {
        let merged = merged_usr_dirs(debarch);
        let mut layer = Layer::new();
        for d in &merged {
            layer = layer.symlink(d, &format!("usr/{d}"));
        }
        DebRoot {
            debarch: debarch.to_string(),
            merged,
            done: Vec::new(),
            layer,
        }
    }

    /// A root without merged /usr (bullseye and older, or debootstrap
    /// --no-merged-usr): every path lands where the package says.
    pub fn split(debarch: &str) -> Self {
        DebRoot {
            debarch: debarch.to_string(),
            merged: Vec::new(),
            done: Vec::new(),
            layer: Layer::new(),
        }
    }

    /// The merged-/usr base every realistic image here starts from: libc6
    /// (the loader link as libc6 ships it, the loader, libc.so.6 and the
    /// rest of its /lib tree), dash as /bin/sh and coreutils' /usr/bin/env.
    pub fn base(debarch: &str) -> Self {
        DebRoot::merged(debarch)
            .install("libc6")
            .install("dash")
            .install("coreutils")
    }

    pub fn debarch(&self) -> &str {
        &self.debarch
    }

    /// Where a path a package ships really lands: `lib/x` is `usr/lib/x` in
    /// a merged-/usr root. Root-relative, no leading slash.
    pub fn landed(&self, path: &str) -> String {
        let rel = path.trim_start_matches('/');
        let first = rel.split('/').next().unwrap_or("");
        if rel.contains('/') && self.merged.contains(&first) {
            format!("usr/{rel}")
        } else {
            rel.to_string()
        }
    }

    /// Start a new layer (the next RUN or COPY of a Dockerfile).
    pub fn next_layer(mut self) -> Self {
        let l = std::mem::take(&mut self.layer);
        self.done.push(l);
        self
    }

    /// Install this architecture's package (what scripts/fixtures kept of it).
    pub fn install(self, pkg: &str) -> Self {
        let arch = self.debarch.clone();
        self.install_from(pkg, &arch)
    }

    /// Install the package of another architecture: the wrong-arch mistake
    /// (`COPY --from` the build platform's stage, a fixed download URL).
    pub fn install_from(mut self, pkg: &str, debarch: &str) -> Self {
        let dir = pkg_dir(debarch, pkg);
        let mut entries = Vec::new();
        walk(&dir, &dir, &mut entries);
        for (rel, p) in entries {
            let md = std::fs::symlink_metadata(&p).expect("lstat");
            let at = self.landed(&rel);
            self.layer = if md.file_type().is_symlink() {
                let target = std::fs::read_link(&p).expect("readlink");
                self.layer.symlink(&at, &target.to_string_lossy())
            } else {
                self.layer
                    .file_from_mode(&at, &p, md.permissions().mode() & 0o7777)
            };
        }
        self
    }

    /// Install the whole package, every file of its `.deb` (from
    /// `debs/` of the fixtures, read with `dpkg-deb --fsys-tarfile`), not
    /// only what scripts/fixtures extracted; hard links become copies.
    pub fn install_deb(self, pkg: &str) -> Self {
        let arch = self.debarch.clone();
        self.install_deb_from(pkg, &arch)
    }

    /// [`Self::install_deb`] of another architecture's package (`all` for
    /// architecture-independent ones).
    pub fn install_deb_from(mut self, pkg: &str, debarch: &str) -> Self {
        for (path, node) in deb_contents(&deb_file(pkg, debarch)) {
            self = match node {
                DebNode::File { data, mode } => self.file(&path, data, mode),
                DebNode::Symlink(target) => self.symlink(&path, &target),
            };
        }
        self
    }

    /// What `update-alternatives --install LINK NAME PATH` makes:
    /// `LINK -> /etc/alternatives/NAME -> PATH`, both links absolute.
    pub fn alternative(mut self, link: &str, name: &str, path: &str) -> Self {
        let alt = format!("/etc/alternatives/{name}");
        let at = self.landed(link);
        self.layer = self.layer.symlink(&at, &alt).symlink(&alt[1..], path);
        self
    }

    /// A file of the image's own (a COPY), placed through the merged links.
    pub fn file(mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) -> Self {
        let at = self.landed(path);
        self.layer = self.layer.file(&at, data, mode);
        self
    }

    /// A file copied from disk with this mode, placed through the links.
    pub fn file_from(mut self, path: &str, src: impl AsRef<Path>, mode: u32) -> Self {
        let at = self.landed(path);
        self.layer = self.layer.file_from_mode(&at, src, mode);
        self
    }

    /// An executable script (mode 0755), placed through the links.
    pub fn script(self, path: &str, text: &str) -> Self {
        self.file(path, text.as_bytes().to_vec(), 0o755)
    }

    /// A symlink (target stored as given), placed through the links.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let at = self.landed(path);
        self.layer = self.layer.symlink(&at, target);
        self
    }

    /// The layers, bottom first.
    pub fn layers(mut self) -> Vec<Layer> {
        self.done.push(self.layer);
        self.done
    }
}

/// Files and links under `dir`, root-relative, sorted (directories are left
/// to the layer writer's implicit parents).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    children.sort();
    for p in children {
        let md = std::fs::symlink_metadata(&p).expect("lstat");
        if md.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, p));
        }
    }
}

/// The cached `.deb` of a package (`debs/PKG_VERSION_ARCH.deb`).
pub fn deb_file(pkg: &str, debarch: &str) -> PathBuf {
    let dir = fixture("debs");
    let prefix = format!("{pkg}_");
    let suffix = format!("_{debarch}.deb");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("debs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(&suffix)
        })
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "no {pkg}:{debarch} .deb in {}: run scripts/fixtures",
            dir.display()
        )
    })
}

/// One entry of a package's data.
pub enum DebNode {
    File { data: Vec<u8>, mode: u32 },
    Symlink(String),
}

/// A `.deb`'s files and links, root-relative, in archive order (hard links
/// as copies of their target).
pub fn deb_contents(deb: &Path) -> Vec<(String, DebNode)> {
    let out = std::process::Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .output()
        .expect("running dpkg-deb");
    assert!(
        out.status.success(),
        "dpkg-deb --fsys-tarfile {}: {}",
        deb.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let mut files: std::collections::HashMap<String, (Vec<u8>, u32)> = Default::default();
    let mut nodes = Vec::new();
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("tar entry");
        let path = e
            .path()
            .expect("path")
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if path.is_empty() {
            continue;
        }
        let mode = e.header().mode().expect("mode") & 0o7777;
        match e.header().entry_type() {
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).expect("data");
                files.insert(path.clone(), (data.clone(), mode));
                nodes.push((path, DebNode::File { data, mode }));
            }
            tar::EntryType::Symlink => {
                let t = e.link_name().expect("link").expect("target");
                nodes.push((path, DebNode::Symlink(t.to_string_lossy().into_owned())));
            }
            tar::EntryType::Link => {
                let t = e.link_name().expect("link").expect("target");
                let t = t.to_string_lossy().trim_start_matches("./").to_string();
                let (data, _) = files.get(&t).cloned().expect("hard link target");
                nodes.push((path, DebNode::File { data, mode }));
            }
            _ => {}
        }
    }
    nodes
}
