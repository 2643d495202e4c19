//! Playing an instance's pod locally: KWOK runs no containers, so the tests run the real
//! supervisor binary with the plan and the Secrets the operator rendered for the pod, as the
//! pod would get them (the plan mounted from the ConfigMap, the control token and the S3
//! credentials in the environment).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use openclaw_api::plan::{
    CONTROL_TOKEN_ENV, GATEWAY_COMMAND_ENV, HOME_ENV, PLAN_FILE, STATE_DIR_ENV,
};
use openclaw_testkit::location::GatewayTools;

use crate::{
    TestCluster,
    process::{ChildGuard, workspace_binary},
    wait,
};

/// A supervisor running an instance's plan on a local port.
#[derive(Debug)]
pub struct LocalPod {
    /// The supervisor's status address, `127.0.0.1:<port>`, to give the operator.
    pub address: String,
    /// `$HOME` of the pod; the workspace is `home/.openclaw`.
    pub home: PathBuf,
    child: Option<ChildGuard>,
}

/// A free loopback port (bound then released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl LocalPod {
    /// A pod that will listen on a free port; start it once the operator rendered its plan.
    pub fn new(home: &Path) -> Result<Self> {
        Ok(Self {
            address: format!("127.0.0.1:{}", free_port()?),
            home: home.to_owned(),
            child: None,
        })
    }

    /// The workspace (`OPENCLAW_STATE_DIR`).
    pub fn state_dir(&self) -> PathBuf {
        self.home.join(".openclaw")
    }

    /// Waits for the operator to render `instance`'s plan and starts the supervisor with it,
    /// `env` added to the environment (for example the S3 credentials the pod would get from
    /// the credentials Secret). The gateway is replaced by `sleep`: these tests are about the
    /// supervisor, not the agent.
    pub async fn start(
        &mut self,
        cluster: &TestCluster,
        ns: &str,
        instance: &str,
        env: &[(&str, &str)],
    ) -> Result<()> {
        self.start_with(cluster, ns, instance, env, None, &|_| {})
            .await
    }

    /// Like [`LocalPod::start`], with `edit` applied to the rendered plan first (for example
    /// the Ollama sidecar's address: in the pod it is `localhost:11434`).
    pub async fn start_edited(
        &mut self,
        cluster: &TestCluster,
        ns: &str,
        instance: &str,
        env: &[(&str, &str)],
        edit: &(dyn Fn(&mut serde_json::Value) + Sync),
    ) -> Result<()> {
        self.start_with(cluster, ns, instance, env, None, edit)
            .await
    }

    /// Like [`LocalPod::start`], with the REAL gateway (`cargo xtask node`) on a free loopback
    /// port instead of `sleep`: the plan's gateway port and bind are changed to that port on
    /// loopback (the supervisor forces them into the config), and the gateway gets the
    /// instance's token as the pod would. Its output goes to `home/supervisor.log`.
    pub async fn start_gateway(
        &mut self,
        cluster: &TestCluster,
        ns: &str,
        instance: &str,
        tools: &GatewayTools,
    ) -> Result<()> {
        self.start_with(cluster, ns, instance, &[], Some(tools), &|plan| {
            if let Ok(port) = free_port() {
                plan["gateway"]["port"] = port.into();
            }
            plan["gateway"]["bind"] = "loopback".into();
        })
        .await
    }

    async fn start_with(
        &mut self,
        cluster: &TestCluster,
        ns: &str,
        instance: &str,
        env: &[(&str, &str)],
        gateway: Option<&GatewayTools>,
        edit: &(dyn Fn(&mut serde_json::Value) + Sync),
    ) -> Result<()> {
        let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), ns);
        let config_map = format!("{instance}-config");
        let plan = wait::until("the rendered plan", Duration::from_secs(60), || async {
            Ok(config_maps
                .get_opt(&config_map)
                .await?
                .and_then(|cm| cm.data)
                .and_then(|mut data| data.remove(PLAN_FILE)))
        })
        .await?;
        let token = secret_key(cluster, ns, instance, "supervisor-token").await?;
        std::fs::create_dir_all(&self.home)?;
        let mut plan: serde_json::Value = serde_json::from_str(&plan)?;
        edit(&mut plan);
        // The kubelet would mount the token Secret there; here it is a file beside HOME.
        if plan["gateway"]["tokenFile"].is_string() {
            let token_file = self.home.with_extension("gateway-token");
            std::fs::write(
                &token_file,
                secret_key(cluster, ns, instance, "token").await?,
            )?;
            plan["gateway"]["tokenFile"] = token_file.display().to_string().into();
        }
        let plan = plan.to_string();
        let plan_path = self.home.join(PLAN_FILE);
        std::fs::write(&plan_path, plan)?;
        let port = self
            .address
            .rsplit(':')
            .next()
            .context("address without port")?
            .to_owned();
        let mut command = Command::new(workspace_binary("openclaw-supervisor")?);
        command
            .args(["run", "--plan"])
            .arg(&plan_path)
            .args(["--status-address", "127.0.0.1", "--status-port", &port])
            .env(HOME_ENV, &self.home)
            .env(STATE_DIR_ENV, self.state_dir())
            .env(CONTROL_TOKEN_ENV, token);
        match gateway {
            Some(tools) => {
                let log = std::fs::File::create(self.home.join("supervisor.log"))?;
                let path = std::env::var("PATH").unwrap_or_default();
                command
                    .env(GATEWAY_COMMAND_ENV, tools.gateway_command())
                    .env("PATH", format!("{}:{path}", tools.bin_dir().display()))
                    .env("OPENCLAW_DISABLE_BONJOUR", "1")
                    .env("OPENCLAW_NO_AUTO_UPDATE", "1")
                    .env("OPENCLAW_LOG_FORMAT", "plain")
                    .stdout(log.try_clone()?)
                    .stderr(log);
            }
            None => {
                command
                    .env(GATEWAY_COMMAND_ENV, "sleep 3600")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        self.child = Some(ChildGuard(command.spawn()?));
        Ok(())
    }

    /// The supervisor's `/status`, once it answers.
    pub async fn status(&self) -> Result<serde_json::Value> {
        let url = format!("http://{}/status", self.address);
        wait::until("the supervisor's /status", Duration::from_secs(60), || {
            let url = url.clone();
            async move {
                let Ok(response) = reqwest_get(&url).await else {
                    return Ok(None);
                };
                Ok(Some(response))
            }
        })
        .await
    }

    /// Stops the supervisor, keeping its workspace: SIGTERM first, so that a real gateway is
    /// stopped with it, then SIGKILL after 30 s.
    pub fn stop(&mut self) {
        let Some(mut guard) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &guard.0.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if matches!(guard.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(guard);
    }
}

impl Drop for LocalPod {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn reqwest_get(url: &str) -> Result<serde_json::Value> {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await?
        .error_for_status()?;
    Ok(response.json().await?)
}

/// A key of the instance's `<name>-gateway-token` Secret (`token`, `supervisor-token`), as the
/// pod gets it.
async fn secret_key(cluster: &TestCluster, ns: &str, instance: &str, key: &str) -> Result<String> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let name = format!("{instance}-gateway-token");
    wait::until(
        &format!("Secret {name}"),
        Duration::from_secs(60),
        || async {
            Ok(secrets
                .get_opt(&name)
                .await?
                .and_then(|s| s.data)
                .and_then(|mut d| d.remove(key))
                .and_then(|b| String::from_utf8(b.0).ok()))
        },
    )
    .await
}
