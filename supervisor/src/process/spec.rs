//! What the gateway child is started with: its command line and its environment (pure).
//!
//! The environment is built from scratch for every start: the supervisor's own environment
//! minus the secrets only the supervisor may hold, plus what the plan adds, plus the settings a
//! supervised gateway needs (`OPENCLAW_NO_RESPAWN=1`, a V8 heap cap that fits the container).

use std::{collections::BTreeMap, path::PathBuf, process::Stdio, time::Duration};

use openclaw_api::plan::{
    CONTROL_TOKEN_ENV, RuntimePlan, S3_ACCESS_KEY_ID_ENV, S3_SECRET_ACCESS_KEY_ENV,
    S3_SESSION_TOKEN_ENV,
};

/// Keeps restarts of the gateway inside its own process (same PID) instead of respawning.
pub const NO_RESPAWN_ENV: &str = "OPENCLAW_NO_RESPAWN";

/// Node's options variable; inherited by every Node process the gateway starts.
pub const NODE_OPTIONS_ENV: &str = "NODE_OPTIONS";

/// Variables only the supervisor may read; never passed on to the gateway.
pub const SUPERVISOR_ONLY_ENV: [&str; 4] = [
    CONTROL_TOKEN_ENV,
    S3_ACCESS_KEY_ID_ENV,
    S3_SECRET_ACCESS_KEY_ENV,
    S3_SESSION_TOKEN_ENV,
];

/// Share of the container's memory limit given to the V8 old generation, in percent. The rest
/// covers V8's other spaces, native memory and the gateway's worker processes.
pub const HEAP_SHARE_PERCENT: u64 = 75;

const MIB: u64 = 1024 * 1024;
const HEAP_FLAG: &str = "--max-old-space-size";
const HEAP_FLAG_UNDERSCORE: &str = "--max_old_space_size";

/// How to start the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCommand {
    /// The executable (the Node binary).
    pub program: PathBuf,
    /// Its arguments, e.g. `[<prefix>/openclaw.mjs, "gateway", "run"]`.
    pub args: Vec<String>,
    /// The complete environment of the child (see [`child_env`]); nothing else is inherited.
    pub env: Vec<(String, String)>,
    /// Working directory; the gateway reads `./.env` from it, so it is chosen deliberately.
    pub cwd: PathBuf,
    /// Time the gateway gets to drain after SIGTERM before the supervisor sends SIGKILL.
    pub drain: Duration,
}

impl GatewayCommand {
    /// `node <openclaw.mjs> gateway run`: the foreground gateway, which never re-executes itself.
    pub fn openclaw(
        node: PathBuf,
        openclaw_mjs: &str,
        env: Vec<(String, String)>,
        cwd: PathBuf,
        drain: Duration,
    ) -> GatewayCommand {
        GatewayCommand {
            program: node,
            args: vec![
                openclaw_mjs.to_owned(),
                "gateway".to_owned(),
                "run".to_owned(),
            ],
            env,
            cwd,
            drain,
        }
    }

    /// The command, not yet hardened: exactly [`Self::env`], stdin from `/dev/null`, stdout and
    /// stderr shared with the supervisor (the container log), and a process group of its own
    /// so that a final SIGKILL reaches every process the gateway started.
    pub fn to_command(&self) -> std::process::Command {
        use std::os::unix::process::CommandExt;

        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .process_group(0);
        cmd
    }
}

/// The names to remove from the gateway's environment: [`SUPERVISOR_ONLY_ENV`] and the
/// credential variables the plan names for backups.
pub fn scrub_list(plan: &RuntimePlan) -> Vec<String> {
    let mut names: Vec<String> = SUPERVISOR_ONLY_ENV
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let connections = [
        plan.backup.as_ref().map(|b| &b.connection),
        plan.restore.as_ref().map(|r| &r.connection),
    ];
    for creds in connections
        .into_iter()
        .flatten()
        .filter_map(|c| c.credentials.as_ref())
    {
        names.push(creds.access_key_id.clone());
        names.push(creds.secret_access_key.clone());
        names.extend(creds.session_token.clone());
    }
    names.sort();
    names.dedup();
    names
}

/// The gateway's environment: `parent`, overridden by `extra` (from the plan), without any
/// name in `scrub`, with `OPENCLAW_NO_RESPAWN=1`, and, when the container has a memory limit,
/// `NODE_OPTIONS` carrying `--max-old-space-size` at [`HEAP_SHARE_PERCENT`] of it (other Node
/// options are kept). Sorted by name; names that cannot be variables are dropped.
pub fn child_env<I, K, V>(
    parent: I,
    extra: &[(String, String)],
    scrub: &[String],
    memory_limit_bytes: Option<u64>,
) -> Vec<(String, String)>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let mut env: BTreeMap<String, String> = parent
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    for (k, v) in extra {
        env.insert(k.clone(), v.clone());
    }
    env.retain(|k, _| !k.is_empty() && !k.contains('=') && !k.contains('\0'));
    for name in scrub {
        env.remove(name);
    }
    env.insert(NO_RESPAWN_ENV.to_owned(), "1".to_owned());
    if let Some(limit) = memory_limit_bytes {
        let options = node_options_with_heap_cap(
            env.get(NODE_OPTIONS_ENV).map(String::as_str),
            heap_cap_mib(limit),
        );
        env.insert(NODE_OPTIONS_ENV.to_owned(), options);
    }
    env.into_iter().collect()
}

/// [`HEAP_SHARE_PERCENT`] of a memory limit, in MiB (at least 1).
pub fn heap_cap_mib(memory_limit_bytes: u64) -> u64 {
    let mib =
        u128::from(memory_limit_bytes) * u128::from(HEAP_SHARE_PERCENT) / 100 / u128::from(MIB);
    u64::try_from(mib).unwrap_or(u64::MAX).max(1)
}

/// `existing` Node options with any heap size flag (`--max-old-space-size=N`,
/// `--max-old-space-size N`, or the underscore spelling) replaced by
/// `--max-old-space-size=<heap_mib>`. Other options keep their text, quotes included.
pub fn node_options_with_heap_cap(existing: Option<&str>, heap_mib: u64) -> String {
    let tokens = existing.map(split_node_options).unwrap_or_default();
    let mut kept: Vec<&str> = Vec::with_capacity(tokens.len() + 1);
    let mut skip_value = false;
    for token in tokens {
        if skip_value {
            skip_value = false;
            continue;
        }
        if token == HEAP_FLAG || token == HEAP_FLAG_UNDERSCORE {
            skip_value = true;
            continue;
        }
        let is_heap = [HEAP_FLAG, HEAP_FLAG_UNDERSCORE].iter().any(|flag| {
            token
                .strip_prefix(flag)
                .is_some_and(|rest| rest.starts_with('='))
        });
        if !is_heap {
            kept.push(token);
        }
    }
    let cap = format!("{HEAP_FLAG}={heap_mib}");
    kept.push(&cap);
    kept.join(" ")
}

/// Splits `NODE_OPTIONS` the way Node does: on whitespace outside double quotes.
fn split_node_options(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(s) = start.take() {
                    tokens.push(&text[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        tokens.push(&text[s..]);
    }
    tokens
}

/// The drain budget that still leaves `reserve` (backup, WAL checkpoint, exit) inside the pod's
/// termination grace period.
pub fn drain_budget(grace: Duration, reserve: Duration) -> Duration {
    grace.saturating_sub(reserve)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(env: &[(String, String)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn scrub() -> Vec<String> {
        SUPERVISOR_ONLY_ENV
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    #[test]
    fn secrets_are_removed_and_no_respawn_is_set() {
        let parent = [
            ("PATH", "/usr/bin"),
            ("OPENCLAW_SUPERVISOR_TOKEN", "control"),
            ("OPENCLAW_BACKUP_ACCESS_KEY_ID", "AKIA"),
            ("OPENCLAW_BACKUP_SECRET_ACCESS_KEY", "secret"),
            ("OPENCLAW_BACKUP_SESSION_TOKEN", "session"),
            ("OPENCLAW_GATEWAY_TOKEN", "gateway"),
            ("OPENCLAW_NO_RESPAWN", "0"),
        ];
        let env = child_env(parent, &[], &scrub(), None);
        assert_eq!(
            names(&env),
            ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_NO_RESPAWN", "PATH"]
        );
        assert_eq!(get(&env, "OPENCLAW_NO_RESPAWN"), Some("1"));
        assert_eq!(
            get(&env, "OPENCLAW_GATEWAY_TOKEN"),
            Some("gateway"),
            "the gateway needs its own token"
        );
    }

    #[test]
    fn plan_env_overrides_parent_but_cannot_reinject_a_secret() {
        let extra = vec![
            ("NODE_EXTRA_CA_CERTS".to_owned(), "/ca.pem".to_owned()),
            ("HOME".to_owned(), "/home/openclaw".to_owned()),
            ("OPENCLAW_SUPERVISOR_TOKEN".to_owned(), "leak".to_owned()),
        ];
        let env = child_env([("HOME", "/root")], &extra, &scrub(), None);
        assert_eq!(get(&env, "HOME"), Some("/home/openclaw"));
        assert_eq!(get(&env, "NODE_EXTRA_CA_CERTS"), Some("/ca.pem"));
        assert_eq!(get(&env, "OPENCLAW_SUPERVISOR_TOKEN"), None);
    }

    #[test]
    fn scrub_list_adds_the_credential_names_of_the_plan() {
        let mut plan: RuntimePlan = serde_json::from_value(serde_json::json!({
            "version": 1,
            "instance": {"name": "a", "namespace": "b"},
            "config": {"mergeMode": "overwrite", "format": "json"},
            "gateway": {"port": 18789, "bind": "loopback", "tokenEnv": "OPENCLAW_GATEWAY_TOKEN"},
            "statusPort": 9090,
            "backup": {"bucket": "b", "prefix": "p/", "retention": 3, "timeoutSeconds": 60,
                       "credentials": {"accessKeyId": "MY_KEY", "secretAccessKey": "MY_SECRET"}}
        }))
        .expect("plan");
        let list = scrub_list(&plan);
        for name in SUPERVISOR_ONLY_ENV.iter().chain(&["MY_KEY", "MY_SECRET"]) {
            assert!(
                list.iter().any(|n| n == name),
                "{name} missing from {list:?}"
            );
        }
        plan.backup = None;
        assert_eq!(scrub_list(&plan).len(), SUPERVISOR_ONLY_ENV.len());
    }

    #[test]
    fn heap_cap_is_three_quarters_of_the_limit() {
        assert_eq!(heap_cap_mib(4 * 1024 * MIB), 3072);
        assert_eq!(heap_cap_mib(2 * 1024 * MIB), 1536);
        assert_eq!(heap_cap_mib(1000 * 1000 * 1000), 715);
        assert_eq!(heap_cap_mib(1), 1);
    }

    #[test]
    fn node_options_keep_other_flags_and_replace_the_heap_flag() {
        assert_eq!(
            node_options_with_heap_cap(None, 3072),
            "--max-old-space-size=3072"
        );
        assert_eq!(
            node_options_with_heap_cap(Some(""), 10),
            "--max-old-space-size=10"
        );
        assert_eq!(
            node_options_with_heap_cap(
                Some("--enable-source-maps --max-old-space-size=8192"),
                3072
            ),
            "--enable-source-maps --max-old-space-size=3072"
        );
        assert_eq!(
            node_options_with_heap_cap(Some("--max_old_space_size=1 --trace-warnings"), 3072),
            "--trace-warnings --max-old-space-size=3072"
        );
        assert_eq!(
            node_options_with_heap_cap(Some("--max-old-space-size 512  --no-warnings"), 3072),
            "--no-warnings --max-old-space-size=3072"
        );
        assert_eq!(
            node_options_with_heap_cap(
                Some(r#"--require "/opt/my dir/hook.js" --max-old-space-size-x=1"#),
                64
            ),
            r#"--require "/opt/my dir/hook.js" --max-old-space-size-x=1 --max-old-space-size=64"#
        );
    }

    #[test]
    fn node_options_untouched_without_a_memory_limit() {
        let env = child_env(
            [("NODE_OPTIONS", "--max-old-space-size=100")],
            &[],
            &[],
            None,
        );
        assert_eq!(get(&env, "NODE_OPTIONS"), Some("--max-old-space-size=100"));
        let env = child_env([("PATH", "/bin")], &[], &[], None);
        assert_eq!(get(&env, "NODE_OPTIONS"), None);
        let env = child_env(
            [("NODE_OPTIONS", "--no-warnings")],
            &[],
            &[],
            Some(4 * 1024 * MIB),
        );
        assert_eq!(
            get(&env, "NODE_OPTIONS"),
            Some("--no-warnings --max-old-space-size=3072")
        );
    }

    #[test]
    fn invalid_names_are_dropped() {
        let env = child_env([("", "x"), ("A=B", "y"), ("OK", "z")], &[], &[], None);
        assert_eq!(names(&env), ["OK", "OPENCLAW_NO_RESPAWN"]);
    }

    #[test]
    fn command_runs_the_foreground_gateway() {
        let cmd = GatewayCommand::openclaw(
            "/usr/bin/node".into(),
            "/app/openclaw.mjs",
            vec![("A".into(), "1".into())],
            "/home/node".into(),
            Duration::from_secs(20),
        );
        assert_eq!(cmd.args, ["/app/openclaw.mjs", "gateway", "run"]);
        let std = cmd.to_command();
        assert_eq!(std.get_program(), "/usr/bin/node");
        assert_eq!(
            std.get_current_dir(),
            Some(std::path::Path::new("/home/node"))
        );
        let envs: Vec<_> = std.get_envs().collect();
        assert_eq!(
            envs,
            [(std::ffi::OsStr::new("A"), Some(std::ffi::OsStr::new("1")))]
        );
    }

    #[test]
    fn drain_budget_leaves_the_reserve() {
        assert_eq!(
            drain_budget(Duration::from_secs(60), Duration::from_secs(15)),
            Duration::from_secs(45)
        );
        assert_eq!(
            drain_budget(Duration::from_secs(5), Duration::from_secs(15)),
            Duration::ZERO
        );
    }
}
