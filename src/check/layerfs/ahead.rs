//! Reading lower layers ahead of need, on the other cores.
//!
//! When a lookup has to go below a large layer, the layers under it are
//! likely to be needed too (a base image's program under an entrypoint
//! script), and reading them one after the other leaves every core but one
//! idle. A `Wave` lets worker threads index the layers below the one being
//! read, top-down, while `LayerFs::find` goes on consuming answers strictly
//! top-down, so what a lookup sees is what reading one layer at a time would
//! show:
//!
//! - a layer read ahead counts only once its stream was read to the end and
//!   both digests checked (the same `index_layer` as a needed read);
//! - its error is reported only if the lookup reaches that layer;
//! - once a layer answers (or fails), the layers below it stop at their next
//!   read of stored bytes, and whatever they found is dropped;
//! - a layer read ahead that failed is read again by the lookup itself, so
//!   the error reported is the one reading one layer at a time gives (the
//!   index bound met first, a registry that failed only under load);
//! - read-ahead takes only the slots lookups leave free (`Slots::max`, one
//!   per core, process-wide; a lookup never waits for one), so memory stays
//!   bounded: each layer in flight holds its buffers and decoder (under
//!   1 MB for gzip, 8 MiB of zstd window at most).
//!
//! A read-ahead job counts its index bytes apart (`Pool::ahead`), at most a
//! quarter of the index bound for all jobs together, and gives up quietly
//! rather than pass it; the lookup then reads that layer itself, and fails
//! on the bound exactly when reading one layer at a time would
//! (`LayerFs::adopt` checks the job's peak). Captures are a cache: a layer
//! read ahead may keep other bytes than reading it later would have, never
//! other answers.

use super::{index_layer, Captures, FsBudget, LayerJob, Pool};
use crate::check::source::BlobSource;
use crate::check::stream::{LayerLimits, LayerSpec, Stop};
use crate::check::unpack::{LayerTree, Overlay, TreeLimits};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::check::slots::{Slots, PROCESS_SLOTS};

/// A needed layer at least this big (stored bytes) starts reading the ones
/// below: about 30 ms of inflating, more than a thread costs. Small top
/// layers (an application over a base image) are read alone, as before.
pub(crate) const MIN_SIZE: u64 = 4 << 20;

/// How a `LayerFs` reads ahead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadAhead {
    /// Worker threads a lookup may start (0: read one layer at a time).
    pub workers: usize,
    /// See [`MIN_SIZE`].
    pub min_size: u64,
    pub slots: &'static Slots,
}

impl Default for ReadAhead {
    fn default() -> Self {
        let slots: &'static Slots = &PROCESS_SLOTS;
        ReadAhead {
            workers: slots.max() - 1,
            min_size: MIN_SIZE,
            slots,
        }
    }
}

/// A layer indexed ahead of need: its bytes stay counted (index in
/// `Pool::ahead`, captures in its own budget) until it is adopted or
/// dropped.
pub(super) struct Indexed(Option<Box<Parts>>);

pub(super) struct Parts {
    pub tree: LayerTree,
    pub caps: Captures,
    pub budget: FsBudget,
    /// The most index bytes it held while being read.
    pub peak: u64,
}

impl Indexed {
    pub(super) fn into_parts(mut self) -> Parts {
        *self.0.take().expect("parts taken once")
    }
}

impl Drop for Indexed {
    fn drop(&mut self) {
        // The budget gives its captures back as it drops.
        if let Some(p) = self.0.take() {
            p.budget
                .shared
                .ahead
                .fetch_sub(p.tree.bytes(), Ordering::AcqRel);
        }
    }
}

/// What a read-ahead job came to.
pub(super) enum Outcome {
    Done(Indexed),
    /// Stopped, gave way to the pool bound, or failed: read it when needed
    /// (an error is then the lookup's own).
    Cancelled,
}

enum Slot {
    Unclaimed,
    Running,
    Posted(Outcome),
}

/// What the lookup gets for a layer it needs.
pub(super) enum Take {
    /// Nobody read it (or reading it ahead failed): read it now.
    Inline,
    Done(Indexed),
}

/// What every job of one wave shares.
struct Shared {
    /// Layers below this one are not wanted any more (`usize::MAX` once the
    /// lookup is over).
    floor: AtomicUsize,
    state: Mutex<WaveState>,
    posted: Condvar,
    /// Layers `0..slots.len()`, bottom first, and how to read them.
    specs: Vec<LayerSpec>,
    source: Arc<dyn BlobSource>,
    limits: LayerLimits,
    tree_limits: TreeLimits,
    wanted: Vec<u8>,
    /// Each job's capture budget starts as this one, empty.
    capture_limit: u64,
    pool_bound: u64,
    pool: &'static Pool,
    slots: &'static Slots,
}

struct WaveState {
    /// The next layer to claim, going down.
    next: Option<usize>,
    slots: Vec<Slot>,
}

/// Layers below `below`, read ahead for one lookup; dropping it stops them.
pub(super) struct Wave(Arc<Shared>);

/// What a wave needs to know about the `LayerFs` it reads for.
pub(super) struct WaveSpec<'a> {
    pub below: usize,
    pub specs: &'a [LayerSpec],
    pub source: &'a Arc<dyn BlobSource>,
    pub limits: LayerLimits,
    pub tree_limits: TreeLimits,
    pub wanted: &'a [u8],
    pub capture_limit: u64,
    pub pool_bound: u64,
    pub pool: &'static Pool,
    pub ahead: ReadAhead,
}

impl Wave {
    /// Start reading layers `below - 1` down to 0 on up to `workers`
    /// threads (fewer if the process's slots are taken: the lookup then
    /// reads them itself).
    pub(super) fn start(w: WaveSpec<'_>) -> Wave {
        let shared = Arc::new(Shared {
            floor: AtomicUsize::new(0),
            state: Mutex::new(WaveState {
                next: w.below.checked_sub(1),
                slots: (0..w.below).map(|_| Slot::Unclaimed).collect(),
            }),
            posted: Condvar::new(),
            specs: w.specs[..w.below].to_vec(),
            source: Arc::clone(w.source),
            limits: w.limits,
            tree_limits: w.tree_limits,
            wanted: w.wanted.to_vec(),
            capture_limit: w.capture_limit,
            pool_bound: w.pool_bound,
            pool: w.pool,
            slots: w.ahead.slots,
        });
        for _ in 0..w.ahead.workers.min(w.below) {
            let s = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name("archgate-layer".into())
                .spawn(move || work(&s));
            if spawned.is_err() {
                // No thread: the lookup reads the layers itself.
                break;
            }
        }
        Wave(shared)
    }

    /// Layer `i`, the highest not yet consumed: its outcome once posted.
    /// While a worker still reads it, the caller reads the next unclaimed
    /// layer ahead instead of waiting idle.
    pub(super) fn take(&self, i: usize) -> Take {
        let s = &self.0;
        let mut st = lock(&s.state);
        loop {
            match std::mem::replace(&mut st.slots[i], Slot::Running) {
                Slot::Posted(Outcome::Done(ix)) => return Take::Done(ix),
                Slot::Posted(Outcome::Cancelled) => return Take::Inline,
                Slot::Unclaimed => {
                    // Claims go down one by one and the lookup consumes top
                    // down, so `i` is the next one.
                    st.next = i.checked_sub(1);
                    return Take::Inline;
                }
                Slot::Running => {}
            }
            match claim(s, &mut st) {
                Some(j) => {
                    // This thread holds its slot for the whole lookup. A
                    // panic reading a layer the lookup may never need is
                    // not the lookup's: the layer is read again if needed.
                    drop(st);
                    let (out, stops) = std::panic::catch_unwind(AssertUnwindSafe(|| run(s, j)))
                        .unwrap_or((Outcome::Cancelled, false));
                    st = lock(&s.state);
                    post(s, &mut st, j, out, stops);
                }
                None => {
                    // Asleep, this thread's core is free for another one
                    // (the decompressor of the layer it waits for).
                    let lent = s.slots.lend();
                    st = s.posted.wait(st).unwrap_or_else(|e| e.into_inner());
                    drop(lent);
                }
            }
        }
    }
}

impl Drop for Wave {
    fn drop(&mut self) {
        let s = &*self.0;
        s.floor.store(usize::MAX, Ordering::Release);
        // Posted layers give their bytes back now; running ones when their
        // workers see the floor.
        let dropped: Vec<Slot> = {
            let mut st = lock(&s.state);
            st.next = None;
            st.slots
                .iter_mut()
                .map(|x| std::mem::replace(x, Slot::Running))
                .collect()
        };
        drop(dropped);
    }
}

fn lock(m: &Mutex<WaveState>) -> MutexGuard<'_, WaveState> {
    // A panicking job leaves consistent state: slots are whole values.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The next layer to read, unless the ones left are below the floor.
fn claim(s: &Shared, st: &mut WaveState) -> Option<usize> {
    let j = st.next?;
    if j < s.floor.load(Ordering::Acquire) {
        st.next = None;
        return None;
    }
    st.next = j.checked_sub(1);
    st.slots[j] = Slot::Running;
    Some(j)
}

/// Keep `out` for the lookup (or drop it if the lookup is over); `stops`:
/// layer `j` answers or failed, so the layers below are not needed.
fn post(s: &Shared, st: &mut WaveState, j: usize, out: Outcome, stops: bool) {
    if stops {
        s.floor.fetch_max(j, Ordering::AcqRel);
    }
    if s.floor.load(Ordering::Acquire) == usize::MAX {
        // The lookup is over; `out` gives its bytes back when dropped.
        return;
    }
    st.slots[j] = Slot::Posted(out);
    s.posted.notify_all();
}

/// A worker: read layers while there are some to read, in a free slot
/// kept from one layer to the next (so a decompressor looking for a core
/// does not take it between two).
fn work(s: &Arc<Shared>) {
    let Some(_guard) = s.slots.try_hold() else {
        return;
    };
    loop {
        let mut st = lock(&s.state);
        let Some(j) = claim(s, &mut st) else {
            return;
        };
        drop(st);
        // Posts `Cancelled` if the job panics, so the lookup never waits
        // for it.
        let mut pending = Pending { s, j, out: None };
        pending.out = Some(run(s, j));
        drop(pending);
        if s.slots.over() {
            // Lookups came, which never wait for a slot: give them this one.
            return;
        }
    }
}

struct Pending<'a> {
    s: &'a Shared,
    j: usize,
    out: Option<(Outcome, bool)>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let (out, stops) = self.out.take().unwrap_or((Outcome::Cancelled, false));
        let mut st = lock(&self.s.state);
        post(self.s, &mut st, self.j, out, stops);
    }
}

/// Stops job `j` once a layer above it answered or failed, or the lookup
/// is over.
struct Below {
    s: Arc<Shared>,
    j: usize,
}

impl Stop for Below {
    fn stopped(&self) -> bool {
        self.s.floor.load(Ordering::Acquire) > self.j
    }
}

/// Index layer `j` ahead of need; and whether the layers below it are not
/// needed (it answers, or failed).
fn run(s: &Arc<Shared>, j: usize) -> (Outcome, bool) {
    let gave_way = AtomicBool::new(false);
    let stop = Arc::new(Below {
        s: Arc::clone(s),
        j,
    });
    let job = LayerJob {
        src: &*s.source,
        spec: &s.specs[j],
        limits: &s.limits,
        tree_limits: s.tree_limits,
        first: j == 0,
        wanted: &s.wanted,
        ahead: Some(&gave_way),
        stop: Some(stop.clone()),
        slots: s.slots,
    };
    let mut budget = FsBudget {
        used: 0,
        limit: s.capture_limit,
        shared: s.pool,
        global_held: 0,
        pool: s.pool_bound,
    };
    let t = std::time::Instant::now();
    match index_layer(&job, &mut budget, &mut HashMap::new(), None) {
        Ok((tree, caps, peak)) => {
            tracing::debug!(
                layer = %s.specs[j].label,
                nodes = tree.node_count(),
                elapsed = ?t.elapsed(),
                "indexed layer ahead of need"
            );
            let stops = !matches!(tree.overlay(&s.wanted), Overlay::PassesDown);
            let parts = Parts {
                tree,
                caps,
                budget,
                peak,
            };
            (Outcome::Done(Indexed(Some(Box::new(parts)))), stops)
        }
        Err(_) if stop.stopped() || gave_way.load(Ordering::Acquire) => (Outcome::Cancelled, false),
        Err(f) => {
            tracing::debug!(layer = %s.specs[j].label, error = %f.message, "reading ahead failed; read again if needed");
            (Outcome::Cancelled, true)
        }
    }
}
