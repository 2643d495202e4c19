//! One raw HTTP/1.0 exchange on loopback, for tests that check exactly what goes on the wire.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// Sends `request` (a whole HTTP/1.0 request: line, headers, blank line, body) to `address`,
/// reads the answer to the end, and returns its status code (0 if unreadable) and its body.
pub fn exchange(address: SocketAddr, request: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(parse(&text))
}

fn parse(text: &str) -> (u16, String) {
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn status_code_and_body() {
        assert_eq!(
            parse("HTTP/1.0 202 Accepted\r\nA: b\r\n\r\n{\"x\":1}"),
            (202, "{\"x\":1}".to_owned())
        );
        assert_eq!(parse("garbage"), (0, String::new()));
    }
}
