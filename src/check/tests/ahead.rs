//! Lower layers read ahead of need (`layerfs::ahead`): a lookup must see
//! exactly what reading one layer at a time shows. The order in which
//! threads finish is forced with gates on the blob streams, never timed.

use super::*;
use crate::check::layerfs::{Pool, ReadAhead, Slots};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Read-ahead on every layer, with `max` threads and slots of its own.
fn forced(workers: usize, max: usize) -> (ReadAhead, &'static Slots) {
    let slots: &'static Slots = Box::leak(Box::new(Slots::new(max)));
    (
        ReadAhead {
            workers,
            min_size: 0,
            slots,
        },
        slots,
    )
}

fn spec_of(layer: &Layer, i: usize) -> LayerSpec {
    let d = layer.desc["digest"].as_str().unwrap();
    LayerSpec {
        key: BlobKey::Digest(Digest::parse(d).unwrap()),
        label: format!("layer {i} {d}"),
        digest: Digest::parse(d),
        size: layer.desc["size"].as_u64(),
        diff_id: Digest::parse(&layer.diff_id).unwrap(),
    }
}

/// A view of `layers` (bottom first) over `src`, with its own pool.
fn view(
    src: Arc<dyn BlobSource>,
    layers: &[&Layer],
    ahead: Option<ReadAhead>,
) -> (LayerFs, &'static Pool) {
    let pool = super::private_pool();
    let specs = layers.iter().enumerate().map(|(i, l)| spec_of(l, i));
    let budget = crate::check::layerfs::CAPTURE_BUDGET;
    let mut fs = LayerFs::with_budget(src, specs.collect(), budget, pool);
    match ahead {
        Some(a) => fs.set_read_ahead_for_test(a),
        None => fs.set_read_ahead(0),
    }
    (fs, pool)
}

fn dir_source(l: &Layout) -> Arc<dyn BlobSource> {
    Arc::new(source::DirSource::new(&l.dir).unwrap())
}

/// Something a stream waits for, checked whenever a stream moves (and
/// every few milliseconds).
type Until = Arc<dyn Fn(&Progress) -> bool + Send + Sync>;

/// `digest`'s stream was read to its end.
fn eof(digest: &str) -> Until {
    let d = digest.to_string();
    Arc::new(move |p: &Progress| p.eof.contains(&d))
}

/// `bytes` of `digest` were read.
fn read_past(digest: &str, bytes: u64) -> Until {
    let d = digest.to_string();
    Arc::new(move |p: &Progress| p.read.get(&d).copied().unwrap_or(0) >= bytes)
}

#[derive(Default)]
struct Progress {
    /// Bytes read so far, per blob digest (streams of one blob add up).
    read: HashMap<String, u64>,
    eof: std::collections::HashSet<String>,
    /// Streams open now, and the most at once.
    open: usize,
    most_open: usize,
    /// Set by the test.
    released: bool,
    /// The threads that read each blob, by name.
    readers: HashMap<String, std::collections::BTreeSet<String>>,
}

/// A `DirSource` whose streams can be held back, before their first byte
/// or after some bytes, until something else happened; it counts what is
/// read.
#[derive(Debug)]
struct Gated {
    inner: source::DirSource,
    shared: Arc<GateShared>,
}

#[derive(Default)]
struct GateShared {
    progress: Mutex<Progress>,
    changed: Condvar,
    /// Blob digest -> (bytes read first, what it then waits for).
    gates: Mutex<HashMap<String, (u64, Until)>>,
    /// Gates that gave up waiting (the order they force did not happen).
    timed_out: AtomicUsize,
}

impl std::fmt::Debug for GateShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GateShared")
    }
}

impl GateShared {
    /// Wait (at most 20 s: a test must fail, not hang) for `u`.
    fn wait(&self, u: &Until) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut p = self.progress.lock().unwrap();
        while !u(&p) {
            if std::time::Instant::now() > deadline {
                self.timed_out.fetch_add(1, Ordering::AcqRel);
                return;
            }
            p = self
                .changed
                .wait_timeout(p, Duration::from_millis(5))
                .unwrap()
                .0;
        }
    }

    fn read_of(&self, digest: &str) -> u64 {
        self.progress
            .lock()
            .unwrap()
            .read
            .get(digest)
            .copied()
            .unwrap_or(0)
    }

    fn release(&self) {
        self.progress.lock().unwrap().released = true;
        self.changed.notify_all();
    }

    fn timed_out(&self) -> usize {
        self.timed_out.load(Ordering::Acquire)
    }
}

struct GatedReader {
    inner: Box<dyn Read + Send>,
    digest: String,
    pos: u64,
    gate: Option<(u64, Until)>,
    shared: Arc<GateShared>,
}

impl Read for GatedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = buf;
        if let Some((at, _)) = &self.gate {
            if self.pos >= *at {
                let (_, u) = self.gate.take().expect("checked");
                self.shared.wait(&u);
            } else {
                // Stop at the gate.
                let room = (*at - self.pos).min(buf.len() as u64) as usize;
                buf = &mut buf[..room];
            }
        }
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        let mut p = self.shared.progress.lock().unwrap();
        *p.read.entry(self.digest.clone()).or_default() += n as u64;
        let me = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        p.readers.entry(self.digest.clone()).or_default().insert(me);
        if n == 0 {
            p.eof.insert(self.digest.clone());
        }
        drop(p);
        self.shared.changed.notify_all();
        Ok(n)
    }
}

impl Drop for GatedReader {
    fn drop(&mut self) {
        self.shared.progress.lock().unwrap().open -= 1;
        self.shared.changed.notify_all();
    }
}

impl Gated {
    fn new(l: &Layout) -> Gated {
        Gated {
            inner: source::DirSource::new(&l.dir).unwrap(),
            shared: Arc::default(),
        }
    }

    /// `layer`'s streams read `after` bytes, then wait for `until`.
    fn gate(&self, layer: &Layer, after: u64, until: Until) {
        self.shared
            .gates
            .lock()
            .unwrap()
            .insert(digest_of(layer), (after, until));
    }
}

impl BlobSource for Gated {
    fn location(&self) -> &str {
        self.inner.location()
    }

    fn open(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        let inner = self.inner.open(key)?;
        let BlobKey::Digest(d) = key else {
            return Ok(inner);
        };
        let digest = d.to_string();
        let gate = self.shared.gates.lock().unwrap().get(&digest).cloned();
        let mut p = self.shared.progress.lock().unwrap();
        p.open += 1;
        p.most_open = p.most_open.max(p.open);
        drop(p);
        Ok(Box::new(GatedReader {
            inner,
            digest,
            pos: 0,
            gate,
            shared: Arc::clone(&self.shared),
        }))
    }

    fn size(&self, key: &BlobKey) -> io::Result<Option<u64>> {
        self.inner.size(key)
    }
}

fn digest_of(layer: &Layer) -> String {
    layer.desc["digest"].as_str().unwrap().to_string()
}

/// Wait until no thread indexes a layer any more (workers of a finished
/// lookup see the floor at their next read).
fn settle(slots: &Slots) {
    for _ in 0..2000 {
        if slots.busy() == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("read-ahead threads still busy after 10 s");
}

#[test]
fn read_ahead_shows_what_one_layer_at_a_time_shows() {
    let l = Layout::new();
    let layers = [
        l.layer(
            &[
                E::F("etc/a", 0o644, b"a".to_vec()),
                E::F("etc/b", 0o644, b"b".to_vec()),
                E::F("opt/x/y", 0o755, b"y".to_vec()),
                E::F("gone/deep/file", 0o644, b"g".to_vec()),
                E::F("bin/sh", 0o755, noise(70_000, 1)),
                E::L("bin/ls", "sh"),
                E::F("lib/ld.so", 0o755, noise(40_000, 2)),
            ],
            Comp::Gzip,
        ),
        l.layer(
            &[
                E::F("etc/.wh.a", 0o644, vec![]),
                E::F("opt/.wh..wh..opq", 0o644, vec![]),
                E::F("opt/new", 0o755, b"new".to_vec()),
                E::F(".wh.gone", 0o644, vec![]),
            ],
            Comp::Zstd,
        ),
        l.layer(&[E::F("usr/bin/env", 0o755, noise(9_000, 3))], Comp::Plain),
        l.layer(
            &[
                E::F("bin/sh", 0o755, noise(80_000, 4)),
                E::F("lib/.wh.ld.so", 0o644, vec![]),
            ],
            Comp::Gzip,
        ),
        l.layer(&[E::F("app", 0o755, noise(1000, 5))], Comp::Gzip),
    ];
    let refs: Vec<&Layer> = layers.iter().collect();
    let paths = [
        "/app",
        "/etc/a",
        "/etc/b",
        "/etc",
        "/opt/x/y",
        "/opt/x",
        "/opt/new",
        "/gone",
        "/gone/deep/file",
        "/bin/sh",
        "/bin/ls",
        "/lib/ld.so",
        "/lib",
        "/usr/bin/env",
        "/nope",
        "/etc/b/c",
    ];
    // Each path first, in a fresh view (the first lookup is the one that
    // goes down), then all of them in one view.
    for (k, p) in paths.iter().enumerate() {
        let (one, _) = view(dir_source(&l), &refs, None);
        let (ahead, slots) = forced(3, 4);
        let (many, pool) = view(dir_source(&l), &refs, Some(ahead));
        assert_eq!(lstat(&many, p), lstat(&one, p), "{p}");
        if let Some(e) = lstat(&one, p).filter(|e| e.kind == Kind::File) {
            let n = e.size as usize;
            assert_eq!(read(&many, p, 0, n), read(&one, p, 0, n), "{p}");
        }
        assert_eq!(many.stats().indexed, one.stats().indexed, "{p}");
        assert_eq!(many.opens(), one.opens(), "{p}");
        for q in &paths[k..] {
            assert_eq!(lstat(&many, q), lstat(&one, q), "{p} then {q}");
        }
        drop(many);
        settle(slots);
        assert!(pool.is_empty(), "{p}: bytes left counted");
    }
}

/// A bottom layer holding `/app` whose stored bytes, `diff_id` or end is
/// wrong, read ahead and finished before the layers above: its index is
/// complete but must never answer.
#[test]
fn a_lower_layer_read_ahead_counts_only_once_verified() {
    for how in ["digest", "diff_id", "truncated"] {
        let l = Layout::new();
        let mut bottom = l.layer(&[E::F("app", 0o755, b"APP-BYTES".to_vec())], Comp::Plain);
        let mid = l.layer(&[E::F("etc/x", 0o644, noise(5000, 7))], Comp::Gzip);
        let top = l.layer(&[E::F("etc/y", 0o644, b"y".to_vec())], Comp::Gzip);
        let d = digest_of(&bottom);
        let mut bytes = std::fs::read(l.blob_path(&d)).unwrap();
        match how {
            "digest" => {
                let at = bytes.windows(3).position(|w| w == b"APP").unwrap();
                bytes[at] = b'X';
            }
            "diff_id" => bottom.diff_id = sha(b"another layer"),
            _ => {
                // Every entry is there; the end-of-archive blocks are not.
                bytes.truncate(1024);
            }
        }
        std::fs::write(l.blob_path(&d), &bytes).unwrap();
        let src = Gated::new(&l);
        // The layers above wait until the bottom was read to its end.
        src.gate(&top, 0, eof(&d));
        src.gate(&mid, 0, eof(&d));
        let shared = Arc::clone(&src.shared);
        let (ahead, slots) = forced(3, 4);
        let (fs, pool) = view(Arc::new(src), &[&bottom, &mid, &top], Some(ahead));
        let e = err_of(block_on(fs.lstat(b"/app")));
        assert!(e.contains(&d), "{how}: {e}");
        let want = match how {
            "digest" => "digest mismatch (got",
            "diff_id" => "uncompressed digest mismatch",
            _ => "",
        };
        assert!(e.contains(want), "{how}: {e}");
        assert_eq!(shared.timed_out(), 0, "{how}: order not forced");
        // The same as reading one layer at a time.
        let (one, _) = view(dir_source(&l), &[&bottom, &mid, &top], None);
        assert_eq!(err_of(block_on(one.lstat(b"/app"))), e, "{how}");
        drop(fs);
        settle(slots);
        assert!(pool.is_empty(), "{how}");
    }
}

#[test]
fn an_error_below_the_answer_is_never_reported() {
    let l = Layout::new();
    let bottom = l.layer(&[E::F("bin/sh", 0o755, b"sh".to_vec())], Comp::Gzip);
    let top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    let d = digest_of(&bottom);
    let mut bytes = std::fs::read(l.blob_path(&d)).unwrap();
    let last = bytes.len() - 9;
    bytes[last] ^= 1;
    std::fs::write(l.blob_path(&d), &bytes).unwrap();
    let src = Gated::new(&l);
    // The top layer answers only once the bottom one has failed.
    src.gate(&top, 0, eof(&d));
    let shared = Arc::clone(&src.shared);
    let (ahead, slots) = forced(1, 2);
    let (fs, pool) = view(Arc::new(src), &[&bottom, &top], Some(ahead));
    assert_eq!(lstat(&fs, "/app"), Some(root_file(0o755, 3)));
    assert_eq!(read(&fs, "/app", 0, 3), b"app");
    assert_eq!(shared.timed_out(), 0);
    assert_eq!(fs.opens(), vec![0, 1]);
    assert_eq!(fs.stats().indexed, 1);
    // Only a path the top layer passes down reports the bottom's error.
    let e = err_of(block_on(fs.lstat(b"/bin/sh")));
    assert!(e.contains(&d), "{e}");
    drop(fs);
    settle(slots);
    assert!(pool.is_empty());
}

#[test]
fn an_answer_stops_the_layers_below() {
    let l = Layout::new();
    let lower: Vec<Layer> = (0..3)
        .map(|i| {
            l.layer(
                &[E::F(&format!("data/{i}"), 0o644, vec![i; 4 << 20])],
                Comp::Plain,
            )
        })
        .collect();
    let top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    let src = Gated::new(&l);
    // The layer under the top is read ahead for 1 MiB, then holds until
    // the lookup is over; the top answers once that 1 MiB was read.
    let under = digest_of(&lower[2]);
    src.gate(&lower[2], 1 << 20, Arc::new(|p: &Progress| p.released));
    src.gate(&top, 0, read_past(&under, 1 << 20));
    let shared = Arc::clone(&src.shared);
    let (ahead, slots) = forced(2, 3);
    let mut refs: Vec<&Layer> = lower.iter().collect();
    refs.push(&top);
    let (fs, pool) = view(Arc::new(src), &refs, Some(ahead));
    assert_eq!(lstat(&fs, "/app"), Some(root_file(0o755, 3)));
    shared.release();
    settle(slots);
    assert_eq!(shared.timed_out(), 0);
    // One more read of stored bytes (128 KiB at most) after the hold, then
    // the stop: never the rest of the 4 MiB.
    let got = shared.read_of(&under);
    assert!(got <= (1 << 20) + (128 << 10), "read {got}");
    assert_eq!(fs.stats().indexed, 1);
    assert_eq!(fs.opens(), vec![0, 0, 0, 1]);
    drop(fs);
    assert!(pool.is_empty());
}

#[test]
fn a_waiting_lookup_lends_its_core_to_the_layer_it_waits_for() {
    let l = Layout::new();
    // Plain layers of 6 MiB: big enough to move their decompressor.
    let bottom = l.layer(
        &[
            E::F("data/0", 0o644, noise(6 << 20, 70)),
            E::F("app", 0o755, b"app".to_vec()),
        ],
        Comp::Plain,
    );
    let top = l.layer(&[E::F("data/1", 0o644, noise(6 << 20, 71))], Comp::Plain);
    let src = Gated::new(&l);
    let (ahead, slots) = forced(1, 2);
    // The worker reads 3 MiB of the bottom layer in place (the lookup and
    // the worker hold both slots), then holds until the lookup, done with
    // the top, sleeps waiting for it: the lookup's slot is then free, and
    // the bottom's decompressor moves to a thread of its own.
    src.gate(
        &bottom,
        3 << 20,
        Arc::new(move |_: &Progress| slots.busy() < 2),
    );
    let shared = Arc::clone(&src.shared);
    let (fs, pool) = view(Arc::new(src), &[&bottom, &top], Some(ahead));
    assert_eq!(lstat(&fs, "/app"), Some(root_file(0o755, 3)));
    settle(slots);
    assert_eq!(shared.timed_out(), 0);
    let readers = shared.progress.lock().unwrap().readers.clone();
    let names = |layer: &Layer| readers[&digest_of(layer)].clone();
    assert!(
        names(&bottom).contains("archgate-layer") && names(&bottom).contains("archgate-inflate"),
        "the bottom was read by {:?}",
        names(&bottom)
    );
    assert!(
        !names(&top).contains("archgate-inflate"),
        "no slot was free while the top was read: {:?}",
        names(&top)
    );
    assert_eq!(fs.opens(), vec![1, 1]);
    drop(fs);
    assert!(pool.is_empty());
}

#[test]
fn layers_in_flight_stay_within_the_slots() {
    let l = Layout::new();
    let layers: Vec<Layer> = (0..8)
        .map(|i| {
            l.layer(
                &[E::F(&format!("d{i}/f"), 0o644, noise(300_000, 40 + i))],
                Comp::Gzip,
            )
        })
        .collect();
    let refs: Vec<&Layer> = layers.iter().collect();
    // One lookup with 2 slots: 2 streams at once, never more.
    let src = Gated::new(&l);
    // The top waits until the one below it is being read: both are in
    // flight at once.
    src.gate(&layers[7], 0, read_past(&digest_of(&layers[6]), 1));
    let shared = Arc::clone(&src.shared);
    let (ahead, slots) = forced(4, 2);
    let (fs, _) = view(Arc::new(src), &refs, Some(ahead));
    assert_eq!(lstat(&fs, "/nope"), None);
    settle(slots);
    assert_eq!(shared.timed_out(), 0);
    assert_eq!(shared.progress.lock().unwrap().most_open, 2);
    assert_eq!(fs.stats().indexed, 8);
    assert_eq!(fs.opens(), vec![1; 8]);
    // Two lookups on two threads sharing 2 slots: a needed read never
    // waits, so each adds one at most.
    let src = Gated::new(&l);
    let shared = Arc::clone(&src.shared);
    let src: Arc<dyn BlobSource> = Arc::new(src);
    let (ahead, slots) = forced(4, 2);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let src = Arc::clone(&src);
            let refs = &refs;
            s.spawn(move || {
                let (fs, _) = view(src, refs, Some(ahead));
                assert_eq!(lstat(&fs, "/d0/f").map(|e| e.size), Some(300_000));
            });
        }
    });
    settle(slots);
    let most = shared.progress.lock().unwrap().most_open;
    assert!((1..=4).contains(&most), "{most} streams at once");
}

#[test]
fn read_ahead_never_meets_the_index_bound_first() {
    let l = Layout::new();
    let layer_of = |tag: &str, files: usize, extra: Option<&str>| {
        let names: Vec<String> = (0..files)
            .map(|i| format!("{tag}/file-with-a-longish-name-{i:05}"))
            .collect();
        let mut es: Vec<E> = names.iter().map(|p| E::F(p, 0o644, vec![])).collect();
        if let Some(p) = extra {
            es.push(E::F(p, 0o755, b"x".to_vec()));
        }
        l.layer(&es, Comp::Gzip)
    };
    let bottom = layer_of("a", 20_000, Some("bin/sh"));
    let mid = layer_of("b", 20_000, None);
    let top = layer_of("c", 1, Some("app"));
    let refs = [&bottom, &mid, &top];
    // What each index takes, read one layer at a time without a bound.
    let (probe, _) = view(dir_source(&l), &refs, None);
    assert!(lstat(&probe, "/app").is_some());
    let t = probe.stats().index_bytes;
    assert!(lstat(&probe, "/bin/sh").is_some());
    let m = (probe.stats().index_bytes - t) / 2;
    assert!(m > 4 * t, "top {t}, lower {m}");
    // Room for the top and one lower layer, not two: the two read ahead
    // at once cannot both fit, and reading down meets the bound at the
    // bottom.
    let limits = LayerLimits {
        max_index: t + m + m / 2,
        ..LayerLimits::default()
    };
    let (mut one, _) = view(dir_source(&l), &refs, None);
    one.set_limits(limits);
    let (ahead, slots) = forced(3, 4);
    let src = Gated::new(&l);
    // The top answers only once both lower layers were read ahead as far
    // as they go (one gives way to the bound): no thread but the lookup's
    // own (waiting here) holds a slot.
    let (bd, md) = (digest_of(&bottom), digest_of(&mid));
    src.gate(
        &top,
        0,
        Arc::new(move |p: &Progress| {
            p.read.contains_key(&bd) && p.read.contains_key(&md) && slots.busy() == 1
        }),
    );
    let shared = Arc::clone(&src.shared);
    let (mut fs, pool) = view(Arc::new(src), &refs, Some(ahead));
    fs.set_limits(limits);
    assert_eq!(lstat(&fs, "/app"), lstat(&one, "/app"));
    assert_eq!(lstat(&fs, "/app"), Some(root_file(0o755, 1)));
    assert_eq!(shared.timed_out(), 0);
    settle(slots);
    {
        let p = shared.progress.lock().unwrap();
        let (b, m) = (
            p.eof.contains(&digest_of(&bottom)),
            p.eof.contains(&digest_of(&mid)),
        );
        assert!(!(b && m), "neither lower layer gave way to the bound");
    }
    // Going down: the same error, from the same layer, as one at a time.
    let e1 = err_of(block_on(one.lstat(b"/bin/sh")));
    let e = err_of(block_on(fs.lstat(b"/bin/sh")));
    assert!(e.contains("the layer indexes need more than"), "{e}");
    assert!(e.contains(&digest_of(&bottom)), "{e}");
    assert_eq!(e, e1);
    assert_eq!(fs.opens(), one.opens());
    drop(fs);
    settle(slots);
    assert!(pool.is_empty());
}

#[test]
fn small_layers_and_zero_workers_read_one_layer_at_a_time() {
    let l = Layout::new();
    let bottom = l.layer(&[E::F("bin/sh", 0o755, b"sh".to_vec())], Comp::Gzip);
    let top = l.layer(&[E::F("app", 0o755, b"app".to_vec())], Comp::Gzip);
    let src = Gated::new(&l);
    let shared = Arc::clone(&src.shared);
    let src: Arc<dyn BlobSource> = Arc::new(src);
    let slots: &'static Slots = Box::leak(Box::new(Slots::new(4)));
    for ahead in [
        // The top layer is under the size that starts a wave.
        ReadAhead {
            workers: 3,
            min_size: 1 << 20,
            slots,
        },
        ReadAhead {
            workers: 0,
            min_size: 0,
            slots,
        },
    ] {
        let (fs, _) = view(Arc::clone(&src), &[&bottom, &top], Some(ahead));
        assert_eq!(lstat(&fs, "/app"), Some(root_file(0o755, 3)));
        assert_eq!(shared.read_of(&digest_of(&bottom)), 0);
        assert_eq!(shared.progress.lock().unwrap().most_open, 1);
    }
}
