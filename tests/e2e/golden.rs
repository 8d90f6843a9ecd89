//! Golden reports: the whole `--format json` output for a few realistic
//! images, normalised (digests, temp paths) and compared with
//! `tests/golden/<name>.json`. `ARCHGATE_BLESS=1 cargo test --test golden`
//! rewrites them; review the diff before committing.

use crate::common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// Replace what changes from run to run: `sha256:<64 hex>` and the temp dir.
fn normalise(v: &mut Value, tmp: &str) {
    match v {
        Value::String(s) => {
            let mut out = s.replace(tmp, "<tmp>");
            let mut i = 0;
            while let Some(off) = out[i..].find("sha256:") {
                let start = i + off + "sha256:".len();
                let hex_len = out[start..]
                    .bytes()
                    .take_while(|b| b.is_ascii_hexdigit())
                    .count();
                if hex_len == 64 {
                    out.replace_range(start..start + 64, "<digest>");
                }
                i = start;
            }
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, tmp)),
        Value::Object(o) => o.values_mut().for_each(|x| normalise(x, tmp)),
        _ => {}
    }
}

fn golden(name: &str, run: &Run, tmp: &Path) {
    let mut got = run.json();
    normalise(&mut got, tmp.to_str().unwrap());
    let got = serde_json::to_string_pretty(&serde_json::json!({"exit": run.code, "report": got}))
        .unwrap()
        + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var_os("ARCHGATE_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nrun `ARCHGATE_BLESS=1 cargo test --test golden` to create it; got:\n{got}",
            path.display()
        )
    });
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(20)
            .map(|(i, (a, b))| format!("line {}:\n  want {a}\n  got  {b}", i + 1))
            .collect();
        panic!(
            "{} differs from the report (first differences below; {} vs {} lines).\n\
             If the change is intended: ARCHGATE_BLESS=1 cargo test --test golden\n{}\n--- got\n{got}",
            path.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn golden_buildx_hardcoded_goarch() {
    // a Go service built with GOARCH=amd64 hardcoded for every platform, as
    // buildx writes it (nested index, attestations)
    let t = tmp();
    let dir = t.path().join("svc");
    let img = |platform: &str, hello: &str| {
        Image::new(platform)
            .entrypoint(&["/usr/local/bin/svc"])
            .cmd(&["--listen", ":8080"])
            .working_dir("/srv")
            .layer(Layer::new().file_from("usr/local/bin/svc", go_hello(hello)))
    };
    Layout::buildx(vec![
        img("linux/amd64", "amd64"),
        img("linux/arm64", "amd64"),
        img("linux/arm/v7", "arm-v7"),
    ])
    .write_dir(&dir);
    let run = check_json(&[&format!("oci:{}", dir.display())], &[]);
    golden("buildx_hardcoded_goarch", &run, t.path());
}

#[test]
fn golden_script_loader_healthcheck() {
    // an arm64 image: `#!/bin/sh` entrypoint through busybox, a dynamically
    // linked glibc program as CMD argument of the script and as HEALTHCHECK
    let t = tmp();
    let img = Image::new("linux/arm64")
        .entrypoint(&["/docker-entrypoint.sh"])
        .cmd(&["hello"])
        .healthcheck(&["CMD", "hello", "--version"])
        .layer(busybox_layer("arm64"))
        .layer(
            glibc_hello_layer("arm64", true)
                .script("docker-entrypoint.sh", "#!/bin/sh\nexec \"$@\"\n"),
        );
    let r = oci_single(t.path(), "app", img);
    let run = check_json(&[&r], &[]);
    golden("script_loader_healthcheck", &run, t.path());
}

#[test]
fn golden_glibc_in_scratch_and_arm_variants() {
    // a docker archive whose glibc program has no loader, and armhf/armel
    // busybox on arm/v6 in one run
    let t = tmp();
    let da = t.path().join("scratch.tar");
    write_docker_archive(
        &Image::new("linux/amd64")
            .entrypoint(&["/hello"])
            .layer(Layer::new().file_from("hello", deb_root("amd64").join("usr/bin/hello"))),
        &["example/hello:scratch"],
        &da,
    );
    let arm = t.path().join("arm");
    Layout::multi(vec![
        Image::new("linux/arm/v6")
            .entrypoint(&["/bin/sh"])
            .layer(busybox_layer("armhf")),
        Image::new("linux/arm/v5")
            .entrypoint(&["/bin/sh"])
            .layer(busybox_layer("armel")),
        Image::new("linux/arm64")
            .entrypoint(&["/bin/sh"])
            .layer(busybox_layer("armel")),
    ])
    .write_dir(&arm);
    let run = check_json(
        &[
            &format!("docker-archive:{}", da.display()),
            &format!("oci:{}", arm.display()),
        ],
        &[],
    );
    golden("glibc_in_scratch_and_arm_variants", &run, t.path());
}
