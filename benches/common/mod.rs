//! What the criterion bench binaries share (`mod common;` in each).

/// Deterministic noise bytes (an LCG's high bytes): base64 of noise is as costly
/// as of speech, unlike silence, which some decoders special-case.
pub fn noise_bytes(n: usize) -> Vec<u8> {
    let mut x: u32 = 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}
