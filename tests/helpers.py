"""Helpers for the test suites (not fixtures)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from realtime_ws.testing import MockRealtimeServer
from validators import (
    validate_client_event,
    validate_client_event_strict,
    validate_server_event,
)


def check_traffic(server: MockRealtimeServer, *, strict: bool = True) -> None:
    """Validates every client event the server received and every event it sent.

    Only frames that are not JSON objects at all (which a test sends on
    purpose) are skipped; events the server answered with an ``error`` are
    still checked against the SDK's schema.
    """
    for ev in server.received():
        if "__raw__" in ev or "__binary__" in ev:
            continue
        ev = {k: v for k, v in ev.items() if k != "__invalid__"}
        validate_client_event(ev)
        if strict:
            validate_client_event_strict(ev)
    for ev in server.sent():
        validate_server_event(ev)


async def finish_servers(servers: list[tuple[MockRealtimeServer, bool]]) -> None:
    """Teardown of ``make_server``: validates the traffic of each server that asks for it,
    then stops every server, then raises the first validation failure.

    The validation runs first because stopping a server drops its records: after
    ``stop()``, ``received()`` and ``sent()`` return ``[]`` and nothing would be checked
    (issue 12, "The suite's own schema check does not run").
    """
    failures: list[AssertionError] = []
    for server, validate in servers:
        if validate:
            try:
                check_traffic(server)
            except AssertionError as exc:
                failures.append(exc)
    for server, _ in servers:
        with contextlib.suppress(Exception):
            await server.stop()
    if failures:
        raise failures[0]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Waits until ``predicate()`` is true (polling the loop), or fails."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met within the timeout")
        await asyncio.sleep(0.005)


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("type", "?") for e in events]


def dumps(ev: dict[str, Any]) -> str:
    return json.dumps(ev, separators=(",", ":"))


# -- server events for scripted tests (each validates against the SDK union) -------------------

_seq = 0


def _eid() -> str:
    global _seq
    _seq += 1
    return f"evt_test_{_seq}"


def ev_response_created(rid: str = "resp_1") -> dict[str, Any]:
    return {
        "type": "response.created",
        "event_id": _eid(),
        "response": {
            "id": rid,
            "object": "realtime.response",
            "status": "in_progress",
            "output": [],
        },
    }


def ev_response_done(rid: str = "resp_1", status: str = "completed") -> dict[str, Any]:
    return {
        "type": "response.done",
        "event_id": _eid(),
        "response": {
            "id": rid,
            "object": "realtime.response",
            "status": status,
            "output": [],
            "usage": {"total_tokens": 30, "input_tokens": 10, "output_tokens": 20},
        },
    }


def ev_audio_delta(
    data: bytes, rid: str = "resp_1", iid: str = "item_1", content_index: int = 0
) -> dict[str, Any]:
    import base64

    return {
        "type": "response.output_audio.delta",
        "event_id": _eid(),
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": content_index,
        "delta": base64.b64encode(data).decode(),
    }


def ev_audio_done(rid: str = "resp_1", iid: str = "item_1") -> dict[str, Any]:
    return {
        "type": "response.output_audio.done",
        "event_id": _eid(),
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": 0,
    }


def ev_speech_started(iid: str = "item_user_1") -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.speech_started",
        "event_id": _eid(),
        "audio_start_ms": 0,
        "item_id": iid,
    }


def ev_session_updated(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "session.updated",
        "event_id": _eid(),
        "session": {"type": "realtime", **session},
    }


def ev_error(code: str, message: str = "error", event_id: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": message}
    if event_id is not None:
        err["event_id"] = event_id
    return {"type": "error", "event_id": _eid(), "error": err}


def ev_transcript_delta(delta: str, rid: str = "resp_1", iid: str = "item_1") -> dict[str, Any]:
    return {
        "type": "response.output_audio_transcript.delta",
        "event_id": _eid(),
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": 0,
        "delta": delta,
    }
