//! The SeaweedFS harness against the real `weed mini`: it serves S3 with real signatures, it
//! goes down when stopped, it comes back with its data, and it leaves no process behind.

use std::time::{Duration, Instant};

use object_store::{ObjectStoreExt, WriteMultipart, path::Path as ObjectPath};
use openclaw_testkit::seaweed::SeaweedFs;

#[tokio::test]
async fn serves_checks_signatures_stops_and_restarts_with_its_data() {
    let mut s3 = SeaweedFs::start().await;
    assert!(
        s3.endpoint().starts_with("http://127.0.0.1:"),
        "{}",
        s3.endpoint()
    );
    assert_eq!(s3.region(), "us-east-1");

    s3.put(
        "ns/agent/2026-01-01T00-00-00Z.tar.zst",
        b"snapshot".to_vec(),
    )
    .await
    .unwrap_or_else(|e| panic!("put: {e}"));
    s3.put("other/agent/x", b"elsewhere".to_vec())
        .await
        .unwrap_or_else(|e| panic!("put: {e}"));
    let listed = s3.list("ns/").await.unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!(listed, ["ns/agent/2026-01-01T00-00-00Z.tar.zst"]);
    assert_eq!(s3.list("").await.unwrap_or_default().len(), 2);
    let body = s3
        .get("ns/agent/2026-01-01T00-00-00Z.tar.zst")
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(body, b"snapshot");

    // A request signed with another secret is refused by the signature check.
    let refused = s3
        .s3_with_secret("not-the-secret")
        .list("ns/")
        .await
        .map(|keys| format!("listed {keys:?}"))
        .unwrap_or_else(|e| format!("{e:?}"));
    assert!(
        refused.contains("SignatureDoesNotMatch"),
        "a wrong secret must be refused with SignatureDoesNotMatch, got: {refused}"
    );

    // Down: requests fail, quickly.
    s3.stop().await;
    assert!(!s3.is_running());
    let started = Instant::now();
    let down = s3.list("ns/").await;
    assert!(down.is_err(), "a stopped server answered: {down:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // Back on the same endpoint, with the object.
    let endpoint = s3.endpoint().to_owned();
    s3.restart().await;
    assert_eq!(s3.endpoint(), endpoint);
    let body = s3
        .get("ns/agent/2026-01-01T00-00-00Z.tar.zst")
        .await
        .unwrap_or_else(|e| panic!("get after restart: {e}\n{}", s3.log()));
    assert_eq!(body, b"snapshot");
}

#[tokio::test]
async fn more_buckets_and_unfinished_multipart_uploads_are_visible() {
    let s3 = SeaweedFs::start().await;
    s3.create_bucket("second").await;
    let second = s3.s3_bucket("second");
    second
        .put("k", b"v".to_vec())
        .await
        .unwrap_or_else(|e| panic!("put into the new bucket: {e}"));
    assert_eq!(second.list("").await.unwrap_or_default(), ["k"]);
    assert!(s3.list("").await.unwrap_or_default().is_empty());

    assert!(s3.pending_multipart_uploads().await.is_empty());
    let store = s3.s3().store();
    let upload = store
        .put_multipart(&ObjectPath::from("ns/agent/big.tar.zst"))
        .await
        .unwrap_or_else(|e| panic!("start a multipart upload: {e}"));
    let mut writer = WriteMultipart::new_with_chunk_size(upload, 5 << 20);
    writer.write(&vec![7u8; 6 << 20]);
    writer
        .wait_for_capacity(0)
        .await
        .unwrap_or_else(|e| panic!("upload a part: {e}"));
    assert_eq!(s3.pending_multipart_uploads().await.len(), 1);
    writer
        .abort()
        .await
        .unwrap_or_else(|e| panic!("abort: {e}"));
    assert!(s3.pending_multipart_uploads().await.is_empty());
    assert!(s3.list("ns/").await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn dropping_the_server_kills_it_and_frees_its_ports() {
    let s3 = SeaweedFs::start().await;
    let port = s3.ports().s3;
    let pids = weed_pids_on(port);
    assert!(!pids.is_empty(), "no weed process found for port {port}");
    drop(s3);
    // SIGKILL is immediate, but a Go process's threads take a moment to tear down.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && (pids.iter().any(|pid| alive(*pid))
            || std::net::TcpListener::bind(("127.0.0.1", port)).is_err())
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in pids {
        assert!(!alive(pid), "weed {pid} outlived its SeaweedFs");
    }
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still taken after the SeaweedFs was dropped"
    );
}

/// Running (not gone, not a zombie waiting to be reaped).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(')').next().unwrap_or("").starts_with(" Z"))
}

/// Processes whose command line names `-s3.port=<port>`.
fn weed_pids_on(port: u16) -> Vec<u32> {
    let flag = format!("-s3.port={port}");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmd| {
                    let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
                    args.first().is_some_and(|a| a.ends_with(b"weed"))
                        && args.contains(&flag.as_bytes())
                })
                .unwrap_or(false)
        })
        .collect()
}
