//! One connection's protocol state machine, without I/O: client frames go
//! in (`on_text`, `on_binary`), server frames come out as JSON text, and a
//! streaming response advances through `next_due` / `step`. The I/O task in
//! `server.rs` only moves frames and sleeps until `next_due`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::audio::{AudioOut, Encoding};
use super::config::MockConfig;
use super::events::{self, ErrorBody, PartIds};
use super::schema::{
    check_format, check_item, check_keys, check_modalities, check_session_update, default_session,
    fill_defaults, invalid_type, invalid_value, item_not_found, merge, missing, opt_obj, path,
    req_str, req_u64, restore_immutable, supported, Kind, Res, CLIENT_EVENT_TYPES, RESPONSE_KEYS,
};
use super::script::{split_arguments, split_text, split_words, FunctionCall, Reply, Script};
use super::vad::{Vad, VadEvent, VadParams};
use super::{new_id, unix_ns, Counters};
use crate::audio::b64;

/// Default `silence_duration_ms` when a turn detection config has none.
pub const DEFAULT_SILENCE_MS: u32 = 300;
/// Minimum audio for a manual commit, as on the real server.
pub const MIN_COMMIT_MS: f64 = 100.0;

/// Everything a session shares with its server.
#[derive(Clone)]
pub struct SessionEnv {
    pub config: Arc<MockConfig>,
    pub scripts: Arc<Mutex<VecDeque<Script>>>,
    pub counters: Arc<Counters>,
}

/// The handshake query parameters the session cares about.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub model: Option<String>,
    pub intent: Option<String>,
}

/// Serialises events and numbers them (`event_<n>`; audio deltas carry their
/// build time: `evt_<n>_<unix_ns>`, for load-test latency measurements).
struct Emitter {
    seq: u64,
    out: Vec<String>,
    counters: Arc<Counters>,
}

impl Emitter {
    fn push(&mut self, build: impl FnOnce(&str) -> Value) {
        self.seq += 1;
        let id = format!("event_{}", self.seq);
        self.out.push(events::to_wire(&build(&id)));
    }

    fn audio(&mut self, ids: PartIds<'_>, bytes: &[u8]) {
        self.seq += 1;
        let id = format!("evt_{}_{}", self.seq, unix_ns());
        self.out
            .push(events::output_audio_delta_text(&id, ids, bytes));
        Counters::add(&self.counters.audio_deltas_sent, 1);
        Counters::add(&self.counters.audio_bytes_sent, bytes.len() as u64);
    }

    fn error(&mut self, e: &ErrorBody) {
        Counters::add(&self.counters.errors_sent, 1);
        self.push(|id| events::error(id, e));
    }

    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.out)
    }
}

struct StoredItem {
    id: String,
    item: Value,
    /// Assistant audio sent for this item, in ms (the truncation bound).
    audio_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modality {
    Audio,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body,
    Tail,
}

struct MessageBody {
    item_id: String,
    modality: Modality,
    /// Text (or transcript) piece per tick.
    pieces: Vec<String>,
    /// Stream mode: words repeated one per tick instead of `pieces`.
    cycle: Option<Vec<String>>,
    ticks: usize,
    text_sent: String,
    audio: Option<AudioOut>,
    audio_ms_sent: f64,
}

struct CallBody {
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
    pieces: Vec<String>,
}

enum Body {
    Message(MessageBody),
    Call(CallBody),
}

impl Body {
    fn item_id(&self) -> &str {
        match self {
            Body::Message(m) => &m.item_id,
            Body::Call(c) => &c.item_id,
        }
    }

    fn ticks(&self) -> usize {
        match self {
            Body::Message(m) => m.ticks,
            Body::Call(c) => c.pieces.len(),
        }
    }
}

struct Active {
    id: String,
    /// The response object without status, output and usage.
    base: Value,
    in_conversation: bool,
    paced: bool,
    chunk_ms: u32,
    phase: Phase,
    tick: usize,
    next_at: Instant,
    body_start: Instant,
    body: Body,
}

/// Why a response stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    ClientCancelled,
    TurnDetected,
}

impl CancelReason {
    fn as_str(self) -> &'static str {
        match self {
            CancelReason::ClientCancelled => "client_cancelled",
            CancelReason::TurnDetected => "turn_detected",
        }
    }
}

/// Turn detection as configured by the session.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TurnDetection {
    create_response: bool,
    interrupt_response: bool,
}

pub struct Session {
    env: SessionEnv,
    tx: Emitter,
    kind: Kind,
    session: Value,
    conversation_id: String,
    items: Vec<StoredItem>,
    // Input audio buffer.
    input_enc: Encoding,
    input_bytes: usize,
    input_carry: Option<u8>,
    input_ms_total: f64,
    vad: Vad,
    turn: Option<TurnDetection>,
    speech_item: Option<String>,
    active: Option<Active>,
    stream_started: bool,
    scratch: Vec<i16>,
    /// The last client frame was answered with an `error`.
    rejected: bool,
}

impl Session {
    pub fn new(env: SessionEnv, target: &Target) -> Session {
        let kind = if target.intent.as_deref() == Some("transcription") && target.model.is_none() {
            Kind::Transcription
        } else {
            Kind::Realtime
        };
        let mut session = default_session(kind, target.model.as_deref());
        if let Some(defaults) = &env.config.session_defaults {
            let keep = session.clone();
            merge(&mut session, defaults);
            restore_immutable(&mut session, &keep);
            fill_defaults(&mut session);
        }
        let counters = env.counters.clone();
        let params = VadParams {
            threshold: env.config.vad_threshold,
            speech_ms: env.config.vad_speech_ms,
            silence_ms: DEFAULT_SILENCE_MS,
        };
        let mut s = Session {
            env,
            tx: Emitter {
                seq: 0,
                out: Vec::new(),
                counters,
            },
            kind,
            session,
            conversation_id: new_id("conv"),
            items: Vec::new(),
            input_enc: Encoding::Pcm16,
            input_bytes: 0,
            input_carry: None,
            input_ms_total: 0.0,
            vad: Vad::new(params, 24_000),
            turn: None,
            speech_item: None,
            active: None,
            stream_started: false,
            scratch: Vec::new(),
            rejected: false,
        };
        s.apply_session();
        s
    }

    /// The current effective session object.
    pub fn session(&self) -> &Value {
        &self.session
    }

    /// `session.created`: the first frame of every accepted connection.
    pub fn opening(&mut self) -> Vec<String> {
        let session = &self.session;
        self.tx.push(|id| events::session_created(id, session));
        self.tx.take()
    }

    /// One `error` event (used for the handshake failures that the real
    /// server reports after the upgrade, right before closing).
    pub fn error_frame(&mut self, e: &ErrorBody) -> Vec<String> {
        self.tx.error(e);
        self.tx.take()
    }

    /// True if the last client frame was rejected with an `error` event
    /// (the recorder marks such frames, so validators can skip them).
    pub fn last_rejected(&self) -> bool {
        self.rejected
    }

    /// A binary frame: the real server accepts text frames only.
    pub fn on_binary(&mut self) -> Vec<String> {
        self.rejected = true;
        self.tx.error(&ErrorBody::invalid(
            "invalid_event",
            "Expected a text WebSocket message",
        ));
        self.tx.take()
    }

    /// A text frame from the client.
    pub fn on_text(&mut self, text: &str, now: Instant) -> Vec<String> {
        self.rejected = true;
        let parsed: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.tx.error(&ErrorBody::invalid(
                    "invalid_json",
                    format!("The server could not parse the event as JSON: {e}."),
                ));
                return self.tx.take();
            }
        };
        let Value::Object(ev) = parsed else {
            self.tx.error(&ErrorBody::invalid(
                "invalid_event",
                "Expected a JSON object as the event.",
            ));
            return self.tx.take();
        };
        let event_id = ev
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match self.dispatch(&ev, event_id.as_deref(), now) {
            Ok(()) => self.rejected = false,
            Err(mut e) => {
                e.event_id = event_id;
                self.tx.error(&e);
            }
        }
        self.tx.take()
    }

    fn dispatch(&mut self, ev: &Map<String, Value>, event_id: Option<&str>, now: Instant) -> Res {
        let ty = match ev.get("type") {
            None | Some(Value::Null) => return Err(missing("type")),
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err(invalid_type("type", "a string")),
        };
        match ty {
            "session.update" => self.on_session_update(ev, now),
            "input_audio_buffer.append" => self.on_append(ev, now),
            "input_audio_buffer.commit" => self.on_commit(),
            "input_audio_buffer.clear" => {
                self.input_bytes = 0;
                self.input_carry = None;
                self.speech_item = None;
                self.vad.reset();
                self.tx.push(events::cleared);
                Ok(())
            }
            "conversation.item.create" => self.on_item_create(ev),
            "conversation.item.retrieve" => {
                let id = req_str(ev, "item_id")?;
                let stored = self
                    .items
                    .iter()
                    .find(|i| i.id == id)
                    .ok_or_else(|| item_not_found(id))?;
                let item = &stored.item;
                self.tx.push(|eid| events::item_retrieved(eid, item));
                Ok(())
            }
            "conversation.item.delete" => {
                let id = req_str(ev, "item_id")?;
                let pos = self
                    .items
                    .iter()
                    .position(|i| i.id == id)
                    .ok_or_else(|| item_not_found(id))?;
                self.items.remove(pos);
                self.tx.push(|eid| events::item_deleted(eid, id));
                Ok(())
            }
            "conversation.item.truncate" => self.on_truncate(ev),
            "response.create" => self.on_response_create(ev, event_id, now),
            "response.cancel" if !self.env.config.respond => Ok(()),
            "response.cancel" => {
                let wanted = ev.get("response_id").and_then(Value::as_str);
                match &self.active {
                    Some(a) if wanted.is_none_or(|w| w == a.id) => {
                        self.cancel(CancelReason::ClientCancelled);
                        Ok(())
                    }
                    _ => Err(ErrorBody::invalid(
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found.",
                    )),
                }
            }
            "output_audio_buffer.clear" => Err(ErrorBody::invalid(
                "invalid_value",
                "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
            )
            .with_param("type")),
            other => Err(invalid_value(
                "type",
                format!(
                    "Invalid value: '{other}'. Supported values are: {}.",
                    supported(CLIENT_EVENT_TYPES)
                ),
            )),
        }
    }

    // ---- session ----------------------------------------------------------

    fn on_session_update(&mut self, ev: &Map<String, Value>, now: Instant) -> Res {
        let update = match ev.get("session") {
            None | Some(Value::Null) => return Err(missing("session")),
            Some(Value::Object(s)) => s,
            Some(_) => return Err(invalid_type("session", "an object")),
        };
        let ty = match update.get("type") {
            None | Some(Value::Null) => return Err(missing("session.type")),
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err(invalid_type("session.type", "a string")),
        };
        if ty != self.kind.as_str() {
            return Err(invalid_value(
                "session.type",
                format!(
                    "Invalid value: '{ty}'. This is a {} session; its type cannot be changed.",
                    self.kind.as_str()
                ),
            ));
        }
        check_session_update(update, self.kind)?;
        let keep = self.session.clone();
        merge(&mut self.session, &Value::Object(update.clone()));
        restore_immutable(&mut self.session, &keep);
        fill_defaults(&mut self.session);
        self.apply_session();
        let session = &self.session;
        self.tx.push(|id| events::session_updated(id, session));
        if let Some(seconds) = self.env.config.stream_audio_s {
            if !self.stream_started && self.kind == Kind::Realtime && self.active.is_none() {
                self.stream_started = true;
                self.start_stream(seconds, now);
            }
        }
        Ok(())
    }

    /// Derives the input format and turn detection from `self.session`.
    fn apply_session(&mut self) {
        let input = self.session.pointer("/audio/input");
        let enc = Encoding::from_format(input.and_then(|i| i.get("format")));
        if enc != self.input_enc {
            self.input_enc = enc;
            self.input_carry = None;
            self.vad.set_rate(enc.rate());
        }
        let td = input
            .and_then(|i| i.get("turn_detection"))
            .filter(|t| t.is_object());
        let turn = td.map(|td| TurnDetection {
            create_response: td
                .get("create_response")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            interrupt_response: td
                .get("interrupt_response")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        });
        let silence_ms = td
            .and_then(|t| t.get("silence_duration_ms"))
            .and_then(Value::as_u64)
            .map(|ms| ms.clamp(20, 60_000) as u32)
            .unwrap_or(DEFAULT_SILENCE_MS);
        self.vad.set_params(VadParams {
            threshold: self.env.config.vad_threshold,
            speech_ms: self.env.config.vad_speech_ms,
            silence_ms,
        });
        if turn.is_some() != self.turn.is_some() {
            self.vad.reset();
            self.speech_item = None;
        }
        self.turn = turn;
    }

    fn transcription_enabled(&self) -> bool {
        self.session
            .pointer("/audio/input/transcription")
            .is_some_and(Value::is_object)
    }

    fn output_modality(&self) -> Modality {
        modality_of(self.session.get("output_modalities")).unwrap_or(Modality::Audio)
    }

    // ---- input audio ------------------------------------------------------

    fn on_append(&mut self, ev: &Map<String, Value>, now: Instant) -> Res {
        let audio = req_str(ev, "audio")?;
        let bytes = b64::decode(audio.as_bytes()).map_err(|_| {
            invalid_value(
                "audio",
                "Invalid 'audio'. Expected base64-encoded audio bytes, but got an invalid value.",
            )
        })?;
        Counters::add(&self.env.counters.audio_bytes_received, bytes.len() as u64);
        self.input_bytes += bytes.len();
        self.input_ms_total += self.input_enc.ms_of(bytes.len());
        let mut samples = std::mem::take(&mut self.scratch);
        samples.clear();
        match self.input_enc {
            Encoding::Pcm16 => {
                // PCM16 frames may be split across appends: carry the odd byte.
                let mut rest: &[u8] = &bytes;
                if let Some(first) = self.input_carry.take() {
                    if let Some((&b, tail)) = rest.split_first() {
                        samples.push(i16::from_le_bytes([first, b]));
                        rest = tail;
                    } else {
                        self.input_carry = Some(first);
                    }
                }
                Encoding::Pcm16.decode_into(rest, &mut samples);
                if rest.len() % 2 == 1 {
                    self.input_carry = rest.last().copied();
                }
            }
            enc => enc.decode_into(&bytes, &mut samples),
        }
        let transitions = self.vad.push(&samples);
        self.scratch = samples;
        if self.turn.is_none() {
            return Ok(());
        }
        for t in transitions {
            self.on_vad(t, now);
        }
        Ok(())
    }

    fn on_vad(&mut self, t: VadEvent, now: Instant) {
        let Some(turn) = self.turn else { return };
        match t {
            VadEvent::SpeechStarted { audio_start_ms } => {
                let item_id = new_id("item");
                self.tx
                    .push(|id| events::speech_started(id, audio_start_ms, &item_id));
                self.speech_item = Some(item_id);
                if turn.interrupt_response && self.active.is_some() {
                    self.cancel(CancelReason::TurnDetected);
                }
            }
            VadEvent::SpeechStopped { audio_end_ms } => {
                let item_id = self.speech_item.take().unwrap_or_else(|| new_id("item"));
                self.tx
                    .push(|id| events::speech_stopped(id, audio_end_ms, &item_id));
                self.commit_buffer(item_id);
                let respond = self.env.config.respond;
                if respond
                    && turn.create_response
                    && self.kind == Kind::Realtime
                    && self.active.is_none()
                {
                    self.start_response(None, None, now);
                }
            }
        }
    }

    fn on_commit(&mut self) -> Res {
        let ms = self.input_enc.ms_of(self.input_bytes);
        if ms < MIN_COMMIT_MS {
            return Err(ErrorBody::invalid(
                "input_audio_buffer_commit_empty",
                format!(
                    "Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS:.0}ms of audio, but buffer only has {ms:.2}ms of audio."
                ),
            ));
        }
        let item_id = self.speech_item.take().unwrap_or_else(|| new_id("item"));
        self.vad.reset();
        self.commit_buffer(item_id);
        Ok(())
    }

    /// `committed`, the user audio item, and its transcription if enabled.
    fn commit_buffer(&mut self, item_id: String) {
        let seconds = self.input_enc.ms_of(self.input_bytes) / 1000.0;
        self.input_bytes = 0;
        self.input_carry = None;
        let prev = self.items.last().map(|i| i.id.clone());
        self.tx
            .push(|id| events::committed(id, &item_id, prev.as_deref()));
        let mut item = json!({
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": null}],
        });
        self.tx
            .push(|id| events::item_added(id, prev.as_deref(), &item));
        self.tx
            .push(|id| events::item_done(id, prev.as_deref(), &item));
        if self.transcription_enabled() {
            let transcript = self.env.config.input_transcript.clone();
            for piece in split_text(&transcript, 3).iter().filter(|p| !p.is_empty()) {
                self.tx
                    .push(|id| events::transcription_delta(id, &item_id, piece));
            }
            self.tx
                .push(|id| events::transcription_completed(id, &item_id, &transcript, seconds));
            item["content"][0]["transcript"] = Value::String(transcript);
        }
        self.items.push(StoredItem {
            id: item_id,
            item,
            audio_ms: 0.0,
        });
    }

    // ---- conversation -----------------------------------------------------

    fn on_item_create(&mut self, ev: &Map<String, Value>) -> Res {
        let item = match ev.get("item") {
            None | Some(Value::Null) => return Err(missing("item")),
            Some(Value::Object(i)) => i,
            Some(_) => return Err(invalid_type("item", "an object")),
        };
        check_item(item)?;
        let index = match ev.get("previous_item_id") {
            None | Some(Value::Null) => self.items.len(),
            Some(Value::String(p)) if p == "root" => 0,
            Some(Value::String(p)) => match self.items.iter().position(|i| &i.id == p) {
                Some(pos) => pos + 1,
                None => {
                    return Err(invalid_value(
                        "previous_item_id",
                        format!("Previous item with id '{p}' not found in the conversation."),
                    ))
                }
            },
            Some(_) => return Err(invalid_type("previous_item_id", "a string")),
        };
        let id = match item.get("id") {
            None | Some(Value::Null) => new_id("item"),
            Some(Value::String(id)) if self.items.iter().any(|i| &i.id == id) => {
                return Err(invalid_value(
                    "item.id",
                    format!("Item with id '{id}' already exists."),
                ))
            }
            Some(Value::String(id)) => id.clone(),
            Some(_) => return Err(invalid_type("item.id", "a string")),
        };
        let mut stored = item.clone();
        stored.insert("id".into(), Value::String(id.clone()));
        stored.insert("object".into(), "realtime.item".into());
        stored.entry("status").or_insert_with(|| "completed".into());
        let stored = Value::Object(stored);
        let prev = index
            .checked_sub(1)
            .and_then(|i| self.items.get(i))
            .map(|i| i.id.clone());
        self.tx
            .push(|eid| events::item_added(eid, prev.as_deref(), &stored));
        self.tx
            .push(|eid| events::item_done(eid, prev.as_deref(), &stored));
        self.items.insert(
            index,
            StoredItem {
                id,
                item: stored,
                audio_ms: 0.0,
            },
        );
        Ok(())
    }

    fn on_truncate(&mut self, ev: &Map<String, Value>) -> Res {
        let item_id = req_str(ev, "item_id")?;
        let content_index = req_u64(ev, "content_index")?;
        let audio_end_ms = req_u64(ev, "audio_end_ms")?;
        let active_ms = match &self.active {
            Some(Active {
                body: Body::Message(m),
                ..
            }) if m.item_id == item_id => Some(m.audio_ms_sent),
            _ => None,
        };
        let stored = self
            .items
            .iter_mut()
            .find(|i| i.id == item_id)
            .ok_or_else(|| item_not_found(item_id))?;
        let is_assistant = stored.item.get("type").and_then(Value::as_str) == Some("message")
            && stored.item.get("role").and_then(Value::as_str) == Some("assistant");
        if !is_assistant {
            return Err(invalid_value(
                "item_id",
                format!("Only assistant messages can be truncated; '{item_id}' is not one."),
            ));
        }
        let sent_ms = active_ms.unwrap_or(stored.audio_ms);
        if active_ms.is_none() {
            let part = stored
                .item
                .get("content")
                .and_then(|c| c.get(content_index as usize));
            let Some(part) = part else {
                return Err(invalid_value(
                    "content_index",
                    format!("Invalid content_index {content_index}: item '{item_id}' has no such content part."),
                ));
            };
            if part.get("type").and_then(Value::as_str) != Some("output_audio") {
                return Err(invalid_value(
                    "content_index",
                    format!("Content part {content_index} of item '{item_id}' is not audio."),
                ));
            }
        }
        if audio_end_ms as f64 > sent_ms {
            return Err(invalid_value(
                "audio_end_ms",
                format!(
                    "audio_end_ms {audio_end_ms} is past the end of the audio content ({} ms) of item '{item_id}'.",
                    sent_ms.floor()
                ),
            ));
        }
        if active_ms.is_none() {
            // The real server drops the transcript of what was not heard; cut
            // it in proportion to the audio kept.
            if let Some(part) = stored
                .item
                .pointer_mut(&format!("/content/{content_index}"))
            {
                if let Some(t) = part.get("transcript").and_then(Value::as_str) {
                    let keep = if sent_ms > 0.0 {
                        (t.chars().count() as f64 * audio_end_ms as f64 / sent_ms).floor() as usize
                    } else {
                        0
                    };
                    let cut: String = t.chars().take(keep).collect();
                    part["transcript"] = Value::String(cut);
                }
            }
            stored.audio_ms = audio_end_ms as f64;
        }
        self.tx
            .push(|id| events::item_truncated(id, item_id, content_index, audio_end_ms));
        Ok(())
    }

    // ---- responses ----------------------------------------------------------

    fn on_response_create(
        &mut self,
        ev: &Map<String, Value>,
        event_id: Option<&str>,
        now: Instant,
    ) -> Res {
        let params = opt_obj(ev, "response", "response")?;
        if let Some(p) = params {
            check_keys(p, RESPONSE_KEYS, "response")?;
            if let Some(m) = p.get("output_modalities") {
                check_modalities(m, "response.output_modalities")?;
            }
            if let Some(c) = p.get("conversation") {
                if !c.is_string() && !c.is_null() {
                    return Err(invalid_type("response.conversation", "a string"));
                }
            }
            if let Some(f) = path(p, &["audio", "output", "format"]) {
                check_format(f, "response.audio.output.format")?;
            }
            if let Some(m) = p.get("metadata") {
                if !m.is_object() && !m.is_null() {
                    return Err(invalid_type("response.metadata", "an object"));
                }
            }
        }
        if self.kind == Kind::Transcription {
            return Err(ErrorBody::invalid(
                "invalid_request_error",
                "Responses are not supported in a transcription session.",
            ));
        }
        if !self.env.config.respond {
            return Ok(());
        }
        if let Some(a) = &self.active {
            return Err(ErrorBody::invalid(
                "conversation_already_has_active_response",
                format!(
                    "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.",
                    a.id
                ),
            ));
        }
        self.start_response(event_id, params, now);
        Ok(())
    }

    fn response_base(
        &self,
        id: &str,
        params: Option<&Map<String, Value>>,
        modality: Modality,
        in_conv: bool,
    ) -> Value {
        let p = |keys: &[&str]| params.and_then(|m| path(m, keys)).cloned();
        let format = p(&["audio", "output", "format"])
            .or_else(|| self.session.pointer("/audio/output/format").cloned())
            .unwrap_or(json!({"type": "audio/pcm", "rate": 24000}));
        let voice = p(&["audio", "output", "voice"])
            .or_else(|| self.session.pointer("/audio/output/voice").cloned())
            .unwrap_or(json!("alloy"));
        json!({
            "object": "realtime.response",
            "id": id,
            "conversation_id": if in_conv { Value::String(self.conversation_id.clone()) } else { Value::Null },
            "output_modalities": [if modality == Modality::Audio { "audio" } else { "text" }],
            "max_output_tokens": p(&["max_output_tokens"])
                .or_else(|| self.session.get("max_output_tokens").cloned())
                .unwrap_or(json!("inf")),
            "audio": {"output": {"format": format, "voice": voice}},
            "metadata": p(&["metadata"]).unwrap_or(Value::Null),
        })
    }

    /// Starts the next scripted response (or the default reply).
    fn start_response(
        &mut self,
        trigger: Option<&str>,
        params: Option<&Map<String, Value>>,
        now: Instant,
    ) {
        let script = self.env.scripts.lock().pop_front();
        let script = script.unwrap_or(Script::Reply(Reply {
            text: None,
            audio_ms: None,
            tone_hz: None,
            audio: None,
            delay_ms: 0,
        }));
        let in_conv = params
            .and_then(|p| p.get("conversation"))
            .and_then(Value::as_str)
            != Some("none");
        let modality = params
            .and_then(|p| modality_of(p.get("output_modalities")))
            .unwrap_or_else(|| self.output_modality());
        let id = new_id("resp");
        let base = self.response_base(&id, params, modality, in_conv);
        let cfg = self.env.config.clone();
        let (body, delay_ms) = match script {
            Script::Error(e) => {
                self.tx.error(&ErrorBody {
                    error_type: e.error_type,
                    code: e.code,
                    message: e.message,
                    param: None,
                    event_id: trigger.map(str::to_owned),
                });
                return;
            }
            Script::FunctionCall(FunctionCall {
                name,
                arguments,
                call_id,
            }) => {
                let pieces = split_arguments(&arguments, 4);
                let body = CallBody {
                    item_id: new_id("item"),
                    call_id: call_id.unwrap_or_else(|| new_id("call")),
                    name,
                    arguments,
                    pieces,
                };
                (Body::Call(body), 0)
            }
            Script::Reply(r) => {
                let text = r.text.unwrap_or_else(|| cfg.text.clone());
                let audio = (modality == Modality::Audio).then(|| {
                    let enc = Encoding::from_format(base.pointer("/audio/output/format"));
                    let pcm = r.audio.as_ref().or(cfg.audio.as_ref());
                    match (r.audio_ms, pcm) {
                        // An explicit length with no PCM of the script's own: a tone.
                        (Some(ms), _) if r.audio.is_none() => {
                            AudioOut::tone(enc, r.tone_hz.unwrap_or(cfg.tone_hz), u64::from(ms))
                        }
                        (_, Some(pcm)) => AudioOut::pcm(enc, pcm),
                        (ms, None) => AudioOut::tone(
                            enc,
                            r.tone_hz.unwrap_or(cfg.tone_hz),
                            u64::from(ms.unwrap_or(cfg.audio_ms)),
                        ),
                    }
                });
                (
                    Body::Message(message_body(modality, &text, audio, cfg.chunk_ms, None)),
                    r.delay_ms,
                )
            }
        };
        self.begin(
            id,
            base,
            in_conv,
            cfg.realtime,
            body,
            now + Duration::from_millis(delay_ms),
            now,
        );
    }

    /// Load mode: `seconds` of paced audio with transcript words cycling.
    fn start_stream(&mut self, seconds: f64, now: Instant) {
        let cfg = self.env.config.clone();
        let modality = self.output_modality();
        let id = new_id("resp");
        let base = self.response_base(&id, None, modality, true);
        let ms = (seconds * 1000.0).round() as u64;
        let enc = Encoding::from_format(base.pointer("/audio/output/format"));
        let audio = (modality == Modality::Audio).then(|| AudioOut::tone(enc, cfg.tone_hz, ms));
        // One word per tick, each followed by a space so the cycle reads well.
        let words: Vec<String> = split_words(&cfg.text)
            .into_iter()
            .map(|w| format!("{} ", w.trim()))
            .collect();
        let words = if words.is_empty() {
            vec!["…".to_owned()]
        } else {
            words
        };
        let mut body = message_body(modality, "", audio, cfg.chunk_ms, Some(words));
        if modality == Modality::Text {
            body.ticks = (ms / u64::from(cfg.chunk_ms)).max(1) as usize;
        }
        self.begin(id, base, true, true, Body::Message(body), now, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        id: String,
        base: Value,
        in_conv: bool,
        paced: bool,
        body: Body,
        at: Instant,
        now: Instant,
    ) {
        Counters::add(&self.env.counters.responses_created, 1);
        self.active = Some(Active {
            id,
            base,
            in_conversation: in_conv,
            paced,
            chunk_ms: self.env.config.chunk_ms,
            phase: Phase::Head,
            tick: 0,
            next_at: at.max(now),
            body_start: at.max(now),
            body,
        });
    }

    /// When the active response has its next frames due (`None`: idle).
    pub fn next_due(&self) -> Option<Instant> {
        self.active.as_ref().map(|a| a.next_at)
    }

    /// True while a response is streaming.
    pub fn has_active_response(&self) -> bool {
        self.active.is_some()
    }

    /// Emits whatever of the active response is due at `now`: the head
    /// events, one tick of deltas, or the tail.
    pub fn step(&mut self, now: Instant) -> Vec<String> {
        let Some(mut a) = self.active.take() else {
            return Vec::new();
        };
        if now < a.next_at {
            self.active = Some(a);
            return Vec::new();
        }
        match a.phase {
            Phase::Head => {
                self.emit_head(&a);
                a.phase = if a.body.ticks() == 0 {
                    Phase::Tail
                } else {
                    Phase::Body
                };
                a.body_start = now;
                a.next_at = now;
                self.active = Some(a);
            }
            Phase::Body => {
                self.emit_tick(&mut a);
                a.tick += 1;
                if a.tick >= a.body.ticks() {
                    a.phase = Phase::Tail;
                }
                a.next_at = if a.paced {
                    a.body_start + Duration::from_millis(u64::from(a.chunk_ms) * a.tick as u64)
                } else {
                    now
                };
                self.active = Some(a);
            }
            Phase::Tail => self.finish(a),
        }
        self.tx.take()
    }

    fn in_progress_item(&self, a: &Active) -> Value {
        match &a.body {
            Body::Message(m) => json!({
                "id": m.item_id,
                "object": "realtime.item",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }),
            Body::Call(c) => json!({
                "id": c.item_id,
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "name": c.name,
                "call_id": c.call_id,
                "arguments": "",
            }),
        }
    }

    /// The item as it stands (`status` completed or incomplete).
    fn final_item(a: &Active, status: &str, upto_tick: usize) -> Value {
        match &a.body {
            Body::Message(m) => {
                let part = match m.modality {
                    Modality::Audio => json!({"type": "output_audio", "transcript": m.text_sent}),
                    Modality::Text => json!({"type": "output_text", "text": m.text_sent}),
                };
                json!({
                    "id": m.item_id,
                    "object": "realtime.item",
                    "type": "message",
                    "status": status,
                    "role": "assistant",
                    "content": [part],
                })
            }
            Body::Call(c) => {
                let arguments: String = if status == "completed" {
                    c.arguments.clone()
                } else {
                    c.pieces
                        .iter()
                        .take(upto_tick)
                        .map(String::as_str)
                        .collect()
                };
                json!({
                    "id": c.item_id,
                    "object": "realtime.item",
                    "type": "function_call",
                    "status": status,
                    "name": c.name,
                    "call_id": c.call_id,
                    "arguments": arguments,
                })
            }
        }
    }

    fn emit_head(&mut self, a: &Active) {
        let mut created = a.base.clone();
        created["status"] = json!("in_progress");
        created["status_details"] = Value::Null;
        created["output"] = json!([]);
        created["usage"] = Value::Null;
        self.tx.push(|id| events::response_created(id, &created));
        let item = self.in_progress_item(a);
        self.tx
            .push(|id| events::output_item_added(id, &a.id, 0, &item));
        if a.in_conversation {
            let prev = self.items.last().map(|i| i.id.clone());
            self.tx
                .push(|id| events::item_added(id, prev.as_deref(), &item));
            self.items.push(StoredItem {
                id: a.body.item_id().to_owned(),
                item,
                audio_ms: 0.0,
            });
        }
        if let Body::Message(m) = &a.body {
            let ids = PartIds {
                response_id: &a.id,
                item_id: &m.item_id,
                output_index: 0,
                content_index: 0,
            };
            let part = match m.modality {
                Modality::Audio => json!({"type": "audio", "transcript": ""}),
                Modality::Text => json!({"type": "text", "text": ""}),
            };
            self.tx
                .push(|id| events::content_part_added(id, ids, &part));
        }
    }

    fn emit_tick(&mut self, a: &mut Active) {
        let tick = a.tick;
        match &mut a.body {
            Body::Message(m) => {
                let piece = match &m.cycle {
                    Some(words) => words
                        .get(tick % words.len().max(1))
                        .cloned()
                        .unwrap_or_default(),
                    None => m.pieces.get(tick).cloned().unwrap_or_default(),
                };
                let ids = PartIds {
                    response_id: &a.id,
                    item_id: &m.item_id,
                    output_index: 0,
                    content_index: 0,
                };
                if !piece.is_empty() {
                    match m.modality {
                        Modality::Audio => self
                            .tx
                            .push(|id| events::output_audio_transcript_delta(id, ids, &piece)),
                        Modality::Text => self
                            .tx
                            .push(|id| events::output_text_delta(id, ids, &piece)),
                    }
                    m.text_sent.push_str(&piece);
                }
                if let Some(audio) = m.audio.as_mut() {
                    if let Some(chunk) = audio.next_chunk(a.chunk_ms) {
                        m.audio_ms_sent += audio.encoding().ms_of(chunk.len());
                        self.tx.audio(ids, &chunk);
                    }
                }
            }
            Body::Call(c) => {
                if let Some(piece) = c.pieces.get(tick) {
                    let (rid, iid, cid) = (&a.id, &c.item_id, &c.call_id);
                    self.tx.push(|id| {
                        events::function_call_arguments_delta(id, rid, iid, 0, cid, piece)
                    });
                }
            }
        }
    }

    /// Stores the response's item in the conversation as it ended.
    fn store_item(&mut self, a: &Active, item: &Value) {
        if !a.in_conversation {
            return;
        }
        let audio_ms = match &a.body {
            Body::Message(m) => m.audio_ms_sent,
            Body::Call(_) => 0.0,
        };
        if let Some(s) = self.items.iter_mut().find(|i| i.id == a.body.item_id()) {
            s.item = item.clone();
            s.audio_ms = audio_ms;
        }
    }

    fn prev_of(&self, item_id: &str) -> Option<String> {
        let pos = self.items.iter().position(|i| i.id == item_id)?;
        pos.checked_sub(1)
            .and_then(|p| self.items.get(p))
            .map(|i| i.id.clone())
    }

    fn finish(&mut self, a: Active) {
        let item = Self::final_item(&a, "completed", usize::MAX);
        let item_id = a.body.item_id().to_owned();
        match &a.body {
            Body::Message(m) => {
                let ids = PartIds {
                    response_id: &a.id,
                    item_id: &m.item_id,
                    output_index: 0,
                    content_index: 0,
                };
                match m.modality {
                    Modality::Audio => {
                        self.tx.push(|id| events::output_audio_done(id, ids));
                        self.tx
                            .push(|id| events::output_audio_transcript_done(id, ids, &m.text_sent));
                        let part = json!({"type": "audio", "transcript": m.text_sent});
                        self.tx.push(|id| events::content_part_done(id, ids, &part));
                    }
                    Modality::Text => {
                        self.tx
                            .push(|id| events::output_text_done(id, ids, &m.text_sent));
                        let part = json!({"type": "text", "text": m.text_sent});
                        self.tx.push(|id| events::content_part_done(id, ids, &part));
                    }
                }
            }
            Body::Call(c) => {
                let (rid, iid, cid) = (&a.id, &c.item_id, &c.call_id);
                self.tx.push(|id| {
                    events::function_call_arguments_done(
                        id,
                        rid,
                        iid,
                        0,
                        cid,
                        &c.name,
                        &c.arguments,
                    )
                });
            }
        }
        if a.in_conversation {
            let prev = self.prev_of(&item_id);
            self.tx
                .push(|id| events::item_done(id, prev.as_deref(), &item));
        }
        self.tx
            .push(|id| events::output_item_done(id, &a.id, 0, &item));
        self.store_item(&a, &item);
        let usage = self.usage(&a);
        let total = usage["total_tokens"].as_u64().unwrap_or(0);
        let mut done = a.base.clone();
        done["status"] = json!("completed");
        done["status_details"] = Value::Null;
        done["output"] = json!([item]);
        done["usage"] = usage;
        self.tx.push(|id| events::response_done(id, &done));
        self.tx.push(|id| events::rate_limits_updated(id, total));
    }

    /// Stops the active response now: `response.done` with status cancelled.
    pub fn cancel(&mut self, reason: CancelReason) {
        let Some(a) = self.active.take() else { return };
        if a.phase == Phase::Head {
            // Nothing was sent yet (a scripted delay): announce it first so
            // the client still sees created -> done.
            self.emit_head(&a);
        }
        let item = Self::final_item(&a, "incomplete", a.tick);
        self.store_item(&a, &item);
        let usage = self.usage(&a);
        let mut done = a.base.clone();
        done["status"] = json!("cancelled");
        done["status_details"] = json!({"type": "cancelled", "reason": reason.as_str()});
        done["output"] = json!([item]);
        done["usage"] = usage;
        self.tx.push(|id| events::response_done(id, &done));
        Counters::add(&self.env.counters.responses_cancelled, 1);
    }

    /// Plausible token counts: ~4 characters per text token, 10 input audio
    /// tokens per second, 20 output audio tokens per second.
    fn usage(&self, a: &Active) -> Value {
        let text_chars: usize = self.items.iter().map(|i| item_text_len(&i.item)).sum();
        let instructions = self
            .session
            .get("instructions")
            .and_then(Value::as_str)
            .map_or(0, str::len);
        let input_text = (20 + (text_chars + instructions) / 4) as u64;
        let input_audio = (self.input_ms_total / 100.0) as u64;
        let (output_text, output_audio) = match &a.body {
            Body::Message(m) => (
                (m.text_sent.len() / 4 + 1) as u64,
                (m.audio_ms_sent / 50.0) as u64,
            ),
            Body::Call(c) => ((c.arguments.len() / 4 + 5) as u64, 0),
        };
        let input = input_text + input_audio;
        let output = output_text + output_audio;
        json!({
            "total_tokens": input + output,
            "input_tokens": input,
            "output_tokens": output,
            "input_token_details": {
                "text_tokens": input_text,
                "audio_tokens": input_audio,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        })
    }
}

/// Characters of text in an item (message text and transcripts, function
/// call arguments and outputs); audio payloads are not text.
fn item_text_len(item: &Value) -> usize {
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map_or(0, str::len);
    let parts: usize = item
        .get("content")
        .and_then(Value::as_array)
        .map_or(0, |c| {
            c.iter()
                .map(|p| field(p, "text") + field(p, "transcript"))
                .sum()
        });
    parts + field(item, "arguments") + field(item, "output")
}

fn modality_of(v: Option<&Value>) -> Option<Modality> {
    let list = v?.as_array()?;
    if list.iter().any(|m| m == "audio") {
        Some(Modality::Audio)
    } else if list.iter().any(|m| m == "text") {
        Some(Modality::Text)
    } else {
        None
    }
}

fn message_body(
    modality: Modality,
    text: &str,
    audio: Option<AudioOut>,
    chunk_ms: u32,
    cycle: Option<Vec<String>>,
) -> MessageBody {
    let ticks = match (&audio, modality) {
        (Some(a), Modality::Audio) => a.chunk_count(chunk_ms).max(usize::from(!text.is_empty())),
        // Text replies: about one delta per word, at most 32.
        _ => split_words(text).len().clamp(1, 32),
    };
    MessageBody {
        item_id: new_id("item"),
        modality,
        pieces: if cycle.is_some() {
            Vec::new()
        } else {
            split_text(text, ticks)
        },
        cycle,
        ticks,
        text_sent: String::new(),
        audio,
        audio_ms_sent: 0.0,
    }
}

#[cfg(test)]
mod tests;
