"""The mock Realtime server (``realtime_ws.testing``), driven over real loopback sockets.

Every server made with the ``make_server`` fixture has all of its traffic validated at
teardown against the openai SDK's models (``helpers.check_traffic``): each event it sent
against ``RealtimeServerEvent``, each accepted client event against ``RealtimeClientEvent``
(and its strict schema). Servers made by hand are checked with ``assert_valid``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import struct
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from helpers import check_traffic, until
from realtime_ws.testing import ConnectionInfo, MockRealtimeServer
from validators import validate_client_event, validate_server_event, validate_server_events

pytestmark = pytest.mark.timeout(60)

DEFAULT_TEXT = "Hello from the mock realtime server."

AUDIO_TURN = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]


# -- helpers ---------------------------------------------------------------------------------


def pcm(ms: int, amplitude: float = 8000.0, hz: float = 440.0) -> bytes:
    n = 24 * ms
    return struct.pack(
        f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * hz * i / 24000)) for i in range(n))
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def collapse(types: list[str]) -> list[str]:
    """Merges runs of interleaved deltas, for order checks."""
    out: list[str] = []
    for t in types:
        t = "<deltas>" if t.endswith(".delta") else t
        if not out or out[-1] != t:
            out.append(t)
    return out


def assert_valid(server: MockRealtimeServer) -> None:
    """Every event sent, and every client event except those the server rejected."""
    validate_server_events(server.sent())
    for ev in server.received():
        if not ("__raw__" in ev or ev.get("__invalid__")):
            validate_client_event(ev)


@contextlib.asynccontextmanager
async def ws_connect(
    server: MockRealtimeServer, query: str = "?model=gpt-realtime", **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(server.url + query, **kwargs) as ws:
        yield ws


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    ev: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    validate_server_event(ev)
    return ev


async def recv_until(
    ws: ClientConnection, type_: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Events up to and including the first of ``type_``."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        ev = await recv(ws, max(0.01, deadline - time.monotonic()))
        out.append(ev)
        if ev["type"] == type_:
            return out


async def session(ws: ClientConnection) -> dict[str, Any]:
    ev = await recv(ws)
    assert ev["type"] == "session.created"
    return ev


async def send(ws: ClientConnection, ev: dict[str, Any] | str) -> None:
    await ws.send(ev if isinstance(ev, str) else json.dumps(ev))


async def expect_error(ws: ClientConnection, ev: dict[str, Any] | str | bytes) -> dict[str, Any]:
    await ws.send(ev if isinstance(ev, str | bytes) else json.dumps(ev))
    got = await recv(ws)
    while got["type"].endswith(".delta"):  # a paced reply may still be streaming
        got = await recv(ws)
    assert got["type"] == "error", got
    err: dict[str, Any] = got["error"]
    return err


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    rcvd = ws.protocol.close_rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, None)


USER_HELLO = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}


# -- the Python API ----------------------------------------------------------------------------


async def test_options_are_validated() -> None:
    with pytest.raises(TypeError, match="unknown option 'audio_len'"):
        MockRealtimeServer(audio_len=5)
    with pytest.raises(TypeError, match="'chunk_ms' must be int"):
        MockRealtimeServer(chunk_ms="50")
    with pytest.raises(TypeError, match="'realtime' must be bool"):
        MockRealtimeServer(realtime=1)
    with pytest.raises(ValueError, match="chunk_ms"):
        MockRealtimeServer(chunk_ms=0)
    with pytest.raises(ValueError, match="responses"):
        MockRealtimeServer(responses=[{"function_call": {"arguments": "{}"}}])
    with pytest.raises(ValueError, match="port"):
        MockRealtimeServer(port=70000)
    server = MockRealtimeServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    assert server.connections == []
    assert server.received() == []


async def test_context_manager_addresses_and_stop() -> None:
    async with MockRealtimeServer() as server:
        assert server.url == f"ws://127.0.0.1:{server.port}/v1/realtime"
        assert server.base_url == f"ws://127.0.0.1:{server.port}/v1"
        async with ws_connect(server) as ws:
            await session(ws)
            assert_valid(server)  # before stop(): stopping drops the records
            assert server.sent()  # the records are there to check
            await server.stop()
            assert await closed_with(ws) == (1001, "server shutting down")
        with pytest.raises(ConnectionRefusedError):
            await websockets.connect(server.url + "?model=m", open_timeout=2)
    await server.stop()  # idempotent


async def test_wait_for_counts_and_times_out(make_server) -> None:
    server = await make_server()
    async with ws_connect(server) as ws:
        await session(ws)
        with pytest.raises(TimeoutError, match=r"'response\.create'"):
            await server.wait_for("response.create", timeout=0.05)
        await send(ws, USER_HELLO)
        await send(ws, {**USER_HELLO, "event_id": "second"})
        ev = await server.wait_for("conversation.item.create", count=2)
        assert ev["event_id"] == "second"
        assert server.received(type="conversation.item.create")[0] == USER_HELLO
        assert server.received(0) == server.received()


# -- handshake ---------------------------------------------------------------------------------


async def test_handshake_is_recorded(make_server) -> None:
    server = await make_server()
    headers = {"Authorization": "Bearer sk-secret-1234", "OpenAI-Project": "proj_1"}
    async with ws_connect(
        server,
        "?model=gpt-realtime-2&extra=a%20b",
        additional_headers=headers,
        subprotocols=["realtime", "openai-insecure-api-key.ek_secret"],  # type: ignore[list-item]
    ) as ws:
        ev = await session(ws)
        assert ev["session"]["model"] == "gpt-realtime-2"
        assert ws.subprotocol == "realtime"
        (info,) = server.connections
        assert isinstance(info, ConnectionInfo)
        assert (info.id, info.open, info.http_status) == (0, True, 101)
        assert info.path == "/v1/realtime"
        assert info.query == {"model": "gpt-realtime-2", "extra": "a b"}
        assert info.headers["authorization"] == "Bearer sk-secret-1234"
        assert info.headers["openai-project"] == "proj_1"
        assert info.subprotocols == ["realtime", "openai-insecure-api-key.ek_secret"]
        assert info.selected_subprotocol == "realtime"
        shown = repr(info)
        assert "sk-secret-1234" not in shown
        assert "ek_secret" not in shown
    await until(lambda: not server.connections[0].open)
    assert server.connections[0].closed_by == "client"
    assert server.connections[0].close_code == 1000


async def test_any_path_ending_in_realtime(make_server) -> None:
    server = await make_server()
    base = f"ws://127.0.0.1:{server.port}"
    async with websockets.connect(base + "/openai/v1/realtime?model=m") as ws:
        await session(ws)
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(base + "/v1/chat?model=m")
    assert info.value.response.status_code == 404


@pytest.mark.parametrize(
    ("headers", "subprotocols", "ok"),
    [
        ({}, None, False),
        ({"Authorization": "Bearer sk-wrong"}, None, False),
        ({"Authorization": "Bearer sk-right"}, None, True),
        ({}, ["realtime", "openai-insecure-api-key.sk-right"], True),
        ({}, ["realtime", "openai-insecure-api-key.sk-wrong"], False),
    ],
)
async def test_api_key(make_server, headers, subprotocols, ok) -> None:
    server = await make_server(api_key="sk-right")
    async with ws_connect(server, additional_headers=headers, subprotocols=subprotocols) as ws:
        ev = await recv(ws)
        if ok:
            assert ev["type"] == "session.created"
            return
        assert ev["type"] == "error"
        assert ev["error"]["code"] == "invalid_api_key"
        assert ev["error"]["type"] == "invalid_request_error"
        assert "sk-" not in json.dumps(ev)
        assert await closed_with(ws) == (3000, "invalid_request_error.invalid_api_key")
    assert server.connections[0].http_status == 101, "the upgrade itself succeeds"


async def test_missing_model_closes_4000(make_server) -> None:
    server = await make_server()
    async with ws_connect(server, "") as ws:
        ev = await recv(ws)
        assert (ev["type"], ev["error"]["code"]) == ("error", "missing_model")
        assert await closed_with(ws) == (4000, "invalid_request_error.missing_model")
    for query in ("?call_id=rtc_1", "?intent=transcription"):
        async with ws_connect(server, query) as ws:
            ev = await session(ws)
            expected = "transcription" if "intent" in query else "realtime"
            assert ev["session"]["type"] == expected
    relaxed = await make_server(require_model=False)
    async with ws_connect(relaxed, "") as ws:
        await session(ws)


async def test_beta_header_closes_4000(make_server) -> None:
    server = await make_server()
    async with ws_connect(server, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        ev = await recv(ws)
        assert ev["error"]["code"] == "beta_api_shape_disabled"
        assert await closed_with(ws) == (4000, "invalid_request_error.beta_api_shape_disabled")
    relaxed = await make_server(reject_beta=False)
    async with ws_connect(relaxed, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        await session(ws)


async def test_reject_status(make_server) -> None:
    server = await make_server(reject_status=403)
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(server.url + "?model=m")
    response = info.value.response
    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "mock_rejected"
    (conn,) = server.connections
    assert (conn.http_status, conn.open) == (403, False)


async def test_handshake_delay(make_server) -> None:
    server = await make_server(handshake_delay_ms=300)
    t0 = time.monotonic()
    async with ws_connect(server) as ws:
        assert time.monotonic() - t0 >= 0.28
        await session(ws)


async def test_close_after_open(make_server) -> None:
    server = await make_server(close_after_open={"code": 4002, "reason": "go away"})
    async with ws_connect(server) as ws:
        await session(ws)
        assert await closed_with(ws) == (4002, "go away")
    await until(lambda: not server.connections[0].open)
    assert server.connections[0].closed_by == "server"


async def test_pings(make_server) -> None:
    server = await make_server(ping_interval_s=0.05)
    async with ws_connect(server) as ws:
        await session(ws)
        await until(lambda: server.stats()["pongs_received"] >= 3)
    assert server.stats()["pings_sent"] >= 3


# -- session and conversation --------------------------------------------------------------------


async def test_session_created_and_update(make_server) -> None:
    # Sends schema-invalid events on purpose: validated by hand below, skipping those.
    server = await make_server(validate=False)
    async with ws_connect(server) as ws:
        created = (await session(ws))["session"]
        assert created["object"] == "realtime.session"
        assert created["id"].startswith("sess_")
        assert created["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        assert created["audio"]["output"] == {
            "format": {"type": "audio/pcm", "rate": 24000},
            "voice": "alloy",
            "speed": 1.0,
        }
        update = {
            "type": "session.update",
            "event_id": "su1",
            "session": {
                "type": "realtime",
                "instructions": "Be terse.",
                "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": None}, "output": {"voice": "marin"}},
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            },
        }
        await send(ws, update)
        s = (await recv(ws))["session"]
        assert s["instructions"] == "Be terse."
        assert s["output_modalities"] == ["text"]
        assert s["audio"]["input"]["turn_detection"] is None
        assert s["audio"]["output"]["voice"] == "marin"
        assert s["audio"]["output"]["speed"] == 1.0, "untouched fields are kept"
        assert s["id"] == created["id"]
        assert s["tools"][0]["name"] == "f"
        err = await expect_error(ws, {"type": "session.update", "session": {}, "event_id": "x"})
        assert (err["code"], err["param"], err["event_id"]) == (
            "missing_required_parameter",
            "session.type",
            "x",
        )
        err = await expect_error(
            ws, {"type": "session.update", "session": {"type": "realtime", "modalities": ["text"]}}
        )
        assert (err["code"], err["param"]) == ("unknown_parameter", "session.modalities")
    assert_valid(server)


async def test_items_create_retrieve_delete(make_server) -> None:
    server = await make_server()
    async with ws_connect(server) as ws:
        await session(ws)
        await send(ws, USER_HELLO)
        added, done = await recv(ws), await recv(ws)
        assert (added["type"], done["type"]) == (
            "conversation.item.added",
            "conversation.item.done",
        )
        item = done["item"]
        assert item["id"].startswith("item_")
        assert item["status"] == "completed"
        assert item["content"] == [{"type": "input_text", "text": "hi"}]
        assert added["previous_item_id"] is None
        await send(
            ws,
            {
                "type": "conversation.item.create",
                "item": {
                    "id": "fc_out",
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": "42",
                },
            },
        )
        added = await recv(ws)
        assert added["previous_item_id"] == item["id"]
        await recv(ws)
        await send(ws, {"type": "conversation.item.retrieve", "item_id": "fc_out"})
        got = await recv(ws)
        assert got["type"] == "conversation.item.retrieved"
        assert got["item"]["output"] == "42"
        await send(ws, {"type": "conversation.item.delete", "item_id": "fc_out"})
        deleted = await recv(ws)
        assert (deleted["type"], deleted["item_id"]) == ("conversation.item.deleted", "fc_out")
        for ev in (
            {"type": "conversation.item.retrieve", "item_id": "fc_out", "event_id": "r1"},
            {"type": "conversation.item.delete", "item_id": "fc_out", "event_id": "r1"},
        ):
            err = await expect_error(ws, ev)
            assert (err["code"], err["event_id"]) == ("item_not_found", "r1")
        rejected = [e for e in server.received() if e.get("__invalid__")]
        assert [e["type"] for e in rejected] == [
            "conversation.item.retrieve",
            "conversation.item.delete",
        ]


# -- responses ---------------------------------------------------------------------------------


async def test_audio_response(make_server) -> None:
    server = await make_server()
    async with ws_connect(server) as ws:
        await session(ws)
        await send(ws, USER_HELLO)
        await recv_until(ws, "conversation.item.done")
        await send(ws, {"type": "response.create", "response": {"metadata": {"run": "7"}}})
        events = await recv_until(ws, "rate_limits.updated")
        kinds = [e["type"] for e in events]
        assert collapse(kinds) == collapse(AUDIO_TURN)
        assert kinds[4:6] == [
            "response.output_audio_transcript.delta",
            "response.output_audio.delta",
        ]
        audio = b"".join(
            base64.b64decode(e["delta"])
            for e in events
            if e["type"] == "response.output_audio.delta"
        )
        assert len(audio) == 600 * 48  # 600 ms of 24 kHz PCM16
        assert kinds.count("response.output_audio.delta") == 12  # 50 ms chunks
        peak = max(abs(s) for (s,) in struct.iter_unpack("<h", audio))
        assert 3000 < peak < 3300, "a quiet tone"
        transcript = "".join(
            e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
        )
        assert transcript == DEFAULT_TEXT
        done = next(e for e in events if e["type"] == "response.done")["response"]
        assert done["status"] == "completed"
        assert done["metadata"] == {"run": "7"}
        assert done["output"][0]["content"] == [
            {"type": "output_audio", "transcript": DEFAULT_TEXT}
        ]
        assert done["usage"]["output_token_details"]["audio_tokens"] > 0
        for e in events:
            if e["type"] == "response.output_audio.delta":
                _seq, ns = e["event_id"].removeprefix("evt_").split("_")
                assert abs(int(ns) / 1e9 - time.time()) < 60
    stats = server.stats()
    assert stats["audio_bytes_sent"] == 600 * 48
    assert stats["audio_deltas_sent"] == 12
    assert stats["responses_created"] == 1


async def test_text_response_honours_the_override(make_server) -> None:
    server = await make_server(text="Plain text reply")
    async with ws_connect(server) as ws:
        await session(ws)
        await send(
            ws,
            {
                "type": "response.create",
                "response": {"output_modalities": ["text"], "conversation": "none"},
            },
        )
        events = await recv_until(ws, "rate_limits.updated")
        assert collapse([e["type"] for e in events]) == [
            "response.created",
            "response.output_item.added",
            "response.content_part.added",
            "<deltas>",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text == "Plain text reply"
        done = next(e for e in events if e["type"] == "response.done")["response"]
        assert done["conversation_id"] is None
        assert done["output_modalities"] == ["text"]


async def test_function_call_script(make_server) -> None:
    server = await make_server(
        responses=[{"function_call": {"name": "lookup", "arguments": {"q": "weather in Paris"}}}]
    )
    async with ws_connect(server) as ws:
        await session(ws)
        await send(ws, {"type": "response.create"})
        events = await recv_until(ws, "rate_limits.updated")
        assert collapse([e["type"] for e in events]) == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "<deltas>",
            "response.function_call_arguments.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
        deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
        assert len(deltas) > 1
        args = "".join(d["delta"] for d in deltas)
        assert json.loads(args) == {"q": "weather in Paris"}
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert (done["name"], done["arguments"]) == ("lookup", args)
        assert done["call_id"].startswith("call_")
        item = next(e for e in events if e["type"] == "response.output_item.done")["item"]
        assert (item["type"], item["status"], item["call_id"]) == (
            "function_call",
            "completed",
            done["call_id"],
        )
        # The script is used up: the next response is the default audio reply.
        await send(ws, {"type": "response.create"})
        events = await recv_until(ws, "response.done")
        assert events[-1]["response"]["output"][0]["type"] == "message"


async def test_scripts_in_order_and_set_responses(make_server) -> None:
    server = await make_server(
        responses=[
            {"text": "one", "audio_ms": 100},
            {"error": {"code": "rate_limit_exceeded", "message": "slow down", "type": "tokens"}},
        ]
    )
    async with ws_connect(server) as ws:
        await session(ws)
        await send(ws, {"type": "response.create"})
        events = await recv_until(ws, "response.done")
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "one"
        assert sum(e["type"] == "response.output_audio.delta" for e in events) == 2
        await recv_until(ws, "rate_limits.updated")
        err = await expect_error(ws, {"type": "response.create", "event_id": "rc2"})
        assert err == {
            "type": "tokens",
            "code": "rate_limit_exceeded",
            "message": "slow down",
            "param": None,
            "event_id": "rc2",
        }
        server.set_responses([{"text": "three", "audio": pcm(40)}])
        await send(ws, {"type": "response.create"})
        events = await recv_until(ws, "response.done")
        audio = b"".join(
            base64.b64decode(e["delta"])
            for e in events
            if e["type"] == "response.output_audio.delta"
        )
        assert audio == pcm(40)


async def test_one_response_at_a_time_and_cancel(make_server) -> None:
    server = await make_server(realtime=True, audio_ms=3000)
    async with ws_connect(server) as ws:
        await session(ws)
        await send(ws, {"type": "response.create"})
        await recv_until(ws, "response.output_audio.delta")
        err = await expect_error(ws, {"type": "response.create", "event_id": "second"})
        assert (err["code"], err["event_id"]) == (
            "conversation_already_has_active_response",
            "second",
        )
        await send(ws, {"type": "response.cancel", "event_id": "cancel"})
        events = await recv_until(ws, "response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        assert done["output"][0]["status"] == "incomplete"
        assert sum(e["type"] == "response.output_audio.delta" for e in events) <= 3
        err = await expect_error(ws, {"type": "response.cancel", "event_id": "again"})
        assert (err["code"], err["event_id"]) == ("response_cancel_not_active", "again")
        # Nothing more streams after the cancel.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
    assert server.stats()["responses_cancelled"] == 1


async def test_truncate(make_server) -> None:
    server = await make_server()
    async with ws_connect(server) as ws:
        await session(ws)
        await send(ws, {"type": "response.create"})
        events = await recv_until(ws, "rate_limits.updated")
        item_id = events[1]["item"]["id"]
        truncate = {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "event_id": "t1",
        }
        err = await expect_error(ws, {**truncate, "audio_end_ms": 601})
        assert (err["code"], err["event_id"], err["param"]) == (
            "invalid_value",
            "t1",
            "audio_end_ms",
        )
        assert "past the end" in err["message"]
        await send(ws, {**truncate, "audio_end_ms": 150})
        ev = await recv(ws)
        assert ev == {
            "type": "conversation.item.truncated",
            "event_id": ev["event_id"],
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 150,
        }
        await send(ws, {"type": "conversation.item.retrieve", "item_id": item_id})
        transcript = (await recv(ws))["item"]["content"][0]["transcript"]
        assert DEFAULT_TEXT.startswith(transcript)
        assert len(transcript) == len(DEFAULT_TEXT) // 4
        err = await expect_error(ws, {**truncate, "audio_end_ms": 151})
        assert err["code"] == "invalid_value"
        err = await expect_error(ws, {**truncate, "item_id": "nope", "audio_end_ms": 1})
        assert err["code"] == "item_not_found"


async def test_g711_output(make_server) -> None:
    server = await make_server(audio_ms=200)
    async with ws_connect(server) as ws:
        await session(ws)
        for fmt in ("audio/pcmu", "audio/pcma"):
            await send(
                ws,
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"output": {"format": {"type": fmt}}}},
                },
            )
            assert (await recv(ws))["session"]["audio"]["output"]["format"] == {"type": fmt}
            await send(ws, {"type": "response.create"})
            events = await recv_until(ws, "response.done")
            chunks = [
                base64.b64decode(e["delta"])
                for e in events
                if e["type"] == "response.output_audio.delta"
            ]
            assert [len(c) for c in chunks] == [400] * 4  # 50 ms of 8 kHz, 1 byte a sample
            assert events[-1]["response"]["audio"]["output"]["format"]["type"] == fmt
            await recv_until(ws, "rate_limits.updated")


# -- input audio and VAD -------------------------------------------------------------------------


async def test_vad_turn_and_barge_in(make_server) -> None:
    server = await make_server(realtime=True, audio_ms=2000)
    async with ws_connect(server) as ws:
        await session(ws)
        for chunk in (pcm(100, 0), pcm(300), pcm(400, 0)):
            await send(ws, {"type": "input_audio_buffer.append", "audio": b64(chunk)})
        events = await recv_until(ws, "response.output_audio.delta")
        kinds = [e["type"] for e in events]
        assert kinds[:6] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
        ]
        started, stopped, committed, added = events[:4]
        assert started["audio_start_ms"] == 100
        assert stopped["audio_end_ms"] == 600  # 100 + 300 of speech + 200 of silence
        assert started["item_id"] == stopped["item_id"] == committed["item_id"]
        assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
        # Speaking over the reply cancels it (interrupt_response).
        await send(ws, {"type": "input_audio_buffer.append", "audio": b64(pcm(200))})
        events = await recv_until(ws, "response.done")
        assert events[-1]["response"]["status_details"] == {
            "type": "cancelled",
            "reason": "turn_detected",
        }
        assert "input_audio_buffer.speech_started" in [e["type"] for e in events]
    assert server.stats()["audio_bytes_received"] == 1000 * 48


async def test_manual_commit_clear_and_transcription(make_server) -> None:
    server = await make_server(input_transcript="what time is it")
    async with ws_connect(server) as ws:
        await session(ws)
        await send(
            ws,
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {
                            "turn_detection": None,
                            "transcription": {"model": "gpt-4o-transcribe"},
                        }
                    },
                },
            },
        )
        await recv(ws)
        err = await expect_error(ws, {"type": "input_audio_buffer.commit", "event_id": "c0"})
        assert (err["code"], err["event_id"]) == ("input_audio_buffer_commit_empty", "c0")
        await send(ws, {"type": "input_audio_buffer.append", "audio": b64(pcm(300))})
        await send(ws, {"type": "input_audio_buffer.commit"})
        events = await recv_until(ws, "conversation.item.input_audio_transcription.completed")
        assert collapse([e["type"] for e in events]) == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "<deltas>",
            "conversation.item.input_audio_transcription.completed",
        ]
        assert events[-1]["transcript"] == "what time is it"
        await send(ws, {"type": "input_audio_buffer.append", "audio": b64(pcm(300))})
        await send(ws, {"type": "input_audio_buffer.clear"})
        assert (await recv(ws))["type"] == "input_audio_buffer.cleared"
        err = await expect_error(ws, {"type": "input_audio_buffer.commit"})
        assert err["code"] == "input_audio_buffer_commit_empty"


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        (b"\x00\x01binary", "invalid_event", None),
        ({"type": "response.text.delta", "event_id": "e1"}, "invalid_value", "type"),
        ({"event_id": "e1"}, "missing_required_parameter", "type"),
        (
            {"type": "conversation.item.create", "event_id": "e1"},
            "missing_required_parameter",
            "item",
        ),
        (
            {"type": "conversation.item.retrieve", "event_id": "e1"},
            "missing_required_parameter",
            "item_id",
        ),
        (
            {"type": "input_audio_buffer.append", "event_id": "e1"},
            "missing_required_parameter",
            "audio",
        ),
        (
            {"type": "input_audio_buffer.append", "audio": "%%%", "event_id": "e1"},
            "invalid_value",
            "audio",
        ),
        (
            {
                "type": "conversation.item.truncate",
                "item_id": "i",
                "content_index": 0,
                "event_id": "e1",
            },
            "missing_required_parameter",
            "audio_end_ms",
        ),
        (
            {"type": "response.create", "response": {"modalities": ["text"]}, "event_id": "e1"},
            "unknown_parameter",
            "response.modalities",
        ),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "robot", "content": []},
                "event_id": "e1",
            },
            "invalid_value",
            "item.role",
        ),
        ({"type": "output_audio_buffer.clear", "event_id": "e1"}, "invalid_value", "type"),
    ],
)
async def test_bad_input_gets_an_error_and_the_session_keeps_working(
    make_server, frame, code, param
) -> None:
    server = await make_server(validate=False)  # the frame is invalid on purpose
    async with ws_connect(server) as ws:
        await session(ws)
        err = await expect_error(ws, frame)
        assert err["code"] == code
        assert err["param"] == param
        assert err["type"] == "invalid_request_error"
        assert err["event_id"] == ("e1" if isinstance(frame, dict) else None)
        if code == "invalid_event":
            assert err["message"] == "Expected a text WebSocket message"
        if code == "invalid_value" and param == "type" and "text" in str(frame):
            assert "'session.update'" in err["message"]
        await send(ws, USER_HELLO)
        assert (await recv(ws))["type"] == "conversation.item.added"
    recorded = server.received()[0]
    if isinstance(frame, str):
        assert recorded == {"__raw__": frame}
    elif isinstance(frame, bytes):
        assert recorded == {"__binary__": b64(frame), "__invalid__": True}
    else:
        assert recorded == {**frame, "__invalid__": True}
    assert_valid(server)


# -- control from the test ---------------------------------------------------------------------


async def test_send_close_drop_and_freeze(make_server) -> None:
    server = await make_server()
    async with ws_connect(server) as ws:
        await session(ws)
        server.send({"type": "custom.injected", "x": 1})
        server.send("not even json")
        server.send_binary(b"\x01\x02")
        assert json.loads(await ws.recv()) == {"type": "custom.injected", "x": 1}
        assert await ws.recv() == "not even json"
        assert await ws.recv() == b"\x01\x02"
        assert server.sent() == [e for e in server.sent() if e["type"] == "session.created"]
        server.close_connection(4100, "test over")
        assert await closed_with(ws) == (4100, "test over")
    with pytest.raises(ValueError, match="not open"):
        server.send({"type": "x"})
    with pytest.raises(ValueError, match="close code"):
        server.close_connection(1006)
    async with ws_connect(server) as ws:
        await session(ws)
        server.drop_connection()
        with pytest.raises(websockets.ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.protocol.close_rcvd is None
    await until(lambda: server.connections[1].closed_by == "dropped")
    async with ws_connect(server, ping_interval=None) as ws:
        await session(ws)
        server.freeze()
        await send(ws, USER_HELLO)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
        assert server.received(2) == []
        server.drop_connection(2)


async def test_stats_over_http(make_server) -> None:
    server = await make_server()
    async with ws_connect(server) as ws:
        await session(ws)
        await send(ws, {"type": "input_audio_buffer.append", "audio": b64(pcm(10, 0))})
        await send(ws, {"type": "response.create"})
        await recv_until(ws, "rate_limits.updated")
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = await reader.read()
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        stats = json.loads(body)
        assert stats["connections_open"] == 1
        assert stats["audio_bytes_received"] == 480
        assert stats["audio_bytes_sent"] == 600 * 48
        (conn,) = stats["connections"]
        assert conn["audio_deltas_sent"] == 12
        assert conn["events_received"] == 2
        assert int(stats["time_unix_ns"]) > 0


async def test_stream_mode_for_load_tests(make_server) -> None:
    server = await make_server(stream_audio_s=0.5, chunk_ms=50, text="tick tock", record=False)
    async with ws_connect(server) as ws:
        await session(ws)
        await send(
            ws,
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
            },
        )
        t0 = time.monotonic()
        events = await recv_until(ws, "response.done")
        elapsed = time.monotonic() - t0
        deltas = [e for e in events if e["type"] == "response.output_audio.delta"]
        assert len(deltas) == 10
        assert 0.4 <= elapsed < 2.0, "paced in real time"
        for d in deltas:
            _, _, ns = d["event_id"].split("_")
            assert abs(int(ns) / 1e9 - time.time()) < 5
        transcripts = [
            e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
        ]
        assert transcripts[:3] == ["tick ", "tock ", "tick "]
    assert server.sent() == []  # record=False
    assert server.received() == []
    assert server.stats()["audio_deltas_sent"] == 10


# -- the official SDK as a peer --------------------------------------------------------------------


async def test_openai_sdk_client_holds_a_session(make_server) -> None:
    from openai import AsyncOpenAI

    server = await make_server(api_key="test", realtime=True, audio_ms=2000)
    client = AsyncOpenAI(api_key="test", websocket_base_url=server.base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        ev = await conn.recv()
        assert ev.type == "session.created"
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Be brief.",
                "output_modalities": ["audio"],
            }
        )
        ev = await conn.recv()
        assert ev.type == "session.updated"
        assert ev.session.instructions == "Be brief."
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi"}],
            }
        )
        await conn.response.create()
        audio = bytearray()
        seen: list[str] = []
        async for ev in conn:
            seen.append(ev.type)
            if ev.type == "response.output_audio.delta":
                audio += base64.b64decode(ev.delta)
                if len(audio) >= 200 * 48:
                    await conn.response.cancel()
            if ev.type == "response.done":
                assert ev.response.status == "cancelled"
                assert ev.response.status_details.reason == "client_cancelled"
                break
        assert "conversation.item.added" in seen
        assert 200 * 48 <= len(audio) < 2000 * 48
        await conn.response.create(response={"output_modalities": ["text"]})
        async for ev in conn:
            if ev.type == "response.done":
                assert ev.response.status == "completed"
                break
    info = server.connections[0]
    assert info.query == {"model": "gpt-realtime"}
    assert info.headers["authorization"] == "Bearer test"
    for ev in server.received():
        validate_client_event(ev)
    check_traffic(server)


# -- the command line ------------------------------------------------------------------------


async def test_cli_runs_a_server() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtime_ws",
        "mock",
        "--port",
        "0",
        "--duration-s",
        "20",
        "--text",
        "from the cli",
        "--no-require-model",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "listening on ws://127.0.0.1:" in line, line
        url = line.split("listening on ")[1].split()[0]
        async with websockets.connect(url) as ws:
            await session(ws)
            await send(ws, {"type": "response.create", "response": {"output_modalities": ["text"]}})
            events = await recv_until(ws, "response.output_text.done")
            assert events[-1]["text"] == "from the cli"
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
