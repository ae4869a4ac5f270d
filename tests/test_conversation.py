"""Conversation methods, item mapping and a tool-call round trip, over real sockets.

Every client event these tests make the client send is validated at teardown
against the openai SDK's client-event union and its strict schema
(``make_server`` does it), so each method's payload is checked as sent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from helpers import until
from realtime_ws import OpenAIRealtimeWebSocket, UserError
from realtime_ws.items import (
    ABSENT,
    FunctionCallEvent,
    FunctionCallItem,
    McpApprovalRequestItem,
    McpCallItem,
    McpToolsListedEvent,
    MessageItem,
)

KEY = "sk-test-conversation"
_n = 0


def eid() -> str:
    global _n
    _n += 1
    return f"evt_conv_{_n}"


async def connected(make_server, **opts: Any) -> tuple[Any, OpenAIRealtimeWebSocket]:
    server = await make_server(**opts)
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url)
    await ws.connect()
    await server.wait_for("session.update")
    return server, ws


def sent(server: Any, n: int, *skip: str) -> list[dict[str, Any]]:
    skip = skip or ("session.update",)
    return [e for e in server.received()[n:] if e["type"] not in skip]


async def settle(server: Any, n: int, count: int) -> list[dict[str, Any]]:
    await until(lambda: len(sent(server, n)) >= count)
    await asyncio.sleep(0.02)
    return sent(server, n)


# -- methods -------------------------------------------------------------------------------------


async def test_send_message_text_then_response(make_server) -> None:
    server, ws = await connected(make_server)
    n = len(server.received())
    ws.send_message("Hello there")
    got = await settle(server, n, 2)
    assert got[0] == {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello there"}],
        },
    }
    assert got[1]["type"] == "response.create"
    await ws.aclose()


async def test_send_message_structured_with_image_and_extra_event_data(make_server) -> None:
    server, ws = await connected(make_server)
    n = len(server.received())
    ws.send_message(
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {
                    "type": "input_image",
                    "image": "data:image/png;base64,iVBORw0KGgo=",
                    "provider_data": {"detail": "low"},
                },
            ],
        },
        {"event_id": "client_evt_1"},
        trigger_response=False,
    )
    got = await settle(server, n, 1)
    assert len(got) == 1
    assert got[0]["event_id"] == "client_evt_1"
    assert got[0]["item"]["content"][1] == {
        "type": "input_image",
        "image_url": "data:image/png;base64,iVBORw0KGgo=",
        "detail": "low",
    }
    n = len(server.received())
    ws.add_image("data:image/png;base64,iVBORw0KGgo=", trigger_response=False)
    got = await settle(server, n, 1)
    assert got[0]["item"]["content"] == [
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    ]
    await ws.aclose()


async def test_request_response_with_override(make_server) -> None:
    server, ws = await connected(make_server)
    n = len(server.received())
    ws.request_response(
        {"output_modalities": ["text"], "instructions": "Just text.", "metadata": {"k": "v"}}
    )
    got = await settle(server, n, 1)
    assert got[0]["response"] == {
        "output_modalities": ["text"],
        "instructions": "Just text.",
        "metadata": {"k": "v"},
    }
    await ws.aclose()


async def test_send_mcp_response(make_server) -> None:
    server, ws = await connected(make_server, validate=True)
    n = len(server.received())
    req = McpApprovalRequestItem(item_id="mcpreq_1", server_label="wiki", name="ask", arguments={})
    ws.send_mcp_response(req, True)
    ws.send_mcp_response({"item_id": "mcpreq_2"}, False, "not allowed")
    got = await settle(server, n, 2)
    assert got[0]["previous_item_id"] == "mcpreq_1"
    assert got[0]["item"]["approval_request_id"] == "mcpreq_1"
    assert got[0]["item"]["approve"] is True
    assert "reason" not in got[0]["item"]
    assert got[1]["item"]["reason"] == "not allowed"
    assert got[1]["item"]["approve"] is False
    await ws.aclose()


async def test_reset_history_deletes_then_creates(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    server, ws = await connected(make_server, validate=False)
    text = lambda t: [{"type": "input_text", "text": t}]  # noqa: E731
    old = [
        MessageItem("m1", "user", text("one"), "completed"),
        MessageItem("m2", "user", text("two"), "completed"),
        MessageItem("sys", "system", text("rules"), "completed"),
    ]
    new = [
        MessageItem("m1", "user", text("one"), "completed"),
        MessageItem("m2", "user", text("two, edited"), "completed"),
        {
            "item_id": "m3",
            "type": "message",
            "role": "system",
            "content": text("new rules"),
            "status": "completed",
        },
        FunctionCallItem("fc1", "tool", "{}", "completed"),
    ]
    n = len(server.received())
    ws.reset_history(old, new)
    got = await settle(server, n, 4)
    assert [(e["type"], e.get("item_id")) for e in got[:2]] == [
        ("conversation.item.delete", "sys"),
        ("conversation.item.delete", "m2"),
    ]
    creates = [e for e in got if e["type"] == "conversation.item.create"]
    # In the new history's order (reference 0.20); past the last surviving item both
    # are plain appends (no previous_item_id), and every request carries an event_id.
    assert [e["item"] for e in creates] == [
        {
            "type": "message",
            "role": "user",
            "content": text("two, edited"),
            "id": "m2",
            "status": "completed",
        },
        {"type": "message", "role": "system", "content": text("new rules"), "id": "m3"},
    ]
    assert all("previous_item_id" not in e for e in creates)
    assert [e["event_id"] for e in got] == [
        "realtime_ws_delete_1",
        "realtime_ws_delete_2",
        "realtime_ws_create_3",
        "realtime_ws_create_4",
    ]
    assert "Function calls cannot be manually added" in caplog.text
    from helpers import check_traffic

    check_traffic(server)
    with pytest.raises(UserError, match="audio"):
        ws.reset_history(
            [], [MessageItem("a1", "assistant", [{"type": "output_audio", "transcript": "x"}])]
        )
    await ws.aclose()


# -- server events -> item_update and friends ------------------------------------------------------


def item_event(t: str, item: dict[str, Any], previous: str | None = None) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": t, "event_id": eid(), "item": item}
    if t != "conversation.item.retrieved":
        ev["previous_item_id"] = previous
    return ev


async def test_message_items_map_to_item_update(make_server) -> None:
    server, ws = await connected(make_server)
    updates: list[Any] = []
    ws.on("item_update", updates.append)
    user = {
        "id": "u1",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}],
    }
    asst = {
        "id": "a1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "hello"}],
    }
    server.send(item_event("conversation.item.added", user, previous="root_x"))
    server.send(item_event("conversation.item.done", user, previous="root_x"))
    server.send(item_event("conversation.item.retrieved", {**asst, "status": "incomplete"}))
    await until(lambda: len(updates) >= 3)
    assert updates[0] == MessageItem("u1", "user", user["content"], "in_progress", "root_x")
    assert updates[1].status == "completed"
    # A retrieved item makes no placement claim: ABSENT, not None ("the first item").
    assert updates[2].previous_item_id is ABSENT
    assert not updates[2].previous_item_id
    assert updates[2].status == "incomplete"
    assert updates[2].content[0]["type"] == "output_audio"
    await ws.aclose()


async def test_beta_audio_part_is_renamed_for_assistant_messages() -> None:
    from realtime_ws.items import normalize_content

    assert normalize_content("assistant", [{"type": "audio", "transcript": "t"}]) == [
        {"type": "output_audio", "transcript": "t"}
    ]
    assert normalize_content("user", [{"type": "audio"}]) == [{"type": "audio"}]


async def test_mcp_items(make_server) -> None:
    server, ws = await connected(make_server)
    got: list[tuple[str, Any]] = []
    for name in (
        "item_update",
        "mcp_tools_listed",
        "mcp_approval_request",
        "mcp_tool_call_completed",
    ):
        ws.on(name, lambda ev, _n=name: got.append((_n, ev)))
    tools = {
        "id": "mcpl_1",
        "type": "mcp_list_tools",
        "server_label": "wiki",
        "tools": [{"name": "ask", "input_schema": {"type": "object"}}],
    }
    server.send(item_event("conversation.item.added", tools))
    server.send(item_event("conversation.item.done", tools))
    approval = {
        "id": "mcpr_1",
        "type": "mcp_approval_request",
        "server_label": "wiki",
        "name": "ask",
        "arguments": '{"q": "why"}',
    }
    server.send(item_event("conversation.item.done", approval))
    call = {
        "id": "mcpc_1",
        "type": "mcp_call",
        "server_label": "wiki",
        "name": "ask",
        "arguments": "{}",
    }
    server.send(item_event("conversation.item.added", call))
    server.send(item_event("conversation.item.done", {**call, "output": "42"}))
    await until(lambda: len(got) >= 6)
    names = [n for n, _ in got]
    assert names == [
        "mcp_tools_listed",
        "item_update",
        "mcp_approval_request",
        "item_update",
        "item_update",
        "mcp_tool_call_completed",
    ]
    assert got[0][1] == McpToolsListedEvent("wiki", tools["tools"])
    assert got[2][1] == McpApprovalRequestItem("mcpr_1", "wiki", "ask", {"q": "why"}, None)
    assert got[3][1] == McpCallItem("mcpc_1", "mcp_call", "in_progress", "ask", "{}", None)
    assert got[4][1].status == "completed"
    assert got[4][1].output == "42"
    await ws.aclose()


async def test_auto_retrieve_triggers(make_server) -> None:
    server, ws = await connected(make_server, validate=False)
    n = len(server.received())
    server.send(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": eid(),
            "item_id": "u_tr",
            "content_index": 0,
            "transcript": "hi",
            "usage": {"type": "duration", "seconds": 1.0},
        }
    )
    server.send(
        {
            "type": "conversation.item.truncated",
            "event_id": eid(),
            "item_id": "a_tr",
            "content_index": 0,
            "audio_end_ms": 10,
        }
    )
    server.send(
        {
            "type": "response.mcp_call.in_progress",
            "event_id": eid(),
            "item_id": "mcp_ip",
            "output_index": 0,
        }
    )
    server.send({"type": "mcp_list_tools.in_progress", "event_id": eid(), "item_id": "mcpl_ip"})
    await until(
        lambda: len([e for e in sent(server, n) if e["type"] == "conversation.item.retrieve"]) >= 4
    )
    ids = [e["item_id"] for e in sent(server, n) if e["type"] == "conversation.item.retrieve"]
    assert ids == ["u_tr", "a_tr", "mcp_ip", "mcpl_ip"]
    await ws.aclose()


async def test_item_deleted(make_server) -> None:
    server, ws = await connected(make_server)
    deleted: list[Any] = []
    ws.on("item_deleted", deleted.append)
    server.send({"type": "conversation.item.deleted", "event_id": eid(), "item_id": "gone"})
    await until(lambda: bool(deleted))
    assert deleted[0].item_id == "gone"
    await ws.aclose()


# -- the tool-call round trip against the mock's scripted function call


async def test_function_call_round_trip(make_server) -> None:
    server = await make_server(
        responses=[
            {"function_call": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"text": "It is sunny in Paris.", "audio_ms": 200},
        ]
    )
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url)
    calls: list[FunctionCallEvent] = []
    updates: list[Any] = []
    transcript: list[str] = []
    turns: list[Any] = []
    ws.on("function_call", calls.append)
    ws.on("item_update", updates.append)
    ws.on("audio_transcript_delta", lambda ev: transcript.append(ev.delta))
    ws.on("turn_done", turns.append)
    arg_deltas: list[str] = []
    ws.on("response.function_call_arguments.delta", lambda ev: arg_deltas.append(ev["delta"]))
    await ws.connect(
        initial_session_config={
            "tools": [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ]
        }
    )
    ws.send_message("What's the weather in Paris?")
    await until(lambda: bool(calls), timeout=10)
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert "".join(arg_deltas) == call.arguments
    assert len(arg_deltas) > 1  # streamed in pieces
    in_progress = [u for u in updates if isinstance(u, FunctionCallItem)]
    assert in_progress[0].status == "in_progress"
    await until(lambda: len(turns) >= 1)
    ws.send_function_call_output(call, json.dumps({"forecast": "sunny"}))
    completed = [u for u in updates if isinstance(u, FunctionCallItem) and u.status == "completed"]
    assert completed
    assert completed[0].output == json.dumps({"forecast": "sunny"})
    await until(lambda: len(turns) >= 2, timeout=10)
    assert "".join(transcript).strip() == "It is sunny in Paris."
    outputs = [e for e in server.received() if e["type"] == "conversation.item.create"]
    assert outputs[-1]["item"] == {
        "type": "function_call_output",
        "output": json.dumps({"forecast": "sunny"}),
        "call_id": call.call_id,
    }
    await ws.aclose()
