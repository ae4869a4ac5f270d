//! One session: the handshake and `session.update`, then a reader task that does the
//! per-frame work for every frame the server sends. The write half goes to the ticker.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{header::AUTHORIZATION, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async_with_config, MaybeTlsStream, WebSocketStream};

use crate::frame::{self, Event};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type Sink = SplitSink<Ws, Message>;

/// What every session of the process shares (clients/base.py `Window`).
#[derive(Default)]
pub struct Shared {
    /// The measurement window is open: take latency samples.
    pub measuring: AtomicBool,
    /// Sessions whose stream has ended (`response.done`).
    pub done: AtomicUsize,
    pub done_target: usize,
    pub all_done: Notify,
}

impl Shared {
    pub fn new(done_target: usize) -> Self {
        Self {
            done_target,
            ..Self::default()
        }
    }

    fn finish_one(&self) {
        if self.done.fetch_add(1, Relaxed) + 1 >= self.done_target {
            self.all_done.notify_one();
        }
    }
}

/// Read by the orchestrator at the window's edges.
#[derive(Default)]
pub struct Counters {
    /// Decoded audio bytes received.
    pub bytes: AtomicU64,
    pub deltas: AtomicU64,
}

/// What a reader hands back when its stream ends.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Server send time → frame handled, ns, one per audio delta inside the window.
    pub latencies_ns: Vec<i64>,
    pub bad_frames: u64,
    pub first_bad: Option<String>,
    pub server_errors: u64,
    /// A read error other than the end of the connection.
    pub read_error: Option<String>,
}

pub struct Session {
    pub sink: Sink,
    pub counters: Arc<Counters>,
    pub reader: JoinHandle<Outcome>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Connects (TCP_NODELAY, as asyncio and the package set it), sends the `session.update`,
/// and starts the reader.
pub async fn connect(
    url: &str,
    api_key: &str,
    read_buffer: usize,
    shared: Arc<Shared>,
) -> Result<Session, String> {
    let mut req = url
        .into_client_request()
        .map_err(|e| format!("bad URL: {e}"))?;
    let auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
        .map_err(|_| "the API key is not a valid header value".to_owned())?;
    req.headers_mut().insert(AUTHORIZATION, auth);
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let (ws, _response) = connect_async_with_config(req, Some(config), true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sink, stream) = ws.split();
    sink.send(Message::text(frame::SESSION_UPDATE))
        .await
        .map_err(|e| format!("session.update: {e}"))?;
    let counters = Arc::new(Counters::default());
    let reader = tokio::spawn(read(stream, Arc::clone(&counters), shared));
    Ok(Session {
        sink,
        counters,
        reader,
    })
}

async fn read(
    mut stream: SplitStream<Ws>,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut finished = false;
    // Reused for every delta of the session: decoded, counted, dropped.
    let mut pcm = Vec::new();
    let bad = |out: &mut Outcome, e: String| {
        out.bad_frames += 1;
        out.first_bad.get_or_insert(e);
    };
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Text(text)) => match frame::parse(text.as_str(), &mut pcm) {
                Ok(Event::Audio { sent_ns }) => {
                    counters.bytes.fetch_add(pcm.len() as u64, Relaxed);
                    counters.deltas.fetch_add(1, Relaxed);
                    if shared.measuring.load(Relaxed) {
                        out.latencies_ns.push(now_ns() - sent_ns);
                    }
                }
                Ok(Event::ResponseDone) => {
                    if !finished {
                        finished = true;
                        shared.finish_one();
                    }
                }
                Ok(Event::Error) => out.server_errors += 1,
                Ok(Event::Other) => {}
                Err(e) => bad(&mut out, e),
            },
            Ok(Message::Binary(_)) => bad(&mut out, "unexpected binary frame".to_owned()),
            // Pings are answered by tungstenite; after a Close the stream ends.
            Ok(_) => {}
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
            Err(e) => {
                out.read_error = Some(e.to_string());
                break;
            }
        }
    }
    out
}
