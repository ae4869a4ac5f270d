"""openai-agents' ``OpenAIRealtimeWebSocketModel`` (the model layer under ``RealtimeSession``).

Audio comes as ``RealtimeModelAudioEvent`` (the library decodes the base64 in Python);
sending is ``await model.send_event(RealtimeModelSendAudio(...))``. The audio event does
not carry the delta's ``event_id``, but the model emits every frame as a
``RealtimeModelRawServerEvent`` right before the events derived from it, so the listener
keeps the last audio delta's id from there: what a user who wants it would do.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from agents.realtime.model import RealtimeModelListener
from agents.realtime.model_events import RealtimeModelEvent
from agents.realtime.model_inputs import RealtimeModelSendAudio
from agents.realtime.openai_realtime import OpenAIRealtimeWebSocketModel

from .base import API_KEY, ClientOptions, Meter


class _Listener(RealtimeModelListener):
    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.event_id = ""

    async def on_event(self, event: RealtimeModelEvent) -> None:
        t = event.type
        if t == "audio":
            self.meter.audio(event.data, self.event_id)  # type: ignore[union-attr]
        elif t == "raw_server_event":
            data: Any = event.data  # type: ignore[union-attr]
            kind = data.get("type")
            if kind == "response.output_audio.delta":
                self.event_id = data["event_id"]
            elif kind == "response.done":
                self.meter.response_done()


class Session:
    def __init__(self, model: OpenAIRealtimeWebSocketModel) -> None:
        self.model = model

    async def send_audio(self, pcm: bytes) -> None:
        await self.model.send_event(RealtimeModelSendAudio(audio=pcm, commit=False))

    async def close(self) -> None:
        await self.model.close()


class Client:
    name = "openai_agents"
    async_send = True

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts

    def version(self) -> str:
        return version("openai-agents")

    async def connect(self, meter: Meter) -> Session:
        model = OpenAIRealtimeWebSocketModel(transport_config={"ping_interval": None})
        model.add_listener(_Listener(meter))
        await model.connect(
            {
                "api_key": API_KEY,
                "url": self.opts.model_url,
                "initial_model_settings": {"turn_detection": None},
            }
        )
        return Session(model)

    async def aclose(self) -> None:
        return None
