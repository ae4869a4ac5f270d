"""openai-agents ``RealtimeSession``s on either model, for ``benches/agents_load.py``.

The user code is the same for both models and is what the openai-agents documentation
shows: ``RealtimeRunner(agent, model=...).run(...)``, ``await session.send_audio(pcm)``
from the shared ticker, and one task per session iterating ``async for event in session``.
That loop takes the audio from ``RealtimeAudio`` events (``event.audio.data``) and the
delta's ``event_id`` (which carries the server's send time) from the audio event where the
model provides it (realtime-ws: ``RealtimeModelAudioEventWithId``), else from the raw server
event the model emits just before it (openai-agents' model); the same code runs for both.
``response.done`` ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.realtime.model import RealtimeModel, RealtimeModelConfig, RealtimeModelListener

from .base import API_KEY, ClientOptions, Meter


async def _consume(session: Any, meter: Meter) -> None:
    event_id = ""
    async for event in session:
        kind = event.type
        if kind == "audio":
            audio = event.audio
            meter.audio(audio.data, getattr(audio, "event_id", None) or event_id)
        elif kind == "raw_model_event":
            data = event.data
            if data.type == "raw_server_event":
                server_kind = data.data.get("type")
                if server_kind == "response.output_audio.delta":
                    event_id = data.data["event_id"]
                elif server_kind == "response.done":
                    meter.response_done()


class Session:
    def __init__(self, session: Any, consumer: asyncio.Task[None]) -> None:
        self.session = session
        self.consumer = consumer

    async def send_audio(self, pcm: bytes) -> None:
        await self.session.send_audio(pcm)

    async def close(self) -> None:
        await self.session.close()
        self.consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.consumer


class _Client:
    name = ""
    async_send = True
    model_factory: Callable[[], Any]

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts

    async def connect(self, meter: Meter) -> Session:
        agent: RealtimeAgent[Any] = RealtimeAgent(name="bench", instructions="Be brief.")
        runner = RealtimeRunner(agent, model=self.model_factory())
        session = await runner.run(
            model_config={
                "api_key": API_KEY,
                "url": self.opts.model_url,
                "initial_model_settings": {"turn_detection": None},
            }
        )
        await session.enter()
        return Session(session, asyncio.create_task(_consume(session, meter)))

    async def aclose(self) -> None:
        return None


class OriginalClient(_Client):
    """openai-agents' own ``OpenAIRealtimeWebSocketModel`` (websockets + pydantic)."""

    name = "agents_original"

    def __init__(self, opts: ClientOptions) -> None:
        super().__init__(opts)
        from agents.realtime.openai_realtime import OpenAIRealtimeWebSocketModel

        self.model_factory = lambda: OpenAIRealtimeWebSocketModel(
            transport_config={"ping_interval": None}
        )

    def version(self) -> str:
        return "openai-agents " + version("openai-agents")


class RealtimeWsClient(_Client):
    """``realtime_ws.agents.OpenAIRealtimeWebSocketModel`` (the same session code)."""

    name = "agents_realtime_ws"

    def __init__(self, opts: ClientOptions) -> None:
        super().__init__(opts)
        from realtime_ws.agents import OpenAIRealtimeWebSocketModel

        self.model_factory = lambda: OpenAIRealtimeWebSocketModel(
            transport_config={"ping_interval": None}
        )

    def version(self) -> str:
        import realtime_ws

        return f"realtime-ws {realtime_ws.__version__} + openai-agents {version('openai-agents')}"


# -- the floor: the same sessions and user loop with a model that costs nothing ---------------


class _FloorStream:
    """One task for the process that plays the mock's load stream into every floor model:
    every 50 ms a transcript delta and a 50 ms audio chunk per session, then response.done
    after ``AGENTS_FLOOR_STREAM_S`` seconds (per session, from its connect)."""

    def __init__(self) -> None:
        self.models: list[FloorModel] = []
        self.task: asyncio.Task[None] | None = None
        self.chunk = bytes(2400)  # 50 ms of 24 kHz PCM16
        self.stream_s = float(os.environ.get("AGENTS_FLOOR_STREAM_S", "20"))

    def add(self, model: FloorModel) -> None:
        self.models.append(model)
        if self.task is None:
            self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        from agents.realtime.model_events import (
            RealtimeModelRawServerEvent,
            RealtimeModelTranscriptDeltaEvent,
            RealtimeModelTurnEndedEvent,
        )

        from realtime_ws.agents import RealtimeModelAudioEventWithId

        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        seq = 0
        while self.models:
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.05 - loop.time()))
            now = loop.time()
            for model in list(self.models):
                if model.closed:
                    self.models.remove(model)
                    continue
                seq += 1
                if now - model.started >= self.stream_s:
                    self.models.remove(model)
                    await model.emit(RealtimeModelRawServerEvent(data={"type": "response.done"}))
                    await model.emit(RealtimeModelTurnEndedEvent(response_id="resp_floor"))
                    continue
                await model.emit(
                    RealtimeModelTranscriptDeltaEvent(
                        item_id="item_floor", delta="fox ", response_id="resp_floor"
                    )
                )
                await model.emit(
                    RealtimeModelAudioEventWithId(
                        data=self.chunk,
                        response_id="resp_floor",
                        item_id="item_floor",
                        content_index=0,
                        event_id=f"evt_{seq}_{time.time_ns()}",
                    )
                )


_FLOOR = _FloorStream()


class FloorModel(RealtimeModel):
    """A model with no transport: it emits what realtime_ws.agents emits for the load
    stream (a transcript delta and an audio event per 50 ms) and drops what is sent."""

    def __init__(self) -> None:
        self.listeners: list[RealtimeModelListener] = []
        self.closed = False
        self.started = 0.0

    async def connect(self, options: RealtimeModelConfig) -> None:
        self.started = asyncio.get_running_loop().time()
        _FLOOR.add(self)

    def add_listener(self, listener: RealtimeModelListener) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: RealtimeModelListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    async def emit(self, event: Any) -> None:
        for listener in list(self.listeners):
            await listener.on_event(event)

    async def send_event(self, event: Any) -> None:
        return None

    async def close(self) -> None:
        self.closed = True


class FloorClient(_Client):
    """The floor: RealtimeSession and the user loop alone (no socket, no model work)."""

    name = "agents_session_floor"

    def __init__(self, opts: ClientOptions) -> None:
        super().__init__(opts)
        self.model_factory = FloorModel

    def version(self) -> str:
        return "openai-agents " + version("openai-agents") + " (no transport)"


CLIENTS: dict[str, type[_Client]] = {
    OriginalClient.name: OriginalClient,
    RealtimeWsClient.name: RealtimeWsClient,
    FloorClient.name: FloorClient,
}
