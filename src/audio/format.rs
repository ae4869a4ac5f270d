//! Audio formats as the server declares them, and the bytes -> milliseconds
//! conversion the interruption arithmetic uses (SEED_BEHAVIOUR.md 5a).

use serde_json::Value;

/// The server-side output format, from the last `session.updated`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ServerAudioFormat {
    /// `{type: "audio/pcm", rate}`: 16-bit mono at `rate` Hz.
    Pcm { rate: f64 },
    /// `audio/pcmu`, `audio/pcma`, or a beta `g711_*` string: 8 kHz, 1 byte per sample.
    G711,
    /// Anything else, or no format at all: counted as 24 kHz PCM16 (48 bytes per ms).
    #[default]
    Default,
}

impl ServerAudioFormat {
    /// Reads `audio.output.format` the way the reference does.
    pub fn from_json(format: Option<&Value>) -> Self {
        match format {
            Some(Value::Object(map)) => match map.get("type").and_then(Value::as_str) {
                Some("audio/pcmu") | Some("audio/pcma") => ServerAudioFormat::G711,
                Some("audio/pcm") => {
                    let rate = map
                        .get("rate")
                        .and_then(Value::as_f64)
                        .filter(|r| r.is_finite() && *r > 0.0)
                        .unwrap_or(24000.0);
                    ServerAudioFormat::Pcm { rate }
                }
                _ => ServerAudioFormat::Default,
            },
            Some(Value::String(s)) if s.starts_with("g711_") => ServerAudioFormat::G711,
            _ => ServerAudioFormat::Default,
        }
    }

    /// Duration in milliseconds of `bytes` of decoded audio in this format.
    pub fn bytes_to_ms(self, bytes: usize) -> f64 {
        let b = bytes as f64;
        match self {
            ServerAudioFormat::G711 => b / 8.0,
            ServerAudioFormat::Pcm { rate } => b / 2.0 / rate * 1000.0,
            ServerAudioFormat::Default => b / 48.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_follow_the_reference() {
        let f = |v: Value| ServerAudioFormat::from_json(Some(&v));
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
        assert_eq!(f(json!({"type": "audio/other"})).bytes_to_ms(48), 1.0);
        assert_eq!(f(json!("g711_ulaw")).bytes_to_ms(8), 1.0);
        assert_eq!(f(json!("pcm16")).bytes_to_ms(48), 1.0);
        assert_eq!(ServerAudioFormat::from_json(None).bytes_to_ms(96), 2.0);
    }
}
