//! One task per socket: reading, writing what the senders could not write
//! themselves, keepalive and the close handshake, in one select loop.
//!
//! - Reading: on readability, everything the kernel has is read into a
//!   buffer on the worker's stack and decoded; only a partial frame is kept
//!   between reads, so an idle socket holds no read buffer.
//! - Backpressure: while the consumer is over its limit the socket is not
//!   read (TCP pushes back on the server). Keepalive judges the server only on
//!   what the socket delivered while it was being read: a paused socket is
//!   never declared dead, and the silence clock restarts when reading resumes.
//! - Close: the server's close frame ends the session at once (the reply is
//!   queued and the end reported), then the task waits at most `close_timeout`
//!   for the TCP end before dropping the socket: a server that half-closes
//!   cannot keep a session "connected". After our own close frame it waits at
//!   most `close_timeout` for the server's.
//! - A panic anywhere in the task (the sink included) still ends the socket
//!   with an error reported through `on_end`.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::codec::{is_valid_close_code, CloseFrame, Decoder, Message};
use super::socket::{ReadOutcome, Socket, WireStats};

/// How the socket ended. `error` is set when it failed (I/O error, protocol
/// violation, dead peer, unanswered close); `code`/`reason` are the peer's
/// close frame when there was one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketEnd {
    pub code: Option<u16>,
    pub reason: String,
    pub error: Option<String>,
}

impl SocketEnd {
    pub fn error(msg: impl Into<String>) -> Self {
        SocketEnd {
            code: None,
            reason: String::new(),
            error: Some(msg.into()),
        }
    }
}

/// Receives what the socket reads. Implemented by the bindings.
pub trait FrameSink: Send + Sync + 'static {
    /// A complete text or binary message.
    fn on_message(&self, msg: Message);
    /// Called exactly once, when the socket has ended.
    fn on_end(&self, end: SocketEnd);
    /// `Ready` while the consumer can take more; `Pending` (with the task's
    /// waker registered, to be woken when it can) while it is too far behind,
    /// and then the socket is not read (TCP pushes back on the server).
    fn poll_capacity(&self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SocketOptions {
    pub ping_interval: Option<Duration>,
    pub ping_timeout: Duration,
    pub close_timeout: Duration,
    pub max_message: Option<usize>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
            max_message: Some(64 * 1024 * 1024),
        }
    }
}

/// Bytes read per wake-up before yielding to other tasks.
const READ_BUDGET: usize = 512 * 1024;
/// Size of the read buffer.
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// One read buffer per runtime thread, reused by every socket task polled on
    /// it: a fresh zeroed buffer per read pass cost a 64 KiB memset per frame.
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Runs `f` with this thread's read buffer (a fresh one if it is in use, which
/// a socket task polled from inside another's read pass would need).
fn with_read_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    READ_BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut vec![0; READ_CHUNK]),
    })
}

#[derive(Debug, Clone)]
enum Close {
    Open,
    /// We sent a close frame at this time.
    Sent(Instant),
    /// The peer's close frame arrived at this time (and we replied).
    Received(CloseFrame, Instant),
}

/// The state of one socket task. Polled by hand (`poll`) rather than through
/// `select!`: the task then holds no readiness or notification futures, only
/// this struct and one timer, which is what an idle session costs.
struct Task {
    socket: Arc<Socket>,
    tcp: Arc<TcpStream>,
    sink: Arc<dyn FrameSink>,
    opts: SocketOptions,
    decoder: Decoder,
    close: Close,
    last_rx: Instant,
    last_ping: Option<Instant>,
    /// The one timer: the next ping, dead-peer or close deadline.
    timer: Option<Pin<Box<Sleep>>>,
    /// Since when reading is paused for backpressure (None: reading).
    paused_at: Option<Instant>,
    /// Data frames decoded since the counters were last published.
    frames_in: u32,
    /// Read without waiting for readiness (data may already be decrypted or
    /// buffered: at start, after a pause, after the read budget).
    read_now: bool,
    end: Option<SocketEnd>,
}

/// Runs the socket until it ends; calls `sink.on_end` exactly once, even if
/// something panics on the way.
///
/// The end is reported as soon as the WebSocket is over: when the server's
/// close frame arrives (after the reply is queued) the user hears of it at
/// once, and the TCP connection is then left to the server to end for at most
/// `close_timeout` (RFC 6455 7.1.1) without holding up anyone.
pub async fn run(
    socket: Arc<Socket>,
    leftover: Vec<u8>,
    sink: Arc<dyn FrameSink>,
    opts: SocketOptions,
) {
    let result = AssertUnwindSafe(drive(socket.clone(), leftover, sink.clone(), opts))
        .catch_unwind()
        .await;
    let (end, linger) = match result {
        Ok(r) => r,
        Err(panic) => {
            let what = panic_message(&*panic);
            log::error!("socket task panicked ({what}); the connection was dropped");
            (
                SocketEnd::error(format!(
                    "internal error in the realtime-ws core ({what}); the connection was dropped"
                )),
                None,
            )
        }
    };
    sink.on_end(end);
    if let Some(until) = linger {
        // Boxed: only a socket the server closed pays for this state.
        let _ = AssertUnwindSafe(Box::pin(linger_until_eof(&socket, until)))
            .catch_unwind()
            .await;
    }
    socket.finish();
}

/// After the close handshake: flush the close reply and wait for the peer to
/// end TCP (reading and discarding), at most until `until`.
async fn linger_until_eof(socket: &Socket, until: Instant) {
    let Some(tcp) = socket.tcp() else {
        return;
    };
    // On the heap: this phase is rare and must not grow every socket's task.
    let mut buf = vec![0u8; 4096];
    let _ = tokio::time::timeout_at(until, async {
        loop {
            if socket.queued_bytes() > 0 {
                if tcp.writable().await.is_err() || socket.flush_from_task().is_err() {
                    return;
                }
                continue;
            }
            if tcp.readable().await.is_err() {
                return;
            }
            match tcp.try_read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    })
    .await;
}

async fn drive(
    socket: Arc<Socket>,
    leftover: Vec<u8>,
    sink: Arc<dyn FrameSink>,
    opts: SocketOptions,
) -> (SocketEnd, Option<Instant>) {
    let Some(tcp) = socket.tcp() else {
        return (
            SocketEnd::error("socket task started without a socket"),
            None,
        );
    };
    let mut task = Task {
        socket,
        tcp,
        sink,
        opts,
        decoder: Decoder::new(opts.max_message),
        close: Close::Open,
        last_rx: Instant::now(),
        last_ping: None,
        timer: None,
        paused_at: None,
        frames_in: 0,
        read_now: true,
        end: None,
    };
    if !leftover.is_empty() {
        WireStats::add(&task.socket.stats.bytes_in, leftover.len() as u64);
        task.on_bytes(&leftover);
        WireStats::add(
            &task.socket.stats.frames_in,
            u64::from(std::mem::take(&mut task.frames_in)),
        );
    }
    drop(leftover);
    let end = poll_fn(|cx| task.poll(cx)).await;
    let linger = match &task.close {
        Close::Received(_, at) => Some(*at + opts.close_timeout),
        _ => None,
    };
    (end, linger)
}

pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic".to_owned()
    }
}

impl Task {
    fn paused(&self) -> bool {
        self.paused_at.is_some()
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<SocketEnd> {
        // Senders wake this task after queuing what the kernel did not take,
        // and after starting the close handshake.
        self.socket.register_waker(cx.waker());
        loop {
            if let Some(end) = self.end.take() {
                return Poll::Ready(end);
            }
            if let Some(e) = self.socket.take_failure() {
                return Poll::Ready(self.failed(format!("send failed: {e}")));
            }
            if let Close::Open = self.close {
                if self.socket.is_closing() {
                    self.close = Close::Sent(Instant::now());
                }
            }
            if self.paused() && self.sink.poll_capacity(cx).is_ready() {
                if let Some(at) = self.paused_at.take() {
                    WireStats::add(
                        &self.socket.stats.paused_us,
                        at.elapsed().as_micros() as u64,
                    );
                }
                self.read_now = true;
                // Silence while paused was ours, not the server's.
                self.last_rx = Instant::now();
            }
            if !self.paused() {
                if self.read_now {
                    self.read_now = false;
                    if self.read_pass() {
                        // Read budget used up: let other tasks run, come back at once.
                        self.read_now = true;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    continue;
                }
                match self.tcp.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        self.read_now = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(self.failed(format!("socket error: {e}")))
                    }
                    Poll::Pending => {}
                }
            }
            if self.socket.queued_bytes() > 0 {
                match self.tcp.poll_write_ready(cx) {
                    Poll::Ready(Ok(())) => match self.socket.flush_from_task() {
                        Ok(_) => continue,
                        Err(e) => return Poll::Ready(self.failed(format!("send failed: {e}"))),
                    },
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(self.failed(format!("socket error: {e}")))
                    }
                    Poll::Pending => {}
                }
            }
            match self.deadline() {
                None => self.timer = None,
                Some(at) => {
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    if timer.deadline() != at {
                        timer.as_mut().reset(at);
                    }
                    if timer.as_mut().poll(cx).is_ready() {
                        self.on_timer();
                        continue;
                    }
                }
            }
            return Poll::Pending;
        }
    }

    /// The next time something is due: a ping, the dead-peer limit, or the
    /// end of the close handshake.
    fn deadline(&self) -> Option<Instant> {
        match &self.close {
            Close::Sent(at) | Close::Received(_, at) => Some(*at + self.opts.close_timeout),
            Close::Open if self.paused() => None,
            Close::Open => {
                let interval = self.opts.ping_interval?;
                let dead = self.last_rx + interval + self.opts.ping_timeout;
                let ping_due = match self.last_ping {
                    Some(p) if p >= self.last_rx => p + interval.min(self.opts.ping_timeout) / 2,
                    _ => self.last_rx + interval,
                };
                Some(ping_due.min(dead))
            }
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        match &self.close {
            Close::Sent(at) => {
                if now >= *at + self.opts.close_timeout {
                    self.end = Some(SocketEnd::error(format!(
                        "the server did not answer the close frame within {:.1} s",
                        self.opts.close_timeout.as_secs_f64()
                    )));
                }
            }
            Close::Received(frame, at) => {
                if now >= *at + self.opts.close_timeout {
                    // The server closed the WebSocket but not TCP: drop it anyway and
                    // report its close as it was sent.
                    self.end = Some(end_of(frame));
                }
            }
            Close::Open => {
                let Some(interval) = self.opts.ping_interval else {
                    return;
                };
                let silent = now.saturating_duration_since(self.last_rx);
                if silent >= interval + self.opts.ping_timeout {
                    self.end = Some(SocketEnd::error(format!(
                        "keepalive timeout: nothing received from the server for {:.1} s",
                        silent.as_secs_f64()
                    )));
                    return;
                }
                if silent >= interval {
                    self.last_ping = Some(now);
                    let _ = self.socket.send_ping(b"rtws");
                }
            }
        }
    }

    fn failed(&mut self, msg: String) -> SocketEnd {
        // A close frame already received says more than what failed after it.
        match &self.close {
            Close::Received(frame, _) => end_of(frame),
            _ => SocketEnd::error(msg),
        }
    }

    /// Reads and decodes what is available. Returns true if it stopped at
    /// the read budget (more may be waiting).
    fn read_pass(&mut self) -> bool {
        let socket = self.socket.clone();
        let mut bytes_in = 0u64;
        let outcome = with_read_buf(|buf| {
            socket.read_available(buf, READ_BUDGET, &mut |data| {
                self.last_rx = Instant::now();
                bytes_in += data.len() as u64;
                self.on_bytes(data);
                self.end.is_none() && !self.paused()
            })
        });
        WireStats::add(&socket.stats.bytes_in, bytes_in);
        WireStats::add(
            &socket.stats.frames_in,
            u64::from(std::mem::take(&mut self.frames_in)),
        );
        match outcome {
            Ok(ReadOutcome::WouldBlock) | Ok(ReadOutcome::Stopped) => false,
            Ok(ReadOutcome::Budget) => true,
            Ok(ReadOutcome::Eof) => {
                if self.end.is_none() {
                    self.end = Some(match &self.close {
                        Close::Received(frame, _) => end_of(frame),
                        // An abnormal closure (1006): the peer vanished mid-session.
                        _ => SocketEnd::error(
                            "the server closed the connection without a close frame",
                        ),
                    });
                }
                false
            }
            Err(e) => {
                if self.end.is_none() {
                    let end = self.failed(format!("socket I/O error: {e}"));
                    self.end = Some(end);
                }
                false
            }
        }
    }

    fn on_bytes(&mut self, data: &[u8]) {
        if matches!(self.close, Close::Received(..)) {
            return; // nothing may follow the peer's close frame; wait for TCP end
        }
        let mut messages = Vec::new();
        let result = self.decoder.feed(data, &mut |m| messages.push(m));
        for m in messages {
            self.on_message(m);
            if self.end.is_some() || matches!(self.close, Close::Received(..)) {
                return;
            }
        }
        if let Err(e) = result {
            self.socket.close(e.close_code(), "");
            self.end = Some(SocketEnd::error(e.to_string()));
        }
    }

    fn on_message(&mut self, m: Message) {
        match m {
            Message::Text(_) | Message::Binary(_) => {
                self.frames_in = self.frames_in.saturating_add(1);
                self.sink.on_message(m);
                let mut probe = Context::from_waker(std::task::Waker::noop());
                if self.sink.poll_capacity(&mut probe).is_pending() {
                    self.paused_at = Some(Instant::now());
                }
            }
            Message::Ping(p) => {
                let _ = self.socket.send_pong(&p);
            }
            Message::Pong(_) => {}
            Message::Close(frame) => match self.close {
                Close::Sent(_) => self.end = Some(end_of(&frame)),
                _ => {
                    // Echo the close (RFC 6455 5.5.1): its code and reason, or an
                    // empty close for an empty one; a frame that breaks the protocol
                    // (a code that may not be on the wire, a reason that is not
                    // UTF-8) is answered as a protocol error.
                    match (frame.code, &frame.violation) {
                        (Some(c), None) if is_valid_close_code(c) => {
                            self.socket.close(c, &frame.reason)
                        }
                        (None, None) => self.socket.close_empty(),
                        _ => self.socket.close(1002, ""),
                    };
                    self.end = Some(end_of(&frame));
                    self.close = Close::Received(frame, Instant::now());
                }
            },
        }
    }
}

fn end_of(frame: &CloseFrame) -> SocketEnd {
    SocketEnd {
        code: Some(frame.code.unwrap_or(1005)),
        reason: frame.reason.clone(),
        error: frame.violation.clone(),
    }
}

#[cfg(test)]
mod tests;
