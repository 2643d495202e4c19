//! Per-channel health with the REAL gateway: an instance whose Telegram bot token is wrong shows
//! `ChannelsHealthy=False` naming telegram and why, stays Ready (the pod's `/readyz` answers 200:
//! traffic still flows for the other channels), gets a `ChannelFailing` Event, and the operator's
//! `openclaw_channel_up` is 0 for telegram.
//!
//! What the gateway does (openclaw 2026.9.6, read in `dist/channel-*.mjs` and
//! `dist/server-start-*.mjs`, then observed): `channels.telegram.apiRoot` points the Bot API
//! client elsewhere (for self-hosted Bot API servers). At start the channel calls
//! `GET <apiRoot>/bot<token>/getMe`; Telegram answers a wrong token with
//! `401 {"ok":false,"error_code":401,"description":"Unauthorized"}`, on which the gateway logs
//! `Telegram bot token unauthorized for account "default" (getMe returned 401 …)` and blocks the
//! channel (`lifecycle: "blocked"`, no retry). Its `/readyz` then answers 503
//! `{"ready":false,"failing":["telegram"]}` while `/startupz` stays 200. This machine cannot
//! reach api.telegram.org, so the test plays Telegram on loopback with that 401 answer; an
//! unreachable Telegram would only fail after the 120 s connect grace, as a network error.
//!
//! Node and openclaw come from `cargo xtask node`; without them this test fails and says so.

use std::time::Duration;

use openclaw_api::instance::status::condition;
use openclaw_testkit::{http::FixedAnswer, location::gateway_tools};
use openclaw_tests::{TestCluster, instances, operator::OperatorHandle, pod::LocalPod, wait};

/// What the Bot API answers a wrong token.
const UNAUTHORIZED: &str = r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#;

fn agent(api_root: &str) -> String {
    format!(
        "apiVersion: openclaw.rocks/v1alpha1
kind: OpenClawInstance
metadata:
  name: chatty
spec:
  config:
    raw:
      channels:
        telegram:
          botToken: \"123456789:this-token-is-wrong\"
          apiRoot: \"{api_root}\"
          dmPolicy: pairing
          groupPolicy: allowlist
"
    )
}

#[tokio::test]
async fn a_telegram_channel_with_a_wrong_token_is_reported_and_the_pod_stays_ready()
-> anyhow::Result<()> {
    let tools = gateway_tools().map_err(anyhow::Error::msg)?;
    let telegram = FixedAnswer::start(401, UNAUTHORIZED).await?;
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("channels").await?;
    let home = tempfile::tempdir()?;
    let mut pod = LocalPod::new(home.path())?;
    let operator = OperatorHandle::start_with_supervisor(&cluster, &ns.name, &pod.address);
    instances::apply(&cluster, &ns.name, &agent(&telegram.url))?;
    pod.start_gateway(&cluster, &ns.name, "chatty", &tools)
        .await?;
    let log = || std::fs::read_to_string(home.path().join("supervisor.log")).unwrap_or_default();

    // The gateway starts in ~10 s (up to ~40 s on a busy machine), then blocks the channel.
    let instance = wait::until(
        "ChannelsHealthy=False",
        Duration::from_secs(180),
        || async {
            let instance = instances::get(&cluster, &ns.name, "chatty").await?;
            let failing = instances::condition(&instance, condition::CHANNELS_HEALTHY)
                .is_some_and(|c| c.status == "False");
            Ok(failing.then_some(instance))
        },
    )
    .await
    .map_err(|e| e.context(log()))?;
    assert!(telegram.requests() >= 1, "the gateway never asked Telegram");
    let channels = instances::condition(&instance, condition::CHANNELS_HEALTHY)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        channels.contains("telegram") && channels.contains("getMe returned 401"),
        "{channels}"
    );
    let status = instance.status.clone().unwrap_or_default();
    let telegram_status = status.channels.iter().find(|c| c.name == "telegram");
    assert_eq!(
        telegram_status.map(|c| c.healthy),
        Some(false),
        "{status:?}"
    );

    // Still Ready: the supervisor's /readyz (the pod's probe) passes, the gateway's does not.
    let ready = instances::condition(&instance, condition::READY).map(|c| c.status.clone());
    assert_eq!(ready.as_deref(), Some("True"), "{status:?}");
    let probe = reqwest::get(format!("http://{}/readyz", pod.address)).await?;
    assert_eq!(probe.status().as_u16(), 200, "{}", probe.text().await?);

    // An Event for the transition, and the metric.
    let events = cluster.kubectl(
        &[
            "get",
            "events",
            "-n",
            &ns.name,
            "--field-selector",
            "reason=ChannelFailing",
            "-o",
            "jsonpath={range .items[*]}{.note}{.message}{\"\\n\"}{end}",
        ],
        None,
    )?;
    assert!(events.contains("channel telegram is failing"), "{events}");
    let metrics = operator.metrics.encode();
    let series = format!(
        r#"openclaw_channel_up{{namespace="{}",instance="chatty",channel="telegram"}} 0"#,
        ns.name
    );
    assert!(metrics.contains(&series), "{series} not in\n{metrics}");
    pod.stop();
    Ok(())
}
