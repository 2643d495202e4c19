//! The gateway token, handed over without ever being written into `openclaw.json`, and rotated
//! without restarting the gateway.
//!
//! The operator mounts the token Secret as a file (the plan's `gateway.tokenFile`); the kubelet
//! refreshes that file in place when the Secret changes. The gateway cannot read it there: its
//! file SecretRef provider refuses symlinks, and a Secret volume is made of them. So the
//! supervisor keeps a private copy (mode 0600, one link) in one of two slots outside the
//! workspace volume (never in a backup), and the config names that slot:
//!
//! ```json
//! "gateway": {"auth": {"token": {"source": "file", "provider": "openclaw-operator-gateway-token", "id": "value"}}},
//! "secrets": {"providers": {"openclaw-operator-gateway-token": {"source": "file", "path": "<slot>", "mode": "singleValue"}}}
//! ```
//!
//! A rotation writes the new token into the other slot and points the provider at it: the
//! gateway sees a config change, re-resolves the ref and hot-applies it as a credential rotation
//! (same `token` auth mode), with no restart and no moment without a valid token. Measured with
//! the real gateway 2026.9.6: the new token is accepted about 0.1–0.5 s after the config write,
//! the old one refused from the same instant, the port never closed.

use std::{
    io,
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{
    config::{self, CONFIG_FILE},
    fsutil, merge,
    step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, names},
};
use crate::board::Board;

/// Name of the supervisor's SecretRef provider in `secrets.providers`.
pub const PROVIDER: &str = "openclaw-operator-gateway-token";

/// Directory of the private copies, under `HOME` (an emptyDir in the pod, not the workspace).
pub const SLOT_DIR: &str = ".openclaw-gateway-token";

/// The two slots a rotation alternates between.
const SLOTS: [&str; 2] = ["token-a", "token-b"];

/// How often the mounted token file is read for a change.
pub const POLL: Duration = Duration::from_secs(2);

/// Why the token could not be handed to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The mounted token file could not be read.
    #[error("failed to read the gateway token file {path}")]
    ReadSource {
        path: String,
        #[source]
        error: io::Error,
    },
    /// The mounted token file is empty: the gateway would refuse it, so the old one stays.
    #[error("the gateway token file {path} is empty; the current token stays in force")]
    Empty { path: String },
    /// The live configuration could not be read or parsed.
    #[error("failed to read {path}")]
    ReadConfig {
        path: String,
        #[source]
        error: io::Error,
    },
    /// The live configuration is not valid JSON5.
    #[error("{path} is not a valid configuration")]
    ParseConfig {
        path: String,
        #[source]
        error: merge::ParseError,
    },
    /// A slot or the configuration could not be written.
    #[error("failed to write {path}")]
    Write {
        path: String,
        #[source]
        error: io::Error,
    },
}

/// The SecretRef the config's `gateway.auth.token` holds.
fn secret_ref() -> Value {
    json!({"source": "file", "provider": PROVIDER, "id": "value"})
}

/// Points `config`'s `gateway.auth.token` at the supervisor's provider reading `slot`, unless the
/// configuration chose another auth mode or holds a literal token of the user's own.
pub fn force_ref(config: &mut Map<String, Value>, slot: &Path) {
    let auth = config
        .get("gateway")
        .and_then(|g| g.get("auth"))
        .and_then(Value::as_object);
    let mode = auth.and_then(|a| a.get("mode")).and_then(Value::as_str);
    let literal = auth
        .and_then(|a| a.get("token"))
        .is_some_and(Value::is_string);
    if mode.is_some_and(|m| m != "token") || literal {
        return;
    }
    let mut overlay = Map::new();
    overlay.insert(
        "gateway".into(),
        json!({"auth": {"mode": "token", "token": secret_ref()}}),
    );
    overlay.insert(
        "secrets".into(),
        json!({"providers": {PROVIDER: provider(slot)}}),
    );
    merge::deep_merge(config, overlay);
}

fn provider(slot: &Path) -> Value {
    json!({"source": "file", "path": slot.display().to_string(), "mode": "singleValue"})
}

/// The slot `config` reads the token from, when it is the supervisor's provider.
pub fn live_slot(config: &Map<String, Value>) -> Option<PathBuf> {
    let uses_ref = config
        .get("gateway")
        .and_then(|g| g.get("auth"))
        .and_then(|a| a.get("token"))
        .and_then(|t| t.get("provider"))
        .and_then(Value::as_str)
        == Some(PROVIDER);
    if !uses_ref {
        return None;
    }
    config
        .get("secrets")
        .and_then(|s| s.get("providers"))
        .and_then(|p| p.get(PROVIDER))
        .and_then(|p| p.get("path"))
        .and_then(Value::as_str)
        .map(PathBuf::from)
}

/// Paths of the two slots under `home`.
pub fn slots(home: &Path) -> [PathBuf; 2] {
    SLOTS.map(|name| home.join(SLOT_DIR).join(name))
}

/// The slot a rotation writes: the other one of the pair (the first when `current` is foreign).
pub fn next_slot(home: &Path, current: &Path) -> PathBuf {
    let [a, b] = slots(home);
    if current == a { b } else { a }
}

/// The token file's content without its final newline (as the gateway's provider reads it).
fn token_text(bytes: &[u8]) -> &[u8] {
    bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes)
}

/// What [`GatewayToken::materialize`] did, with the token's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialized {
    /// The slot already held this token, privately (a container restart in the same pod).
    InPlace([u8; 32]),
    /// The slot was written.
    Written([u8; 32]),
}

/// True when `slot` is a private single-link file holding exactly `token`.
fn in_place(slot: &Path, token: &[u8]) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(slot)
        .is_ok_and(|m| m.is_file() && m.nlink() == 1 && m.mode() & 0o777 == 0o600)
        && std::fs::read(slot).is_ok_and(|bytes| bytes == token)
}

/// The token handed to the gateway: where it comes from, where the config is, where the copies go.
#[derive(Debug, Clone)]
pub struct GatewayToken {
    source: PathBuf,
    config: PathBuf,
    home: PathBuf,
}

impl GatewayToken {
    /// The plan's token file, the state directory's config, the slots under `home`.
    pub fn new(source: impl Into<PathBuf>, state_dir: &Path, home: &Path) -> Self {
        Self {
            source: source.into(),
            config: state_dir.join(CONFIG_FILE),
            home: home.to_owned(),
        }
    }

    /// The first slot: what the `config` step writes into a fresh configuration.
    pub fn first_slot(&self) -> PathBuf {
        let [a, _] = slots(&self.home);
        a
    }

    /// The mounted token, checked non-empty, with its digest.
    pub fn read_source(&self) -> Result<(Vec<u8>, [u8; 32]), TokenError> {
        let path = self.source.display().to_string();
        let bytes = std::fs::read(&self.source).map_err(|error| TokenError::ReadSource {
            path: path.clone(),
            error,
        })?;
        let token = token_text(&bytes);
        if token.iter().all(u8::is_ascii_whitespace) {
            return Err(TokenError::Empty { path });
        }
        Ok((token.to_vec(), Sha256::digest(token).into()))
    }

    fn read_config(&self) -> Result<Map<String, Value>, TokenError> {
        let path = self.config.display().to_string();
        let text =
            std::fs::read_to_string(&self.config).map_err(|error| TokenError::ReadConfig {
                path: path.clone(),
                error,
            })?;
        merge::parse(&text, openclaw_api::instance::ConfigFormat::Json5)
            .map_err(|error| TokenError::ParseConfig { path, error })
    }

    fn write_slot(slot: &Path, token: &[u8]) -> Result<(), TokenError> {
        let write = |path: &Path, result: io::Result<()>| {
            result.map_err(|error| TokenError::Write {
                path: path.display().to_string(),
                error,
            })
        };
        if let Some(dir) = slot.parent() {
            write(dir, std::fs::create_dir_all(dir))?;
            write(dir, set_mode(dir, 0o700))?;
        }
        // A new inode each time: the provider wants a private file with one link.
        write(slot, fsutil::write_atomic(slot, token, 0o600))
    }

    /// Before the gateway starts: the current token into the slot the live config names.
    /// `None` when the config does not use the supervisor's provider (another auth mode, or the
    /// user's own literal token).
    pub fn materialize(&self) -> Result<Option<Materialized>, TokenError> {
        let Some(slot) = live_slot(&self.read_config()?) else {
            return Ok(None);
        };
        let (token, digest) = self.read_source()?;
        // The other slot holds nothing from an earlier run.
        let stale = next_slot(&self.home, &slot);
        let _ = std::fs::remove_file(stale);
        if in_place(&slot, &token) {
            return Ok(Some(Materialized::InPlace(digest)));
        }
        Self::write_slot(&slot, &token)?;
        Ok(Some(Materialized::Written(digest)))
    }

    /// Hands `token` to the running gateway: the other slot, then the provider's path in the
    /// live config (the gateway hot-reloads it), then the old slot removed. Returns false when
    /// the config no longer uses the supervisor's provider (nothing to rotate).
    pub fn rotate(&self, token: &[u8]) -> Result<bool, TokenError> {
        let mut config = self.read_config()?;
        let Some(current) = live_slot(&config) else {
            return Ok(false);
        };
        let next = next_slot(&self.home, &current);
        Self::write_slot(&next, token)?;
        let mut overlay = Map::new();
        overlay.insert(
            "secrets".into(),
            json!({"providers": {PROVIDER: provider(&next)}}),
        );
        merge::deep_merge(&mut config, overlay);
        fsutil::write_atomic(
            &self.config,
            merge::render(&config).as_bytes(),
            config::MODE,
        )
        .map_err(|error| TokenError::Write {
            path: self.config.display().to_string(),
            error,
        })?;
        if current != next {
            let _ = std::fs::remove_file(&current);
        }
        Ok(true)
    }

    /// Reads the mounted file every [`POLL`] and rotates when it changed, until `stop`. A failed
    /// rotation keeps the current token and is retried at the next read.
    pub async fn watch(
        self,
        mut applied: [u8; 32],
        board: Board,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {}
            }
            let this = self.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let (token, digest) = this.read_source()?;
                if digest == applied {
                    return Ok(None);
                }
                this.rotate(&token).map(|rotated| Some((digest, rotated)))
            })
            .await;
            match outcome {
                Ok(Ok(None)) => {}
                Ok(Ok(Some((digest, rotated)))) => {
                    applied = digest;
                    if rotated {
                        board.update(|s| s.gateway.token_rotations += 1);
                        tracing::info!("gateway token rotated; the gateway reloads it in place");
                    } else {
                        tracing::info!(
                            "the gateway token file changed, but the configuration does not use it"
                        );
                    }
                }
                Ok(Err(error)) => tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "gateway token rotation failed; the current token stays in force"
                ),
                Err(error) => tracing::warn!(%error, "the gateway token task failed"),
            }
        }
    }
}

/// The `gateway-token` step: the current token into the slot the config names, at every start
/// (the slots live in an emptyDir; never cached).
#[derive(Debug)]
pub struct GatewayTokenStep;

impl GatewayTokenStep {
    /// The plan's token file with this environment's state directory and home.
    pub fn token(ctx: &StepCtx) -> Option<GatewayToken> {
        let source = ctx.plan.gateway.token_file.as_ref()?;
        Some(GatewayToken::new(source, &ctx.env.state_dir, &ctx.env.home))
    }
}

impl Step for GatewayTokenStep {
    fn name(&self) -> &'static str {
        names::GATEWAY_TOKEN
    }

    fn deps(&self) -> Vec<&'static str> {
        vec![names::CONFIG]
    }

    fn inputs<'a>(
        &'a self,
        _ctx: &'a StepCtx,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async { Ok(None) })
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let Some(token) = Self::token(ctx) else {
                return Ok(Done::Skipped(StepOutput::summary(
                    "the gateway reads its token from its environment",
                )));
            };
            let done = match tokio::task::spawn_blocking(move || token.materialize())
                .await
                .map_err(StepError::new)??
            {
                Some(Materialized::Written(_)) => Done::Ran(StepOutput::summary(
                    "the gateway reads its token from a private copy (file SecretRef)",
                )),
                Some(Materialized::InPlace(_)) => Done::Skipped(StepOutput::summary(
                    "the gateway's private copy of its token is in place",
                )),
                None => Done::Skipped(StepOutput::summary(
                    "the configuration sets its own gateway auth; nothing to hand over",
                )),
            };
            Ok(done)
        })
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn the_config_names_a_slot_never_the_token() {
        let mut config = obj(json!({"gateway": {"mode": "local", "auth": {"mode": "token"}}}));
        force_ref(
            &mut config,
            Path::new("/home/node/.openclaw-gateway-token/token-a"),
        );
        assert_eq!(config["gateway"]["auth"]["token"], secret_ref());
        assert_eq!(
            config["secrets"]["providers"][PROVIDER],
            json!({"source": "file", "path": "/home/node/.openclaw-gateway-token/token-a", "mode": "singleValue"})
        );
        assert_eq!(
            live_slot(&config),
            Some(PathBuf::from("/home/node/.openclaw-gateway-token/token-a"))
        );
        // Without a mode, token auth is what the gateway would pick.
        let mut bare = Map::new();
        force_ref(&mut bare, Path::new("/s"));
        assert_eq!(bare["gateway"]["auth"]["mode"], "token");
    }

    #[test]
    fn another_auth_mode_or_a_literal_token_is_the_users_choice() {
        for config in [
            json!({"gateway": {"auth": {"mode": "password"}}}),
            json!({"gateway": {"auth": {"mode": "trusted-proxy"}}}),
            json!({"gateway": {"auth": {"mode": "token", "token": "my-own"}}}),
        ] {
            let mut config = obj(config);
            let before = config.clone();
            force_ref(&mut config, Path::new("/s"));
            assert_eq!(config, before);
            assert_eq!(live_slot(&config), None);
        }
    }

    #[test]
    fn slots_alternate() {
        let home = Path::new("/h");
        let [a, b] = slots(home);
        assert_eq!(next_slot(home, &a), b);
        assert_eq!(next_slot(home, &b), a);
        assert_eq!(next_slot(home, Path::new("/elsewhere")), a);
    }

    #[test]
    fn the_final_newline_is_not_part_of_the_token() {
        assert_eq!(token_text(b"abc\n"), b"abc");
        assert_eq!(token_text(b"abc\r\n"), b"abc");
        assert_eq!(token_text(b"abc"), b"abc");
    }

    fn setup() -> io::Result<(tempfile::TempDir, GatewayToken)> {
        let dir = tempfile::tempdir()?;
        let (home, state) = (dir.path().join("home"), dir.path().join("home/.openclaw"));
        std::fs::create_dir_all(&state)?;
        std::fs::write(dir.path().join("token"), "first\n")?;
        let token = GatewayToken::new(dir.path().join("token"), &state, &home);
        let mut config = obj(json!({"gateway": {"auth": {"mode": "token"}}, "agents": {"x": 1}}));
        force_ref(&mut config, &token.first_slot());
        std::fs::write(state.join(CONFIG_FILE), merge::render(&config))?;
        Ok((dir, token))
    }

    #[test]
    fn materialize_then_rotate_moves_the_token_between_private_slots()
    -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::MetadataExt;
        let (dir, token) = setup()?;
        let Some(Materialized::Written(first)) = token.materialize()? else {
            return Err("the first start writes the slot".into());
        };
        assert!(matches!(
            token.materialize()?,
            Some(Materialized::InPlace(d)) if d == first
        ));
        let [a, b] = slots(&dir.path().join("home"));
        assert_eq!(std::fs::read(&a)?, b"first");
        let meta = std::fs::metadata(&a)?;
        assert_eq!((meta.mode() & 0o777, meta.nlink()), (0o600, 1));
        assert_eq!(
            std::fs::metadata(a.parent().ok_or("no parent")?)?.mode() & 0o777,
            0o700
        );

        std::fs::write(dir.path().join("token"), "second")?;
        let (new, digest) = token.read_source()?;
        assert_ne!(digest, first);
        assert!(token.rotate(&new)?);
        assert_eq!(std::fs::read(&b)?, b"second");
        assert!(!a.exists(), "the old copy is removed");
        let config = token.read_config()?;
        assert_eq!(live_slot(&config), Some(b.clone()));
        // The rest of the configuration is untouched, and no token is in it.
        assert_eq!(config["agents"]["x"], 1);
        let text = std::fs::read_to_string(dir.path().join("home/.openclaw").join(CONFIG_FILE))?;
        assert!(!text.contains("first") && !text.contains("second"));

        // A restart materializes into the slot the live config names.
        std::fs::remove_file(&b)?;
        assert!(matches!(
            token.materialize()?,
            Some(Materialized::Written(_))
        ));
        assert_eq!(std::fs::read(&b)?, b"second");
        Ok(())
    }

    #[test]
    fn an_empty_token_file_keeps_the_current_token() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, token) = setup()?;
        token.materialize()?;
        std::fs::write(dir.path().join("token"), "\n")?;
        assert!(matches!(token.read_source(), Err(TokenError::Empty { .. })));
        let [a, _] = slots(&dir.path().join("home"));
        assert_eq!(std::fs::read(&a)?, b"first");
        Ok(())
    }
}
