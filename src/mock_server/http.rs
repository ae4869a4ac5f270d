//! The HTTP/1.1 request head, read by hand before tungstenite sees the
//! stream: the server must answer `GET /stats` (no upgrade), refuse upgrades
//! with a chosen status, delay them, and record every header, which is
//! simpler with the raw head than through tungstenite's accept callback.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request head accepted (the SDK sends ~1 KB).
pub const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub path: String,
    pub query: String,
    /// Names lowercased, values trimmed, in order (duplicates kept).
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of a header (`name` in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Comma-separated values of every occurrence of a header, trimmed.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// True if a comma-separated header contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Decoded query parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    }
}

/// Index just past the blank line ending the head, if it is complete.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Parses a complete head (up to and including the blank line).
pub fn parse_head(buf: &[u8]) -> Result<RequestHead, String> {
    let text = std::str::from_utf8(buf).map_err(|_| "request head is not UTF-8".to_owned())?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line {request_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported HTTP version {version:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("malformed header name {name:?}"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    Ok(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
    })
}

#[derive(Debug)]
pub enum HeadError {
    /// The peer closed before sending a full head.
    Eof,
    TooLarge,
    Malformed(String),
    Io(std::io::Error),
}

/// Reads until the end of the head; returns it and any bytes read past it
/// (which belong to the WebSocket stream and are handed to tungstenite).
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Eof);
        }
        // Only the new bytes (plus 3 of overlap) can complete the terminator.
        let search_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf[search_from..]).map(|e| e + search_from) {
            let head = parse_head(&buf[..end]).map_err(HeadError::Malformed)?;
            return Ok((head, buf[end..].to_vec()));
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A complete response with a body (`Connection: close`).
pub fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON error body shaped like the real API's HTTP errors.
pub fn json_error(status: u16, message: &str, error_type: &str, code: Option<&str>) -> Vec<u8> {
    let body = serde_json::json!({
        "error": {"message": message, "type": error_type, "param": null, "code": code}
    });
    response(status, "application/json", body.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"GET /v1/realtime?model=gpt-realtime&x=a%20b HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: realtime, openai-insecure-api-key.k\r\n\
Authorization: Bearer sk-test\r\n\r\n";

    #[test]
    fn parses_a_handshake() {
        let end = find_head_end(HEAD).expect("complete");
        assert_eq!(end, HEAD.len());
        let h = parse_head(&HEAD[..end]).expect("valid");
        assert_eq!(
            (h.method.as_str(), h.path.as_str()),
            ("GET", "/v1/realtime")
        );
        assert_eq!(
            h.query_pairs(),
            vec![
                ("model".to_owned(), "gpt-realtime".to_owned()),
                ("x".to_owned(), "a b".to_owned())
            ]
        );
        assert!(h.is_websocket_upgrade());
        assert!(h.has_token("connection", "upgrade"));
        assert_eq!(
            h.list("sec-websocket-protocol"),
            vec!["realtime", "openai-insecure-api-key.k"]
        );
        assert_eq!(h.header("authorization"), Some("Bearer sk-test"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_head(b"GET\r\n\r\n").is_err());
        assert!(parse_head(b"GET / SPDY/3\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n").is_err());
        assert!(find_head_end(b"GET / HTTP/1.1\r\n").is_none());
    }

    #[tokio::test]
    async fn read_head_keeps_the_rest() {
        let mut data = HEAD.to_vec();
        data.extend_from_slice(b"\x81\x05hello");
        let mut reader = &data[..];
        let (head, rest) = read_head(&mut reader).await.expect("head");
        assert_eq!(head.path, "/v1/realtime");
        assert_eq!(rest, b"\x81\x05hello");
        let mut short: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(read_head(&mut short).await, Err(HeadError::Eof)));
    }
}
