//! Docker: the Engine API archgate calls itself (on hyper's HTTP/1 client,
//! over the stream `dial` makes: the `/grpc` and `/session` upgrades for
//! BuildKit, `/images/load`, `/version`, `/images/NAME/get`), and the docker
//! CLI's configuration (environment, config dir, contexts, credentials), and
//! archgate run by the docker CLI as its plugin (`plugin`).
//!
//! The one idea: one HTTP/1 client and one error-body reader for every
//! engine call, so `check`, `build` and the BuildKit transports see the
//! engine the same way.

pub mod api;
pub mod config;
pub mod credentials;
mod host;
pub mod images;
pub mod plugin;
#[cfg(test)]
pub(crate) mod testutil;

pub use api::{Engine, EngineError};
pub use config::{current_engine, ConfigError, Environment};
pub use host::{EngineHost, DEFAULT_DOCKER_SOCKET};
pub use images::ExportError;
