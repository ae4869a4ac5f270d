//! Event objects handed to Python. `AudioEvent` and `AudioInterruptedEvent`
//! are public; `ServerEvent` is the internal carrier of one server frame,
//! turned into a fresh dict only when some listener wants one.

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::json::value_to_py;

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
    /// The `audio_end_ms` sent in `conversation.item.truncate`.
    #[pyo3(get)]
    pub audio_end_ms: i64,
    /// Wall time since the first audio delta of the item, in ms.
    #[pyo3(get)]
    pub elapsed_ms: f64,
    /// True if a `response.cancel` was requested.
    #[pyo3(get)]
    pub cancelled: bool,
}

#[pymethods]
impl AudioInterruptedEvent {
    #[new]
    #[pyo3(signature = (item_id, content_index, audio_end_ms, elapsed_ms, cancelled))]
    fn new(
        item_id: String,
        content_index: i64,
        audio_end_ms: i64,
        elapsed_ms: f64,
        cancelled: bool,
    ) -> Self {
        AudioInterruptedEvent {
            item_id,
            content_index,
            audio_end_ms,
            elapsed_ms,
            cancelled,
        }
    }

    #[getter(r#type)]
    fn type_(&self) -> &'static str {
        "audio_interrupted"
    }

    fn __repr__(&self) -> String {
        format!(
            "AudioInterruptedEvent(item_id={:?}, content_index={}, audio_end_ms={}, elapsed_ms={:.1}, cancelled={})",
            self.item_id,
            self.content_index,
            self.audio_end_ms,
            self.elapsed_ms,
            if self.cancelled { "True" } else { "False" }
        )
    }
}

/// Fields of a delta event, extracted on the tokio thread.
#[derive(Debug, Clone)]
pub struct DeltaFields {
    pub response_id: String,
    pub item_id: String,
    pub content_index: i64,
    pub delta: String,
}

/// One server frame, classified on the tokio thread.
#[pyclass(frozen, module = "realtime_ws._core", name = "ServerEvent")]
pub struct ServerEvent {
    pub type_name: Option<String>,
    pub known: bool,
    pub text: Utf8Bytes,
    pub value: OnceLock<Value>,
    pub delta: Option<DeltaFields>,
}

#[pymethods]
impl ServerEvent {
    /// The event's `type`, or None if it has no string `type`.
    #[getter(r#type)]
    fn type_(&self) -> Option<&str> {
        self.type_name.as_deref()
    }

    /// True for a GA event type whose required fields validate.
    #[getter]
    fn known(&self) -> bool {
        self.known
    }

    /// The frame text as received.
    #[getter]
    fn text(&self) -> &str {
        self.text.as_str()
    }

    /// A fresh Python object for the whole event (unknown fields included).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = match self.value.get() {
            Some(v) => v,
            None => {
                let parsed: Value = serde_json::from_str(self.text.as_str()).unwrap_or(Value::Null);
                self.value.get_or_init(|| parsed)
            }
        };
        value_to_py(py, v)
    }

    /// `(response_id, item_id, content_index, delta)` for delta events.
    fn delta_fields(&self) -> Option<(String, String, i64, String)> {
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
            "ServerEvent(type={:?}, known={})",
            self.type_name, self.known
        )
    }
}
