//! `_core.Transport`: the Python handle of one `OpenAIRealtimeWebSocket`'s core.
//!
//! It holds the sans-I/O [`Session`] and the current socket behind one lock
//! (`State`). The socket task feeds the session on a tokio thread
//! (`ConnSink::on_message`); the pymethods feed it on the caller's thread.
//! Either way the results leave through one door, `Link::deliver`: frames to
//! the socket (written by the calling thread when nothing is queued), events
//! to the loop's queue. No rule lives here: this file converts arguments,
//! takes the lock and hands over.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::task::{Context, Poll};

use super::buffer;
use super::errors::type_name;
use super::events::AudioInterruptedEvent;
use super::hub::Hub;
use super::json;
use crate::audio::convert::{Encoding, Spec};
use crate::audio::resample::Quality;
use crate::connection::task::panic_message;
use crate::connection::{
    self, ConnectConfig, FrameSink, Message, Redactor, Socket, SocketEnd, SocketOptions, WireStats,
};
use crate::delivery::{next_conn_id, ConnTally, CoreEvent, EventQueue};
use crate::error::CoreError;
use crate::protocol::Dialect;
use crate::runtime;
use crate::session::{monotonic_ms, Hooks, Output, ResponseTiming, Session, Wants};

/// The current socket of a transport.
struct Link {
    tally: Arc<ConnTally>,
    queue: Arc<EventQueue>,
    socket: Arc<Socket>,
    /// `status == "connected"` on the Python side: `send_audio` is only
    /// taken then (as in the reference), decided under the lock.
    audio_open: bool,
}

impl Link {
    /// Writes the session's frames and queues its events: the one way out.
    fn deliver(&self, out: Output) {
        for f in &out.frames {
            // A refused frame means the close handshake started; the socket's
            // end is reported by its `Closed` event.
            let _ = self.socket.send_text(f.as_bytes());
        }
        if !out.events.is_empty() {
            self.queue
                .push_all(&self.tally, out.events.into_iter().map(CoreEvent::Session));
        }
    }

    /// Fails this socket after an internal error: it is closed and the
    /// user gets an `error` and `disconnected` through its `Closed` event.
    fn fail(&self) {
        self.socket.close(1011, "internal error");
    }
}

struct State {
    session: Session,
    link: Option<Link>,
    /// The counters of the last socket, kept when it is detached.
    last_counts: Counts,
}

/// A socket's counters at one moment (`ws.stats()`).
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    frames_sent: u64,
    bytes_sent: u64,
    frames_received: u64,
    bytes_received: u64,
    backpressure_us: u64,
    events_delivered: u64,
    events_pending: u64,
    pending_event_bytes: usize,
    send_buffer_bytes: usize,
}

impl Link {
    fn counts(&self) -> Counts {
        let w = &self.socket.stats;
        Counts {
            frames_sent: WireStats::get(&w.frames_out),
            bytes_sent: WireStats::get(&w.bytes_out),
            frames_received: WireStats::get(&w.frames_in),
            bytes_received: WireStats::get(&w.bytes_in),
            backpressure_us: WireStats::get(&w.paused_us),
            events_delivered: self.tally.events_drained(),
            events_pending: self.tally.events_pending(),
            pending_event_bytes: self.tally.pending_bytes(),
            send_buffer_bytes: self.socket.queued_bytes(),
        }
    }
}

struct Shared {
    state: Mutex<State>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Collected without close(): close the socket instead of leaving it to
        // the server (Python warns with a ResourceWarning).
        if let Some(link) = self.state.get_mut().link.take() {
            link.tally.detach();
            link.socket.close(1000, "");
        }
    }
}

/// The socket task's view of one connection.
struct ConnSink {
    shared: Weak<Shared>,
    tally: Arc<ConnTally>,
    queue: Arc<EventQueue>,
}

impl FrameSink for ConnSink {
    fn on_message(&self, msg: Message) {
        if self.tally.is_detached() {
            return;
        }
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let mut st = shared.state.lock();
        let State { session, link, .. } = &mut *st;
        let Some(link) = link.as_ref().filter(|l| l.tally.id == self.tally.id) else {
            return; // a stale socket
        };
        let mut out = Output::default();
        let now = monotonic_ms();
        match msg {
            Message::Text(t) => session.on_server_text(t, now, &mut out),
            Message::Binary(b) => session.on_server_binary(b, now, &mut out),
            _ => {}
        }
        link.deliver(out);
    }

    fn on_end(&self, mut end: SocketEnd) {
        // A close reason (or an error quoting one) is server-provided text too.
        if let Some(shared) = self.shared.upgrade() {
            let st = shared.state.lock();
            end.reason = st.session.redact(&end.reason);
            end.error = end.error.map(|e| st.session.redact(&e));
        }
        match &end.error {
            Some(e) => log::debug!("connection {} failed: {e}", self.tally.id),
            None => log::debug!(
                "connection {} closed: code {:?} reason {:?}",
                self.tally.id,
                end.code,
                end.reason
            ),
        }
        self.queue.push(&self.tally, CoreEvent::Closed(end));
    }

    fn poll_capacity(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.tally.poll_capacity(cx)
    }
}

type TimingTuple = (String, &'static str, f64, Option<f64>, Option<f64>, f64);

fn timing_tuple(t: &ResponseTiming) -> TimingTuple {
    (
        t.response_id.clone(),
        t.trigger.name(),
        t.created_ms,
        t.first_audio_ms,
        t.first_text_ms,
        t.duration_ms,
    )
}

#[pyclass(frozen, module = "realtime_ws._core", name = "Transport")]
pub struct Transport {
    shared: Arc<Shared>,
}

fn secs(v: f64, what: &str) -> Result<Duration, CoreError> {
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(CoreError::value(format!(
            "{what} must be a positive number of seconds, got {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

fn spec(v: Option<(u32, String)>) -> Result<Option<Spec>, CoreError> {
    v.map(|(rate, enc)| {
        Ok(Spec {
            rate,
            encoding: Encoding::parse(&enc).map_err(CoreError::value)?,
        })
    })
    .transpose()
}

impl Transport {
    /// Runs `f` on the session with the current link (`NotConnected` without
    /// one) and delivers its output. A panic fails the socket and raises
    /// `InternalError` instead of leaving the state half-updated.
    fn with_link<R>(
        &self,
        f: impl FnOnce(&mut Session, &mut Output) -> Result<R, CoreError>,
    ) -> Result<R, CoreError> {
        let mut st = self.shared.state.lock();
        let State { session, link, .. } = &mut *st;
        let link = link.as_ref().ok_or_else(CoreError::not_connected)?;
        let mut out = Output::default();
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(session, &mut out))) {
            Ok(r) => {
                link.deliver(out);
                r
            }
            Err(p) => {
                link.fail();
                Err(CoreError::internal(format!(
                    "internal error in the realtime-ws core ({}); the connection was closed",
                    panic_message(&*p)
                )))
            }
        }
    }

    /// Like `with_link`, for calls that also make sense without a socket
    /// (their frames, if any, are dropped then).
    fn with_session<R>(&self, f: impl FnOnce(&mut Session, &mut Output) -> R) -> R {
        let mut st = self.shared.state.lock();
        let State { session, link, .. } = &mut *st;
        let mut out = Output::default();
        let r = f(session, &mut out);
        if let Some(link) = link.as_ref() {
            link.deliver(out);
        }
        r
    }
}

#[pymethods]
impl Transport {
    /// `protocol`: `"ga"` (default) or `"beta"`: which event names the server speaks.
    #[new]
    #[pyo3(signature = (protocol = "ga"))]
    fn new(protocol: &str) -> PyResult<Self> {
        let dialect = match protocol {
            "ga" => Dialect::Ga,
            "beta" => Dialect::Beta,
            other => {
                return Err(CoreError::value(format!(
                    "protocol must be 'ga' or 'beta', got {other:?}"
                ))
                .into())
            }
        };
        Ok(Transport {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    session: Session::new(dialect),
                    link: None,
                    last_counts: Counts::default(),
                }),
            }),
        })
    }

    /// Starts connecting; events for the new socket arrive on `hub` under the
    /// returned connection id. Frames sent before the socket opens are queued.
    /// `secrets` (the key, credential header values) are redacted from
    /// everything the server sends back.
    #[pyo3(signature = (hub, url, headers, subprotocols, *, connect_timeout=10.0, proxy=None, ca_pem=None,
                        ping_interval=Some(20.0), ping_timeout=20.0, close_timeout=5.0,
                        max_message_size=Some(64 * 1024 * 1024), secrets=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        &self,
        hub: &Hub,
        url: String,
        headers: Vec<(String, String)>,
        subprotocols: Vec<String>,
        connect_timeout: f64,
        proxy: Option<String>,
        ca_pem: Option<Vec<u8>>,
        ping_interval: Option<f64>,
        ping_timeout: f64,
        close_timeout: f64,
        max_message_size: Option<usize>,
        secrets: Vec<String>,
    ) -> PyResult<u64> {
        let redactor = Redactor::new(secrets);
        let cfg = ConnectConfig {
            url,
            headers,
            subprotocols,
            connect_timeout: secs(connect_timeout, "connect_timeout")?,
            proxy,
            extra_ca_pem: ca_pem,
            redactor: redactor.clone(),
        };
        let opts = SocketOptions {
            ping_interval: ping_interval
                .map(|v| secs(v, "ping_interval"))
                .transpose()?,
            ping_timeout: secs(ping_timeout, "ping_timeout")?,
            close_timeout: secs(close_timeout, "close_timeout")?,
            max_message: max_message_size,
        };
        let mut st = self.shared.state.lock();
        if st.link.is_some() {
            return Err(CoreError::user("WebSocket is already connected or connecting.").into());
        }
        st.session.set_redactor(redactor);
        let tally = ConnTally::new(next_conn_id());
        let socket = Arc::new(Socket::new());
        let queue = hub.queue.clone();
        let sink = Arc::new(ConnSink {
            shared: Arc::downgrade(&self.shared),
            tally: tally.clone(),
            queue: queue.clone(),
        });
        st.link = Some(Link {
            tally: tally.clone(),
            queue: queue.clone(),
            socket: socket.clone(),
            audio_open: false,
        });
        drop(st);
        let id = tally.id;
        let url = cfg.url.clone();
        runtime::get().spawn(async move {
            match connection::open(&cfg).await {
                Ok(c) => {
                    log::debug!(
                        "connection {id} open ({})",
                        connection::connect::redact_url(&url)
                    );
                    socket.attach(c.io);
                    queue.push(
                        &tally,
                        CoreEvent::Opened {
                            subprotocol: c.subprotocol,
                        },
                    );
                    // A task of its own: the connect future (TLS and handshake
                    // state) is freed now instead of living as long as the socket.
                    tokio::spawn(connection::run(socket, c.leftover, sink, opts));
                }
                Err(e) => {
                    log::debug!("connection {id} could not open: {e}");
                    socket.finish();
                    queue.push_all(
                        &tally,
                        [
                            CoreEvent::ConnectFailed(e),
                            CoreEvent::Closed(SocketEnd::error("connect failed")),
                        ],
                    );
                }
            }
        });
        Ok(id)
    }

    /// The id of the current socket, if any.
    #[getter]
    fn conn_id(&self) -> Option<u64> {
        self.shared.state.lock().link.as_ref().map(|l| l.tally.id)
    }

    /// The Python side reached "connected" on `conn_id`: `send_audio` is taken from now on.
    fn set_connected(&self, conn_id: u64) {
        if let Some(l) = self.shared.state.lock().link.as_mut() {
            if l.tally.id == conn_id {
                l.audio_open = true;
            }
        }
    }

    /// The disconnect transition: detaches the socket `conn_id` (the current
    /// one when None; a stale id is ignored), starts its close handshake if it
    /// is still open, and resets the sequencer, playback and audio state.
    /// Returns a report if user audio was dropped (a partial sample).
    #[pyo3(signature = (conn_id=None, code=1000, reason=""))]
    fn detach(&self, conn_id: Option<u64>, code: u16, reason: &str) -> Option<String> {
        let mut st = self.shared.state.lock();
        if let (Some(want), Some(link)) = (conn_id, st.link.as_ref()) {
            if link.tally.id != want {
                return None;
            }
        }
        if let Some(link) = st.link.take() {
            link.tally.detach();
            link.socket.close(code, reason);
            st.last_counts = link.counts();
        }
        st.session.on_disconnect()
    }

    /// Serialises `event` (a dict with a string `type`) in Rust and sends it.
    /// `response.create` goes through the sequencer as a manual request.
    fn send_event(&self, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let dict = event.cast::<PyDict>().map_err(|_| {
            CoreError::type_error(format!(
                "send_event expects a dict with a string 'type', got {}",
                type_name(event)
            ))
        })?;
        let type_obj = dict
            .get_item("type")?
            .ok_or_else(|| CoreError::value("a client event needs a 'type'"))?;
        let type_str = type_obj
            .cast::<PyString>()
            .map_err(|_| {
                CoreError::value(format!(
                    "a client event's 'type' must be a str, got {}",
                    type_name(&type_obj)
                ))
            })?
            .to_str()?
            .to_owned();
        let event_id = if type_str == "response.create" {
            match dict.get_item("event_id")? {
                Some(id) => Some(
                    id.cast::<PyString>()
                        .map_err(|_| CoreError::value("'event_id' must be a str"))?
                        .to_str()?
                        .to_owned(),
                ),
                None => None,
            }
        } else {
            None
        };
        let text = json::dumps(event)?;
        Ok(self.with_link(|s, out| s.send_event(&type_str, text, event_id, monotonic_ms(), out))?)
    }

    /// `request_response(response=None)`: automatic without an override,
    /// manual (kept separate, never coalesced) with one.
    #[pyo3(signature = (response=None))]
    fn request_response(&self, response: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let text = response.map(json::dumps).transpose()?;
        Ok(self.with_link(|s, out| {
            s.request_response(text.as_deref(), monotonic_ms(), out);
            Ok(())
        })?)
    }

    /// Appends audio; returns the number of bytes taken. Ignored (but still
    /// checked) unless the transport is connected, decided under the session
    /// lock so a concurrent `close()` cannot race it. Large chunks are
    /// converted with the GIL released.
    #[pyo3(signature = (audio, commit=false))]
    fn send_audio(
        &self,
        py: Python<'_>,
        audio: &Bound<'_, PyAny>,
        commit: bool,
    ) -> PyResult<usize> {
        buffer::with_bytes(audio, "send_audio", |bytes, elem| {
            let work = || -> Result<usize, CoreError> {
                let mut st = self.shared.state.lock();
                let State { session, link, .. } = &mut *st;
                match link.as_ref().filter(|l| l.audio_open) {
                    Some(link) => {
                        let mut out = Output::default();
                        let n = session.send_audio(bytes, elem, commit, &mut out)?;
                        link.deliver(out);
                        Ok(n)
                    }
                    None => session.check_audio(bytes, elem),
                }
            };
            let r = if bytes.len() > crate::session::audio_path::LARGE_CHUNK {
                py.detach(work)
            } else {
                work()
            };
            Ok(r?)
        })
    }

    /// Checks audio exactly as `send_audio` would; returns its byte length.
    fn check_audio(&self, audio: &Bound<'_, PyAny>) -> PyResult<usize> {
        buffer::with_bytes(audio, "send_audio", |bytes, elem| {
            Ok(self.shared.state.lock().session.check_audio(bytes, elem)?)
        })
    }

    /// `_cancel_response`: a `response.cancel` only while a response is in
    /// progress and no cancel is pending. Returns True if one was sent.
    fn cancel_response(&self) -> bool {
        self.with_session(|s, out| s.cancel_response(out))
    }

    /// `interrupt(cancel)` with the default hooks, entirely in the core.
    fn interrupt(&self, cancel: bool) -> Option<AudioInterruptedEvent> {
        self.with_session(|s, out| s.interrupt(cancel, monotonic_ms(), out))
            .map(Into::into)
    }

    /// `_interrupt(elapsed, cancel)`: the cancel and truncate rule at a given
    /// elapsed time (for Python overrides of `interrupt`).
    fn interrupt_at(&self, elapsed_ms: f64, cancel: bool) -> Option<AudioInterruptedEvent> {
        self.with_session(|s, out| s.interrupt_at(elapsed_ms, cancel, out))
            .map(Into::into)
    }

    /// Milliseconds since the first audio of the current item, or None when
    /// there is nothing to interrupt.
    fn playback_elapsed(&self) -> Option<f64> {
        self.shared
            .state
            .lock()
            .session
            .playback_elapsed(monotonic_ms())
    }

    /// The player has played `played_ms` of `item_id`; True if that is the
    /// item being tracked (see `Session::report_playback`).
    #[pyo3(signature = (item_id, played_ms, content_index=0))]
    fn report_playback(&self, item_id: &str, played_ms: f64, content_index: i64) -> bool {
        self.shared
            .state
            .lock()
            .session
            .report_playback(item_id, content_index, played_ms)
    }

    /// Forgets the tracked playback (and output audio still in the resampler).
    fn reset_playback(&self) {
        self.shared.state.lock().session.reset_playback();
    }

    /// `_after_audio_done_event`'s default: generation done.
    fn mark_audio_done(&self) {
        self.shared.state.lock().session.mark_audio_done();
    }

    /// The user-side audio formats (`None`: the session's format, no conversion).
    /// Encodings: "pcm16", "f32", "ulaw", "alaw"; quality "hq" or "low_latency".
    #[pyo3(signature = (input=None, output=None, quality="hq"))]
    fn set_audio_formats(
        &self,
        input: Option<(u32, String)>,
        output: Option<(u32, String)>,
        quality: &str,
    ) -> PyResult<()> {
        let q = Quality::parse(quality).map_err(CoreError::value)?;
        let (i, o) = (spec(input)?, spec(output)?);
        Ok(self.shared.state.lock().session.set_user_formats(i, o, q)?)
    }

    /// Which defaults the core performs itself (a Python override of the
    /// matching hook turns one off).
    #[pyo3(signature = (*, core_interrupts, core_marks_audio_done, auto_retrieve=true))]
    fn set_hooks(&self, core_interrupts: bool, core_marks_audio_done: bool, auto_retrieve: bool) {
        self.shared.state.lock().session.set_hooks(Hooks {
            core_interrupts,
            core_marks_audio_done,
            auto_retrieve,
        });
    }

    /// What Python listens to: raw audio frames, transcript deltas, text deltas.
    fn set_wants(&self, raw_audio: bool, transcript_deltas: bool, text_deltas: bool) {
        self.shared.state.lock().session.set_wants(Wants {
            raw_audio,
            transcript_deltas,
            text_deltas,
        });
    }

    #[getter]
    fn current_item_id(&self) -> Option<String> {
        self.shared.state.lock().session.playback().item_id.clone()
    }

    #[getter]
    fn current_content_index(&self) -> Option<i64> {
        self.shared.state.lock().session.playback().content_index
    }

    #[getter]
    fn first_audio_timestamp(&self) -> Option<f64> {
        self.shared.state.lock().session.playback().first_audio_ms
    }

    #[getter]
    fn audio_length_ms(&self) -> f64 {
        self.shared.state.lock().session.playback().audio_length_ms
    }

    #[getter]
    fn interrupt_response(&self) -> Option<bool> {
        self.shared.state.lock().session.interrupt_response()
    }

    #[getter]
    fn response_ongoing(&self) -> bool {
        self.shared.state.lock().session.sequencer().ongoing()
    }

    #[getter]
    fn queued_response_creates(&self) -> usize {
        self.shared.state.lock().session.sequencer().queued()
    }

    /// Bytes of a partial input sample waiting for the next `send_audio`.
    #[getter]
    fn pending_input_bytes(&self) -> usize {
        self.shared.state.lock().session.pending_input_bytes()
    }

    /// The counters of the current socket (or the last one): a dict, see
    /// `realtime_ws.SessionStats`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = self.shared.state.lock();
        let c = st.link.as_ref().map_or(st.last_counts, Link::counts);
        let (last, completed) = st.session.timing_summary();
        let last = last.map(timing_tuple);
        drop(st);
        let d = PyDict::new(py);
        d.set_item("frames_sent", c.frames_sent)?;
        d.set_item("bytes_sent", c.bytes_sent)?;
        d.set_item("frames_received", c.frames_received)?;
        d.set_item("bytes_received", c.bytes_received)?;
        d.set_item("backpressure_ms", c.backpressure_us as f64 / 1000.0)?;
        d.set_item("events_delivered", c.events_delivered)?;
        d.set_item("events_pending", c.events_pending)?;
        d.set_item("pending_event_bytes", c.pending_event_bytes)?;
        d.set_item("send_buffer_bytes", c.send_buffer_bytes)?;
        d.set_item("responses_completed", completed)?;
        d.set_item("last_response", last)?;
        Ok(d)
    }

    /// `(response_id, trigger, created_ms, first_audio_ms, first_text_ms,
    /// duration_ms)` of a recently finished response, or None.
    fn response_timing(&self, response_id: &str) -> Option<TimingTuple> {
        self.shared
            .state
            .lock()
            .session
            .response_timing(response_id)
            .map(timing_tuple)
    }

    /// The last `session.updated.session` from the server, as a fresh dict.
    fn raw_session<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let text = self
            .shared
            .state
            .lock()
            .session
            .raw_session()
            .map(str::to_owned);
        text.map(|t| json::loads(py, &t)).transpose()
    }

    /// Test builds only: panics inside the core with the lock held, to prove
    /// a panic becomes an error and a closed connection, never a hang.
    #[cfg(feature = "test-hooks")]
    #[allow(clippy::panic)] // the point of the hook
    fn _panic_in_core(&self) -> PyResult<()> {
        Ok(self.with_link(|_, _| -> Result<(), CoreError> {
            panic!("deliberate test panic");
        })?)
    }
}
