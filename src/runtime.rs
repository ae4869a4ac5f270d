//! The one tokio runtime of the process, shared by every session and the mock
//! server. Built lazily on first use; the worker count can be set before that
//! (`realtime_ws.configure(workers=N)` or `REALTIME_WS_WORKERS`).
//!
//! NOTE: two workers by default. Per-frame work on the tokio side is parsing
//! and base64 (~1-3 µs per event), so one busy Python thread is the
//! bottleneck long before two workers are; more workers only add wake-ups.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static WORKERS: AtomicUsize = AtomicUsize::new(0);

pub const DEFAULT_WORKERS: usize = 2;

/// Sets the worker count. Fails once the runtime exists.
pub fn configure_workers(n: usize) -> Result<(), String> {
    if n == 0 || n > 1024 {
        return Err(format!("workers must be between 1 and 1024, got {n}"));
    }
    if RUNTIME.get().is_some() {
        return Err(
            "the runtime is already running; call configure() before the first connection".into(),
        );
    }
    WORKERS.store(n, Ordering::SeqCst);
    Ok(())
}

fn worker_count() -> usize {
    match WORKERS.load(Ordering::SeqCst) {
        0 => std::env::var("REALTIME_WS_WORKERS")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|n| (1..=1024).contains(n))
            .unwrap_or(DEFAULT_WORKERS),
        n => n,
    }
}

/// The runtime; panics only if the OS refuses to create threads at all.
pub fn get() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        #[allow(clippy::expect_used)]
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_count())
            .thread_name("realtime-ws")
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime")
    })
}

/// Number of worker threads of the runtime (building it if needed).
pub fn workers() -> usize {
    get().metrics().num_workers()
}
