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
pub mod lint;
pub mod reference;
pub mod report;
pub mod rootfs;
