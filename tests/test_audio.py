"""realtime_ws.audio: G.711 bit-exactness against audioop, base64 against the
stdlib, the streaming resampler's exactness and types, AudioSpec validation."""

from __future__ import annotations

import base64
import binascii
import importlib
import warnings
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_ws.audio import (
    AudioSpec,
    Resampler,
    alaw_decode,
    alaw_encode,
    b64decode,
    b64encode,
    ulaw_decode,
    ulaw_encode,
)
from realtime_ws.errors import InvalidAudioError


def _audioop() -> ModuleType | None:
    """CPython's audioop (<= 3.12) or the audioop-lts backport (>= 3.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in ("audioop", "audioop_lts"):
            try:
                return importlib.import_module(name)
            except ImportError:
                continue
    return None


audioop = _audioop()
needs_audioop = pytest.mark.skipif(audioop is None, reason="needs audioop or audioop-lts")

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


# --- G.711 ---


@needs_audioop
def test_ulaw_encode_matches_audioop_for_all_65536_inputs() -> None:
    assert audioop is not None
    want = audioop.lin2ulaw(ALL_PCM.tobytes(), 2)
    assert ulaw_encode(ALL_PCM.tobytes()) == want
    assert ulaw_encode(ALL_PCM) == want
    assert ulaw_encode(memoryview(ALL_PCM)) == want


@needs_audioop
def test_alaw_encode_matches_audioop_for_all_65536_inputs() -> None:
    assert audioop is not None
    want = audioop.lin2alaw(ALL_PCM.tobytes(), 2)
    assert alaw_encode(ALL_PCM.tobytes()) == want
    assert alaw_encode(ALL_PCM) == want


@needs_audioop
def test_decode_matches_audioop_for_all_256_codes() -> None:
    assert audioop is not None
    for decode, ref in ((ulaw_decode, audioop.ulaw2lin), (alaw_decode, audioop.alaw2lin)):
        want = ref(ALL_CODES, 2)
        got = decode(ALL_CODES)
        assert got.dtype == np.int16
        assert got.tobytes() == want
        assert decode(ALL_CODES, as_bytes=True) == want
        assert decode(bytearray(ALL_CODES), as_bytes=True) == want
        assert decode(np.frombuffer(ALL_CODES, dtype=np.uint8), as_bytes=True) == want


@needs_audioop
@pytest.mark.parametrize("n", [1, 15, 16, 17, 161, 1000])
def test_decode_matches_audioop_at_any_length(n: int) -> None:
    # The SIMD decoder works in blocks of 16 codes; every length has a tail.
    assert audioop is not None
    codes = bytes((i * 37 + i // 256) % 256 for i in range(3, 3 + n))
    for decode, ref in ((ulaw_decode, audioop.ulaw2lin), (alaw_decode, audioop.alaw2lin)):
        want = ref(codes, 2)
        assert decode(codes, as_bytes=True) == want
        assert decode(memoryview(codes)).tobytes() == want


def test_g711_known_values_and_float_input() -> None:
    # ITU-T anchors (independent of audioop).
    assert ulaw_encode(np.array([0], np.int16)) == b"\xff"
    assert alaw_encode(np.array([0], np.int16)) == b"\xd5"
    assert ulaw_decode(b"\x00\x80").tolist() == [-32124, 32124]
    # float32 in [-1, 1] is scaled by 32768 first.
    x = np.array([0.0, 0.5, -0.5, 1.5], dtype=np.float32)
    as_int = np.array([0, 16384, -16384, 32767], dtype=np.int16)
    assert ulaw_encode(x) == ulaw_encode(as_int)
    assert alaw_encode(x) == alaw_encode(as_int)


def test_g711_rejects_bad_input() -> None:
    with pytest.raises(InvalidAudioError, match="even number of bytes"):
        ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(InvalidAudioError, match=r"G\.711 codes"):
        ulaw_decode(np.zeros(4, np.int16))
    with pytest.raises(TypeError):
        alaw_encode("text")  # type: ignore[arg-type]
    assert ulaw_encode(b"") == b""
    assert ulaw_decode(b"").shape == (0,)


# --- base64 ---


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_b64_matches_stdlib(data: bytes) -> None:
    text = base64.b64encode(data)
    assert b64encode(data) == text
    assert b64decode(text) == data
    assert b64decode(text.decode()) == data
    assert b64decode(memoryview(text)) == data


def test_b64_accepts_arrays_and_large_inputs() -> None:
    pcm = np.arange(-24000, 24000, dtype=np.int16)
    assert b64encode(pcm) == base64.b64encode(pcm.tobytes())
    assert b64decode(b64encode(pcm)) == pcm.tobytes()


@pytest.mark.parametrize(
    "bad", [b"abc", b"@@@@", b"QUJD=", b"QQ==QUJD", "QUJ\u00e9", b"QUJD\n", b"Q===" * 100]
)
def test_b64decode_rejects_invalid(bad: bytes | str) -> None:
    # Never a panic: a ValueError subclass, like binascii.Error (stricter than
    # the stdlib's default: no whitespace, no excess padding, canonical only).
    with pytest.raises(ValueError, match=r"base64|ascii|utf|UTF"):
        b64decode(bad)
    assert issubclass(binascii.Error, ValueError)


# --- resampler ---

PAIRS = [(r, 24000) for r in (8000, 16000, 22050, 32000, 44100, 48000)] + [
    (24000, r) for r in (8000, 16000, 22050, 32000, 44100, 48000)
]


def _chunks(x: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out, pos = [], 0
    while pos < len(x):
        n = int(rng.integers(0, 700))
        out.append(x[pos : pos + n])
        pos += n
    return out


@pytest.mark.parametrize(("a", "b"), PAIRS)
@pytest.mark.parametrize("quality", ["hq", "low_latency"])
def test_streamed_equals_one_shot_bit_exact(a: int, b: int, quality: str) -> None:
    rng = np.random.default_rng(a + b)
    x = (rng.standard_normal(a // 4) * 0.2).astype(np.float32)
    r = Resampler(a, b, quality=quality)
    one = np.concatenate([r.process(x), r.flush()])
    assert len(one) == -(-len(x) * b // a)  # ceil(n * b / a)
    parts = [r.process(c) for c in _chunks(x, a)]
    streamed = np.concatenate([*parts, r.flush()])
    assert streamed.dtype == np.float32
    np.testing.assert_array_equal(streamed, one)  # bit-exact, not approximately
    # int16, as numpy and as bytes.
    xi = (x * 20000).astype(np.int16)
    one_i = np.concatenate([r.process(xi), r.flush()])
    parts_i = [r.process(c) for c in _chunks(xi, b)]
    np.testing.assert_array_equal(np.concatenate([*parts_i, r.flush()]), one_i)
    raw = b"".join(r.process(c.tobytes()) for c in _chunks(xi, a * 3)) + r.flush()
    assert raw == one_i.tobytes()


def test_output_types_follow_input() -> None:
    r = Resampler(16000, 24000)
    assert isinstance(r.process(bytes(640)), bytes)
    assert isinstance(r.flush(), bytes)
    y = r.process(np.zeros(320, np.int16))
    assert isinstance(y, np.ndarray)
    assert y.dtype == np.int16
    assert r.flush().dtype == np.int16
    assert r.process(np.zeros(320, np.float32)).dtype == np.float32
    assert r.flush().dtype == np.float32
    assert isinstance(r.process(memoryview(bytes(64))), bytes)
    assert isinstance(r.process(bytearray(64)), bytes)
    assert r.process(memoryview(np.zeros(8, np.int16))).dtype == np.int16


def test_passthrough_and_multichannel() -> None:
    same = Resampler(24000, 24000)
    x = np.arange(100, dtype=np.int16)
    np.testing.assert_array_equal(same.process(x), x)
    assert same.delay_ms == 0.0
    assert len(same.flush()) == 0
    st = Resampler(48000, 24000, channels=2)
    t = np.arange(4800) / 48000
    left = np.sin(2 * np.pi * 440 * t).astype(np.float32) * 0.5
    right = np.sin(2 * np.pi * 1000 * t).astype(np.float32) * 0.25
    stereo = np.stack([left, right], axis=1)
    y = np.concatenate([st.process(stereo), st.flush()])
    assert y.shape == (2400, 2)
    mono = Resampler(48000, 24000)
    np.testing.assert_array_equal(y[:, 0], np.concatenate([mono.process(left), mono.flush()]))
    np.testing.assert_array_equal(y[:, 1], np.concatenate([mono.process(right), mono.flush()]))
    with pytest.raises(InvalidAudioError, match="2-channel"):
        st.process(np.zeros(3, np.float32))
    # int16 stereo: a (frames, 2) int16 array, each channel as if resampled alone.
    st16 = Resampler(16000, 24000, channels=2)
    xi = (stereo[::3] * 30000).astype(np.int16)
    y16 = np.concatenate([st16.process(xi), st16.flush()])
    assert y16.dtype == np.int16
    assert y16.shape == (-(-len(xi) * 3 // 2), 2)
    m16 = Resampler(16000, 24000)
    for c in range(2):
        col = np.ascontiguousarray(xi[:, c])
        np.testing.assert_array_equal(y16[:, c], np.concatenate([m16.process(col), m16.flush()]))


def test_delay_is_reported_and_small() -> None:
    for a, b in PAIRS:
        hq = Resampler(a, b).delay_ms
        ll = Resampler(a, b, quality="low_latency").delay_ms
        assert 0 < ll < hq < 14
        assert ll < 5
        assert Resampler(a, b, quality="low_latency").quality == "low_latency"


def test_tone_is_preserved_and_aligned() -> None:
    # Delay-compensated: output sample k is the input at time k / out_rate.
    t_in = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * np.pi * 1000 * t_in)).astype(np.float32)
    r = Resampler(16000, 24000)
    y = np.concatenate([r.process(x), r.flush()])
    t_out = np.arange(len(y)) / 24000
    ideal = 0.5 * np.sin(2 * np.pi * 1000 * t_out)
    assert np.max(np.abs(y[2400:-2400] - ideal[2400:-2400])) < 1e-5


def test_resampler_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="quality"):
        Resampler(16000, 24000, quality="best")
    with pytest.raises(ValueError, match="rate"):
        Resampler(0, 24000)
    with pytest.raises(ValueError, match="rate"):
        Resampler(-5, 24000)
    with pytest.raises(ValueError, match="ratio"):
        Resampler(24001, 44099)
    r = Resampler(16000, 24000)
    with pytest.raises(InvalidAudioError, match="even number"):
        r.process(b"\x00\x01\x02")
    with pytest.raises(InvalidAudioError, match="unsupported sample format"):
        r.process(np.zeros(4, np.float64))
    assert "Resampler(in_rate=16000, out_rate=24000" in repr(r)


# --- AudioSpec ---


def test_audio_spec_defaults_and_validation() -> None:
    assert AudioSpec() == AudioSpec(rate=24000, encoding="pcm16", channels=1)
    assert AudioSpec(encoding="ulaw").rate == 8000
    assert AudioSpec(encoding="alaw").rate == 8000
    assert AudioSpec(rate=16000, encoding="ulaw").rate == 16000
    assert AudioSpec(rate=16000).bytes_per_second == 32000
    assert AudioSpec(encoding="f32").bytes_to_ms(96000) == 1000.0
    with pytest.raises(ValueError, match="encoding"):
        AudioSpec(encoding="mp3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        AudioSpec(rate=-1)
    with pytest.raises(ValueError, match="rate"):
        AudioSpec(rate=16000.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels"):
        AudioSpec(channels=0)
