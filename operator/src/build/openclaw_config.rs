//! The OpenClaw configuration (`openclaw.json`): the user's `spec.config.raw` with what the pod
//! needs added (gateway mode, port, bind, auth, Tailscale, Chromium, Control UI origins).
//!
//! User keys win. `gateway.mode`, `gateway.port` and `gateway.bind` are the supervisor's: it
//! forces them from the runtime plan when it writes the file (the plan's bind follows the user's
//! `gateway.bind`: `loopback`, else `lan`).
//! List values the pod needs (`allowedOrigins`, `trustedProxies`) are merged with the user's.
//! No secret is ever written here: the gateway reads its token from `OPENCLAW_GATEWAY_TOKEN`.
//!
//! With `spec.config.configMapRef` the operator cannot see the user's file, so this holds only
//! the operator's additions; the supervisor lays the user's file over them and then forces the
//! gateway keys.

use serde_json::{Map, Value, json};

use openclaw_api::{
    instance::{IngressSpec, TailscaleMode},
    plan::GATEWAY_PORT,
};

use super::{BuildContext, paths};
use crate::update::{key_changes, version::Version};

/// Loopback address of the Tailscale serve proxy, trusted to set forwarding headers.
const TAILSCALE_PROXY: &str = "127.0.0.1/32";

/// The configuration the supervisor seeds into `~/.openclaw/openclaw.json`.
pub fn render(ctx: &BuildContext<'_>) -> Map<String, Value> {
    let spec = ctx.spec();
    let mut config = match &spec.config.config_map_ref {
        Some(_) => Map::new(),
        None => spec.config.raw.clone().unwrap_or_default(),
    };
    // Keys renamed by the release the pod runs, in that release's shape.
    if let Some(version) = ctx.image().tag.as_deref().and_then(Version::parse) {
        key_changes::apply(&mut config, version, key_changes::KEY_CHANGES);
    }

    // The Service reaches the gateway on the pod IP; the token is then required.
    default(&mut config, &["gateway", "auth", "mode"], json!("token"));

    if spec.tailscale.enabled {
        let mode = match spec.tailscale.mode {
            TailscaleMode::Serve => "serve",
            TailscaleMode::Funnel => "funnel",
        };
        default(&mut config, &["gateway", "tailscale", "mode"], json!(mode));
        default(
            &mut config,
            &["gateway", "tailscale", "resetOnExit"],
            json!(true),
        );
        // Tailscale serve proxies from loopback and rewrites X-Forwarded-For; without this the
        // gateway answers 403 `proxy_attribution_required`.
        union(
            &mut config,
            &["gateway", "trustedProxies"],
            [TAILSCALE_PROXY.to_owned()],
        );
        if spec.tailscale.auth_sso {
            default(
                &mut config,
                &["gateway", "auth", "allowTailscale"],
                json!(true),
            );
        }
    }

    if spec.chromium.enabled {
        default(&mut config, &["browser", "enabled"], json!(true));
        default(&mut config, &["browser", "attachOnly"], json!(true));
        default(
            &mut config,
            &["browser", "defaultProfile"],
            json!("default"),
        );
        default(
            &mut config,
            &["browser", "profiles", "default", "cdpUrl"],
            json!(paths::CDP_URL),
        );
    }

    union(
        &mut config,
        &["gateway", "controlUi", "allowedOrigins"],
        allowed_origins(ctx),
    );
    config
}

/// Origins allowed to open the Control UI: the port-forward addresses, the Ingress hosts
/// (`https` when the host has TLS) and `spec.gateway.controlUiOrigins`.
pub fn allowed_origins(ctx: &BuildContext<'_>) -> Vec<String> {
    let spec = ctx.spec();
    let mut origins = vec![
        format!("http://localhost:{GATEWAY_PORT}"),
        format!("http://127.0.0.1:{GATEWAY_PORT}"),
    ];
    if spec.networking.ingress.enabled {
        origins.extend(ingress_origins(&spec.networking.ingress));
    }
    origins.extend(spec.gateway.control_ui_origins.iter().cloned());
    origins
}

fn ingress_origins(ingress: &IngressSpec) -> impl Iterator<Item = String> + '_ {
    ingress
        .hosts
        .iter()
        .filter(|host| !host.host.starts_with('*'))
        .map(|host| {
            let tls = ingress.tls.iter().any(|tls| tls.hosts.contains(&host.host));
            let scheme = if tls { "https" } else { "http" };
            format!("{scheme}://{}", host.host)
        })
}

/// Sets `path` to `value` unless the user set it (or set a non-object on the way).
fn default(root: &mut Map<String, Value>, path: &[&str], value: Value) {
    if let Some((parent, last)) = parent_of(root, path) {
        parent.entry(last.to_owned()).or_insert(value);
    }
}

/// Adds `values` to the string list at `path`, sorted and without duplicates; a non-list value
/// set by the user is left alone.
fn union(root: &mut Map<String, Value>, path: &[&str], values: impl IntoIterator<Item = String>) {
    let Some((parent, last)) = parent_of(root, path) else {
        return;
    };
    let slot = parent
        .entry(last.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = slot else { return };
    let mut merged: Vec<Value> = list.clone();
    merged.extend(values.into_iter().map(Value::String));
    merged.sort_by_key(|value| value.to_string());
    merged.dedup();
    *list = merged;
}

/// The object holding the last key of `path`, created as needed; `None` when the user put a
/// non-object on the way.
fn parent_of<'m, 'p>(
    root: &'m mut Map<String, Value>,
    path: &[&'p str],
) -> Option<(&'m mut Map<String, Value>, &'p str)> {
    let (last, parents) = path.split_last()?;
    let mut node = root;
    for key in parents {
        let slot = node
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        node = slot.as_object_mut()?;
    }
    Some((node, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn user_keys_win_and_the_gateway_keys_are_left_to_the_supervisor() {
        let instance = instance(
            r#"
spec:
  config:
    raw:
      gateway:
        mode: remote
        port: 1234
        bind: loopback
        auth: {mode: password}
        controlUi: {allowedOrigins: ["https://agent.example.com"]}
      agents: {defaults: {model: {primary: "anthropic/claude-sonnet-4-20250514"}}}
"#,
        );
        let config = render(&context(&instance));
        let plan = crate::build::plan::runtime_plan(&context(&instance), config.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        // The supervisor forces these from the plan when it writes the file.
        assert_eq!(plan.gateway.port, 18789);
        assert_eq!(plan.gateway.bind, openclaw_api::plan::GatewayBind::Loopback);
        let config = Value::Object(config);
        assert_eq!(config["gateway"]["port"], 1234, "passed on as given");
        assert_eq!(config["gateway"]["auth"]["mode"], "password");
        assert_eq!(
            config["gateway"]["controlUi"]["allowedOrigins"],
            json!([
                "http://127.0.0.1:18789",
                "http://localhost:18789",
                "https://agent.example.com"
            ])
        );
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"],
            "anthropic/claude-sonnet-4-20250514"
        );
    }

    #[test]
    fn defaults_to_token_auth_and_no_token() {
        let instance = instance("spec: {}");
        let config = Value::Object(render(&context(&instance)));
        assert_eq!(
            config,
            json!({"gateway": {
                "auth": {"mode": "token"},
                "controlUi": {"allowedOrigins": ["http://127.0.0.1:18789", "http://localhost:18789"]}
            }})
        );
    }

    #[test]
    fn sidecars_and_ingress_enrich_the_config() {
        let instance = instance(
            r#"
spec:
  chromium: {enabled: true}
  tailscale: {enabled: true, mode: funnel, authKeySecretRef: {name: ts}, authSSO: true}
  networking:
    ingress:
      enabled: true
      hosts: [{host: agent.example.com}, {host: plain.example.com}, {host: "*.wild.example.com"}]
      tls: [{hosts: [agent.example.com]}]
"#,
        );
        let config = Value::Object(render(&context(&instance)));
        assert_eq!(config["gateway"]["tailscale"]["mode"], "funnel");
        assert_eq!(config["gateway"]["tailscale"]["resetOnExit"], true);
        assert_eq!(config["gateway"]["auth"]["allowTailscale"], true);
        assert_eq!(config["gateway"]["trustedProxies"], json!(["127.0.0.1/32"]));
        assert_eq!(config["browser"]["attachOnly"], true);
        assert_eq!(config["browser"]["enabled"], true);
        assert_eq!(config["browser"]["defaultProfile"], "default");
        assert_eq!(
            config["browser"]["profiles"]["default"]["cdpUrl"],
            "http://127.0.0.1:9222"
        );
        let origins = &config["gateway"]["controlUi"]["allowedOrigins"];
        assert!(
            origins.as_array().is_some_and(|o| o.len() == 4),
            "{origins}"
        );
        assert!(
            origins
                .to_string()
                .contains("\"https://agent.example.com\"")
        );
        assert!(origins.to_string().contains("\"http://plain.example.com\""));
    }

    #[test]
    fn an_external_config_gets_only_the_additions() {
        let instance =
            instance("spec:\n  config:\n    configMapRef: {name: my-config}\n    format: json5\n");
        let config = Value::Object(render(&context(&instance)));
        assert_eq!(config["gateway"]["auth"]["mode"], "token");
        assert!(config.get("agents").is_none());
    }
}
