//! Per-session audio format conversion for the transport: the user's format
//! (any rate; PCM16, float32, µ-law or A-law; mono) to the API's (PCM16 at
//! 24 kHz, or G.711 at 8 kHz), and back. Stateful and streaming: the
//! resampler state carries across calls, so any chunking gives the same audio.

use super::format::WireFormat;
use super::g711::Law;
use super::resample::{f32_to_i16, Quality, Resampler};

/// Element type of a user's audio buffer (how the buffer protocol describes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// bytes-like (format B/b/c): raw bytes.
    U8,
    /// int16 (format h), native little-endian.
    I16,
    /// float32 (format f), native little-endian.
    F32,
}

/// Sample encoding on the user's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Signed 16-bit little-endian PCM.
    Pcm16,
    /// 32-bit little-endian float in [-1, 1] (clipped when converted to PCM16).
    F32,
    /// G.711 µ-law, one byte per sample.
    Ulaw,
    /// G.711 A-law, one byte per sample.
    Alaw,
}

impl Encoding {
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::Pcm16 => 2,
            Encoding::F32 => 4,
            Encoding::Ulaw | Encoding::Alaw => 1,
        }
    }

    /// Parses `"pcm16"`, `"f32"`, `"ulaw"`, `"alaw"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "pcm16" => Ok(Encoding::Pcm16),
            "f32" => Ok(Encoding::F32),
            "ulaw" => Ok(Encoding::Ulaw),
            "alaw" => Ok(Encoding::Alaw),
            _ => Err(format!(
                "unknown audio encoding {s:?}; expected 'pcm16', 'f32', 'ulaw' or 'alaw'"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Pcm16 => "pcm16",
            Encoding::F32 => "f32",
            Encoding::Ulaw => "ulaw",
            Encoding::Alaw => "alaw",
        }
    }

    fn law(self) -> Option<Law> {
        match self {
            Encoding::Ulaw => Some(Law::Ulaw),
            Encoding::Alaw => Some(Law::Alaw),
            _ => None,
        }
    }
}

/// A mono audio format on the user's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spec {
    pub rate: u32,
    pub encoding: Encoding,
}

impl Spec {
    /// Milliseconds of audio in `bytes` bytes of this format.
    pub fn bytes_to_ms(&self, bytes: usize) -> f64 {
        bytes as f64 / self.encoding.bytes_per_sample() as f64 / self.rate as f64 * 1000.0
    }
}

/// One direction of conversion: decode `from`, resample, encode `to`.
/// [`Converter::input`] goes user -> API, [`Converter::output`] API -> user.
pub struct Converter {
    /// "input audio" or "output audio", for error messages.
    what: &'static str,
    from: Spec,
    to: Spec,
    /// `None` when the formats are identical (bytes pass through).
    resampler: Option<Resampler>,
    samples: Vec<f32>,
    resampled: Vec<f32>,
    pcm: Vec<i16>,
}

impl Converter {
    /// User audio -> the session's wire format.
    pub fn input(user: Spec, wire: WireFormat, quality: Quality) -> Result<Self, String> {
        Converter::new(user, wire.spec(), quality, "input audio")
    }

    /// The session's wire format -> user audio.
    pub fn output(user: Spec, wire: WireFormat, quality: Quality) -> Result<Self, String> {
        Converter::new(wire.spec(), user, quality, "output audio")
    }

    /// The source format of this converter.
    pub fn from_spec(&self) -> Spec {
        self.from
    }

    fn new(from: Spec, to: Spec, quality: Quality, what: &'static str) -> Result<Self, String> {
        let resampler = if from == to {
            None
        } else {
            Some(
                Resampler::new(from.rate, to.rate, 1, quality)
                    .map_err(|e| format!("{what}: {e}"))?,
            )
        };
        Ok(Converter {
            what,
            from,
            to,
            resampler,
            samples: Vec::new(),
            resampled: Vec::new(),
            pcm: Vec::new(),
        })
    }

    /// Decodes `input` (whole samples, checked by `process`) into `self.samples`.
    fn decode(&mut self, input: &[u8]) {
        let s = &mut self.samples;
        s.clear();
        match self.from.encoding {
            Encoding::Pcm16 => s.extend(
                input
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 * (1.0 / 32768.0)),
            ),
            Encoding::F32 => s.extend(
                input
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
            Encoding::Ulaw | Encoding::Alaw => {
                let law = self.from.encoding.law().unwrap_or(Law::Ulaw);
                self.pcm.clear();
                self.pcm.resize(input.len(), 0);
                law.decode(input, &mut self.pcm);
                s.extend(self.pcm.iter().map(|&v| v as f32 * (1.0 / 32768.0)));
            }
        }
    }

    fn encode(&mut self, out: &mut Vec<u8>) {
        let y = &self.resampled;
        match self.to.encoding {
            Encoding::Pcm16 => {
                out.reserve(y.len() * 2);
                for &v in y {
                    out.extend_from_slice(&f32_to_i16(v).to_le_bytes());
                }
            }
            Encoding::F32 => {
                out.reserve(y.len() * 4);
                for &v in y {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Encoding::Ulaw | Encoding::Alaw => {
                let law = self.to.encoding.law().unwrap_or(Law::Ulaw);
                self.pcm.clear();
                self.pcm.extend(y.iter().map(|&v| f32_to_i16(v)));
                let start = out.len();
                out.resize(start + self.pcm.len(), 0);
                law.encode(&self.pcm, &mut out[start..]);
            }
        }
    }

    /// Converts `input` (the `from` format) and appends `to`-format bytes to `out`.
    pub fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let what = self.what;
        let bps = self.from.encoding.bytes_per_sample();
        if input.len() % bps != 0 {
            return Err(format!(
                "{what}: {} audio needs a multiple of {bps} bytes, got {}",
                self.from.encoding.name(),
                input.len()
            ));
        }
        if self.resampler.is_none() {
            out.extend_from_slice(input);
            return Ok(());
        }
        // Same encoding family at the same rate: transcode without the float detour.
        if self.from.rate == self.to.rate {
            if let (Some(a), Some(b)) = (self.from.encoding.law(), self.to.encoding.law()) {
                self.pcm.clear();
                self.pcm.resize(input.len(), 0);
                a.decode(input, &mut self.pcm);
                let start = out.len();
                out.resize(start + input.len(), 0);
                b.encode(&self.pcm, &mut out[start..]);
                return Ok(());
            }
        }
        self.decode(input);
        self.resampled.clear();
        if let Some(r) = self.resampler.as_mut() {
            r.process_f32(&self.samples, &mut self.resampled)
                .map_err(|e| format!("{what}: {e}"))?;
        }
        self.encode(out);
        Ok(())
    }

    /// Ends the stream (the resampler's tail) and resets for the next one.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.resampled.clear();
        if let Some(r) = self.resampler.as_mut() {
            r.flush_f32(&mut self.resampled);
        }
        self.encode(out);
    }

    /// Drops buffered state (e.g. on interruption) without emitting it.
    pub fn reset(&mut self) {
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
    }

    /// True when bytes are passed through untouched.
    pub fn is_identity(&self) -> bool {
        self.resampler.is_none()
    }

    /// Resampling latency in milliseconds.
    pub fn delay_ms(&self) -> f64 {
        self.resampler.as_ref().map_or(0.0, Resampler::delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::g711;

    fn assert_send<T: Send>() {}

    #[test]
    fn converters_are_send() {
        assert_send::<Converter>();
    }

    fn pcm_bytes(x: &[i16]) -> Vec<u8> {
        x.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn tone(rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((i as f64 * 440.0 * 2.0 * std::f64::consts::PI / rate as f64).sin() * 12000.0)
                    as i16
            })
            .collect()
    }

    #[test]
    fn identity_passes_bytes_through() {
        let pcm = pcm_bytes(&tone(24000, 480));
        let mut c = Converter::input(
            Spec {
                rate: 24000,
                encoding: Encoding::Pcm16,
            },
            WireFormat::PCM24K,
            Quality::High,
        )
        .expect("valid");
        assert!(c.is_identity());
        let mut out = Vec::new();
        c.process(&pcm, &mut out).expect("ok");
        assert_eq!(out, pcm);
        assert!(c
            .process(&pcm[..3], &mut out)
            .expect_err("must fail")
            .contains("multiple of 2"));
        let mut u = Converter::output(
            Spec {
                rate: 8000,
                encoding: Encoding::Ulaw,
            },
            WireFormat::Pcmu,
            Quality::High,
        )
        .expect("valid");
        let mut o = Vec::new();
        u.process(&[1, 2, 3], &mut o).expect("ok");
        assert_eq!(o, [1, 2, 3]);
    }

    #[test]
    fn chunking_does_not_change_output() {
        let cases = [
            (
                Spec {
                    rate: 16000,
                    encoding: Encoding::Pcm16,
                },
                WireFormat::PCM24K,
            ),
            (
                Spec {
                    rate: 8000,
                    encoding: Encoding::Ulaw,
                },
                WireFormat::PCM24K,
            ),
            (
                Spec {
                    rate: 48000,
                    encoding: Encoding::F32,
                },
                WireFormat::PCM24K,
            ),
            (
                Spec {
                    rate: 16000,
                    encoding: Encoding::Pcm16,
                },
                WireFormat::Pcmu,
            ),
            (
                Spec {
                    rate: 44100,
                    encoding: Encoding::Alaw,
                },
                WireFormat::Pcma,
            ),
        ];
        for (user, api) in cases {
            let x = tone(user.rate, user.rate as usize / 5);
            let bytes: Vec<u8> = match user.encoding {
                Encoding::Pcm16 => pcm_bytes(&x),
                Encoding::F32 => x
                    .iter()
                    .flat_map(|&v| (v as f32 / 32768.0).to_le_bytes())
                    .collect(),
                Encoding::Ulaw => x.iter().map(|&v| g711::ulaw_encode_sample(v)).collect(),
                Encoding::Alaw => x.iter().map(|&v| g711::alaw_encode_sample(v)).collect(),
            };
            let bps = user.encoding.bytes_per_sample();
            for dir in 0..2 {
                let run = |chunk: usize| {
                    let mut out = Vec::new();
                    if dir == 0 {
                        let mut c = Converter::input(user, api, Quality::High).expect("valid");
                        for part in bytes.chunks(chunk * bps) {
                            c.process(part, &mut out).expect("ok");
                        }
                        c.flush(&mut out);
                    } else {
                        // API -> user: feed the API encoding of the same tone.
                        let api_bytes: Vec<u8> = match api {
                            WireFormat::Pcmu => tone(8000, 1600)
                                .iter()
                                .map(|&v| g711::ulaw_encode_sample(v))
                                .collect(),
                            WireFormat::Pcma => tone(8000, 1600)
                                .iter()
                                .map(|&v| g711::alaw_encode_sample(v))
                                .collect(),
                            _ => pcm_bytes(&tone(24000, 4800)),
                        };
                        let abps = api.spec().encoding.bytes_per_sample();
                        let mut c = Converter::output(user, api, Quality::High).expect("valid");
                        for part in api_bytes.chunks(chunk * abps) {
                            c.process(part, &mut out).expect("ok");
                        }
                        c.flush(&mut out);
                    }
                    out
                };
                let whole = run(1 << 20);
                assert!(!whole.is_empty());
                assert_eq!(run(160), whole, "{user:?} {api:?} dir {dir}");
                assert_eq!(run(37), whole, "{user:?} {api:?} dir {dir}");
            }
        }
    }

    #[test]
    fn g711_same_rate_transcodes() {
        let x = tone(8000, 800);
        let ulaw: Vec<u8> = x.iter().map(|&v| g711::ulaw_encode_sample(v)).collect();
        let mut c = Converter::input(
            Spec {
                rate: 8000,
                encoding: Encoding::Ulaw,
            },
            WireFormat::Pcma,
            Quality::High,
        )
        .expect("valid");
        let mut out = Vec::new();
        c.process(&ulaw, &mut out).expect("ok");
        let want: Vec<u8> = ulaw
            .iter()
            .map(|&u| g711::alaw_encode_sample(g711::ulaw_decode_sample(u)))
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn errors_are_clear() {
        let mut c = Converter::input(
            Spec {
                rate: 16000,
                encoding: Encoding::F32,
            },
            WireFormat::PCM24K,
            Quality::High,
        )
        .expect("valid");
        let e = c.process(&[0; 6], &mut Vec::new()).expect_err("must fail");
        assert!(e.contains("f32") && e.contains("multiple of 4"), "{e}");
        assert!(Encoding::parse("mp3").is_err());
        assert!(Converter::input(
            Spec {
                rate: 0,
                encoding: Encoding::Pcm16
            },
            WireFormat::PCM24K,
            Quality::High
        )
        .is_err());
    }

    #[test]
    fn level_survives_the_round_trip() {
        // 16 kHz PCM16 -> API 24 kHz -> back to 16 kHz keeps a 440 Hz tone's level.
        let user = Spec {
            rate: 16000,
            encoding: Encoding::Pcm16,
        };
        let x = tone(16000, 16000);
        let mut up = Vec::new();
        let mut i = Converter::input(user, WireFormat::PCM24K, Quality::High).expect("valid");
        i.process(&pcm_bytes(&x), &mut up).expect("ok");
        i.flush(&mut up);
        assert_eq!(up.len(), 24000 * 2);
        let mut back = Vec::new();
        let mut o = Converter::output(user, WireFormat::PCM24K, Quality::High).expect("valid");
        o.process(&up, &mut back).expect("ok");
        o.flush(&mut back);
        let y: Vec<i16> = back
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(y.len(), x.len());
        let err = x[2000..14000]
            .iter()
            .zip(&y[2000..14000])
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap_or(0);
        assert!(err <= 2, "max error {err}");
    }
}
