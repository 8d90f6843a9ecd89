//! What `archgate build` reads from stdin, as buildx's `loadInputs`
//! (`build/opt.go`) reads it: with CONTEXT `-`, a build context tar
//! (plain, gzip, bzip2 or xz) or else a Dockerfile alone (built with an
//! empty context); with `-f -`, the Dockerfile of a directory or remote
//! context.
//!
//! The one idea: the first 1024 bytes decide, read as buildx reads them
//! (`isArchive`: a compressor's magic, else Go's `archive/tar` finding a
//! first header, here `check::gotar`, which is Go's reader); a tar is never
//! unpacked or held here but streamed, those bytes first, to the daemon
//! through the session's upload service, whose Dockerfile frontend unpacks
//! it; a Dockerfile is written to a private folder served as the
//! `dockerfile` local.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use super::OptionsError;
use crate::buildkit::upload::UploadService;

/// How many bytes buildx peeks to tell a tar from a Dockerfile
/// (`build/utils.go` `archiveHeaderSize` * 2).
const PEEK: usize = 1024;

/// The stdin that stands for the context (`archgate build -`) or the
/// Dockerfile (`-f -`).
pub const STDIN: &str = "-";

/// What stdin gave, kept for the build's lifetime (the folders are removed
/// when it is dropped).
#[derive(Default)]
pub struct StdinInputs {
    /// The context tar's URL on the session's upload service.
    pub context_url: Option<String>,
    /// The Dockerfile read from stdin, as `Dockerfile` in a folder of its own.
    pub dockerfile: Option<tempfile::TempDir>,
    /// The empty context of a Dockerfile given alone on stdin.
    pub empty_context: Option<tempfile::TempDir>,
}

impl StdinInputs {
    /// The Dockerfile read from stdin, if one was.
    pub fn dockerfile_path(&self) -> Option<PathBuf> {
        self.dockerfile
            .as_ref()
            .map(|d| d.path().join("Dockerfile"))
    }
}

/// Whether `p` is `-`.
pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == STDIN
}

fn refused(reason: impl Into<String>) -> OptionsError {
    OptionsError::Context {
        path: PathBuf::from(STDIN),
        reason: reason.into(),
    }
}

/// Read what `context` and `file` take from stdin (nothing when neither is
/// `-`); a context tar is added to `upload`, unread past its first bytes.
pub fn read(
    context: &Path,
    file: Option<&Path>,
    stdin: impl FnOnce() -> Box<dyn Read + Send>,
    upload: &UploadService,
) -> Result<StdinInputs, OptionsError> {
    let file_is_stdin = file.is_some_and(is_stdin);
    if !is_stdin(context) {
        if !file_is_stdin {
            return Ok(StdinInputs::default());
        }
        let dir = write_dockerfile(&[], stdin())?;
        return Ok(StdinInputs {
            dockerfile: Some(dir),
            ..Default::default()
        });
    }
    if file_is_stdin {
        return Err(refused(
            "can't use stdin for both the build context and the Dockerfile (-f -)",
        ));
    }
    let mut r = stdin();
    let head = peek(&mut r)?;
    if head.is_empty() {
        return Err(refused(
            "stdin is empty: expected a build context tar or a Dockerfile",
        ));
    }
    if is_archive(&head) {
        let url = upload
            .add(Box::new(Cursor::new(head).chain(r)))
            .map_err(|e| refused(e.to_string()))?;
        return Ok(StdinInputs {
            context_url: Some(url),
            ..Default::default()
        });
    }
    if let Some(f) = file {
        return Err(refused(format!(
            "stdin holds a Dockerfile and so does -f {}: ambiguous Dockerfile source",
            f.display()
        )));
    }
    let dockerfile = write_dockerfile(&head, r)?;
    let empty = tempfile::Builder::new()
        .prefix("archgate-empty-context")
        .tempdir()
        .map_err(|e| refused(format!("creating an empty context folder: {e}")))?;
    Ok(StdinInputs {
        dockerfile: Some(dockerfile),
        empty_context: Some(empty),
        ..Default::default()
    })
}

/// Up to [`PEEK`] bytes (fewer only at the end of the stream).
fn peek(r: &mut dyn Read) -> Result<Vec<u8>, OptionsError> {
    let mut head = Vec::with_capacity(PEEK);
    r.take(PEEK as u64)
        .read_to_end(&mut head)
        .map_err(|e| refused(format!("reading stdin: {e}")))?;
    Ok(head)
}

/// The largest Dockerfile read from stdin (the bound `archgate lint` reads).
const MAX_DOCKERFILE: u64 = 16 << 20;

/// `head` then the rest of `r`, as `Dockerfile` in a private folder.
fn write_dockerfile(
    head: &[u8],
    mut r: Box<dyn Read + Send>,
) -> Result<tempfile::TempDir, OptionsError> {
    let fail = |e: std::io::Error| OptionsError::Dockerfile {
        path: PathBuf::from(STDIN),
        reason: e.to_string(),
    };
    let dir = tempfile::Builder::new()
        .prefix("archgate-dockerfile")
        .tempdir()
        .map_err(fail)?;
    let mut f = std::fs::File::create(dir.path().join("Dockerfile")).map_err(fail)?;
    f.write_all(head).map_err(fail)?;
    // A Dockerfile is text of a few KiB; what never ends is refused, not
    // written to disk until it fills.
    let copied = std::io::copy(&mut (&mut r).take(MAX_DOCKERFILE + 1), &mut f).map_err(fail)?;
    if copied + head.len() as u64 > MAX_DOCKERFILE {
        return Err(OptionsError::Dockerfile {
            path: PathBuf::from(STDIN),
            reason: format!(
                "larger than {} MiB: not a Dockerfile (a context tar starts with a tar, gzip, bzip2 or xz header)",
                MAX_DOCKERFILE >> 20
            ),
        });
    }
    Ok(dir)
}

/// buildx's `isArchive` (`build/utils.go`): a bzip2, gzip or xz stream, or
/// a tar whose first header Go's reader accepts.
pub fn is_archive(head: &[u8]) -> bool {
    const MAGIC: [&[u8]; 3] = [
        &[0x42, 0x5A, 0x68],                   // bzip2
        &[0x1F, 0x8B, 0x08],                   // gzip
        &[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], // xz
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    matches!(
        crate::check::gotar::TarReader::new(head).next_header(),
        Ok(Some(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
        b.into_inner().unwrap()
    }

    fn reader(b: Vec<u8>) -> impl FnOnce() -> Box<dyn Read + Send> {
        move || Box::new(Cursor::new(b))
    }

    #[test]
    fn archives_are_told_by_magic_or_a_tar_header() {
        assert!(is_archive(&tar_of("Dockerfile", b"FROM scratch\n")));
        assert!(is_archive(&[0x1F, 0x8B, 0x08, 0]));
        assert!(is_archive(b"BZh91AY"));
        assert!(is_archive(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1]));
        assert!(!is_archive(b"FROM scratch\nCOPY a /\n"));
        // A header whose checksum is wrong is no tar (Go: ErrHeader).
        let mut bad = tar_of("a", b"x");
        bad[0] ^= 1;
        assert!(!is_archive(&bad));
        // Only the end-of-archive blocks: Go's Next says io.EOF.
        assert!(!is_archive(&[0u8; 1024]));
    }

    #[test]
    fn a_tar_is_offered_to_the_daemon_unread() {
        let up = UploadService::new();
        let tar = tar_of("Dockerfile", b"FROM scratch\n");
        let got = read(Path::new("-"), None, reader(tar), &up).unwrap();
        let url = got.context_url.unwrap();
        assert!(url.starts_with("http://buildkit-session/"), "{url}");
        assert!(got.dockerfile.is_none() && got.empty_context.is_none());
    }

    #[test]
    fn a_dockerfile_alone_gets_an_empty_context() {
        let up = UploadService::new();
        let text = b"FROM scratch\nCOPY --from=busybox / /\n".repeat(100);
        let got = read(Path::new("-"), None, reader(text.clone()), &up).unwrap();
        assert!(got.context_url.is_none());
        assert_eq!(std::fs::read(got.dockerfile_path().unwrap()).unwrap(), text);
        let empty = got.empty_context.as_ref().unwrap().path();
        assert_eq!(std::fs::read_dir(empty).unwrap().count(), 0);
    }

    #[test]
    fn dash_f_reads_the_dockerfile_for_a_directory_context() {
        let up = UploadService::new();
        let got = read(
            Path::new("."),
            Some(Path::new("-")),
            reader(b"FROM scratch\n".to_vec()),
            &up,
        )
        .unwrap();
        assert_eq!(
            std::fs::read(got.dockerfile_path().unwrap()).unwrap(),
            b"FROM scratch\n"
        );
        assert!(got.empty_context.is_none() && got.context_url.is_none());
        // Neither is stdin: stdin is not touched.
        let none = read(
            Path::new("."),
            Some(Path::new("Dockerfile")),
            || panic!("stdin read"),
            &up,
        )
        .unwrap();
        assert!(none.dockerfile.is_none());
    }

    #[test]
    fn refusals_as_buildx() {
        let up = UploadService::new();
        let e = read(Path::new("-"), Some(Path::new("-")), || panic!("read"), &up)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("can't use stdin for both"), "{e}");
        let e = read(
            Path::new("-"),
            Some(Path::new("x.Dockerfile")),
            reader(b"FROM scratch\n".to_vec()),
            &up,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("ambiguous Dockerfile source"), "{e}");
        let e = read(Path::new("-"), None, reader(Vec::new()), &up)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("stdin is empty"), "{e}");
    }

    #[test]
    fn a_dockerfile_that_never_ends_is_refused() {
        let up = UploadService::new();
        let endless = || Box::new(std::io::repeat(b'#')) as Box<dyn Read + Send>;
        let e = read(Path::new("-"), None, endless, &up)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("larger than 16 MiB"), "{e}");
        let e = read(Path::new("ctx"), Some(Path::new("-")), endless, &up)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("larger than 16 MiB"), "{e}");
    }
}
