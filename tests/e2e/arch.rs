//! End to end: real Debian and Go binaries on the platform they were built
//! for, and on the ones they were not (arch, variant, 32-bit compat, loader).

use crate::common;

use common::*;
use serde_json::Value;

fn busybox_image(debarch: &str, platform: &str) -> Image {
    Image::new(platform)
        .entrypoint(&["/bin/sh"])
        .layer(busybox_layer(debarch))
}

fn go_image(name: &str, platform: &str) -> Image {
    Image::new(platform)
        .entrypoint(&["/hello"])
        .layer(Layer::new().file_from("hello", go_hello(name)))
}

/// The entrypoint check of a platform report.
fn entrypoint(p: &Value) -> Value {
    checks(p)
        .into_iter()
        .find(|c| c["role"] == "entrypoint")
        .unwrap_or_else(|| panic!("no entrypoint check in {p:#}"))
}

#[test]
fn debian_busybox_passes_on_its_own_platform() {
    let mut failures = Vec::new();
    for (debarch, platform) in DEBIAN_ARCHES {
        let run = check_image(busybox_image(debarch, platform), &[]);
        let p = run.platform();
        if (run.code, p["verdict"].as_str(), p["reason"].as_str())
            != (0, Some("pass"), Some("match"))
        {
            failures.push(format!("{debarch} on {platform}:\n{run}"));
            continue;
        }
        let c = entrypoint(&p);
        assert_eq!(c["resolved"], "/bin/busybox", "{run}");
        assert_eq!(c["binary"]["format"], "elf", "{run}");
        assert_eq!(p["platform"], *platform, "{run}");
    }
    assert!(
        failures.is_empty(),
        "{} arch(es) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn debian_busybox_binary_facts() {
    // (debarch, GOARCH, bits, endian)
    let want = [
        ("amd64", "amd64", 64, "little"),
        ("arm64", "arm64", 64, "little"),
        ("armhf", "arm", 32, "little"),
        ("armel", "arm", 32, "little"),
        ("i386", "386", 32, "little"),
        ("ppc64el", "ppc64le", 64, "little"),
        ("s390x", "s390x", 64, "big"),
        ("mips64el", "mips64le", 64, "little"),
        ("mipsel", "mipsle", 32, "little"),
    ];
    for (debarch, arch, bits, endian) in want {
        let platform = DEBIAN_ARCHES.iter().find(|(d, _)| *d == debarch).unwrap().1;
        let run = check_image(busybox_image(debarch, platform), &[]);
        let b = entrypoint(&run.platform())["binary"].clone();
        assert_eq!(b["arch"], arch, "{debarch}\n{run}");
        assert_eq!(b["bits"], bits, "{debarch}\n{run}");
        assert_eq!(b["endian"], endian, "{debarch}\n{run}");
        assert!(
            b.get("interpreter").is_none() || b["interpreter"].is_null(),
            "busybox-static has no PT_INTERP\n{run}"
        );
    }
}

#[test]
fn debian_arm_variants_are_read_from_arm_attributes() {
    // armhf is built for ARMv7, armel for ARMv5TE (Tag_CPU_arch)
    let run = check_image(busybox_image("armhf", "linux/arm/v7"), &[]);
    assert_eq!(
        entrypoint(&run.platform())["binary"]["variant"],
        "v7",
        "{run}"
    );
    let run = check_image(busybox_image("armel", "linux/arm/v5"), &[]);
    assert_eq!(
        entrypoint(&run.platform())["binary"]["variant"],
        "v5",
        "{run}"
    );
}

#[test]
fn amd64_busybox_on_arm64_is_arch_mismatch() {
    let run = check_image(busybox_image("amd64", "linux/arm64"), &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    assert_eq!(p["program"], "/bin/sh", "{run}");
    assert_eq!(p["resolved"], "/bin/busybox", "{run}");
    let c = entrypoint(&p);
    assert_eq!(
        (c["verdict"].as_str(), c["reason"].as_str()),
        (Some("fail"), Some("arch-mismatch")),
        "{run}"
    );
    assert_eq!(c["binary"]["arch"], "amd64", "{run}");
    assert_eq!(run.json()["verdict"], "fail", "{run}");
}

#[test]
fn arm64_busybox_on_amd64_is_arch_mismatch() {
    check_image(busybox_image("arm64", "linux/amd64"), &[]).expect(1, "fail", "arch-mismatch");
}

#[test]
fn big_endian_on_little_endian_is_arch_mismatch() {
    // s390x busybox claimed as ppc64le; Go ppc64 (big) claimed as ppc64le:
    // same e_machine, other byte order
    check_image(busybox_image("s390x", "linux/ppc64le"), &[]).expect(1, "fail", "arch-mismatch");
    check_image(go_image("ppc64", "linux/ppc64le"), &[]).expect(1, "fail", "arch-mismatch");
    check_image(go_image("mips", "linux/mipsle"), &[]).expect(1, "fail", "arch-mismatch");
    check_image(go_image("mips64le", "linux/mipsle"), &[]).expect(1, "fail", "arch-mismatch");
}

#[test]
fn go_hello_passes_on_its_own_platform() {
    let mut failures = Vec::new();
    for (name, platform) in GO_HELLOS {
        let run = check_image(go_image(name, platform), &[]);
        let p = run.platform();
        if (run.code, p["verdict"].as_str(), p["reason"].as_str())
            != (0, Some("pass"), Some("match"))
        {
            failures.push(format!("hello-{name} on {platform}:\n{run}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} Go build(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn go_build_info_matches_go_version_m() {
    // `binary.go` is optional in the schema (the engine reads build info only
    // when the header cannot decide: ARM variants, mismatches), but whenever
    // it is there it must say what `go version -m` says; for arm it must be there.
    let mut failures = Vec::new();
    let all = GO_HELLOS.iter().chain(
        [
            ("arm-v7-stripped", "linux/arm/v7"),
            ("amd64-stripped", "linux/amd64"),
        ]
        .iter(),
    );
    for (name, platform) in all {
        let info = go_buildinfo(name);
        let get = |k: &str| info.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        let goarch = get("GOARCH").expect("GOARCH in buildinfo.txt");
        // on its own platform, and on one where it is a plain arch mismatch
        let other = if goarch == "arm64" || goarch == "arm" {
            "linux/amd64"
        } else {
            "linux/arm64"
        };
        for on in [*platform, other] {
            let run = check_image(go_image(name, on), &[]);
            let b = entrypoint(&run.platform())["binary"].clone();
            if b["arch"] != goarch.as_str() {
                failures.push(format!(
                    "hello-{name} on {on}: arch {} (go version -m: GOARCH={goarch})",
                    b["arch"]
                ));
            }
            let go = &b["go"];
            if go.is_null() {
                if goarch == "arm" || on == other {
                    failures.push(format!(
                        "hello-{name} on {on}: no binary.go (needed to decide)"
                    ));
                }
                continue;
            }
            let got = (
                go["GOARCH"].as_str().map(str::to_string),
                go["GOARM"].as_str().map(str::to_string),
            );
            if got != (Some(goarch.clone()), get("GOARM")) {
                failures.push(format!("hello-{name} on {on}: go version -m says GOARCH={goarch} GOARM={:?}, archgate {go}", get("GOARM")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn go_goarm7_on_arm_v6_is_variant_mismatch() {
    let run = check_image(go_image("arm-v7", "linux/arm/v6"), &[]);
    let p = run.expect(1, "fail", "variant-mismatch");
    assert_eq!(entrypoint(&p)["binary"]["go"]["GOARM"], "7", "{run}");
}

#[test]
fn go_goarm7_on_arm_v5_is_variant_mismatch() {
    check_image(go_image("arm-v7", "linux/arm/v5"), &[]).expect(1, "fail", "variant-mismatch");
    check_image(go_image("arm-v6", "linux/arm/v5"), &[]).expect(1, "fail", "variant-mismatch");
}

#[test]
fn go_goarm5_and_6_on_arm_v7_pass() {
    check_image(go_image("arm-v5", "linux/arm/v7"), &[]).expect(0, "pass", "match");
    check_image(go_image("arm-v6", "linux/arm/v7"), &[]).expect(0, "pass", "match");
    check_image(go_image("arm-v5", "linux/arm/v6"), &[]).expect(0, "pass", "match");
}

#[test]
fn stripped_go_still_has_build_info() {
    // -ldflags=-s -w drops symbols, not .go.buildinfo
    check_image(go_image("arm-v7-stripped", "linux/arm/v6"), &[]).expect(
        1,
        "fail",
        "variant-mismatch",
    );
    check_image(go_image("arm-v7-stripped", "linux/arm/v7"), &[]).expect(0, "pass", "match");
}

#[test]
fn go_arm_without_build_info_on_arm_v6_is_variant_unknown() {
    // Go binaries carry no .ARM.attributes: without build info nothing says
    // which GOARM they need
    let data = blank_go_buildinfo(std::fs::read(go_hello("arm-v7")).unwrap());
    let img = Image::new("linux/arm/v6")
        .entrypoint(&["/hello"])
        .layer(Layer::new().file("hello", data, 0o755));
    let run = check_image(img.clone(), &[]);
    run.expect(0, "warn", "variant-unknown");
    let run = check_image(img, &["--strict"]);
    assert_eq!(run.code, 1, "--strict fails on warnings\n{run}");
}

#[test]
fn go_arm64_on_arm_is_arch_mismatch() {
    check_image(go_image("arm64", "linux/arm/v7"), &[]).expect(1, "fail", "arch-mismatch");
}

#[test]
fn hardcoded_goarch_amd64_on_arm64_fails() {
    // the classic: GOARCH=amd64 hardcoded in a multi-platform Dockerfile
    let run = check_image(go_image("amd64", "linux/arm64"), &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    assert_eq!(entrypoint(&p)["binary"]["go"]["GOARCH"], "amd64", "{run}");
}

#[test]
fn armhf_busybox_on_arm_v6_is_variant_mismatch() {
    let run = check_image(busybox_image("armhf", "linux/arm/v6"), &[]);
    let p = run.expect(1, "fail", "variant-mismatch");
    assert_eq!(entrypoint(&p)["binary"]["variant"], "v7", "{run}");
}

#[test]
fn armel_busybox_on_arm_v6_passes() {
    check_image(busybox_image("armel", "linux/arm/v6"), &[]).expect(0, "pass", "match");
    check_image(busybox_image("armel", "linux/arm/v7"), &[]).expect(0, "pass", "match");
}

#[test]
fn bare_arm_means_arm_v7() {
    check_image(busybox_image("armhf", "linux/arm"), &[]).expect(0, "pass", "match");
    check_image(go_image("arm-v7", "linux/arm"), &[]).expect(0, "pass", "match");
}

#[test]
fn i386_on_amd64_warns_compat_32bit() {
    let run = check_image(busybox_image("i386", "linux/amd64"), &[]);
    run.expect(0, "warn", "compat-32bit");
    assert_eq!(run.json()["verdict"], "warn", "{run}");
    check_image(go_image("386", "linux/amd64"), &[]).expect(0, "warn", "compat-32bit");
}

#[test]
fn i386_on_amd64_with_strict_exits_1() {
    check_image(busybox_image("i386", "linux/amd64"), &["--strict"]).expect(
        1,
        "warn",
        "compat-32bit",
    );
}

#[test]
fn arm_on_arm64_warns_compat_32bit() {
    check_image(busybox_image("armhf", "linux/arm64"), &[]).expect(0, "warn", "compat-32bit");
    check_image(go_image("arm-v7", "linux/arm64"), &[]).expect(0, "warn", "compat-32bit");
}

#[test]
fn amd64_on_386_is_arch_mismatch() {
    // 64-bit never runs on a 32-bit platform
    check_image(busybox_image("amd64", "linux/386"), &[]).expect(1, "fail", "arch-mismatch");
    check_image(busybox_image("arm64", "linux/arm/v7"), &[]).expect(1, "fail", "arch-mismatch");
}

#[test]
fn glibc_hello_with_loader_passes() {
    let mut failures = Vec::new();
    for (debarch, platform) in DEBIAN_ARCHES {
        let img = Image::new(platform)
            .entrypoint(&["/usr/bin/hello"])
            .layer(glibc_hello_layer(debarch, true));
        let run = check_image(img, &[]);
        let p = run.platform();
        if (run.code, p["verdict"].as_str(), p["reason"].as_str())
            != (0, Some("pass"), Some("match"))
        {
            failures.push(format!("{debarch}:\n{run}"));
            continue;
        }
        let c = entrypoint(&p);
        if c["binary"]["interpreter"] != glibc_loader(debarch) {
            failures.push(format!(
                "{debarch}: interpreter should be {}:\n{run}",
                glibc_loader(debarch)
            ));
        }
        match find_check(&p, "loader", "pass") {
            Some(l) if l["path"] == glibc_loader(debarch) => {}
            _ => failures.push(format!(
                "{debarch}: no passing loader check for {}:\n{run}",
                glibc_loader(debarch)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn glibc_hello_loader_resolves_through_absolute_symlink() {
    // amd64: /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
    let img = Image::new("linux/amd64")
        .entrypoint(&["/usr/bin/hello"])
        .layer(glibc_hello_layer("amd64", true));
    let run = check_image(img, &[]);
    let p = run.expect(0, "pass", "match");
    let l = find_check(&p, "loader", "pass").unwrap_or_else(|| panic!("no loader check\n{run}"));
    assert_eq!(
        l["resolved"], "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "{run}"
    );
    assert_eq!(l["binary"]["arch"], "amd64", "{run}");
}

#[test]
fn glibc_hello_without_loader_is_loader_missing() {
    for (debarch, platform) in [
        ("amd64", "linux/amd64"),
        ("arm64", "linux/arm64"),
        ("armhf", "linux/arm/v7"),
    ] {
        let img = Image::new(platform)
            .entrypoint(&["/usr/bin/hello"])
            .layer(glibc_hello_layer(debarch, false));
        let run = check_image(img, &[]);
        let p = run.expect(1, "fail", "loader-missing");
        assert!(
            p["message"]
                .as_str()
                .unwrap_or("")
                .contains(glibc_loader(debarch)),
            "message names the loader\n{run}"
        );
    }
}

#[test]
fn glibc_hello_with_wrong_arch_loader_fails() {
    // arm64 hello, but the loader path holds amd64's loader
    let amd = deb_root("amd64");
    let img = Image::new("linux/arm64")
        .entrypoint(&["/usr/bin/hello"])
        .layer(glibc_hello_layer("arm64", false).file_from(
            "lib/ld-linux-aarch64.so.1",
            amd.join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        ));
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "arch-mismatch");
    assert!(
        find_check(&p, "loader", "fail").is_some(),
        "the loader check fails\n{run}"
    );
}

#[test]
fn windows_pe_in_a_linux_image_is_os_mismatch() {
    let img = Image::new("linux/amd64")
        .entrypoint(&["/hello"])
        .layer(Layer::new().file_from("hello", go_hello("windows-amd64.exe")));
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "os-mismatch");
    assert_eq!(entrypoint(&p)["binary"]["format"], "pe", "{run}");
}

#[test]
fn macho_in_a_linux_image_is_os_mismatch() {
    let img = Image::new("linux/arm64")
        .entrypoint(&["/hello"])
        .layer(Layer::new().file_from("hello", go_hello("darwin-arm64")));
    let run = check_image(img, &[]);
    let p = run.expect(1, "fail", "os-mismatch");
    assert_eq!(entrypoint(&p)["binary"]["format"], "macho", "{run}");
}
