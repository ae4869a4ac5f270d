"""Many transports against one mock server: no audio byte is lost."""

from __future__ import annotations

import asyncio
from typing import Any

from helpers import until
from realtime_ws import AudioEvent, OpenAIRealtimeWebSocket

SESSIONS = 50


async def test_fifty_concurrent_sessions_lose_no_audio(make_server) -> None:
    server = await make_server(audio_ms=2000, chunk_ms=40)
    received: list[int] = [0] * SESSIONS
    done: list[asyncio.Event] = [asyncio.Event() for _ in range(SESSIONS)]
    transports: list[OpenAIRealtimeWebSocket] = []

    def make(i: int) -> OpenAIRealtimeWebSocket:
        ws = OpenAIRealtimeWebSocket(api_key="sk-load", base_url=server.url)

        def on_audio(ev: AudioEvent) -> None:
            received[i] += len(ev.data)

        ws.on("audio", on_audio)
        ws.on("turn_done", lambda _ev: done[i].set())
        return ws

    transports = [make(i) for i in range(SESSIONS)]
    await asyncio.gather(*(ws.connect() for ws in transports))
    for ws in transports:
        ws.send_event(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "talk"}],
                },
            }
        )
        ws.request_response()
    await asyncio.wait_for(asyncio.gather(*(d.wait() for d in done)), timeout=60)
    stats: dict[str, Any] = server.stats()
    sent_total = stats["audio_bytes_sent"]
    assert sent_total == SESSIONS * 2000 * 48  # 2 s of 24 kHz PCM16 per session
    assert sum(received) == sent_total
    assert all(r == 2000 * 48 for r in received)
    await asyncio.gather(*(ws.aclose() for ws in transports))
    await until(lambda: all(not c.open for c in server.connections))
