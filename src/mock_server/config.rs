//! Mock server configuration: Python kwargs -> JSON -> this struct.
//!
//! Unknown keys are rejected (`deny_unknown_fields`) so that a typo in a test's
//! options fails loudly instead of silently testing the default behaviour.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::script::Script;
use crate::audio::b64;

/// `close_after_open`: close right after `session.created`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CloseSpec {
    pub code: u16,
    #[serde(default)]
    pub reason: String,
}

/// How an option is given from Python (and on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    Bool,
    Int,
    Float,
    Str,
    /// PCM16 24 kHz mono bytes (base64 in the JSON the wrapper sends).
    Bytes,
    /// A JSON array (a list of dicts).
    List,
    /// A JSON object.
    Dict,
    /// `{"code": int, "reason": str}` (or a `(code, reason)` tuple from Python).
    Close,
}

impl OptionType {
    pub fn name(self) -> &'static str {
        match self {
            OptionType::Bool => "bool",
            OptionType::Int => "int",
            OptionType::Float => "float",
            OptionType::Str => "str",
            OptionType::Bytes => "bytes",
            OptionType::List => "list",
            OptionType::Dict => "dict",
            OptionType::Close => "close",
        }
    }
}

/// One option of the mock server: the single description the Python wrapper's
/// type checks, its command line and its documentation are generated from.
/// `RawConfig` (the serde struct) must have exactly these fields and defaults:
/// a unit test holds the two together.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub ty: OptionType,
    /// `None` is accepted (and means "unset").
    pub nullable: bool,
    /// The section of the documentation it belongs to.
    pub group: &'static str,
    pub doc: &'static str,
}

const fn opt(
    name: &'static str,
    ty: OptionType,
    nullable: bool,
    group: &'static str,
    doc: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        ty,
        nullable,
        group,
        doc,
    }
}

use OptionType as T;

/// Every option, in documentation order.
pub const OPTIONS: &[OptionSpec] = &[
    opt("api_key", T::Str, true, "Handshake",
        "require `Authorization: Bearer <key>` or the subprotocol `openai-insecure-api-key.<key>`. \
         Otherwise, like the real server, the upgrade succeeds (101), one `error` event \
         `invalid_api_key` is sent and the socket is closed with code 3000, reason \
         `invalid_request_error.invalid_api_key`."),
    opt("require_model", T::Bool, false, "Handshake",
        "without a `model`, `call_id` or `intent` query parameter: `error` `missing_model`, then close 4000."),
    opt("reject_beta", T::Bool, false, "Handshake",
        "the header `OpenAI-Beta: realtime=v1` (or the subprotocol `openai-beta.realtime-v1`): \
         `error` `beta_api_shape_disabled`, close 4000."),
    opt("handshake_delay_ms", T::Int, false, "Handshake", "wait this long before answering the upgrade."),
    opt("reject_status", T::Int, true, "Handshake",
        "answer the upgrade with this HTTP status and a JSON body."),
    opt("close_after_open", T::Close, true, "Handshake",
        "`{\"code\": int, \"reason\": str}`: close right after `session.created`."),
    opt("ping_interval_s", T::Float, true, "Handshake",
        "send WebSocket pings (4-byte payload) at this interval."),
    opt("text", T::Str, false, "Replies", "the reply text, or the transcript of an audio reply."),
    opt("audio_ms", T::Int, false, "Replies", "length of the default audio reply."),
    opt("tone_hz", T::Float, false, "Replies",
        "the reply is a quiet sine at this frequency, ..."),
    opt("audio", T::Bytes, true, "Replies",
        "... or this PCM16 24 kHz mono audio instead (resampled to 8 kHz when the session's \
         output format is G.711)."),
    opt("chunk_ms", T::Int, false, "Replies", "audio per `response.output_audio.delta`."),
    opt("realtime", T::Bool, false, "Replies",
        "pace the deltas in real time (one `chunk_ms` chunk every `chunk_ms`) instead of \
         sending them as fast as possible."),
    opt("responses", T::List, false, "Replies",
        "scripted responses, consumed one per response (by any connection), then the default \
         reply. Each is one of `{\"text\": str, \"audio_ms\": int, \"tone_hz\": float, \
         \"audio\": bytes, \"delay_ms\": int}` (all optional), `{\"function_call\": {\"name\": str, \
         \"arguments\": str | dict, \"call_id\": str}}` (`call_id` optional) or \
         `{\"error\": {\"code\": str, \"message\": str, \"type\": str}}` (an `error` event \
         instead of a response)."),
    opt("respond", T::Bool, false, "Replies",
        "false makes a passive peer: `response.create` (and VAD turns) start no response and \
         `response.cancel` gets no answer, for tests that inject every server event themselves \
         with `MockRealtimeServer.send`. Bad events still get errors."),
    opt("input_transcript", T::Str, false, "Replies",
        "the transcript reported for committed user audio when the session enables \
         `audio.input.transcription`."),
    opt("session_defaults", T::Dict, true, "Replies",
        "merged into the initial session (as a `session.update` would be), e.g. \
         `{\"audio\": {\"output\": {\"format\": {\"type\": \"audio/pcmu\"}}}}`."),
    opt("vad_threshold", T::Float, false, "Turn detection",
        "frame RMS on the int16 scale that counts as speech (server VAD on 20 ms frames, \
         while the session's `turn_detection` is set)."),
    opt("vad_speech_ms", T::Int, false, "Turn detection",
        "speech needs this long above the threshold to start. The silence that ends a turn is \
         the session's `turn_detection.silence_duration_ms` (200 in the default session; 300 \
         when the field is absent)."),
    opt("stream_audio_s", T::Float, true, "Load mode",
        "after the first `session.update` of each connection, stream one long reply without \
         waiting for `response.create`: this many seconds of audio, one `chunk_ms` delta every \
         `chunk_ms` (always paced), each preceded by a transcript delta (the words of `text`, \
         cycled), then the usual done events. Every audio delta's `event_id` is \
         `evt_<seq>_<unix_time_ns>`, for latency measurements."),
    opt("record", T::Bool, false, "Load mode",
        "keep every event sent and received for `sent()` and `received()`. Turn it off for long \
         load runs (the counters are always kept)."),
];

/// The defaults, as JSON (the documentation and the command line show them).
pub fn defaults_json() -> Value {
    // `RawConfig` is plain data; serialising its default cannot fail.
    serde_json::to_value(RawConfig::default()).unwrap_or(Value::Null)
}

/// The option table with defaults, as JSON text for the Python wrapper.
pub fn options_json() -> String {
    let defaults = defaults_json();
    let rows: Vec<Value> = OPTIONS
        .iter()
        .map(|o| {
            serde_json::json!({
                "name": o.name,
                "type": o.ty.name(),
                "nullable": o.nullable,
                "group": o.group,
                "doc": o.doc,
                "default": defaults.get(o.name).cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    Value::Array(rows).to_string()
}

/// The raw, deserialised options; their description is `OPTIONS`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    api_key: Option<String>,
    require_model: bool,
    reject_beta: bool,
    handshake_delay_ms: u64,
    reject_status: Option<u16>,
    close_after_open: Option<CloseSpec>,
    ping_interval_s: Option<f64>,
    realtime: bool,
    chunk_ms: u32,
    audio_ms: u32,
    tone_hz: f64,
    /// PCM16 24 kHz mono, base64 (the Python wrapper encodes `bytes`).
    audio: Option<String>,
    text: String,
    responses: Vec<Value>,
    vad_threshold: f64,
    vad_speech_ms: u32,
    input_transcript: String,
    session_defaults: Option<Value>,
    stream_audio_s: Option<f64>,
    record: bool,
    respond: bool,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            api_key: None,
            require_model: true,
            reject_beta: true,
            handshake_delay_ms: 0,
            reject_status: None,
            close_after_open: None,
            ping_interval_s: None,
            realtime: false,
            chunk_ms: 50,
            audio_ms: 600,
            tone_hz: 440.0,
            audio: None,
            text: DEFAULT_TEXT.to_owned(),
            responses: Vec::new(),
            vad_threshold: 500.0,
            vad_speech_ms: 60,
            input_transcript: DEFAULT_INPUT_TRANSCRIPT.to_owned(),
            session_defaults: None,
            stream_audio_s: None,
            record: true,
            respond: true,
        }
    }
}

pub const DEFAULT_TEXT: &str = "Hello from the mock realtime server.";
pub const DEFAULT_INPUT_TRANSCRIPT: &str = "Hello from the mock user.";

/// Validated configuration, shared read-only by every connection.
#[derive(Debug, Clone)]
pub struct MockConfig {
    pub api_key: Option<String>,
    pub require_model: bool,
    pub reject_beta: bool,
    pub handshake_delay_ms: u64,
    pub reject_status: Option<u16>,
    pub close_after_open: Option<CloseSpec>,
    pub ping_interval_s: Option<f64>,
    pub realtime: bool,
    pub chunk_ms: u32,
    pub audio_ms: u32,
    pub tone_hz: f64,
    /// Decoded `audio` option: PCM16 24 kHz samples.
    pub audio: Option<Arc<[i16]>>,
    pub text: String,
    pub responses: Vec<Script>,
    pub vad_threshold: f64,
    pub vad_speech_ms: u32,
    pub input_transcript: String,
    pub session_defaults: Option<Value>,
    pub stream_audio_s: Option<f64>,
    pub record: bool,
    /// False: `response.create` (and VAD turns) start nothing and
    /// `response.cancel` is not answered; for tests that inject every
    /// server event themselves.
    pub respond: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        // The raw defaults are valid by construction.
        match MockConfig::from_raw(RawConfig::default()) {
            Ok(c) => c,
            Err(e) => unreachable!("default mock config is invalid: {e}"),
        }
    }
}

impl MockConfig {
    /// Parses and validates the JSON options; the error is a message for a
    /// Python `ValueError`.
    pub fn from_json(text: &str) -> Result<MockConfig, String> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|e| format!("invalid mock server options: {e}"))?;
        MockConfig::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<MockConfig, String> {
        if !(10..=1000).contains(&raw.chunk_ms) {
            return Err(format!(
                "chunk_ms must be between 10 and 1000, got {}",
                raw.chunk_ms
            ));
        }
        if raw.audio_ms > MAX_AUDIO_MS {
            return Err(format!(
                "audio_ms must be at most {MAX_AUDIO_MS}, got {}",
                raw.audio_ms
            ));
        }
        check_tone(raw.tone_hz)?;
        if let Some(s) = raw.ping_interval_s {
            if !(s.is_finite() && s > 0.0 && s <= 3600.0) {
                return Err(format!("ping_interval_s must be in (0, 3600], got {s}"));
            }
        }
        if let Some(status) = raw.reject_status {
            if !(200..=599).contains(&status) {
                return Err(format!(
                    "reject_status must be an HTTP status 200-599, got {status}"
                ));
            }
        }
        if let Some(c) = &raw.close_after_open {
            check_close_code(c.code)?;
            if c.reason.len() > 123 {
                return Err("close_after_open.reason must be at most 123 bytes".into());
            }
        }
        if !(raw.vad_threshold.is_finite() && raw.vad_threshold > 0.0) {
            return Err(format!(
                "vad_threshold must be positive, got {}",
                raw.vad_threshold
            ));
        }
        if !(20..=2000).contains(&raw.vad_speech_ms) {
            return Err(format!(
                "vad_speech_ms must be between 20 and 2000, got {}",
                raw.vad_speech_ms
            ));
        }
        if let Some(s) = raw.stream_audio_s {
            if !(s.is_finite() && s > 0.0 && s <= 86_400.0) {
                return Err(format!("stream_audio_s must be in (0, 86400], got {s}"));
            }
        }
        if let Some(d) = &raw.session_defaults {
            if !d.is_object() {
                return Err("session_defaults must be an object".into());
            }
        }
        let audio = match raw.audio {
            Some(text) => Some(decode_pcm16("audio", &text)?),
            None => None,
        };
        let responses = raw
            .responses
            .iter()
            .enumerate()
            .map(|(i, v)| Script::from_value(v).map_err(|e| format!("responses[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MockConfig {
            api_key: raw.api_key.filter(|k| !k.is_empty()),
            require_model: raw.require_model,
            reject_beta: raw.reject_beta,
            handshake_delay_ms: raw.handshake_delay_ms,
            reject_status: raw.reject_status,
            close_after_open: raw.close_after_open,
            ping_interval_s: raw.ping_interval_s,
            realtime: raw.realtime,
            chunk_ms: raw.chunk_ms,
            audio_ms: raw.audio_ms,
            tone_hz: raw.tone_hz,
            audio,
            text: raw.text,
            responses,
            vad_threshold: raw.vad_threshold,
            vad_speech_ms: raw.vad_speech_ms,
            input_transcript: raw.input_transcript,
            session_defaults: raw.session_defaults,
            stream_audio_s: raw.stream_audio_s,
            record: raw.record,
            respond: raw.respond,
        })
    }

    /// The scripted responses as the initial queue.
    pub fn script_queue(&self) -> VecDeque<Script> {
        self.responses.iter().cloned().collect()
    }
}

/// Ten minutes: longer replies belong to `stream_audio_s`.
pub const MAX_AUDIO_MS: u32 = 600_000;

pub fn check_tone(hz: f64) -> Result<(), String> {
    if hz.is_finite() && (20.0..=11_000.0).contains(&hz) {
        Ok(())
    } else {
        Err(format!("tone_hz must be between 20 and 11000, got {hz}"))
    }
}

/// Close codes a server may send (RFC 6455 7.4: 1004-1006 and 1015 are reserved).
pub fn check_close_code(code: u16) -> Result<(), String> {
    let ok = matches!(code, 1000..=1003 | 1007..=1014) || (3000..=4999).contains(&code);
    if ok {
        Ok(())
    } else {
        Err(format!("{code} is not a close code a server may send"))
    }
}

/// Base64 PCM16 little-endian -> samples.
pub fn decode_pcm16(what: &str, text: &str) -> Result<Arc<[i16]>, String> {
    let bytes = b64::decode(text.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
    if bytes.len() % 2 != 0 {
        return Err(format!(
            "{what}: PCM16 audio must have an even number of bytes"
        ));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_table_describes_every_field_and_nothing_else() {
        let defaults = defaults_json();
        let fields: std::collections::BTreeSet<&str> = defaults
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let table: std::collections::BTreeSet<&str> = OPTIONS.iter().map(|o| o.name).collect();
        assert_eq!(fields, table);
        assert_eq!(table.len(), OPTIONS.len(), "no duplicates");
        for o in OPTIONS {
            let d = &defaults[o.name];
            let ok = match o.ty {
                OptionType::Bool => d.is_boolean(),
                OptionType::Int => d.is_u64() || d.is_i64(),
                OptionType::Float => d.is_number(),
                OptionType::Str => d.is_string(),
                OptionType::List => d.is_array(),
                OptionType::Bytes | OptionType::Dict | OptionType::Close => false,
            };
            assert!(ok || (o.nullable && d.is_null()), "{}: default {d}", o.name);
        }
        let rows: Value = serde_json::from_str(&options_json()).expect("json");
        assert_eq!(rows.as_array().map(Vec::len), Some(OPTIONS.len()));
    }

    #[test]
    fn defaults() {
        let c = MockConfig::from_json("{}").expect("empty options are valid");
        assert!(c.require_model && c.reject_beta && c.record);
        assert_eq!((c.chunk_ms, c.audio_ms), (50, 600));
        assert_eq!(c.text, DEFAULT_TEXT);
        assert!(c.api_key.is_none());
    }

    #[test]
    fn rejects_unknown_and_invalid() {
        assert!(MockConfig::from_json(r#"{"bogus": 1}"#).is_err());
        assert!(MockConfig::from_json(r#"{"chunk_ms": 0}"#).is_err());
        assert!(MockConfig::from_json(r#"{"reject_status": 101}"#).is_err());
        assert!(MockConfig::from_json(r#"{"close_after_open": {"code": 1006}}"#).is_err());
        assert!(MockConfig::from_json(r#"{"audio": "AAA"}"#).is_err());
        assert!(MockConfig::from_json(r#"{"responses": [{"nothing": 1}]}"#).is_err());
        assert!(MockConfig::from_json(r#"{"session_defaults": 3}"#).is_err());
    }

    #[test]
    fn decodes_audio_and_scripts() {
        let c = MockConfig::from_json(
            r#"{"audio": "AQD//w==", "responses": [{"text": "a"}, {"error": {"code": "x", "message": "m"}}],
                "close_after_open": {"code": 4001, "reason": "bye"}, "api_key": ""}"#,
        )
        .expect("valid");
        assert_eq!(c.audio.as_deref(), Some(&[1i16, -1][..]));
        assert_eq!(c.responses.len(), 2);
        assert_eq!(
            c.close_after_open,
            Some(CloseSpec {
                code: 4001,
                reason: "bye".into()
            })
        );
        assert!(c.api_key.is_none(), "an empty key means no auth");
    }
}
