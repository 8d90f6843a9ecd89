//! Renders reports for people and machines, and writes them out.
//!
//! The one idea: the JSON contract is the `inspect::verdict` types serialised
//! as they are, and every other format is a view of that same `Report`.

pub mod file;
pub mod human;
pub mod machine;

use crate::inspect::Report;
use std::io::{self, Write};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// SARIF 2.1.0, for code-scanning uploads
    Sarif,
    /// GitHub Actions annotations (`::error ...`)
    Github,
}

/// Render `report` in `format`.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Human => human::render(report, color),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).expect("reports always serialise");
            s.push('\n');
            s
        }
        Format::Sarif => machine::sarif(report),
        Format::Github => machine::github(report),
    }
}

/// Write a rendered report to `out` (every command writes its report
/// through here). A closed pipe is not an error: the reader stopped reading
/// (`archgate check ... | head -1`), and the run's verdict, so its exit
/// code, stands. Any other failure is returned: the report was lost.
pub fn write(out: &mut dyn Write, text: &str) -> io::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails with one error.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_not_an_error_but_other_failures_are() {
        assert!(write(&mut Failing(io::ErrorKind::BrokenPipe), "report\n").is_ok());
        let e = write(&mut Failing(io::ErrorKind::PermissionDenied), "report\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let mut v = Vec::new();
        write(&mut v, "report\n").unwrap();
        assert_eq!(v, b"report\n");
    }
}
