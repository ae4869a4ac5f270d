"""A drop-in ``OpenAIRealtimeWebSocketModel`` for openai-agents, on realtime-ws's Rust transport.

Changing the import is the only change::

    from agents.realtime import RealtimeAgent, RealtimeRunner
    from realtime_ws.agents import OpenAIRealtimeWebSocketModel

    agent = RealtimeAgent(name="assistant", instructions="Be brief.")
    runner = RealtimeRunner(agent, model=OpenAIRealtimeWebSocketModel())
    async with await runner.run() as session:
        await session.send_audio(pcm16_chunk)
        async for event in session:
            if event.type == "audio":
                speaker.write(event.audio.data)

Install with ``pip install realtime-ws[agents]`` (openai-agents 0.24.0, the version this
module is tested against; it reuses that version's session-config and item conversions, so
the wire and the events match the original).

It implements openai-agents' ``RealtimeModel`` with the same ``connect()`` options, the same
``send_event`` inputs and the same ``RealtimeModelEvent`` stream as
``agents.realtime.OpenAIRealtimeWebSocketModel``. Underneath, the socket, JSON classification,
base64 and the ``response.create`` sequencer run in Rust: audio deltas reach Python already
decoded (no pydantic, no Python base64 per delta) and ``send_audio`` encodes in Rust. Every
other server event is validated with the same openai types as in the original, so payloads
(items, errors, usage) are the same objects.

Differences that remain (each checked in ``tests/test_agents_model.py``):

- Well-formed audio, audio-transcript and text deltas get no ``raw_server_event`` unless
  ``raw_delta_events=True``: their content is in the ``audio``, ``transcript_delta`` and
  ``output_text_delta`` events, and a raw event per delta doubles ``RealtimeSession``'s work
  per delta. Audio events are :class:`RealtimeModelAudioEventWithId` (the original's class
  plus the delta's ``event_id``).
- The transport retrieves the item a ``conversation.item.input_audio_transcription.completed``
  or ``conversation.item.truncated`` names (the TS reference's rule; the public API has no
  switch for it); this model also retrieves its last audio item, as the original does. When
  those differ, the server gets one more ``conversation.item.retrieve``.
- ``response.create`` goes through the transport's Rust sequencer (at most one response
  active or requested; a create the server rejects is dropped, as in the original and the TS
  reference 0.20): event ids are ``realtime_ws_response_create_<n>``; a raw
  ``response.create`` message loses its own ``event_id`` and, without a ``response`` body, is
  coalesced with automatic requests.
- The tracing ``session.update`` sent on ``session.created`` has no ``model`` field, and with
  tracing disabled it is ``{"tracing": null}`` where the original sends nothing.
- Connection failures raise realtime-ws's exceptions (``ConnectionFailedError``,
  ``ConnectTimeoutError``) and unexpected closes or unreadable frames are reported with
  ``realtime_ws.ConnectionClosedError`` / ``ProtocolError`` (same ``exception`` contexts)
  instead of websockets' and json's exceptions.
- Audio sent after the server closed the socket is dropped instead of raising; the handshake's
  ``User-Agent`` names realtime-ws; ``headers``, when given, must carry the credentials (an
  ``Authorization`` or ``api-key`` header): the transport always authenticates.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version as _agents_version
from typing import Any, Literal, TypeAlias

try:
    import pydantic
    from agents import _debug
    from agents.exceptions import UserError
    from agents.logger import logger
    from agents.realtime._util import _is_g711_format
    from agents.realtime.config import RealtimeModelTracingConfig, RealtimeSessionModelSettings
    from agents.realtime.items import RealtimeMessageItem, RealtimeToolCallItem
    from agents.realtime.model import (
        RealtimeModel,
        RealtimeModelConfig,
        RealtimeModelListener,
        RealtimePlaybackState,
        RealtimePlaybackTracker,
    )
    from agents.realtime.model_events import (
        RealtimeModelAudioDoneEvent,
        RealtimeModelAudioEvent,
        RealtimeModelAudioInterruptedEvent,
        RealtimeModelConnectionStatusEvent,
        RealtimeModelEndOfStreamEvent,
        RealtimeModelErrorEvent,
        RealtimeModelEvent,
        RealtimeModelExceptionEvent,
        RealtimeModelInputAudioTimeoutTriggeredEvent,
        RealtimeModelInputAudioTranscriptionCompletedEvent,
        RealtimeModelItemDeletedEvent,
        RealtimeModelItemUpdatedEvent,
        RealtimeModelOutputTextDeltaEvent,
        RealtimeModelRawServerEvent,
        RealtimeModelToolCallEvent,
        RealtimeModelTranscriptDeltaEvent,
        RealtimeModelTurnEndedEvent,
        RealtimeModelTurnStartedEvent,
    )
    from agents.realtime.model_inputs import (
        RealtimeModelSendAudio,
        RealtimeModelSendEvent,
        RealtimeModelSendInterrupt,
        RealtimeModelSendRawMessage,
        RealtimeModelSendSessionUpdate,
        RealtimeModelSendToolOutput,
        RealtimeModelSendUserInput,
    )
    from agents.realtime.openai_realtime import (
        DEFAULT_REALTIME_MODEL,
        TransportConfig,
        _ConversionHelper,
        _log_server_event_validation_failure,
        _normalize_custom_voice_for_server_event_validation,
        _should_normalize_custom_voice_for_server_event,
        get_api_key,
        get_server_event_type_adapter,
    )
    from agents.realtime.openai_realtime import (
        OpenAIRealtimeWebSocketModel as _AgentsModel,
    )
    from openai.types.realtime.conversation_item import ConversationItem
    from openai.types.realtime.realtime_session_create_request import (
        RealtimeSessionCreateRequest,
    )
    from pydantic import BaseModel, TypeAdapter
    from typing_extensions import assert_never
except ImportError as exc:  # pragma: no cover - the agents extra is not installed
    raise ImportError(
        "realtime_ws.agents needs the openai-agents release of the `agents` extra: "
        f"pip install 'realtime-ws[agents]' ({exc})"
    ) from exc

from .errors import ConnectionClosedError
from .events import AudioEvent, CloseInfo, ErrorEvent
from .websocket import OpenAIRealtimeWebSocket

#: The openai-agents release this module is tested against (the ``agents`` extra pins it).
#: It reuses private conversions of that release: another release fails to import this
#: module if they moved, and gets a warning otherwise.
TESTED_AGENTS_VERSION = "0.24.0"

__all__ = [
    "TESTED_AGENTS_VERSION",
    "OpenAIRealtimeWebSocketModel",
    "RealtimeModelAudioEventWithId",
    "TransportConfig",
]

if _agents_version("openai-agents") != TESTED_AGENTS_VERSION:  # pragma: no cover
    warnings.warn(
        f"realtime_ws.agents is tested against openai-agents {TESTED_AGENTS_VERSION}, "
        f"found {_agents_version('openai-agents')}",
        stacklevel=2,
    )

# Close codes websockets reports as ConnectionClosedOK (a normal end of the stream).
_OK_CLOSE_CODES = frozenset({1000, 1001, 1005})

_MESSAGE_ITEM_ADAPTER: TypeAdapter[RealtimeMessageItem] = TypeAdapter(RealtimeMessageItem)

# Server deltas taken on a fast path: their fields are read straight from the dict when
# they have the types the openai models require (else the full validation runs, and its
# error is the original's).
_AUDIO_DELTA = "response.output_audio.delta"
_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
_TEXT_DELTA = "response.output_text.delta"
_DELTA_STR_FIELDS = ("event_id", "item_id", "response_id", "delta")
_DELTA_INT_FIELDS = ("output_index", "content_index")

# Inbox entry kinds (what the transport's listeners queue for the dispatch task).
_RAW = 0
_AUDIO = 1
_FAULT = 2
_CLOSED = 3

_InboxItem: TypeAlias = tuple[int, Any]


def _fast_delta(event: Mapping[str, Any]) -> bool:
    """True when a delta event has every field the openai model requires, typed."""
    for key in _DELTA_STR_FIELDS:
        if type(event.get(key)) is not str:
            return False
    return all(type(event.get(key)) is int for key in _DELTA_INT_FIELDS)


def _fault_context(error: BaseException) -> str:
    """The original's ``exception`` context for a frame the transport could not use: a frame
    that is not JSON fails its ``json.loads``; anything else (an audio delta whose base64
    does not decode) fails while handling the event."""
    if str(error).startswith("malformed server frame"):
        return "Failed to parse WebSocket message as JSON"
    return "Error handling WebSocket event"


class _Transport(OpenAIRealtimeWebSocket):
    """The transport with the interruption routed to the model.

    Overriding ``interrupt`` (a documented hook) stops the core from handling
    ``speech_started`` itself: the model does it in Python, in order with the other
    events, with openai-agents' rules (its playback tracker, its truncation limits).
    """

    def interrupt(self, cancel_ongoing_response: bool = True) -> None:
        return None


@dataclass(slots=True)
class _AudioState:
    initial_received_time: float
    audio_length_ms: float
    response_id: str | None = None


@dataclass(slots=True)
class _AudioTracker:
    """openai-agents' ``ModelAudioTracker`` (same rules), fed with byte counts.

    It runs once per audio delta, so it keeps only what the interruption arithmetic
    needs: per (item, content index) the arrival time of the first delta and the audio
    length in ms, the last item, and the items of each response.
    """

    g711: bool = False
    states: dict[tuple[str, int], _AudioState] = field(default_factory=dict)
    last_audio_item: tuple[str, int] | None = None
    items_by_response: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def set_audio_format(self, fmt: Any) -> None:
        self.g711 = _is_g711_format(fmt)

    def on_audio(self, item_id: str, content_index: int, nbytes: int, response_id: str) -> None:
        # The same float expressions as agents' calculate_audio_length_ms, so the
        # truncation limits (ceil of the length) come out identical.
        if nbytes == 0:
            ms = 0.0
        elif self.g711:
            ms = (nbytes / 8000) * 1000
        else:
            ms = ((nbytes / 2) / 24000) * 1000
        key = (item_id, content_index)
        self.last_audio_item = key
        items = self.items_by_response.get(response_id)
        if items is None:
            self.items_by_response[response_id] = [key]
        elif key not in items:
            items.append(key)
        state = self.states.get(key)
        if state is None:
            self.states[key] = _AudioState(time.monotonic(), ms, response_id)
        else:
            state.audio_length_ms += ms
            state.response_id = response_id

    def on_interrupted(self) -> None:
        if self.last_audio_item is not None:
            state = self.states.get(self.last_audio_item)
            if state is not None and state.response_id is not None:
                self.items_by_response.pop(state.response_id, None)
        self.last_audio_item = None

    def on_response_interrupted(self, response_id: str) -> None:
        items = self.items_by_response.pop(response_id, None)
        if items is not None and self.last_audio_item in items:
            self.last_audio_item = None

    def on_response_done(self, response_id: str) -> None:
        self.items_by_response.pop(response_id, None)

    def audio_items_for_response(self, response_id: str) -> tuple[tuple[str, int], ...]:
        return tuple(self.items_by_response.get(response_id, ()))


@dataclass
class RealtimeModelAudioEventWithId(RealtimeModelAudioEvent):
    """openai-agents' ``RealtimeModelAudioEvent`` plus the delta's ``event_id``.

    The audio events of this model are of this subclass: ``type == "audio"`` and every
    field of the original are there. ``event_id`` is what the original only exposes
    through the delta's ``raw_server_event``, which this model does not emit by default.
    """

    event_id: str = ""


class _InterruptError(RuntimeError):
    def __init__(self, errors: list[tuple[str, Exception]]) -> None:
        self.errors = tuple(errors)
        details = "; ".join(f"{operation}={error!r}" for operation, error in errors)
        super().__init__(f"Multiple Realtime interrupt operations failed: {details}")


class OpenAIRealtimeWebSocketModel(RealtimeModel):
    """openai-agents' ``OpenAIRealtimeWebSocketModel`` on realtime-ws's transport.

    ``transport_config`` takes the original's keys: ``ping_interval`` (None disables
    keepalive), ``ping_timeout``, ``handshake_timeout`` and ``max_size`` (8 MiB by
    default, as in the original; None: no limit).

    ``raw_delta_events``: also emit a ``raw_server_event`` for every audio, audio
    transcript and text delta, as the original does. Off by default: the decoded audio and
    the deltas are in the ``audio``, ``transcript_delta`` and ``output_text_delta`` events,
    and a raw event per delta doubles what ``RealtimeSession`` does per delta (each model
    event becomes a session event the user's loop iterates). The audio events carry the
    delta's ``event_id`` (:class:`RealtimeModelAudioEventWithId`).
    """

    def __init__(
        self,
        *,
        transport_config: TransportConfig | None = None,
        raw_delta_events: bool = False,
    ) -> None:
        self.model: str = DEFAULT_REALTIME_MODEL
        self._transport_config = transport_config
        self._raw_delta_events = raw_delta_events
        self._ws: _Transport | None = None
        self._pump: asyncio.Task[None] | None = None
        self._inbox: deque[_InboxItem] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._connection_attempt_active = False
        self._close_requested = False
        self._listeners: list[RealtimeModelListener] = []
        self._current_item_id: str | None = None
        self._audio_tracker = _AudioTracker()
        self._interrupted_audio_response_ids: set[str] = set()
        self._playback_tracker: RealtimePlaybackTracker | None = None
        self._created_session: RealtimeSessionCreateRequest | None = None
        self._tracing_config: RealtimeModelTracingConfig | Literal["auto"] | None = None
        self._call_id: str | None = None
        self._server_event_type_adapter = get_server_event_type_adapter()
        # Response bookkeeping mirrored from the server events (the Rust sequencer sends
        # response.create; these decide cancels and truncation limits as in the original).
        self._ongoing_response = False
        self._ongoing_response_id: str | None = None
        self._cancel_requested = False
        self._create_pending = False
        # An agents model used only for its pure session-config conversion, so that the
        # session.update payload is the original's, field for field.
        self._config_helper = _AgentsModel()

    # -- listeners -------------------------------------------------------------------------------

    def add_listener(self, listener: RealtimeModelListener) -> None:
        """Add a listener to the model."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: RealtimeModelListener) -> None:
        """Remove a listener from the model."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def _emit_event(self, event: RealtimeModelEvent) -> None:
        for listener in list(self._listeners):
            await listener.on_event(event)

    # -- connect ---------------------------------------------------------------------------------

    async def connect(self, options: RealtimeModelConfig) -> None:
        """Establish a connection to the model and keep it alive."""
        if self._connection_attempt_active or self._ws is not None or self._pump is not None:
            raise AssertionError("Already connected")
        previous_model = self.model
        self._connection_attempt_active = True
        try:
            model_settings: RealtimeSessionModelSettings = options.get("initial_model_settings", {})
            self._playback_tracker = options.get("playback_tracker", None)
            call_id = options.get("call_id")
            model_name = model_settings.get("model_name")
            if call_id and model_name:
                raise UserError(
                    "Cannot specify both `call_id` and `model_name` "
                    "when attaching to an existing realtime call."
                )
            if model_name:
                self.model = model_name
            self._call_id = call_id
            api_key = await get_api_key(options.get("api_key"))
            if "tracing" in model_settings:
                self._tracing_config = model_settings["tracing"]
            else:
                self._tracing_config = "auto"
            if call_id:
                url = options.get("url", f"wss://api.openai.com/v1/realtime?call_id={call_id}")
            else:
                url = options.get("url", f"wss://api.openai.com/v1/realtime?model={self.model}")
            auth, key, headers = self._credentials(api_key, options.get("headers"))
            session = self._session_payload(model_settings)
            ws = self._new_transport(auth, key, headers)
            self._inbox.clear()
            self._ws = ws
            try:
                await ws.connect(
                    url=url,
                    initial_session_config={
                        # `provider_data` is merged last over the transport's defaults: the
                        # whole payload is the original's.
                        "provider_data": session,
                        "tracing": self._tracing_value(),
                    },
                )
            except BaseException:
                self._ws = None
                self._inbox.clear()
                raise
            self._close_requested = False
            # Like the original's listener task: events that arrived during the handshake
            # are dispatched once connect() has returned to its caller.
            self._pump = asyncio.create_task(self._run_pump())
        except BaseException:
            self.model = previous_model
            raise
        finally:
            self._connection_attempt_active = False

    @staticmethod
    def _credentials(
        api_key: str | None, headers: Mapping[str, str] | None
    ) -> tuple[Literal["bearer", "azure"], str, dict[str, str]]:
        if headers is None:
            if not api_key:
                raise UserError("API key is required but was not provided.")
            return "bearer", api_key, {}
        # With `headers` the original sends them instead of its Authorization header. The
        # transport always authenticates, so its own header is replaced by the user's one of
        # the same name; the placeholder key below never goes on the wire.
        names = {name.lower() for name in headers}
        if "authorization" in names:
            return "bearer", "unused", dict(headers)
        if "api-key" in names:
            return "azure", "unused", dict(headers)
        raise UserError(
            "realtime_ws.agents: `headers` must carry the credentials (an Authorization or "
            "api-key header): the realtime-ws transport always authenticates its handshake."
        )

    def _new_transport(
        self, auth: Literal["bearer", "azure"], key: str, headers: dict[str, str]
    ) -> _Transport:
        cfg: TransportConfig = self._transport_config or {}
        options: dict[str, Any] = {"max_message_size": 8 * 1024 * 1024}
        if "ping_interval" in cfg:
            options["ping_interval"] = cfg["ping_interval"]
        if "ping_timeout" in cfg:
            timeout = cfg["ping_timeout"]
            # None (no pong deadline) has no equivalent; a day is as good as never.
            options["ping_timeout"] = 86400.0 if timeout is None else timeout
        if "handshake_timeout" in cfg:
            options["connect_timeout"] = cfg["handshake_timeout"]
        if "max_size" in cfg:
            options["max_message_size"] = cfg["max_size"]
        ws = _Transport(model=self.model, api_key=key, headers=headers, auth=auth, **options)
        ws.on("*", self._on_raw)
        ws.on("audio", self._on_audio)
        ws.on("error", self._on_fault)
        ws.on("disconnected", self._on_disconnected)
        return ws

    def _tracing_value(self) -> Any:
        converted = _ConversionHelper.convert_tracing_config(self._tracing_config)
        if isinstance(converted, BaseModel):
            return converted.model_dump(mode="json", exclude_unset=True)
        return converted

    def _session_payload(self, model_settings: RealtimeSessionModelSettings) -> dict[str, Any]:
        helper = self._config_helper
        helper.model = self.model
        helper._call_id = self._call_id
        session = helper._get_session_config(model_settings)
        return session.model_dump(mode="json", exclude_unset=True)

    # -- the transport's listeners: queue only (called from the transport's dispatch) ------------

    def _push(self, item: _InboxItem) -> None:
        self._inbox.append(item)
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)

    def _on_raw(self, event: dict[str, Any]) -> None:
        self._push((_RAW, event))

    def _on_audio(self, event: AudioEvent) -> None:
        self._push((_AUDIO, event))

    def _on_fault(self, event: ErrorEvent) -> None:
        # Server errors arrive through "*" like every server event; connection failures
        # through "disconnected". What is left is a frame the transport could not read.
        if event.source == "protocol":
            self._push((_FAULT, event.error))

    def _on_disconnected(self, info: CloseInfo | None) -> None:
        self._push((_CLOSED, info))

    # -- dispatch --------------------------------------------------------------------------------

    async def _run_pump(self) -> None:
        """Handles the queued transport events one after the other, like the original's
        listener task: each is fully handled (listeners awaited) before the next."""
        inbox = self._inbox
        loop = asyncio.get_running_loop()
        try:
            while True:
                while inbox:
                    kind, payload = inbox.popleft()
                    if kind == _CLOSED:
                        await self._handle_closed(payload)
                        return
                    try:
                        if kind == _AUDIO:
                            await self._handle_audio(payload)
                        elif kind == _RAW:
                            await self._handle_ws_event(payload)
                        else:
                            await self._emit_event(
                                RealtimeModelExceptionEvent(
                                    exception=payload, context=_fault_context(payload)
                                )
                            )
                    except Exception as e:
                        await self._emit_event(
                            RealtimeModelExceptionEvent(
                                exception=e, context="Error handling WebSocket event"
                            )
                        )
                wake: asyncio.Future[None] = loop.create_future()
                self._wake = wake
                await wake
        except asyncio.CancelledError:
            raise
        except Exception as e:
            await self._emit_event(
                RealtimeModelExceptionEvent(
                    exception=e, context="WebSocket error in message listener"
                )
            )
        finally:
            self._wake = None
            self._release_response_state()

    async def _handle_closed(self, info: CloseInfo | None) -> None:
        if self._close_requested or (info is not None and info.by_client):
            return
        code = info.code if info is not None else None
        error = info.error if info is not None else None
        if error is None and (code is None or code in _OK_CLOSE_CODES):
            logger.debug("WebSocket connection closed normally")
            await self._emit_event(RealtimeModelConnectionStatusEvent(status="disconnected"))
            await self._emit_event(RealtimeModelEndOfStreamEvent())
            return
        reason = info.reason if info is not None else ""
        exc = ConnectionClosedError(
            error or f"the server closed the connection (code {code}, reason {reason!r})",
            code=code,
            reason=reason,
        )
        await self._emit_event(
            RealtimeModelExceptionEvent(
                exception=exc, context="WebSocket connection closed unexpectedly"
            )
        )

    async def _handle_audio(self, ev: AudioEvent) -> None:
        """The hot path: one decoded audio delta (base64 was done in Rust)."""
        response_id = ev.response_id
        if response_id in self._interrupted_audio_response_ids:
            return
        item_id = ev.item_id
        content_index = ev.content_index
        data = ev.data
        self._current_item_id = item_id
        self._audio_tracker.on_audio(item_id, content_index, len(data), response_id)
        event = RealtimeModelAudioEventWithId(
            data=data,
            response_id=response_id,
            item_id=item_id,
            content_index=content_index,
            event_id=ev.event_id,
        )
        for listener in list(self._listeners):
            await listener.on_event(event)

    async def _handle_ws_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in (_AUDIO_DELTA, _TRANSCRIPT_DELTA, _TEXT_DELTA) and _fast_delta(event):
            if self._raw_delta_events:
                await self._emit_event(RealtimeModelRawServerEvent(data=event))
            if kind == _TRANSCRIPT_DELTA:
                await self._emit_event(
                    RealtimeModelTranscriptDeltaEvent(
                        item_id=event["item_id"],
                        delta=event["delta"],
                        response_id=event["response_id"],
                    )
                )
            elif kind == _TEXT_DELTA:
                await self._emit_event(
                    RealtimeModelOutputTextDeltaEvent(
                        item_id=event["item_id"],
                        delta=event["delta"],
                        response_id=event["response_id"],
                    )
                )
            # An audio delta's decoded audio follows as its own transport event.
            return
        await self._emit_event(RealtimeModelRawServerEvent(data=event))
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "message":
                await self._emit_event(
                    RealtimeModelItemUpdatedEvent(item=self._output_message_item(event, item))
                )
                return
        try:
            if "previous_item_id" in event and event["previous_item_id"] is None:
                validation_event: Any = {**event, "previous_item_id": ""}
            else:
                validation_event = event
            if _should_normalize_custom_voice_for_server_event(validation_event):
                validation_event = _normalize_custom_voice_for_server_event_validation(
                    validation_event
                )
            parsed = self._server_event_type_adapter.validate_python(validation_event)
        except pydantic.ValidationError as e:
            _log_server_event_validation_failure(event)
            await self._emit_event(RealtimeModelErrorEvent(error=e))
            return
        except Exception as e:
            _log_server_event_validation_failure(event)
            await self._emit_event(
                RealtimeModelExceptionEvent(
                    exception=e,
                    context=f"Failed to validate server event: {event.get('type', 'unknown')}",
                )
            )
            return

        if parsed.type == "response.output_audio.delta":
            # Taken here only when the fast path refused the dict but the openai model
            # accepted it: its audio still comes decoded from the transport.
            pass
        elif parsed.type == "response.output_audio.done":
            await self._emit_event(
                RealtimeModelAudioDoneEvent(
                    item_id=parsed.item_id, content_index=parsed.content_index
                )
            )
        elif parsed.type == "input_audio_buffer.speech_started":
            await self._on_speech_started(getattr(parsed, "audio_end_ms", None))
        elif parsed.type == "response.created":
            self._mark_response_created(parsed.response.id)
            await self._emit_event(RealtimeModelTurnStartedEvent(response_id=parsed.response.id))
        elif parsed.type == "response.done":
            response_id = getattr(parsed.response, "id", None)
            if response_id is not None:
                self._interrupted_audio_response_ids.discard(response_id)
            self._mark_response_done(response_id)
            if parsed.response.usage is not None:
                await self._emit_event(
                    _ConversionHelper.convert_response_usage(parsed.response.usage)
                )
            await self._emit_event(RealtimeModelTurnEndedEvent(response_id=response_id))
        elif parsed.type == "session.created":
            # The tracing session.update is sent by the transport on session.created.
            self._update_created_session(parsed.session)
        elif parsed.type == "session.updated":
            self._update_created_session(parsed.session)
        elif parsed.type == "error":
            # A create the server rejected stays pending: the Rust sequencer requeues and
            # retries automatic requests (the TS reference's rule), where the original
            # drops them.
            await self._emit_event(RealtimeModelErrorEvent(error=parsed.error))
        elif parsed.type == "conversation.item.deleted":
            await self._emit_event(RealtimeModelItemDeletedEvent(item_id=parsed.item_id))
        elif (
            parsed.type == "conversation.item.added"
            or parsed.type == "conversation.item.created"
            or parsed.type == "conversation.item.retrieved"
        ):
            previous_item_id = (
                parsed.previous_item_id if parsed.type == "conversation.item.created" else None
            )
            if parsed.item.type == "message":
                await self._emit_event(
                    RealtimeModelItemUpdatedEvent(
                        item=_ConversionHelper.conversation_item_to_realtime_message_item(
                            parsed.item, previous_item_id
                        )
                    )
                )
        elif (
            parsed.type == "conversation.item.input_audio_transcription.completed"
            or parsed.type == "conversation.item.truncated"
        ):
            # The transport itself retrieves the truncated or transcribed item (as the TS
            # reference does); the original retrieves the last audio item. Sent here only
            # when that is another item, so the server sees each retrieve once.
            current = self._current_item_id
            if current and current != parsed.item_id:
                self._send({"type": "conversation.item.retrieve", "item_id": current})
            if parsed.type == "conversation.item.input_audio_transcription.completed":
                await self._emit_event(
                    RealtimeModelInputAudioTranscriptionCompletedEvent(
                        item_id=parsed.item_id, transcript=parsed.transcript
                    )
                )
        elif parsed.type == "response.output_audio_transcript.delta":
            await self._emit_event(
                RealtimeModelTranscriptDeltaEvent(
                    item_id=parsed.item_id, delta=parsed.delta, response_id=parsed.response_id
                )
            )
        elif parsed.type == "response.output_text.delta":
            await self._emit_event(
                RealtimeModelOutputTextDeltaEvent(
                    item_id=parsed.item_id, delta=parsed.delta, response_id=parsed.response_id
                )
            )
        elif (
            parsed.type == "response.output_item.added"
            or parsed.type == "response.output_item.done"
        ):
            await self._handle_output_item(parsed.item)
        elif parsed.type == "input_audio_buffer.timeout_triggered":
            await self._emit_event(
                RealtimeModelInputAudioTimeoutTriggeredEvent(
                    item_id=parsed.item_id,
                    audio_start_ms=parsed.audio_start_ms,
                    audio_end_ms=parsed.audio_end_ms,
                )
            )

    @staticmethod
    def _output_message_item(event: Mapping[str, Any], item: Mapping[str, Any]) -> Any:
        """A message output item as the original converts it (without validating the event)."""
        converted_content: list[dict[str, Any]] = []
        for part in item.get("content") or []:
            if not isinstance(part, dict):
                continue
            if part.get("type") in ("audio", "output_audio"):
                converted_content.append(
                    {
                        "type": "audio",
                        "audio": part.get("audio"),
                        "transcript": part.get("transcript"),
                    }
                )
            elif part.get("type") in ("text", "output_text"):
                converted_content.append({"type": "text", "text": part.get("text")})
        status = item.get("status")
        if status not in ("in_progress", "completed", "incomplete"):
            is_done = event.get("type") == "response.output_item.done"
            status = "completed" if is_done else "in_progress"
        return _MESSAGE_ITEM_ADAPTER.validate_python(
            {
                "item_id": item.get("id", ""),
                "type": "message",
                "role": item.get("role", "assistant"),
                "content": converted_content,
                "status": status,
            }
        )

    async def _handle_output_item(self, item: ConversationItem) -> None:
        if item.type == "function_call" and item.status == "completed":
            tool_call = RealtimeToolCallItem(
                item_id=item.id or "",
                previous_item_id=None,
                call_id=item.call_id,
                type="function_call",
                # Completed only when its output is sent, as in the original.
                status="in_progress",
                arguments=item.arguments or "",
                name=item.name or "",
                output=None,
            )
            await self._emit_event(RealtimeModelItemUpdatedEvent(item=tool_call))
            await self._emit_event(
                RealtimeModelToolCallEvent(
                    call_id=item.call_id or "",
                    name=item.name or "",
                    arguments=item.arguments or "",
                    id=item.id or "",
                )
            )
        elif item.type == "message":
            message_item = _MESSAGE_ITEM_ADAPTER.validate_python(
                {
                    "item_id": item.id or "",
                    "type": item.type,
                    "role": item.role,
                    "content": (
                        [content.model_dump() for content in item.content] if item.content else []
                    ),
                    "status": "in_progress",
                }
            )
            await self._emit_event(RealtimeModelItemUpdatedEvent(item=message_item))

    # -- session state ---------------------------------------------------------------------------

    def _update_created_session(self, session: Any) -> None:
        normalized = _AgentsModel._normalize_session_payload(session)
        if normalized is None:
            return
        self._created_session = normalized
        fmt = _AgentsModel._extract_audio_format(normalized)
        if fmt is None:
            return
        self._audio_tracker.set_audio_format(fmt)
        if self._playback_tracker is not None:
            self._playback_tracker.set_audio_format(fmt)

    def _automatic_response_cancellation(self) -> bool:
        session = self._created_session
        return (
            session is not None
            and session.audio is not None
            and session.audio.input is not None
            and session.audio.input.turn_detection is not None
            and session.audio.input.turn_detection.interrupt_response is True
        )

    def _mark_response_created(self, response_id: str | None) -> None:
        self._ongoing_response = True
        self._ongoing_response_id = response_id
        self._cancel_requested = False
        self._create_pending = False

    def _mark_response_done(self, response_id: str | None) -> None:
        if (
            response_id is not None
            and self._ongoing_response_id is not None
            and response_id != self._ongoing_response_id
        ):
            return
        self._ongoing_response = False
        self._ongoing_response_id = None
        self._cancel_requested = False

    def _release_response_state(self) -> None:
        self._ongoing_response = False
        self._ongoing_response_id = None
        self._cancel_requested = False
        self._create_pending = False

    # -- sending ---------------------------------------------------------------------------------

    def _connected_transport(self) -> _Transport:
        ws = self._ws
        if ws is None:
            raise AssertionError("Not connected")
        return ws

    def _send(self, event: dict[str, Any]) -> None:
        """One client event, serialised in Rust."""
        self._connected_transport().send_event(event)

    def _request_response(self, response: dict[str, Any] | None = None) -> None:
        self._connected_transport().request_response(response)
        self._create_pending = True

    async def send_event(self, event: RealtimeModelSendEvent) -> None:
        """Send an event to the model."""
        if isinstance(event, RealtimeModelSendRawMessage):
            converted = _ConversionHelper.try_convert_raw_message(event)
            if converted is not None:
                payload = converted.model_dump(mode="json", exclude_unset=True)
                if payload.get("type") == "response.create":
                    # The Rust sequencer sends it (with its own event id).
                    response = payload.get("response")
                    self._request_response(response if isinstance(response, dict) else None)
                else:
                    self._send(payload)
            elif _debug.DONT_LOG_MODEL_DATA:
                logger.error("Failed to convert raw message")
            else:
                logger.error("Failed to convert raw message: %s", event)
        elif isinstance(event, RealtimeModelSendUserInput):
            await self._send_user_input(event)
        elif isinstance(event, RealtimeModelSendAudio):
            self._connected_transport().send_audio(event.audio, commit=event.commit)
        elif isinstance(event, RealtimeModelSendToolOutput):
            await self._send_tool_output(event)
        elif isinstance(event, RealtimeModelSendInterrupt):
            await self._send_interrupt(event)
        elif isinstance(event, RealtimeModelSendSessionUpdate):
            self._send(
                {"type": "session.update", "session": self._session_payload(event.session_settings)}
            )
        else:
            assert_never(event)
            raise ValueError(f"Unknown event type: {type(event)}")

    async def send_event_if(
        self, event: RealtimeModelSendEvent, send_if: Callable[[], bool]
    ) -> bool:
        """Sends user input only if ``send_if()`` holds when it is sent (checked right before
        the send, which cannot be interleaved: sends are synchronous here)."""
        if isinstance(event, RealtimeModelSendUserInput):
            return await self._send_user_input(event, send_if=send_if)
        return await super().send_event_if(event, send_if)

    async def _send_user_input(
        self,
        event: RealtimeModelSendUserInput,
        *,
        send_if: Callable[[], bool] | None = None,
    ) -> bool:
        if send_if is not None and (not send_if() or self._create_pending):
            return False
        converted = _ConversionHelper.convert_user_input_to_item_create(event)
        payload = converted.model_dump(mode="json", exclude_unset=True)
        if send_if is not None and not send_if():
            return False
        self._send(payload)
        self._request_response()
        return True

    async def _send_tool_output(self, event: RealtimeModelSendToolOutput) -> None:
        self._send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "output": event.output,
                    "call_id": event.tool_call.call_id,
                },
            }
        )
        tool_item = RealtimeToolCallItem(
            item_id=event.tool_call.id or "",
            previous_item_id=event.tool_call.previous_item_id,
            call_id=event.tool_call.call_id,
            type="function_call",
            status="completed",
            arguments=event.tool_call.arguments,
            name=event.tool_call.name,
            output=event.output,
        )
        await self._emit_event(RealtimeModelItemUpdatedEvent(item=tool_item))
        if event.start_response:
            self._request_response()

    # -- interruption (openai-agents' rules) -----------------------------------------------------

    def _get_playback_state(self) -> RealtimePlaybackState:
        if self._playback_tracker is not None:
            return self._playback_tracker.get_state()
        last = self._audio_tracker.last_audio_item
        if last is not None:
            state = self._audio_tracker.states.get(last)
            if state is not None:
                return {
                    "current_item_id": last[0],
                    "current_item_content_index": last[1],
                    "elapsed_ms": (time.monotonic() - state.initial_received_time) * 1000,
                }
        return {"current_item_id": None, "current_item_content_index": None, "elapsed_ms": None}

    def _ongoing_response_owns_audio(self, item_id: str, content_index: int) -> bool:
        if not self._ongoing_response:
            return False
        response_id = self._ongoing_response_id
        state = self._audio_tracker.states.get((item_id, content_index))
        if response_id is None or state is None or state.response_id is None:
            return True
        return state.response_id == response_id

    def _max_audio_ms(self, item_id: str, content_index: int) -> int | None:
        state = self._audio_tracker.states.get((item_id, content_index))
        return None if state is None else math.ceil(state.audio_length_ms)

    def _truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        self._send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    async def _on_speech_started(self, elapsed_override: Any) -> None:
        """``input_audio_buffer.speech_started``: stop playback and truncate, as the original."""
        last_audio = self._audio_tracker.last_audio_item
        if last_audio is None:
            return
        item_id, content_index = last_audio
        playback = self._get_playback_state()
        playback_item_id = playback.get("current_item_id")
        playback_content_index = playback.get("current_item_content_index") or 0
        playback_elapsed_ms = playback.get("elapsed_ms")
        await self._emit_event(
            RealtimeModelAudioInterruptedEvent(item_id=item_id, content_index=content_index)
        )
        if elapsed_override is None or elapsed_override <= 0:
            effective_elapsed_ms = playback_elapsed_ms
        else:
            effective_elapsed_ms = float(elapsed_override)
        if playback_item_id and effective_elapsed_ms is not None:
            max_audio_ms = self._max_audio_ms(playback_item_id, playback_content_index)
            truncated_ms = max(round(effective_elapsed_ms), 0)
            if (
                max_audio_ms is not None
                and truncated_ms >= max_audio_ms
                and not self._ongoing_response_owns_audio(playback_item_id, playback_content_index)
            ):
                logger.debug(
                    "Skipping truncate because playback appears complete. Item id: %s, "
                    "elapsed ms: %s, content index: %s, audio length ms: %s",
                    playback_item_id,
                    effective_elapsed_ms,
                    playback_content_index,
                    max_audio_ms,
                )
            else:
                if max_audio_ms is not None:
                    truncated_ms = min(truncated_ms, max_audio_ms)
                self._truncate(playback_item_id, playback_content_index, truncated_ms)
        self._audio_tracker.on_interrupted()
        if self._playback_tracker is not None:
            self._playback_tracker.on_interrupted()
        if not self._automatic_response_cancellation():
            self._cancel_response()

    def _cancel_response(self, *, response_id: str | None = None) -> None:
        if not self._ongoing_response or self._cancel_requested:
            return
        if (
            response_id is not None
            and self._ongoing_response_id is not None
            and response_id != self._ongoing_response_id
        ):
            return
        self._cancel_requested = True
        event: dict[str, Any] = {"type": "response.cancel"}
        if response_id is not None:
            event["response_id"] = response_id
        try:
            self._send(event)
        except BaseException:
            self._cancel_requested = False
            raise

    async def _interrupt_audio_playback(
        self, event: RealtimeModelSendInterrupt
    ) -> list[tuple[str, Exception]]:
        errors: list[tuple[str, Exception]] = []
        playback = self._get_playback_state()
        current_item_id = playback.get("current_item_id")
        current_content_index = playback.get("current_item_content_index")
        elapsed_ms = playback.get("elapsed_ms")

        response_scoped = event.response_id is not None
        source_audio_items: tuple[tuple[str, int], ...] = ()
        if event.response_id is not None:
            source_audio_items = self._audio_tracker.audio_items_for_response(event.response_id)
            if not source_audio_items:
                return errors
            for source_item in source_audio_items:
                try:
                    await self._emit_event(
                        RealtimeModelAudioInterruptedEvent(
                            item_id=source_item[0], content_index=source_item[1]
                        )
                    )
                except Exception as exc:
                    errors.append(("emit_audio_interrupted", exc))
            current = (
                (current_item_id, current_content_index or 0)
                if current_item_id is not None
                else None
            )
            if current not in source_audio_items:
                playback = self._get_playback_state()
                current_item_id = playback.get("current_item_id")
                current_content_index = playback.get("current_item_content_index")
                elapsed_ms = playback.get("elapsed_ms")
                current = (
                    (current_item_id, current_content_index or 0)
                    if current_item_id is not None
                    else None
                )
                if current not in source_audio_items:
                    self._audio_tracker.on_response_interrupted(event.response_id)
                    return errors

        if current_item_id is None or elapsed_ms is None:
            logger.debug(
                "Skipping interrupt. Item id: %s, elapsed ms: %s, content index: %s",
                current_item_id,
                elapsed_ms,
                current_content_index,
            )
        else:
            content_index = current_content_index or 0
            if elapsed_ms >= 0:
                if not response_scoped:
                    try:
                        await self._emit_event(
                            RealtimeModelAudioInterruptedEvent(
                                item_id=current_item_id, content_index=content_index
                            )
                        )
                    except Exception as exc:
                        errors.append(("emit_audio_interrupted", exc))
                max_audio_ms = self._max_audio_ms(current_item_id, content_index)
                truncated_ms = max(int(elapsed_ms), 0)
                if (
                    (
                        not event.playback_only
                        and self._ongoing_response_owns_audio(current_item_id, content_index)
                    )
                    or max_audio_ms is None
                    or truncated_ms < max_audio_ms
                ):
                    if max_audio_ms is not None:
                        truncated_ms = min(truncated_ms, max_audio_ms)
                    try:
                        self._truncate(current_item_id, content_index, truncated_ms)
                    except Exception as exc:
                        errors.append(("truncate_audio", exc))
            else:
                logger.debug(
                    "Didn't interrupt bc elapsed ms is < 0. Item id: %s, "
                    "elapsed ms: %s, content index: %s",
                    current_item_id,
                    elapsed_ms,
                    content_index,
                )

        if current_item_id is not None and elapsed_ms is not None:
            if event.response_id is not None:
                self._audio_tracker.on_response_interrupted(event.response_id)
            else:
                self._audio_tracker.on_interrupted()
            if self._playback_tracker is not None:
                latest = self._playback_tracker.get_state()
                latest_item_id = latest.get("current_item_id")
                latest_content_index = latest.get("current_item_content_index") or 0
                latest_item = (
                    (latest_item_id, latest_content_index) if latest_item_id is not None else None
                )
                if not response_scoped or latest_item in source_audio_items:
                    self._playback_tracker.on_interrupted()
        return errors

    async def _send_interrupt(self, event: RealtimeModelSendInterrupt) -> None:
        if event.playback_only and (event.cancel_response_only or event.force_response_cancel):
            raise ValueError("playback_only cannot be combined with explicit cancellation modes")
        if event.cancel_response_only:
            if event.response_id is None:
                raise ValueError("cancel_response_only requires response_id")
            self._cancel_response(response_id=event.response_id)
            return
        if event.response_id is not None:
            self._interrupted_audio_response_ids.add(event.response_id)
        errors = await self._interrupt_audio_playback(event)
        if not event.playback_only:
            should_cancel = (
                event.force_response_cancel or not self._automatic_response_cancellation()
            )
            if should_cancel:
                try:
                    self._cancel_response(response_id=event.response_id)
                except Exception as exc:
                    errors.append(("cancel_response", exc))
        if len(errors) == 1:
            raise errors[0][1]
        if errors:
            raise _InterruptError(errors) from errors[0][1]

    # -- close -----------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the session (no event is emitted for a close the caller asked for)."""
        cleanup_error: BaseException | None = None
        ws, pump = self._ws, self._pump
        self._ws = None
        self._pump = None
        try:
            if ws is not None:
                self._close_requested = True
                try:
                    await ws.aclose()
                except BaseException as exc:
                    cleanup_error = exc
            if pump is not None:
                pump.cancel()
                if pump is not asyncio.current_task():
                    with contextlib.suppress(asyncio.CancelledError):
                        await pump
            self._inbox.clear()
            self._release_response_state()
            if cleanup_error is not None:
                raise cleanup_error
        finally:
            self._reset_connection_state()

    def _reset_connection_state(self) -> None:
        # The runner may reuse one model across runs: nothing of the closed connection may
        # leak into the next one (item ids, audio lengths, the session's settings).
        self._interrupted_audio_response_ids.clear()
        self._audio_tracker = _AudioTracker()
        self._current_item_id = None
        self._created_session = None
        if self._playback_tracker is not None:
            self._playback_tracker.on_interrupted()

    def _retire_response_audio(self, response_id: str) -> None:
        self._interrupted_audio_response_ids.discard(response_id)
        self._audio_tracker.on_response_done(response_id)
