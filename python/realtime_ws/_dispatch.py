"""Server events, as the core classified them, turned into emitted events.

The core hands over each known event with its ``kind`` (the GA name it is
emitted under; beta names are mapped in the core), so the translation here is
a table from kind to handler, not a chain of string comparisons. Everything
per-frame (audio, interruption, the sequencer) already happened in the core;
what remains is building the reference's typed payloads (SEED_BEHAVIOUR.md
section 4) for the events that have listeners.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _core
from ._base import TransportBase, logger
from .errors import InvalidAudioError, ProtocolError
from .events import (
    AudioDoneEvent,
    AudioEvent,
    ItemDeletedEvent,
    OutputTextDeltaEvent,
    TranscriptDeltaEvent,
    TurnDoneEvent,
    TurnDoneResponse,
    TurnStartedEvent,
    response_timing,
    usage_from_response,
)
from .items import (
    ABSENT,
    FunctionCallEvent,
    FunctionCallItem,
    McpToolsListedEvent,
    approval_request_item,
    mcp_call_item,
    message_item,
)

# Listeners that need the raw frame of each audio delta (else the core skips it).
RAW_AUDIO_LISTENERS = ("*", "response.output_audio.delta", "response.audio.delta")
# Listeners that need transcript / text deltas (else the core drops them).
TRANSCRIPT_LISTENERS = (
    "*",
    "audio_transcript_delta",
    "response.output_audio_transcript.delta",
    "response.audio_transcript.delta",
)
TEXT_LISTENERS = ("*", "output_text_delta", "response.output_text.delta", "response.text.delta")


class CoreEventDispatch(TransportBase):
    """Handlers for what the core delivers about the current socket."""

    def _listeners_changed(self, name: str) -> None:
        """Tells the core which events someone listens to (the rest are not built), and
        picks the audio fast path (see ``_hub.LoopHub._drain``)."""
        if name in ("audio", ""):
            self._audio_sink = (
                self._sole_listener("audio")
                if type(self)._on_audio is TransportBase._on_audio
                else None
            )
        if (
            name in RAW_AUDIO_LISTENERS
            or name in TRANSCRIPT_LISTENERS
            or name in TEXT_LISTENERS
            or not name
        ):
            taps = bool(self._taps)
            self._core.set_wants(
                any(n in self._listeners for n in RAW_AUDIO_LISTENERS),
                taps or any(n in self._listeners for n in TRANSCRIPT_LISTENERS),
                taps or any(n in self._listeners for n in TEXT_LISTENERS),
            )

    # -- core events of the current socket --------------------------------------------------------

    def _on_core_server(self, conn_id: int, ev: _core.ServerEvent) -> None:
        if conn_id != self._conn_id:
            return
        self._emit_server_dict(ev)
        kind = ev.kind
        if kind is not None:
            handler = _SERVER_HANDLERS.get(kind)
            if handler is not None:
                handler(self, ev)

    def _on_core_audio(self, conn_id: int, ev: AudioEvent) -> None:
        if conn_id == self._conn_id:
            self._on_audio(ev)

    def _on_core_interrupted(self, conn_id: int, ev: _core.AudioInterruptedEvent) -> None:
        if conn_id == self._conn_id:
            self._emit("audio_interrupted", ev)

    def _on_core_notice(self, conn_id: int, ev: _core.CoreNotice) -> None:
        if conn_id != self._conn_id:
            return
        if ev.source == "audio":
            self._on_error(InvalidAudioError(ev.message), source="audio")
        else:
            self._on_error(ProtocolError(ev.message), source="protocol")

    def _emit_server_dict(self, ev: _core.ServerEvent) -> None:
        """``*`` (a fresh dict per listener), then the event named after its ``type``."""
        entries = self._listeners.get("*")
        if entries:
            for entry in tuple(entries):
                try:
                    self._call("*", entry, (ev.to_dict(),))
                except Exception as exc:
                    self._report_listener_error("*", exc)
        t = ev.type
        if ev.kind is not None and t != "error" and t is not None and t in self._listeners:
            self._emit(t, ev.to_dict())

    # -- translation, by kind ---------------------------------------------------------------------

    def _transcript_delta(self, ev: _core.ServerEvent) -> None:
        if "audio_transcript_delta" in self._listeners or self._taps:
            rid, iid, delta = _delta_of(ev)
            self._emit("audio_transcript_delta", TranscriptDeltaEvent(delta, iid, rid))

    def _text_delta(self, ev: _core.ServerEvent) -> None:
        if "output_text_delta" in self._listeners or self._taps:
            rid, iid, delta = _delta_of(ev)
            self._emit("output_text_delta", OutputTextDeltaEvent(delta, iid, rid))

    def _server_error(self, ev: _core.ServerEvent) -> None:
        event = ev.to_dict()
        err = event.get("error") if isinstance(event, dict) else None
        caused_by = err.get("event_id") if isinstance(err, dict) else None
        if isinstance(caused_by, str):
            self._history_requests.pop(caused_by, None)
        self._on_error(event, source="server")

    def _response_created(self, ev: _core.ServerEvent) -> None:
        self._emit("turn_started", TurnStartedEvent(provider_data=ev.to_dict()))

    def _response_done(self, ev: _core.ServerEvent) -> None:
        response = ev.to_dict().get("response") or {}
        usage = usage_from_response(response)
        self._emit("usage_update", usage)
        rid = response.get("id") or ""
        timing = self._core.response_timing(rid) if isinstance(rid, str) and rid else None
        self._emit(
            "turn_done",
            TurnDoneEvent(
                TurnDoneResponse(
                    id=rid,
                    output=response.get("output") or [],
                    usage=usage,
                ),
                timing=response_timing(timing),
            ),
        )

    def _audio_done(self, ev: _core.ServerEvent) -> None:
        event = ev.to_dict()
        self._emit(
            "audio_done",
            AudioDoneEvent(
                item_id=event.get("item_id", ""),
                response_id=event.get("response_id", ""),
                content_index=event.get("content_index", 0),
            ),
        )
        if self._py_audio_done:
            self._after_audio_done_event()

    def _item_deleted(self, ev: _core.ServerEvent) -> None:
        item_id = ev.to_dict().get("item_id", "")
        self._settle_history_request(item_id, "delete")
        self._emit("item_deleted", ItemDeletedEvent(item_id))

    def _speech_started(self, ev: _core.ServerEvent) -> None:
        # With the default hooks the core interrupted already; an override runs here.
        if self._py_interrupts:
            self.interrupt(not bool(self._core.interrupt_response))

    def _session_created(self, ev: _core.ServerEvent) -> None:
        session = ev.to_dict().get("session") or {}
        self._server_tracing = session.get("tracing") if isinstance(session, Mapping) else None
        self._update_tracing_config(self._tracing)

    def _conversation_item(self, ev: _core.ServerEvent) -> None:
        t = ev.kind
        event = ev.to_dict()
        item = event.get("item") or {}
        if t == "conversation.item.added" and item.get("id"):
            self._settle_history_request(item["id"], "create")
        kind = item.get("type")
        done = t == "conversation.item.done"
        if kind == "mcp_list_tools":
            if done:  # not a history item: a side channel
                self._emit(
                    "mcp_tools_listed",
                    McpToolsListedEvent(
                        item.get("server_label") or "", list(item.get("tools") or [])
                    ),
                )
            return
        if kind == "message":
            # Absent (no placement claim) unless an added/done event carries the field;
            # a null there means "the first item".
            previous = (
                ABSENT
                if t == "conversation.item.retrieved"
                else event.get("previous_item_id", ABSENT)
            )
            status: Any = item.get("status") or (
                "in_progress" if t == "conversation.item.added" else "completed"
            )
            self._emit("item_update", message_item(item, status=status, previous_item_id=previous))
        elif kind == "mcp_approval_request":
            if done:
                req = approval_request_item(item)
                self._emit("item_update", req)
                self._emit("mcp_approval_request", req)
        elif kind in ("mcp_call", "mcp_tool_call"):
            call = mcp_call_item(item, "completed" if done else "in_progress")
            self._emit("item_update", call)
            if done:
                self._emit("mcp_tool_call_completed", call)

    def _output_item(self, ev: _core.ServerEvent) -> None:
        event = ev.to_dict()
        item = event.get("item") or {}
        kind = item.get("type")
        done = ev.kind == "response.output_item.done"
        if kind == "function_call":
            if item.get("status") != "completed":
                return
            self._emit(
                "item_update",
                FunctionCallItem(
                    item_id=item.get("id") or "",
                    name=item.get("name") or "",
                    arguments=item.get("arguments") or "",
                    status="in_progress",  # completed only once the output is sent
                    output=None,
                    call_id=item.get("call_id"),
                ),
            )
            self._emit(
                "function_call",
                FunctionCallEvent(
                    id=item.get("id") or "",
                    call_id=item.get("call_id") or "",
                    name=item.get("name") or "",
                    arguments=item.get("arguments") or "",
                    response_id=event.get("response_id") or "",
                ),
            )
        elif kind in ("mcp_call", "mcp_tool_call"):
            self._emit("item_update", mcp_call_item(item, "completed" if done else "in_progress"))
        elif kind == "message":
            status: Any = item.get("status") or ("completed" if done else "in_progress")
            self._emit("item_update", message_item(item, status=status, previous_item_id=ABSENT))

    def _update_tracing_config(self, tracing: Any) -> None:
        """Sends the tracing config separately, with the reference's rules."""
        if self._conn_id is None or self._beta:
            return
        if tracing == "auto":
            value: Any = "auto"
        elif isinstance(self._server_tracing, dict) and (
            tracing is None or isinstance(tracing, dict)
        ):
            logger.warning(
                "tracing is already configured on the server for this session; "
                "it cannot be changed or disabled now"
            )
            return
        else:
            value = tracing
        self.send_event(
            {"type": "session.update", "session": {"type": "realtime", "tracing": value}}
        )


def _delta_of(ev: _core.ServerEvent) -> tuple[str, str, str]:
    """``(response_id, item_id, delta)``: read by the core on the fast path, or from the
    frame itself when the core could not hold its text (a lone UTF-16 surrogate, kept
    as Python's json keeps it, as the reference's JSON.parse does)."""
    d = ev.delta
    if d is not None:
        return d[0], d[1], d[3]
    e = ev.to_dict()
    return e.get("response_id", ""), e.get("item_id", ""), e.get("delta", "")


_Handler = Callable[[CoreEventDispatch, _core.ServerEvent], None]

#: Known server events (by the GA name the core gives them) that map to more
#: than their own typed event.
_SERVER_HANDLERS: dict[str, _Handler] = {
    "response.output_audio_transcript.delta": CoreEventDispatch._transcript_delta,
    "response.output_text.delta": CoreEventDispatch._text_delta,
    "error": CoreEventDispatch._server_error,
    "response.created": CoreEventDispatch._response_created,
    "response.done": CoreEventDispatch._response_done,
    "response.output_audio.done": CoreEventDispatch._audio_done,
    "conversation.item.deleted": CoreEventDispatch._item_deleted,
    "conversation.item.added": CoreEventDispatch._conversation_item,
    "conversation.item.done": CoreEventDispatch._conversation_item,
    "conversation.item.retrieved": CoreEventDispatch._conversation_item,
    "conversation.item.created": CoreEventDispatch._conversation_item,
    "response.output_item.added": CoreEventDispatch._output_item,
    "response.output_item.done": CoreEventDispatch._output_item,
    "input_audio_buffer.speech_started": CoreEventDispatch._speech_started,
    "session.created": CoreEventDispatch._session_created,
}
