//! Criterion benches of the per-frame hot paths (issue #5), so that a regression shows
//! up here before it shows up in the load benchmark (benches/load/).
//!
//! - `server_frame/audio_delta_50ms`: classify one `response.output_audio.delta` frame
//!   carrying 50 ms of 24 kHz PCM16 (2,400 samples, 4,800 bytes, 6,400 base64 chars) and
//!   decode its audio: what the reader task does for every audio frame.
//!   `.../classify_only` and `.../decode_only` are its two halves.
//! - `server_frame/transcript_delta`: classify the transcript delta the server interleaves.
//! - `server_frame/session_updated`: a non-delta event (the slow, fully parsed path), for scale.
//! - `client_frame/append_20ms`: build the `input_audio_buffer.append` frame for 20 ms of
//!   PCM16 (960 bytes), what every `send_audio` call does.
//!
//! One frame through the event queue to Python needs a Python interpreter; it is measured
//! by `benches/test_bench_hot_paths.py` (pytest-benchmark).
//!
//! `cargo bench --bench hot_paths` (`-- --quick` for a fast pass).

// A benchmark whose setup fails has nothing to measure: stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use realtime_ws::audio::b64;
use realtime_ws::protocol::client::append_audio;
use realtime_ws::protocol::server::{classify, EventKind, Frame};
use realtime_ws::protocol::Dialect;

/// A frame shaped like the API's (and the mock's load mode, whose event_id carries the
/// send time).
fn audio_delta_frame(pcm: &[u8]) -> String {
    format!(
        concat!(
            r#"{{"type":"response.output_audio.delta","event_id":"evt_1234_1764072000123456789","#,
            r#""response_id":"resp_CRZtV3b8xAbK9sQpL2mNf","item_id":"item_CRZtV3cFh7Jk1wEo0YdGa","#,
            r#""output_index":0,"content_index":0,"delta":"{}"}}"#
        ),
        b64::encode(pcm)
    )
}

const TRANSCRIPT_DELTA: &str = concat!(
    r#"{"type":"response.output_audio_transcript.delta","event_id":"event_1233","#,
    r#""response_id":"resp_CRZtV3b8xAbK9sQpL2mNf","item_id":"item_CRZtV3cFh7Jk1wEo0YdGa","#,
    r#""output_index":0,"content_index":0,"delta":"quick "}"#
);

const SESSION_UPDATED: &str = concat!(
    r#"{"type":"session.updated","event_id":"event_2","session":{"type":"realtime","#,
    r#""object":"realtime.session","id":"sess_CRZtV2","model":"gpt-realtime","#,
    r#""output_modalities":["audio"],"instructions":"Be brief.","tools":[],"#,
    r#""tool_choice":"auto","max_output_tokens":"inf","tracing":null,"prompt":null,"#,
    r#""expires_at":1764075600,"include":null,"audio":{"input":{"format":{"type":"audio/pcm","#,
    r#""rate":24000},"transcription":null,"noise_reduction":null,"turn_detection":null},"#,
    r#""output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}}}}"#
);

fn bench_server_frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_frame");
    let audio = common::noise_bytes(4800);
    let frame = audio_delta_frame(&audio);
    assert_eq!(b64::encoded_len(audio.len()), 6400);
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("audio_delta_50ms", |b| {
        b.iter(|| match classify(black_box(&frame), Dialect::Ga) {
            Ok(Frame::Delta(d)) if d.kind == EventKind::AudioDelta => {
                b64::decode(d.delta.as_bytes()).expect("valid base64")
            }
            _ => unreachable!("an audio delta takes the fast path"),
        })
    });
    // The same frame split in its two halves, to tell a JSON regression from a base64 one.
    g.bench_function("audio_delta_50ms/classify_only", |b| {
        b.iter(|| match classify(black_box(&frame), Dialect::Ga) {
            Ok(Frame::Delta(d)) => d.delta.len(),
            _ => unreachable!("an audio delta takes the fast path"),
        })
    });
    let text = b64::encode(&audio);
    g.bench_function("audio_delta_50ms/decode_only", |b| {
        b.iter(|| b64::decode(black_box(text.as_bytes())).expect("valid base64"))
    });
    g.throughput(Throughput::Bytes(TRANSCRIPT_DELTA.len() as u64));
    g.bench_function("transcript_delta", |b| {
        b.iter(
            || match classify(black_box(TRANSCRIPT_DELTA), Dialect::Ga) {
                Ok(Frame::Delta(d)) => d.delta.len(),
                _ => unreachable!("a transcript delta takes the fast path"),
            },
        )
    });
    g.throughput(Throughput::Bytes(SESSION_UPDATED.len() as u64));
    g.bench_function("session_updated", |b| {
        b.iter(|| match classify(black_box(SESSION_UPDATED), Dialect::Ga) {
            Ok(Frame::Parsed { name: Some(_), .. }) => 1,
            other => unreachable!("{other:?}"),
        })
    });
    g.finish();
}

/// The whole per-frame path of the core for one audio delta, sans I/O:
/// classify, decode, playback bookkeeping, the event for the user.
fn bench_session(c: &mut Criterion) {
    use realtime_ws::connection::Text;
    use realtime_ws::session::{Output, Session};
    let mut g = c.benchmark_group("session");
    let frame = audio_delta_frame(&common::noise_bytes(2400));
    let text = Text::from(frame.as_str());
    let mut session = Session::default();
    let mut out = Output::default();
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("audio_delta_50ms", |b| {
        b.iter(|| {
            out.events.clear();
            session.on_server_text(black_box(text.clone()), 0.0, &mut out);
            out.events.len()
        })
    });
    g.finish();
}

fn bench_client_frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("client_frame");
    let chunk = common::noise_bytes(960);
    g.throughput(Throughput::Bytes(chunk.len() as u64));
    g.bench_function("append_20ms", |b| {
        b.iter(|| append_audio(black_box(&chunk)))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_server_frames,
    bench_session,
    bench_client_frames
);
criterion_main!(benches);
