//! Test helpers for code that talks to a Docker Engine: a fake engine on a
//! unix socket that answers one request with bytes written as they are
//! given, so tests choose exactly what arrives on the wire (and how split).

use super::EngineHost;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;

/// Serve one connection on a fresh socket: read the request head, then
/// write `pieces` one by one (flushing and pausing between them) and close.
/// Returns the socket's directory (the socket goes with it), the host, and
/// the request line the engine was sent.
pub(crate) fn fake_engine(
    pieces: Vec<Vec<u8>>,
) -> (
    tempfile::TempDir,
    EngineHost,
    std::thread::JoinHandle<String>,
) {
    let t = tempfile::tempdir().unwrap();
    let sock = t.path().join("engine.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let h = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut first = String::new();
        r.read_line(&mut first).unwrap();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap() == 0 || l == "\r\n" {
                break;
            }
        }
        for p in pieces {
            if c.write_all(&p).is_err() {
                break;
            }
            let _ = c.flush();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        first.trim().to_string()
    });
    (t, EngineHost::Unix(sock), h)
}
