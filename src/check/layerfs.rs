//! An image's root filesystem as its layer stack, read lazily from the top.
//!
//! The one idea: a question about a path is asked of the layers top-down,
//! and a layer's answer is used (once it was decompressed start to end and
//! verified) only when every layer above it failed to answer. Below a large
//! layer, the layers under it are read ahead on the other cores, and stopped
//! as soon as a layer above answers (`ahead`). Decompressing a layer leaves behind an
//! index of its tar headers (path -> kind, mode, size, link; whiteouts and
//! opaque directories) and the bytes of the files likely to be read next
//! (see `capture`); other bytes are re-streamed on demand. Nothing is ever
//! extracted, and no layer is ever held in memory.

mod ahead;

pub(crate) use crate::check::slots::Slots;
pub(crate) use ahead::ReadAhead;

use super::capture::{self, Budget, FileCapture};
use super::deep::{DeepHook, DeepScan};
use super::gotar::{self, TarError};
use super::source::BlobSource;
use super::stream::{finish_layer, open_layer, LayerFail, LayerLimits, LayerSpec, Stop};
use super::unpack::{Applied, Inode, LayerTree, NodeId, NodeKind, Overlay, TreeError, TreeLimits};
use crate::inspect::Platform;
use crate::rootfs::{Entry, FsError, Kind, RootFs};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Captured bytes one `LayerFs` may hold for files nobody asked for yet.
pub const CAPTURE_BUDGET: u64 = 16 << 20;
/// The same, across every `LayerFs` of the process (platforms are checked in
/// parallel, and peak memory must stay small whatever the image).
const GLOBAL_CAPTURE_BUDGET: u64 = 24 << 20;
/// What captures may add to the index bound in the process-wide pool.
const CAPTURE_POOL_SLACK: u64 = 8 << 20;
/// Bytes kept from re-streamed files, per `LayerFs`.
const RESTREAM_CACHE: u64 = 4 << 20;
/// A re-stream keeps the whole file up to this size, else a window this big
/// around the range asked for.
const RESTREAM_WHOLE: u64 = 2 << 20;
const RESTREAM_WINDOW: u64 = 1 << 20;
/// Path components one layer's names may walk (symlinks followed,
/// directories created): a few million for the largest real layers; a layer
/// made to loop through symlink chains stops here within seconds.
const MAX_RESOLVE_STEPS: u64 = 32 << 20;
const READ_BUF: usize = 64 * 1024;

/// What the `LayerFs`s drawing on one pool hold together.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Captured bytes.
    captured: AtomicU64,
    /// Bytes of layer index.
    index: AtomicU64,
    /// Bytes of index of layers read ahead of need, not yet used.
    ahead: AtomicU64,
}

impl Pool {
    /// Whether nothing is counted any more.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.captured.load(Ordering::Acquire) == 0
            && self.index.load(Ordering::Acquire) == 0
            && self.ahead.load(Ordering::Acquire) == 0
    }
}

/// The pool of every `LayerFs` of the process (a test may give one its own).
static PROCESS_POOL: Pool = Pool {
    captured: AtomicU64::new(0),
    index: AtomicU64::new(0),
    ahead: AtomicU64::new(0),
};

/// The capture budget of one `LayerFs`, also drawing on the process-wide one.
#[derive(Debug)]
struct FsBudget {
    used: u64,
    limit: u64,
    /// The pool shared with the other `LayerFs`s.
    shared: &'static Pool,
    global_held: u64,
    /// Index and captures of the whole process together stay under this:
    /// captures make way for indexes (they can be re-streamed; an index
    /// cannot be done without).
    pool: u64,
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
        let shared = self.shared;
        let ok = shared
            .captured
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |g| {
                let index =
                    shared.index.load(Ordering::Acquire) + shared.ahead.load(Ordering::Acquire);
                (g + bytes <= GLOBAL_CAPTURE_BUDGET && g + index + bytes <= self.pool)
                    .then_some(g + bytes)
            })
            .is_ok();
        if ok {
            self.used += bytes;
            self.global_held += bytes;
        }
        ok
    }

    fn lean(&self) -> bool {
        let g = self.shared.captured.load(Ordering::Acquire);
        self.used * 2 > self.limit
            || g * 2 > GLOBAL_CAPTURE_BUDGET
            || (g + self.shared.index.load(Ordering::Acquire)) * 4 > self.pool * 3
    }

    fn release(&mut self, bytes: u64, forced: bool) {
        self.release_bytes(bytes, forced);
    }
}

/// A budget gives its captured bytes back to the pool when it goes,
/// unwinding included (a read-ahead job's budget is its own).
impl Drop for FsBudget {
    fn drop(&mut self) {
        self.release_all();
    }
}

impl FsBudget {
    /// Every captured byte is gone.
    fn release_all(&mut self) {
        self.shared
            .captured
            .fetch_sub(self.global_held, Ordering::AcqRel);
        self.global_held = 0;
        self.used = 0;
    }

    fn release_bytes(&mut self, bytes: u64, forced: bool) {
        self.used = self.used.saturating_sub(bytes);
        if !forced {
            let g = bytes.min(self.global_held);
            self.global_held -= g;
            self.shared.captured.fetch_sub(g, Ordering::AcqRel);
        }
    }
}

type Segments = Vec<(u64, Vec<u8>)>;

struct State {
    index: Vec<Option<LayerTree>>,
    /// Index bytes this `LayerFs` counts in its pool.
    index_bytes: u64,
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
    /// The path is this node of this layer's tree (never a whiteout).
    Entry {
        layer: usize,
        node: NodeId,
    },
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
    /// Bytes held by the layer indexes.
    pub index_bytes: u64,
}

/// The merged view of an image's layers (see the module comment).
pub struct LayerFs {
    source: Arc<dyn BlobSource>,
    layers: Vec<LayerSpec>,
    limits: LayerLimits,
    read_ahead: ReadAhead,
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
        st.release();
    }
}

impl State {
    /// Forget indexes and captures, giving their bytes back to the process.
    fn release(&mut self) {
        self.budget.release_all();
        self.budget
            .shared
            .index
            .fetch_sub(self.index_bytes, Ordering::AcqRel);
        self.index_bytes = 0;
        for i in &mut self.index {
            *i = None;
        }
        self.captured = HashMap::new();
        self.restreamed = HashMap::new();
        self.restreamed_bytes = 0;
    }
}

impl LayerFs {
    /// A view of `layers` (bottom first, as manifests list them).
    pub fn new(source: Arc<dyn BlobSource>, layers: Vec<LayerSpec>) -> LayerFs {
        Self::with_budget(source, layers, CAPTURE_BUDGET, &PROCESS_POOL)
    }

    /// A view with its own capture budget, drawing on `pool`.
    pub(crate) fn with_budget(
        source: Arc<dyn BlobSource>,
        layers: Vec<LayerSpec>,
        budget: u64,
        pool: &'static Pool,
    ) -> LayerFs {
        let n = layers.len();
        LayerFs {
            source,
            limits: LayerLimits::default(),
            read_ahead: ReadAhead::default(),
            state: Mutex::new(State {
                index: (0..n).map(|_| None).collect(),
                index_bytes: 0,
                failed: None,
                captured: HashMap::new(),
                budget: FsBudget {
                    used: 0,
                    limit: budget,
                    shared: pool,
                    global_held: 0,
                    pool: LayerLimits::default().max_index + CAPTURE_POOL_SLACK,
                },
                restreamed: HashMap::new(),
                restreamed_bytes: 0,
                opens: vec![0; n],
            }),
            layers,
        }
    }

    /// Bound what each layer may inflate to and the index (before any layer
    /// is read).
    pub fn set_limits(&mut self, limits: LayerLimits) {
        self.limits = limits;
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        st.budget.pool = limits.max_index.saturating_add(CAPTURE_POOL_SLACK);
    }

    /// How many threads a lookup may read lower layers on (0: one layer
    /// at a time, as a fuzzer wants).
    pub fn set_read_ahead(&mut self, workers: usize) {
        self.read_ahead.workers = workers;
    }

    #[cfg(test)]
    pub(crate) fn set_read_ahead_for_test(&mut self, ahead: ReadAhead) {
        self.read_ahead = ahead;
    }

    /// How many layers the image has.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// The layer (0 is the bottom one, as the manifest lists them) whose
    /// entry the merged view shows at `path`, a path already resolved in
    /// the image (no link is followed here); `None` when nothing is there.
    /// Layers are read as for `lstat`, so after the engine asked about the
    /// path this reads nothing.
    pub fn layer_of(&self, path: &[u8]) -> Result<Option<usize>, FsError> {
        if path == b"/" {
            return Ok(None);
        }
        let mut st = self.lock()?;
        Ok(match self.find(&mut st, path)? {
            Found::Entry { layer, .. } => Some(layer),
            Found::Missing => None,
        })
    }

    /// Drop what was learnt (indexes, captured bytes): the memory goes back
    /// to the process; later questions read the layers again.
    pub fn release(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.release();
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
            index_bytes: st.index_bytes,
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
    fn ensure(&self, st: &mut State, i: usize, wanted: &[u8]) -> Result<(), FsError> {
        self.ensure_with(st, i, wanted, None)
    }

    /// [`Self::ensure`], with `--deep` judging files on the way.
    fn ensure_with(
        &self,
        st: &mut State,
        i: usize,
        wanted: &[u8],
        deep: Option<&mut DeepHook<'_>>,
    ) -> Result<(), FsError> {
        if st.index[i].is_some() {
            return Ok(());
        }
        st.opens[i] += 1;
        let t = std::time::Instant::now();
        let tree_limits = self.tree_limits();
        let State {
            budget, captured, ..
        } = st;
        let job = LayerJob {
            src: &*self.source,
            spec: &self.layers[i],
            limits: &self.limits,
            tree_limits,
            first: i == 0,
            wanted,
            ahead: None,
            stop: None,
            slots: self.read_ahead.slots,
        };
        match index_layer(&job, budget, captured, deep) {
            Ok((tree, caps, _)) => {
                let bytes = tree.bytes();
                tracing::debug!(
                    layer = %self.layers[i].label,
                    nodes = tree.node_count(),
                    index_bytes = bytes,
                    captured_files = caps.len(),
                    elapsed = ?t.elapsed(),
                    "indexed layer"
                );
                st.index_bytes += bytes;
                for (ordinal, segs) in caps {
                    st.captured.insert((i, ordinal), segs);
                }
                st.index[i] = Some(tree);
                Ok(())
            }
            Err(f) => {
                st.failed = Some(f.clone());
                Err(f.into())
            }
        }
    }

    /// `--deep`: read every layer once, top-down (whatever was learnt
    /// before is dropped first), judging each candidate file as it streams
    /// and keeping the indexes and captures as a lookup would. What is left
    /// to judge (loaders, interpreters) is judged by [`DeepScan::finish`]
    /// against this same view.
    pub fn deep_scan(&self, platform: &Platform) -> Result<DeepScan, FsError> {
        let mut st = self.lock()?;
        if st.index.iter().any(Option::is_some) {
            st.release();
        }
        let mut hook = DeepHook::new(platform);
        let _busy = self.read_ahead.slots.hold();
        for i in (0..self.layers.len()).rev() {
            self.ensure_with(&mut st, i, b"", Some(&mut hook))?;
            if let Err(m) = hook.layer_done(&st.index, i) {
                let f = LayerFail::new(&*self.source, &self.layers[i], m);
                st.failed = Some(f.clone());
                return Err(f.into());
            }
        }
        let scan = hook.into_scan();
        tracing::debug!(?scan, "--deep: every layer read");
        Ok(scan)
    }

    /// Look `path` up top-down, composing the layers as overlayfs does
    /// (`LayerTree::overlay`): an upper entry hides the lower one unless
    /// both are directories; a whiteout, a non-directory ancestor or an
    /// opaque ancestor directory hides everything below.
    ///
    /// Layers below a large one are read ahead on other threads (see
    /// `ahead`); their answers are still taken top-down, and the wave stops
    /// when this returns.
    fn find(&self, st: &mut State, path: &[u8]) -> Result<Found, FsError> {
        // This thread reads layers (or waits for the last ones read ahead)
        // until it returns: read-ahead gets the other slots.
        let _busy = self.read_ahead.slots.hold();
        let mut wave: Option<ahead::Wave> = None;
        for i in (0..self.layers.len()).rev() {
            if st.index[i].is_none() {
                match &wave {
                    Some(w) => match w.take(i) {
                        ahead::Take::Inline => self.ensure(st, i, path)?,
                        ahead::Take::Done(ix) => self.adopt(st, i, ix)?,
                    },
                    None => {
                        wave = self.start_wave(st, i, path);
                        self.ensure(st, i, path)?;
                    }
                }
            }
            let tree = st.index[i].as_ref().expect("indexed above");
            match tree.overlay(path) {
                Overlay::Shows(n) => return Ok(Found::Entry { layer: i, node: n }),
                Overlay::Hides => break,
                Overlay::PassesDown => {}
            }
        }
        Ok(Found::Missing)
    }

    /// Read the layers below `i` ahead of need if layer `i` (about to be
    /// read) is large and there are cores to spare.
    fn start_wave(&self, st: &State, i: usize, path: &[u8]) -> Option<ahead::Wave> {
        let ra = self.read_ahead;
        if ra.workers == 0 || i == 0 || st.index[..i].iter().any(Option::is_some) {
            return None;
        }
        let spec = &self.layers[i];
        let size = match spec.size {
            Some(n) => n,
            None => self.source.size(&spec.key).ok().flatten().unwrap_or(0),
        };
        if size < ra.min_size {
            return None;
        }
        Some(ahead::Wave::start(ahead::WaveSpec {
            below: i,
            specs: &self.layers,
            source: &self.source,
            limits: self.limits,
            tree_limits: self.tree_limits(),
            wanted: path,
            capture_limit: st.budget.limit,
            pool_bound: st.budget.pool,
            pool: st.budget.shared,
            ahead: ra,
        }))
    }

    fn tree_limits(&self) -> TreeLimits {
        TreeLimits {
            max_bytes: self.limits.max_index,
            max_steps: MAX_RESOLVE_STEPS,
        }
    }

    /// Take layer `i`, read ahead of need, as if it had been read now: its
    /// index and captures join this view's, or, if its index at its
    /// largest would have pushed the pool past the bound (as reading it now
    /// would have), the same error.
    fn adopt(&self, st: &mut State, i: usize, ix: ahead::Indexed) -> Result<(), FsError> {
        let ahead::Parts {
            tree,
            caps,
            mut budget,
            peak,
        } = ix.into_parts();
        st.opens[i] += 1;
        let pool = st.budget.shared;
        let bytes = tree.bytes();
        pool.ahead.fetch_sub(bytes, Ordering::AcqRel);
        let before = pool.index.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(peak) > self.limits.max_index {
            pool.index.fetch_sub(bytes, Ordering::AcqRel);
            let f = index_bound_fail(&*self.source, &self.layers[i], &self.limits);
            st.failed = Some(f.clone());
            return Err(f.into());
        }
        tracing::debug!(layer = %self.layers[i].label, index_bytes = bytes, "using a layer read ahead");
        st.budget.used += std::mem::take(&mut budget.used);
        st.budget.global_held += std::mem::take(&mut budget.global_held);
        st.index_bytes += bytes;
        for (ordinal, segs) in caps {
            st.captured.insert((i, ordinal), segs);
        }
        st.index[i] = Some(tree);
        Ok(())
    }

    fn lstat_locked(&self, st: &mut State, path: &[u8]) -> Result<Option<Entry>, FsError> {
        if path == b"/" {
            return Ok(Some(Entry::dir(0o755)));
        }
        let Found::Entry { layer, node } = self.find(st, path)? else {
            return Ok(None);
        };
        let tree = st.index[layer].as_ref().expect("indexed");
        let mode = tree.mode(node) as u32;
        Ok(Some(match tree.kind(node) {
            NodeKind::File => {
                let e = Entry::file(mode, tree.inode(node).size);
                match tree.owner(node) {
                    Some((uid, gid)) => e.owned_by(uid, gid),
                    None => e,
                }
            }
            NodeKind::Dir => Entry::dir(mode),
            NodeKind::Symlink => Entry::symlink(tree.link(node)),
            NodeKind::Other | NodeKind::Whiteout => Entry {
                kind: Kind::Other,
                mode,
                size: 0,
                link: None,
                owner: None,
            },
        }))
    }

    fn read_locked(
        &self,
        st: &mut State,
        path: &[u8],
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, FsError> {
        let not_file = || FsError::NotAFile {
            path: crate::rootfs::display(path),
        };
        if path == b"/" {
            return Err(not_file());
        }
        let (layer, ino) = match self.find(st, path)? {
            Found::Entry { layer, node } => {
                let tree = st.index[layer].as_ref().expect("indexed");
                if tree.kind(node) != NodeKind::File {
                    return Err(not_file());
                }
                (layer, tree.inode(node))
            }
            Found::Missing => {
                return Err(FsError::Io {
                    path: crate::rootfs::display(path),
                    source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
                })
            }
        };
        if offset >= ino.size || len == 0 {
            return Ok(Vec::new());
        }
        let end = offset.saturating_add(len as u64).min(ino.size);
        let key = (layer, ino.ordinal);
        for cache in [&st.captured, &st.restreamed] {
            if let Some(bytes) = cache.get(&key).and_then(|s| capture::serve(s, offset, end)) {
                return Ok(bytes);
            }
        }
        match self.restream(st, layer, &ino, path, offset, end) {
            Ok(b) => Ok(b),
            Err(f) => {
                st.failed = Some(f.clone());
                Err(f.into())
            }
        }
    }

    /// Stream layer `layer` again up to `ino`'s entry to read `[off, end)`
    /// of it (and keep a window around it), then read the layer to its end
    /// so the bytes served are verified like the first time.
    fn restream(
        &self,
        st: &mut State,
        layer: usize,
        ino: &Inode,
        path: &[u8],
        off: u64,
        end: u64,
    ) -> Result<Vec<u8>, LayerFail> {
        st.opens[layer] += 1;
        let shown = crate::rootfs::display(path);
        tracing::debug!(layer = %self.layers[layer].label, path = %shown, off, end, "re-streaming layer");
        let src = &*self.source;
        let spec = &self.layers[layer];
        let fail_tar = |e: TarError| LayerFail::tar(src, spec, e);
        let (ws, we) = if ino.size <= RESTREAM_WHOLE {
            (0, ino.size)
        } else {
            let ws = off & !(capture::WINDOW - 1);
            (ws, end.max(ws + RESTREAM_WINDOW).min(ino.size))
        };
        let mut archive = open_layer(src, spec, &self.limits, None, self.read_ahead.slots)?;
        let mut window = None;
        let mut ordinal = 0u32;
        while let Some(h) = archive.next_header().map_err(fail_tar)? {
            ordinal += 1;
            if ordinal < ino.ordinal {
                continue;
            }
            if h.typeflag != gotar::TYPE_REG || h.size as u64 != ino.size {
                return Err(LayerFail::new(
                    src,
                    spec,
                    format!("entry for {shown} changed between reads"),
                ));
            }
            let mut entry = (&mut archive).take(we);
            io::copy(&mut (&mut entry).take(ws), &mut io::sink())
                .map_err(|e| fail_tar(e.into()))?;
            let mut data = Vec::with_capacity((we - ws) as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| fail_tar(e.into()))?;
            if data.len() as u64 != we - ws {
                return Err(LayerFail::new(
                    src,
                    spec,
                    format!("truncated entry for {shown}"),
                ));
            }
            window = Some(data);
            break;
        }
        finish_layer(src, spec, archive)?;
        let Some(data) = window else {
            return Err(LayerFail::new(
                src,
                spec,
                format!("entry for {shown} vanished between reads"),
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
            let segs = st.restreamed.entry((layer, ino.ordinal)).or_default();
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
        let mut st = self.lock()?;
        self.lstat_locked(&mut st, path)
    }

    async fn read_at(&self, path: &[u8], offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        let mut st = self.lock()?;
        self.read_locked(&mut st, path, offset, len)
    }
}

type Captures = Vec<(u32, Segments)>;

/// One layer to index: where its blob comes from, its bounds, and the file
/// whose bytes are kept whatever its mode.
struct LayerJob<'a> {
    src: &'a dyn BlobSource,
    spec: &'a LayerSpec,
    limits: &'a LayerLimits,
    tree_limits: TreeLimits,
    /// The image's first layer (unpacked without a parent, see `unpack`).
    first: bool,
    /// The path asked about (its bytes are captured even without an
    /// execute bit).
    wanted: &'a [u8],
    /// Read ahead of need: the index counts in `Pool::ahead`, and rather
    /// than pass the bound the job gives up and sets this.
    ahead: Option<&'a AtomicBool>,
    stop: Option<Arc<dyn Stop>>,
    /// Where the layer's decompressor may find a core of its own.
    slots: &'static Slots,
}

/// The pool bound error, as the layer that met it reports it.
fn index_bound_fail(src: &dyn BlobSource, spec: &LayerSpec, limits: &LayerLimits) -> LayerFail {
    LayerFail::new(
        src,
        spec,
        format!(
            "refused: the layer indexes need more than {} MiB together (raise the bound \
             with --max-layer-index)",
            limits.max_index >> 20
        ),
    )
}

/// Decompress one layer start to end: its tree as the runtime unpacks it,
/// the bytes captured on the way, both digests verified, and the most bytes
/// its index held on the way.
fn index_layer(
    job: &LayerJob<'_>,
    budget: &mut FsBudget,
    committed: &mut HashMap<(usize, u32), Segments>,
    deep: Option<&mut DeepHook<'_>>,
) -> Result<(LayerTree, Captures, u64), LayerFail> {
    // The tree's bytes are counted in the pool as it grows; on failure
    // (or a panic) they are given back.
    let shared = budget.shared;
    let mut counted = Counted {
        counter: match job.ahead {
            Some(_) => &shared.ahead,
            None => &shared.index,
        },
        bytes: 0,
    };
    let (tree, caps) = index_layer_counted(job, budget, committed, &mut counted.bytes, deep)?;
    let peak = std::mem::take(&mut counted.bytes);
    let now = tree.bytes();
    if now >= peak {
        counted.counter.fetch_add(now - peak, Ordering::AcqRel);
    } else {
        counted.counter.fetch_sub(peak - now, Ordering::AcqRel);
    }
    Ok((tree, caps, peak))
}

/// Index bytes a layer being read has counted in the pool: given back
/// unless the read succeeds.
struct Counted<'a> {
    counter: &'a AtomicU64,
    bytes: u64,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

fn index_layer_counted(
    job: &LayerJob<'_>,
    budget: &mut FsBudget,
    committed: &mut HashMap<(usize, u32), Segments>,
    counted: &mut u64,
    mut deep: Option<&mut DeepHook<'_>>,
) -> Result<(LayerTree, Captures), LayerFail> {
    let &LayerJob {
        src,
        spec,
        limits,
        tree_limits,
        first,
        wanted,
        ahead,
        ref stop,
        slots,
    } = job;
    let fail_tar = |e: TarError| LayerFail::tar(src, spec, e);
    let fail_tree = |e: TreeError| match e {
        TreeError::Unpack { entry, why } => LayerFail::new(
            src,
            spec,
            format!(
                "the runtime could not unpack this layer: entry {}: {why}",
                crate::rootfs::display(&entry)
            ),
        ),
        TreeError::Limit(m) => LayerFail::new(src, spec, format!("refused: {m}")),
    };
    let mut archive = open_layer(src, spec, limits, stop.clone(), slots)?;
    let mut tree = LayerTree::new(first, tree_limits);
    let mut caps: Vec<(u32, Segments, bool)> = Vec::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut path = Vec::new();
    let mut deep_path = Vec::new();
    let wanted_base = wanted.rsplit(|&b| b == b'/').next().unwrap_or(b"");
    let mut ordinal = 0u32;
    while let Some(h) = archive.next_header().map_err(fail_tar)? {
        ordinal = ordinal
            .checked_add(1)
            .ok_or_else(|| LayerFail::new(src, spec, "too many entries"))?;
        let applied = tree.apply(&h, ordinal).map_err(fail_tree)?;
        let now = tree.bytes();
        if now > *counted {
            let pool = budget.shared;
            let grown = now - *counted;
            *counted = now;
            let total = match ahead {
                None => pool.index.fetch_add(grown, Ordering::AcqRel) + grown,
                Some(gave_way) => {
                    // Read ahead: never the one to pass the bound.
                    // Read-ahead indexes together take a quarter of the
                    // bound at most: the lookups' own may still grow to it.
                    let ahead_total = pool.ahead.fetch_add(grown, Ordering::AcqRel) + grown;
                    let total = ahead_total + pool.index.load(Ordering::Acquire);
                    if total > limits.max_index || ahead_total > limits.max_index / 4 {
                        gave_way.store(true, Ordering::Release);
                        return Err(LayerFail::new(src, spec, "read ahead: gave way"));
                    }
                    total
                }
            };
            if total > limits.max_index {
                return Err(index_bound_fail(src, spec, limits));
            }
            // Captures make way: drop them all (they can be re-streamed).
            // A needed read also makes way for the layers read ahead.
            let captured = budget.shared.captured.load(Ordering::Acquire);
            let total = match ahead {
                None => total + pool.ahead.load(Ordering::Acquire),
                Some(_) => total,
            };
            if total + captured > budget.pool && (!caps.is_empty() || !committed.is_empty()) {
                tracing::debug!(index = total, captured, "dropping captures for the index");
                caps.clear();
                committed.clear();
                budget.release_all();
            }
        }
        let Applied::Node(id) = applied else {
            continue;
        };
        // A regular file whose bytes follow (not a hard link to one).
        if tree.kind(id) != NodeKind::File || tree.inode(id).ordinal != ordinal {
            continue;
        }
        let ino = tree.inode(id);
        let forced = tree.name_of(id) == wanted_base && {
            tree.path_of(id, &mut path);
            path == wanted
        };
        let mut cap = if (ino.mode & 0o111 == 0 && !forced) || ino.size == 0 {
            None
        } else {
            FileCapture::start(ino.size, forced, budget)
        };
        let mut judging = match deep.as_deref_mut() {
            Some(d) => {
                tree.path_of(id, &mut deep_path);
                d.begin(&deep_path, ino.mode, ino.size, ordinal)
            }
            None => false,
        };
        if cap.is_none() && !judging {
            continue;
        }
        let mut pos = 0u64;
        let mut whole = false;
        loop {
            let n = match archive.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail_tar(e.into())),
            };
            if n == 0 {
                whole = true;
                break;
            }
            if let Some(c) = cap.as_mut() {
                c.feed(pos, &buf[..n], budget);
            }
            if judging {
                judging = deep.as_deref_mut().is_some_and(|d| d.feed(pos, &buf[..n]));
            }
            pos += n as u64;
            if cap.is_none() && !judging {
                // Nobody wants the rest: the reader skips it.
                break;
            }
        }
        if whole && pos != ino.size {
            return Err(LayerFail::new(
                src,
                spec,
                format!("truncated tar entry {}", crate::rootfs::display(&h.name)),
            ));
        }
        if let Some(d) = deep.as_deref_mut() {
            d.end();
        }
        if let Some(cap) = cap {
            caps.push((ordinal, cap.finish(budget), forced));
        }
    }
    finish_layer(src, spec, archive)?;
    tree.shrink();
    // Keep only the bytes of files still in the tree.
    let live = tree.live_ordinals();
    let mut out = Vec::with_capacity(caps.len());
    for (ordinal, segs, forced) in caps {
        if live.binary_search(&ordinal).is_ok() {
            out.push((ordinal, segs));
        } else {
            let n = segs.iter().map(|(_, d)| d.len() as u64).sum::<u64>() + capture::PER_FILE;
            budget.release(n, forced);
        }
    }
    Ok((tree, out))
}
