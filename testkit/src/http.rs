//! HTTP stand-ins for services a test points the code at: a loopback server that answers every
//! request with one fixed response and counts what it was asked, and [`serve`] for a router.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};

/// A running fixed-answer server; stopped when dropped.
#[derive(Debug)]
pub struct FixedAnswer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FixedAnswer {
    /// Serves `status` with a JSON `body` to every request, on a free loopback port.
    pub async fn start(status: u16, body: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(AtomicUsize::new(0));
        let response = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            reason(status),
            body.len()
        );
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let response = response.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    // Up to the end of the headers; a body is not needed to answer.
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 65_536 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Ok(Self {
            url,
            requests,
            task,
        })
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Serves `router` on a free loopback port until the runtime ends; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

impl Drop for FixedAnswer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_every_request_the_same() -> Result<(), Box<dyn std::error::Error>> {
        let server = FixedAnswer::start(401, r#"{"ok":false}"#).await?;
        let address = server.url.trim_start_matches("http://").to_owned();
        for path in ["/a", "/bot1:x/getMe"] {
            let mut stream = tokio::net::TcpStream::connect(&address).await?;
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
                .await?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await?;
            assert!(
                answer.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
                "{answer}"
            );
            assert!(answer.ends_with("\r\n\r\n{\"ok\":false}"), "{answer}");
        }
        assert_eq!(server.requests(), 2);
        Ok(())
    }
}
