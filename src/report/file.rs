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
        ] {
            let e = unwritable(&bad).unwrap_or_else(|| panic!("{} accepted", bad.display()));
            assert!(e.contains(why), "{}: {e}", bad.display());
        }
    }
}
