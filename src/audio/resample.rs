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
//!   filter's group delay ([`Resampler::delay_ms`]): `High` 4.0 / 4.5 ms for
//!   24→48 / 48→24 kHz, 6.1 / 6.7 ms for 16→24 / 24→16 kHz, 12.1 / 13.3 ms for
//!   8→24 / 24→8 kHz; `LowLatency` 1.4 / 2.1 / 4.2 ms. (libsoxr's streaming HQ
//!   emits in 30-80 ms bursts at 20 ms chunks.)
//! - **Lane kernel** (`L, M <= 4`: every pair among 8, 16, 24, 32 and 48 kHz).
//!   The `L` outputs of one *period* (which advances exactly `M` inputs) read
//!   one super-window of `T + span` inputs (each output's own `T` taps,
//!   zero-padded; `span` <= 1 for these ratios); eight consecutive periods sit
//!   in the eight SIMD lanes, each lane one sequential FMA chain, and all `L`
//!   outputs share every input load (AVX2: `L` x up to 4 blocks of 8 lanes
//!   per call). The history is kept de-interleaved by `M` (one stream per
//!   input index mod `M`), written once per input sample, so every lane load
//!   is contiguous and a call copies nothing; consumed rows are dropped only
//!   when the buffer fills. Kernel offsets are precomputed per filter.
//! - **Dot kernel** for the 147/160-type ratios (22.05, 44.1 kHz): a
//!   per-output dot product with four vector accumulators.
//! - AVX2+FMA kernels are picked at run time on x86_64; the portable build
//!   (SSE2, NEON by auto-vectorisation) runs elsewhere. Output is written
//!   straight into the caller's buffer in its final type
//!   ([`Resampler::pull_into`]: f32, i16 or little-endian PCM16 bytes), so the
//!   Python binding allocates the result once and never copies it.

use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

/// Resampling quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Flat (< 0.00001 dB) to 91 % of the lower Nyquist frequency, stopband
    /// from 100 %: at least libsoxr's default `HQ` on every measure of
    /// `benches/audio_quality.py`, by >= 2.3 dB on every pair (stopband,
    /// THD+N, stopband-edge rejection). Design attenuation 140 dB when
    /// downsampling (soxr HQ's aliases of tones just above the output Nyquist
    /// measure 139-141 dB, so there is no room there), 132 dB when upsampling
    /// (images still measure >= 141 dB down; 6 % fewer taps than 140 dB).
    High,
    /// Flat to 80 % of the lower Nyquist, >= 100 dB stopband (beyond int16's
    /// 96 dB), about a third of `High`'s group delay and cost.
    LowLatency,
}

impl Quality {
    /// (passband end, stopband start) as fractions of the lower Nyquist
    /// frequency, and the design attenuation in dB.
    fn params(self, upsampling: bool) -> (f64, f64, f64) {
        match self {
            Quality::High if upsampling => (0.91, 1.0, 132.0),
            Quality::High => (0.91, 1.0, 140.0),
            Quality::LowLatency => (0.80, 1.0, 100.0),
        }
    }

    /// The name `parse` accepts first.
    pub fn name(self) -> &'static str {
        match self {
            Quality::High => "hq",
            Quality::LowLatency => "low_latency",
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
/// Lanes per SIMD block.
const LANES: usize = 8;
/// History rows kept beyond the written input, so that the lane kernel's
/// rounding up to whole 8-lane blocks never reads outside the buffer (lanes
/// past the last output read whatever is there and are discarded).
const SLACK_ROWS: usize = 2 * LANES + 4;

/// A designed polyphase filter, shared between streams.
pub struct Filter {
    up: usize,
    down: usize,
    /// Taps per phase.
    taps: usize,
    /// Group delay in high-rate samples.
    delay: u64,
    /// `coefs[p * taps + t]` multiplies input `i0 - taps + 1 + t` for phase `p`
    /// (the dot-product kernel).
    coefs: Vec<f32>,
    /// Lane kernel (`up, down <= 4`) or dot-product kernel.
    lanes: bool,
    /// Lane kernel. Outputs `q*L .. q*L + L` (one *period*) all read inputs
    /// from the *super-window* of `wtaps` inputs starting at `q*M + wstart`;
    /// output `q*L + rho` uses `lane_coefs[rho * wtaps + i]` for the input at
    /// window position `order[i]` (zero where that input is outside its own
    /// window). One kernel call thus computes all `L` outputs of eight
    /// consecutive periods per block with shared input loads.
    ///
    /// The tap order is outermost taps first, the centre last: a lane is one
    /// sequential FMA chain, and summing the small tail terms while the
    /// running sum is still small, the few large central ones last, keeps
    /// float32 rounding ~15 dB lower than index order (THD+N 128-131 dB ->
    /// 144-145 dB at 48->24 and 24->8 kHz).
    wtaps: usize,
    wstart: i64,
    lane_coefs: Vec<f32>,
    /// `(stream, row)` of window position `order[i]`: the input `q*M + wstart + u`
    /// lives in stream `(wstart + u) mod M` at row `q + floor((wstart + u) / M)`;
    /// stored here as `row - floor(wstart / M)` (>= 0).
    lane_pos: Vec<(u32, u32)>,
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
        let (pass, stop, atten) = q.params(out_rate > in_rate);
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
        let lanes = up <= 4 && down <= 4;
        // The dot-product kernel works in whole 8-float vectors.
        let taps = if lanes {
            n.div_ceil(up)
        } else {
            n.div_ceil(up).div_ceil(8) * 8
        };
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
        let mut f = Filter {
            up,
            down,
            taps,
            delay: half as u64,
            coefs,
            lanes,
            wtaps: 0,
            wstart: 0,
            lane_coefs: Vec::new(),
            lane_pos: Vec::new(),
        };
        if f.lanes {
            f.design_lanes();
        }
        Ok(f)
    }

    /// The lane kernel's super-window, tap order and coefficients.
    fn design_lanes(&mut self) {
        let (l, m, t, d) = (self.up, self.down as i64, self.taps, self.delay as i64);
        // Output rho of a period: phase p = (rho*M + D) mod L, window end
        // (relative to q*M) e = (rho*M + D) div L.
        let ends: Vec<(usize, i64)> = (0..l as i64)
            .map(|rho| {
                (
                    ((rho * m + d) % l as i64) as usize,
                    (rho * m + d) / l as i64,
                )
            })
            .collect();
        let e0 = ends[0].1;
        let e_max = ends.iter().map(|e| e.1).max().unwrap_or(e0);
        let wtaps = t + (e_max - e0) as usize;
        let wstart = e0 - t as i64 + 1;
        // Centre of each output's prototype, in window positions; phases differ
        // by under M samples, one order (by distance from their mean) serves all.
        let centre = ends
            .iter()
            .map(|&(p, e)| (t as f64 - 1.0 - (d as f64 - p as f64) / l as f64) + (e - e0) as f64)
            .sum::<f64>()
            / l as f64;
        let mut order: Vec<usize> = (0..wtaps).collect();
        order.sort_by(|&a, &b| {
            let (da, db) = ((a as f64 - centre).abs(), (b as f64 - centre).abs());
            db.total_cmp(&da).then(a.cmp(&b))
        });
        let mut lane_coefs = vec![0.0f32; l * wtaps];
        for (rho, &(p, e)) in ends.iter().enumerate() {
            let shift = (e - e0) as usize;
            for (i, &u) in order.iter().enumerate() {
                if u >= shift && u - shift < t {
                    lane_coefs[rho * wtaps + i] = self.coefs[p * t + u - shift];
                }
            }
        }
        let row_min = wstart.div_euclid(m);
        self.lane_pos = order
            .iter()
            .map(|&u| {
                let a = wstart + u as i64;
                (a.rem_euclid(m) as u32, (a.div_euclid(m) - row_min) as u32)
            })
            .collect();
        self.wtaps = wtaps;
        self.wstart = wstart;
        self.lane_coefs = lane_coefs;
    }

    fn phase(&self, p: usize) -> &[f32] {
        &self.coefs[p * self.taps..(p + 1) * self.taps]
    }

    /// History streams: the input de-interleaved by `M` for the lane kernel.
    fn streams(&self) -> usize {
        if self.lanes {
            self.down
        } else {
            1
        }
    }

    /// First history row the output `k` reads (rows are absolute input
    /// indices divided by `streams()`, rounded down).
    fn first_row(&self, k: u64) -> i64 {
        if self.lanes {
            let m = self.down as i64;
            (k / self.up as u64) as i64 + self.wstart.div_euclid(m)
        } else {
            ((k * self.down as u64 + self.delay) / self.up as u64) as i64 - self.taps as i64 + 1
        }
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

/// A sample type the resampler can write its output as.
pub trait OutSample: Copy {
    fn from_f32(v: f32) -> Self;
}

impl OutSample for f32 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl OutSample for i16 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f32_to_i16(v)
    }
}

/// Little-endian PCM16 bytes (alignment 1, so any byte buffer can be viewed as these).
impl OutSample for [u8; 2] {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f32_to_i16(v).to_le_bytes()
    }
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
    /// Input history, all channels: channel `c`, stream `r` (input index mod
    /// `streams`) is `hist[(c * streams + r) * stride..][..stride]`, row `i`
    /// of it holding input `(row0 + i) * streams + r`. Inputs before the
    /// stream start are zeros. Rows before `first_row(k_next)` are dropped
    /// lazily (when the buffer is full), so a call rarely moves memory.
    hist: Vec<f32>,
    streams: usize,
    stride: usize,
    row0: i64,
    /// Input frames received since the last reset.
    n_in: u64,
    /// Index of the next output frame.
    k_next: u64,
    /// Kernel offsets of the lane positions for the current `stride`.
    offs: Vec<usize>,
    max_off: usize,
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
        let streams = filter.as_ref().map_or(1, |f| f.streams());
        let mut r = Resampler {
            in_rate,
            out_rate,
            channels,
            quality,
            filter,
            hist: Vec::new(),
            streams,
            stride: 0,
            row0: 0,
            n_in: 0,
            k_next: 0,
            offs: Vec::new(),
            max_off: 0,
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
        self.n_in = 0;
        self.k_next = 0;
        let Some(f) = self.filter.clone() else {
            return;
        };
        // Rows from the first one output 0 reads up to the row of input 0.
        self.row0 = f.first_row(0);
        let zero_rows = (-self.row0) as usize;
        if self.stride < zero_rows + SLACK_ROWS {
            self.set_stride(zero_rows + SLACK_ROWS + 1024);
        }
        for s in self.hist.chunks_exact_mut(self.stride) {
            s[..zero_rows].fill(0.0);
        }
    }

    /// Reallocates the history with `stride` rows per stream (keeping rows from `row0`).
    fn set_stride(&mut self, stride: usize) {
        let old = std::mem::take(&mut self.hist);
        let n = self.channels * self.streams;
        self.hist = vec![0.0; n * stride];
        if self.stride > 0 {
            let keep = self.stride.min(stride);
            for (dst, src) in self
                .hist
                .chunks_exact_mut(stride)
                .zip(old.chunks_exact(self.stride))
            {
                dst[..keep].copy_from_slice(&src[..keep]);
            }
        }
        self.stride = stride;
        if let Some(f) = &self.filter {
            if f.lanes {
                self.offs = f
                    .lane_pos
                    .iter()
                    .map(|&(r, row)| r as usize * stride + row as usize)
                    .collect();
                self.max_off = self.offs.iter().copied().max().unwrap_or(0);
            }
        }
    }

    /// Makes room for history rows up to `last_row` (absolute, inclusive),
    /// dropping rows no future output reads and growing the buffer if needed.
    fn reserve_rows(&mut self, last_row: i64) {
        let Some(f) = self.filter.clone() else {
            return;
        };
        let need = |row0: i64| (last_row - row0 + 1).max(0) as usize + SLACK_ROWS;
        if need(self.row0) <= self.stride {
            return;
        }
        // Drop the rows before the next output's window: move the live rows
        // (up to the last one written) to the front of each stream.
        let keep_from = f.first_row(self.k_next).max(self.row0);
        let written_end = self.row_of(self.n_in as i64 + self.streams as i64 - 1) + 1;
        let drop = (keep_from - self.row0) as usize;
        if drop > 0 {
            let live = ((written_end - keep_from).max(0) as usize).min(self.stride - drop);
            for s in self.hist.chunks_exact_mut(self.stride) {
                s.copy_within(drop..drop + live, 0);
            }
            self.row0 = keep_from;
        }
        let want = need(self.row0);
        if want > self.stride {
            self.set_stride(want.max(2 * self.stride));
        }
    }

    /// History row of absolute input index `i`.
    #[inline]
    fn row_of(&self, i: i64) -> i64 {
        i.div_euclid(self.streams as i64)
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

    /// Exactly the frames the next [`Resampler::pull`] (or `pull_into`) returns.
    pub fn ready_frames(&self, flush: bool) -> usize {
        match &self.filter {
            None => {
                if self.pulled {
                    0
                } else {
                    self.tmp.len() / self.channels
                }
            }
            Some(f) => (self.k_end(f, flush) - self.k_next) as usize,
        }
    }

    /// End (exclusive) of the outputs computable now.
    fn k_end(&self, f: &Filter, flush: bool) -> u64 {
        let (l, m) = (f.up as u64, f.down as u64);
        let k_end = if flush {
            (self.n_in * l).div_ceil(m)
        } else {
            // Outputs with (k*M + D) div L <= n_in - 1.
            match (self.n_in * l).checked_sub(1 + f.delay) {
                Some(v) => v / m + 1,
                None => 0,
            }
        };
        k_end.max(self.k_next)
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
        self.push(frames, |k| input[k]);
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
        let s: &[[u8; 4]] = as_arrays(input);
        self.push(frames, |k| f32::from_le_bytes(s[k]));
        Ok(())
    }

    /// Appends interleaved int16 frames.
    pub fn push_i16(&mut self, input: &[i16]) -> Result<(), String> {
        let frames = self.check_len(input.len())?;
        self.push(frames, |k| input[k] as f32 * (1.0 / 32768.0));
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
        let s: &[[u8; 2]] = as_arrays(input);
        self.push(frames, |k| {
            i16::from_le_bytes(s[k]) as f32 * (1.0 / 32768.0)
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
            let n = self.ready_frames(flush) * self.channels;
            let mut tmp = std::mem::take(&mut self.tmp);
            tmp.clear();
            tmp.reserve(n);
            self.compute(flush, &mut tmp.spare_capacity_mut()[..n]);
            // SAFETY: `compute` initialised the first `n` elements.
            unsafe { tmp.set_len(n) };
            self.tmp = tmp;
            n
        } else {
            // Pass-through: `tmp` holds what was pushed since the last pull.
            if self.pulled {
                self.tmp.clear();
            }
            self.tmp.len()
        };
        if flush {
            self.reset_state();
        }
        self.pulled = true;
        self.last_len = n;
        &self.tmp[..n]
    }

    /// Like [`Resampler::pull`], but writes the output (interleaved, converted
    /// to `T`) to the start of `out` and returns the number of frames; `out`
    /// must hold `ready_frames(flush) * channels` samples.
    ///
    /// # Panics
    /// If `out` is too short (a caller bug).
    pub fn pull_into<T: OutSample>(&mut self, flush: bool, out: &mut [T]) -> usize {
        // SAFETY: MaybeUninit<T> has T's layout; `pull_into_uninit` only ever
        // writes initialised values, so `out` stays initialised.
        let out = unsafe {
            std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<MaybeUninit<T>>(), out.len())
        };
        self.pull_into_uninit(flush, out)
    }

    /// [`Resampler::pull_into`] into possibly uninitialised memory (e.g. a
    /// freshly allocated Python object); the first `frames * channels`
    /// elements are initialised on return.
    pub fn pull_into_uninit<T: OutSample>(
        &mut self,
        flush: bool,
        out: &mut [MaybeUninit<T>],
    ) -> usize {
        let frames = self.ready_frames(flush);
        let n = frames * self.channels;
        assert!(out.len() >= n, "pull_into: output buffer too small");
        if self.filter.is_some() {
            self.compute(flush, &mut out[..n]);
        } else {
            for (d, &v) in out.iter_mut().zip(&self.tmp[..n]) {
                d.write(T::from_f32(v));
            }
        }
        self.tmp.clear();
        self.last_len = 0;
        if flush {
            self.reset_state();
        }
        self.pulled = true;
        frames
    }

    /// The output of the last [`Resampler::pull`] again.
    pub fn last_output(&self) -> &[f32] {
        &self.tmp[..self.last_len.min(self.tmp.len())]
    }

    /// Appends the output of `pull_into` to `out`.
    fn pull_append<T: OutSample + Default>(&mut self, flush: bool, out: &mut Vec<T>) {
        let start = out.len();
        out.resize(
            start + self.ready_frames(flush) * self.channels,
            T::default(),
        );
        self.pull_into(flush, &mut out[start..]);
    }

    /// Resamples interleaved float32 frames, appending the output to `out`.
    pub fn process_f32(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        self.push_f32(input)?;
        self.pull_append(false, out);
        Ok(())
    }

    /// Resamples interleaved int16 frames, appending the output to `out`.
    pub fn process_i16(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<(), String> {
        self.push_i16(input)?;
        self.pull_append(false, out);
        Ok(())
    }

    /// Resamples little-endian PCM16 bytes, appending little-endian PCM16 to `out`.
    pub fn process_i16_le(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.push_i16_le(input)?;
        self.append_i16_le(false, out);
        Ok(())
    }

    fn append_i16_le(&mut self, flush: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + 2 * self.ready_frames(flush) * self.channels, 0);
        let dst: &mut [[u8; 2]] = as_arrays_mut(&mut out[start..]);
        self.pull_into(flush, dst);
    }

    /// Ends the stream: emits the remaining output (the input is taken to be
    /// followed by silence) so that the total output is `ceil(n_in * out/in)`
    /// frames, then resets.
    pub fn flush_f32(&mut self, out: &mut Vec<f32>) {
        self.pull_append(true, out);
    }

    /// `flush_f32` for int16 output.
    pub fn flush_i16(&mut self, out: &mut Vec<i16>) {
        self.pull_append(true, out);
    }

    /// `flush_f32` for little-endian PCM16 output.
    pub fn flush_i16_le(&mut self, out: &mut Vec<u8>) {
        self.append_i16_le(true, out);
    }

    /// Appends `frames` interleaved frames; `get(k)` is interleaved sample `k`.
    #[inline(always)]
    fn push(&mut self, frames: usize, get: impl Fn(usize) -> f32) {
        if self.filter.is_none() {
            if self.pulled {
                self.tmp.clear();
                self.pulled = false;
            }
            self.tmp.extend((0..frames * self.channels).map(get));
            return;
        }
        if frames == 0 {
            return;
        }
        let (ch, m) = (self.channels, self.streams);
        let first = self.n_in as i64;
        self.reserve_rows(self.row_of(first + frames as i64 - 1));
        let stride = self.stride;
        let row = (self.row_of(first) - self.row0) as usize;
        let r0 = first.rem_euclid(m as i64) as usize;
        // Stream r of channel c receives frames i ≡ r - r0 (mod m), one row each.
        for (k, s) in self.hist.chunks_exact_mut(stride).enumerate() {
            let (c, r) = (k / m, k % m);
            let i_first = (r + m - r0) % m;
            let pos = row + (r0 + i_first) / m;
            for (d, i) in s[pos..].iter_mut().zip((i_first..frames).step_by(m)) {
                *d = get(i * ch + c);
            }
        }
        self.n_in += frames as u64;
    }

    /// Computes the outputs `k_next .. k_end(flush)` into `out` (interleaved,
    /// exactly that many frames) and advances the stream.
    fn compute<T: OutSample>(&mut self, flush: bool, out: &mut [MaybeUninit<T>]) {
        let Some(f) = self.filter.clone() else {
            return;
        };
        let k0 = self.k_next;
        let k_end = self.k_end(&f, flush);
        if k_end == k0 {
            return;
        }
        let n = (k_end - k0) as usize;
        let ch = self.channels;
        debug_assert_eq!(out.len(), n * ch);
        let (l, m) = (f.up as u64, f.down as u64);
        // The last input any computed output reads (plus, with flush, the
        // silence after the end of the input).
        let last_in = if f.lanes {
            ((k_end - 1) / l * m) as i64 + f.wstart + f.wtaps as i64 - 1
        } else {
            (((k_end - 1) * m + f.delay) / l) as i64
        };
        self.reserve_rows(self.row_of(last_in));
        if flush && last_in >= self.n_in as i64 {
            let (from, to) = (self.n_in as i64, last_in);
            let (sm, stride, row0) = (self.streams as i64, self.stride, self.row0);
            for (k, s) in self.hist.chunks_exact_mut(stride).enumerate() {
                let r = k as i64 % sm;
                // Inputs i in from..=to with i mod streams == r.
                let mut i = from + (r - from).rem_euclid(sm);
                while i <= to {
                    s[(i.div_euclid(sm) - row0) as usize] = 0.0;
                    i += sm;
                }
            }
        }
        let per_stream = self.streams * self.stride;
        for c in 0..ch {
            let h = &self.hist[c * per_stream..(c + 1) * per_stream];
            if f.lanes {
                lane_compute(
                    &f,
                    h,
                    &self.offs,
                    self.max_off,
                    self.row0,
                    k0,
                    n,
                    out,
                    c,
                    ch,
                );
            } else {
                let t = f.taps;
                let mut nh = k0 * m + f.delay;
                for q in 0..n {
                    let i0 = (nh / l) as i64;
                    let p = (nh % l) as usize;
                    let s = (i0 - t as i64 + 1 - self.row0) as usize;
                    out[q * ch + c].write(T::from_f32(dot(f.phase(p), &h[s..s + t])));
                    nh += m;
                }
            }
        }
        self.k_next = k_end;
    }
}

/// Views a byte slice as arrays of `N` bytes (alignment 1, always valid).
fn as_arrays<const N: usize>(b: &[u8]) -> &[[u8; N]] {
    // SAFETY: [u8; N] has size N and alignment 1; the length is rounded down.
    unsafe { std::slice::from_raw_parts(b.as_ptr().cast(), b.len() / N) }
}

/// Mutable form of [`as_arrays`].
fn as_arrays_mut<const N: usize>(b: &mut [u8]) -> &mut [[u8; N]] {
    // SAFETY: as in `as_arrays`; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast(), b.len() / N) }
}

/// Float in [-1, 1] to int16: scale by 32768, round half to even, clamp (NaN -> 0).
#[inline(always)]
pub fn f32_to_i16(v: f32) -> i16 {
    let x = v * 32768.0;
    // Adding and removing 1.5 * 2^23 rounds to nearest-even for |x| < 2^22.
    let r = (x.clamp(-32768.0, 32767.0) + 12_582_912.0) - 12_582_912.0;
    r as i16
}

/// The lane kernel driver: eight consecutive periods per block, all `L`
/// outputs of a period from one set of input loads.
#[allow(clippy::too_many_arguments)]
fn lane_compute<T: OutSample>(
    f: &Filter,
    h: &[f32],
    offs: &[usize],
    max_off: usize,
    row0: i64,
    k0: u64,
    n: usize,
    out: &mut [MaybeUninit<T>],
    c: usize,
    ch: usize,
) {
    let l = f.up;
    let k_end = k0 + n as u64;
    let q_first = k0 / l as u64;
    let q_last = (k_end - 1) / l as u64;
    let count = (q_last - q_first + 1) as usize;
    let mut phases: [&[f32]; 4] = [&[]; 4];
    for (rho, ph) in phases.iter_mut().enumerate().take(l) {
        *ph = &f.lane_coefs[rho * f.wtaps..(rho + 1) * f.wtaps];
    }
    let phases = &phases[..l];
    // Row of window position 0 of period q_first, relative to the buffer.
    let start = (q_first as i64 + f.wstart.div_euclid(f.down as i64) - row0) as usize;
    let per_call = LANES * max_blocks(l);
    let mut res = [0.0f32; 4 * RES_STRIDE];
    let mut q = 0;
    while q < count {
        let nq = (count - q).min(per_call);
        lanes(h, offs, max_off, start + q, phases, nq, &mut res);
        for lane in 0..nq {
            let kp = (q_first + (q + lane) as u64) * l as u64;
            if kp >= k0 && kp + l as u64 <= k_end {
                // A whole period: L consecutive outputs.
                let base = (kp - k0) as usize * ch + c;
                for (rho, r) in res.chunks_exact(RES_STRIDE).take(l).enumerate() {
                    out[base + rho * ch].write(T::from_f32(r[lane]));
                }
                continue;
            }
            for (rho, r) in res.chunks_exact(RES_STRIDE).take(l).enumerate() {
                let k = kp + rho as u64;
                if k >= k0 && k < k_end {
                    out[(k - k0) as usize * ch + c].write(T::from_f32(r[lane]));
                }
            }
        }
        q += nq;
    }
}

/// Output lanes per phase in one `lanes` call, and the stride of `res`.
const RES_STRIDE: usize = 8 * LANES;

/// Vector blocks per phase that keep the AVX2 kernel within 16 registers
/// (`phases * blocks` accumulators, one broadcast per phase, one input vector);
/// 2 x 6 measured ~5 % faster than 2 x 4 at 24->48 kHz, 1 x 12 no faster than 1 x 8.
fn max_blocks(phases: usize) -> usize {
    match phases {
        1 => 8,
        2 => 6,
        3 => 4,
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
        (2, 4) => run!(2, 4),
        (2, 5) => run!(2, 5),
        (2, _) => run!(2, 6),
        (3, 1) => run!(3, 1),
        (3, 2) => run!(3, 2),
        (3, 3) => run!(3, 3),
        (3, _) => run!(3, 4),
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

    /// Direct evaluation of the polyphase sum in f64 from the phase-major
    /// coefficients (independent of the lane kernel's super-window layout).
    fn reference(a: u32, b: u32, q: Quality, x: &[f32]) -> Vec<f64> {
        let r = Resampler::new(a, b, 1, q).expect("valid");
        let f = r.filter.as_ref().expect("resampling");
        let (l, m, t) = (f.up as u64, f.down as u64, f.taps);
        let total = (x.len() as u64 * l).div_ceil(m);
        (0..total)
            .map(|k| {
                let nh = k * m + f.delay;
                let (i0, p) = ((nh / l) as i64, (nh % l) as usize);
                (0..t)
                    .map(|j| {
                        let i = i0 - t as i64 + 1 + j as i64;
                        let xv = if i >= 0 && (i as usize) < x.len() {
                            x[i as usize] as f64
                        } else {
                            0.0
                        };
                        f.phase(p)[j] as f64 * xv
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn kernels_match_the_direct_polyphase_sum() {
        for (a, b) in PAIRS.iter().copied().filter(|(a, b)| a != b) {
            for q in [Quality::High, Quality::LowLatency] {
                let x = noise(a as usize / 10 + 7, a ^ b);
                let got = one_shot(a, b, 1, q, &x);
                let want = reference(a, b, q, &x);
                assert_eq!(got.len(), want.len(), "{a}->{b} {q:?}");
                let err = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (*g as f64 - w).abs())
                    .fold(0.0, f64::max);
                // float32 accumulation of ~200 terms of |x| < 0.8.
                assert!(err < 2e-6, "{a}->{b} {q:?}: max error {err}");
            }
        }
    }

    #[test]
    fn pull_into_matches_pull_for_every_output_type() {
        let x = noise(3000, 11);
        let xi: Vec<i16> = x.iter().map(|v| (v * 20000.0) as i16).collect();
        for (a, b) in [
            (16000, 24000),
            (24000, 48000),
            (44100, 24000),
            (24000, 24000),
        ] {
            let mut r1 = Resampler::new(a, b, 1, Quality::High).expect("valid");
            let mut r2 = Resampler::new(a, b, 1, Quality::High).expect("valid");
            for (k, part) in xi.chunks(479).enumerate() {
                let flush = k == 6;
                r1.push_i16(part).expect("ok");
                r2.push_i16(part).expect("ok");
                let want: Vec<i16> = r1.pull(flush).iter().map(|&v| f32_to_i16(v)).collect();
                assert_eq!(r2.ready_frames(flush), want.len());
                let mut got = vec![[0u8; 2]; want.len()];
                assert_eq!(r2.pull_into(flush, &mut got), want.len());
                let got: Vec<i16> = got.iter().map(|p| i16::from_le_bytes(*p)).collect();
                assert_eq!(got, want, "{a}->{b} chunk {k}");
            }
        }
    }

    #[test]
    fn long_streams_keep_bounded_history() {
        // Many small chunks: the history is compacted, not grown.
        let mut r = Resampler::new(24000, 48000, 2, Quality::High).expect("valid");
        let x = noise(960, 5);
        let mut out = Vec::new();
        for _ in 0..2000 {
            out.clear();
            r.process_f32(&x, &mut out).expect("ok");
        }
        assert!(r.stride < 4096, "stride grew to {}", r.stride);
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
        for q in [Quality::High, Quality::LowLatency] {
            assert_eq!(Quality::parse(q.name()), Ok(q));
        }
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
