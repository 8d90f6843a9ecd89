//! Fuzz `archgate lint` on one arbitrary Dockerfile: the parse, the model,
//! every rule, the explanation of a failing path, and every output format.
//! None of it may panic or hang.
//!
//! Input: `[0]` picks the platforms and whether a `--target` is given
//! (the stage named `build`), the rest is the file (UTF-8, lossily).
#![no_main]

use archgate::inspect::Platform;
use archgate::lint::{explain, lint_text, output, Options};
use archgate::report::Format;
use libfuzzer_sys::fuzz_target;

const PLATFORMS: &[&str] = &["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let platforms: Vec<Platform> = PLATFORMS
        .iter()
        .enumerate()
        .filter(|(i, _)| pick & (1 << i) != 0)
        .map(|(_, p)| Platform::parse(p).unwrap())
        .collect();
    let target = (pick & 0x80 != 0).then(|| "build".to_string());
    let opts = Options {
        platforms: platforms.clone(),
        target: target.clone(),
    };
    let result = lint_text(&text, &opts);
    let report = output::LintReport::new(vec![output::FileReport::new(
        "Dockerfile".into(),
        &text,
        result,
    )]);
    for f in [Format::Human, Format::Json, Format::Sarif, Format::Github] {
        let _ = output::render(&report, f);
    }
    let _ = report.exit(pick & 0x40 != 0);
    let p = platforms
        .first()
        .cloned()
        .unwrap_or_else(|| Platform::parse("linux/arm64").unwrap());
    let _ = explain::explain("Dockerfile", &text, &p, target.as_deref(), "/app");
});
