//! The instance's ConfigMap `<name>-config`: the runtime plan `plan.json` (which carries the
//! OpenClaw configuration the supervisor writes) and, with Tailscale, `tailscale-serve.json`.
//! Never a secret: tokens and keys travel as env vars.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};

use openclaw_api::{
    instance::TailscaleMode,
    plan::{GATEWAY_PORT, PLAN_FILE},
};

use super::{BuildContext, BuildError, names, openclaw_config, paths, plan};

/// The ConfigMap the pod mounts at `/etc/openclaw`.
pub fn config_map(ctx: &BuildContext<'_>) -> Result<ConfigMap, BuildError> {
    let config = openclaw_config::render(ctx);
    let plan_json = plan::runtime_plan(ctx, config)?.to_json()?;
    let mut data = BTreeMap::from([(PLAN_FILE.to_owned(), plan_json)]);
    if ctx.spec().tailscale.enabled {
        let serve = serde_json::to_string_pretty(&tailscale_serve(ctx.spec().tailscale.mode))
            .map_err(BuildError::Config)?;
        data.insert(paths::TAILSCALE_SERVE_JSON.to_owned(), serve);
    }
    Ok(ConfigMap {
        metadata: ctx.meta(names::config_map(ctx.name())),
        data: Some(data),
        ..ConfigMap::default()
    })
}

/// Tailscale's serve configuration (`TS_SERVE_CONFIG`): HTTPS on 443 of the tailnet name,
/// proxied to the gateway on loopback; `funnel` also publishes it on the Internet.
/// `${TS_CERT_DOMAIN}` is filled in by the Tailscale container.
pub fn tailscale_serve(mode: TailscaleMode) -> Value {
    let host = "${TS_CERT_DOMAIN}:443";
    let mut serve = json!({
        "TCP": {"443": {"HTTPS": true}},
        "Web": {host: {"Handlers": {"/": {"Proxy": format!("http://127.0.0.1:{GATEWAY_PORT}")}}}},
    });
    if mode == TailscaleMode::Funnel {
        serve["AllowFunnel"] = json!({host: true});
    }
    serve
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn holds_config_and_plan_and_serve_config() -> Result<(), BuildError> {
        let instance = instance(
            "spec:\n  tailscale: {enabled: true, mode: funnel, authKeySecretRef: {name: ts}}\n",
        );
        let cm = config_map(&context(&instance))?;
        assert_eq!(cm.metadata.name.as_deref(), Some("my-agent-config"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("openclaw"));
        assert!(cm.metadata.owner_references.is_some());
        let data = cm.data.unwrap_or_default();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["plan.json", "tailscale-serve.json"]);
        let plan = openclaw_api::RuntimePlan::from_json(&data["plan.json"])?;
        assert_eq!(plan.instance.name, "my-agent");
        let serve: Value =
            serde_json::from_str(&data["tailscale-serve.json"]).map_err(BuildError::Config)?;
        assert_eq!(
            serve["Web"]["${TS_CERT_DOMAIN}:443"]["Handlers"]["/"]["Proxy"],
            "http://127.0.0.1:18789"
        );
        assert_eq!(serve["AllowFunnel"]["${TS_CERT_DOMAIN}:443"], true);
        Ok(())
    }

    #[test]
    fn serve_mode_does_not_open_funnel() {
        assert!(
            tailscale_serve(TailscaleMode::Serve)
                .get("AllowFunnel")
                .is_none()
        );
    }
}
