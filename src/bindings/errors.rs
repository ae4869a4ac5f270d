//! Raising the package's exceptions from Rust. The hierarchy is declared once,
//! in `python/realtime_ws/errors.py` (so each class can also subclass the
//! matching stdlib type), and looked up here by name.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || py.import("realtime_ws.errors").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// `realtime_ws.errors.<name>(message)`; falls back to RuntimeError if the
/// module cannot be imported (which would be a packaging bug).
pub fn error(py: Python<'_>, name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    match errors_module(py).and_then(|m| m.getattr(name)) {
        Ok(cls) => match cls.cast_into::<PyType>() {
            Ok(t) => PyErr::from_type(t, message),
            Err(_) => PyRuntimeError::new_err(message),
        },
        Err(_) => PyRuntimeError::new_err(message),
    }
}

pub fn not_connected(py: Python<'_>) -> PyErr {
    error(
        py,
        "NotConnectedError",
        "WebSocket is not connected. Make sure you call `connect()` before sending events.",
    )
}

pub fn invalid_audio(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error(py, "InvalidAudioError", message)
}
