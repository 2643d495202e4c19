//! A client of the npm registry protocol, as npm itself uses it: the package document
//! (`GET <registry>/<name>`, abbreviated form), the version a spec selects (exact version,
//! dist-tag or semver range), the tarball (`dist.tarball`) and its checksum (`dist.integrity`,
//! an SRI string, else the SHA-1 `dist.shasum`). Selection and verification are pure functions.

use std::{collections::BTreeMap, time::Duration};

use base64::Engine;
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::Digest;

use crate::pipeline::http::{self, HttpError, RetryPolicy};

/// npm's default registry, used when no mirror is configured.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";

/// Largest package document accepted (pnpm's is about 3.5 MB).
const MAX_PACKUMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest tarball accepted.
pub const MAX_TARBALL_BYTES: u64 = 200 * 1024 * 1024;

/// The abbreviated package document ("corgi") with only what installing needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Packument {
    /// Tags to versions (`latest`, `next-10`, ...).
    #[serde(default, rename = "dist-tags")]
    pub dist_tags: BTreeMap<String, String>,
    /// Published versions.
    #[serde(default)]
    pub versions: BTreeMap<String, Manifest>,
}

/// One published version.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The version, as published.
    #[serde(default)]
    pub version: String,
    /// Where the tarball is and its checksums.
    #[serde(default)]
    pub dist: Dist,
    /// Runtime dependencies (installed with npm when any).
    #[serde(default)]
    pub dependencies: BTreeMap<String, String>,
    /// Optional dependencies (installed with npm when any).
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, String>,
}

/// `dist` of a version.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Dist {
    /// URL of the `.tgz`.
    #[serde(default)]
    pub tarball: String,
    /// Subresource Integrity string, e.g. `sha512-<base64>` (several, space separated).
    #[serde(default)]
    pub integrity: Option<String>,
    /// SHA-1 of the tarball, hex (older packages have only this).
    #[serde(default)]
    pub shasum: Option<String>,
}

/// Why the registry could not give a package.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No such package.
    #[error("package {package} not found on {registry}")]
    NotFound { package: String, registry: String },
    /// No version matches the spec.
    #[error("no version of {package} on {registry} matches {spec:?}")]
    NoMatch {
        package: String,
        spec: String,
        registry: String,
    },
    /// The version has no tarball URL.
    #[error("{package}@{version} on {registry} has no dist.tarball")]
    NoTarball {
        package: String,
        version: String,
        registry: String,
    },
    /// Any other HTTP failure.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The package document is not the documented JSON.
    #[error("unexpected package document from {url}")]
    Decode {
        url: String,
        #[source]
        error: serde_json::Error,
    },
    /// The tarball does not match the registry's checksum.
    #[error("refused {package}@{version}")]
    Integrity {
        package: String,
        version: String,
        #[source]
        error: IntegrityError,
    },
}

/// Why a tarball's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// The checksum differs.
    #[error(
        "the tarball's {algorithm} does not match: the registry says {expected}, the tarball has {actual}"
    )]
    Mismatch {
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    /// The registry gave no checksum this client can check.
    #[error("the registry gives no sha512/sha384/sha256/sha1 checksum for the tarball")]
    Missing,
}

/// Picks the version `spec` selects: none, empty or `latest` means the `latest` tag; else an
/// exact version, a dist-tag, or a semver range (`10`, `^10.2`, `>=1.2 <2`, `1.x || 2.x`), the
/// newest matching release winning. A full version that is not published matches nothing.
pub fn pick<'a>(packument: &'a Packument, spec: Option<&str>) -> Option<&'a Manifest> {
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("latest");
    if let Some(manifest) = packument.versions.get(spec) {
        return Some(manifest);
    }
    if let Some(version) = packument.dist_tags.get(spec) {
        return packument.versions.get(version);
    }
    if semver::Version::parse(spec.trim_start_matches(['=', 'v'])).is_ok() {
        return None;
    }
    let alternatives: Vec<semver::VersionReq> = spec
        .split("||")
        .map(|alt| {
            let alt = alt.trim();
            if matches!(alt, "" | "*" | "x" | "X") {
                Ok(semver::VersionReq::STAR)
            } else {
                semver::VersionReq::parse(&alt.split_whitespace().collect::<Vec<_>>().join(","))
            }
        })
        .collect::<Result<_, _>>()
        .ok()?;
    packument
        .versions
        .iter()
        .filter_map(|(v, m)| Some((semver::Version::parse(v).ok()?, m)))
        .filter(|(v, _)| alternatives.iter().any(|req| req.matches(v)))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, m)| m)
}

/// The hash a tarball is checked with, chosen before it downloads.
enum Hasher {
    Sha512(sha2::Sha512),
    Sha384(sha2::Sha384),
    Sha256(sha2::Sha256),
    /// `shasum`: hex.
    Sha1Hex(sha1::Sha1),
    /// A `sha1-` SRI entry: base64.
    Sha1Sri(sha1::Sha1),
}

/// Checks a tarball against the strongest checksum its `dist` gives (npm's order: sha512,
/// sha384, sha256, then the legacy sha1 of `shasum` or `integrity`), fed as it downloads.
pub struct Checker {
    hasher: Hasher,
    algorithm: &'static str,
    expected: String,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checker({} {})", self.algorithm, self.expected)
    }
}

impl Checker {
    /// The check `dist` asks for.
    pub fn for_dist(dist: &Dist) -> Result<Checker, IntegrityError> {
        let sri: Vec<(&str, &str)> = dist
            .integrity
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|entry| {
                let (algorithm, rest) = entry.split_once('-')?;
                // An SRI entry may carry options after `?`.
                Some((algorithm, rest.split('?').next().unwrap_or(rest)))
            })
            .collect();
        let sri_of = |algorithm: &str| {
            sri.iter()
                .find(|(a, _)| *a == algorithm)
                .map(|(_, e)| (*e).to_owned())
        };
        let (hasher, algorithm, expected) = if let Some(e) = sri_of("sha512") {
            (Hasher::Sha512(Default::default()), "sha512", e)
        } else if let Some(e) = sri_of("sha384") {
            (Hasher::Sha384(Default::default()), "sha384", e)
        } else if let Some(e) = sri_of("sha256") {
            (Hasher::Sha256(Default::default()), "sha256", e)
        } else if let Some(e) = dist.shasum.as_deref().filter(|s| !s.is_empty()) {
            (
                Hasher::Sha1Hex(Default::default()),
                "sha1",
                e.to_ascii_lowercase(),
            )
        } else if let Some(e) = sri_of("sha1") {
            (Hasher::Sha1Sri(Default::default()), "sha1", e)
        } else {
            return Err(IntegrityError::Missing);
        };
        Ok(Checker {
            hasher,
            algorithm,
            expected,
        })
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.hasher {
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha1Hex(h) | Hasher::Sha1Sri(h) => h.update(bytes),
        }
    }

    /// Whether what was fed matches.
    pub fn finish(self) -> Result<(), IntegrityError> {
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let actual = match self.hasher {
            Hasher::Sha512(h) => b64(&h.finalize()),
            Hasher::Sha384(h) => b64(&h.finalize()),
            Hasher::Sha256(h) => b64(&h.finalize()),
            Hasher::Sha1Hex(h) => hex::encode(h.finalize()),
            Hasher::Sha1Sri(h) => b64(&h.finalize()),
        };
        if actual == self.expected {
            Ok(())
        } else {
            Err(IntegrityError::Mismatch {
                algorithm: self.algorithm,
                expected: self.expected,
                actual,
            })
        }
    }
}

/// The URL of a package document: scoped names keep their `@` and encode the `/`.
pub fn packument_url(registry: &str, package: &str) -> String {
    format!(
        "{}/{}",
        registry.trim_end_matches('/'),
        package.replace('/', "%2F")
    )
}

/// Where to download a tarball: a mirror that copies npmjs.org's documents verbatim still
/// serves the tarballs itself (npm's `replace-registry-host=npmjs`).
pub fn tarball_url(registry: &str, tarball: &str) -> String {
    let registry = registry.trim_end_matches('/');
    match tarball.strip_prefix(DEFAULT_REGISTRY) {
        Some(rest) if registry != DEFAULT_REGISTRY && rest.starts_with('/') => {
            format!("{registry}{rest}")
        }
        _ => tarball.to_owned(),
    }
}

/// An npm registry (or a mirror of one).
#[derive(Debug, Clone)]
pub struct Registry<'a> {
    pub http: &'a reqwest::Client,
    /// Base URL, e.g. `https://registry.npmjs.org`.
    pub base: &'a str,
    pub retry: RetryPolicy,
}

impl Registry<'_> {
    /// The package document of `package`.
    pub async fn packument(&self, package: &str) -> Result<Packument, RegistryError> {
        let url = packument_url(self.base, package);
        let response = http::send(&self.retry, || {
            self.http
                .get(&url)
                .header(
                    reqwest::header::ACCEPT,
                    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
                )
                .timeout(Duration::from_secs(60))
        })
        .await
        .map_err(|e| match e {
            HttpError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            } => RegistryError::NotFound {
                package: package.into(),
                registry: self.base.into(),
            },
            e => e.into(),
        })?;
        let body = http::body_limited(response, MAX_PACKUMENT_BYTES).await?;
        serde_json::from_slice(&body).map_err(|error| RegistryError::Decode { url, error })
    }

    /// The version of `package` that `spec` selects, with a tarball URL.
    pub async fn resolve(
        &self,
        package: &str,
        spec: Option<&str>,
    ) -> Result<Manifest, RegistryError> {
        let packument = self.packument(package).await?;
        let manifest = pick(&packument, spec)
            .cloned()
            .ok_or_else(|| RegistryError::NoMatch {
                package: package.into(),
                spec: spec.unwrap_or("latest").into(),
                registry: self.base.into(),
            })?;
        if manifest.dist.tarball.is_empty() {
            return Err(RegistryError::NoTarball {
                package: package.into(),
                version: manifest.version,
                registry: self.base.into(),
            });
        }
        Ok(manifest)
    }

    /// Starts downloading the tarball of `manifest` (read its body with a size limit).
    pub async fn tarball(&self, manifest: &Manifest) -> Result<reqwest::Response, RegistryError> {
        let url = tarball_url(self.base, &manifest.dist.tarball);
        Ok(http::send(&self.retry, || {
            self.http.get(&url).timeout(Duration::from_secs(300))
        })
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packument(versions: &[&str], latest: &str) -> Packument {
        Packument {
            dist_tags: BTreeMap::from([
                ("latest".to_owned(), latest.to_owned()),
                ("next-10".to_owned(), "10.1.0".to_owned()),
            ]),
            versions: versions
                .iter()
                .map(|v| {
                    (
                        (*v).to_owned(),
                        Manifest {
                            version: (*v).to_owned(),
                            ..Manifest::default()
                        },
                    )
                })
                .collect(),
        }
    }

    fn verify(bytes: &[u8], dist: &Dist) -> Result<(), IntegrityError> {
        let mut checker = Checker::for_dist(dist)?;
        checker.update(bytes);
        checker.finish()
    }

    fn picked(p: &Packument, spec: Option<&str>) -> Option<String> {
        pick(p, spec).map(|m| m.version.clone())
    }

    #[test]
    fn picks_like_npm() {
        let p = packument(
            &[
                "9.15.0",
                "10.0.0",
                "10.1.0",
                "10.34.9",
                "11.0.0-rc.1",
                "11.2.0",
            ],
            "11.2.0",
        );
        assert_eq!(picked(&p, None).as_deref(), Some("11.2.0"));
        assert_eq!(picked(&p, Some("latest")).as_deref(), Some("11.2.0"));
        assert_eq!(picked(&p, Some("10")).as_deref(), Some("10.34.9"));
        assert_eq!(picked(&p, Some("^10.0.0")).as_deref(), Some("10.34.9"));
        assert_eq!(picked(&p, Some("10.0.0")).as_deref(), Some("10.0.0"));
        assert_eq!(picked(&p, Some("next-10")).as_deref(), Some("10.1.0"));
        assert_eq!(picked(&p, Some(">=9 <10")).as_deref(), Some("9.15.0"));
        assert_eq!(picked(&p, Some("9.x || 10.0.x")).as_deref(), Some("10.0.0"));
        assert_eq!(
            picked(&p, Some("11")).as_deref(),
            Some("11.2.0"),
            "no prerelease"
        );
        assert_eq!(picked(&p, Some("*")).as_deref(), Some("11.2.0"));
        assert_eq!(picked(&p, Some("10.0.1")), None, "an unpublished version");
        assert_eq!(picked(&p, Some("12")), None);
        assert_eq!(picked(&p, Some("nonsense tag")), None);
    }

    #[test]
    fn verifies_the_strongest_checksum() {
        let bytes = b"tarball bytes";
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let sha512 = format!("sha512-{}", b64(&sha2::Sha512::digest(bytes)));
        let sha1 = hex::encode(sha1::Sha1::digest(bytes));
        let dist = |integrity: Option<&str>, shasum: Option<&str>| Dist {
            tarball: String::new(),
            integrity: integrity.map(str::to_owned),
            shasum: shasum.map(str::to_owned),
        };
        assert_eq!(verify(bytes, &dist(Some(&sha512), None)), Ok(()));
        assert_eq!(
            verify(bytes, &dist(Some(&format!("sha1-abc {sha512}")), None)),
            Ok(())
        );
        assert_eq!(verify(bytes, &dist(None, Some(&sha1))), Ok(()));
        let other = format!("sha512-{}", b64(&sha2::Sha512::digest(b"other")));
        // A wrong sha512 is refused even when the sha1 matches.
        assert!(matches!(
            verify(bytes, &dist(Some(&other), Some(&sha1))),
            Err(IntegrityError::Mismatch {
                algorithm: "sha512",
                ..
            })
        ));
        assert!(matches!(
            verify(bytes, &dist(None, Some("0000"))),
            Err(IntegrityError::Mismatch {
                algorithm: "sha1",
                ..
            })
        ));
        assert_eq!(
            verify(bytes, &dist(Some("md5-xyz"), None)),
            Err(IntegrityError::Missing)
        );
    }

    #[test]
    fn urls_follow_the_registry() {
        assert_eq!(
            packument_url("http://mirror/npm/", "@openclaw/matrix"),
            "http://mirror/npm/@openclaw%2Fmatrix"
        );
        assert_eq!(
            tarball_url(
                "http://mirror/npm/",
                "https://registry.npmjs.org/pnpm/-/pnpm-10.0.0.tgz"
            ),
            "http://mirror/npm/pnpm/-/pnpm-10.0.0.tgz"
        );
        assert_eq!(
            tarball_url(DEFAULT_REGISTRY, "https://registry.npmjs.org/p/-/p-1.tgz"),
            "https://registry.npmjs.org/p/-/p-1.tgz"
        );
        assert_eq!(
            tarball_url("http://mirror", "http://cdn/p-1.tgz"),
            "http://cdn/p-1.tgz"
        );
    }
}
