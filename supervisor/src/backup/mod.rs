//! Backups and restore of the workspace: tar+zstd streamed to S3, verified before anything
//! touches the workspace. The wire contract with the operator is `openclaw_api::backup`.

pub mod archive;
pub mod bridge;
pub mod drill;
pub mod manager;
pub mod manifest_file;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod snapshot;
pub mod store;
pub mod upload;

/// An error and all its sources, `outer: inner: innermost` (a source whose text the outer
/// message already ends with is not repeated).
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(error) = source {
        let next = error.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = error.source();
    }
    text
}
