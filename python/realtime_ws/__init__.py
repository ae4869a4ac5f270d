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

from . import _core
from .audio import AudioSpec
from .config import ResponseOverride, SessionConfig
from .emitter import EmittedEvent, EventEmitter
from .errors import (
    ConnectionClosedError,
    ConnectionFailedError,
    ConnectTimeoutError,
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


def configure(*, workers: int) -> None:
    """Sets the number of tokio worker threads; call before the first connection.

    The default is 2 (or ``REALTIME_WS_WORKERS``).
    """
    _core.configure_runtime(workers)


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
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
    "InvalidAudioError",
    "ItemDeletedEvent",
    "NotConnectedError",
    "OpenAIRealtimeWebSocket",
    "OutputTextDeltaEvent",
    "ProtocolError",
    "RealtimeError",
    "ResponseOverride",
    "ServerError",
    "SessionConfig",
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
