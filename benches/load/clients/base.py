"""What every client module provides, and the user callback they all share.

A client module exposes one ``Client`` class with this shape::

    class Client:
        name: str                     # the key used on the command line
        async_send: bool              # True if send_audio returns an awaitable
        def __init__(self, opts: ClientOptions) -> None: ...
        def version(self) -> str: ...
        async def connect(self, meter: Meter) -> Session: ...   # handshake + session.update
        async def aclose(self) -> None: ...                     # after every session closed

and its sessions::

    class Session:
        def send_audio(self, pcm: bytes) -> Awaitable[None] | None: ...
        async def close(self) -> None: ...

Every client calls ``meter.audio(data, event_id)`` from the place its users get
audio (the ``audio`` callback, the SDK's event loop, the WebSocket frame handler) with
the decoded PCM bytes and the ``event_id`` of the delta, and ``meter.response_done()``
on ``response.done``. The same ``Meter`` code runs for every client, so the per-event
work the harness adds is identical.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol

#: The session.update every client sends right after the handshake. Turn detection off,
#: so that the mock's VAD never barges in on the duplex input (the input is also quiet).
SESSION = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
MODEL = "gpt-realtime"
API_KEY = "sk-bench"


@dataclass(frozen=True)
class ClientOptions:
    #: ``ws://HOST:PORT/v1`` (the openai SDK's ``websocket_base_url``).
    base_url: str
    #: Audio per server delta, in ms (what the mock was started with).
    delta_ms: int

    @property
    def realtime_url(self) -> str:
        """``ws://HOST:PORT/v1/realtime``."""
        return self.base_url + "/realtime"

    @property
    def model_url(self) -> str:
        """The socket URL with ``?model=``, for clients that take a full URL."""
        return f"{self.realtime_url}?model={MODEL}"


@dataclass
class Window:
    """What all sessions of one process share: whether the measurement window is open,
    the latency samples taken inside it, and the count of finished streams."""

    on: bool = False
    #: Server send time to callback, in ns, one sample per audio delta inside the window.
    latencies_ns: list[int] = field(default_factory=list)
    done: int = 0
    done_target: int = 0
    #: Called when ``done`` reaches ``done_target``.
    all_done: object = None


class Meter:
    """The user callback's state for one session."""

    __slots__ = ("bytes", "deltas", "finished", "window")

    def __init__(self, window: Window) -> None:
        self.window = window
        self.bytes = 0
        self.deltas = 0
        self.finished = False

    def audio(self, data: bytes, event_id: str) -> None:
        """The user callback: touch the data (count it) and take a latency sample.

        ``event_id`` is ``evt_<seq>_<server unix ns>`` (the mock's load mode)."""
        self.bytes += len(data)
        self.deltas += 1
        w = self.window
        if w.on:
            w.latencies_ns.append(time.time_ns() - int(event_id[event_id.rindex("_") + 1 :]))

    def response_done(self) -> None:
        if self.finished:
            return
        self.finished = True
        w = self.window
        w.done += 1
        if w.done >= w.done_target and callable(w.all_done):
            w.all_done()


class Session(Protocol):
    def send_audio(self, pcm: bytes) -> Awaitable[None] | None: ...

    async def close(self) -> None: ...


class Client(Protocol):
    name: str
    async_send: bool

    def version(self) -> str: ...

    async def connect(self, meter: Meter) -> Session: ...

    async def aclose(self) -> None: ...
