//! Helpers of the backup and restore tests: workspaces (random files, modes, symlinks), tree
//! comparison, the supervisor's status server with a backup manager, and plain HTTP calls.

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    net::{Ipv4Addr, SocketAddr},
    os::unix::fs::{PermissionsExt, symlink},
    path::Path,
    time::{Duration, Instant},
};

use openclaw_api::{
    backup::{BackupRecord, BackupState},
    plan::{BackupPlan, RuntimePlan, S3Connection, S3CredentialsEnv},
};
use openclaw_supervisor::{
    backup::{manager::BackupManager, store::Bucket},
    board::Board,
    run::Shutdown,
    status::{
        control::ControlToken,
        gateway_probe::StartupFlag,
        server::{self, ServerState},
    },
};
use sha2::{Digest, Sha256};

/// The control token of the test supervisors.
pub const TOKEN: &str = "test-control-token";

/// Names of the credential variables in the test plans (never read from the process
/// environment: the tests pass a lookup).
pub const KEY_VAR: &str = "TEST_BACKUP_KEY_ID";
/// See [`KEY_VAR`].
pub const SECRET_VAR: &str = "TEST_BACKUP_SECRET";

/// An S3 connection to `endpoint` with the test credential variables.
pub fn connection(endpoint: &str) -> S3Connection {
    S3Connection {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        path_style: true,
        credentials: Some(S3CredentialsEnv {
            access_key_id: KEY_VAR.into(),
            secret_access_key: SECRET_VAR.into(),
            session_token: None,
        }),
    }
}

/// A lookup answering the test credential variables.
pub fn lookup(key: &str, secret: &str) -> impl Fn(&str) -> Option<String> + Clone + use<> {
    let (key, secret) = (key.to_owned(), secret.to_owned());
    move |name| match name {
        KEY_VAR => Some(key.clone()),
        SECRET_VAR => Some(secret.clone()),
        _ => None,
    }
}

/// The bucket, opened the way the supervisor does.
pub fn bucket(endpoint: &str, bucket: &str, key: &str, secret: &str) -> Bucket {
    Bucket::open(&connection(endpoint), bucket, lookup(key, secret))
        .unwrap_or_else(|e| panic!("open the bucket: {e}"))
}

/// A plan backing up into `bucket` under `prefix`.
pub fn plan(base: RuntimePlan, endpoint: &str, bucket: &str, prefix: &str) -> RuntimePlan {
    RuntimePlan {
        backup: Some(BackupPlan {
            connection: connection(endpoint),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            schedule: None,
            retention: 7,
            timeout_seconds: 120,
            compression_level: 3,
            drill: None,
        }),
        ..base
    }
}

/// A supervisor's status server with a backup manager, on a free loopback port.
pub struct Supervisor {
    pub address: SocketAddr,
    pub board: Board,
    pub backups: BackupManager,
    stop: Shutdown,
}

impl Supervisor {
    /// Serves `plan`'s backups of `workspace`, credentials from `lookup`.
    pub async fn start(
        plan: &RuntimePlan,
        workspace: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Supervisor {
        let board = Board::default();
        let backups = BackupManager::from_plan(plan, workspace, board.clone(), lookup);
        let listener = server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let state = ServerState::new(
            board.clone(),
            StartupFlag::default(),
            ControlToken::new(TOKEN),
        )
        .with_backups(backups.clone());
        let stop = Shutdown::default();
        tokio::spawn(server::serve(listener, state, stop.wait()));
        Supervisor {
            address,
            board,
            backups,
            stop,
        }
    }

    /// `POST /backup` with `body`; (status, JSON answer).
    pub async fn post(&self, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
        let (address, token, body) = (self.address, token.map(str::to_owned), body.to_owned());
        tokio::task::spawn_blocking(move || {
            http(address, "POST", "/backup", token.as_deref(), &body)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `GET /status`.
    pub async fn status(&self) -> serde_json::Value {
        let address = self.address;
        let (code, body) =
            tokio::task::spawn_blocking(move || http(address, "GET", "/status", None, ""))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 200, "{body}");
        body
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        let address = self.address;
        tokio::task::spawn_blocking(move || raw(address, "GET", "/metrics", None, "").1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Asks for backup `id` (reason `request`) and waits until it finished; its record.
    pub async fn backup(&self, id: &str) -> BackupRecord {
        let (code, body) = self
            .post(
                Some(TOKEN),
                &format!(r#"{{"id":"{id}","reason":"request"}}"#),
            )
            .await;
        assert_eq!(code, 202, "{body}");
        self.finished(id, Duration::from_secs(300)).await
    }

    /// Waits until `/status` says backup `id` finished; its record.
    pub async fn finished(&self, id: &str, timeout: Duration) -> BackupRecord {
        let start = Instant::now();
        loop {
            let status = self.status().await;
            let last = &status["backup"]["last"];
            if last["id"] == id {
                return serde_json::from_value(last.clone()).unwrap_or_else(|e| panic!("{e}"));
            }
            assert!(
                start.elapsed() < timeout,
                "backup {id} did not finish within {timeout:?}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(&self) {
        self.stop.trigger();
    }
}

/// A succeeded record's archive key, or a panic saying why it failed.
pub fn succeeded(record: &BackupRecord) -> String {
    assert_eq!(record.state, BackupState::Succeeded, "{record:?}");
    record
        .key
        .clone()
        .unwrap_or_else(|| panic!("no key in {record:?}"))
}

/// One HTTP/1.0 request; (status, JSON body or Null).
pub fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let (code, text) = raw(address, method, path, token, body);
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn raw(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    openclaw_testkit::raw_http::exchange(
        address,
        &format!(
            "{method} {path} HTTP/1.0\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Writes `size` pseudo-random (incompressible) bytes from `seed`.
pub fn random_file(path: &Path, size: usize, seed: u64) {
    let mut state = seed | 1;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut out = fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len());
        out.write_all(&block[..n])
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        left -= n;
    }
}

/// Writes `text` to `path` (parents created) with `mode`.
pub fn file(path: &Path, text: &str, mode: u32) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap_or_else(|e| panic!("{e}"));
}

/// A small workspace with content, modes, an empty directory and symlinks.
pub fn small_workspace(root: &Path) {
    file(&root.join("workspace/notes.md"), "# notes\n", 0o644);
    file(
        &root.join("workspace/run.sh"),
        "#!/bin/sh\necho hi\n",
        0o755,
    );
    file(&root.join("credentials/key"), "private", 0o600);
    file(
        &root.join("agents/main/sessions/s1.jsonl"),
        "{\"a\":1}\n",
        0o640,
    );
    fs::create_dir_all(root.join("empty/dir")).unwrap_or_else(|e| panic!("{e}"));
    fs::set_permissions(root.join("empty"), fs::Permissions::from_mode(0o750))
        .unwrap_or_else(|e| panic!("{e}"));
    symlink("notes.md", root.join("workspace/latest.md")).unwrap_or_else(|e| panic!("{e}"));
    symlink("../workspace", root.join("agents/ws")).unwrap_or_else(|e| panic!("{e}"));
}

/// One node of a tree as a user compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A file: mode and sha256 of its content.
    File(u32, String),
    /// A directory and its mode.
    Dir(u32),
    /// A symlink and its target.
    Link(String),
}

/// Every path under `root` (but `.supervisor`) with what it is.
pub fn tree(root: &Path) -> BTreeMap<String, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap_or_else(|e| panic!("{e}")).path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path
                .strip_prefix(root)
                .unwrap_or_else(|e| panic!("{e}"))
                .display()
                .to_string();
            if rel == ".supervisor" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{e}"));
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap_or_else(|e| panic!("{e}"));
                out.insert(rel, Node::Link(target.display().to_string()));
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir(mode));
                walk(root, &path, out);
            } else {
                let mut hasher = Sha256::new();
                let mut f = fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
                std::io::copy(&mut f, &mut hasher).unwrap_or_else(|e| panic!("{e}"));
                out.insert(rel, Node::File(mode, format!("{:x}", hasher.finalize())));
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}
