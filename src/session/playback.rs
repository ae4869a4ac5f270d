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
    /// What the application's player reported it has played of this item
    /// (`report_playback`); when set, it replaces the clock estimate.
    pub played_ms: Option<f64>,
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

    /// Milliseconds played of the item: what the player reported, else the
    /// time since the item's first audio (the reference's estimate); `None`
    /// when there is nothing to interrupt (no audio received, or reset).
    pub fn elapsed(&self, now: f64) -> Option<f64> {
        match (&self.item_id, self.first_audio_ms) {
            (Some(_), Some(t0)) => Some(self.played_ms.unwrap_or(now - t0)),
            _ => None,
        }
    }

    /// The player has played `played_ms` of `item_id`/`content_index`. Only the
    /// item being tracked takes it (a report for an older or unknown item says
    /// nothing about where the current one is). Returns whether it was taken.
    pub fn report(&mut self, item_id: &str, content_index: i64, played_ms: f64) -> bool {
        let current = self.item_id.as_deref() == Some(item_id)
            && self.content_index == Some(content_index)
            && played_ms.is_finite()
            && played_ms >= 0.0;
        if current {
            self.played_ms = Some(played_ms);
        }
        current
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
