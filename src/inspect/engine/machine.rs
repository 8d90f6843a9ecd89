//! A binary's own format against the platform: its OS, its architecture
//! (32-bit x86 and ARM on 64-bit hosts warn), and on 32-bit ARM the
//! architecture level from `.ARM.attributes` or Go's GOARM.

use super::{shown, Engine, Outcome};
use crate::inspect::binary;
use crate::inspect::platform::EM_ARM;
use crate::inspect::verdict::{BinaryFacts, Reason, Verdict};
use crate::rootfs::{FsError, RootFs};

impl<R: RootFs> Engine<'_, R> {
    pub(super) fn judge_foreign_format(
        &self,
        facts: &BinaryFacts,
        path: &str,
        os: &str,
        what: &str,
    ) -> (Outcome, String) {
        let p = self.platform;
        if p.os != os {
            return (
                Outcome {
                    verdict: Verdict::Fail,
                    reason: Reason::OsMismatch,
                },
                format!("{path} is {what}, but the platform is {p}"),
            );
        }
        match &facts.arch {
            Some(a) if *a == p.arch => (
                Outcome {
                    verdict: Verdict::Pass,
                    reason: Reason::Match,
                },
                format!("{path} is {what} for {a}"),
            ),
            a => (
                Outcome {
                    verdict: Verdict::Fail,
                    reason: Reason::ArchMismatch,
                },
                format!(
                    "{path} is {what} for {}, but the platform is {p}",
                    a.as_deref().unwrap_or("an unknown machine")
                ),
            ),
        }
    }

    pub(super) async fn judge_elf(
        &mut self,
        elf: &binary::ElfInfo,
        facts: &mut BinaryFacts,
        path_bytes: &[u8],
    ) -> Result<(Outcome, String), FsError> {
        let p = self.platform;
        let path = shown(path_bytes);
        let pass = |m: String| {
            (
                Outcome {
                    verdict: Verdict::Pass,
                    reason: Reason::Match,
                },
                m,
            )
        };
        let fail = |r, m: String| {
            (
                Outcome {
                    verdict: Verdict::Fail,
                    reason: r,
                },
                m,
            )
        };
        let warn = |r, m: String| {
            (
                Outcome {
                    verdict: Verdict::Warn,
                    reason: r,
                },
                m,
            )
        };

        if p.os != "linux" && p.os != "android" {
            let desc = describe_elf(facts);
            return Ok(fail(
                Reason::OsMismatch,
                format!("{path} is {desc}, but the platform is {p}"),
            ));
        }
        let arch = facts.arch.clone();
        let is_arm = elf.machine == EM_ARM && elf.bits == 32;
        if is_arm {
            self.arm_variant(elf, facts, path_bytes).await?;
        }
        let desc = describe_elf(facts);
        let outcome = match arch.as_deref() {
            Some(a) if a == p.arch => {
                if p.arch == "arm" {
                    self.judge_arm_variant(facts, &path, &desc)
                } else {
                    pass(format!("{path} is {desc}"))
                }
            }
            Some("386") if p.arch == "amd64" => warn(
                Reason::Compat32bit,
                format!("{path} is {desc}: it runs on {p} only where the kernel supports 32-bit x86 binaries"),
            ),
            Some("arm") if p.arch == "arm64" => warn(
                Reason::Compat32bit,
                format!("{path} is {desc}: it runs on {p} only on CPUs and kernels with AArch32 support"),
            ),
            _ => fail(Reason::ArchMismatch, format!("{path} is {desc}, but the platform is {p}")),
        };
        if outcome.0.verdict == Verdict::Fail && facts.go.is_none() {
            // The Go build settings are the evidence for the Dockerfile hint.
            facts.go = binary::go_buildinfo(self.fs, path_bytes, elf).await?;
        }
        Ok(outcome)
    }

    /// Fill `facts.variant` from `.ARM.attributes`, or from Go's GOARM.
    async fn arm_variant(
        &mut self,
        elf: &binary::ElfInfo,
        facts: &mut BinaryFacts,
        path: &[u8],
    ) -> Result<(), FsError> {
        if let Some(attrs) = binary::arm_attributes(self.fs, path, elf).await? {
            if let Some(cpu) = attrs.cpu_arch {
                facts.variant = Some(binary::arm_variant_of_cpu_arch(cpu).to_string());
            }
            if attrs.vfp_args == Some(1) {
                facts.float = Some("hard");
            }
        }
        if facts.variant.is_none() {
            facts.go = binary::go_buildinfo(self.fs, path, elf).await?;
            if let Some(goarm) = facts.go.as_ref().and_then(|g| g.goarm.as_deref()) {
                let n = goarm
                    .trim_start_matches('v')
                    .split(',')
                    .next()
                    .unwrap_or("");
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
                    facts.variant = Some(format!("v{n}"));
                }
            }
        }
        Ok(())
    }

    fn judge_arm_variant(&self, facts: &BinaryFacts, path: &str, desc: &str) -> (Outcome, String) {
        let p = self.platform;
        let level = p.arm_level().unwrap_or(7);
        let bin = facts
            .variant
            .as_deref()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|n| n.parse::<u32>().ok());
        match bin {
            Some(b) if b > level => (
                Outcome { verdict: Verdict::Fail, reason: Reason::VariantMismatch },
                format!("{path} is {desc}, which needs ARMv{b}; the platform is {p}"),
            ),
            Some(_) => (
                Outcome { verdict: Verdict::Pass, reason: Reason::Match },
                format!("{path} is {desc}"),
            ),
            None if level < 7 => (
                Outcome { verdict: Verdict::Warn, reason: Reason::VariantUnknown },
                format!("{path} is {desc} with no evidence of its ARM architecture level; the platform is {p}"),
            ),
            None => (
                Outcome { verdict: Verdict::Pass, reason: Reason::Match },
                format!("{path} is {desc}"),
            ),
        }
    }
}

/// "an ELF 64-bit LSB executable for arm64, static" and the like.
pub(super) fn describe_elf(f: &BinaryFacts) -> String {
    let arch = match &f.arch {
        Some(a) => a.clone(),
        None => format!("machine {}", f.machine.unwrap_or(0)),
    };
    let endian = if f.endian == Some("big") {
        "MSB"
    } else {
        "LSB"
    };
    let mut s = format!(
        "an ELF {}-bit {endian} binary for {arch}",
        f.bits.unwrap_or(0)
    );
    if let Some(v) = &f.variant {
        s.push_str(&format!(" ({v})"));
    }
    match &f.interpreter {
        Some(i) => s.push_str(&format!(", dynamically linked ({i})")),
        None => s.push_str(", statically linked"),
    }
    if let Some(g) = f.go.as_ref().and_then(|g| g.goarch.as_ref()) {
        s.push_str(&format!(", Go GOARCH={g}"));
        if let Some(arm) = f.go.as_ref().and_then(|g| g.goarm.as_ref()) {
            s.push_str(&format!(" GOARM={arm}"));
        }
    }
    s
}
