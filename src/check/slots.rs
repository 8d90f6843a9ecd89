//! Cores for reading layers, counted process-wide.
//!
//! A slot is a core a thread may keep busy reading a layer: a lookup's own
//! thread, a worker reading a layer ahead of need (`layerfs::ahead`), or a
//! layer's decompressor moved to a thread of its own (`stream::piped`).
//! Lookups take theirs unconditionally; the other two take only free ones,
//! so threads reading layers stay about one per core and memory bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

/// Layers read at once, whatever the core count: each one in flight holds
/// a decoder (a zstd window is up to 8 MiB).
const MAX_SLOTS: usize = 8;

/// Threads reading layers, process-wide.
#[derive(Debug)]
pub(crate) struct Slots {
    busy: AtomicUsize,
    max: usize,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Slots {
        Slots {
            busy: AtomicUsize::new(0),
            max,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// A slot for a lookup, held while it reads layers or waits for the
    /// ones read ahead: never waits (the lookup must go on), but counts, so
    /// read-ahead yields to it.
    pub(crate) fn hold(&'static self) -> SlotGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        SlotGuard(self)
    }

    /// A slot, if one is free.
    pub(crate) fn try_hold(&'static self) -> Option<SlotGuard> {
        self.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b < self.max).then_some(b + 1)
            })
            .ok()
            .map(|_| SlotGuard(self))
    }

    /// More slots held than there are: lookups took theirs beside busy
    /// ones.
    pub(crate) fn over(&self) -> bool {
        self.busy.load(Ordering::Acquire) > self.max
    }

    /// Give a held slot up while its thread sleeps (a lookup waiting for a
    /// layer read ahead), so another thread may use the core; taken back,
    /// without waiting, when the `Lent` is dropped.
    pub(crate) fn lend(&'static self) -> Lent {
        self.busy.fetch_sub(1, Ordering::AcqRel);
        Lent(self)
    }

    #[cfg(test)]
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }
}

pub(crate) struct SlotGuard(&'static Slots);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) struct Lent(&'static Slots);

impl Drop for Lent {
    fn drop(&mut self) {
        self.0.busy.fetch_add(1, Ordering::AcqRel);
    }
}

/// The process's slots: one per core the process may run on (std reads the
/// affinity mask and the cgroup quota), at most `MAX_SLOTS`.
pub(crate) static PROCESS_SLOTS: LazyLock<Slots> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Slots::new(cores.clamp(1, MAX_SLOTS))
});
