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

    commit();

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

/// The commit `archgate --version` names, as `ARCHGATE_COMMIT` for the crate:
/// the `ARCHGATE_COMMIT` environment variable when set (`scripts/release`
/// sets it, with `-dirty` for a tree with changes), else, in optimised
/// builds (`cargo install`, `--release`, the `dist` profile), git's HEAD.
/// Debug builds (the tests) ask git nothing: a new commit would otherwise
/// rebuild every test binary.
fn commit() {
    println!("cargo:rerun-if-env-changed=ARCHGATE_COMMIT");
    let from_env = std::env::var("ARCHGATE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let commit = from_env.or_else(|| {
        if std::env::var("PROFILE").as_deref() != Ok("release") {
            return None;
        }
        let git = |args: &[&str]| -> Option<String> {
            let out = std::process::Command::new("git").args(args).output().ok()?;
            let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !s.is_empty()).then_some(s)
        };
        // Rerun when HEAD moves: HEAD itself, the branch it names, and the
        // packed refs (only files that exist: a missing one reruns always).
        let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])?];
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.extend(git(&["rev-parse", "--git-path", &r]));
        }
        watch.extend(git(&["rev-parse", "--git-path", "packed-refs"]));
        for w in watch {
            if std::path::Path::new(&w).exists() {
                println!("cargo:rerun-if-changed={w}");
            }
        }
        git(&["rev-parse", "HEAD"])
    });
    let commit = match commit {
        // A full object name is shortened to 12 digits, keeping `-dirty`.
        Some(c) => match c.split_once('-') {
            Some((sha, rest)) if sha.len() > 12 => format!("{}-{rest}", &sha[..12]),
            None if c.len() > 12 => c[..12].to_string(),
            _ => c,
        },
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=ARCHGATE_COMMIT={commit}");
}
