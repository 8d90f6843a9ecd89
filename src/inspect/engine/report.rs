//! A platform's report from its checks: the worst verdict, the check that
//! decided it, and the hint for people (the usual Dockerfile cause).

use super::Engine;
use crate::inspect::verdict::{Check, PlatformReport, Reason, Verdict};
use crate::inspect::Platform;
use crate::rootfs::RootFs;

impl<R: RootFs> Engine<'_, R> {
    pub(super) fn report(self, program: String, resolved: String) -> PlatformReport {
        let platform = self.platform.to_string();
        if self.checks.is_empty() {
            return PlatformReport {
                platform,
                verdict: Verdict::Skip,
                reason: Reason::NoCommand,
                message: if program.is_empty() {
                    "the image config has no ENTRYPOINT or CMD: nothing to run".into()
                } else {
                    format!("{program} was not judged: see the notes")
                },
                program,
                resolved,
                checks: Vec::new(),
                notes: self.notes,
                hint: None,
                digest: None,
                check_micros: None,
                source: None,
                deep: None,
            };
        }
        let worst = self
            .checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Pass);
        let (decider_idx, decider) = self
            .checks
            .iter()
            .enumerate()
            .find(|(_, c)| c.verdict == worst)
            .expect("a check exists");
        let (reason, message) = if worst == Verdict::Pass {
            let n = self.checks.len();
            let what = if n == 1 {
                "the program".to_string()
            } else {
                format!("all {n} checked programs, interpreters and loaders")
            };
            (Reason::Match, format!("{what} can run on {platform}"))
        } else {
            (
                decider.reason,
                format!(
                    "{} {}: {}",
                    decider.role.as_str(),
                    decider.path,
                    decider.message
                ),
            )
        };
        // A hint tied to a check that shares the verdict (an interpreter's
        // ErrDot or nesting), else the reason's usual one.
        let special = self
            .hints
            .iter()
            .find(|(&i, _)| {
                i >= decider_idx
                    && self
                        .checks
                        .get(i)
                        .is_some_and(|c| c.verdict == worst && c.reason == reason)
            })
            .map(|(_, h)| h.clone());
        let hint = special.or_else(|| hint_for(reason, &self.checks, self.platform));
        PlatformReport {
            platform,
            verdict: worst,
            reason,
            message,
            program,
            resolved,
            checks: self.checks,
            notes: self.notes,
            hint,
            digest: None,
            check_micros: None,
            source: None,
            deep: None,
        }
    }
}

/// The usual Dockerfile cause of a verdict, for people.
pub(super) fn hint_for(reason: Reason, checks: &[Check], p: &Platform) -> Option<String> {
    let c = checks
        .iter()
        .find(|c| c.reason == reason && c.verdict != Verdict::Pass);
    let go = c
        .and_then(|c| c.binary.as_ref())
        .and_then(|b| b.go.as_ref());
    Some(match reason {
        Reason::ArchMismatch => match go.and_then(|g| g.goarch.as_deref()) {
            Some(goarch) => format!(
                "built by Go with GOARCH={goarch}: declare `ARG TARGETOS TARGETARCH` and build with GOOS=$TARGETOS GOARCH=$TARGETARCH instead of a fixed value"
            ),
            None => format!(
                "the binary was built or downloaded for another architecture: pick it per platform with `ARG TARGETARCH` (e.g. COPY app-${{TARGETARCH}}), or cross-compile for {}",
                p.arch
            ),
        },
        Reason::VariantMismatch => match go.and_then(|g| g.goarm.as_deref()) {
            Some(goarm) => format!(
                "built by Go with GOARM={goarm}: derive GOARM from `ARG TARGETVARIANT` (linux/arm/v6 -> GOARM=6) instead of a fixed value"
            ),
            None => format!(
                "built for a newer ARM level than {p}: use a toolchain or package for that level (Debian armel for v5/v6, armhf for v7), picked per platform with `ARG TARGETVARIANT`"
            ),
        },
        Reason::LoaderMissing => {
            let loader = c.map(|c| c.path.as_str()).unwrap_or("");
            if loader.contains("musl") {
                "the binary is linked against musl: use an Alpine-based image, or link it statically".to_string()
            } else {
                "the binary is dynamically linked against glibc but the image has no glibc: build it statically (CGO_ENABLED=0 for Go, -static or musl for C), or use a base image with glibc (debian-slim, distroless/base)".to_string()
            }
        }
        Reason::NotExecutable => {
            "add the execute bit: `COPY --chmod=0755` or `RUN chmod +x`".to_string()
        }
        Reason::NotFound
            if checks
                .iter()
                .any(|c| c.verdict == Verdict::Fail && c.path.contains('\r')) =>
        {
            "the #! line ends in a carriage return (CRLF line endings, e.g. a Windows checkout), so the kernel or env looks for a program whose name ends in \\r: convert the script to LF line endings (dos2unix, or `*.sh text eol=lf` in .gitattributes)".to_string()
        }
        Reason::NotFound => {
            "the program is not in this platform's image: check the ENTRYPOINT/CMD path, PATH, and that the COPY for this platform brought it in".to_string()
        }
        Reason::NotAProgram => {
            "the file is neither a binary nor a #! script: a truncated download, an HTML error page, or a text file without #!?".to_string()
        }
        Reason::SymlinkLoop => "a symlink in the chain points back at itself".to_string(),
        Reason::BadInvocation => {
            "the command line is refused before anything runs: fix the option, argument or setting the message names".to_string()
        }
        Reason::OsMismatch => format!("the program is built for another OS; the platform is {p}"),
        Reason::Compat32bit => {
            "a 32-bit binary on a 64-bit platform: build it for the platform's own architecture to run everywhere".to_string()
        }
        Reason::VariantUnknown => {
            "nothing in the binary says which ARM level it needs: make sure it was built for the platform's variant".to_string()
        }
        Reason::Match | Reason::NoCommand => return None,
    })
}
