//! The in-daemon runner: archgate started by BuildKit as a frontend image
//! (`# syntax=REG/archgate:TAG`). The daemon serves the LLBBridge on the
//! process's stdin/stdout and passes the frontend options in the
//! environment; the runner hands a build function the gateway and sends
//! what it answers back with `Return`, exactly once (frontend-image.md §1).
//!
//! The one idea: stdout belongs to gRPC alone. The runner takes the two
//! pipes for itself (duplicated to fresh descriptors) and points fd 1 at
//! stderr and fd 0 at /dev/null, so no stray `println!` or log line can
//! corrupt the HTTP/2 stream; and whatever happens (an answer, an error, a
//! panic anywhere) ends in one `Return`, after which the process exits at
//! once.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::Channel;

use super::error::BuildError;
use super::gateway::{return_request, Gateway};
use super::proto::gateway as gw;
use crate::dial::BoxIo;

/// Each frontend option comes as `BUILDKIT_FRONTEND_OPT_<i>=<key>=<value>`
/// (buildkit `frontend/gateway/gateway.go`; `<i>` follows Go's map order).
pub const OPT_ENV_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";

/// How long a `Return` may take before the process gives up and exits.
const RETURN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the frontend's options could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptsError {
    #[error("{var}: not UTF-8")]
    NotUtf8 { var: String },
    #[error("{var}: {value:?} is not KEY=VALUE")]
    NoKey { var: String, value: String },
    #[error("{var}: the index {index:?} is not a number")]
    BadIndex { var: String, index: String },
}

/// The frontend options from environment variables (`std::env::vars_os()`):
/// every `BUILDKIT_FRONTEND_OPT_<i>`, split at its first `=` (the value may
/// hold more). Other variables are ignored; a key given twice keeps the
/// value of the higher index.
pub fn opts_from_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<BTreeMap<String, String>, OptsError> {
    let mut found: Vec<(u64, String, String)> = Vec::new();
    for (k, v) in vars {
        let Some(k) = k.to_str() else { continue };
        let Some(index) = k.strip_prefix(OPT_ENV_PREFIX) else {
            continue;
        };
        let i = index.parse::<u64>().map_err(|_| OptsError::BadIndex {
            var: k.to_string(),
            index: index.to_string(),
        })?;
        let v = v
            .into_string()
            .map_err(|_| OptsError::NotUtf8 { var: k.to_string() })?;
        let Some((key, value)) = v.split_once('=').filter(|(key, _)| !key.is_empty()) else {
            return Err(OptsError::NoKey {
                var: k.to_string(),
                value: v,
            });
        };
        found.push((i, key.to_string(), value.to_string()));
    }
    found.sort_by_key(|(i, _, _)| *i);
    Ok(found.into_iter().map(|(_, k, v)| (k, v)).collect())
}

/// The process's stdin and stdout for gRPC, taken so that nothing else can
/// write to the daemon's pipe: the two descriptors are duplicated for us,
/// then fd 1 is pointed at stderr and fd 0 at /dev/null. Call once, before
/// anything could print.
pub(crate) fn take_stdio() -> std::io::Result<Stdio> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain descriptor calls on the process's own 0, 1 and 2; each
    // result is checked and the duplicates are owned exactly once.
    let (rfd, wfd) = unsafe {
        let r = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let w = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if w < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(r);
            return Err(e);
        }
        (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w))
    };
    // Anything printed from now on goes to stderr (the daemon's log).
    // SAFETY: as above.
    unsafe {
        if libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
    }
    Ok(Stdio {
        r: std::fs::File::from(rfd),
        w: std::fs::File::from(wfd),
    })
}

/// The daemon's two pipes, taken by [`take_stdio`].
pub(crate) struct Stdio {
    r: std::fs::File,
    w: std::fs::File,
}

impl Stdio {
    /// The pipes as one duplex stream (inside a runtime: they register
    /// with its reactor). BuildKit gives a frontend two pipes (os.Pipe),
    /// read and written without blocking threads; anything else (a socket,
    /// a file) goes through tokio's blocking adapters.
    pub(crate) fn into_stream(self) -> std::io::Result<BoxIo> {
        use std::os::unix::fs::FileTypeExt;
        use tokio::net::unix::pipe;
        let fifo = |f: &std::fs::File| f.metadata().is_ok_and(|m| m.file_type().is_fifo());
        let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = if fifo(&self.r) {
            Box::new(pipe::Receiver::from_file(self.r)?)
        } else {
            Box::new(tokio::fs::File::from_std(self.r))
        };
        let writer: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = if fifo(&self.w) {
            Box::new(pipe::Sender::from_file(self.w)?)
        } else {
            Box::new(tokio::fs::File::from_std(self.w))
        };
        Ok(Box::new(tokio::io::join(reader, writer)))
    }
}

/// The gRPC channel to the daemon over `io` (the stdio of [`take_stdio`],
/// or one end of a loopback pair in tests).
pub(crate) async fn channel(io: BoxIo) -> Result<Channel, BuildError> {
    super::transport::over_stream(io, "the frontend's stdio").await
}

/// The right to send the one `Return`: whoever takes it first (the
/// runner, or the panic hook) sends it; everyone later finds it gone.
#[derive(Clone)]
pub struct ReturnOnce(Arc<Mutex<Option<Gateway>>>);

impl ReturnOnce {
    pub fn new(gw: Gateway) -> Self {
        ReturnOnce(Arc::new(Mutex::new(Some(gw))))
    }

    /// Send `answer` as the build's `Return`: `None` when it was already
    /// sent (or is being sent), else how the call went. An error keeps its
    /// code, message and details (a Dockerfile excerpt, an unsupported
    /// subrequest) so the daemon rebuilds it as it was.
    pub async fn send(
        &self,
        answer: Result<gw::Result, tonic::Status>,
    ) -> Option<Result<(), tonic::Status>> {
        let gw = self.0.lock().ok()?.take()?;
        let req = return_request(answer);
        Some(
            match tokio::time::timeout(RETURN_TIMEOUT, gw.ret(req)).await {
                Ok(r) => r,
                Err(_) => Err(tonic::Status::deadline_exceeded(
                    "the daemon did not answer Return",
                )),
            },
        )
    }
}

/// How a frontend run ended.
#[derive(Debug)]
pub struct Ended {
    /// The build function answered with a result (not an error, not a
    /// panic).
    pub passed: bool,
    /// The `Return` call: `None` when someone else had sent it already.
    pub returned: Option<Result<(), tonic::Status>>,
}

/// Run `build` on `gw` and send its answer with `ret`. A panic in `build`
/// is returned as an error naming it (the panic hook of
/// [`install_panic_hook`] usually got there first: then nothing more is
/// sent).
pub async fn run<F, Fut>(gw: Gateway, ret: &ReturnOnce, build: F) -> Ended
where
    F: FnOnce(Gateway) -> Fut,
    Fut: Future<Output = Result<gw::Result, tonic::Status>>,
{
    use futures::FutureExt;
    // The engine's futures are not Send: the build runs in this task, its
    // panics caught here.
    let answer = match std::panic::AssertUnwindSafe(build(gw)).catch_unwind().await {
        Ok(a) => a,
        Err(p) => Err(crashed(&panic_text(p.as_ref()))),
    };
    let passed = answer.is_ok();
    Ended {
        passed,
        returned: ret.send(answer).await,
    }
}

/// The error a crash is returned as.
pub fn crashed(what: &str) -> tonic::Status {
    tonic::Status::internal(format!("archgate frontend crashed: {what}"))
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// After the default hook (the message and backtrace to stderr), a panic
/// anywhere in the process sends `Return{error}` naming it, if no Return
/// went yet, and exits with status 1: the daemon then shows our error, not
/// "exit code: 101" or "no result for incomplete build". `handle` must be
/// a multi-threaded runtime's (the Return is sent from a thread of its own
/// while the panicking thread waits).
pub fn install_panic_hook(ret: ReturnOnce, handle: tokio::runtime::Handle) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let what = match info.location() {
            Some(l) => format!(
                "{} at {}:{}",
                panic_text(info.payload()),
                l.file(),
                l.line()
            ),
            None => panic_text(info.payload()),
        };
        return_from_panic(&ret, &handle, &what);
        std::process::exit(1);
    }));
}

/// The panic hook's work, without the exit: `Return{error}` from a thread
/// of its own, waited for (bounded by [`RETURN_TIMEOUT`]).
pub fn return_from_panic(
    ret: &ReturnOnce,
    handle: &tokio::runtime::Handle,
    what: &str,
) -> Option<Result<(), tonic::Status>> {
    let (ret, handle, status) = (ret.clone(), handle.clone(), crashed(what));
    std::thread::spawn(move || handle.block_on(ret.send(Err(status))))
        .join()
        .ok()
        .flatten()
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
