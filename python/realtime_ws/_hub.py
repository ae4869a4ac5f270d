"""One core event hub per asyncio loop.

The Rust side queues events from every socket of this loop and, only when
the queue goes from empty to non-empty, writes to an eventfd (or a pipe). The
loop watches that fd with ``add_reader``; ``_drain`` takes the whole batch in
one call and hands each event to the transport that owns its connection id.
See ``src/delivery.rs`` for the producer side.

Transports are held weakly: a transport dropped without ``close()`` can be
collected (and then closes its socket), instead of being kept alive by its hub.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from . import _core, _logbridge
from .errors import InvalidArgumentError, UnsupportedOperationError

logger = logging.getLogger("realtime_ws")


class _Target(Protocol):
    _conn_id: int | None
    _audio_sink: Callable[[Any], Any] | None

    def _on_core_event(self, conn_id: int, event: object) -> None: ...
    def _call_sole(self, name: str, callback: Callable[[Any], Any], arg: Any) -> None: ...


def _env_coalesce_ms() -> float:
    raw = os.environ.get("REALTIME_WS_COALESCE_MS")
    if raw is None:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArgumentError(
            f"REALTIME_WS_COALESCE_MS must be a number, got {raw!r}"
        ) from None
    if not 0 <= value <= 100:
        raise InvalidArgumentError(
            f"REALTIME_WS_COALESCE_MS must be between 0 and 100, got {raw!r}"
        )
    return value


#: Minimum interval between wake-ups of a loop, ms (see ``realtime_ws.configure``;
#: ``REALTIME_WS_COALESCE_MS`` sets the default).
coalesce_ms: float = _env_coalesce_ms()

#: ``"auto"`` (eventfd on Linux) or ``"pipe"`` (the macOS path); ``REALTIME_WS_WAKE``.
wake: str = os.environ.get("REALTIME_WS_WAKE", "auto")


class LoopHub:
    """The hub of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.core = _core.Hub("pipe" if wake == "pipe" else "auto")
        self.core.coalesce_ms = coalesce_ms
        self.loop = loop
        self._targets: weakref.WeakValueDictionary[int, _Target] = weakref.WeakValueDictionary()
        # Connection id 0 carries the core's log records (see _logbridge).
        self._log_target = _logbridge.LogTarget()
        self._targets[0] = self._log_target
        _logbridge.sync_level()
        try:
            loop.add_reader(self.core.fileno(), self._drain)
        except NotImplementedError as exc:  # e.g. the Windows proactor loop
            raise UnsupportedOperationError(
                "realtime_ws needs an event loop that supports add_reader "
                "(the default loop on Linux and macOS, or uvloop)"
            ) from exc

    def register(self, conn_id: int, target: _Target) -> None:
        self._targets[conn_id] = target

    def _drain(self) -> None:
        batch = self.core.drain()
        targets = self._targets
        audio_event = _core.AudioEvent
        for conn_id, event in batch:
            target = targets.get(conn_id)
            if target is None:
                continue
            kind = type(event)
            # The audio fast path: the one plain `audio` listener of the current
            # socket, called here; everything else goes through the transport.
            if kind is audio_event and conn_id == target._conn_id:
                sink = target._audio_sink
                if sink is not None:
                    target._call_sole("audio", sink, event)
                    continue
            if kind is _core.SocketClosed:
                targets.pop(conn_id, None)
            try:
                target._on_core_event(conn_id, event)
            except Exception:
                logger.exception("internal error while dispatching a realtime event")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopHub] = weakref.WeakKeyDictionary()


def hub_for_running_loop() -> LoopHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = LoopHub(loop)
        _hubs[loop] = hub
    return hub
