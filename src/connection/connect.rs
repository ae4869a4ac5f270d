//! Opening a socket. Everything that can fail here becomes a `ConnectError`
//! whose message never contains a header value or a query string (API keys
//! travel in both).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use super::handshake::{self, Redactor, ResponseHead};
use super::net::NetStream;
use super::socket::Io;
use super::tls;
use crate::audio::b64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectErrorKind {
    InvalidUrl,
    InvalidHeader,
    Timeout,
    Io,
    Tls,
    Proxy,
    /// The server answered the upgrade with a non-101 HTTP status.
    HttpStatus(u16),
    Handshake,
    /// The server closed the connection before the upgrade completed.
    ClosedBeforeReady,
}

/// The reference's message for a socket that closes before it opens.
pub const CLOSED_BEFORE_READY: &str = "WebSocket closed before the connection was ready.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    pub message: String,
}

impl ConnectError {
    pub fn new(kind: ConnectErrorKind, message: impl Into<String>) -> Self {
        ConnectError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone)]
pub struct ConnectConfig {
    pub url: String,
    /// Extra handshake headers, in order. Values are secrets as far as logging goes.
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    pub connect_timeout: Duration,
    /// `http://[user:pass@]host:port` of an HTTP CONNECT proxy.
    pub proxy: Option<String>,
    /// Extra trusted roots (PEM) on top of the platform's.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Secrets to keep out of server-provided text (error bodies).
    pub redactor: Redactor,
}

/// `scheme://host:port/path`, without query or credentials: safe to print.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(p) => format!("{}://{}:{}{}", u.scheme(), host, p, u.path()),
                None => format!("{}://{}{}", u.scheme(), host, u.path()),
            }
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

async fn tcp_via_proxy(proxy: &str, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let p = Url::parse(proxy)
        .map_err(|_| ConnectError::new(ConnectErrorKind::Proxy, "invalid proxy URL"))?;
    if p.scheme() != "http" {
        return Err(ConnectError::new(
            ConnectErrorKind::Proxy,
            format!(
                "unsupported proxy scheme {:?} (only http:// CONNECT proxies)",
                p.scheme()
            ),
        ));
    }
    let phost = p
        .host_str()
        .ok_or_else(|| ConnectError::new(ConnectErrorKind::Proxy, "proxy URL has no host"))?;
    let pport = p.port().unwrap_or(8080);
    let mut s = TcpStream::connect((phost, pport)).await.map_err(|e| {
        ConnectError::new(
            ConnectErrorKind::Proxy,
            format!("cannot reach proxy {phost}:{pport}: {e}"),
        )
    })?;
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if !p.username().is_empty() {
        let decode = |v: &str| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = decode(p.username());
        let pass = decode(p.password().unwrap_or(""));
        let cred = b64::encode(format!("{user}:{pass}").as_bytes());
        req.push_str(&format!("Proxy-Authorization: Basic {cred}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.map_err(|e| {
        ConnectError::new(ConnectErrorKind::Proxy, format!("proxy write failed: {e}"))
    })?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            return Err(ConnectError::new(
                ConnectErrorKind::Proxy,
                "proxy response too long",
            ));
        }
        let n = s.read(&mut chunk).await.map_err(|e| {
            ConnectError::new(ConnectErrorKind::Proxy, format!("proxy read failed: {e}"))
        })?;
        if n == 0 {
            return Err(ConnectError::new(
                ConnectErrorKind::Proxy,
                "proxy closed the connection",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let status_line = head.lines().next().unwrap_or("");
    let ok = status_line
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'));
    if !ok {
        return Err(ConnectError::new(
            ConnectErrorKind::Proxy,
            format!("proxy refused CONNECT: {status_line}"),
        ));
    }
    Ok(s)
}

/// What `open` produces: the transport after the upgrade, and what the
/// server sent right after its 101 answer (WebSocket frames already read).
pub struct Connected {
    pub io: Io,
    pub leftover: Vec<u8>,
    pub subprotocol: Option<String>,
}

fn io_error(stage: &str, e: std::io::Error) -> ConnectError {
    use std::io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::UnexpectedEof | K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted
    ) {
        return ConnectError::new(
            ConnectErrorKind::ClosedBeforeReady,
            format!(
                "{CLOSED_BEFORE_READY} (the server closed the connection during the {stage}: {e})"
            ),
        );
    }
    ConnectError::new(
        ConnectErrorKind::Io,
        format!("I/O error during the {stage}: {e}"),
    )
}

/// Reads a refused answer's body: `Content-Length` bytes, or until the server
/// closes, at most 4 KiB and 1 s (it only decorates the error message).
async fn read_body(stream: &mut NetStream, head: &ResponseHead, mut body: Vec<u8>) -> Vec<u8> {
    let want = head.content_length().unwrap_or(4096).min(4096);
    body.reserve(want.saturating_sub(body.len()));
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while body.len() < want {
            match stream.read_buf(&mut body).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    body.truncate(want);
    body
}

/// The upgrade: request out, response head in; leftover bytes are frames.
async fn upgrade(
    stream: &mut NetStream,
    url: &Url,
    cfg: &ConnectConfig,
) -> Result<(Option<String>, Vec<u8>), ConnectError> {
    let req = handshake::build_request(url, &cfg.headers, &cfg.subprotocols, rand::random())?;
    stream
        .write_all(&req.bytes)
        .await
        .map_err(|e| io_error("handshake", e))?;
    stream.flush().await.map_err(|e| io_error("handshake", e))?;
    // Read straight into one buffer (no chunk array in the future: the
    // connect phase of many sessions at once is what sets the memory peak).
    let mut buf = Vec::with_capacity(1024);
    let head = loop {
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(1024);
        }
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| io_error("handshake", e))?;
        if n == 0 {
            return Err(ConnectError::new(
                ConnectErrorKind::ClosedBeforeReady,
                format!(
                    "{CLOSED_BEFORE_READY} (the server closed the connection during the handshake)"
                ),
            ));
        }
        if let Some(head) = handshake::parse_head(&buf)? {
            break head;
        }
    };
    let rest = buf.split_off(head.len);
    if head.status != 101 {
        let body = read_body(stream, &head, rest).await;
        return Err(handshake::refused(&head, &body, &cfg.redactor));
    }
    let subprotocol = handshake::check_upgrade(&req, &head)?;
    Ok((subprotocol, rest))
}

async fn open_inner(cfg: &ConnectConfig) -> Result<Connected, ConnectError> {
    let url = Url::parse(&cfg.url).map_err(|e| {
        ConnectError::new(ConnectErrorKind::InvalidUrl, format!("invalid URL: {e}"))
    })?;
    let tls = match url.scheme() {
        "ws" => false,
        "wss" => true,
        other => {
            return Err(ConnectError::new(
                ConnectErrorKind::InvalidUrl,
                format!("URL scheme must be ws:// or wss://, not {other:?}"),
            ))
        }
    };
    let host = url
        .host_str()
        .ok_or_else(|| ConnectError::new(ConnectErrorKind::InvalidUrl, "URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    // Checked before any byte is sent: a bad header must not half-open a connection.
    handshake::build_request(&url, &cfg.headers, &cfg.subprotocols, [0; 16])?;

    let tcp = match &cfg.proxy {
        Some(p) => tcp_via_proxy(p, &host, port).await?,
        None => TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| {
                ConnectError::new(
                    ConnectErrorKind::Io,
                    format!("cannot connect to {}: {e}", redact_url(&cfg.url)),
                )
            })?,
    };
    let _ = tcp.set_nodelay(true);

    let mut stream = if tls {
        let config = tls::client_config(cfg.extra_ca_pem.as_deref())?;
        let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|_| {
            ConnectError::new(
                ConnectErrorKind::Tls,
                format!("invalid TLS server name {host:?}"),
            )
        })?;
        let tls_stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| {
                ConnectError::new(
                    ConnectErrorKind::Tls,
                    tls::describe_handshake_error(&host, &e),
                )
            })?;
        NetStream::Tls(Box::new(tls_stream))
    } else {
        NetStream::Plain(tcp)
    };
    let (subprotocol, leftover) = upgrade(&mut stream, &url, cfg).await?;
    let io = match stream {
        NetStream::Plain(tcp) => Io::Plain(Arc::new(tcp)),
        NetStream::Tls(t) => {
            // Plaintext rustls already decrypted stays in the connection; the
            // socket task reads it before waiting for the socket.
            let (tcp, conn) = (*t).into_inner();
            Io::Tls {
                tcp: Arc::new(tcp),
                tls: Box::new(conn),
            }
        }
    };
    Ok(Connected {
        io,
        leftover,
        subprotocol,
    })
}

/// Opens the socket and upgrades it, within `connect_timeout`.
pub async fn open(cfg: &ConnectConfig) -> Result<Connected, ConnectError> {
    match tokio::time::timeout(cfg.connect_timeout, open_inner(cfg)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::new(
            ConnectErrorKind::Timeout,
            format!(
                "connecting to {} timed out after {:.1} s",
                redact_url(&cfg.url),
                cfg.connect_timeout.as_secs_f64()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_query_and_credentials() {
        assert_eq!(
            redact_url("wss://user:pw@api.example.com/v1/realtime?api-key=SECRET&model=x"),
            "wss://api.example.com/v1/realtime"
        );
        assert_eq!(
            redact_url("ws://127.0.0.1:9000/v1?k=s"),
            "ws://127.0.0.1:9000/v1"
        );
        assert_eq!(redact_url("nope"), "<invalid url>");
    }
}
