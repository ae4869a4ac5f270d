//! Builders for the client events the core sends itself. Each returns the
//! JSON text of one frame; the hot one (`input_audio_buffer.append`) writes the
//! base64 straight into the frame buffer with no intermediate string.

use serde_json::{json, Value};

use crate::audio::b64;

const APPEND_PREFIX: &str = r#"{"type":"input_audio_buffer.append","audio":""#;
const APPEND_SUFFIX: &str = r#""}"#;

/// `{"type":"input_audio_buffer.append","audio":"<base64>"}` built in one allocation.
pub fn append_audio(pcm: &[u8]) -> String {
    let mut s = String::with_capacity(
        APPEND_PREFIX.len() + b64::encoded_len(pcm.len()) + APPEND_SUFFIX.len(),
    );
    s.push_str(APPEND_PREFIX);
    b64::encode_into(pcm, &mut s);
    s.push_str(APPEND_SUFFIX);
    s
}

pub fn commit_audio() -> String {
    r#"{"type":"input_audio_buffer.commit"}"#.to_owned()
}

pub fn response_cancel() -> String {
    r#"{"type":"response.cancel"}"#.to_owned()
}

pub fn truncate(item_id: &str, content_index: i64, audio_end_ms: i64) -> String {
    json!({
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    })
    .to_string()
}

pub fn item_retrieve(item_id: &str) -> String {
    json!({"type": "conversation.item.retrieve", "item_id": item_id}).to_string()
}

/// An automatic `response.create` with the sequencer's `event_id`.
pub fn response_create(event_id: &str) -> String {
    json!({"type": "response.create", "event_id": event_id}).to_string()
}

/// The caller's event (JSON object text) with `"event_id"` added as its first
/// key, without parsing it: the text came from the client's own serialiser.
pub fn with_event_id(object_text: &str, event_id: &str) -> String {
    let id = Value::from(event_id).to_string();
    let body = object_text.trim_start();
    let rest = body.strip_prefix('{').unwrap_or(body);
    let empty = rest.trim_start().starts_with('}');
    let mut out = String::with_capacity(object_text.len() + id.len() + 14);
    out.push_str("{\"event_id\":");
    out.push_str(&id);
    if !empty {
        out.push(',');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_is_valid_json() {
        let f = append_audio(&[0, 1, 2, 3, 255]);
        let v: Value = serde_json::from_str(&f).expect("json");
        assert_eq!(v["type"], "input_audio_buffer.append");
        assert_eq!(v["audio"], b64::encode(&[0, 1, 2, 3, 255]));
        assert_eq!(f.len(), f.capacity());
    }

    #[test]
    fn event_id_is_added_without_parsing() {
        let text = r#"{"type":"response.create","response":{"instructions":"x"}}"#;
        let v: Value = serde_json::from_str(&with_event_id(text, "gen_1")).expect("json");
        assert_eq!(
            v,
            json!({"type": "response.create", "event_id": "gen_1", "response": {"instructions": "x"}})
        );
        let v: Value = serde_json::from_str(&with_event_id(" { } ", "q\"")).expect("json");
        assert_eq!(v, json!({"event_id": "q\""}));
        let v: Value = serde_json::from_str(&response_create("gen_2")).expect("json");
        assert_eq!(v, json!({"type": "response.create", "event_id": "gen_2"}));
    }

    #[test]
    fn truncate_shape() {
        let v: Value = serde_json::from_str(&truncate("it", 0, 42)).expect("json");
        assert_eq!(
            v,
            json!({"type":"conversation.item.truncate","item_id":"it","content_index":0,"audio_end_ms":42})
        );
    }
}
