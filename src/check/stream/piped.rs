//! A layer's decompressor on a thread of its own.
//!
//! Reading a layer is two jobs in a row: fetch, hash the stored bytes and
//! inflate them (about three quarters of the work for gzip), then hash the
//! inflated tar stream for the diff_id and read its headers. `Piped` runs
//! the first on a thread that hands the inflated bytes over in chunks, so
//! the two run at once and one layer uses two cores. The bytes, their order
//! and every error are the ones the decompressor gives; only where they are
//! computed changes.
//!
//! Memory stays bounded: at most [`IN_FLIGHT`] chunks wait in the channel,
//! one more is being filled and one read. When the reader is dropped early
//! (a layer above answered, a tar error), the thread ends before its next
//! read of the decompressor: it sees the flag before each read, and the
//! closed channel when sending.

use std::io::{self, Read};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Inflated bytes per hand-over: large enough that the channel costs
/// nothing beside inflating them (about 0.3 ms), small enough to keep both
/// threads busy.
const CHUNK: usize = 128 * 1024;
/// Chunks waiting for the reader.
const IN_FLIGHT: usize = 4;

enum Msg<D> {
    Data(Vec<u8>),
    /// The decompressor reached its end; it comes back so the caller can
    /// finish the stored stream it holds.
    End(D),
    Fail(io::Error),
    /// The decompressor panicked: the reader panics with the same payload,
    /// as it would have reading in place.
    Panic(Box<dyn std::any::Any + Send>),
}

/// The reading end: what the decompressor `D` gives, read on another
/// thread.
pub struct Piped<D> {
    rx: Receiver<Msg<D>>,
    /// Spent chunks go back to the thread, so it allocates only a few.
    back: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    state: State<D>,
    quit: Arc<AtomicBool>,
}

enum State<D> {
    Reading,
    End(D),
    /// The error was returned once; later reads repeat its kind and text.
    Failed(io::ErrorKind, String),
    /// `into_end` took the decompressor back.
    Taken,
}

/// Start reading `dec` on a thread of its own, which keeps `hold` (a core's
/// slot) until it ends. `Err` gives `dec` back when no thread could be
/// started, for the caller to read it in place.
pub fn spawn<D: Read + Send + 'static, H: Send + 'static>(dec: D, hold: H) -> Result<Piped<D>, D> {
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let (back, spent) = sync_channel(IN_FLIGHT + 2);
    let quit = Arc::new(AtomicBool::new(false));
    // The decompressor is sent once the thread runs: a spawn that fails
    // drops only the closure, and `dec` is still ours to give back.
    let (give, take) = sync_channel::<D>(1);
    let theirs = quit.clone();
    let started = std::thread::Builder::new()
        .name("archgate-inflate".into())
        .spawn(move || {
            if let Ok(dec) = take.recv() {
                produce(dec, &tx, &spent, &theirs);
            }
            drop(hold);
        });
    if started.is_err() {
        return Err(dec);
    }
    give.send(dec).map_err(|e| e.0)?;
    Ok(Piped {
        rx,
        back,
        cur: Vec::new(),
        pos: 0,
        state: State::Reading,
        quit,
    })
}

/// The thread: fill chunks from `dec` and send them, then the end (with
/// `dec`), the first error, or the decompressor's panic for the reader to
/// resume.
fn produce<D: Read>(dec: D, tx: &SyncSender<Msg<D>>, spent: &Receiver<Vec<u8>>, quit: &AtomicBool) {
    let mut dec = dec;
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| loop {
        if quit.load(Ordering::Relaxed) {
            return None;
        }
        let mut buf = spent.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        let mut end = false;
        while filled < CHUNK {
            // Looked at before every read, not only per chunk: a reader
            // dropped must not cost another 128 KiB of a slow connection.
            if quit.load(Ordering::Relaxed) {
                return None;
            }
            match dec.read(&mut buf[filled..]) {
                Ok(0) => {
                    end = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if filled > 0 {
                        buf.truncate(filled);
                        if tx.send(Msg::Data(buf)).is_err() {
                            return None;
                        }
                    }
                    return Some(Msg::Fail(e));
                }
            }
        }
        if filled > 0 {
            buf.truncate(filled);
            if tx.send(Msg::Data(buf)).is_err() {
                return None;
            }
        }
        if end {
            return Some(Msg::End(()));
        }
    }));
    let last = match run {
        Ok(None) => return,
        Ok(Some(Msg::End(()))) => Msg::End(dec),
        Ok(Some(Msg::Fail(e))) => Msg::Fail(e),
        Ok(Some(Msg::Data(_) | Msg::Panic(_))) => return,
        Err(payload) => Msg::Panic(payload),
    };
    let _ = tx.send(last);
}

impl<D> Piped<D> {
    /// The decompressor, once the stream was read to its end.
    pub fn into_end(mut self) -> Option<D> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::End(d) => Some(d),
            _ => None,
        }
    }
}

impl<D> Read for Piped<D> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.cur.len() {
                let n = out.len().min(self.cur.len() - self.pos);
                out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match &self.state {
                State::Reading => {}
                State::End(_) | State::Taken => return Ok(0),
                State::Failed(kind, text) => return Err(io::Error::new(*kind, text.clone())),
            }
            if out.is_empty() {
                return Ok(0);
            }
            let spent = std::mem::take(&mut self.cur);
            self.pos = 0;
            if spent.capacity() > 0 {
                let _ = self.back.try_send(spent);
            }
            match self.rx.recv() {
                Ok(Msg::Data(b)) => self.cur = b,
                Ok(Msg::End(d)) => self.state = State::End(d),
                Ok(Msg::Fail(e)) => {
                    self.state = State::Failed(e.kind(), e.to_string());
                    return Err(e);
                }
                Ok(Msg::Panic(payload)) => {
                    self.state = State::Failed(
                        io::ErrorKind::Other,
                        "the layer's decompressor panicked".into(),
                    );
                    // The hook already printed the message, on the thread
                    // that panicked; this unwinds the reader's thread.
                    std::panic::resume_unwind(payload);
                }
                Err(_) => {
                    let e = io::Error::other("the layer's decompressor stopped without an answer");
                    self.state = State::Failed(e.kind(), e.to_string());
                    return Err(e);
                }
            }
        }
    }
}

impl<D> Drop for Piped<D> {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Bytes in reads of uneven sizes, an error after `fail_at` bytes,
    /// counting its reads.
    struct Source {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        fail_at: Option<usize>,
        panic_at: Option<usize>,
        reads: Arc<AtomicUsize>,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.panic_at.is_some_and(|p| self.pos >= p) {
                panic!("decoder bug");
            }
            if self.fail_at.is_some_and(|f| self.pos >= f) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt deflate stream",
                ));
            }
            self.step = self.step % 70_001 + 13_337;
            let mut end = (self.pos + self.step.min(buf.len())).min(self.data.len());
            if let Some(f) = self.fail_at {
                end = end.min(f.max(self.pos));
            }
            let n = end - self.pos;
            buf[..n].copy_from_slice(&self.data[self.pos..end]);
            self.pos = end;
            Ok(n)
        }
    }

    fn source(len: usize) -> Source {
        Source {
            data: (0..len).map(|i| (i * 7 + i / 251) as u8).collect(),
            pos: 0,
            step: 1,
            fail_at: None,
            panic_at: None,
            reads: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn read_all(mut r: impl Read, sizes: &[usize]) -> (Vec<u8>, Option<io::Error>) {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let mut buf = vec![0u8; sizes[i % sizes.len()]];
            i += 1;
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn gives_the_bytes_in_order_and_the_decompressor_back() {
        for len in [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK * IN_FLIGHT + 17,
        ] {
            let src = source(len);
            let want = src.data.clone();
            let mut p = spawn(src, ()).ok().unwrap();
            let (got, err) = read_all(&mut p, &[1, 4096, 65_536, 200_000]);
            assert!(err.is_none(), "{len}: {err:?}");
            assert!(got == want, "{len}: {} bytes differ", got.len());
            assert_eq!(p.read(&mut [0; 8]).unwrap(), 0, "the end stays the end");
            let back = p
                .into_end()
                .expect("the decompressor comes back at the end");
            assert_eq!(back.pos, len);
        }
    }

    #[test]
    fn an_error_comes_after_the_bytes_before_it_and_stays() {
        let mut src = source(10 * CHUNK);
        src.fail_at = Some(3 * CHUNK + 5);
        let want = src.data[..3 * CHUNK + 5].to_vec();
        let mut p = spawn(src, ()).ok().unwrap();
        let (got, err) = read_all(&mut p, &[65_536]);
        assert!(got == want);
        let err = err.expect("the error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "corrupt deflate stream");
        let again = p.read(&mut [0; 8]).unwrap_err();
        assert_eq!(
            (again.kind(), again.to_string()),
            (err.kind(), err.to_string())
        );
        assert!(p.into_end().is_none(), "no end after an error");
    }

    #[test]
    fn a_panic_in_the_decompressor_unwinds_the_reader() {
        let mut src = source(4 * CHUNK);
        src.panic_at = Some(CHUNK);
        let p = spawn(src, ()).ok().unwrap();
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| read_all(p, &[65_536])));
        let payload = caught.expect_err("the reader panics as in place");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"decoder bug"));
    }

    #[test]
    fn dropping_the_reader_ends_the_thread_and_lets_its_hold_go() {
        let src = source(100 * CHUNK);
        let reads = src.reads.clone();
        // The thread keeps `held` until it ends: the receiver then sees the
        // sender gone.
        let (held, ended) = std::sync::mpsc::channel::<()>();
        let mut p = spawn(src, held).ok().unwrap();
        let mut buf = vec![0; 1000];
        p.read_exact(&mut buf).unwrap();
        drop(p);
        let gone = ended.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(
            gone,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "the thread ended"
        );
        // Source reads are 13 KiB to 83 KiB: the channel's chunks and the
        // one being filled are at most (IN_FLIGHT + 2) * CHUNK bytes.
        let n = reads.load(Ordering::SeqCst);
        let bound = (IN_FLIGHT + 2) * CHUNK / 13_337 + 2;
        assert!(n <= bound, "{n} reads in all (bound {bound})");
    }
}
