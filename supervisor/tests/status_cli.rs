//! `openclaw-supervisor status`: prints a running supervisor's `/status` as a table, and fails
//! with a hint when nothing answers.

use std::{
    net::{Ipv4Addr, SocketAddr},
    process::Command,
    time::Duration,
};

use openclaw_api::instance::status::{ModelPull, StepState};
use openclaw_supervisor::{
    board::Board,
    run::Shutdown,
    status::{
        gateway_probe::StartupFlag,
        server::{self, ServerState},
    },
};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw-supervisor");

#[tokio::test]
async fn prints_steps_gateway_and_model_pulls() -> Result<(), Box<dyn std::error::Error>> {
    let board = Board::default();
    board.declare_steps(&["config", "ollama"]);
    board.step_finished("config", Duration::from_millis(7), true, None);
    board.step_running("ollama");
    board.model_pull(ModelPull {
        model: "llama3.2".into(),
        state: StepState::Running,
        completed_bytes: 512 << 20,
        total_bytes: Some(2048 << 20),
        error: None,
    });
    let listener = server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = Shutdown::default();
    tokio::spawn(server::serve(
        listener,
        ServerState::new(board, StartupFlag::default(), None),
        stop.wait(),
    ));

    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(["status", "--url", &url]).output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "pipeline: running",
        "config  succeeded  7 ms  skipped",
        "ollama  running    -     -",
        "gateway: not running; restarts 0",
        "llama3.2  running  25%       512.0 MiB of 2.0 GiB",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing in\n{stdout}"
        );
    }
    stop.trigger();
    Ok(())
}

#[test]
fn fails_when_unreachable() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let out = Command::new(BIN)
        .args(["status", "--url", &format!("http://127.0.0.1:{port}")])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("the supervisor is unreachable"), "{stderr}");
    Ok(())
}
