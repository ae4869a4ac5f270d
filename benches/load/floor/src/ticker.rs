//! The single sender of the process, as in benches/load/harness.py: one task sends every
//! session its 20 ms chunk every 20 ms on an absolute schedule (a late tick is caught up
//! at once, so exactly real time is sent). It owns every session's write half, so a send
//! is a direct write to the socket: no hand-off to another task, the least a send costs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt as _;
use tokio::sync::Notify;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::frame;
use crate::session::Sink;

pub const TICK: Duration = Duration::from_millis(20);

#[derive(Default)]
pub struct Ticker {
    pub chunks_sent: AtomicU64,
    /// Inside the window: record each tick's lag.
    pub measuring: AtomicBool,
    stop: Notify,
}

/// What the ticker hands back: the write halves (for the close) and the lags, in s, of
/// the ticks inside the window.
pub type Stopped = (Vec<Sink>, Vec<f64>);

impl Ticker {
    pub fn stop(&self) {
        // A stored permit: seen at the next tick even if the ticker is sending now.
        self.stop.notify_one();
    }

    pub async fn run(
        self: Arc<Self>,
        mut sinks: Vec<Sink>,
        pcm: Vec<u8>,
    ) -> Result<Stopped, String> {
        let mut iv = interval_at(Instant::now() + TICK, TICK);
        iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut lags = Vec::new();
        loop {
            let due = tokio::select! {
                biased;
                () = self.stop.notified() => break,
                due = iv.tick() => due,
            };
            let lag = due.elapsed();
            if self.measuring.load(Relaxed) {
                lags.push(lag.as_secs_f64());
            }
            if lag >= TICK {
                // Behind: a caught-up tick is ready at once; let the readers run first
                // (the harness's ticker always suspends once per tick too).
                tokio::task::yield_now().await;
            }
            for sink in &mut sinks {
                sink.send(Message::text(frame::append_frame(&pcm)))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
            }
            self.chunks_sent.fetch_add(sinks.len() as u64, Relaxed);
        }
        Ok((sinks, lags))
    }
}
