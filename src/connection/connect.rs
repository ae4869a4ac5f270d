//! Opening a socket. Everything that can fail here becomes a `ConnectError`
//! whose message never contains a header value or a query string (API keys
//! travel in both).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;
use url::Url;

use super::net::NetStream;
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

#[derive(Debug, Clone)]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    pub message: String,
}

impl ConnectError {
    fn new(kind: ConnectErrorKind, message: impl Into<String>) -> Self {
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
    pub ws: WebSocketConfig,
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

fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let build = |roots: Vec<rustls::pki_types::CertificateDer<'static>>| -> Result<Arc<rustls::ClientConfig>, String> {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    };
    match extra_ca_pem {
        None => DEFAULT
            .get_or_init(|| build(Vec::new()))
            .clone()
            .map_err(|m| ConnectError::new(ConnectErrorKind::Tls, m)),
        Some(pem) => {
            let mut reader = std::io::BufReader::new(pem);
            let roots: Result<Vec<_>, _> = rustls_pemfile::certs(&mut reader).collect();
            let roots = roots.map_err(|e| {
                ConnectError::new(ConnectErrorKind::Tls, format!("bad CA PEM: {e}"))
            })?;
            if roots.is_empty() {
                return Err(ConnectError::new(
                    ConnectErrorKind::Tls,
                    "no certificate in the CA PEM",
                ));
            }
            build(roots).map_err(|m| ConnectError::new(ConnectErrorKind::Tls, m))
        }
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

fn map_ws_error(e: WsError) -> ConnectError {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    let closed_early = match &e {
        WsError::Protocol(ProtocolError::HandshakeIncomplete) => true,
        WsError::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    };
    if closed_early {
        return ConnectError::new(
            ConnectErrorKind::ClosedBeforeReady,
            format!("{CLOSED_BEFORE_READY} (the server closed the connection during the handshake: {e})"),
        );
    }
    match e {
        WsError::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(512)]).into_owned())
                .unwrap_or_default();
            let reason = resp.status().canonical_reason().unwrap_or("");
            let mut msg = format!("server refused the WebSocket upgrade: HTTP {status} {reason}");
            if !body.trim().is_empty() {
                msg.push_str(": ");
                msg.push_str(body.trim());
            }
            ConnectError::new(ConnectErrorKind::HttpStatus(status), msg)
        }
        WsError::Io(io) => ConnectError::new(
            ConnectErrorKind::Io,
            format!("I/O error during handshake: {io}"),
        ),
        WsError::Tls(t) => ConnectError::new(ConnectErrorKind::Tls, format!("TLS error: {t}")),
        other => ConnectError::new(
            ConnectErrorKind::Handshake,
            format!("WebSocket handshake failed: {other}"),
        ),
    }
}

async fn open_inner(
    cfg: &ConnectConfig,
) -> Result<(WebSocketStream<NetStream>, Response), ConnectError> {
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

    let mut request = cfg.url.as_str().into_client_request().map_err(|e| {
        ConnectError::new(ConnectErrorKind::InvalidUrl, format!("invalid URL: {e}"))
    })?;
    {
        let headers = request.headers_mut();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                ConnectError::new(
                    ConnectErrorKind::InvalidHeader,
                    format!("invalid header name {k:?}"),
                )
            })?;
            // The value is never echoed: it may be a key.
            let value = HeaderValue::from_str(v).map_err(|_| {
                ConnectError::new(
                    ConnectErrorKind::InvalidHeader,
                    format!("invalid value for header {k:?} (control characters or non-ASCII)"),
                )
            })?;
            headers.append(name, value);
        }
        if !cfg.subprotocols.is_empty() {
            let joined = cfg.subprotocols.join(", ");
            let value = HeaderValue::from_str(&joined).map_err(|_| {
                ConnectError::new(
                    ConnectErrorKind::InvalidHeader,
                    "invalid subprotocol (control characters or non-ASCII)",
                )
            })?;
            headers.insert("sec-websocket-protocol", value);
        }
    }

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

    let stream = if tls {
        let config = tls_config(cfg.extra_ca_pem.as_deref())?;
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
                    format!("TLS handshake with {host} failed: {e}"),
                )
            })?;
        NetStream::Tls(Box::new(tls_stream))
    } else {
        NetStream::Plain(tcp)
    };

    tokio_tungstenite::client_async_with_config(request, stream, Some(cfg.ws))
        .await
        .map_err(map_ws_error)
}

/// Opens the socket, within `connect_timeout`.
pub async fn open(
    cfg: &ConnectConfig,
) -> Result<(WebSocketStream<NetStream>, Response), ConnectError> {
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

    #[test]
    fn default_tls_config_builds() {
        assert!(tls_config(None).is_ok());
        assert!(tls_config(Some(b"not pem")).is_err());
    }
}
