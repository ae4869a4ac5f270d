"""This package: ``OpenAIRealtimeWebSocket`` with an ``audio`` listener.

The audio arrives decoded (base64 is done in Rust), as ``AudioEvent.data``.

Latency: when ``AudioEvent`` carries the delta's ``event_id`` it is used like every
other client uses it. Builds whose ``AudioEvent`` has no ``event_id`` fall back to the
mock's pacing schedule: the mock builds delta n of a stream at ``start + n * delta_ms`` or
later, so ``sent_n - n * delta_ms`` is never below ``start``. Once a second per session
(and for the first delta) a one-shot ``response.output_audio.delta`` listener reads a
delta's ``event_id`` (the core keeps raw frames only while such a listener exists), and
the lowest ``sent_n - n * delta_ms`` seen so far is the stream's start. Delta n then
counts as sent at ``start + n * delta_ms``: this over-states the latency by however late
the server was with that delta, and under-states it by at most the smallest lateness among
the sampled deltas (a fraction of a millisecond). The sampling costs this client one
event dict per 20 deltas. ``latency_clock`` in the results says which clock was used.
"""

from __future__ import annotations

from typing import Any

from realtime_ws import OpenAIRealtimeWebSocket, __version__
from realtime_ws._core import AudioEvent

from .base import API_KEY, MODEL, ClientOptions, Meter, event_time_ns

HAS_EVENT_ID = hasattr(AudioEvent, "event_id")
LATENCY_CLOCK = "event_id" if HAS_EVENT_ID else "schedule"
#: Without ``event_id`` on ``AudioEvent``: read one delta's id per this many deltas.
SAMPLE_EVERY = 20


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
    latency_clock = LATENCY_CLOCK

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts
        self.delta_ns = opts.delta_ms * 1_000_000

    def version(self) -> str:
        return __version__

    async def connect(self, meter: Meter) -> Session:
        ws = OpenAIRealtimeWebSocket(
            api_key=API_KEY, base_url=self.opts.realtime_url, model=MODEL, ping_interval=None
        )
        if HAS_EVENT_ID:

            def on_audio(ev: Any) -> None:
                meter.audio(ev.data, ev.event_id)

        else:
            delta_ns = self.delta_ns
            start = [1 << 62]  # the stream's start, lowest estimate so far (server ns)
            seen = [0]  # audio deltas so far
            sample = [0, 0]  # [event_id time of the sampled delta (0: none), requested]

            def on_delta_dict(ev: dict[str, Any]) -> None:
                sample[0] = event_time_ns(ev["event_id"])
                sample[1] = 0

            def on_audio(ev: Any) -> None:
                n = seen[0]
                seen[0] = n + 1
                if sample[0]:  # the dict listener ran for this very frame, just before
                    start[0] = min(start[0], sample[0] - n * delta_ns)
                    sample[0] = 0
                if n % SAMPLE_EVERY == SAMPLE_EVERY - 1 and not sample[1]:
                    sample[1] = 1
                    ws.once("response.output_audio.delta", on_delta_dict)
                meter.audio_sent_at(ev.data, start[0] + n * delta_ns)

            sample[1] = 1
            ws.once("response.output_audio.delta", on_delta_dict)

        ws.on("audio", on_audio)
        ws.on("turn_done", lambda _ev: meter.response_done())
        await ws.connect(initial_session_config={"audio": {"input": {"turn_detection": None}}})
        return Session(ws)

    async def aclose(self) -> None:
        return None
