//! `--sarif FILE` on `check`, `lint` and `build`: the SARIF report in a
//! file beside whatever `--format` prints, from one run (the GitHub Action
//! prints annotations and uploads SARIF from a single build).
//!
//! The one idea: the file holds what `--format sarif` prints for the same
//! input, it is written on a failed gate too, and a FILE that could not be
//! written is refused before anything is read or built.

use crate::common;

use common::buildenv::*;
use common::*;
use serde_json::Value;
use std::path::Path;

fn busybox_image(debarch: &str, platform: &str) -> Image {
    Image::new(platform)
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer(debarch))
}

fn sarif_of(path: &Path, run: &impl std::fmt::Display) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}\n{run}", path.display()));
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", path.display()));
    assert_eq!(v["version"], "2.1.0", "{text}");
    v
}

#[test]
fn check_writes_annotations_and_the_sarif_of_one_run() {
    let t = tmp();
    let bad = oci_single(t.path(), "bad", busybox_image("arm64", "linux/amd64"));
    let good = oci_single(t.path(), "good", busybox_image("amd64", "linux/amd64"));
    let file = t.path().join("check.sarif");
    // Over an old file: replaced.
    std::fs::write(&file, "old").unwrap();
    let run = archgate(&[
        "check",
        "--format",
        "github",
        "--sarif",
        file.to_str().unwrap(),
        bad.as_str(),
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.starts_with("::error "),
        "annotations on stdout\n{run}"
    );
    let got = sarif_of(&file, &run);
    assert_eq!(common::sarif_rule_ids(&got), ["arch-mismatch"], "{got:#}");
    let want = archgate(&["check", "--format", "sarif", bad.as_str()]);
    assert_eq!(want.code, 1, "{want}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), want.stdout);

    // A pass writes the file too (no results), whatever the format.
    let run = archgate(&[
        "check",
        "--format",
        "json",
        "--sarif",
        file.to_str().unwrap(),
        good.as_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        common::sarif_rule_ids(&sarif_of(&file, &run)).is_empty(),
        "{run}"
    );
    assert_eq!(run.json()["verdict"], "pass", "{run}");
}

#[test]
fn lint_writes_the_sarif_it_would_print() {
    let t = tmp();
    let df = t.path().join("Dockerfile");
    std::fs::write(
        &df,
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN GOARCH=amd64 go build -o /app .\nFROM alpine\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n",
    )
    .unwrap();
    let file = t.path().join("lint.sarif");
    let df = df.to_str().unwrap();
    let platforms = "linux/amd64,linux/arm64";
    let run = archgate(&[
        "lint",
        "--platform",
        platforms,
        "--sarif",
        file.to_str().unwrap(),
        df,
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("FixedGoArch"),
        "the human report on stdout\n{run}"
    );
    let want = archgate(&["lint", "--platform", platforms, "--format", "sarif", df]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        want.stdout,
        "{run}"
    );
    assert!(common::sarif_rule_ids(&sarif_of(&file, &run)).contains(&"FixedGoArch".to_string()));
}

#[test]
fn a_file_that_cannot_be_written_is_refused_before_anything_runs() {
    let t = tmp();
    let img = oci_single(t.path(), "img", busybox_image("amd64", "linux/amd64"));
    let missing = t.path().join("missing/r.sarif");
    let missing = missing.to_str().unwrap();
    let folder = t.path().to_str().unwrap();
    for bad in [missing, folder, "/dev/full"] {
        archgate(&["check", "--sarif", bad, img.as_str()])
            .expect_undecided(&["invalid --sarif", bad]);
        archgate(&["lint", "--sarif", bad, "-"]).expect_undecided(&["invalid --sarif", bad]);
        // Refused before the builder is dialled: the address leads nowhere.
        let run = archgate(&[
            "build",
            "--addr",
            "unix:///nonexistent/buildkitd.sock",
            "--sarif",
            bad,
            folder,
        ]);
        run.expect_undecided(&["invalid --sarif", bad]);
    }
    assert!(!t.path().join("missing").exists());
    // `--call` answers are no report: no SARIF to write.
    let run = archgate(&["build", "--call", "outline", "--sarif", "x.sarif", folder]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("cannot be used with"), "{run}");
}

/// The report is never written over what the command reads or writes
/// otherwise: the Dockerfile linted or built, an archive checked, the
/// --metadata-file or --iidfile (however the same file is spelt).
#[test]
fn the_report_never_overwrites_an_input_or_another_output() {
    let t = tmp();
    let dir = t.path();
    let dockerfile = dir.join("Dockerfile");
    let text = "FROM golang AS b\nRUN GOARCH=amd64 go build -o /app .\n";
    std::fs::write(&dockerfile, text).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let d = dockerfile.to_str().unwrap();
    let other_spelling = dir.join("sub/../Dockerfile");
    let o = other_spelling.to_str().unwrap();
    let folder = dir.to_str().unwrap();
    archgate(&["lint", "--sarif", o, d])
        .expect_undecided(&["invalid --sarif", "Dockerfile linted"]);
    // A folder's Dockerfile, known only once linted: still refused.
    archgate(&["lint", "--sarif", d, folder])
        .expect_undecided(&["invalid --sarif", "Dockerfile linted"]);
    let addr = "unix:///nonexistent/buildkitd.sock";
    archgate(&["build", "--addr", addr, "--sarif", d, folder])
        .expect_undecided(&["invalid --sarif", "the Dockerfile"]);
    let meta = dir.join("m.json");
    let meta2 = dir.join("sub/../m.json");
    archgate(&[
        "build",
        "--addr",
        addr,
        "--metadata-file",
        meta.to_str().unwrap(),
        "--sarif",
        meta2.to_str().unwrap(),
        folder,
    ])
    .expect_undecided(&["invalid --sarif", "--metadata-file"]);
    let img = oci_single(dir, "img", busybox_image("amd64", "linux/amd64"));
    let layout = img
        .strip_prefix("oci:")
        .unwrap_or(&img)
        .split(':')
        .next()
        .unwrap()
        .to_string();
    archgate(&["check", "--sarif", &layout, img.as_str()]).expect_undecided(&["invalid --sarif"]);
    assert_eq!(std::fs::read_to_string(&dockerfile).unwrap(), text);
    assert!(!meta.exists());
}

#[test]
fn a_failed_build_gate_writes_its_sarif() {
    let kind = BuilderKind::BuildkitdUnix;
    let out = tmp();
    let file = out.path().join("build.sarif");
    let bad = app_context("arm64");
    let run = kind
        .build()
        .args(&["--sarif", file.to_str().unwrap()])
        .platform("linux/amd64")
        .run(&bad.arg());
    run.expect_code(1);
    let sarif = sarif_of(&file, &run);
    assert_eq!(
        common::sarif_rule_ids(&sarif),
        ["arch-mismatch"],
        "{sarif:#}\n{run}"
    );
    // The same report as the JSON on stdout: one platform, failed.
    assert_eq!(run.json()["verdict"], "fail", "{run}");
    let r = &sarif["runs"][0]["results"][0];
    assert_eq!(r["properties"]["platform"], "linux/amd64", "{r:#}");
    assert_eq!(r["level"], "error", "{r:#}");
    // The instruction that wrote the program: a file location, which code
    // scanning needs.
    let loc = &r["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("Dockerfile")),
        "{r:#}"
    );
    assert_eq!(loc["region"]["startLine"], 2, "{r:#}");
}
