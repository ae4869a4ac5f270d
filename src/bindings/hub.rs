//! Delivery of core events to one asyncio event loop.
//!
//! Tokio threads never take the GIL per frame. Each event is pushed onto the
//! hub's queue under a short mutex; only the push that finds the queue empty
//! (not "armed") writes to a wake-up fd (an eventfd on Linux, a pipe
//! elsewhere) that the loop watches with `loop.add_reader`. The loop's reader
//! callback then calls `Hub.drain()` once, which swaps out the whole queue and
//! converts it to Python objects in one pass: a burst of N events from any
//! number of sessions costs one wake-up and one GIL acquisition, not N.
//!
//! Coalescing: wake-ups are rate-limited to one per `coalesce` interval
//! (1 ms by default). When the loop drained less than that ago, the first push
//! arms a timer for the rest of the interval instead of waking it at once. An
//! idle loop is woken immediately; a busy one takes ~1 ms batches, so a
//! thousand sessions cost ~1000 wake-ups a second, not one per frame.
//!
//! Backpressure: every connection counts the bytes it has queued. Past
//! `LIMIT` its reader stops reading from the socket (TCP pushes back on the
//! server) until a drain brings it under the limit again, so a stalled loop
//! costs bounded memory and loses nothing.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use tokio::sync::Notify;

use super::events::{AudioEvent, AudioInterruptedEvent, ServerEvent};
use crate::connection::{ConnectError, ConnectErrorKind, SocketEnd};
use crate::session::Interrupted;

/// Bytes a connection may have queued before its reader pauses.
pub const LIMIT: usize = 8 * 1024 * 1024;

pub const EV_OPENED: u8 = 1;
pub const EV_CONNECT_FAILED: u8 = 2;
pub const EV_SERVER: u8 = 3;
pub const EV_AUDIO: u8 = 4;
pub const EV_INTERRUPTED: u8 = 5;
pub const EV_FRAME_ERROR: u8 = 6;
pub const EV_CLOSED: u8 = 7;

/// An event for Python, as produced on a tokio thread.
pub enum CoreEvent {
    Opened {
        subprotocol: Option<String>,
    },
    ConnectFailed(ConnectError),
    Server(ServerEvent),
    Audio {
        data: Vec<u8>,
        event_id: String,
        response_id: String,
        item_id: String,
        content_index: i64,
        raw: Option<ServerEvent>,
    },
    Interrupted(Interrupted),
    FrameError(String),
    Closed(SocketEnd),
}

impl CoreEvent {
    fn cost(&self) -> usize {
        64 + match self {
            CoreEvent::Server(s) => s.text.len(),
            CoreEvent::Audio { data, raw, .. } => {
                data.len() + raw.as_ref().map_or(0, |r| r.text.len())
            }
            _ => 0,
        }
    }
}

/// What one connection shares with the hub.
pub struct ConnShared {
    pub id: u64,
    pub hub: Arc<HubInner>,
    pending: AtomicUsize,
    capacity: Notify,
    /// Set by `close()`: the user no longer wants events from this socket.
    pub detached: AtomicBool,
}

impl ConnShared {
    pub fn new(id: u64, hub: Arc<HubInner>) -> Arc<Self> {
        Arc::new(ConnShared {
            id,
            hub,
            pending: AtomicUsize::new(0),
            capacity: Notify::new(),
            detached: AtomicBool::new(false),
        })
    }

    pub fn push(self: &Arc<Self>, ev: CoreEvent) {
        if self.detached.load(Ordering::Relaxed) && !matches!(ev, CoreEvent::Closed(_)) {
            return;
        }
        let cost = ev.cost();
        self.pending.fetch_add(cost, Ordering::Relaxed);
        self.hub.push(Item {
            conn: self.clone(),
            ev,
            cost,
        });
    }

    pub fn over_limit(&self) -> bool {
        self.pending.load(Ordering::Relaxed) > LIMIT
    }

    pub fn capacity(&self) -> &Notify {
        &self.capacity
    }

    fn release(&self, cost: usize) {
        let before = self.pending.fetch_sub(cost, Ordering::Relaxed);
        if before > LIMIT && before - cost <= LIMIT {
            self.capacity.notify_one();
        }
    }
}

pub struct Item {
    conn: Arc<ConnShared>,
    ev: CoreEvent,
    cost: usize,
}

struct HubState {
    queue: Vec<Item>,
    armed: bool,
}

pub struct HubInner {
    state: Mutex<HubState>,
    read_fd: RawFd,
    write_fd: RawFd,
    /// When the loop last drained, in µs of `monotonic_ms`.
    last_drain_us: AtomicU64,
    /// A delayed wake-up is scheduled.
    timer_pending: AtomicBool,
    /// Minimum time between wake-ups, µs (0: wake on every empty->non-empty push).
    coalesce_us: AtomicU64,
}

impl HubInner {
    fn new() -> std::io::Result<Self> {
        let (read_fd, write_fd) = wake_fds()?;
        Ok(HubInner {
            state: Mutex::new(HubState {
                queue: Vec::with_capacity(256),
                armed: false,
            }),
            read_fd,
            write_fd,
            last_drain_us: AtomicU64::new(0),
            timer_pending: AtomicBool::new(false),
            coalesce_us: AtomicU64::new(DEFAULT_COALESCE_US),
        })
    }

    fn push(self: &Arc<Self>, item: Item) {
        let first = {
            let mut st = self.state.lock();
            st.queue.push(item);
            !std::mem::replace(&mut st.armed, true)
        };
        if first {
            self.schedule_wake();
        }
    }

    /// Wakes the loop now, or at `last drain + coalesce` if that is later.
    fn schedule_wake(self: &Arc<Self>) {
        let now = now_us();
        let due =
            self.last_drain_us.load(Ordering::Relaxed) + self.coalesce_us.load(Ordering::Relaxed);
        if now >= due {
            self.wake();
            return;
        }
        if self.timer_pending.swap(true, Ordering::AcqRel) {
            return; // a wake-up is already on its way
        }
        let hub = self.clone();
        let delay = Duration::from_micros(due - now);
        crate::runtime::get().spawn(async move {
            tokio::time::sleep(delay).await;
            hub.timer_pending.store(false, Ordering::Release);
            hub.wake();
        });
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes (eventfd) or 1 byte (pipe) from a valid local.
        // EAGAIN means a wake-up is already pending, which is all we need.
        unsafe {
            libc::write(self.write_fd, (&one as *const u64).cast(), WAKE_BYTES);
        }
    }

    fn clear_wake(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reading into a local buffer from our own non-blocking fd.
            let n = unsafe { libc::read(self.read_fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 || (n as usize) < buf.len() {
                break;
            }
        }
    }

    fn take(&self) -> Vec<Item> {
        self.last_drain_us.store(now_us(), Ordering::Relaxed);
        self.clear_wake();
        let mut st = self.state.lock();
        st.armed = false;
        std::mem::replace(&mut st.queue, Vec::with_capacity(256))
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        // SAFETY: closing fds this struct owns.
        unsafe {
            libc::close(self.read_fd);
            if self.write_fd != self.read_fd {
                libc::close(self.write_fd);
            }
        }
    }
}

/// Default minimum interval between wake-ups of the loop.
pub const DEFAULT_COALESCE_US: u64 = 1000;

fn now_us() -> u64 {
    (crate::session::monotonic_ms() * 1000.0) as u64
}

#[cfg(target_os = "linux")]
const WAKE_BYTES: usize = 8;
#[cfg(not(target_os = "linux"))]
const WAKE_BYTES: usize = 1;

#[cfg(target_os = "linux")]
fn wake_fds() -> std::io::Result<(RawFd, RawFd)> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((fd, fd))
}

#[cfg(not(target_os = "linux"))]
fn wake_fds() -> std::io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: plain syscalls on fds we own.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for fd in fds {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    Ok((fds[0], fds[1]))
}

/// The Python handle of a hub: `fileno()` for `loop.add_reader`, `drain()`.
#[pyclass(frozen, module = "realtime_ws._core", name = "Hub")]
pub struct Hub {
    pub inner: Arc<HubInner>,
}

fn kind_name(kind: ConnectErrorKind) -> &'static str {
    match kind {
        ConnectErrorKind::InvalidUrl => "invalid_url",
        ConnectErrorKind::InvalidHeader => "invalid_header",
        ConnectErrorKind::Timeout => "timeout",
        ConnectErrorKind::Io => "io",
        ConnectErrorKind::Tls => "tls",
        ConnectErrorKind::Proxy => "proxy",
        ConnectErrorKind::HttpStatus(_) => "http_status",
        ConnectErrorKind::Handshake => "handshake",
        ConnectErrorKind::ClosedBeforeReady => "closed_before_ready",
    }
}

fn convert<'py>(py: Python<'py>, ev: CoreEvent) -> PyResult<(u8, Bound<'py, PyAny>)> {
    Ok(match ev {
        CoreEvent::Opened { subprotocol } => (EV_OPENED, subprotocol.into_bound_py_any(py)?),
        CoreEvent::ConnectFailed(e) => {
            let status = match e.kind {
                ConnectErrorKind::HttpStatus(s) => Some(s),
                _ => None,
            };
            (
                EV_CONNECT_FAILED,
                (kind_name(e.kind), e.message, status).into_bound_py_any(py)?,
            )
        }
        CoreEvent::Server(s) => (EV_SERVER, Bound::new(py, s)?.into_any()),
        CoreEvent::Audio {
            data,
            event_id,
            response_id,
            item_id,
            content_index,
            raw,
        } => {
            let audio = AudioEvent {
                data: PyBytes::new(py, &data).unbind(),
                event_id,
                response_id,
                item_id,
                content_index,
            };
            let raw = match raw {
                Some(r) => Bound::new(py, r)?.into_any(),
                None => py.None().into_bound(py),
            };
            (
                EV_AUDIO,
                PyTuple::new(py, [Bound::new(py, audio)?.into_any(), raw])?.into_any(),
            )
        }
        CoreEvent::Interrupted(i) => (
            EV_INTERRUPTED,
            Bound::new(
                py,
                AudioInterruptedEvent {
                    item_id: i.item_id,
                    content_index: i.content_index,
                    audio_end_ms: i.audio_end_ms,
                    elapsed_ms: i.elapsed_ms,
                    cancelled: i.cancelled,
                },
            )?
            .into_any(),
        ),
        CoreEvent::FrameError(msg) => (EV_FRAME_ERROR, PyString::new(py, &msg).into_any()),
        CoreEvent::Closed(end) => {
            let t = match end {
                SocketEnd::Closed { code, reason } => (code, reason, None::<String>),
                SocketEnd::Error(msg) => (None, String::new(), Some(msg)),
            };
            (EV_CLOSED, t.into_bound_py_any(py)?)
        }
    })
}

#[pymethods]
impl Hub {
    #[new]
    fn new() -> PyResult<Self> {
        let inner = HubInner::new().map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("cannot create the wake-up fd: {e}"))
        })?;
        Ok(Hub {
            inner: Arc::new(inner),
        })
    }

    /// The fd to watch with `loop.add_reader`.
    fn fileno(&self) -> i32 {
        self.inner.read_fd
    }

    /// Takes every queued event: a list of `(conn_id, code, payload)`.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self.inner.take();
        let out = PyList::empty(py);
        for item in items {
            item.conn.release(item.cost);
            let id = item.conn.id;
            let (code, payload) = convert(py, item.ev)?;
            out.append(PyTuple::new(
                py,
                [
                    id.into_bound_py_any(py)?,
                    code.into_bound_py_any(py)?,
                    payload,
                ],
            )?)?;
        }
        Ok(out)
    }

    /// Minimum time between wake-ups of the loop, in milliseconds (0 disables coalescing).
    #[getter]
    fn coalesce_ms(&self) -> f64 {
        self.inner.coalesce_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    #[setter]
    fn set_coalesce_ms(&self, ms: f64) -> PyResult<()> {
        if !(0.0..=100.0).contains(&ms) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "coalesce_ms must be between 0 and 100, got {ms}"
            )));
        }
        self.inner
            .coalesce_us
            .store((ms * 1000.0) as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Number of queued events (for tests and diagnostics).
    fn pending(&self) -> usize {
        self.inner.state.lock().queue.len()
    }
}

/// Process-wide id source for connections.
pub fn next_conn_id() -> u64 {
    static NEXT: OnceLock<AtomicUsize> = OnceLock::new();
    NEXT.get_or_init(|| AtomicUsize::new(1))
        .fetch_add(1, Ordering::Relaxed) as u64
}
