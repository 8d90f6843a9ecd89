//! The pure inspection engine: image config + target platform + a `RootFs` in,
//! per-platform verdicts with their evidence out.
//!
//! The one idea: do exactly what the runtime would do (argv assembly, PATH
//! lookup, link resolution inside the root, `#!` chains, the ELF loader), and
//! judge each program found that way against the platform table. No I/O here
//! but through the `RootFs` seam.

pub mod binary;
pub mod config;
pub mod engine;
pub mod exec;
pub mod ldpath;
pub mod platform;
pub mod resolve;
pub mod user;
pub mod verdict;

pub use config::ImageConfig;
pub use engine::{fold_deep, inspect, inspect_file, inspect_loader, DeepFile, InspectError};
pub use platform::Platform;
pub use verdict::{
    gate_fails, Check, DeepSummary, Exit, ImageReport, PlatformReport, Reason, Report, Role,
    RunVerdict, Verdict,
};
