//! Renders reports for people and machines.
//!
//! The one idea: the JSON contract is the `inspect::verdict` types serialised
//! as they are, and every other format is a view of that same `Report`.

pub mod human;
pub mod machine;

use crate::inspect::Report;

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
