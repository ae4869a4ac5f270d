//! Audio the mock server plays and hears: a generated tone (or given PCM) cut
//! into chunks in the session's output format, and G.711 µ-law / A-law.
//!
//! The G.711 codecs are local on purpose: the mock is the independent peer of
//! the client's own `audio` module, so it must not share its code.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde_json::Value;

/// Peak of the generated tone: 0.1 of full scale (-20 dBFS), quiet enough not
/// to hurt anyone who plays it, loud enough to trip a client's VAD in a loop test.
pub const TONE_AMPLITUDE: f64 = 3277.0;

/// Wire encoding of audio in one direction, from a session's `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `audio/pcm`: PCM16 little-endian, 24 kHz mono.
    Pcm16,
    /// `audio/pcmu`: G.711 µ-law, 8 kHz.
    Ulaw,
    /// `audio/pcma`: G.711 A-law, 8 kHz.
    Alaw,
}

impl Encoding {
    /// Reads `{type: "audio/pcm" | "audio/pcmu" | "audio/pcma"}`; anything else is PCM16.
    pub fn from_format(format: Option<&Value>) -> Encoding {
        match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
            Some("audio/pcmu") => Encoding::Ulaw,
            Some("audio/pcma") => Encoding::Alaw,
            _ => Encoding::Pcm16,
        }
    }

    pub fn rate(self) -> u32 {
        match self {
            Encoding::Pcm16 => 24_000,
            Encoding::Ulaw | Encoding::Alaw => 8_000,
        }
    }

    pub fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::Pcm16 => 2,
            Encoding::Ulaw | Encoding::Alaw => 1,
        }
    }

    /// Milliseconds of `bytes` of encoded audio.
    pub fn ms_of(self, bytes: usize) -> f64 {
        bytes as f64 / self.bytes_per_sample() as f64 * 1000.0 / f64::from(self.rate())
    }

    /// Decodes wire bytes to linear samples (PCM16 needs an even count; the
    /// caller carries an odd byte over to the next append).
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<i16>) {
        match self {
            Encoding::Pcm16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|p| i16::from_le_bytes([p[0], p[1]])),
            ),
            Encoding::Ulaw => out.extend(bytes.iter().map(|&b| ulaw_to_linear(b))),
            Encoding::Alaw => out.extend(bytes.iter().map(|&b| alaw_to_linear(b))),
        }
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32_635;

/// ITU-T G.711 µ-law encoder (the classic Sun reference algorithm).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    // Segment = position of the highest set bit above bit 7 (s >= 0x84, so >= 1).
    let exponent = (31 - ((s >> 7) as u32).leading_zeros()).min(7) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// ITU-T G.711 A-law encoder (the classic Sun reference algorithm).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let Some(seg) = ALAW_SEG_END.iter().position(|&end| pcm <= end) else {
        return (0x7F ^ mask) as u8;
    };
    let shift = if seg < 2 { 1 } else { seg as i32 };
    let aval = ((seg as i32) << 4) | ((pcm >> shift) & 0x0F);
    (aval ^ mask) as u8
}

pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = i32::from(byte ^ 0x55);
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// One second of a sine at `rate` (cached: every reply of every connection
/// reuses it, so a load test does not pay for a `sin` per sample).
pub fn tone_second(hz: f64, rate: u32) -> Arc<[i16]> {
    type Cache = Mutex<HashMap<(u64, u32), Arc<[i16]>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (hz.to_bits(), rate);
    if let Some(t) = cache.lock().get(&key) {
        return t.clone();
    }
    let step = std::f64::consts::TAU * hz / f64::from(rate);
    let samples: Arc<[i16]> = (0..rate)
        .map(|n| (TONE_AMPLITUDE * (step * f64::from(n)).sin()).round() as i16)
        .collect();
    cache.lock().insert(key, samples.clone());
    samples
}

/// 24 kHz -> 8 kHz by averaging each group of three samples (a crude
/// low-pass; good enough for a test peer).
pub fn decimate_24k_to_8k(samples: &[i16]) -> Vec<i16> {
    samples
        .chunks(3)
        .map(|c| (c.iter().map(|&s| i32::from(s)).sum::<i32>() / c.len() as i32) as i16)
        .collect()
}

/// A reply's audio, cut into chunks on demand.
#[derive(Debug, Clone)]
pub struct AudioOut {
    enc: Encoding,
    /// Samples at the output rate.
    samples: Arc<[i16]>,
    /// Play `samples` in a loop (a tone) rather than once.
    looping: bool,
    pos: usize,
    total: usize,
}

impl AudioOut {
    /// `ms` of a tone.
    pub fn tone(enc: Encoding, hz: f64, ms: u64) -> AudioOut {
        let total = (ms as u128 * u128::from(enc.rate()) / 1000) as usize;
        AudioOut {
            enc,
            samples: tone_second(hz, enc.rate()),
            looping: true,
            pos: 0,
            total,
        }
    }

    /// The given 24 kHz PCM, converted to the output rate.
    pub fn pcm(enc: Encoding, pcm24k: &Arc<[i16]>) -> AudioOut {
        let samples: Arc<[i16]> = match enc {
            Encoding::Pcm16 => pcm24k.clone(),
            Encoding::Ulaw | Encoding::Alaw => decimate_24k_to_8k(pcm24k).into(),
        };
        let total = samples.len();
        AudioOut {
            enc,
            samples,
            looping: false,
            pos: 0,
            total,
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.enc
    }

    pub fn total_ms(&self) -> f64 {
        self.total as f64 * 1000.0 / f64::from(self.enc.rate())
    }

    pub fn is_done(&self) -> bool {
        self.pos >= self.total
    }

    /// Number of chunks of `chunk_ms` the whole reply takes.
    pub fn chunk_count(&self, chunk_ms: u32) -> usize {
        self.total.div_ceil(self.chunk_samples(chunk_ms))
    }

    fn chunk_samples(&self, chunk_ms: u32) -> usize {
        (self.enc.rate() as usize * chunk_ms as usize / 1000).max(1)
    }

    /// The next chunk of encoded bytes, or `None` at the end.
    pub fn next_chunk(&mut self, chunk_ms: u32) -> Option<Vec<u8>> {
        if self.is_done() || self.samples.is_empty() {
            return None;
        }
        let n = self.chunk_samples(chunk_ms).min(self.total - self.pos);
        let mut out = Vec::with_capacity(n * self.enc.bytes_per_sample());
        for i in self.pos..self.pos + n {
            let s = if self.looping {
                self.samples[i % self.samples.len()]
            } else {
                self.samples[i]
            };
            match self.enc {
                Encoding::Pcm16 => out.extend_from_slice(&s.to_le_bytes()),
                Encoding::Ulaw => out.push(linear_to_ulaw(s)),
                Encoding::Alaw => out.push(linear_to_alaw(s)),
            }
        }
        self.pos += n;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn g711_reference_points() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-8), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(alaw_to_linear(0xD5), 8);
    }

    #[test]
    fn g711_roundtrip_error_is_logarithmic() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            for (enc, dec) in [
                (
                    linear_to_ulaw as fn(i16) -> u8,
                    ulaw_to_linear as fn(u8) -> i16,
                ),
                (linear_to_alaw, alaw_to_linear),
            ] {
                let back = dec(enc(s));
                let err = (i32::from(back) - i32::from(s)).abs();
                // Step size is at most 1/16 of the segment: ~6% of the magnitude, plus the small-signal step.
                let bound = i32::from(s).abs() / 15 + 40;
                assert!(err <= bound, "{s} -> {back} (err {err} > {bound})");
            }
        }
    }

    #[test]
    fn g711_is_monotonic() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= prev_u && a >= prev_a, "not monotonic at {s}");
            prev_u = u;
            prev_a = a;
        }
    }

    #[test]
    fn encodings_from_format() {
        assert_eq!(
            Encoding::from_format(Some(&json!({"type": "audio/pcmu"}))),
            Encoding::Ulaw
        );
        assert_eq!(
            Encoding::from_format(Some(&json!({"type": "audio/pcma"}))),
            Encoding::Alaw
        );
        assert_eq!(
            Encoding::from_format(Some(&json!({"type": "audio/pcm", "rate": 24000}))),
            Encoding::Pcm16
        );
        assert_eq!(Encoding::from_format(None), Encoding::Pcm16);
        assert_eq!(Encoding::Pcm16.ms_of(4800), 100.0);
        assert_eq!(Encoding::Ulaw.ms_of(800), 100.0);
    }

    #[test]
    fn tone_chunks_cover_the_length() {
        let mut a = AudioOut::tone(Encoding::Pcm16, 440.0, 600);
        assert_eq!(a.chunk_count(50), 12);
        let mut total = 0;
        let mut chunks = 0;
        while let Some(c) = a.next_chunk(50) {
            assert_eq!(c.len(), 2400);
            total += c.len();
            chunks += 1;
        }
        assert_eq!((total, chunks), (600 * 48, 12));
        let mut u = AudioOut::tone(Encoding::Ulaw, 440.0, 130);
        let sizes: Vec<usize> = std::iter::from_fn(|| u.next_chunk(50))
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, vec![400, 400, 240]);
    }

    #[test]
    fn tone_is_a_quiet_sine() {
        let t = tone_second(440.0, 24_000);
        let peak = t.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((3200..=3277).contains(&peak), "{peak}");
        let rms = (t.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / t.len() as f64).sqrt();
        assert!((rms - TONE_AMPLITUDE / 2f64.sqrt()).abs() < 20.0, "{rms}");
        // Zero crossings: 2 per period.
        let crossings = t.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((878..=882).contains(&crossings), "{crossings}");
    }

    #[test]
    fn given_pcm_is_decimated_for_g711() {
        let pcm: Arc<[i16]> = (0..2400).map(|i| (i % 100) as i16 * 10).collect();
        let mut a = AudioOut::pcm(Encoding::Alaw, &pcm);
        assert_eq!(a.total_ms(), 100.0);
        let bytes: usize = std::iter::from_fn(|| a.next_chunk(20))
            .map(|c| c.len())
            .sum();
        assert_eq!(bytes, 800);
        let mut p = AudioOut::pcm(Encoding::Pcm16, &pcm);
        assert_eq!(p.next_chunk(1000).map(|c| c.len()), Some(4800));
        assert!(p.is_done());
    }
}
