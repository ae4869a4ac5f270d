"""README claims that had no test able to fail (issue 13, "Claims in the README ..."),
each checked against the hostile server (``hostile.py``) where the server's side of the
wire is what proves it: the bytes it could not write, the pongs it got, the exact bytes of
audio it received, the exact time it sent ``speech_started``.

(Keys never in reprs after connect: ``test_faults.py::test_key_never_in_reprs_or_logs_
across_a_session``.)
"""

from __future__ import annotations

import asyncio
import base64
import math
import threading
import time
from typing import Any

from hostile import Conn, HostileServer, ping, text, wait_until
from realtime_ws import OpenAIRealtimeWebSocket, monotonic_ms
from test_faults import KEY, Seen, audio_delta, client, hostile

MiB = 1024 * 1024


# -- backpressure ----------------------------------------------------------------------------------


async def test_backpressure_past_8_mib_stalls_the_server_and_loses_nothing() -> None:
    """README: "past 8 MiB of undelivered events a socket is no longer read (TCP pushes back
    on the server), so nothing is dropped and memory stays bounded if the loop stalls"."""
    pcm_per_frame = 24 * 1024
    frames = 2000  # 48 MiB of audio, 64 MiB on the wire: more than 8 MiB + every buffer
    payloads = [text(audio_delta(bytes([i % 251]) * pcm_per_frame, i)) for i in range(frames)]
    wire_total = sum(len(p) for p in payloads)
    samples: list[tuple[float, int]] = []  # (monotonic time, frame bytes the server wrote)

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        base = conn.bytes_sent  # the 101 response

        async def sample() -> None:
            while True:
                samples.append((time.monotonic(), conn.bytes_sent - base))
                await asyncio.sleep(0.02)

        sampler = asyncio.ensure_future(sample())
        try:
            for p in payloads:
                await conn.send(p)  # each write waits for the socket (drain)
            samples.append((time.monotonic(), conn.bytes_sent - base))
            await conn.hold()
        finally:
            sampler.cancel()

    # Small server-side buffers, so a stall shows up in what the server could write.
    async with hostile(handler, sndbuf=128 * 1024) as srv:
        ws = client(srv)
        seen = Seen(ws)
        got: list[bytes] = []
        ws.on("audio", lambda ev: got.append(ev.data[:1]) or None)
        received = 0

        def count(ev: Any) -> None:
            nonlocal received
            received += len(ev.data)

        ws.on("audio", count)
        await ws.connect()
        t_block = time.monotonic()
        time.sleep(2.5)  # noqa: ASYNC251 - the point: the loop stalls, nothing is drained
        t_unblock = time.monotonic()

        def written_at(t: float) -> int:
            return max((b for ts, b in samples if ts <= t), default=0)

        early, late = written_at(t_block + 1.3), written_at(t_unblock - 0.1)
        assert late == early, f"the server kept writing while the loop was blocked: {early}->{late}"
        assert 8 * MiB < late < wire_total, late  # it got past 8 MiB, then had to stop
        assert await wait_until(lambda: received == frames * pcm_per_frame, 30.0), received
        await asyncio.sleep(0.05)
        assert received == frames * pcm_per_frame
        assert got == [bytes([i % 251]) for i in range(frames)]  # in order, none missing
        assert seen.errors == []
        assert ws.status == "connected"
        assert samples[-1][1] == wire_total
        await ws.aclose()


# -- send_audio from any thread --------------------------------------------------------------------


async def test_send_audio_from_several_threads_delivers_every_byte() -> None:
    """README: "send_audio never blocks and may be called from any thread"."""
    n_threads, n_chunks = 4, 200

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        conn = await srv.wait_conn()
        start = threading.Barrier(n_threads)
        errors: list[BaseException] = []

        def pump(t: int) -> None:
            start.wait()
            try:
                for i in range(n_chunks):
                    # Sizes vary per call; the content names the thread.
                    ws.send_audio(bytes([t + 1, 0]) * (80 + (i % 7) * 16))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=pump, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for _ in range(50):  # the loop keeps sending too
            ws.send_event({"type": "input_audio_buffer.clear"})
            await asyncio.sleep(0)
        for th in threads:
            th.join(10)
        assert errors == []
        per_thread = sum(2 * (80 + (i % 7) * 16) for i in range(n_chunks))
        expected = n_threads * n_chunks + 50 + 1  # appends + clears + session.update
        await conn.wait_messages(expected, timeout=10)
        appends = [e for e in conn.events() if e["type"] == "input_audio_buffer.append"]
        assert len(appends) == n_threads * n_chunks
        by_thread = [0] * n_threads
        for e in appends:
            data = base64.b64decode(e["audio"])
            t = data[0] - 1
            assert data == bytes([t + 1, 0]) * (len(data) // 2)  # never torn or mixed
            by_thread[t] += len(data)
        assert by_thread == [per_thread] * n_threads
        assert seen.errors == []
        await ws.aclose()


# -- pings are answered ----------------------------------------------------------------------------


async def test_server_pings_are_answered_with_their_payload() -> None:
    payloads = [f"ping-{i}".encode() for i in range(8)]
    sent_at: list[float] = []

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        for p in payloads:
            sent_at.append(time.monotonic())
            await conn.send(ping(p))
            await asyncio.sleep(0.05)
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv, ping_interval=None)  # only the server pings
        await ws.connect()
        conn = await srv.wait_conn()
        assert await wait_until(lambda: len(conn.pongs) >= len(payloads), 3.0), conn.pongs
        assert [p for _, p in conn.pongs] == payloads
        for (t_pong, _), t_ping in zip(conn.pongs, sent_at, strict=True):
            assert t_pong - t_ping < 0.2  # answered at once, not at the next client send
        assert conn.pings == []  # the client did not ping (keepalive off)
        await ws.aclose()


async def test_client_keepalive_pings_and_counts_pongs_as_life() -> None:
    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv, ping_interval=0.1, ping_timeout=0.1)
        seen = Seen(ws)
        await ws.connect()
        await asyncio.sleep(0.8)
        conn = srv.conns[0]
        assert len(conn.pings) >= 3
        assert ws.status == "connected"
        assert seen.errors == []
        await ws.aclose()


# -- interruption at the played position -----------------------------------------------------------


async def test_interruption_truncates_at_the_played_position() -> None:
    """README: "ws.interrupt()  # cancel (if ongoing) + truncate at the played position";
    the core does it by itself on ``speech_started``. The truncation point must be the time
    since the first audio arrived (bounded by when the server sent ``speech_started`` and when
    it got the truncate), not the end of the audio."""
    audio_ms = 1000
    pcm = b"\x01\x00" * (24 * audio_ms)  # 1 s of 24 kHz PCM16
    play_ms = 300
    times: dict[str, float] = {}

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        created = {
            "type": "response.created",
            "event_id": "evt_c",
            "response": {"id": "resp_1", "object": "realtime.response",
                         "status": "in_progress", "output": []},
        }  # fmt: skip
        await conn.send(text(created), text(audio_delta(pcm)))
        await asyncio.sleep(play_ms / 1000)
        speech = {
            "type": "input_audio_buffer.speech_started",
            "event_id": "evt_s",
            "audio_start_ms": 0,
            "item_id": "item_user",
        }
        times["speech_sent"] = monotonic_ms()
        await conn.send(text(speech))
        while "conversation.item.truncate" not in conn.event_types():  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        times["truncate_received"] = monotonic_ms()
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv)
        first: list[float] = []
        ws.on("audio", lambda _ev: first.append(ws._first_audio_timestamp or math.nan))
        await ws.connect()
        conn = await srv.wait_conn()
        assert await wait_until(lambda: "truncate_received" in times, 3.0)
        truncate = next(e for e in conn.events() if e["type"] == "conversation.item.truncate")
        t0 = first[0]
        lo = math.floor(times["speech_sent"] - t0)
        hi = math.ceil(times["truncate_received"] - t0)
        got = truncate["audio_end_ms"]
        assert lo <= got <= hi, (lo, got, hi)
        assert hi - lo < 50  # the bound is tight: a loopback round trip
        assert got < audio_ms - 100  # far from the end of the audio
        assert truncate["item_id"] == "item_1"
        types = conn.event_types()
        assert types.index("response.cancel") < types.index("conversation.item.truncate")
        await ws.aclose()


async def test_hostile_server_thread_is_independent_of_a_blocked_loop() -> None:
    """The premise of the stall tests: the hostile server keeps running while the test's
    loop is blocked (it has its own loop in its own thread)."""
    ticks: list[float] = []

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    srv = HostileServer(handler).start()
    try:
        ws = OpenAIRealtimeWebSocket(api_key=KEY, url=srv.url())
        await ws.connect()
        t = time.monotonic()
        time.sleep(0.3)  # noqa: ASYNC251 - a blocked loop on purpose
        assert len([x for x in ticks if t <= x <= t + 0.3]) >= 10
        await ws.aclose()
    finally:
        srv.stop()
