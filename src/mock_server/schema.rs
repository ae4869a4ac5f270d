//! What the mock accepts and how it shapes sessions: field checks of client
//! events (the real server's `missing_required_parameter`, `invalid_type`,
//! `invalid_value` and `unknown_parameter` errors), the default sessions,
//! and the `session.update` merge.

use serde_json::{json, Map, Value};

use super::events::ErrorBody;
use super::{new_id, unix_s};

/// The client event types of the GA protocol (the real server lists them in
/// its "Supported values" error).
pub const CLIENT_EVENT_TYPES: &[&str] = &[
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Realtime,
    Transcription,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Realtime => "realtime",
            Kind::Transcription => "transcription",
        }
    }
}

pub type Res = Result<(), ErrorBody>;

pub fn missing(param: &str) -> ErrorBody {
    ErrorBody::invalid(
        "missing_required_parameter",
        format!("Missing required parameter: '{param}'."),
    )
    .with_param(param)
}

pub fn invalid_type(param: &str, expected: &str) -> ErrorBody {
    ErrorBody::invalid(
        "invalid_type",
        format!("Invalid type for '{param}': expected {expected}."),
    )
    .with_param(param)
}

pub fn invalid_value(param: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody::invalid("invalid_value", message).with_param(param)
}

pub fn unknown_parameter(param: &str) -> ErrorBody {
    ErrorBody::invalid(
        "unknown_parameter",
        format!("Unknown parameter: '{param}'."),
    )
    .with_param(param)
}

pub fn item_not_found(id: &str) -> ErrorBody {
    ErrorBody::invalid(
        "item_not_found",
        format!("Item with item_id not found: {id}"),
    )
    .with_param("item_id")
}

pub fn supported(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn req_str<'a>(ev: &'a Map<String, Value>, key: &str) -> Result<&'a str, ErrorBody> {
    match ev.get(key) {
        None | Some(Value::Null) => Err(missing(key)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid_type(key, "a string")),
    }
}

pub fn req_u64(ev: &Map<String, Value>, key: &str) -> Result<u64, ErrorBody> {
    match ev.get(key) {
        None | Some(Value::Null) => Err(missing(key)),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid_type(key, "a non-negative integer")),
    }
}

pub fn check_keys(map: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Res {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(unknown_parameter(&format!("{prefix}.{k}"))),
        None => Ok(()),
    }
}

/// `Some(map)` for an object, `None` for absent or null, an error otherwise.
pub fn opt_obj<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<Option<&'a Map<String, Value>>, ErrorBody> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(invalid_type(param, "an object")),
    }
}

pub const REALTIME_SESSION_KEYS: &[&str] = &[
    "type",
    "model",
    "instructions",
    "output_modalities",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "parallel_tool_calls",
    "reasoning",
];
pub const TRANSCRIPTION_SESSION_KEYS: &[&str] = &["type", "audio", "include"];
pub const AUDIO_INPUT_KEYS: &[&str] = &[
    "format",
    "noise_reduction",
    "transcription",
    "turn_detection",
];
pub const AUDIO_OUTPUT_KEYS: &[&str] = &["format", "voice", "speed"];
pub const TURN_DETECTION_KEYS: &[&str] = &[
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "idle_timeout_ms",
    "create_response",
    "interrupt_response",
    "eagerness",
];
pub const RESPONSE_KEYS: &[&str] = &[
    "output_modalities",
    "instructions",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "metadata",
    "conversation",
    "input",
    "prompt",
    "reasoning",
    "parallel_tool_calls",
];
pub const FORMAT_TYPES: &[&str] = &["audio/pcm", "audio/pcmu", "audio/pcma"];

pub fn check_format(v: &Value, param: &str) -> Res {
    let Value::Object(f) = v else {
        return if v.is_null() {
            Ok(())
        } else {
            Err(invalid_type(param, "an object"))
        };
    };
    check_keys(f, &["type", "rate"], param)?;
    match f.get("type").and_then(Value::as_str) {
        Some(t) if FORMAT_TYPES.contains(&t) => {}
        Some(t) => {
            return Err(invalid_value(
                &format!("{param}.type"),
                format!(
                    "Invalid value: '{t}'. Supported values are: {}.",
                    supported(FORMAT_TYPES)
                ),
            ))
        }
        None => return Err(missing(&format!("{param}.type"))),
    }
    match f.get("rate") {
        None | Some(Value::Null) => Ok(()),
        Some(r) if r.as_f64() == Some(24000.0) => Ok(()),
        Some(r) => Err(invalid_value(
            &format!("{param}.rate"),
            format!("Invalid value: {r}. Supported values are: 24000."),
        )),
    }
}

pub fn check_modalities(v: &Value, param: &str) -> Res {
    let ok = matches!(v.as_array().map(Vec::as_slice), Some([m]) if m == "audio" || m == "text");
    if ok || v.is_null() {
        Ok(())
    } else {
        Err(invalid_value(
            param,
            format!("Invalid value for '{param}': {v}. Use [\"audio\"] or [\"text\"]; both at once is not supported."),
        ))
    }
}

pub fn check_audio_input(input: &Map<String, Value>, prefix: &str) -> Res {
    check_keys(input, AUDIO_INPUT_KEYS, prefix)?;
    if let Some(f) = input.get("format") {
        check_format(f, &format!("{prefix}.format"))?;
    }
    for key in ["noise_reduction", "transcription"] {
        opt_obj(input, key, &format!("{prefix}.{key}"))?;
    }
    if let Some(td) = opt_obj(input, "turn_detection", &format!("{prefix}.turn_detection"))? {
        let p = format!("{prefix}.turn_detection");
        check_keys(td, TURN_DETECTION_KEYS, &p)?;
        match td.get("type").and_then(Value::as_str) {
            Some("server_vad") | Some("semantic_vad") => {}
            Some(t) => {
                return Err(invalid_value(
                    &format!("{p}.type"),
                    format!(
                        "Invalid value: '{t}'. Supported values are: 'server_vad', 'semantic_vad'."
                    ),
                ))
            }
            None => return Err(missing(&format!("{p}.type"))),
        }
    }
    Ok(())
}

/// Checks a `session.update` body the way the real server does for the
/// fields it knows; unknown fields are `unknown_parameter`.
pub fn check_session_update(s: &Map<String, Value>, kind: Kind) -> Res {
    let keys = match kind {
        Kind::Realtime => REALTIME_SESSION_KEYS,
        Kind::Transcription => TRANSCRIPTION_SESSION_KEYS,
    };
    check_keys(s, keys, "session")?;
    if let Some(v) = s.get("output_modalities") {
        check_modalities(v, "session.output_modalities")?;
    }
    if let Some(v) = s.get("instructions") {
        if !v.is_string() && !v.is_null() {
            return Err(invalid_type("session.instructions", "a string"));
        }
    }
    if let Some(v) = s.get("tools") {
        if !v.is_array() && !v.is_null() {
            return Err(invalid_type("session.tools", "an array"));
        }
    }
    if let Some(v) = s.get("max_output_tokens") {
        let ok = v.is_null() || v == "inf" || v.as_u64().is_some_and(|n| (1..=4096).contains(&n));
        if !ok {
            return Err(invalid_value(
                "session.max_output_tokens",
                format!("Invalid value: {v}. Expected an integer between 1 and 4096, or 'inf'."),
            ));
        }
    }
    if let Some(audio) = opt_obj(s, "audio", "session.audio")? {
        let allowed: &[&str] = if kind == Kind::Realtime {
            &["input", "output"]
        } else {
            &["input"]
        };
        check_keys(audio, allowed, "session.audio")?;
        if let Some(input) = opt_obj(audio, "input", "session.audio.input")? {
            check_audio_input(input, "session.audio.input")?;
        }
        if let Some(output) = opt_obj(audio, "output", "session.audio.output")? {
            check_keys(output, AUDIO_OUTPUT_KEYS, "session.audio.output")?;
            if let Some(f) = output.get("format") {
                check_format(f, "session.audio.output.format")?;
            }
            match output.get("voice") {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(Value::Object(v)) if v.get("id").is_some_and(Value::is_string) => {}
                Some(_) => {
                    return Err(invalid_type(
                        "session.audio.output.voice",
                        "a voice name or {\"id\": ...}",
                    ))
                }
            }
            if let Some(speed) = output.get("speed").filter(|v| !v.is_null()) {
                if !speed.as_f64().is_some_and(|x| (0.25..=1.5).contains(&x)) {
                    return Err(invalid_value(
                        "session.audio.output.speed",
                        format!("Invalid value: {speed}. Expected a number between 0.25 and 1.5."),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Deep merge for `session.update`: objects merge key by key, anything else
/// (including an explicit `null` and arrays) replaces. An object whose `type`
/// tag changes (e.g. `server_vad` -> `semantic_vad`) replaces as a whole, so
/// no field of the old variant leaks into the new one.
pub fn merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(dv) if dv.is_object() && v.is_object() && same_tag(dv, v) => merge(dv, v),
                    _ => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (d, s) => *d = s.clone(),
    }
}

pub fn same_tag(a: &Value, b: &Value) -> bool {
    match (a.get("type"), b.get("type")) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

pub fn default_turn_detection() -> Value {
    json!({
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": null,
        "create_response": true,
        "interrupt_response": true,
    })
}

/// Fills the defaults the real server reports for a (new) turn detection or
/// format object given with only its `type`.
pub fn fill_defaults(session: &mut Value) {
    if let Some(input) = session.pointer_mut("/audio/input") {
        if let Some(td) = input
            .get_mut("turn_detection")
            .and_then(Value::as_object_mut)
        {
            let defaults = match td.get("type").and_then(Value::as_str) {
                Some("semantic_vad") => {
                    json!({"eagerness": "auto", "create_response": true, "interrupt_response": true})
                }
                _ => default_turn_detection(),
            };
            if let Value::Object(d) = defaults {
                for (k, v) in d {
                    td.entry(k).or_insert(v);
                }
            }
        }
    }
    for ptr in ["/audio/input/format", "/audio/output/format"] {
        if let Some(f) = session.pointer_mut(ptr).and_then(Value::as_object_mut) {
            if f.get("type").and_then(Value::as_str) == Some("audio/pcm") {
                f.entry("rate").or_insert(json!(24000));
            } else {
                f.remove("rate");
            }
        }
    }
}

pub fn default_session(kind: Kind, model: Option<&str>) -> Value {
    let id = new_id("sess");
    let expires_at = unix_s() + 3600;
    let pcm = json!({"type": "audio/pcm", "rate": 24000});
    match kind {
        Kind::Realtime => json!({
            "type": "realtime",
            "object": "realtime.session",
            "id": id,
            "model": model.unwrap_or("gpt-realtime"),
            "output_modalities": ["audio"],
            "instructions": "You are a helpful, witty and friendly AI (played by realtime-ws's mock server). Keep your answers short.",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": null,
            "truncation": "auto",
            "prompt": null,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": pcm,
                    "transcription": null,
                    "noise_reduction": null,
                    "turn_detection": default_turn_detection(),
                },
                "output": {"format": pcm, "voice": "alloy", "speed": 1.0},
            },
            "include": null,
        }),
        Kind::Transcription => json!({
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": id,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": pcm,
                    "transcription": {"model": "gpt-4o-transcribe", "language": null, "prompt": ""},
                    "noise_reduction": null,
                    "turn_detection": default_turn_detection(),
                },
            },
            "include": null,
        }),
    }
}

/// Checks one item of `conversation.item.create`.
pub fn check_item(item: &Map<String, Value>) -> Res {
    let ty = req_str(item, "type").map_err(|_| missing("item.type"))?;
    match ty {
        "message" => {
            let role = match item.get("role") {
                Some(Value::String(r)) => r.as_str(),
                _ => return Err(missing("item.role")),
            };
            let parts: &[&str] = match role {
                "user" => &["input_text", "input_audio", "input_image"],
                "assistant" => &["output_text", "output_audio"],
                "system" => &["input_text"],
                other => {
                    return Err(invalid_value(
                        "item.role",
                        format!("Invalid value: '{other}'. Supported values are: 'user', 'assistant', 'system'."),
                    ))
                }
            };
            let Some(content) = item.get("content") else { return Err(missing("item.content")) };
            let Some(content) = content.as_array() else { return Err(invalid_type("item.content", "an array")) };
            for (i, part) in content.iter().enumerate() {
                let t = part.get("type").and_then(Value::as_str).unwrap_or("");
                if !parts.contains(&t) {
                    return Err(invalid_value(
                        &format!("item.content[{i}].type"),
                        format!(
                            "Invalid value: '{t}'. Supported values for a {role} message are: {}.",
                            supported(parts)
                        ),
                    ));
                }
            }
            Ok(())
        }
        "function_call" => {
            req_str(item, "name").map_err(|_| missing("item.name"))?;
            req_str(item, "arguments").map_err(|_| missing("item.arguments"))?;
            Ok(())
        }
        "function_call_output" => {
            req_str(item, "call_id").map_err(|_| missing("item.call_id"))?;
            req_str(item, "output").map_err(|_| missing("item.output"))?;
            Ok(())
        }
        "mcp_approval_response" => {
            req_str(item, "approval_request_id").map_err(|_| missing("item.approval_request_id"))?;
            Ok(())
        }
        other => Err(invalid_value(
            "item.type",
            format!(
                "Invalid value: '{other}'. Supported values are: 'message', 'function_call', 'function_call_output', 'mcp_approval_response'."
            ),
        )),
    }
}

/// `map[k0][k1]...`
pub fn path<'a>(map: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    rest.iter().try_fold(map.get(*first)?, |v, k| v.get(*k))
}

/// Fields a `session.update` can never change.
pub fn restore_immutable(session: &mut Value, before: &Value) {
    for key in ["type", "object", "id", "model", "expires_at"] {
        match before.get(key) {
            Some(v) => session[key] = v.clone(),
            None => {
                if let Some(m) = session.as_object_mut() {
                    m.remove(key);
                }
            }
        }
    }
}
