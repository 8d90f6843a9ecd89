//! A report written to a file beside the one on stdout (`--sarif FILE`:
//! annotations on stdout and SARIF for code scanning from one run).
//!
//! The one idea: the file is written after the command ran, so whatever
//! would make that write fail (a missing folder, a folder, a device or a
//! pipe in the way) is refused before the command starts; a build is never
//! run for a report that cannot be kept.

use std::io;
use std::path::Path;

/// Why `path` cannot take a report, or `None` when it can: an existing
/// regular file (overwritten) or a new name in an existing folder.
pub fn unwritable(path: &Path) -> Option<String> {
    // `x/` names a folder whether or not it exists: no file can be made so.
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Some("names a folder (it ends with /)".into());
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => return Some("exists and is not a regular file".into()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Some(e.to_string()),
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Some(format!("{} is not a folder", dir.display())),
        _ => None,
    }
}

/// Whether `a` and `b` name the same file: the same inode when both exist,
/// else the same place once their folders are resolved (so a report is
/// never written over an input, nor two outputs over each other).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return x.dev() == y.dev() && x.ino() == y.ino();
    }
    match (place(a), place(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Where `p` would be: its folder resolved, and its name.
fn place(p: &Path) -> Option<std::path::PathBuf> {
    if let Ok(c) = std::fs::canonicalize(p) {
        return Some(c);
    }
    let name = p.file_name()?;
    let dir = match p.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => std::fs::canonicalize(d).ok()?,
        None => std::env::current_dir().ok()?,
    };
    Some(dir.join(name))
}

/// Write `text` to `path`, replacing what was there.
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_name_or_a_regular_file_takes_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("report.sarif");
        assert_eq!(unwritable(&f), None);
        write(&f, "old").unwrap();
        assert_eq!(unwritable(&f), None);
        write(&f, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new\n");
        // A bare name is in the current folder.
        assert_eq!(unwritable(Path::new("report.sarif")), None);
    }

    #[test]
    fn what_would_fail_the_write_later_is_refused_now() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        for (bad, why) in [
            (Path::new("/dev/full").to_path_buf(), "not a regular file"),
            (dir.path().to_path_buf(), "not a regular file"),
            (fifo, "not a regular file"),
            (link, "not a regular file"),
            (
                dir.path().join("missing/r.sarif"),
                "missing is not a folder",
            ),
            (dir.path().join("new.sarif/"), "ends with /"),
        ] {
            let e = unwritable(&bad).unwrap_or_else(|| panic!("{} accepted", bad.display()));
            assert!(e.contains(why), "{}: {e}", bad.display());
        }
    }

    #[test]
    fn the_same_file_by_inode_or_by_place() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("Dockerfile");
        write(&f, "FROM scratch\n").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        // Existing: through another spelling and a hard link.
        assert!(same_file(&f, &sub.join("../Dockerfile")));
        let hard = dir.path().join("hard");
        std::fs::hard_link(&f, &hard).unwrap();
        assert!(same_file(&f, &hard));
        // Not yet there: the same place however spelt.
        let new = dir.path().join("m.json");
        assert!(same_file(&new, &sub.join("../m.json")));
        assert!(!same_file(&new, &dir.path().join("n.json")));
        assert!(!same_file(&f, &new));
    }
}
