//! Request paths, checked before anything is looked up or fetched: the cache builds upstream
//! URLs and index keys from these segments, so a segment that could climb out of a base URL
//! (`..`, an encoded `/` or `\`), or that carries control characters, is refused with 400.

use super::error::Failure;

const MAX_SEGMENT: usize = 255;
const MAX_PATH: usize = 4096;

/// The percent-decoded segments of `raw` (the part of the path after a route's prefix, without
/// a leading slash). One trailing slash is allowed and dropped. Every segment must be non-empty,
/// valid UTF-8, not `.` or `..`, and free of `/`, `\`, `?`, `#` and control characters.
pub(crate) fn segments(raw: &str) -> Result<Vec<String>, Failure> {
    if raw.len() > MAX_PATH {
        return Err(Failure::bad_request("the path is too long"));
    }
    let raw = raw.strip_suffix('/').unwrap_or(raw);
    raw.split('/').map(segment).collect()
}

fn segment(raw: &str) -> Result<String, Failure> {
    let refuse = || Failure::bad_request(format!("refused path segment {raw:?}"));
    let decoded = decode(raw).ok_or_else(refuse)?;
    if !plain(&decoded) {
        return Err(refuse());
    }
    Ok(decoded)
}

/// Whether a decoded segment or query value is safe to put in an upstream URL or an index key:
/// non-empty, not `.` or `..`, without `/`, `\`, `?`, `#` or control characters.
pub(crate) fn plain(decoded: &str) -> bool {
    let bad_char = |c: char| c.is_control() || matches!(c, '/' | '\\' | '?' | '#');
    !(decoded.is_empty()
        || decoded == "."
        || decoded == ".."
        || decoded.len() > MAX_SEGMENT
        || decoded.chars().any(bad_char))
}

/// Percent-decodes `raw`; `None` for a malformed escape or bytes that are not UTF-8.
pub(crate) fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Checks a `Host` header value before it goes into rewritten URLs: a host name or address and
/// an optional port, nothing that could end the URL's authority early.
pub(crate) fn host(value: Option<&axum::http::HeaderValue>) -> Result<String, Failure> {
    let value = value
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Failure::bad_request("a Host header is required to rewrite URLs"))?;
    let ok = !value.is_empty()
        && value.len() <= 255
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Failure::bad_request(format!(
            "refused Host header {value:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_climbing_segments() {
        assert_eq!(
            segments("a/b%2Bc/").ok(),
            Some(vec!["a".to_owned(), "b+c".to_owned()])
        );
        for bad in [
            "..", "a/../b", "%2e%2e/x", "a%2Fb", "a%5Cb", "a//b", "%zz", "a%00",
        ] {
            assert!(segments(bad).is_err(), "{bad}");
        }
    }
}
