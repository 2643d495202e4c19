//! The local stand-in for `ghcr.io/openclaw/openclaw:<version>`, laid out as upstream's
//! (../shared/reference/openclaw-runtime.md §1.1): Debian bookworm slim, Node 24 under
//! `/usr/local`, the `openclaw` package at `/app` with its production dependencies, user `node`
//! 1000, `tini` as entrypoint, `node openclaw.mjs gateway` as command.
//!
//! The app layer is `npm install --omit=dev` run inside the unpacked package with the image's own
//! Node and npm, so native dependencies match the image's Node ABI and every dependency lands in
//! `/app/node_modules` as in upstream's image. npm resolves the root project's development
//! dependencies too (and some conflict with its peers), so they are left out of `package.json`
//! during the install and the published `package.json` is put back afterwards. [`verify`] unpacks the image
//! and runs `node /app/openclaw.mjs --version` in it (chroot, as user 1000).

use std::{collections::HashMap, fs, path::Path, process::Command};

use anyhow::{Context, Result, bail, ensure};
use oci_spec::image::{Config, ConfigBuilder};

use super::{
    cache::{self, Tarball},
    layer::{self, Owner},
    nodejs::{HOME, NODE_UID, NODE_VERSION, NodeInputs},
};

/// The versions built: two, so that updates can be tested.
pub const VERSIONS: [&str; 2] = ["2026.9.5", "2026.9.6"];
/// The tag that also names the newest of [`VERSIONS`], as on ghcr.io: the one an instance
/// runs when nothing pins its image.
pub const LATEST_TAG: &str = openclaw_api::instance::image::DEFAULT_TAG;
/// The repository the images are pushed to (`<registry>/openclaw/openclaw:<version>`).
pub const REPOSITORY: &str = "openclaw/openclaw";
/// `PATH` of the image (the official node image's).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Bumped whenever the app layer's shape changes.
const REVISION: &str = "1";

/// The cached `/app` layer of `openclaw@<version>`, installed with the Node of `node`.
pub fn app_layer(
    version: &str,
    tarball: &Tarball,
    node: &NodeInputs,
) -> Result<cache::CachedLayer> {
    let hash = cache::input_hash(&[
        "openclaw-app",
        REVISION,
        version,
        &tarball.integrity,
        &node.node.integrity,
        &node.npm.integrity,
    ]);
    cache::layer(
        &format!("openclaw-app-{version}"),
        &hash,
        |scratch, blobs| {
            let runtime = scratch.join("node");
            node.unpack(&runtime)?;
            let app = scratch.join("app");
            cache::unpack_package(&tarball.path, &app)?;
            npm_install(&runtime, &app, &cache::images_dir()?.join("npm-cache"))?;
            let blob = layer::write(blobs, layer::scan(&app, "app", Owner::Fixed(0, 0))?)?;
            println!(
                "    openclaw {version} app layer {} ({} bytes)",
                blob.digest, blob.size
            );
            Ok(blob)
        },
    )
}

/// `npm install --omit=dev` in `app` with the Node and npm unpacked in `runtime`.
fn npm_install(runtime: &Path, app: &Path, npm_cache: &Path) -> Result<()> {
    let manifest = app.join("package.json");
    let published =
        fs::read(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    fs::write(&manifest, without_dev_dependencies(&published)?)?;
    let node = runtime.join("bin/node");
    let npm_cli = runtime.join("lib/node_modules/npm/bin/npm-cli.js");
    let path = format!(
        "{}:{}",
        runtime.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    println!(
        "==> npm install --omit=dev in {} (Node {NODE_VERSION})",
        app.display()
    );
    let status = Command::new(&node)
        .arg(&npm_cli)
        .args([
            "install",
            "--omit=dev",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .arg("--cache")
        .arg(npm_cache)
        .current_dir(app)
        .env("PATH", path)
        .env("NODE_ENV", "production")
        .status()
        .with_context(|| format!("running {}", node.display()))?;
    fs::write(&manifest, &published)?;
    if !status.success() {
        bail!(
            "npm install in {} failed ({status}); see the output above",
            app.display()
        );
    }
    ensure!(
        app.join("openclaw.mjs").is_file(),
        "{} has no openclaw.mjs",
        app.display()
    );
    Ok(())
}

/// `package.json` without its `devDependencies`.
pub fn without_dev_dependencies(package_json: &[u8]) -> Result<Vec<u8>> {
    let mut manifest: serde_json::Value =
        serde_json::from_slice(package_json).context("package.json is not JSON")?;
    manifest
        .as_object_mut()
        .context("package.json is not an object")?
        .remove("devDependencies");
    Ok(serde_json::to_vec_pretty(&manifest)?)
}

/// The image's configuration.
pub fn config(version: &str) -> Result<Config> {
    let labels: HashMap<String, String> = [
        ("org.opencontainers.image.title", "openclaw"),
        ("org.opencontainers.image.version", version),
        (
            "org.opencontainers.image.description",
            "Local stand-in for ghcr.io/openclaw/openclaw, built by cargo xtask image",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Ok(ConfigBuilder::default()
        .user(format!("{NODE_UID}:{NODE_UID}"))
        .env(vec![
            format!("PATH={PATH}"),
            format!("NODE_VERSION={NODE_VERSION}"),
            "NODE_ENV=production".to_owned(),
            format!("HOME={HOME}"),
        ])
        .entrypoint(["tini", "-s", "--"].map(String::from).to_vec())
        .cmd(
            ["node", "openclaw.mjs", "gateway"]
                .map(String::from)
                .to_vec(),
        )
        .working_dir("/app")
        .labels(labels)
        .build()?)
}

/// Unpacks the layers (base first) into `rootfs` and runs `node /app/openclaw.mjs --version`
/// there as user 1000 with `chroot`; returns what it printed, after checking it names `version`.
pub fn verify(layers: &[&Path], rootfs: &Path, version: &str) -> Result<String> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("checking the OpenClaw image needs root (chroot); run as root");
    }
    for layer in layers {
        let file = fs::File::open(layer)?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_overwrite(true);
        archive
            .unpack(rootfs)
            .with_context(|| format!("unpacking {}", layer.display()))?;
    }
    let run = |args: &[&str]| -> Result<String> {
        let output = Command::new("chroot")
            .arg(format!("--userspec={NODE_UID}:{NODE_UID}"))
            .arg(rootfs)
            .args(args)
            .current_dir(rootfs)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", HOME)
            .env("NODE_ENV", "production")
            .output()
            .context("running chroot")?;
        ensure!(
            output.status.success(),
            "{args:?} in the image failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let node = run(&["node", "--version"])?;
    ensure!(
        node == format!("v{NODE_VERSION}"),
        "node --version printed {node:?}"
    );
    run(&["tini", "--version"])?;
    let printed = run(&["node", "/app/openclaw.mjs", "--version"])?;
    ensure!(
        printed.contains(version),
        "node /app/openclaw.mjs --version printed {printed:?}, not {version}"
    );
    Ok(printed)
}

/// Reads the base layer's `/etc/passwd` and `/etc/group`.
pub fn base_users(base: &Path) -> Result<(String, String)> {
    let [passwd, group]: [String; 2] =
        super::debian::read_from_layer(base, &["etc/passwd", "etc/group"])?
            .try_into()
            .map_err(|_| anyhow::anyhow!("two files expected"))?;
    Ok((passwd, group))
}

/// Fetches the `openclaw@<version>` tarball (cached).
pub fn tarball(version: &str) -> Result<Tarball> {
    cache::npm_tarball("openclaw", version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_dependencies_are_left_out_of_the_install() -> Result<()> {
        let published =
            br#"{"name":"openclaw","dependencies":{"a":"1"},"devDependencies":{"b":"2"}}"#;
        let installed: serde_json::Value =
            serde_json::from_slice(&without_dev_dependencies(published)?)?;
        assert_eq!(
            installed,
            serde_json::json!({"name": "openclaw", "dependencies": {"a": "1"}})
        );
        assert!(without_dev_dependencies(b"[]").is_err());
        Ok(())
    }

    #[test]
    fn the_config_is_upstreams() -> Result<()> {
        let config = config("2026.9.6")?;
        assert_eq!(config.user().as_deref(), Some("1000:1000"));
        assert_eq!(config.working_dir().as_deref(), Some("/app"));
        assert_eq!(
            config.entrypoint().clone().unwrap_or_default(),
            ["tini", "-s", "--"]
        );
        assert_eq!(
            config.cmd().clone().unwrap_or_default(),
            ["node", "openclaw.mjs", "gateway"]
        );
        let env = config.env().clone().unwrap_or_default();
        for wanted in [
            "NODE_ENV=production",
            "HOME=/home/node",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ] {
            assert!(env.iter().any(|e| e == wanted), "{wanted} not in {env:?}");
        }
        // The supervisor launches `node /app/openclaw.mjs`, `node` found on the image's PATH.
        assert!(PATH.split(':').any(|dir| dir == "/usr/local/bin"));
        Ok(())
    }
}
