//! Rust `log` records to Python `logging`, batched, never taking the GIL on
//! the thread that logs.
//!
//! A record that passes the level filter (synced from the Python loggers under
//! `realtime_ws`, so a disabled level costs one atomic load in the `log!`
//! macro) is formatted and pushed onto a bounded buffer; the push that finds
//! the buffer empty pokes one event loop's queue (`delivery::EventQueue::poke`),
//! whose next drain hands the whole buffer to Python with the events
//! (`bindings::hub`). Past `CAPACITY` records the oldest are dropped and
//! counted; the count is reported with the next batch.
//!
//! Pure Rust: `bindings::logging` installs it and exposes the level switch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::delivery::EventQueue;

/// Records held while no loop has drained them.
pub const CAPACITY: usize = 1000;

/// One record for Python: `logging` level number, logger name, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub level: u8,
    pub logger: String,
    pub message: String,
}

#[derive(Default)]
pub struct Bridge {
    records: Mutex<VecDeque<Record>>,
    dropped: AtomicU64,
    /// True while records are buffered (read on every drain: an atomic load).
    pending: AtomicBool,
    /// Queues of live event loops; the first live one is poked.
    loops: Mutex<Vec<Weak<EventQueue>>>,
}

impl Bridge {
    pub fn push(&self, record: Record) {
        let first = {
            let mut r = self.records.lock();
            if r.len() >= CAPACITY {
                r.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            r.push_back(record);
            !self.pending.swap(true, Ordering::AcqRel)
        };
        if first {
            self.poke();
        }
    }

    fn poke(&self) {
        let queue = {
            let mut loops = self.loops.lock();
            loops.retain(|w| w.strong_count() > 0);
            loops.iter().find_map(Weak::upgrade)
        };
        // Outside the lock: waking may itself log (a failed wake-up write).
        if let Some(q) = queue {
            q.poke();
        }
    }

    /// A loop's queue that may carry records from now on.
    pub fn register(&self, queue: &Arc<EventQueue>) {
        let mut loops = self.loops.lock();
        loops.retain(|w| w.strong_count() > 0);
        loops.push(Arc::downgrade(queue));
        drop(loops);
        if self.is_pending() {
            self.poke();
        }
    }

    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes the buffered records and the number dropped since the last take.
    pub fn take(&self) -> (Vec<Record>, u64) {
        let mut r = self.records.lock();
        self.pending.store(false, Ordering::Release);
        let records = r.drain(..).collect();
        (records, self.dropped.swap(0, Ordering::Relaxed))
    }
}

/// The process's bridge.
pub fn bridge() -> &'static Bridge {
    static BRIDGE: OnceLock<Bridge> = OnceLock::new();
    BRIDGE.get_or_init(Bridge::default)
}

/// Python `logging` level numbers of `log` levels.
pub fn python_level(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 40,
        log::Level::Warn => 30,
        log::Level::Info => 20,
        log::Level::Debug => 10,
        log::Level::Trace => 5,
    }
}

/// The `log` filter that lets through what a Python logger at `level` would
/// handle (`logging.WARNING` = 30 -> `Warn`); above `ERROR`, nothing.
pub fn filter_for(python_level: u32) -> log::LevelFilter {
    match python_level {
        0..=5 => log::LevelFilter::Trace,
        6..=10 => log::LevelFilter::Debug,
        11..=20 => log::LevelFilter::Info,
        21..=30 => log::LevelFilter::Warn,
        31..=40 => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    }
}

/// The Python logger of a `log` target: `realtime_ws::connection::task` ->
/// `realtime_ws.core.connection.task`, `rustls::client` -> `realtime_ws.core.rustls.client`.
pub fn logger_name(target: &str) -> String {
    let rest = target.strip_prefix("realtime_ws::").unwrap_or(target);
    let mut name = String::with_capacity(16 + rest.len());
    name.push_str("realtime_ws.core.");
    name.push_str(&rest.replace("::", "."));
    name
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        bridge().push(Record {
            level: python_level(record.level()),
            logger: logger_name(record.target()),
            message: record.args().to_string(),
        });
    }

    fn flush(&self) {}
}

/// Installs the bridge as the process's `log` logger (once; if another logger
/// is already installed, that one stays) with the given filter.
pub fn install(filter: log::LevelFilter) {
    static LOGGER: Logger = Logger;
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    if *INSTALLED.get_or_init(|| log::set_logger(&LOGGER).is_ok()) {
        log::set_max_level(filter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_names_map_to_python() {
        assert_eq!(python_level(log::Level::Warn), 30);
        assert_eq!(filter_for(30), log::LevelFilter::Warn);
        assert_eq!(filter_for(10), log::LevelFilter::Debug);
        assert_eq!(filter_for(25), log::LevelFilter::Warn);
        assert_eq!(filter_for(50), log::LevelFilter::Off);
        assert_eq!(
            logger_name("realtime_ws::connection::task"),
            "realtime_ws.core.connection.task"
        );
        assert_eq!(
            logger_name("rustls::client::hs"),
            "realtime_ws.core.rustls.client.hs"
        );
    }

    fn record(i: usize) -> Record {
        Record {
            level: 30,
            logger: "realtime_ws.core.test".into(),
            message: format!("m{i}"),
        }
    }

    #[test]
    fn the_buffer_is_bounded_and_counts_what_it_dropped() {
        let b = Bridge::default();
        assert!(!b.is_pending());
        for i in 0..CAPACITY + 7 {
            b.push(record(i));
        }
        assert!(b.is_pending());
        let (records, dropped) = b.take();
        assert_eq!(records.len(), CAPACITY);
        assert_eq!(dropped, 7);
        assert_eq!(records[0].message, "m7"); // the oldest went
        assert!(!b.is_pending());
        assert_eq!(b.take(), (Vec::new(), 0));
    }

    #[test]
    fn the_first_record_pokes_a_live_loop_once() {
        let b = Bridge::default();
        let queue = match EventQueue::new(crate::delivery::WakeKind::Pipe) {
            Ok(q) => Arc::new(q),
            Err(e) => panic!("{e}"),
        };
        queue.set_coalesce_us(0);
        b.register(&queue);
        let before = queue.wakes();
        b.push(record(1));
        b.push(record(2)); // already pending: no second poke
        assert_eq!(queue.wakes(), before + 1);
        b.take();
        b.push(record(3));
        assert_eq!(queue.wakes(), before + 1, "armed until the loop drains");
        queue.take();
        b.take();
        b.push(record(4));
        assert_eq!(queue.wakes(), before + 2);
    }
}
