//! The per-frame work of the floor, both directions: what every client of the benchmark
//! must do at the least. Receiving: parse the frame's JSON (serde_json, every field
//! scanned), and for an audio delta base64-decode the audio and read the server's send
//! time from its `event_id`. Sending: base64-encode 20 ms of PCM into an
//! `input_audio_buffer.append` frame.

use std::borrow::Cow;
use std::sync::LazyLock;

use base64::engine::general_purpose::PAD;
use base64::engine::Simd;
use base64::Engine as _;
use serde::Deserialize;

/// AVX2/NEON when the CPU has it, else scalar: the engine the package decodes with.
static ENGINE: LazyLock<Simd> = LazyLock::new(|| Simd::standard(PAD));

pub const AUDIO_DELTA: &str = "response.output_audio.delta";
pub const RESPONSE_DONE: &str = "response.done";

/// The fields the floor reads; serde_json still parses (and validates) the whole frame.
/// `Cow`: borrowed from the frame unless a string has escapes.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    delta: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An audio delta: its decoded PCM is in the caller's buffer; `sent_ns` is the server's
    /// send time (unix ns) from the `event_id` (`evt_<seq>_<unix_ns>`).
    Audio {
        sent_ns: i64,
    },
    ResponseDone,
    /// A server `error` event (the Python clients ignore them; the floor counts them).
    Error,
    Other,
}

/// Parses one text frame. An audio delta is decoded into `pcm` (cleared first). A frame
/// that is not JSON, has no string `type`, or is an audio delta without valid base64 or
/// a timestamped `event_id`, is an error (never a panic).
pub fn parse(text: &str, pcm: &mut Vec<u8>) -> Result<Event, String> {
    let f: Frame<'_> = serde_json::from_str(text).map_err(|e| format!("bad frame: {e}"))?;
    match f.kind.as_ref() {
        AUDIO_DELTA => {
            let delta = f.delta.ok_or("audio delta without `delta`")?;
            pcm.clear();
            ENGINE
                .decode_vec(delta.as_bytes(), pcm)
                .map_err(|e| format!("audio delta: bad base64: {e}"))?;
            let id = f.event_id.ok_or("audio delta without `event_id`")?;
            let sent_ns = sent_ns(&id).ok_or_else(|| format!("event_id {id:?} has no time"))?;
            Ok(Event::Audio { sent_ns })
        }
        RESPONSE_DONE => Ok(Event::ResponseDone),
        "error" => Ok(Event::Error),
        _ => Ok(Event::Other),
    }
}

/// The unix-ns time after the last `_` of an `event_id`.
pub fn sent_ns(event_id: &str) -> Option<i64> {
    let (_, t) = event_id.rsplit_once('_')?;
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

const APPEND_HEAD: &str = r#"{"type":"input_audio_buffer.append","audio":""#;

/// The `input_audio_buffer.append` frame of `pcm`, built per send as a client with live
/// microphone audio must.
pub fn append_frame(pcm: &[u8]) -> String {
    let mut s = String::with_capacity(APPEND_HEAD.len() + pcm.len().div_ceil(3) * 4 + 2);
    s.push_str(APPEND_HEAD);
    ENGINE.encode_string(pcm, &mut s);
    s.push_str("\"}");
    s
}

/// 20 ms of low-level noise at 24 kHz PCM16: `harness.quiet_pcm()`, sample for sample
/// (far under the mock's VAD threshold, so it never starts a turn).
pub fn quiet_pcm() -> Vec<u8> {
    let mut x: u32 = 12345;
    let mut out = Vec::with_capacity(960);
    for _ in 0..480 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345) & 0x7FFF_FFFF;
        let sample = ((x >> 16) % 201) as i16 - 100;
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// The `session.update` every client of the benchmark sends first (clients/base.py).
pub const SESSION_UPDATE: &str = r#"{"type":"session.update","session":{"type":"realtime","audio":{"input":{"turn_detection":null}}}}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The mock's audio delta (src/mock_server/events.rs `output_audio_delta_text`).
    fn delta_frame(event_id: &str, audio: &[u8]) -> String {
        let mut b64 = String::new();
        base64::engine::general_purpose::STANDARD.encode_string(audio, &mut b64);
        format!(
            r#"{{"type":"response.output_audio.delta","event_id":"{event_id}","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{b64}"}}"#
        )
    }

    #[test]
    fn kinds() {
        let mut pcm = Vec::new();
        let done = r#"{"type":"response.done","event_id":"e","response":{"id":"r","output":[]}}"#;
        assert_eq!(parse(done, &mut pcm), Ok(Event::ResponseDone));
        let err = r#"{"type":"error","error":{"type":"invalid_request_error","message":"x"}}"#;
        assert_eq!(parse(err, &mut pcm), Ok(Event::Error));
        let other = r#"{"type":"response.output_audio_transcript.delta","delta":"hi \"there\""}"#;
        assert_eq!(parse(other, &mut pcm), Ok(Event::Other));
        // Escaped strings (not borrowable) still parse.
        let escaped = r#"{"type":"response.done","event_id":"e\u0031"}"#;
        assert_eq!(parse(escaped, &mut pcm), Ok(Event::ResponseDone));
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut pcm = Vec::new();
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"no_type":1}"#,
            r#"{"type":5}"#,
            r#"{"type":"response.done""#,
            r#"{"type":"response.output_audio.delta","event_id":"evt_1_5"}"#,
            r#"{"type":"response.output_audio.delta","event_id":"evt_1_5","delta":"A"}"#,
            r#"{"type":"response.output_audio.delta","event_id":"evt_1_5","delta":"!!!!"}"#,
            r#"{"type":"response.output_audio.delta","delta":"AAAA"}"#,
            r#"{"type":"response.output_audio.delta","event_id":"evt_1_","delta":"AAAA"}"#,
            r#"{"type":"response.output_audio.delta","event_id":"evt","delta":"AAAA"}"#,
        ] {
            assert!(parse(bad, &mut pcm).is_err(), "{bad}");
        }
    }

    #[test]
    fn append_frame_is_what_the_mock_reads() {
        let pcm: Vec<u8> = (0..960u32).map(|i| (i * 7) as u8).collect();
        let v: serde_json::Value =
            serde_json::from_str(&append_frame(&pcm)).expect("the frame is JSON");
        assert_eq!(v["type"], "input_audio_buffer.append");
        let audio = v["audio"].as_str().expect("audio is a string");
        let back = base64::engine::general_purpose::STANDARD
            .decode(audio)
            .expect("standard padded base64");
        assert_eq!(back, pcm);
        let s: serde_json::Value = serde_json::from_str(SESSION_UPDATE).expect("JSON");
        assert!(s["session"]["audio"]["input"]["turn_detection"].is_null());
    }

    #[test]
    fn quiet_pcm_is_the_harness_chunk() {
        // Values printed by benches/load/harness.py's quiet_pcm().
        let pcm = quiet_pcm();
        assert_eq!(pcm.len(), 960);
        assert_eq!(pcm[..8], [62, 0, 39, 0, 163, 255, 237, 255]);
        assert_eq!(pcm.iter().map(|&b| u64::from(b)).sum::<u64>(), 120_650);
    }

    proptest! {
        /// Any audio in any delta comes back byte for byte, with the send time of its id.
        #[test]
        fn audio_delta_round_trip(
            audio in proptest::collection::vec(any::<u8>(), 0..6000),
            seq in any::<u32>(),
            ns in 0i64..i64::MAX,
        ) {
            let mut pcm = vec![1, 2, 3];
            let ev = parse(&delta_frame(&format!("evt_{seq}_{ns}"), &audio), &mut pcm);
            prop_assert_eq!(ev, Ok(Event::Audio { sent_ns: ns }));
            prop_assert_eq!(pcm, audio);
        }

        /// Arbitrary text never panics the parser.
        #[test]
        fn any_text_is_handled(text in ".{0,200}") {
            let mut pcm = Vec::new();
            let _ = parse(&text, &mut pcm);
            let _ = sent_ns(&text);
        }

        /// A frame cut anywhere is an error, not a panic or a partial count.
        #[test]
        fn truncated_delta_is_an_error(
            audio in proptest::collection::vec(any::<u8>(), 1..600),
            cut in any::<prop::sample::Index>(),
        ) {
            let frame = delta_frame("evt_1_123", &audio);
            let at = cut.index(frame.len());
            let mut pcm = Vec::new();
            prop_assert!(parse(&frame[..at], &mut pcm).is_err());
        }

        /// Every PCM chunk makes an append frame that decodes back to it.
        #[test]
        fn append_round_trip(pcm in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let v: serde_json::Value = serde_json::from_str(&append_frame(&pcm)).expect("JSON");
            let back = base64::engine::general_purpose::STANDARD
                .decode(v["audio"].as_str().expect("string"))
                .expect("base64");
            prop_assert_eq!(back, pcm);
        }
    }
}
