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
use super::source::{BlobKey, BlobSource};
use std::io::{self, BufRead, BufReader, Read};

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

/// A layer's tar stream, read as Go reads it, with the hashes that verify it.
pub type LayerArchive = TarReader<BufReader<HashingReader<Decoder>>>;

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

/// Open a layer for streaming.
pub fn open_layer(
    src: &dyn BlobSource,
    spec: &LayerSpec,
    limits: &LayerLimits,
) -> Result<LayerArchive, LayerFail> {
    open_layer_until(src, spec, limits, None)
}

/// [`open_layer`], for a read that `stop` may end early (its error then
/// means nothing: the caller asked for the stop).
pub fn open_layer_until(
    src: &dyn BlobSource,
    spec: &LayerSpec,
    limits: &LayerLimits,
    stop: Option<std::sync::Arc<dyn Stop>>,
) -> Result<LayerArchive, LayerFail> {
    let fail = |e: io::Error| LayerFail::io(src, spec, &e);
    let compressed = match spec.size {
        Some(n) => Some(n),
        None => src.size(&spec.key).ok().flatten(),
    };
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
    let tar_stream = HashingReader::new(dec, spec.diff_id.algorithm());
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
    let (_, stored, stored_len) = dec.into_raw().drain_and_finish().map_err(fail)?;
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
