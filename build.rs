//! Compiles the hand-written BuildKit protocol subset in `proto/` into Rust
//! (prost messages, tonic clients and servers), with `protox` as the protobuf
//! compiler so no system `protoc` is needed.

use std::path::PathBuf;

/// Every file, relative to the include root `proto/`. Imports inside the files
/// use the same relative paths, so each file is loaded under exactly one name.
const PROTOS: &[&str] = &[
    "buildkit/ops.proto",
    "buildkit/worker.proto",
    "buildkit/caps.proto",
    "buildkit/control.proto",
    "buildkit/gateway.proto",
    "fsutil/stat.proto",
    "fsutil/wire.proto",
    "session/filesync.proto",
    "session/auth.proto",
    "session/secrets.proto",
    "containerd/content.proto",
    "grpc/health.proto",
    "google/rpc/status.proto",
    "session/upload.proto",
    "session/sshforward.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", root.display());
    for p in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }

    let fds = protox::compile(PROTOS, [&root])?;

    tonic_prost_build::configure()
        // Clients for what archgate calls (Control, LLBBridge); servers for
        // what it serves on the session (Health, FileSync, FileSend, Auth,
        // Secrets). Both are generated for all: unused halves cost little.
        .build_client(true)
        .build_server(true)
        // Channels are built by src/buildkit/transport/ over our own IO.
        .build_transport(false)
        // An op's bytes are its digest: a source's attrs encode in key
        // order, so the same op is the same vertex (and cache key) on every
        // run.
        .btree_map(".pb.SourceOp.attrs")
        .emit_rerun_if_changed(false)
        .include_file("archgate_proto.rs")
        .compile_fds(fds)?;
    Ok(())
}
