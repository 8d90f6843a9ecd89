//! Platforms as OCI writes them, normalised the way users and tools spell
//! them, and the binary identity (ELF machine, class, byte order) each implies.
//!
//! The one idea: every alias (`x86_64`, `aarch64`, `armhf`) is folded into Go's
//! GOARCH names at parse time, so all comparisons are between canonical forms.

use std::fmt;

/// An OCI platform, canonicalised: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {0:?}: expected os/arch[/variant], like linux/arm64 or linux/arm/v7")]
pub struct PlatformError(pub String);

impl Platform {
    /// Build from the OCI fields, normalising aliases.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        let os = os.trim().to_ascii_lowercase();
        let arch_l = arch.trim().to_ascii_lowercase();
        let variant = variant
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty());
        let (arch, variant) = match arch_l.as_str() {
            "x86_64" | "x86-64" | "amd64" => ("amd64".to_string(), variant),
            "aarch64" | "arm64" => {
                // v8 is the default arm64 variant and may be dropped.
                let v = variant.filter(|v| v != "v8");
                ("arm64".to_string(), v)
            }
            "i386" | "i486" | "i586" | "i686" | "386" | "x86" => ("386".to_string(), None),
            "armhf" => ("arm".to_string(), Some("v7".to_string())),
            "armel" => ("arm".to_string(), Some("v6".to_string())),
            "arm" => (
                "arm".to_string(),
                Some(variant.unwrap_or_else(|| "v7".to_string())),
            ),
            "ppc64el" => ("ppc64le".to_string(), variant),
            "loongarch64" => ("loong64".to_string(), variant),
            other => (other.to_string(), variant),
        };
        // Variants are written with a leading `v` (`7` -> `v7`).
        let variant = variant.map(|v| {
            if v.chars().all(|c| c.is_ascii_digit()) {
                format!("v{v}")
            } else {
                v
            }
        });
        Platform { os, arch, variant }
    }

    /// Parse `os/arch[/variant]`, or a bare `arch` meaning linux.
    pub fn parse(s: &str) -> Result<Self, PlatformError> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let bad = || PlatformError(s.to_string());
        match parts.as_slice() {
            [arch] if !arch.is_empty() => Ok(Platform::new("linux", arch, None)),
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform::new(os, arch, None)),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
                Ok(Platform::new(os, arch, Some(v)))
            }
            _ => Err(bad()),
        }
    }

    /// Whether this platform satisfies a user's `--platform` filter: equal,
    /// or the filter names no variant.
    pub fn matches_filter(&self, filter: &Platform) -> bool {
        self.os == filter.os
            && self.arch == filter.arch
            && (filter.variant.is_none() || self.variant == filter.variant)
    }

    /// ARM architecture level of an `arm` platform's variant (5, 6, 7, 8).
    pub fn arm_level(&self) -> Option<u32> {
        if self.arch != "arm" {
            return None;
        }
        self.variant
            .as_deref()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|n| n.parse().ok())
    }

    /// The binary identity programs for this platform must have.
    pub fn identity(&self) -> Option<ArchIdentity> {
        arch_identity(&self.arch)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How a GOARCH looks in an ELF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchIdentity {
    pub goarch: &'static str,
    pub e_machine: u16,
    pub bits: u8,
    pub big_endian: bool,
    /// IMAGE_FILE_MACHINE_* for PE, where Windows runs on it.
    pub pe_machine: Option<u16>,
}

// ELF e_machine values: elf.h (EM_*); PE machines: winnt.h (IMAGE_FILE_MACHINE_*).
pub const EM_386: u16 = 3;
pub const EM_486: u16 = 6;
pub const EM_PPC: u16 = 20;
pub const EM_MIPS: u16 = 8;
pub const EM_PPC64: u16 = 21;
pub const EM_S390: u16 = 22;
pub const EM_ARM: u16 = 40;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const EM_RISCV: u16 = 243;
pub const EM_LOONGARCH: u16 = 258;

const TABLE: &[ArchIdentity] = &[
    ArchIdentity {
        goarch: "amd64",
        e_machine: EM_X86_64,
        bits: 64,
        big_endian: false,
        pe_machine: Some(0x8664),
    },
    ArchIdentity {
        goarch: "386",
        e_machine: EM_386,
        bits: 32,
        big_endian: false,
        pe_machine: Some(0x14c),
    },
    ArchIdentity {
        goarch: "arm64",
        e_machine: EM_AARCH64,
        bits: 64,
        big_endian: false,
        pe_machine: Some(0xaa64),
    },
    ArchIdentity {
        goarch: "arm",
        e_machine: EM_ARM,
        bits: 32,
        big_endian: false,
        pe_machine: Some(0x1c4),
    },
    ArchIdentity {
        goarch: "ppc64le",
        e_machine: EM_PPC64,
        bits: 64,
        big_endian: false,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "ppc64",
        e_machine: EM_PPC64,
        bits: 64,
        big_endian: true,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "s390x",
        e_machine: EM_S390,
        bits: 64,
        big_endian: true,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "riscv64",
        e_machine: EM_RISCV,
        bits: 64,
        big_endian: false,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "mips64le",
        e_machine: EM_MIPS,
        bits: 64,
        big_endian: false,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "mips64",
        e_machine: EM_MIPS,
        bits: 64,
        big_endian: true,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "mipsle",
        e_machine: EM_MIPS,
        bits: 32,
        big_endian: false,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "mips",
        e_machine: EM_MIPS,
        bits: 32,
        big_endian: true,
        pe_machine: None,
    },
    ArchIdentity {
        goarch: "loong64",
        e_machine: EM_LOONGARCH,
        bits: 64,
        big_endian: false,
        pe_machine: Some(0x6264),
    },
];

/// How a platform's kernel reads an ELF header: binfmt_elf reads it as its
/// own class in its own byte order, then `elf_check_arch`; a 64-bit kernel's
/// compat_binfmt_elf reads it as ELF32 with `compat_elf_check_arch`
/// (torvalds/linux fs/binfmt_elf.c `load_elf_binary`, fs/compat_binfmt_elf.c).
/// EI_CLASS and EI_DATA are never read by the generic code; only some
/// architectures' `elf_check_arch` compares EI_CLASS (riscv, s390). So on
/// x86-64 an x86-64 binary with a stray class or data byte runs (checked
/// with execve on this machine: tests/e2e/redteam.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelElf {
    pub big_endian: bool,
    /// (ELF class bits, machines `elf_check_arch` takes), native first.
    pub layouts: &'static [(u8, &'static [u16])],
    /// `elf_check_arch` also requires EI_CLASS to match.
    pub checks_class: bool,
}

/// The kernel's ELF reading for a GOARCH, for the architectures whose
/// `elf_check_arch` archgate has read (arch/*/include/asm/elf.h): x86
/// (machine only), arm64 (machine only), powerpc (machine only), s390 and
/// riscv (machine and EI_CLASS). `None`: archgate reads the header by its
/// EI_CLASS and EI_DATA.
pub fn kernel_elf(goarch: &str) -> Option<KernelElf> {
    const X86: &[u16] = &[EM_386, EM_486];
    let k = |big_endian, layouts, checks_class| KernelElf {
        big_endian,
        layouts,
        checks_class,
    };
    Some(match goarch {
        "amd64" => k(false, &[(64, &[EM_X86_64]), (32, X86)], false),
        "386" => k(false, &[(32, X86)], false),
        "arm64" => k(false, &[(64, &[EM_AARCH64]), (32, &[EM_ARM])], false),
        "ppc64le" => k(false, &[(64, &[EM_PPC64])], false),
        "ppc64" => k(true, &[(64, &[EM_PPC64]), (32, &[EM_PPC])], false),
        "s390x" => k(true, &[(64, &[EM_S390]), (32, &[EM_S390])], true),
        "riscv64" => k(false, &[(64, &[EM_RISCV])], true),
        _ => return None,
    })
}

/// Every kernel ELF reading [`kernel_elf`] knows, one per GOARCH that has
/// one.
pub fn kernels() -> impl Iterator<Item = KernelElf> {
    TABLE.iter().filter_map(|a| kernel_elf(a.goarch))
}

/// The identity of a GOARCH, if archgate knows it.
pub fn arch_identity(goarch: &str) -> Option<ArchIdentity> {
    TABLE.iter().copied().find(|a| a.goarch == goarch)
}

/// The GOARCH an ELF header describes, if any known one matches.
pub fn goarch_of_elf(e_machine: u16, bits: u8, big_endian: bool) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|a| a.e_machine == e_machine && a.bits == bits && a.big_endian == big_endian)
        .map(|a| a.goarch)
}

/// The GOARCH a PE machine field describes.
pub fn goarch_of_pe(machine: u16) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|a| a.pe_machine == Some(machine))
        .map(|a| a.goarch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_fold_to_goarch() {
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/aarch64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/armhf").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/armel").unwrap().to_string(),
            "linux/arm/v6"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/arm/7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/i686").unwrap().to_string(),
            "linux/386"
        );
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert!(Platform::parse("linux/").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }

    #[test]
    fn filter_without_variant_matches_any_variant() {
        let p = Platform::parse("linux/arm/v6").unwrap();
        let any_arm = Platform {
            os: "linux".into(),
            arch: "arm".into(),
            variant: None,
        };
        assert!(p.matches_filter(&any_arm));
        assert!(!p.matches_filter(&Platform::parse("linux/arm/v7").unwrap()));
    }

    #[test]
    fn elf_identity_round_trips() {
        for a in TABLE {
            assert_eq!(
                goarch_of_elf(a.e_machine, a.bits, a.big_endian),
                Some(a.goarch)
            );
        }
    }
}
