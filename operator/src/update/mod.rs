//! Auto-update: the tags of an instance's repository (`registry`, one listing per repository
//! per interval shared by every instance, `lookups`), and which version it may move to
//! (`version`). The config check against the target, the roll and the rollback as one unit
//! come next.

pub mod lookups;
pub mod registry;
pub mod version;
