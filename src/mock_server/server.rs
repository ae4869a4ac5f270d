//! Sockets: the accept loop, the handshake (recording, auth, rejections,
//! `GET /stats`), and one I/O task per WebSocket that moves frames between
//! the socket and its `Session`.
//!
//! Each connection task owns its socket outright and multiplexes four
//! sources with `select!` (biased, in this order): control commands from
//! Python, client frames, keepalive pings, and the active response's next
//! due frames. Reading has priority over streaming, so a `response.cancel`
//! is handled before the next audio delta even when replies are unpaced.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use super::config::MockConfig;
use super::events::ErrorBody;
use super::http::{self, HeadError, RequestHead};
use super::script::Script;
use super::session::{Session, SessionEnv, Target};
use super::{unix_ns, Counters};
use crate::audio::b64;

type Ws = WebSocketStream<TcpStream>;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the peer's close frame after sending ours.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `stop()` waits for connections to close before aborting them.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A command from the Python side to one connection.
#[derive(Debug)]
pub enum Control {
    Text(String),
    Binary(Vec<u8>),
    Close {
        code: u16,
        reason: String,
    },
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Stop reading (no pongs, no events): a dead peer.
    Freeze,
}

/// What the handshake looked like.
#[derive(Debug, Clone)]
pub struct HandshakeInfo {
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    pub selected_subprotocol: Option<String>,
    pub peer: String,
    pub connected_at_unix_s: f64,
}

#[derive(Debug, Clone, Default)]
pub struct ConnStatus {
    /// The HTTP status answered to the upgrade (101, or `reject_status`);
    /// `None` while the handshake is still pending.
    pub http_status: Option<u16>,
    pub open: bool,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    /// "client", "server", "dropped" or "error".
    pub closed_by: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Json,
    Raw,
    Binary,
}

struct RecordedFrame {
    kind: Recorded,
    /// The mock answered it with an `error` event.
    rejected: bool,
    event_type: Option<String>,
    /// JSON text, raw text, or base64 of a binary frame.
    text: String,
}

pub struct Conn {
    pub id: usize,
    pub info: HandshakeInfo,
    status: Mutex<ConnStatus>,
    received: Mutex<Vec<RecordedFrame>>,
    sent: Mutex<Vec<String>>,
    pub counters: Arc<Counters>,
    ctrl: mpsc::UnboundedSender<Control>,
}

/// A copy of one connection's record, for the bindings.
#[derive(Debug, Clone)]
pub struct ConnSnapshot {
    pub id: usize,
    pub info: HandshakeInfo,
    pub status: ConnStatus,
}

struct Shared {
    config: Arc<MockConfig>,
    scripts: Arc<Mutex<VecDeque<Script>>>,
    conns: Mutex<Vec<Arc<Conn>>>,
    tasks: Mutex<Vec<AbortHandle>>,
    started: Instant,
    stopping: AtomicBool,
    http_requests: AtomicU64,
}

impl Shared {
    fn track(&self, handle: AbortHandle) {
        let mut tasks = self.tasks.lock();
        // Keep the list short under load: forget finished tasks now and then.
        if tasks.len() >= 64 && tasks.len().is_power_of_two() {
            tasks.retain(|t| !t.is_finished());
        }
        tasks.push(handle);
    }

    fn register(&self, info: HandshakeInfo, ctrl: mpsc::UnboundedSender<Control>) -> Arc<Conn> {
        let mut conns = self.conns.lock();
        let conn = Arc::new(Conn {
            id: conns.len(),
            info,
            status: Mutex::new(ConnStatus::default()),
            received: Mutex::new(Vec::new()),
            sent: Mutex::new(Vec::new()),
            counters: Arc::new(Counters::default()),
            ctrl,
        });
        conns.push(conn.clone());
        conn
    }

    fn stats(&self) -> Value {
        let conns = self.conns.lock().clone();
        let mut out = serde_json::Map::new();
        out.insert(
            "uptime_s".into(),
            json!(self.started.elapsed().as_secs_f64()),
        );
        // A string: JSON numbers lose precision past 2**53 in most parsers.
        out.insert("time_unix_ns".into(), json!(unix_ns().to_string()));
        out.insert("connections_total".into(), json!(conns.len()));
        out.insert(
            "http_requests".into(),
            json!(self.http_requests.load(Ordering::Relaxed)),
        );
        let mut totals = serde_json::Map::new();
        for (name, _) in Counters::default().snapshot() {
            totals.insert(name.into(), json!(0u64));
        }
        let mut per = Vec::with_capacity(conns.len());
        let mut open = 0;
        for c in &conns {
            let status = c.status.lock().clone();
            open += usize::from(status.open);
            let mut entry = serde_json::Map::new();
            entry.insert("id".into(), json!(c.id));
            entry.insert("open".into(), json!(status.open));
            entry.insert("path".into(), json!(c.info.path));
            entry.insert("http_status".into(), json!(status.http_status));
            entry.insert("close_code".into(), json!(status.close_code));
            for (name, v) in c.counters.snapshot() {
                entry.insert(name.into(), json!(v));
                let t = totals.entry(name).or_insert(json!(0u64));
                *t = json!(t.as_u64().unwrap_or(0) + v);
            }
            per.push(Value::Object(entry));
        }
        out.insert("connections_open".into(), json!(open));
        // Totals sit at the top level next to the per-connection list.
        out.extend(totals);
        out.insert("connections".into(), Value::Array(per));
        Value::Object(out)
    }
}

/// A running mock server. Dropping it aborts every task (use `stop` for a
/// clean shutdown with close frames).
pub struct MockServerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: AbortHandle,
}

impl Drop for MockServerHandle {
    fn drop(&mut self) {
        self.accept.abort();
        for t in self.shared.tasks.lock().iter() {
            t.abort();
        }
    }
}

impl MockServerHandle {
    /// Binds and starts accepting. Must run inside a tokio runtime (the
    /// tasks are spawned on the current one).
    pub async fn start(host: &str, port: u16, config: MockConfig) -> io::Result<MockServerHandle> {
        let listener = TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            scripts: Arc::new(Mutex::new(config.script_queue())),
            config: Arc::new(config),
            conns: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
            started: Instant::now(),
            stopping: AtomicBool::new(false),
            http_requests: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(shared.clone(), listener)).abort_handle();
        Ok(MockServerHandle {
            shared,
            addr,
            accept,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    pub fn connections(&self) -> Vec<ConnSnapshot> {
        self.shared
            .conns
            .lock()
            .iter()
            .map(|c| ConnSnapshot {
                id: c.id,
                info: c.info.clone(),
                status: c.status.lock().clone(),
            })
            .collect()
    }

    fn selected(&self, conn: Option<usize>) -> Result<Vec<Arc<Conn>>, String> {
        let conns = self.shared.conns.lock();
        match conn {
            None => Ok(conns.clone()),
            Some(i) => conns
                .get(i)
                .cloned()
                .map(|c| vec![c])
                .ok_or_else(|| format!("no connection {i} (there are {})", conns.len())),
        }
    }

    /// Client frames as a JSON array (`None`: every connection, in order).
    /// Invalid JSON is `{"__raw__": text}`, binary frames `{"__binary__": base64}`.
    pub fn received_json(
        &self,
        conn: Option<usize>,
        event_type: Option<&str>,
    ) -> Result<String, String> {
        let mut out = String::from("[");
        for c in self.selected(conn)? {
            for f in c.received.lock().iter() {
                if event_type.is_some_and(|t| f.event_type.as_deref() != Some(t)) {
                    continue;
                }
                if out.len() > 1 {
                    out.push(',');
                }
                match f.kind {
                    Recorded::Json if f.rejected => match serde_json::from_str::<Value>(&f.text) {
                        Ok(Value::Object(mut m)) => {
                            m.insert("__invalid__".into(), Value::Bool(true));
                            out.push_str(&Value::Object(m).to_string());
                        }
                        _ => out.push_str(&f.text),
                    },
                    Recorded::Json => out.push_str(&f.text),
                    Recorded::Raw => out.push_str(&json!({"__raw__": f.text}).to_string()),
                    Recorded::Binary => out
                        .push_str(&json!({"__binary__": f.text, "__invalid__": true}).to_string()),
                }
            }
        }
        out.push(']');
        Ok(out)
    }

    /// Number of recorded client events (of a type).
    pub fn received_count(
        &self,
        conn: Option<usize>,
        event_type: Option<&str>,
    ) -> Result<usize, String> {
        Ok(self
            .selected(conn)?
            .iter()
            .map(|c| {
                c.received
                    .lock()
                    .iter()
                    .filter(|f| event_type.is_none_or(|t| f.event_type.as_deref() == Some(t)))
                    .count()
            })
            .sum())
    }

    /// Server events the mock generated, as a JSON array (frames injected
    /// with `Control::Text` are not included).
    pub fn sent_json(&self, conn: Option<usize>) -> Result<String, String> {
        let mut out = String::from("[");
        for c in self.selected(conn)? {
            for text in c.sent.lock().iter() {
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(text);
            }
        }
        out.push(']');
        Ok(out)
    }

    /// Sends a command to a connection (`None`: the latest one).
    pub fn control(&self, conn: Option<usize>, cmd: Control) -> Result<(), String> {
        let c = {
            let conns = self.shared.conns.lock();
            match conn {
                None => conns.last().cloned().ok_or("no connection yet")?,
                Some(i) => conns
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("no connection {i}"))?,
            }
        };
        if !c.status.lock().open {
            return Err(format!("connection {} is not open", c.id));
        }
        c.ctrl
            .send(cmd)
            .map_err(|_| format!("connection {} is not open", c.id))
    }

    /// Replaces the queue of scripted responses.
    pub fn set_responses(&self, scripts: Vec<Script>) {
        *self.shared.scripts.lock() = scripts.into();
    }

    pub fn stats_json(&self) -> String {
        self.shared.stats().to_string()
    }

    /// Closes every connection with 1001, stops listening, and waits (up to
    /// a few seconds) for the connection tasks to end.
    pub async fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.accept.abort();
        let conns = self.shared.conns.lock().clone();
        for c in conns {
            let _ = c.ctrl.send(Control::Close {
                code: 1001,
                reason: "server shutting down".into(),
            });
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self
                .shared
                .tasks
                .lock()
                .iter()
                .all(AbortHandle::is_finished)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in self.shared.tasks.lock().drain(..) {
            t.abort();
        }
        for c in self.shared.conns.lock().iter() {
            let mut s = c.status.lock();
            if s.open {
                s.open = false;
                s.closed_by.get_or_insert("server");
            }
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                // Small frames (deltas) must not wait for Nagle.
                let _ = tcp.set_nodelay(true);
                let task = tokio::spawn(handle_socket(shared.clone(), tcp, peer));
                shared.track(task.abort_handle());
            }
            Err(e) => {
                // Typically EMFILE under a load test: back off instead of spinning.
                log::warn!("mock server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn is_realtime_path(path: &str) -> bool {
    path == "/v1/realtime" || path.ends_with("/realtime")
}

async fn handle_socket(shared: Arc<Shared>, mut tcp: TcpStream, peer: SocketAddr) {
    let (head, rest) = match tokio::time::timeout(HEAD_TIMEOUT, http::read_head(&mut tcp)).await {
        Ok(Ok(x)) => x,
        Ok(Err(HeadError::TooLarge)) => {
            let _ = tcp
                .write_all(&http::json_error(
                    431,
                    "Request head too large.",
                    "invalid_request_error",
                    None,
                ))
                .await;
            return;
        }
        Ok(Err(HeadError::Malformed(e))) => {
            let _ = tcp
                .write_all(&http::json_error(400, &e, "invalid_request_error", None))
                .await;
            return;
        }
        Ok(Err(HeadError::Eof | HeadError::Io(_))) | Err(_) => return,
    };
    if !head.is_websocket_upgrade() {
        shared.http_requests.fetch_add(1, Ordering::Relaxed);
        let _ = tcp.write_all(&plain_http(&shared, &head)).await;
        let _ = tcp.shutdown().await;
        return;
    }
    if !is_realtime_path(&head.path) {
        let msg = format!(
            "Invalid URL (GET {}): no WebSocket endpoint here; use /v1/realtime.",
            head.path
        );
        let _ = tcp
            .write_all(&http::json_error(404, &msg, "invalid_request_error", None))
            .await;
        return;
    }
    let key = head.header("sec-websocket-key").map(str::to_owned);
    let Some(key) = key.filter(|_| head.header("sec-websocket-version") == Some("13")) else {
        let msg = "A WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13.";
        let _ = tcp
            .write_all(&http::json_error(400, msg, "invalid_request_error", None))
            .await;
        return;
    };
    let cfg = shared.config.clone();
    let subprotocols = head.list("sec-websocket-protocol");
    let selected = subprotocols
        .iter()
        .any(|p| p == "realtime")
        .then(|| "realtime".to_owned());
    let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
    let conn = shared.register(
        HandshakeInfo {
            path: head.path.clone(),
            query: head.query_pairs(),
            headers: head.headers.clone(),
            subprotocols: subprotocols.clone(),
            selected_subprotocol: selected.clone(),
            peer: peer.to_string(),
            connected_at_unix_s: unix_ns() as f64 / 1e9,
        },
        ctrl_tx,
    );
    if cfg.handshake_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.handshake_delay_ms)).await;
    }
    if shared.stopping.load(Ordering::SeqCst) {
        return;
    }
    if let Some(status) = cfg.reject_status {
        conn.status.lock().http_status = Some(status);
        let msg =
            format!("The mock server was configured to refuse the upgrade with HTTP {status}.");
        let _ = tcp
            .write_all(&http::json_error(
                status,
                &msg,
                "invalid_request_error",
                Some("mock_rejected"),
            ))
            .await;
        let _ = tcp.shutdown().await;
        return;
    }
    let fatal = handshake_error(&cfg, &head, &conn.info);
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(p) = &selected {
        response.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    response.push_str("\r\n");
    if tcp.write_all(response.as_bytes()).await.is_err() {
        conn.status.lock().closed_by = Some("error");
        return;
    }
    // NOTE: 16 KiB read buffer (the default 128 KiB costs 128 MB at 1,000
    // connections); no frame size limit below the 64 MiB message limit, as
    // one append may carry 15 MiB of audio (20 MiB of base64).
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let ws = WebSocketStream::from_partially_read(tcp, rest, Role::Server, Some(ws_config)).await;
    {
        let mut s = conn.status.lock();
        s.http_status = Some(101);
        s.open = true;
    }
    let target = Target {
        model: conn
            .info
            .query
            .iter()
            .find(|(k, _)| k == "model")
            .map(|(_, v)| v.clone()),
        intent: conn
            .info
            .query
            .iter()
            .find(|(k, _)| k == "intent")
            .map(|(_, v)| v.clone()),
    };
    let env = SessionEnv {
        config: cfg,
        scripts: shared.scripts.clone(),
        counters: conn.counters.clone(),
    };
    let session = Session::new(env, &target);
    run_connection(conn, ws, ctrl_rx, session, fatal, shared.config.clone()).await;
}

/// Answers a non-upgrade request: `GET /stats`, a liveness page, or an error.
fn plain_http(shared: &Shared, head: &RequestHead) -> Vec<u8> {
    if head.method != "GET" {
        return http::json_error(
            405,
            "Only GET is served here.",
            "invalid_request_error",
            None,
        );
    }
    if head.path == "/stats" || head.path.ends_with("/stats") {
        return http::response(
            200,
            "application/json",
            shared.stats().to_string().as_bytes(),
        );
    }
    if head.path == "/" || head.path == "/health" {
        return http::response(
            200,
            "text/plain; charset=utf-8",
            b"realtime-ws mock server\n",
        );
    }
    if is_realtime_path(&head.path) {
        return http::json_error(
            426,
            "This endpoint speaks WebSocket only.",
            "invalid_request_error",
            None,
        );
    }
    http::json_error(
        404,
        &format!("Invalid URL (GET {})", head.path),
        "invalid_request_error",
        None,
    )
}

/// A failure the real server reports after the upgrade: an `error` event,
/// then a close with `code` and reason `<error.type>.<error.code>`.
struct Fatal {
    error: ErrorBody,
    close_code: u16,
}

fn handshake_error(cfg: &MockConfig, head: &RequestHead, info: &HandshakeInfo) -> Option<Fatal> {
    if let Some(key) = &cfg.api_key {
        let bearer = head
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        let via_header = bearer == Some(key.as_str());
        let via_subprotocol = info
            .subprotocols
            .iter()
            .any(|p| p.strip_prefix("openai-insecure-api-key.") == Some(key.as_str()));
        if !(via_header || via_subprotocol) {
            // Never echo the key (or what was sent instead).
            let message = if bearer.is_none()
                && !info
                    .subprotocols
                    .iter()
                    .any(|p| p.starts_with("openai-insecure-api-key."))
            {
                "You didn't provide an API key. Provide it in an Authorization header (Bearer auth) or in the openai-insecure-api-key subprotocol."
            } else {
                "Incorrect API key provided."
            };
            return Some(Fatal {
                error: ErrorBody::invalid("invalid_api_key", message),
                close_code: 3000,
            });
        }
    }
    let beta_header = head
        .list("openai-beta")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("realtime=v1"));
    let beta_subprotocol = info
        .subprotocols
        .iter()
        .any(|p| p == "openai-beta.realtime-v1");
    if cfg.reject_beta && (beta_header || beta_subprotocol) {
        return Some(Fatal {
            error: ErrorBody::invalid(
                "beta_api_shape_disabled",
                "The beta Realtime API shape is disabled for this model; connect without the OpenAI-Beta: realtime=v1 header.",
            ),
            close_code: 4000,
        });
    }
    let has = |k: &str| {
        info.query
            .iter()
            .any(|(name, v)| name == k && !v.is_empty())
    };
    if cfg.require_model && !(has("model") || has("call_id") || has("intent")) {
        return Some(Fatal {
            error: ErrorBody::invalid(
                "missing_model",
                "You must provide a model parameter (e.g. ?model=gpt-realtime), a call_id or an intent.",
            ),
            close_code: 4000,
        });
    }
    None
}

/// Sends frames (recording them when configured), then flushes once.
async fn send_frames(
    ws: &mut Ws,
    conn: &Conn,
    record: bool,
    frames: Vec<String>,
) -> Result<(), ()> {
    if frames.is_empty() {
        return Ok(());
    }
    let n = frames.len() as u64;
    for f in frames {
        if record {
            conn.sent.lock().push(f.clone());
        }
        ws.feed(Message::text(f)).await.map_err(|_| ())?;
    }
    ws.flush().await.map_err(|_| ())?;
    Counters::add(&conn.counters.events_sent, n);
    Ok(())
}

/// Sends a close frame and waits (briefly) for the peer's.
async fn close_ws(ws: &mut Ws, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    if ws.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Records a client text frame: a JSON object as is (with its type, for
/// filtering), anything else as raw text.
fn record_text(conn: &Conn, text: &str, rejected: bool) {
    let frame = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => RecordedFrame {
            kind: Recorded::Json,
            rejected,
            event_type: m.get("type").and_then(Value::as_str).map(str::to_owned),
            text: text.to_owned(),
        },
        _ => RecordedFrame {
            kind: Recorded::Raw,
            rejected,
            event_type: None,
            text: text.to_owned(),
        },
    };
    conn.received.lock().push(frame);
}

fn set_closed(conn: &Conn, by: &'static str, code: Option<u16>, reason: Option<String>) {
    let mut s = conn.status.lock();
    s.open = false;
    if s.closed_by.is_none() {
        s.closed_by = Some(by);
        s.close_code = code;
        s.close_reason = reason;
    }
}

async fn ping_tick(ping: &mut Option<tokio::time::Interval>) {
    match ping {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn run_connection(
    conn: Arc<Conn>,
    mut ws: Ws,
    mut ctrl: mpsc::UnboundedReceiver<Control>,
    mut session: Session,
    fatal: Option<Fatal>,
    cfg: Arc<MockConfig>,
) {
    let record = cfg.record;
    if let Some(f) = fatal {
        let frames = session.error_frame(&f.error);
        let reason = format!(
            "{}.{}",
            f.error.error_type,
            f.error.code.as_deref().unwrap_or("error")
        );
        let _ = send_frames(&mut ws, &conn, record, frames).await;
        close_ws(&mut ws, f.close_code, &reason).await;
        set_closed(&conn, "server", Some(f.close_code), Some(reason));
        return;
    }
    if send_frames(&mut ws, &conn, record, session.opening())
        .await
        .is_err()
    {
        set_closed(&conn, "error", None, None);
        return;
    }
    if let Some(c) = &cfg.close_after_open {
        close_ws(&mut ws, c.code, &c.reason).await;
        set_closed(&conn, "server", Some(c.code), Some(c.reason.clone()));
        return;
    }
    let mut ping = cfg.ping_interval_s.map(|s| {
        let period = Duration::from_secs_f64(s);
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut ping_seq: u32 = 0;
    let mut frozen = false;
    loop {
        let due = if frozen { None } else { session.next_due() };
        tokio::select! {
            biased;
            cmd = ctrl.recv() => match cmd {
                None => break,
                Some(Control::Text(t)) => {
                    if ws.send(Message::text(t)).await.is_err() {
                        set_closed(&conn, "error", None, None);
                        break;
                    }
                }
                Some(Control::Binary(b)) => {
                    if ws.send(Message::binary(b)).await.is_err() {
                        set_closed(&conn, "error", None, None);
                        break;
                    }
                }
                Some(Control::Close { code, reason }) => {
                    close_ws(&mut ws, code, &reason).await;
                    set_closed(&conn, "server", Some(code), Some(reason));
                    break;
                }
                Some(Control::Drop) => {
                    set_closed(&conn, "dropped", None, None);
                    break;
                }
                Some(Control::Freeze) => frozen = true,
            },
            msg = ws.next(), if !frozen => match msg {
                None => {
                    set_closed(&conn, "client", None, None);
                    break;
                }
                Some(Err(e)) => {
                    set_closed(&conn, "error", None, Some(e.to_string()));
                    break;
                }
                Some(Ok(Message::Text(t))) => {
                    Counters::add(&conn.counters.events_received, 1);
                    let out = session.on_text(t.as_str(), Instant::now());
                    if record {
                        record_text(&conn, t.as_str(), session.last_rejected());
                    }
                    if send_frames(&mut ws, &conn, record, out).await.is_err() {
                        set_closed(&conn, "error", None, None);
                        break;
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    Counters::add(&conn.counters.events_received, 1);
                    if record {
                        let text = b64::encode(&b);
                        conn.received.lock().push(RecordedFrame { kind: Recorded::Binary, rejected: true, event_type: None, text });
                    }
                    let out = session.on_binary();
                    if send_frames(&mut ws, &conn, record, out).await.is_err() {
                        set_closed(&conn, "error", None, None);
                        break;
                    }
                }
                Some(Ok(Message::Pong(_))) => Counters::add(&conn.counters.pongs_received, 1),
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite queues the close reply; keep polling until
                    // the stream ends so that it is flushed.
                    let (code, reason) = match frame {
                        Some(f) => (Some(u16::from(f.code)), Some(f.reason.to_string())),
                        None => (None, None),
                    };
                    set_closed(&conn, "client", code, reason);
                }
                Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
            },
            _ = ping_tick(&mut ping), if ping.is_some() && !frozen => {
                ping_seq = ping_seq.wrapping_add(1);
                let payload = Bytes::copy_from_slice(&ping_seq.to_be_bytes());
                if ws.send(Message::Ping(payload)).await.is_err() {
                    set_closed(&conn, "error", None, None);
                    break;
                }
                Counters::add(&conn.counters.pings_sent, 1);
            },
            _ = sleep_until_due(due), if due.is_some() => {
                let out = session.step(Instant::now());
                if send_frames(&mut ws, &conn, record, out).await.is_err() {
                    set_closed(&conn, "error", None, None);
                    break;
                }
            },
        }
    }
    set_closed(&conn, "client", None, None);
}

async fn sleep_until_due(due: Option<Instant>) {
    // Frames already due go out at once: going through the timer would cost a
    // whole timer tick (1 ms) per step and cap an unpaced reply at ~1000 events/s.
    if let Some(at) = due {
        if at > Instant::now() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
    }
}

#[cfg(test)]
mod tests;
