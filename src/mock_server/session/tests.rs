//! Protocol state machine tests: frames in, frames out, no sockets.

use super::*;
use crate::mock_server::events::assert_sdk_shape;
use crate::mock_server::unix_s;

fn env_with(options: &str) -> SessionEnv {
    let config = MockConfig::from_json(options).expect("valid options");
    SessionEnv {
        scripts: Arc::new(Mutex::new(config.script_queue())),
        config: Arc::new(config),
        counters: Arc::new(Counters::default()),
    }
}

struct Harness {
    s: Session,
    now: Instant,
    log: Vec<Value>,
}

impl Harness {
    fn new(options: &str) -> Harness {
        Harness::with_target(
            options,
            Target {
                model: Some("gpt-realtime".into()),
                intent: None,
            },
        )
    }

    fn with_target(options: &str, target: Target) -> Harness {
        let mut h = Harness {
            s: Session::new(env_with(options), &target),
            now: Instant::now(),
            log: Vec::new(),
        };
        let opening = h.s.opening();
        h.take(opening);
        h
    }

    fn take(&mut self, frames: Vec<String>) -> Vec<Value> {
        let evs: Vec<Value> = frames
            .iter()
            .map(|f| serde_json::from_str(f).expect("the mock emits JSON"))
            .collect();
        for ev in &evs {
            assert_sdk_shape(ev);
            assert!(ev["event_id"].as_str().is_some_and(|e| !e.is_empty()));
        }
        self.log.extend(evs.iter().cloned());
        evs
    }

    /// Sends a client event and runs any response it starts to completion.
    fn send(&mut self, ev: Value) -> Vec<Value> {
        let frames = self.s.on_text(&ev.to_string(), self.now);
        let mut out = self.take(frames);
        out.extend(self.drain());
        out
    }

    /// Sends without running the response.
    fn send_only(&mut self, ev: Value) -> Vec<Value> {
        let frames = self.s.on_text(&ev.to_string(), self.now);
        self.take(frames)
    }

    /// Steps the active response until idle (advancing the fake clock).
    fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let Some(due) = self.s.next_due() else {
                return out;
            };
            self.now = self.now.max(due);
            let frames = self.s.step(self.now);
            out.extend(self.take(frames));
        }
        panic!("the response never ended");
    }

    /// `n` steps (a head, then ticks).
    fn steps(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..n {
            if let Some(due) = self.s.next_due() {
                self.now = self.now.max(due);
                let frames = self.s.step(self.now);
                out.extend(self.take(frames));
            }
        }
        out
    }

    fn counters(&self) -> &Counters {
        &self.s.env.counters
    }
}

fn types(evs: &[Value]) -> Vec<&str> {
    evs.iter()
        .map(|e| e["type"].as_str().unwrap_or("?"))
        .collect()
}

fn dedup(types: Vec<&str>) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for t in types {
        if out.last() != Some(&t) {
            out.push(t);
        }
    }
    out
}

fn user_text(text: &str) -> Value {
    json!({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
}

fn pcm(ms: u32, amp: f64) -> String {
    let samples: Vec<u8> = (0..24 * ms)
        .flat_map(|n| ((amp * (f64::from(n) * 0.115).sin()) as i16).to_le_bytes())
        .collect();
    b64::encode(&samples)
}

fn error_of(evs: &[Value]) -> &Value {
    &evs.iter()
        .find(|e| e["type"] == "error")
        .expect("an error event")["error"]
}

#[test]
fn session_created_is_a_full_ga_session() {
    let h = Harness::new("{}");
    let ev = &h.log[0];
    assert_eq!(ev["type"], "session.created");
    let s = &ev["session"];
    assert_eq!(s["type"], "realtime");
    assert_eq!(s["object"], "realtime.session");
    assert!(s["id"].as_str().is_some_and(|i| i.starts_with("sess_")));
    assert_eq!(s["model"], "gpt-realtime");
    assert_eq!(s["output_modalities"], json!(["audio"]));
    assert_eq!(
        s["audio"]["input"]["format"],
        json!({"type": "audio/pcm", "rate": 24000})
    );
    let td = &s["audio"]["input"]["turn_detection"];
    assert_eq!(
        (td["threshold"].as_f64(), td["prefix_padding_ms"].as_u64()),
        (Some(0.5), Some(300))
    );
    assert_eq!(
        (
            td["silence_duration_ms"].as_u64(),
            td["create_response"].as_bool()
        ),
        (Some(200), Some(true))
    );
    assert_eq!(s["audio"]["output"]["voice"], "alloy");
    assert_eq!(s["max_output_tokens"], "inf");
    assert!(s["audio"]["input"]["transcription"].is_null());
    assert!(s["expires_at"].as_u64().is_some_and(|t| t > unix_s()));
}

#[test]
fn transcription_intent_gets_a_transcription_session() {
    let h = Harness::with_target(
        "{}",
        Target {
            model: None,
            intent: Some("transcription".into()),
        },
    );
    let s = &h.log[0]["session"];
    assert_eq!(s["type"], "transcription");
    assert_eq!(s["object"], "realtime.transcription_session");
    assert!(s.get("output_modalities").is_none());
}

#[test]
fn session_defaults_are_merged() {
    let h = Harness::new(
        r#"{"session_defaults": {"instructions": "be brief", "audio": {"output": {"voice": "marin"}}}}"#,
    );
    let s = &h.log[0]["session"];
    assert_eq!(s["instructions"], "be brief");
    assert_eq!(s["audio"]["output"]["voice"], "marin");
    assert_eq!(s["audio"]["output"]["speed"], 1.0);
}

#[test]
fn merge_semantics() {
    let mut dst =
        json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "td": {"type": "server_vad", "threshold": 0.5}});
    merge(&mut dst, &json!({"a": {"b": 5}, "l": [3], "n": null}));
    assert_eq!(dst["a"], json!({"b": 5, "c": 2}));
    assert_eq!(dst["l"], json!([3]));
    assert!(dst.get("n").is_some_and(Value::is_null));
    merge(&mut dst, &json!({"td": {"type": "semantic_vad"}}));
    assert_eq!(
        dst["td"],
        json!({"type": "semantic_vad"}),
        "a new variant replaces the old one"
    );
    merge(&mut dst, &json!({"td": null}));
    assert!(dst["td"].is_null());
    merge(&mut dst, &json!({"td": {"type": "server_vad"}}));
    assert_eq!(dst["td"], json!({"type": "server_vad"}));
}

#[test]
fn session_update_merges_and_reports_the_full_session() {
    let mut h = Harness::new("{}");
    let out = h.send(json!({"type": "session.update", "session": {
        "type": "realtime", "instructions": "hi", "model": "other",
        "audio": {"input": {"turn_detection": null}, "output": {"format": {"type": "audio/pcmu"}}}}}));
    assert_eq!(types(&out), vec!["session.updated"]);
    let s = &out[0]["session"];
    assert_eq!(s["instructions"], "hi");
    assert_eq!(s["model"], "gpt-realtime", "the model never changes");
    assert!(s["audio"]["input"]["turn_detection"].is_null());
    assert_eq!(
        s["audio"]["output"]["format"],
        json!({"type": "audio/pcmu"})
    );
    assert_eq!(s["audio"]["output"]["voice"], "alloy");
    assert_eq!(s["audio"]["input"]["format"]["rate"], 24000);
    // Re-enabling turn detection with only its type fills the defaults.
    let out = h.send(json!({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}}));
    let td = &out[0]["session"]["audio"]["input"]["turn_detection"];
    assert_eq!(td["silence_duration_ms"], 500);
    assert_eq!(td["threshold"], 0.5);
    assert_eq!(td["interrupt_response"], true);
}

#[test]
fn session_update_errors() {
    let mut h = Harness::new("{}");
    let cases = [
        (
            json!({"type": "session.update", "event_id": "c1"}),
            "missing_required_parameter",
            "session",
        ),
        (
            json!({"type": "session.update", "session": {}}),
            "missing_required_parameter",
            "session.type",
        ),
        (
            json!({"type": "session.update", "session": {"type": "transcription"}}),
            "invalid_value",
            "session.type",
        ),
        (
            json!({"type": "session.update", "session": {"type": "realtime", "modalities": ["text"]}}),
            "unknown_parameter",
            "session.modalities",
        ),
        (
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"bogus": 1}}}}),
            "unknown_parameter",
            "session.audio.input.bogus",
        ),
        (
            json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio", "text"]}}),
            "invalid_value",
            "session.output_modalities",
        ),
        (
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}}),
            "invalid_value",
            "session.audio.output.format.rate",
        ),
        (
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "nope"}}}}}),
            "invalid_value",
            "session.audio.input.turn_detection.type",
        ),
        (
            json!({"type": "session.update", "session": {"type": "realtime", "instructions": 5}}),
            "invalid_type",
            "session.instructions",
        ),
    ];
    for (ev, code, param) in cases {
        let out = h.send(ev.clone());
        assert_eq!(types(&out), vec!["error"], "{ev}");
        let e = error_of(&out);
        assert_eq!(
            (e["code"].as_str(), e["param"].as_str()),
            (Some(code), Some(param)),
            "{ev}"
        );
        assert!(h.s.last_rejected());
    }
    assert_eq!(error_of(&h.log[1..2])["event_id"], "c1");
    // The session still works.
    let out = h.send(json!({"type": "session.update", "session": {"type": "realtime"}}));
    assert_eq!(types(&out), vec!["session.updated"]);
    assert!(!h.s.last_rejected());
}

#[test]
fn bad_frames_get_errors_and_the_session_keeps_working() {
    let mut h = Harness::new("{}");
    let frames = h.s.on_text("{not json", h.now);
    let out = h.take(frames);
    assert_eq!(error_of(&out)["code"], "invalid_json");
    let frames = h.s.on_binary();
    let out = h.take(frames);
    assert_eq!(error_of(&out)["code"], "invalid_event");
    assert_eq!(
        error_of(&out)["message"],
        "Expected a text WebSocket message"
    );
    let out = h.send(json!({"type": "response.text.delta", "event_id": "x1"}));
    let e = error_of(&out);
    assert_eq!(
        (e["code"].as_str(), e["event_id"].as_str()),
        (Some("invalid_value"), Some("x1"))
    );
    assert!(e["message"]
        .as_str()
        .is_some_and(|m| m.contains("'session.update'") && m.contains("'response.cancel'")));
    let out = h.send(json!({"event_id": "x2"}));
    assert_eq!(error_of(&out)["code"], "missing_required_parameter");
    for (ev, param) in [
        (json!({"type": "conversation.item.create"}), "item"),
        (json!({"type": "conversation.item.retrieve"}), "item_id"),
        (json!({"type": "conversation.item.delete"}), "item_id"),
        (
            json!({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0}),
            "audio_end_ms",
        ),
        (json!({"type": "input_audio_buffer.append"}), "audio"),
    ] {
        let out = h.send(ev);
        let e = error_of(&out);
        assert_eq!(
            (e["code"].as_str(), e["param"].as_str()),
            (Some("missing_required_parameter"), Some(param))
        );
    }
    let out =
        h.send(json!({"type": "input_audio_buffer.append", "audio": "!!!", "event_id": "a1"}));
    assert_eq!(
        (
            error_of(&out)["code"].as_str(),
            error_of(&out)["event_id"].as_str()
        ),
        (Some("invalid_value"), Some("a1"))
    );
    let out = h.send(user_text("still here"));
    assert_eq!(
        types(&out),
        vec!["conversation.item.added", "conversation.item.done"]
    );
}

#[test]
fn items_create_retrieve_delete() {
    let mut h = Harness::new("{}");
    let out = h.send(user_text("one"));
    let first = out[0]["item"]["id"].as_str().expect("id").to_owned();
    assert!(first.starts_with("item_"));
    assert!(out[0]["previous_item_id"].is_null());
    assert_eq!(out[1]["item"]["status"], "completed");
    assert_eq!(out[1]["item"]["object"], "realtime.item");
    assert_eq!(out[1]["item"]["content"][0]["text"], "one");
    let out = h.send(json!({"type": "conversation.item.create", "item": {
        "id": "mine", "type": "function_call_output", "call_id": "c", "output": "{}"}}));
    assert_eq!(out[0]["previous_item_id"], first.as_str());
    assert_eq!(out[0]["item"]["id"], "mine");
    // Insert at the root and after an item.
    let out = h.send(json!({"type": "conversation.item.create", "previous_item_id": "root", "item": {
        "id": "zero", "type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]}}));
    assert!(out[0]["previous_item_id"].is_null());
    let out = h.send(
        json!({"type": "conversation.item.create", "previous_item_id": "zero", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}}),
    );
    assert_eq!(out[0]["previous_item_id"], "zero");
    let out = h.send(json!({"type": "conversation.item.retrieve", "item_id": "mine"}));
    assert_eq!(types(&out), vec!["conversation.item.retrieved"]);
    assert_eq!(out[0]["item"]["output"], "{}");
    let out =
        h.send(json!({"type": "conversation.item.delete", "item_id": "mine", "event_id": "d"}));
    assert_eq!(types(&out), vec!["conversation.item.deleted"]);
    assert_eq!(out[0]["item_id"], "mine");
    for ev in [
        json!({"type": "conversation.item.retrieve", "item_id": "mine", "event_id": "r"}),
        json!({"type": "conversation.item.delete", "item_id": "mine", "event_id": "r"}),
    ] {
        let out = h.send(ev);
        assert_eq!(
            (
                error_of(&out)["code"].as_str(),
                error_of(&out)["event_id"].as_str()
            ),
            (Some("item_not_found"), Some("r"))
        );
    }
    // Bad items.
    for (item, param) in [
        (
            json!({"type": "message", "role": "robot", "content": []}),
            "item.role",
        ),
        (
            json!({"type": "message", "role": "user", "content": [{"type": "output_text", "text": "x"}]}),
            "item.content[0].type",
        ),
        (json!({"type": "bogus"}), "item.type"),
        (
            json!({"type": "function_call_output", "output": "x"}),
            "item.call_id",
        ),
        (
            json!({"id": "zero", "type": "message", "role": "user", "content": []}),
            "item.id",
        ),
    ] {
        let out = h.send(json!({"type": "conversation.item.create", "item": item}));
        assert_eq!(error_of(&out)["param"], param);
    }
    let out = h.send(
        json!({"type": "conversation.item.create", "previous_item_id": "nope", "item": {
        "type": "message", "role": "user", "content": []}}),
    );
    assert_eq!(error_of(&out)["param"], "previous_item_id");
}

const AUDIO_TURN: &[&str] = &[
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
];

#[test]
fn audio_response_sequence() {
    let mut h = Harness::new("{}");
    h.send(user_text("hello"));
    let out = h.send(json!({"type": "response.create", "event_id": "rc",
        "response": {"metadata": {"topic": "test"}}}));
    let t = types(&out);
    // Transcript and audio deltas interleave; collapse runs for the order check.
    let collapsed: Vec<&str> = dedup(
        t.iter()
            .map(|x| {
                if x.ends_with(".delta") {
                    "response.output_audio_transcript.delta"
                } else {
                    x
                }
            })
            .collect(),
    );
    let mut expected: Vec<&str> = AUDIO_TURN.to_vec();
    expected.remove(5);
    assert_eq!(collapsed, expected);
    assert_eq!(t[4], "response.output_audio_transcript.delta");
    assert_eq!(t[5], "response.output_audio.delta");
    let deltas: Vec<&Value> = out
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .collect();
    assert_eq!(deltas.len(), 12, "600 ms in 50 ms chunks");
    for d in &deltas {
        let bytes = b64::decode(d["delta"].as_str().expect("delta").as_bytes()).expect("base64");
        assert_eq!(bytes.len(), 2400);
        let id = d["event_id"].as_str().expect("id");
        let parts: Vec<&str> = id.split('_').collect();
        assert_eq!(parts.len(), 3, "{id}");
        assert!(parts[2]
            .parse::<u128>()
            .is_ok_and(|ns| ns > 1_600_000_000_000_000_000));
    }
    let transcript: String = out
        .iter()
        .filter(|e| e["type"] == "response.output_audio_transcript.delta")
        .map(|e| e["delta"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(transcript, DEFAULT_TEXT_FOR_TESTS);
    let done = out
        .iter()
        .find(|e| e["type"] == "response.done")
        .expect("done");
    let r = &done["response"];
    assert_eq!(r["status"], "completed");
    assert_eq!(r["metadata"], json!({"topic": "test"}));
    assert!(r["conversation_id"]
        .as_str()
        .is_some_and(|c| c.starts_with("conv_")));
    assert_eq!(
        r["output"][0]["content"][0],
        json!({"type": "output_audio", "transcript": DEFAULT_TEXT_FOR_TESTS})
    );
    assert_eq!(r["output"][0]["status"], "completed");
    assert!(r["usage"]["total_tokens"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(
        r["usage"]["total_tokens"].as_u64(),
        Some(
            r["usage"]["input_tokens"].as_u64().unwrap_or(0)
                + r["usage"]["output_tokens"].as_u64().unwrap_or(0)
        )
    );
    // All events of the response name it, and the item ids agree.
    let rid = r["id"].as_str().expect("id");
    let iid = r["output"][0]["id"].as_str().expect("item id");
    for e in &out {
        if let Some(x) = e.get("response_id") {
            assert_eq!(x, rid);
        }
        if let Some(x) = e.get("item_id") {
            assert_eq!(x, iid);
        }
    }
    let added = out
        .iter()
        .find(|e| e["type"] == "conversation.item.added")
        .expect("added");
    assert_eq!(added["item"]["status"], "in_progress");
    assert!(added["previous_item_id"].as_str().is_some());
    assert_eq!(h.counters().audio_deltas_sent.load(Ordering::Relaxed), 12);
    assert_eq!(
        h.counters().audio_bytes_sent.load(Ordering::Relaxed),
        600 * 48
    );
}

const DEFAULT_TEXT_FOR_TESTS: &str = crate::mock_server::config::DEFAULT_TEXT;

use std::sync::atomic::Ordering;

#[test]
fn text_response_and_out_of_band() {
    let mut h = Harness::new(r#"{"responses": [{"text": "Just text here"}]}"#);
    let out = h.send(json!({"type": "response.create", "response": {"output_modalities": ["text"], "conversation": "none"}}));
    let t = dedup(types(&out));
    assert_eq!(
        t,
        vec![
            "response.created",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
    );
    let done = &out[out.len() - 2]["response"];
    assert!(done["conversation_id"].is_null());
    assert_eq!(done["output_modalities"], json!(["text"]));
    assert_eq!(
        done["output"][0]["content"][0],
        json!({"type": "output_text", "text": "Just text here"})
    );
    assert_eq!(
        out.iter()
            .find(|e| e["type"] == "response.output_text.done")
            .expect("done")["text"],
        "Just text here"
    );
    // Out of band: nothing was added to the conversation.
    let item_id = done["output"][0]["id"].as_str().expect("id");
    let out = h.send(json!({"type": "conversation.item.retrieve", "item_id": item_id}));
    assert_eq!(error_of(&out)["code"], "item_not_found");
}

#[test]
fn function_call_script() {
    let mut h = Harness::new(
        r#"{"responses": [{"function_call": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}", "call_id": "call_1"}}]}"#,
    );
    let out = h.send(json!({"type": "response.create"}));
    let t = dedup(types(&out));
    assert_eq!(
        t,
        vec![
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
    );
    let deltas: String = out
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(deltas, r#"{"city": "Paris"}"#);
    assert!(
        out.iter()
            .filter(|e| e["type"] == "response.function_call_arguments.delta")
            .count()
            > 1
    );
    let done = out
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .expect("done");
    assert_eq!(
        (done["name"].as_str(), done["call_id"].as_str()),
        (Some("get_weather"), Some("call_1"))
    );
    let item = &out
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .expect("item")["item"];
    assert_eq!(item["status"], "completed");
    assert_eq!(item["arguments"], r#"{"city": "Paris"}"#);
    assert_eq!(out[1]["item"]["status"], "in_progress");
}

#[test]
fn scripts_are_consumed_in_order_then_the_default() {
    let mut h = Harness::new(
        r#"{"responses": [{"text": "first", "audio_ms": 100}, {"error": {"code": "boom", "message": "scripted"}}, {"text": "third", "audio_ms": 0}]}"#,
    );
    let transcript = |out: &[Value]| -> String {
        out.iter()
            .find(|e| e["type"] == "response.output_audio_transcript.done")
            .and_then(|e| e["transcript"].as_str())
            .unwrap_or("<none>")
            .to_owned()
    };
    let audio = |out: &[Value]| {
        out.iter()
            .filter(|e| e["type"] == "response.output_audio.delta")
            .count()
    };
    let out = h.send(json!({"type": "response.create"}));
    assert_eq!((transcript(&out).as_str(), audio(&out)), ("first", 2));
    let out = h.send(json!({"type": "response.create", "event_id": "r2"}));
    assert_eq!(types(&out), vec!["error"]);
    let e = error_of(&out);
    assert_eq!(
        (
            e["code"].as_str(),
            e["message"].as_str(),
            e["event_id"].as_str()
        ),
        (Some("boom"), Some("scripted"), Some("r2"))
    );
    assert!(!h.s.has_active_response());
    let out = h.send(json!({"type": "response.create"}));
    assert_eq!((transcript(&out).as_str(), audio(&out)), ("third", 0));
    let out = h.send(json!({"type": "response.create"}));
    assert_eq!(
        (transcript(&out).as_str(), audio(&out)),
        (DEFAULT_TEXT_FOR_TESTS, 12)
    );
}

#[test]
fn one_response_at_a_time_and_cancel() {
    let mut h = Harness::new("{}");
    let out = h.send_only(json!({"type": "response.create"}));
    assert!(out.is_empty(), "the response streams from step()");
    let out = h.steps(3);
    assert_eq!(types(&out)[0], "response.created");
    let out = h.send_only(json!({"type": "response.create", "event_id": "dup"}));
    let e = error_of(&out);
    assert_eq!(
        (e["code"].as_str(), e["event_id"].as_str()),
        (
            Some("conversation_already_has_active_response"),
            Some("dup")
        )
    );
    let out = h.send_only(json!({"type": "response.cancel", "event_id": "c"}));
    assert_eq!(types(&out), vec!["response.done"]);
    let r = &out[0]["response"];
    assert_eq!(r["status"], "cancelled");
    assert_eq!(
        r["status_details"],
        json!({"type": "cancelled", "reason": "client_cancelled"})
    );
    assert_eq!(r["output"][0]["status"], "incomplete");
    assert!(h.s.next_due().is_none());
    let out = h.send_only(json!({"type": "response.cancel", "event_id": "c2"}));
    let e = error_of(&out);
    assert_eq!(
        (e["code"].as_str(), e["event_id"].as_str()),
        (Some("response_cancel_not_active"), Some("c2"))
    );
    assert_eq!(h.counters().responses_cancelled.load(Ordering::Relaxed), 1);
}

#[test]
fn cancel_during_a_scripted_delay_still_pairs_created_and_done() {
    let mut h = Harness::new(r#"{"responses": [{"text": "later", "delay_ms": 1000}]}"#);
    h.send_only(json!({"type": "response.create"}));
    assert!(h.s.step(h.now).is_empty(), "not due yet");
    let out = h.send_only(json!({"type": "response.cancel"}));
    let t = types(&out);
    assert_eq!(t.first().copied(), Some("response.created"));
    assert_eq!(t.last().copied(), Some("response.done"));
}

#[test]
fn truncate_cuts_the_audio_and_transcript() {
    let mut h = Harness::new("{}");
    let out = h.send(json!({"type": "response.create"}));
    let item_id = out[1]["item"]["id"].as_str().expect("id").to_owned();
    let out = h.send(json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 700, "event_id": "t1"}));
    let e = error_of(&out);
    assert_eq!(
        (e["code"].as_str(), e["event_id"].as_str()),
        (Some("invalid_value"), Some("t1"))
    );
    assert!(e["message"]
        .as_str()
        .is_some_and(|m| m.contains("past the end")));
    let out = h.send(json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 300}));
    assert_eq!(types(&out), vec!["conversation.item.truncated"]);
    assert_eq!(
        (out[0]["item_id"].as_str(), out[0]["audio_end_ms"].as_u64()),
        (Some(item_id.as_str()), Some(300))
    );
    let out = h.send(json!({"type": "conversation.item.retrieve", "item_id": item_id}));
    let t = out[0]["item"]["content"][0]["transcript"]
        .as_str()
        .expect("transcript");
    assert_eq!(
        t.chars().count(),
        DEFAULT_TEXT_FOR_TESTS.chars().count() / 2
    );
    // Truncating again past the new end fails; user items cannot be truncated.
    let out = h.send(json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 400}));
    assert_eq!(error_of(&out)["code"], "invalid_value");
    let out = h.send(user_text("u"));
    let uid = out[0]["item"]["id"].as_str().expect("id").to_owned();
    let out = h.send(json!({"type": "conversation.item.truncate", "item_id": uid, "content_index": 0, "audio_end_ms": 0}));
    assert_eq!(error_of(&out)["code"], "invalid_value");
}

#[test]
fn truncate_after_a_cancel_uses_the_audio_actually_sent() {
    let mut h = Harness::new("{}");
    h.send_only(json!({"type": "response.create"}));
    let out = h.steps(5); // head + 4 ticks = 200 ms of audio
    let item_id = out[1]["item"]["id"].as_str().expect("id").to_owned();
    h.send_only(json!({"type": "response.cancel"}));
    let out = h.send(json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 250}));
    assert_eq!(error_of(&out)["code"], "invalid_value");
    let out = h.send(json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 200}));
    assert_eq!(types(&out), vec!["conversation.item.truncated"]);
}

#[test]
fn vad_turn_creates_a_response_and_barge_in_cancels() {
    let mut h = Harness::new("{}");
    let mut out = h.send_only(json!({"type": "input_audio_buffer.append", "audio": pcm(100, 0.0)}));
    out.extend(
        h.send_only(json!({"type": "input_audio_buffer.append", "audio": pcm(400, 8000.0)})),
    );
    assert_eq!(types(&out), vec!["input_audio_buffer.speech_started"]);
    assert_eq!(out[0]["audio_start_ms"], 100);
    let speech_item = out[0]["item_id"].as_str().expect("id").to_owned();
    // 200 ms of silence: the session's silence_duration_ms.
    let out = h.send_only(json!({"type": "input_audio_buffer.append", "audio": pcm(300, 0.0)}));
    assert_eq!(
        types(&out),
        vec![
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
    );
    assert_eq!(out[0]["audio_end_ms"], 700);
    assert_eq!(out[1]["item_id"], speech_item.as_str());
    assert_eq!(
        out[2]["item"]["content"],
        json!([{"type": "input_audio", "transcript": null}])
    );
    assert!(h.s.has_active_response(), "create_response starts a reply");
    let out = h.steps(4);
    assert_eq!(types(&out)[0], "response.created");
    // Barge in.
    let out = h.send_only(json!({"type": "input_audio_buffer.append", "audio": pcm(100, 8000.0)}));
    assert_eq!(
        types(&out),
        vec!["input_audio_buffer.speech_started", "response.done"]
    );
    assert_eq!(
        out[1]["response"]["status_details"]["reason"],
        "turn_detected"
    );
    assert_eq!(
        h.counters().audio_bytes_received.load(Ordering::Relaxed),
        900 * 48
    );
}

#[test]
fn vad_disabled_and_manual_commit() {
    let mut h = Harness::new("{}");
    h.send(
        json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": null, "transcription": {"model": "gpt-4o-transcribe"}}}}}),
    );
    let out = h.send(json!({"type": "input_audio_buffer.commit", "event_id": "e"}));
    let e = error_of(&out);
    assert_eq!(
        (e["code"].as_str(), e["event_id"].as_str()),
        (Some("input_audio_buffer_commit_empty"), Some("e"))
    );
    let out = h.send(json!({"type": "input_audio_buffer.append", "audio": pcm(500, 8000.0)}));
    assert!(out.is_empty(), "no VAD events with turn_detection null");
    let out = h.send(json!({"type": "input_audio_buffer.commit"}));
    let t = dedup(types(&out));
    assert_eq!(
        t,
        vec![
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.completed",
        ]
    );
    let done = out.last().expect("completed");
    assert_eq!(
        done["transcript"],
        crate::mock_server::config::DEFAULT_INPUT_TRANSCRIPT
    );
    assert_eq!(done["usage"]["seconds"], 0.5);
    assert!(
        !h.s.has_active_response(),
        "a manual commit does not answer"
    );
    h.send(json!({"type": "input_audio_buffer.append", "audio": pcm(200, 8000.0)}));
    let out = h.send(json!({"type": "input_audio_buffer.clear"}));
    assert_eq!(types(&out), vec!["input_audio_buffer.cleared"]);
    let out = h.send(json!({"type": "input_audio_buffer.commit"}));
    assert_eq!(error_of(&out)["code"], "input_audio_buffer_commit_empty");
}

#[test]
fn odd_byte_appends_are_reassembled() {
    let mut h = Harness::new("{}");
    let bytes = b64::decode(pcm(200, 8000.0).as_bytes()).expect("b64");
    let mut events = Vec::new();
    for chunk in bytes.chunks(777) {
        events.extend(
            h.send_only(json!({"type": "input_audio_buffer.append", "audio": b64::encode(chunk)})),
        );
    }
    assert_eq!(types(&events), vec!["input_audio_buffer.speech_started"]);
    assert_eq!(events[0]["audio_start_ms"], 0);
}

#[test]
fn g711_output_follows_the_session_format() {
    for (format, first) in [("audio/pcmu", 0xFFu8), ("audio/pcma", 0xD5u8)] {
        let mut h = Harness::new(r#"{"audio_ms": 100, "chunk_ms": 20}"#);
        h.send(json!({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"format": {"type": format}}}}}));
        let out = h.send(json!({"type": "response.create"}));
        let chunks: Vec<Vec<u8>> = out
            .iter()
            .filter(|e| e["type"] == "response.output_audio.delta")
            .map(|e| b64::decode(e["delta"].as_str().unwrap_or_default().as_bytes()).expect("b64"))
            .collect();
        assert_eq!(chunks.len(), 5);
        assert!(
            chunks.iter().all(|c| c.len() == 160),
            "20 ms of 8 kHz G.711"
        );
        assert_eq!(chunks[0][0], first, "the sine starts at 0");
        let done = out
            .iter()
            .find(|e| e["type"] == "response.done")
            .expect("done");
        assert_eq!(
            done["response"]["audio"]["output"]["format"]["type"],
            format
        );
    }
}

#[test]
fn realtime_pacing_spaces_the_deltas() {
    let mut h = Harness::new(r#"{"realtime": true, "audio_ms": 200, "chunk_ms": 50}"#);
    h.send_only(json!({"type": "response.create"}));
    let t0 = h.now;
    let mut audio_times = Vec::new();
    while let Some(due) = h.s.next_due() {
        let frames = h.s.step(due);
        let evs = h.take(frames);
        if evs
            .iter()
            .any(|e| e["type"] == "response.output_audio.delta")
        {
            audio_times.push(due.duration_since(t0).as_millis());
        }
    }
    assert_eq!(audio_times, vec![0, 50, 100, 150]);
}

#[test]
fn stream_mode_starts_after_session_update() {
    let mut h =
        Harness::new(r#"{"stream_audio_s": 1.0, "chunk_ms": 100, "text": "one two three"}"#);
    assert!(!h.s.has_active_response());
    h.send_only(json!({"type": "session.update", "session": {"type": "realtime"}}));
    assert!(h.s.has_active_response());
    let t0 = h.now;
    let out = h.drain();
    let deltas = out
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .count();
    assert_eq!(deltas, 10);
    let transcript = &out
        .iter()
        .find(|e| e["type"] == "response.output_audio_transcript.done")
        .expect("t")["transcript"];
    assert_eq!(transcript, "one two three one two three one two three one ");
    assert_eq!(
        h.now.duration_since(t0).as_millis(),
        1000,
        "paced in real time"
    );
    // Only once per connection.
    h.send_only(json!({"type": "session.update", "session": {"type": "realtime"}}));
    assert!(!h.s.has_active_response());
}

#[test]
fn custom_pcm_audio_is_played() {
    // 100 ms of PCM: 2400 samples.
    let samples: Vec<u8> = (0..2400i16).flat_map(|s| s.to_le_bytes()).collect();
    let opts = json!({"audio": b64::encode(&samples), "chunk_ms": 50}).to_string();
    let mut h = Harness::new(&opts);
    let out = h.send(json!({"type": "response.create"}));
    let audio: Vec<u8> = out
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .flat_map(|e| b64::decode(e["delta"].as_str().unwrap_or_default().as_bytes()).expect("b64"))
        .collect();
    assert_eq!(audio, samples);
}

#[test]
fn transcription_sessions_have_no_responses() {
    let mut h = Harness::with_target(
        "{}",
        Target {
            model: None,
            intent: Some("transcription".into()),
        },
    );
    let out = h.send(json!({"type": "response.create"}));
    assert_eq!(types(&out), vec!["error"]);
    let out = h.send(json!({"type": "session.update", "session": {"type": "transcription", "audio": {"output": {}}}}));
    assert_eq!(error_of(&out)["code"], "unknown_parameter");
    let out = h.send(json!({"type": "input_audio_buffer.append", "audio": pcm(300, 8000.0)}));
    assert_eq!(types(&out), vec!["input_audio_buffer.speech_started"]);
    let out = h.send(json!({"type": "input_audio_buffer.append", "audio": pcm(300, 0.0)}));
    assert!(types(&out).contains(&"conversation.item.input_audio_transcription.completed"));
    assert!(!h.s.has_active_response());
}

#[test]
fn response_create_checks_its_parameters() {
    let mut h = Harness::new("{}");
    for (response, code, param) in [
        (
            json!({"modalities": ["text"]}),
            "unknown_parameter",
            "response.modalities",
        ),
        (
            json!({"output_modalities": ["text", "audio"]}),
            "invalid_value",
            "response.output_modalities",
        ),
        (json!({"metadata": 3}), "invalid_type", "response.metadata"),
        (json!("x"), "invalid_type", "response"),
    ] {
        let out = h.send(json!({"type": "response.create", "response": response}));
        let e = error_of(&out);
        assert_eq!(
            (e["code"].as_str(), e["param"].as_str()),
            (Some(code), Some(param))
        );
    }
    assert!(!h.s.has_active_response());
}

#[test]
fn respond_false_makes_a_passive_peer() {
    let mut h = Harness::new(r#"{"respond": false}"#);
    let out = h.send(json!({"type": "response.create"}));
    assert!(out.is_empty());
    assert!(!h.s.has_active_response());
    let out = h.send(json!({"type": "response.cancel"}));
    assert!(out.is_empty());
    assert!(!h.s.last_rejected());
    h.send_only(json!({"type": "input_audio_buffer.append", "audio": pcm(300, 8000.0)}));
    let out = h.send_only(json!({"type": "input_audio_buffer.append", "audio": pcm(300, 0.0)}));
    assert!(types(&out).contains(&"input_audio_buffer.committed"));
    assert!(
        !h.s.has_active_response(),
        "VAD turns are not answered either"
    );
    // Still validated.
    let out = h.send(json!({"type": "response.create", "response": {"modalities": ["text"]}}));
    assert_eq!(error_of(&out)["code"], "unknown_parameter");
}
