//! The `archgate` command line.
//!
//! The one idea: parse arguments, hand each image to its backend, run the one
//! engine per platform, render one `Report`, and map it to a stable exit code
//! (0 pass, 1 gate failed, 2 could not decide).

use anyhow::{Context, Result};
use archgate::check::{self, ImageRef};
use archgate::inspect::{self, ImageReport, Platform, Report};
use archgate::report;
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "archgate",
    version,
    about = "Stops wrong-architecture container images before they ship"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check images that already exist: every platform's ENTRYPOINT/CMD,
    /// arguments and HEALTHCHECK programs against the platform it claims
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Only these platforms (os/arch[/variant]), comma-separated or repeated
    #[arg(long, value_delimiter = ',')]
    platform: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    format: report::Format,
    /// Fail (exit 1) on warnings and skipped platforms too
    #[arg(long)]
    strict: bool,
    /// Images: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE, or a path
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Check(args) => match run_check(args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("archgate: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARCHGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run_check(args: CheckArgs) -> Result<u8> {
    let filters = args
        .platform
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| Platform::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut images = Vec::new();
    for spec in &args.images {
        let r = check_image(spec, &filters);
        if let Some(e) = &r.error {
            // Most errors already name the file; don't say it twice.
            let path = spec.split_once(':').map_or(spec.as_str(), |(_, p)| p);
            if e.contains(spec.as_str()) || e.contains(path) {
                eprintln!("archgate: {e}");
            } else {
                eprintln!("archgate: {}: {e}", r.image);
            }
        }
        images.push(r);
    }
    let report = Report::new(images);
    let color = args.format == report::Format::Human
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let mut out = std::io::stdout().lock();
    out.write_all(report::render(&report, args.format, color).as_bytes())
        .context("writing the report")?;
    out.flush().ok();
    Ok(report.exit_code(args.strict) as u8)
}

/// Check every (selected) platform of one image; an image that cannot be read
/// gets an error and no verdicts.
fn check_image(spec: &str, filters: &[Platform]) -> ImageReport {
    let fail = |e: String| ImageReport {
        image: spec.to_string(),
        platforms: Vec::new(),
        error: Some(e),
    };
    let r = match ImageRef::parse(spec) {
        Ok(r) => r,
        Err(e) => return fail(format!("{e:#}")),
    };
    let mut targets = match check::open(&r) {
        Ok(t) => t,
        Err(e) => return fail(format!("{e:#}")),
    };
    if !filters.is_empty() {
        let available: Vec<String> = targets.iter().map(|t| t.platform.to_string()).collect();
        for f in filters {
            if !targets.iter().any(|t| t.platform.matches_filter(f)) {
                return fail(format!(
                    "no platform {f} in the image (it has {})",
                    available.join(", ")
                ));
            }
        }
        targets.retain(|t| filters.iter().any(|f| t.platform.matches_filter(f)));
    }
    let results = inspect_all(&targets);
    let mut platforms = Vec::new();
    for (t, res) in targets.iter().zip(results) {
        match res {
            Ok(mut p) => {
                p.digest = t.digest.clone();
                platforms.push(p);
            }
            Err(e) => return fail(format!("{}: {e:#}", t.platform)),
        }
    }
    ImageReport {
        image: spec.to_string(),
        platforms,
        error: None,
    }
}

/// Platforms are independent: inspect them on parallel threads.
fn inspect_all(
    targets: &[check::PlatformImage],
) -> Vec<Result<inspect::PlatformReport, inspect::InspectError>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(1);
    let mut results: Vec<Option<Result<_, _>>> = (0..targets.len()).map(|_| None).collect();
    for (chunk_targets, chunk_results) in targets.chunks(workers).zip(results.chunks_mut(workers)) {
        std::thread::scope(|s| {
            for (t, slot) in chunk_targets.iter().zip(chunk_results.iter_mut()) {
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("runtime");
                    *slot = Some(rt.block_on(inspect::inspect(&t.config, &t.platform, &t.fs)));
                });
            }
        });
    }
    results
        .into_iter()
        .map(|r| r.expect("every platform ran"))
        .collect()
}
