"""Typed payloads of the events :class:`~realtime_ws.OpenAIRealtimeWebSocket` emits.

Hot events (``audio``, ``audio_interrupted``) are Rust objects built on the
core's side; the rest are frozen dataclasses built when their server event is
dispatched. Server events emitted under their own ``type`` name (for example
``"response.output_audio_transcript.done"``) and ``"*"`` receive plain dicts,
as parsed from the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ._core import AudioEvent, AudioInterruptedEvent

ConnectionStatus = Literal["disconnected", "connecting", "connected"]


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """Payload of ``error``.

    ``error`` is the whole server ``error`` event (a dict) for server errors, or
    an exception for transport failures (:class:`~realtime_ws.errors.ConnectionFailedError`,
    :class:`~realtime_ws.errors.ConnectionClosedError`,
    :class:`~realtime_ws.errors.ProtocolError`) and for listener exceptions.
    """

    error: Any
    #: ``"server"`` (an ``error`` event), ``"transport"``, ``"protocol"`` (a bad frame)
    #: or ``"listener"`` (a listener raised).
    source: str = "transport"
    type: Literal["error"] = "error"


@dataclass(frozen=True, slots=True)
class CloseInfo:
    """Payload of ``disconnected``: how the socket ended, when known."""

    code: int | None = None
    reason: str = ""
    #: Why the socket failed (keepalive timeout, I/O error), else ``None``.
    error: str | None = None
    #: True if ``close()`` ended the session.
    by_client: bool = False


@dataclass(frozen=True, slots=True)
class AudioDoneEvent:
    """Payload of ``audio_done`` (the server's ``response.output_audio.done``)."""

    item_id: str
    response_id: str
    content_index: int = 0
    type: Literal["audio_done"] = "audio_done"


@dataclass(frozen=True, slots=True)
class TranscriptDeltaEvent:
    """Payload of ``audio_transcript_delta``."""

    delta: str
    item_id: str
    response_id: str
    type: Literal["transcript_delta"] = "transcript_delta"


@dataclass(frozen=True, slots=True)
class OutputTextDeltaEvent:
    """Payload of ``output_text_delta``."""

    delta: str
    item_id: str
    response_id: str
    type: Literal["output_text_delta"] = "output_text_delta"


@dataclass(frozen=True, slots=True)
class TurnStartedEvent:
    """Payload of ``turn_started`` (the server's ``response.created``)."""

    provider_data: dict[str, Any]
    type: Literal["response_started"] = "response_started"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one response (the agents SDK's ``Usage``)."""

    requests: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, Any] = field(default_factory=dict)
    output_tokens_details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TurnDoneResponse:
    id: str
    output: list[Any]
    usage: Usage


ResponseTrigger = Literal["response.create", "speech_stopped", "response.created"]


@dataclass(frozen=True, slots=True)
class ResponseTiming:
    """How long one response took, in milliseconds from what started it.

    ``trigger`` is what it is timed from: ``"response.create"`` (the client's
    request left), ``"speech_stopped"`` (server VAD reported the end of the
    user's speech) or ``"response.created"`` (neither: the server started it).
    Times are taken in the core when frames are read or written, so they include
    the network but not the delay of your event loop.
    """

    response_id: str
    trigger: ResponseTrigger
    #: until the server's ``response.created``
    created_ms: float
    #: until the first audio delta (None: the response had no audio)
    first_audio_ms: float | None
    #: until the first text or transcript delta (None: none came)
    first_text_ms: float | None
    #: until ``response.done``
    duration_ms: float


@dataclass(frozen=True, slots=True)
class TurnDoneEvent:
    """Payload of ``turn_done`` (the server's ``response.done``)."""

    response: TurnDoneResponse
    type: Literal["response_done"] = "response_done"
    #: this package's addition: the response's latency (None if it began before this socket)
    timing: ResponseTiming | None = None


@dataclass(frozen=True, slots=True)
class SessionStats:
    """``ws.stats()``: counters of the current connection (or the last one).

    Frames and bytes are WebSocket data frames as written and read (bytes
    include framing; under TLS, before encryption). ``events_pending`` and
    ``pending_event_bytes`` are what the core has queued for your loop and it has
    not yet taken; ``backpressure_ms`` is how long the socket was not read
    because that queue was over its limit (a loop that falls behind).
    """

    frames_sent: int
    bytes_sent: int
    frames_received: int
    bytes_received: int
    events_delivered: int
    events_pending: int
    pending_event_bytes: int
    send_buffer_bytes: int
    backpressure_ms: float
    responses_completed: int
    last_response: ResponseTiming | None


@dataclass(frozen=True, slots=True)
class ItemDeletedEvent:
    """Payload of ``item_deleted``."""

    item_id: str
    type: Literal["item_deleted"] = "item_deleted"


def response_timing(
    t: tuple[str, str, float, float | None, float | None, float] | None,
) -> ResponseTiming | None:
    """The core's timing tuple as a ``ResponseTiming``."""
    if t is None:
        return None
    rid, trigger, created, audio, text, duration = t
    return ResponseTiming(rid, cast("ResponseTrigger", trigger), created, audio, text, duration)


def usage_from_response(response: dict[str, Any]) -> Usage:
    """The reference's usage mapping: requests=1, totals = input + output."""
    u = response.get("usage") or {}
    inp = int(u.get("input_tokens") or 0)
    out = int(u.get("output_tokens") or 0)
    return Usage(
        requests=1,
        input_tokens=inp,
        output_tokens=out,
        total_tokens=inp + out,
        input_tokens_details=dict(u.get("input_token_details") or {}),
        output_tokens_details=dict(u.get("output_token_details") or {}),
    )


__all__ = [
    "AudioDoneEvent",
    "AudioEvent",
    "AudioInterruptedEvent",
    "CloseInfo",
    "ConnectionStatus",
    "ErrorEvent",
    "ItemDeletedEvent",
    "OutputTextDeltaEvent",
    "ResponseTiming",
    "SessionStats",
    "TranscriptDeltaEvent",
    "TurnDoneEvent",
    "TurnDoneResponse",
    "TurnStartedEvent",
    "Usage",
    "usage_from_response",
]
