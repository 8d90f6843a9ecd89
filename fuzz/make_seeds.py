#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, written to OUT/<target>/ (not committed).

identify: real ELF files from the fixtures dir (scripts/fixtures puts Debian
busybox/hello/loaders and Go cross-compiles there), hollowed out into the
target's input layout (see fuzz_targets/identify.rs): the bytes the engine
reads (headers, program and section header tables, PT_INTERP, .shstrtab,
.ARM.attributes, Go build info) are kept and everything else becomes
zero-filled holes, so a 1.4 MB Go binary is a ~10 KB seed that still reaches
the deep parsers. Plus synthetic scripts, PE and Mach-O headers.

layer: small tars in ustar, GNU and PAX forms with files, dirs, symlinks,
hardlinks, whiteouts, opaque dirs, devices and long names; one of them
already gzipped.

Usage: make_seeds.py FIXTURES_DIR OUT_DIR
"""

import gzip
import hashlib
import io
import os
import shutil
import struct
import sys
import tarfile

# Platform byte values: index into PLATFORMS in fuzz_targets/identify.rs.
P_AMD64, P_ARM64, P_ARMV6, P_ARMV7, P_386, P_PPC64, P_S390X, P_WIN = range(8)
# ELF e_machine (elf.h) -> the platform byte that matches it.
MACHINE_PLATFORM = {62: P_AMD64, 183: P_ARM64, 40: P_ARMV7, 3: P_386, 21: P_PPC64, 22: P_S390X}
SHT_ARM_ATTRIBUTES = 0x70000003
MAX_HOLES = 7


def elf_keep_ranges(data):
    """Byte ranges of an ELF file the engine may read, or None if not ELF."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    is64 = data[4] == 2
    e = "<" if data[5] == 1 else ">"
    keep = [(0, 4096)]
    if is64:
        (phoff, shoff) = struct.unpack_from(e + "QQ", data, 0x20)
        (phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from(e + "HHHHH", data, 0x36)
    else:
        (phoff, shoff) = struct.unpack_from(e + "II", data, 0x1C)
        (phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from(e + "HHHHH", data, 0x2A)
    keep.append((phoff, phoff + phentsize * phnum))
    for i in range(phnum):
        o = phoff + i * phentsize
        if o + phentsize > len(data):
            break
        if is64:
            p_type, p_flags, p_offset, _, _, p_filesz = struct.unpack_from(e + "IIQQQQ", data, o)
        else:
            p_type, p_offset, _, _, p_filesz, _, p_flags = struct.unpack_from(e + "IIIIIII", data, o)
        if p_type == 3:  # PT_INTERP
            keep.append((p_offset, p_offset + p_filesz))
        if p_type == 1 and p_flags & 2:  # writable PT_LOAD: Go build info sits at its start
            keep.append((p_offset, p_offset + min(p_filesz, 4096)))
    keep.append((shoff, shoff + shentsize * shnum))
    secs = []
    for i in range(shnum):
        o = shoff + i * shentsize
        if o + shentsize > len(data):
            break
        if is64:
            name, typ, _, _, off, size = struct.unpack_from(e + "IIQQQQ", data, o)
        else:
            name, typ, _, _, off, size = struct.unpack_from(e + "IIIIII", data, o)
        secs.append((name, typ, off, size))
    if shstrndx < len(secs):
        _, _, stroff, strsize = secs[shstrndx]
        keep.append((stroff, stroff + min(strsize, 1 << 16)))
        names = data[stroff : stroff + strsize]
        for name, typ, off, size in secs:
            n = names[name : names.find(b"\0", name)] if name < len(names) else b""
            if typ == SHT_ARM_ATTRIBUTES or n in (b".go.buildinfo", b".ARM.attributes", b".interp"):
                keep.append((off, off + min(size, 4096)))
    return keep


def hollow(data, keep, platform):
    """Encode `data` as identify's input: platform byte, hole table, content."""
    size = len(data)
    spans = sorted((max(0, a), min(size, b)) for a, b in keep if a < b and a < size)
    merged = []
    for a, b in spans:
        if merged and a <= merged[-1][1] + 256:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    # Gaps between kept spans become holes; keep the smallest gaps' bytes
    # until few enough holes remain.
    while True:
        gaps = [(merged[i + 1][0] - merged[i][1], i) for i in range(len(merged) - 1)]
        tail = size - merged[-1][1]
        if len(gaps) + (1 if tail > 0 else 0) <= MAX_HOLES:
            break
        _, i = min(gaps)
        merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
    content = b""
    holes = []
    pos = 0
    for a, b in merged:
        if a > pos:
            holes.append((len(content), a - pos))
        content += data[a:b]
        pos = b
    if pos < size:
        holes.append((len(content), size - pos))
    hdr = bytes([platform, len(holes)])
    for at, ln in holes:
        hdr += struct.pack("<II", at, ln)
    return hdr + content


def plain(platform, body):
    return bytes([platform, 0]) + body


def identify_seeds(fixtures):
    seeds = {}
    elves = []
    for base, _, files in os.walk(fixtures):
        for f in files:
            p = os.path.join(base, f)
            if os.path.islink(p) or not os.path.isfile(p) or os.path.getsize(p) > (32 << 20):
                continue
            with open(p, "rb") as fh:
                if fh.read(4) != b"\x7fELF":
                    continue
            if f in ("busybox", "hello") or f.startswith(("ld-", "ld64", "ld.so", "hello-")):
                elves.append(p)
    for p in sorted(elves):
        data = open(p, "rb").read()
        keep = elf_keep_ranges(data)
        if keep is None:
            continue
        machine = struct.unpack_from("<H" if data[5] == 1 else ">H", data, 18)[0]
        match = MACHINE_PLATFORM.get(machine, P_AMD64)
        if machine == 40 and ("v6" in p or "v5" in p or "armel" in p):
            match = P_ARMV6
        # Matching platform, and a mismatching one (the fail path reads Go build info).
        for plat in {match, (match + 1) % 7}:
            seeds[f"elf-{os.path.relpath(p, fixtures).replace('/', '_')}-p{plat}"] = hollow(data, keep, plat)
        # The first page alone (a truncated file).
        seeds[f"head-{os.path.relpath(p, fixtures).replace('/', '_')}"] = plain(match, data[:4096])

    # Minimal synthetic ELF (no fixtures needed): x86-64, one PT_LOAD, PT_INTERP.
    e = bytearray(64 + 56 * 2 + 32)
    e[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHIQQQIHHHHHH", e, 16, 2, 62, 1, 0x401000, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", e, 64, 3, 4, 176, 176, 176, 28, 28, 1)  # PT_INTERP
    struct.pack_into("<IIQQQQQQ", e, 120, 1, 5, 0, 0x400000, 0x400000, len(e), len(e), 0x1000)
    e[176:176 + 28] = b"/lib64/ld-linux-x86-64.so.2\0"
    seeds["elf-synthetic-amd64"] = plain(P_AMD64, bytes(e))
    seeds["elf-synthetic-arm64"] = plain(P_ARM64, bytes(e))

    # Scripts.
    for name, body in {
        "sh": b"#!/bin/sh\necho hi\n",
        "env": b"#!/usr/bin/env python3\n",
        "env-s": b"#! /usr/bin/env -S python3 -u \r\n",
        "self": b"#!/app\n",
        "noint": b"#!\n",
        "long": b"#!/" + b"a" * 300 + b"\n",
        "busybox": b"#!/bin/busybox sh",
        "crlf": b"#!/bin/sh\r\n",
    }.items():
        seeds[f"script-{name}"] = plain(P_AMD64, body)

    # PE: MZ stub, e_lfanew = 0x40, COFF header (x86-64), PE32+ optional header.
    pe = bytearray(0x40 + 4 + 20 + 240)
    pe[:2] = b"MZ"
    struct.pack_into("<I", pe, 0x3C, 0x40)
    pe[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", pe, 0x44, 0x8664, 0, 0, 0, 0, 240, 0x22)
    struct.pack_into("<H", pe, 0x58, 0x20B)
    seeds["pe-amd64-win"] = plain(P_WIN, bytes(pe))
    seeds["pe-amd64-linux"] = plain(P_AMD64, bytes(pe))
    seeds["mz-short"] = plain(P_WIN, b"MZ" + b"\0" * 30)
    # Mach-O 64 (x86-64) and fat.
    seeds["macho64"] = plain(P_AMD64, struct.pack("<IiiIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0) + b"\0" * 4)
    seeds["macho-fat"] = plain(P_ARM64, struct.pack(">II", 0xCAFEBABE, 2) + b"\0" * 40)

    # The parsers' own formats, from the unit tests.
    attrs = b"\x05" + b"7-A\0" + bytes([6, 10, 28, 1, 32, 0, 0])
    sub = b"aeabi\0" + b"\x01" + struct.pack("<I", 5 + len(attrs)) + attrs
    seeds["arm-attrs"] = plain(P_ARMV7, b"A" + struct.pack("<I", len(sub) + 4) + sub)
    module = b"x" * 16 + b"path\tcmd\nbuild\tGOARCH=arm\nbuild\tGOARM=6\nbuild\tGOOS=linux\n" + b"y" * 16
    gobi = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16
    gobi += bytes([8]) + b"go1.19.8" + bytes([len(module)]) + module
    seeds["go-buildinfo"] = plain(P_ARMV6, gobi)
    return seeds


def tar_bytes(fmt, entries, compress=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, mode, data, link in entries:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = mode
            ti.mtime = 0
            if link is not None:
                ti.linkname = link
            ti.size = len(data) if kind == tarfile.REGTYPE else 0
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                ti.devmajor, ti.devminor = 1, 3
            t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    # Drop tarfile's padding to a 10 KiB record: two zero blocks end a tar.
    out = buf.getvalue().rstrip(b"\0")
    out += b"\0" * (-len(out) % 512) + b"\0" * 1024
    return gzip.compress(out, 6, mtime=0) if compress else out


def raw_header(name, typeflag, size=0, link=b"", mode=0o755, major=0, minor=0):
    """One USTAR header block, fields as given (for what tarfile won't write)."""
    b = bytearray(512)
    b[0:len(name[:100])] = name[:100]
    b[100:108] = b"%07o\0" % mode
    b[108:116] = b"0000000\0"
    b[116:124] = b"0000000\0"
    b[124:136] = b"%011o\0" % size
    b[136:148] = b"00000000000\0"
    b[156] = typeflag
    b[157:157 + len(link[:100])] = link[:100]
    b[257:265] = b"ustar\x0000"
    b[329:337] = b"%07o\0" % major
    b[337:345] = b"%07o\0" % minor
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def raw_entry(name, typeflag, data=b"", **kw):
    out = raw_header(name, typeflag, size=len(data), **kw) + data
    return out + b"\0" * (-len(out) % 512)


def pax_records(records):
    out = b""
    for k, v in records:
        base = len(k) + len(v) + 3
        n = base + len(str(base))
        if base + len(str(n)) != n:
            n = base + len(str(n))
        out += b"%d %s=%s\n" % (n, k, v)
    return out


def unpacker_seeds(small_elf):
    """Layers built for the unpacker's rules (issue 8 items 5 and 10)."""
    end = b"\0" * 1024
    pax = lambda recs: raw_entry(b"PaxHeaders/x", ord("x"), pax_records(recs))
    return {
        "same-layer-symlink-parent": raw_entry(b"lib", ord("2"), link=b"usr/lib", mode=0o777)
        + raw_entry(b"lib/app", ord("0"), small_elf)
        + raw_entry(b"x/../../app2", ord("0"), small_elf)
        + end,
        "whiteout-hardlink-device": raw_entry(b".wh.gone", ord("0"))
        + raw_entry(b"hw", ord("1"), link=b"gone")
        + raw_entry(b"cw", ord("3"), major=0, minor=0)
        + raw_entry(b"app", ord("0"), small_elf)
        + raw_entry(b"app3", ord("1"), link=b"app")
        + end,
        "pax-gnu-precedence": pax([(b"path", b"from-pax"), (b"linkpath", b"t")])
        + raw_entry(b"././@LongLink", ord("L"), b"bin/from-long")
        + raw_entry(b"hdr", ord("2"), link=b"/app", mode=0o777)
        + raw_entry(b"g", ord("g"), pax_records([(b"path", b"bin/zz")]))
        + raw_entry(b"dir/", 0)
        + end,
        "pax-sparse": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                           (b"GNU.sparse.name", b"app"), (b"GNU.sparse.realsize", b"64"),
                           (b"GNU.sparse.numblocks", b"1"), (b"GNU.sparse.map", b"0,4")])
        + raw_entry(b"GNUSparseFile.0/app", ord("0"), b"\x7fELF")
        + end,
        "header-only-with-size": raw_header(b"lnk", ord("2"), size=512, link=b"app")
        + raw_entry(b"app", ord("0"), small_elf)
        + end,
    }


def layer_seeds(fixtures):
    elf = b""
    hello = os.path.join(fixtures, "debian/amd64/root/usr/bin/hello")
    if os.path.isfile(hello):
        elf = open(hello, "rb").read()
    small_elf = identify_seeds("/nonexistent")["elf-synthetic-amd64"][2:]
    if not elf:
        elf = small_elf
    R, D, S, L, C, F = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE
    basic = [
        ("app", R, 0o755, elf, None),
        ("bin", D, 0o755, b"", None),
        ("bin/sh", R, 0o755, b"#!/bin/busybox sh\n", None),
        ("usr/bin/env", S, 0o777, b"", "../../bin/sh"),
        ("usr/lib/x", L, 0o755, b"", "app"),
        ("dev/null", C, 0o666, b"", None),
        ("run/fifo", F, 0o644, b"", None),
    ]
    whiteouts = [
        (".wh.app", R, 0o644, b"", None),
        ("bin/.wh..wh..opq", R, 0o644, b"", None),
        ("bin/sh", S, 0o777, b"", "/app"),
        ("etc/.wh.passwd", R, 0o644, b"", None),
        ("lib", D, 0o755, b"", None),
        ("app", R, 0o755, small_elf, None),
    ]
    longname = [
        ("a/" + "b" * 120 + "/c" * 40, R, 0o755, b"#!/bin/sh\n", None),
        ("app", S, 0o777, b"", "/" + "d" * 200),
        ("./usr/../usr/./bin/tool", R, 0o755, small_elf, None),
        ("/abs/path", R, 0o755, b"x", None),
        ("../escape", R, 0o755, b"x", None),
    ]
    loops = [
        ("app", S, 0o777, b"", "app"),
        ("l1", L, 0o755, b"", "l2"),
        ("l2", L, 0o755, b"", "l1"),
        ("h", L, 0o755, b"", "missing"),
        ("bin", S, 0o777, b"", "usr/bin"),
    ]
    seeds = {}
    for fmt, fname in ((tarfile.USTAR_FORMAT, "ustar"), (tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax")):
        seeds[f"basic-{fname}"] = tar_bytes(fmt, basic)
        seeds[f"whiteouts-{fname}"] = tar_bytes(fmt, whiteouts)
        seeds[f"loops-{fname}"] = tar_bytes(fmt, loops)
    seeds["longname-gnu"] = tar_bytes(tarfile.GNU_FORMAT, longname)
    seeds["longname-pax"] = tar_bytes(tarfile.PAX_FORMAT, longname)
    seeds["basic-gzipped"] = tar_bytes(tarfile.PAX_FORMAT, basic, compress=True)
    seeds["empty"] = b"\0" * 1024
    small = [(n, k, m, small_elf if d == elf else d, l) for n, k, m, d, l in basic]
    seeds["small-ustar"] = tar_bytes(tarfile.USTAR_FORMAT, small)
    seeds["dup"] = tar_bytes(tarfile.USTAR_FORMAT, small + whiteouts + small)
    seeds.update(unpacker_seeds(small_elf))
    return seeds


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fixtures, out = sys.argv[1], sys.argv[2]
    for target, seeds in (("identify", identify_seeds(fixtures)), ("layer", layer_seeds(fixtures))):
        d = os.path.join(out, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in seeds.items():
            # Name by content hash too, the way libFuzzer names corpus files.
            h = hashlib.sha1(data).hexdigest()[:12]
            with open(os.path.join(d, f"{name}-{h}"), "wb") as fh:
                fh.write(data)
        total = sum(len(s) for s in seeds.values())
        print(f"seeds: {target}: {len(seeds)} inputs, {total} bytes in {d}")


if __name__ == "__main__":
    main()
