//! Auto-update: the tags of an instance's repository (`registry`, one listing per repository
//! per interval shared by every instance, `lookups`), which version it may move to
//! (`version`), the configuration key changes between releases (`key_changes`), the state machine of an update (`machine`: backup, roll, health, rollback as
//! one unit, pause) and the conditions it reports (`conditions`). The controller's step
//! (`controller::update`) does the I/O.

pub mod conditions;
pub mod key_changes;
pub mod lookups;
pub mod machine;
pub mod registry;
pub mod version;

/// An error and its sources, on one line.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
