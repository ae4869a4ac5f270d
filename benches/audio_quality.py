"""Resampler quality, measured the same way for realtime_ws and python-soxr.

Used by ``tests/test_audio_quality.py`` (which asserts ours >= soxr HQ) and runnable
on its own to print the full table for ``benches/README-audio.md``::

    python benches/audio_quality.py            # every pair, both qualities
    python benches/audio_quality.py --markdown # the README table
    python benches/audio_quality.py --rubato   # + rubato 5.1 (fft, sinc), via the bench binary

Every figure comes from float32 sine tones put through a one-shot resample
(the stream equals the one-shot, see tests/test_audio.py), fitted by least
squares over the middle of the output, so no time alignment is assumed:

- passband ripple: max - min of the fitted gain (dB) for tones from 0.5 % to
  90 % of the lower Nyquist frequency (80 % for ``low_latency``, whose
  passband ends there);
- stopband attenuation: downsampling: tones from the output Nyquist up to 99 %
  of the input Nyquist, attenuation = input RMS / whole output RMS (the aliases);
  upsampling: the passband tones, attenuation = tone power / output power above
  the input Nyquist (the images), windowed FFT of the fit residual; worst tone;
- THD+N (as SNR, dB): tone power / power of everything that is not the tone
  (aliases, images, rounding) over a stepped sine sweep of the passband; worst
  tone and median;
- edge rejection: the stopband right at its start, which the two measures above
  do not reach when upsampling (images of passband tones land beyond 1.1 x the
  input Nyquist): upsampling, the image of a tone at 0.99 x the input Nyquist
  (it lands at 1.01 x); downsampling, the alias of a tone at 1.01 x the output
  Nyquist.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
ResampleFn = Callable[[F32, int, int], F32]

RATES = (8000, 16000, 22050, 32000, 44100, 48000)
PAIRS = [(r, 24000) for r in RATES] + [(24000, r) for r in RATES]
QUALITIES = ("hq", "low_latency")
AMP = 0.5
TONE_S = 0.25


@dataclass
class Quality:
    in_rate: int
    out_rate: int
    ripple_db: float
    stopband_db: float
    snr_min_db: float
    snr_median_db: float
    edge_db: float


def _tone(rate: int, freq: float, n: int) -> F32:
    t = np.arange(n, dtype=np.float64) / rate
    return (AMP * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _fit(y: NDArray[np.float64], rate: int, freq: float) -> tuple[float, NDArray[np.float64]]:
    """Least-squares sine fit; returns (amplitude, residual)."""
    t = np.arange(len(y), dtype=np.float64) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(basis.T, y, rcond=None)
    fitted = coef @ basis
    return float(math.hypot(coef[0], coef[1])), y - fitted


def _middle(y: F32, rate: int) -> NDArray[np.float64]:
    skip = int(0.05 * rate)
    return np.asarray(y[skip : len(y) - skip], dtype=np.float64)


def _power_above(res: NDArray[np.float64], rate: int, cutoff: float) -> float:
    w = np.blackman(len(res))
    spec = np.abs(np.fft.rfft(res * w)) ** 2
    freqs = np.fft.rfftfreq(len(res), 1 / rate)
    # Parseval with the window's power gain.
    total = float(np.sum(spec[freqs > cutoff]))
    return 2 * total / (len(res) * float(np.sum(w**2)))


def measure(fn: ResampleFn, in_rate: int, out_rate: int, passband: float = 0.9) -> Quality:
    n = int(TONE_S * in_rate)
    low_nyq = min(in_rate, out_rate) / 2
    gains: list[float] = []
    snrs: list[float] = []
    stop: list[float] = []
    sig_power = AMP**2 / 2
    for frac in np.linspace(0.005, passband, 24):
        f = float(frac * low_nyq)
        y = _middle(fn(_tone(in_rate, f, n), in_rate, out_rate), out_rate)
        amp, res = _fit(y, out_rate, f)
        gains.append(20 * math.log10(amp / AMP))
        snrs.append(10 * math.log10(amp**2 / 2 / max(float(np.mean(res**2)), 1e-30)))
        if out_rate > in_rate:
            p = _power_above(res, out_rate, in_rate / 2)
            stop.append(10 * math.log10(sig_power / max(p, 1e-30)))
    if in_rate > out_rate:
        for frac in np.linspace(1.0, 0.99 * in_rate / out_rate, 16):
            f = float(frac * out_rate / 2)
            y = _middle(fn(_tone(in_rate, f, n), in_rate, out_rate), out_rate)
            p = float(np.mean(y**2))
            stop.append(10 * math.log10(sig_power / max(p, 1e-30)))
        f = 1.01 * out_rate / 2
        y = _middle(fn(_tone(in_rate, f, n), in_rate, out_rate), out_rate)
        edge = 10 * math.log10(sig_power / max(float(np.mean(y**2)), 1e-30))
    else:
        f = 0.99 * in_rate / 2
        y = _middle(fn(_tone(in_rate, f, n), in_rate, out_rate), out_rate)
        _, res = _fit(y, out_rate, f)
        p = _power_above(res, out_rate, in_rate / 2)
        edge = 10 * math.log10(sig_power / max(p, 1e-30))
    return Quality(
        in_rate,
        out_rate,
        ripple_db=max(gains) - min(gains),
        stopband_db=min(stop) if stop else float("inf"),
        snr_min_db=min(snrs),
        snr_median_db=statistics.median(snrs),
        edge_db=edge,
    )


def soxr_fn(quality: str = "HQ") -> ResampleFn:
    import soxr

    def fn(x: F32, a: int, b: int) -> F32:
        return np.asarray(soxr.resample(x, a, b, quality=quality), dtype=np.float32)

    return fn


def ours_fn(quality: str = "hq") -> ResampleFn:
    from realtime_ws.audio import Resampler

    def fn(x: F32, a: int, b: int) -> F32:
        r = Resampler(a, b, quality=quality)  # type: ignore[arg-type]
        return np.concatenate([r.process(x), r.flush()])

    return fn


def rust_bench_exe() -> str:
    """Path of the criterion bench binary (benches/audio.rs), built if needed.

    ``AUDIO_BENCH_EXE`` overrides it; otherwise ``cargo bench --no-run`` finds it
    (honouring ``CARGO_TARGET_DIR``)."""
    exe = os.environ.get("AUDIO_BENCH_EXE")
    if exe:
        return exe
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        ["cargo", "bench", "--bench", "audio", "--no-run", "--message-format=json"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        artifact = msg.get("reason") == "compiler-artifact"
        if artifact and msg["target"]["name"] == "audio" and msg.get("executable"):
            return str(msg["executable"])
    raise RuntimeError("cargo did not report the audio bench executable")


def rust_fn(kind: str, exe: str | None = None) -> ResampleFn:
    """A resampler from the Rust bench binary's ``AUDIO_RESAMPLE_STDIO`` mode
    (``rubato-fft``, ``rubato-sinc``, ``ours-hq``, ``ours-ll``): float32 through a pipe."""
    path = exe or rust_bench_exe()

    def fn(x: F32, a: int, b: int) -> F32:
        env = {**os.environ, "AUDIO_RESAMPLE_STDIO": f"{kind},{a},{b}"}
        data = np.ascontiguousarray(x, dtype=np.float32).tobytes()
        out = subprocess.run([path], input=data, env=env, check=True, capture_output=True).stdout
        return np.frombuffer(out, dtype=np.float32)

    return fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--soxr-only", action="store_true")
    ap.add_argument(
        "--rubato",
        action="store_true",
        help="also measure rubato's fft and sinc resamplers (the criterion bench binary)",
    )
    ap.add_argument(
        "--pairs",
        default="",
        help="comma-separated IN-OUT rates to measure (default: all), e.g. 16000-24000",
    )
    args = ap.parse_args()
    pairs = PAIRS
    if args.pairs:
        pairs = [(int(p.split("-")[0]), int(p.split("-")[1])) for p in args.pairs.split(",")]
    impls: list[tuple[str, ResampleFn | None]] = [("soxr HQ", soxr_fn("HQ"))]
    if not args.soxr_only:
        from realtime_ws.audio import Resampler

        impls = [
            ("ours hq", ours_fn("hq")),
            ("soxr HQ", soxr_fn("HQ")),
            ("ours low_latency", ours_fn("low_latency")),
        ]
        if args.rubato:
            exe = rust_bench_exe()
            impls += [
                ("rubato fft", rust_fn("rubato-fft", exe)),
                ("rubato sinc", rust_fn("rubato-sinc", exe)),
            ]
        delays = {
            q: {p: Resampler(*p, quality=q).delay_ms for p in PAIRS}  # type: ignore[arg-type]
            for q in QUALITIES
        }
    if args.markdown:
        cols = ["pair", "impl", "ripple dB (0-0.9 Nyq*)", "stopband dB", "THD+N min dB"]
        print("| " + " | ".join([*cols, "median", "edge dB", "delay ms"]) + " |")
        print("|---|---|---|---|---|---|---|---|")
    for a, b in pairs:
        for name, fn in impls:
            assert fn is not None
            q = measure(fn, a, b, 0.8 if "low_latency" in name else 0.9)
            delay = ""
            if name.startswith("ours"):
                delay = f"{delays[name.split()[1]][(a, b)]:.2f}"
            if args.markdown:
                print(
                    f"| {a / 1000:g}→{b / 1000:g} kHz | {name} | {q.ripple_db:.4f} | "
                    f"{q.stopband_db:.1f} | {q.snr_min_db:.1f} | {q.snr_median_db:.1f} | "
                    f"{q.edge_db:.1f} | {delay} |"
                )
            else:
                print(
                    f"{a:>6}->{b:<6} {name:<17} ripple {q.ripple_db:8.5f} dB  stop "
                    f"{q.stopband_db:6.1f} dB  THD+N min {q.snr_min_db:6.1f} "
                    f"med {q.snr_median_db:6.1f} dB  edge {q.edge_db:6.1f} dB  {delay}"
                )


if __name__ == "__main__":
    main()
