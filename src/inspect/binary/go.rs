//! Go's build info (`.go.buildinfo`, Go's debug/buildinfo): the Go
//! version and the GOARCH/GOARM/GOOS the binary was built for.

use super::elf::{section_bytes, section_headers, ElfInfo, PF_W};
use super::{uleb, MAX_SECTION, MAX_TABLE};
use crate::inspect::verdict::GoInfo;
use crate::rootfs::{FsError, RootFs};
use goblin::elf::program_header::PT_LOAD;

/// Go build info magic (Go's debug/buildinfo).
pub const GO_BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";

/// Go build info, found at the start of the first writable segment (where
/// Go's linker puts `.go.buildinfo`), else through the section named so.
pub async fn go_buildinfo<R: RootFs>(
    fs: &R,
    path: &[u8],
    e: &ElfInfo,
) -> Result<Option<GoInfo>, FsError> {
    if let Some(ph) = e
        .phdrs
        .iter()
        .find(|p| p.p_type == PT_LOAD && p.p_flags & PF_W != 0)
    {
        let len = ph
            .p_filesz
            .min(MAX_SECTION)
            .min(e.size.saturating_sub(ph.p_offset));
        if len >= 32 {
            let data = fs.read_at(path, ph.p_offset, len as usize).await?;
            if let Some(info) = find_go_buildinfo(fs, path, e.size, ph.p_offset, &data).await? {
                return Ok(Some(info));
            }
        }
    }
    // Fall back to the section by name.
    let shdrs = section_headers(fs, path, e).await?;
    let Some(strtab) = shdrs.get(e.shstrndx as usize) else {
        return Ok(None);
    };
    let Some(names) = section_bytes(fs, path, e, strtab, MAX_TABLE).await? else {
        return Ok(None);
    };
    for sh in &shdrs {
        let start = sh.sh_name;
        let Some(rest) = names.get(start..) else {
            continue;
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if &rest[..end] == b".go.buildinfo" {
            let Some(data) = section_bytes(fs, path, e, sh, MAX_SECTION).await? else {
                return Ok(None);
            };
            return find_go_buildinfo(fs, path, e.size, sh.sh_offset, &data).await;
        }
    }
    Ok(None)
}

/// Find the magic at a 16-byte aligned offset of `data` (which starts at file
/// offset `base`) and decode the inline strings that follow it.
async fn find_go_buildinfo<R: RootFs>(
    fs: &R,
    path: &[u8],
    size: u64,
    base: u64,
    data: &[u8],
) -> Result<Option<GoInfo>, FsError> {
    let mut at = None;
    let mut i = 0usize;
    while i + 32 <= data.len() {
        if &data[i..i + GO_BUILDINFO_MAGIC.len()] == GO_BUILDINFO_MAGIC {
            at = Some(i);
            break;
        }
        i += 16;
    }
    let Some(i) = at else { return Ok(None) };
    if let Some(info) = parse_go_buildinfo(&data[i..]) {
        return Ok(Some(info));
    }
    // The strings may run past what was read: read a larger window once.
    let off = base + i as u64;
    let len = (size - off).min(MAX_TABLE);
    let more = fs.read_at(path, off, len as usize).await?;
    Ok(parse_go_buildinfo(&more).or(Some(GoInfo::default())))
}

/// Decode Go build info starting at its magic. `None` when the data ends too
/// early; `Some(default)` for the older pointer-based format, whose strings
/// need address translation (archgate then only knows it is Go).
pub fn parse_go_buildinfo(data: &[u8]) -> Option<GoInfo> {
    if data.len() < 32 || !data.starts_with(GO_BUILDINFO_MAGIC) {
        return None;
    }
    let flags = data[15];
    if flags & 0x2 == 0 {
        return Some(GoInfo::default());
    }
    let mut pos = 32usize;
    let read_str = |pos: &mut usize| -> Option<Vec<u8>> {
        let mut p = *pos;
        let n = uleb(data, &mut p)? as usize;
        let s = data.get(p..p.checked_add(n)?)?.to_vec();
        *pos = p + n;
        Some(s)
    };
    let version = read_str(&mut pos)?;
    let mut module = read_str(&mut pos)?;
    // The module string is wrapped in 16-byte sentinels.
    if module.len() >= 33 && module[module.len() - 17] == b'\n' {
        module = module[16..module.len() - 16].to_vec();
    }
    let mut info = GoInfo {
        version: Some(String::from_utf8_lossy(&version).into_owned()).filter(|v| !v.is_empty()),
        ..GoInfo::default()
    };
    for line in String::from_utf8_lossy(&module).lines() {
        let Some(kv) = line.strip_prefix("build\t") else {
            continue;
        };
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v = Some(v.to_string());
        match k {
            "GOARCH" => info.goarch = v,
            "GOARM" => info.goarm = v,
            "GOOS" => info.goos = v,
            "CGO_ENABLED" => info.cgo_enabled = v,
            _ => {}
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_buildinfo_inline_strings() {
        let mut d = GO_BUILDINFO_MAGIC.to_vec();
        d.push(8);
        d.push(2);
        d.resize(32, 0);
        let ver = b"go1.19.8";
        d.push(ver.len() as u8);
        d.extend_from_slice(ver);
        let mut module = vec![b'x'; 16];
        module.extend_from_slice(
            b"path\tcmd\nbuild\tGOARCH=arm\nbuild\tGOARM=6\nbuild\tGOOS=linux\n",
        );
        module.extend_from_slice(&[b'y'; 16]);
        d.push(module.len() as u8);
        d.extend_from_slice(&module);
        let info = parse_go_buildinfo(&d).unwrap();
        assert_eq!(info.goarch.as_deref(), Some("arm"));
        assert_eq!(info.goarm.as_deref(), Some("6"));
        assert_eq!(info.version.as_deref(), Some("go1.19.8"));
        for n in 0..d.len() {
            let _ = parse_go_buildinfo(&d[..n]);
        }
    }
}
