//! Per-transport protocol state that outlives a single socket: playback
//! tracking for interruption (SEED_BEHAVIOUR.md 5a/5b), the server's audio
//! format, and the response.create sequencer. Pure Rust: the bindings feed it
//! classified frames and send whatever frames it returns.

use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;

use crate::audio::format::ServerAudioFormat;
use crate::protocol::client;
use crate::protocol::sequencer::Sequencer;
use crate::protocol::server::Kind;
use crate::protocol::Dialect;

/// Milliseconds on a monotonic clock shared by the core and Python
/// (`realtime_ws.monotonic_ms()`). The reference uses `Date.now()`; a
/// monotonic clock keeps `elapsed` correct across wall-clock jumps.
pub fn monotonic_ms() -> f64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// `audio_end_ms = max(0, floor(min(elapsed, audio_length)))`, always an integer.
pub fn audio_end_ms(elapsed_ms: f64, audio_length_ms: f64) -> i64 {
    let v = elapsed_ms.min(audio_length_ms).floor();
    if v.is_nan() || v < 0.0 {
        0
    } else {
        v as i64
    }
}

/// What the client has received of the current response's audio.
#[derive(Debug, Default, Clone)]
pub struct Playback {
    pub item_id: Option<String>,
    pub content_index: i64,
    pub first_audio_ms: Option<f64>,
    pub audio_length_ms: f64,
}

impl Playback {
    pub fn reset(&mut self) {
        *self = Playback::default();
    }
}

/// The result of an interruption done by the core.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupted {
    pub item_id: String,
    pub content_index: i64,
    pub elapsed_ms: f64,
    pub audio_end_ms: i64,
    pub cancelled: bool,
}

#[derive(Debug)]
pub struct SessionCore {
    pub sequencer: Sequencer,
    pub playback: Playback,
    pub server_format: ServerAudioFormat,
    /// `audio.input.turn_detection.interrupt_response` of the last `session.updated`.
    pub interrupt_response: Option<bool>,
    /// The core interrupts on `speech_started` by itself unless Python
    /// overrides the interrupt hooks (then Python does it).
    pub core_interrupts: bool,
    /// The core resets playback on `output_audio.done` unless Python
    /// overrides `_after_audio_done_event`.
    pub core_resets_on_audio_done: bool,
    /// Send `conversation.item.retrieve` automatically after transcription
    /// completed, truncated and MCP in-progress events (as the reference does).
    pub auto_retrieve: bool,
    /// The last `session.updated.session`, as JSON text: a few hundred bytes
    /// instead of a `Value` tree that is rarely read (idle sessions count).
    pub raw_session: Option<String>,
    /// GA (default) or the opt-in beta vocabulary.
    pub dialect: Dialect,
}

impl Default for SessionCore {
    fn default() -> Self {
        SessionCore {
            sequencer: Sequencer::new(),
            playback: Playback::default(),
            server_format: ServerAudioFormat::Default,
            interrupt_response: None,
            core_interrupts: true,
            core_resets_on_audio_done: true,
            auto_retrieve: true,
            raw_session: None,
            dialect: Dialect::Ga,
        }
    }
}

impl SessionCore {
    /// Bookkeeping for one `response.output_audio.delta` of `decoded_len` bytes.
    pub fn on_audio_delta(
        &mut self,
        item_id: &str,
        content_index: i64,
        decoded_len: usize,
        now: f64,
    ) {
        let p = &mut self.playback;
        if p.item_id.as_deref() != Some(item_id) {
            p.item_id = Some(item_id.to_owned());
        }
        p.content_index = content_index;
        if p.first_audio_ms.is_none() {
            p.first_audio_ms = Some(now);
            p.audio_length_ms = 0.0;
        }
        p.audio_length_ms += self.server_format.bytes_to_ms(decoded_len);
    }

    /// Reacts to a valid known server event; returns the frames to send and,
    /// for `speech_started`, the interruption the core performed.
    pub fn on_event(
        &mut self,
        kind: Kind,
        event: &Value,
        now: f64,
        out: &mut Vec<String>,
    ) -> Option<Interrupted> {
        match kind {
            Kind::ResponseCreated => out.extend(self.sequencer.on_response_created()),
            Kind::ResponseDone => out.extend(self.sequencer.on_response_done()),
            Kind::Error => {
                let err = event.get("error");
                let field = |k: &str| err.and_then(|e| e.get(k)).and_then(Value::as_str);
                out.extend(self.sequencer.on_error(
                    field("event_id"),
                    field("code"),
                    field("message"),
                ));
            }
            Kind::SessionUpdated => {
                let session = event.get("session");
                let (format, turn) = match self.dialect {
                    Dialect::Ga => {
                        let audio = session.and_then(|s| s.get("audio"));
                        (
                            audio
                                .and_then(|a| a.get("output"))
                                .and_then(|o| o.get("format")),
                            audio
                                .and_then(|a| a.get("input"))
                                .and_then(|i| i.get("turn_detection")),
                        )
                    }
                    // Beta sessions are flat: `output_audio_format: "g711_ulaw"`, `turn_detection`.
                    Dialect::Beta => (
                        session.and_then(|s| s.get("output_audio_format")),
                        session.and_then(|s| s.get("turn_detection")),
                    ),
                };
                self.server_format = ServerAudioFormat::from_json(format);
                self.interrupt_response = turn
                    .and_then(|t| t.get("interrupt_response"))
                    .and_then(Value::as_bool);
                self.raw_session = session.map(Value::to_string);
            }
            Kind::AudioDone if self.core_resets_on_audio_done => self.playback.reset(),
            Kind::SpeechStarted if self.core_interrupts => {
                let cancel = !self.interrupt_response.unwrap_or(false);
                return self.interrupt(cancel, now, out);
            }
            Kind::TranscriptionCompleted | Kind::ItemTruncated | Kind::McpCallInProgress
                if self.auto_retrieve =>
            {
                if let Some(id) = event.get("item_id").and_then(Value::as_str) {
                    out.push(client::item_retrieve(id));
                }
            }
            Kind::McpListToolsInProgress if self.auto_retrieve => {
                if let Some(id) = event.get("item_id").and_then(Value::as_str) {
                    out.push(client::item_retrieve(id));
                }
            }
            _ => {}
        }
        None
    }

    /// Elapsed ms since the first audio of the current item, or `None` when
    /// there is nothing to interrupt (no audio yet, or audio already done).
    pub fn elapsed(&self, now: f64) -> Option<f64> {
        match (&self.playback.item_id, self.playback.first_audio_ms) {
            (Some(_), Some(t0)) => Some(now - t0),
            _ => None,
        }
    }

    /// `_cancel_response`: a cancel only while a response is ongoing and no
    /// cancel is pending.
    pub fn cancel_response(&mut self, out: &mut Vec<String>) {
        if self.sequencer.can_cancel() {
            out.push(client::response_cancel());
            self.sequencer.on_cancel_sent();
        }
    }

    /// `interrupt(cancel)` then `_interrupt(elapsed, cancel)` with the
    /// default hooks, then the playback reset.
    pub fn interrupt(
        &mut self,
        cancel: bool,
        now: f64,
        out: &mut Vec<String>,
    ) -> Option<Interrupted> {
        let elapsed = self.elapsed(now)?;
        let result = if elapsed >= 0.0 {
            if cancel {
                self.cancel_response(out);
            }
            let end = audio_end_ms(elapsed, self.playback.audio_length_ms);
            let item_id = self.playback.item_id.clone().unwrap_or_default();
            let content_index = self.playback.content_index;
            out.push(client::truncate(&item_id, content_index, end));
            Some(Interrupted {
                item_id,
                content_index,
                elapsed_ms: elapsed,
                audio_end_ms: end,
                cancelled: cancel,
            })
        } else {
            None
        };
        self.playback.reset();
        result
    }

    /// Disconnect: sequencer released, audio state reset.
    pub fn reset(&mut self) {
        self.sequencer.reset();
        self.playback.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audio_end_ms_cases_from_the_reference() {
        assert_eq!(audio_end_ms(100.0, 42.8), 42);
        assert_eq!(audio_end_ms(110.9, 100.0), 100);
        assert_eq!(audio_end_ms(123.7, 200.0), 123);
        assert_eq!(audio_end_ms(0.9, 100.0), 0);
        assert_eq!(audio_end_ms(42.6, 42.0), 42);
        assert_eq!(audio_end_ms(-5.0, 10.0), 0);
        assert_eq!(audio_end_ms(f64::NAN, 10.0), 10);
    }

    #[test]
    fn no_audio_means_no_interrupt() {
        let mut s = SessionCore::default();
        let mut out = vec![];
        assert!(s.interrupt(true, 10.0, &mut out).is_none());
        assert!(out.is_empty());
    }

    #[test]
    fn speech_started_cancels_and_truncates_while_ongoing() {
        let mut s = SessionCore::default();
        let mut out = vec![];
        s.on_event(Kind::ResponseCreated, &json!({}), 0.0, &mut out);
        s.on_audio_delta("item_1", 0, 4800, 1000.0);
        let r = s
            .on_event(Kind::SpeechStarted, &json!({}), 1050.0, &mut out)
            .expect("interrupted");
        assert_eq!(r.audio_end_ms, 50);
        assert_eq!(out.len(), 2);
        assert!(out[0].contains("response.cancel"));
        assert!(out[1].contains("conversation.item.truncate"));
        assert!(s.playback.item_id.is_none());
    }

    #[test]
    fn interrupt_response_true_only_truncates_and_done_resets() {
        let mut s = SessionCore::default();
        let mut out = vec![];
        s.on_event(
            Kind::SessionUpdated,
            &json!({"session": {"audio": {"input": {"turn_detection": {"interrupt_response": true}},
                                           "output": {"format": {"type": "audio/pcmu"}}}}}),
            0.0,
            &mut out,
        );
        s.on_event(Kind::ResponseCreated, &json!({}), 0.0, &mut out);
        s.on_audio_delta("it", 0, 800, 0.0);
        assert_eq!(s.playback.audio_length_ms, 100.0);
        s.on_event(Kind::SpeechStarted, &json!({}), 500.0, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        let v: Value = serde_json::from_str(&out[0]).expect("json");
        assert_eq!(v["audio_end_ms"], 100);
        out.clear();
        s.on_audio_delta("it2", 0, 800, 600.0);
        s.on_event(Kind::AudioDone, &json!({}), 700.0, &mut out);
        assert!(s
            .on_event(Kind::SpeechStarted, &json!({}), 800.0, &mut out)
            .is_none());
        assert!(out.is_empty());
    }

    #[test]
    fn beta_session_updated_is_flat() {
        let mut s = SessionCore {
            dialect: Dialect::Beta,
            ..SessionCore::default()
        };
        let mut out = vec![];
        s.on_event(
            Kind::SessionUpdated,
            &json!({"session": {"output_audio_format": "g711_alaw",
                                "turn_detection": {"type": "server_vad", "interrupt_response": true}}}),
            0.0,
            &mut out,
        );
        assert_eq!(s.server_format, ServerAudioFormat::G711);
        assert_eq!(s.interrupt_response, Some(true));
    }

    #[test]
    fn auto_retrieve_after_truncated() {
        let mut s = SessionCore::default();
        let mut out = vec![];
        s.on_event(Kind::ItemTruncated, &json!({"item_id": "x"}), 0.0, &mut out);
        assert_eq!(out, vec![client::item_retrieve("x")]);
    }
}
