//! Delivery of core events to one asyncio event loop, without the GIL.
//!
//! Tokio threads never take the GIL per frame. Each event is pushed onto the
//! loop's queue under a short mutex; only the push that finds the queue empty
//! (not "armed") writes to a wake-up fd (an eventfd on Linux, a pipe elsewhere
//! or when asked for) that the loop watches with `loop.add_reader`. The loop's
//! reader callback drains the whole queue in one call: a burst of N events
//! from any number of sessions costs one wake-up and one GIL acquisition.
//!
//! Coalescing: wake-ups are rate-limited to one per `coalesce` interval (1 ms
//! by default). When the loop drained less than that ago, the first push arms
//! a timer for the rest of the interval instead of waking it at once. An idle
//! loop is woken immediately; a busy one takes batches.
//!
//! Backpressure: every connection counts the bytes it has queued. Past
//! `LIMIT` its socket stops being read (TCP pushes back on the server) until a
//! drain brings it under the limit again: a stalled loop costs bounded memory
//! and loses nothing.
//!
//! Pure Rust: `bindings::hub` converts the drained events to Python objects.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

use crate::connection::{ConnectError, SocketEnd};
use crate::session::{monotonic_ms, Event};

/// Bytes a connection may have queued before its socket stops being read.
pub const LIMIT: usize = 8 * 1024 * 1024;

/// Default minimum interval between wake-ups of the loop.
pub const DEFAULT_COALESCE_US: u64 = 1000;

/// An event for the user's loop, as produced on any thread.
// `Session` is nearly every event; boxing it would add an allocation per event
// to make the rare lifecycle variants smaller.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CoreEvent {
    /// The handshake completed.
    Opened {
        subprotocol: Option<String>,
    },
    ConnectFailed(ConnectError),
    /// Something the session produced.
    Session(Event),
    /// The socket ended (always the last event of a connection).
    Closed(SocketEnd),
}

impl CoreEvent {
    /// Approximate bytes held while queued (for backpressure).
    fn cost(&self) -> usize {
        64 + match self {
            CoreEvent::Session(Event::Server(s)) => s.text.len(),
            CoreEvent::Session(Event::Audio(a)) => {
                a.data.len() + a.raw.as_ref().map_or(0, |r| r.text.len())
            }
            CoreEvent::Session(Event::FrameError(m) | Event::AudioDropped(m)) => m.len(),
            _ => 0,
        }
    }
}

/// What one connection shares with the queue: its id and its accounting.
pub struct ConnTally {
    pub id: u64,
    pending: AtomicUsize,
    /// Events queued and taken by the loop, over the connection's life (stats).
    queued: AtomicU64,
    drained: AtomicU64,
    /// The socket task waiting for the loop to drain below the limit.
    capacity: AtomicWaker,
    /// Set by `close()`: the user no longer wants events from this socket
    /// (except the final `Closed`, which waiters need).
    detached: AtomicBool,
}

impl ConnTally {
    pub fn new(id: u64) -> Arc<Self> {
        Arc::new(ConnTally {
            id,
            pending: AtomicUsize::new(0),
            queued: AtomicU64::new(0),
            drained: AtomicU64::new(0),
            capacity: AtomicWaker::new(),
            detached: AtomicBool::new(false),
        })
    }

    pub fn detach(&self) {
        self.detached.store(true, Ordering::Relaxed);
    }

    pub fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Relaxed)
    }

    /// Bytes queued and not yet drained.
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Events taken by the loop so far.
    pub fn events_drained(&self) -> u64 {
        self.drained.load(Ordering::Relaxed)
    }

    /// Events queued and not yet taken by the loop.
    pub fn events_pending(&self) -> u64 {
        let drained = self.drained.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(drained)
    }

    pub fn over_limit(&self) -> bool {
        self.pending_bytes() > LIMIT
    }

    /// `Ready` while under the limit; otherwise registers `cx`'s waker, woken
    /// when a drain brings the connection back under it.
    pub fn poll_capacity(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.over_limit() {
            return Poll::Ready(());
        }
        self.capacity.register(cx.waker());
        // Checked again: a drain between the check and the registration woke no one.
        if self.over_limit() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    fn release(&self, cost: usize) {
        self.drained.fetch_add(1, Ordering::Relaxed);
        let before = self.pending.fetch_sub(cost, Ordering::Relaxed);
        if before > LIMIT && before - cost <= LIMIT {
            self.capacity.wake();
        }
    }
}

/// One queued event.
pub struct Item {
    pub conn: Arc<ConnTally>,
    pub event: CoreEvent,
    cost: usize,
}

impl Item {
    /// Gives the event back, releasing its cost (call once per drained item).
    pub fn into_event(self) -> (u64, CoreEvent) {
        self.conn.release(self.cost);
        (self.conn.id, self.event)
    }
}

struct QueueState {
    queue: Vec<Item>,
    armed: bool,
}

/// How the loop is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeKind {
    /// An eventfd (Linux only).
    EventFd,
    /// A non-blocking pipe (macOS and other Unix; on Linux when forced, so the
    /// macOS path is tested).
    Pipe,
}

impl WakeKind {
    /// The platform's default, or `REALTIME_WS_WAKE=pipe`.
    pub fn from_env() -> WakeKind {
        match std::env::var("REALTIME_WS_WAKE").as_deref() {
            Ok("pipe") => WakeKind::Pipe,
            _ if cfg!(target_os = "linux") => WakeKind::EventFd,
            _ => WakeKind::Pipe,
        }
    }
}

/// The event queue of one loop.
pub struct EventQueue {
    state: Mutex<QueueState>,
    kind: WakeKind,
    read_fd: RawFd,
    write_fd: RawFd,
    /// When the loop last drained, in µs of `monotonic_ms`.
    last_drain_us: AtomicU64,
    /// A delayed wake-up is scheduled.
    timer_pending: AtomicBool,
    /// Minimum time between wake-ups, µs (0: wake on every empty->non-empty push).
    coalesce_us: AtomicU64,
    /// Wake-ups written to the fd (for tests and stats).
    wakes: AtomicU64,
}

fn now_us() -> u64 {
    (monotonic_ms() * 1000.0) as u64
}

impl EventQueue {
    pub fn new(kind: WakeKind) -> std::io::Result<Self> {
        let (read_fd, write_fd) = wake_fds(kind)?;
        Ok(EventQueue {
            state: Mutex::new(QueueState {
                queue: Vec::new(),
                armed: false,
            }),
            kind,
            read_fd,
            write_fd,
            last_drain_us: AtomicU64::new(0),
            timer_pending: AtomicBool::new(false),
            coalesce_us: AtomicU64::new(DEFAULT_COALESCE_US),
            wakes: AtomicU64::new(0),
        })
    }

    pub fn kind(&self) -> WakeKind {
        self.kind
    }

    /// The fd the loop watches.
    pub fn fileno(&self) -> RawFd {
        self.read_fd
    }

    pub fn coalesce_us(&self) -> u64 {
        self.coalesce_us.load(Ordering::Relaxed)
    }

    pub fn set_coalesce_us(&self, us: u64) {
        self.coalesce_us.store(us, Ordering::Relaxed);
    }

    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `events` of `conn` (in order, under one lock) and wakes the loop
    /// if the queue was empty. Events of a detached connection are dropped,
    /// except `Closed`.
    pub fn push_all<I: IntoIterator<Item = CoreEvent>>(
        self: &Arc<Self>,
        conn: &Arc<ConnTally>,
        events: I,
    ) {
        let detached = conn.is_detached();
        let (first, added) = {
            let mut st = self.state.lock();
            let before = st.queue.len();
            for event in events {
                if detached && !matches!(event, CoreEvent::Closed(_)) {
                    continue;
                }
                let cost = event.cost();
                conn.pending.fetch_add(cost, Ordering::Relaxed);
                st.queue.push(Item {
                    conn: conn.clone(),
                    event,
                    cost,
                });
            }
            let added = st.queue.len() - before;
            (added > 0 && !std::mem::replace(&mut st.armed, true), added)
        };
        if added > 0 {
            conn.queued.fetch_add(added as u64, Ordering::Relaxed);
        }
        if first {
            self.schedule_wake();
        }
    }

    pub fn push(self: &Arc<Self>, conn: &Arc<ConnTally>, event: CoreEvent) {
        self.push_all(conn, std::iter::once(event));
    }

    /// Wakes the loop for something that is not a connection's event (log
    /// records, `crate::logbridge`): its next drain runs even if the queue is
    /// empty. No-op while a wake-up is already due.
    pub fn poke(self: &Arc<Self>) {
        let first = !std::mem::replace(&mut self.state.lock().armed, true);
        if first {
            self.schedule_wake();
        }
    }

    /// Wakes the loop now, or at `last drain + coalesce` if that is later.
    fn schedule_wake(self: &Arc<Self>) {
        let now = now_us();
        let due = self.last_drain_us.load(Ordering::Relaxed) + self.coalesce_us();
        if now >= due {
            self.wake();
            return;
        }
        if self.timer_pending.swap(true, Ordering::AcqRel) {
            return; // a wake-up is already on its way
        }
        let queue = self.clone();
        let delay = Duration::from_micros(due - now);
        crate::runtime::get().spawn(async move {
            tokio::time::sleep(delay).await;
            queue.timer_pending.store(false, Ordering::Release);
            queue.wake();
        });
    }

    fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        let one: u64 = 1;
        let n = match self.kind {
            WakeKind::EventFd => 8,
            WakeKind::Pipe => 1,
        };
        // SAFETY: writing 8 bytes (eventfd) or 1 byte (pipe) from a valid local.
        // EAGAIN means a wake-up is already pending, which is all we need.
        let written = unsafe { libc::write(self.write_fd, (&one as *const u64).cast(), n) };
        if written < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::WouldBlock {
                log::warn!("cannot wake the event loop: {err}");
            }
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

    /// Takes every queued event (the loop's drain).
    pub fn take(&self) -> Vec<Item> {
        self.last_drain_us.store(now_us(), Ordering::Relaxed);
        self.clear_wake();
        let mut st = self.state.lock();
        st.armed = false;
        std::mem::take(&mut st.queue)
    }
}

impl Drop for EventQueue {
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

fn wake_fds(kind: WakeKind) -> std::io::Result<(RawFd, RawFd)> {
    match kind {
        #[cfg(target_os = "linux")]
        WakeKind::EventFd => {
            // SAFETY: plain syscall.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok((fd, fd))
        }
        #[cfg(not(target_os = "linux"))]
        WakeKind::EventFd => wake_fds(WakeKind::Pipe),
        WakeKind::Pipe => {
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
    }
}

/// Process-wide id source for connections.
pub fn next_conn_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Event;

    fn readable(fd: RawFd) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polling one valid fd with a zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    fn ev(n: usize) -> CoreEvent {
        CoreEvent::Session(Event::FrameError("x".repeat(n)))
    }

    fn queue(kind: WakeKind, coalesce_us: u64) -> Arc<EventQueue> {
        let q = Arc::new(EventQueue::new(kind).expect("fds"));
        q.set_coalesce_us(coalesce_us);
        q
    }

    #[test]
    fn first_push_wakes_once_and_take_clears() {
        for kind in [WakeKind::EventFd, WakeKind::Pipe] {
            let q = queue(kind, 0);
            let c = ConnTally::new(1);
            assert!(!readable(q.fileno()));
            q.push(&c, ev(1));
            q.push(&c, ev(1));
            q.push_all(&c, [ev(1), ev(1)]);
            assert!(readable(q.fileno()), "{kind:?}");
            assert_eq!(q.wakes(), 1, "one wake-up for four events");
            let items = q.take();
            assert_eq!(items.len(), 4);
            assert!(!readable(q.fileno()), "{kind:?}: the drain cleared the fd");
            for i in items {
                i.into_event();
            }
            assert_eq!(c.pending_bytes(), 0);
            q.push(&c, ev(1));
            assert_eq!(q.wakes(), 2, "an empty queue wakes again");
        }
    }

    #[test]
    fn a_busy_loop_is_woken_at_most_once_per_interval() {
        crate::runtime::get();
        let q = queue(WakeKind::EventFd, 20_000);
        let c = ConnTally::new(1);
        q.take(); // "the loop just drained"
        q.push(&c, ev(1));
        assert!(!readable(q.fileno()), "not before the interval");
        std::thread::sleep(Duration::from_millis(60));
        assert!(readable(q.fileno()), "the timer woke it");
        assert_eq!(q.wakes(), 1);
    }

    #[test]
    fn backpressure_limit_and_capacity_notification() {
        let q = queue(WakeKind::EventFd, 0);
        let c = ConnTally::new(1);
        q.push(&c, ev(LIMIT / 2));
        assert!(!c.over_limit());
        q.push(&c, ev(LIMIT / 2));
        assert!(c.over_limit());
        struct Flag(AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = std::task::Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(c.poll_capacity(&mut cx).is_pending());
        assert!(!flag.0.load(Ordering::SeqCst));
        for i in q.take() {
            i.into_event();
        }
        assert!(
            flag.0.load(Ordering::SeqCst),
            "the drain woke the waiting task"
        );
        assert!(c.poll_capacity(&mut cx).is_ready());
        assert!(!c.over_limit());
    }

    #[test]
    fn a_detached_connection_only_delivers_its_end() {
        let q = queue(WakeKind::EventFd, 0);
        let c = ConnTally::new(7);
        c.detach();
        q.push_all(&c, [ev(1), CoreEvent::Closed(SocketEnd::default()), ev(1)]);
        let items = q.take();
        assert_eq!(items.len(), 1);
        assert!(matches!(items[0].event, CoreEvent::Closed(_)));
        assert_eq!(items[0].conn.id, 7);
    }

    #[test]
    fn events_from_many_threads_are_all_delivered_in_order_per_connection() {
        let q = queue(WakeKind::Pipe, 0);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let c = ConnTally::new(t);
                    for i in 0..1000 {
                        q.push(&c, CoreEvent::Session(Event::FrameError(i.to_string())));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let mut seen = [0usize; 4];
        for item in q.take() {
            let (id, e) = item.into_event();
            match e {
                CoreEvent::Session(Event::FrameError(m)) => {
                    assert_eq!(m, seen[id as usize].to_string());
                    seen[id as usize] += 1;
                }
                _ => panic!("unexpected"),
            }
        }
        assert_eq!(seen, [1000; 4]);
    }
}
