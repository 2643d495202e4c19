//! Which OpenClaw version an instance may move to, decided from the tags of its repository:
//! the highest stable version above the one running. Pure: the registry listing is elsewhere.
//!
//! OpenClaw tags releases with calendar versions (`2026.9.6`, sometimes `v2026.9.6`); anything
//! with a suffix (`2026.10.0-beta.1`, `2026.9.6-slim`) or another shape (`latest`, `main`) is
//! not a stable release and is never chosen.

use std::{cmp::Ordering, fmt};

/// A stable release version: three numbers, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    /// Parses a stable tag (`2026.9.6` or `v2026.9.6`); `None` for anything else.
    pub fn parse(tag: &str) -> Option<Self> {
        let text = tag.strip_prefix('v').unwrap_or(tag);
        let mut parts = text.split('.');
        let mut number = || -> Option<u64> {
            let part = parts.next()?;
            // Leading zeros and signs are not release numbers.
            if part.is_empty()
                || !part.bytes().all(|b| b.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return None;
            }
            part.parse().ok()
        };
        let version = Self(number()?, number()?, number()?);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// What auto-update may do for an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The running version is the highest stable one.
    UpToDate,
    /// Move to this tag (as the registry spells it).
    Newer { tag: String, version: Version },
    /// The running tag is not a stable version (`latest`, a pre-release): nothing to compare to.
    UnknownCurrent(String),
}

/// The highest stable tag above `current` among `tags`.
pub fn target<'a>(current: &str, tags: impl IntoIterator<Item = &'a str>) -> Target {
    let Some(running) = Version::parse(current) else {
        return Target::UnknownCurrent(current.to_owned());
    };
    let best = tags
        .into_iter()
        .filter_map(|tag| Version::parse(tag).map(|v| (v, tag)))
        .filter(|(v, _)| *v > running)
        // The same version tagged twice (`2026.9.6` and `v2026.9.6`): prefer the plain one.
        .max_by(|(a, ta), (b, tb)| a.cmp(b).then_with(|| plain_first(ta, tb)));
    match best {
        Some((version, tag)) => Target::Newer {
            tag: tag.to_owned(),
            version,
        },
        None => Target::UpToDate,
    }
}

fn plain_first(a: &str, b: &str) -> Ordering {
    // `max_by` keeps the greater: the tag without `v` compares greater.
    b.starts_with('v').cmp(&a.starts_with('v'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stable_calendar_versions_parse() {
        assert_eq!(Version::parse("2026.9.6"), Some(Version(2026, 9, 6)));
        assert_eq!(Version::parse("v2026.10.0"), Some(Version(2026, 10, 0)));
        for tag in [
            "latest",
            "main",
            "2026.10.0-beta.1",
            "2026.9.6-slim",
            "2026.9",
            "2026.9.6.1",
            "2026.09.6",
            "+2026.9.6",
            "2026..6",
            "",
        ] {
            assert_eq!(Version::parse(tag), None, "{tag}");
        }
    }

    #[test]
    fn versions_compare_numerically_not_as_text() {
        assert!(Version(2026, 10, 0) > Version(2026, 9, 6));
        assert!(Version(2026, 9, 10) > Version(2026, 9, 9));
    }

    #[test]
    fn the_highest_stable_tag_above_the_running_one_is_chosen() {
        let tags = [
            "latest",
            "2026.9.5",
            "2026.9.6",
            "2026.10.0-beta.1",
            "2026.9.10",
            "v2026.9.10",
            "2026.8.1",
        ];
        assert_eq!(
            target("2026.9.6", tags),
            Target::Newer {
                tag: "2026.9.10".into(),
                version: Version(2026, 9, 10)
            }
        );
        assert_eq!(target("2026.9.10", tags), Target::UpToDate);
        // Never a pre-release, never a downgrade.
        assert_eq!(
            target("2026.9.10", ["2026.11.0-rc.1", "2026.9.9"]),
            Target::UpToDate
        );
        assert_eq!(
            target("latest", tags),
            Target::UnknownCurrent("latest".into())
        );
    }
}
