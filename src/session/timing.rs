//! Per-response latency, what operators of voice agents watch: from what
//! started a response to its first audio and its first text, and how long it
//! ran.
//!
//! What started it is the latest of the client's `response.create` leaving
//! (the sequencer's frame, whoever asked for it) and the end of the user's
//! speech (`input_audio_buffer.speech_stopped`, server VAD) before the
//! server's `response.created`; a response with neither (the server started it
//! on its own, e.g. a turn committed by hand) is timed from `response.created`.
//! Times are the core's monotonic milliseconds, taken when a frame is read or
//! written, so they include the network both ways but not the user's loop.

use std::collections::VecDeque;

/// What a response is timed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The client's `response.create` was sent.
    Request,
    /// The server reported the end of the user's speech.
    SpeechEnd,
    /// Neither: timed from `response.created`.
    Created,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Request => "response.create",
            Trigger::SpeechEnd => "speech_stopped",
            Trigger::Created => "response.created",
        }
    }
}

/// The timing of one finished response.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseTiming {
    pub response_id: String,
    pub trigger: Trigger,
    /// From the trigger to `response.created`.
    pub created_ms: f64,
    /// From the trigger to the first audio delta, if any audio came.
    pub first_audio_ms: Option<f64>,
    /// From the trigger to the first text or transcript delta, if any.
    pub first_text_ms: Option<f64>,
    /// From the trigger to `response.done`.
    pub duration_ms: f64,
}

struct Open {
    response_id: String,
    trigger: Trigger,
    start: f64,
    created: f64,
    first_audio: Option<f64>,
    first_text: Option<f64>,
}

/// Responses in progress are few (one, plus out-of-band ones); a server that
/// never sends `response.done` cannot grow this past the bound.
const MAX_OPEN: usize = 8;
/// Finished timings kept for `response_timing(id)` lookups.
const MAX_DONE: usize = 4;

#[derive(Default)]
pub struct Timing {
    pending: Option<(f64, Trigger)>,
    open: Vec<Open>,
    done: VecDeque<ResponseTiming>,
    completed: u64,
}

impl Timing {
    /// The client's `response.create` left at `now`.
    pub fn on_request(&mut self, now: f64) {
        self.pending = Some((now, Trigger::Request));
    }

    /// The server reported the end of the user's speech at `now`.
    pub fn on_speech_stopped(&mut self, now: f64) {
        self.pending = Some((now, Trigger::SpeechEnd));
    }

    pub fn on_created(&mut self, response_id: &str, now: f64) {
        let (start, trigger) = self.pending.take().unwrap_or((now, Trigger::Created));
        self.open.retain(|o| o.response_id != response_id);
        if self.open.len() >= MAX_OPEN {
            self.open.remove(0);
        }
        self.open.push(Open {
            response_id: response_id.to_owned(),
            trigger,
            start,
            created: now,
            first_audio: None,
            first_text: None,
        });
    }

    pub fn on_audio(&mut self, response_id: &str, now: f64) {
        if let Some(o) = self.find(response_id) {
            o.first_audio.get_or_insert(now);
        }
    }

    pub fn on_text(&mut self, response_id: &str, now: f64) {
        if let Some(o) = self.find(response_id) {
            o.first_text.get_or_insert(now);
        }
    }

    pub fn on_done(&mut self, response_id: &str, now: f64) {
        let Some(i) = self.open.iter().position(|o| o.response_id == response_id) else {
            return; // created before this socket, or never announced
        };
        let o = self.open.remove(i);
        let since = |t: f64| (t - o.start).max(0.0);
        if self.done.len() >= MAX_DONE {
            self.done.pop_front();
        }
        self.done.push_back(ResponseTiming {
            response_id: o.response_id,
            trigger: o.trigger,
            created_ms: since(o.created),
            first_audio_ms: o.first_audio.map(since),
            first_text_ms: o.first_text.map(since),
            duration_ms: since(now),
        });
        self.completed += 1;
    }

    /// A new socket: nothing in progress carries over.
    pub fn reset(&mut self) {
        self.pending = None;
        self.open.clear();
    }

    /// The timing of a finished response, if it is among the last few.
    pub fn get(&self, response_id: &str) -> Option<&ResponseTiming> {
        self.done
            .iter()
            .rev()
            .find(|t| t.response_id == response_id)
    }

    pub fn last(&self) -> Option<&ResponseTiming> {
        self.done.back()
    }

    /// Responses finished so far.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    fn find(&mut self, response_id: &str) -> Option<&mut Open> {
        // The newest first: deltas belong to the current response.
        self.open
            .iter_mut()
            .rev()
            .find(|o| o.response_id == response_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_response_is_timed_from_the_request() {
        let mut t = Timing::default();
        t.on_request(1000.0);
        t.on_created("r1", 1040.0);
        t.on_text("r1", 1100.0);
        t.on_audio("r1", 1150.0);
        t.on_audio("r1", 1200.0); // only the first counts
        t.on_text("r1", 1300.0);
        t.on_done("r1", 1900.0);
        assert_eq!(
            t.get("r1"),
            Some(&ResponseTiming {
                response_id: "r1".into(),
                trigger: Trigger::Request,
                created_ms: 40.0,
                first_audio_ms: Some(150.0),
                first_text_ms: Some(100.0),
                duration_ms: 900.0,
            })
        );
        assert_eq!(t.completed(), 1);
    }

    #[test]
    fn the_latest_trigger_wins_and_is_used_once() {
        let mut t = Timing::default();
        t.on_request(10.0);
        t.on_speech_stopped(50.0);
        t.on_created("r1", 80.0);
        t.on_done("r1", 100.0);
        let r1 = t.get("r1").cloned();
        assert_eq!(r1.as_ref().map(|r| r.trigger), Some(Trigger::SpeechEnd));
        assert_eq!(r1.map(|r| r.duration_ms), Some(50.0));
        // No trigger left: the next one is timed from its own creation.
        t.on_created("r2", 500.0);
        t.on_audio("r2", 530.0);
        t.on_done("r2", 600.0);
        let r2 = t.get("r2").cloned();
        assert_eq!(r2.as_ref().map(|r| r.trigger), Some(Trigger::Created));
        assert_eq!(r2.as_ref().and_then(|r| r.first_audio_ms), Some(30.0));
        assert_eq!(r2.as_ref().and_then(|r| r.first_text_ms), None);
        assert_eq!(t.last().map(|r| r.response_id.as_str()), Some("r2"));
    }

    #[test]
    fn unknown_and_unfinished_responses_stay_bounded() {
        let mut t = Timing::default();
        t.on_audio("nobody", 1.0);
        t.on_done("nobody", 2.0);
        assert_eq!(t.completed(), 0);
        for i in 0..100 {
            t.on_created(&format!("r{i}"), f64::from(i));
        }
        assert_eq!(t.open.len(), MAX_OPEN);
        for i in 92..100 {
            t.on_done(&format!("r{i}"), 200.0);
        }
        assert_eq!(t.done.len(), MAX_DONE);
        assert!(t.get("r95").is_none());
        assert!(t.get("r99").is_some());
        t.on_created("x", 0.0);
        t.reset();
        t.on_done("x", 1.0);
        assert!(t.get("x").is_none());
    }
}
