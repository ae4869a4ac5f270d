//! The client session, sans I/O: every per-frame rule in one owner.
//!
//! Inputs are what the server sent (`on_server_text`, `on_server_binary`) and
//! what the user does (`send_audio`, `send_event`, `request_response`,
//! `interrupt`, ...); each returns its results in an [`Output`]: the frames to
//! write, in order, and the events to deliver to the user. No sockets, no
//! tokio, no Python: the bindings hold one `Session` per transport behind one
//! lock, feed it, write its frames and queue its events. The project's mock
//! server (`mock_server/session.rs`) works the same way; h11, wsproto and
//! quinn-proto are the well-known models.
//!
//! The rules implemented here follow the reference, @openai/agents-realtime
//! 0.20.0 (SEED_BEHAVIOUR.md with 0.20's changes): classification (known vs
//! generic events), the playback clock and interruption (`playback`), the
//! `response.create` sequencer (`protocol::sequencer`), the automatic
//! `conversation.item.retrieve`s, audio formats and conversion (`audio_path`).

pub mod audio_path;
pub mod playback;
#[cfg(test)]
mod tests;
pub mod timing;

use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;

use crate::audio::b64;
use crate::audio::convert::{Elem, Spec};
use crate::audio::format::{Direction, WireFormat};
use crate::audio::resample::Quality;
use crate::connection::{Redactor, Text};
use crate::protocol::client;
use crate::protocol::sequencer::{Req, Sequencer};
use crate::protocol::server::{classify, Delta, EventKind, Frame};
use crate::protocol::Dialect;

pub use crate::error::{CoreError, ErrorKind};
use audio_path::AudioPath;
pub use playback::{audio_end_ms, Interrupted, Playback};
use timing::Timing;
pub use timing::{ResponseTiming, Trigger};

fn response_id(event: &Value) -> Option<&str> {
    event
        .get("response")
        .and_then(|r| r.get("id"))
        .and_then(Value::as_str)
}

/// Milliseconds on a monotonic clock shared by the core and Python
/// (`realtime_ws.monotonic_ms()`). The reference uses `Date.now()`; a
/// monotonic clock keeps `elapsed` correct across wall-clock jumps.
pub fn monotonic_ms() -> f64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// The fields of a transcript or text delta, read on the fast path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaFields {
    pub response_id: String,
    pub item_id: String,
    pub content_index: i64,
    pub delta: String,
}

/// One server event for the user.
#[derive(Debug, Clone)]
pub struct ServerEvent {
    /// The GA name a known, valid event is emitted under (beta names mapped);
    /// `None` for a generic event, which only reaches `*`.
    pub name: Option<&'static str>,
    /// The event's `type` as sent (`None` if it has no string `type`).
    pub type_name: Option<String>,
    /// The frame as received (secrets redacted).
    pub text: Text,
    /// The parsed frame, when the core parsed it whole (not for deltas).
    pub value: Option<Value>,
    /// Delta fields, for transcript and text deltas.
    pub delta: Option<DeltaFields>,
}

/// One decoded chunk of the model's speech, in the user's format.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    pub data: Vec<u8>,
    pub event_id: String,
    pub response_id: String,
    pub item_id: String,
    pub content_index: i64,
    /// The delta as a server event, for `*` and typed listeners that want it.
    pub raw: Option<ServerEvent>,
}

/// What the session hands to the user.
#[derive(Debug, Clone)]
pub enum Event {
    Server(ServerEvent),
    Audio(AudioChunk),
    Interrupted(Interrupted),
    /// A frame the client could not use (an `error` event, source "protocol").
    FrameError(String),
    /// User audio that could not be sent (an `error` event, source "audio").
    AudioDropped(String),
}

/// The results of one input: frames to write (in order) and events to deliver.
#[derive(Debug, Default)]
pub struct Output {
    pub frames: Vec<String>,
    pub events: Vec<Event>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.events.is_empty()
    }
}

/// Which default behaviours the core performs itself. A Python subclass that
/// overrides the matching hook turns one off and does it in its override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hooks {
    /// Interrupt on `input_audio_buffer.speech_started` (`interrupt`,
    /// `_interrupt`, `_cancel_response` not overridden).
    pub core_interrupts: bool,
    /// Mark generation done on `response.output_audio.done`
    /// (`_after_audio_done_event` not overridden).
    pub core_marks_audio_done: bool,
    /// Send `conversation.item.retrieve` after transcription completed,
    /// truncated and MCP in-progress events.
    pub auto_retrieve: bool,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            core_interrupts: true,
            core_marks_audio_done: true,
            auto_retrieve: true,
        }
    }
}

/// What the user listens to, so the core can skip building what nobody wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wants {
    /// The raw frame of each audio delta (`*`, typed delta listeners).
    pub raw_audio: bool,
    pub transcript_deltas: bool,
    pub text_deltas: bool,
}

impl Default for Wants {
    fn default() -> Self {
        Wants {
            raw_audio: false,
            transcript_deltas: true,
            text_deltas: true,
        }
    }
}

/// At most this many responses' audio formats are remembered at once.
const MAX_RESPONSE_FORMATS: usize = 32;

/// The client session. See the module documentation.
pub struct Session {
    dialect: Dialect,
    hooks: Hooks,
    wants: Wants,
    sequencer: Sequencer,
    playback: Playback,
    audio: AudioPath,
    /// `turn_detection.interrupt_response` of the last `session.updated`.
    interrupt_response: Option<bool>,
    /// The last `session.updated.session`, as JSON text of exactly its length
    /// (a rarely read `Value` tree, or a string with growth slack, would cost
    /// every idle session more).
    raw_session: Option<Box<str>>,
    /// Output format per response id, from `response.created`.
    response_formats: Vec<(String, WireFormat)>,
    redactor: Redactor,
    /// Boxed on first use: an idle session that never ran a response pays 8 bytes.
    timing: Option<Box<Timing>>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new(Dialect::Ga)
    }
}

impl Session {
    pub fn new(dialect: Dialect) -> Self {
        Session {
            dialect,
            hooks: Hooks::default(),
            wants: Wants::default(),
            sequencer: Sequencer::new(),
            playback: Playback::default(),
            audio: AudioPath::default(),
            interrupt_response: None,
            raw_session: None,
            response_formats: Vec::new(),
            redactor: Redactor::default(),
            timing: None,
        }
    }

    // -- configuration ---------------------------------------------------------------------------

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn set_hooks(&mut self, hooks: Hooks) {
        self.hooks = hooks;
    }

    pub fn set_wants(&mut self, wants: Wants) {
        self.wants = wants;
    }

    pub fn wants(&self) -> Wants {
        self.wants
    }

    /// Secrets to keep out of server-provided text (the key of this connection).
    pub fn set_redactor(&mut self, redactor: Redactor) {
        self.redactor = redactor;
    }

    /// `text` with this connection's secrets replaced (for server-provided text
    /// that does not pass through the session, such as a close reason).
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    pub fn set_user_formats(
        &mut self,
        input: Option<Spec>,
        output: Option<Spec>,
        quality: Quality,
    ) -> Result<(), CoreError> {
        self.audio.set_user_formats(input, output, quality)
    }

    // -- state, for the hooks and properties --------------------------------------------------------

    pub fn playback(&self) -> &Playback {
        &self.playback
    }

    pub fn sequencer(&self) -> &Sequencer {
        &self.sequencer
    }

    pub fn interrupt_response(&self) -> Option<bool> {
        self.interrupt_response
    }

    pub fn raw_session(&self) -> Option<&str> {
        self.raw_session.as_deref()
    }

    pub fn wire_formats(&self) -> (WireFormat, WireFormat) {
        (self.audio.wire_in, self.audio.wire_out)
    }

    // -- server input ------------------------------------------------------------------------------

    /// One text frame from the server.
    pub fn on_server_text(&mut self, text: Text, now: f64, out: &mut Output) {
        let frame = match classify(text.as_str(), self.dialect) {
            Ok(f) => f,
            Err(e) => {
                let snippet: String = text.as_str().chars().take(80).collect();
                let msg = format!("{e} (frame starts {snippet:?})");
                out.events
                    .push(Event::FrameError(self.redactor.redact(&msg)));
                return;
            }
        };
        match frame {
            Frame::Delta(d) if d.kind == EventKind::AudioDelta => {
                self.on_audio_delta(&d, &text, now, out)
            }
            Frame::Delta(d) => {
                if let Some(t) = self.timing.as_mut() {
                    t.on_text(&d.response_id, now);
                }
                let wanted = if d.kind == EventKind::AudioTranscriptDelta {
                    self.wants.transcript_deltas
                } else {
                    self.wants.text_deltas
                };
                if !wanted {
                    return; // nobody listens: no event to build
                }
                let ev = ServerEvent {
                    name: Some(d.name),
                    type_name: Some(d.type_name.to_string()),
                    text: text.clone(),
                    value: None,
                    delta: Some(DeltaFields {
                        response_id: d.response_id.into_owned(),
                        item_id: d.item_id.into_owned(),
                        content_index: d.content_index,
                        delta: d.delta.into_owned(),
                    }),
                };
                out.events.push(Event::Server(ev));
            }
            Frame::Parsed {
                value,
                type_name,
                kind,
                name,
                lossy,
            } => {
                let unwanted = match kind {
                    EventKind::AudioTranscriptDelta => !self.wants.transcript_deltas,
                    EventKind::OutputTextDelta => !self.wants.text_deltas,
                    _ => false,
                };
                if !unwanted {
                    self.on_parsed(text, value, type_name, kind, name, lossy, now, out);
                }
            }
        }
    }

    /// One binary frame: the reference parses binary frames as text, so UTF-8
    /// JSON is handled the same way; anything else is reported.
    pub fn on_server_binary(&mut self, data: Bytes, now: f64, out: &mut Output) {
        match Text::new(data) {
            Ok(text) => self.on_server_text(text, now, out),
            Err(_) => out.events.push(Event::FrameError(
                "server sent a binary frame that is not UTF-8 JSON; it was dropped".into(),
            )),
        }
    }

    fn format_for(&self, response_id: &str) -> WireFormat {
        self.response_formats
            .iter()
            .find(|(id, _)| id == response_id)
            .map_or(self.audio.wire_out, |(_, f)| *f)
    }

    fn on_audio_delta(&mut self, d: &Delta<'_>, text: &Text, now: f64, out: &mut Output) {
        let decoded = match b64::decode(d.delta.as_bytes()) {
            Ok(v) => v,
            Err(e) => {
                out.events.push(Event::FrameError(format!(
                    "response.output_audio.delta for item {:?}: {e}; the chunk was dropped",
                    d.item_id
                )));
                return;
            }
        };
        if let Some(t) = self.timing.as_mut() {
            t.on_audio(&d.response_id, now);
        }
        let format = self.format_for(&d.response_id);
        // The clock counts the audio as the server sent it; the user gets their format.
        self.playback
            .on_delta(&d.item_id, d.content_index, decoded.len(), format, now);
        let converted = self
            .audio
            .convert_output(&d.item_id, d.content_index, format, decoded);
        if let Some(p) = converted.problem {
            out.events.push(Event::FrameError(p));
        }
        let raw = self.wants.raw_audio.then(|| ServerEvent {
            name: Some(d.name),
            type_name: Some(d.type_name.to_string()),
            text: text.clone(),
            value: None,
            delta: None,
        });
        out.events.push(Event::Audio(AudioChunk {
            data: converted.data,
            event_id: d.event_id.to_string(),
            response_id: d.response_id.to_string(),
            item_id: d.item_id.to_string(),
            content_index: d.content_index,
            raw,
        }));
    }

    /// A parsed event: the session's rules, then the event for the user.
    /// `lossy`: `value` was read from a repaired copy (lone surrogates); the
    /// user then gets the frame as sent and builds the dict from its text.
    #[allow(clippy::too_many_arguments)]
    fn on_parsed(
        &mut self,
        mut text: Text,
        mut value: Value,
        type_name: Option<String>,
        kind: EventKind,
        name: Option<&'static str>,
        lossy: bool,
        now: f64,
        out: &mut Output,
    ) {
        if !self.redactor.is_empty() && self.redactor.finds(text.as_str()) {
            let clean = self.redactor.redact(text.as_str());
            if let Ok(v) = serde_json::from_str(&clean) {
                value = v;
            }
            text = Text::from(clean);
        }
        #[cfg(feature = "test-hooks")]
        #[allow(clippy::panic)] // the point of the hook
        if type_name.as_deref() == Some("realtime_ws.test.panic") {
            panic!("deliberate test panic");
        }
        let mut before = None;
        let mut after = None;
        if name.is_some() {
            match kind {
                EventKind::ResponseCreated => {
                    self.remember_response_format(&value);
                    if let Some(id) = response_id(&value) {
                        self.timing_mut().on_created(id, now);
                    }
                    let next = self.sequencer.on_response_created();
                    self.sequenced(next, now, out);
                }
                EventKind::ResponseDone => {
                    if let Some(id) = response_id(&value) {
                        self.response_formats.retain(|(r, _)| r != id);
                        if let Some(t) = self.timing.as_mut() {
                            t.on_done(id, now);
                        }
                    }
                    let next = self.sequencer.on_response_done();
                    self.sequenced(next, now, out);
                }
                EventKind::SpeechStopped => self.timing_mut().on_speech_stopped(now),
                EventKind::AudioTranscriptDelta | EventKind::OutputTextDelta => {
                    if let Some(id) = value.get("response_id").and_then(Value::as_str) {
                        if let Some(t) = self.timing.as_mut() {
                            t.on_text(id, now);
                        }
                    }
                }
                EventKind::Error => {
                    let err = value.get("error");
                    let field = |k: &str| err.and_then(|e| e.get(k)).and_then(Value::as_str);
                    let next =
                        self.sequencer
                            .on_error(field("event_id"), field("code"), field("message"));
                    self.sequenced(next, now, out);
                }
                EventKind::SessionUpdated => self.on_session_updated(&value),
                EventKind::AudioDone => {
                    if self.hooks.core_marks_audio_done {
                        self.playback.generation_done = true;
                    }
                    let tail = self.audio.finish_output();
                    if let Some(p) = tail.problem {
                        out.events.push(Event::FrameError(p));
                    }
                    if !tail.data.is_empty() {
                        let field = |k: &str| {
                            value
                                .get(k)
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned()
                        };
                        before = Some(Event::Audio(AudioChunk {
                            data: tail.data,
                            event_id: field("event_id"),
                            response_id: field("response_id"),
                            item_id: field("item_id"),
                            content_index: value
                                .get("content_index")
                                .and_then(Value::as_i64)
                                .unwrap_or(0),
                            raw: None,
                        }));
                    }
                }
                EventKind::SpeechStarted if self.hooks.core_interrupts => {
                    let cancel = !self.interrupt_response.unwrap_or(false);
                    after = self.interrupt(cancel, now, out).map(Event::Interrupted);
                }
                EventKind::TranscriptionCompleted
                | EventKind::ItemTruncated
                | EventKind::McpCallInProgress
                | EventKind::McpListToolsInProgress
                    if self.hooks.auto_retrieve =>
                {
                    if let Some(id) = value.get("item_id").and_then(Value::as_str) {
                        out.frames.push(client::item_retrieve(id));
                    }
                }
                _ => {}
            }
        }
        out.events.extend(before);
        out.events.push(Event::Server(ServerEvent {
            name,
            type_name,
            text,
            value: (!lossy).then_some(value),
            delta: None,
        }));
        out.events.extend(after);
    }

    fn timing_mut(&mut self) -> &mut Timing {
        self.timing.get_or_insert_with(Box::default)
    }

    /// A `response.create` the sequencer lets out now: written, and timed.
    fn sequenced(&mut self, frame: Option<String>, now: f64, out: &mut Output) {
        if let Some(f) = frame {
            self.timing_mut().on_request(now);
            out.frames.push(f);
        }
    }

    fn remember_response_format(&mut self, event: &Value) {
        let response = event.get("response");
        let Some(id) = response.and_then(|r| r.get("id")).and_then(Value::as_str) else {
            return;
        };
        let own = response
            .and_then(|r| r.get("audio"))
            .and_then(|a| a.get("output"))
            .and_then(|o| o.get("format"))
            .filter(|f| !f.is_null())
            .map(WireFormat::from_json);
        let format = own.unwrap_or(self.audio.wire_out);
        self.response_formats.retain(|(r, _)| r != id);
        if self.response_formats.len() >= MAX_RESPONSE_FORMATS {
            self.response_formats.remove(0);
        }
        self.response_formats.push((id.to_owned(), format));
    }

    fn on_session_updated(&mut self, event: &Value) {
        let Some(session) = event.get("session") else {
            return;
        };
        if let Some(f) = WireFormat::of_session(session, self.dialect, Direction::Output) {
            self.audio.set_wire_output(f);
        } else if self.dialect == Dialect::Ga {
            // The reference reads `audio.output.format` of the latest session only.
            self.audio.set_wire_output(WireFormat::PCM24K);
        }
        let turn = match self.dialect {
            Dialect::Ga => session
                .get("audio")
                .and_then(|a| a.get("input"))
                .and_then(|i| i.get("turn_detection")),
            Dialect::Beta => session.get("turn_detection"),
        };
        self.interrupt_response = turn
            .and_then(|t| t.get("interrupt_response"))
            .and_then(Value::as_bool);
        self.raw_session = Some(session.to_string().into_boxed_str());
    }

    // -- user input --------------------------------------------------------------------------------

    /// Checks audio exactly as `send_audio` would, without sending it.
    pub fn check_audio(&self, bytes: &[u8], elem: Elem) -> Result<usize, CoreError> {
        self.audio.check(bytes, elem)
    }

    /// `send_audio`: validates, converts to the wire format and frames it.
    /// Returns the number of bytes taken.
    pub fn send_audio(
        &mut self,
        bytes: &[u8],
        elem: Elem,
        commit: bool,
        out: &mut Output,
    ) -> Result<usize, CoreError> {
        let n = self.audio.check(bytes, elem)?;
        let mut wire = Vec::new();
        let dropped = self.audio.convert_input(bytes, commit, &mut wire)?;
        if !wire.is_empty() {
            out.frames.push(client::append_audio(&wire));
        }
        if commit {
            out.frames.push(client::commit_audio());
        }
        if let Some(d) = dropped {
            out.events.push(Event::AudioDropped(d));
        }
        Ok(n)
    }

    /// Bytes of a partial input sample waiting for the next `send_audio`.
    pub fn pending_input_bytes(&self) -> usize {
        self.audio.input_carry()
    }

    /// `send_event`: one client event, already serialised (`text`, a JSON
    /// object whose `type` is `type_name`). `response.create` goes through
    /// the sequencer as a manual request, `response.cancel` marks the cancel,
    /// `session.update` sets the input format of later `send_audio` calls.
    pub fn send_event(
        &mut self,
        type_name: &str,
        text: String,
        event_id: Option<String>,
        now: f64,
        out: &mut Output,
    ) -> Result<(), CoreError> {
        match type_name {
            "response.create" => {
                let frame = self.sequencer.request(Req::Manual { text, event_id });
                self.sequenced(frame, now, out);
            }
            "response.cancel" => {
                self.sequencer.on_cancel_sent();
                out.frames.push(text);
            }
            "session.update" => {
                let v: Value = serde_json::from_str(&text).map_err(|e| {
                    CoreError::value(format!("session.update is not valid JSON: {e}"))
                })?;
                if let Some(session) = v.get("session") {
                    if let Some(f) = WireFormat::of_session(session, self.dialect, Direction::Input)
                    {
                        self.audio.set_wire_input(f)?;
                    }
                }
                out.frames.push(text);
            }
            _ => out.frames.push(text),
        }
        Ok(())
    }

    /// `request_response(override)`: automatic without an override (coalesced),
    /// manual with one. `response_json` is the override as JSON text.
    pub fn request_response(&mut self, response_json: Option<&str>, now: f64, out: &mut Output) {
        let req = match response_json {
            None => Req::Auto,
            Some(r) => Req::Manual {
                text: format!("{{\"type\":\"response.create\",\"response\":{r}}}"),
                event_id: None,
            },
        };
        let frame = self.sequencer.request(req);
        self.sequenced(frame, now, out);
    }

    /// `_cancel_response`: a `response.cancel` only while a response is in
    /// progress and no cancel is pending. Returns true if one was sent.
    pub fn cancel_response(&mut self, out: &mut Output) -> bool {
        if self.sequencer.can_cancel() {
            out.frames.push(client::response_cancel());
            self.sequencer.on_cancel_sent();
            true
        } else {
            false
        }
    }

    /// The timing of a finished response, if it is among the last few.
    pub fn response_timing(&self, response_id: &str) -> Option<&ResponseTiming> {
        self.timing.as_ref()?.get(response_id)
    }

    /// The last finished response's timing, and how many responses finished.
    pub fn timing_summary(&self) -> (Option<&ResponseTiming>, u64) {
        match &self.timing {
            Some(t) => (t.last(), t.completed()),
            None => (None, 0),
        }
    }

    /// Milliseconds since the first audio of the tracked item, or `None` when
    /// there is nothing to interrupt.
    pub fn playback_elapsed(&self, now: f64) -> Option<f64> {
        self.playback.elapsed(now)
    }

    /// `interrupt(cancel)` with the default hooks: `_interrupt` at the
    /// elapsed time, then the playback reset. `None` (nothing sent, no
    /// `audio_interrupted`) when no audio is being tracked.
    pub fn interrupt(&mut self, cancel: bool, now: f64, out: &mut Output) -> Option<Interrupted> {
        let elapsed = self.playback.elapsed(now)?;
        let result = self.interrupt_at(elapsed, cancel, out);
        self.reset_playback();
        result
    }

    /// `_interrupt(elapsed, cancel)`: optional cancel, then the truncate at
    /// `floor(min(elapsed, audio length))`, unless generation finished and the
    /// elapsed time covers all of it (0.20). `None` if `elapsed < 0`.
    pub fn interrupt_at(
        &mut self,
        elapsed_ms: f64,
        cancel: bool,
        out: &mut Output,
    ) -> Option<Interrupted> {
        if elapsed_ms.is_nan() || elapsed_ms < 0.0 {
            return None;
        }
        if cancel {
            self.cancel_response(out);
        }
        let t = self.playback.truncation(elapsed_ms);
        if t.truncate {
            out.frames.push(client::truncate(
                &t.item_id,
                t.content_index,
                t.audio_end_ms,
            ));
        }
        Some(Interrupted {
            item_id: t.item_id,
            content_index: t.content_index,
            elapsed_ms,
            audio_end_ms: t.audio_end_ms,
            cancelled: cancel,
            truncated: t.truncate,
        })
    }

    /// Forgets the tracked playback, and the output audio still inside the
    /// converter (it belongs to the interrupted response).
    pub fn reset_playback(&mut self) {
        self.playback.reset();
        self.audio.discard_output();
    }

    /// The application's player has played `played_ms` of the item: later
    /// interruptions truncate there instead of at the clock estimate.
    pub fn report_playback(&mut self, item_id: &str, content_index: i64, played_ms: f64) -> bool {
        self.playback.report(item_id, content_index, played_ms)
    }

    /// `_after_audio_done_event` called from a Python override: generation done.
    pub fn mark_audio_done(&mut self) {
        self.playback.generation_done = true;
    }

    /// The disconnect transition: the sequencer is released, playback and
    /// stream state reset. Returns a report if a partial input sample was dropped.
    pub fn on_disconnect(&mut self) -> Option<String> {
        self.sequencer.reset();
        if let Some(t) = self.timing.as_mut() {
            t.reset();
        }
        self.playback.reset();
        self.response_formats.clear();
        let dropped = self.audio.reset();
        (dropped > 0).then(|| {
            format!("{dropped} trailing byte(s) of send_audio did not make a whole sample and were dropped at close")
        })
    }
}
