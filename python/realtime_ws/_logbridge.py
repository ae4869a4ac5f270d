"""Rust log records to Python ``logging``.

The core formats records that pass its level filter and buffers them (at most
1,000; the oldest are dropped and counted). They reach Python in batches: with
the events of the next drain of an event loop, or from :func:`flush` in a
process without one. Each record goes to the logger ``realtime_ws.core.<module>``
(``realtime_ws.core.connection.task``, ``realtime_ws.core.rustls.client``...).

The filter follows the most verbose effective level among the ``realtime_ws``
loggers, read by :func:`sync_level` when a loop's hub is created and at every
``connect()``: set ``logging.getLogger("realtime_ws").setLevel(logging.DEBUG)``
before connecting to see the core's debug records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import _core

_PREFIX = "realtime_ws"
_logger = logging.getLogger(_PREFIX)
_last_level: int | None = None


def sync_level() -> None:
    """Lets through, in the core, what any ``realtime_ws`` logger would handle."""
    global _last_level
    level = _logger.getEffectiveLevel()
    for name, obj in logging.root.manager.loggerDict.items():
        if isinstance(obj, logging.Logger) and name.startswith(_PREFIX + "."):
            level = min(level, obj.getEffectiveLevel())
    if level != _last_level:
        _last_level = level
        _core.set_log_level(level)


def emit(batch: tuple[list[tuple[int, str, str]], int]) -> None:
    """Hands one batch of core records to ``logging``."""
    records, dropped = batch
    if dropped:
        _logger.warning(
            "%d log record(s) of the realtime-ws core were dropped (buffer full)", dropped
        )
    for level, name, message in records:
        logger = logging.getLogger(name)
        if logger.isEnabledFor(level):
            logger.log(level, "%s", message)


def flush() -> None:
    """Emits the core's buffered records now (loops do this on their own)."""
    emit(_core.take_logs())


class LogTarget:
    """The hub's target for connection id 0: the core's log batches (never audio)."""

    _conn_id: int | None = None
    _audio_sink: Callable[[Any], Any] | None = None

    def _call_sole(self, name: str, callback: Callable[[Any], Any], arg: Any) -> None:
        callback(arg)

    def _on_core_event(self, conn_id: int, event: object) -> None:
        emit(event)  # type: ignore[arg-type]
