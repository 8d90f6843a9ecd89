//! archgate: checks that the programs an image would run match the platform it claims.
pub mod build_cmd;
pub mod buildkit;
pub mod check;
pub mod dial;
pub mod digest;
pub mod docker;
pub mod frontend_cmd;
pub mod gate;
pub mod goparse;
pub mod inspect;
pub mod install;
pub mod lint;
pub mod reference;
pub mod report;
pub mod rootfs;

/// What `archgate --version` says: the crate's version and the commit it was
/// built from (`build.rs`: git's HEAD in optimised builds, `unknown` in
/// debug builds and outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ARCHGATE_COMMIT"),
    ")"
);
