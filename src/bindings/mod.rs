//! Everything that touches Python. The rest of the crate is pure Rust.

pub mod audio;
pub mod buffer;
pub mod errors;
pub mod events;
pub mod hub;
pub mod json;
pub mod mock;
pub mod transport;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Milliseconds on the monotonic clock the core uses for playback tracking.
#[pyfunction]
pub fn monotonic_ms() -> f64 {
    crate::session::monotonic_ms()
}

/// `max(0, floor(min(elapsed_ms, audio_length_ms)))`.
#[pyfunction]
pub fn audio_end_ms(elapsed_ms: f64, audio_length_ms: f64) -> i64 {
    crate::session::audio_end_ms(elapsed_ms, audio_length_ms)
}

/// Sets the tokio worker count; only before the first connection.
#[pyfunction]
pub fn configure_runtime(workers: usize) -> PyResult<()> {
    crate::runtime::configure_workers(workers).map_err(PyValueError::new_err)
}

/// Worker threads of the shared runtime (starts it if needed).
#[pyfunction]
pub fn runtime_workers() -> usize {
    crate::runtime::workers()
}

/// JSON text -> Python objects, with the core's parser.
#[pyfunction]
pub fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    json::loads(py, text)
}

/// Python objects -> JSON text, with the core's serialiser.
#[pyfunction]
pub fn dumps(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut s = String::new();
    json::write_json(obj, &mut s, 0)?;
    Ok(s)
}

/// Live Rust heap bytes, or with `peak=True` the most live at once since the
/// previous peak query (needs the `alloc-stats` feature; -1 otherwise).
#[pyfunction]
#[pyo3(signature = (peak=false))]
pub fn rust_heap_bytes(peak: bool) -> i64 {
    #[cfg(feature = "alloc-stats")]
    {
        if peak {
            return crate::alloc_stats::take_peak() as i64;
        }
        crate::alloc_stats::LIVE.load(std::sync::atomic::Ordering::Relaxed) as i64
    }
    #[cfg(not(feature = "alloc-stats"))]
    {
        let _ = peak;
        -1
    }
}
