//! The session's upload service (`moby.upload.v1.Upload`): byte streams the
//! daemon pulls for an HTTP source whose host is `buildkit-session`, as
//! BuildKit's `session/upload/uploadprovider` serves them. buildx sends a
//! build context tar given on stdin this way (`context` =
//! `http://buildkit-session/ID`); the daemon's Dockerfile frontend then
//! unpacks it itself.
//!
//! The one idea: a stream is handed over once and streamed as it is read,
//! never held whole: the blocking reader runs on its own thread and feeds a
//! small channel, so memory stays at a few chunks whatever the tar's size.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::proto::moby::upload::v1::{
    upload_server::{Upload, UploadServer},
    BytesMessage,
};

/// The host an upload's URL names (BuildKit `source/http`: a URL on this
/// host is pulled from the session).
pub const SESSION_HOST: &str = "buildkit-session";

/// The most one message carries (uploadprovider's `maxChunkSize`, 3 MiB;
/// daemons before v0.14 take at most 4 MiB per message).
const CHUNK: usize = 3 * 1024 * 1024;

/// The metadata key naming the stream (BuildKit `session/upload` `keyPath`).
const URL_PATH: &str = "urlpath";

type Reader = Box<dyn Read + Send>;

/// The streams one session offers, each by id, each pulled at most once.
#[derive(Clone, Default)]
pub struct UploadService {
    streams: Arc<Mutex<HashMap<String, Reader>>>,
}

impl UploadService {
    pub fn new() -> Self {
        Self::default()
    }

    /// Offer `r`; the URL the daemon pulls it by (a frontend's `context`).
    pub fn add(&self, r: Reader) -> Result<String, super::BuildError> {
        let id = super::session::new_id()?;
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), r);
        Ok(format!("http://{SESSION_HOST}/{id}"))
    }

    pub fn into_server(self) -> UploadServer<UploadService> {
        UploadServer::new(self)
    }
}

impl super::session::Advertised for UploadServer<UploadService> {
    const METHODS: &'static [&'static str] = &["Pull"];
}

/// The last element of a URL path (Go's `path.Base`, as uploadprovider
/// takes the id).
fn base(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some((_, b)) => b,
        None => t,
    }
}

#[tonic::async_trait]
impl Upload for UploadService {
    type PullStream = ReceiverStream<Result<BytesMessage, Status>>;

    async fn pull(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let path = request
            .metadata()
            .get(URL_PATH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let id = base(path).to_string();
        let reader = self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let Some(mut reader) = reader else {
            return Err(Status::not_found(format!(
                "no http response from session for {id}"
            )));
        };
        let (tx, rx) = mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(Status::data_loss(format!(
                            "reading the upload: {e}"
                        ))));
                        return;
                    }
                };
                let msg = BytesMessage {
                    data: buf[..n].to_vec(),
                };
                if tx.blocking_send(Ok(msg)).is_err() {
                    // The daemon stopped pulling.
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_last_path_element() {
        assert_eq!(base("/abc"), "abc");
        assert_eq!(base("abc"), "abc");
        assert_eq!(base("/x/abc/"), "abc");
        assert_eq!(base(""), "");
    }

    #[test]
    fn a_stream_is_offered_by_a_session_url() {
        let svc = UploadService::new();
        let url = svc.add(Box::new(std::io::empty())).unwrap();
        let id = url.strip_prefix("http://buildkit-session/").unwrap();
        assert!(svc.streams.lock().unwrap().contains_key(id));
    }
}
