//! realtime-ws: the Rust core of the `realtime_ws` Python package.
//!
//! The spine, in the order a frame meets it: `connection` (the socket, our own
//! WebSocket codec, one task per socket) -> `session` (every per-frame rule,
//! sans I/O) -> `delivery` (the per-loop event queue and its wake-up fd) ->
//! `bindings` (thin pyclasses). `audio` and `protocol` are the session's
//! building blocks; `mock_server` is the test peer. Only `bindings` touches
//! Python. This file only registers.

pub mod audio;
pub mod bindings;
pub mod connection;
pub mod delivery;
pub mod error;
pub mod logbridge;
pub mod mock_server;
pub mod protocol;
pub mod runtime;
pub mod session;
#[cfg(test)]
mod test_support;

/// The extension module `realtime_ws._core`. It declares that it needs the
/// GIL (`gil_used = true`): the core itself does not rely on it, but the
/// package is not tested on a free-threaded CPython yet.
#[pyo3::pymodule(name = "_core", gil_used = true)]
mod core_module {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::bindings::audio::{
        alaw_decode, alaw_encode, b64decode, b64encode, ulaw_decode, ulaw_encode, Resampler,
    };
    #[pymodule_export]
    use crate::bindings::events::{
        AudioEvent, AudioInterruptedEvent, ConnectFailed, CoreNotice, ServerEvent, SocketClosed,
        SocketOpened,
    };
    #[pymodule_export]
    use crate::bindings::hub::Hub;
    #[pymodule_export]
    use crate::bindings::mock::MockServer;
    #[pymodule_export]
    use crate::bindings::transport::Transport;
    #[pymodule_export]
    use crate::bindings::{
        audio_end_ms, configure_runtime, monotonic_ms, rust_heap_bytes, set_direct_write,
        set_log_level, take_logs,
    };

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::bindings::errors::init(m.py())?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add(
            "SEQUENCER_EVENT_ID_PREFIX",
            crate::protocol::sequencer::EVENT_ID_PREFIX,
        )?;
        m.add("REFERENCE_VERSION", crate::protocol::REFERENCE_VERSION)?;
        m.add("TEST_HOOKS", cfg!(feature = "test-hooks"))?;
        Ok(())
    }
}

/// Heap accounting for memory benchmarks (`--features alloc-stats`): counts
/// the bytes the Rust side has live. Off in normal builds (an atomic per
/// allocation is not free).
#[cfg(feature = "alloc-stats")]
pub mod alloc_stats {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicIsize, Ordering};

    pub static LIVE: AtomicIsize = AtomicIsize::new(0);
    /// High-water mark of `LIVE` since the last `take_peak`.
    pub static PEAK: AtomicIsize = AtomicIsize::new(0);

    fn grew(by: isize) {
        let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    /// The peak since the previous call; restarts the window from the live count.
    pub fn take_peak() -> isize {
        PEAK.swap(LIVE.load(Ordering::Relaxed), Ordering::Relaxed)
    }

    pub struct Counting;

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            grew(l.size() as isize);
            // SAFETY: forwarded to the system allocator with the same layout.
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
            // SAFETY: `p` came from `alloc` with this layout.
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            grew(new as isize - l.size() as isize);
            // SAFETY: forwarded with the original layout.
            unsafe { System.realloc(p, l, new) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}
