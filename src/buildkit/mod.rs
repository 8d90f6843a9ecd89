//! The BuildKit client behind `archgate build`: addresses and builder
//! resolution, transports, the generated protocol, and the calls made on a
//! connected daemon.
//!
//! The one idea: everything a build does travels over one connection that
//! archgate dials itself (unix, tcp+TLS, the Docker Engine's `/grpc` upgrade,
//! or `docker exec ... buildctl dial-stdio`), so every transport behaves the
//! same above `transport::connect`.

pub mod addr;
pub mod auth;
pub mod client;
pub mod error;
pub mod filesync;
pub mod gateway;
pub mod gomode;
pub mod progress;
pub mod proto;
pub mod secrets;
pub mod session;
pub mod solve;
pub mod store;
pub mod transport;

pub use crate::dial::{TcpAddr, TlsOptions, CONNECT_TIMEOUT};
pub use crate::docker::{EngineHost, Environment};
pub use addr::BuilderAddr;
pub use client::{info, list_workers, BuildkitVersion, WorkerInfo};
pub use error::BuildError;
pub use store::{resolve, BuilderFlags, Resolved};
pub use transport::{connect, connect_with};
