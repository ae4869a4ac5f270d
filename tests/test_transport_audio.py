"""Per-session audio formats on the transport (user side <-> API side), over real sockets."""

from __future__ import annotations

import asyncio
import base64
import sys
from typing import Any

import numpy as np
import pytest

from helpers import ev_audio_delta, ev_response_created, until
from realtime_ws import AudioEvent, AudioSpec, InvalidAudioError, OpenAIRealtimeWebSocket
from realtime_ws.audio import ulaw_decode, ulaw_encode

KEY = "sk-test-audio"


def tone(rate: int, ms: int, hz: float = 440.0, amp: float = 8000) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * hz * t) * amp).astype(np.int16)


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spec) * rate / len(pcm))


def appended(server: Any) -> bytes:
    return b"".join(
        base64.b64decode(e["audio"])
        for e in server.received()
        if e["type"] == "input_audio_buffer.append"
    )


async def test_input_is_resampled_to_the_session_rate(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, input_audio=AudioSpec(rate=16000)
    )
    await ws.connect(initial_session_config={"audio": {"input": {"turn_detection": None}}})
    pcm16k = tone(16000, 1000)
    for i in range(0, len(pcm16k), 320):  # 20 ms chunks
        ws.send_audio(pcm16k[i : i + 320], commit=i + 320 >= len(pcm16k))
    await server.wait_for("input_audio_buffer.commit")
    got = np.frombuffer(appended(server), dtype="<i2")
    assert len(got) == 24000  # exactly 1.5x once the tail is flushed by commit
    assert dominant_hz(got, 24000) == pytest.approx(440, abs=2)
    assert server.stats()["audio_bytes_received"] == 48000
    await ws.aclose()


async def test_output_is_resampled_to_the_user_rate_with_its_tail(make_server) -> None:
    server = await make_server(audio_ms=500, tone_hz=1000)
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, output_audio=AudioSpec(rate=48000)
    )
    chunks: list[bytes] = []
    done = asyncio.Event()
    ws.on("audio", lambda ev: chunks.append(ev.data))
    ws.on("turn_done", lambda _e: done.set())
    await ws.connect()
    ws.request_response()
    await asyncio.wait_for(done.wait(), 10)
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
    assert len(pcm) == 48000 // 2  # 500 ms at 48 kHz: 2x the API samples, tail included
    assert dominant_hz(pcm, 48000) == pytest.approx(1000, abs=3)
    await ws.aclose()


async def test_g711_session_with_pcm16_user_side(make_server) -> None:
    server = await make_server(audio_ms=300, tone_hz=500)
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY,
        base_url=server.url,
        input_audio=AudioSpec(rate=24000),
        output_audio=AudioSpec(rate=24000),
    )
    chunks: list[bytes] = []
    done = asyncio.Event()
    ws.on("audio", lambda ev: chunks.append(ev.data))
    ws.on("turn_done", lambda _e: done.set())
    cfg = {
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
            "output": {"format": {"type": "audio/pcmu"}},
        }
    }
    await ws.connect(initial_session_config=cfg)
    await until(lambda: ws._raw_session_config is not None)
    ws.send_audio(tone(24000, 100), commit=True)
    await server.wait_for("input_audio_buffer.commit")
    api_in = appended(server)
    assert len(api_in) == 800  # 100 ms of 8 kHz µ-law
    assert dominant_hz(ulaw_decode(api_in), 8000) == pytest.approx(440, abs=12)
    ws.request_response()
    await asyncio.wait_for(done.wait(), 10)
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
    assert len(pcm) == 24000 * 300 // 1000
    assert dominant_hz(pcm, 24000) == pytest.approx(500, abs=5)
    await ws.aclose()


async def test_ulaw_passthrough_when_formats_match(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, input_audio=AudioSpec(encoding="ulaw")
    )
    cfg = {"audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": None}}}
    await ws.connect(initial_session_config=cfg)
    data = ulaw_encode(tone(8000, 20)) + b"\x7f"  # odd length is fine for G.711
    ws.send_audio(data, commit=True)
    await server.wait_for("input_audio_buffer.commit")
    assert appended(server) == data
    with pytest.raises(InvalidAudioError, match="ulaw"):
        ws.send_audio(np.zeros(10, dtype=np.int16))
    await ws.aclose()


async def test_g711_session_without_spec_accepts_raw_bytes(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url)
    cfg = {"audio": {"input": {"format": {"type": "audio/pcma"}, "turn_detection": None}}}
    await ws.connect(initial_session_config=cfg)
    ws.send_audio(b"\xd5" * 161, commit=True)
    await server.wait_for("input_audio_buffer.commit")
    assert appended(server) == b"\xd5" * 161
    await ws.aclose()


async def test_float32_input(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, input_audio=AudioSpec(rate=48000, encoding="f32")
    )
    await ws.connect(initial_session_config={"audio": {"input": {"turn_detection": None}}})
    x = (np.sin(2 * np.pi * 300 * np.arange(48000 // 5) / 48000) * 0.25).astype(np.float32)
    ws.send_audio(x, commit=True)
    await server.wait_for("input_audio_buffer.commit")
    got = np.frombuffer(appended(server), dtype="<i2")
    assert len(got) == 24000 // 5
    assert dominant_hz(got, 24000) == pytest.approx(300, abs=6)
    assert np.max(np.abs(got)) == pytest.approx(0.25 * 32768, rel=0.02)
    with pytest.raises(InvalidAudioError, match="f32"):
        ws.send_audio(np.zeros(10, dtype=np.int16))
    # A partial float32 sample is carried to the next call, not refused.
    n = len(server.received())
    ws.send_audio(b"\x00" * 6)
    ws.send_audio(b"\x00" * 2, commit=True)
    await until(lambda: len(server.received(type="input_audio_buffer.commit")) == 2)
    assert len(server.received()) > n
    await ws.aclose()


async def test_audio_end_ms_counts_api_side_bytes(make_server) -> None:
    server = await make_server(validate=False, respond=False)
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, output_audio=AudioSpec(rate=8000, encoding="ulaw")
    )
    audio: list[AudioEvent] = []
    ws.on("audio", audio.append)
    await ws.connect()
    await until(lambda: ws._raw_session_config is not None)
    n = len(server.received())
    server.send(ev_response_created())
    server.send(ev_audio_delta(b"\x00\x01" * 2400))  # 100 ms of 24 kHz PCM16 from the API
    await until(lambda: bool(audio))
    assert len(audio[0].data) <= 800  # the user gets 8 kHz µ-law (minus resampler delay)
    assert ws._audio_length_ms == pytest.approx(100.0)  # the API-side duration
    await asyncio.sleep(0.2)
    ws.interrupt()
    await until(
        lambda: any(e["type"] == "conversation.item.truncate" for e in server.received()[n:])
    )
    trunc = next(e for e in server.received()[n:] if e["type"] == "conversation.item.truncate")
    assert trunc["audio_end_ms"] == 100  # min(elapsed >= 200, 100 ms of API audio)
    await ws.aclose()


def test_bad_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="mono"):
        OpenAIRealtimeWebSocket(input_audio=AudioSpec(rate=16000, channels=2))
    with pytest.raises(TypeError, match="AudioSpec"):
        OpenAIRealtimeWebSocket(output_audio=(16000, "pcm16"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        AudioSpec(encoding="mp3")  # type: ignore[arg-type]


async def test_resampled_send_runs_no_python_beyond_the_send_audio_call(make_server) -> None:
    """User-side resampling adds no Python work to a send: while ``send_audio`` of a 16 kHz
    chunk runs, the only Python function entered is ``send_audio`` itself, and it makes one
    call into the core, which resamples, base64-encodes and frames the chunk."""
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, input_audio=AudioSpec(rate=16000)
    )
    await ws.connect(initial_session_config={"audio": {"input": {"turn_detection": None}}})
    chunk = tone(16000, 20)
    ws.send_audio(chunk)  # first call: nothing lazy left for the measured one
    seen: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            seen.append(f"py:{frame.f_code.co_name}")
        elif event == "c_call" and arg is not sys.setprofile:
            seen.append(f"c:{getattr(arg, '__qualname__', arg)}")

    sys.setprofile(profile)
    try:
        ws.send_audio(chunk)
    finally:
        sys.setprofile(None)
    assert seen == ["py:send_audio", "c:Transport.send_audio"], seen
    # And that one call did the whole job: three 20 ms chunks at 16 kHz reach the server as
    # exactly 60 ms at 24 kHz once the commit flushes the resampler's tail.
    ws.send_audio(chunk, commit=True)
    await server.wait_for("input_audio_buffer.commit")
    assert len(appended(server)) == 3 * 480 * 2
    await ws.aclose()
