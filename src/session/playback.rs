//! Playback tracking and the interruption arithmetic (SEED_BEHAVIOUR.md 5a/5b,
//! as changed in @openai/agents-realtime 0.20): what the client has received of
//! the audio being played, and where to truncate it when the user barges in.

use crate::audio::format::WireFormat;

/// `audio_end_ms = max(0, floor(min(elapsed, audio_length)))`, always an integer.
pub fn audio_end_ms(elapsed_ms: f64, audio_length_ms: f64) -> i64 {
    let v = elapsed_ms.min(audio_length_ms).floor();
    if v.is_nan() || v < 0.0 {
        0
    } else {
        v as i64
    }
}

/// What the client has received of the audio item being played.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Playback {
    pub item_id: Option<String>,
    pub content_index: Option<i64>,
    /// When the item's first audio arrived (`monotonic_ms` units).
    pub first_audio_ms: Option<f64>,
    /// Received audio in ms, counted in the wire format of each delta.
    pub audio_length_ms: f64,
    /// `response.output_audio.done` arrived: generation finished, but the
    /// application may still be playing what it buffered (0.20's
    /// `#audioGenerationDone`).
    pub generation_done: bool,
}

impl Playback {
    pub fn reset(&mut self) {
        *self = Playback::default();
    }

    /// Bookkeeping for one audio delta of `decoded_len` bytes. A delta of
    /// another item or content part restarts the clock (0.20).
    pub fn on_delta(
        &mut self,
        item_id: &str,
        content_index: i64,
        decoded_len: usize,
        format: WireFormat,
        now: f64,
    ) {
        if self.item_id.as_deref() != Some(item_id) || self.content_index != Some(content_index) {
            self.reset();
            self.item_id = Some(item_id.to_owned());
            self.content_index = Some(content_index);
        }
        if self.first_audio_ms.is_none() {
            self.first_audio_ms = Some(now);
            self.audio_length_ms = 0.0;
        }
        self.audio_length_ms += format.bytes_to_ms(decoded_len);
    }

    /// Milliseconds since the item's first audio, or `None` when there is
    /// nothing to interrupt (no audio received, or tracking was reset).
    pub fn elapsed(&self, now: f64) -> Option<f64> {
        match (&self.item_id, self.first_audio_ms) {
            (Some(_), Some(t0)) => Some(now - t0),
            _ => None,
        }
    }

    /// The truncation for an interruption after `elapsed_ms` (`_interrupt`).
    /// `truncate` is false when generation finished and the elapsed time
    /// covers everything received: the transcript of audio estimated to be
    /// fully played is kept (0.20), though the player is still told to stop.
    pub fn truncation(&self, elapsed_ms: f64) -> Truncation {
        Truncation {
            item_id: self.item_id.clone().unwrap_or_default(),
            content_index: self.content_index.unwrap_or(0),
            audio_end_ms: audio_end_ms(elapsed_ms, self.audio_length_ms),
            truncate: !(self.generation_done && elapsed_ms >= self.audio_length_ms),
        }
    }
}

/// Where an interruption truncates the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub item_id: String,
    pub content_index: i64,
    pub audio_end_ms: i64,
    /// Whether `conversation.item.truncate` is sent.
    pub truncate: bool,
}

/// The result of an interruption, for the `audio_interrupted` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupted {
    pub item_id: String,
    pub content_index: i64,
    pub elapsed_ms: f64,
    pub audio_end_ms: i64,
    /// A `response.cancel` was sent.
    pub cancelled: bool,
    /// A `conversation.item.truncate` was sent.
    pub truncated: bool,
}
