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

use std::mem::MaybeUninit;

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

/// Views bytes as little-endian sample pairs (alignment 1, length rounded down).
#[inline(always)]
fn pairs(b: &[u8]) -> &[[u8; 2]] {
    // SAFETY: [u8; 2] has size 2 and alignment 1.
    unsafe { std::slice::from_raw_parts(b.as_ptr().cast(), b.len() / 2) }
}

/// Views possibly uninitialised bytes as pairs.
#[inline(always)]
fn pairs_uninit(b: &mut [MaybeUninit<u8>]) -> &mut [MaybeUninit<[u8; 2]>] {
    // SAFETY: MaybeUninit<[u8; 2]> has size 2 and alignment 1.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast(), b.len() / 2) }
}

/// An initialised buffer as `MaybeUninit` (sound: the kernels only write
/// initialised values into it).
#[inline(always)]
fn uninit_view(b: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; only initialised values are ever written through it.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast(), b.len()) }
}

/// Generates a public slice function that runs an AVX2 build of its loop
/// when the CPU has AVX2 and the baseline build otherwise.
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis $name:ident, $avx2:ident, $inp:ty, $out:ty, |$i:ident, $o:ident| $body:block) => {
        #[inline(always)]
        fn $avx2($i: $inp, $o: $out) $body

        $(#[$doc])*
        $vis fn $name(input: $inp, out: $out) {
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
    pub ulaw_encode,
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
    /// µ-law encodes little-endian PCM16 bytes (`pcm.len()` even) into
    /// `out[..pcm.len() / 2]`, which may be uninitialised (e.g. a new Python
    /// `bytes`); those elements are initialised on return.
    pub ulaw_encode_le_uninit,
    ulaw_encode_le_k,
    &[u8],
    &mut [MaybeUninit<u8>],
    |i, o| {
        for (d, s) in o[..i.len() / 2].iter_mut().zip(pairs(i)) {
            d.write(ulaw_encode_sample(i16::from_le_bytes(*s)));
        }
    }
);

/// µ-law encodes little-endian PCM16 bytes (`pcm.len()` even) into `out[..pcm.len() / 2]`.
pub fn ulaw_encode_le(pcm: &[u8], out: &mut [u8]) {
    ulaw_encode_le_uninit(pcm, uninit_view(out))
}

dispatch!(
    /// The portable (auto-vectorised) decoder, for tails and non-AVX2 CPUs.
    ulaw_decode_pairs,
    ulaw_decode_pairs_k,
    &[u8],
    &mut [MaybeUninit<[u8; 2]>],
    |i, o| {
        for (d, &c) in o[..i.len()].iter_mut().zip(i) {
            d.write(ulaw_decode_sample(c).to_le_bytes());
        }
    }
);

/// Decodes µ-law `codes` into `out[..codes.len()]`.
pub fn ulaw_decode(codes: &[u8], out: &mut [i16]) {
    Law::Ulaw.decode(codes, out)
}

/// Decodes µ-law `codes` into little-endian PCM16 bytes, `out[..2 * codes.len()]`,
/// which may be uninitialised; those elements are initialised on return.
pub fn ulaw_decode_le_uninit(codes: &[u8], out: &mut [MaybeUninit<u8>]) {
    Law::Ulaw.decode_le_uninit(codes, out)
}

/// Decodes µ-law `codes` into little-endian PCM16 bytes, `out[..2 * codes.len()]`.
pub fn ulaw_decode_le(codes: &[u8], out: &mut [u8]) {
    Law::Ulaw.decode_le(codes, out)
}

dispatch!(
    /// A-law encodes `pcm` into `out[..pcm.len()]`.
    pub alaw_encode,
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
    /// A-law encodes little-endian PCM16 bytes (`pcm.len()` even) into
    /// `out[..pcm.len() / 2]`, which may be uninitialised (e.g. a new Python
    /// `bytes`); those elements are initialised on return.
    pub alaw_encode_le_uninit,
    alaw_encode_le_k,
    &[u8],
    &mut [MaybeUninit<u8>],
    |i, o| {
        for (d, s) in o[..i.len() / 2].iter_mut().zip(pairs(i)) {
            d.write(alaw_encode_sample(i16::from_le_bytes(*s)));
        }
    }
);

/// A-law encodes little-endian PCM16 bytes (`pcm.len()` even) into `out[..pcm.len() / 2]`.
pub fn alaw_encode_le(pcm: &[u8], out: &mut [u8]) {
    alaw_encode_le_uninit(pcm, uninit_view(out))
}

dispatch!(
    /// The portable (auto-vectorised) decoder, for tails and non-AVX2 CPUs.
    alaw_decode_pairs,
    alaw_decode_pairs_k,
    &[u8],
    &mut [MaybeUninit<[u8; 2]>],
    |i, o| {
        for (d, &c) in o[..i.len()].iter_mut().zip(i) {
            d.write(alaw_decode_sample(c).to_le_bytes());
        }
    }
);

/// Decodes A-law `codes` into `out[..codes.len()]`.
pub fn alaw_decode(codes: &[u8], out: &mut [i16]) {
    Law::Alaw.decode(codes, out)
}

/// Decodes A-law `codes` into little-endian PCM16 bytes, `out[..2 * codes.len()]`,
/// which may be uninitialised; those elements are initialised on return.
pub fn alaw_decode_le_uninit(codes: &[u8], out: &mut [MaybeUninit<u8>]) {
    Law::Alaw.decode_le_uninit(codes, out)
}

/// Decodes A-law `codes` into little-endian PCM16 bytes, `out[..2 * codes.len()]`.
pub fn alaw_decode_le(codes: &[u8], out: &mut [u8]) {
    Law::Alaw.decode_le(codes, out)
}

/// Decodes `codes` into `out[..codes.len()]` (LE sample pairs): the AVX2
/// kernel for whole blocks of 16 codes when the CPU has it, the portable one
/// for the rest.
fn decode_pairs(law: Law, codes: &[u8], out: &mut [MaybeUninit<[u8; 2]>]) {
    let out = &mut out[..codes.len()];
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected; `out` holds `codes.len()` pairs.
        done = unsafe { decode_avx2(law, codes, out) };
    }
    let (codes, out) = (&codes[done..], &mut out[done..]);
    match law {
        Law::Ulaw => ulaw_decode_pairs(codes, out),
        Law::Alaw => alaw_decode_pairs(codes, out),
    }
}

/// G.711 decoding 16 codes per step in 16-bit lanes: segment (exponent)
/// scaling as a multiply by a power of two looked up with `vpshufb`, which
/// AVX2 can do in 16-bit lanes (it has no 16-bit variable shift). Returns the
/// number of codes decoded (a multiple of 16).
///
/// µ-law: `u = !code`, `|x| = ((mant << 3) + 0x84) << seg) - 0x84`, negative if `u & 0x80`.
/// A-law: `a = code ^ 0x55`, `|x| = ((mant << 4) + (seg ? 0x108 : 8)) << max(seg - 1, 0)`,
/// negative unless `a & 0x80`. (Both checked against every code in the tests.)
///
/// # Safety
/// The CPU must have AVX2; `out.len() >= codes.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn decode_avx2(law: Law, codes: &[u8], out: &mut [MaybeUninit<[u8; 2]>]) -> usize {
    use std::arch::x86_64::*;
    let n = codes.len() / 16 * 16;
    debug_assert!(out.len() >= n);
    let (src, dst) = (codes.as_ptr(), out.as_mut_ptr().cast::<u8>());
    // Index bytes with bit 7 set make vpshufb return 0: the high byte of each
    // 16-bit lane gets 0, the low byte the table entry.
    let hi_zero = _mm256_set1_epi16(0x8000u16 as i16);
    let seven = _mm256_set1_epi16(7);
    let fifteen = _mm256_set1_epi16(15);
    let sign = _mm256_set1_epi16(0x80);
    let mut i = 0;
    match law {
        Law::Ulaw => {
            let pow2 = _mm256_setr_epi8(
                1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, -128,
                0, 0, 0, 0, 0, 0, 0, 0,
            );
            let bias = _mm256_set1_epi16(0x84);
            let ff = _mm256_set1_epi16(0xFF);
            while i < n {
                let c = _mm_loadu_si128(src.add(i).cast());
                let u = _mm256_xor_si256(_mm256_cvtepu8_epi16(c), ff);
                let mant = _mm256_and_si256(u, fifteen);
                let seg = _mm256_and_si256(_mm256_srli_epi16(u, 4), seven);
                let mult = _mm256_shuffle_epi8(pow2, _mm256_or_si256(seg, hi_zero));
                let t =
                    _mm256_mullo_epi16(_mm256_add_epi16(_mm256_slli_epi16(mant, 3), bias), mult);
                let mag = _mm256_sub_epi16(t, bias);
                // -1 where negative (u & 0x80), else 0; x = (mag ^ m) - m.
                let m = _mm256_cmpeq_epi16(_mm256_and_si256(u, sign), sign);
                let x = _mm256_sub_epi16(_mm256_xor_si256(mag, m), m);
                _mm256_storeu_si256(dst.add(2 * i).cast(), x);
                i += 16;
            }
        }
        Law::Alaw => {
            let pow2 = _mm256_setr_epi8(
                1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 4, 8, 16, 32, 64, 0, 0,
                0, 0, 0, 0, 0, 0,
            );
            let x55 = _mm256_set1_epi16(0x55);
            let eight = _mm256_set1_epi16(8);
            let x100 = _mm256_set1_epi16(0x100);
            let zero = _mm256_setzero_si256();
            while i < n {
                let c = _mm_loadu_si128(src.add(i).cast());
                let a = _mm256_xor_si256(_mm256_cvtepu8_epi16(c), x55);
                let mant = _mm256_and_si256(a, fifteen);
                let seg = _mm256_and_si256(_mm256_srli_epi16(a, 4), seven);
                let mult = _mm256_shuffle_epi8(pow2, _mm256_or_si256(seg, hi_zero));
                // base = 8 for segment 0, 0x108 otherwise.
                let seg_nz = _mm256_andnot_si256(_mm256_cmpeq_epi16(seg, zero), x100);
                let base = _mm256_add_epi16(eight, seg_nz);
                let t =
                    _mm256_mullo_epi16(_mm256_add_epi16(_mm256_slli_epi16(mant, 4), base), mult);
                // -1 where negative (sign bit clear), else 0.
                let m = _mm256_cmpeq_epi16(_mm256_and_si256(a, sign), zero);
                let x = _mm256_sub_epi16(_mm256_xor_si256(t, m), m);
                _mm256_storeu_si256(dst.add(2 * i).cast(), x);
                i += 16;
            }
        }
    }
    n
}

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

    /// [`Law::encode_le`] into possibly uninitialised memory.
    pub fn encode_le_uninit(self, pcm: &[u8], out: &mut [MaybeUninit<u8>]) {
        match self {
            Law::Ulaw => ulaw_encode_le_uninit(pcm, out),
            Law::Alaw => alaw_encode_le_uninit(pcm, out),
        }
    }

    /// Decodes into `out[..codes.len()]`.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) {
        let out = &mut out[..codes.len()];
        if cfg!(target_endian = "little") {
            // SAFETY: on little-endian targets an i16 is its LE bytes; [u8; 2] has
            // alignment 1 <= i16's; only initialised values are written.
            let pairs = unsafe {
                std::slice::from_raw_parts_mut(
                    out.as_mut_ptr().cast::<MaybeUninit<[u8; 2]>>(),
                    out.len(),
                )
            };
            decode_pairs(self, codes, pairs);
        } else {
            let sample = match self {
                Law::Ulaw => ulaw_decode_sample,
                Law::Alaw => alaw_decode_sample,
            };
            for (d, &c) in out.iter_mut().zip(codes) {
                *d = sample(c);
            }
        }
    }

    /// Decodes into little-endian PCM16 bytes, `out[..2 * codes.len()]`.
    pub fn decode_le(self, codes: &[u8], out: &mut [u8]) {
        self.decode_le_uninit(codes, uninit_view(out))
    }

    /// [`Law::decode_le`] into possibly uninitialised memory.
    pub fn decode_le_uninit(self, codes: &[u8], out: &mut [MaybeUninit<u8>]) {
        decode_pairs(self, codes, pairs_uninit(&mut out[..codes.len() * 2]));
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
    fn simd_and_portable_decoders_agree_on_any_length() {
        // Every code at every position of a 16-code SIMD block, plus tails.
        let codes: Vec<u8> = (0..1000u32).map(|i| (i * 37 + i / 256) as u8).collect();
        for n in [0, 1, 15, 16, 17, 255, 256, 257, 999] {
            for start in [0, 1, 3] {
                let c = &codes[start..start + n.min(codes.len() - start)];
                let mut u = vec![0i16; c.len()];
                let mut a = vec![0i16; c.len()];
                let mut ub = vec![0u8; 2 * c.len()];
                ulaw_decode(c, &mut u);
                alaw_decode(c, &mut a);
                ulaw_decode_le(c, &mut ub);
                for (k, &code) in c.iter().enumerate() {
                    assert_eq!(u[k], ref_ulaw_dec(code), "ulaw {code} n {n}");
                    assert_eq!(a[k], ref_alaw_dec(code), "alaw {code} n {n}");
                    assert_eq!(i16::from_le_bytes([ub[2 * k], ub[2 * k + 1]]), u[k]);
                }
            }
        }
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
