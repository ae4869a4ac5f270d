"""pytest-benchmark: the audio engine against the Python tools it replaces,
called from Python per chunk, in the same run (issue #4).

    pytest benches/test_bench_audio.py --benchmark-json=/tmp/audio.json
    python benches/audio_ratios.py /tmp/audio.json      # ratio table (markdown)

Each round times a fixed number of consecutive calls (``ITERATIONS``); the ratios use the
fastest round's mean per call (see ``audio_ratios.py``).

Quick mode (a few seconds; CI smoke): ``AUDIO_BENCH_QUICK=1 pytest benches/test_bench_audio.py
--benchmark-disable`` runs every case once without timing.

Groups: ``b64-{encode,decode}-{ms}`` (ours vs binascii / base64), ``resample-{pair}-{ms}``
(ours hq and low_latency, int16, float32 and bytes, vs soxr.ResampleStream, soxr.resample
one-shot per chunk and scipy.signal.resample_poly), ``g711-*-{ms}`` (ours vs audioop).

Before/after in one run: ``AUDIO_BENCH_BEFORE=DIR`` (a directory holding a package
``rwsbefore`` whose ``_core*.so`` is an earlier build of ``realtime_ws._core``) adds
``before-*`` implementations of the same calls, which ``audio_ratios.py`` compares with ours.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from realtime_ws import audio

QUICK = os.environ.get("AUDIO_BENCH_QUICK") == "1"
CHUNKS_MS = [20] if QUICK else [20, 100, 1000]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        audioop: Any = importlib.import_module("audioop")
    except ImportError:
        try:
            audioop = importlib.import_module("audioop_lts")
        except ImportError:
            audioop = None

soxr: Any
try:
    soxr = importlib.import_module("soxr")
except ImportError:
    soxr = None
signal: Any
try:
    signal = importlib.import_module("scipy.signal")
except ImportError:
    signal = None

before: Any = None
if os.environ.get("AUDIO_BENCH_BEFORE"):
    sys.path.insert(0, os.environ["AUDIO_BENCH_BEFORE"])
    before = importlib.import_module("rwsbefore._core")

Bench = Any  # pytest-benchmark's fixture


def _pcm(ms: int, rate: int = 24000) -> np.ndarray:
    rng = np.random.default_rng(ms)
    n = rate * ms // 1000
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    return (x * 32767).astype(np.int16)


# Each round times ITERATIONS[ms] consecutive calls (a multiple of soxr's 2-, 3- and 4-call
# output bursts at 20 ms chunks, so a round's mean is the true cost per chunk); ratios use the
# fastest round of ROUNDS (the least disturbed by other load on a shared machine).
ITERATIONS = {20: 240, 100: 48, 1000: 8}
ROUNDS = 25


def _run(benchmark: Bench, fn: Callable[[], object], ms: int) -> Any:
    """Times ``fn`` and returns what its last call returned (each test checks it)."""
    if QUICK:
        return benchmark(fn)
    return benchmark.pedantic(fn, iterations=ITERATIONS[ms], rounds=ROUNDS, warmup_rounds=1)


def _as_bytes(out: Any) -> bytes:
    return out.tobytes() if isinstance(out, np.ndarray) else bytes(out)


# --- base64: 24 kHz PCM16 ---


@pytest.mark.parametrize("ms", CHUNKS_MS)
@pytest.mark.parametrize("impl", ["ours", "binascii", "base64"])
def test_b64_encode(benchmark: Bench, impl: str, ms: int) -> None:
    benchmark.group = f"b64-encode-{ms}ms"
    data = _pcm(ms).tobytes()
    fns: dict[str, Callable[[], object]] = {
        "ours": lambda: audio.b64encode(data),
        "binascii": lambda: binascii.b2a_base64(data, newline=False),
        "base64": lambda: base64.b64encode(data),
    }
    out = _run(benchmark, fns[impl], ms)
    assert bytes(out) == binascii.b2a_base64(data, newline=False)


@pytest.mark.parametrize("ms", CHUNKS_MS)
@pytest.mark.parametrize("impl", ["ours", "ours-str", "binascii", "base64"])
def test_b64_decode(benchmark: Bench, impl: str, ms: int) -> None:
    benchmark.group = f"b64-decode-{ms}ms"
    text = base64.b64encode(_pcm(ms).tobytes())
    s = text.decode()  # a JSON delta arrives as str
    fns: dict[str, Callable[[], object]] = {
        "ours": lambda: audio.b64decode(text),
        "ours-str": lambda: audio.b64decode(s),
        "binascii": lambda: binascii.a2b_base64(text),
        "base64": lambda: base64.b64decode(text),
    }
    out = _run(benchmark, fns[impl], ms)
    assert bytes(out) == _pcm(ms).tobytes()


# --- resampling: streaming, one chunk per call ---

PAIRS = [(16000, 24000), (24000, 48000)]
if not QUICK:
    PAIRS += [(8000, 24000), (24000, 8000), (24000, 16000), (48000, 24000), (44100, 24000),
              (24000, 44100), (22050, 24000), (32000, 24000)]  # fmt: skip
RESAMPLERS = ["ours-hq-i16", "ours-hq-f32", "ours-hq-bytes", "ours-ll-i16",
              "soxr-stream-i16", "soxr-stream-f32", "soxr-oneshot-i16",
              "scipy-poly-f32"]  # fmt: skip
if before is not None:
    RESAMPLERS += ["before-hq-i16", "before-hq-f32", "before-hq-bytes"]
QUALITY = {"hq": "hq", "ll": "low_latency"}


@pytest.mark.parametrize("ms", CHUNKS_MS)
@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
@pytest.mark.parametrize("impl", RESAMPLERS)
def test_resample_stream(benchmark: Bench, impl: str, a: int, b: int, ms: int) -> None:
    benchmark.group = f"resample-{a // 1000}k-{b // 1000}k-{ms}ms"
    xi = _pcm(ms, a)
    xf = xi.astype(np.float32) / 32768
    fn: Callable[[], object]
    if impl.startswith(("ours", "before")):
        who, q, kind = impl.split("-")
        mod = audio if who == "ours" else before
        r = mod.Resampler(a, b, quality=QUALITY[q])
        x = {"i16": xi, "f32": xf, "bytes": xi.tobytes()}[kind]
        fn = lambda: r.process(x)  # noqa: E731
    elif impl.startswith("soxr"):
        if soxr is None:
            pytest.skip("soxr not installed")
        if impl.startswith("soxr-stream"):
            dtype = "int16" if impl.endswith("i16") else "float32"
            s = soxr.ResampleStream(a, b, 1, dtype=dtype, quality="HQ")
            x = xi if dtype == "int16" else xf
            fn = lambda: s.resample_chunk(x)  # noqa: E731
        else:
            fn = lambda: soxr.resample(xi, a, b, quality="HQ")  # noqa: E731
    else:
        if signal is None:
            pytest.skip("scipy not installed")
        g = math.gcd(a, b)
        up, down = b // g, a // g
        fn = lambda: signal.resample_poly(xf, up, down)  # noqa: E731
    out = _run(benchmark, fn, ms)
    _check_resampled(impl, out, xi, a, b)


def _check_resampled(impl: str, out: Any, xi: np.ndarray, a: int, b: int) -> None:
    """The last timed call's output has the input's kind and a plausible length; for our
    resampler, streaming equals one-shot bit for bit and keeps the signal's level."""
    n = len(xi)
    want = n * b / a
    kind = impl.rsplit("-", 1)[1]
    if kind == "bytes":
        assert isinstance(out, bytes)
        got_n = len(out) // 2
    else:
        assert isinstance(out, np.ndarray)
        assert out.dtype == (np.int16 if kind == "i16" else np.float32)
        got_n = len(out)
    if impl.startswith("soxr-stream"):
        assert got_n <= 2 * want + 64  # output comes in bursts
    elif impl.startswith(("soxr-oneshot", "scipy")):
        assert abs(got_n - want) <= 1
    else:
        assert got_n <= math.ceil(want) + 1  # streaming: never more than its share
        mod = audio if impl.startswith("ours") else before
        quality = QUALITY[impl.split("-")[1]]
        streamed_r = mod.Resampler(a, b, quality=quality)
        oneshot_r = mod.Resampler(a, b, quality=quality)
        x = np.concatenate([xi] * 5)
        streamed = np.concatenate(
            [streamed_r.process(c) for c in np.split(x, 5)] + [streamed_r.flush()]
        )
        oneshot = np.concatenate([oneshot_r.process(x), oneshot_r.flush()])
        assert np.array_equal(streamed, oneshot)
        assert abs(len(oneshot) - len(x) * b / a) <= 1
        # Same level as the input (a 440 Hz tone, far below either Nyquist frequency).
        rms_in = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        rms_out = float(np.sqrt(np.mean(oneshot.astype(np.float64) ** 2)))
        assert abs(rms_out / rms_in - 1) < 0.1


# --- G.711: 24 kHz worth of samples per chunk ---

G711 = ["ulaw-encode", "alaw-encode", "ulaw-decode", "alaw-decode"]


G711_IMPLS = ["ours", "ours-np", "audioop"] + (["before", "before-np"] if before else [])


@pytest.mark.parametrize("ms", CHUNKS_MS)
@pytest.mark.parametrize("op", G711)
@pytest.mark.parametrize("impl", G711_IMPLS)
def test_g711(benchmark: Bench, impl: str, op: str, ms: int) -> None:
    benchmark.group = f"g711-{op}-{ms}ms"
    if impl == "audioop" and audioop is None:
        pytest.skip("audioop not available")
    law, kind = op.split("-")
    pcm = _pcm(ms)
    pcm_bytes = pcm.tobytes()
    codes = audio.ulaw_encode(pcm_bytes) if law == "ulaw" else audio.alaw_encode(pcm_bytes)
    fn: Callable[[], object]
    if kind == "encode":
        if impl == "audioop":
            ref = audioop.lin2ulaw if law == "ulaw" else audioop.lin2alaw
            fn = lambda: ref(pcm_bytes, 2)  # noqa: E731
        else:
            mod = before if impl.startswith("before") else audio
            enc = mod.ulaw_encode if law == "ulaw" else mod.alaw_encode
            src = pcm if impl.endswith("-np") else pcm_bytes
            fn = lambda: enc(src)  # noqa: E731
    else:
        if impl == "audioop":
            ref = audioop.ulaw2lin if law == "ulaw" else audioop.alaw2lin
            fn = lambda: ref(codes, 2)  # noqa: E731
        else:
            mod = before if impl.startswith("before") else audio
            dec = mod.ulaw_decode if law == "ulaw" else mod.alaw_decode
            as_bytes = not impl.endswith("-np")
            fn = lambda: dec(codes, as_bytes=as_bytes)  # noqa: E731
    out = _run(benchmark, fn, ms)
    # Bit-exact with audioop (or, without it, with our own bytes path).
    if kind == "encode":
        ref = (
            (audioop.lin2ulaw if law == "ulaw" else audioop.lin2alaw)(pcm_bytes, 2)
            if audioop is not None
            else codes
        )
    elif audioop is not None:
        ref = (audioop.ulaw2lin if law == "ulaw" else audioop.alaw2lin)(codes, 2)
    else:
        ref = (audio.ulaw_decode if law == "ulaw" else audio.alaw_decode)(codes, as_bytes=True)
    assert _as_bytes(out) == ref
