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

/// A `response.create` event: `base` is the caller's whole event for a manual
/// request (kept as given), `None` for an automatic one. The `event_id` is set
/// unless the caller already chose one.
pub fn response_create(base: Option<&serde_json::Map<String, Value>>, event_id: &str) -> String {
    let mut ev = base.cloned().unwrap_or_default();
    ev.insert("type".into(), Value::from("response.create"));
    ev.entry("event_id")
        .or_insert_with(|| Value::from(event_id));
    Value::Object(ev).to_string()
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
    fn response_create_keeps_caller_event_id() {
        let mut m = serde_json::Map::new();
        m.insert("event_id".into(), "mine".into());
        m.insert("response".into(), json!({"instructions": "x"}));
        let v: Value = serde_json::from_str(&response_create(Some(&m), "gen_1")).expect("json");
        assert_eq!(v["event_id"], "mine");
        assert_eq!(v["response"]["instructions"], "x");
        let v: Value = serde_json::from_str(&response_create(None, "gen_2")).expect("json");
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
