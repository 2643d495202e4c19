//! Where things are in an agent's pod: volume names, mount paths and files, shared by the
//! ConfigMap, the runtime plan and the pod builders so they cannot disagree.

/// Home of the `node` user of the OpenClaw image (an emptyDir, so caches are writable).
pub const HOME: &str = "/home/node";
/// OpenClaw's state directory: the workspace volume `data`.
pub const STATE_DIR: &str = "/home/node/.openclaw";
/// Where npm and the supervisor install tools (pnpm, uv, Python, npm skills) on the workspace.
pub const LOCAL_PREFIX: &str = "/home/node/.openclaw/.local";

/// Volume and mount of the supervisor binaries installed by `openclaw-init`.
pub const RUNTIME_VOLUME: &str = "openclaw-runtime";
/// See [`RUNTIME_VOLUME`].
pub const RUNTIME_DIR: &str = "/openclaw-runtime";
/// The supervisor, PID 1 of the `openclaw` container.
pub const SUPERVISOR: &str = "/openclaw-runtime/openclaw-supervisor";

/// Projected volume at [`CONFIG_DIR`]: the instance's ConfigMap, plus the CA bundle under `ca/`
/// and the user's configuration under `user-config/`. One volume, because mounts nested in a
/// read-only ConfigMap mount fail at container start.
pub const CONFIG_VOLUME: &str = "openclaw-config";
/// See [`CONFIG_VOLUME`].
pub const CONFIG_DIR: &str = "/etc/openclaw";
/// The runtime plan, as the supervisor reads it.
pub const PLAN: &str = "/etc/openclaw/plan.json";
/// Directory of the user's `spec.config.configMapRef` key inside [`CONFIG_DIR`].
pub const USER_CONFIG_SUBDIR: &str = "user-config";

/// Volume of the CA bundle in every container but `openclaw` (which has it in [`CONFIG_VOLUME`]).
pub const CA_VOLUME: &str = "openclaw-ca-bundle";
/// Directory of the CA bundle in every container.
pub const CA_DIR: &str = "/etc/openclaw/ca";
/// File name of the CA bundle in [`CA_DIR`].
pub const CA_FILE_NAME: &str = "ca-bundle.crt";
/// The CA bundle in every container.
pub const CA_FILE: &str = "/etc/openclaw/ca/ca-bundle.crt";

/// Secret volume of the gateway token (key `token` only), in the `openclaw` container at
/// [`GATEWAY_TOKEN_DIR`]: a volume, not a variable, so a rotated Secret reaches the running pod.
pub const GATEWAY_TOKEN_VOLUME: &str = "openclaw-gateway-token";
/// See [`GATEWAY_TOKEN_VOLUME`]; the file is [`openclaw_api::plan::GATEWAY_TOKEN_FILE`].
pub const GATEWAY_TOKEN_DIR: &str = "/etc/openclaw-gateway-token";

/// emptyDir volumes of the `openclaw` container.
pub const TMP_VOLUME: &str = "openclaw-tmp";
/// See [`TMP_VOLUME`].
pub const HOME_VOLUME: &str = "openclaw-home";

/// Key of the instance's ConfigMap holding Tailscale's serve configuration (next to the plan).
pub const TAILSCALE_SERVE_JSON: &str = "tailscale-serve.json";

/// Chromium's DevTools endpoint, on the pod's loopback only.
pub const CDP_PORT: i32 = 9222;
/// See [`CDP_PORT`].
pub const CDP_URL: &str = "http://127.0.0.1:9222";

/// Ollama's API port, on the pod's loopback only.
pub const OLLAMA_PORT: i32 = 11434;
/// Home (emptyDir) of the Ollama sidecar.
pub const OLLAMA_HOME: &str = "/home/ollama";
/// Models volume of the Ollama sidecar, at [`OLLAMA_DATA`].
pub const OLLAMA_MODELS_VOLUME: &str = "openclaw-ollama-models";
/// See [`OLLAMA_MODELS_VOLUME`].
pub const OLLAMA_DATA: &str = "/home/ollama/.ollama";
/// Where Ollama keeps its models (`OLLAMA_MODELS`), on the models volume.
pub const OLLAMA_MODELS: &str = "/home/ollama/.ollama/models";

/// The Tailscale daemon's socket directory, shared with the `openclaw` container.
pub const TAILSCALE_SOCKET_DIR: &str = "/var/run/tailscale";
/// See [`TAILSCALE_SOCKET_DIR`].
pub const TAILSCALE_SOCKET: &str = "/var/run/tailscale/tailscaled.sock";
/// The `tailscale` CLI, copied for the `openclaw` container (`tailscale whois` for SSO).
pub const TAILSCALE_BIN_DIR: &str = "/openclaw-tailscale/bin";
/// Directory of the Tailscale serve configuration in the `tailscale` container.
pub const TAILSCALE_SERVE_DIR: &str = "/etc/tailscale";
