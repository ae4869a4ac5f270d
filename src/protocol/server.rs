//! Classification of server frames.
//!
//! Hot events (audio, transcript and text deltas) are read in one borrowing
//! pass that never copies the base64 `delta`. Everything else is parsed into a
//! `serde_json::Value` once, on the tokio thread, and validated against the
//! required fields of the SDK model of its `type` (see `known.rs`): a known
//! type that fails validation is "generic" and, like an unknown type, reaches
//! only the `*` listeners, as in the reference's strict union.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::{Dialect, JsonKind, KNOWN_BETA_SERVER_EVENTS, KNOWN_SERVER_EVENTS};

/// Server event types the core acts on. Everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    AudioDelta,
    AudioDone,
    AudioTranscriptDelta,
    OutputTextDelta,
    ResponseCreated,
    ResponseDone,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    Error,
    TranscriptionCompleted,
    ItemTruncated,
    McpCallInProgress,
    McpListToolsInProgress,
    Other,
}

/// Beta event names and the GA names they are emitted under: the only place
/// the two vocabularies meet.
pub const BETA_TO_GA: &[(&str, &str)] = &[
    ("response.audio.delta", "response.output_audio.delta"),
    ("response.audio.done", "response.output_audio.done"),
    (
        "response.audio_transcript.delta",
        "response.output_audio_transcript.delta",
    ),
    (
        "response.audio_transcript.done",
        "response.output_audio_transcript.done",
    ),
    ("response.text.delta", "response.output_text.delta"),
    ("response.text.done", "response.output_text.done"),
];

/// The name a known event is emitted under: its own GA name, or for a beta
/// event the GA name it maps to. `None` for a type the dialect does not know.
pub fn canonical_name(type_name: &str, dialect: Dialect) -> Option<&'static str> {
    let (key, _) = table(dialect).get_key_value(type_name)?;
    Some(match dialect {
        Dialect::Ga => key,
        Dialect::Beta => BETA_TO_GA
            .iter()
            .find(|(b, _)| b == key)
            .map_or(*key, |(_, ga)| ga),
    })
}

impl EventKind {
    /// The kind of a canonical (GA) event name.
    pub fn of(name: &str) -> EventKind {
        match name {
            "response.output_audio.delta" => EventKind::AudioDelta,
            "response.output_audio.done" => EventKind::AudioDone,
            "response.output_audio_transcript.delta" => EventKind::AudioTranscriptDelta,
            "response.output_text.delta" => EventKind::OutputTextDelta,
            "response.created" => EventKind::ResponseCreated,
            "response.done" => EventKind::ResponseDone,
            "session.created" => EventKind::SessionCreated,
            "session.updated" => EventKind::SessionUpdated,
            "input_audio_buffer.speech_started" => EventKind::SpeechStarted,
            "input_audio_buffer.speech_stopped" => EventKind::SpeechStopped,
            "error" => EventKind::Error,
            "conversation.item.input_audio_transcription.completed" => {
                EventKind::TranscriptionCompleted
            }
            "conversation.item.truncated" => EventKind::ItemTruncated,
            "response.mcp_call.in_progress" => EventKind::McpCallInProgress,
            "mcp_list_tools.in_progress" => EventKind::McpListToolsInProgress,
            _ => EventKind::Other,
        }
    }
}

type FieldTable = HashMap<&'static str, &'static [(&'static str, JsonKind)]>;

fn table(dialect: Dialect) -> &'static FieldTable {
    static GA: OnceLock<FieldTable> = OnceLock::new();
    static BETA: OnceLock<FieldTable> = OnceLock::new();
    match dialect {
        Dialect::Ga => GA.get_or_init(|| KNOWN_SERVER_EVENTS.iter().copied().collect()),
        Dialect::Beta => BETA.get_or_init(|| KNOWN_BETA_SERVER_EVENTS.iter().copied().collect()),
    }
}

/// True if `type_name` is a server event type of the SDK's union for `dialect`.
pub fn is_known_type(type_name: &str, dialect: Dialect) -> bool {
    table(dialect).contains_key(type_name)
}

/// True if `obj` is a valid event of its known `type`: every required field
/// of the SDK model is present with the right JSON kind.
pub fn validate_known(
    type_name: &str,
    obj: &serde_json::Map<String, Value>,
    dialect: Dialect,
) -> bool {
    match table(dialect).get(type_name) {
        Some(fields) => fields
            .iter()
            .all(|(name, kind)| obj.get(*name).is_some_and(|v| kind.matches(v))),
        None => false,
    }
}

/// The fields of a delta event (audio, transcript, text), borrowed from the
/// frame whenever they contain no escapes (always, for base64 audio).
#[derive(Debug, Deserialize)]
pub struct DeltaHead<'a> {
    #[serde(borrow, rename = "type")]
    pub type_name: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub response_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub item_id: Option<Cow<'a, str>>,
    pub output_index: Option<i64>,
    pub content_index: Option<i64>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub delta: Option<Cow<'a, str>>,
}

/// `Option<Cow<str>>` that borrows (serde's `borrow` does not reach inside `Option`).
fn opt_cow<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_str(V)
        }
    }
    d.deserialize_option(V)
}

/// A delta event whose required fields are all present.
#[derive(Debug)]
pub struct Delta<'a> {
    pub kind: EventKind,
    /// The GA name it is emitted under.
    pub name: &'static str,
    pub type_name: Cow<'a, str>,
    pub event_id: Cow<'a, str>,
    pub response_id: Cow<'a, str>,
    pub item_id: Cow<'a, str>,
    pub content_index: i64,
    pub delta: Cow<'a, str>,
}

/// A frame, classified.
#[derive(Debug)]
pub enum Frame<'a> {
    /// An audio/transcript/text delta with all required fields (fast path).
    Delta(Delta<'a>),
    /// Any other event. `type_name` is its `type`; `name` is the GA name a
    /// known, valid event is emitted under (`None` for unknown types and
    /// events that fail validation: "generic"). `lossy`: the value was read
    /// from a copy with lone UTF-16 surrogates replaced (see `classify`).
    Parsed {
        value: Value,
        type_name: Option<String>,
        kind: EventKind,
        name: Option<&'static str>,
        lossy: bool,
    },
}

/// Error for a frame that is not JSON at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedFrame(pub String);

impl std::fmt::Display for MalformedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed server frame: {}", self.0)
    }
}

/// Quick check for the three hot delta types without parsing: their `type`
/// is in the first bytes of every real frame. A miss only costs the slow path.
/// A cheap pre-check before the delta fast path: the `type` of a delta, in the
/// first or the last 96 bytes. The API writes `type` first; a serializer that
/// sorts keys (serde_json's `Value`, Python's `sort_keys`) writes it last.
fn looks_like_delta(text: &str) -> bool {
    let bytes = text.as_bytes();
    let head = &bytes[..bytes.len().min(96)];
    let tail = &bytes[bytes.len().saturating_sub(96)..];
    [head, tail].iter().any(|part| {
        memfind(part, b"audio.delta\"")
            || memfind(part, b"audio_transcript.delta\"")
            || memfind(part, b"text.delta\"")
    })
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub fn classify(text: &str, dialect: Dialect) -> Result<Frame<'_>, MalformedFrame> {
    if looks_like_delta(text) {
        if let Ok(h) = serde_json::from_str::<DeltaHead<'_>>(text) {
            if let Some(name) = canonical_name(&h.type_name, dialect) {
                let kind = EventKind::of(name);
                if matches!(
                    kind,
                    EventKind::AudioDelta
                        | EventKind::AudioTranscriptDelta
                        | EventKind::OutputTextDelta
                ) {
                    if let (
                        Some(event_id),
                        Some(response_id),
                        Some(item_id),
                        Some(_),
                        Some(ci),
                        Some(delta),
                    ) = (
                        h.event_id,
                        h.response_id,
                        h.item_id,
                        h.output_index,
                        h.content_index,
                        h.delta,
                    ) {
                        return Ok(Frame::Delta(Delta {
                            kind,
                            name,
                            type_name: h.type_name,
                            event_id,
                            response_id,
                            item_id,
                            content_index: ci,
                            delta,
                        }));
                    }
                }
            }
        }
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            // A text chunked by UTF-16 units can split a surrogate pair across two
            // events ("ok \ud83d" then "\ude00 done"); JSON.parse keeps such lone
            // surrogates and so does the reference. serde cannot hold them in a
            // String, so the rules read a copy where each lone surrogate is U+FFFD;
            // the user gets the frame as sent (Python's json keeps them too).
            let repaired =
                repair_lone_surrogates(text).ok_or_else(|| MalformedFrame(e.to_string()))?;
            let v = serde_json::from_str(&repaired).map_err(|e| MalformedFrame(e.to_string()))?;
            return classify_value(v, dialect, true);
        }
    };
    classify_value(value, dialect, false)
}

/// The classification of a parsed frame. `lossy`: the value was read from a
/// repaired copy of the frame (its strings may differ from what was sent).
fn classify_value(
    value: Value,
    dialect: Dialect,
    lossy: bool,
) -> Result<Frame<'static>, MalformedFrame> {
    // The reference passes on only what its generic schema admits: an object
    // with a string `type` (and an `event_id`, if any, that is a string or null).
    let (type_name, name) = match &value {
        Value::Object(map)
            if map
                .get("event_id")
                .is_none_or(|id| id.is_string() || id.is_null()) =>
        {
            match map.get("type").and_then(Value::as_str) {
                Some(t) => {
                    let name = if validate_known(t, map, dialect) {
                        canonical_name(t, dialect)
                    } else {
                        None
                    };
                    (t.to_owned(), name)
                }
                None => return Err(not_an_event(&value)),
            }
        }
        _ => return Err(not_an_event(&value)),
    };
    let kind = name.map_or(EventKind::Other, EventKind::of);
    if let (Some(name), Value::Object(map), false) = (name, &value, lossy) {
        if matches!(
            kind,
            EventKind::AudioDelta | EventKind::AudioTranscriptDelta | EventKind::OutputTextDelta
        ) {
            // A delta whose `type` is not at the front: same event, slow path.
            let s = |k: &str| {
                map.get(k)
                    .and_then(Value::as_str)
                    .map(|v| Cow::Owned(v.to_owned()))
            };
            if let (Some(event_id), Some(response_id), Some(item_id), Some(delta), Some(ci)) = (
                s("event_id"),
                s("response_id"),
                s("item_id"),
                s("delta"),
                map.get("content_index").and_then(Value::as_i64),
            ) {
                return Ok(Frame::Delta(Delta {
                    kind,
                    name,
                    type_name: Cow::Owned(type_name),
                    event_id,
                    response_id,
                    item_id,
                    content_index: ci,
                    delta,
                }));
            }
        }
    }
    Ok(Frame::Parsed {
        value,
        type_name: Some(type_name),
        kind,
        name,
        lossy,
    })
}

fn not_an_event(value: &Value) -> MalformedFrame {
    let what = match value {
        Value::Object(_) => "an object without a string `type` (or with a non-string `event_id`)",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    };
    MalformedFrame(format!("not an event: {what}"))
}

/// A copy of `text` where every `\uXXXX` escape of a lone UTF-16 surrogate is
/// `\ufffd`; `None` if there was none (the frame is broken some other way).
pub fn repair_lone_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let hex = |i: usize| -> Option<u16> {
        let s = std::str::from_utf8(b.get(i..i + 4)?).ok()?;
        u16::from_str_radix(s, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b.get(i + 1) != Some(&b'u') {
            i += 2; // any other escape, including an escaped backslash
            continue;
        }
        let unit = hex(i + 2)?;
        let is_high = (0xD800..0xDC00).contains(&unit);
        let is_low = (0xDC00..0xE000).contains(&unit);
        if is_high && b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
            if let Some(next) = hex(i + 8) {
                if (0xDC00..0xE000).contains(&next) {
                    i += 12; // a proper pair
                    continue;
                }
            }
        }
        if is_high || is_low {
            out.push_str(&text[last..i]);
            out.push_str("\\ufffd");
            last = i + 6;
            changed = true;
        }
        i += 6;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIO: &str = r#"{"type":"response.output_audio.delta","event_id":"e1","response_id":"r1","item_id":"i1","output_index":0,"content_index":0,"delta":"AAAA","obfuscation":"x"}"#;

    #[test]
    fn audio_delta_takes_the_fast_path_and_borrows() {
        match classify(AUDIO, Dialect::Ga).expect("json") {
            Frame::Delta(d) => {
                assert_eq!(d.kind, EventKind::AudioDelta);
                assert_eq!(d.item_id, "i1");
                assert!(matches!(d.delta, Cow::Borrowed(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escaped_text_delta_still_takes_the_fast_path() {
        let t = r#"{"type":"response.output_text.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"say \"hi\"\n"}"#;
        match classify(t, Dialect::Ga).expect("json") {
            Frame::Delta(d) => assert_eq!(d.delta, "say \"hi\"\n"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_delta_with_type_last_takes_the_fast_path_too() {
        // Key-sorted JSON (serde_json's Value, Python's sort_keys) puts `type` last.
        let v: Value = serde_json::from_str(AUDIO).expect("json");
        let sorted = format!("{}{}", " ".repeat(200), v); // `type` far from the head
        assert!(sorted.find("\"type\"").is_some_and(|i| i > 96));
        match classify(&sorted, Dialect::Ga).expect("json") {
            Frame::Delta(d) => {
                assert_eq!(d.kind, EventKind::AudioDelta);
                // Borrowed: the fast path, not the generic parse that also yields a Delta.
                assert!(matches!(d.delta, Cow::Borrowed(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delta_missing_event_id_is_generic() {
        let t = r#"{"type":"response.output_audio.delta","response_id":"r1","item_id":"i1","output_index":0,"content_index":0,"delta":"AAAA"}"#;
        match classify(t, Dialect::Ga).expect("json") {
            Frame::Parsed { name, kind, .. } => {
                assert!(name.is_none());
                assert_eq!(kind, EventKind::Other);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_types_are_generic_and_non_events_are_refused() {
        match classify(r#"{"type":"brand.new","event_id":null}"#, Dialect::Ga).expect("event") {
            Frame::Parsed { name, .. } => assert!(name.is_none()),
            other => panic!("{other:?}"),
        }
        // What the reference's generic schema does not admit is not an event at all.
        for t in [
            "[1,2]",
            "\"x\"",
            "3",
            "null",
            r#"{"no":"type"}"#,
            r#"{"type":5}"#,
            r#"{"type":"x","event_id":7}"#,
        ] {
            let e = classify(t, Dialect::Ga).expect_err(t);
            assert!(e.0.starts_with("not an event"), "{t}: {e}");
        }
    }

    #[test]
    fn a_surrogate_pair_split_across_deltas_is_read_not_refused() {
        let first = r#"{"type":"response.output_text.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"ok \ud83d"}"#;
        match classify(first, Dialect::Ga).expect("read") {
            Frame::Parsed {
                name, lossy, value, ..
            } => {
                assert_eq!(name, Some("response.output_text.delta"));
                assert!(lossy);
                assert_eq!(value["delta"], "ok \u{fffd}");
            }
            other => panic!("{other:?}"),
        }
        // A proper pair, an escaped backslash before "u", and a lone low surrogate.
        assert_eq!(repair_lone_surrogates(r#""\ud83d\ude00""#), None);
        assert_eq!(repair_lone_surrogates(r#""\\ud83d""#), None);
        assert_eq!(
            repair_lone_surrogates(r#"{"a":"\ude00 x\ud800"}"#).as_deref(),
            Some(r#"{"a":"\ufffd x\ufffd"}"#)
        );
        assert!(classify(r#"{"a": nope}"#, Dialect::Ga).is_err());
    }

    #[test]
    fn lenient_where_the_reference_is() {
        // `error` needs only its type; a transcription needs no `usage`; a
        // required `z.any()` field may be null.
        for t in [
            r#"{"type":"error"}"#,
            r#"{"type":"error","error":{"message":"x"}}"#,
            r#"{"type":"conversation.item.input_audio_transcription.completed","event_id":"e","item_id":"i","content_index":0,"transcript":"t"}"#,
            r#"{"type":"session.created","event_id":"e","session":null}"#,
        ] {
            assert!(
                matches!(
                    classify(t, Dialect::Ga),
                    Ok(Frame::Parsed { name: Some(_), .. })
                ),
                "{t}"
            );
        }
        assert!(matches!(
            classify(r#"{"type":"session.created","event_id":"e"}"#, Dialect::Ga),
            Ok(Frame::Parsed { name: None, .. })
        ));
    }

    #[test]
    fn known_event_validates_required_fields() {
        let ok = r#"{"type":"response.created","event_id":"e","response":{"id":"r"}}"#;
        let bad = r#"{"type":"response.created","response":{"id":"r"}}"#;
        assert!(matches!(
            classify(ok, Dialect::Ga),
            Ok(Frame::Parsed {
                name: Some("response.created"),
                kind: EventKind::ResponseCreated,
                ..
            })
        ));
        assert!(matches!(
            classify(bad, Dialect::Ga),
            Ok(Frame::Parsed {
                name: None,
                kind: EventKind::Other,
                ..
            })
        ));
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(classify("{not json", Dialect::Ga).is_err());
        assert!(classify("", Dialect::Ga).is_err());
    }

    #[test]
    fn the_ga_table_is_the_references_union() {
        // @openai/agents-realtime 0.20.0 knows 41 event types; events the SDK
        // knows but the reference does not (DTMF, transcription segments,
        // timeouts) are generic there, so they are generic here.
        assert_eq!(KNOWN_SERVER_EVENTS.len(), 41);
        assert!(!is_known_type(
            "input_audio_buffer.dtmf_event_received",
            Dialect::Ga
        ));
        assert!(is_known_type("mcp_list_tools.in_progress", Dialect::Ga));
        assert!(!is_known_type("response.audio.delta", Dialect::Ga));
        assert!(is_known_type("response.audio.delta", Dialect::Beta));
        assert!(!is_known_type("response.output_audio.delta", Dialect::Beta));
    }

    #[test]
    fn beta_audio_delta_is_audio_only_in_beta_mode() {
        let t = r#"{"type":"response.audio.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"AAAA"}"#;
        assert!(matches!(
            classify(t, Dialect::Beta),
            Ok(Frame::Delta(Delta {
                kind: EventKind::AudioDelta,
                name: "response.output_audio.delta",
                ..
            }))
        ));
        assert!(matches!(
            classify(t, Dialect::Ga),
            Ok(Frame::Parsed { name: None, .. })
        ));
    }
}
