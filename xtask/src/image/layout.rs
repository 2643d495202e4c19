//! The OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) of one image, written from
//! oci-spec types and read back as a registry client reads it.
//!
//! JSON documents are serialised with sorted keys (oci-spec keeps labels and annotations in
//! `HashMap`s), so the same layers and config always give the same manifest digest.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail, ensure};
use oci_spec::image::{
    Arch, Config, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageIndex, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    MediaType, OciLayoutBuilder, Os, PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;
use serde_json::Value;

use super::layer::{self, LayerBlob, Listed};

/// `created` of every image and history entry: the images are reproducible, not dated.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";
/// The annotation that names an image of a layout (its tag).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What an image is made of, before it is written.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Layers, base first, already in the layout's `blobs/sha256/`.
    pub layers: Vec<(LayerBlob, String)>,
    /// The runtime configuration (user, entrypoint, environment, ...).
    pub config: Config,
    /// Tag recorded in `index.json` and as `org.opencontainers.image.version`.
    pub tag: String,
}

/// The OCI architecture of this machine.
pub fn arch() -> Result<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Arch::Amd64),
        "aarch64" => Ok(Arch::ARM64),
        other => bail!("no OCI architecture name for {other}"),
    }
}

/// The blobs directory of the layout in `out`.
pub fn blobs(out: &Path) -> PathBuf {
    out.join("blobs/sha256")
}

/// `value` as JSON with every object's keys sorted.
pub fn canonical_json(value: &impl Serialize) -> Result<Vec<u8>> {
    fn sort(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let sorted: BTreeMap<String, Value> =
                    map.into_iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sort).collect()),
            other => other,
        }
    }
    Ok(serde_json::to_vec(&sort(serde_json::to_value(value)?))?)
}

/// Writes `bytes` as a blob of the layout; returns its descriptor.
pub fn write_blob(out: &Path, media_type: MediaType, bytes: &[u8]) -> Result<Descriptor> {
    let digest = layer::sha256(bytes);
    let path = blobs(out).join(digest.trim_start_matches("sha256:"));
    fs::create_dir_all(blobs(out))?;
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest.parse::<oci_spec::image::Digest>()?)
        .size(bytes.len() as u64)
        .build()?)
}

/// Writes the config, the manifest, `index.json` and `oci-layout` of `spec` into `out`, whose
/// `blobs/sha256/` already holds the layers; returns the manifest's descriptor.
pub fn write_image(out: &Path, spec: &ImageSpec) -> Result<Descriptor> {
    let arch = arch()?;
    for (layer, _) in &spec.layers {
        let path = blobs(out).join(layer.digest.trim_start_matches("sha256:"));
        ensure!(
            path.is_file(),
            "layer {} is not in {}",
            layer.digest,
            out.display()
        );
    }
    let history = spec
        .layers
        .iter()
        .map(|(_, created_by)| {
            HistoryBuilder::default()
                .created(EPOCH)
                .created_by(created_by.as_str())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config: ImageConfiguration = ImageConfigurationBuilder::default()
        .created(EPOCH)
        .architecture(arch.clone())
        .os(Os::Linux)
        .config(spec.config.clone())
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(
                    spec.layers
                        .iter()
                        .map(|(l, _)| l.diff_id.clone())
                        .collect::<Vec<_>>(),
                )
                .build()?,
        )
        .history(history)
        .build()?;
    let config = write_blob(out, MediaType::ImageConfig, &canonical_json(&config)?)?;
    let layers = spec
        .layers
        .iter()
        .map(|(l, _)| {
            DescriptorBuilder::default()
                .media_type(MediaType::ImageLayerGzip)
                .digest(l.digest.parse::<oci_spec::image::Digest>()?)
                .size(l.size)
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect::<Result<Vec<_>>>()?;
    let manifest: ImageManifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .annotations(HashMap::from([(
            "org.opencontainers.image.version".to_owned(),
            spec.tag.clone(),
        )]))
        .build()?;
    let mut descriptor = write_blob(out, MediaType::ImageManifest, &canonical_json(&manifest)?)?;
    descriptor.set_platform(Some(
        PlatformBuilder::default()
            .architecture(arch)
            .os(Os::Linux)
            .build()?,
    ));
    descriptor.set_annotations(Some(HashMap::from([(
        REF_NAME.to_owned(),
        spec.tag.clone(),
    )])));
    let index: ImageIndex = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor.clone()])
        .build()?;
    fs::write(out.join("index.json"), canonical_json(&index)?)?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    fs::write(out.join("oci-layout"), canonical_json(&layout)?)?;
    Ok(descriptor)
}

/// A layout read back and checked.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The manifest's descriptor in `index.json` (digest, size, tag annotation).
    pub descriptor: Descriptor,
    pub config: ImageConfiguration,
    /// The files of all layers, upper layers over lower ones (whiteouts are not used).
    pub files: BTreeMap<String, Listed>,
}

impl Checked {
    /// The manifest's digest, `sha256:<hex>`.
    pub fn digest(&self) -> String {
        self.descriptor.digest().to_string()
    }

    /// The tag `index.json` names.
    #[cfg(test)]
    pub fn tag(&self) -> Option<&str> {
        self.descriptor
            .annotations()
            .as_ref()?
            .get(REF_NAME)
            .map(String::as_str)
    }
}

/// Reads a blob named by a descriptor and checks its digest and size.
pub fn read_blob(out: &Path, descriptor: &Descriptor) -> Result<Vec<u8>> {
    let digest = descriptor.digest().to_string();
    let hex_digest = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("{digest} is not a sha256 digest"))?;
    let path = blobs(out).join(hex_digest);
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let actual = layer::sha256(&bytes);
    ensure!(
        actual == digest,
        "blob {} has digest {actual}, the descriptor says {digest}",
        path.display()
    );
    ensure!(
        descriptor.size() == bytes.len() as u64,
        "blob {digest} has {} bytes, the descriptor says {}",
        bytes.len(),
        descriptor.size()
    );
    Ok(bytes)
}

/// Checks the layout in `out` as a registry client would read it: `oci-layout`, the index (one
/// manifest), the manifest, the config (a numeric non-root user, one diff ID per layer) and
/// every layer (digest, size, diff ID, zero mtimes); returns what it read.
pub fn validate(out: &Path) -> Result<Checked> {
    let layout = oci_spec::image::OciLayout::from_file(out.join("oci-layout"))
        .context("reading oci-layout")?;
    ensure!(
        layout.image_layout_version() == "1.0.0",
        "oci-layout: version {}",
        layout.image_layout_version()
    );
    let index = ImageIndex::from_file(out.join("index.json")).context("reading index.json")?;
    ensure!(index.schema_version() == 2, "index.json: schemaVersion");
    let [descriptor] = index.manifests().as_slice() else {
        bail!(
            "index.json lists {} manifests, not one",
            index.manifests().len()
        );
    };
    ensure!(
        *descriptor.media_type() == MediaType::ImageManifest,
        "index.json: manifest media type {}",
        descriptor.media_type()
    );
    let manifest = ImageManifest::from_reader(read_blob(out, descriptor)?.as_slice())
        .context("the manifest")?;
    ensure!(
        *manifest.config().media_type() == MediaType::ImageConfig,
        "config media type {}",
        manifest.config().media_type()
    );
    let config = ImageConfiguration::from_reader(read_blob(out, manifest.config())?.as_slice())
        .context("the config")?;
    let user = config
        .config()
        .as_ref()
        .and_then(|c| c.user().clone())
        .unwrap_or_default();
    ensure!(
        user.split(':')
            .next()
            .and_then(|u| u.parse::<u32>().ok())
            .is_some_and(|uid| uid != 0),
        "the image's user {user:?} is not a numeric non-root UID"
    );
    let diff_ids = config.rootfs().diff_ids();
    ensure!(
        manifest.layers().len() == diff_ids.len(),
        "the manifest lists {} layers and the config {} diff IDs",
        manifest.layers().len(),
        diff_ids.len()
    );
    let mut files = BTreeMap::new();
    for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
        ensure!(
            *descriptor.media_type() == MediaType::ImageLayerGzip,
            "layer media type {}",
            descriptor.media_type()
        );
        let compressed = read_blob(out, descriptor)?;
        let mut tar = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(compressed.as_slice()),
            &mut tar,
        )
        .context("a layer is not gzip")?;
        let actual = layer::sha256(&tar);
        ensure!(
            *diff_id == actual,
            "layer {} has diff ID {actual}, the config says {diff_id}",
            descriptor.digest()
        );
        files.extend(layer::list(compressed.as_slice())?);
    }
    Ok(Checked {
        descriptor: descriptor.clone(),
        config,
        files,
    })
}

/// Copies (hard-links where possible) a blob into the layout in `out`.
pub fn import_blob(out: &Path, from: &Path, digest: &str) -> Result<()> {
    let to = blobs(out).join(digest.trim_start_matches("sha256:"));
    fs::create_dir_all(blobs(out))?;
    if to.exists() {
        return Ok(());
    }
    if fs::hard_link(from, &to).is_err() {
        fs::copy(from, &to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use oci_spec::image::ConfigBuilder;

    use super::*;
    use crate::image::layer::Entry;

    /// Writes a small one-layer image into `out`; returns its manifest descriptor.
    pub(crate) fn small_image(out: &Path, tag: &str, content: &str) -> Result<Descriptor> {
        let blob = layer::write(
            &blobs(out),
            vec![
                Entry::file("hello", 0o755, content),
                Entry::dir("etc", 0o755),
                Entry::file("etc/motd", 0o644, "hi\n"),
            ],
        )?;
        let config = ConfigBuilder::default()
            .user("1000:1000")
            .entrypoint(vec!["/hello".to_owned()])
            .labels(HashMap::from([
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned()),
                ("c".to_owned(), "3".to_owned()),
            ]))
            .build()?;
        write_image(
            out,
            &ImageSpec {
                layers: vec![(blob, "test".to_owned())],
                config,
                tag: tag.to_owned(),
            },
        )
    }

    #[test]
    fn writes_a_layout_that_validates_and_is_reproducible() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("image");
        let descriptor = small_image(&out, "0.1.0", "#!hello\n")?;
        let checked = validate(&out)?;
        assert_eq!(checked.digest(), descriptor.digest().to_string());
        assert_eq!(checked.tag(), Some("0.1.0"));
        let paths: Vec<&str> = checked.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["etc", "etc/motd", "hello"]);
        assert_eq!(checked.files["hello"].mode, 0o755);
        // Same input, same digests (labels are a HashMap: their order must not leak).
        for i in 0..5 {
            let again = small_image(&dir.path().join(format!("again-{i}")), "0.1.0", "#!hello\n")?;
            assert_eq!(again.digest(), descriptor.digest());
        }
        let other = small_image(&dir.path().join("other"), "0.1.0", "#!bye\n")?;
        assert_ne!(other.digest(), descriptor.digest());
        // Every blob the layout holds is named by its digest.
        for entry in fs::read_dir(blobs(&out))? {
            let entry = entry?;
            let bytes = fs::read(entry.path())?;
            assert_eq!(
                format!("sha256:{}", entry.file_name().to_string_lossy()),
                layer::sha256(&bytes)
            );
        }
        Ok(())
    }

    #[test]
    fn a_corrupted_blob_or_a_root_user_fails_validation() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("image");
        small_image(&out, "t", "x")?;
        let blob_paths: Vec<PathBuf> = fs::read_dir(blobs(&out))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        assert_eq!(blob_paths.len(), 3);
        for blob in &blob_paths {
            let original = fs::read(blob)?;
            let mut corrupted = original.clone();
            corrupted.push(b'\n');
            fs::write(blob, &corrupted)?;
            let error = validate(&out).err().map(|e| format!("{e:#}"));
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("has digest sha256:")),
                "{error:?}"
            );
            fs::write(blob, &original)?;
        }
        validate(&out)?;

        let blob = layer::write(&blobs(&out), vec![Entry::file("x", 0o755, "x")])?;
        write_image(
            &out,
            &ImageSpec {
                layers: vec![(blob, "test".to_owned())],
                config: oci_spec::image::ConfigBuilder::default()
                    .user("0")
                    .build()?,
                tag: "t".to_owned(),
            },
        )?;
        let error = validate(&out).err().map(|e| format!("{e:#}"));
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("not a numeric non-root UID")),
            "{error:?}"
        );
        Ok(())
    }

    #[test]
    fn documents_have_sorted_keys() -> Result<()> {
        let map: HashMap<String, u32> = (0..20).map(|i| (format!("k{i:02}"), i)).collect();
        let json = String::from_utf8(canonical_json(&map)?)?;
        let keys: Vec<usize> = (0..20)
            .map(|i| json.find(&format!("\"k{i:02}\"")).unwrap_or(0))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{json}");
        Ok(())
    }
}
