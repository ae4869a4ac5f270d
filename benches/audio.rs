//! Criterion benches of the audio engine (issue #4): base64, resampling, G.711,
//! at 20 ms, 100 ms and 1 s chunks of 24 kHz PCM16 (or the pair's input rate).
//!
//! `cargo bench --bench audio` (add `-- b64`, `-- resample`, `-- rubato`, `-- g711` to
//! filter; `-- --quick` for a fast pass). Tables: benches/README-audio.md.
//!
//! The same binary is also the Rust end of the quality measurement: with
//! `AUDIO_RESAMPLE_STDIO=<impl>,<in_rate>,<out_rate>` it reads mono float32
//! (native endian) on stdin, resamples the whole signal with `<impl>`
//! (`ours-hq`, `ours-ll`, `rubato-fft`, `rubato-sinc`; configured exactly as
//! in the benches), writes float32 on stdout and exits. `benches/audio_quality.py
//! --rubato` drives it, so rubato is measured by the same Python code as ours
//! and soxr.

// A benchmark whose setup fails has nothing to measure: stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::hint::black_box;
use std::io::{Read, Write};

use base64::engine::general_purpose::{PAD, STANDARD as B64_SCALAR};
use base64::engine::Simd;
use base64::Engine as _;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use realtime_ws::audio::b64;
use realtime_ws::audio::g711;
use realtime_ws::audio::resample::{Quality, Resampler};

const CHUNKS_MS: [u32; 3] = [20, 100, 1000];

fn bench_b64(c: &mut Criterion) {
    let mut g = c.benchmark_group("b64");
    let b64_avx2 = Simd::standard(PAD); // the base64 crate's runtime-detected AVX2/NEON engine
    for ms in CHUNKS_MS {
        let data = common::noise_bytes(48 * ms as usize); // 24 kHz PCM16
        let text = b64::encode(&data);
        let mut enc = vec![0u8; b64::encoded_len(data.len())];
        let mut dec = vec![0u8; data.len()];
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(BenchmarkId::new("encode/ours", ms), &data, |b, d| {
            b.iter(|| b64::encode_to_slice(black_box(d), &mut enc))
        });
        g.bench_with_input(
            BenchmarkId::new("encode/base64-scalar", ms),
            &data,
            |b, d| b.iter(|| B64_SCALAR.encode_slice(black_box(d), &mut enc)),
        );
        g.bench_with_input(BenchmarkId::new("encode/base64-avx2", ms), &data, |b, d| {
            b.iter(|| b64_avx2.encode_slice(black_box(d), &mut enc))
        });
        g.bench_with_input(BenchmarkId::new("encode/base64-simd", ms), &data, |b, d| {
            b.iter(|| {
                base64_simd::STANDARD
                    .encode(black_box(d), base64_simd::Out::from_slice(&mut enc))
                    .len()
            })
        });
        g.bench_with_input(BenchmarkId::new("decode/ours", ms), &text, |b, t| {
            b.iter(|| b64::decode_to_slice(black_box(t.as_bytes()), &mut dec))
        });
        g.bench_with_input(
            BenchmarkId::new("decode/base64-scalar", ms),
            &text,
            |b, t| b.iter(|| B64_SCALAR.decode_slice(black_box(t.as_bytes()), &mut dec)),
        );
        g.bench_with_input(BenchmarkId::new("decode/base64-avx2", ms), &text, |b, t| {
            b.iter(|| b64_avx2.decode_slice(black_box(t.as_bytes()), &mut dec))
        });
        g.bench_with_input(BenchmarkId::new("decode/base64-simd", ms), &text, |b, t| {
            b.iter(|| {
                base64_simd::STANDARD
                    .decode(
                        black_box(t.as_bytes()),
                        base64_simd::Out::from_slice(&mut dec),
                    )
                    .map(|s| s.len())
            })
        });
    }
    g.finish();
}

const RATES: [u32; 7] = [8000, 16000, 22050, 24000, 32000, 44100, 48000];

fn pairs() -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = RATES
        .iter()
        .filter(|&&r| r != 24000)
        .map(|&r| (r, 24000))
        .collect();
    v.extend(RATES.iter().filter(|&&r| r != 24000).map(|&r| (24000, r)));
    v
}

fn sine(rate: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (i as f32 * 997.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5)
        .collect()
}

/// Streaming resampling, one chunk per iteration (steady state), float32.
fn bench_resample(c: &mut Criterion) {
    let filter = std::env::var("AUDIO_BENCH_PAIRS").ok();
    for q in [Quality::High, Quality::LowLatency] {
        let qn = if q == Quality::High { "hq" } else { "ll" };
        let mut g = c.benchmark_group(format!("resample_{qn}"));
        for (a, b) in pairs() {
            let name = format!("{}k-{}k", a as f32 / 1000.0, b as f32 / 1000.0);
            if filter
                .as_deref()
                .is_some_and(|f| !f.split(',').any(|p| p == name))
            {
                continue;
            }
            for ms in CHUNKS_MS {
                let x = sine(a, (a as u64 * ms as u64 / 1000) as usize);
                let mut r = Resampler::new(a, b, 1, q).expect("valid");
                let mut out = Vec::with_capacity(x.len() * 7);
                g.throughput(Throughput::Elements(x.len() as u64));
                g.bench_function(BenchmarkId::new(&name, ms), |bch| {
                    bch.iter(|| {
                        out.clear();
                        r.process_f32(black_box(&x), &mut out)
                            .expect("whole frames");
                        out.len()
                    })
                });
            }
        }
        g.finish();
    }
}

fn bench_g711(c: &mut Criterion) {
    let mut g = c.benchmark_group("g711");
    for ms in CHUNKS_MS {
        let n = 24 * ms as usize; // samples at 24 kHz
        let pcm: Vec<i16> = sine(24000, n)
            .iter()
            .map(|v| (v * 30000.0) as i16)
            .collect();
        let le: Vec<u8> = pcm.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut codes = vec![0u8; n];
        g711::ulaw_encode(&pcm, &mut codes);
        let mut dec = vec![0i16; n];
        let mut dec_le = vec![0u8; 2 * n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("ulaw_encode", ms), |b| {
            b.iter(|| g711::ulaw_encode_le(black_box(&le), &mut codes))
        });
        g.bench_function(BenchmarkId::new("alaw_encode", ms), |b| {
            b.iter(|| g711::alaw_encode_le(black_box(&le), &mut codes))
        });
        g.bench_function(BenchmarkId::new("ulaw_decode", ms), |b| {
            b.iter(|| g711::ulaw_decode(black_box(&codes), &mut dec))
        });
        g.bench_function(BenchmarkId::new("ulaw_decode_le", ms), |b| {
            b.iter(|| g711::ulaw_decode_le(black_box(&codes), &mut dec_le))
        });
        g.bench_function(BenchmarkId::new("alaw_decode", ms), |b| {
            b.iter(|| g711::alaw_decode(black_box(&codes), &mut dec))
        });
    }
    g.finish();
}

/// rubato 5.1 (pure Rust, MIT), configured for a 20 ms (or `ms`) stream of
/// fixed input chunks, as a streaming user would.
///
/// - `rubato-fft`: the synchronous FFT resampler, `Fft::new(.., chunk, 1,
///   FixedSync::Input)`: input chunk = the chunk size (320 frames at 16 kHz,
///   480 at 24 kHz for 20 ms), one FFT block per ~256 frames (rubato's default).
/// - `rubato-sinc`: the asynchronous sinc resampler with rubato's
///   high-quality settings (`sinc_len` 256, Blackman-Harris², oversampling
///   256, cubic interpolation, cutoff chosen by rubato for that length).
fn rubato_new(kind: &str, a: u32, b: u32, chunk: usize) -> Box<dyn rubato::Resampler<f32>> {
    match kind {
        "rubato-fft" => Box::new(
            Fft::<f32>::new(a as usize, b as usize, chunk, 1, FixedSync::Input)
                .expect("valid fft resampler"),
        ),
        "rubato-sinc" => {
            let params = SincInterpolationParameters::new(256, WindowFunction::BlackmanHarris2)
                .oversampling_factor(256)
                .interpolation(SincInterpolationType::Cubic);
            Box::new(
                Async::<f32>::new_sinc(
                    b as f64 / a as f64,
                    1.0,
                    &params,
                    chunk,
                    1,
                    FixedAsync::Input,
                )
                .expect("valid sinc resampler"),
            )
        }
        _ => panic!("unknown rubato resampler {kind}"),
    }
}

/// Ours (hq, low_latency) and rubato side by side on the goal pairs, per
/// chunk of a stream, float32 (rubato's native type).
fn bench_rubato(c: &mut Criterion) {
    let mut g = c.benchmark_group("rubato");
    for (a, b) in [(16000u32, 24000u32), (24000, 48000)] {
        let pair = format!("{}k-{}k", a / 1000, b / 1000);
        for ms in CHUNKS_MS {
            let n = (a as u64 * ms as u64 / 1000) as usize;
            let x = sine(a, n);
            g.throughput(Throughput::Elements(n as u64));
            for (name, q) in [("ours-hq", Quality::High), ("ours-ll", Quality::LowLatency)] {
                let mut r = Resampler::new(a, b, 1, q).expect("valid");
                let mut out = Vec::with_capacity(n * 4);
                g.bench_function(BenchmarkId::new(format!("{pair}/{name}"), ms), |bch| {
                    bch.iter(|| {
                        out.clear();
                        r.process_f32(black_box(&x), &mut out).expect("whole");
                        out.len()
                    })
                });
            }
            for kind in ["rubato-fft", "rubato-sinc"] {
                let mut r = rubato_new(kind, a, b, n);
                assert_eq!(r.input_frames_next(), n, "{kind} {pair} {ms} ms");
                let mut out = vec![0.0f32; r.output_frames_max()];
                let cap = out.len();
                g.bench_function(BenchmarkId::new(format!("{pair}/{kind}"), ms), |bch| {
                    bch.iter(|| {
                        let input = InterleavedSlice::new(black_box(&x[..]), 1, n).expect("in");
                        let mut output =
                            InterleavedSlice::new_mut(&mut out[..], 1, cap).expect("out");
                        r.process_into_buffer(&input, &mut output, None)
                            .expect("process")
                            .1
                    })
                });
            }
        }
    }
    g.finish();
}

/// `AUDIO_RESAMPLE_STDIO` mode (see the module docs): one-shot resampling of
/// stdin to stdout, for `benches/audio_quality.py`.
fn stdio_resample(spec: &str) {
    let parts: Vec<&str> = spec.split(',').collect();
    let [kind, a, b] = parts[..] else {
        panic!("AUDIO_RESAMPLE_STDIO=<impl>,<in_rate>,<out_rate>, got {spec:?}")
    };
    let (a, b): (u32, u32) = (a.parse().expect("in_rate"), b.parse().expect("out_rate"));
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw).expect("stdin");
    let x: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let y: Vec<f32> = match kind {
        "ours-hq" | "ours-ll" => {
            let q = if kind == "ours-hq" {
                Quality::High
            } else {
                Quality::LowLatency
            };
            let mut r = Resampler::new(a, b, 1, q).expect("valid");
            let mut y = Vec::new();
            r.process_f32(&x, &mut y).expect("whole");
            r.flush_f32(&mut y);
            y
        }
        _ => {
            // The resampler as configured for 20 ms chunks in the bench; process_all
            // streams the signal through it in those chunks and trims the delay.
            let mut r = rubato_new(kind, a, b, a as usize / 50);
            let input = InterleavedSlice::new(&x[..], 1, x.len()).expect("input");
            r.process_all(&input, x.len(), None)
                .expect("process_all")
                .take_data()
        }
    };
    let mut out = Vec::with_capacity(y.len() * 4);
    for v in &y {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    std::io::stdout().write_all(&out).expect("stdout");
}

criterion_group!(benches, bench_b64, bench_resample, bench_rubato, bench_g711);

fn main() {
    if let Ok(spec) = std::env::var("AUDIO_RESAMPLE_STDIO") {
        stdio_resample(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
