//! The session's rules, tested without sockets. Each test names the rule of
//! the reference (SEED_BEHAVIOUR.md, with @openai/agents-realtime 0.20's
//! changes) or of this package that it pins down.

use super::*;
use crate::audio::convert::Encoding;
use crate::protocol::sequencer::EVENT_ID_PREFIX;
use proptest::prelude::*;
use serde_json::json;

fn text(v: Value) -> Text {
    Text::from(v.to_string())
}

fn feed(s: &mut Session, v: Value, now: f64) -> Output {
    let mut out = Output::default();
    s.on_server_text(text(v), now, &mut out);
    out
}

fn frames(out: &Output) -> Vec<Value> {
    out.frames
        .iter()
        .map(|f| serde_json::from_str(f).expect("frame is JSON"))
        .collect()
}

fn types(out: &Output) -> Vec<String> {
    frames(out)
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn b64_of(n: usize) -> String {
    b64::encode(&vec![0u8; n])
}

fn audio_delta(item: &str, content_index: i64, bytes: usize) -> Value {
    json!({"type": "response.output_audio.delta", "event_id": "e", "response_id": "r1",
           "item_id": item, "output_index": 0, "content_index": content_index,
           "delta": b64_of(bytes)})
}

fn response_created(id: &str) -> Value {
    json!({"type": "response.created", "event_id": "e", "response": {"id": id}})
}

fn response_done(id: &str) -> Value {
    json!({"type": "response.done", "event_id": "e", "response": {"id": id, "status": "completed"}})
}

fn speech_started() -> Value {
    json!({"type": "input_audio_buffer.speech_started", "event_id": "e", "item_id": "u1",
           "audio_start_ms": 0})
}

fn audio_done(item: &str) -> Value {
    json!({"type": "response.output_audio.done", "event_id": "e", "response_id": "r1",
           "item_id": item, "output_index": 0, "content_index": 0})
}

fn session_updated(session: Value) -> Value {
    json!({"type": "session.updated", "event_id": "e", "session": session})
}

fn interrupted(out: &Output) -> Option<&Interrupted> {
    out.events.iter().find_map(|e| match e {
        Event::Interrupted(i) => Some(i),
        _ => None,
    })
}

fn audio_chunks(out: &Output) -> Vec<&AudioChunk> {
    out.events
        .iter()
        .filter_map(|e| match e {
            Event::Audio(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn frame_errors(out: &Output) -> Vec<&str> {
    out.events
        .iter()
        .filter_map(|e| match e {
            Event::FrameError(m) => Some(m.as_str()),
            _ => None,
        })
        .collect()
}

// -- playback and interruption (5a, 5b) -----------------------------------------------------------

#[test]
fn audio_end_ms_cases_from_the_reference() {
    assert_eq!(audio_end_ms(100.0, 42.8), 42);
    assert_eq!(audio_end_ms(110.9, 100.0), 100);
    assert_eq!(audio_end_ms(123.7, 200.0), 123);
    assert_eq!(audio_end_ms(0.9, 100.0), 0);
    assert_eq!(audio_end_ms(42.6, 42.0), 42);
    assert_eq!(audio_end_ms(-5.0, 10.0), 0);
    assert_eq!(audio_end_ms(f64::NAN, 10.0), 10);
}

#[test]
fn first_delta_starts_the_clock_and_later_deltas_add_length() {
    let mut s = Session::default();
    feed(&mut s, audio_delta("a", 0, 4800), 1000.0);
    feed(&mut s, audio_delta("a", 0, 2400), 1040.0);
    let p = s.playback();
    assert_eq!(p.item_id.as_deref(), Some("a"));
    assert_eq!(p.first_audio_ms, Some(1000.0));
    assert_eq!(p.audio_length_ms, 150.0);
    assert_eq!(s.playback_elapsed(1100.0), Some(100.0));
}

#[test]
fn a_new_item_restarts_the_clock() {
    // 0.20 (issue 12 #3): 100 ms on A then 100 ms on B truncates B at most at 100 ms.
    let mut s = Session::default();
    feed(&mut s, audio_delta("A", 0, 4800), 0.0);
    feed(&mut s, audio_delta("B", 0, 4800), 100.0);
    assert_eq!(s.playback().first_audio_ms, Some(100.0));
    assert_eq!(s.playback().audio_length_ms, 100.0);
    let out = feed(&mut s, speech_started(), 500.0);
    let f = frames(&out);
    let t = f
        .iter()
        .find(|f| f["type"] == "conversation.item.truncate")
        .expect("truncate");
    assert_eq!(t["item_id"], "B");
    assert_eq!(t["audio_end_ms"], 100);
}

#[test]
fn a_new_content_index_restarts_the_clock() {
    let mut s = Session::default();
    feed(&mut s, audio_delta("A", 0, 4800), 0.0);
    feed(&mut s, audio_delta("A", 1, 480), 50.0);
    assert_eq!(s.playback().content_index, Some(1));
    assert_eq!(s.playback().audio_length_ms, 10.0);
    assert_eq!(s.playback().first_audio_ms, Some(50.0));
}

#[test]
fn interrupt_without_audio_is_a_no_op() {
    let mut s = Session::default();
    let mut out = Output::default();
    assert!(s.interrupt(true, 10.0, &mut out).is_none());
    assert!(out.is_empty());
}

#[test]
fn speech_started_cancels_and_truncates_while_a_response_runs() {
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    feed(&mut s, audio_delta("item_1", 0, 4800), 1000.0);
    let out = feed(&mut s, speech_started(), 1050.0);
    assert_eq!(
        types(&out),
        ["response.cancel", "conversation.item.truncate"]
    );
    assert_eq!(frames(&out)[1]["audio_end_ms"], 50);
    let i = interrupted(&out).expect("audio_interrupted");
    assert_eq!((i.audio_end_ms, i.cancelled, i.truncated), (50, true, true));
    // The server event is delivered before audio_interrupted.
    assert!(matches!(out.events[0], Event::Server(_)));
    assert!(matches!(out.events[1], Event::Interrupted(_)));
    assert!(s.playback().item_id.is_none(), "reset after the interrupt");
}

#[test]
fn interrupt_response_true_only_truncates() {
    let mut s = Session::default();
    feed(
        &mut s,
        session_updated(json!({"type": "realtime", "audio": {
            "input": {"turn_detection": {"type": "server_vad", "interrupt_response": true}}}})),
        0.0,
    );
    assert_eq!(s.interrupt_response(), Some(true));
    feed(&mut s, response_created("r1"), 0.0);
    feed(&mut s, audio_delta("it", 0, 4800), 0.0);
    let out = feed(&mut s, speech_started(), 30.0);
    assert_eq!(types(&out), ["conversation.item.truncate"]);
    assert!(!interrupted(&out).expect("event").cancelled);
}

#[test]
fn interruption_after_audio_done_still_truncates_unheard_audio() {
    // 0.20 (issue 12 #2): audio.done only marks generation done.
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    feed(&mut s, audio_delta("it", 0, 48000), 0.0); // 1000 ms
    feed(&mut s, audio_done("it"), 10.0);
    assert!(s.playback().generation_done);
    let out = feed(&mut s, speech_started(), 400.0);
    assert_eq!(
        types(&out),
        ["response.cancel", "conversation.item.truncate"]
    );
    assert_eq!(frames(&out)[1]["audio_end_ms"], 400);
}

#[test]
fn interruption_long_after_audio_done_keeps_the_transcript() {
    let mut s = Session::default();
    feed(&mut s, audio_delta("it", 0, 4800), 0.0); // 100 ms
    feed(&mut s, audio_done("it"), 10.0);
    let out = feed(&mut s, speech_started(), 5000.0);
    assert!(
        out.frames.is_empty(),
        "no cancel (no response), no truncate"
    );
    let i = interrupted(&out).expect("the player is still told to stop");
    assert!(!i.truncated);
    assert_eq!(i.audio_end_ms, 100);
}

#[test]
fn without_audio_done_a_late_interrupt_truncates_at_the_length() {
    let mut s = Session::default();
    feed(&mut s, audio_delta("it", 0, 4800), 0.0);
    let out = feed(&mut s, speech_started(), 5000.0);
    assert_eq!(frames(&out)[0]["audio_end_ms"], 100);
}

#[test]
fn a_second_interrupt_after_a_full_flow_sends_nothing() {
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    feed(&mut s, audio_delta("it", 0, 4800), 0.0);
    assert!(!feed(&mut s, speech_started(), 20.0).frames.is_empty());
    let again = feed(&mut s, speech_started(), 40.0);
    assert!(again.frames.is_empty());
    assert!(interrupted(&again).is_none());
}

#[test]
fn interrupt_then_send_message_orders_cancel_truncate_create_and_waits_for_done() {
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    feed(&mut s, audio_delta("it", 0, 4800), 0.0);
    let mut out = Output::default();
    s.interrupt(true, 20.0, &mut out).expect("interrupted");
    s.send_event(
        "conversation.item.create",
        r#"{"type":"conversation.item.create","item":{}}"#.into(),
        None,
        0.0,
        &mut out,
    )
    .expect("sent");
    s.request_response(None, 0.0, &mut out);
    assert_eq!(
        types(&out),
        [
            "response.cancel",
            "conversation.item.truncate",
            "conversation.item.create"
        ]
    );
    let done = feed(&mut s, response_done("r1"), 30.0);
    assert_eq!(types(&done), ["response.create"]);
}

#[test]
fn interrupt_at_a_negative_elapsed_time_does_nothing() {
    let mut s = Session::default();
    feed(&mut s, audio_delta("it", 0, 4800), 0.0);
    let mut out = Output::default();
    assert!(s.interrupt_at(-1.0, true, &mut out).is_none());
    assert!(out.is_empty());
}

#[test]
fn hooks_turn_the_core_defaults_off() {
    let mut s = Session::default();
    s.set_hooks(Hooks {
        core_interrupts: false,
        core_marks_audio_done: false,
        auto_retrieve: false,
    });
    feed(&mut s, audio_delta("it", 0, 4800), 0.0);
    assert!(feed(&mut s, speech_started(), 20.0).frames.is_empty());
    feed(&mut s, audio_done("it"), 30.0);
    assert!(!s.playback().generation_done);
    s.mark_audio_done();
    assert!(s.playback().generation_done);
    let t = json!({"type": "conversation.item.truncated", "event_id": "e", "item_id": "x",
                   "content_index": 0, "audio_end_ms": 1});
    assert!(feed(&mut s, t, 0.0).frames.is_empty());
}

// -- audio formats (5a) ----------------------------------------------------------------------------

#[test]
fn the_servers_format_sets_the_arithmetic() {
    let mut s = Session::default();
    feed(
        &mut s,
        session_updated(
            json!({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}),
        ),
        0.0,
    );
    feed(&mut s, audio_delta("it", 0, 800), 0.0);
    assert_eq!(s.playback().audio_length_ms, 100.0);
    feed(
        &mut s,
        session_updated(
            json!({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}),
        ),
        0.0,
    );
    feed(&mut s, audio_delta("it2", 0, 3200), 0.0);
    assert_eq!(s.playback().audio_length_ms, 100.0);
}

#[test]
fn a_responses_own_format_wins_until_it_is_done() {
    let mut s = Session::default();
    feed(
        &mut s,
        json!({"type": "response.created", "event_id": "e",
               "response": {"id": "r1", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}}),
        0.0,
    );
    feed(&mut s, audio_delta("it", 0, 800), 0.0);
    assert_eq!(s.playback().audio_length_ms, 100.0, "pcmu for r1");
    feed(&mut s, response_done("r1"), 0.0);
    feed(&mut s, audio_delta("it2", 0, 800), 0.0);
    assert!(
        (s.playback().audio_length_ms - 800.0 / 48.0).abs() < 1e-9,
        "back to the session's"
    );
}

#[test]
fn the_clients_session_update_sets_the_input_format() {
    let mut s = Session::default();
    let mut out = Output::default();
    assert!(s.send_audio(&[0u8; 4], Elem::I16, false, &mut out).is_ok());
    s.send_event(
        "session.update",
        json!({"type": "session.update", "session": {"type": "realtime",
               "audio": {"input": {"format": {"type": "audio/pcmu"}}}}})
        .to_string(),
        None,
        0.0,
        &mut out,
    )
    .expect("sent");
    assert_eq!(s.wire_formats().0, WireFormat::Pcmu);
    let e = s
        .send_audio(&[0u8; 4], Elem::I16, false, &mut out)
        .expect_err("int16 into a µ-law session");
    assert_eq!(e.kind, ErrorKind::InvalidAudio);
    assert!(s
        .send_audio(&[1, 2, 3], Elem::U8, false, &mut Output::default())
        .is_ok());
    let bad = s.send_event("session.update", "{not json".into(), None, 0.0, &mut out);
    assert_eq!(bad.map_err(|e| e.kind), Err(ErrorKind::Value));
}

#[test]
fn user_formats_are_converted_both_ways() {
    let mut s = Session::default();
    s.set_user_formats(
        Some(Spec {
            rate: 16000,
            encoding: Encoding::Pcm16,
        }),
        Some(Spec {
            rate: 48000,
            encoding: Encoding::Pcm16,
        }),
        Quality::High,
    )
    .expect("formats");
    let mut out = Output::default();
    let mut wire = 0usize;
    for i in 0..50 {
        out.frames.clear();
        s.send_audio(&[0u8; 640], Elem::U8, i == 49, &mut out)
            .expect("ok");
        for f in frames(&out) {
            if f["type"] == "input_audio_buffer.append" {
                wire += b64::decode(f["audio"].as_str().unwrap_or("").as_bytes())
                    .map_or(0, |v| v.len());
            }
        }
    }
    // One second of 16 kHz in, one second of 24 kHz out (the tail flushed on commit).
    assert_eq!(wire, 48000);
    let out = feed(&mut s, audio_delta("it", 0, 4800), 0.0);
    let got = audio_chunks(&out)[0].data.len();
    assert!(got > 0 && got <= 9600, "{got}");
    let rest = feed(&mut s, audio_done("it"), 0.0);
    let total = got
        + audio_chunks(&rest)
            .iter()
            .map(|a| a.data.len())
            .sum::<usize>();
    assert_eq!(total, 9600, "100 ms at 48 kHz, tail included");
    assert!(s
        .set_user_formats(
            Some(Spec {
                rate: 10,
                encoding: Encoding::Pcm16
            }),
            None,
            Quality::High
        )
        .is_err());
}

#[test]
fn float32_without_an_f32_spec_is_refused_clearly() {
    let s = Session::default();
    let e = s.check_audio(&[0u8; 8], Elem::F32).expect_err("refused");
    assert!(
        e.message.contains("float32") && e.message.contains("f32"),
        "{}",
        e.message
    );
}

// -- partial samples ----------------------------------------------------------------------------------

#[test]
fn an_odd_byte_is_carried_to_the_next_send() {
    // Issue 12 #14: PCM16 stays aligned and nothing is lost.
    let mut s = Session::default();
    let mut out = Output::default();
    s.send_audio(&[1, 2, 3], Elem::U8, false, &mut out)
        .expect("ok");
    assert_eq!(s.pending_input_bytes(), 1);
    s.send_audio(&[4], Elem::U8, false, &mut out).expect("ok");
    assert_eq!(s.pending_input_bytes(), 0);
    let sent: Vec<u8> = frames(&out)
        .iter()
        .flat_map(|f| b64::decode(f["audio"].as_str().unwrap_or("").as_bytes()).unwrap_or_default())
        .collect();
    assert_eq!(sent, [1, 2, 3, 4]);
}

#[test]
fn a_dangling_byte_at_commit_is_reported_and_the_commit_still_goes() {
    let mut s = Session::default();
    let mut out = Output::default();
    s.send_audio(&[1, 2, 3], Elem::U8, true, &mut out)
        .expect("ok");
    assert_eq!(
        types(&out),
        ["input_audio_buffer.append", "input_audio_buffer.commit"]
    );
    assert!(
        matches!(out.events.as_slice(), [Event::AudioDropped(m)] if m.contains("1 trailing byte"))
    );
    assert_eq!(s.pending_input_bytes(), 0);
    s.send_audio(&[9], Elem::U8, false, &mut Output::default())
        .expect("ok");
    assert!(s
        .on_disconnect()
        .is_some_and(|m| m.contains("dropped at close")));
}

#[test]
fn an_odd_server_delta_is_carried_within_its_item_and_reported_otherwise() {
    // Issue 13 #7: never a 3-byte PCM16 audio event.
    let mut s = Session::default();
    let out = feed(&mut s, audio_delta("it", 0, 3), 0.0);
    assert_eq!(audio_chunks(&out)[0].data.len(), 2);
    let out = feed(&mut s, audio_delta("it", 0, 3), 0.0);
    assert_eq!(audio_chunks(&out)[0].data.len(), 4);
    let out = feed(&mut s, audio_delta("it", 0, 1), 0.0);
    assert_eq!(audio_chunks(&out)[0].data.len(), 0);
    let out = feed(&mut s, audio_done("it"), 0.0);
    assert_eq!(frame_errors(&out).len(), 1, "the dangling byte is reported");
    // The arithmetic counts what the server sent.
    assert!((s.playback().audio_length_ms - 7.0 / 48.0).abs() < 1e-9);
}

// -- the sequencer (5c) ---------------------------------------------------------------------------------

#[test]
fn requests_go_out_at_once_and_coalesce_while_one_is_active() {
    let mut s = Session::default();
    let mut out = Output::default();
    s.request_response(None, 0.0, &mut out);
    s.request_response(None, 0.0, &mut out);
    s.request_response(None, 0.0, &mut out);
    assert_eq!(types(&out), ["response.create"]);
    assert!(frames(&out)[0]["event_id"]
        .as_str()
        .is_some_and(|i| i.starts_with(EVENT_ID_PREFIX)));
    feed(&mut s, response_created("r1"), 0.0);
    let done = feed(&mut s, response_done("r1"), 0.0);
    assert_eq!(
        types(&done),
        ["response.create"],
        "the two later ones as one"
    );
    feed(&mut s, response_created("r2"), 0.0);
    assert!(feed(&mut s, response_done("r2"), 0.0).frames.is_empty());
}

#[test]
fn an_override_stays_separate_and_keeps_its_payload() {
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    let mut out = Output::default();
    s.request_response(None, 0.0, &mut out);
    s.request_response(Some(r#"{"instructions":"x"}"#), 0.0, &mut out);
    assert!(out.frames.is_empty());
    let first = feed(&mut s, response_done("r1"), 0.0);
    assert!(frames(&first)[0].get("response").is_none());
    feed(&mut s, response_created("r2"), 0.0);
    let second = feed(&mut s, response_done("r2"), 0.0);
    assert_eq!(frames(&second)[0]["response"]["instructions"], "x");
}

#[test]
fn a_manual_create_keeps_the_callers_event_id() {
    let mut s = Session::default();
    let mut out = Output::default();
    s.send_event(
        "response.create",
        r#"{"type":"response.create","event_id":"mine"}"#.into(),
        Some("mine".into()),
        0.0,
        &mut out,
    )
    .expect("ok");
    assert_eq!(frames(&out)[0]["event_id"], "mine");
    assert_eq!(s.sequencer().in_flight_event_id(), Some("mine"));
}

#[test]
fn a_rejected_create_is_not_retried() {
    // Issue 12 #1: a server that rejects every create gets exactly one.
    let mut s = Session::default();
    let mut out = Output::default();
    s.request_response(None, 0.0, &mut out);
    let id = frames(&out)[0]["event_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    for _ in 0..5 {
        let err = json!({"type": "error", "event_id": "e", "error": {
            "type": "invalid_request_error", "code": "conversation_already_has_active_response",
            "message": "no", "event_id": id}});
        assert!(feed(&mut s, err, 0.0).frames.is_empty());
    }
    let mut out = Output::default();
    s.request_response(None, 0.0, &mut out);
    assert_eq!(types(&out), ["response.create"], "the slot was released");
}

#[test]
fn an_error_without_event_id_releases_a_create_by_its_code() {
    let mut s = Session::default();
    s.request_response(None, 0.0, &mut Output::default());
    let err =
        json!({"type": "error", "error": {"code": "invalid_response_create", "message": "x"}});
    let out = feed(&mut s, err, 0.0);
    assert!(out.frames.is_empty());
    let mut out = Output::default();
    s.request_response(None, 0.0, &mut out);
    assert_eq!(types(&out), ["response.create"]);
}

#[test]
fn a_cancel_holds_new_creates_until_done() {
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    let mut out = Output::default();
    s.send_event(
        "response.cancel",
        r#"{"type":"response.cancel"}"#.into(),
        None,
        0.0,
        &mut out,
    )
    .expect("ok");
    assert!(
        !s.cancel_response(&mut out),
        "no second cancel while one is pending"
    );
    s.request_response(None, 0.0, &mut out);
    assert_eq!(types(&out), ["response.cancel"]);
    assert_eq!(
        types(&feed(&mut s, response_done("r1"), 0.0)),
        ["response.create"]
    );
}

#[test]
fn disconnect_releases_the_sequencer_and_resets_playback() {
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    feed(&mut s, audio_delta("it", 0, 480), 0.0);
    s.request_response(None, 0.0, &mut Output::default());
    assert_eq!(s.sequencer().queued(), 1);
    assert!(s.on_disconnect().is_none());
    assert_eq!(s.sequencer().queued(), 0);
    assert!(!s.sequencer().ongoing());
    assert!(s.playback().item_id.is_none());
    let mut out = Output::default();
    s.request_response(None, 0.0, &mut out);
    assert_eq!(types(&out), ["response.create"]);
}

// -- automatic retrieves ------------------------------------------------------------------------------

#[test]
fn retrieves_follow_transcription_truncation_and_mcp_progress() {
    let mut s = Session::default();
    let cases = [
        json!({"type": "conversation.item.input_audio_transcription.completed", "event_id": "e",
               "item_id": "a", "content_index": 0, "transcript": "hi",
               "usage": {"type": "duration", "seconds": 1}}),
        json!({"type": "conversation.item.truncated", "event_id": "e", "item_id": "b",
               "content_index": 0, "audio_end_ms": 5}),
        json!({"type": "response.mcp_call.in_progress", "event_id": "e", "item_id": "c",
               "output_index": 0}),
        json!({"type": "mcp_list_tools.in_progress", "event_id": "e", "item_id": "d"}),
    ];
    for (case, id) in cases.into_iter().zip(["a", "b", "c", "d"]) {
        let out = feed(&mut s, case, 0.0);
        assert_eq!(
            frames(&out),
            [json!({"type": "conversation.item.retrieve", "item_id": id})]
        );
    }
}

// -- classification and delivery ------------------------------------------------------------------------

#[test]
fn known_events_carry_their_name_and_generic_ones_do_not() {
    let mut s = Session::default();
    let out = feed(&mut s, response_created("r1"), 0.0);
    match &out.events[0] {
        Event::Server(e) => {
            assert_eq!(e.name, Some("response.created"));
            assert!(e.value.is_some());
        }
        other => panic!("{other:?}"),
    }
    // A known type that fails validation is generic and changes no state.
    let out = feed(
        &mut s,
        json!({"type": "response.done", "response": {}}),
        0.0,
    );
    match &out.events[0] {
        Event::Server(e) => {
            assert_eq!(e.name, None);
            assert_eq!(e.type_name.as_deref(), Some("response.done"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        s.sequencer().ongoing(),
        "the invalid response.done was ignored"
    );
    let out = feed(&mut s, json!({"type": "brand.new", "x": 1}), 0.0);
    assert!(matches!(&out.events[0], Event::Server(e) if e.name.is_none()));
}

#[test]
fn malformed_and_binary_frames_are_reported_not_dropped() {
    let mut s = Session::default();
    let mut out = Output::default();
    s.on_server_text(Text::from("{nope"), 0.0, &mut out);
    assert!(frame_errors(&out)[0].contains("malformed server frame"));
    let mut out = Output::default();
    s.on_server_binary(Bytes::from_static(&[0xff, 0x00]), 0.0, &mut out);
    assert!(frame_errors(&out)[0].contains("binary frame"));
    let mut out = Output::default();
    s.on_server_binary(
        Bytes::from(response_created("r").to_string().into_bytes()),
        0.0,
        &mut out,
    );
    assert!(matches!(&out.events[0], Event::Server(e) if e.name == Some("response.created")));
}

#[test]
fn bad_base64_audio_is_reported_and_dropped() {
    let mut s = Session::default();
    let mut bad = audio_delta("it", 0, 3);
    bad["delta"] = json!("!!!not base64");
    let out = feed(&mut s, bad, 0.0);
    assert!(audio_chunks(&out).is_empty());
    assert!(frame_errors(&out)[0].contains("item \"it\""));
    assert!(s.playback().item_id.is_none());
}

#[test]
fn deltas_nobody_wants_are_not_built() {
    let mut s = Session::default();
    let delta = json!({"type": "response.output_audio_transcript.delta", "event_id": "e",
                       "response_id": "r", "item_id": "i", "output_index": 0,
                       "content_index": 0, "delta": "hel"});
    let out = feed(&mut s, delta.clone(), 0.0);
    match &out.events[0] {
        Event::Server(e) => assert_eq!(e.delta.as_ref().map(|d| d.delta.as_str()), Some("hel")),
        other => panic!("{other:?}"),
    }
    s.set_wants(Wants {
        raw_audio: false,
        transcript_deltas: false,
        text_deltas: true,
    });
    assert!(feed(&mut s, delta, 0.0).events.is_empty());
    // Raw audio frames only when wanted.
    assert!(audio_chunks(&feed(&mut s, audio_delta("a", 0, 2), 0.0))[0]
        .raw
        .is_none());
    s.set_wants(Wants {
        raw_audio: true,
        ..Wants::default()
    });
    let out = feed(&mut s, audio_delta("a", 0, 2), 0.0);
    assert!(audio_chunks(&out)[0].raw.is_some());
}

#[test]
fn secrets_are_redacted_from_server_text() {
    // Issue 13 #5: a key reflected by a server never reaches the user.
    let mut s = Session::default();
    s.set_redactor(Redactor::new(["sk-live-123456789".to_owned()]));
    let err = json!({"type": "error", "event_id": "e", "error": {
        "type": "invalid_request_error", "message": "bad key sk-live-123456789"}});
    let out = feed(&mut s, err, 0.0);
    match &out.events[0] {
        Event::Server(e) => {
            assert!(!e.text.as_str().contains("sk-live"));
            assert!(!e
                .value
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default()
                .contains("sk-live"));
        }
        other => panic!("{other:?}"),
    }
    let mut out = Output::default();
    s.on_server_text(Text::from("not json sk-live-123456789"), 0.0, &mut out);
    assert!(!frame_errors(&out)[0].contains("sk-live"));
}

#[test]
fn beta_names_map_to_the_ga_events() {
    let mut s = Session::new(Dialect::Beta);
    let d = json!({"type": "response.audio.delta", "event_id": "e", "response_id": "r",
                   "item_id": "i", "output_index": 0, "content_index": 0, "delta": b64_of(48)});
    let out = feed(&mut s, d, 0.0);
    assert_eq!(audio_chunks(&out).len(), 1);
    assert_eq!(s.playback().audio_length_ms, 1.0);
    let t = json!({"type": "response.text.delta", "event_id": "e", "response_id": "r",
                   "item_id": "i", "output_index": 0, "content_index": 0, "delta": "x"});
    let out = feed(&mut s, t, 0.0);
    assert!(
        matches!(&out.events[0], Event::Server(e) if e.name == Some("response.output_text.delta"))
    );
    feed(
        &mut s,
        session_updated(json!({"output_audio_format": "g711_alaw",
                               "turn_detection": {"type": "server_vad", "interrupt_response": true}})),
        0.0,
    );
    assert_eq!(s.wire_formats().1, WireFormat::Pcma);
    assert_eq!(s.interrupt_response(), Some(true));
    // A GA delta means nothing to a beta session.
    let out = feed(&mut s, audio_delta("i", 0, 2), 0.0);
    assert!(audio_chunks(&out).is_empty());
}

#[test]
fn the_raw_session_is_kept_as_text() {
    let mut s = Session::default();
    assert!(s.raw_session().is_none());
    feed(
        &mut s,
        session_updated(json!({"type": "realtime", "instructions": "hi"})),
        0.0,
    );
    let v: Value = serde_json::from_str(s.raw_session().unwrap_or("")).expect("json");
    assert_eq!(v["instructions"], "hi");
}

// -- properties ------------------------------------------------------------------------------------------

fn arb_event() -> impl Strategy<Value = Value> {
    let item = prop_oneof![Just("a"), Just("b")];
    prop_oneof![
        (item.clone(), 0i64..2, 0usize..200).prop_map(|(i, c, n)| audio_delta(i, c, n)),
        item.clone().prop_map(audio_done),
        Just(speech_started()),
        Just(response_created("r1")),
        Just(response_done("r1")),
        Just(json!({"type": "error", "error": {"code": "x_response_create"}})),
        any::<bool>().prop_map(|b| session_updated(json!({"type": "realtime", "audio": {
            "input": {"turn_detection": {"interrupt_response": b}},
            "output": {"format": {"type": if b { "audio/pcmu" } else { "audio/pcm" }}}}}))),
        "[ -~]{0,40}".prop_map(Value::String),
    ]
}

#[derive(Debug, Clone)]
enum UserCall {
    Audio(usize, bool),
    Request(bool),
    Interrupt(bool),
    Cancel,
}

fn arb_user() -> impl Strategy<Value = UserCall> {
    prop_oneof![
        (0usize..50, any::<bool>()).prop_map(|(n, c)| UserCall::Audio(n, c)),
        any::<bool>().prop_map(UserCall::Request),
        any::<bool>().prop_map(UserCall::Interrupt),
        Just(UserCall::Cancel),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::test_support::proptest_cases(256),
        ..ProptestConfig::default()
    })]

    /// Any interleaving of server events and user calls: no panic, every frame
    /// is JSON, at most one create is in flight, and the clock never runs backwards.
    #[test]
    fn any_interleaving_keeps_the_invariants(
        steps in prop::collection::vec(prop_oneof![
            arb_event().prop_map(Ok),
            arb_user().prop_map(Err),
        ], 0..60)
    ) {
        let mut s = Session::default();
        let mut now = 0.0;
        for step in steps {
            now += 7.0;
            let mut out = Output::default();
            match step {
                Ok(Value::String(junk)) => s.on_server_text(Text::from(junk), now, &mut out),
                Ok(ev) => s.on_server_text(text(ev), now, &mut out),
                Err(UserCall::Audio(n, c)) => {
                    let _ = s.send_audio(&vec![0u8; n], Elem::U8, c, &mut out);
                }
                Err(UserCall::Request(manual)) => {
                    s.request_response(manual.then_some("{}"), 0.0, &mut out)
                }
                Err(UserCall::Interrupt(c)) => {
                    let _ = s.interrupt(c, now, &mut out);
                }
                Err(UserCall::Cancel) => {
                    s.cancel_response(&mut out);
                }
            }
            let creates = out.frames.iter().filter(|f| f.contains("\"response.create\"")).count();
            prop_assert!(creates <= 1);
            for f in &out.frames {
                prop_assert!(serde_json::from_str::<Value>(f).is_ok(), "{}", f);
            }
            if let Some(e) = s.playback_elapsed(now) {
                prop_assert!(e >= 0.0);
            }
            for e in &out.events {
                if let Event::Interrupted(i) = e {
                    prop_assert!(i.audio_end_ms >= 0);
                    prop_assert!(i.audio_end_ms as f64 <= i.elapsed_ms.max(0.0) + 1e-9);
                }
            }
        }
    }

    /// Any chunking of user audio: the bytes on the wire are the bytes sent
    /// (whole samples), and the remainder is what is pending.
    #[test]
    fn user_audio_bytes_in_equal_bytes_out(chunks in prop::collection::vec(0usize..40, 0..30)) {
        let mut s = Session::default();
        let mut sent = Vec::new();
        let mut wire = Vec::new();
        let mut counter = 0u8;
        for n in chunks {
            let buf: Vec<u8> = (0..n).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
            sent.extend_from_slice(&buf);
            let mut out = Output::default();
            s.send_audio(&buf, Elem::U8, false, &mut out).expect("bytes are accepted");
            for f in frames(&out) {
                wire.extend(b64::decode(f["audio"].as_str().unwrap_or("").as_bytes()).expect("b64"));
            }
        }
        prop_assert_eq!(wire.len() % 2, 0);
        prop_assert_eq!(wire.len() + s.pending_input_bytes(), sent.len());
        prop_assert_eq!(&wire[..], &sent[..wire.len()]);
    }

    /// Any chunking of server audio within one item: the bytes delivered are
    /// the bytes received, whole samples only, less at most one dangling byte.
    #[test]
    fn server_audio_bytes_in_equal_bytes_out(sizes in prop::collection::vec(0usize..30, 1..30)) {
        let mut s = Session::default();
        let mut total_in = 0;
        let mut total_out = 0;
        for n in sizes {
            total_in += n;
            let out = feed(&mut s, audio_delta("it", 0, n), 0.0);
            for a in audio_chunks(&out) {
                prop_assert_eq!(a.data.len() % 2, 0);
                total_out += a.data.len();
            }
        }
        let end = feed(&mut s, audio_done("it"), 0.0);
        prop_assert_eq!(frame_errors(&end).len(), total_in % 2);
        prop_assert_eq!(total_out, total_in - total_in % 2);
    }

    /// Arbitrary text never panics the session.
    #[test]
    fn arbitrary_frames_never_panic(t in ".{0,200}") {
        let mut s = Session::default();
        s.on_server_text(Text::from(t.as_str()), 0.0, &mut Output::default());
    }
}

/// What every idle session holds inline: a regression here is paid K times.
#[test]
fn idle_state_stays_small() {
    use std::mem::size_of;
    assert!(
        size_of::<Session>() <= 400,
        "Session is {} bytes",
        size_of::<Session>()
    );
    assert!(size_of::<audio_path::AudioPath>() <= 128);
    assert!(size_of::<crate::connection::Socket>() <= 192);
    assert!(size_of::<crate::connection::codec::Decoder>() <= 96);
}

#[test]
fn responses_are_timed_from_the_create_that_left_to_first_audio_text_and_done() {
    let mut s = Session::default();
    s.request_response(None, 1_000.0, &mut Output::default());
    feed(&mut s, response_created("r1"), 1_030.0);
    feed(&mut s, audio_delta("a1", 0, 480), 1_100.0);
    feed(
        &mut s,
        json!({"type": "response.output_audio_transcript.delta", "event_id": "e",
               "response_id": "r1", "item_id": "a1", "output_index": 0, "content_index": 0,
               "delta": "hi"}),
        1_120.0,
    );
    feed(&mut s, audio_delta("a1", 0, 480), 1_200.0);
    feed(&mut s, response_done("r1"), 1_500.0);
    let t = s.response_timing("r1").cloned().expect("timed");
    assert_eq!(t.trigger, Trigger::Request);
    assert_eq!(t.created_ms, 30.0);
    assert_eq!(t.first_audio_ms, Some(100.0));
    assert_eq!(t.first_text_ms, Some(120.0));
    assert_eq!(t.duration_ms, 500.0);
    // Under server VAD the end of speech starts the next one.
    feed(
        &mut s,
        json!({"type": "input_audio_buffer.speech_stopped", "event_id": "e",
               "audio_end_ms": 900, "item_id": "u1"}),
        2_000.0,
    );
    feed(&mut s, response_created("r2"), 2_250.0);
    feed(&mut s, response_done("r2"), 2_300.0);
    let (last, completed) = s.timing_summary();
    assert_eq!(
        last.map(|t| (t.trigger, t.duration_ms)),
        Some((Trigger::SpeechEnd, 300.0))
    );
    assert_eq!(completed, 2);
}

#[test]
fn an_idle_session_allocates_no_timing() {
    let mut s = Session::default();
    feed(&mut s, audio_delta("a1", 0, 480), 1.0);
    feed(&mut s, response_done("r1"), 2.0);
    assert!(s.timing.is_none());
}

#[test]
fn a_reported_playback_position_replaces_the_clock_for_the_current_item_only() {
    let mut s = Session::default();
    feed(&mut s, response_created("r1"), 0.0);
    feed(&mut s, audio_delta("a1", 0, 48_000), 1_000.0); // 1 s of audio at t=1 s
    assert!(!s.report_playback("other", 0, 10.0));
    assert!(!s.report_playback("a1", 1, 10.0));
    assert!(!s.report_playback("a1", 0, f64::NAN));
    assert_eq!(s.playback_elapsed(1_500.0), Some(500.0)); // the clock, still
    assert!(s.report_playback("a1", 0, 120.0)); // the player is behind the clock
    let mut out = Output::default();
    let i = s.interrupt(true, 1_500.0, &mut out).expect("interrupted");
    assert_eq!(i.audio_end_ms, 120);
    assert_eq!(
        frames(&out).last().map(|f| f["audio_end_ms"].clone()),
        Some(json!(120))
    );
    // A new item starts from the clock again.
    feed(&mut s, audio_delta("a2", 0, 4_800), 2_000.0);
    assert_eq!(s.playback_elapsed(2_050.0), Some(50.0));
}
