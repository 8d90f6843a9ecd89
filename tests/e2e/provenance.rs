//! `archgate check` names what put a failing platform's program in an image
//! BuildKit built: the Dockerfile line, from the Dockerfile its provenance
//! attestation carries (`attest:provenance=mode=max`), else the config's
//! history entry that made the layer (`mode=min`, or no attestation). The
//! images are built by the testenv's standalone buildkitd with its own
//! `buildctl`, exported as an OCI archive and pushed to its registry.
//!
//! No Go toolchain and no network: the build stage's `go` is a script that
//! "builds" for `$GOARCH` by copying that arch's prebuilt hello (the
//! fixtures), so the Dockerfile's hardcoded `GOARCH=amd64` is what puts an
//! x86-64 binary in the arm64 image, as a real `go build` would.

use crate::common;

use common::buildenv::{base_images, env, run_ok, unique, Context};
use common::registry::archgate_env;
use common::Run;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The line that fixes GOARCH (line 4).
fn dockerfile() -> String {
    format!(
        "FROM --platform=$BUILDPLATFORM {} AS build\n\
         COPY go /usr/local/bin/go\n\
         COPY app-amd64 app-arm64 /src/\n\
         RUN CGO_ENABLED=0 GOARCH=amd64 go build -o /out/app .\n\
         FROM scratch\n\
         COPY --from=build /out/app /usr/bin/app\n\
         ENTRYPOINT [\"/usr/bin/app\"]\n",
        base_images().multi
    )
}

const GOARCH_LINE: &str = "RUN CGO_ENABLED=0 GOARCH=amd64 go build -o /out/app .";

/// Stands in for `go build -o OUT`: copies the hello built for `$GOARCH`.
const FAKE_GO: &str = "#!/bin/sh\n\
while [ $# -gt 0 ]; do\n\
  case $1 in -o) out=$2; shift ;; esac\n\
  shift\n\
done\n\
busybox mkdir -p \"${out%/*}\"\n\
exec busybox cp \"/src/app-$GOARCH\" \"$out\"\n";

fn context() -> Context {
    let c = Context::new();
    c.dockerfile(&dockerfile())
        .script("go", FAKE_GO)
        .go_app("app-amd64", "amd64")
        .go_app("app-arm64", "arm64");
    c
}

/// An image built for linux/amd64 and linux/arm64 with `attest` (a
/// `attest:provenance` value, or none), written to `dir/image.tar` and
/// pushed as `REG/archgate-e2e/NAME:v1`. Returns both references.
fn build(test: &str, attest: Option<&str>, dir: &Path) -> (String, String) {
    let e = env();
    let ctx = context();
    let archive = dir.join("image.tar");
    let pushed = format!("{}/archgate-e2e/{}:v1", e.registry(), unique(test));
    let mut cmd = Command::new(PathBuf::from(e.get("ARCHGATE_BUILDKIT_BIN")).join("buildctl"));
    cmd.args(["--addr", e.get("ARCHGATE_BUILDKIT_ADDR"), "build"])
        .args(["--frontend", "dockerfile.v0"])
        .arg(format!("--local=context={}", ctx.arg()))
        .arg(format!("--local=dockerfile={}", ctx.arg()))
        .args(["--opt", "platform=linux/amd64,linux/arm64"])
        .arg(format!("--output=type=oci,dest={}", archive.display()))
        .arg(format!(
            "--output=type=image,name={pushed},push=true,registry.insecure=true"
        ));
    if let Some(a) = attest {
        cmd.args(["--opt", &format!("attest:provenance={a}")]);
    }
    run_ok(&mut cmd, "buildctl build");
    (format!("oci-archive:{}", archive.display()), pushed)
}

fn check(image: &str, format: &str) -> Run {
    let run = archgate_env(&["check", "--format", format, image], &[]);
    assert_eq!(run.code, 1, "{run}");
    run
}

/// The two platforms of a JSON report: amd64 passes without a source, arm64
/// fails with one, returned.
fn arm64_source(run: &Run) -> Value {
    let ps = run.platforms();
    let by = |p: &str| {
        ps.iter()
            .find(|x| x["platform"] == p)
            .unwrap_or_else(|| panic!("no {p}\n{run}"))
            .clone()
    };
    let amd = by("linux/amd64");
    assert_eq!(amd["verdict"], "pass", "{run}");
    assert!(amd.get("source").is_none(), "{run}");
    let arm = by("linux/arm64");
    assert_eq!(
        (&arm["verdict"], &arm["reason"]),
        (&Value::from("fail"), &Value::from("arch-mismatch")),
        "{run}"
    );
    arm["source"].clone()
}

#[test]
fn mode_max_provenance_names_the_dockerfile_line() {
    let t = common::tmp();
    let (archive, pushed) = build("mode_max_line", Some("mode=max"), t.path());
    for image in [archive.clone(), format!("docker://{pushed}")] {
        let s = arm64_source(&check(&image, "json"));
        assert_eq!(s["file"], "Dockerfile", "{image}: {s}");
        assert_eq!(
            (&s["line"], &s["end_line"]),
            (&Value::from(4), &Value::from(4)),
            "{s}"
        );
        assert_eq!(s["rule"], "FixedGoArch", "{s}");
        assert_eq!(s["instruction"], GOARCH_LINE, "{s}");
        assert!(
            s.get("layer").is_none() && s.get("history").is_none(),
            "{s}"
        );
    }
    let human = check(&archive, "human");
    assert!(
        human.stdout.contains(&format!(
            "    line: Dockerfile:4: {GOARCH_LINE}\n          FixedGoArch: GOARCH=amd64"
        )),
        "{human}"
    );
    let gh = check(&archive, "github");
    assert!(
        gh.stdout.starts_with(
            "::error file=Dockerfile,line=4,endLine=4,title=archgate linux/arm64 arch-mismatch::"
        ),
        "{gh}"
    );
    let sarif = check(&archive, "sarif");
    let v: Value = serde_json::from_str(&sarif.stdout).expect("sarif");
    let loc = &v["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "Dockerfile", "{sarif}");
    assert_eq!(loc["region"]["startLine"], 4, "{sarif}");
}

/// `mode=min` records no Dockerfile, and without attestations there is no
/// provenance at all: the history names the COPY that made the layer.
#[test]
fn without_the_dockerfile_the_history_names_the_instruction() {
    for (test, attest) in [
        ("mode_min_history", Some("mode=min")),
        ("no_attestation_history", None),
    ] {
        let t = common::tmp();
        let (archive, pushed) = build(test, attest, t.path());
        for image in [archive.clone(), format!("docker://{pushed}")] {
            let s = arm64_source(&check(&image, "json"));
            assert_eq!(
                s,
                serde_json::json!({
                    "layer": 0,
                    "history": 0,
                    "message": "the image's history says this instruction made layer 1 of 1, where /usr/bin/app comes from",
                    "instruction": "COPY /out/app /usr/bin/app # buildkit",
                }),
                "{image} ({attest:?})"
            );
        }
        let human = check(&archive, "human");
        assert!(
            human.stdout.contains(
                "    history: COPY /out/app /usr/bin/app # buildkit\n          the image's history says this instruction made layer 1 of 1, where /usr/bin/app comes from\n"
            ),
            "{human}"
        );
        let gh = check(&archive, "github");
        let line = gh.stdout.lines().next().unwrap_or_default();
        assert!(
            line.starts_with("::error title=archgate linux/arm64 arch-mismatch::")
                && line.ends_with("(history: COPY /out/app /usr/bin/app # buildkit; the image's history says this instruction made layer 1 of 1, where /usr/bin/app comes from)"),
            "{gh}"
        );
        let sarif = check(&archive, "sarif");
        let v: Value = serde_json::from_str(&sarif.stdout).expect("sarif");
        let loc = &v["runs"][0]["results"][0]["locations"][0];
        // No Dockerfile line: the location is the image itself (code
        // scanning takes no result without a physical location).
        assert_eq!(loc["physicalLocation"]["region"]["startLine"], 1, "{sarif}");
        assert!(
            !loc["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase()
                .contains("dockerfile"),
            "{sarif}"
        );
        assert_eq!(loc["logicalLocations"][0]["name"], "linux/arm64", "{sarif}");
    }
}

/// A statement blob changed after the build (its digest no longer matches
/// its descriptor) is never read for a source: stderr says why, the history
/// answers, and the verdict and exit code are what they were.
#[test]
fn a_tampered_statement_is_ignored_with_a_warning() {
    let t = common::tmp();
    let (archive, _) = build("tampered_statement", Some("mode=max"), t.path());
    let dir = t.path().join("layout");
    std::fs::create_dir_all(&dir).unwrap();
    let path = archive.trim_start_matches("oci-archive:");
    run_ok(
        Command::new("tar").arg("-xf").arg(path).arg("-C").arg(&dir),
        "tar -x",
    );
    let blobs = dir.join("blobs/sha256");
    let statement = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            std::fs::read(p).is_ok_and(|b| {
                b.starts_with(b"{") && String::from_utf8_lossy(&b).contains("\"predicateType\"")
            })
        })
        .expect("a provenance statement in the layout");
    let mut bytes = std::fs::read(&statement).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&statement, bytes).unwrap();
    let run = check(&format!("oci:{}", dir.display()), "json");
    let s = arm64_source(&run);
    assert_eq!(
        s["instruction"], "COPY /out/app /usr/bin/app # buildkit",
        "{run}"
    );
    assert!(s.get("file").is_none(), "{run}");
    assert!(
        run.stderr.contains("ignoring the provenance attestation") && run.stderr.contains("digest"),
        "{run}"
    );
}
