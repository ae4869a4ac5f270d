//! `_core.Transport`: the Rust half of one `OpenAIRealtimeWebSocket`.
//!
//! It owns the protocol state that outlives a socket (`SessionCore`: playback
//! tracking, sequencer) and the current socket's send channel. The socket's
//! reader runs `ConnSink::on_text` on a tokio thread for every frame:
//! classification, base64 decoding, interruption bookkeeping and sequencer
//! updates all happen there, and only the results go to Python via the hub.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::buffer::{self, Elem};
use super::errors::{invalid_audio, not_connected};
use super::events::{DeltaFields, ServerEvent};
use super::hub::{next_conn_id, ConnShared, CoreEvent, Hub};
use super::json::write_json;
use crate::audio::b64;
use crate::audio::convert::{ApiFormat, Converter, Encoding, Spec};
use crate::audio::resample::Quality;
use crate::connection::{self, ConnectConfig, FrameSink, Outgoing, SessionOptions, SocketEnd};
use crate::protocol::client;
use crate::protocol::server::{classify, Frame, Kind};
use crate::runtime;
use crate::session::{self, monotonic_ms, SessionCore};

/// State shared by the Python object and the current socket's reader.
pub struct TransportInner {
    core: Mutex<SessionCore>,
    conn: Mutex<Option<LiveConn>>,
    /// Keep the raw frame of audio deltas for `*` / typed listeners.
    wants_raw_audio: AtomicBool,
    /// Deliver transcript (bit 1) and text (bit 2) deltas to Python; a kind no
    /// listener wants is dropped here instead of costing a Python dispatch.
    wants_deltas: AtomicU8,
    audio: Mutex<AudioFormats>,
    /// User audio -> API audio; used by `send_audio` on the caller's thread.
    input_conv: Mutex<Option<Converter>>,
    /// API audio -> user audio; used by the reader on a tokio thread.
    output_conv: Mutex<Option<Converter>>,
}

const WANT_TRANSCRIPT: u8 = 1;
const WANT_TEXT: u8 = 2;

/// The user-side formats asked for, and the API-side formats of the session.
#[derive(Debug, Clone, Copy)]
struct AudioFormats {
    user_in: Option<Spec>,
    user_out: Option<Spec>,
    api_in: ApiFormat,
    api_out: ApiFormat,
    quality: Quality,
}

impl Default for AudioFormats {
    fn default() -> Self {
        AudioFormats {
            user_in: None,
            user_out: None,
            api_in: ApiFormat::Pcm24k,
            api_out: ApiFormat::Pcm24k,
            quality: Quality::High,
        }
    }
}

/// The API-side format named by a session's `format` (GA object or beta string).
fn api_format_of(format: Option<&Value>) -> ApiFormat {
    let name = match format {
        Some(Value::Object(m)) => m.get("type").and_then(Value::as_str),
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    match name {
        Some("audio/pcmu") | Some("g711_ulaw") | Some("pcmu") => ApiFormat::Ulaw8k,
        Some("audio/pcma") | Some("g711_alaw") | Some("pcma") => ApiFormat::Alaw8k,
        _ => ApiFormat::Pcm24k,
    }
}

impl TransportInner {
    /// Rebuilds the converters for the current formats (their stream state restarts).
    fn rebuild_converters(&self) -> Result<(), String> {
        let f = *self.audio.lock();
        let input = match f.user_in {
            Some(u) => Some(Converter::input(u, f.api_in, f.quality)?),
            None => None,
        };
        let output = match f.user_out {
            Some(u) => Some(Converter::output(u, f.api_out, f.quality)?),
            None => None,
        };
        *self.input_conv.lock() = input;
        *self.output_conv.lock() = output;
        Ok(())
    }

    /// The server reported its output format: follow it if it changed.
    fn server_output_format(&self, format: ApiFormat) {
        let rebuild = {
            let mut f = self.audio.lock();
            let changed = f.api_out != format;
            f.api_out = format;
            if changed {
                f.user_out.map(|u| (u, f.api_out, f.quality))
            } else {
                None
            }
        };
        if let Some((u, api, q)) = rebuild {
            *self.output_conv.lock() = Converter::output(u, api, q).ok();
        }
    }

    fn reset_converters(&self) {
        if let Some(c) = self.input_conv.lock().as_mut() {
            c.reset();
        }
        if let Some(c) = self.output_conv.lock().as_mut() {
            c.reset();
        }
    }
}

struct LiveConn {
    shared: Arc<ConnShared>,
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl TransportInner {
    /// Sends frames on the current socket; false if there is none.
    fn send_frames(&self, frames: Vec<String>) -> bool {
        if frames.is_empty() {
            return true;
        }
        let conn = self.conn.lock();
        match conn.as_ref() {
            Some(c) => {
                for f in frames {
                    if c.tx.send(Outgoing::Text(f)).is_err() {
                        return false;
                    }
                }
                true
            }
            None => false,
        }
    }
}

/// The reader's view of one socket.
struct ConnSink {
    transport: Weak<TransportInner>,
    shared: Arc<ConnShared>,
    tx: mpsc::WeakUnboundedSender<Outgoing>,
}

impl ConnSink {
    fn send(&self, frames: Vec<String>) {
        if frames.is_empty() {
            return;
        }
        if let Some(tx) = self.tx.upgrade() {
            for f in frames {
                let _ = tx.send(Outgoing::Text(f));
            }
        }
    }

    fn is_current(&self, t: &TransportInner) -> bool {
        t.conn
            .lock()
            .as_ref()
            .is_some_and(|c| c.shared.id == self.shared.id)
    }

    fn handle_text(&self, text: Utf8Bytes) {
        let Some(t) = self.transport.upgrade() else {
            return;
        };
        if self.shared.detached.load(Ordering::Relaxed) {
            return;
        }
        let dialect = t.core.lock().dialect;
        let frame = match classify(text.as_str(), dialect) {
            Ok(f) => f,
            Err(e) => {
                let snippet: String = text.as_str().chars().take(80).collect();
                self.shared.push(CoreEvent::FrameError(format!(
                    "{e} (frame starts {snippet:?})"
                )));
                return;
            }
        };
        match frame {
            Frame::Delta(d) if d.kind == Kind::AudioDelta => {
                let data = match b64::decode(d.delta.as_bytes()) {
                    Ok(v) => v,
                    Err(e) => {
                        self.shared.push(CoreEvent::FrameError(format!(
                            "response.output_audio.delta for item {:?}: {e}; the chunk was dropped",
                            d.item_id
                        )));
                        return;
                    }
                };
                if self.is_current(&t) {
                    t.core.lock().on_audio_delta(
                        &d.item_id,
                        d.content_index,
                        data.len(),
                        monotonic_ms(),
                    );
                }
                // Interruption arithmetic uses the API-side bytes (above); the
                // user gets their own rate and encoding.
                let data = match t.output_conv.lock().as_mut() {
                    Some(c) if !c.is_identity() => {
                        let mut out = Vec::with_capacity(data.len() * 2);
                        if let Err(e) = c.process(&data, &mut out) {
                            self.shared.push(CoreEvent::FrameError(e));
                            return;
                        }
                        out
                    }
                    _ => data,
                };
                let raw = t
                    .wants_raw_audio
                    .load(Ordering::Relaxed)
                    .then(|| ServerEvent {
                        type_name: Some(d.type_name.to_string()),
                        known: true,
                        text: text.clone(),
                        value: OnceLock::new(),
                        delta: None,
                    });
                self.shared.push(CoreEvent::Audio {
                    data,
                    event_id: d.event_id.into_owned(),
                    response_id: d.response_id.into_owned(),
                    item_id: d.item_id.into_owned(),
                    content_index: d.content_index,
                    raw,
                });
            }
            Frame::Delta(d) => {
                let bit = if d.kind == Kind::AudioTranscriptDelta {
                    WANT_TRANSCRIPT
                } else {
                    WANT_TEXT
                };
                if t.wants_deltas.load(Ordering::Relaxed) & bit == 0 {
                    return; // nobody listens: no event to build
                }
                let type_name = Some(d.type_name.to_string());
                let delta = DeltaFields {
                    response_id: d.response_id.into_owned(),
                    item_id: d.item_id.into_owned(),
                    content_index: d.content_index,
                    delta: d.delta.into_owned(),
                };
                self.shared.push(CoreEvent::Server(ServerEvent {
                    type_name,
                    known: true,
                    text,
                    value: OnceLock::new(),
                    delta: Some(delta),
                }));
            }
            Frame::Parsed {
                value,
                type_name,
                kind,
                known,
            } => {
                let mut out = Vec::new();
                let interrupted = if known && self.is_current(&t) {
                    t.core
                        .lock()
                        .on_event(kind, &value, monotonic_ms(), &mut out)
                } else {
                    None
                };
                self.send(out);
                if known {
                    self.after_event(&t, kind, &value, interrupted.is_some());
                }
                let cell = OnceLock::new();
                let _ = cell.set(value);
                self.shared.push(CoreEvent::Server(ServerEvent {
                    type_name,
                    known,
                    text,
                    value: cell,
                    delta: None,
                }));
                if let Some(i) = interrupted {
                    self.shared.push(CoreEvent::Interrupted(i));
                }
            }
        }
    }
}

impl ConnSink {
    /// Audio-format follow-ups of a known event: the server's output format,
    /// the converter's tail at the end of a response's audio, and dropping
    /// buffered audio on interruption.
    fn after_event(&self, t: &TransportInner, kind: Kind, value: &Value, interrupted: bool) {
        match kind {
            Kind::SessionUpdated => {
                let session = value.get("session");
                let format = match t.core.lock().dialect {
                    crate::protocol::Dialect::Ga => session
                        .and_then(|s| s.get("audio"))
                        .and_then(|a| a.get("output"))
                        .and_then(|o| o.get("format")),
                    crate::protocol::Dialect::Beta => {
                        session.and_then(|s| s.get("output_audio_format"))
                    }
                };
                if format.is_some() {
                    t.server_output_format(api_format_of(format));
                }
            }
            Kind::AudioDone => {
                let mut tail = Vec::new();
                if let Some(c) = t.output_conv.lock().as_mut() {
                    if !c.is_identity() {
                        c.flush(&mut tail);
                    }
                }
                if !tail.is_empty() {
                    let field = |k: &str| {
                        value
                            .get(k)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned()
                    };
                    self.shared.push(CoreEvent::Audio {
                        data: tail,
                        event_id: field("event_id"),
                        response_id: field("response_id"),
                        item_id: field("item_id"),
                        content_index: value
                            .get("content_index")
                            .and_then(Value::as_i64)
                            .unwrap_or(0),
                        raw: None,
                    });
                }
            }
            Kind::SpeechStarted if interrupted => {
                if let Some(c) = t.output_conv.lock().as_mut() {
                    c.reset();
                }
            }
            _ => {}
        }
    }
}

impl FrameSink for ConnSink {
    fn on_text(&self, text: Utf8Bytes) {
        self.handle_text(text);
    }

    fn on_binary(&self, data: Bytes) {
        // The reference parses binary frames as text; do the same for UTF-8 JSON.
        match Utf8Bytes::try_from(data) {
            Ok(text) => self.handle_text(text),
            Err(_) => self.shared.push(CoreEvent::FrameError(
                "server sent a binary frame that is not UTF-8 JSON; it was dropped".into(),
            )),
        }
    }

    fn on_end(&self, end: SocketEnd) {
        self.shared.push(CoreEvent::Closed(end));
    }

    fn over_limit(&self) -> bool {
        self.shared.over_limit()
    }

    fn capacity(&self) -> Option<&Notify> {
        Some(self.shared.capacity())
    }
}

/// Rejects audio the API cannot take as PCM16.
pub fn check_pcm16(py: Python<'_>, bytes: &[u8], elem: Elem) -> PyResult<usize> {
    if elem == Elem::F32 {
        return Err(invalid_audio(
            py,
            "send_audio: float32 audio needs an input AudioSpec with encoding='f32'; the API takes int16 PCM",
        ));
    }
    let n = bytes.len();
    if n % 2 != 0 {
        return Err(invalid_audio(
            py,
            format!("send_audio: PCM16 needs an even number of bytes, got {n}"),
        ));
    }
    Ok(n)
}

/// Checks audio against the user-side input format.
pub fn check_user_audio(
    py: Python<'_>,
    bytes: &[u8],
    elem: Elem,
    spec: Option<Spec>,
) -> PyResult<usize> {
    let Some(spec) = spec else {
        return check_pcm16(py, bytes, elem);
    };
    let n = bytes.len();
    let ok_elem = matches!(
        (spec.encoding, elem),
        (_, Elem::U8) | (Encoding::Pcm16, Elem::I16) | (Encoding::F32, Elem::F32)
    );
    if !ok_elem {
        let got = match elem {
            Elem::U8 => "bytes",
            Elem::I16 => "int16",
            Elem::F32 => "float32",
        };
        return Err(invalid_audio(
            py,
            format!(
                "send_audio: the input AudioSpec says {} but the array holds {got}",
                spec.encoding.name()
            ),
        ));
    }
    let bps = spec.encoding.bytes_per_sample();
    if n % bps != 0 {
        return Err(invalid_audio(
            py,
            format!(
                "send_audio: {} audio needs a multiple of {bps} bytes, got {n}",
                spec.encoding.name()
            ),
        ));
    }
    Ok(n)
}

#[pyclass(frozen, module = "realtime_ws._core", name = "Transport")]
pub struct Transport {
    inner: Arc<TransportInner>,
}

fn secs(v: f64, what: &str) -> PyResult<Duration> {
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a positive number of seconds, got {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

impl Transport {
    /// Validates audio for `send_audio`: against the user-side input format
    /// if one is set, else against the session's API-side input format.
    fn check_view(&self, py: Python<'_>, bytes: &[u8], elem: Elem) -> PyResult<usize> {
        let f = *self.inner.audio.lock();
        match (f.user_in, f.api_in) {
            (Some(spec), _) => check_user_audio(py, bytes, elem, Some(spec)),
            (None, ApiFormat::Pcm24k) => check_pcm16(py, bytes, elem),
            (None, api) => check_user_audio(py, bytes, elem, Some(api.spec())),
        }
    }

    /// Validates one `send_audio` chunk, converts it to the API format if an
    /// input `AudioSpec` asks for it, and builds the append frame (`None` when
    /// the resampler had nothing to emit yet).
    fn append_frame(
        &self,
        py: Python<'_>,
        bytes: &[u8],
        elem: Elem,
        commit: bool,
    ) -> PyResult<(usize, Option<String>)> {
        let n = self.check_view(py, bytes, elem)?;
        let mut conv = self.inner.input_conv.lock();
        let frame = match conv.as_mut() {
            Some(c) if !c.is_identity() => {
                let mut api = Vec::new();
                let mut work = || -> Result<(), String> {
                    c.process(bytes, &mut api)?;
                    if commit {
                        // The resampler's tail belongs to this turn.
                        c.flush(&mut api);
                    }
                    Ok(())
                };
                let r = if bytes.len() > 16 * 1024 {
                    py.detach(work)
                } else {
                    work()
                };
                r.map_err(|e| invalid_audio(py, format!("send_audio: {e}")))?;
                (!api.is_empty()).then(|| client::append_audio(&api))
            }
            _ => Some(if bytes.len() > 64 * 1024 {
                py.detach(|| client::append_audio(bytes))
            } else {
                client::append_audio(bytes)
            }),
        };
        Ok((n, frame))
    }

    fn with_conn<R>(&self, py: Python<'_>, f: impl FnOnce(&LiveConn) -> R) -> PyResult<R> {
        let conn = self.inner.conn.lock();
        match conn.as_ref() {
            Some(c) => Ok(f(c)),
            None => Err(not_connected(py)),
        }
    }

    /// Queues a frame on the current socket. Raises only when there is no
    /// socket at all: if the socket already ended (its writer is gone) the
    /// frame is dropped here, and the pending close event reports the end.
    fn send_text_frame(&self, py: Python<'_>, text: String) -> PyResult<()> {
        self.with_conn(py, |c| {
            let _ = c.tx.send(Outgoing::Text(text));
        })
    }
}

#[pymethods]
impl Transport {
    #[new]
    fn new() -> Self {
        Transport {
            inner: Arc::new(TransportInner {
                core: Mutex::new(SessionCore::default()),
                conn: Mutex::new(None),
                wants_raw_audio: AtomicBool::new(false),
                wants_deltas: AtomicU8::new(WANT_TRANSCRIPT | WANT_TEXT),
                audio: Mutex::new(AudioFormats::default()),
                input_conv: Mutex::new(None),
                output_conv: Mutex::new(None),
            }),
        }
    }

    /// Starts connecting; events for the new socket arrive on `hub` under the
    /// returned connection id. Frames sent before the socket opens are queued.
    #[pyo3(signature = (hub, url, headers, subprotocols, *, connect_timeout=10.0, proxy=None, ca_pem=None,
                        ping_interval=Some(20.0), ping_timeout=20.0, close_timeout=5.0,
                        max_message_size=Some(64 * 1024 * 1024), read_buffer_size=4 * 1024))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        &self,
        py: Python<'_>,
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
        read_buffer_size: usize,
    ) -> PyResult<u64> {
        let mut ws = WebSocketConfig::default();
        ws.read_buffer_size = read_buffer_size.clamp(1024, 1 << 24);
        ws.write_buffer_size = 0;
        ws.max_message_size = max_message_size;
        ws.max_frame_size = max_message_size;
        let cfg = ConnectConfig {
            url,
            headers,
            subprotocols,
            connect_timeout: secs(connect_timeout, "connect_timeout")?,
            proxy,
            extra_ca_pem: ca_pem,
            ws,
        };
        let opts = SessionOptions {
            ping_interval: match ping_interval {
                Some(v) => Some(secs(v, "ping_interval")?),
                None => None,
            },
            ping_timeout: secs(ping_timeout, "ping_timeout")?,
            close_timeout: secs(close_timeout, "close_timeout")?,
        };
        let mut slot = self.inner.conn.lock();
        if slot.is_some() {
            return Err(super::errors::error(
                py,
                "UserError",
                "WebSocket is already connected or connecting.",
            ));
        }
        let id = next_conn_id();
        let shared = ConnShared::new(id, hub.inner.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = Arc::new(ConnSink {
            transport: Arc::downgrade(&self.inner),
            shared: shared.clone(),
            tx: tx.downgrade(),
        });
        *slot = Some(LiveConn {
            shared: shared.clone(),
            tx,
        });
        drop(slot);
        runtime::get().spawn(async move {
            match connection::open(&cfg).await {
                Ok((ws, response)) => {
                    let subprotocol = response
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    shared.push(CoreEvent::Opened { subprotocol });
                    // A task of its own: the connect future (TLS and handshake state,
                    // several KiB) is freed now instead of living as long as the socket.
                    tokio::spawn(connection::spawn_session(ws, rx, sink, opts));
                }
                Err(e) => {
                    shared.push(CoreEvent::ConnectFailed(e));
                    // Also report the end so waiters on this connection finish.
                    shared.push(CoreEvent::Closed(SocketEnd::Error("connect failed".into())));
                }
            }
        });
        Ok(id)
    }

    /// The id of the current socket, if any.
    #[getter]
    fn conn_id(&self) -> Option<u64> {
        self.inner.conn.lock().as_ref().map(|c| c.shared.id)
    }

    /// Detaches the current socket (no more events from it except its final
    /// close), sends a close frame, and resets the sequencer and playback.
    #[pyo3(signature = (code=1000, reason=String::new()))]
    fn close(&self, code: u16, reason: String) -> Option<u64> {
        let conn = self.inner.conn.lock().take();
        self.inner.core.lock().reset();
        self.inner.reset_converters();
        conn.map(|c| {
            c.shared.detached.store(true, Ordering::Relaxed);
            let _ = c.tx.send(Outgoing::Close { code, reason });
            c.shared.id
        })
    }

    /// Resets the sequencer and playback state (disconnect transition).
    fn reset(&self) {
        self.inner.core.lock().reset();
        self.inner.reset_converters();
    }

    /// Forgets a socket that ended by itself (keeps the core state intact
    /// for the caller to reset).
    fn forget(&self, conn_id: u64) {
        let mut slot = self.inner.conn.lock();
        if slot.as_ref().is_some_and(|c| c.shared.id == conn_id) {
            *slot = None;
        }
    }

    /// Sends pre-serialised JSON text as one frame.
    fn send_text(&self, py: Python<'_>, text: String) -> PyResult<()> {
        self.send_text_frame(py, text)
    }

    /// Serialises `event` in Rust and sends it. `response.create` goes through
    /// the sequencer as a manual request; `response.cancel` marks the cancel.
    fn send_event(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let dict = event
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("send_event expects a dict with a string 'type'"))?;
        let type_obj = dict
            .get_item("type")?
            .ok_or_else(|| PyValueError::new_err("client event has no 'type'"))?;
        let type_str = type_obj
            .cast::<PyString>()
            .map_err(|_| PyValueError::new_err("client event 'type' must be a str"))?
            .to_str()?
            .to_owned();
        let mut text = String::with_capacity(128);
        write_json(event, &mut text, 0)?;
        match type_str.as_str() {
            "response.create" => {
                let map: Map<String, Value> = match serde_json::from_str(&text) {
                    Ok(Value::Object(m)) => m,
                    _ => {
                        return Err(PyValueError::new_err(
                            "response.create must be a JSON object",
                        ))
                    }
                };
                self.with_conn(py, |_| ())?;
                let frame = self.inner.core.lock().sequencer.request(Some(map));
                self.send_sequenced(py, frame)
            }
            "response.cancel" => {
                self.send_text_frame(py, text)?;
                self.inner.core.lock().sequencer.on_cancel_sent();
                Ok(())
            }
            _ => self.send_text_frame(py, text),
        }
    }

    /// `request_response(response=None)`: automatic without an override,
    /// manual (kept separate, never coalesced) with one.
    #[pyo3(signature = (response=None))]
    fn request_response(
        &self,
        py: Python<'_>,
        response: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.with_conn(py, |_| ())?;
        let req = match response {
            None => None,
            Some(r) => {
                let v = super::json::to_value(r)?;
                let mut m = Map::new();
                m.insert("type".into(), Value::from("response.create"));
                m.insert("response".into(), v);
                Some(m)
            }
        };
        let frame = self.inner.core.lock().sequencer.request(req);
        self.send_sequenced(py, frame)
    }

    /// Appends audio; returns the number of bytes sent. The base64 and the
    /// JSON frame are built straight from the caller's buffer (no copy).
    #[pyo3(signature = (audio, commit=false))]
    fn send_audio(
        &self,
        py: Python<'_>,
        audio: &Bound<'_, PyAny>,
        commit: bool,
    ) -> PyResult<usize> {
        let (n, frame) = buffer::with_bytes(audio, "send_audio", |bytes, elem| {
            self.append_frame(py, bytes, elem, commit)
        })?;
        let conn = self.inner.conn.lock();
        let Some(c) = conn.as_ref() else {
            return Err(not_connected(py));
        };
        // A send error means the socket already ended; its close event follows.
        if let Some(frame) = frame {
            let _ = c.tx.send(Outgoing::Text(frame));
        }
        if commit {
            let _ = c.tx.send(Outgoing::Text(client::commit_audio()));
        }
        Ok(n)
    }

    /// `_cancel_response`: sends `response.cancel` only while a response is
    /// ongoing and no cancel is pending. Returns True if sent.
    fn cancel_response(&self, py: Python<'_>) -> PyResult<bool> {
        let mut out = Vec::new();
        self.inner.core.lock().cancel_response(&mut out);
        let sent = !out.is_empty();
        if self.inner.conn.lock().is_none() {
            return Err(not_connected(py));
        }
        self.inner.send_frames(out);
        Ok(sent)
    }

    /// Milliseconds since the first audio of the current item, or None when
    /// there is nothing to interrupt.
    fn playback_elapsed(&self) -> Option<f64> {
        self.inner.core.lock().elapsed(monotonic_ms())
    }

    /// `audio_end_ms` for an interruption after `elapsed_ms`.
    fn audio_end_ms(&self, elapsed_ms: f64) -> i64 {
        session::audio_end_ms(elapsed_ms, self.inner.core.lock().playback.audio_length_ms)
    }

    /// Forgets the tracked playback (and any output audio still inside the
    /// resampler: it belongs to the interrupted response).
    fn reset_playback(&self) {
        self.inner.core.lock().playback.reset();
        if let Some(c) = self.inner.output_conv.lock().as_mut() {
            c.reset();
        }
    }

    /// The user-side audio formats (`None`: API format, no conversion).
    /// Encodings: "pcm16", "f32", "ulaw", "alaw"; quality "hq" or "low_latency".
    #[pyo3(signature = (input=None, output=None, quality="hq"))]
    fn set_audio_formats(
        &self,
        input: Option<(u32, String)>,
        output: Option<(u32, String)>,
        quality: &str,
    ) -> PyResult<()> {
        let spec = |v: Option<(u32, String)>| -> PyResult<Option<Spec>> {
            v.map(|(rate, enc)| {
                let encoding = Encoding::parse(&enc).map_err(PyValueError::new_err)?;
                if !(1000..=384_000).contains(&rate) {
                    return Err(PyValueError::new_err(format!(
                        "audio rate must be 1000..384000 Hz, got {rate}"
                    )));
                }
                Ok(Spec { rate, encoding })
            })
            .transpose()
        };
        {
            let mut f = self.inner.audio.lock();
            f.user_in = spec(input)?;
            f.user_out = spec(output)?;
            f.quality = Quality::parse(quality).map_err(PyValueError::new_err)?;
        }
        self.inner
            .rebuild_converters()
            .map_err(PyValueError::new_err)
    }

    /// The API-side formats the client asked for in its `session.update`
    /// (a GA format object or a beta format string).
    #[pyo3(signature = (input=None, output=None))]
    fn set_api_formats(
        &self,
        input: Option<&Bound<'_, PyAny>>,
        output: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let parse = |v: Option<&Bound<'_, PyAny>>| -> PyResult<Option<ApiFormat>> {
            v.map(|o| super::json::to_value(o).map(|val| api_format_of(Some(&val))))
                .transpose()
        };
        let (i, o) = (parse(input)?, parse(output)?);
        let changed = {
            let mut f = self.inner.audio.lock();
            let before = (f.api_in, f.api_out);
            if let Some(i) = i {
                f.api_in = i;
            }
            if let Some(o) = o {
                f.api_out = o;
            }
            before != (f.api_in, f.api_out)
        };
        if changed {
            self.inner
                .rebuild_converters()
                .map_err(PyValueError::new_err)?;
        }
        Ok(())
    }

    /// Checks audio exactly as `send_audio` would; returns its byte length.
    fn check_audio(&self, py: Python<'_>, audio: &Bound<'_, PyAny>) -> PyResult<usize> {
        buffer::with_bytes(audio, "send_audio", |bytes, elem| {
            self.check_view(py, bytes, elem)
        })
    }

    /// Resampling delay of the (input, output) converters in ms.
    fn audio_delay_ms(&self) -> (f64, f64) {
        (
            self.inner
                .input_conv
                .lock()
                .as_ref()
                .map_or(0.0, Converter::delay_ms),
            self.inner
                .output_conv
                .lock()
                .as_ref()
                .map_or(0.0, Converter::delay_ms),
        )
    }

    /// Configure which defaults the core applies by itself.
    #[pyo3(signature = (*, core_interrupts, core_resets_on_audio_done, auto_retrieve=true))]
    fn set_hooks(
        &self,
        core_interrupts: bool,
        core_resets_on_audio_done: bool,
        auto_retrieve: bool,
    ) {
        let mut c = self.inner.core.lock();
        c.core_interrupts = core_interrupts;
        c.core_resets_on_audio_done = core_resets_on_audio_done;
        c.auto_retrieve = auto_retrieve;
    }

    /// `"ga"` (default) or `"beta"`: which event names the server speaks.
    fn set_dialect(&self, dialect: &str) -> PyResult<()> {
        let d = match dialect {
            "ga" => crate::protocol::Dialect::Ga,
            "beta" => crate::protocol::Dialect::Beta,
            other => {
                return Err(PyValueError::new_err(format!(
                    "protocol must be 'ga' or 'beta', got {other:?}"
                )))
            }
        };
        self.inner.core.lock().dialect = d;
        Ok(())
    }

    /// Which delta kinds Python wants delivered (transcript, text).
    fn set_wants_deltas(&self, transcript: bool, text: bool) {
        let bits = if transcript { WANT_TRANSCRIPT } else { 0 } | if text { WANT_TEXT } else { 0 };
        self.inner.wants_deltas.store(bits, Ordering::Relaxed);
    }

    fn set_wants_raw_audio(&self, wants: bool) {
        self.inner.wants_raw_audio.store(wants, Ordering::Relaxed);
    }

    #[getter]
    fn current_item_id(&self) -> Option<String> {
        self.inner.core.lock().playback.item_id.clone()
    }

    #[getter]
    fn current_content_index(&self) -> i64 {
        self.inner.core.lock().playback.content_index
    }

    #[getter]
    fn first_audio_timestamp(&self) -> Option<f64> {
        self.inner.core.lock().playback.first_audio_ms
    }

    #[getter]
    fn audio_length_ms(&self) -> f64 {
        self.inner.core.lock().playback.audio_length_ms
    }

    #[getter]
    fn interrupt_response(&self) -> Option<bool> {
        self.inner.core.lock().interrupt_response
    }

    #[getter]
    fn response_ongoing(&self) -> bool {
        self.inner.core.lock().sequencer.ongoing()
    }

    #[getter]
    fn queued_response_creates(&self) -> usize {
        self.inner.core.lock().sequencer.queued()
    }

    /// The last `session.updated.session` from the server, as a fresh dict.
    fn raw_session<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let text = self.inner.core.lock().raw_session.clone();
        text.map(|t| super::json::loads(py, &t)).transpose()
    }
}

impl Transport {
    fn send_sequenced(&self, py: Python<'_>, frame: Option<String>) -> PyResult<()> {
        if let Some(f) = frame {
            let sent = self.with_conn(py, |c| c.tx.send(Outgoing::Text(f)).is_ok());
            match sent {
                Ok(true) => {}
                // The socket ended under us: free the slot; the close event follows.
                Ok(false) => self.inner.core.lock().sequencer.on_send_failed(),
                Err(e) => {
                    self.inner.core.lock().sequencer.on_send_failed();
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}
