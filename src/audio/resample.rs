//! Streaming, stateful polyphase resampling for any rational rate pair.
//!
//! # Design (measured choices: `benches/README-audio.md`)
//!
//! One linear-phase FIR low-pass (Kaiser-windowed sinc, designed once per
//! `(up, down, quality)` and shared by every stream through an `Arc` cache) is
//! applied in polyphase form: for the reduced ratio `L/M`, output `k` sits at
//! high-rate time `n = k·M + D` (`D` = the filter's group delay, so output is
//! time-aligned with input, like libsoxr's), uses phase `n mod L` and the
//! `T` input samples ending at `n div L`.
//!
//! - **Exact streaming.** Every output sample is one fixed sequence of
//!   floating-point operations over the same input values, whatever the chunk
//!   boundaries; the concatenation of streamed output is *bit-identical* to a
//!   one-shot `process(all) + flush()` (float32 and int16), which the tests
//!   check for random chunkings.
//! - **No buffering beyond the filter.** An output is produced as soon as the
//!   last input sample it depends on has arrived; the only latency is the
//!   filter's group delay ([`Resampler::delay_ms`]): `High` 4.3 ms at 24↔48 kHz,
//!   6.4 ms at 16↔24 kHz, 12.8 ms at 8↔24 kHz; `LowLatency` 1.6 / 2.4 / 4.8 ms.
//!   (libsoxr's streaming HQ emits in 30-80 ms bursts at 20 ms chunks.)
//! - **Kernels.** For small ratios (`L, M <= 4`: every pair among 8, 16, 24,
//!   32 and 48 kHz) outputs of one phase are computed eight at a time in SIMD
//!   lanes, each lane a sequential FMA chain over the taps; with `M = 1` all
//!   phases share the input loads. The input is de-interleaved by `M` so each
//!   lane load is contiguous. For the 147/160-type ratios (22.05, 44.1 kHz) a
//!   per-output dot product with four vector accumulators is used. AVX2+FMA
//!   kernels are picked at run time on x86_64; the portable build (SSE2, NEON
//!   by auto-vectorisation) runs elsewhere.

use std::sync::{Arc, Mutex};

/// Resampling quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Flat (< 0.001 dB) to 91 % of the lower Nyquist frequency, >= 140 dB
    /// stopband from 100 %: at least libsoxr's default `HQ` on every measure.
    High,
    /// Flat to 80 % of the lower Nyquist, >= 100 dB stopband (beyond int16's
    /// 96 dB), about a third of `High`'s group delay and cost.
    LowLatency,
}

impl Quality {
    /// (passband end, stopband start) as fractions of the lower Nyquist
    /// frequency, and the design attenuation in dB.
    fn params(self) -> (f64, f64, f64) {
        match self {
            Quality::High => (0.91, 1.0, 140.0),
            Quality::LowLatency => (0.80, 1.0, 100.0),
        }
    }

    /// Parses `"hq"` / `"high"` / `"low_latency"` / `"ll"` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hq" | "high" => Ok(Quality::High),
            "low_latency" | "ll" | "lowlatency" => Ok(Quality::LowLatency),
            _ => Err(format!(
                "unknown resampler quality {s:?}; expected 'hq' or 'low_latency'"
            )),
        }
    }
}

/// Largest supported reduced up-factor and coefficient count (memory bound).
const MAX_UP: u64 = 4096;
const MAX_COEFS: usize = 1 << 22;
/// Lanes per SIMD block and blocks per unrolled step of the lane kernel.
const LANES: usize = 8;
const PAD: usize = 8 * LANES;

/// A designed polyphase filter, shared between streams.
pub struct Filter {
    up: usize,
    down: usize,
    /// Taps per phase (a multiple of 8).
    taps: usize,
    /// Group delay in high-rate samples.
    delay: u64,
    /// `coefs[p * taps + t]` multiplies input `i0 - taps + 1 + t` for phase `p`.
    coefs: Vec<f32>,
    /// Lane kernel (small ratios) or dot-product kernel.
    lanes: bool,
    /// The lane kernel's tap order is outermost taps first, the centre last:
    /// a lane is one sequential FMA chain, and summing the small tail terms
    /// while the running sum is still small, the few large central ones last,
    /// keeps float32 rounding ~15 dB lower than index order (measured: THD+N
    /// 128-131 dB -> 144-145 dB at 48->24 and 24->8 kHz).
    /// `order_dm[i] = (order[i] / down, order[i] % down)`, for division-free lane offsets.
    order_dm: Vec<(u32, u32)>,
    /// `lane_coefs[p * taps + i] = coefs[p * taps + order[i]]`.
    lane_coefs: Vec<f32>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..500 {
        term *= q / (k as f64 * k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

impl Filter {
    fn design(
        up: usize,
        down: usize,
        in_rate: u32,
        out_rate: u32,
        q: Quality,
    ) -> Result<Self, String> {
        let (pass, stop, atten) = q.params();
        let l = up as f64;
        let fs_high = in_rate as f64 * l;
        let nyq_low = in_rate.min(out_rate) as f64 / 2.0;
        let (fp, fstop) = (pass * nyq_low, stop * nyq_low);
        let fc = (fp + fstop) / 2.0 / fs_high; // cycles per high-rate sample
        let dw = 2.0 * std::f64::consts::PI * (fstop - fp) / fs_high;
        // Kaiser's estimate, with 4 % headroom measured to reach `atten`.
        let n_est = ((atten - 7.95) / (2.285 * dw) * 1.04).ceil() as usize + 1;
        // Odd length (integer delay), with the delay a multiple of `up` so that
        // with `down == 1` all phases of an input position share one window.
        let half = n_est.div_ceil(2).div_ceil(up) * up;
        let n = 2 * half + 1;
        let taps = n.div_ceil(up).div_ceil(8) * 8;
        if taps * up > MAX_COEFS {
            return Err(format!(
                "resampling {in_rate} -> {out_rate} Hz needs {} filter coefficients (limit {MAX_COEFS})",
                taps * up
            ));
        }
        let beta = if atten > 50.0 {
            0.1102 * (atten - 8.7)
        } else {
            0.5842 * (atten - 21.0).powf(0.4) + 0.07886 * (atten - 21.0)
        };
        let d = half as f64;
        let i0b = bessel_i0(beta);
        let mut h = vec![0.0f64; taps * up];
        let mut sum = 0.0;
        for (i, v) in h.iter_mut().enumerate().take(n) {
            let t = i as f64 - d;
            let arg = 2.0 * fc * t;
            let sinc = if t == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
            };
            let r = t / d;
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
            *v = 2.0 * fc * sinc * w;
            sum += *v;
        }
        let gain = l / sum;
        let mut coefs = vec![0.0f32; taps * up];
        for p in 0..up {
            for j in 0..taps {
                coefs[p * taps + taps - 1 - j] = (h[p + j * up] * gain) as f32;
            }
        }
        let lanes = up <= 4 && down <= 4;
        let mut order: Vec<usize> = (0..taps).collect();
        let mut lane_coefs = Vec::new();
        if lanes {
            // Distance of tap t from the prototype's centre, in input samples
            // (phases differ by under one sample; one order serves them all).
            let centre = taps as f64 - 1.0 - d / up as f64;
            order.sort_by(|&a, &b| {
                let (da, db) = ((a as f64 - centre).abs(), (b as f64 - centre).abs());
                db.total_cmp(&da).then(a.cmp(&b))
            });
            lane_coefs = (0..up)
                .flat_map(|p| order.iter().map(move |&t| (p, t)))
                .map(|(p, t)| coefs[p * taps + t])
                .collect();
        }
        let order_dm = order
            .iter()
            .map(|&j| ((j / down) as u32, (j % down) as u32))
            .collect();
        Ok(Filter {
            up,
            down,
            taps,
            delay: half as u64,
            coefs,
            lanes,
            order_dm,
            lane_coefs,
        })
    }

    fn phase(&self, p: usize) -> &[f32] {
        &self.coefs[p * self.taps..(p + 1) * self.taps]
    }

    fn lane_phase(&self, p: usize) -> &[f32] {
        &self.lane_coefs[p * self.taps..(p + 1) * self.taps]
    }
}

type CacheKey = (usize, usize, u32, u32, Quality);

/// Filters already designed, shared by all streams (the 44.1 kHz ones hold
/// ~100k coefficients; a thousand sessions share one copy).
fn cached_filter(key: CacheKey) -> Result<Arc<Filter>, String> {
    static CACHE: Mutex<Vec<(CacheKey, Arc<Filter>)>> = Mutex::new(Vec::new());
    // A poisoned lock only means another thread panicked mid-design; the Vec is still valid.
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    // The filter depends on (up, down, rates) only through the normalised
    // band edges, which are the same for equal reduced ratios and equal
    // lower rate; key by all of them for simplicity.
    if let Some((_, f)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(f.clone());
    }
    let (up, down, a, b, q) = key;
    let f = Arc::new(Filter::design(up, down, a, b, q)?);
    cache.push((key, f.clone()));
    Ok(f)
}

/// A streaming resampler for interleaved frames of `channels` samples.
///
/// Samples are processed as `f32`; int16 is scaled by 1/32768 on the way in
/// and rounded (ties to even) and clamped on the way out.
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    quality: Quality,
    /// `None` when `in_rate == out_rate` (pass-through).
    filter: Option<Arc<Filter>>,
    /// Per-channel input history; `hist[c][0]` is input frame `base`.
    hist: Vec<Vec<f32>>,
    base: i64,
    /// Input frames received since the last reset.
    n_in: u64,
    /// Index of the next output frame.
    k_next: u64,
    // Scratch, kept to avoid allocating per call.
    xs: Vec<f32>,
    offs: Vec<usize>,
    /// Output of the last `pull` (pass-through: input pushed since then).
    tmp: Vec<f32>,
    pulled: bool,
    last_len: usize,
}

impl Resampler {
    /// A resampler from `in_rate` to `out_rate` Hz for `channels` interleaved channels.
    pub fn new(
        in_rate: u32,
        out_rate: u32,
        channels: usize,
        quality: Quality,
    ) -> Result<Self, String> {
        if in_rate == 0 || out_rate == 0 || in_rate > 1_000_000 || out_rate > 1_000_000 {
            return Err(format!(
                "sample rates must be 1..=1000000 Hz, got {in_rate} -> {out_rate}"
            ));
        }
        if channels == 0 || channels > 64 {
            return Err(format!("channels must be 1..=64, got {channels}"));
        }
        let g = gcd(in_rate as u64, out_rate as u64);
        let (up, down) = (out_rate as u64 / g, in_rate as u64 / g);
        if up > MAX_UP {
            return Err(format!(
                "unsupported rate ratio {in_rate} -> {out_rate} Hz (reduced up-factor {up} > {MAX_UP})"
            ));
        }
        let filter = if up == down {
            None
        } else {
            Some(cached_filter((
                up as usize,
                down as usize,
                in_rate,
                out_rate,
                quality,
            ))?)
        };
        let mut r = Resampler {
            in_rate,
            out_rate,
            channels,
            quality,
            filter,
            hist: vec![Vec::new(); channels],
            base: 0,
            n_in: 0,
            k_next: 0,
            xs: Vec::new(),
            offs: Vec::new(),
            tmp: Vec::new(),
            pulled: false,
            last_len: 0,
        };
        r.reset();
        Ok(r)
    }

    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }
    pub fn channels(&self) -> usize {
        self.channels
    }
    pub fn quality(&self) -> Quality {
        self.quality
    }

    /// Group delay (latency) in milliseconds: how far output lags the input
    /// that produced it. 0 for pass-through.
    pub fn delay_ms(&self) -> f64 {
        match &self.filter {
            Some(f) => f.delay as f64 / (f.up as f64 * self.in_rate as f64) * 1000.0,
            None => 0.0,
        }
    }

    /// Filter taps per output sample (cost measure).
    pub fn taps(&self) -> usize {
        self.filter.as_ref().map_or(1, |f| f.taps)
    }

    /// Drops all state; the next `process` starts a new stream.
    pub fn reset(&mut self) {
        self.reset_state();
        self.tmp.clear();
        self.pulled = false;
        self.last_len = 0;
    }

    fn reset_state(&mut self) {
        let taps = self.filter.as_ref().map_or(0, |f| f.taps);
        for h in &mut self.hist {
            h.clear();
            h.resize(taps, 0.0);
        }
        self.base = -(taps as i64);
        self.n_in = 0;
        self.k_next = 0;
    }

    /// Upper bound of output frames produced by `process` of `frames` more input frames.
    pub fn max_output_frames(&self, frames: usize) -> usize {
        match &self.filter {
            None => frames,
            Some(f) => {
                let total = (self.n_in + frames as u64) * f.up as u64;
                (total.div_ceil(f.down as u64)).saturating_sub(self.k_next) as usize + 1
            }
        }
    }

    /// Output frames that `flush` would add now.
    pub fn pending_flush_frames(&self) -> usize {
        match &self.filter {
            None => 0,
            Some(f) => {
                let total = (self.n_in * f.up as u64).div_ceil(f.down as u64);
                total.saturating_sub(self.k_next) as usize
            }
        }
    }

    fn check_len(&self, n: usize) -> Result<usize, String> {
        if n % self.channels != 0 {
            return Err(format!(
                "got {n} samples, not a whole number of {}-channel frames",
                self.channels
            ));
        }
        Ok(n / self.channels)
    }

    /// Appends interleaved float32 frames to the stream (see [`Resampler::pull`]).
    pub fn push_f32(&mut self, input: &[f32]) -> Result<(), String> {
        let frames = self.check_len(input.len())?;
        let ch = self.channels;
        self.push(frames, |c, i| input[i * ch + c]);
        Ok(())
    }

    /// Appends interleaved little-endian float32 bytes (any alignment).
    pub fn push_f32_le(&mut self, input: &[u8]) -> Result<(), String> {
        if input.len() % 4 != 0 {
            return Err(format!(
                "float32 audio needs a multiple of 4 bytes, got {}",
                input.len()
            ));
        }
        let frames = self.check_len(input.len() / 4)?;
        let ch = self.channels;
        self.push(frames, |c, i| {
            let k = 4 * (i * ch + c);
            f32::from_le_bytes([input[k], input[k + 1], input[k + 2], input[k + 3]])
        });
        Ok(())
    }

    /// Appends interleaved int16 frames.
    pub fn push_i16(&mut self, input: &[i16]) -> Result<(), String> {
        let frames = self.check_len(input.len())?;
        let ch = self.channels;
        self.push(frames, |c, i| input[i * ch + c] as f32 * (1.0 / 32768.0));
        Ok(())
    }

    /// Appends interleaved little-endian PCM16 bytes (any alignment).
    pub fn push_i16_le(&mut self, input: &[u8]) -> Result<(), String> {
        if input.len() % 2 != 0 {
            return Err(format!(
                "PCM16 needs an even number of bytes, got {}",
                input.len()
            ));
        }
        let frames = self.check_len(input.len() / 2)?;
        let ch = self.channels;
        self.push(frames, |c, i| {
            let k = 2 * (i * ch + c);
            i16::from_le_bytes([input[k], input[k + 1]]) as f32 * (1.0 / 32768.0)
        });
        Ok(())
    }

    /// Computes every output frame the pushed input allows and returns them
    /// (interleaved float32, valid until the next call). With `flush`, the
    /// input is taken to end here, followed by silence: the stream's total
    /// output becomes `ceil(n_in * out_rate / in_rate)` frames, and the
    /// resampler resets for a new stream.
    pub fn pull(&mut self, flush: bool) -> &[f32] {
        let n = if self.filter.is_some() {
            self.compute(flush)
        } else {
            // Pass-through: `tmp` holds what was pushed since the last pull.
            if self.pulled {
                self.tmp.clear();
            }
            self.tmp.len() / self.channels
        };
        if flush {
            self.reset_state();
        }
        self.pulled = true;
        self.last_len = n * self.channels;
        &self.tmp[..self.last_len]
    }

    /// The output of the last [`Resampler::pull`] again.
    pub fn last_output(&self) -> &[f32] {
        &self.tmp[..self.last_len.min(self.tmp.len())]
    }

    /// Resamples interleaved float32 frames, appending the output to `out`.
    pub fn process_f32(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        self.push_f32(input)?;
        out.extend_from_slice(self.pull(false));
        Ok(())
    }

    /// Resamples interleaved int16 frames, appending the output to `out`.
    pub fn process_i16(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<(), String> {
        self.push_i16(input)?;
        out.extend(self.pull(false).iter().map(|&v| f32_to_i16(v)));
        Ok(())
    }

    /// Resamples little-endian PCM16 bytes, appending little-endian PCM16 to `out`.
    pub fn process_i16_le(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.push_i16_le(input)?;
        for &v in self.pull(false) {
            out.extend_from_slice(&f32_to_i16(v).to_le_bytes());
        }
        Ok(())
    }

    /// Ends the stream: emits the remaining output (the input is taken to be
    /// followed by silence) so that the total output is `ceil(n_in * out/in)`
    /// frames, then resets.
    pub fn flush_f32(&mut self, out: &mut Vec<f32>) {
        out.extend_from_slice(self.pull(true));
    }

    /// `flush_f32` for int16 output.
    pub fn flush_i16(&mut self, out: &mut Vec<i16>) {
        out.extend(self.pull(true).iter().map(|&v| f32_to_i16(v)));
    }

    /// `flush_f32` for little-endian PCM16 output.
    pub fn flush_i16_le(&mut self, out: &mut Vec<u8>) {
        for &v in self.pull(true) {
            out.extend_from_slice(&f32_to_i16(v).to_le_bytes());
        }
    }

    fn push(&mut self, frames: usize, get: impl Fn(usize, usize) -> f32) {
        if self.filter.is_none() {
            if self.pulled {
                self.tmp.clear();
                self.pulled = false;
            }
            let ch = self.channels;
            self.tmp
                .extend((0..frames * ch).map(|k| get(k % ch, k / ch)));
            return;
        }
        for (c, h) in self.hist.iter_mut().enumerate() {
            h.reserve(frames);
            h.extend((0..frames).map(|i| get(c, i)));
        }
        self.n_in += frames as u64;
    }

    /// Computes every output frame whose input is available (all remaining
    /// ones if `flush`) into `self.tmp` (interleaved); returns the frame count.
    fn compute(&mut self, flush: bool) -> usize {
        let Some(f) = self.filter.clone() else {
            return 0;
        };
        let (l, m, t) = (f.up as u64, f.down as u64, f.taps);
        let avail = self.n_in;
        let k_end = if flush {
            let total = (avail * l).div_ceil(m);
            // Pad with silence up to the last output's window.
            if total > 0 {
                let last_i0 = ((total - 1) * m + f.delay) / l;
                let have = (self.base + self.hist[0].len() as i64) as u64;
                if last_i0 + 1 > have {
                    let extra = (last_i0 + 1 - have) as usize;
                    for h in &mut self.hist {
                        h.resize(h.len() + extra, 0.0);
                    }
                }
            }
            total
        } else {
            // Outputs with (k*M + D) div L <= avail - 1.
            let lim = (avail * l).checked_sub(1 + f.delay);
            match lim {
                Some(v) => v / m + 1,
                None => 0,
            }
        };
        let k0 = self.k_next;
        if k_end <= k0 {
            return 0;
        }
        let n = (k_end - k0) as usize;
        let ch = self.channels;
        self.tmp.clear();
        self.tmp.resize(n * ch, 0.0);
        let hist_len = self.hist[0].len();
        for c in 0..ch {
            if f.lanes {
                lane_compute(
                    &f,
                    &self.hist[c],
                    self.base,
                    k0,
                    n,
                    &mut self.xs,
                    &mut self.offs,
                    &mut self.tmp,
                    c,
                    ch,
                );
            } else {
                let h = &self.hist[c];
                let mut nh = k0 * m + f.delay;
                for q in 0..n {
                    let i0 = (nh / l) as i64;
                    let p = (nh % l) as usize;
                    let s = (i0 - t as i64 + 1 - self.base) as usize;
                    self.tmp[q * ch + c] = dot(f.phase(p), &h[s..s + t]);
                    nh += m;
                }
            }
        }
        debug_assert!(hist_len == self.hist[0].len());
        self.k_next = k_end;
        // Keep the window of the next output.
        let next_i0 = ((k_end * m + f.delay) / l) as i64;
        let keep_from = next_i0 - t as i64 + 1;
        let drop = (keep_from - self.base).clamp(0, hist_len as i64) as usize;
        if drop > 0 {
            for h in &mut self.hist {
                h.drain(..drop);
            }
            self.base += drop as i64;
        }
        n
    }
}

/// Float in [-1, 1] to int16: scale by 32768, round half to even, clamp (NaN -> 0).
#[inline(always)]
pub fn f32_to_i16(v: f32) -> i16 {
    let x = v * 32768.0;
    // Adding and removing 1.5 * 2^23 rounds to nearest-even for |x| < 2^22.
    let r = (x.clamp(-32768.0, 32767.0) + 12_582_912.0) - 12_582_912.0;
    r as i16
}

/// The lane kernel driver: groups outputs by phase; each group's lanes read
/// contiguous input from the input de-interleaved by `M`.
#[allow(clippy::too_many_arguments)]
fn lane_compute(
    f: &Filter,
    hist: &[f32],
    base: i64,
    k0: u64,
    n: usize,
    xs: &mut Vec<f32>,
    offs: &mut Vec<usize>,
    out: &mut [f32],
    c: usize,
    ch: usize,
) {
    let (l, m, t) = (f.up, f.down, f.taps);
    // De-interleave the history into `m` streams with zero padding for the
    // lanes past the last output of a block.
    let s_len = hist.len().div_ceil(m) + PAD;
    xs.clear();
    xs.resize(m * s_len, 0.0);
    if m == 1 {
        xs[..hist.len()].copy_from_slice(hist);
    } else {
        for (q, frame) in hist.chunks(m).enumerate() {
            for (r, &v) in frame.iter().enumerate() {
                xs[r * s_len + q] = v;
            }
        }
    }
    let mut res = [0.0f32; 4 * RES_STRIDE];
    // Output classes: k ≡ k0 + rho (mod L), rho = 0..L; each is one phase
    // with windows advancing by M per output. Classes whose windows start at
    // the same input sample (all of them when M == 1, as D is a multiple of
    // L) share the input loads: group them, up to 4.
    let classes = l.min(n);
    let mut info: Vec<(usize, usize, usize)> = (0..classes)
        .map(|rho| {
            let nh = (k0 + rho as u64) * m as u64 + f.delay;
            let i0 = (nh / l as u64) as i64;
            let s0 = (i0 - t as i64 + 1 - base) as usize; // window start in hist
            (s0, rho, (nh % l as u64) as usize)
        })
        .collect();
    info.sort_unstable();
    let mut gi = 0;
    while gi < info.len() {
        let s0 = info[gi].0;
        let mut ge = gi + 1;
        while ge < info.len() && ge - gi < 4 && info[ge].0 == s0 {
            ge += 1;
        }
        let group = &info[gi..ge];
        // Lane offsets of each tap, in the kernel's tap order, without divisions.
        let (sd, sr) = (s0 / m, s0 % m);
        offs.clear();
        offs.extend(f.order_dm.iter().map(|&(jd, jr)| {
            let r = sr + jr as usize;
            let (r, carry) = if r >= m { (r - m, 1) } else { (r, 0) };
            r * s_len + sd + jd as usize + carry
        }));
        let mut phases: [&[f32]; 4] = [&[]; 4];
        for (ph, &(_, _, p)) in phases.iter_mut().zip(group) {
            *ph = f.lane_phase(p);
        }
        let phases = &phases[..group.len()];
        let max_off = offs.iter().copied().max().unwrap_or(0);
        let count = (n - group[0].1).div_ceil(l); // the most outputs of any class in the group
        let per_call = LANES * max_blocks(group.len());
        let mut q = 0;
        while q < count {
            let nq = (count - q).min(per_call);
            lanes(xs, offs, max_off, q, phases, nq, &mut res);
            for (g, &(_, rho, _)) in group.iter().enumerate() {
                let first = rho + q * l;
                if first >= n {
                    continue;
                }
                let valid = (n - first).div_ceil(l).min(nq);
                let r = &res[g * RES_STRIDE..g * RES_STRIDE + valid];
                for (d, &v) in out[first * ch + c..].iter_mut().step_by(l * ch).zip(r) {
                    *d = v;
                }
            }
            q += nq;
        }
        gi = ge;
    }
}

/// Output lanes per phase in one `lanes` call, and the stride of `res`.
const RES_STRIDE: usize = 8 * LANES;

/// Vector blocks per phase that keep the AVX2 kernel within 16 registers
/// (`phases * blocks` accumulators, one broadcast per phase, one input vector).
fn max_blocks(phases: usize) -> usize {
    match phases {
        1 => 8,
        2 => 4,
        3 => 3,
        _ => 2,
    }
}

/// For each phase `g`, lanes `i < nq` (rounded up to 8):
/// `res[g*RES_STRIDE + i] = Σ_j phases[g][j] * xs[offs[j] + q + i]`, one sequential
/// FMA chain per lane (so the result never depends on blocking).
/// `max_off` is the largest entry of `offs`.
fn lanes(
    xs: &[f32],
    offs: &[usize],
    max_off: usize,
    q: usize,
    phases: &[&[f32]],
    nq: usize,
    res: &mut [f32],
) {
    let blocks = nq.div_ceil(LANES);
    // Bounds for the unchecked kernels: every lane read is inside `xs`.
    debug_assert_eq!(Some(max_off), offs.iter().copied().max());
    assert!(max_off + q + blocks * LANES <= xs.len());
    assert!(phases.len() <= 4 && phases.iter().all(|p| p.len() == offs.len()));
    assert!(blocks <= max_blocks(phases.len()) && res.len() >= phases.len() * RES_STRIDE);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 and FMA were detected; bounds asserted above.
        unsafe { lanes_avx2(xs, offs, q, phases, blocks, res) };
        return;
    }
    for (g, ph) in phases.iter().enumerate() {
        for b in 0..blocks {
            let mut acc = [0.0f32; LANES];
            for (j, &cj) in ph.iter().enumerate() {
                let x = &xs[offs[j] + q + b * LANES..][..LANES];
                for (a, &xv) in acc.iter_mut().zip(x) {
                    *a += cj * xv;
                }
            }
            res[g * RES_STRIDE + b * LANES..][..LANES].copy_from_slice(&acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// AVX2+FMA lane kernel: `phases` x `blocks` accumulators of 8 lanes.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `xs[offs[j] + q + blocks*8 - 1]` must be in
/// bounds for every j; `blocks <= max_blocks(phases.len())`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lanes_avx2(
    xs: &[f32],
    offs: &[usize],
    q: usize,
    phases: &[&[f32]],
    blocks: usize,
    res: &mut [f32],
) {
    use std::arch::x86_64::*;
    let t = offs.len();
    let xp = xs.as_ptr().add(q);
    macro_rules! run {
        ($np:literal, $nb:literal) => {{
            let mut acc = [[_mm256_setzero_ps(); $nb]; $np];
            for j in 0..t {
                let o = *offs.get_unchecked(j);
                let mut c = [_mm256_setzero_ps(); $np];
                for g in 0..$np {
                    c[g] = _mm256_set1_ps(*phases.get_unchecked(g).get_unchecked(j));
                }
                for b in 0..$nb {
                    let x = _mm256_loadu_ps(xp.add(o + b * 8));
                    for g in 0..$np {
                        acc[g][b] = _mm256_fmadd_ps(c[g], x, acc[g][b]);
                    }
                }
            }
            for g in 0..$np {
                for b in 0..$nb {
                    _mm256_storeu_ps(res.as_mut_ptr().add(g * RES_STRIDE + b * 8), acc[g][b]);
                }
            }
        }};
    }
    match (phases.len(), blocks) {
        (1, 1) => run!(1, 1),
        (1, 2) => run!(1, 2),
        (1, 3) => run!(1, 3),
        (1, 4) => run!(1, 4),
        (1, 5) => run!(1, 5),
        (1, 6) => run!(1, 6),
        (1, 7) => run!(1, 7),
        (1, _) => run!(1, 8),
        (2, 1) => run!(2, 1),
        (2, 2) => run!(2, 2),
        (2, 3) => run!(2, 3),
        (2, _) => run!(2, 4),
        (3, 1) => run!(3, 1),
        (3, 2) => run!(3, 2),
        (3, _) => run!(3, 3),
        (_, 1) => run!(4, 1),
        (_, _) => run!(4, 2),
    }
}

/// Dot product with a fixed reduction order (four 8-lane accumulators).
fn dot(c: &[f32], x: &[f32]) -> f32 {
    debug_assert_eq!(c.len(), x.len());
    debug_assert_eq!(c.len() % 8, 0);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 and FMA were detected; lengths are equal.
        return unsafe { dot_avx2(c, x) };
    }
    let mut acc = [[0.0f32; 8]; 4];
    let mut k = 0;
    for (cc, xx) in c.chunks_exact(8).zip(x.chunks_exact(8)) {
        for i in 0..8 {
            acc[k][i] += cc[i] * xx[i];
        }
        k = (k + 1) & 3;
    }
    let mut s = [0.0f32; 8];
    for i in 0..8 {
        s[i] = (acc[0][i] + acc[1][i]) + (acc[2][i] + acc[3][i]);
    }
    ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
}

/// # Safety
/// AVX2 and FMA must be available; `c.len() == x.len()`, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(c: &[f32], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = c.len().min(x.len()) / 8;
    let (cp, xp) = (c.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(
                _mm256_loadu_ps(cp.add((i + k) * 8)),
                _mm256_loadu_ps(xp.add((i + k) * 8)),
                *a,
            );
        }
        i += 4;
    }
    let mut k = 0;
    while i < n {
        acc[k] = _mm256_fmadd_ps(
            _mm256_loadu_ps(cp.add(i * 8)),
            _mm256_loadu_ps(xp.add(i * 8)),
            acc[k],
        );
        i += 1;
        k += 1;
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let lo = _mm256_castps256_ps128(s);
    let hi = _mm256_extractf128_ps(s, 1);
    let s4 = _mm_add_ps(lo, hi); // (0+4, 1+5, 2+6, 3+7)
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4)); // (0+4)+(2+6), (1+5)+(3+7)
    let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    _mm_cvtss_f32(s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 1.6
            })
            .collect()
    }

    const PAIRS: [(u32, u32); 14] = [
        (8000, 24000),
        (16000, 24000),
        (22050, 24000),
        (32000, 24000),
        (44100, 24000),
        (48000, 24000),
        (24000, 8000),
        (24000, 16000),
        (24000, 22050),
        (24000, 32000),
        (24000, 44100),
        (24000, 48000),
        (24000, 24000),
        (11025, 16000),
    ];

    fn one_shot(a: u32, b: u32, ch: usize, q: Quality, x: &[f32]) -> Vec<f32> {
        let mut r = Resampler::new(a, b, ch, q).expect("valid");
        let mut out = Vec::new();
        r.process_f32(x, &mut out).expect("whole frames");
        r.flush_f32(&mut out);
        out
    }

    #[test]
    fn streamed_equals_one_shot_bit_exact() {
        for (a, b) in PAIRS {
            for q in [Quality::High, Quality::LowLatency] {
                for ch in [1usize, 2] {
                    let frames = (a as usize) / 7 + 13;
                    let x = noise(frames * ch, a + b + ch as u32);
                    let want = one_shot(a, b, ch, q, &x);
                    assert_eq!(
                        want.len() / ch,
                        (frames as u64 * b as u64).div_ceil(a as u64) as usize
                    );
                    let mut r = Resampler::new(a, b, ch, q).expect("valid");
                    let mut got = Vec::new();
                    let mut pos = 0;
                    let mut step = 1usize;
                    while pos < frames {
                        let n = step.min(frames - pos);
                        r.process_f32(&x[pos * ch..(pos + n) * ch], &mut got)
                            .expect("whole");
                        pos += n;
                        step = (step * 7 + 3) % 997 + 1;
                    }
                    r.flush_f32(&mut got);
                    assert_eq!(got.len(), want.len(), "{a}->{b} {q:?} ch{ch}");
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits());
                    assert!(same, "{a}->{b} {q:?} ch{ch}: streamed != one-shot");
                }
            }
        }
    }

    #[test]
    fn int16_paths_agree() {
        for (a, b) in [(16000, 24000), (24000, 44100), (48000, 24000)] {
            let x: Vec<i16> = noise(5000, 3)
                .iter()
                .map(|v| (v * 30000.0) as i16)
                .collect();
            let le: Vec<u8> = x.iter().flat_map(|s| s.to_le_bytes()).collect();
            let mut r = Resampler::new(a, b, 1, Quality::High).expect("valid");
            let mut o16 = Vec::new();
            r.process_i16(&x, &mut o16).expect("ok");
            r.flush_i16(&mut o16);
            let mut ob = Vec::new();
            for part in le.chunks(334) {
                r.process_i16_le(part, &mut ob).expect("ok");
            }
            r.flush_i16_le(&mut ob);
            let back: Vec<i16> = ob
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            assert_eq!(o16, back);
        }
    }

    #[test]
    fn dc_and_sine_pass_through() {
        // DC gain 1 (after the start-up transient), and a 1 kHz tone keeps its level.
        for (a, b) in PAIRS {
            let x = vec![0.5f32; a as usize];
            let y = one_shot(a, b, 1, Quality::High, &x);
            let mid = &y[y.len() / 3..2 * y.len() / 3];
            for v in mid {
                assert!((v - 0.5).abs() < 1e-5, "{a}->{b}: {v}");
            }
        }
    }

    #[test]
    fn delays_are_small() {
        for (a, b) in PAIRS {
            let hq = Resampler::new(a, b, 1, Quality::High)
                .expect("valid")
                .delay_ms();
            let ll = Resampler::new(a, b, 1, Quality::LowLatency)
                .expect("valid")
                .delay_ms();
            assert!(hq < 14.0, "{a}->{b}: {hq}");
            assert!(ll < 5.5 && ll <= hq, "{a}->{b}: {ll}");
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(Resampler::new(0, 24000, 1, Quality::High).is_err());
        assert!(Resampler::new(24000, 24000, 0, Quality::High).is_err());
        assert!(Resampler::new(24001, 44099, 1, Quality::High).is_err());
        let mut r = Resampler::new(16000, 24000, 2, Quality::High).expect("valid");
        assert!(r.process_f32(&[0.0; 3], &mut Vec::new()).is_err());
        assert!(r.process_i16_le(&[0; 3], &mut Vec::new()).is_err());
        assert!(Quality::parse("nope").is_err());
        assert_eq!(Quality::parse("HQ"), Ok(Quality::High));
    }

    #[test]
    fn int16_rounding_and_clamp() {
        assert_eq!(f32_to_i16(0.0), 0);
        assert_eq!(f32_to_i16(1.5 / 32768.0), 2);
        assert_eq!(f32_to_i16(2.5 / 32768.0), 2);
        assert_eq!(f32_to_i16(-1.5 / 32768.0), -2);
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(-2.0), -32768);
        assert_eq!(f32_to_i16(f32::NAN), 0);
    }
}
