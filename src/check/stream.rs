//! One layer blob as a tar stream, decompressed on the fly and verified as it
//! is read.
//!
//! The one idea: two hashing readers bracket the decompressor: one sees the
//! stored bytes (the descriptor digest), the other the tar stream (the
//! config's `diff_id`). Both are checked when the stream has been read to its
//! end, so a layer's answers only count once all its bytes were verified.
//! Between them, the decompressor counts what it inflates and stops a layer
//! that grows past its bound (`LayerLimits`): a decompression bomb costs
//! seconds, not minutes.

use super::digest::{Algorithm, Digest, HashingReader};
use super::gotar::{TarError, TarReader};
use super::slots::{SlotGuard, Slots};
use super::source::{BlobKey, BlobSource};
use std::io::{self, BufRead, BufReader, Read};

mod piped;

/// Read buffer sizes: the stored blob and the decompressed stream.
const RAW_BUF: usize = 128 * 1024;
const TAR_BUF: usize = 64 * 1024;

/// How far a compressed layer may inflate, and how much memory the index of
/// the layers read may take. The runtimes set no bound (they unpack whatever
/// they are given); a checker must, or a small hostile blob keeps it busy
/// for minutes or takes all its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerLimits {
    /// Inflated bytes per compressed byte.
    pub max_ratio: u64,
    /// Inflated bytes, whatever the compressed size.
    pub max_size: u64,
    /// Bytes of layer index (about 70 per file) the process may hold.
    pub max_index: u64,
}

/// The largest zstd window decoded: 8 MiB, what zstd's levels 1 to 19 and
/// the encoders of BuildKit, containerd and Docker use; `zstd --ultra` and
/// `--long` frames ask for up to 128 MiB of memory, which a hostile layer
/// fills (zstd lib/zstd.h ZSTD_WINDOWLOG_LIMIT_DEFAULT is 27).
const ZSTD_WINDOW_LOG_MAX: u32 = 23;
const ZSTD_WINDOW_MSG: &str = "a zstd frame of this layer needs a window of more than 8 MiB \
     (zstd --ultra or --long): archgate does not decode those";

/// The default index bound: a layer of 400,000 files fits (about 80 bytes each), and a hostile
/// layer cannot push the process past 64 MB.
pub const DEFAULT_MAX_INDEX: u64 = 32 << 20;

/// Every layer may inflate to this much, however small its blob: small
/// layers holding a zero-filled file are legitimate.
pub const INFLATE_FLOOR: u64 = 1 << 30;

impl Default for LayerLimits {
    fn default() -> Self {
        LayerLimits {
            // Real layers inflate 2x to 10x; only long runs of one byte (a
            // zero-filled file) go past 100x, and deflate cannot pass 1032x.
            max_ratio: 100,
            max_size: 64 << 30,
            max_index: DEFAULT_MAX_INDEX,
        }
    }
}

impl LayerLimits {
    /// The inflated size a layer of `compressed` bytes may reach.
    pub fn bound(&self, compressed: u64) -> u64 {
        self.max_ratio
            .saturating_mul(compressed)
            .max(INFLATE_FLOOR)
            .min(self.max_size)
    }
}

/// The error a bounded decompressor returns (inside an `io::Error`).
#[derive(Debug)]
struct Inflated {
    bound: u64,
    compressed: Option<u64>,
}

impl std::fmt::Display for Inflated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "it inflates past {}", human_bytes(self.bound))?;
        if let Some(c) = self.compressed {
            write!(f, " from {} compressed", human_bytes(c))?;
        }
        write!(
            f,
            ": refused as a decompression bomb (raise the bound with --max-layer-ratio or --max-layer-size)"
        )
    }
}

impl std::error::Error for Inflated {}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// One layer of an image, as the manifest (or `manifest.json`) names it.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    pub key: BlobKey,
    /// `blob sha256:...` or `layer <id>/layer.tar`, for messages.
    pub label: String,
    /// Digest of the stored bytes, when known (always for OCI).
    pub digest: Option<Digest>,
    /// Size of the stored bytes, when known.
    pub size: Option<u64>,
    /// Digest of the uncompressed tar stream (`rootfs.diff_ids[i]`).
    pub diff_id: Digest,
}

/// Why a layer could not be read: `what` names the blob and the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFail {
    pub what: String,
    pub message: String,
}

impl LayerFail {
    pub fn new(src: &dyn BlobSource, spec: &LayerSpec, message: impl Into<String>) -> Self {
        LayerFail {
            what: format!("{} in {}", spec.label, src.location()),
            message: message.into(),
        }
    }

    pub fn io(src: &dyn BlobSource, spec: &LayerSpec, e: &io::Error) -> Self {
        let msg = if let Some(b) = e.get_ref().and_then(|i| i.downcast_ref::<Inflated>()) {
            b.to_string()
        } else if e.kind() == io::ErrorKind::NotFound {
            "not found".to_string()
        } else if e.kind() == io::ErrorKind::UnexpectedEof {
            format!("truncated ({e})")
        } else {
            format!("unreadable: {e}")
        };
        LayerFail::new(src, spec, msg)
    }
}

impl LayerFail {
    /// The tar stream is not one Go's reader (so the runtime) accepts, or
    /// is beyond archgate's bounds.
    pub fn tar(src: &dyn BlobSource, spec: &LayerSpec, e: TarError) -> Self {
        match e {
            TarError::Io(e) => LayerFail::io(src, spec, &e),
            e => LayerFail::new(src, spec, e.to_string()),
        }
    }
}

impl From<LayerFail> for crate::rootfs::FsError {
    fn from(f: LayerFail) -> Self {
        crate::rootfs::FsError::Corrupt {
            what: f.what,
            message: f.message,
        }
    }
}

type Raw = BufReader<HashingReader<Box<dyn Read + Send>>>;

/// The decompressor, chosen by sniffing the stored bytes (media types are
/// only a hint: docker archives and `+tar` layers are sometimes gzip'd).
enum Codec {
    Plain(Raw),
    Gzip(Box<flate2::bufread::MultiGzDecoder<Raw>>),
    Zstd(zstd::stream::read::Decoder<'static, Raw>),
}

/// A layer's decompressor, bounded in what it may inflate.
pub struct Decoder {
    codec: Codec,
    inflated: u64,
    /// `None` for plain layers: their bytes are real, not inflated.
    bound: Option<u64>,
    compressed: Option<u64>,
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.codec {
            Codec::Plain(r) => r.read(buf),
            Codec::Gzip(r) => r.read(buf),
            Codec::Zstd(r) => r.read(buf).map_err(|e| {
                // zstd's "Frame requires too much memory for decoding".
                if e.to_string().contains("memory") {
                    io::Error::new(io::ErrorKind::InvalidData, ZSTD_WINDOW_MSG)
                } else {
                    e
                }
            }),
        }?;
        self.inflated += n as u64;
        if let Some(bound) = self.bound.filter(|b| self.inflated > *b) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                Inflated {
                    bound,
                    compressed: self.compressed,
                },
            ));
        }
        Ok(n)
    }
}

impl Decoder {
    fn into_raw(self) -> HashingReader<Box<dyn Read + Send>> {
        // Bytes still buffered were already hashed below the buffer.
        match self.codec {
            Codec::Plain(r) => r.into_inner(),
            Codec::Gzip(r) => r.into_inner().into_inner(),
            Codec::Zstd(r) => r.finish().into_inner(),
        }
    }
}

/// A stored layer at least this big (or of unknown size) may move its
/// decompressor to a thread of its own ([`piped`]) when a core is free:
/// about 30 ms of inflating, far more than a thread costs.
const PIPE_MIN: u64 = 4 << 20;

/// Inflated bytes read in place before a layer looks for a free core: the
/// read-ahead workers of a lookup start at the same time, and should get
/// the cores first (they gain more: a whole layer each).
const PIPE_AFTER: u64 = 2 << 20;

/// When a layer's decompressor runs on a thread of its own.
#[derive(Clone, Copy)]
enum Pipe {
    /// From the first byte (tests).
    #[cfg(test)]
    Now,
    /// Once a slot is free, after `PIPE_AFTER` bytes.
    WhenFree(&'static Slots),
    Never,
}

/// The decompressor, read in place or on a thread of its own.
pub struct Inflater(Mode);

enum Mode {
    InPlace(Decoder, Pipe),
    Piped(piped::Piped<Decoder>),
    /// Only while moving the decoder to its thread.
    Moving,
}

impl Read for Inflater {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Mode::InPlace(d, Pipe::WhenFree(slots)) = &self.0 {
            // Looked at once per read: an atomic load while none is free.
            if d.inflated >= PIPE_AFTER {
                if let Some(slot) = slots.try_hold() {
                    self.pipe(Some(slot));
                }
            }
        }
        match &mut self.0 {
            Mode::InPlace(d, _) => d.read(buf),
            Mode::Piped(p) => p.read(buf),
            Mode::Moving => Err(io::Error::other(
                "the layer's decompressor was lost (a bug in archgate)",
            )),
        }
    }
}

impl Inflater {
    fn new(dec: Decoder, pipe: Pipe) -> Inflater {
        match pipe {
            #[cfg(test)]
            Pipe::Now => {
                let mut i = Inflater(Mode::InPlace(dec, Pipe::Never));
                i.pipe(None);
                i
            }
            _ => Inflater(Mode::InPlace(dec, pipe)),
        }
    }

    /// Move the decoder to a thread of its own, which keeps `slot` while it
    /// runs; in place still if no thread starts.
    fn pipe(&mut self, slot: Option<SlotGuard>) {
        let Mode::InPlace(dec, _) = std::mem::replace(&mut self.0, Mode::Moving) else {
            return;
        };
        self.0 = match piped::spawn(dec, slot) {
            Ok(p) => Mode::Piped(p),
            Err(dec) => Mode::InPlace(dec, Pipe::Never),
        };
    }

    #[cfg(test)]
    fn is_piped(&self) -> bool {
        matches!(self.0, Mode::Piped(_))
    }

    /// The stored stream, once the inflated one was read to its end.
    fn into_raw(self) -> io::Result<HashingReader<Box<dyn Read + Send>>> {
        let lost = || io::Error::other("the layer's decompressor gave no end (a bug in archgate)");
        match self.0 {
            Mode::InPlace(d, _) => Ok(d.into_raw()),
            Mode::Piped(p) => p.into_end().map(Decoder::into_raw).ok_or_else(lost),
            Mode::Moving => Err(lost()),
        }
    }
}

/// A layer's tar stream, read as Go reads it, with the hashes that verify it.
pub type LayerArchive = TarReader<BufReader<HashingReader<Inflater>>>;

/// Tells a stream read ahead of need to stop: checked before every read of
/// the stored bytes (128 KiB at most), so a stopped layer ends within
/// about a millisecond of inflating.
pub trait Stop: Send + Sync {
    fn stopped(&self) -> bool;
}

/// The stored bytes, failing once `stop` says so.
struct Stoppable {
    inner: Box<dyn Read + Send>,
    stop: std::sync::Arc<dyn Stop>,
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.stopped() {
            // Not `Interrupted`: readers retry those.
            return Err(io::Error::other("stopped: a layer above answered"));
        }
        self.inner.read(buf)
    }
}

/// Open a layer for streaming. `stop` may end a read ahead of need early
/// (its error then means nothing: the caller asked for the stop). The
/// layer's decompressor may move to a thread of its own when one of `slots`
/// is free (see [`Pipe`]).
pub fn open_layer(
    src: &dyn BlobSource,
    spec: &LayerSpec,
    limits: &LayerLimits,
    stop: Option<std::sync::Arc<dyn Stop>>,
    slots: &'static Slots,
) -> Result<LayerArchive, LayerFail> {
    let compressed = spec.size.or_else(|| src.size(&spec.key).ok().flatten());
    let pipe = match compressed {
        Some(n) if n < PIPE_MIN => Pipe::Never,
        _ if slots.max() < 2 => Pipe::Never,
        _ => Pipe::WhenFree(slots),
    };
    open_layer_piped(src, spec, limits, stop, pipe, compressed)
}

/// [`open_layer`], its decompressor moving to a thread as `pipe` says;
/// `compressed`: the stored size, when known.
fn open_layer_piped(
    src: &dyn BlobSource,
    spec: &LayerSpec,
    limits: &LayerLimits,
    stop: Option<std::sync::Arc<dyn Stop>>,
    pipe: Pipe,
    compressed: Option<u64>,
) -> Result<LayerArchive, LayerFail> {
    let fail = |e: io::Error| LayerFail::io(src, spec, &e);
    let mut blob = src.open(&spec.key).map_err(fail)?;
    if let Some(stop) = stop {
        blob = Box::new(Stoppable { inner: blob, stop });
    }
    let alg = spec
        .digest
        .as_ref()
        .map_or(Algorithm::Sha256, Digest::algorithm);
    let mut raw = BufReader::with_capacity(RAW_BUF, HashingReader::new(blob, alg));
    let head = raw.fill_buf().map_err(fail)?;
    let codec = if head.starts_with(&[0x1f, 0x8b]) {
        Codec::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(raw)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut d = zstd::stream::read::Decoder::with_buffer(raw).map_err(fail)?;
        d.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(fail)?;
        Codec::Zstd(d)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(LayerFail::new(
            src,
            spec,
            "xz-compressed layers are not supported",
        ));
    } else if head.starts_with(b"BZh") {
        return Err(LayerFail::new(
            src,
            spec,
            "bzip2-compressed layers are not supported",
        ));
    } else {
        Codec::Plain(raw)
    };
    // A blob of unknown size is bounded as if it were empty: the floor and
    // the absolute cap still apply.
    let bound = (!matches!(codec, Codec::Plain(_))).then(|| limits.bound(compressed.unwrap_or(0)));
    let dec = Decoder {
        codec,
        inflated: 0,
        bound,
        compressed,
    };
    let tar_stream = HashingReader::new(Inflater::new(dec, pipe), spec.diff_id.algorithm());
    let mut tar = TarReader::new(BufReader::with_capacity(TAR_BUF, tar_stream));
    // Sparse holes inflate like compressed data does.
    tar.set_hole_budget(limits.bound(compressed.unwrap_or(0)));
    Ok(tar)
}

/// Read what is left of the layer and check both digests and the size.
pub fn finish_layer(
    src: &dyn BlobSource,
    spec: &LayerSpec,
    archive: LayerArchive,
) -> Result<(), LayerFail> {
    let fail = |e: io::Error| LayerFail::io(src, spec, &e);
    let tar_stream = archive.into_inner().into_inner();
    let (dec, diff, _) = tar_stream.drain_and_finish().map_err(fail)?;
    let (_, stored, stored_len) = dec
        .into_raw()
        .and_then(HashingReader::drain_and_finish)
        .map_err(fail)?;
    if let Some(want) = &spec.digest {
        if &stored != want {
            return Err(LayerFail::new(
                src,
                spec,
                format!("digest mismatch (got {stored})"),
            ));
        }
    }
    if let Some(size) = spec.size {
        if size != stored_len {
            return Err(LayerFail::new(
                src,
                spec,
                format!("size mismatch (expected {size} bytes, got {stored_len})"),
            ));
        }
    }
    if diff != spec.diff_id {
        return Err(LayerFail::new(
            src,
            spec,
            format!(
                "uncompressed digest mismatch (the config's diff_id is {}, got {diff})",
                spec.diff_id
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::{compress, Comp};

    /// One blob in memory.
    #[derive(Debug)]
    struct Mem(Vec<u8>);

    impl BlobSource for Mem {
        fn location(&self) -> &str {
            "memory"
        }
        fn open(&self, _: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
            Ok(Box::new(io::Cursor::new(self.0.clone())))
        }
        fn size(&self, _: &BlobKey) -> io::Result<Option<u64>> {
            Ok(Some(self.0.len() as u64))
        }
    }

    fn layer_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, len) in [("a", 3 << 20), ("b/c", 100), ("d", 3 << 20)] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o755);
            h.set_size(len as u64);
            // Incompressible, so every codec stores more than `PIPE_MIN`.
            b.append_data(&mut h, name, &crate::check::tests::noise(len, 7)[..])
                .unwrap();
        }
        b.into_inner().unwrap()
    }

    /// The layer `stored` (in a `Mem`), holding the tar stream `raw`.
    fn spec_of(stored: &[u8], raw: &[u8]) -> LayerSpec {
        LayerSpec {
            key: BlobKey::Path("layer".into()),
            label: "layer".into(),
            digest: Some(Digest::sha256_of(stored)),
            size: Some(stored.len() as u64),
            diff_id: Digest::sha256_of(raw),
        }
    }

    /// Every header, then the verdict of `finish_layer`, or the first error.
    fn outcome(src: &Mem, spec: &LayerSpec, limits: &LayerLimits, pipe: Pipe) -> String {
        let mut tar = match open_layer_piped(src, spec, limits, None, pipe, spec.size) {
            Ok(t) => t,
            Err(f) => return format!("open: {}", f.message),
        };
        assert_eq!(tar.get_inflater().is_piped(), matches!(pipe, Pipe::Now));
        let mut out = String::new();
        loop {
            match tar.next_header() {
                Ok(Some(h)) => {
                    out += &format!("{:?} {}\n", String::from_utf8_lossy(&h.name), h.size)
                }
                Ok(None) => break,
                Err(e) => return out + &format!("tar: {e}"),
            }
        }
        match finish_layer(src, spec, tar) {
            Ok(()) => out + "verified",
            Err(f) => out + &format!("finish: {}", f.message),
        }
    }

    impl LayerArchive {
        fn get_inflater(&self) -> &Inflater {
            self.get_ref().get_ref().get_ref()
        }
    }

    #[test]
    fn a_piped_layer_reads_and_fails_as_one_read_in_place() {
        let raw = layer_tar();
        for (codec, c) in [
            ("gzip", Comp::Gzip),
            ("zstd", Comp::Zstd),
            ("plain", Comp::Plain),
        ] {
            let stored = compress(&raw, c);
            assert!(stored.len() as u64 > PIPE_MIN);
            let spec = spec_of(&stored, &raw);
            let flipped = {
                let mut b = stored.clone();
                let at = b.len() / 2;
                b[at] ^= 0x40;
                b
            };
            let cases: Vec<(&str, Mem, LayerSpec, LayerLimits)> = vec![
                (
                    "whole",
                    Mem(stored.clone()),
                    spec.clone(),
                    LayerLimits::default(),
                ),
                (
                    "flipped",
                    Mem(flipped),
                    spec.clone(),
                    LayerLimits::default(),
                ),
                (
                    "truncated",
                    Mem(stored[..stored.len() * 2 / 3].to_vec()),
                    spec.clone(),
                    LayerLimits::default(),
                ),
                (
                    "wrong diff_id",
                    Mem(stored.clone()),
                    LayerSpec {
                        diff_id: Digest::sha256_of(b"else"),
                        ..spec.clone()
                    },
                    LayerLimits::default(),
                ),
                (
                    "bound",
                    Mem(stored.clone()),
                    spec.clone(),
                    LayerLimits {
                        max_ratio: 1,
                        max_size: 4 << 20,
                        max_index: DEFAULT_MAX_INDEX,
                    },
                ),
            ];
            for (name, src, spec, limits) in cases {
                let in_place = outcome(&src, &spec, &limits, Pipe::Never);
                let piped = outcome(&src, &spec, &limits, Pipe::Now);
                assert_eq!(piped, in_place, "{codec} {name}");
                // Plain layers are real bytes, not inflated: no bound.
                if name == "whole" || (name, codec) == ("bound", "plain") {
                    assert!(piped.ends_with("verified"), "{piped}");
                } else {
                    assert!(!piped.ends_with("verified"), "{codec} {name}: {piped}");
                }
            }
        }
    }

    #[test]
    fn a_layer_moves_its_decompressor_to_a_free_slot_and_gives_it_back() {
        let raw = layer_tar();
        let spec = spec_of(&raw, &raw);
        let src = Mem(raw);
        let open = |slots: &'static Slots| {
            open_layer(&src, &spec, &LayerLimits::default(), None, slots).unwrap()
        };
        // Read past `PIPE_AFTER` (the first file is 3 MiB), then look.
        let first_files = |tar: &mut LayerArchive| {
            assert!(tar.next_header().unwrap().is_some());
            assert!(tar.next_header().unwrap().is_some());
        };

        let free: &'static Slots = Box::leak(Box::new(Slots::new(2)));
        let _lookup = free.hold();
        let mut tar = open(free);
        first_files(&mut tar);
        assert!(tar.get_inflater().is_piped(), "a free slot: piped");
        assert_eq!(free.busy(), 2, "the decompressor's thread holds the slot");
        finish_layer(&src, &spec, tar).unwrap();
        // The thread ends just after sending the end.
        for _ in 0..500 {
            if free.busy() == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(free.busy(), 1, "the slot is given back");

        let full: &'static Slots = Box::leak(Box::new(Slots::new(2)));
        let _lookup = full.hold();
        let other = full.hold();
        let mut tar = open(full);
        first_files(&mut tar);
        assert!(!tar.get_inflater().is_piped(), "no slot free: in place");
        // A slot freed later is taken at a later read.
        drop(other);
        while tar.next_header().unwrap().is_some() {}
        assert!(tar.get_inflater().is_piped(), "a slot freed: piped");
        finish_layer(&src, &spec, tar).unwrap();
    }
}
