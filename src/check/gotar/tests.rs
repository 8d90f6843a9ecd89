//! Go archive/tar rules, one test per rule, on hand-made tar blocks. The
//! same cases run against Go itself in tests/e2e/unpack.rs.

use super::sparse::MISS_DATA;
use super::*;

/// A header block: USTAR magic, octal fields, checksum set.
pub(crate) fn block(name: &[u8], typeflag: u8, size: u64) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    put_octal(&mut b[100..108], 0o755);
    put_octal(&mut b[108..116], 0);
    put_octal(&mut b[116..124], 0);
    put_octal(&mut b[124..136], size);
    put_octal(&mut b[136..148], 0);
    b[156] = typeflag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    checksum(&mut b);
    b
}

pub(crate) fn put_octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}\0", v, w = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

pub(crate) fn checksum(b: &mut [u8; 512]) {
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&c| c as u64).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
}

/// One entry: header block, data, padding.
pub(crate) fn entry(h: [u8; 512], data: &[u8]) -> Vec<u8> {
    let mut v = h.to_vec();
    v.extend_from_slice(data);
    v.resize(v.len() + (512 - data.len() % 512) % 512, 0);
    v
}

/// PAX records as Go writes them.
pub(crate) fn pax(records: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let base = k.len() + v.len() + 3;
        let mut n = base + base.to_string().len();
        if n.to_string().len() + base != n {
            n = base + n.to_string().len();
        }
        out.extend_from_slice(n.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

pub(crate) fn x(records: &[(&[u8], &[u8])]) -> Vec<u8> {
    let data = pax(records);
    entry(block(b"PaxHeader", b'x', data.len() as u64), &data)
}

pub(crate) fn end() -> Vec<u8> {
    vec![0u8; 1024]
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// Every entry: (header, data) until the end, or the error.
fn read_all(tar: &[u8]) -> Result<Vec<(Header, Vec<u8>)>, TarError> {
    let mut r = TarReader::new(tar);
    let mut out = Vec::new();
    while let Some(h) = r.next_header()? {
        let mut data = Vec::new();
        r.read_to_end(&mut data)?;
        out.push((h, data));
    }
    Ok(out)
}

fn names(tar: &[u8]) -> Vec<Vec<u8>> {
    read_all(tar)
        .unwrap()
        .into_iter()
        .map(|(h, _)| h.name)
        .collect()
}

fn header_error(tar: &[u8]) -> String {
    match read_all(tar) {
        Err(e @ TarError::Header { .. }) => e.to_string(),
        other => panic!("expected an invalid header, got {other:?}"),
    }
}

#[test]
fn ustar_prefix_is_joined_whatever_the_version() {
    let mut b = block(b"app", b'0', 0);
    b[345..348].copy_from_slice(b"usr");
    b[263..265].copy_from_slice(b"xx");
    checksum(&mut b);
    assert_eq!(
        names(&cat(&[entry(b, b""), end()])),
        vec![b"usr/app".to_vec()]
    );
}

#[test]
fn gnu_header_has_no_prefix_and_star_a_short_one() {
    let mut g = block(b"app", b'0', 0);
    g[257..263].copy_from_slice(b"ustar ");
    g[263..265].copy_from_slice(b" \0");
    g[345..348].copy_from_slice(b"\0\0\0");
    checksum(&mut g);
    let mut s = block(b"app", b'0', 0);
    s[345..348].copy_from_slice(b"opt");
    s[508..512].copy_from_slice(b"tar\0");
    checksum(&mut s);
    assert_eq!(
        names(&cat(&[entry(g, b""), entry(s, b""), end()])),
        vec![b"app".to_vec(), b"opt/app".to_vec()]
    );
}

#[test]
fn checksum_may_be_a_signed_sum_but_must_match() {
    let mut b = block(b"caf\xe9", b'0', 0);
    b[148..156].fill(b' ');
    let signed: i64 = b.iter().map(|&c| c as i8 as i64).sum();
    b[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
    assert_eq!(
        names(&cat(&[entry(b, b""), end()])),
        vec![b"caf\xe9".to_vec()]
    );
    b[148] = b'7';
    assert!(header_error(&cat(&[entry(b, b""), end()])).contains("checksum"));
}

#[test]
fn one_zero_block_followed_by_data_is_refused() {
    let tar = cat(&[vec![0u8; 512], entry(block(b"hidden", b'0', 0), b""), end()]);
    assert!(header_error(&tar).contains("zero block"));
}

#[test]
fn archive_ends_at_two_zero_blocks_or_at_a_block_boundary() {
    let app = entry(block(b"app", b'0', 3), b"abc");
    // Two zero blocks, then bytes nobody reads.
    let tar = cat(&[app.clone(), end(), b"trailing garbage".to_vec()]);
    assert_eq!(names(&tar), vec![b"app".to_vec()]);
    // No end marker at all, or one zero block.
    assert_eq!(names(&app), vec![b"app".to_vec()]);
    assert_eq!(
        names(&cat(&[app.clone(), vec![0; 512]])),
        vec![b"app".to_vec()]
    );
    // A cut inside the padding is a clean end too (Go's tryReadFull).
    let cut = &app[..512 + 3 + 10];
    assert_eq!(names(cut), vec![b"app".to_vec()]);
    // A cut inside a header or inside data is not.
    assert!(matches!(read_all(&app[..300]), Err(TarError::Io(_))));
    assert!(matches!(read_all(&app[..514]), Err(TarError::Io(_))));
}

#[test]
fn header_only_types_have_no_data_whatever_their_size() {
    // A symlink claiming 512 bytes of data: Go reads the next header right
    // after it, so the "data" is an entry.
    let sneaky = entry(block(b"hidden", b'0', 0), b"");
    let tar = cat(&[block(b"lnk", b'2', 512).to_vec(), sneaky, end()]);
    assert_eq!(names(&tar), vec![b"lnk".to_vec(), b"hidden".to_vec()]);
}

#[test]
fn second_pax_header_replaces_the_first() {
    let tar = cat(&[
        x(&[(b"path", b"first"), (b"linkpath", b"l1")]),
        x(&[(b"path", b"second")]),
        entry(block(b"hdr", b'2', 0), b""),
        end(),
    ]);
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].0.name, b"second");
    assert_eq!(v[0].0.linkname, b"", "the first x is gone entirely");
}

#[test]
fn duplicate_pax_key_last_wins_and_empty_value_is_ignored() {
    let tar = cat(&[
        x(&[(b"path", b"a"), (b"path", b"b"), (b"linkpath", b"")]),
        entry(block(b"hdr", b'1', 0), b""),
        end(),
    ]);
    let mut b = block(b"hdr", b'1', 0);
    b[157..160].copy_from_slice(b"tgt");
    checksum(&mut b);
    let tar2 = cat(&[x(&[(b"linkpath", b"")]), entry(b, b""), end()]);
    assert_eq!(read_all(&tar).unwrap()[0].0.name, b"b");
    assert_eq!(read_all(&tar2).unwrap()[0].0.linkname, b"tgt");
}

#[test]
fn nul_in_pax_path_is_refused_as_go_refuses_it() {
    for k in [&b"path"[..], b"linkpath", b"uname", b"gname"] {
        let tar = cat(&[
            x(&[(k, b"app\0evil")]),
            entry(block(b"a", b'0', 0), b""),
            end(),
        ]);
        assert!(header_error(&tar).contains("NUL"), "{k:?}");
    }
    // Elsewhere only a NUL in the key is.
    let ok = cat(&[
        x(&[(b"comment", b"a\0b")]),
        entry(block(b"a", b'0', 0), b""),
        end(),
    ]);
    assert_eq!(names(&ok), vec![b"a".to_vec()]);
    let bad = cat(&[
        x(&[(b"com\0ment", b"ab")]),
        entry(block(b"a", b'0', 0), b""),
        end(),
    ]);
    header_error(&bad);
}

#[test]
fn malformed_pax_records_are_refused() {
    for data in [
        &b"12 path=ab\n"[..], // length too long
        b"11 path=ab\nx",     // trailing garbage (no length)
        b"10 pathab\n",       // no '='
        b"9 path=a\r",        // no newline
        b"10 =value\n",       // empty key
        b"x path=a\n",        // not a number
        b"3 a=\n",            // below the minimum length
    ] {
        let tar = cat(&[
            entry(block(b"P", b'x', data.len() as u64), data),
            entry(block(b"a", b'0', 0), b""),
            end(),
        ]);
        header_error(&tar);
    }
    // A PAX size that does not parse, or is negative for a file.
    for v in [&b"abc"[..], b"-5"] {
        let tar = cat(&[x(&[(b"size", v)]), entry(block(b"a", b'0', 0), b""), end()]);
        header_error(&tar);
    }
    // ... but a negative size on a symlink is fine (no data section).
    let tar = cat(&[
        x(&[(b"size", b"-5")]),
        entry(block(b"a", b'2', 0), b""),
        end(),
    ]);
    assert_eq!(names(&tar), vec![b"a".to_vec()]);
}

#[test]
fn pax_size_decides_where_the_next_header_is() {
    let data = [b'z'; 700];
    let mut body = entry(block(b"big", b'0', 10), &data);
    body.truncate(512 + 1024);
    let tar = cat(&[
        x(&[(b"size", b"700")]),
        body,
        entry(block(b"next", b'0', 0), b""),
        end(),
    ]);
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].1.len(), 700);
    assert_eq!(v[1].0.name, b"next");
}

#[test]
fn global_header_is_an_entry_named_by_its_path_and_drops_a_pending_x() {
    let g_data = pax(&[(b"path", b"bin/zz")]);
    let tar = cat(&[
        x(&[(b"path", b"lost")]),
        entry(block(b"g-hdr", b'g', g_data.len() as u64), &g_data),
        entry(block(b"plain", b'0', 0), b""),
        end(),
    ]);
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].0.typeflag, b'g');
    assert_eq!(v[0].0.name, b"bin/zz");
    assert_eq!(v[1].0.name, b"plain", "the g's records do not carry over");
    // Without a path record, the header's own name.
    let tar = cat(&[entry(block(b"g-hdr", b'g', 0), b""), end()]);
    assert_eq!(names(&tar), vec![b"g-hdr".to_vec()]);
}

#[test]
fn dangling_pax_header_at_the_end_is_a_clean_end() {
    let tar = cat(&[entry(block(b"a", b'0', 0), b""), x(&[(b"path", b"b")])]);
    assert_eq!(names(&tar), vec![b"a".to_vec()]);
}

#[test]
fn gnu_long_name_beats_pax_and_the_last_one_wins() {
    let long = |t: u8, v: &[u8]| entry(block(b"././@LongLink", t, v.len() as u64), v);
    let tar = cat(&[
        long(b'L', b"first"),
        x(&[(b"path", b"pax")]),
        long(b'L', b"second\0ignored"),
        long(b'K', b"target"),
        entry(block(b"hdr", b'1', 0), b""),
        end(),
    ]);
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].0.name, b"second");
    assert_eq!(v[0].0.linkname, b"target");
    // An empty long name changes nothing (PAX path then applies).
    let tar = cat(&[
        long(b'L', b"x"),
        long(b'L', b"\0"),
        x(&[(b"path", b"pax")]),
        entry(block(b"hdr", b'0', 0), b""),
        end(),
    ]);
    assert_eq!(names(&tar), vec![b"pax".to_vec()]);
}

#[test]
fn long_name_in_a_v7_header_still_counts() {
    let mut l = block(b"././@LongLink", b'L', 7);
    l[257..265].fill(0);
    checksum(&mut l);
    let tar = cat(&[
        entry(l, b"v7-name"),
        entry(block(b"h", b'0', 0), b""),
        end(),
    ]);
    assert_eq!(names(&tar), vec![b"v7-name".to_vec()]);
}

#[test]
fn extension_data_over_1_mib_is_refused_before_it_is_read() {
    // The header claims 1 GiB; nothing follows. Go would read 1 MiB + 1 and
    // stop with ErrFieldTooLong; we stop at the header.
    for t in [b'x', b'g', b'L', b'K'] {
        let tar = entry(block(b"big", t, 1 << 30), b"");
        match read_all(&tar) {
            Err(TarError::TooLong { size, .. }) => assert_eq!(size, 1 << 30),
            other => panic!("{}: {other:?}", t as char),
        }
    }
    // Exactly 1 MiB is read.
    let name = vec![b'n'; 1 << 20];
    let tar = cat(&[
        entry(block(b"L", b'L', name.len() as u64), &name),
        entry(block(b"short", b'0', 0), b""),
        end(),
    ]);
    assert_eq!(names(&tar), vec![name]);
}

#[test]
fn typeflag_nul_with_trailing_slash_is_a_directory() {
    let tar = cat(&[
        entry(block(b"dir/", 0, 0), b""),
        entry(block(b"file", 0, 0), b""),
        entry(block(b"reg/", b'0', 0), b""),
        end(),
    ]);
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].0.typeflag, b'5');
    assert_eq!(v[1].0.typeflag, b'0');
    assert_eq!(v[2].0.typeflag, b'0', "only \\0 turns into a directory");
}

#[test]
fn numeric_fields_octal_base256_and_garbage() {
    let mut b = block(b"a", b'0', 0);
    b[124..136].copy_from_slice(b"  00012\0    ");
    checksum(&mut b);
    let tar = cat(&[entry(b, &[b'q'; 10]), end()]);
    assert_eq!(read_all(&tar).unwrap()[0].0.size, 10);
    let mut b = block(b"a", b'0', 0);
    b[124..136].fill(0);
    b[124] = 0x80;
    b[135] = 3;
    checksum(&mut b);
    let tar = cat(&[entry(b, b"abc"), end()]);
    assert_eq!(read_all(&tar).unwrap()[0].1, b"abc");
    // A negative base-256 size, and a field that is not a number.
    let mut b = block(b"a", b'0', 0);
    b[124..136].fill(0xff);
    checksum(&mut b);
    header_error(&cat(&[entry(b, b""), end()]));
    let mut b = block(b"a", b'0', 0);
    b[100..108].copy_from_slice(b"07x5\0\0\0\0");
    checksum(&mut b);
    assert!(header_error(&cat(&[entry(b, b""), end()])).contains("mode"));
}

#[test]
fn pax_sparse_file_takes_its_name_and_size_and_reads_holes_as_zeros() {
    // GNU sparse 0.1: data "AB" at offset 4 and "C" at 9 of a 12-byte file.
    let tar = cat(&[
        x(&[
            (b"GNU.sparse.major", b"0"),
            (b"GNU.sparse.minor", b"1"),
            (b"GNU.sparse.name", b"sparse/real"),
            (b"GNU.sparse.realsize", b"12"),
            (b"GNU.sparse.numblocks", b"2"),
            (b"GNU.sparse.map", b"4,2,9,1"),
            (b"path", b"GNUSparseFile.0/real"),
        ]),
        entry(block(b"GNUSparseFile.0/real", b'0', 3), b"ABC"),
        end(),
    ]);
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].0.name, b"sparse/real");
    assert_eq!(v[0].0.size, 12);
    assert!(v[0].0.sparse && v[0].0.sparse_error.is_none());
    assert_eq!(v[0].1, b"\0\0\0\0AB\0\0\0C\0\0");
}

#[test]
fn pax_sparse_1_0_map_is_read_from_the_data() {
    let mut data = b"2\n0\n1\n5\n2\n".to_vec();
    data.resize(512, 0);
    data.extend_from_slice(b"XYZ");
    let tar = cat(&[
        x(&[
            (b"GNU.sparse.major", b"1"),
            (b"GNU.sparse.minor", b"0"),
            (b"GNU.sparse.name", b"s10"),
            (b"GNU.sparse.realsize", b"8"),
            (b"size", b"515"),
        ]),
        entry(block(b"x", b'0', 0), &data),
        entry(block(b"after", b'0', 0), b""),
        end(),
    ]);
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].0.name, b"s10");
    assert_eq!(v[0].1, b"X\0\0\0\0YZ\0");
    assert_eq!(v[1].0.name, b"after");
}

#[test]
fn sparse_map_and_data_that_do_not_add_up_fail_when_read() {
    let tar = cat(&[
        x(&[
            (b"GNU.sparse.map", b"0,5"),
            (b"GNU.sparse.numblocks", b"1"),
            (b"GNU.sparse.size", b"5"),
        ]),
        entry(block(b"s", b'0', 2), b"ab"),
        end(),
    ]);
    let mut r = TarReader::new(&tar[..]);
    let h = r.next_header().unwrap().unwrap();
    assert_eq!(h.sparse_error, Some(MISS_DATA));
    let mut v = Vec::new();
    assert!(r.read_to_end(&mut v).is_err());
}

#[test]
fn old_gnu_sparse_entry_reads_its_extension_blocks() {
    let mut b = block(b"oldsparse", b'S', 2);
    b[257..263].copy_from_slice(b"ustar ");
    b[263..265].copy_from_slice(b" \0");
    b[345..500].fill(0);
    put_octal(&mut b[483..495], 1000);
    put_octal(&mut b[386..398], 10);
    put_octal(&mut b[398..410], 1);
    b[482] = 1;
    checksum(&mut b);
    let mut ext = [0u8; 512];
    put_octal(&mut ext[0..12], 999);
    put_octal(&mut ext[12..24], 1);
    let mut tar = b.to_vec();
    tar.extend_from_slice(&ext);
    tar.extend_from_slice(&entry(block(b"ignored", b'0', 0), b"")[..0]);
    let mut data = b"PQ".to_vec();
    data.resize(512, 0);
    tar.extend_from_slice(&data);
    tar.extend(entry(block(b"next", b'0', 0), b""));
    tar.extend(end());
    let v = read_all(&tar).unwrap();
    assert_eq!(v[0].0.typeflag, b'S');
    assert_eq!(v[0].0.size, 1000);
    assert_eq!(v[0].1.len(), 1000);
    assert_eq!(&v[0].1[10..11], b"P");
    assert_eq!(&v[0].1[999..], b"Q");
    assert_eq!(v[1].0.name, b"next");
}

#[test]
fn global_header_with_path_and_a_bad_record_is_ambiguous() {
    let g = pax(&[(b"path", b"p"), (b"uid", b"nope")]);
    let tar = cat(&[entry(block(b"g", b'g', g.len() as u64), &g), end()]);
    assert!(matches!(read_all(&tar), Err(TarError::Ambiguous { .. })));
}

#[test]
fn sparse_holes_are_bounded() {
    // 16 bytes of input claim 1 TiB of holes.
    let tar = cat(&[
        x(&[
            (b"GNU.sparse.map", b"0,1"),
            (b"GNU.sparse.numblocks", b"1"),
            (b"GNU.sparse.size", b"1099511627776"),
        ]),
        entry(block(b"s", b'0', 1), b"A"),
        end(),
    ]);
    let mut r = TarReader::new(&tar[..]);
    r.set_hole_budget(1 << 20);
    assert_eq!(r.next_header().unwrap().unwrap().size, 1 << 40);
    let mut sink = Vec::new();
    let e = TarError::from(r.read_to_end(&mut sink).unwrap_err());
    assert!(matches!(e, TarError::Limit { .. }), "{e}");
    assert!(sink.len() <= 2 << 20);
}
