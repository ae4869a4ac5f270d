"""``python -m realtime_ws demo``: one voice turn, end to end.

Streams a WAV file to the model in real time (20 ms chunks), prints the
events as they arrive, and writes the spoken reply to a WAV file. Without
``OPENAI_API_KEY`` it talks to the embedded mock server (so it works on any
machine, offline); with the key it talks to the real API.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import wave
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import OpenAIRealtimeWebSocket
from .events import AudioEvent, ErrorEvent

API_RATE = 24000
CHUNK_MS = 20


def load_wav(path: str | None) -> np.ndarray:
    """A WAV file as mono int16 at 24 kHz (the bundled greeting by default)."""
    if path is None:
        ref = resources.files("realtime_ws").joinpath("data/hello.wav")
        with resources.as_file(ref) as p:
            return load_wav(str(p))
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit PCM WAV files are supported")
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate != API_RATE:
        from .audio import Resampler

        rs = Resampler(rate, API_RATE)
        pcm = np.concatenate([rs.process(pcm), rs.flush()]).astype(np.int16)
    return pcm


def describe(ev: dict[str, Any]) -> str:
    """One short line per server event."""
    t = str(ev.get("type", "?"))
    if t.endswith(".delta") and "delta" in ev:
        d = ev["delta"]
        return f"{t} ({len(d)} chars)" if t.endswith("audio.delta") else f"{t} {d!r}"
    if t == "error":
        err = ev.get("error") or {}
        return f"error {err.get('code')}: {err.get('message')}"
    if t in ("response.done", "response.created"):
        r = ev.get("response") or {}
        return f"{t} id={r.get('id')} status={r.get('status')}"
    if t.startswith("conversation.item"):
        item = ev.get("item") or {}
        iid = ev.get("item_id", item.get("id", ""))
        return f"{t} {item.get('type', '')} {item.get('role', '')} {iid}"
    return t


async def run(args: argparse.Namespace) -> int:
    pcm = load_wav(args.wav)
    key = os.environ.get("OPENAI_API_KEY")
    server = None
    if key and not args.mock:
        print(f"Talking to the OpenAI Realtime API ({args.model}).")
        ws = OpenAIRealtimeWebSocket(api_key=key, model=args.model)
    else:
        from .testing import MockRealtimeServer

        server = MockRealtimeServer(realtime=True, audio_ms=2000)
        await server.start()
        print(f"No OPENAI_API_KEY: talking to the embedded mock server at {server.url}.")
        ws = OpenAIRealtimeWebSocket(api_key="sk-mock", model=args.model, base_url=server.url)

    reply: list[bytes] = []
    # Set when a response completes (not cancelled by a barge-in) and no speech has started
    # since: the model has answered the user's last turn.
    answered = asyncio.Event()
    t0 = time.monotonic()
    turn_end: list[float] = []  # when the server's VAD saw the latest turn end, until answered
    latencies_ms: list[float] = []  # end of speech -> first reply audio, per answered turn

    def on_event(ev: dict[str, Any]) -> None:
        if not args.quiet:
            print(f"  {time.monotonic() - t0:6.2f}s  {describe(ev)}")
        t = ev.get("type")
        if t == "input_audio_buffer.speech_started":
            answered.clear()
        elif t == "input_audio_buffer.speech_stopped":
            turn_end[:] = [time.monotonic()]
        elif t == "response.done" and (ev.get("response") or {}).get("status") == "completed":
            answered.set()

    def on_audio(ev: AudioEvent) -> None:
        if turn_end:
            latencies_ms.append(1000 * (time.monotonic() - turn_end.pop()))
        reply.append(ev.data)

    def on_error(ev: ErrorEvent) -> None:
        print(f"  error ({ev.source}): {ev.error}", file=sys.stderr)

    ws.on("*", on_event)
    ws.on("audio", on_audio)
    ws.on("error", on_error)
    ws.on("disconnected", lambda: answered.set())

    try:
        await ws.connect(
            initial_session_config={
                "instructions": "You are a friendly voice assistant. Answer in one short sentence.",
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            }
        )
        step = API_RATE * CHUNK_MS // 1000
        start = time.monotonic()
        for i in range(0, len(pcm), step):
            ws.send_audio(pcm[i : i + step])
            # Real time: chunk k goes out at start + k * 20 ms.
            delay = start + (i // step + 1) * CHUNK_MS / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        try:
            await asyncio.wait_for(answered.wait(), args.timeout)
        except asyncio.TimeoutError:
            print(f"No complete reply within {args.timeout} s.", file=sys.stderr)
    finally:
        await ws.aclose()
        if server is not None:
            await server.stop()

    audio = b"".join(reply)
    out = Path(args.out)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(API_RATE)
        w.writeframes(audio)
    secs = len(audio) / 2 / API_RATE
    print(
        f"Sent {len(pcm) / API_RATE:.2f} s of audio; received {secs:.2f} s of reply audio -> {out}"
    )
    if latencies_ms:
        print(
            "First reply audio after the end of each user turn: "
            + ", ".join(f"{ms:.0f} ms" for ms in latencies_ms)
        )
    return 0 if audio else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m realtime_ws demo", description=__doc__)
    p.add_argument("--wav", help="16-bit PCM WAV to send (default: a bundled spoken question)")
    p.add_argument(
        "--out", default="reply.wav", help="where to write the reply (default reply.wav)"
    )
    p.add_argument("--model", default="gpt-realtime-2.1")
    p.add_argument(
        "--mock", action="store_true", help="use the mock server even if OPENAI_API_KEY is set"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")
    p.add_argument("--quiet", action="store_true", help="do not print every event")
    args = p.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
