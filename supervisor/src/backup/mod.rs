//! Backups and restore of the workspace: tar+zstd streamed to S3, verified before anything
//! touches the workspace. The wire contract with the operator is `openclaw_api::backup`.

pub mod archive;
