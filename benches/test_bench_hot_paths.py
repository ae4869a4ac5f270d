"""pytest-benchmark: one audio frame through the event queue to Python (issue #5).

The Rust halves of the per-frame path (classify + decode, build an append frame) are
criterion benches (``benches/hot_paths.rs``); the part that needs Python is here. A mock
server (in this process, on the shared runtime) writes N real ``response.output_audio.delta``
frames (50 ms of 24 kHz PCM16 each) to a real loopback socket; the core reads, classifies
and decodes them on its tokio threads and queues them while the asyncio loop is not running.
Then the timed part, per batch of N:

- ``hub-drain``: ``Hub.drain()``: the queued events become Python objects (``AudioEvent``
  with its ``bytes``) in one call.
- ``to-callback``: the loop hub's reader callback, as the event loop would run it: drain,
  dispatch to the ``OpenAIRealtimeWebSocket`` of the connection, and its ``audio`` listener
  (``total += len(ev.data)``).
- ``python-parse-decode``: for scale, what a pure-Python client does per frame once it has
  the frame text: ``orjson.loads`` + ``base64.b64decode`` (no socket, no dispatch).

And the send side (issue #4's "a 20 ms chunk sent with user-side resampling adds no Python-side
work beyond the ``send_audio`` call"), per batch of 50 chunks of 20 ms (1 s of audio) on a
connected session:

- ``send-24k``: ``ws.send_audio`` of 24 kHz PCM16, the API's own rate (no conversion);
- ``send-16k-core``: the session opened with ``input_audio=AudioSpec(rate=16000)``, so
  ``send_audio`` takes 16 kHz chunks and the core resamples them on the same call;
- ``send-16k-soxr``: what a user does without it: ``soxr.ResampleStream`` (HQ, int16) per
  chunk in Python, then ``send_audio`` of the result.

    pytest benches/test_bench_hot_paths.py                 # timings (per batch of 1,000)
    pytest benches/test_bench_hot_paths.py --benchmark-disable   # smoke: runs each once

Per-event cost = batch time / ``extra_info["events"]``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from realtime_ws import AudioSpec, OpenAIRealtimeWebSocket, _core
from realtime_ws.testing import MockRealtimeServer

N = 1000
Bench = Any  # pytest-benchmark's fixture


def _audio_frame(seq: int) -> str:
    pcm = bytes((i * 7 + seq) & 0xFF for i in range(4800))  # 50 ms, 24 kHz PCM16
    return json.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": f"evt_{seq}_{time.time_ns()}",
            "response_id": "resp_bench",
            "item_id": "item_bench",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(pcm).decode("ascii"),
        },
        separators=(",", ":"),
    )


FRAMES = [_audio_frame(i) for i in range(8)]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def server(loop: asyncio.AbstractEventLoop) -> Iterator[MockRealtimeServer]:
    # A passive peer: it answers nothing by itself and only sends what the test injects.
    srv = MockRealtimeServer(respond=False, record=False)
    loop.run_until_complete(srv.start())
    yield srv
    loop.run_until_complete(srv.stop())


def _fill(server: MockRealtimeServer, pending: Any, n: int) -> None:
    """Makes the server send ``n`` audio frames and waits until the core queued them all
    (the asyncio loop is not running meanwhile, so nothing drains them)."""
    start = pending()
    for i in range(n):
        server.send(FRAMES[i % len(FRAMES)])
    deadline = time.monotonic() + 30
    while pending() < start + n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {pending() - start} of {n} frames queued")
        time.sleep(0.002)


def test_hub_drain(benchmark: Bench, loop: asyncio.AbstractEventLoop, server: Any) -> None:
    hub = _core.Hub()
    transport = _core.Transport()
    transport.open(
        hub,
        server.url + "?model=m",
        [("Authorization", "Bearer sk-bench")],
        [],
        ping_interval=None,
    )
    deadline = time.monotonic() + 10
    while hub.pending() == 0:  # SocketOpened
        assert time.monotonic() < deadline, "no open event"
        time.sleep(0.002)
    hub.drain()

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        _fill(server, hub.pending, N)
        return (), {}

    batch = benchmark.pedantic(hub.drain, setup=setup, rounds=20, iterations=1)
    assert len(batch) == N
    assert all(isinstance(ev, _core.AudioEvent) for _, ev in batch)
    assert len(batch[0][1].data) == 4800
    benchmark.extra_info["events"] = N
    transport.detach()


def test_to_callback(benchmark: Bench, loop: asyncio.AbstractEventLoop, server: Any) -> None:
    ws = OpenAIRealtimeWebSocket(api_key="sk-bench", base_url=server.url, ping_interval=None)
    total = 0

    def on_audio(ev: Any) -> None:
        nonlocal total
        total += len(ev.data)

    ws.on("audio", on_audio)
    loop.run_until_complete(ws.connect())
    loop.run_until_complete(asyncio.sleep(0.05))  # let session.created etc. be dispatched
    hub = ws._hub
    assert hub is not None

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        _fill(server, hub.core.pending, N)
        return (), {}

    before = total
    benchmark.pedantic(hub._drain, setup=setup, rounds=20, iterations=1)
    assert total - before >= N * 4800
    assert (total - before) % (N * 4800) == 0
    benchmark.extra_info["events"] = N
    loop.run_until_complete(ws.aclose())


def test_python_parse_decode(benchmark: Bench) -> None:
    orjson = pytest.importorskip("orjson")
    frames = [FRAMES[i % len(FRAMES)].encode() for i in range(N)]

    def run() -> int:
        total = 0
        for f in frames:
            total += len(base64.b64decode(orjson.loads(f)["delta"]))
        return total

    assert benchmark(run) == N * 4800
    benchmark.extra_info["events"] = N


SEND_CHUNKS = 50  # 1 s of 20 ms chunks per round


@pytest.mark.parametrize("impl", ["send-24k", "send-16k-core", "send-16k-soxr"])
def test_send_audio(
    benchmark: Bench, loop: asyncio.AbstractEventLoop, server: Any, impl: str
) -> None:
    rate = 24000 if impl == "send-24k" else 16000
    spec = AudioSpec(rate=16000) if impl == "send-16k-core" else None
    ws = OpenAIRealtimeWebSocket(
        api_key="sk-bench", base_url=server.url, ping_interval=None, input_audio=spec
    )
    loop.run_until_complete(ws.connect())
    t = np.arange(rate // 50 * SEND_CHUNKS) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    chunks = [c.tobytes() for c in np.split(pcm, SEND_CHUNKS)]
    send = ws.send_audio
    rounds = 0
    if impl == "send-16k-soxr":
        soxr = pytest.importorskip("soxr")
        stream = soxr.ResampleStream(16000, 24000, 1, dtype="int16", quality="HQ")

        def run() -> None:
            nonlocal rounds
            rounds += 1
            for c in chunks:
                send(stream.resample_chunk(np.frombuffer(c, dtype=np.int16)))

    else:

        def run() -> None:
            nonlocal rounds
            rounds += 1
            for c in chunks:
                send(c)

    received_before = server.stats()["audio_bytes_received"]
    benchmark(run)
    benchmark.extra_info["events"] = SEND_CHUNKS
    # Every byte sent arrived at the server, exactly: what the same chunks give through the
    # same conversion, replayed here (the core's resampler or soxr, both deterministic).
    expected = _expected_api_bytes(impl, chunks, rounds)
    deadline = time.monotonic() + 30
    got = 0
    while time.monotonic() < deadline:
        loop.run_until_complete(asyncio.sleep(0.01))
        got = server.stats()["audio_bytes_received"] - received_before
        if got >= expected:
            break
    loop.run_until_complete(asyncio.sleep(0.05))
    got = server.stats()["audio_bytes_received"] - received_before
    assert rounds >= 1
    assert got == expected, (impl, rounds, got, expected)
    loop.run_until_complete(ws.aclose())


def _expected_api_bytes(impl: str, chunks: list[bytes], rounds: int) -> int:
    """24 kHz PCM16 bytes the API receives for ``rounds`` passes over ``chunks``."""
    if impl == "send-24k":
        return rounds * sum(len(c) for c in chunks)
    if impl == "send-16k-core":
        from realtime_ws.audio import Resampler

        r = Resampler(16000, 24000, quality="hq")
        return sum(len(r.process(c)) for _ in range(rounds) for c in chunks)
    soxr = pytest.importorskip("soxr")
    s = soxr.ResampleStream(16000, 24000, 1, dtype="int16", quality="HQ")
    return sum(
        s.resample_chunk(np.frombuffer(c, dtype=np.int16)).nbytes
        for _ in range(rounds)
        for c in chunks
    )
