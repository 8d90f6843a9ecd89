//! The ARM build attributes (`.ARM.attributes`, "Addenda to, and Errata
//! in, the ABI for the Arm Architecture"): the architecture level a 32-bit
//! ARM binary needs, for the OCI variant (v5/v6/v7/v8).

use super::elf::{section_bytes, section_headers, ElfInfo};
use super::{uleb, MAX_SECTION};
use crate::rootfs::{FsError, RootFs};

/// `SHT_ARM_ATTRIBUTES` (ELF for the Arm Architecture, section types).
const SHT_ARM_ATTRIBUTES: u32 = 0x7000_0003;

/// ARM facts from `.ARM.attributes`: the architecture level (`Tag_CPU_arch`)
/// and whether arguments use VFP registers (`Tag_ABI_VFP_args`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArmAttrs {
    pub cpu_arch: Option<u64>,
    pub vfp_args: Option<u64>,
}

/// Read and parse `.ARM.attributes`, found by section type (no names needed).
pub async fn arm_attributes<R: RootFs>(
    fs: &R,
    path: &[u8],
    e: &ElfInfo,
) -> Result<Option<ArmAttrs>, FsError> {
    let shdrs = section_headers(fs, path, e).await?;
    let Some(sh) = shdrs.iter().find(|s| s.sh_type == SHT_ARM_ATTRIBUTES) else {
        return Ok(None);
    };
    let Some(data) = section_bytes(fs, path, e, sh, MAX_SECTION).await? else {
        return Ok(None);
    };
    Ok(parse_arm_attributes(&data, e.big_endian))
}

fn ntbs(data: &[u8], pos: &mut usize) -> Option<()> {
    let n = data.get(*pos..)?.iter().position(|&b| b == 0)?;
    *pos += n + 1;
    Some(())
}

/// Parse the build attributes format: `'A'`, then vendor subsections
/// (`u32 length`, vendor NTBS, then `Tag_File` sub-subsections of
/// tag/value pairs). Only the "aeabi" vendor's file attributes are read.
pub fn parse_arm_attributes(data: &[u8], big_endian: bool) -> Option<ArmAttrs> {
    if data.first() != Some(&b'A') {
        return None;
    }
    let rd32 = |b: &[u8]| -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let mut out = ArmAttrs::default();
    let mut pos = 1usize;
    while pos + 4 <= data.len() {
        let len = rd32(&data[pos..]) as usize;
        if len < 4 || pos + len > data.len() {
            break;
        }
        let sub = &data[pos..pos + len];
        pos += len;
        let mut p = 4usize;
        let name_end = sub[p..].iter().position(|&b| b == 0)? + p;
        let vendor = &sub[p..name_end];
        p = name_end + 1;
        if vendor != b"aeabi" {
            continue;
        }
        while p < sub.len() {
            let start = p;
            let tag = uleb(sub, &mut p)?;
            if p + 4 > sub.len() {
                break;
            }
            let size = rd32(&sub[p..]) as usize;
            p += 4;
            let end = start.checked_add(size)?.min(sub.len());
            if size < 5 {
                break;
            }
            if tag == 1 {
                // Tag_File: attributes for the whole file.
                while p < end {
                    let t = uleb(sub, &mut p)?;
                    match t {
                        4 | 5 | 67 => ntbs(sub, &mut p)?,
                        32 => {
                            uleb(sub, &mut p)?;
                            ntbs(sub, &mut p)?;
                        }
                        t if t < 32 || t % 2 == 0 => {
                            let v = uleb(sub, &mut p)?;
                            if t == 6 {
                                out.cpu_arch = Some(v);
                            } else if t == 28 {
                                out.vfp_args = Some(v);
                            }
                        }
                        _ => ntbs(sub, &mut p)?,
                    }
                }
            }
            p = end;
        }
    }
    Some(out)
}

/// The OCI ARM variant a `Tag_CPU_arch` value needs (platform-facts.md):
/// up to v5TEJ -> v5, the v6 family -> v6, v7 -> v7, v8 and later -> v8.
pub fn arm_variant_of_cpu_arch(cpu_arch: u64) -> &'static str {
    match cpu_arch {
        0..=5 => "v5",
        6..=9 | 11 | 12 => "v6",
        10 | 13 => "v7",
        _ => "v8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_attributes_cpu_arch_and_vfp() {
        // 'A', len, "aeabi\0", Tag_File(1), size, Tag_CPU_name(5)="7-A\0",
        // Tag_CPU_arch(6)=10, Tag_ABI_VFP_args(28)=1, Tag_compat(32)=0 "\0".
        let mut attrs = vec![5u8];
        attrs.extend_from_slice(b"7-A\0");
        attrs.extend_from_slice(&[6, 10, 28, 1, 32, 0, 0]);
        let file_len = 1 + 4 + attrs.len();
        let mut sub = b"aeabi\0".to_vec();
        sub.push(1);
        sub.extend_from_slice(&(file_len as u32).to_le_bytes());
        sub.extend_from_slice(&attrs);
        let mut data = vec![b'A'];
        data.extend_from_slice(&((sub.len() + 4) as u32).to_le_bytes());
        data.extend_from_slice(&sub);
        let a = parse_arm_attributes(&data, false).unwrap();
        assert_eq!(a.cpu_arch, Some(10));
        assert_eq!(a.vfp_args, Some(1));
        assert_eq!(arm_variant_of_cpu_arch(10), "v7");
        assert_eq!(arm_variant_of_cpu_arch(4), "v5");
        assert_eq!(arm_variant_of_cpu_arch(6), "v6");
        // Garbage never panics.
        for n in 0..data.len() {
            let _ = parse_arm_attributes(&data[..n], false);
        }
    }
}
