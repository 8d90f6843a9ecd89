use super::super::{lint_text, Finding, Options, Severity};
use crate::inspect::Platform;

fn lint(text: &str) -> Vec<Finding> {
    lint_text(text, &Options::default()).unwrap()
}

fn lint_for(text: &str, platforms: &str) -> Vec<Finding> {
    let o = Options {
        platforms: platforms
            .split(',')
            .map(|p| Platform::parse(p).unwrap())
            .collect(),
        target: None,
    };
    lint_text(text, &o).unwrap()
}

fn ids(f: &[Finding]) -> Vec<(&str, u32)> {
    f.iter().map(|f| (f.rule, f.line)).collect()
}

// ------------------------------------------------------------ FixedGoArch

#[test]
fn inline_goarch_in_a_build_that_reaches_the_image() {
    let text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS build
WORKDIR /src
RUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \\
    go build -o /app .
FROM scratch
COPY --from=build /app /app
ENTRYPOINT [\"/app\"]
";
    let f = lint(text);
    assert_eq!(ids(&f), [("FixedGoArch", 3)]);
    assert_eq!(f[0].end_line, 4);
    assert_eq!(
        f[0].severity,
        Severity::Error,
        "the file uses $BUILDPLATFORM"
    );
    assert!(
        f[0].message.contains("GOARCH=$TARGETARCH"),
        "{}",
        f[0].message
    );
    // Built for amd64 only: a warning.
    let f = lint_for(text, "linux/amd64");
    assert_eq!(f[0].severity, Severity::Warning);
    let f = lint_for(text, "linux/amd64,linux/arm64");
    assert_eq!(f[0].severity, Severity::Error);
}

#[test]
fn env_and_arg_defaults_fix_later_go_builds() {
    let env = "FROM golang:1.22 AS build
ENV GOOS=linux GOARCH=amd64
RUN go build -o /app .
FROM scratch
COPY --from=build /app /app
";
    assert_eq!(ids(&lint(env)), [("FixedGoArch", 2)]);
    let arg = "FROM golang:1.22 AS build
ARG GOARCH=arm64
RUN go build -o /app .
FROM scratch
COPY --from=build /app /app
";
    let f = lint_for(arg, "linux/amd64,linux/arm64");
    assert_eq!(ids(&f), [("FixedGoArch", 2)]);
    assert_eq!(f[0].severity, Severity::Error);
    // Inherited ENV: the build happens in a child stage.
    let child = "FROM golang:1.22 AS base
ENV GOARCH=amd64
FROM base AS build
RUN go build -o /app .
FROM scratch
COPY --from=build /app /app
";
    assert_eq!(ids(&lint(child)), [("FixedGoArch", 2)]);
}

#[test]
fn correct_go_builds_are_clean() {
    for text in [
        // The target arch from BuildKit.
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETOS TARGETARCH
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /app .
FROM scratch
COPY --from=build /app /app
",
        // A case on the target arch setting constants per branch.
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETARCH
RUN case \"$TARGETARCH\" in \\
      amd64) GOARCH=amd64 ;; \\
      arm64) GOARCH=arm64 ;; \\
    esac; GOARCH=$GOARCH go build -o /app .
FROM scratch
COPY --from=build /app /app
",
        // A fixed GOARCH in a stage whose output is never used.
        "FROM golang:1.22 AS tools
RUN GOARCH=amd64 go build -o /lint ./cmd/lint
FROM golang:1.22 AS build
RUN CGO_ENABLED=0 go build -o /app .
FROM scratch
COPY --from=build /app /app
",
        // GOOS=linux changes nothing.
        "FROM golang:1.22-alpine AS build
RUN GOOS=linux go build -o /app .
FROM scratch
COPY --from=build /app /app
",
        // uname -m picks the arch.
        "FROM golang:1.22-alpine AS build
RUN export GOARCH=$(uname -m | sed s/x86_64/amd64/) && go build -o /app .
FROM scratch
COPY --from=build /app /app
",
        // ENV set, but the build sets its own.
        "FROM golang:1.22 AS build
ARG TARGETARCH
ENV GOARCH=amd64
RUN GOARCH=$TARGETARCH go build -o /app .
FROM scratch
COPY --from=build /app /app
",
    ] {
        assert_eq!(ids(&lint(text)), [], "{text}");
    }
}

#[test]
fn a_target_that_skips_the_stage_is_clean() {
    let text = "FROM golang:1.22 AS build
RUN GOARCH=amd64 go build -o /app .
FROM scratch AS release
COPY --from=build /app /app
FROM alpine AS dev
RUN echo dev
";
    let o = Options {
        target: Some("dev".into()),
        ..Options::default()
    };
    assert!(lint_text(text, &o).unwrap().is_empty());
    let o = Options {
        target: Some("release".into()),
        ..Options::default()
    };
    assert_eq!(ids(&lint_text(text, &o).unwrap()), [("FixedGoArch", 2)]);
}

#[test]
fn wasm_and_other_os_go_builds_are_data_not_a_fixed_arch() {
    // Red team fp19: a wasm module served by nginx.
    let wasm = "FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS wasm
WORKDIR /src
COPY . .
RUN GOOS=js GOARCH=wasm go build -o /out/main.wasm ./cmd/web && \\
    cp \"$(go env GOROOT)/misc/wasm/wasm_exec.js\" /out/
FROM nginx:alpine
COPY --from=wasm /out/ /usr/share/nginx/html/
";
    assert_eq!(ids(&lint_for(wasm, "linux/amd64,linux/arm64")), []);
    // fp23: the same through ENV.
    let env = "FROM golang:latest AS builder
WORKDIR /app
ENV CGO_ENABLED=0
ENV GOOS=js
ENV GOARCH=wasm
RUN go build -o ./qpwasm.wasm .
FROM nginx:alpine
COPY --from=builder /app/qpwasm.wasm /usr/share/nginx/html
";
    assert_eq!(ids(&lint_for(env, "linux/amd64,linux/arm64")), []);
    // fp20: Windows and macOS clients offered for download beside a
    // correctly cross-compiled server.
    let clients = "FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS clients
WORKDIR /src
RUN CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -o /dist/agent-windows-amd64.exe ./cmd/agent
RUN CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 go build -o /dist/agent-darwin-arm64 ./cmd/agent
FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS server
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/server ./cmd/server
FROM alpine:3.20
COPY --from=server /out/server /usr/bin/server
COPY --from=clients /dist/ /srv/downloads/
";
    assert_eq!(ids(&lint_for(clients, "linux/amd64,linux/arm64")), []);
    // A Linux program with a fixed arch is still the bug, also when an
    // inline GOOS=linux overrides a stage's ENV GOOS=windows.
    let linux = "FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ENV GOOS=windows
RUN GOOS=linux GOARCH=amd64 go build -o /app .
FROM scratch
COPY --from=build /app /app
";
    assert_eq!(
        ids(&lint_for(linux, "linux/amd64,linux/arm64")),
        [("FixedGoArch", 3)]
    );
}

// ----------------------------------------------------- PlatformArgDefault

#[test]
fn a_default_on_an_automatic_platform_arg() {
    let text = "FROM alpine
ARG TARGETARCH=amd64
RUN wget https://example.invalid/tool-linux-${TARGETARCH}.tar.gz
";
    let f = lint(text);
    assert_eq!(ids(&f), [("PlatformArgDefault", 2)]);
    assert!(
        f[0].message.contains("`ARG TARGETARCH`"),
        "{}",
        f[0].message
    );
    // A global default the stage re-declares: the global line is named.
    let global = "ARG TARGETPLATFORM=linux/amd64
FROM alpine
ARG TARGETPLATFORM
RUN echo building for $TARGETPLATFORM > /p
";
    assert_eq!(ids(&lint(global)), [("PlatformArgDefault", 1)]);
    // Built for that platform only: a warning.
    let f = lint_for(text, "linux/amd64");
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn platform_args_without_defaults_or_unused_are_clean() {
    for text in [
        "FROM alpine\nARG TARGETARCH\nRUN echo $TARGETARCH\n",
        "FROM alpine\nARG TARGETOS=linux\nRUN echo $TARGETOS\n",
        "FROM alpine\nARG TARGETARCH=amd64\nRUN echo hello\n",
        "FROM alpine AS unused\nARG TARGETARCH=amd64\nRUN echo $TARGETARCH\nFROM scratch\n",
    ] {
        assert_eq!(ids(&lint(text)), [], "{text}");
    }
}

#[test]
fn redeclared_platform_arg_defaulting_to_itself_keeps_the_automatic_value() {
    // Red team fp13: the first ARG gives TARGETARCH the platform's value;
    // the second's default expands it (amd64 only when it is empty).
    let text = "FROM alpine
ARG TARGETARCH
ARG TARGETARCH=${TARGETARCH:-amd64}
RUN wget -O /usr/bin/tool https://example.com/tool_linux_${TARGETARCH} && chmod +x /usr/bin/tool
";
    assert_eq!(ids(&lint_for(text, "linux/amd64,linux/arm64")), []);
    // Without the earlier declaration the reference is empty: amd64 for all.
    let alone = "FROM alpine
ARG TARGETARCH=${TARGETARCH:-amd64}
RUN wget -O /usr/bin/tool https://example.com/tool_linux_${TARGETARCH}
";
    assert_eq!(
        ids(&lint_for(alone, "linux/amd64,linux/arm64")),
        [("PlatformArgDefault", 2)]
    );
}

/// Review finding: each ARG's default scanned the stage again for an
/// earlier declaration (quadratic: 40,000 ARGs took 42 s in a debug
/// build). fp13's pair after 40,000 ARGs defaulting to themselves.
#[test]
fn forty_thousand_args_are_declared_once_each() {
    let many: String = (0..40_000)
        .map(|i| format!("ARG A{i}=${{A{i}:-x}}\n"))
        .collect();
    let fetch = "RUN wget -O /usr/bin/tool https://example.com/tool_linux_${TARGETARCH}\n";
    let declared = format!(
        "FROM alpine\n{many}ARG TARGETARCH\nARG TARGETARCH=${{TARGETARCH:-amd64}}\n{fetch}"
    );
    assert_eq!(ids(&lint_for(&declared, "linux/amd64,linux/arm64")), []);
    let alone = format!("FROM alpine\n{many}ARG TARGETARCH=${{TARGETARCH:-amd64}}\n{fetch}");
    assert_eq!(
        ids(&lint_for(&alone, "linux/amd64,linux/arm64")),
        [("PlatformArgDefault", 40_002)]
    );
}

// -------------------------------------------------- UndeclaredPlatformArg

#[test]
fn an_undeclared_target_arg_in_a_cross_stage() {
    let text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETOS
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /app .
FROM scratch
COPY --from=build /app /app
";
    let f = lint(text);
    assert_eq!(ids(&f), [("UndeclaredPlatformArg", 3)]);
    assert!(
        f[0].message.contains("$TARGETARCH is empty"),
        "{}",
        f[0].message
    );
    assert!(f[0].message.contains("ARG TARGETARCH"), "{}", f[0].message);
}

#[test]
fn declared_args_target_stages_and_env_are_clean() {
    for text in [
        // Declared.
        "FROM --platform=$BUILDPLATFORM golang AS b\nARG TARGETARCH\nRUN GOARCH=$TARGETARCH go build -o /app\nFROM scratch\nCOPY --from=b /app /app\n",
        // On the target platform an empty GOARCH is the native one (cgo
        // off: a GOARCH= no longer hides a glibc program, red team fn08).
        "FROM golang AS b\nRUN CGO_ENABLED=0 GOARCH=$TARGETARCH go build -o /app\nFROM scratch\nCOPY --from=b /app /app\n",
        // Set by ENV in the stage it builds on.
        "FROM --platform=$BUILDPLATFORM golang AS base\nARG TARGETARCH\nENV TARGETARCH=$TARGETARCH\nFROM base AS b\nRUN GOARCH=$TARGETARCH go build -o /app\nFROM scratch\nCOPY --from=b /app /app\n",
        // Only in the FROM line, where the automatic args need no ARG.
        "FROM --platform=$BUILDPLATFORM golang AS b\nFROM --platform=$TARGETPLATFORM alpine\nCOPY --from=b /x /x\n",
    ] {
        assert_eq!(ids(&lint(text)), [], "{text}");
    }
}

// ------------------------------------- ConstantFromPlatform and final stage

#[test]
fn the_final_stage_on_a_fixed_or_the_build_platform() {
    let fixed = "FROM --platform=linux/amd64 debian:12\nCOPY app /app\n";
    let f = lint_for(fixed, "linux/amd64,linux/arm64");
    assert_eq!(ids(&f), [("ConstantFromPlatform", 1)]);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(
        lint_for(fixed, "linux/amd64")[0].severity,
        Severity::Warning
    );
    // Through a stage chain: the FROM that decides is named.
    let chain =
        "FROM --platform=linux/amd64 debian:12 AS base\nRUN true\nFROM base\nCOPY app /app\n";
    assert_eq!(ids(&lint(chain)), [("ConstantFromPlatform", 1)]);
    let build = "FROM --platform=$BUILDPLATFORM golang AS b\nARG TARGETARCH\nRUN GOARCH=$TARGETARCH go build -o /app\nFROM --platform=$BUILDPLATFORM alpine\nCOPY --from=b /app /app\n";
    let f = lint(build);
    assert_eq!(ids(&f), [("FinalStageOnBuildPlatform", 4)]);
    assert_eq!(f[0].severity, Severity::Error);
    // A build stage on a fixed platform is not the image.
    let tool = "FROM --platform=linux/amd64 node:20 AS web\nRUN npm run build\nFROM nginx\nCOPY --from=web /dist /usr/share/nginx/html\n";
    assert_eq!(ids(&lint(tool)), []);
}

// --------------------------------------------- what stages fetch or compile

#[test]
fn downloads_of_one_architecture() {
    let final_stage = "FROM debian:12
ARG V=1.0
RUN curl -fsSL https://example.invalid/tool/v${V}/tool_${V}_linux_amd64.tar.gz | tar -xz -C /usr/local/bin
ENTRYPOINT [\"tool\"]
";
    let f = lint_for(final_stage, "linux/amd64,linux/arm64");
    assert_eq!(ids(&f), [("ArchSpecificDownload", 3)]);
    assert!(f[0].message.contains("amd64 build"), "{}", f[0].message);
    // tini-static is amd64 unsuffixed; in a build stage, it counts when
    // copied out.
    let tini = "FROM rust:1 AS build
ADD https://github.com/krallin/tini/releases/download/v0.19.0/tini-static /tini
FROM scratch
COPY --from=build /tini /tini
";
    assert_eq!(ids(&lint(tini)), [("ArchSpecificDownload", 2)]);
    for clean in [
        // From TARGETARCH.
        "FROM debian:12\nARG TARGETARCH\nRUN curl -fsSLO https://example.invalid/tool_linux_${TARGETARCH}.tar.gz\n",
        // uname -m decides.
        "FROM debian:12\nRUN curl -fsSLO https://example.invalid/tool-$(uname -m).tar.gz || curl https://example.invalid/tool-x86_64.tgz\n",
        // A tool for the builder, on the builder.
        "FROM --platform=$BUILDPLATFORM debian:12 AS gen\nRUN curl -fsSLO https://example.invalid/protoc-linux-x86_64.zip\nFROM scratch\nCOPY --from=gen /out /out\n",
        // Fetched in a build stage, never copied out.
        "FROM debian:12 AS t\nRUN wget https://example.invalid/tool_amd64.deb\nFROM scratch\nCOPY --from=t /etc/os-release /x\n",
        // Not a URL.
        "FROM debian:12\nRUN echo amd64 > /arch\n",
    ] {
        assert_eq!(ids(&lint(clean)), [], "{clean}");
    }
}

#[test]
fn compiler_targets_fixed_to_one_architecture() {
    let cargo = "FROM rust:1 AS build
RUN rustup target add x86_64-unknown-linux-musl
RUN cargo build --release --target x86_64-unknown-linux-musl
FROM scratch
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/app /app
";
    let f = lint_for(cargo, "linux/amd64,linux/arm64");
    assert_eq!(ids(&f), [("FixedCrossToolchain", 3)]);
    assert_eq!(f[0].severity, Severity::Error);
    let env = "FROM rust:1 AS build\nENV CARGO_BUILD_TARGET=aarch64-unknown-linux-musl\nRUN cargo build --release\nFROM scratch\nCOPY --from=build /a /a\n";
    assert_eq!(ids(&lint(env)), [("FixedCrossToolchain", 2)]);
    let chosen = "FROM --platform=$BUILDPLATFORM rust:1 AS build
ARG TARGETARCH
RUN case $TARGETARCH in amd64) T=x86_64-unknown-linux-musl ;; arm64) T=aarch64-unknown-linux-musl ;; esac; \\
    cargo build --release --target $T
FROM scratch
COPY --from=build /a /a
";
    assert_eq!(ids(&lint(chosen)), []);
}

#[test]
fn a_cross_stage_never_told_the_target() {
    let text = "FROM --platform=$BUILDPLATFORM golang:1.21-alpine AS build
WORKDIR /app
COPY . .
RUN go build -o proxy
FROM gcr.io/distroless/static
COPY --from=build /app/proxy /
";
    assert_eq!(ids(&lint(text)), [("CrossBuildWithoutTarget", 4)]);
    // Told through xx, or through ARG TARGETARCH in the stage.
    for clean in [
        "FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETARCH\nRUN GOARCH=$TARGETARCH go build -o /a\nFROM scratch\nCOPY --from=build /a /a\n",
        "FROM --platform=$BUILDPLATFORM golang AS build\nRUN xx-go build -o /a\nFROM scratch\nCOPY --from=build /a /a\n",
        // A generator run on the builder, nothing copied.
        "FROM --platform=$BUILDPLATFORM golang AS gen\nRUN go install example.invalid/gen@latest\nFROM golang AS build\nRUN CGO_ENABLED=0 go build -o /a\nFROM scratch\nCOPY --from=build /a /a\n",
    ] {
        assert_eq!(ids(&lint(clean)), [], "{clean}");
    }
}

#[test]
fn a_glibc_go_program_in_an_image_without_glibc() {
    let text = "FROM golang:1.20-buster AS build
WORKDIR /src
COPY . .
RUN go build -o /app
FROM gcr.io/distroless/static:nonroot
COPY --from=build /app /app
";
    let f = lint(text);
    assert_eq!(ids(&f), [("DynamicBinaryInStaticBase", 4)]);
    assert!(f[0].message.contains("CGO_ENABLED=0"), "{}", f[0].message);
    for clean in [
        "FROM golang:1.20-buster AS build\nENV CGO_ENABLED=0\nRUN go build -o /app\nFROM scratch\nCOPY --from=build /app /app\n",
        "FROM golang:1.20-alpine AS build\nRUN go build -o /app\nFROM alpine\nCOPY --from=build /app /app\n",
        "FROM golang:1.20 AS build\nRUN go build -o /app\nFROM gcr.io/distroless/base\nCOPY --from=build /app /app\n",
        "FROM golang:1.20 AS build\nRUN go build -tags netgo,osusergo -o /app\nFROM scratch\nCOPY --from=build /app /app\n",
    ] {
        assert_eq!(ids(&lint(clean)), [], "{clean}");
    }
}

/// Held-out set findings: a tool installed on the builder, `cargo
/// build-deps`, and a target only printed to the build log are not builds
/// told the target.
#[test]
fn tools_and_messages_are_not_the_program_or_its_target() {
    let text = "FROM --platform=$BUILDPLATFORM rust:latest as builder
RUN echo \"Running on: $BUILDPLATFORM / Building for $TARGETPLATFORM\"
RUN cargo install cargo-build-deps
RUN cargo build-deps --release
RUN cargo build --release --verbose
FROM debian:buster-slim
COPY --from=builder /app/target/release/app /app
";
    assert_eq!(ids(&lint(text)), [("CrossBuildWithoutTarget", 5)]);
    let go = "FROM --platform=$BUILDPLATFORM golang AS b\nRUN go install example.invalid/tool@v1.2.3\nRUN go install ./cmd/app\nFROM alpine\nCOPY --from=b /go/bin/app /app\n";
    assert_eq!(ids(&lint(go)), [("CrossBuildWithoutTarget", 3)]);
}

#[test]
fn a_copy_of_one_architecture_s_prebuilt_binary() {
    let text = "FROM scratch\nARG TARGETARCH\nCOPY app-amd64 /app\nENTRYPOINT [\"/app\"]\n";
    let f = lint_for(text, "linux/amd64,linux/arm64");
    assert_eq!(ids(&f), [("ArchSuffixedCopy", 3)]);
    assert!(f[0].message.contains("${TARGETARCH}"), "{}", f[0].message);
    let dir = "FROM alpine\nCOPY bin/linux_x86_64/tool /usr/bin/tool\n";
    assert_eq!(ids(&lint(dir)), [("ArchSuffixedCopy", 2)]);
    for clean in [
        "FROM scratch\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\n",
        // A build stage's copy is not the image's.
        "FROM alpine AS t\nCOPY tool-amd64 /t\nFROM scratch\nCOPY --from=t /etc/os-release /x\n",
        // The triple folder of a cargo build: FixedCrossToolchain's business.
        "FROM rust AS b\nRUN cargo build --release\nFROM scratch\nCOPY --from=b /src/target/x86_64-unknown-linux-musl/release/app /app\n",
        "FROM scratch\nCOPY index.html /srv/\n",
    ] {
        assert_eq!(ids(&lint(clean)), [], "{clean}");
    }
    // x86_64 in an asset name, whole.
    let dl = "FROM debian\nRUN curl -fsSLO https://example.invalid/tool-x86_64.tar.gz\n";
    assert_eq!(ids(&lint(dl)), [("ArchSpecificDownload", 2)]);
}

/// Fresh-eyes review findings, each a real pattern.
#[test]
fn review_findings_stay_fixed() {
    // ARGs are inherited by a stage built FROM another (checked on Docker
    // 26 and 28): the docs' own pattern is clean...
    let inherit = "FROM --platform=$BUILDPLATFORM golang:1.22 AS base
ARG TARGETOS TARGETARCH
RUN go mod download
FROM base AS build
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .
FROM gcr.io/distroless/static
COPY --from=build /out/app /app
";
    assert_eq!(ids(&lint_for(inherit, "linux/amd64,linux/arm64")), []);
    // ...and a fixed GOARCH in the parent reaches the child's build.
    let inherit2 = "FROM golang:1.22-alpine AS base\nARG GOARCH=amd64\nFROM base AS b\nRUN go build -o /app .\nFROM scratch\nCOPY --from=b /app /app\n";
    assert_eq!(ids(&lint(inherit2)), [("FixedGoArch", 2)]);
    // A choice by $(arch) or go env GOARCH, and a script naming two
    // architectures, derive the arch.
    for clean in [
        "FROM golang:1.22-alpine AS b\nRUN case \"$(arch)\" in x86_64) GOARCH=amd64;; aarch64) GOARCH=arm64;; esac; CGO_ENABLED=0 GOARCH=$GOARCH go build -o /app .\nFROM scratch\nCOPY --from=b /app /app\n",
        "FROM debian\nRUN case \"$(go env GOARCH)\" in amd64) U=https://x.invalid/t-x86_64.tgz;; arm64) U=https://x.invalid/t-aarch64.tgz;; esac; curl -o t.tgz $U\n",
        "FROM debian\nRUN if [ \"$A\" = x ]; then curl -O https://x.invalid/t-amd64.tgz; else curl -O https://x.invalid/t-arm64.tgz; fi\n",
    ] {
        assert_eq!(ids(&lint(clean)), [], "{clean}");
    }
    // A generator built on the builder, only its output copied out.
    let gen = "FROM --platform=$BUILDPLATFORM golang:1.22 AS gen
RUN go build -o /usr/local/bin/gen ./tools/gen && gen -out /out/schema.json
FROM alpine
COPY --from=gen /out/schema.json /srv/schema.json
";
    assert_eq!(ids(&lint(gen)), []);
    // A BOM does not shift the lines.
    let bom = "\u{feff}FROM alpine\nRUN wget https://x.invalid/foo-amd64\n";
    let f = lint(bom);
    assert_eq!(ids(&f), [("ArchSpecificDownload", 2)]);
    assert_eq!(f[0].end_line, 2);
    // A variable in another's default, in FROM: no panic.
    assert!(lint_text(
        "ARG A\nFROM ${A:-${B:-alpine}}\nRUN x\n",
        &Options::default()
    )
    .is_ok());
    // The URL alone in the message.
    let url = "FROM debian\nRUN wget --quiet url=https://x.invalid/t-amd64.tgz\n";
    assert!(
        lint(url)[0]
            .message
            .starts_with("https://x.invalid/t-amd64.tgz is"),
        "{:?}",
        lint(url)
    );
}

/// Fuzzer finding: a non-ASCII character just before a URL's scheme was
/// sliced through.
#[test]
fn a_url_after_a_multibyte_character() {
    let text =
        "FROM debian\nRUN wget \u{e9}https://x.invalid/t-amd64.tgz \u{2192}http://y.invalid/u\n";
    let f = lint(text);
    assert_eq!(ids(&f), [("ArchSpecificDownload", 2)]);
    assert!(
        f[0].message.starts_with("https://x.invalid/t-amd64.tgz"),
        "{}",
        f[0].message
    );
}

/// Holdout2 004 (minekube/gate): a final stage on $BUILDPLATFORM whose base
/// has no programs (distroless static), into which only a correctly
/// cross-compiled program is copied, ships nothing of the builder's
/// architecture that runs: a warning, not an error.
#[test]
fn a_final_stage_on_the_build_platform_with_no_programs_is_a_warning() {
    let text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS b
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /app .
FROM --platform=$BUILDPLATFORM gcr.io/distroless/static-debian12
COPY --from=b /app /app
";
    let f = lint_for(text, "linux/amd64,linux/arm64");
    assert_eq!(ids(&f), [("FinalStageOnBuildPlatform", 4)]);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].message.contains("no programs") && f[0].message.contains("config"),
        "{}",
        f[0].message
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning), "exit 0");
    for base in [
        "scratch",
        "gcr.io/distroless/static",
        "gcr.io/distroless/static:nonroot",
        "gcr.io/distroless/static-debian11:latest",
        "gcr.io/distroless/static-debian12@sha256:0123456789abcdef",
        "cgr.dev/chainguard/static:latest",
    ] {
        let t = text.replace("gcr.io/distroless/static-debian12", base);
        let f = lint_for(&t, "linux/amd64,linux/arm64");
        assert_eq!(ids(&f), [("FinalStageOnBuildPlatform", 4)], "{base}");
        assert_eq!(f[0].severity, Severity::Warning, "{base}");
    }
    // Bases with programs (a shell, a glibc loader and libraries), a RUN in
    // the image or files from another image: still errors.
    for base in [
        "alpine:3.20",
        "debian:bookworm-slim",
        "busybox",
        "gcr.io/distroless/base-debian12",
        "gcr.io/distroless/cc",
        "gcr.io/distroless/java17-debian12",
        "gcr.io/distroless/python3",
        "gcr.io/distroless/static:debug",
    ] {
        let t = text.replace("gcr.io/distroless/static-debian12", base);
        let f = lint_for(&t, "linux/amd64,linux/arm64");
        assert_eq!(ids(&f), [("FinalStageOnBuildPlatform", 4)], "{base}");
        assert_eq!(f[0].severity, Severity::Error, "{base}");
    }
    let from_image = format!("{text}COPY --from=busybox:musl /bin/busybox /bin/sh\n");
    assert_eq!(
        lint_for(&from_image, "linux/amd64,linux/arm64")[0].severity,
        Severity::Error
    );
}

/// Holdout2 006 (TeslaBleHttpProxy PR #70): a Go cross build passing GOARCH
/// but not the ARM variant, built for linux/arm/v6: Go 1.21+ defaults to
/// GOARM=7 when its toolchain was built off ARM, so the v6 image gets ARMv7
/// code.
#[test]
fn a_go_cross_build_for_armv6_never_told_goarm() {
    let text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS b
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /app .
FROM scratch
COPY --from=b /app /app
";
    let f = lint_for(text, "linux/arm/v6");
    assert_eq!(ids(&f), [("CrossBuildWithoutTarget", 3)]);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].message.contains("GOARM") && f[0].message.contains("TARGETVARIANT"),
        "{}",
        f[0].message
    );
    assert_eq!(
        ids(&lint_for(text, "linux/amd64,linux/arm/v5")),
        [("CrossBuildWithoutTarget", 3)]
    );
    // Only when v5 or v6 is built.
    for platforms in ["linux/amd64,linux/arm64,linux/arm/v7", "linux/arm64"] {
        assert_eq!(ids(&lint_for(text, platforms)), [], "{platforms}");
    }
    assert_eq!(ids(&lint(text)), []);
    let told = [
        // GOARM from TARGETVARIANT, in any spelling.
        text.replace("TARGETARCH go", "TARGETARCH GOARM=${TARGETVARIANT#v} go")
            .replace("TARGETOS TARGETARCH\n", "TARGETOS TARGETARCH TARGETVARIANT\n"),
        text.replace(
            "RUN CGO",
            "ARG TARGETVARIANT\nARG GOARM=${TARGETVARIANT#v}\nRUN GOARM=$GOARM CGO",
        ),
        text.replace(
            "RUN CGO",
            "ARG TARGETVARIANT\nRUN export GOARM=$(echo $TARGETVARIANT | cut -c2) && CGO",
        ),
        // A case on TARGETPLATFORM setting GOARM per variant.
        text.replace(
            "RUN CGO",
            "ARG TARGETPLATFORM\nRUN case $TARGETPLATFORM in linux/arm/v6) export GOARM=6;; linux/arm/v7) export GOARM=7;; esac; CGO",
        ),
        // tonistiigi/xx sets GOARM itself.
        "FROM --platform=$BUILDPLATFORM tonistiigi/xx AS xx
FROM --platform=$BUILDPLATFORM golang:1.22 AS b
COPY --from=xx / /
ARG TARGETPLATFORM
RUN CGO_ENABLED=0 xx-go build -o /app . && xx-verify /app
FROM scratch
COPY --from=b /app /app
"
        .to_string(),
        // Go 1.20 and earlier default to GOARM=5 when cross-compiling.
        text.replace("golang:1.22", "golang:1.20-alpine"),
        // On the target platform the arm/v6 golang image's own default (6).
        text.replace("--platform=$BUILDPLATFORM ", "")
            .replace("GOOS=$TARGETOS GOARCH=$TARGETARCH ", ""),
    ];
    for t in &told {
        assert_eq!(ids(&lint_for(t, "linux/arm/v6")), [], "{t}");
    }
    // A fixed GOARM=7 beside GOARCH=$TARGETARCH (inline or ENV) is a fixed
    // value: FixedGoArch, an error for v6.
    let fixed = text.replace("TARGETARCH go", "TARGETARCH GOARM=7 go");
    let f = lint_for(&fixed, "linux/arm/v6,linux/arm/v7");
    assert_eq!(ids(&f), [("FixedGoArch", 3)]);
    assert_eq!(f[0].severity, Severity::Error);
    let env = text.replace("RUN CGO", "ENV GOARM=7\nRUN CGO");
    let f = lint_for(&env, "linux/arm/v6");
    assert_eq!(ids(&f), [("FixedGoArch", 3)]);
    assert!(f[0].message.contains("TARGETVARIANT"), "{}", f[0].message);
}

/// Holdout2 039 (docker-guacamole issue #50): $TARGETPLATFORM never
/// declared in a stage on the target platform is empty, so the if chain
/// choosing the download takes its amd64 else branch on every platform.
#[test]
fn an_undeclared_targetplatform_that_chooses_the_download() {
    let text = "FROM debian:bookworm
RUN if [ \"$TARGETPLATFORM\" = \"linux/arm64\" ]; then A=arm64; else A=amd64; fi && curl -fLo /usr/local/bin/tool \"https://example.com/tool-linux-$A\"
";
    let f = lint_for(text, "linux/amd64,linux/arm64");
    assert_eq!(ids(&f), [("UndeclaredPlatformArg", 2)]);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].message.contains("$TARGETPLATFORM is empty")
            && f[0].message.contains("ARG TARGETPLATFORM")
            && f[0].message.contains("else"),
        "{}",
        f[0].message
    );
    // A case on it, a URL built from it, `[[ ]]` and `test`.
    let case = "FROM alpine\nRUN case \"$TARGETARCH\" in arm64) A=aarch64;; *) A=x86_64;; esac; wget -O /t https://x.invalid/t-$A\n";
    let f = lint(case);
    assert_eq!(ids(&f), [("UndeclaredPlatformArg", 2)]);
    assert!(f[0].message.contains("`*)`"), "{}", f[0].message);
    for t in [
        "FROM alpine\nRUN wget -O /t https://x.invalid/t-${TARGETARCH}.tgz\n",
        "FROM alpine\nADD https://x.invalid/t-${TARGETARCH}.tgz /t.tgz\n",
        "FROM alpine\nRUN [[ $TARGETARCH == arm64 ]] && apk add foo-arm64 || apk add foo\n",
        "FROM alpine\nRUN if test \"$TARGETARCH\" != amd64; then echo x > /y; fi\n",
    ] {
        assert_eq!(ids(&lint(t)), [("UndeclaredPlatformArg", 2)], "{t}");
    }
    // Clean: declared; only used where an empty value is the native one
    // (main corpus 046); an emptiness test with a native fallback; a build
    // stage whose result does not reach the image; only printed.
    for t in [
        text.replace("FROM debian:bookworm\n", "FROM debian:bookworm\nARG TARGETPLATFORM\n"),
        "FROM golang AS b\nRUN CGO_ENABLED=0 GOARCH=${TARGETARCH} go build -o /app\nFROM scratch\nCOPY --from=b /app /app\n".to_string(),
        "FROM alpine\nRUN A=${TARGETARCH:-$(uname -m)}; if [ \"$A\" = x ]; then :; fi; wget https://x.invalid/t-$(uname -m)\n".to_string(),
        "FROM alpine\nRUN if [ -z \"$TARGETARCH\" ]; then A=$(uname -m); fi\n".to_string(),
        "FROM alpine AS unused\nRUN wget https://x.invalid/t-${TARGETARCH}\nFROM alpine AS t\nRUN case $TARGETARCH in arm64) A=1;; esac\nFROM scratch\nCOPY x /x\n".to_string(),
        "FROM alpine\nRUN echo \"building for $TARGETPLATFORM\"\n".to_string(),
    ] {
        assert_eq!(ids(&lint(&t)), [], "{t}");
    }
}

#[test]
fn glibc_go_program_in_alpine_with_libc6_compat_or_gcompat_is_a_warning() {
    // Red team fp21, fp22: the compatibility layer gives the loader path.
    for pkg in ["libc6-compat", "gcompat"] {
        let text = format!(
            "FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app .
FROM alpine:3.20
RUN apk add --no-cache {pkg}
COPY --from=build /out/app /usr/bin/app
"
        );
        let f = lint_for(&text, "linux/amd64,linux/arm64");
        assert_eq!(ids(&f), [("DynamicBinaryInStaticBase", 4)], "{pkg}");
        assert_eq!(f[0].severity, Severity::Warning, "{pkg}");
        assert!(
            f[0].message.contains("often still fail"),
            "{}",
            f[0].message
        );
    }
}

#[test]
fn every_arch_copied_and_picked_by_targetarch_or_a_readme_is_no_suffixed_copy() {
    // Red team fp18: both builds copied, a RUN keeps the platform's.
    let both = "FROM alpine:3.20
COPY dist/app-amd64 dist/app-arm64 /tmp/bin/
ARG TARGETARCH
RUN mv /tmp/bin/app-${TARGETARCH} /usr/local/bin/app && rm -rf /tmp/bin
";
    assert_eq!(ids(&lint_for(both, "linux/amd64,linux/arm64")), []);
    // The same over two COPYs of the stage.
    let two = "FROM alpine:3.20
COPY dist/app-amd64 /tmp/bin/
COPY dist/app-arm64 /tmp/bin/
ARG TARGETARCH
RUN mv /tmp/bin/app-${TARGETARCH} /usr/local/bin/app
";
    assert_eq!(ids(&lint_for(two, "linux/amd64,linux/arm64")), []);
    // Nothing picks (the message only prints it): still the amd64 one.
    let unpicked = "FROM alpine:3.20
COPY dist/app-amd64 /usr/local/bin/app
COPY dist/app-arm64 /opt/
RUN echo $TARGETARCH
";
    assert_eq!(
        ids(&lint_for(unpicked, "linux/amd64,linux/arm64")),
        [("ArchSuffixedCopy", 2), ("ArchSuffixedCopy", 3)]
    );
    // fp12: a README under linux_amd64/ is no program; the binary still is.
    let docs = "FROM alpine
ARG TARGETARCH
COPY --from=bins /app-${TARGETARCH} /usr/bin/app
COPY --from=bins /linux_amd64/README.md /usr/share/doc/app/README.md
COPY --from=bins /linux_amd64/app.sha256 /usr/share/doc/app/
";
    assert_eq!(ids(&lint_for(docs, "linux/amd64,linux/arm64")), []);
    for program in [
        "bin/linux_amd64/app",
        "app-amd64-1.2.3",
        "dist/linux_amd64/",
        "libfoo-x86_64.so",
        "app_linux_arm64.tar.gz",
    ] {
        let text = format!("FROM alpine\nCOPY {program} /usr/bin/\n");
        assert_eq!(
            ids(&lint_for(&text, "linux/amd64,linux/arm64")),
            [("ArchSuffixedCopy", 2)],
            "{program}"
        );
    }
}

#[test]
fn targetarch_only_echoed_or_in_a_comment_does_not_hide_a_fixed_arch() {
    // Red team fn14: the echo names TARGETARCH, the download is amd64's.
    let echo = "FROM debian:bookworm-slim
ARG TARGETARCH
RUN echo \"building for ${TARGETARCH}\" && \\
    curl -fsSL -o /usr/local/bin/tool https://github.com/o/tool/releases/download/v1/tool_linux_amd64 && \\
    chmod +x /usr/local/bin/tool
";
    assert_eq!(
        ids(&lint_for(echo, "linux/amd64,linux/arm64")),
        [("ArchSpecificDownload", 3)]
    );
    // fn15: a heredoc comment names it, the build is fixed to amd64.
    let comment = "FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS build
RUN <<EOT
  set -e
  # TODO: switch to TARGETARCH once arm64 CI runners exist
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o /out/app .
EOT
FROM alpine
ARG TARGETARCH
COPY --from=build /out/app /app
";
    let f = lint_for(comment, "linux/amd64,linux/arm64");
    assert!(
        ids(&f).iter().any(|(r, _)| *r == "FixedGoArch"),
        "{:?}",
        ids(&f)
    );
}

#[test]
fn cgo_on_in_a_native_glibc_build_with_goarch_from_targetarch_is_still_dynamic() {
    // Red team fn08: GOARCH=$TARGETARCH on the target platform is native,
    // and CGO_ENABLED=1 keeps cgo on: a glibc program in alpine.
    let text = "FROM golang:1.22 AS build
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=1 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .
FROM alpine:3.20
COPY --from=build /out/app /usr/bin/app
";
    assert_eq!(
        ids(&lint_for(text, "linux/amd64,linux/arm64")),
        [("DynamicBinaryInStaticBase", 3)]
    );
}
