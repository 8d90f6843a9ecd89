use super::fake::Fake;
use super::*;
use crate::buildkit::proto::gateway::{Ref, Result as GwResult};
use prost::Message;

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

#[test]
fn opts_come_from_the_numbered_variables_and_values_keep_their_equals() {
    let got = opts_from_env(env(&[
        ("PATH", "/bin"),
        ("BUILDKIT_FRONTEND_OPT_1", "build-arg:X=a=b"),
        ("BUILDKIT_FRONTEND_OPT_0", "source=reg/archgate:1"),
        ("BUILDKIT_FRONTEND_OPT_2", "no-cache="),
        ("BUILDKIT_SESSION_ID", "abc"),
    ]))
    .unwrap();
    let want: BTreeMap<String, String> = [
        ("build-arg:X", "a=b"),
        ("no-cache", ""),
        ("source", "reg/archgate:1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, want);
    // A key given twice: the higher index wins, whatever the env order.
    let got = opts_from_env(env(&[
        ("BUILDKIT_FRONTEND_OPT_10", "k=late"),
        ("BUILDKIT_FRONTEND_OPT_9", "k=early"),
    ]))
    .unwrap();
    assert_eq!(got["k"], "late");
}

#[test]
fn malformed_opts_are_one_line_errors() {
    let e = opts_from_env(env(&[("BUILDKIT_FRONTEND_OPT_0", "novalue")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "BUILDKIT_FRONTEND_OPT_0: \"novalue\" is not KEY=VALUE"
    );
    let e = opts_from_env(env(&[("BUILDKIT_FRONTEND_OPT_0", "=v")])).unwrap_err();
    assert!(matches!(e, OptsError::NoKey { .. }), "{e}");
    let e = opts_from_env(env(&[("BUILDKIT_FRONTEND_OPT_x", "k=v")])).unwrap_err();
    assert!(matches!(e, OptsError::BadIndex { .. }), "{e}");
    use std::os::unix::ffi::OsStringExt;
    let e = opts_from_env(vec![(
        OsString::from("BUILDKIT_FRONTEND_OPT_0"),
        OsString::from_vec(b"k=\xff".to_vec()),
    )])
    .unwrap_err();
    assert!(matches!(e, OptsError::NotUtf8 { .. }), "{e}");
}

/// The stdio channel over a loopback pair: gRPC with prior knowledge to a
/// plain HTTP/2 server, calls without the build-id header.
#[tokio::test]
async fn the_stdio_channel_speaks_grpc_without_a_build_id() {
    let fake = Fake::default();
    fake.0.lock().unwrap().caps = vec!["return".into()];
    let gw = fake.gateway().await;
    assert_eq!(gw.ping().await.unwrap(), vec!["return".to_string()]);
    assert_eq!(fake.0.lock().unwrap().build_id_headers, vec![false]);
}

fn a_result() -> GwResult {
    GwResult {
        result: Some(crate::buildkit::proto::gateway::result::Result::Ref(Ref {
            id: "r1".into(),
            def: None,
        })),
        metadata: [("k".to_string(), b"v".to_vec())].into_iter().collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_answer_is_returned_exactly_once() {
    let fake = Fake::default();
    let gw = fake.gateway().await;
    let ret = ReturnOnce::new(gw.clone());
    let ended = run(gw, &ret, |_| async { Ok(a_result()) }).await;
    assert!(ended.passed);
    assert!(matches!(ended.returned, Some(Ok(()))), "{ended:?}");
    // Nobody can send a second one.
    assert!(ret.send(Err(Status::internal("again"))).await.is_none());
    let st = fake.0.lock().unwrap();
    assert_eq!(st.returns.len(), 1);
    assert_eq!(st.returns[0].result, Some(a_result()));
    assert!(st.returns[0].error.is_none());
}

use tonic::Status;

#[tokio::test]
async fn an_error_is_returned_with_its_code_and_details() {
    let fake = Fake::default();
    let gw = fake.gateway().await;
    let ret = ReturnOnce::new(gw.clone());
    // What a failed Solve brings back: a google.rpc.Status in the details.
    let details = crate::buildkit::proto::google::rpc::Status {
        code: 2,
        message: "dockerfile parse error".into(),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/moby.buildkit.v1.errdefs.Source".into(),
            value: vec![1, 2, 3],
        }],
    };
    let st = Status::with_details(
        tonic::Code::Unknown,
        "dockerfile parse error",
        details.encode_to_vec().into(),
    );
    let ended = run(gw, &ret, move |_| async move { Err(st) }).await;
    assert!(!ended.passed);
    let got = fake.0.lock().unwrap().returns[0].error.clone().unwrap();
    assert_eq!(got.code, tonic::Code::Unknown as i32);
    assert_eq!(got.message, "dockerfile parse error");
    assert_eq!(got.details, details.details);
}

#[tokio::test]
async fn a_panicking_build_returns_an_error_naming_the_panic() {
    let fake = Fake::default();
    let gw = fake.gateway().await;
    let ret = ReturnOnce::new(gw.clone());
    // resume_unwind: a panic without the panic hook, whose backtrace of
    // this debug binary would lift the test process's peak RSS above what
    // check::tests::big_layers_stream_in_bounded_memory allows.
    let ended = run(gw, &ret, |_| async {
        if true {
            std::panic::resume_unwind(Box::new("boom in the build"));
        }
        Ok(a_result())
    })
    .await;
    assert!(!ended.passed);
    assert!(matches!(ended.returned, Some(Ok(()))));
    let st = fake.0.lock().unwrap();
    assert_eq!(st.returns.len(), 1);
    let e = st.returns[0].error.clone().unwrap();
    assert_eq!(e.code, tonic::Code::Internal as i32);
    assert_eq!(e.message, "archgate frontend crashed: boom in the build");
}

/// The panic hook's path: from a thread that is not the runtime's, the
/// Return goes once; a second panic finds it gone.
#[test]
fn the_panic_hook_returns_the_error_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = Fake::default();
    let gw = rt.block_on(fake.gateway());
    let ret = ReturnOnce::new(gw);
    let h = rt.handle().clone();
    let r = return_from_panic(&ret, &h, "oops at src/x.rs:1");
    assert!(matches!(r, Some(Ok(()))), "{r:?}");
    assert!(return_from_panic(&ret, &h, "again").is_none());
    let st = fake.0.lock().unwrap();
    assert_eq!(st.returns.len(), 1);
    assert_eq!(
        st.returns[0].error.as_ref().unwrap().message,
        "archgate frontend crashed: oops at src/x.rs:1"
    );
}

#[test]
fn the_head_of_a_definition_is_the_first_input_of_its_last_op() {
    use crate::buildkit::proto::pb::{Definition, Input, Op};
    let last = Op {
        inputs: vec![Input {
            digest: "sha256:abc".into(),
            index: 0,
        }],
        op: None,
    };
    let def = Definition {
        def: vec![Op::default().encode_to_vec(), last.encode_to_vec()],
        ..Default::default()
    };
    assert_eq!(
        crate::buildkit::gateway::definition_head(&def).as_deref(),
        Some("sha256:abc")
    );
    assert_eq!(
        crate::buildkit::gateway::definition_head(&Definition::default()),
        None
    );
}

fn os_pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills both descriptors, each then owned once.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

/// What the daemon gives a frontend: two pipes, one each way. The stream
/// over them carries gRPC both ways.
#[tokio::test]
async fn the_channel_runs_over_two_real_pipes() {
    let (to_daemon_r, to_daemon_w) = os_pipe();
    let (to_us_r, to_us_w) = os_pipe();
    let ours = Stdio {
        r: to_us_r,
        w: to_daemon_w,
    }
    .into_stream()
    .unwrap();
    let theirs = Stdio {
        r: to_daemon_r,
        w: to_us_w,
    }
    .into_stream()
    .unwrap();
    let fake = Fake::default();
    fake.0.lock().unwrap().caps = vec!["readdir".into()];
    fake.serve(theirs);
    let gw = Gateway::in_daemon(channel(ours).await.unwrap());
    assert_eq!(gw.ping().await.unwrap(), vec!["readdir".to_string()]);
    let ret = ReturnOnce::new(gw);
    assert!(matches!(ret.send(Ok(a_result())).await, Some(Ok(()))));
    assert_eq!(fake.0.lock().unwrap().returns.len(), 1);
}

/// Red-team finding: each lookup listed its whole directory on the daemon
/// (BuildKit's ReadDir walks it even for one name): 2,000 arguments in a
/// 20,000-entry folder took 94 s. A directory asked about twice is listed
/// once and answered from memory.
#[tokio::test]
async fn a_directory_asked_about_twice_is_listed_once() {
    use crate::buildkit::proto::fsutil::types::Stat;
    use crate::rootfs::RootFs;
    let fake = Fake::default();
    fake.0.lock().unwrap().dir = (0..2000)
        .map(|i| Stat {
            path: format!("f{i}"),
            mode: 0o755,
            ..Default::default()
        })
        .collect();
    let fs = fake.gateway().await.rootfs("r");
    for i in 0..2000 {
        let e = fs.lstat(format!("/s/f{i}").as_bytes()).await.unwrap();
        assert!(e.is_some(), "f{i}");
    }
    assert!(fs.lstat(b"/s/missing").await.unwrap().is_none());
    let calls: Vec<(String, String)> = fake
        .0
        .lock()
        .unwrap()
        .read_dirs
        .iter()
        .map(|r| (r.dir_path.clone(), r.include_pattern.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("/s".to_string(), "f0".to_string()),
            ("/s".to_string(), String::new())
        ]
    );
}
