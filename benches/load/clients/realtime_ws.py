"""This package: ``OpenAIRealtimeWebSocket`` with an ``audio`` listener.

The audio arrives decoded (base64 is done in Rust), as ``AudioEvent.data``, with the delta's
``event_id`` (which carries the server's send time) as ``AudioEvent.event_id``.
"""

from __future__ import annotations

from typing import Any

from realtime_ws import OpenAIRealtimeWebSocket, __version__

from .base import API_KEY, MODEL, ClientOptions, Meter


class Session:
    __slots__ = ("send_audio", "ws")

    def __init__(self, ws: OpenAIRealtimeWebSocket) -> None:
        self.ws = ws
        # The bound method itself: what a user's mic loop would call.
        self.send_audio = ws.send_audio

    async def close(self) -> None:
        await self.ws.aclose()


class Client:
    name = "realtime_ws"
    async_send = False

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts

    def version(self) -> str:
        return __version__

    async def connect(self, meter: Meter) -> Session:
        ws = OpenAIRealtimeWebSocket(
            api_key=API_KEY, base_url=self.opts.realtime_url, model=MODEL, ping_interval=None
        )

        def on_audio(ev: Any) -> None:
            meter.audio(ev.data, ev.event_id)

        ws.on("audio", on_audio)
        ws.on("turn_done", lambda _ev: meter.response_done())
        await ws.connect(initial_session_config={"audio": {"input": {"turn_detection": None}}})
        return Session(ws)

    async def aclose(self) -> None:
        return None
