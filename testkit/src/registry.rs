//! Debian's real `docker-registry` (distribution), started on a free loopback port with its data
//! in a directory of the test's, for tests that list, pull or push images.

use std::{
    fs,
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Where Debian's package puts the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running `docker-registry serve`, killed when dropped.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts the registry with its data under `root`; `auth` is extra configuration (e.g. an
    /// `auth: {htpasswd: …}` section). Fails with how to install it when the binary is missing.
    pub fn start(root: &Path, auth: &str) -> Result<Registry, String> {
        if !Path::new(REGISTRY_BIN).is_file() {
            return Err(format!(
                "{REGISTRY_BIN} is missing: apt-get install docker-registry (the real registry of the image tests)"
            ));
        }
        let io = |e: std::io::Error| e.to_string();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io)?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = root.join("registry.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: \"{addr}\"}}\n{auth}",
                root.join("data").display()
            ),
        )
        .map_err(io)?;
        let log = root.join("registry.log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).map_err(io)?)
            .spawn()
            .map_err(|e| format!("starting {REGISTRY_BIN}: {e}"))?;
        let registry = Registry { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "docker-registry did not listen on {} within 20 s: {}",
                    registry.addr,
                    fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(registry)
    }
}
