//! Path safety of archive entries, decided on bytes alone (no file system): which entry paths
//! may be extracted and which symlink targets stay inside the archive root. One rule for every
//! archive the supervisor unpacks: skill zips, npm tarballs and backups.
//!
//! Refused in entry paths and link targets: absolute paths, `..` (in a target: after a name,
//! or climbing above the root), a backslash (a Windows separator: `a\..\b` means something
//! else to whoever packed it) and NUL.
//!
//! Symlink targets are checked lexically with one rule that stays sound whatever other links
//! the archive holds: a target is relative, and its `..` components all come first, no more of
//! them than the link's directory is deep. Extraction separately refuses any entry whose path
//! goes through a symlink, so every link sits in a real directory at the depth its path says,
//! and resolving names downwards through other such links can never climb out either.

/// Why an entry path is refused.
pub const ABSOLUTE: &str = "absolute path";
/// Why an entry path is refused.
pub const PARENT: &str = "parent directory component";
/// Why an entry path is refused.
pub const BACKSLASH: &str = "backslash in path";
/// Why an entry path is refused.
pub const NUL: &str = "NUL in path";

/// The normal components of an entry path stored in an archive; `.` and empty components are
/// dropped, so `./a//b/` is `a/b` and `./` is the root (no components).
pub fn entry_components(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if raw.contains(&b'\\') {
        return Err(BACKSLASH);
    }
    if raw.contains(&0) {
        return Err(NUL);
    }
    if raw.first() == Some(&b'/') {
        return Err(ABSOLUTE);
    }
    let mut components = Vec::new();
    for component in raw.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err(PARENT),
            name => components.push(name),
        }
    }
    Ok(components)
}

/// Whether a symlink at `link` (its entry components) pointing to `target` stays inside the
/// archive root (see the module docs for the rule).
pub fn link_target_inside(link: &[&[u8]], target: &[u8]) -> bool {
    if target.is_empty()
        || target.first() == Some(&b'/')
        || target.contains(&b'\\')
        || target.contains(&0)
    {
        return false;
    }
    let mut depth = link.len().saturating_sub(1);
    let mut climbing = true;
    for component in target.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." if climbing => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            b".." => return false,
            _ => climbing = false,
        }
    }
    true
}

/// Components joined with `/`, as a manifest and error messages name them (lossy UTF-8).
pub fn display(components: &[&[u8]]) -> String {
    String::from_utf8_lossy(&components.join(&b'/')).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        let ok: [(&str, &[&str]); 6] = [
            ("a", &["a"]),
            ("./a//b/", &["a", "b"]),
            ("./", &[]),
            ("a/./b", &["a", "b"]),
            ("..a/b..", &["..a", "b.."]),
            ("a/.../b", &["a", "...", "b"]),
        ];
        for (raw, expected) in ok {
            let got = entry_components(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let expected: Vec<&[u8]> = expected.iter().map(|s| s.as_bytes()).collect();
            assert_eq!(got, expected, "{raw}");
        }
        let refused = [
            ("/etc/x", ABSOLUTE),
            ("//x", ABSOLUTE),
            ("../evil", PARENT),
            ("a/../../evil", PARENT),
            ("a/..", PARENT),
            ("./..", PARENT),
            // Refused since the skills' rule became the only one (backups took it too).
            ("a\\..\\b", BACKSLASH),
            ("dir\\file", BACKSLASH),
            ("a\0b", NUL),
        ];
        for (raw, reason) in refused {
            assert_eq!(entry_components(raw.as_bytes()), Err(reason), "{raw}");
        }
    }

    #[test]
    fn link_targets() {
        let cases = [
            ("link", "target", true),
            ("link", "./sub/x", true),
            ("link", "dangling-inside", true),
            ("a/link", "../x", true),
            ("a/b/link", "../../x", true),
            ("a/b/link", "../..", true),
            ("a/b/link", "../../../x", false),
            ("link", "../outside", false),
            ("link", "..", false),
            ("a/link", "../../outside", false),
            ("link", "/etc/passwd", false),
            ("link", "", false),
            // `..` after a name could climb out through another symlink (`d -> .`).
            ("link", "d/../x", false),
            ("a/b/link", "x/../../y", false),
            ("link", "a/b/c", true),
            ("link", "..\\x", false),
            ("link", "a\0", false),
        ];
        for (link, target, inside) in cases {
            let link = entry_components(link.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                link_target_inside(&link, target.as_bytes()),
                inside,
                "{} -> {target}",
                display(&link)
            );
        }
    }
}
