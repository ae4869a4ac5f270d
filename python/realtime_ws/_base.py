"""The state every part of ``OpenAIRealtimeWebSocket`` shares, and the hooks.

``OpenAIRealtimeWebSocket`` is split by concern into mixins, each in its own
module: the connection state machine (``_lifecycle``), the translation of core
events into emitted events (``_dispatch``) and the conversation helpers
(``_conversation``). This base declares what they share (so each module type
checks on its own) and holds the documented subclass hooks of the reference
(``_on_open``, ``_on_close``, ``_on_error``, ``_on_audio``,
``_after_audio_done_event``), whose defaults are here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .emitter import EventEmitter
from .events import AudioEvent, CloseInfo, ConnectionStatus, ErrorEvent

if TYPE_CHECKING:
    from . import _core
    from ._hub import LoopHub
    from ._lifecycle import Attempt

logger = logging.getLogger("realtime_ws")

AuthMode = Literal["bearer", "subprotocol", "azure"]
Protocol = Literal["ga", "beta"]


@dataclass(frozen=True, slots=True)
class WebSocketHandle:
    """What the transport knows about its current socket."""

    conn_id: int
    #: The URL without query string or credentials (safe to log).
    url: str
    #: The subprotocol the server selected, if any.
    subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class WebSocketState:
    """``connection_state``: the status and the socket behind it (``None`` when disconnected)."""

    status: ConnectionStatus
    websocket: WebSocketHandle | None


def describe(error: Any) -> str:
    """A one-line description of an error payload, for logs."""
    if isinstance(error, dict):
        inner = error.get("error")
        if isinstance(inner, dict):
            return f"{inner.get('type')}/{inner.get('code')}: {inner.get('message')}"
    return repr(error)


class TransportBase(EventEmitter):
    """Shared state and the overridable hooks."""

    # -- state (set by OpenAIRealtimeWebSocket.__init__) ------------------------------------------
    _core: _core.Transport
    _beta: bool
    _status: ConnectionStatus
    _conn_id: int | None
    #: The URL of the current (or last) socket.
    _url: str | None
    #: The subprotocol the server selected for the current socket.
    _subprotocol: str | None
    _attempt: Attempt | None
    _hub: LoopHub | None
    #: The ``tracing`` of the initial session config (sent on ``session.created``).
    _tracing: Any
    _server_tracing: Any
    _last_close: CloseInfo | None
    _closed_waiters: dict[int, asyncio.Future[None]] | None
    _current_model: str
    _skip_open_event_listeners: bool
    #: A subclass overrides interrupt/_interrupt/_cancel_response: Python interrupts.
    _py_interrupts: bool
    #: A subclass overrides _after_audio_done_event: Python marks generation done.
    _py_audio_done: bool
    #: reset_history requests awaiting the server: event_id -> (item_id, "create"|"delete").
    _history_requests: dict[str, tuple[str, str]]
    _history_seq: int
    #: The one plain ``audio`` listener, called straight from the hub's drain; None
    #: when ``audio`` needs the full ``_emit`` (several listeners, taps, overrides).
    _audio_sink: Callable[[Any], Any] | None = None

    # -- implemented by the other parts ------------------------------------------------------------

    def send_event(self, event: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def update_session_config(self, config: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def request_response(self, response: Mapping[str, Any] | None = None) -> None:
        raise NotImplementedError

    def interrupt(self, cancel_ongoing_response: bool = True) -> None:
        raise NotImplementedError

    def _on_core_event(self, conn_id: int, event: object) -> None:
        raise NotImplementedError

    def _settle_history_request(self, item_id: str, kind: str) -> None:
        raise NotImplementedError

    def _set_status(self, status: ConnectionStatus) -> None:
        self._status = status

    # -- hooks (the reference's protected members) -------------------------------------------------

    def _on_open(self) -> None:
        """Emits ``connected``."""
        self._emit_strict("connected")

    def _on_close(self) -> None:
        """Emits ``disconnected`` and ends the ``events()`` iterators."""
        # Unconfirmed history requests belonged to the connection that sent them.
        self._history_requests.clear()
        self._emit_strict("disconnected", self._last_close)
        self._end_taps()

    def _on_error(self, error: BaseException | dict[str, Any], source: str = "transport") -> None:
        """Emits ``error``; never raises. With no ``error`` listener the error is logged."""
        try:
            if self.listener_count("error") == 0:
                logger.warning("realtime error (no 'error' listener): %s", describe(error))
            self._emit("error", ErrorEvent(error=error, source=source))
        except Exception:  # pragma: no cover - _emit already isolates listeners
            logger.exception("error listener failed")

    def _on_audio(self, event: AudioEvent) -> None:
        """Emits ``audio``. Override to route audio elsewhere (e.g. a telephony bridge)."""
        self._emit("audio", event)

    def _after_audio_done_event(self) -> None:
        """Marks the audio generation done: a later interruption still truncates the
        audio not yet played (reference 0.20). Overrides should call ``super()``."""
        self._core.mark_audio_done()
