//! The user guide's YAML blocks, committed verbatim as `tests/fixtures/seed/NN-<name>.yaml`:
//! one loader for the API's schema tests, the operator's builder tests and the cluster tests.

use std::path::{Path, PathBuf};

/// `tests/fixtures/seed` of this workspace.
pub fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/seed")
}

/// Every block as (file name, text), in file-name order (the guide's order).
pub fn seed_blocks() -> Vec<(String, String)> {
    let dir = seed_dir();
    let mut blocks: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, text)
        })
        .collect();
    blocks.sort();
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_block_is_my_agent() {
        let blocks = seed_blocks();
        assert_eq!(blocks.len(), 20);
        assert_eq!(blocks[0].0, "01-my-agent.yaml");
    }
}
