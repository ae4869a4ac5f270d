//! Scripted responses: what the next `response.create` (or VAD turn) produces.
//!
//! A script is consumed per response, in order, shared by all connections of a
//! server; when the queue is empty the configured default reply is used.

use std::sync::Arc;

use serde_json::Value;

use super::config::{check_tone, decode_pcm16, MAX_AUDIO_MS};

/// An assistant message: text (the transcript when the reply is audio) and,
/// for audio replies, a tone or the given PCM.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `None`: the configured default text.
    pub text: Option<String>,
    /// `None`: the configured default length (or the length of `audio`).
    pub audio_ms: Option<u32>,
    pub tone_hz: Option<f64>,
    /// PCM16 24 kHz samples to play instead of a tone.
    pub audio: Option<Arc<[i16]>>,
    /// Wait this long before `response.created`.
    pub delay_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
    pub call_id: Option<String>,
}

/// An `error` event instead of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub error_type: String,
    pub code: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    Reply(Reply),
    FunctionCall(FunctionCall),
    Error(ScriptError),
}

const REPLY_KEYS: &[&str] = &["text", "audio_ms", "tone_hz", "audio", "delay_ms"];

fn opt_str(map: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

fn opt_u64(map: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("'{key}' must be a non-negative integer")),
    }
}

impl Script {
    /// Parses one entry of `responses`: `{"text", "audio_ms", "tone_hz",
    /// "audio", "delay_ms"}`, `{"function_call": {"name", "arguments",
    /// "call_id"?}}` or `{"error": {"code", "message", "type"?}}`.
    pub fn from_value(v: &Value) -> Result<Script, String> {
        let map = v
            .as_object()
            .ok_or("a scripted response must be an object")?;
        if let Some(fc) = map.get("function_call") {
            if map.len() != 1 {
                return Err("'function_call' cannot be combined with other keys".into());
            }
            let fc = fc.as_object().ok_or("'function_call' must be an object")?;
            for k in fc.keys() {
                if !["name", "arguments", "call_id"].contains(&k.as_str()) {
                    return Err(format!("unknown key function_call.{k}"));
                }
            }
            let name = opt_str(fc, "name")?.ok_or("function_call.name is required")?;
            let arguments = match fc.get("arguments") {
                None | Some(Value::Null) => "{}".to_owned(),
                Some(Value::String(s)) => s.clone(),
                // A dict is accepted for convenience and sent as its JSON text.
                Some(other) => other.to_string(),
            };
            return Ok(Script::FunctionCall(FunctionCall {
                name,
                arguments,
                call_id: opt_str(fc, "call_id")?,
            }));
        }
        if let Some(err) = map.get("error") {
            if map.len() != 1 {
                return Err("'error' cannot be combined with other keys".into());
            }
            let err = err.as_object().ok_or("'error' must be an object")?;
            for k in err.keys() {
                if !["code", "message", "type"].contains(&k.as_str()) {
                    return Err(format!("unknown key error.{k}"));
                }
            }
            return Ok(Script::Error(ScriptError {
                error_type: opt_str(err, "type")?.unwrap_or_else(|| "server_error".into()),
                code: opt_str(err, "code")?,
                message: opt_str(err, "message")?.unwrap_or_else(|| {
                    "The server had an error while processing your request.".into()
                }),
            }));
        }
        for k in map.keys() {
            if !REPLY_KEYS.contains(&k.as_str()) {
                return Err(format!(
                    "unknown key '{k}' (expected text/audio_ms/tone_hz/audio/delay_ms, function_call or error)"
                ));
            }
        }
        let audio_ms = match opt_u64(map, "audio_ms")? {
            Some(ms) if ms > u64::from(MAX_AUDIO_MS) => {
                return Err(format!("audio_ms must be at most {MAX_AUDIO_MS}"))
            }
            Some(ms) => Some(ms as u32),
            None => None,
        };
        let tone_hz = match map.get("tone_hz") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let hz = v.as_f64().ok_or("'tone_hz' must be a number")?;
                check_tone(hz)?;
                Some(hz)
            }
        };
        let audio = match opt_str(map, "audio")? {
            Some(text) => Some(decode_pcm16("audio", &text)?),
            None => None,
        };
        Ok(Script::Reply(Reply {
            text: opt_str(map, "text")?,
            audio_ms,
            tone_hz,
            audio,
            delay_ms: opt_u64(map, "delay_ms")?.unwrap_or(0),
        }))
    }
}

/// Splits `text` into `n` consecutive pieces at word boundaries (a piece may be
/// empty when there are fewer words than pieces); the pieces concatenate back
/// to `text` exactly. Words go to the front pieces first, as the real server's
/// transcript runs ahead of its audio.
pub fn split_text(text: &str, n: usize) -> Vec<String> {
    let n = n.max(1);
    let words = split_words(text);
    let mut pieces = vec![String::new(); n];
    if words.is_empty() {
        if let Some(first) = pieces.first_mut() {
            first.push_str(text);
        }
        return pieces;
    }
    let per = words.len().div_ceil(n);
    for (i, w) in words.iter().enumerate() {
        pieces[(i / per).min(n - 1)].push_str(w);
    }
    pieces
}

/// Words with their trailing whitespace (leading whitespace stays on the first).
pub fn split_words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            if text[start..i].trim().is_empty() && out.is_empty() {
                // Leading whitespace: keep it with the first word.
                in_space = false;
                continue;
            }
            out.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Splits function-call arguments into up to `n` pieces on char boundaries.
pub fn split_arguments(args: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = args.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let per = chars.len().div_ceil(n.max(1));
    chars.chunks(per).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_each_kind() {
        let r = Script::from_value(&json!({"text": "hi", "audio_ms": 200})).expect("reply");
        assert_eq!(
            r,
            Script::Reply(Reply {
                text: Some("hi".into()),
                audio_ms: Some(200),
                tone_hz: None,
                audio: None,
                delay_ms: 0
            })
        );
        let f = Script::from_value(&json!({"function_call": {"name": "f", "arguments": {"a": 1}}}))
            .expect("function call");
        assert_eq!(
            f,
            Script::FunctionCall(FunctionCall {
                name: "f".into(),
                arguments: r#"{"a":1}"#.into(),
                call_id: None
            })
        );
        let e =
            Script::from_value(&json!({"error": {"code": "c", "message": "m"}})).expect("error");
        assert_eq!(
            e,
            Script::Error(ScriptError {
                error_type: "server_error".into(),
                code: Some("c".into()),
                message: "m".into()
            })
        );
    }

    #[test]
    fn rejects_bad_scripts() {
        for bad in [
            json!(1),
            json!({"txt": "x"}),
            json!({"function_call": {"arguments": "{}"}}),
            json!({"function_call": {"name": "f"}, "text": "x"}),
            json!({"error": {"cod": "x"}}),
            json!({"audio_ms": -1}),
            json!({"tone_hz": 5}),
        ] {
            assert!(
                Script::from_value(&bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn split_text_roundtrips() {
        for text in [
            "",
            "one",
            "  lead and trail  ",
            "Hello from the mock realtime server.",
            "a  b\tc\nd",
        ] {
            for n in 1..12 {
                let pieces = split_text(text, n);
                assert_eq!(pieces.len(), n);
                assert_eq!(pieces.concat(), text, "{text:?} in {n}");
            }
        }
        let p = split_text("a b c d", 2);
        assert_eq!(p, vec!["a b ".to_string(), "c d".to_string()]);
        let p = split_text("a b", 4);
        assert_eq!(
            p,
            vec![
                "a ".to_string(),
                "b".to_string(),
                String::new(),
                String::new()
            ]
        );
    }

    #[test]
    fn split_arguments_roundtrips() {
        let args = r#"{"city": "Paris", "unit": "c"}"#;
        let pieces = split_arguments(args, 4);
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces.concat(), args);
        assert!(split_arguments("", 3).is_empty());
        assert_eq!(split_arguments("ab", 5).concat(), "ab");
    }
}
