//! A Realtime-compatible WebSocket server for tests, examples and load
//! benchmarks (`realtime_ws.testing.MockRealtimeServer`).
//!
//! Pure Rust (tokio + tungstenite), no pyo3: `bindings::mock` wraps it.
//!
//! - `server`: accept loop, HTTP handshake (auth, rejections, `GET /stats`),
//!   the per-connection I/O task and the handle used by the bindings.
//! - `session`: the per-connection protocol state machine (sans I/O);
//!   `schema`: its field checks, default sessions and the update merge.
//! - `script`: scripted responses; `vad`: energy VAD; `audio`: tone and
//!   G.711; `events`: server-event builders; `config`: options.

pub mod audio;
pub mod config;
pub mod events;
pub mod http;
pub mod schema;
pub mod script;
pub mod server;
pub mod session;
pub mod vad;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use config::MockConfig;
pub use server::{ConnSnapshot, MockServerHandle};

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

pub fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An id like the real server's (`sess_…`, `item_…`, `resp_…`): the prefix,
/// an underscore and 22 base-62 characters. Unique within the process (a
/// counter mixed through splitmix64), not cryptographically random.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed =
        *SEED.get_or_init(|| (unix_ns() as u64) ^ u64::from(std::process::id()).rotate_left(32));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(prefix.len() + 23);
    out.push_str(prefix);
    out.push('_');
    // `n * odd` and splitmix64 are both bijections on u64, and 11 base-62
    // digits hold all 64 bits, so the first half alone is unique per `n`.
    let mut state = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for _ in 0..2 {
        let mut x = splitmix64(&mut state);
        for _ in 0..11 {
            out.push(ALPHABET[(x % 62) as usize] as char);
            x /= 62;
        }
    }
    out
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Per-connection counters (also summed for `GET /stats`).
#[derive(Debug, Default)]
pub struct Counters {
    pub events_sent: AtomicU64,
    pub events_received: AtomicU64,
    /// `response.output_audio.delta` events sent.
    pub audio_deltas_sent: AtomicU64,
    /// Decoded audio bytes in those deltas (wire encoding: PCM16 or G.711).
    pub audio_bytes_sent: AtomicU64,
    /// Decoded bytes of `input_audio_buffer.append` audio.
    pub audio_bytes_received: AtomicU64,
    pub responses_created: AtomicU64,
    pub responses_cancelled: AtomicU64,
    pub errors_sent: AtomicU64,
    pub pings_sent: AtomicU64,
    pub pongs_received: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// `(name, value)` pairs, in a stable order.
    pub fn snapshot(&self) -> [(&'static str, u64); 10] {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("events_sent", g(&self.events_sent)),
            ("events_received", g(&self.events_received)),
            ("audio_deltas_sent", g(&self.audio_deltas_sent)),
            ("audio_bytes_sent", g(&self.audio_bytes_sent)),
            ("audio_bytes_received", g(&self.audio_bytes_received)),
            ("responses_created", g(&self.responses_created)),
            ("responses_cancelled", g(&self.responses_cancelled)),
            ("errors_sent", g(&self.errors_sent)),
            ("pings_sent", g(&self.pings_sent)),
            ("pongs_received", g(&self.pongs_received)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_look_real_and_are_unique() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_id("item")).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(5) {
            assert!(id.starts_with("item_"));
            assert_eq!(id.len(), 5 + 22);
            assert!(id[5..].chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }
}
