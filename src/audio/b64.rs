//! Base64 (standard alphabet, padded) for `input_audio_buffer.append` and
//! `response.output_audio.delta`.
//!
//! Engines, chosen per direction by the criterion numbers in
//! `benches/README-audio.md` (`cargo bench --bench audio -- b64`):
//! - decode: the `base64` crate's runtime-detected SIMD engine (`simd-unsafe`:
//!   AVX2 / NEON, else its scalar engine); about 2x `base64-simd`'s decoder and
//!   7x the scalar engine on 1 s of audio.
//! - encode: `base64-simd` (runtime-detected AVX2 / SSE4.1 / NEON, else
//!   scalar); about 1.25x the `base64` SIMD encoder and 4.4x its scalar one.
//!
//! CPU features are detected at run time, so the wheel runs on any CPU.

use std::sync::LazyLock;

use base64::engine::general_purpose::PAD;
use base64::engine::Simd;
use base64::Engine as _;

/// The decode engine, detected once: AVX2/NEON if the CPU has it, else scalar.
static ENGINE: LazyLock<Simd> = LazyLock::new(|| Simd::standard(PAD));

/// Error for base64 input that is not valid standard, padded base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid base64: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Length of the base64 text for `n` input bytes.
pub fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends the base64 of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut String) {
    base64_simd::STANDARD.encode_append(input, out);
}

pub fn encode(input: &[u8]) -> String {
    let mut s = String::with_capacity(encoded_len(input.len()));
    encode_into(input, &mut s);
    s
}

/// Writes the base64 of `input` to the start of `out`, which must hold at
/// least `encoded_len(input.len())` bytes; returns the bytes written.
///
/// # Panics
/// If `out` is too small (a caller bug, never input-controlled).
pub fn encode_to_slice(input: &[u8], out: &mut [u8]) -> usize {
    let need = encoded_len(input.len());
    assert!(
        out.len() >= need,
        "encode_to_slice: output buffer too small"
    );
    base64_simd::STANDARD
        .encode(input, base64_simd::Out::from_slice(&mut out[..need]))
        .len()
}

/// Exact decoded length of well-formed padded base64 text, without decoding.
pub fn decoded_len(text: &[u8]) -> usize {
    let pad = text.iter().rev().take(2).filter(|&&c| c == b'=').count();
    (text.len() / 4) * 3 - pad.min((text.len() / 4) * 3)
}

/// Decodes into `out` (cleared first).
pub fn decode_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    ENGINE
        .decode_vec(text, out)
        .map_err(|e| DecodeError(e.to_string()))
}

pub fn decode(text: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut v = Vec::with_capacity(text.len() / 4 * 3);
    decode_into(text, &mut v)?;
    Ok(v)
}

/// Decodes into `out`, which should hold `decoded_len(text)` bytes; returns
/// the bytes written. Invalid text, or an `out` of the wrong size, is an error.
pub fn decode_to_slice(text: &[u8], out: &mut [u8]) -> Result<usize, DecodeError> {
    if text.len() % 4 != 0 {
        return Err(DecodeError(format!(
            "length {} is not a multiple of 4 (padded base64 expected)",
            text.len()
        )));
    }
    ENGINE
        .decode_slice(text, out)
        .map_err(|e| DecodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn roundtrip_all_lengths() {
        for n in 0..200usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let e = encode(&data);
            assert_eq!(e.len(), encoded_len(n));
            assert_eq!(decoded_len(e.as_bytes()), n);
            assert_eq!(decode(e.as_bytes()).expect("valid"), data);
        }
    }

    #[test]
    fn matches_scalar_engine_on_long_random_input() {
        // SIMD kernels handle 24/32-byte blocks; cover every tail length around them.
        let mut x: u32 = 12345;
        for n in (0..300).chain([4096, 4097, 4098, 48_000]) {
            let data: Vec<u8> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect();
            let e = encode(&data);
            assert_eq!(e, STANDARD.encode(&data));
            let mut buf = vec![0u8; encoded_len(n)];
            assert_eq!(encode_to_slice(&data, &mut buf), e.len());
            assert_eq!(buf, e.as_bytes());
            let mut out = vec![0u8; decoded_len(e.as_bytes())];
            assert_eq!(decode_to_slice(e.as_bytes(), &mut out), Ok(n));
            assert_eq!(out, data);
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(b"@@@@").is_err());
        assert!(decode(b"abc").is_err());
        assert!(decode(b"QUJD=").is_err());
        assert!(decode(b"QQ==QUJD").is_err());
        // Garbage deep inside a long (SIMD-path) input.
        let mut long = encode(&[7u8; 3000]).into_bytes();
        for pos in [0, 31, 32, 1000, 3999] {
            let saved = long[pos];
            long[pos] = b'*';
            assert!(decode(&long).is_err(), "pos {pos}");
            let mut out = vec![0u8; decoded_len(&long)];
            assert!(decode_to_slice(&long, &mut out).is_err());
            long[pos] = saved;
        }
        let mut small = [0u8; 1];
        assert!(decode_to_slice(b"QUJD", &mut small).is_err());
        assert!(decode_to_slice(b"QUJ", &mut small).is_err());
    }
}
