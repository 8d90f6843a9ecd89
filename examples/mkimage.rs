//! Builds the demo images of the README from the real binaries that
//! `scripts/fixtures` fetched: `cargo run --example mkimage [FIXTURES [OUT]]`
//! (defaults: `$ARCHGATE_FIXTURES` or `target/fixtures`, and `target/example`).
//! `scripts/example` runs it.
//!
//! The one idea: each image is a small, real case of a bug archgate exists to
//! catch, next to one that is fine, written with the same image writer the
//! end-to-end tests use.

use ocibuild::{write_docker_archive, Image, Layer, Layout};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = args
        .next()
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("ARCHGATE_FIXTURES")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| manifest_dir.join("target/fixtures"));
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target/example"));
    if !fixtures.join(".stamp").is_file() {
        eprintln!(
            "mkimage: no fixtures in {}: run scripts/fixtures first",
            fixtures.display()
        );
        return ExitCode::from(2);
    }
    let need = |rel: &str| -> PathBuf {
        let p = fixtures.join(rel);
        if !p.exists() {
            eprintln!(
                "mkimage: missing fixture {}: run scripts/fixtures",
                p.display()
            );
            std::process::exit(2);
        }
        p
    };
    let busybox = |debarch: &str| {
        Layer::new()
            .file_from(
                "bin/busybox",
                need(&format!("debian/{debarch}/root/bin/busybox")),
            )
            .symlink("bin/sh", "busybox")
    };

    if out.exists() {
        std::fs::remove_dir_all(&out).expect("clearing the output folder");
    }
    std::fs::create_dir_all(&out).expect("creating the output folder");

    // good.oci: amd64 + arm64, each running its own busybox through /bin/sh,
    // in the shape `docker buildx build --output type=oci` writes (with
    // attestation manifests, which are not platforms)
    let sh = |platform: &str, debarch: &str| {
        Image::new(platform)
            .entrypoint(&["/bin/sh"])
            .cmd(&["-c", "echo hello"])
            .layer(busybox(debarch))
    };
    Layout::buildx(vec![sh("linux/amd64", "amd64"), sh("linux/arm64", "arm64")])
        .write_dir(out.join("good.oci"));

    // bad.oci: a Go program built with GOARCH=amd64 hardcoded, so the arm64
    // image holds an x86-64 binary
    let svc = |platform: &str| {
        Image::new(platform)
            .entrypoint(&["/usr/local/bin/hello"])
            .layer(Layer::new().file_from("usr/local/bin/hello", need("go/bin/hello-amd64")))
    };
    Layout::buildx(vec![svc("linux/amd64"), svc("linux/arm64")]).write_dir(out.join("bad.oci"));

    // glibc-in-scratch.tar: `docker save` of a FROM scratch image with a
    // dynamically linked glibc program and no loader
    let scratch = Image::new("linux/amd64")
        .entrypoint(&["/hello"])
        .layer(Layer::new().file_from("hello", need("debian/amd64/root/usr/bin/hello")));
    write_docker_archive(
        &scratch,
        &["example/hello:scratch"],
        out.join("glibc-in-scratch.tar"),
    );

    // armv7-on-v6.oci: Debian's armhf (ARMv7) busybox claimed as linux/arm/v6
    // (a Raspberry Pi Zero would fail with "illegal instruction")
    Layout::single(
        Image::new("linux/arm/v6")
            .entrypoint(&["/bin/sh"])
            .layer(busybox("armhf")),
    )
    .write_dir(out.join("armv7-on-v6.oci"));

    for name in [
        "good.oci",
        "bad.oci",
        "glibc-in-scratch.tar",
        "armv7-on-v6.oci",
    ] {
        println!("{}", out.join(name).display());
    }
    ExitCode::SUCCESS
}
