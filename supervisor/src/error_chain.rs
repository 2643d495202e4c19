//! Error text for people and `/status`: an error and all its sources on one line.

/// An error and all its sources, `outer: inner: innermost` (a source whose text the outer
/// message already ends with is not repeated).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("reading x: denied")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn joins_the_sources_once() {
        let inner = || std::io::Error::other("denied");
        assert_eq!(error_chain(&Outer(inner())), "outer: denied");
        assert_eq!(error_chain(&Repeats(inner())), "reading x: denied");
    }
}
