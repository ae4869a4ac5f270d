//! The objects the core hands to Python. `AudioEvent` and
//! `AudioInterruptedEvent` are public; the others are internal carriers the
//! Python side dispatches on by type (one class per kind of core event, so
//! there is no code number and no re-dispatch on type strings).

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde_json::Value;

use super::json::value_to_py;
use crate::connection::Text;
use crate::session::{self, DeltaFields, Interrupted};

/// The `audio` event: one decoded chunk of the model's speech.
#[pyclass(frozen, module = "realtime_ws._core", name = "AudioEvent")]
pub struct AudioEvent {
    /// Decoded audio (PCM16 little-endian at the session's output rate unless
    /// an output `AudioSpec` says otherwise).
    #[pyo3(get)]
    pub data: Py<PyBytes>,
    // The ids stay Rust strings until read: most callbacks only touch `data`,
    // and three Python strings per 20-50 ms of audio add up over many sessions.
    /// The server's `event_id` of the delta (of `response.output_audio.done` for
    /// the resampler's tail).
    #[pyo3(get)]
    pub event_id: String,
    #[pyo3(get)]
    pub response_id: String,
    #[pyo3(get)]
    pub item_id: String,
    #[pyo3(get)]
    pub content_index: i64,
}

#[pymethods]
impl AudioEvent {
    #[new]
    #[pyo3(signature = (data, response_id, item_id = None, content_index = 0, event_id = ""))]
    fn new(
        py: Python<'_>,
        data: &[u8],
        response_id: &str,
        item_id: Option<&str>,
        content_index: i64,
        event_id: &str,
    ) -> Self {
        AudioEvent {
            data: PyBytes::new(py, data).unbind(),
            event_id: event_id.to_owned(),
            response_id: response_id.to_owned(),
            item_id: item_id.unwrap_or("").to_owned(),
            content_index,
        }
    }

    #[getter(r#type)]
    fn type_(&self) -> &'static str {
        "audio"
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "AudioEvent(bytes={}, response_id={:?}, item_id={:?}, content_index={})",
            self.data.bind(py).as_bytes().len(),
            self.response_id,
            self.item_id,
            self.content_index
        )
    }
}

/// The `audio_interrupted` event, with what was truncated.
#[pyclass(frozen, module = "realtime_ws._core", name = "AudioInterruptedEvent")]
pub struct AudioInterruptedEvent {
    #[pyo3(get)]
    pub item_id: String,
    #[pyo3(get)]
    pub content_index: i64,
    /// The `audio_end_ms` of the truncation.
    #[pyo3(get)]
    pub audio_end_ms: i64,
    /// Time since the first audio delta of the item, in ms.
    #[pyo3(get)]
    pub elapsed_ms: f64,
    /// True if cancelling the response was asked for (a `response.cancel` is
    /// sent when one is in progress).
    #[pyo3(get)]
    pub cancelled: bool,
    /// True if `conversation.item.truncate` was sent (false when generation
    /// had finished and the elapsed time covers all the audio received).
    #[pyo3(get)]
    pub truncated: bool,
}

impl From<Interrupted> for AudioInterruptedEvent {
    fn from(i: Interrupted) -> Self {
        AudioInterruptedEvent {
            item_id: i.item_id,
            content_index: i.content_index,
            audio_end_ms: i.audio_end_ms,
            elapsed_ms: i.elapsed_ms,
            cancelled: i.cancelled,
            truncated: i.truncated,
        }
    }
}

#[pymethods]
impl AudioInterruptedEvent {
    #[new]
    #[pyo3(signature = (item_id, content_index, audio_end_ms, elapsed_ms, cancelled, truncated = true))]
    fn new(
        item_id: String,
        content_index: i64,
        audio_end_ms: i64,
        elapsed_ms: f64,
        cancelled: bool,
        truncated: bool,
    ) -> Self {
        AudioInterruptedEvent {
            item_id,
            content_index,
            audio_end_ms,
            elapsed_ms,
            cancelled,
            truncated,
        }
    }

    #[getter(r#type)]
    fn type_(&self) -> &'static str {
        "audio_interrupted"
    }

    fn __repr__(&self) -> String {
        let b = |v: bool| if v { "True" } else { "False" };
        format!(
            "AudioInterruptedEvent(item_id={:?}, content_index={}, audio_end_ms={}, elapsed_ms={:.1}, cancelled={}, truncated={})",
            self.item_id,
            self.content_index,
            self.audio_end_ms,
            self.elapsed_ms,
            b(self.cancelled),
            b(self.truncated)
        )
    }
}

/// One server event, classified on a tokio thread.
#[pyclass(frozen, module = "realtime_ws._core", name = "ServerEvent")]
pub struct ServerEvent {
    name: Option<&'static str>,
    type_name: Option<String>,
    text: Text,
    value: OnceLock<Value>,
    delta: Option<DeltaFields>,
}

impl From<session::ServerEvent> for ServerEvent {
    fn from(e: session::ServerEvent) -> Self {
        let value = OnceLock::new();
        if let Some(v) = e.value {
            let _ = value.set(v);
        }
        ServerEvent {
            name: e.name,
            type_name: e.type_name,
            text: e.text,
            value,
            delta: e.delta,
        }
    }
}

#[pymethods]
impl ServerEvent {
    /// The GA name a known event is emitted under (beta names mapped), or
    /// None for a generic event (unknown type, or invalid for its type).
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        self.name.map(|n| PyString::intern(py, n))
    }

    /// The event's `type` as sent, or None if it has no string `type`.
    #[getter(r#type)]
    fn type_(&self) -> Option<&str> {
        self.type_name.as_deref()
    }

    /// The frame text as received (secrets redacted).
    #[getter]
    fn text(&self) -> &str {
        self.text.as_str()
    }

    /// A fresh Python object for the whole event (unknown fields included).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(v) = self.value.get() {
            return value_to_py(py, v);
        }
        match serde_json::from_str::<Value>(self.text.as_str()) {
            Ok(parsed) => value_to_py(py, self.value.get_or_init(|| parsed)),
            // What serde cannot hold (a lone UTF-16 surrogate), Python's own
            // parser keeps, as the reference's JSON.parse does.
            Err(_) => py
                .import("json")?
                .call_method1("loads", (self.text.as_str(),)),
        }
    }

    /// `(response_id, item_id, content_index, delta)` of a transcript or text delta.
    #[getter]
    fn delta(&self) -> Option<(String, String, i64, String)> {
        self.delta.as_ref().map(|d| {
            (
                d.response_id.clone(),
                d.item_id.clone(),
                d.content_index,
                d.delta.clone(),
            )
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "ServerEvent(type={:?}, kind={:?})",
            self.type_name, self.name
        )
    }
}

/// The handshake completed.
#[pyclass(frozen, module = "realtime_ws._core", name = "SocketOpened")]
pub struct SocketOpened {
    #[pyo3(get)]
    pub subprotocol: Option<String>,
}

/// The socket could not be opened.
#[pyclass(frozen, module = "realtime_ws._core", name = "ConnectFailed")]
pub struct ConnectFailed {
    /// `"invalid_url" | "invalid_header" | "timeout" | "io" | "tls" | "proxy" |
    /// "http_status" | "handshake" | "closed_before_ready"`
    #[pyo3(get)]
    pub kind: &'static str,
    #[pyo3(get)]
    pub message: String,
    #[pyo3(get)]
    pub status: Option<u16>,
}

/// The socket ended (the last event of a connection).
#[pyclass(frozen, module = "realtime_ws._core", name = "SocketClosed")]
pub struct SocketClosed {
    #[pyo3(get)]
    pub code: Option<u16>,
    #[pyo3(get)]
    pub reason: String,
    #[pyo3(get)]
    pub error: Option<String>,
}

/// Something the core reports as an `error` event (`source` is "protocol"
/// for a frame it could not use, "audio" for user audio it had to drop).
#[pyclass(frozen, module = "realtime_ws._core", name = "CoreNotice")]
pub struct CoreNotice {
    #[pyo3(get)]
    pub source: &'static str,
    #[pyo3(get)]
    pub message: String,
}
