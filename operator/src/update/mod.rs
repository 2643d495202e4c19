//! Auto-update: which version an instance may move to (`version`), and, to come, the registry
//! listing, the config check against the target, the roll and the rollback as one unit.

pub mod version;
