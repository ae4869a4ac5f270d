"""Differential tests: ``realtime_ws.agents.OpenAIRealtimeWebSocketModel`` against
openai-agents' own ``OpenAIRealtimeWebSocketModel``.

Each scenario runs the same script through ``RealtimeRunner``/``RealtimeSession`` twice,
once per model, each against a fresh ``MockRealtimeServer`` with the same options, and
compares

- the session events the user iterates (types and payloads, the raw model events and the
  raw server events included), after normalisation: ids (random per server run) are
  replaced by their order of first appearance, ``event_id`` fields are dropped, audio is
  compared by length (and by total bytes and content hash per stream segment);
- the client events the server received (``server.received()``), normalised the same way,
  consecutive ``input_audio_buffer.append`` events summed into one.

Allowed differences (each is applied by the normalisation below, nothing else is):

1. ``response.create`` event ids: the original numbers them ``agents_py_response_create_<n>``,
   realtime-ws's Rust sequencer ``realtime_ws_response_create_<n>`` (``event_id`` is dropped
   everywhere: ids aside).
2. The tracing ``session.update`` sent on ``session.created``: the original also sends the
   model name in it (``{"type": "realtime", "model": ..., "tracing": ...}``), realtime-ws's
   transport sends ``{"type": "realtime", "tracing": ...}``. The model is already set by the
   first ``session.update``, so the server's session is the same (the ``session.updated``
   events are compared and equal). Normalised by dropping ``model`` from a session.update
   whose session has only ``type``, ``model`` and ``tracing``.
3. ``audio_end_ms`` of a ``conversation.item.truncate`` without a playback tracker: both
   models compute it from the wall clock (now minus the arrival of the item's first audio),
   so it is checked to be within the audio received, not compared. With a
   ``RealtimePlaybackTracker`` it is exact and compared.
4. The exception of an unexpected close: websockets' ``ConnectionClosedError`` in the
   original, ``realtime_ws.ConnectionClosedError`` here (same ``context``); compared by
   context only.
5. On ``conversation.item.input_audio_transcription.completed`` and
   ``conversation.item.truncated`` the transport retrieves the item the event names (the TS
   reference's rule; the public API has no switch for it), while the original retrieves
   its last audio item (which this model also does, unless it is that same item). Where
   the two differ (always for a transcribed user item; for a truncation that the server
   confirms after the next reply's audio began), a realtime-ws run has one more
   ``conversation.item.retrieve`` on the wire, and one more ``conversation.item.retrieved``
   raw event with its ``item_updated`` and ``history_updated``. Normalised by dropping
   those, in the realtime-ws run only, after checking that they change no item.
6. (No longer a difference: a server ``error`` linked to a ``response.create`` drops the
   request in both, as the TS reference 0.20 does; ``test_rejected_response_create_is_dropped``.)

7. Raw server events of the hot deltas (``response.output_audio.delta``,
   ``response.output_audio_transcript.delta``, ``response.output_text.delta``): not emitted
   by default (``raw_delta_events=False``); their content is in the ``audio``,
   ``transcript_delta`` and ``output_text_delta`` events, and each raw event would cost a
   ``RealtimeSession`` event per delta. Normalised by dropping them from the original's
   trace; ``test_audio_reply_turn_with_raw_delta_events`` compares with them, unnormalised.
8. Audio events are ``RealtimeModelAudioEventWithId``, a subclass of
   ``RealtimeModelAudioEvent`` with the delta's ``event_id`` added; compared as the base
   class without that field.

Every server also validates the traffic at teardown (the ``make_server`` fixture): each
client event either model sent must validate against the openai SDK's client-event union.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import math
import re
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("agents", reason="needs the agents extra (openai-agents)")

from agents import function_tool
from agents.realtime import (
    RealtimeAgent,
    RealtimePlaybackTracker,
    RealtimeRunner,
)
from agents.realtime.model import RealtimeModelListener
from agents.realtime.model_inputs import RealtimeModelSendAudio, RealtimeModelSendRawMessage
from agents.realtime.openai_realtime import (
    OpenAIRealtimeWebSocketModel as OriginalModel,
)
from pydantic import BaseModel

from realtime_ws.agents import OpenAIRealtimeWebSocketModel as RtwsModel
from realtime_ws.testing import MockRealtimeServer

MODELS: dict[str, Callable[[], Any]] = {"original": OriginalModel, "realtime_ws": RtwsModel}

# -- audio -------------------------------------------------------------------------------------


def pcm(ms: int, amplitude: float = 8000.0, hz: float = 440.0) -> bytes:
    """24 kHz PCM16: a sine loud enough for the mock's VAD (or silence with amplitude 0)."""
    n = 24 * ms
    return struct.pack(
        f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * hz * i / 24000)) for i in range(n))
    )


SERVER_VAD = {
    "type": "server_vad",
    "silence_duration_ms": 200,
    "create_response": True,
    "interrupt_response": True,
}

# -- normalisation -----------------------------------------------------------------------------

_ID = re.compile(r"^(item|resp|conv|call|sess|event|evt|fc|msg)_[A-Za-z0-9_]+$")


class Canon:
    """Replaces ids by ``<kind#n>`` in order of first appearance (one mapping per run)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def text(self, s: str) -> str:
        m = _ID.match(s)
        if m is None:
            return s
        if s not in self.ids:
            self.ids[s] = f"<{m.group(1)}#{len(self.ids)}>"
        return self.ids[s]

    def plain(self, obj: Any) -> Any:
        """A comparable, JSON-like form of an event payload."""
        if isinstance(obj, BaseModel):
            return {"__model__": type(obj).__name__, **self.plain(obj.model_dump())}
        if isinstance(obj, BaseException):
            return {"__exception__": type(obj).__name__}
        if isinstance(obj, RealtimeAgent):
            return {"__agent__": obj.name}
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            name = type(obj).__name__
            skip = {"info", "context_wrapper", "context"}
            if name == "RealtimeModelAudioEventWithId":  # allowed difference 8
                name = "RealtimeModelAudioEvent"
                skip.add("event_id")
            out: dict[str, Any] = {"__dataclass__": name}
            for f in dataclasses.fields(obj):
                if f.name in skip:
                    continue
                out[f.name] = self.plain(getattr(obj, f.name))
            return out
        if isinstance(obj, dict):
            # event ids: ids aside; expires_at: the server's clock. Sorted: ids are numbered
            # in order of appearance, whatever the key order of the frame.
            return {
                k: self.plain(obj[k]) for k in sorted(obj) if k not in ("event_id", "expires_at")
            }
        if isinstance(obj, (list, tuple)):
            return [self.plain(v) for v in obj]
        if isinstance(obj, (bytes, bytearray)):
            return {"__bytes__": len(obj)}
        if isinstance(obj, str):
            if len(obj) > 200:  # base64 audio in raw server events
                return {"__str__": len(obj), "sha": hashlib.sha256(obj.encode()).hexdigest()[:12]}
            return self.text(obj)
        if isinstance(obj, (int, float, bool)) or obj is None:
            return obj
        if hasattr(obj, "name") and isinstance(obj.name, str):  # tools, guardrails
            return {"__named__": type(obj).__name__, "name": obj.name}
        return {"__object__": type(obj).__name__}


def session_event(canon: Canon, ev: Any, wall_clock: bool = False) -> Any:
    """One session event as compared. Exceptions that differ by design are reduced to their
    ``context`` (allowed difference 4); with ``wall_clock`` the truncation point the server
    echoes is not compared (allowed difference 3)."""
    out = canon.plain(ev)
    data = getattr(ev, "data", None)
    if ev.type == "raw_model_event" and getattr(data, "type", None) == "exception":
        out["data"]["exception"] = {"__exception__": "<by design>"}
    if wall_clock and kind(ev) == "raw_model_event:raw_server_event:conversation.item.truncated":
        out["data"]["data"]["audio_end_ms"] = "<wall clock>"
    if wall_clock:
        # The mock counts the truncated transcript in the next response's input tokens.
        out = _mask_usage(out)
    return out


def _mask_usage(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_mask_usage(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if obj.get("__dataclass__") == "RealtimeModelUsageEvent":
        return {"__dataclass__": "RealtimeModelUsageEvent", "usage": "<wall clock>"}
    if obj.get("type") == "rate_limits.updated":
        # The mock's token budget counts the same truncated transcript.
        return {**obj, "rate_limits": "<wall clock>"}
    return {k: "<wall clock>" if k == "usage" else _mask_usage(v) for k, v in obj.items()}


def wire(canon: Canon, received: list[dict[str, Any]], wall_clock: bool = False) -> list[Any]:
    """The client events as the server recorded them, normalised (see the module docstring)."""
    out: list[Any] = []
    for ev in received:
        ev = dict(ev)
        if ev.get("type") == "input_audio_buffer.append":
            audio = base64.b64decode(ev.get("audio", ""))
            if out and isinstance(out[-1], dict) and out[-1].get("type") == "append*":
                out[-1]["bytes"] += len(audio)
                out[-1]["_h"].update(audio)
                continue
            h = hashlib.sha256(audio)
            out.append({"type": "append*", "bytes": len(audio), "_h": h})
            continue
        session = ev.get("session")
        if (
            ev.get("type") == "session.update"
            and isinstance(session, dict)
            and set(session) == {"type", "model", "tracing"}
        ):
            session = dict(session)
            del session["model"]  # allowed difference 2
            ev["session"] = session
        if wall_clock and ev.get("type") == "conversation.item.truncate":
            ev["audio_end_ms"] = "<wall clock>"  # allowed difference 3
        out.append(canon.plain(ev))
    for ev in out:
        if isinstance(ev, dict) and "_h" in ev:
            ev["sha"] = ev.pop("_h").hexdigest()[:12]
    return out


# -- running one scenario ------------------------------------------------------------------------


class Trace:
    """The session events a user iterating the session sees."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.error: BaseException | None = None
        self.ended = False
        self._changed = asyncio.Event()

    def add(self, ev: Any) -> None:
        self.events.append(ev)
        self._changed.set()

    def count(self, pred: Callable[[Any], bool]) -> int:
        return sum(1 for e in self.events if pred(e))

    async def wait(self, pred: Callable[[Any], bool], count: int = 1, timeout: float = 10.0) -> Any:
        """Waits until ``count`` events match ``pred``; returns the last of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matches = [e for e in self.events if pred(e)]
            if len(matches) >= count:
                return matches[count - 1]
            if self.ended:
                raise AssertionError(f"the session ended before {count} matching events")
            remaining = deadline - loop.time()
            if remaining <= 0:
                kinds = [kind(e) for e in self.events]
                raise AssertionError(f"{count} matching events not seen in {timeout}s: {kinds}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


def kind(ev: Any) -> str:
    """``type``, with the model event type and the server event type for raw events."""
    k = str(ev.type)
    data = getattr(ev, "data", None)
    if k == "raw_model_event" and data is not None:
        k += ":" + str(data.type)
        if data.type == "raw_server_event":
            k += ":" + str(data.data.get("type"))
    return k


def is_(name: str) -> Callable[[Any], bool]:
    return lambda e: kind(e) == name


Script = Callable[[Any, MockRealtimeServer, Trace], Awaitable[None]]


@dataclasses.dataclass
class Run:
    events: list[Any]
    raw_events: list[Any]
    wire: list[Any]
    received: list[dict[str, Any]]
    error: BaseException | None


async def run_once(
    make_server: Any,
    model_name: str,
    script: Script,
    *,
    server: dict[str, Any] | None = None,
    agent: Callable[[], RealtimeAgent[Any]] | None = None,
    settings: dict[str, Any] | None = None,
    run_config: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    tracing_updates: int = 1,
    wall_clock: bool = False,
    raw_delta_events: bool = False,
) -> Run:
    srv = await make_server(**(server or {}))
    model = (
        RtwsModel(raw_delta_events=raw_delta_events)
        if model_name == "realtime_ws"
        else MODELS[model_name]()
    )
    the_agent = (
        agent() if agent is not None else RealtimeAgent(name="assistant", instructions="Be brief.")
    )
    config: dict[str, Any] = dict(run_config or {})
    if settings is not None:
        config["model_settings"] = settings
    runner = RealtimeRunner(the_agent, model=model, config=config)  # type: ignore[arg-type]
    config_: Any = {"api_key": "sk-test", "url": f"{srv.url}?model=gpt-realtime"}
    session = await runner.run(model_config=config_ | (model_config or {}))
    trace = Trace()

    async def consume() -> None:
        try:
            async for ev in session:
                trace.add(ev)
        except Exception as exc:  # a stored model exception is raised here
            trace.error = exc
        finally:
            trace.ended = True
            trace._changed.set()

    async with session:
        consumer = asyncio.create_task(consume())
        # A deterministic start: the initial session.update and the tracing one are both
        # answered before the script runs (the tracing update is sent on session.created,
        # and when it goes out relative to the script's first event is timing).
        await trace.wait(
            is_("raw_model_event:raw_server_event:session.updated"), 1 + tracing_updates
        )
        await script(session, srv, trace)
        # A deterministic end: the mock follows every completed response.done with
        # rate_limits.updated, which may come in a later read than the response.done a
        # script waited for.
        done = trace.count(
            lambda e: (
                kind(e) == "raw_model_event:raw_server_event:response.done"
                and e.data.data["response"].get("status") == "completed"
            )
        )
        if not trace.ended and done:
            with contextlib.suppress(AssertionError):
                await trace.wait(
                    is_("raw_model_event:raw_server_event:rate_limits.updated"), done, timeout=2
                )
    await asyncio.wait_for(consumer, 5)
    received = srv.received()
    raw_events = trace.events
    if model_name == "realtime_ws":
        raw_events, received = drop_transport_retrieves(raw_events, received)
    elif not raw_delta_events:  # difference 7
        raw_events = [
            e for e in raw_events if not (kind(e) in RAW_DELTAS and _well_formed(e.data.data))
        ]
    canon = Canon()
    events = [session_event(canon, e, wall_clock) for e in raw_events]
    if wall_clock:
        truncated = {
            canon.text(e.data.data["item_id"])
            for e in raw_events
            if kind(e) == "raw_model_event:raw_server_event:conversation.item.truncated"
        }
        events = mask_transcripts(events, truncated)
    return Run(events, raw_events, wire(canon, received, wall_clock), received, trace.error)


def mask_transcripts(obj: Any, item_ids: set[str]) -> Any:
    """Allowed difference 3, continued: the server cuts a truncated item's transcript at the
    wall-clock truncation point, so its transcripts are not compared either."""
    if isinstance(obj, list):
        return [mask_transcripts(x, item_ids) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if obj.get("item_id") in item_ids or obj.get("id") in item_ids:
        return {
            k: _mask(v) if k in ("content", "item") else mask_transcripts(v, item_ids)
            for k, v in obj.items()
        }
    return {k: mask_transcripts(v, item_ids) for k, v in obj.items()}


def _mask(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_mask(x) for x in obj]
    if isinstance(obj, dict):
        return {k: "<wall clock>" if k == "transcript" else _mask(v) for k, v in obj.items()}
    return obj


RAW_DELTAS = frozenset(
    "raw_model_event:raw_server_event:" + t
    for t in (
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
    )
)


def _well_formed(delta: dict[str, Any]) -> bool:
    """A delta the openai models accept as is (a malformed one still gets its raw event and
    the validation error, in both models)."""
    return all(isinstance(delta.get(k), str) for k in ("item_id", "response_id", "delta")) and all(
        isinstance(delta.get(k), int) for k in ("output_index", "content_index")
    )


_TRIGGERS = (
    "raw_model_event:raw_server_event:conversation.item.input_audio_transcription.completed",
    "raw_model_event:raw_server_event:conversation.item.truncated",
)


def drop_transport_retrieves(
    events: list[Any], received: list[dict[str, Any]]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Allowed difference 5: on each transcription.completed / truncated event the transport
    retrieves the item the event names, the original (and this model) the last audio item.
    Where the two differ, the transport's retrieve is one more: drop it from the wire and
    drop the three session events its answer produces (checked to change nothing)."""
    extra: list[str] = []
    current: str | None = None  # the model's last audio item, as the original tracks it
    for e in events:
        k = kind(e)
        if k == "raw_model_event:audio":
            current = e.data.item_id
        elif k in _TRIGGERS and e.data.data.get("item_id") != current:
            extra.append(e.data.data["item_id"])
    events, received = list(events), list(received)
    for item_id in extra:
        # The last answer for that item: identical to any earlier one (asserted below). It
        # may not have arrived before the script closed the session.
        answers = [
            i
            for i, e in enumerate(events)
            if kind(e) == "raw_model_event:raw_server_event:conversation.item.retrieved"
            and e.data.data.get("item", {}).get("id") == item_id
        ]
        retrieves = [
            i
            for i, ev in enumerate(received)
            if ev.get("type") == "conversation.item.retrieve" and ev.get("item_id") == item_id
        ]
        del received[retrieves[-1]]
        if len(answers) < len(retrieves):
            continue
        at = answers[-1]
        updated, history = events[at + 1], events[at + 2]
        assert kind(updated) == "raw_model_event:item_updated", kind(updated)
        assert updated.data.item.item_id == item_id
        assert history.type == "history_updated", history.type
        (after,) = [x.model_dump() for x in history.history if x.item_id == item_id]
        assert after == _item_before(events[:at], item_id), "the extra retrieve changed the item"
        del events[at : at + 3]
    return events, received


def _item_before(events: list[Any], item_id: str) -> Any:
    """The item as the last history event before this point showed it."""
    for e in reversed(events):
        if e.type == "history_updated":
            for x in e.history:
                if x.item_id == item_id:
                    return x.model_dump()
        elif e.type == "history_added" and e.item.item_id == item_id:
            return e.item.model_dump()
    return None


async def differential(make_server: Any, script: Script, **kwargs: Any) -> tuple[Run, Run]:
    """Runs ``script`` with both models and asserts that what the user and the server saw is
    the same. Returns both runs for scenario-specific checks."""
    original = await run_once(make_server, "original", script, **kwargs)
    ours = await run_once(make_server, "realtime_ws", script, **kwargs)
    assert_same(original.events, ours.events, "session events")
    assert_same(original.wire, ours.wire, "client events on the wire")
    assert type(original.error) is type(ours.error) or (
        original.error is not None and ours.error is not None
    ), (original.error, ours.error)
    return original, ours


def assert_same(expected: list[Any], actual: list[Any], what: str) -> None:
    if expected == actual:
        return
    for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if a != b:
            raise AssertionError(
                f"{what} differ at #{i} (of {len(expected)} / {len(actual)}):\n"
                f"  original:   {a}\n  realtime_ws: {b}\n"
                f"  before: {[_short(x) for x in expected[max(0, i - 3) : i]]}"
            )
    extra = expected[len(actual) :] or actual[len(expected) :]
    raise AssertionError(
        f"{what}: lengths differ ({len(expected)} vs {len(actual)}); "
        f"the longer one goes on with {[_short(x) for x in extra[:5]]}"
    )


def _short(ev: Any) -> str:
    if isinstance(ev, dict):
        data = ev.get("data")
        if isinstance(data, dict):
            inner = data.get("data")
            if isinstance(inner, dict):
                return f"{ev.get('type')}:{data.get('type')}:{inner.get('type')}"
            return f"{ev.get('type')}:{data.get('type')}"
        return str(ev.get("type"))
    return str(ev)


# -- scenarios -----------------------------------------------------------------------------------


async def test_text_turn(make_server: Any) -> None:
    """A typed message and a text-only reply (output_text deltas, items, usage)."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Hello!")
        await trace.wait(is_("agent_end"))
        await session.send_message(
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "And again"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AAAA",
                        "detail": "low",
                    },
                ],
            }
        )
        await trace.wait(is_("agent_end"), 2)

    original, _ = await differential(
        make_server,
        script,
        server={"responses": [{"text": "Hi there, how can I help?"}, {"text": "Again, hi."}]},
        settings={"output_modalities": ["text"]},
    )
    kinds = [kind(e) for e in original.raw_events]
    assert "raw_model_event:output_text_delta" in kinds
    assert "raw_model_event:audio" not in kinds


async def test_audio_reply_turn(make_server: Any) -> None:
    """A typed message and the default audio reply: audio, transcript deltas, audio_done."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Say something")
        await trace.wait(is_("agent_end"))

    original, ours = await differential(
        make_server, script, server={"text": "Here is some audio.", "audio_ms": 450}
    )
    audio = [e for e in ours.raw_events if e.type == "audio"]
    assert sum(len(e.audio.data) for e in audio) == 450 * 48
    assert [kind(e) for e in original.raw_events].count("audio_end") == 1


async def test_audio_reply_turn_with_raw_delta_events(make_server: Any) -> None:
    """``raw_delta_events=True``: a raw server event for every delta too, as the original
    (difference 7 then does not apply: nothing is dropped from either trace)."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Say something")
        await trace.wait(is_("agent_end"))

    original, ours = await differential(
        make_server,
        script,
        server={"text": "Here is some audio.", "audio_ms": 450},
        raw_delta_events=True,
    )
    kinds = [kind(e) for e in ours.raw_events]
    assert kinds.count("raw_model_event:raw_server_event:response.output_audio.delta") == 9
    assert kinds == [kind(e) for e in original.raw_events]
    # Each audio event carries the event_id of its delta (difference 8).
    raw_ids = [
        e.data.data["event_id"]
        for e in ours.raw_events
        if kind(e) == "raw_model_event:raw_server_event:response.output_audio.delta"
    ]
    audio_ids = [e.data.event_id for e in ours.raw_events if kind(e) == "raw_model_event:audio"]
    assert audio_ids == raw_ids
    assert all(i.startswith("evt_") for i in raw_ids)


async def test_tool_call_round_trip(make_server: Any) -> None:
    """A function call, the tool run by the session, its output and the follow-up reply."""

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}."

    def agent() -> RealtimeAgent[Any]:
        return RealtimeAgent(name="weather", instructions="Use the tool.", tools=[get_weather])

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Weather in Paris?")
        await trace.wait(is_("agent_end"), 2)

    _original, ours = await differential(
        make_server,
        script,
        agent=agent,
        run_config={"async_tool_calls": False},
        server={
            "responses": [
                {"function_call": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"text": "It is sunny in Paris."},
            ],
            "audio_ms": 100,
        },
    )
    outputs = [e for e in ours.received if e["type"] == "conversation.item.create"]
    assert outputs[-1]["item"] == {
        "type": "function_call_output",
        "output": "Sunny in Paris.",
        "call_id": outputs[-1]["item"]["call_id"],
    }
    assert [kind(e) for e in ours.raw_events].count("tool_end") == 1


async def test_server_vad_audio_turn(make_server: Any) -> None:
    """Loud audio then silence: the server's VAD commits the turn, transcribes it and replies."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_audio(pcm(100, 0))
        await session.send_audio(pcm(300))
        await session.send_audio(pcm(400, 0))
        await trace.wait(is_("agent_end"))

    original, _ = await differential(
        make_server,
        script,
        settings={"turn_detection": SERVER_VAD},
        server={"input_transcript": "What is the weather?", "text": "Sunny.", "audio_ms": 150},
    )
    kinds = [kind(e) for e in original.raw_events]
    assert "raw_model_event:input_audio_transcription_completed" in kinds
    assert "raw_model_event:raw_server_event:input_audio_buffer.speech_started" in kinds


def _truncates(run: Run) -> list[dict[str, Any]]:
    return [e for e in run.received if e["type"] == "conversation.item.truncate"]


# One delta every 200 ms: the scripts react to the n-th chunk well before the next one,
# even on a loaded machine, so where the barge-in falls is the same in every run.
_PACED = {
    "realtime": True,
    "chunk_ms": 200,
    "responses": [
        {"text": "Once upon a time", "audio_ms": 6000},
        {"text": "Sure.", "audio_ms": 100},
    ],
}


async def test_interruption_by_user_speech(make_server: Any) -> None:
    """Server VAD hears the user over the paced reply: audio_interrupted, truncate at the
    played position (wall clock here: allowed difference 3), the server cancels (the
    session's interrupt_response), then the user's turn is answered."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Tell me a long story")
        # Speak over the third audio chunk of the paced reply; the silence that ends the
        # turn only once the truncation is on the server (else where the server's answer
        # falls among the next reply's events is timing).
        await trace.wait(is_("audio"), 3)
        await session.send_audio(pcm(200))
        await server.wait_for("conversation.item.truncate")
        await session.send_audio(pcm(300, 0))
        await trace.wait(is_("agent_end"), 2)

    original, ours = await differential(
        make_server,
        script,
        server={**_PACED, "input_transcript": "Stop."},
        settings={"turn_detection": SERVER_VAD},
        wall_clock=True,
    )
    for run in (original, ours):
        (truncate,) = _truncates(run)
        # Played so far: from the first chunk's arrival to the speech, two chunks of 200 ms
        # (+ the reaction), at most the 600 ms received.
        assert 390 <= truncate["audio_end_ms"] <= 600, truncate
        assert "response.cancel" not in [e["type"] for e in run.received]
    assert "raw_model_event:audio_interrupted" in [kind(e) for e in ours.raw_events]


async def test_interruption_uses_the_playback_tracker(make_server: Any) -> None:
    """With a RealtimePlaybackTracker the truncation point is what the user reports as
    played (exact, compared), and interrupt_response off makes the client cancel."""
    vad = {**SERVER_VAD, "interrupt_response": False}
    trackers: list[RealtimePlaybackTracker] = []

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Tell me a long story")
        first = await trace.wait(is_("audio"), 2)
        trackers[-1].on_play_ms(first.item_id, first.content_index, 40.0)
        trackers[-1].on_play_ms(first.item_id, first.content_index, 37.5)
        await session.send_audio(pcm(200))
        await session.send_audio(pcm(300, 0))
        await trace.wait(is_("agent_end"))
        await session.send_message("Short, please")
        await trace.wait(is_("agent_end"), 2)

    runs = []
    for name in MODELS:
        trackers.append(RealtimePlaybackTracker())
        runs.append(
            await run_once(
                make_server,
                name,
                script,
                server={**_PACED, "input_transcript": "Stop."},
                settings={"turn_detection": vad},
                model_config={"playback_tracker": trackers[-1]},
            )
        )
    original, ours = runs
    assert_same(original.events, ours.events, "session events")
    assert_same(original.wire, ours.wire, "client events on the wire")
    for run in runs:
        (truncate,) = _truncates(run)
        assert truncate["audio_end_ms"] == 78  # round(40 + 37.5)
        assert [e["type"] for e in run.received].count("response.cancel") == 1
    # The interruption reset the tracker in both.
    assert all(t.get_state()["current_item_id"] is None for t in trackers)


async def test_manual_interrupt(make_server: Any) -> None:
    """``session.interrupt()`` during the reply: audio_interrupted, truncate, response.cancel
    (turn detection off, so no automatic cancellation)."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Tell me a long story")
        await trace.wait(is_("audio"), 2)
        await session.interrupt()
        await trace.wait(is_("agent_end"))
        await session.send_message("Short, please")
        await trace.wait(is_("agent_end"), 2)

    original, ours = await differential(
        make_server, script, server=_PACED, settings={"turn_detection": None}, wall_clock=True
    )
    for run in (original, ours):
        assert [e["type"] for e in run.received].count("response.cancel") == 1
        (truncate,) = _truncates(run)
        assert 190 <= truncate["audio_end_ms"] <= 400, truncate


async def test_history_update(make_server: Any) -> None:
    """History edits: a raw conversation.item.delete and .create, a session update from
    ``update_agent``; history_updated/added events follow the server's answers."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("First")
        await trace.wait(is_("agent_end"))
        user_item = next(e.item for e in trace.events if e.type == "history_added")
        await session.model.send_event(
            RealtimeModelSendRawMessage(
                message={
                    "type": "conversation.item.delete",
                    "other_data": {"item_id": user_item.item_id},
                }
            )
        )
        await trace.wait(is_("raw_model_event:item_deleted"))
        await session.model.send_event(
            RealtimeModelSendRawMessage(
                message={
                    "type": "conversation.item.create",
                    "other_data": {
                        "item": {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "Edited"}],
                        }
                    },
                }
            )
        )
        await trace.wait(is_("raw_model_event:raw_server_event:conversation.item.done"), 3)
        await session.update_agent(RealtimeAgent(name="second", instructions="Be terse."))
        await trace.wait(is_("raw_model_event:raw_server_event:session.updated"), 3)
        # A raw response.create goes through the sequencer like the original's.
        await session.model.send_event(
            RealtimeModelSendRawMessage(message={"type": "response.create"})
        )
        await trace.wait(is_("agent_end"), 2)

    _original, ours = await differential(
        make_server, script, server={"text": "Ok.", "audio_ms": 100}
    )
    kinds = [kind(e) for e in ours.raw_events]
    assert "raw_model_event:item_deleted" in kinds
    updates = [e for e in ours.received if e["type"] == "session.update"]
    assert updates[-1]["session"]["instructions"] == "Be terse."


async def test_server_errors(make_server: Any) -> None:
    """Client events the server rejects (an unknown item, an invalid raw event), then a
    normal turn: error events with the server's payload, and the session goes on."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.model.send_event(
            RealtimeModelSendRawMessage(
                message={"type": "conversation.item.delete", "other_data": {"item_id": "item_nope"}}
            )
        )
        await trace.wait(is_("error"))
        await session.model.send_event(
            RealtimeModelSendRawMessage(
                message={"type": "input_audio_buffer.append", "other_data": {"audio": "@@@"}}
            )
        )
        await trace.wait(is_("error"), 2)
        await session.send_message("Now work")
        await trace.wait(is_("agent_end"))

    _, ours = await differential(make_server, script, server={"text": "Working.", "audio_ms": 100})
    errors = [e for e in ours.raw_events if e.type == "error"]
    assert len(errors) == 2
    assert "item_nope" in errors[0].error.message


async def test_rejected_response_create_is_dropped(make_server: Any) -> None:
    """The server answers the response.create with an error linked to it. Both models report
    the same error event and drop the request (one create each, no retry)."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Fail please")
        await trace.wait(is_("error"))
        await asyncio.sleep(0.3)

    server = {
        "responses": [
            {"error": {"code": "server_error", "message": "boom", "type": "server_error"}},
            {"text": "Retried.", "audio_ms": 100},
        ]
    }
    original = await run_once(make_server, "original", script, server=server)
    ours = await run_once(make_server, "realtime_ws", script, server=server)
    n = next(i for i, e in enumerate(original.raw_events) if e.type == "error") + 1
    assert original.events[:n] == ours.events[:n]
    assert "agent_start" not in [kind(e) for e in original.raw_events]
    assert "agent_start" not in [kind(e) for e in ours.raw_events]
    creates = [[e for e in r.received if e["type"] == "response.create"] for r in (original, ours)]
    assert [len(c) for c in creates] == [1, 1]
    assert ours.raw_events[n - 1].error.message == "boom"


@pytest.mark.parametrize(
    ("code", "expect_exception"), [(1000, False), (1001, False), (4000, True), (None, True)]
)
async def test_server_closes(make_server: Any, code: int | None, expect_exception: bool) -> None:
    """The server closes: normally (1000, 1001: connection_status + end_of_stream, the
    iteration ends), with an error code, or drops the TCP connection (an exception event,
    raised to the iterating user)."""

    async def script(session: Any, server: MockRealtimeServer, trace: Trace) -> None:
        await session.send_message("Hi")
        await trace.wait(is_("agent_end"))
        if code is None:
            server.drop_connection()
        else:
            server.close_connection(code, "bye")
        if expect_exception:
            await trace.wait(is_("raw_model_event:exception"))
        else:
            await trace.wait(is_("raw_model_event:connection_status"))
        for _ in range(200):
            if trace.ended:
                break
            await asyncio.sleep(0.01)

    original, ours = await differential(
        make_server, script, server={"text": "Hi.", "audio_ms": 100}
    )
    assert (ours.error is not None) is expect_exception
    assert ours.events == original.events


# -- the model alone, against a passive server (every server event injected) -------------------


class _Collect(RealtimeModelListener):
    """A model listener that records every event (optionally slow, to test the ordering)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.events: list[Any] = []
        self.delay = delay
        self.busy = False
        self.overlaps = 0

    async def on_event(self, event: Any) -> None:
        if self.busy:
            self.overlaps += 1
        self.busy = True
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.events.append(event)
        finally:
            self.busy = False

    async def wait(self, pred: Callable[[Any], bool], count: int = 1) -> Any:
        for _ in range(1000):
            matches = [e for e in self.events if pred(e)]
            if len(matches) >= count:
                return matches[count - 1]
            await asyncio.sleep(0.005)
        raise AssertionError(f"not seen: {[e.type for e in self.events]}")


ModelScript = Callable[[Any, MockRealtimeServer, _Collect], Awaitable[None]]


async def run_model(
    make_server: Any,
    name: str,
    script: ModelScript,
    *,
    settings: dict[str, Any] | None = None,
    tracker: RealtimePlaybackTracker | None = None,
    listener: _Collect | None = None,
) -> tuple[list[Any], list[Any], _Collect]:
    srv = await make_server(respond=False)
    model = MODELS[name]()
    collect = listener or _Collect()
    model.add_listener(collect)
    config: dict[str, Any] = {
        "api_key": "sk-test",
        "url": f"{srv.url}?model=gpt-realtime",
        "initial_model_settings": settings or {"turn_detection": None},
    }
    if tracker is not None:
        config["playback_tracker"] = tracker
    await model.connect(config)
    await collect.wait(
        lambda e: e.type == "raw_server_event" and e.data["type"] == "session.updated", 2
    )
    try:
        await script(model, srv, collect)
    finally:
        await model.close()
    kept = collect.events
    if name == "original":  # allowed difference 7
        kept = [
            e
            for e in kept
            if not (
                e.type == "raw_server_event"
                and "raw_model_event:raw_server_event:" + str(e.data.get("type")) in RAW_DELTAS
                and _well_formed(e.data)
            )
        ]
    canon = Canon()
    events = [canon.plain(e) for e in kept]
    return events, wire(canon, srv.received()), collect


def _audio_delta(rid: str, iid: str, ms: int = 50) -> dict[str, Any]:
    return {
        "type": "response.output_audio.delta",
        "event_id": "event_x",
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(pcm(ms, 1000)).decode(),
    }


def _response(kind_: str, rid: str) -> dict[str, Any]:
    response: dict[str, Any] = {"id": rid, "object": "realtime.response", "output": []}
    if kind_ == "response.created":
        response["status"] = "in_progress"
    else:
        response["status"] = "cancelled"
        response["usage"] = {"total_tokens": 3, "input_tokens": 1, "output_tokens": 2}
    return {"type": kind_, "event_id": "event_x", "response": response}


async def test_response_scoped_interrupts(make_server: Any) -> None:
    model_tracker: list[RealtimePlaybackTracker] = []
    """The guardrail paths of ``RealtimeModelSendInterrupt``: playback-only for one
    response (its later audio is dropped), cancel-only with a response id, a cancel for a
    response that is not the ongoing one (nothing sent), forced cancel, a bad combination."""

    async def script(model: Any, server: MockRealtimeServer, got: _Collect) -> None:
        from agents.realtime.model_inputs import RealtimeModelSendInterrupt as Interrupt

        tracker = model_tracker[0]
        server.send(_response("response.created", "resp_a"))
        for _ in range(3):
            server.send(_audio_delta("resp_a", "item_a"))
        await got.wait(lambda e: e.type == "audio", 3)
        tracker.on_play_ms("item_a", 0, 70.0)
        await model.send_event(Interrupt(response_id="resp_a", playback_only=True))
        # The mock rejects the truncate (it never saw the injected item): wait for that
        # error, so that it comes at the same place in both runs.
        await got.wait(lambda e: e.type == "error")
        server.send(_audio_delta("resp_a", "item_a"))  # dropped: its playback was interrupted
        server.send(_response("response.done", "resp_a"))
        await got.wait(lambda e: e.type == "turn_ended")
        model._retire_response_audio("resp_a")
        server.send(_response("response.created", "resp_b"))
        server.send(_audio_delta("resp_b", "item_b"))
        await got.wait(lambda e: e.type == "audio", 4)
        await model.send_event(Interrupt(response_id="resp_other", cancel_response_only=True))
        await model.send_event(Interrupt(response_id="resp_b", cancel_response_only=True))
        await model.send_event(Interrupt(response_id="resp_b", cancel_response_only=True))
        with pytest.raises(ValueError, match="playback_only cannot be combined"):
            await model.send_event(Interrupt(playback_only=True, force_response_cancel=True))
        with pytest.raises(ValueError, match="requires response_id"):
            await model.send_event(Interrupt(cancel_response_only=True))
        server.send(_response("response.done", "resp_b"))
        await got.wait(lambda e: e.type == "turn_ended", 2)
        server.send(_response("response.created", "resp_c"))
        server.send(_audio_delta("resp_c", "item_c", 100))
        await got.wait(lambda e: e.type == "audio", 5)
        tracker.on_play_ms("item_c", 0, 5000.0)  # more than was received: clamped
        await model.send_event(Interrupt(force_response_cancel=True))
        await got.wait(lambda e: e.type == "error", 2)

    runs = []
    for name in MODELS:
        model_tracker[:] = [RealtimePlaybackTracker()]
        runs.append(await run_model(make_server, name, script, tracker=model_tracker[0]))
    (orig_events, orig_wire, _), (our_events, our_wire, got) = runs
    assert_same(orig_events, our_events, "model events")
    assert_same(orig_wire, our_wire, "client events on the wire")
    sent = [e for e in our_wire if e["type"] != "session.update"]
    assert [e["type"] for e in sent] == [
        "conversation.item.truncate",
        "response.cancel",
        "conversation.item.truncate",
        "response.cancel",
    ]
    assert sent[0]["audio_end_ms"] == 70
    created = [
        e["data"]["response"]["id"]
        for e in our_events
        if e["type"] == "raw_server_event" and e["data"]["type"] == "response.created"
    ]
    assert sent[1] == {"type": "response.cancel", "response_id": created[1]}
    assert sent[2]["audio_end_ms"] == 100  # clamped to the 100 ms received
    assert [e.type for e in got.events].count("audio") == 5  # the 4th resp_a delta dropped


async def test_g711_session_audio_lengths(make_server: Any) -> None:
    """G.711 sessions: audio passes through as 8 kHz bytes, and the truncation limit is
    computed at 8 bytes per ms (a played position past the end is clamped to it)."""
    model_tracker: list[RealtimePlaybackTracker] = []
    settings = {
        "turn_detection": None,
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "g711_ulaw",
    }

    async def script(model: Any, server: MockRealtimeServer, got: _Collect) -> None:
        from agents.realtime.model_inputs import RealtimeModelSendInterrupt as Interrupt

        server.send(_response("response.created", "resp_g"))
        delta = _audio_delta("resp_g", "item_g")
        delta["delta"] = base64.b64encode(bytes(range(256)) * 3 + b"\x01").decode()  # 769 B
        server.send(delta)
        await got.wait(lambda e: e.type == "audio")
        model_tracker[0].on_play_ms("item_g", 0, 1000.0)
        await model.send_event(Interrupt())
        await asyncio.sleep(0.1)

    runs = []
    for name in MODELS:
        model_tracker[:] = [RealtimePlaybackTracker()]
        runs.append(
            await run_model(make_server, name, script, settings=settings, tracker=model_tracker[0])
        )
    (orig_events, orig_wire, _), (our_events, our_wire, got) = runs
    assert_same(orig_events, our_events, "model events")
    assert_same(orig_wire, our_wire, "client events on the wire")
    (audio,) = [e for e in got.events if e.type == "audio"]
    assert audio.data == bytes(range(256)) * 3 + b"\x01"
    (truncate,) = [e for e in our_wire if e["type"] == "conversation.item.truncate"]
    assert truncate["audio_end_ms"] == 97  # ceil(769 / 8)


async def test_slow_listener_keeps_the_order(make_server: Any) -> None:
    """A listener that suspends on every event: events still arrive one at a time and in
    the server's order (each is handled before the next, as in the original)."""

    async def script(model: Any, server: MockRealtimeServer, got: _Collect) -> None:
        server.send(_response("response.created", "resp_s"))
        for _ in range(10):
            server.send(_audio_delta("resp_s", "item_s", 20))
        server.send(_response("response.done", "resp_s"))
        await got.wait(lambda e: e.type == "turn_ended")

    slow = _Collect(delay=0.002)
    await run_model(make_server, "realtime_ws", script, listener=slow)
    assert slow.overlaps == 0
    kinds = [e.type for e in slow.events if e.type != "raw_server_event"]
    assert kinds[-13:] == ["turn_started", *["audio"] * 10, "usage", "turn_ended"]


async def test_audio_skips_pydantic_and_python_base64(
    make_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path: audio deltas reach the listener decoded (Rust), never through the
    openai models or Python's base64; every other event is validated as in the original."""
    import binascii

    validated: list[str] = []
    model = RtwsModel()
    adapter = model._server_event_type_adapter

    class Counting:
        def validate_python(self, value: Any) -> Any:
            validated.append(value.get("type"))
            return adapter.validate_python(value)

    model._server_event_type_adapter = Counting()  # type: ignore[assignment]

    def no_python_base64(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("base64 decoded in Python")

    srv = await make_server(text="Audio.", audio_ms=500)
    got = _Collect()
    model.add_listener(got)
    await model.connect({"api_key": "sk-test", "url": f"{srv.url}?model=gpt-realtime"})
    await got.wait(
        lambda e: e.type == "raw_server_event" and e.data["type"] == "session.updated", 2
    )
    monkeypatch.setattr(binascii, "a2b_base64", no_python_base64)
    monkeypatch.setattr(base64, "b64decode", no_python_base64)
    await model.send_event(RealtimeModelSendRawMessage(message={"type": "response.create"}))
    await got.wait(lambda e: e.type == "turn_ended")
    monkeypatch.undo()
    await model.close()
    audio = [e for e in got.events if e.type == "audio"]
    assert sum(len(e.data) for e in audio) == 500 * 48
    assert "response.output_audio.delta" not in validated
    assert "response.output_audio_transcript.delta" not in validated
    assert "response.done" in validated


# -- connecting and closing ----------------------------------------------------------------------


async def _connect_error(name: str, config: dict[str, Any]) -> BaseException:
    model = MODELS[name]()
    try:
        await model.connect(config)
    except Exception as exc:
        return exc
    raise AssertionError(f"{name}: connect({config}) did not fail")


async def test_connect_argument_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same exceptions, before any socket: no key, call_id with model_name."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cases: list[dict[str, Any]] = [
        {"url": "ws://127.0.0.1:9/v1/realtime"},
        {
            "api_key": "sk-test",
            "call_id": "rtc_1",
            "initial_model_settings": {"model_name": "gpt-realtime"},
        },
    ]
    for config in cases:
        errors = [await _connect_error(name, config) for name in MODELS]
        assert [type(e) for e in errors] == [type(errors[0])] * 2, errors
        assert str(errors[0]) == str(errors[1])
        assert type(errors[0]).__module__.startswith("agents")


async def test_key_sources_headers_and_connect_states(make_server: Any) -> None:
    """Sync and async key callables, user headers replacing the Authorization header,
    "Already connected", "Not connected", and a second connect after close()."""
    srv = await make_server(api_key="sk-right")

    async def async_key() -> str:
        return "sk-right"

    url = f"{srv.url}?model=gpt-realtime"
    for name in MODELS:
        model = MODELS[name]()
        with pytest.raises(AssertionError, match="Not connected"):
            await model.send_event(RealtimeModelSendAudio(audio=b"\0\0"))
        await model.connect({"api_key": lambda: "sk-right", "url": url})
        with pytest.raises(AssertionError, match="Already connected"):
            await model.connect({"api_key": "sk-right", "url": url})
        await model.close()
        await model.connect({"api_key": async_key, "url": url})
        await model.close()
        await model.connect(
            {"url": url, "headers": {"Authorization": "Bearer sk-right", "X-Extra": "1"}}
        )
        await model.close()
    handshakes = srv.connections
    assert len(handshakes) == 6
    for info in handshakes:
        assert info.http_status == 101
        assert info.headers["authorization"] == "Bearer sk-right"
    assert handshakes[2].headers["x-extra"] == handshakes[5].headers["x-extra"] == "1"
    for i in range(3):  # the initial session.update of each model is the same
        assert wire(Canon(), srv.received(i))[0] == wire(Canon(), srv.received(i + 3))[0]


async def test_headers_for_azure_and_without_credentials(make_server: Any) -> None:
    """An ``api-key`` header is sent instead of Authorization, as by the original. Headers
    without any credential: the original sends none; this model refuses (documented: the
    transport always authenticates) rather than sending a key the user did not put there."""
    srv = await make_server()
    url = f"{srv.url}?model=gpt-realtime"
    model = RtwsModel()
    await model.connect({"url": url, "headers": {"api-key": "azure-key"}})
    await model.close()
    (info,) = srv.connections
    assert info.headers["api-key"] == "azure-key"
    assert "authorization" not in info.headers
    with pytest.raises(Exception, match="must carry the credentials"):
        await RtwsModel().connect({"api_key": "sk-x", "url": url, "headers": {"X-Only": "1"}})
    original = OriginalModel()
    await original.connect({"url": url, "headers": {"X-Only": "1"}})
    await original.close()
    assert "authorization" not in srv.connections[-1].headers


async def test_reconnect_forgets_the_old_connection(make_server: Any) -> None:
    """After close() and a new connect(), nothing of the old connection leaks: a
    speech_started on the new one interrupts nothing (no audio_interrupted, no truncate)."""

    async def script(model: Any, server: MockRealtimeServer, got: _Collect) -> None:
        server.send(_response("response.created", "resp_r"))
        server.send(_audio_delta("resp_r", "item_r"))
        await got.wait(lambda e: e.type == "audio")
        await model.close()
        second = await make_server(respond=False)
        await model.connect({"api_key": "sk-test", "url": f"{second.url}?model=gpt-realtime"})
        await got.wait(
            lambda e: e.type == "raw_server_event" and e.data["type"] == "session.updated", 4
        )
        second.send(
            {
                "type": "input_audio_buffer.speech_started",
                "event_id": "event_x",
                "audio_start_ms": 0,
                "item_id": "item_user",
            }
        )
        await got.wait(
            lambda e: (
                e.type == "raw_server_event"
                and e.data["type"] == "input_audio_buffer.speech_started"
            )
        )
        await asyncio.sleep(0.1)
        assert second.received(type="conversation.item.truncate") == []

    runs = [await run_model(make_server, name, script) for name in MODELS]
    (orig_events, _, _), (our_events, _, got) = runs
    assert_same(orig_events, our_events, "model events")
    assert "audio_interrupted" not in [e.type for e in got.events]


async def test_listener_exception_becomes_an_exception_event(make_server: Any) -> None:
    """A listener that raises: an ``exception`` event (same context), and the stream goes
    on, as in the original."""

    class Failing(_Collect):
        async def on_event(self, event: Any) -> None:
            await super().on_event(event)
            if event.type == "turn_started":
                raise RuntimeError("listener failed")

    async def script(model: Any, server: MockRealtimeServer, got: _Collect) -> None:
        server.send(_response("response.created", "resp_e"))
        server.send(_response("response.done", "resp_e"))
        await got.wait(lambda e: e.type == "turn_ended")

    runs = [await run_model(make_server, name, script, listener=Failing()) for name in MODELS]
    (orig_events, _, _), (our_events, _, got) = runs
    assert_same(orig_events, our_events, "model events")
    (exc,) = [e for e in got.events if e.type == "exception"]
    assert exc.context == "Error handling WebSocket event"
    assert str(exc.exception) == "listener failed"


async def test_frames_the_openai_models_reject(make_server: Any) -> None:
    """What the original reports for frames it cannot use, this model reports too: a frame
    that is not JSON (an ``exception`` event with the same context), an unknown event type
    and a known one missing a required field (``raw_server_event`` + an ``error`` carrying
    pydantic's ValidationError), an audio delta without ``output_index`` (the same, and no
    audio)."""

    async def script(model: Any, server: MockRealtimeServer, got: _Collect) -> None:
        server.send("this is not json")
        bad_base64 = _audio_delta("resp_x", "item_x")
        bad_base64["delta"] = "abc"  # bad padding: Python's lenient decoder fails too
        server.send(bad_base64)
        server.send({"type": "response.brand_new_event", "event_id": "event_x"})
        server.send({"type": "response.output_audio.done", "event_id": "event_y"})
        bad_delta = _audio_delta("resp_x", "item_x")
        del bad_delta["output_index"]
        server.send(bad_delta)
        server.send(_response("response.created", "resp_z"))
        await got.wait(lambda e: e.type == "turn_started")

    runs = [await run_model(make_server, name, script) for name in MODELS]
    (orig_events, _, _), (our_events, _, got) = runs
    for events in (orig_events, our_events):
        for e in events:
            if e["type"] == "exception":
                e["exception"] = "<type differs by design>"
    # The transport drops an audio delta whose base64 does not decode before any listener
    # sees it: the original's raw_server_event for it is missing here (its exception is not).
    orig_events = [
        e
        for e in orig_events
        if not (e["type"] == "raw_server_event" and e["data"].get("delta") == "abc")
    ]
    assert_same(orig_events, our_events, "model events")
    kinds = [e.type for e in got.events]
    assert kinds.count("error") == 3
    assert "audio" not in kinds
    contexts = [e.context for e in got.events if e.type == "exception"]
    assert contexts == [
        "Failed to parse WebSocket message as JSON",
        "Error handling WebSocket event",
    ]
