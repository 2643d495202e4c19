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
