//! Answers built from the store: documents from memory, blobs streamed from their file. Blobs
//! honour a single `Range` (206 with `Content-Range`): Ollama downloads a blob in parallel
//! parts with range requests and copies as many bytes as each part wants, so a full 200 to a
//! range request would corrupt the model; uv reads wheel metadata the same way. Several ranges
//! in one request are answered with the whole blob, which HTTP allows.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::error::Failure;

/// A document (JSON, HTML, text) with its content type.
pub(crate) fn document(bytes: Bytes, content_type: &str) -> Response {
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

/// A blob streamed from `file` (at its start, `size` bytes), honouring the request's `Range`.
pub(crate) async fn blob(
    mut file: tokio::fs::File,
    size: u64,
    content_type: &'static str,
    request: &HeaderMap,
    extra: &[(header::HeaderName, HeaderValue)],
) -> Result<Response, Failure> {
    let range = request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, size));
    let (status, start, len) = match range {
        None => (StatusCode::OK, 0, size),
        Some(Range::Unsatisfiable) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
        Some(Range::Bytes(start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| Failure::bad_gateway(format!("failed to read a stored blob: {e}")))?;
    }
    let body = Body::from_stream(ReaderStream::with_capacity(file.take(len), 256 * 1024));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    for (name, value) in extra {
        headers.insert(name.clone(), value.clone());
    }
    Ok(response)
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Inclusive first and last byte.
    Bytes(u64, u64),
    Unsatisfiable,
}

/// A single byte range of a `size`-byte blob; `None` (serve it all) for anything else.
fn parse_range(value: &str, size: u64) -> Option<Range> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 || size == 0 {
            return Some(Range::Unsatisfiable);
        }
        return Some(Range::Bytes(size - suffix.min(size), size - 1));
    }
    let first: u64 = first.parse().ok()?;
    let last = if last.is_empty() {
        size.saturating_sub(1)
    } else {
        let last: u64 = last.parse().ok()?;
        if last < first {
            return None;
        }
        last.min(size.saturating_sub(1))
    };
    if first >= size {
        return Some(Range::Unsatisfiable);
    }
    Some(Range::Bytes(first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Range::Bytes(0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some(Range::Bytes(90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some(Range::Bytes(90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Range::Bytes(50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), Some(Range::Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
    }
}
