//! `openclaw-operator probe`, the chart's `helm test`: a fresh process with no TLS provider
//! installed by anything else must still build its HTTP client and judge the answer.

use std::{
    io::{Read, Write},
    net::TcpListener,
    thread,
};

/// Serves one HTTP answer with `status` on loopback; returns the URL.
fn answer_once(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}/readyz",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    url
}

#[tokio::test]
async fn probe_passes_on_200_and_fails_otherwise() {
    let ok = openclaw_operator::http::probe(&answer_once("200 OK")).await;
    assert!(ok.is_ok(), "{ok:?}");
    let down = openclaw_operator::http::probe(&answer_once("503 Service Unavailable")).await;
    assert!(down.is_err_and(|e| e.to_string().contains("503")));
}
