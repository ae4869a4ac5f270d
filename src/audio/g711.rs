//! G.711 µ-law and A-law (ITU-T G.711), bit-exact with CPython's `audioop`
//! (`lin2ulaw`/`ulaw2lin`/`lin2alaw`/`alaw2lin` at width 2), which implements
//! the ITU-T segment tables: µ-law quantises the top 14 bits of a sample with
//! a bias of 33 and clips at 8158, A-law the top 13 bits.
//!
//! The kernels are branchless integer arithmetic (the segment number comes
//! from the exponent of an `f32` conversion, so there is no table lookup and
//! no `lzcnt`), which LLVM vectorises; an AVX2 build of the same code is
//! picked at run time on x86_64 (16 samples per instruction), the baseline
//! build (SSE2 / NEON) runs elsewhere. The 65,536-input and 256-code
//! exactness tests are here and in `tests/test_audio.py` (against `audioop`).

/// Bit length of `y` for `0 <= y < 2^24`, from the exponent of `y as f32`
/// (vectorises as a conversion plus shifts, unlike `leading_zeros`).
#[inline(always)]
fn bit_len(y: i32) -> i32 {
    let e = ((y as f32).to_bits() >> 23) as i32 - 126;
    e.max(0)
}

/// One sample, µ-law (audioop's `st_14linear2ulaw(x >> 2)`).
#[inline(always)]
pub fn ulaw_encode_sample(x: i16) -> u8 {
    let v = (x as i32) >> 2; // 14-bit, -8192..=8191
    let neg = v >> 31; // -1 if negative else 0
    let mag = (v ^ neg) - neg; // |v|, <= 8192
                               // audioop clips |v| at 8159 and then maps the top segment overflow to
                               // code 0x7F; clipping at 8158 gives the same code with no special case.
    let mag = mag.min(8158) + 33;
    let seg = bit_len(mag >> 6); // 0..=7
    let uval = (seg << 4) | ((mag >> (seg + 1)) & 0xF);
    // Complement all bits for a positive sample, the low 7 for a negative one.
    let mask = 0xFF ^ (neg & 0x80);
    (uval ^ mask) as u8
}

/// One code, µ-law to linear.
#[inline(always)]
pub fn ulaw_decode_sample(code: u8) -> i16 {
    let u = !(code as i32) & 0xFF;
    let t = (((u & 0xF) << 3) + 0x84) << ((u & 0x70) >> 4);
    let r = if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 };
    r as i16
}

/// One sample, A-law (audioop's `st_linear2alaw(x >> 3)`).
#[inline(always)]
pub fn alaw_encode_sample(x: i16) -> u8 {
    let v = (x as i32) >> 3; // 13-bit, -4096..=4095
    let neg = v >> 31;
    let mag = v ^ neg; // v >= 0 ? v : -v - 1, 0..=4095
    let seg = bit_len(mag >> 5); // 0..=7
    let shift = seg.max(1);
    let aval = (seg << 4) | ((mag >> shift) & 0xF);
    // Even-bit inversion; the sign bit is set for non-negative samples.
    let mask = 0xD5 ^ (neg & 0x80);
    (aval ^ mask) as u8
}

/// One code, A-law to linear.
#[inline(always)]
pub fn alaw_decode_sample(code: u8) -> i16 {
    let a = (code as i32) ^ 0x55;
    let seg = (a & 0x70) >> 4;
    let base = if seg == 0 { 8 } else { 0x108 };
    let t = (((a & 0xF) << 4) + base) << (seg - 1).max(0);
    let r = if a & 0x80 != 0 { t } else { -t };
    r as i16
}

/// Generates a public slice function that runs an AVX2 build of its loop
/// when the CPU has AVX2 and the baseline build otherwise.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident, $avx2:ident, $inp:ty, $out:ty, |$i:ident, $o:ident| $body:block) => {
        #[inline(always)]
        fn $avx2($i: $inp, $o: $out) $body

        $(#[$doc])*
        pub fn $name(input: $inp, out: $out) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2(i: $inp, o: $out) {
                    $avx2(i, o)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 was detected on this CPU.
                    return unsafe { avx2(input, out) };
                }
            }
            $avx2(input, out)
        }
    };
}

dispatch!(
    /// µ-law encodes `pcm` into `out[..pcm.len()]`.
    ///
    /// # Panics
    /// If `out` is shorter than `pcm` (a caller bug).
    ulaw_encode,
    ulaw_encode_k,
    &[i16],
    &mut [u8],
    |i, o| {
        for (d, &s) in o[..i.len()].iter_mut().zip(i) {
            *d = ulaw_encode_sample(s);
        }
    }
);

dispatch!(
    /// µ-law encodes little-endian PCM16 bytes (`pcm.len()` even) into `out[..pcm.len() / 2]`.
    ulaw_encode_le,
    ulaw_encode_le_k,
    &[u8],
    &mut [u8],
    |i, o| {
        for (d, s) in o[..i.len() / 2].iter_mut().zip(i.chunks_exact(2)) {
            *d = ulaw_encode_sample(i16::from_le_bytes([s[0], s[1]]));
        }
    }
);

dispatch!(
    /// Decodes µ-law `codes` into `out[..codes.len()]`.
    ulaw_decode,
    ulaw_decode_k,
    &[u8],
    &mut [i16],
    |i, o| {
        for (d, &c) in o[..i.len()].iter_mut().zip(i) {
            *d = ulaw_decode_sample(c);
        }
    }
);

dispatch!(
    /// Decodes µ-law `codes` into little-endian PCM16 bytes, `out[..2 * codes.len()]`.
    ulaw_decode_le,
    ulaw_decode_le_k,
    &[u8],
    &mut [u8],
    |i, o| {
        for (d, &c) in o[..i.len() * 2].chunks_exact_mut(2).zip(i) {
            d.copy_from_slice(&ulaw_decode_sample(c).to_le_bytes());
        }
    }
);

dispatch!(
    /// A-law encodes `pcm` into `out[..pcm.len()]`.
    alaw_encode,
    alaw_encode_k,
    &[i16],
    &mut [u8],
    |i, o| {
        for (d, &s) in o[..i.len()].iter_mut().zip(i) {
            *d = alaw_encode_sample(s);
        }
    }
);

dispatch!(
    /// A-law encodes little-endian PCM16 bytes (`pcm.len()` even) into `out[..pcm.len() / 2]`.
    alaw_encode_le,
    alaw_encode_le_k,
    &[u8],
    &mut [u8],
    |i, o| {
        for (d, s) in o[..i.len() / 2].iter_mut().zip(i.chunks_exact(2)) {
            *d = alaw_encode_sample(i16::from_le_bytes([s[0], s[1]]));
        }
    }
);

dispatch!(
    /// Decodes A-law `codes` into `out[..codes.len()]`.
    alaw_decode,
    alaw_decode_k,
    &[u8],
    &mut [i16],
    |i, o| {
        for (d, &c) in o[..i.len()].iter_mut().zip(i) {
            *d = alaw_decode_sample(c);
        }
    }
);

dispatch!(
    /// Decodes A-law `codes` into little-endian PCM16 bytes, `out[..2 * codes.len()]`.
    alaw_decode_le,
    alaw_decode_le_k,
    &[u8],
    &mut [u8],
    |i, o| {
        for (d, &c) in o[..i.len() * 2].chunks_exact_mut(2).zip(i) {
            d.copy_from_slice(&alaw_decode_sample(c).to_le_bytes());
        }
    }
);

/// The G.711 law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    Ulaw,
    Alaw,
}

impl Law {
    /// Encodes `pcm` into `out[..pcm.len()]`.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        match self {
            Law::Ulaw => ulaw_encode(pcm, out),
            Law::Alaw => alaw_encode(pcm, out),
        }
    }

    /// Encodes little-endian PCM16 bytes into `out[..pcm.len() / 2]`.
    pub fn encode_le(self, pcm: &[u8], out: &mut [u8]) {
        match self {
            Law::Ulaw => ulaw_encode_le(pcm, out),
            Law::Alaw => alaw_encode_le(pcm, out),
        }
    }

    /// Decodes into `out[..codes.len()]`.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) {
        match self {
            Law::Ulaw => ulaw_decode(codes, out),
            Law::Alaw => alaw_decode(codes, out),
        }
    }

    /// Decodes into little-endian PCM16 bytes, `out[..2 * codes.len()]`.
    pub fn decode_le(self, codes: &[u8], out: &mut [u8]) {
        match self {
            Law::Ulaw => ulaw_decode_le(codes, out),
            Law::Alaw => alaw_decode_le(codes, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reference: a transcription of audioop.c (Sun's g711.c), loops and all.
    const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

    fn search(v: i32, table: &[i32; 8]) -> i32 {
        table.iter().position(|&e| v <= e).unwrap_or(8) as i32
    }

    fn ref_ulaw(x: i16) -> u8 {
        let mut pcm = (x as i32) >> 2;
        let mask;
        if pcm < 0 {
            pcm = -pcm;
            mask = 0x7F;
        } else {
            mask = 0xFF;
        }
        if pcm > 8159 {
            pcm = 8159;
        }
        pcm += 0x84 >> 2;
        let seg = search(pcm, &SEG_UEND);
        if seg >= 8 {
            (0x7F ^ mask) as u8
        } else {
            (((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask) as u8
        }
    }

    fn ref_alaw(x: i16) -> u8 {
        let mut pcm = (x as i32) >> 3;
        let mask;
        if pcm >= 0 {
            mask = 0xD5;
        } else {
            mask = 0x55;
            pcm = -pcm - 1;
        }
        let seg = search(pcm, &SEG_AEND);
        if seg >= 8 {
            return (0x7F ^ mask) as u8;
        }
        let mut aval = seg << 4;
        aval |= if seg < 2 {
            (pcm >> 1) & 0xF
        } else {
            (pcm >> seg) & 0xF
        };
        (aval ^ mask) as u8
    }

    fn ref_ulaw_dec(c: u8) -> i16 {
        let u = !c;
        let mut t = (((u & 0xF) as i32) << 3) + 0x84;
        t <<= (u & 0x70) >> 4;
        (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
    }

    fn ref_alaw_dec(c: u8) -> i16 {
        let a = c ^ 0x55;
        let mut t = ((a & 0xF) as i32) << 4;
        let seg = (a & 0x70) >> 4;
        match seg {
            0 => t += 8,
            1 => t += 0x108,
            _ => {
                t += 0x108;
                t <<= seg - 1;
            }
        }
        (if a & 0x80 != 0 { t } else { -t }) as i16
    }

    #[test]
    fn encode_matches_reference_for_all_inputs() {
        let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let le: Vec<u8> = all.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut u = vec![0u8; all.len()];
        let mut a = vec![0u8; all.len()];
        ulaw_encode(&all, &mut u);
        alaw_encode(&all, &mut a);
        for (k, &x) in all.iter().enumerate() {
            assert_eq!(u[k], ref_ulaw(x), "ulaw {x}");
            assert_eq!(a[k], ref_alaw(x), "alaw {x}");
            // The baseline (non-AVX2) kernels too.
            assert_eq!(ulaw_encode_sample(x), u[k]);
            assert_eq!(alaw_encode_sample(x), a[k]);
        }
        let mut u2 = vec![0u8; all.len()];
        ulaw_encode_le(&le, &mut u2);
        assert_eq!(u, u2);
        alaw_encode_le(&le, &mut u2);
        assert_eq!(a, u2);
    }

    #[test]
    fn decode_matches_reference_for_all_codes() {
        let codes: Vec<u8> = (0..=255).collect();
        let mut u = vec![0i16; 256];
        let mut a = vec![0i16; 256];
        ulaw_decode(&codes, &mut u);
        alaw_decode(&codes, &mut a);
        let mut ub = vec![0u8; 512];
        let mut ab = vec![0u8; 512];
        ulaw_decode_le(&codes, &mut ub);
        alaw_decode_le(&codes, &mut ab);
        for c in 0..=255u8 {
            let k = c as usize;
            assert_eq!(u[k], ref_ulaw_dec(c), "ulaw {c}");
            assert_eq!(a[k], ref_alaw_dec(c), "alaw {c}");
            assert_eq!(i16::from_le_bytes([ub[2 * k], ub[2 * k + 1]]), u[k]);
            assert_eq!(i16::from_le_bytes([ab[2 * k], ab[2 * k + 1]]), a[k]);
        }
        // Known anchors of the ITU-T tables.
        assert_eq!(ulaw_decode_sample(0xFF), 0);
        assert_eq!(ulaw_decode_sample(0x00), -32124);
        assert_eq!(ulaw_decode_sample(0x80), 32124);
        assert_eq!(alaw_decode_sample(0xD5), 8);
        assert_eq!(alaw_decode_sample(0x2A), -32256);
        assert_eq!(ulaw_encode_sample(0), 0xFF);
        assert_eq!(alaw_encode_sample(0), 0xD5);
    }

    #[test]
    fn decode_encode_is_identity_on_codes() {
        for c in 0..=255u8 {
            assert_eq!(alaw_encode_sample(alaw_decode_sample(c)), c);
            let u = ulaw_encode_sample(ulaw_decode_sample(c));
            // µ-law has two zeros (0x7F, 0xFF); -0 encodes as +0.
            assert!(u == c || (c == 0x7F && u == 0xFF), "{c:#x} -> {u:#x}");
        }
    }
}
