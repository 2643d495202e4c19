//! A skill's content fingerprint, computed as the clawhub CLI computes it (`update` sends it to
//! `/api/v1/resolve` to recognise the installed version): SHA-256 over the lines
//! `<relpath>:<sha256 of the file>`, sorted as JavaScript's `localeCompare` sorts them, joined by
//! `\n`. Only text files count (by extension), and names starting with `.` and `node_modules`
//! are skipped, as the CLI's walk does.
//!
//! Not reproduced: patterns from a skill's own `.gitignore` / `.clawhubignore` (the CLI honours
//! them); a skill that ships such files and ignores some of its own text files gets another
//! fingerprint here.

use std::{cmp::Ordering, fs, io, path::Path};

use crate::pipeline::cache::sha256_hex;
use sha2::{Digest, Sha256};

/// Extensions the CLI counts as text (clawhub `schema/textFiles.ts`).
pub const TEXT_EXTENSIONS: [&str; 44] = [
    "md", "mdx", "txt", "json", "json5", "yaml", "yml", "toml", "js", "cjs", "mjs", "ts", "mts",
    "cts", "tsx", "jsx", "py", "sh", "ps1", "psm1", "psd1", "r", "rb", "go", "rs", "swift", "kt",
    "java", "cs", "cpp", "c", "h", "hpp", "sql", "csv", "ini", "cfg", "env", "xml", "html", "css",
    "scss", "sass", "svg",
];

/// Whether the CLI counts `rel_path` as text: the part after the last `.` of the whole path.
pub fn is_text(rel_path: &str) -> bool {
    match rel_path.rsplit_once('.') {
        Some((_, ext)) => TEXT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        None => false,
    }
}

/// Fingerprint of `(relpath, sha256)` pairs.
pub fn fingerprint(files: &mut [(String, String)]) -> String {
    files.sort_by(|a, b| locale_compare(&a.0, &b.0));
    let payload = files
        .iter()
        .map(|(p, h)| format!("{p}:{h}"))
        .collect::<Vec<_>>()
        .join("\n");
    hex::encode(Sha256::digest(payload.as_bytes()))
}

/// Fingerprint of the skill installed in `dir`.
pub fn fingerprint_dir(dir: &Path) -> io::Result<String> {
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    Ok(fingerprint(&mut files))
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<(String, String)>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &rel, files)?;
        } else if kind.is_file() && is_text(&rel) {
            files.push((rel, sha256_hex(&fs::read(entry.path())?)));
        }
    }
    Ok(())
}

/// Collation of ASCII under the Unicode root collation Node's ICU uses for `localeCompare`
/// (punctuation not ignorable), from first to last; letters compare without case first.
const ASCII_ORDER: &str = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz";

fn primary(c: char) -> u32 {
    let lower = c.to_ascii_lowercase();
    match ASCII_ORDER.find(lower) {
        Some(i) if c.is_ascii() => i as u32,
        // Control characters are ignorable; anything else after ASCII, by code point.
        _ if c.is_ascii_control() => 0,
        _ => 0x100 + c as u32,
    }
}

/// `a.localeCompare(b)` for the paths of a skill: primary weights first, then lowercase before
/// uppercase at the first case difference, then code points.
pub fn locale_compare(a: &str, b: &str) -> Ordering {
    let keys = |s: &str| {
        s.chars()
            .filter(|c| !c.is_ascii_control())
            .map(primary)
            .collect::<Vec<_>>()
    };
    keys(a)
        .cmp(&keys(b))
        .then_with(|| {
            a.chars()
                .zip(b.chars())
                .find(|(x, y)| x != y)
                .map_or(Ordering::Equal, |(x, y)| {
                    x.is_ascii_uppercase().cmp(&y.is_ascii_uppercase())
                })
        })
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_node_locale_compare() {
        // Expected order printed by Node 24 (`arr.sort((a, b) => a.localeCompare(b))`).
        let expected = [
            "_meta.json",
            "a b.md",
            "a_b.md",
            "a-b.md",
            "a.b/c.md",
            "a.md",
            "A.md",
            "a/b.md",
            "a~.md",
            "a$.md",
            "a0.md",
            "ab.md",
            "aB.md",
            "Ab.md",
            "b.md",
            "README.md",
            "scripts/hello.sh",
            "SKILL.md",
        ];
        let mut shuffled: Vec<&str> = expected.iter().rev().copied().collect();
        shuffled.sort_by(|a, b| locale_compare(a, b));
        assert_eq!(shuffled, expected);
    }

    #[test]
    fn fingerprint_matches_the_cli_construction() {
        let mut files = vec![
            ("scripts/hello.sh".to_owned(), sha256_hex(b"echo hi\n")),
            ("SKILL.md".to_owned(), sha256_hex(b"# Test\n")),
        ];
        let expected = sha256_hex(
            format!(
                "scripts/hello.sh:{}\nSKILL.md:{}",
                sha256_hex(b"echo hi\n"),
                sha256_hex(b"# Test\n")
            )
            .as_bytes(),
        );
        assert_eq!(fingerprint(&mut files), expected);
    }

    #[test]
    fn walks_text_files_only_skipping_dot_entries() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        fs::create_dir_all(root.join("scripts"))?;
        fs::create_dir_all(root.join(".clawhub"))?;
        fs::create_dir_all(root.join("node_modules/x"))?;
        fs::write(root.join("SKILL.md"), "# Test\n")?;
        fs::write(root.join("scripts/hello.sh"), "echo hi\n")?;
        fs::write(root.join(".clawhub/origin.json"), "{}")?;
        fs::write(root.join("node_modules/x/index.js"), "")?;
        fs::write(root.join("logo.png"), [0u8, 1, 2])?;
        fs::write(root.join("Makefile"), "all:")?;
        let mut expected = vec![
            ("SKILL.md".to_owned(), sha256_hex(b"# Test\n")),
            ("scripts/hello.sh".to_owned(), sha256_hex(b"echo hi\n")),
        ];
        assert_eq!(fingerprint_dir(root)?, fingerprint(&mut expected));
        assert!(is_text("a/B.MD") && !is_text("Makefile") && !is_text("dir.v2/Makefile"));
        Ok(())
    }
}
