"""The leanest client a skilled Python user would write: asyncio + ``websockets`` +
``orjson`` + ``base64``.

One reader task per session takes frames as bytes (``recv(decode=False)``: no UTF-8
decode), parses them with ``orjson`` and decodes audio with ``base64.b64decode``;
sending builds the append frame with ``orjson.dumps`` and sends the bytes as a text
frame (``text=True``). No compression, no keepalive (as for every client here).
"""

from __future__ import annotations

import asyncio
import base64
from importlib.metadata import version

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from .base import API_KEY, SESSION, ClientOptions, Meter


class Session:
    def __init__(self, ws: ClientConnection, meter: Meter) -> None:
        self.ws = ws
        self.task = asyncio.create_task(self._read(meter))

    async def _read(self, meter: Meter) -> None:
        recv = self.ws.recv
        loads = orjson.loads
        b64decode = base64.b64decode
        try:
            while True:
                ev = loads(await recv(decode=False))
                t = ev["type"]
                if t == "response.output_audio.delta":
                    meter.audio(b64decode(ev["delta"]), ev["event_id"])
                elif t == "response.done":
                    meter.response_done()
        except websockets.ConnectionClosed:
            pass

    async def send_audio(self, pcm: bytes) -> None:
        frame = orjson.dumps(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")}
        )
        await self.ws.send(frame, text=True)

    async def close(self) -> None:
        await self.ws.close()
        await self.task


class Client:
    name = "lean_websockets"
    async_send = True

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts

    def version(self) -> str:
        return f"websockets {version('websockets')}, orjson {version('orjson')}"

    async def connect(self, meter: Meter) -> Session:
        ws = await websockets.connect(
            self.opts.model_url,
            additional_headers={"Authorization": f"Bearer {API_KEY}"},
            compression=None,
            ping_interval=None,
            max_size=None,
        )
        await ws.send(orjson.dumps({"type": "session.update", "session": SESSION}), text=True)
        return Session(ws, meter)

    async def aclose(self) -> None:
        return None
