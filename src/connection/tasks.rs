//! One socket = a reader task and a writer task over the two halves of the
//! stream, so a pending receive never delays a send. Sends arrive through an
//! unbounded channel (callers never block); the writer batches whatever is
//! queued into one flush. Keepalive: every frame received counts as proof of
//! life; after `ping_interval` of silence the writer pings, and after a further
//! `ping_timeout` of silence the peer is declared dead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::net::NetStream;
use crate::session::monotonic_ms;

type Ws = WebSocketStream<NetStream>;

/// A frame for the writer.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    /// Send a close frame, then wait up to `close_timeout` for the peer's.
    Close {
        code: u16,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    pub ping_interval: Option<Duration>,
    pub ping_timeout: Duration,
    pub close_timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// How a socket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEnd {
    /// A close frame was received (`code`, `reason`), or the stream ended
    /// without one (`code: None`).
    Closed { code: Option<u16>, reason: String },
    /// The socket failed: I/O error, protocol violation, dead peer, or the
    /// peer never answered our close frame.
    Error(String),
}

/// Receives what the reader reads. Implemented by the bindings.
pub trait FrameSink: Send + Sync + 'static {
    fn on_text(&self, text: Utf8Bytes);
    fn on_binary(&self, data: Bytes);
    /// Called exactly once, after both tasks have stopped.
    fn on_end(&self, end: SocketEnd);
    /// True while the consumer is too far behind; the reader then stops
    /// reading (TCP backpressure) until `capacity()` is notified.
    fn over_limit(&self) -> bool {
        false
    }
    fn capacity(&self) -> Option<&Notify> {
        None
    }
}

/// Why the writer stopped the reader.
#[derive(Debug, Clone)]
enum Abort {
    None,
    Error(String),
}

struct Shared {
    last_rx_ms: AtomicU64,
}

impl Shared {
    fn touch(&self) {
        self.last_rx_ms
            .store(monotonic_ms() as u64, Ordering::Relaxed);
    }
    fn silent_for(&self) -> Duration {
        let last = self.last_rx_ms.load(Ordering::Relaxed);
        Duration::from_millis((monotonic_ms() as u64).saturating_sub(last))
    }
}

/// Runs the socket until it ends, then calls `sink.on_end` once.
pub async fn spawn_session(
    ws: Ws,
    rx: mpsc::UnboundedReceiver<Outgoing>,
    sink: Arc<dyn FrameSink>,
    opts: SessionOptions,
) {
    let (write, read) = ws.split();
    let shared = Arc::new(Shared {
        last_rx_ms: AtomicU64::new(monotonic_ms() as u64),
    });
    let (abort_tx, abort_rx) = watch::channel(Abort::None);
    let (stop_tx, stop_rx) = watch::channel(false);
    let writer = tokio::spawn(writer_loop(
        write,
        rx,
        shared.clone(),
        abort_tx,
        stop_rx,
        opts,
    ));
    let end = reader_loop(read, sink.as_ref(), &shared, abort_rx).await;
    let _ = stop_tx.send(true);
    // The writer only needs to flush a pending close reply; don't wait forever.
    let mut writer = writer;
    if tokio::time::timeout(Duration::from_secs(1), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    sink.on_end(end);
}

async fn reader_loop(
    mut read: SplitStream<Ws>,
    sink: &dyn FrameSink,
    shared: &Shared,
    abort: watch::Receiver<Abort>,
) -> SocketEnd {
    // One future for the whole loop: building a fresh watch `changed()` future
    // for every frame showed up in profiles at a few hundred sessions.
    let aborted = aborted(abort);
    tokio::pin!(aborted);
    let mut close: Option<(Option<u16>, String)> = None;
    loop {
        let next = tokio::select! {
            biased;
            msg = &mut aborted => {
                // A close frame already received says more than the writer's failure.
                return match close {
                    Some((code, reason)) => SocketEnd::Closed { code, reason },
                    None => SocketEnd::Error(msg),
                };
            }
            next = read.next() => next,
        };
        match next {
            None => {
                let (code, reason) =
                    close.unwrap_or((None, "connection closed without a close frame".into()));
                return SocketEnd::Closed { code, reason };
            }
            Some(Ok(msg)) => {
                shared.touch();
                match msg {
                    Message::Text(t) => sink.on_text(t),
                    Message::Binary(b) => sink.on_binary(b),
                    Message::Close(frame) => {
                        close = Some(match frame {
                            Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                            None => (Some(1005), String::new()),
                        });
                    }
                    // Pings are answered by tungstenite itself; pongs only prove liveness.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
                if sink.over_limit() {
                    if let Some(cap) = sink.capacity() {
                        while sink.over_limit() {
                            tokio::select! {
                                _ = cap.notified() => {}
                                msg = &mut aborted => return SocketEnd::Error(msg),
                            }
                        }
                    }
                }
            }
            Some(Err(WsError::ConnectionClosed)) | Some(Err(WsError::AlreadyClosed)) => {
                let (code, reason) = close.unwrap_or((None, "connection closed".into()));
                return SocketEnd::Closed { code, reason };
            }
            Some(Err(e)) => {
                if let Some((code, reason)) = close {
                    // The peer closed properly; a reset afterwards is not an error.
                    return SocketEnd::Closed { code, reason };
                }
                return SocketEnd::Error(describe(&e));
            }
        }
    }
}

/// Resolves with the writer's failure message; never resolves if the writer
/// ends without one.
async fn aborted(mut abort: watch::Receiver<Abort>) -> String {
    loop {
        if abort.changed().await.is_err() {
            return std::future::pending().await;
        }
        if let Abort::Error(msg) = abort.borrow_and_update().clone() {
            return msg;
        }
    }
}

/// True for send errors that only mean "the close handshake has started":
/// the reader will report how the socket ended, so the writer just stops.
fn is_closing_error(e: &WsError) -> bool {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    matches!(
        e,
        WsError::ConnectionClosed
            | WsError::AlreadyClosed
            | WsError::Protocol(ProtocolError::SendAfterClosing)
    )
}

fn describe(e: &WsError) -> String {
    match e {
        WsError::Io(io) => format!("socket I/O error: {io}"),
        WsError::Protocol(p) => format!("WebSocket protocol error: {p}"),
        WsError::Capacity(c) => format!("frame too large: {c}"),
        WsError::Utf8(_) => "server sent a text frame that is not valid UTF-8".to_owned(),
        other => format!("WebSocket error: {other}"),
    }
}

async fn writer_loop(
    mut write: SplitSink<Ws, Message>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
    abort: watch::Sender<Abort>,
    mut stop: watch::Receiver<bool>,
    opts: SessionOptions,
) {
    // Built once, polled by reference (see `reader_loop`).
    let stopped = async move {
        let _ = stop.changed().await;
    };
    tokio::pin!(stopped);
    let tick_every = opts
        .ping_interval
        .map(|i| (i / 4).clamp(Duration::from_millis(10), Duration::from_secs(5)));
    let mut ticker = tick_every.map(|d| {
        let mut t = tokio::time::interval(d);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut last_ping = std::time::Instant::now();
    let mut closing = false;
    let fail = |msg: String| {
        let _ = abort.send(Abort::Error(msg));
    };
    loop {
        let tick = async {
            match ticker.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            _ = &mut stopped => return,
            msg = rx.recv(), if !closing => {
                let mut batch = 0usize;
                let mut next = msg;
                loop {
                    match next {
                        Some(Outgoing::Text(t)) => {
                            if let Err(e) = write.feed(Message::text(t)).await {
                                if !is_closing_error(&e) {
                                    fail(format!("send failed: {}", describe(&e)));
                                }
                                return;
                            }
                            batch += 1;
                        }
                        Some(Outgoing::Close { code, reason }) => {
                            let frame = CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from(reason) };
                            let _ = write.send(Message::Close(Some(frame))).await;
                            closing = true;
                            break;
                        }
                        None => {
                            // Every sender is gone: the transport was dropped. Close politely.
                            let frame = CloseFrame { code: CloseCode::Normal, reason: Utf8Bytes::from_static("") };
                            let _ = write.send(Message::Close(Some(frame))).await;
                            closing = true;
                            break;
                        }
                    }
                    if batch >= 256 {
                        break;
                    }
                    match rx.try_recv() {
                        Ok(m) => next = Some(m),
                        Err(_) => break,
                    }
                }
                if !closing {
                    if let Err(e) = write.flush().await {
                        if !is_closing_error(&e) {
                            fail(format!("send failed: {}", describe(&e)));
                        }
                        return;
                    }
                } else {
                    // Wait for the peer's close frame (the reader ends), or give up.
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = tokio::time::sleep(opts.close_timeout) => {
                            fail(format!("the server did not answer the close frame within {:.1} s", opts.close_timeout.as_secs_f64()));
                            return;
                        }
                    }
                }
            }
            _ = tick => {
                let (Some(interval), timeout) = (opts.ping_interval, opts.ping_timeout) else { continue };
                let silent = shared.silent_for();
                if silent >= interval + timeout {
                    fail(format!(
                        "keepalive timeout: nothing received from the server for {:.1} s",
                        silent.as_secs_f64()
                    ));
                    return;
                }
                if silent >= interval && last_ping.elapsed() >= interval.min(timeout) / 2 {
                    last_ping = std::time::Instant::now();
                    if let Err(e) = write.send(Message::Ping(Bytes::from_static(b"rtws"))).await {
                        if !is_closing_error(&e) {
                            fail(format!("ping failed: {}", describe(&e)));
                        }
                        return;
                    }
                }
            }
        }
    }
}
