"""realtime-ws: the OpenAI Realtime API over WebSocket, with a Rust core.

Quick start::

    import asyncio, os
    from realtime_ws import OpenAIRealtimeWebSocket

    async def main() -> None:
        async with OpenAIRealtimeWebSocket(api_key=os.environ["OPENAI_API_KEY"]) as ws:
            ws.on("audio", lambda ev: print(len(ev.data), "bytes of audio"))
            ws.on("output_text_delta", lambda ev: print(ev.delta, end=""))
            await ws.connect(initial_session_config={"output_modalities": ["text"]})
            ws.send_event({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "Say hi"}]}})
            ws.request_response()
            await asyncio.sleep(5)

    asyncio.run(main())
"""

from __future__ import annotations

from realtime_ws import _platform  # noqa: F401  (first: refuses Windows before _core loads)

from . import _core, _hub
from .audio import AudioSpec
from .config_types import ResponseOverride, SessionConfig
from .emitter import EmittedEvent, EventEmitter
from .errors import (
    ArgumentTypeError,
    ConnectionClosedError,
    ConnectionFailedError,
    ConnectTimeoutError,
    InternalError,
    InvalidArgumentError,
    InvalidAudioError,
    NotConnectedError,
    ProtocolError,
    RealtimeError,
    ServerError,
    UnsupportedOperationError,
    UserError,
)
from .events import (
    AudioDoneEvent,
    AudioEvent,
    AudioInterruptedEvent,
    CloseInfo,
    ErrorEvent,
    ItemDeletedEvent,
    OutputTextDeltaEvent,
    ResponseTiming,
    SessionStats,
    TranscriptDeltaEvent,
    TurnDoneEvent,
    TurnStartedEvent,
    Usage,
)
from .session_config import build_session_payload
from .websocket import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    OpenAIRealtimeWebSocket,
    WebSocketHandle,
    WebSocketState,
)

__version__: str = _core.__version__


def monotonic_ms() -> float:
    """Milliseconds on the monotonic clock the core uses for playback tracking."""
    return _core.monotonic_ms()


def configure(
    *,
    workers: int | None = None,
    coalesce_ms: float | None = None,
    direct_write: bool | None = None,
) -> None:
    """Process-wide tuning.

    ``workers``: tokio worker threads (default 2, or ``REALTIME_WS_WORKERS``); only
    before the first connection. ``coalesce_ms``: the minimum interval between two
    wake-ups of an event loop by the core (default 1.0). An idle loop is woken at
    once; under load events are delivered in batches at most this often, which is
    what keeps the per-event cost low with many sessions. 0 wakes per event.
    ``direct_write``: a sending thread writes its frame to the socket itself when
    nothing is queued (default True); False hands every frame to the socket's task.
    """
    if workers is not None:
        _core.configure_runtime(workers)
    if coalesce_ms is not None:
        if not 0 <= coalesce_ms <= 100:
            raise InvalidArgumentError(f"coalesce_ms must be between 0 and 100, got {coalesce_ms}")
        _hub.coalesce_ms = float(coalesce_ms)
        for hub in list(_hub._hubs.values()):
            hub.core.coalesce_ms = float(coalesce_ms)
    if direct_write is not None:
        _core.set_direct_write(bool(direct_write))


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "ArgumentTypeError",
    "AudioDoneEvent",
    "AudioEvent",
    "AudioInterruptedEvent",
    "AudioSpec",
    "CloseInfo",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ConnectionFailedError",
    "EmittedEvent",
    "ErrorEvent",
    "EventEmitter",
    "InternalError",
    "InvalidArgumentError",
    "InvalidAudioError",
    "ItemDeletedEvent",
    "NotConnectedError",
    "OpenAIRealtimeWebSocket",
    "OutputTextDeltaEvent",
    "ProtocolError",
    "RealtimeError",
    "ResponseOverride",
    "ResponseTiming",
    "ServerError",
    "SessionConfig",
    "SessionStats",
    "TranscriptDeltaEvent",
    "TurnDoneEvent",
    "TurnStartedEvent",
    "UnsupportedOperationError",
    "Usage",
    "UserError",
    "WebSocketHandle",
    "WebSocketState",
    "__version__",
    "build_session_payload",
    "configure",
    "monotonic_ms",
]
