//! A BuildKit client, reusable and ignorant of archgate's gate: builder
//! addresses and resolution (`addr`, `store`), transports, the generated
//! protocol, first calls (`client`), the session the daemon calls back
//! (`session` with `filesync`, `auth`, `secrets`, `upload`, `sshforward`), the gateway and its
//! `RootFs` (`gateway`), progress rendering, and the two runners of a build
//! function: a client-side gateway build (`solve`) and a frontend started
//! by the daemon, on its stdio (`frontend`).
//!
//! The one idea: everything a build does travels over one connection that
//! archgate dials itself (unix, tcp+TLS, the Docker Engine's `/grpc` upgrade,
//! or `docker exec ... buildctl dial-stdio`), so every transport behaves the
//! same above `transport::connect`.

pub mod addr;
pub mod auth;
pub mod client;
pub mod content;
pub mod error;
pub mod filesync;
pub mod frontend;
pub mod gateway;
pub mod gomode;
pub mod llb;
pub mod progress;
pub mod proto;
pub mod secrets;
pub mod session;
pub mod solve;
pub mod sshforward;
pub mod store;
pub mod transport;
pub mod upload;

pub use crate::dial::{TcpAddr, TlsOptions, CONNECT_TIMEOUT};
pub use crate::docker::{EngineHost, Environment};
pub use addr::BuilderAddr;
pub use client::{info, list_workers, BuildkitVersion, WorkerInfo};
pub use error::BuildError;
pub use store::{resolve, BuilderFlags, Resolved};
pub use transport::{connect, connect_with};
