//! Tar streams written block by block, for layers no tar library would
//! write: `..` names, non-UTF-8 bytes, NULs in PAX records, unknown types,
//! header-only entries with a size, extension headers of any size, zero
//! blocks in the middle.
//!
//! The one idea: every header is a 512-byte USTAR block whose fields are set
//! as given and whose checksum is recomputed, so a test says exactly which
//! bytes the reader under test sees.

/// A tar stream under construction.
#[derive(Debug, Clone, Default)]
pub struct RawTar {
    out: Vec<u8>,
}

/// One header's fields.
#[derive(Debug, Clone)]
pub struct Hdr {
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub mode: u64,
    pub size: u64,
    pub linkname: Vec<u8>,
    pub devmajor: u64,
    pub devminor: u64,
}

impl Hdr {
    pub fn new(name: &[u8], typeflag: u8) -> Hdr {
        Hdr {
            name: name.to_vec(),
            typeflag,
            mode: 0o644,
            size: 0,
            linkname: Vec::new(),
            devmajor: 0,
            devminor: 0,
        }
    }

    /// The 512-byte block (names over 100 bytes are cut: pair them with a
    /// PAX record or a GNU long name).
    pub fn block(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        let n = self.name.len().min(100);
        b[..n].copy_from_slice(&self.name[..n]);
        octal(&mut b[100..108], self.mode);
        octal(&mut b[108..116], 0);
        octal(&mut b[116..124], 0);
        octal(&mut b[124..136], self.size);
        octal(&mut b[136..148], 0);
        b[156] = self.typeflag;
        let l = self.linkname.len().min(100);
        b[157..157 + l].copy_from_slice(&self.linkname[..l]);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        octal(&mut b[329..337], self.devmajor);
        octal(&mut b[337..345], self.devminor);
        checksum(&mut b);
        b
    }
}

pub fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}\0", v, w = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

/// Recompute a header block's checksum (after editing it).
pub fn checksum(b: &mut [u8; 512]) {
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&c| c as u64).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// PAX records as Go's writer formats them ("%d %s=%s\n").
pub fn pax_records(records: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let base = k.len() + v.len() + 3;
        let mut n = base + base.to_string().len();
        if base + n.to_string().len() != n {
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

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    /// A header block and its data, padded to a block.
    pub fn entry(mut self, h: &Hdr, data: &[u8]) -> Self {
        self.out.extend_from_slice(&h.block());
        self.data(data)
    }

    /// Raw bytes, padded to a block.
    pub fn data(mut self, data: &[u8]) -> Self {
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.resize(self.out.len() + pad, 0);
        self
    }

    /// Bytes as they are (no padding).
    pub fn bytes_raw(mut self, b: &[u8]) -> Self {
        self.out.extend_from_slice(b);
        self
    }

    /// A PAX `x` header with these records.
    pub fn pax(self, records: &[(&[u8], &[u8])]) -> Self {
        let data = pax_records(records);
        let mut h = Hdr::new(b"PaxHeaders/x", b'x');
        h.size = data.len() as u64;
        self.entry(&h, &data)
    }

    /// A PAX `g` header with these records.
    pub fn global(self, name: &[u8], records: &[(&[u8], &[u8])]) -> Self {
        let data = pax_records(records);
        let mut h = Hdr::new(name, b'g');
        h.size = data.len() as u64;
        self.entry(&h, &data)
    }

    /// A GNU long name (`L`) or long link name (`K`) header.
    pub fn gnu_long(self, typeflag: u8, value: &[u8]) -> Self {
        let mut h = Hdr::new(b"././@LongLink", typeflag);
        h.size = value.len() as u64;
        self.entry(&h, value)
    }

    /// A regular file; a name over 100 bytes goes in a PAX record.
    pub fn file(self, name: &[u8], mode: u64, data: &[u8]) -> Self {
        let mut h = Hdr::new(name, b'0');
        h.mode = mode;
        h.size = data.len() as u64;
        self.long(name, None).entry(&h, data)
    }

    pub fn dir(self, name: &[u8], mode: u64) -> Self {
        let mut h = Hdr::new(name, b'5');
        h.mode = mode;
        self.long(name, None).entry(&h, b"")
    }

    pub fn symlink(self, name: &[u8], target: &[u8]) -> Self {
        let mut h = Hdr::new(name, b'2');
        h.mode = 0o777;
        h.linkname = target.to_vec();
        self.long(name, Some(target)).entry(&h, b"")
    }

    pub fn hardlink(self, name: &[u8], target: &[u8], mode: u64) -> Self {
        let mut h = Hdr::new(name, b'1');
        h.mode = mode;
        h.linkname = target.to_vec();
        self.long(name, Some(target)).entry(&h, b"")
    }

    /// A device or fifo (`3` char, `4` block, `6` fifo).
    pub fn node(self, name: &[u8], typeflag: u8, major: u64, minor: u64) -> Self {
        let mut h = Hdr::new(name, typeflag);
        h.devmajor = major;
        h.devminor = minor;
        self.entry(&h, b"")
    }

    /// A whiteout file for `dir/name` (`dir/.wh.name`).
    pub fn whiteout(self, path: &[u8]) -> Self {
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => (&b""[..], path),
        };
        let mut n = dir.to_vec();
        n.extend_from_slice(b".wh.");
        n.extend_from_slice(name);
        self.file(&n, 0o644, b"")
    }

    /// PAX records for names and link targets that do not fit a header.
    fn long(self, name: &[u8], target: Option<&[u8]>) -> Self {
        let mut recs: Vec<(&[u8], &[u8])> = Vec::new();
        if name.len() > 100 {
            recs.push((b"path", name));
        }
        if let Some(t) = target.filter(|t| t.len() > 100) {
            recs.push((b"linkpath", t));
        }
        if recs.is_empty() {
            self
        } else {
            self.pax(&recs)
        }
    }

    /// The stream with its end marker (two zero blocks).
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        self.out
    }

    /// The stream as it is, without an end marker.
    pub fn unterminated(self) -> Vec<u8> {
        self.out
    }
}
