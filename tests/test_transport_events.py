"""Server events, interruption and the response.create sequencer, over real sockets.

Server events are injected into a mock-server connection with ``server.send``
so each test controls the exact order the client sees.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
import pytest

from helpers import (
    ev_audio_delta,
    ev_audio_done,
    ev_error,
    ev_response_created,
    ev_response_done,
    ev_session_updated,
    ev_speech_started,
    ev_transcript_delta,
    types,
    until,
)
from realtime_ws import (
    AudioEvent,
    AudioInterruptedEvent,
    ErrorEvent,
    InvalidAudioError,
    OpenAIRealtimeWebSocket,
    ProtocolError,
    _core,
)

KEY = "sk-test-events"
PCM_100MS = b"\x10\x00" * 2400  # 100 ms of 24 kHz PCM16


def vad_config(interrupt_response: bool = False) -> dict[str, Any]:
    """Server VAD whose ``interrupt_response`` the tests choose (the server reports it back)."""
    return {
        "audio": {
            "input": {
                "turn_detection": {"type": "server_vad", "interrupt_response": interrupt_response}
            }
        }
    }


async def settled(server: Any, ws: OpenAIRealtimeWebSocket) -> None:
    """Waits until the server answered both session.updates (initial and tracing)
    and the client processed them, so injected events are not raced."""
    await until(lambda: sum(e["type"] == "session.updated" for e in server.sent()) >= 2)
    await until(lambda: ws._raw_session_config is not None)
    await asyncio.sleep(0.02)


async def connected(
    make_server, *, interrupt_response: bool = False, **server_opts: Any
) -> tuple[Any, OpenAIRealtimeWebSocket]:
    server = await make_server(**server_opts)
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url)
    await ws.connect(initial_session_config=vad_config(interrupt_response))
    await settled(server, ws)
    return server, ws


def client_types(server: Any, since: int = 0) -> list[str]:
    return types(server.received()[since:])


def sent_after(server: Any, n: int) -> list[dict[str, Any]]:
    return server.received()[n:]


# -- parsing and the "*" channel ------------------------------------------------------------------


async def test_unknown_events_reach_star_unchanged_and_known_keep_extra_fields(make_server) -> None:
    server, ws = await connected(make_server, validate=False)
    star_a: list[dict[str, Any]] = []
    star_b: list[dict[str, Any]] = []
    typed: list[dict[str, Any]] = []
    ws.on("*", star_a.append)
    ws.on("*", star_b.append)
    ws.on("brand.new.event", typed.append)
    ws.on("response.output_audio_transcript.delta", typed.append)
    unknown = {"type": "brand.new.event", "event_id": "e1", "nested": {"x": [1, 2.5, None, True]}}
    server.send(unknown)
    known = ev_transcript_delta("hi")
    known["obfuscation"] = "pad"
    server.send(known)
    await until(lambda: len(star_a) >= 2 and len(star_b) >= 2)
    assert unknown in star_a
    assert unknown in star_b
    got = next(e for e in star_a if e["type"] == known["type"])
    assert got == known  # extra field kept
    # A fresh dict per listener.
    mine = next(e for e in star_a if e["type"] == known["type"])
    theirs = next(e for e in star_b if e["type"] == known["type"])
    assert mine is not theirs
    mine["type"] = "mutated"
    assert theirs["type"] == known["type"]
    # Unknown types are not emitted under their own name; known ones are.
    assert [e["type"] for e in typed] == [known["type"]]
    await ws.aclose()


async def test_known_type_failing_validation_only_reaches_star(make_server) -> None:
    server, ws = await connected(make_server, validate=False)
    star: list[dict[str, Any]] = []
    typed: list[Any] = []
    ws.on("*", star.append)
    ws.on("response.created", typed.append)
    ws.on("turn_started", typed.append)
    server.send({"type": "response.created", "response": {"id": "r"}})  # no event_id
    server.send(ev_response_created("r2"))
    await until(lambda: len(star) >= 2)
    assert len(typed) == 2  # only the valid one: response.created + turn_started
    assert typed[1].provider_data["response"]["id"] == "r2"
    await ws.aclose()


async def test_malformed_and_binary_frames_are_errors_not_crashes(make_server) -> None:
    server, ws = await connected(make_server, validate=False)
    errors: list[ErrorEvent] = []
    star: list[dict[str, Any]] = []
    ws.on("error", errors.append)
    ws.on("*", star.append)
    server.send("{this is not json")
    server.send_binary(b"\xff\xfe\x00binary")
    server.send_binary(b'{"type":"from.binary","event_id":"b"}')
    bad_audio = ev_audio_delta(b"\x00\x00")
    bad_audio["delta"] = "@@@not-base64@@@"
    server.send(bad_audio)
    server.send({"type": "after.garbage", "event_id": "x"})
    await until(lambda: any(e.get("type") == "after.garbage" for e in star))
    protocol_errors = [e for e in errors if e.source == "protocol"]
    assert len(protocol_errors) == 3, errors
    assert all(isinstance(e.error, ProtocolError) for e in protocol_errors)
    assert any("response.output_audio.delta" in str(e.error) for e in protocol_errors)
    assert any(e.get("type") == "from.binary" for e in star)  # JSON in a binary frame is parsed
    assert ws.status == "connected"
    await ws.aclose()


async def test_server_error_event_is_wrapped(make_server) -> None:
    server, ws = await connected(make_server)
    errors: list[ErrorEvent] = []
    ws.on("error", errors.append)
    server.send(ev_error("invalid_value", "bad thing"))
    await until(lambda: bool(errors))
    assert errors[0].source == "server"
    assert errors[0].type == "error"
    assert errors[0].error["error"]["message"] == "bad thing"
    await ws.aclose()


# -- audio and turn events -------------------------------------------------------------------------


async def test_audio_event_carries_decoded_pcm_and_ids(make_server) -> None:
    server, ws = await connected(make_server)
    audio: list[AudioEvent] = []
    ws.on("audio", audio.append)
    turn: list[Any] = []
    ws.on("turn_started", turn.append)
    ws.on("turn_done", turn.append)
    ws.on("usage_update", turn.append)
    ws.on("audio_done", turn.append)
    ws.on("audio_transcript_delta", turn.append)
    server.send(ev_response_created("resp_A"))
    server.send(ev_audio_delta(PCM_100MS, "resp_A", "item_A"))
    server.send(ev_transcript_delta("Hel", "resp_A", "item_A"))
    server.send(ev_audio_done("resp_A", "item_A"))
    server.send(ev_response_done("resp_A"))
    await until(lambda: len(turn) >= 5)
    assert len(audio) == 1
    a = audio[0]
    assert a.type == "audio"
    assert a.data == PCM_100MS
    assert (a.response_id, a.item_id, a.content_index) == ("resp_A", "item_A", 0)
    names = [type(t).__name__ for t in turn]
    assert names == [
        "TurnStartedEvent",
        "TranscriptDeltaEvent",
        "AudioDoneEvent",
        "Usage",
        "TurnDoneEvent",
    ]
    assert turn[1].delta == "Hel"
    assert turn[1].item_id == "item_A"
    usage = turn[3]
    assert (usage.requests, usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        1,
        10,
        20,
        30,
    )
    assert turn[4].response.id == "resp_A"
    await ws.aclose()


# -- interruption


async def test_speech_started_during_audio_cancels_and_truncates(make_server) -> None:
    server, ws = await connected(make_server)
    interrupted: list[AudioInterruptedEvent] = []
    ws.on("audio_interrupted", interrupted.append)
    audio: list[AudioEvent] = []
    ws.on("audio", audio.append)
    n = len(server.received())
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS))
    await until(lambda: bool(audio))
    assert ws.current_item_id == "item_1"
    await asyncio.sleep(0.03)
    server.send(ev_speech_started())
    await until(lambda: bool(interrupted))
    await until(lambda: "conversation.item.truncate" in client_types(server, n))
    sent = [e for e in sent_after(server, n) if e["type"] != "session.update"]
    assert types(sent)[:2] == ["response.cancel", "conversation.item.truncate"]
    trunc = sent[1]
    assert trunc["item_id"] == "item_1"
    assert trunc["content_index"] == 0
    assert isinstance(trunc["audio_end_ms"], int)
    assert 25 <= trunc["audio_end_ms"] <= 100
    assert interrupted[0].audio_end_ms == trunc["audio_end_ms"]
    assert interrupted[0].cancelled is True
    assert ws.current_item_id is None
    await ws.aclose()


async def test_speech_started_after_response_done_truncates_without_cancel(make_server) -> None:
    server, ws = await connected(make_server)
    n = len(server.received())
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS))
    server.send(ev_response_done())
    server.send(ev_speech_started())
    await until(lambda: "conversation.item.truncate" in client_types(server, n))
    assert "response.cancel" not in client_types(server, n)
    await ws.aclose()


async def test_speech_started_after_audio_done_still_interrupts_unplayed_audio(
    make_server,
) -> None:
    # Reference 0.20: audio.done only marks generation done. The user talking
    # over audio still playing cancels the running response and truncates.
    server, ws = await connected(make_server)
    interrupted: list[Any] = []
    ws.on("audio_interrupted", interrupted.append)
    n = len(server.received())
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS))
    server.send(ev_audio_done())
    server.send(ev_speech_started())
    await until(lambda: "conversation.item.truncate" in client_types(server, n))
    assert [t for t in client_types(server, n) if t != "session.update"][:2] == [
        "response.cancel",
        "conversation.item.truncate",
    ]
    assert len(interrupted) == 1
    assert interrupted[0].truncated
    assert interrupted[0].audio_end_ms < 100
    await ws.aclose()


async def test_speech_started_after_all_audio_played_keeps_the_transcript(make_server) -> None:
    # Generation done and the elapsed time covers all the audio: no truncate,
    # but the player is still told to stop (audio_interrupted).
    server, ws = await connected(make_server)
    interrupted: list[Any] = []
    ws.on("audio_interrupted", interrupted.append)
    star: list[dict[str, Any]] = []
    ws.on("*", star.append)
    n = len(server.received())
    server.send(ev_audio_delta(PCM_100MS))
    server.send(ev_audio_done())
    await until(lambda: any(e["type"] == "response.output_audio.done" for e in star))
    await asyncio.sleep(0.15)
    server.send(ev_speech_started())
    await until(lambda: len(interrupted) == 1)
    await asyncio.sleep(0.05)
    assert [t for t in client_types(server, n) if t != "session.update"] == []
    assert interrupted[0].truncated is False
    assert interrupted[0].audio_end_ms == 100
    await ws.aclose()


async def test_interrupt_response_true_only_truncates(make_server) -> None:
    server, ws = await connected(make_server, interrupt_response=True)
    assert ws._core.interrupt_response is True
    n = len(server.received())
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS))
    server.send(ev_speech_started())
    await until(lambda: "conversation.item.truncate" in client_types(server, n))
    assert "response.cancel" not in client_types(server, n)
    assert ws._raw_session_config is not None
    await ws.aclose()


async def test_audio_length_follows_the_server_format(make_server) -> None:
    server, ws = await connected(make_server)
    audio: list[Any] = []
    ws.on("audio", audio.append)
    server.send(ev_session_updated({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}))
    server.send(ev_audio_delta(b"\xff" * 800))  # 100 ms of 8 kHz G.711
    await until(lambda: bool(audio))
    assert ws._audio_length_ms == pytest.approx(100.0)
    server.send(ev_audio_done())
    server.send(
        ev_session_updated({"audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}})
    )
    server.send(ev_audio_delta(b"\x00" * 100, iid="item_2"))  # 2.083 ms: fractional
    await until(lambda: len(audio) == 2)
    assert ws._audio_length_ms == pytest.approx(100 / 48)
    n = len(server.received())
    await asyncio.sleep(0.01)
    ws.interrupt(False)
    trunc = sent_after(server, n)
    await until(lambda: "conversation.item.truncate" in client_types(server, n))
    trunc = next(e for e in server.received()[n:] if e["type"] == "conversation.item.truncate")
    assert trunc["audio_end_ms"] == 2  # floor(min(elapsed, 2.083)), an integer
    await ws.aclose()


async def test_second_interrupt_and_interrupt_after_close_send_nothing(make_server) -> None:
    server, ws = await connected(make_server)
    audio: list[Any] = []
    ws.on("audio", audio.append)
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS))
    await until(lambda: bool(audio))
    n = len(server.received())
    ws.interrupt()
    await until(lambda: "conversation.item.truncate" in client_types(server, n))
    m = len(server.received())
    ws.interrupt()
    await asyncio.sleep(0.05)
    assert len(server.received()) == m
    ws.close()
    ws.interrupt()  # no socket, no state: a no-op, no exception


@pytest.mark.parametrize(
    ("elapsed", "length", "expected"),
    [(100, 42.8, 42), (110.9, 100, 100), (123.7, 200, 123), (0.9, 100, 0), (42.6, 42, 42)],
)
def test_audio_end_ms_clamping(elapsed: float, length: float, expected: int) -> None:
    got = _core.audio_end_ms(elapsed, length)
    assert got == expected
    assert isinstance(got, int)


class RecordingInterrupts(OpenAIRealtimeWebSocket):
    """Overrides the hooks, so interruption runs through Python (as a telephony bridge would)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls: list[tuple[float, bool]] = []

    def _interrupt(self, elapsed_time: float, cancel_ongoing_response: bool = True) -> None:
        self.calls.append((elapsed_time, cancel_ongoing_response))
        super()._interrupt(elapsed_time, cancel_ongoing_response)


async def test_overridden_interrupt_hook_is_used_on_speech_started(make_server) -> None:
    server = await make_server()
    ws = RecordingInterrupts(api_key=KEY, base_url=server.url)
    await ws.connect(initial_session_config=vad_config())
    await settled(server, ws)
    interrupted: list[Any] = []
    ws.on("audio_interrupted", interrupted.append)
    n = len(server.received())
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS))
    server.send(ev_speech_started())
    await until(lambda: bool(ws.calls))
    elapsed, cancel = ws.calls[0]
    assert elapsed >= 0
    assert cancel is True
    await until(lambda: "conversation.item.truncate" in client_types(server, n))
    assert types([e for e in sent_after(server, n) if e["type"] != "session.update"]) == [
        "response.cancel",
        "conversation.item.truncate",
    ]
    assert len(interrupted) == 1
    await ws.aclose()


# -- the response.create sequencer over the wire


def item_create(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


async def test_interrupt_then_message_orders_cancel_truncate_create(make_server) -> None:
    server, ws = await connected(make_server, validate=False, respond=False)
    audio: list[Any] = []
    ws.on("audio", audio.append)
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS))
    await until(lambda: bool(audio))
    n = len(server.received())
    ws.interrupt()
    ws.send_event(item_create("new question"))
    ws.request_response()
    await until(lambda: "conversation.item.create" in client_types(server, n))
    await asyncio.sleep(0.05)
    got = [t for t in client_types(server, n) if t != "session.update"]
    assert got[:3] == ["response.cancel", "conversation.item.truncate", "conversation.item.create"]
    assert "response.create" not in got  # the cancelled response is still ongoing
    server.send(ev_response_done(status="cancelled"))
    await until(lambda: "response.create" in client_types(server, n))
    await ws.aclose()


async def test_auto_and_manual_creates_go_out_synchronously_in_order(make_server) -> None:
    server, ws = await connected(make_server, validate=False, respond=False)
    n = len(server.received())
    ws.request_response()
    ws.send_event(item_create("after"))
    await until(lambda: len(server.received()) >= n + 2)
    got = server.received()[n:]
    assert types(got)[:2] == ["response.create", "conversation.item.create"]
    assert got[0]["event_id"].startswith(_core.SEQUENCER_EVENT_ID_PREFIX)
    await ws.aclose()


async def test_manual_create_waits_for_done_and_keeps_override_and_event_id(make_server) -> None:
    server, ws = await connected(make_server, validate=False, respond=False)
    server.send(ev_response_created("busy"))
    await until(lambda: ws._core.response_ongoing)
    n = len(server.received())
    ws.request_response()  # auto
    ws.request_response({"instructions": "override", "output_modalities": ["text"]})  # manual
    ws.request_response()  # auto, after the manual
    await asyncio.sleep(0.05)
    assert "response.create" not in client_types(server, n)
    server.send(ev_response_done("busy"))
    await until(lambda: client_types(server, n).count("response.create") == 1)
    first = next(e for e in server.received()[n:] if e["type"] == "response.create")
    assert "response" not in first
    server.send(ev_response_created("r2"))
    server.send(ev_response_done("r2"))
    await until(lambda: client_types(server, n).count("response.create") == 2)
    second = [e for e in server.received()[n:] if e["type"] == "response.create"][1]
    assert second["response"]["instructions"] == "override"
    assert second["event_id"].startswith(_core.SEQUENCER_EVENT_ID_PREFIX)
    server.send(ev_response_created("r3"))
    server.send(ev_response_done("r3"))
    await until(lambda: client_types(server, n).count("response.create") == 3)
    await ws.aclose()


async def test_caller_event_id_and_linked_error_release(make_server) -> None:
    server, ws = await connected(make_server, validate=False, respond=False)
    n = len(server.received())
    ws.send_event({"type": "response.create", "event_id": "mine_1", "response": {}})
    await until(lambda: "response.create" in client_types(server, n))
    ws.request_response()  # queued behind the in-flight manual create
    await asyncio.sleep(0.05)
    assert client_types(server, n).count("response.create") == 1
    server.send(ev_error("conversation_already_has_active_response", "busy", event_id="mine_1"))
    await until(lambda: client_types(server, n).count("response.create") == 2)
    ids = [e.get("event_id") for e in server.received()[n:] if e["type"] == "response.create"]
    assert ids[0] == "mine_1"
    assert ids[1] != "mine_1"
    await ws.aclose()


async def test_coalesced_autos_are_retried_after_an_unlinked_error(make_server) -> None:
    server, ws = await connected(make_server, validate=False, respond=False)
    n = len(server.received())
    ws.request_response()
    ws.request_response()
    ws.request_response()
    await asyncio.sleep(0.05)
    assert client_types(server, n).count("response.create") == 1
    server.send(ev_error("invalid_response_create", "cannot create"))
    await until(lambda: client_types(server, n).count("response.create") == 2)
    server.send(ev_response_created())
    server.send(ev_response_done())
    await asyncio.sleep(0.05)
    assert client_types(server, n).count("response.create") == 2  # all three were one request
    await ws.aclose()


async def test_disconnect_drops_queued_creates(make_server) -> None:
    server, ws = await connected(make_server, validate=False, respond=False)
    server.send(ev_response_created("busy"))
    await until(lambda: ws._core.response_ongoing)
    ws.request_response()
    assert ws._core.queued_response_creates == 1
    ws.close()
    assert ws._core.queued_response_creates == 0
    assert not ws._core.response_ongoing


# -- tracing


async def test_tracing_update_on_session_created(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url)
    await ws.connect(initial_session_config={"tracing": None})
    await until(lambda: any(e["session"].get("tracing", "x") is None for e in updates(server)))
    await ws.aclose()
    await ws.connect()
    await until(lambda: any(e["session"].get("tracing") == "auto" for e in updates(server)))
    await ws.aclose()


def updates(server: Any) -> list[dict[str, Any]]:
    return [e for e in server.received() if e["type"] == "session.update"]


# -- listeners


async def test_raising_and_async_listeners_do_not_break_the_session(make_server) -> None:
    server, ws = await connected(make_server)
    errors: list[ErrorEvent] = []
    ws.on("error", errors.append)
    got: list[str] = []

    def bad(_: Any) -> None:
        raise ZeroDivisionError("listener bug")

    async def good_async(ev: AudioEvent) -> None:
        await asyncio.sleep(0)
        got.append(ev.item_id)

    async def bad_async(ev: AudioEvent) -> None:
        raise KeyError("async listener bug")

    ws.on("audio", bad)
    ws.on("audio", good_async)
    ws.on("audio", bad_async)
    ws.once("audio", lambda ev: got.append("once"))
    server.send(ev_audio_delta(PCM_100MS, iid="a"))
    server.send(ev_audio_delta(PCM_100MS, iid="b"))
    await until(lambda: len(got) >= 3)
    assert got.count("once") == 1
    assert {"a", "b"} <= set(got)
    await until(lambda: len([e for e in errors if e.source == "listener"]) >= 4)
    kinds = {type(e.error) for e in errors if e.source == "listener"}
    assert kinds == {ZeroDivisionError, KeyError}
    assert ws.status == "connected"
    ws.off("audio", bad)
    assert ws.listener_count("audio") == 2
    await ws.aclose()


async def test_events_iterator(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url)
    seen: list[str] = []

    async def consume() -> None:
        async for ev in ws.events():
            seen.append(ev.name)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    await ws.connect()
    server.send(ev_audio_delta(PCM_100MS))
    await until(lambda: "audio" in seen)
    await ws.aclose()
    await asyncio.wait_for(task, 2)
    assert seen[:2] == ["connection_change", "connection_change"]
    assert seen[-1] == "disconnected"


# -- sending audio


async def test_send_audio_accepts_buffers_and_numpy_and_commits(make_server) -> None:
    server, ws = await connected(make_server)
    n = len(server.received())
    pcm = np.arange(-480, 480, dtype=np.int16)
    ws.send_audio(pcm.tobytes())
    ws.send_audio(bytearray(pcm.tobytes()))
    ws.send_audio(memoryview(pcm.tobytes()))
    ws.send_audio(pcm, commit=True)
    await until(lambda: "input_audio_buffer.commit" in client_types(server, n))
    import base64

    appends = [e for e in server.received()[n:] if e["type"] == "input_audio_buffer.append"]
    assert len(appends) == 4
    assert all(base64.b64decode(a["audio"]) == pcm.tobytes() for a in appends)
    await ws.aclose()


async def test_send_audio_rejects_bad_input_clearly(make_server) -> None:
    _server, ws = await connected(make_server)
    with pytest.raises(ValueError, match="float32"):
        ws.send_audio(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="sample format"):
        ws.send_audio(np.zeros(10, dtype=np.int32))
    with pytest.raises(TypeError, match="send_audio expects"):
        ws.send_audio("not audio")
    with pytest.raises(ValueError, match="sample format"):
        ws.send_audio(np.zeros(10, dtype=">i2"))
    ws.close()
    with pytest.raises(InvalidAudioError):
        ws.send_audio(np.zeros(3, dtype=np.float32))  # checked even when ignored


async def test_an_odd_byte_is_carried_and_a_dangling_one_reported(make_server) -> None:
    server, ws = await connected(make_server, validate=False)
    errors: list[Any] = []
    ws.on("error", errors.append)
    n = len(server.received())
    ws.send_audio(b"\x01\x02\x03")
    ws.send_audio(b"\x04\x05", commit=True)
    await server.wait_for("input_audio_buffer.commit")
    sent = b"".join(
        base64.b64decode(e["audio"])
        for e in server.received()[n:]
        if e["type"] == "input_audio_buffer.append"
    )
    assert sent == b"\x01\x02\x03\x04"
    await until(lambda: any(e.source == "audio" for e in errors))
    audio_errors = [e for e in errors if e.source == "audio"]
    assert len(audio_errors) == 1
    assert isinstance(audio_errors[0].error, InvalidAudioError)
    assert "1 trailing byte" in str(audio_errors[0].error)
    await ws.aclose()


async def test_large_audio_buffer_is_sent_whole(make_server) -> None:
    server, ws = await connected(make_server)
    big = (np.sin(np.arange(24000 * 10) / 10) * 3000).astype(np.int16)  # 10 s, 480 KB
    n = len(server.received())
    ws.send_audio(big)
    await until(lambda: "input_audio_buffer.append" in client_types(server, n), timeout=10)
    import base64

    app = next(e for e in server.received()[n:] if e["type"] == "input_audio_buffer.append")
    assert base64.b64decode(app["audio"]) == big.tobytes()
    await ws.aclose()


# -- keepalive


async def test_dead_peer_is_detected_by_keepalive(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, ping_interval=0.1, ping_timeout=0.2
    )
    errors: list[ErrorEvent] = []
    ws.on("error", errors.append)
    await ws.connect()
    await server.wait_for("session.update")
    server.freeze()
    await until(lambda: ws.status == "disconnected", timeout=5)
    assert any("keepalive" in str(e.error) for e in errors)
    assert ws.last_close is not None
    assert ws.last_close.error is not None


async def test_server_pings_are_answered_and_keep_the_session_alive(make_server) -> None:
    server = await make_server(ping_interval_s=0.05)
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, ping_interval=0.1, ping_timeout=0.2
    )
    await ws.connect()
    await asyncio.sleep(0.6)
    assert ws.status == "connected"
    await ws.aclose()


async def test_manual_create_goes_out_before_later_events(make_server) -> None:
    server, ws = await connected(make_server, validate=False, respond=False)
    n = len(server.received())
    ws.send_event({"type": "response.create", "response": {"instructions": "now"}})
    ws.send_event({"type": "input_audio_buffer.clear"})
    await until(lambda: len(server.received()) >= n + 2)
    got = server.received()[n:]
    assert types(got)[:2] == ["response.create", "input_audio_buffer.clear"]
    assert got[0]["event_id"].startswith(_core.SEQUENCER_EVENT_ID_PREFIX)
    assert got[0]["response"] == {"instructions": "now"}
    await ws.aclose()


class Bridge(OpenAIRealtimeWebSocket):
    """A telephony-style subclass: takes the audio itself instead of emitting ``audio``."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.forwarded: list[tuple[str, int]] = []

    def _on_audio(self, event: AudioEvent) -> None:
        self.forwarded.append((event.item_id, len(event.data)))


async def test_on_audio_hook_can_take_the_audio(make_server) -> None:
    server = await make_server()
    ws = Bridge(api_key=KEY, base_url=server.url)
    emitted: list[Any] = []
    ws.on("audio", emitted.append)
    await ws.connect(initial_session_config=vad_config())
    await settled(server, ws)
    server.send(ev_audio_delta(PCM_100MS, iid="tw_1"))
    await until(lambda: bool(ws.forwarded))
    assert ws.forwarded == [("tw_1", len(PCM_100MS))]
    assert emitted == []
    assert ws.current_item_id == "tw_1"  # the core still tracks playback for interruption
    await ws.aclose()


async def test_tracing_already_set_on_the_server_is_not_changed(make_server, caplog) -> None:
    server = await make_server(session_defaults={"tracing": {"workflow_name": "server-side"}})
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url)
    with caplog.at_level("WARNING", logger="realtime_ws"):
        await ws.connect(initial_session_config={"tracing": {"workflow_name": "mine"}})
        await until(lambda: ws._raw_session_config is not None)
        await asyncio.sleep(0.05)
    assert not any("tracing" in e["session"] for e in updates(server))
    assert "tracing is already configured" in caplog.text
    await ws.aclose()


# -- the audio fast path (one plain listener called from the hub's drain) --------------------------


async def test_the_sole_audio_listener_keeps_emit_semantics(make_server) -> None:
    """With one plain ``audio`` listener the hub calls it directly; what ``_emit`` would
    do still happens: errors reported, a returned awaitable run, order with other events
    kept, and adding a second listener, a ``once`` or a tap switches back."""
    server, ws = await connected(make_server)
    errors: list[ErrorEvent] = []
    ws.on("error", errors.append)
    order: list[str] = []
    ran: list[str] = []

    async def later(item: str) -> None:
        ran.append(item)

    def sole(ev: AudioEvent) -> Any:
        order.append(f"audio:{ev.item_id}")
        if ev.item_id == "boom":
            raise ZeroDivisionError("listener bug")
        return later(ev.item_id)  # a plain function returning a coroutine

    ws.on("audio", sole)
    assert ws._audio_sink is sole
    ws.on("audio_transcript_delta", lambda ev: order.append(f"text:{ev.delta}"))
    server.send(ev_audio_delta(PCM_100MS, iid="a"))
    server.send(ev_transcript_delta("t1"))
    server.send(ev_audio_delta(PCM_100MS, iid="boom"))
    server.send(ev_audio_delta(PCM_100MS, iid="b"))
    await until(lambda: len(order) >= 4 and len(ran) >= 2)
    assert order == ["audio:a", "text:t1", "audio:boom", "audio:b"]
    assert ran == ["a", "b"]
    assert [type(e.error) for e in errors if e.source == "listener"] == [ZeroDivisionError]

    once: list[str] = []
    ws.once("audio", lambda ev: once.append(ev.item_id))
    assert ws._audio_sink is None
    server.send(ev_audio_delta(PCM_100MS, iid="c"))
    await until(lambda: once == ["c"])
    assert ws._audio_sink is sole  # the once listener removed itself
    it = ws.events()
    assert ws._audio_sink is None  # a tap sees every event
    server.send(ev_audio_delta(PCM_100MS, iid="d"))
    got = await asyncio.wait_for(anext(aiter(it)), 2)
    while got.name != "audio":
        got = await asyncio.wait_for(anext(aiter(it)), 2)
    assert got.data.item_id == "d"
    await it.aclose()
    assert ws._audio_sink is sole
    ws.off("audio", sole)
    assert ws._audio_sink is None
    await ws.aclose()


async def test_speech_started_truncates_at_the_reported_playback_position(make_server) -> None:
    server, ws = await connected(make_server)
    await settled(server, ws)
    interrupted: list[AudioInterruptedEvent] = []
    ws.on("audio_interrupted", interrupted.append)
    server.send(ev_response_created())
    server.send(ev_audio_delta(PCM_100MS * 5, iid="item_p"))  # 500 ms received
    await until(lambda: ws.current_item_id == "item_p")
    assert ws.report_playback("elsewhere", 10) is False
    assert ws.report_playback("item_p", 37.5) is True  # the player is behind the clock
    await asyncio.sleep(0.2)  # the clock estimate is now >= 200 ms
    server.send(ev_speech_started())
    truncate = await server.wait_for("conversation.item.truncate")
    assert truncate["item_id"] == "item_p"
    assert truncate["audio_end_ms"] == 37
    await until(lambda: bool(interrupted))
    assert interrupted[0].audio_end_ms == 37
    with pytest.raises(TypeError):
        ws.report_playback("item_p", "12")  # type: ignore[arg-type]
    await ws.aclose()
