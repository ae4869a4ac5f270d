"""One core event hub per asyncio loop.

The Rust side queues events from every socket of this loop and, only when
the queue goes from empty to non-empty, writes to an eventfd. The loop watches
that fd with ``add_reader``; ``_drain`` takes the whole batch in one call and
hands each event to the transport that owns its connection id. See
``src/bindings/hub.rs`` for the producer side.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from . import _core

logger = logging.getLogger("realtime_ws")


class _Target(Protocol):
    def _on_core_event(self, conn_id: int, code: int, payload: Any) -> None: ...


#: Minimum interval between wake-ups of a loop, ms (see ``realtime_ws.configure``).
coalesce_ms: float = 1.0


class LoopHub:
    """The hub of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.core = _core.Hub()
        self.core.coalesce_ms = coalesce_ms
        self.loop = loop
        self._targets: dict[int, _Target] = {}
        try:
            loop.add_reader(self.core.fileno(), self._drain)
        except NotImplementedError as exc:  # e.g. the Windows proactor loop
            raise RuntimeError(
                "realtime_ws needs an event loop that supports add_reader "
                "(the default loop on Linux and macOS, or uvloop)"
            ) from exc
        #: Number of drains and events, for diagnostics and benchmarks.
        self.drains = 0
        self.events = 0

    def register(self, conn_id: int, target: _Target) -> None:
        self._targets[conn_id] = target

    def unregister(self, conn_id: int) -> None:
        self._targets.pop(conn_id, None)

    def _drain(self) -> None:
        batch = self.core.drain()
        self.drains += 1
        self.events += len(batch)
        targets = self._targets
        for conn_id, code, payload in batch:
            target = targets.get(conn_id)
            if target is None:
                continue
            if code == _core.EV_CLOSED:
                targets.pop(conn_id, None)
            try:
                target._on_core_event(conn_id, code, payload)
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
