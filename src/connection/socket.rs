//! The write side of one WebSocket, shared by the socket task and every
//! thread that sends (the asyncio thread, a sound-card callback).
//!
//! A frame is written by the sending thread itself whenever nothing is
//! queued: one `send` system call, no hand-off to a tokio thread and no
//! wake-up. Only what the kernel does not take (`WouldBlock`, a partial
//! write) is queued, and then the socket task finishes the job when the
//! socket becomes writable. TLS state lives under the same lock, so a frame is
//! encrypted and written in one step, in order, from any thread.
//!
//! Frames sent while the handshake is still running are queued and written
//! once the socket is attached.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::net::TcpStream;

use super::codec;

/// Set to false (`REALTIME_WS_DIRECT_WRITE=0`) to hand every frame to the
/// socket task instead of writing it from the sending thread (for measuring
/// one against the other).
static DIRECT_WRITE: AtomicBool = AtomicBool::new(true);

pub fn set_direct_write(on: bool) {
    DIRECT_WRITE.store(on, Ordering::Relaxed);
}

pub fn direct_write() -> bool {
    DIRECT_WRITE.load(Ordering::Relaxed)
}

/// Queued output above this is a sign the peer stopped reading; the frame is
/// still queued (nothing is dropped) but the caller can see it in the stats.
pub const SLOW_PEER_BYTES: usize = 4 * 1024 * 1024;

thread_local! {
    /// Per-thread buffer frames are encoded into before they are written, so
    /// an idle socket holds no write buffer.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Why a frame was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The close handshake has started or the socket ended.
    Closed,
}

/// The transport under the WebSocket once the handshake is done.
pub enum Io {
    Plain(Arc<TcpStream>),
    Tls {
        tcp: Arc<TcpStream>,
        tls: Box<rustls::ClientConnection>,
    },
}

impl Io {
    pub fn tcp(&self) -> &Arc<TcpStream> {
        match self {
            Io::Plain(t) => t,
            Io::Tls { tcp, .. } => tcp,
        }
    }
}

/// `io::Read`/`io::Write` over a tokio socket that never blocks (for rustls).
struct NonBlocking<'a>(&'a TcpStream);

impl Read for NonBlocking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handshake in progress: frames are queued.
    Connecting,
    Open,
    /// A close frame was queued (by us, or in reply to the peer's): no more data frames.
    Closing,
    /// The task ended; nothing more is written.
    Done,
}

struct Wire {
    phase: Phase,
    io: Option<Io>,
    /// Encoded frames not yet written (plain), or queued before the handshake (both).
    out: Vec<u8>,
    out_pos: usize,
    /// The kernel refused a write; only the task writes until it drains.
    blocked: bool,
    /// A close frame to send once the socket is attached.
    close_after_open: Option<Vec<u8>>,
    /// The write failed; the task reports it.
    failed: Option<String>,
}

impl Wire {
    fn pending(&self) -> usize {
        let tls = match &self.io {
            Some(Io::Tls { tls, .. }) if tls.wants_write() => 1,
            _ => 0,
        };
        self.out.len() - self.out_pos + tls
    }

    /// Queues encoded frame bytes.
    fn push(&mut self, frame: &[u8]) {
        match (&mut self.io, self.phase) {
            (Some(Io::Tls { tls, .. }), Phase::Open | Phase::Closing) => {
                // rustls buffers the ciphertext itself; write_all only fails if
                // the connection is already closed for writing.
                if let Err(e) = tls.writer().write_all(frame) {
                    self.failed.get_or_insert(format!("TLS write failed: {e}"));
                }
            }
            _ => self.out.extend_from_slice(frame),
        }
    }

    /// Writes as much as the kernel takes. Returns true if bytes remain.
    fn flush(&mut self) -> bool {
        let Some(io) = self.io.as_mut() else {
            return true;
        };
        match io {
            Io::Plain(tcp) => {
                while self.out_pos < self.out.len() {
                    match tcp.try_write(&self.out[self.out_pos..]) {
                        Ok(0) => {
                            self.failed
                                .get_or_insert("socket closed for writing".into());
                            break;
                        }
                        Ok(n) => self.out_pos += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.blocked = true;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.failed
                                .get_or_insert(format!("socket write failed: {e}"));
                            self.out.clear();
                            self.out_pos = 0;
                            break;
                        }
                    }
                }
                if self.out_pos == self.out.len() {
                    self.out_pos = 0;
                    self.out.clear();
                    if self.out.capacity() > 64 * 1024 {
                        self.out = Vec::new();
                    }
                }
            }
            Io::Tls { tcp, tls } => {
                while tls.wants_write() {
                    match tls.write_tls(&mut NonBlocking(tcp)) {
                        Ok(0) => {
                            self.failed
                                .get_or_insert("socket closed for writing".into());
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.blocked = true;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.failed
                                .get_or_insert(format!("socket write failed: {e}"));
                            break;
                        }
                    }
                }
            }
        }
        self.pending() > 0 && self.failed.is_none()
    }
}

/// Counters of one socket, for `ws.stats()`: written by whoever sends (under
/// the wire lock) and by the socket task (once per read pass), read from any
/// thread. Relaxed: they are reports, not synchronisation.
#[derive(Default)]
pub struct WireStats {
    pub frames_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub frames_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Time the socket was not read because the user's loop had not drained
    /// its events (backpressure), in microseconds.
    pub paused_us: AtomicU64,
}

impl WireStats {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The shared write side of one socket.
pub struct Socket {
    wire: Mutex<Wire>,
    pub stats: WireStats,
    /// Wakes the socket task: output is waiting for a writable socket, a close
    /// was requested, or the socket was attached.
    task: AtomicWaker,
}

impl Default for Socket {
    fn default() -> Self {
        Self::new()
    }
}

impl Socket {
    /// A socket whose handshake is still running.
    pub fn new() -> Self {
        Socket {
            wire: Mutex::new(Wire {
                phase: Phase::Connecting,
                io: None,
                out: Vec::new(),
                out_pos: 0,
                blocked: false,
                close_after_open: None,
                failed: None,
            }),
            task: AtomicWaker::new(),
            stats: WireStats::default(),
        }
    }

    /// Sends one text frame (masked with a fresh key). Never blocks.
    pub fn send_text(&self, payload: &[u8]) -> Result<(), SendError> {
        self.send(codec::OP_TEXT, payload)
    }

    fn send(&self, opcode: u8, payload: &[u8]) -> Result<(), SendError> {
        SCRATCH.with(|s| {
            let mut scratch = s.borrow_mut();
            scratch.clear();
            codec::encode_frame(opcode, payload, rand::random::<[u8; 4]>(), &mut scratch);
            let wake = {
                let mut w = self.wire.lock();
                // The close frame is the last frame: nothing follows it, not even a pong.
                if !matches!(w.phase, Phase::Connecting | Phase::Open) {
                    return Err(SendError::Closed);
                }
                w.push(&scratch);
                if opcode == codec::OP_TEXT {
                    WireStats::add(&self.stats.frames_out, 1);
                    WireStats::add(&self.stats.bytes_out, scratch.len() as u64);
                }
                match w.phase {
                    Phase::Connecting => false,
                    _ if w.blocked || !direct_write() => true,
                    _ => w.flush(),
                }
            };
            if scratch.capacity() > 256 * 1024 {
                *scratch = Vec::new();
            }
            if wake {
                self.task.wake();
            }
            Ok(())
        })
    }

    /// Sends a pong (from the socket task, in reply to a ping).
    pub fn send_pong(&self, payload: &[u8]) -> Result<(), SendError> {
        self.send(codec::OP_PONG, payload)
    }

    /// Sends a ping (keepalive).
    pub fn send_ping(&self, payload: &[u8]) -> Result<(), SendError> {
        self.send(codec::OP_PING, payload)
    }

    /// Starts the close handshake: queues a close frame; later data frames
    /// are refused. Returns false if the close had already started.
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.close_with(&codec::close_payload(code, reason))
    }

    /// Like `close`, with an empty close frame (the echo of an empty one).
    pub fn close_empty(&self) -> bool {
        self.close_with(&[])
    }

    fn close_with(&self, payload: &[u8]) -> bool {
        let mut frame = Vec::new();
        codec::encode_frame(
            codec::OP_CLOSE,
            payload,
            rand::random::<[u8; 4]>(),
            &mut frame,
        );
        {
            let mut w = self.wire.lock();
            match w.phase {
                Phase::Connecting => {
                    w.close_after_open = Some(frame);
                    w.phase = Phase::Closing;
                }
                Phase::Open => {
                    w.push(&frame);
                    w.phase = Phase::Closing;
                    if !w.blocked {
                        w.flush();
                    }
                }
                Phase::Closing | Phase::Done => return false,
            }
        }
        self.task.wake();
        true
    }

    /// True once a close frame was queued or the socket ended.
    pub fn is_closing(&self) -> bool {
        matches!(self.wire.lock().phase, Phase::Closing | Phase::Done)
    }

    /// Attaches the transport after the handshake and writes what was queued.
    pub fn attach(&self, io: Io) {
        {
            let mut w = self.wire.lock();
            let queued = std::mem::take(&mut w.out);
            w.out_pos = 0;
            w.io = Some(io);
            let closing = w.phase == Phase::Closing;
            w.phase = Phase::Open;
            w.push(&queued);
            if let Some(close) = w.close_after_open.take() {
                w.push(&close);
            }
            if closing {
                w.phase = Phase::Closing;
            }
            w.flush();
        }
        self.task.wake();
    }

    /// Marks the socket done (the task ended): later sends are refused.
    pub fn finish(&self) {
        let mut w = self.wire.lock();
        w.phase = Phase::Done;
        w.out = Vec::new();
        w.out_pos = 0;
        w.io = None;
    }

    // -- for the socket task ---------------------------------------------------------------------

    pub(super) fn register_waker(&self, waker: &std::task::Waker) {
        self.task.register(waker);
    }

    pub(super) fn tcp(&self) -> Option<Arc<TcpStream>> {
        self.wire.lock().io.as_ref().map(|io| io.tcp().clone())
    }

    /// After the socket became writable: writes what is queued. Returns
    /// `Ok(true)` if bytes remain, or the write error.
    pub(super) fn flush_from_task(&self) -> Result<bool, String> {
        let mut w = self.wire.lock();
        w.blocked = false;
        let more = w.flush();
        match w.failed.take() {
            Some(e) => Err(e),
            None => Ok(more),
        }
    }

    /// Bytes waiting for the socket to become writable.
    pub fn queued_bytes(&self) -> usize {
        self.wire.lock().pending()
    }

    /// A write failure seen by a sending thread, for the task to report.
    pub(super) fn take_failure(&self) -> Option<String> {
        self.wire.lock().failed.take()
    }

    /// Reads what the transport has (TLS: decrypts it) into `buf`, calling
    /// `on_data` for each chunk of plaintext, until it would block. Returns
    /// `Ok(false)` at end of stream. The wire lock is held only while TLS state
    /// is touched, never while `on_data` runs.
    pub(super) fn read_available(
        &self,
        buf: &mut [u8],
        budget: usize,
        on_data: &mut dyn FnMut(&[u8]) -> bool,
    ) -> io::Result<ReadOutcome> {
        let tcp = match self.tcp() {
            Some(t) => t,
            None => return Ok(ReadOutcome::WouldBlock),
        };
        let mut total = 0usize;
        loop {
            if total >= budget {
                return Ok(ReadOutcome::Budget);
            }
            let n = {
                let mut w = self.wire.lock();
                match w.io.as_mut() {
                    None => return Ok(ReadOutcome::WouldBlock),
                    Some(Io::Plain(_)) => {
                        drop(w);
                        match tcp.try_read(buf) {
                            Ok(0) => return Ok(ReadOutcome::Eof),
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                return Ok(ReadOutcome::WouldBlock)
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    Some(Io::Tls { tls, .. }) => match tls_read(tls, &tcp, buf)? {
                        TlsRead::Data(n) => {
                            // Decrypting may have produced records to send (alerts, key updates).
                            if tls.wants_write() && !w.blocked {
                                w.flush();
                            }
                            n
                        }
                        TlsRead::WouldBlock => return Ok(ReadOutcome::WouldBlock),
                        TlsRead::Eof => return Ok(ReadOutcome::Eof),
                    },
                }
            };
            total += n;
            if !on_data(&buf[..n]) {
                return Ok(ReadOutcome::Stopped);
            }
        }
    }
}

/// How a read pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadOutcome {
    WouldBlock,
    Eof,
    /// Read `budget` bytes; yield to other tasks and come back.
    Budget,
    /// `on_data` asked to stop (backpressure or the end of the WebSocket).
    Stopped,
}

enum TlsRead {
    Data(usize),
    WouldBlock,
    Eof,
}

/// One step of TLS reading: plaintext already decrypted first, else one read
/// from the socket and a decrypt.
fn tls_read(
    tls: &mut rustls::ClientConnection,
    tcp: &TcpStream,
    buf: &mut [u8],
) -> io::Result<TlsRead> {
    loop {
        match tls.reader().read(buf) {
            Ok(0) => return Ok(TlsRead::Eof),
            Ok(n) => return Ok(TlsRead::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(TlsRead::Eof),
            Err(e) => return Err(e),
        }
        match tls.read_tls(&mut NonBlocking(tcp)) {
            Ok(0) => return Ok(TlsRead::Eof),
            Ok(_) => {
                tls.process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}")))?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(TlsRead::WouldBlock),
            Err(e) => return Err(e),
        }
    }
}
