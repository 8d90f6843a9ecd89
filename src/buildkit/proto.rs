//! Generated protobuf types and gRPC stubs for the BuildKit protocol subset in
//! `proto/` (see `build.rs`). Modules follow the protobuf packages:
//! `moby::buildkit::v1` (Control), `moby::buildkit::v1::frontend` (LLBBridge),
//! `moby::filesync::v1` (FileSync, FileSend, Auth), `fsutil::types`,
//! `grpc::health::v1`, `google::rpc`, `pb` (LLB).
//!
//! The one idea: the `.proto` files are ours and minimal; wire compatibility
//! comes from exact package/service/method names and field numbers, not from
//! vendoring upstream.

#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    unreachable_pub,
    unused_qualifications
)]

include!(concat!(env!("OUT_DIR"), "/archgate_proto.rs"));

pub use moby::buildkit::v1 as control;
pub use moby::buildkit::v1::frontend as gateway;
pub use moby::buildkit::v1::types as worker;
