//! `archgate install`, `archgate man` and `archgate completions`: what a
//! downloaded binary needs to be where users look for it. Everything here is
//! generated from the command line's own clap definitions (passed in by the
//! binary), so pages and completions never drift from the parser.
//!
//! The layout follows what distributions and the tools' own search paths
//! expect under a prefix:
//! - `bin/archgate`;
//! - `share/man/man1/archgate*.1` (man's `MANPATH` derives it from `bin/`);
//! - `share/bash-completion/completions/archgate` (bash-completion's lazy
//!   loader looks there for each dir of `XDG_DATA_DIRS`, and `~/.local/share`);
//! - `share/zsh/site-functions/_archgate` (zsh's `fpath` default for
//!   `/usr/local`, or added by the user);
//! - `share/fish/vendor_completions.d/archgate.fish` (fish's
//!   `__fish_vendor_completionsdirs`, from `XDG_DATA_DIRS`);
//! - and the Docker CLI plugin `docker-archgate` in the docker config dir's
//!   `cli-plugins/` (docker/cli `cli-plugins/manager`: the user plugin dir),
//!   a symlink to `bin/archgate`, so `docker archgate ...` runs it.

use std::path::{Path, PathBuf};

/// What failed, on which path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct InstallError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError {
        path: path.to_path_buf(),
        source,
    }
}

/// The man pages: `archgate.1` and one per visible subcommand
/// (`archgate-build.1`, ...), as (file name, roff text).
pub fn man_pages(cmd: &clap::Command) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut pages = vec![("archgate".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("archgate-{}", sub.get_name());
        let version = cmd.get_version().unwrap_or_default().to_string();
        pages.push((name.clone(), sub.clone().name(name).version(version)));
    }
    pages
        .into_iter()
        .map(|(name, page)| {
            let mut text = Vec::new();
            clap_mangen::Man::new(page).render(&mut text)?;
            Ok((format!("{name}.1"), text))
        })
        .collect()
}

/// The completion script for `shell`, offering no hidden subcommand
/// (clap_complete lists them; `archgate frontend` is BuildKit's, not a
/// person's).
pub fn completion(cmd: &clap::Command, shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = clap::Command::new(cmd.get_name().to_string())
        .version(cmd.get_version().unwrap_or_default().to_string())
        .about(cmd.get_about().cloned().unwrap_or_default())
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "archgate", &mut out);
    out
}

/// Write the man pages into `dir` (created); the paths written.
pub fn write_man_pages(cmd: &clap::Command, dir: &Path) -> Result<Vec<PathBuf>, InstallError> {
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    let pages = man_pages(cmd).map_err(at(dir))?;
    let mut written = Vec::new();
    for (name, text) in pages {
        let path = dir.join(name);
        replace_file(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

/// What `archgate install` does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `bin/`, `share/` go under it.
    pub prefix: PathBuf,
    /// The docker CLI's config dir (`$DOCKER_CONFIG`, else `~/.docker`);
    /// `None`: no Docker CLI plugin.
    pub docker_config: Option<PathBuf>,
    pub completions: bool,
    pub man: bool,
}

/// Where the completion script of each shell goes under a prefix.
const COMPLETIONS: &[(clap_complete::Shell, &str)] = &[
    (
        clap_complete::Shell::Bash,
        "share/bash-completion/completions/archgate",
    ),
    (
        clap_complete::Shell::Zsh,
        "share/zsh/site-functions/_archgate",
    ),
    (
        clap_complete::Shell::Fish,
        "share/fish/vendor_completions.d/archgate.fish",
    ),
];

/// Install the running binary `exe` as the plan says; the paths written, in
/// order. Every file is written to a temporary name beside its place and
/// renamed over it, so a running `archgate` is never truncated and a
/// failure leaves the old file whole.
pub fn install(cmd: &clap::Command, exe: &Path, plan: &Plan) -> Result<Vec<PathBuf>, InstallError> {
    let mut written = Vec::new();
    let bin_dir = plan.prefix.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(at(&bin_dir))?;
    let bin = bin_dir.join("archgate");
    // Installing the installed binary again: it stays as it is.
    if !crate::report::file::same_file(exe, &bin) {
        let mut from = std::fs::File::open(exe).map_err(at(exe))?;
        let mut tmp = temp_in(&bin_dir)?;
        std::io::copy(&mut from, tmp.as_file_mut()).map_err(at(&bin))?;
        set_mode(tmp.as_file(), &bin, 0o755)?;
        persist(tmp, &bin)?;
    }
    written.push(bin.clone());
    if plan.completions {
        for (shell, rel) in COMPLETIONS {
            let path = plan.prefix.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(at(parent))?;
            }
            replace_file(&path, &completion(cmd, *shell))?;
            written.push(path);
        }
    }
    if plan.man {
        written.extend(write_man_pages(cmd, &plan.prefix.join("share/man/man1"))?);
    }
    if let Some(config) = &plan.docker_config {
        let dir = config.join("cli-plugins");
        std::fs::create_dir_all(&dir).map_err(at(&dir))?;
        let plugin = dir.join("docker-archgate");
        // The symlink names the installed binary absolutely: the docker CLI
        // runs the plugin from anywhere.
        let target = std::path::absolute(&bin).map_err(at(&bin))?;
        let link = tempfile::Builder::new()
            .prefix(".docker-archgate.")
            .make_in(&dir, |p| std::os::unix::fs::symlink(&target, p))
            .map_err(at(&plugin))?;
        link.persist(&plugin).map_err(|e| at(&plugin)(e.error))?;
        written.push(plugin);
    }
    Ok(written)
}

/// A new temporary file in `dir`, made with `O_CREAT | O_EXCL` under a
/// random name (tempfile), so nothing planted in the folder (a symlink at
/// a known name) is followed; removed again if it is not persisted.
fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile, InstallError> {
    tempfile::Builder::new()
        .prefix(".archgate.")
        .tempfile_in(dir)
        .map_err(at(dir))
}

/// Rename the temporary file over `path` (the name is replaced, never
/// followed).
fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), InstallError> {
    tmp.persist(path).map(drop).map_err(|e| at(path)(e.error))
}

/// Set the mode of the open file (reported as `path`, where it goes).
fn set_mode(file: &std::fs::File, path: &Path, mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(at(path))
}

/// Write `text` to a temporary file beside `path` and rename it over `path`.
fn replace_file(path: &Path, text: &[u8]) -> Result<(), InstallError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = temp_in(dir)?;
    tmp.write_all(text).map_err(at(path))?;
    set_mode(tmp.as_file(), path, 0o644)?;
    persist(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> clap::Command {
        clap::Command::new("archgate")
            .version("9.9.9 (commit abc)")
            .about("the tool")
            .subcommand(clap::Command::new("check").about("check images"))
            .subcommand(clap::Command::new("frontend").hide(true))
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn completions_offer_visible_subcommands_only() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Fish] {
            let text = String::from_utf8(completion(&cmd(), shell)).unwrap();
            assert!(text.contains("check"), "{shell}: {text}");
            assert!(!text.contains("frontend"), "{shell}: {text}");
        }
    }

    #[test]
    fn man_pages_cover_visible_subcommands_only() {
        let pages = man_pages(&cmd()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["archgate.1", "archgate-check.1"]);
        let check = String::from_utf8_lossy(&pages[1].1);
        assert!(check.contains("archgate\\-check"), "{check}");
        assert!(check.contains("9.9.9"), "{check}");
    }

    #[test]
    fn install_lays_out_the_prefix_and_the_plugin() {
        let dir = tmp();
        let exe = dir.path().join("downloaded");
        std::fs::write(&exe, b"\x7fELF binary").unwrap();
        let plan = Plan {
            prefix: dir.path().join("prefix"),
            docker_config: Some(dir.path().join("docker")),
            completions: true,
            man: true,
        };
        let written = install(&cmd(), &exe, &plan).unwrap();
        let rel: Vec<String> = written
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "prefix/bin/archgate",
                "prefix/share/bash-completion/completions/archgate",
                "prefix/share/zsh/site-functions/_archgate",
                "prefix/share/fish/vendor_completions.d/archgate.fish",
                "prefix/share/man/man1/archgate.1",
                "prefix/share/man/man1/archgate-check.1",
                "docker/cli-plugins/docker-archgate",
            ]
        );
        let bin = dir.path().join("prefix/bin/archgate");
        assert_eq!(std::fs::read(&bin).unwrap(), b"\x7fELF binary");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let link =
            std::fs::read_link(dir.path().join("docker/cli-plugins/docker-archgate")).unwrap();
        assert!(link.is_absolute(), "{}", link.display());
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(&bin).unwrap()
        );
        // Nothing temporary is left.
        for d in ["prefix/bin", "docker/cli-plugins", "prefix/share/man/man1"] {
            for e in std::fs::read_dir(dir.path().join(d)).unwrap() {
                let name = e.unwrap().file_name();
                assert!(!name.to_string_lossy().starts_with('.'), "{name:?}");
            }
        }
    }

    #[test]
    fn installing_the_installed_binary_again_keeps_it_and_replaces_the_rest() {
        let dir = tmp();
        let exe = dir.path().join("downloaded");
        std::fs::write(&exe, b"v1").unwrap();
        let plan = Plan {
            prefix: dir.path().to_path_buf(),
            docker_config: Some(dir.path().join("docker")),
            completions: false,
            man: false,
        };
        install(&cmd(), &exe, &plan).unwrap();
        let bin = dir.path().join("bin/archgate");
        // Run from its installed place: the same file, kept as it is.
        let again = install(&cmd(), &bin, &plan).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(std::fs::read(&bin).unwrap(), b"v1");
        // A new download replaces it (and an old plugin file of any kind).
        std::fs::write(&exe, b"v2").unwrap();
        let plugin = dir.path().join("docker/cli-plugins/docker-archgate");
        std::fs::remove_file(&plugin).unwrap();
        std::fs::write(&plugin, b"an old copy").unwrap();
        install(&cmd(), &exe, &plan).unwrap();
        assert_eq!(std::fs::read(&bin).unwrap(), b"v2");
        assert_eq!(std::fs::read(&plugin).unwrap(), b"v2");
    }

    #[test]
    fn a_prefix_that_cannot_be_made_names_the_path() {
        let dir = tmp();
        let exe = dir.path().join("downloaded");
        std::fs::write(&exe, b"x").unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let plan = Plan {
            prefix: file.join("sub"),
            docker_config: None,
            completions: false,
            man: false,
        };
        let e = install(&cmd(), &exe, &plan).unwrap_err();
        assert_eq!(e.path, file.join("sub/bin"));
        assert!(
            e.to_string()
                .starts_with(&format!("{}: ", file.join("sub/bin").display())),
            "{e}"
        );
    }

    /// A symlink planted where a temporary file could be expected is never
    /// followed: the file it points at is untouched; a failed install
    /// leaves no temporary file behind and names the place it could not
    /// write.
    #[test]
    fn planted_links_are_not_followed_and_failures_leave_nothing() {
        let dir = tmp();
        let exe = dir.path().join("downloaded");
        std::fs::write(&exe, b"binary").unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"secret").unwrap();
        let bin = dir.path().join("p/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in [".archgate.install", ".archgate", ".archgate.tmp"] {
            std::os::unix::fs::symlink(&victim, bin.join(name)).unwrap();
        }
        let plan = Plan {
            prefix: dir.path().join("p"),
            docker_config: None,
            completions: true,
            man: false,
        };
        install(&cmd(), &exe, &plan).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
        assert_eq!(std::fs::read(bin.join("archgate")).unwrap(), b"binary");
        // bin/archgate a folder: the rename fails, naming it; nothing left.
        std::fs::remove_file(bin.join("archgate")).unwrap();
        std::fs::create_dir(bin.join("archgate")).unwrap();
        std::fs::write(bin.join("archgate/x"), b"").unwrap();
        let e = install(&cmd(), &exe, &plan).unwrap_err();
        assert_eq!(e.path, bin.join("archgate"), "{e}");
        let left: Vec<_> = std::fs::read_dir(&bin)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with(".archgate.") && !n.ends_with("install") && n != ".archgate.tmp"
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
