//! An image's root filesystem as its layer stack, read lazily from the top.
//!
//! The one idea: a question about a path is asked of the layers top-down,
//! and a layer is decompressed (once, start to end, verified) only when every
//! layer above it failed to answer. Decompressing a layer leaves behind an
//! index of its tar headers (path -> kind, mode, size, link; whiteouts and
//! opaque directories) and the bytes of the files likely to be read next
//! (see `capture`); other bytes are re-streamed on demand. Nothing is ever
//! extracted, and no layer is ever held in memory.

use super::capture::{self, Budget, FileCapture};
use super::source::BlobSource;
use super::stream::{finish_layer, open_layer, LayerFail, LayerLimits, LayerSpec};
use crate::rootfs::{Entry, FsError, Kind, RootFs};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Captured bytes one `LayerFs` may hold for files nobody asked for yet.
pub const CAPTURE_BUDGET: u64 = 16 << 20;
/// The same, across every `LayerFs` of the process (platforms are checked in
/// parallel, and peak memory must stay small whatever the image).
const GLOBAL_CAPTURE_BUDGET: u64 = 24 << 20;
/// Bytes kept from re-streamed files, per `LayerFs`.
const RESTREAM_CACHE: u64 = 4 << 20;
/// A re-stream keeps the whole file up to this size, else a window this big
/// around the range asked for.
const RESTREAM_WHOLE: u64 = 2 << 20;
const RESTREAM_WINDOW: u64 = 1 << 20;
/// Bounds on one layer's header index.
const MAX_LAYER_ENTRIES: usize = 2_000_000;
/// Hardlink chains are followed this many times at most.
const MAX_HARDLINKS: usize = 8;
const READ_BUF: usize = 64 * 1024;

static GLOBAL_CAPTURED: AtomicU64 = AtomicU64::new(0);

// Rec flags: what one layer says about one path.
const ENTRY: u8 = 1;
const WHITEOUT: u8 = 2;
const OPAQUE: u8 = 4;
const IMPLICIT: u8 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Other,
}

/// A range of a layer index's string arena.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

const NO_SPAN: Span = Span {
    start: 0,
    len: u32::MAX,
};

/// One path in one layer. Entry fields are meaningful only with `ENTRY`.
#[derive(Debug, Clone, Copy)]
struct Rec {
    path: Span,
    link: Span,
    size: u64,
    /// 1-based position of the tar entry in the layer (the last one wins).
    ordinal: u32,
    mode: u16,
    kind: RecKind,
    flags: u8,
}

/// The headers of one layer, sorted by path. Paths and link targets live in
/// one string arena, so an entry costs ~32 bytes plus its path.
struct LayerIndex {
    arena: String,
    recs: Vec<Rec>,
}

impl LayerIndex {
    fn s(&self, span: Span) -> &str {
        &self.arena[span.start as usize..(span.start + span.len) as usize]
    }

    fn get(&self, path: &str) -> Option<&Rec> {
        self.recs
            .binary_search_by(|r| self.s(r.path).cmp(path))
            .ok()
            .map(|i| &self.recs[i])
    }

    fn link(&self, r: &Rec) -> Option<&str> {
        (r.link.len != u32::MAX).then(|| self.s(r.link))
    }

    /// Whether this layer hides what lower layers have at `path` through one
    /// of its strict ancestors: whited out, opaque, or replaced by a
    /// non-directory.
    fn hides_below(&self, path: &str) -> bool {
        let hides = |anc: &str| match self.get(anc) {
            Some(r) => {
                r.flags & (OPAQUE | WHITEOUT) != 0
                    || (r.flags & ENTRY != 0 && r.kind != RecKind::Dir)
            }
            None => false,
        };
        if path == "/" {
            return false;
        }
        if hides("/") {
            return true;
        }
        path.match_indices('/')
            .skip(1)
            .any(|(i, _)| hides(&path[..i]))
    }
}

/// Builds a `LayerIndex` while the layer streams past.
struct IndexBuilder {
    arena: String,
    recs: Vec<Rec>,
    /// Directory whose ancestors were last marked implicit.
    last_parent: String,
}

impl IndexBuilder {
    fn new() -> Self {
        IndexBuilder {
            arena: String::new(),
            recs: Vec::new(),
            last_parent: String::new(),
        }
    }

    fn push_str(&mut self, s: &str) -> Result<Span, String> {
        let start = self.arena.len();
        if start + s.len() >= u32::MAX as usize {
            return Err("layer index too large".into());
        }
        self.arena.push_str(s);
        Ok(Span {
            start: start as u32,
            len: s.len() as u32,
        })
    }

    fn push(&mut self, rec: Rec) -> Result<(), String> {
        if self.recs.len() >= MAX_LAYER_ENTRIES {
            return Err(format!(
                "more than {MAX_LAYER_ENTRIES} entries in one layer"
            ));
        }
        self.recs.push(rec);
        Ok(())
    }

    fn marker(path: Span, flags: u8, ordinal: u32) -> Rec {
        Rec {
            path,
            link: NO_SPAN,
            size: 0,
            ordinal,
            mode: 0,
            kind: RecKind::Dir,
            flags,
        }
    }

    /// Mark the parent directories of the path at `span` as present in this
    /// layer. Their spans are prefixes of `span`: no new strings.
    fn parents(&mut self, span: Span, ordinal: u32) -> Result<(), String> {
        let path = &self.arena[span.start as usize..(span.start + span.len) as usize];
        let Some(cut) = path.rfind('/') else {
            return Ok(());
        };
        if cut == 0 || path[..cut] == self.last_parent {
            return Ok(());
        }
        let parent = path[..cut].to_string();
        let mut ends = Vec::new();
        let mut end = cut;
        while end > 0 {
            let anc = &parent[..end];
            // Ancestors of the previous parent are marked already.
            if self.last_parent == anc
                || (self.last_parent.starts_with(anc) && self.last_parent.as_bytes()[end] == b'/')
            {
                break;
            }
            ends.push(end);
            end = parent[..end].rfind('/').unwrap_or(0);
        }
        for end in ends {
            let s = Span {
                start: span.start,
                len: end as u32,
            };
            self.push(Self::marker(s, IMPLICIT, ordinal))?;
        }
        self.last_parent = parent;
        Ok(())
    }

    /// Sort by path and fold each path's records into one: flags are
    /// combined, the entry is the last one written.
    fn finish(self) -> LayerIndex {
        let IndexBuilder {
            arena, mut recs, ..
        } = self;
        let key = |s: Span| &arena[s.start as usize..(s.start + s.len) as usize];
        recs.sort_by(|a, b| key(a.path).cmp(key(b.path)).then(a.ordinal.cmp(&b.ordinal)));
        let mut out: Vec<Rec> = Vec::with_capacity(recs.len());
        for r in recs {
            if let Some(last) = out.last_mut() {
                if key(last.path) == key(r.path) {
                    let flags = last.flags | r.flags;
                    if r.flags & ENTRY != 0 {
                        *last = r;
                    }
                    last.flags = flags;
                    continue;
                }
            }
            out.push(r);
        }
        out.shrink_to_fit();
        LayerIndex { arena, recs: out }
    }
}

/// A tar path as an absolute, normalised path; `None` when it is not UTF-8
/// or tries to leave the root with `..`.
fn normalize(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// The capture budget of one `LayerFs`, also drawing on the process-wide one.
#[derive(Debug)]
struct FsBudget {
    used: u64,
    limit: u64,
    global_held: u64,
}

impl Budget for FsBudget {
    fn reserve(&mut self, bytes: u64, forced: bool) -> bool {
        if forced {
            self.used += bytes;
            return true;
        }
        if self.used + bytes > self.limit {
            return false;
        }
        let ok = GLOBAL_CAPTURED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |g| {
                (g + bytes <= GLOBAL_CAPTURE_BUDGET).then_some(g + bytes)
            })
            .is_ok();
        if ok {
            self.used += bytes;
            self.global_held += bytes;
        }
        ok
    }

    fn lean(&self) -> bool {
        self.used * 2 > self.limit
            || GLOBAL_CAPTURED.load(Ordering::Acquire) * 2 > GLOBAL_CAPTURE_BUDGET
    }

    fn release(&mut self, bytes: u64, forced: bool) {
        self.used = self.used.saturating_sub(bytes);
        if !forced {
            let g = bytes.min(self.global_held);
            self.global_held -= g;
            GLOBAL_CAPTURED.fetch_sub(g, Ordering::AcqRel);
        }
    }
}

type Segments = Vec<(u64, Vec<u8>)>;

struct State {
    index: Vec<Option<LayerIndex>>,
    /// Set by the first failure; every later call reports it again.
    failed: Option<LayerFail>,
    /// Bytes captured while indexing, by (layer, tar entry ordinal).
    captured: HashMap<(usize, u32), Segments>,
    budget: FsBudget,
    restreamed: HashMap<(usize, u32), Segments>,
    restreamed_bytes: u64,
    /// How many times each layer's blob was opened.
    opens: Vec<u32>,
}

/// What the layers say about a path.
enum Found {
    Entry {
        layer: usize,
        rec: Rec,
    },
    /// Only implied by entries below it: a directory.
    ImplicitDir,
    Missing,
}

/// Counters for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsStats {
    /// Layers in the image.
    pub layers: usize,
    /// Layers decompressed and indexed so far.
    pub indexed: usize,
    /// Blob streams opened (indexing plus re-streams).
    pub streams: u32,
    /// Bytes held in captured file segments.
    pub captured_bytes: u64,
}

/// The merged view of an image's layers (see the module comment).
pub struct LayerFs {
    source: Arc<dyn BlobSource>,
    layers: Vec<LayerSpec>,
    limits: LayerLimits,
    state: Mutex<State>,
}

impl fmt::Debug for LayerFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerFs")
            .field("source", &self.source.location())
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl Drop for LayerFs {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        GLOBAL_CAPTURED.fetch_sub(st.budget.global_held, Ordering::AcqRel);
        st.budget.global_held = 0;
    }
}

impl LayerFs {
    /// A view of `layers` (bottom first, as manifests list them).
    pub fn new(source: Arc<dyn BlobSource>, layers: Vec<LayerSpec>) -> LayerFs {
        Self::with_budget(source, layers, CAPTURE_BUDGET)
    }

    pub(crate) fn with_budget(
        source: Arc<dyn BlobSource>,
        layers: Vec<LayerSpec>,
        budget: u64,
    ) -> LayerFs {
        let n = layers.len();
        LayerFs {
            source,
            limits: LayerLimits::default(),
            state: Mutex::new(State {
                index: (0..n).map(|_| None).collect(),
                failed: None,
                captured: HashMap::new(),
                budget: FsBudget {
                    used: 0,
                    limit: budget,
                    global_held: 0,
                },
                restreamed: HashMap::new(),
                restreamed_bytes: 0,
                opens: vec![0; n],
            }),
            layers,
        }
    }

    /// Bound what each layer may inflate to (before any layer is read).
    pub fn set_limits(&mut self, limits: LayerLimits) {
        self.limits = limits;
    }

    /// How many layers the image has.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    pub fn stats(&self) -> FsStats {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        FsStats {
            layers: self.layers.len(),
            indexed: st.index.iter().filter(|i| i.is_some()).count(),
            streams: st.opens.iter().sum(),
            captured_bytes: st
                .captured
                .values()
                .chain(st.restreamed.values())
                .flat_map(|s| s.iter().map(|(_, d)| d.len() as u64))
                .sum(),
        }
    }

    #[cfg(test)]
    pub(crate) fn opens(&self) -> Vec<u32> {
        self.state.lock().unwrap().opens.clone()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, FsError> {
        let st = self
            .state
            .lock()
            .map_err(|_| FsError::Backend("layer state poisoned by an earlier panic".into()))?;
        if let Some(f) = &st.failed {
            return Err(f.clone().into());
        }
        Ok(st)
    }

    /// Index layer `i` if it was not yet, capturing `wanted` whatever its
    /// mode.
    fn ensure(&self, st: &mut State, i: usize, wanted: &str) -> Result<(), FsError> {
        if st.index[i].is_some() {
            return Ok(());
        }
        st.opens[i] += 1;
        let t = std::time::Instant::now();
        match index_layer(
            &*self.source,
            &self.layers[i],
            &self.limits,
            wanted,
            &mut st.budget,
        ) {
            Ok((idx, caps)) => {
                tracing::debug!(
                    layer = %self.layers[i].label,
                    entries = idx.recs.len(),
                    captured_files = caps.len(),
                    elapsed = ?t.elapsed(),
                    "indexed layer"
                );
                for (ordinal, segs) in caps {
                    st.captured.insert((i, ordinal), segs);
                }
                st.index[i] = Some(idx);
                Ok(())
            }
            Err(f) => {
                st.failed = Some(f.clone());
                Err(f.into())
            }
        }
    }

    /// Look `path` up in layers `below-1` down to 0.
    fn find(
        &self,
        st: &mut State,
        path: &str,
        below: usize,
        wanted: &str,
    ) -> Result<Found, FsError> {
        let mut implicit = false;
        for i in (0..below).rev() {
            self.ensure(st, i, wanted)?;
            let idx = st.index[i].as_ref().expect("indexed above");
            if let Some(r) = idx.get(path) {
                if r.flags & ENTRY != 0 {
                    return Ok(Found::Entry { layer: i, rec: *r });
                }
                if r.flags & (IMPLICIT | OPAQUE) != 0 {
                    implicit = true;
                }
                if r.flags & WHITEOUT != 0 {
                    break;
                }
            }
            if idx.hides_below(path) {
                break;
            }
        }
        Ok(if implicit {
            Found::ImplicitDir
        } else {
            Found::Missing
        })
    }

    /// The regular file whose content a (possibly hardlink) entry has.
    fn content_of(
        &self,
        st: &mut State,
        path: &str,
        mut layer: usize,
        mut rec: Rec,
    ) -> Result<(usize, Rec), FsError> {
        for _ in 0..=MAX_HARDLINKS {
            match rec.kind {
                RecKind::Hardlink => {}
                RecKind::File => return Ok((layer, rec)),
                _ => {
                    return Err(FsError::NotAFile {
                        path: path.to_string(),
                    })
                }
            }
            let idx = st.index[layer].as_ref().expect("indexed");
            let target = idx.link(&rec).unwrap_or("/").to_string();
            if let Some(t) = idx.get(&target).filter(|t| t.flags & ENTRY != 0) {
                rec = *t;
                continue;
            }
            match self.find(st, &target, layer, &target)? {
                Found::Entry { layer: l, rec: r } => {
                    layer = l;
                    rec = r;
                }
                _ => {
                    return Err(FsError::Corrupt {
                        what: format!("{} in {}", self.layers[layer].label, self.source.location()),
                        message: format!(
                            "hardlink {path} points to {target}, which does not exist"
                        ),
                    })
                }
            }
        }
        Err(FsError::Corrupt {
            what: format!("{} in {}", self.layers[layer].label, self.source.location()),
            message: format!("hardlink {path}: too many levels of hardlinks"),
        })
    }

    fn lstat_locked(&self, st: &mut State, path: &str) -> Result<Option<Entry>, FsError> {
        if path == "/" {
            return Ok(Some(Entry::dir(0o755)));
        }
        let (layer, rec) = match self.find(st, path, self.layers.len(), path)? {
            Found::Entry { layer, rec } => (layer, rec),
            Found::ImplicitDir => return Ok(Some(Entry::dir(0o755))),
            Found::Missing => return Ok(None),
        };
        let mode = rec.mode as u32;
        Ok(Some(match rec.kind {
            RecKind::File => Entry::file(mode, rec.size),
            RecKind::Dir => Entry::dir(mode),
            RecKind::Symlink => {
                let idx = st.index[layer].as_ref().expect("indexed");
                Entry::symlink(idx.link(&rec).unwrap_or(""))
            }
            RecKind::Other => Entry {
                kind: Kind::Other,
                mode,
                size: 0,
                link: None,
            },
            RecKind::Hardlink => {
                let (_, target) = self.content_of(st, path, layer, rec)?;
                Entry::file(mode, target.size)
            }
        }))
    }

    fn read_locked(
        &self,
        st: &mut State,
        path: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, FsError> {
        let not_file = || FsError::NotAFile {
            path: path.to_string(),
        };
        if path == "/" {
            return Err(not_file());
        }
        let (layer, rec) = match self.find(st, path, self.layers.len(), path)? {
            Found::Entry { layer, rec } => self.content_of(st, path, layer, rec)?,
            Found::ImplicitDir => return Err(not_file()),
            Found::Missing => {
                return Err(FsError::Io {
                    path: path.to_string(),
                    source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
                })
            }
        };
        if offset >= rec.size || len == 0 {
            return Ok(Vec::new());
        }
        let end = offset.saturating_add(len as u64).min(rec.size);
        let key = (layer, rec.ordinal);
        for cache in [&st.captured, &st.restreamed] {
            if let Some(bytes) = cache.get(&key).and_then(|s| capture::serve(s, offset, end)) {
                return Ok(bytes);
            }
        }
        match self.restream(st, layer, &rec, path, offset, end) {
            Ok(b) => Ok(b),
            Err(f) => {
                st.failed = Some(f.clone());
                Err(f.into())
            }
        }
    }

    /// Stream layer `layer` again up to `rec`'s entry to read `[off, end)`
    /// of it (and keep a window around it), then read the layer to its end
    /// so the bytes served are verified like the first time.
    fn restream(
        &self,
        st: &mut State,
        layer: usize,
        rec: &Rec,
        path: &str,
        off: u64,
        end: u64,
    ) -> Result<Vec<u8>, LayerFail> {
        st.opens[layer] += 1;
        tracing::debug!(layer = %self.layers[layer].label, path, off, end, "re-streaming layer");
        let src = &*self.source;
        let spec = &self.layers[layer];
        let fail_io = |e: io::Error| LayerFail::io(src, spec, &e);
        let (ws, we) = if rec.size <= RESTREAM_WHOLE {
            (0, rec.size)
        } else {
            let ws = off & !(capture::WINDOW - 1);
            (ws, end.max(ws + RESTREAM_WINDOW).min(rec.size))
        };
        let mut archive = open_layer(src, spec, &self.limits)?;
        let mut window = None;
        {
            let mut ordinal = 0u32;
            for entry in archive.entries().map_err(fail_io)? {
                let mut entry = entry.map_err(fail_io)?;
                ordinal += 1;
                if ordinal < rec.ordinal {
                    continue;
                }
                let et = entry.header().entry_type();
                let regular = matches!(et, tar::EntryType::Regular | tar::EntryType::Continuous);
                if !regular || entry.size() != rec.size {
                    return Err(LayerFail::new(
                        src,
                        spec,
                        format!("entry for {path} changed between reads"),
                    ));
                }
                io::copy(&mut (&mut entry).take(ws), &mut io::sink()).map_err(fail_io)?;
                let mut data = Vec::with_capacity((we - ws) as usize);
                (&mut entry)
                    .take(we - ws)
                    .read_to_end(&mut data)
                    .map_err(fail_io)?;
                if data.len() as u64 != we - ws {
                    return Err(LayerFail::new(
                        src,
                        spec,
                        format!("truncated entry for {path}"),
                    ));
                }
                window = Some(data);
                break;
            }
        }
        finish_layer(src, spec, archive)?;
        let Some(data) = window else {
            return Err(LayerFail::new(
                src,
                spec,
                format!("entry for {path} vanished between reads"),
            ));
        };
        let out = data[(off - ws) as usize..(end - ws) as usize].to_vec();
        let n = data.len() as u64;
        if n <= RESTREAM_CACHE {
            if st.restreamed_bytes + n > RESTREAM_CACHE {
                st.restreamed.clear();
                st.restreamed_bytes = 0;
            }
            st.restreamed_bytes += n;
            let segs = st.restreamed.entry((layer, rec.ordinal)).or_default();
            segs.push((ws, data));
            let merged = capture::merge(
                std::mem::take(segs)
                    .into_iter()
                    .map(|(start, data)| capture::Seg {
                        start,
                        end: start + data.len() as u64,
                        data,
                    })
                    .collect(),
            );
            *segs = merged;
        }
        Ok(out)
    }
}

impl RootFs for LayerFs {
    async fn lstat(&self, path: &[u8]) -> Result<Option<Entry>, FsError> {
        // The index holds UTF-8 names only (see `normalize`).
        let Ok(path) = std::str::from_utf8(path) else {
            return Ok(None);
        };
        let mut st = self.lock()?;
        self.lstat_locked(&mut st, path)
    }

    async fn read_at(&self, path: &[u8], offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        let Ok(path) = std::str::from_utf8(path) else {
            return Err(FsError::NotAFile {
                path: crate::rootfs::display(path),
            });
        };
        let mut st = self.lock()?;
        self.read_locked(&mut st, path, offset, len)
    }
}

type Captures = Vec<(u32, Segments)>;

/// Decompress one layer start to end: its header index, the bytes captured
/// on the way, and both digests verified.
fn index_layer(
    src: &dyn BlobSource,
    spec: &LayerSpec,
    limits: &LayerLimits,
    wanted: &str,
    budget: &mut FsBudget,
) -> Result<(LayerIndex, Captures), LayerFail> {
    let fail_io = |e: io::Error| LayerFail::io(src, spec, &e);
    let fail = |m: String| LayerFail::new(src, spec, m);
    let mut archive = open_layer(src, spec, limits)?;
    let mut b = IndexBuilder::new();
    let mut caps: Vec<(String, u32, Segments)> = Vec::new();
    let mut buf = vec![0u8; READ_BUF];
    {
        let mut ordinal = 0u32;
        for entry in archive.entries().map_err(fail_io)? {
            let mut entry = entry.map_err(fail_io)?;
            ordinal = ordinal
                .checked_add(1)
                .ok_or_else(|| fail("too many entries".into()))?;
            let Some(path) = normalize(&entry.path_bytes()) else {
                continue;
            };
            let et = entry.header().entry_type();
            if let Some((dir, name)) = path.rsplit_once('/') {
                let dir = if dir.is_empty() { "/" } else { dir };
                if let Some(hidden) = name.strip_prefix(".wh.") {
                    let target = if hidden == ".wh..opq" {
                        Some((dir.to_string(), OPAQUE))
                    } else if hidden.starts_with(".wh.") || hidden.is_empty() || hidden == "." {
                        // Other AUFS metadata (`.wh..wh.plnk`): ignored.
                        None
                    } else if dir == "/" {
                        Some((format!("/{hidden}"), WHITEOUT))
                    } else {
                        Some((format!("{dir}/{hidden}"), WHITEOUT))
                    };
                    if let Some((t, flag)) = target {
                        // The marker's directory exists in this layer: an
                        // opaque one through its flag, a whiteout's parent as
                        // an implicit parent of the hidden path.
                        let s = b.push_str(&t).map_err(fail)?;
                        b.push(IndexBuilder::marker(s, flag, ordinal))
                            .map_err(fail)?;
                        b.parents(s, ordinal).map_err(fail)?;
                    }
                    continue;
                }
            }
            let kind = match et {
                tar::EntryType::Regular | tar::EntryType::Continuous => RecKind::File,
                tar::EntryType::Directory => RecKind::Dir,
                tar::EntryType::Symlink => RecKind::Symlink,
                tar::EntryType::Link => RecKind::Hardlink,
                // Sparse files are not expected in layers; never a program.
                tar::EntryType::Char
                | tar::EntryType::Block
                | tar::EntryType::Fifo
                | tar::EntryType::GNUSparse => RecKind::Other,
                _ => continue,
            };
            if path == "/" && kind != RecKind::Dir {
                continue;
            }
            let mode = entry
                .header()
                .mode()
                .map_err(|e| fail(format!("bad tar header for {path}: {e}")))?
                & 0o7777;
            let link = match kind {
                RecKind::Symlink => entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned()),
                RecKind::Hardlink => match entry.link_name_bytes().and_then(|l| normalize(&l)) {
                    Some(t) => Some(t),
                    None => continue,
                },
                _ => None,
            };
            let size = if kind == RecKind::File {
                entry.size()
            } else {
                0
            };
            let span = b.push_str(&path).map_err(fail)?;
            let link_span = match &link {
                Some(l) => b.push_str(l).map_err(fail)?,
                None => NO_SPAN,
            };
            b.push(Rec {
                path: span,
                link: link_span,
                size,
                ordinal,
                mode: mode as u16,
                kind,
                flags: ENTRY,
            })
            .map_err(fail)?;
            b.parents(span, ordinal).map_err(fail)?;
            let forced = path == wanted;
            if kind == RecKind::File && (mode & 0o111 != 0 || forced) {
                if let Some(mut cap) = FileCapture::start(size, forced, budget) {
                    let mut pos = 0u64;
                    loop {
                        let n = match entry.read(&mut buf) {
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(fail_io(e)),
                        };
                        if n == 0 {
                            break;
                        }
                        cap.feed(pos, &buf[..n], budget);
                        pos += n as u64;
                    }
                    if pos != size {
                        return Err(fail(format!("truncated tar entry {path}")));
                    }
                    caps.push((path, ordinal, cap.finish(budget)));
                }
            }
        }
    }
    finish_layer(src, spec, archive)?;
    let idx = b.finish();
    let mut out = Vec::with_capacity(caps.len());
    for (path, ordinal, segs) in caps {
        // Keep only the bytes of the entry that won (a path can repeat).
        if idx
            .get(&path)
            .is_some_and(|r| r.ordinal == ordinal && r.flags & ENTRY != 0)
        {
            out.push((ordinal, segs));
        } else {
            let n = segs.iter().map(|(_, d)| d.len() as u64).sum();
            budget.release(n, path == wanted);
        }
    }
    Ok((idx, out))
}
