//! Server-event JSON builders. Each returns the full event (with `type` and
//! `event_id`) in the GA shape of the `openai` SDK's `RealtimeServerEvent`.
//! Field order follows the real server's payloads (type first, then
//! event_id), which makes captured frames easy to compare by eye.

use serde_json::{json, Value};

use crate::audio::b64;

/// The ids that locate a content part inside a response.
#[derive(Debug, Clone, Copy)]
pub struct PartIds<'a> {
    pub response_id: &'a str,
    pub item_id: &'a str,
    pub output_index: u32,
    pub content_index: u32,
}

/// `error.error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    pub error_type: String,
    pub code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    /// The client event that caused it.
    pub event_id: Option<String>,
}

impl ErrorBody {
    /// An `invalid_request_error` with a code.
    pub fn invalid(code: &str, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error_type: "invalid_request_error".into(),
            code: Some(code.into()),
            message: message.into(),
            param: None,
            event_id: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> ErrorBody {
        self.param = Some(param.into());
        self
    }
}

pub fn error(event_id: &str, e: &ErrorBody) -> Value {
    json!({
        "type": "error",
        "event_id": event_id,
        "error": {
            "type": e.error_type,
            "code": e.code,
            "message": e.message,
            "param": e.param,
            "event_id": e.event_id,
        }
    })
}

pub fn session_created(event_id: &str, session: &Value) -> Value {
    json!({"type": "session.created", "event_id": event_id, "session": session})
}

pub fn session_updated(event_id: &str, session: &Value) -> Value {
    json!({"type": "session.updated", "event_id": event_id, "session": session})
}

pub fn item_added(event_id: &str, previous_item_id: Option<&str>, item: &Value) -> Value {
    json!({
        "type": "conversation.item.added",
        "event_id": event_id,
        "previous_item_id": previous_item_id,
        "item": item,
    })
}

pub fn item_done(event_id: &str, previous_item_id: Option<&str>, item: &Value) -> Value {
    json!({
        "type": "conversation.item.done",
        "event_id": event_id,
        "previous_item_id": previous_item_id,
        "item": item,
    })
}

pub fn item_retrieved(event_id: &str, item: &Value) -> Value {
    json!({"type": "conversation.item.retrieved", "event_id": event_id, "item": item})
}

pub fn item_truncated(
    event_id: &str,
    item_id: &str,
    content_index: u64,
    audio_end_ms: u64,
) -> Value {
    json!({
        "type": "conversation.item.truncated",
        "event_id": event_id,
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    })
}

pub fn item_deleted(event_id: &str, item_id: &str) -> Value {
    json!({"type": "conversation.item.deleted", "event_id": event_id, "item_id": item_id})
}

pub fn speech_started(event_id: &str, audio_start_ms: u64, item_id: &str) -> Value {
    json!({
        "type": "input_audio_buffer.speech_started",
        "event_id": event_id,
        "audio_start_ms": audio_start_ms,
        "item_id": item_id,
    })
}

pub fn speech_stopped(event_id: &str, audio_end_ms: u64, item_id: &str) -> Value {
    json!({
        "type": "input_audio_buffer.speech_stopped",
        "event_id": event_id,
        "audio_end_ms": audio_end_ms,
        "item_id": item_id,
    })
}

pub fn committed(event_id: &str, item_id: &str, previous_item_id: Option<&str>) -> Value {
    json!({
        "type": "input_audio_buffer.committed",
        "event_id": event_id,
        "previous_item_id": previous_item_id,
        "item_id": item_id,
    })
}

pub fn cleared(event_id: &str) -> Value {
    json!({"type": "input_audio_buffer.cleared", "event_id": event_id})
}

pub fn transcription_delta(event_id: &str, item_id: &str, delta: &str) -> Value {
    json!({
        "type": "conversation.item.input_audio_transcription.delta",
        "event_id": event_id,
        "item_id": item_id,
        "content_index": 0,
        "delta": delta,
    })
}

pub fn transcription_completed(
    event_id: &str,
    item_id: &str,
    transcript: &str,
    seconds: f64,
) -> Value {
    json!({
        "type": "conversation.item.input_audio_transcription.completed",
        "event_id": event_id,
        "item_id": item_id,
        "content_index": 0,
        "transcript": transcript,
        "usage": {"type": "duration", "seconds": seconds},
    })
}

pub fn response_created(event_id: &str, response: &Value) -> Value {
    json!({"type": "response.created", "event_id": event_id, "response": response})
}

pub fn response_done(event_id: &str, response: &Value) -> Value {
    json!({"type": "response.done", "event_id": event_id, "response": response})
}

pub fn output_item_added(
    event_id: &str,
    response_id: &str,
    output_index: u32,
    item: &Value,
) -> Value {
    json!({
        "type": "response.output_item.added",
        "event_id": event_id,
        "response_id": response_id,
        "output_index": output_index,
        "item": item,
    })
}

pub fn output_item_done(
    event_id: &str,
    response_id: &str,
    output_index: u32,
    item: &Value,
) -> Value {
    json!({
        "type": "response.output_item.done",
        "event_id": event_id,
        "response_id": response_id,
        "output_index": output_index,
        "item": item,
    })
}

fn part_event(kind: &str, event_id: &str, ids: PartIds<'_>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), kind.into());
    m.insert("event_id".into(), event_id.into());
    m.insert("response_id".into(), ids.response_id.into());
    m.insert("item_id".into(), ids.item_id.into());
    m.insert("output_index".into(), ids.output_index.into());
    m.insert("content_index".into(), ids.content_index.into());
    m
}

fn with(mut m: serde_json::Map<String, Value>, key: &str, v: Value) -> Value {
    m.insert(key.into(), v);
    Value::Object(m)
}

pub fn content_part_added(event_id: &str, ids: PartIds<'_>, part: &Value) -> Value {
    with(
        part_event("response.content_part.added", event_id, ids),
        "part",
        part.clone(),
    )
}

pub fn content_part_done(event_id: &str, ids: PartIds<'_>, part: &Value) -> Value {
    with(
        part_event("response.content_part.done", event_id, ids),
        "part",
        part.clone(),
    )
}

pub fn output_text_delta(event_id: &str, ids: PartIds<'_>, delta: &str) -> Value {
    with(
        part_event("response.output_text.delta", event_id, ids),
        "delta",
        delta.into(),
    )
}

pub fn output_text_done(event_id: &str, ids: PartIds<'_>, text: &str) -> Value {
    with(
        part_event("response.output_text.done", event_id, ids),
        "text",
        text.into(),
    )
}

pub fn output_audio_transcript_delta(event_id: &str, ids: PartIds<'_>, delta: &str) -> Value {
    with(
        part_event("response.output_audio_transcript.delta", event_id, ids),
        "delta",
        delta.into(),
    )
}

pub fn output_audio_transcript_done(event_id: &str, ids: PartIds<'_>, transcript: &str) -> Value {
    with(
        part_event("response.output_audio_transcript.done", event_id, ids),
        "transcript",
        transcript.into(),
    )
}

pub fn output_audio_done(event_id: &str, ids: PartIds<'_>) -> Value {
    Value::Object(part_event("response.output_audio.done", event_id, ids))
}

/// `response.output_audio.delta`, written straight to text: it is the one
/// event of the hot path, and its ids are ours (plain ASCII, nothing to
/// escape), so a `Value` round trip would only copy the base64 twice.
/// An event as the API writes it: `type` first, then `event_id`, then the
/// rest (a `Value` alone would sort the keys and put `type` last, which no
/// client of the real API sees and which would send the client's delta frames
/// down its generic path).
pub fn to_wire(event: &Value) -> String {
    let Value::Object(map) = event else {
        return event.to_string();
    };
    let mut out = String::with_capacity(256);
    out.push('{');
    let mut first = true;
    let mut put = |out: &mut String, k: &str, v: &Value| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&Value::String(k.to_owned()).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    };
    for key in ["type", "event_id"] {
        if let Some(v) = map.get(key) {
            put(&mut out, key, v);
        }
    }
    for (k, v) in map {
        if k != "type" && k != "event_id" {
            put(&mut out, k, v);
        }
    }
    out.push('}');
    out
}

pub fn output_audio_delta_text(event_id: &str, ids: PartIds<'_>, audio: &[u8]) -> String {
    let mut s = String::with_capacity(160 + b64::encoded_len(audio.len()));
    s.push_str(r#"{"type":"response.output_audio.delta","event_id":""#);
    s.push_str(event_id);
    s.push_str(r#"","response_id":""#);
    s.push_str(ids.response_id);
    s.push_str(r#"","item_id":""#);
    s.push_str(ids.item_id);
    s.push_str(r#"","output_index":"#);
    s.push_str(&ids.output_index.to_string());
    s.push_str(r#","content_index":"#);
    s.push_str(&ids.content_index.to_string());
    s.push_str(r#","delta":""#);
    b64::encode_into(audio, &mut s);
    s.push_str("\"}");
    s
}

pub fn function_call_arguments_delta(
    event_id: &str,
    response_id: &str,
    item_id: &str,
    output_index: u32,
    call_id: &str,
    delta: &str,
) -> Value {
    json!({
        "type": "response.function_call_arguments.delta",
        "event_id": event_id,
        "response_id": response_id,
        "item_id": item_id,
        "output_index": output_index,
        "call_id": call_id,
        "delta": delta,
    })
}

pub fn function_call_arguments_done(
    event_id: &str,
    response_id: &str,
    item_id: &str,
    output_index: u32,
    call_id: &str,
    name: &str,
    arguments: &str,
) -> Value {
    json!({
        "type": "response.function_call_arguments.done",
        "event_id": event_id,
        "response_id": response_id,
        "item_id": item_id,
        "output_index": output_index,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    })
}

pub fn rate_limits_updated(event_id: &str, tokens_used: u64) -> Value {
    json!({
        "type": "rate_limits.updated",
        "event_id": event_id,
        "rate_limits": [
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {
                "name": "tokens",
                "limit": 40000,
                "remaining": 40000u64.saturating_sub(tokens_used),
                "reset_seconds": 0.5,
            },
        ],
    })
}

/// Asserts the event carries every field the SDK model requires, with the
/// right JSON kind (the table is generated from the SDK by
/// `scripts/gen_known_events.py`). Tests only.
#[cfg(test)]
pub(crate) fn assert_sdk_shape(ev: &Value) {
    use crate::protocol::KNOWN_SERVER_EVENTS;
    let ty = ev["type"].as_str().expect("type");
    let (_, fields) = KNOWN_SERVER_EVENTS
        .iter()
        .find(|(t, _)| *t == ty)
        .unwrap_or_else(|| panic!("{ty} is not a GA server event"));
    for (name, kind) in fields.iter() {
        let v = ev.get(*name).unwrap_or_else(|| panic!("{ty} lacks {name}"));
        assert!(kind.matches(v), "{ty}.{name} = {v} is not {kind:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builder_has_the_required_fields() {
        let ids = PartIds {
            response_id: "resp_1",
            item_id: "item_1",
            output_index: 0,
            content_index: 0,
        };
        let item = json!({"id": "item_1", "type": "message", "role": "user", "content": []});
        let session = json!({"type": "realtime"});
        let events = vec![
            error(
                "e",
                &ErrorBody::invalid("invalid_json", "bad").with_param("x"),
            ),
            session_created("e", &session),
            session_updated("e", &session),
            item_added("e", None, &item),
            item_done("e", Some("item_0"), &item),
            item_retrieved("e", &item),
            item_truncated("e", "item_1", 0, 100),
            item_deleted("e", "item_1"),
            speech_started("e", 0, "item_1"),
            speech_stopped("e", 10, "item_1"),
            committed("e", "item_1", None),
            cleared("e"),
            transcription_delta("e", "item_1", "hi"),
            transcription_completed("e", "item_1", "hi", 1.5),
            response_created("e", &json!({"id": "resp_1"})),
            response_done("e", &json!({"id": "resp_1"})),
            output_item_added("e", "resp_1", 0, &item),
            output_item_done("e", "resp_1", 0, &item),
            content_part_added("e", ids, &json!({"type": "audio", "transcript": ""})),
            content_part_done("e", ids, &json!({"type": "text", "text": "x"})),
            output_text_delta("e", ids, "x"),
            output_text_done("e", ids, "x"),
            output_audio_transcript_delta("e", ids, "x"),
            output_audio_transcript_done("e", ids, "x"),
            output_audio_done("e", ids),
            function_call_arguments_delta("e", "resp_1", "item_1", 0, "call_1", "{"),
            function_call_arguments_done("e", "resp_1", "item_1", 0, "call_1", "f", "{}"),
            rate_limits_updated("e", 100),
        ];
        for ev in &events {
            assert_sdk_shape(ev);
        }
        let text = output_audio_delta_text("evt_1_2", ids, &[1, 2, 3, 4]);
        let ev: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_sdk_shape(&ev);
        assert_eq!(ev["delta"], "AQIDBA==");
        assert_eq!(ev["event_id"], "evt_1_2");
    }

    #[test]
    fn error_carries_the_client_event_id() {
        let mut e = ErrorBody::invalid("invalid_value", "nope");
        e.event_id = Some("client_1".into());
        let ev = error("event_9", &e);
        assert_eq!(ev["error"]["event_id"], "client_1");
        assert_eq!(ev["error"]["type"], "invalid_request_error");
        assert_eq!(ev["event_id"], "event_9");
    }
}

#[cfg(test)]
mod wire_order_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_and_event_id_come_first_and_nothing_is_lost() {
        let v = json!({"type": "response.done", "event_id": "e1",
                       "response": {"id": "r", "a\"b": [1, null]}, "zeta": "\u{2028}"});
        let wire = to_wire(&v);
        assert!(
            wire.starts_with(r#"{"type":"response.done","event_id":"e1","#),
            "{wire}"
        );
        let back: Value = serde_json::from_str(&wire).expect("valid JSON");
        assert_eq!(back, v);
        assert_eq!(to_wire(&json!([1])), "[1]");
    }
}
