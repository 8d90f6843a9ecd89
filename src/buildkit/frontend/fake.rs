//! A fake daemon for the runner's and the frontend command's unit tests:
//! the LLBBridge served over one end of a loopback pair, as the daemon
//! serves it on a frontend's stdio, recording what it was sent.

use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioExecutor, TokioIo};
use tonic::{Request, Response, Status};

use crate::buildkit::proto::gateway::llb_bridge_server::{LlbBridge, LlbBridgeServer};
use crate::buildkit::proto::gateway::{
    EvaluateRequest, EvaluateResponse, InputsRequest, InputsResponse, PingRequest, PongResponse,
    ReadDirRequest, ReadDirResponse, ReadFileRequest, ReadFileResponse, ReturnRequest,
    ReturnResponse, SolveRequest, SolveResponse, StatFileRequest, StatFileResponse, WarnRequest,
    WarnResponse,
};

/// What the fake answers and what it saw.
#[derive(Default)]
pub struct State {
    /// Enabled caps Ping reports.
    pub caps: Vec<String>,
    /// Solve's answer (`None`: an empty result).
    pub solve: Option<Result<SolveResponse, Status>>,
    pub solves: Vec<SolveRequest>,
    pub returns: Vec<ReturnRequest>,
    pub warns: Vec<WarnRequest>,
    /// Whether each call carried a build-id header.
    pub build_id_headers: Vec<bool>,
    /// What `ReadDir` lists (for every directory), and the calls it got.
    pub dir: Vec<crate::buildkit::proto::fsutil::types::Stat>,
    pub read_dirs: Vec<ReadDirRequest>,
}

#[derive(Clone, Default)]
pub struct Fake(pub Arc<Mutex<State>>);

impl Fake {
    fn saw<T>(&self, r: &Request<T>) {
        let has = r.metadata().get("buildkit-controlapi-buildid").is_some();
        self.0.lock().unwrap().build_id_headers.push(has);
    }

    /// Serve the LLBBridge on `io` (plain HTTP/2, as the daemon does).
    pub fn serve<I>(&self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let svc = LlbBridgeServer::new(self.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let mut svc = svc.clone();
                async move { tower_service::Service::call(&mut svc, req).await }
            });
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }

    /// A gateway over a fresh loopback pair served by this fake, through
    /// the runner's own channel.
    pub async fn gateway(&self) -> crate::buildkit::gateway::Gateway {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        self.serve(theirs);
        let ch = super::channel(Box::new(ours)).await.expect("channel");
        crate::buildkit::gateway::Gateway::in_daemon(ch)
    }
}

#[tonic::async_trait]
impl LlbBridge for Fake {
    async fn ping(&self, r: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        self.saw(&r);
        let caps = self.0.lock().unwrap().caps.clone();
        Ok(Response::new(PongResponse {
            frontend_api_caps: caps
                .into_iter()
                .map(
                    |id| crate::buildkit::proto::moby::buildkit::v1::apicaps::ApiCap {
                        id,
                        enabled: true,
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }))
    }
    async fn solve(&self, r: Request<SolveRequest>) -> Result<Response<SolveResponse>, Status> {
        self.saw(&r);
        let mut st = self.0.lock().unwrap();
        st.solves.push(r.into_inner());
        st.solve
            .clone()
            .unwrap_or_else(|| Ok(SolveResponse::default()))
            .map(Response::new)
    }
    async fn read_file(
        &self,
        _: Request<ReadFileRequest>,
    ) -> Result<Response<ReadFileResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    /// Every directory holds `dir`; an include pattern is matched as a
    /// plain name (what the gateway client sends for one name).
    async fn read_dir(
        &self,
        r: Request<ReadDirRequest>,
    ) -> Result<Response<ReadDirResponse>, Status> {
        let r = r.into_inner();
        let mut st = self.0.lock().unwrap();
        let entries = st
            .dir
            .iter()
            .filter(|e| r.include_pattern.is_empty() || e.path == r.include_pattern)
            .cloned()
            .collect();
        st.read_dirs.push(r);
        Ok(Response::new(ReadDirResponse { entries }))
    }
    async fn stat_file(
        &self,
        _: Request<StatFileRequest>,
    ) -> Result<Response<StatFileResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn evaluate(
        &self,
        _: Request<EvaluateRequest>,
    ) -> Result<Response<EvaluateResponse>, Status> {
        Ok(Response::new(EvaluateResponse {}))
    }
    async fn r#return(
        &self,
        r: Request<ReturnRequest>,
    ) -> Result<Response<ReturnResponse>, Status> {
        self.saw(&r);
        self.0.lock().unwrap().returns.push(r.into_inner());
        Ok(Response::new(ReturnResponse {}))
    }
    async fn inputs(&self, r: Request<InputsRequest>) -> Result<Response<InputsResponse>, Status> {
        self.saw(&r);
        let mut defs = std::collections::HashMap::new();
        defs.insert("extra".to_string(), vec![0x0a, 0x01, 0x00]);
        Ok(Response::new(InputsResponse { definitions: defs }))
    }
    async fn warn(&self, r: Request<WarnRequest>) -> Result<Response<WarnResponse>, Status> {
        self.saw(&r);
        self.0.lock().unwrap().warns.push(r.into_inner());
        Ok(Response::new(WarnResponse {}))
    }
}
