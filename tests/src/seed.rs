//! The YAML blocks of the seed user guide, extracted verbatim from its text.

use std::path::PathBuf;

/// One YAML block of the guide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedBlock {
    /// 1-based line of the guide where the block starts.
    pub line: usize,
    /// The block's text, byte for byte as in the guide (trailing newline added).
    pub yaml: String,
}

impl SeedBlock {
    /// True for a whole `OpenClawInstance` manifest, false for a `spec:` fragment.
    pub fn is_manifest(&self) -> bool {
        self.yaml.starts_with("apiVersion:")
    }
}

/// Directory of the committed seed guide and its extracted fixtures.
pub fn fixtures_dir() -> PathBuf {
    openclaw_testkit::guide::seed_dir()
}

/// The guide's text (a committed copy of the seed user guide, in French).
pub fn guide() -> String {
    std::fs::read_to_string(fixtures_dir().join("guide.fr.txt"))
        .expect("tests/fixtures/seed/guide.fr.txt is committed")
}

/// Extracts every block that starts with `apiVersion:` or `spec:` at column 0 and runs
/// while lines are indented, blank or top-level YAML keys; prose ends a block.
pub fn extract(text: &str) -> Vec<SeedBlock> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !(lines[i].starts_with("apiVersion:") || lines[i] == "spec:") {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len()
            && (lines[i].is_empty() || lines[i].starts_with(' ') || is_top_level_key(lines[i]))
        {
            i += 1;
        }
        let mut end = i;
        while end > start && lines[end - 1].is_empty() {
            end -= 1;
        }
        blocks.push(SeedBlock {
            line: start + 1,
            yaml: format!("{}\n", lines[start..end].join("\n")),
        });
    }
    blocks
}

fn is_top_level_key(line: &str) -> bool {
    let Some((key, rest)) = line.split_once(':') else {
        return false;
    };
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && (rest.is_empty() || rest.starts_with(' '))
}

/// The committed fixture files (`NN-<name>.yaml`), in order.
pub fn fixture_files() -> Vec<(String, String)> {
    openclaw_testkit::guide::seed_blocks()
}

/// Wraps a `spec:` fragment into a whole instance named `name`; manifests are returned as is.
pub fn as_manifest(block: &str, name: &str) -> String {
    if block.starts_with("apiVersion:") {
        return block.to_owned();
    }
    format!(
        "apiVersion: openclaw.rocks/v1alpha1\nkind: OpenClawInstance\nmetadata:\n  name: {name}\n{block}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_the_guide_blocks_verbatim() {
        let blocks = extract(&guide());
        let files = fixture_files();
        assert_eq!(blocks.len(), 20, "the guide has 20 YAML blocks");
        assert_eq!(files.len(), blocks.len(), "one fixture per block");
        for (block, (name, text)) in blocks.iter().zip(&files) {
            assert_eq!(
                &block.yaml, text,
                "{name} differs from the guide's block at line {}",
                block.line
            );
        }
        assert_eq!(blocks.iter().filter(|b| b.is_manifest()).count(), 3);
    }

    #[test]
    fn prose_ends_a_block() {
        let text = "spec:\n  a: 1\n\n  b: 2\nAppliquez-le :\nspec:\n  c: 3\n";
        let blocks = extract(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].yaml, "spec:\n  a: 1\n\n  b: 2\n");
        assert_eq!(blocks[1].line, 6);
    }
}
