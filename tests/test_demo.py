"""The README's first command: ``python -m realtime_ws demo`` against the embedded mock server.

Runs the real CLI in a subprocess (no API key, so it must pick the mock server on loopback),
with a short WAV at 16 kHz so the demo's resampling path runs too, and checks what it writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

MOCK_REPLY_S = 2.0  # the demo's mock server answers every turn with 2 s of audio


def write_turn_wav(path: Path, rate: int = 16000) -> None:
    """Two user turns: speech (a loud tone), a pause long enough for the server's VAD to end the
    turn (the mock starts answering), speech again (a barge-in: that answer is cancelled), then
    silence, so the second answer is the one that completes."""
    t = np.arange(int(0.5 * rate)) / rate
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    pause = np.zeros(rate // 2, dtype="<i2")
    pcm = np.concatenate([tone, pause, tone, pause, pause])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def run_demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "realtime_ws", "demo", "--timeout", "20", *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_streams_a_wav_and_writes_the_whole_reply(tmp_path: Path) -> None:
    wav_in = tmp_path / "question.wav"
    write_turn_wav(wav_in)
    out = run_demo(tmp_path, "--wav", str(wav_in), "--out", "answer.wav")
    assert out.returncode == 0, out.stderr
    assert "embedded mock server" in out.stdout
    # Every server event is printed as it arrives, in protocol order.
    lines = out.stdout.splitlines()
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "response.created",
        "response.output_audio.delta",
        "response.done",
    ]
    positions = [next(i for i, line in enumerate(lines) if kind in line) for kind in order]
    assert positions == sorted(positions), out.stdout
    assert "status=cancelled" in out.stdout  # the barge-in happened
    assert "status=completed" in out.stdout
    with wave.open(str(tmp_path / "answer.wav"), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        seconds = w.getnframes() / w.getframerate()
    # The demo waits for the response that completes (not the one the barge-in cancelled), so
    # the whole final reply is in the file.
    assert seconds >= MOCK_REPLY_S, seconds
    latency_line = next(x for x in lines if x.startswith("First reply audio after"))
    assert latency_line.count(" ms") == 2, latency_line  # one per user turn


def test_demo_rejects_a_non_16_bit_wav_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "u8.wav"
    with wave.open(str(bad), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(800))
    out = run_demo(tmp_path, "--wav", str(bad), "--quiet")
    assert out.returncode != 0
    assert "only 16-bit PCM WAV files are supported" in out.stderr
    assert "Traceback" not in out.stderr
