//! The HTTP upgrade of RFC 6455 for the client role, sans I/O: the request
//! bytes, and the parse and checks of the server's answer.
//!
//! No header value and no query string ever goes into an error message: API
//! keys travel in both. Server-provided text (an error body) is passed through
//! [`Redactor`] before it reaches a message.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use url::Url;

use super::connect::{ConnectError, ConnectErrorKind};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Headers the handshake owns; a user header with one of these names is refused.
const RESERVED: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "content-length",
    "transfer-encoding",
];

/// Replaces secrets (API keys, credential header values) in server-provided
/// text, so a server or proxy that reflects them cannot leak them into an
/// exception, an event or a log.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Secrets shorter than 6 characters are ignored: redacting them would
    /// mangle ordinary words without protecting anything real.
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 6).collect();
        // Longest first, so "Bearer sk-x" is replaced whole before "sk-x".
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// True if `text` contains a secret.
    pub fn finds(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// The request and what is needed to check the answer.
#[derive(Debug, Clone)]
pub struct Request {
    pub bytes: Vec<u8>,
    pub accept: String,
    pub subprotocols: Vec<String>,
}

fn err(kind: ConnectErrorKind, message: impl Into<String>) -> ConnectError {
    ConnectError::new(kind, message)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, spaces and tabs: no CR, LF, NUL or other control bytes
/// (header injection), no non-ASCII.
fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// `Sec-WebSocket-Accept` for `key`.
pub fn accept_of(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Builds the upgrade request for `url` with the caller's headers (in order)
/// and subprotocols. `key_bytes` are 16 random bytes.
pub fn build_request(
    url: &Url,
    headers: &[(String, String)],
    subprotocols: &[String],
    key_bytes: [u8; 16],
) -> Result<Request, ConnectError> {
    let host = url
        .host_str()
        .ok_or_else(|| err(ConnectErrorKind::InvalidUrl, "URL has no host"))?;
    let mut target = url.path().to_owned();
    if target.is_empty() {
        target.push('/');
    }
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
    let mut req = String::with_capacity(256);
    req.push_str("GET ");
    req.push_str(&target);
    req.push_str(" HTTP/1.1\r\n");
    let user_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
    if !user_host {
        req.push_str("Host: ");
        req.push_str(&host_header);
        req.push_str("\r\n");
    }
    req.push_str("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    req.push_str("Sec-WebSocket-Key: ");
    req.push_str(&key);
    req.push_str("\r\n");
    for (k, v) in headers {
        if !is_token(k) {
            return Err(err(
                ConnectErrorKind::InvalidHeader,
                format!("invalid header name {k:?}"),
            ));
        }
        if RESERVED.iter().any(|r| k.eq_ignore_ascii_case(r)) {
            return Err(err(
                ConnectErrorKind::InvalidHeader,
                format!("header {k:?} is set by the WebSocket handshake itself"),
            ));
        }
        // The value is never echoed: it may be a key.
        if !is_header_value(v) {
            return Err(err(
                ConnectErrorKind::InvalidHeader,
                format!("invalid value for header {k:?} (control characters or non-ASCII)"),
            ));
        }
        req.push_str(k);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    if !subprotocols.is_empty() {
        for p in subprotocols {
            if !is_token(p) {
                return Err(err(
                    ConnectErrorKind::InvalidHeader,
                    "invalid subprotocol (it must be an HTTP token: no spaces, commas or control characters)",
                ));
            }
        }
        req.push_str("Sec-WebSocket-Protocol: ");
        req.push_str(&subprotocols.join(", "));
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    Ok(Request {
        bytes: req.into_bytes(),
        accept: accept_of(&key),
        subprotocols: subprotocols.to_vec(),
    })
}

/// The head of the server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    /// Header names lower-cased, values as sent (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// Bytes of the buffer the head took; the rest is WebSocket data (or a body).
    pub len: usize,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Length`, if present and valid.
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Largest response head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// Parses the response head from `buf`; `Ok(None)` when it is not complete yet.
pub fn parse_head(buf: &[u8]) -> Result<Option<ResponseHead>, ConnectError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Ok(Some(ResponseHead {
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or("").to_owned(),
            headers: resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            len,
        })),
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                Err(err(
                    ConnectErrorKind::Handshake,
                    "the server's HTTP response head is larger than 16 KiB",
                ))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(err(
            ConnectErrorKind::Handshake,
            format!("the server's answer is not an HTTP response ({e})"),
        )),
    }
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Checks a 101 answer; returns the selected subprotocol.
pub fn check_upgrade(req: &Request, head: &ResponseHead) -> Result<Option<String>, ConnectError> {
    if !has_token(head.header("upgrade"), "websocket") {
        return Err(err(
            ConnectErrorKind::Handshake,
            "the server answered 101 without `Upgrade: websocket`",
        ));
    }
    if !has_token(head.header("connection"), "upgrade") {
        return Err(err(
            ConnectErrorKind::Handshake,
            "the server answered 101 without `Connection: Upgrade`",
        ));
    }
    match head.header("sec-websocket-accept") {
        Some(a) if a.trim() == req.accept => {}
        Some(_) => {
            return Err(err(
                ConnectErrorKind::Handshake,
                "the server's Sec-WebSocket-Accept does not match the key sent",
            ))
        }
        None => {
            return Err(err(
                ConnectErrorKind::Handshake,
                "the server answered 101 without Sec-WebSocket-Accept",
            ))
        }
    }
    if let Some(ext) = head.header("sec-websocket-extensions") {
        if !ext.trim().is_empty() {
            return Err(err(
                ConnectErrorKind::Handshake,
                "the server selected a WebSocket extension the client did not offer",
            ));
        }
    }
    match head.header("sec-websocket-protocol").map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) => {
            if req.subprotocols.iter().any(|o| o == p) {
                Ok(Some(p.to_owned()))
            } else {
                Err(err(
                    ConnectErrorKind::Handshake,
                    "the server selected a subprotocol the client did not offer",
                ))
            }
        }
    }
}

/// The error for a non-101 answer, with the start of its body (redacted).
pub fn refused(head: &ResponseHead, body: &[u8], redactor: &Redactor) -> ConnectError {
    let status = head.status;
    let mut msg = format!(
        "server refused the WebSocket upgrade: HTTP {status} {}",
        redactor.redact(head.reason.trim())
    );
    let body = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let body = body.trim();
    if !body.is_empty() {
        msg.push_str(": ");
        msg.push_str(&redactor.redact(body));
    }
    ConnectError::new(ConnectErrorKind::HttpStatus(status), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn rfc_6455_accept_example() {
        assert_eq!(
            accept_of("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn request_has_path_query_host_and_headers_in_order() {
        let req = build_request(
            &url("ws://127.0.0.1:8080/v1/realtime?model=gpt"),
            &[
                ("Authorization".into(), "Bearer sk-123".into()),
                ("X-A".into(), "1".into()),
            ],
            &["realtime".into()],
            [0; 16],
        )
        .expect("request");
        let text = String::from_utf8(req.bytes.clone()).expect("ascii");
        assert!(text.starts_with("GET /v1/realtime?model=gpt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        let auth = text.find("Authorization: Bearer sk-123").expect("auth");
        let xa = text.find("X-A: 1").expect("x-a");
        assert!(auth < xa);
        assert!(text.contains("Sec-WebSocket-Protocol: realtime\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let default_port =
            build_request(&url("wss://api.openai.com/v1/realtime"), &[], &[], [1; 16])
                .expect("request");
        let text = String::from_utf8(default_port.bytes).expect("ascii");
        assert!(text.contains("Host: api.openai.com\r\n"));
    }

    #[test]
    fn header_injection_is_refused_without_echoing_the_value() {
        let u = url("ws://h/");
        for (k, v) in [
            ("X-Key", "sk-secret\r\nEvil: 1"),
            ("X-Key", "a\nb"),
            ("X-Key", "nul\0"),
            ("X-Key", "é"),
        ] {
            let e = build_request(&u, &[(k.into(), v.into())], &[], [0; 16]).expect_err("refused");
            assert_eq!(e.kind, ConnectErrorKind::InvalidHeader);
            assert!(!e.message.contains("secret"), "{}", e.message);
        }
        for name in ["Bad Name", "a\r\nb", "", "Sec-WebSocket-Key", "upgrade"] {
            assert!(
                build_request(&u, &[(name.into(), "v".into())], &[], [0; 16]).is_err(),
                "{name:?}"
            );
        }
        for p in ["a b", "a,b", "x\r\n", ""] {
            assert!(
                build_request(&u, &[], &[p.into()], [0; 16]).is_err(),
                "{p:?}"
            );
        }
    }

    fn head(text: &str) -> ResponseHead {
        parse_head(text.as_bytes())
            .expect("http")
            .expect("complete")
    }

    #[test]
    fn upgrade_checks() {
        let req = build_request(&url("ws://h/"), &[], &["realtime".into()], [0; 16]).expect("req");
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: realtime\r\n\r\n",
            req.accept
        );
        assert_eq!(check_upgrade(&req, &head(&ok)), Ok(Some("realtime".into())));
        let bad_accept = ok.replace(&req.accept, "AAAA");
        assert!(check_upgrade(&req, &head(&bad_accept)).is_err());
        let other_proto = ok.replace("Protocol: realtime", "Protocol: chat");
        assert!(check_upgrade(&req, &head(&other_proto)).is_err());
        let ext = ok.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        assert!(check_upgrade(&req, &head(&ext)).is_err());
        assert!(check_upgrade(&req, &head(&ok.replace("Upgrade: WebSocket\r\n", ""))).is_err());
    }

    #[test]
    fn partial_and_leftover_bytes() {
        let text = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n\x01\x02hi";
        assert!(parse_head(&text.as_bytes()[..10]).expect("ok").is_none());
        let h = parse_head(text.as_bytes()).expect("ok").expect("complete");
        assert_eq!(&text.as_bytes()[h.len..], b"\x01\x02hi");
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn refusal_message_redacts_reflected_secrets() {
        let h = head("HTTP/1.1 401 Unauthorized\r\nContent-Length: 40\r\n\r\n");
        let r = Redactor::new([
            "sk-live-123456".to_owned(),
            "Bearer sk-live-123456".to_owned(),
        ]);
        let e = refused(&h, b"{\"error\":\"bad key Bearer sk-live-123456\"}", &r);
        assert_eq!(e.kind, ConnectErrorKind::HttpStatus(401));
        assert!(!e.message.contains("sk-live"), "{}", e.message);
        assert!(e.message.contains("[redacted]"));
        assert!(e.message.contains("HTTP 401 Unauthorized"));
    }

    #[test]
    fn redactor_ignores_short_strings() {
        let r = Redactor::new(["abc".to_owned(), "".to_owned()]);
        assert!(r.is_empty());
        assert_eq!(r.redact("abc"), "abc");
    }
}
