"""The official ``openai`` SDK: ``AsyncOpenAI(...).realtime.connect``.

As its users write it: one task per session iterating ``async for event in conn``
(the SDK parses every frame into its event models), ``base64.b64decode`` of each audio
delta in Python, and ``await conn.input_audio_buffer.append(audio=<base64>)`` to send.
"""

from __future__ import annotations

import asyncio
import base64
from importlib.metadata import version
from typing import Any

from openai import AsyncOpenAI

from .base import API_KEY, MODEL, SESSION, ClientOptions, Meter


class Session:
    def __init__(self, conn: Any, manager: Any, meter: Meter) -> None:
        self.conn = conn
        self.manager = manager
        self.task = asyncio.create_task(self._read(meter))

    async def _read(self, meter: Meter) -> None:
        b64decode = base64.b64decode
        async for event in self.conn:
            t = event.type
            if t == "response.output_audio.delta":
                meter.audio(b64decode(event.delta), event.event_id)
            elif t == "response.done":
                meter.response_done()

    async def send_audio(self, pcm: bytes) -> None:
        await self.conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode("ascii"))

    async def close(self) -> None:
        await self.conn.close()
        try:
            await asyncio.wait_for(self.task, 10)
        except Exception:
            self.task.cancel()


class Client:
    name = "openai_sdk"
    async_send = True

    def __init__(self, opts: ClientOptions) -> None:
        self.client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=opts.base_url)

    def version(self) -> str:
        return version("openai")

    async def connect(self, meter: Meter) -> Session:
        manager = self.client.realtime.connect(
            model=MODEL,
            # Keepalive off, as for every client here (the window is shorter than a ping).
            # Not in the SDK's TypedDict, but passed through to websockets.connect.
            websocket_connection_options={"ping_interval": None},  # type: ignore[typeddict-unknown-key]
        )
        conn = await manager.enter()
        await conn.session.update(session=SESSION)  # type: ignore[arg-type]
        return Session(conn, manager, meter)

    async def aclose(self) -> None:
        await self.client.close()
