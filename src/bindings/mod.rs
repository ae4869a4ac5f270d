//! Everything that touches Python: thin `#[pyclass]` wrappers, conversions,
//! the error mapping. No per-frame rule lives here (those are in `session`).

pub mod audio;
pub mod buffer;
pub mod errors;
pub mod events;
pub mod hub;
pub mod json;
pub mod mock;
pub mod transport;

use pyo3::prelude::*;

use crate::error::CoreError;

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
    Ok(crate::runtime::configure_workers(workers).map_err(CoreError::value)?)
}

/// Whether a sending thread writes its frame to the socket itself (default)
/// or hands it to the socket task (for measuring one against the other).
#[pyfunction]
pub fn set_direct_write(on: bool) {
    crate::connection::socket::set_direct_write(on);
}

/// Lets Rust `log` records at or above a Python `logging` level through to
/// Python (installs the bridge on first use; `crate::logbridge`).
#[pyfunction]
pub fn set_log_level(python_level: u32) {
    crate::logbridge::install(crate::logbridge::filter_for(python_level));
}

/// Takes the buffered Rust log records: `([(levelno, logger, message)], dropped)`.
/// Loops get them with their events; this is for processes without one.
#[pyfunction]
pub fn take_logs() -> (Vec<(u8, String, String)>, u64) {
    logs_tuple()
}

pub(crate) fn logs_tuple() -> (Vec<(u8, String, String)>, u64) {
    let (records, dropped) = crate::logbridge::bridge().take();
    let records = records
        .into_iter()
        .map(|r| (r.level, r.logger, r.message))
        .collect();
    (records, dropped)
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
