//! `archgate check` as a library call: image references and flags in, one
//! `Report` out. Parses the platform filters, opens each image, keeps the
//! platforms asked for, and judges them, each on a thread and a
//! current-thread runtime of its own.
//!
//! The one idea: an image that cannot be checked is an `ImageError`, typed
//! until it becomes the report's `error` line; it never stops the others,
//! and whether its message already names the image is asked of its type,
//! never read from its text.

use super::{open_with, CheckError, ImageRef, OpenOptions, PlatformImage};
use crate::inspect::platform::PlatformError;
use crate::inspect::{self, ImageReport, InspectError, Platform, PlatformReport, Report};
use crate::rootfs::FsError;

/// Everything `archgate check` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The images as the user wrote them (`oci:DIR`, `docker://NAME`, ...).
    pub images: Vec<String>,
    /// `--platform` values as given (comma lists already split); empty or
    /// blank ones are ignored. No filter: every platform of each image.
    pub platforms: Vec<String>,
    /// `--deep`: judge every program of each image, reading every layer.
    pub deep: bool,
    /// `--strict`: warned and skipped platforms fail the gate too (and so
    /// get a `source`, as failed ones do).
    pub strict: bool,
    /// `--insecure` and the layer bounds.
    pub open: OpenOptions,
}

/// Why one image could not be checked (its `error` in the report, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The reference is invalid, or the image could not be opened.
    #[error(transparent)]
    Open(#[from] CheckError),
    /// A `--platform` filter matches none of the image's platforms.
    #[error("no platform {wanted} in the image (it has {})", list(available))]
    NoPlatform {
        wanted: Platform,
        available: Vec<Platform>,
    },
    /// A platform's files could not be read or judged.
    #[error("{platform}: {source}")]
    Inspect {
        platform: Platform,
        #[source]
        source: InspectError,
    },
}

fn list(p: &[Platform]) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ImageError {
    /// Whether the message already names the image (its reference, path or
    /// location), so a line about it need not say it again: opening errors
    /// ask their type; a layer that could not be read is named with its
    /// image (`blob ... in IMAGE`).
    pub fn names_image(&self) -> bool {
        match self {
            ImageError::Open(e) => e.names_image(),
            ImageError::NoPlatform { .. } => false,
            ImageError::Inspect { source, .. } => {
                matches!(source, InspectError::Fs(FsError::Corrupt { .. }))
            }
        }
    }
}

/// Check every image of `req`, in order. `undecided` hears of each image
/// that could not be checked as soon as that is known (its spec and why);
/// the report holds every image either way. An invalid `--platform` is
/// refused before any image is opened.
pub fn run(
    req: &Request,
    mut undecided: impl FnMut(&str, &ImageError),
) -> Result<Report, PlatformError> {
    let filters = req
        .platforms
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| Platform::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut images = Vec::new();
    for spec in &req.images {
        let report = match check_image(spec, &filters, req) {
            Ok(platforms) => ImageReport {
                image: spec.clone(),
                platforms,
                error: None,
            },
            Err(e) => {
                undecided(spec, &e);
                ImageReport {
                    image: spec.clone(),
                    platforms: Vec::new(),
                    error: Some(e.to_string()),
                }
            }
        };
        images.push(report);
    }
    Ok(Report::new(images))
}

/// Check every (selected) platform of one image.
fn check_image(
    spec: &str,
    filters: &[Platform],
    req: &Request,
) -> Result<Vec<PlatformReport>, ImageError> {
    let r = ImageRef::parse(spec)?;
    let mut targets = open_with(&r, &req.open)?;
    if !filters.is_empty() {
        for f in filters {
            if !targets.iter().any(|t| t.platform.matches_filter(f)) {
                return Err(ImageError::NoPlatform {
                    wanted: f.clone(),
                    available: targets.iter().map(|t| t.platform.clone()).collect(),
                });
            }
        }
        targets.retain(|t| filters.iter().any(|f| t.platform.matches_filter(f)));
    }
    let results = inspect_all(&targets, req.deep, req.strict);
    let mut platforms = Vec::new();
    for (t, res) in targets.iter().zip(results) {
        match res {
            Ok(mut p) => {
                p.digest = t.digest.clone();
                platforms.push(p);
            }
            Err(source) => {
                return Err(ImageError::Inspect {
                    platform: t.platform.clone(),
                    source,
                })
            }
        }
    }
    Ok(platforms)
}

/// Platforms are independent: inspect them on parallel threads. A platform
/// that fails the gate gets its `source` (`Origin::explain`) while its
/// layers' indexes are still there.
fn inspect_all(
    targets: &[PlatformImage],
    deep: bool,
    strict: bool,
) -> Vec<Result<PlatformReport, InspectError>> {
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
                    let mut r = rt.block_on(inspect_one(t, deep));
                    if let Ok(p) = &mut r {
                        if inspect::gate_fails(p.verdict, strict) {
                            p.source = t.origin.explain(&t.platform, &t.fs, p);
                        }
                    }
                    *slot = Some(r);
                    // The verdict is in: its index and captures can go.
                    t.fs.release();
                });
            }
        });
    }
    results
        .into_iter()
        .map(|r| r.expect("every platform ran"))
        .collect()
}

/// One platform: with `deep`, every layer is read once first, judging every
/// program on the way; the config's programs are then judged from what that
/// left (indexes, captured bytes), and the programs' loaders and
/// interpreters last.
async fn inspect_one(t: &PlatformImage, deep: bool) -> Result<PlatformReport, InspectError> {
    if !deep {
        return inspect::inspect(&t.config, &t.platform, &t.fs).await;
    }
    let scan = t.fs.deep_scan(&t.platform)?;
    let mut report = inspect::inspect(&t.config, &t.platform, &t.fs).await?;
    let findings = scan.finish(&t.platform, &t.fs).await?;
    findings.fold(&mut report, &t.platform);
    Ok(report)
}
