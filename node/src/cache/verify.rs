//! Digests the cache checks downloads against before it stores or serves a byte of them: the
//! hex SHA-256 of content-addressed names (Ollama blobs, PyPI `#sha256=`, `SHA256SUMS`), and the
//! Subresource Integrity strings npm packuments carry (`sha512-<base64>`, several possible, the
//! strongest wins, as npm does) with the legacy hex SHA-1 `shasum` as a last resort.

use base64::Engine;
use sha2::Digest;

/// The SHA-256 of `bytes`, lowercase hex: the name of every blob in the store.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Whether `value` is a lowercase 64-digit hex SHA-256, as blob names must be.
pub(crate) fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The SRI algorithms, strongest first (npm's order of preference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha512,
    Sha384,
    Sha256,
    Sha1,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha512 => "sha512",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha1 => "sha1",
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha512" => Some(Algorithm::Sha512),
            "sha384" => Some(Algorithm::Sha384),
            "sha256" => Some(Algorithm::Sha256),
            "sha1" => Some(Algorithm::Sha1),
            _ => None,
        }
    }
}

/// What a download must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// Lowercase hex SHA-256.
    Sha256Hex(String),
    /// An SRI entry: algorithm and base64 digest.
    Sri(Algorithm, String),
    /// npm's `shasum`: lowercase hex SHA-1.
    Sha1Hex(String),
}

impl Expected {
    /// A hex SHA-256, when `value` is one (case-insensitive).
    pub fn sha256(value: &str) -> Option<Expected> {
        let value = value.trim().to_ascii_lowercase();
        is_sha256_hex(&value).then_some(Expected::Sha256Hex(value))
    }

    /// The strongest check a packument's `dist` allows: an SRI entry of sha512, sha384, sha256
    /// (options after `?` ignored), else the hex `shasum`, else a `sha1-` SRI entry.
    pub fn npm(integrity: Option<&str>, shasum: Option<&str>) -> Option<Expected> {
        let entries: Vec<(Algorithm, &str)> = integrity
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|entry| {
                let (algorithm, rest) = entry.split_once('-')?;
                let digest = rest.split('?').next().unwrap_or(rest);
                Some((Algorithm::from_name(algorithm)?, digest))
            })
            .filter(|(_, digest)| !digest.is_empty())
            .collect();
        let sri = |algorithm: Algorithm| {
            entries
                .iter()
                .find(|(a, _)| *a == algorithm)
                .map(|(a, d)| Expected::Sri(*a, (*d).to_owned()))
        };
        sri(Algorithm::Sha512)
            .or_else(|| sri(Algorithm::Sha384))
            .or_else(|| sri(Algorithm::Sha256))
            .or_else(|| {
                shasum
                    .map(str::trim)
                    .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(|s| Expected::Sha1Hex(s.to_ascii_lowercase()))
            })
            .or_else(|| sri(Algorithm::Sha1))
    }

    /// The digest in the form it is written in the index and in error messages.
    pub fn describe(&self) -> String {
        match self {
            Expected::Sha256Hex(hex) => format!("sha256:{hex}"),
            Expected::Sri(algorithm, digest) => format!("{}-{digest}", algorithm.name()),
            Expected::Sha1Hex(hex) => format!("sha1:{hex}"),
        }
    }

    /// A hasher to feed the download through as it arrives.
    pub fn checker(&self) -> Checker {
        let hasher = match self {
            Expected::Sha256Hex(_) | Expected::Sri(Algorithm::Sha256, _) => {
                Hasher::Sha256(Default::default())
            }
            Expected::Sri(Algorithm::Sha512, _) => Hasher::Sha512(Default::default()),
            Expected::Sri(Algorithm::Sha384, _) => Hasher::Sha384(Default::default()),
            Expected::Sri(Algorithm::Sha1, _) | Expected::Sha1Hex(_) => {
                Hasher::Sha1(Default::default())
            }
        };
        Checker {
            hasher,
            expected: self.clone(),
        }
    }
}

enum Hasher {
    Sha512(sha2::Sha512),
    Sha384(sha2::Sha384),
    Sha256(sha2::Sha256),
    Sha1(sha1::Sha1),
}

/// Hashes a download as it streams in and compares the result with what was expected.
pub(crate) struct Checker {
    hasher: Hasher,
    expected: Expected,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checker({})", self.expected.describe())
    }
}

/// Bytes that do not hash to what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// The digest the document or name promised, as [`Expected::describe`] writes it.
    pub expected: String,
    /// The digest of the bytes received, in the same form.
    pub actual: String,
}

impl Checker {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.hasher {
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
        }
    }

    /// Compares what was fed with the expected digest.
    pub fn finish(self) -> Result<(), Mismatch> {
        let digest = match self.hasher {
            Hasher::Sha512(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
        };
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let actual = match &self.expected {
            Expected::Sha256Hex(_) => Expected::Sha256Hex(hex::encode(&digest)),
            Expected::Sha1Hex(_) => Expected::Sha1Hex(hex::encode(&digest)),
            Expected::Sri(algorithm, _) => Expected::Sri(*algorithm, b64(&digest)),
        };
        if actual == self.expected {
            Ok(())
        } else {
            Err(Mismatch {
                expected: self.expected.describe(),
                actual: actual.describe(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expected: &Expected, bytes: &[u8]) -> Result<(), Mismatch> {
        let mut checker = expected.checker();
        checker.update(bytes);
        checker.finish()
    }

    #[test]
    fn picks_the_strongest_npm_digest() {
        let bytes = b"tarball";
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let sha512 = format!("sha512-{}", b64(&sha2::Sha512::digest(bytes)));
        let sha1 = hex::encode(sha1::Sha1::digest(bytes));
        let both = format!("sha1-xyz {sha512}");
        let expected = Expected::npm(Some(&both), Some(&sha1));
        assert!(matches!(
            expected,
            Some(Expected::Sri(Algorithm::Sha512, _))
        ));
        assert_eq!(expected.as_ref().map(|e| check(e, bytes)), Some(Ok(())));
        let legacy = Expected::npm(None, Some(&sha1));
        assert_eq!(legacy.as_ref().map(|e| check(e, bytes)), Some(Ok(())));
        assert_eq!(Expected::npm(Some("md5-abc"), None), None);
        let wrong = Expected::npm(
            Some(&format!("sha512-{}", b64(&sha2::Sha512::digest(b"x")))),
            None,
        );
        assert!(wrong.is_some_and(|e| check(&e, bytes).is_err()));
    }

    #[test]
    fn describes_digests_and_checks_names() {
        assert_eq!(
            Expected::Sri(Algorithm::Sha384, "abc+/=".into()).describe(),
            "sha384-abc+/="
        );
        assert_eq!(
            Expected::Sha256Hex("ab".repeat(32)).describe(),
            format!("sha256:{}", "ab".repeat(32))
        );
        assert!(is_sha256_hex(&sha256_hex(b"")));
        assert!(!is_sha256_hex("../etc"));
        assert_eq!(Expected::sha256("nope"), None);
    }
}
