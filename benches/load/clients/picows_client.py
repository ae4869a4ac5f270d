"""``picows``: a Cython WebSocket client with a callback per frame (no per-session task).

The frame handler parses the payload with ``orjson`` straight from picows' buffer and
decodes audio with ``base64.b64decode``; sending is a synchronous ``transport.send`` of
the ``orjson`` frame. The mock never fragments messages, so a non-final frame is an error.
"""

from __future__ import annotations

import base64
from importlib.metadata import version

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from .base import API_KEY, SESSION, ClientOptions, Meter


class _Listener(WSListener):
    def __init__(self, meter: Meter) -> None:
        super().__init__()
        self.meter = meter

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT:
            if not frame.fin:
                raise RuntimeError("fragmented message (the mock never fragments)")
            ev = orjson.loads(frame.get_payload_as_memoryview())
            t = ev["type"]
            if t == "response.output_audio.delta":
                self.meter.audio(base64.b64decode(ev["delta"]), ev["event_id"])
            elif t == "response.done":
                self.meter.response_done()
        elif kind == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class Session:
    __slots__ = ("transport",)

    def __init__(self, transport: WSTransport) -> None:
        self.transport = transport

    def send_audio(self, pcm: bytes) -> None:
        self.transport.send(
            WSMsgType.TEXT,
            orjson.dumps(
                {
                    "type": "input_audio_buffer.append",
                    "audio": base64.b64encode(pcm).decode("ascii"),
                }
            ),
        )

    async def close(self) -> None:
        self.transport.send_close()
        await self.transport.wait_disconnected()


class Client:
    name = "picows"
    async_send = False

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts

    def version(self) -> str:
        return f"picows {version('picows')}, orjson {version('orjson')}"

    async def connect(self, meter: Meter) -> Session:
        transport, _ = await ws_connect(
            lambda: _Listener(meter),
            self.opts.model_url,
            extra_headers={"Authorization": f"Bearer {API_KEY}"},
            enable_auto_ping=False,
        )
        transport.send(WSMsgType.TEXT, orjson.dumps({"type": "session.update", "session": SESSION}))
        return Session(transport)

    async def aclose(self) -> None:
        return None
