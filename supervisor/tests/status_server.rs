//! The status server over real HTTP: probes follow the pipeline and the gateway's JSON, `/status`
//! and `/metrics` expose the board, `POST /backup` needs the bearer token.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use openclaw_supervisor::{
    board::Board,
    run::Shutdown,
    status::{
        client::HttpClient,
        control::ControlToken,
        gateway_probe::StartupFlag,
        server::{self, ServerState},
    },
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Running {
    address: SocketAddr,
    board: Board,
    stop: Shutdown,
    client: HttpClient,
}

impl Running {
    async fn start(flag: StartupFlag) -> Result<Self, Box<dyn std::error::Error>> {
        let board = Board::default();
        let listener = server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let address = listener.local_addr()?;
        let state = ServerState::new(board.clone(), flag, ControlToken::new("control-token"));
        let stop = Shutdown::default();
        tokio::spawn(server::serve(listener, state, stop.wait()));
        Ok(Self {
            address,
            board,
            stop,
            client: HttpClient::new(Duration::from_secs(5)),
        })
    }

    async fn get(
        &self,
        path: &str,
    ) -> Result<(u16, serde_json::Value), Box<dyn std::error::Error>> {
        let answer = self
            .client
            .get(&format!("http://{}{path}", self.address))
            .await?;
        let body = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
        Ok((answer.status.as_u16(), body))
    }

    async fn text(&self, path: &str) -> Result<String, Box<dyn std::error::Error>> {
        let answer = self
            .client
            .get(&format!("http://{}{path}", self.address))
            .await?;
        Ok(String::from_utf8(answer.body.to_vec())?)
    }
}

/// A raw HTTP/1.0 POST, returning the status line's code and the body.
fn post(
    address: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    openclaw_testkit::raw_http::exchange(
        address,
        &format!("POST {path} HTTP/1.0\r\nHost: x\r\n{auth}Content-Length: 0\r\n\r\n"),
    )
}

#[tokio::test]
async fn probes_follow_pipeline_and_gateway() -> TestResult {
    let flag = StartupFlag::default();
    let s = Running::start(flag).await?;
    s.board.declare_steps(&["config", "skills"]);

    assert_eq!(s.get("/livez").await?.0, 200);
    let (code, body) = s.get("/startupz").await?;
    assert_eq!(code, 503);
    assert_eq!(body["status"], "starting");
    assert_eq!(body["waitingFor"][0], "step config pending");
    assert_eq!(s.get("/readyz").await?.0, 503);

    s.board
        .step_finished("config", Duration::from_millis(4), true, None);
    s.board
        .step_finished("skills", Duration::from_millis(900), false, None);
    s.board.update(|b| b.pipeline_done = true);
    s.board.set_gateway(|g| {
        g.running = true;
        g.pid = Some(42);
    });
    let (code, body) = s.get("/readyz").await?;
    assert_eq!(
        (code, body["waitingFor"][0].as_str()),
        (503, Some("gateway not ready"))
    );

    s.board.set_gateway(|g| g.ready = true);
    let (code, body) = s.get("/readyz").await?;
    assert_eq!((code, body["status"].as_str()), (200, Some("ready")));

    let (_, status) = s.get("/status").await?;
    assert_eq!(status["pipelineDone"], true);
    assert_eq!(status["steps"][0]["name"], "config");
    assert_eq!(status["steps"][0]["skipped"], true);
    assert_eq!(status["steps"][1]["durationMs"], 900);
    assert_eq!(status["gateway"]["pid"], 42);

    let metrics = s.text("/metrics").await?;
    assert!(
        metrics.contains("openclaw_supervisor_pipeline_done 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("openclaw_supervisor_step_duration_seconds{step=\"skills\"} 0.9"),
        "{metrics}"
    );
    s.stop.trigger();
    Ok(())
}

#[tokio::test]
async fn startupz_waits_for_the_gateways_own_startup() -> TestResult {
    let flag = StartupFlag::default();
    let s = Running::start(flag.clone()).await?;
    s.board.update(|b| {
        b.pipeline_done = true;
        b.gateway.running = true;
    });
    let (code, body) = s.get("/startupz").await?;
    assert_eq!(
        (code, body["waitingFor"][0].as_str()),
        (503, Some("gateway starting"))
    );
    s.stop.trigger();
    Ok(())
}

#[tokio::test]
async fn backup_needs_the_bearer_token() -> TestResult {
    let s = Running::start(StartupFlag::default()).await?;
    let address = s.address;
    let (anonymous, wrong, right) = tokio::task::spawn_blocking(move || {
        (
            post(address, "/backup", None),
            post(address, "/backup", Some("Bearer nope")),
            post(address, "/backup", Some("Bearer control-token")),
        )
    })
    .await?;
    assert_eq!(anonymous?.0, 401);
    assert_eq!(wrong?.0, 401);
    // Authenticated, the empty body is then refused as malformed.
    let (code, body) = right?;
    assert_eq!(code, 400);
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the body is not a backup request")),
        "{body}"
    );
    // GET is not a way around it.
    assert_eq!(s.get("/backup").await?.0, 405);
    s.stop.trigger();
    Ok(())
}
