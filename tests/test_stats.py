"""``ws.stats()`` and ``TurnDoneEvent.timing``, against the raw hostile server, which
counts every byte on the wire itself: the client's counters must equal the server's."""

from __future__ import annotations

import asyncio
from typing import Any

from hostile import Conn, text
from realtime_ws import OpenAIRealtimeWebSocket, SessionStats, TurnDoneEvent
from test_faults import KEY, audio_delta, hostile, upgraded, wait_until


def client(url: str) -> OpenAIRealtimeWebSocket:
    # No keepalive: pings and pongs are control frames, not counted, and would make the
    # server's byte count differ from the client's data-frame count.
    return OpenAIRealtimeWebSocket(api_key=KEY, url=url, ping_interval=None, close_timeout=0.5)


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "event_id": f"evt_{type_}", **fields}


async def test_wire_counters_equal_what_the_server_counted() -> None:
    chunks = [text(audio_delta(b"\x01\x00" * 480, i)) for i in range(25)]
    chunks.append(
        text(
            event(
                "response.output_text.delta",
                response_id="r",
                item_id="i",
                output_index=0,
                content_index=0,
                delta="hi",
            )
        )
    )
    async with hostile(upgraded(*chunks)) as srv:
        ws = client(srv.url())
        audio: list[bytes] = []
        ws.on("audio", lambda ev: audio.append(ev.data))
        await ws.connect()
        for _ in range(10):
            ws.send_audio(b"\x00\x00" * 480)
        conn = srv.conns[0]
        # The handshake's own bytes are not counted by the hostile server's frame pump
        # (it starts after the upgrade), nor by the client (its counters start there too).
        await wait_until(lambda: len(conn.messages) >= 11 and len(audio) >= 25, 5.0)
        await wait_until(lambda: ws.stats().events_pending == 0, 2.0)
        stats = ws.stats()
        assert isinstance(stats, SessionStats)
        assert stats.frames_sent == len(conn.messages) == 11  # session.update + 10 appends
        assert stats.bytes_sent == conn.bytes_received
        assert stats.frames_received == len(chunks)
        assert stats.bytes_received == sum(len(c) for c in chunks)
        # 25 audio events + the text delta; the exact count is the core's, so only bound it
        # by what Python received.
        assert stats.events_delivered >= len(audio) + 1
        assert stats.pending_event_bytes == 0
        assert stats.backpressure_ms == 0.0
        assert stats.send_buffer_bytes == 0
        before_close = stats
        await ws.aclose()
        after = ws.stats()
        # The last socket's counters stay readable after close; the close frame is not data.
        assert after.frames_sent == before_close.frames_sent
        assert after.bytes_received == before_close.bytes_received


async def test_a_requested_response_is_timed_from_the_request() -> None:
    step = 0.06

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        await wait_until(lambda: any(b"response.create" in m.data for m in conn.messages), 5.0)
        await asyncio.sleep(step)
        await conn.send_json(event("response.created", response={"id": "resp_1"}))
        await asyncio.sleep(step)
        await conn.send(text(audio_delta(b"\x01\x00" * 480, 1)))
        await asyncio.sleep(step)
        await conn.send_json(
            event(
                "response.output_audio_transcript.delta",
                response_id="resp_1",
                item_id="item_1",
                output_index=0,
                content_index=0,
                delta="hi",
            )
        )
        await asyncio.sleep(step)
        await conn.send_json(
            event(
                "response.done",
                response={"id": "resp_1", "status": "completed", "output": [], "usage": None},
            )
        )
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv.url())
        done: list[TurnDoneEvent] = []
        ws.on("turn_done", done.append)
        await ws.connect()
        ws.request_response()
        await wait_until(lambda: bool(done), 5.0)
        t = done[0].timing
        assert t is not None
        assert t.response_id == "resp_1"
        assert t.trigger == "response.create"
        # Each step is at least `step` after the request left: a clock started at
        # response.created (the wrong origin) would read about one step less.
        ms = step * 1000
        assert ms <= t.created_ms < t.first_audio_ms < t.first_text_ms < t.duration_ms  # type: ignore[operator]
        assert 2 * ms <= t.first_audio_ms  # type: ignore[operator]
        assert 3 * ms <= t.first_text_ms  # type: ignore[operator]
        assert 4 * ms <= t.duration_ms
        stats = ws.stats()
        assert stats.responses_completed == 1
        assert stats.last_response == t
        await ws.aclose()


async def test_a_server_started_response_has_no_request_to_time_from() -> None:
    chunks = [
        text(event("response.created", response={"id": "resp_9"})),
        text(
            event(
                "response.done",
                response={"id": "resp_9", "status": "completed", "output": [], "usage": None},
            )
        ),
    ]
    async with hostile(upgraded(*chunks)) as srv:
        ws = client(srv.url())
        done: list[TurnDoneEvent] = []
        ws.on("turn_done", done.append)
        await ws.connect()
        await wait_until(lambda: bool(done), 5.0)
        t = done[0].timing
        assert t is not None
        assert t.trigger == "response.created"
        assert t.created_ms == 0.0
        assert t.first_audio_ms is None
        assert t.first_text_ms is None
        await ws.aclose()


def test_stats_before_any_connection_are_zero() -> None:
    ws = OpenAIRealtimeWebSocket(api_key=KEY)
    s = ws.stats()
    assert s == SessionStats(0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0, None)
