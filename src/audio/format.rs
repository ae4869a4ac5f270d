//! The audio format on the wire, one type for every rule that needs it: the
//! interruption arithmetic (bytes -> milliseconds, SEED_BEHAVIOUR.md 5a), the
//! converters between the user's format and the session's, and the partial
//! sample rule. Read from a session config (GA object or beta string) in one
//! place, whether the config is the client's `session.update` or the
//! server's `session.updated`.

use serde_json::Value;

use super::convert::{Encoding, Spec};
use crate::protocol::Dialect;

/// An audio format as a session (or a response) names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WireFormat {
    /// `{type: "audio/pcm", rate}` (rate 24000 when absent or not a positive
    /// number), beta `"pcm16"`: 16-bit little-endian mono.
    Pcm { rate: u32 },
    /// `audio/pcmu`, beta `g711_ulaw`: 8 kHz µ-law.
    Pcmu,
    /// `audio/pcma`, beta `g711_alaw`: 8 kHz A-law.
    Pcma,
    /// Any other object or string: counted as 24 kHz PCM16, as the reference does.
    Other,
}

/// Which side of a session config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

impl Default for WireFormat {
    fn default() -> Self {
        WireFormat::PCM24K
    }
}

impl WireFormat {
    /// The API's default and only documented PCM format.
    pub const PCM24K: WireFormat = WireFormat::Pcm { rate: 24000 };

    /// Reads a `format` value: a GA object or a beta string.
    pub fn from_json(v: &Value) -> WireFormat {
        match v {
            Value::Object(map) => match map.get("type").and_then(Value::as_str) {
                Some("audio/pcmu") => WireFormat::Pcmu,
                Some("audio/pcma") => WireFormat::Pcma,
                Some("audio/pcm") => {
                    let rate = map
                        .get("rate")
                        .and_then(Value::as_f64)
                        .filter(|r| r.is_finite() && *r >= 1.0 && *r <= 384_000.0)
                        .map_or(24000, |r| r as u32);
                    WireFormat::Pcm { rate }
                }
                _ => WireFormat::Other,
            },
            Value::String(s) => match s.as_str() {
                "pcm16" => WireFormat::PCM24K,
                "g711_alaw" => WireFormat::Pcma,
                // Every other `g711_*` string is 8 kHz, one byte per sample.
                s if s.starts_with("g711_") => WireFormat::Pcmu,
                _ => WireFormat::Other,
            },
            _ => WireFormat::Other,
        }
    }

    /// The format a session config sets for `dir`, or `None` if it sets none:
    /// GA `audio.{input,output}.format`, beta `{input,output}_audio_format`.
    pub fn of_session(session: &Value, dialect: Dialect, dir: Direction) -> Option<WireFormat> {
        let v = match dialect {
            Dialect::Ga => session
                .get("audio")?
                .get(match dir {
                    Direction::Input => "input",
                    Direction::Output => "output",
                })?
                .get("format"),
            Dialect::Beta => session.get(match dir {
                Direction::Input => "input_audio_format",
                Direction::Output => "output_audio_format",
            }),
        }?;
        (!v.is_null()).then(|| WireFormat::from_json(v))
    }

    /// Duration in milliseconds of `bytes` of decoded audio (the reference's arithmetic).
    pub fn bytes_to_ms(self, bytes: usize) -> f64 {
        let b = bytes as f64;
        match self {
            WireFormat::Pcmu | WireFormat::Pcma => b / 8.0,
            WireFormat::Pcm { rate } => b / 2.0 / f64::from(rate) * 1000.0,
            WireFormat::Other => b / 48.0,
        }
    }

    /// The sample format of this wire format, for the converters.
    pub fn spec(self) -> Spec {
        match self {
            WireFormat::Pcm { rate } => Spec {
                rate,
                encoding: Encoding::Pcm16,
            },
            WireFormat::Pcmu => Spec {
                rate: 8000,
                encoding: Encoding::Ulaw,
            },
            WireFormat::Pcma => Spec {
                rate: 8000,
                encoding: Encoding::Alaw,
            },
            WireFormat::Other => WireFormat::PCM24K.spec(),
        }
    }

    /// Bytes per sample on the wire.
    pub fn sample_bytes(self) -> usize {
        self.spec().encoding.bytes_per_sample()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn milliseconds_follow_the_reference() {
        let f = |v: Value| WireFormat::from_json(&v);
        assert_eq!(f(json!({"type": "audio/pcmu"})).bytes_to_ms(800), 100.0);
        assert_eq!(f(json!({"type": "audio/pcma"})).bytes_to_ms(8), 1.0);
        assert_eq!(
            f(json!({"type": "audio/pcm", "rate": 24000})).bytes_to_ms(4800),
            100.0
        );
        assert_eq!(
            f(json!({"type": "audio/pcm", "rate": 16000})).bytes_to_ms(3200),
            100.0
        );
        assert_eq!(f(json!({"type": "audio/pcm"})).bytes_to_ms(48), 1.0);
        assert_eq!(
            f(json!({"type": "audio/pcm", "rate": "x"})).bytes_to_ms(48),
            1.0
        );
        assert_eq!(f(json!({"type": "audio/other"})).bytes_to_ms(48), 1.0);
        assert_eq!(f(json!("g711_ulaw")).bytes_to_ms(8), 1.0);
        assert_eq!(f(json!("g711_whatever")).bytes_to_ms(8), 1.0);
        assert_eq!(f(json!("pcm16")).bytes_to_ms(48), 1.0);
        assert_eq!(
            f(json!("pcmu")),
            WireFormat::Other,
            "not a name any API uses"
        );
        assert_eq!(WireFormat::default().bytes_to_ms(96), 2.0);
    }

    #[test]
    fn session_configs_in_both_dialects() {
        let ga = json!({"audio": {"input": {"format": {"type": "audio/pcmu"}},
                                  "output": {"format": {"type": "audio/pcm", "rate": 24000}}}});
        assert_eq!(
            WireFormat::of_session(&ga, Dialect::Ga, Direction::Input),
            Some(WireFormat::Pcmu)
        );
        assert_eq!(
            WireFormat::of_session(&ga, Dialect::Ga, Direction::Output),
            Some(WireFormat::PCM24K)
        );
        let beta = json!({"input_audio_format": "g711_alaw", "output_audio_format": null});
        assert_eq!(
            WireFormat::of_session(&beta, Dialect::Beta, Direction::Input),
            Some(WireFormat::Pcma)
        );
        assert_eq!(
            WireFormat::of_session(&beta, Dialect::Beta, Direction::Output),
            None
        );
        assert_eq!(
            WireFormat::of_session(&json!({"instructions": "x"}), Dialect::Ga, Direction::Input),
            None
        );
    }

    #[test]
    fn specs_for_the_converters() {
        assert_eq!(WireFormat::Pcmu.spec().rate, 8000);
        assert_eq!(WireFormat::Pcm { rate: 16000 }.spec().rate, 16000);
        assert_eq!(WireFormat::Other.spec(), WireFormat::PCM24K.spec());
        assert_eq!(WireFormat::PCM24K.sample_bytes(), 2);
        assert_eq!(WireFormat::Pcma.sample_bytes(), 1);
    }
}
