"""The suite's own protocol check (``make_server``'s teardown) really runs.

Issue 12: the teardown used to stop the servers before validating them, and a stopped
server's ``received()``/``sent()`` are empty, so nothing was checked. These tests feed the
check deliberately invalid client events and expect it to fail: through
``helpers.finish_servers`` (what the fixture calls), and end to end through the
``make_server`` fixture itself in a separate pytest run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import finish_servers
from realtime_ws import OpenAIRealtimeWebSocket
from realtime_ws.testing import MockRealtimeServer

TESTS = Path(__file__).resolve().parent

UNKNOWN_FIELD = {"type": "session.update", "session": {"type": "realtime", "bogus_field": 1}}
APPROVAL_WITHOUT_ID = {
    "type": "conversation.item.create",
    "item": {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True},
}


async def _server_that_received(event: dict[str, Any] | None) -> MockRealtimeServer:
    server = await MockRealtimeServer(respond=False).start()
    ws = OpenAIRealtimeWebSocket(api_key="sk-test", url=server.url + "?model=gpt-realtime")
    await ws.connect()
    await server.wait_for("session.update", count=2)  # the initial update and tracing
    if event is not None:
        ws.send_event(event)
        await server.wait_for(event["type"], count=3 if event["type"] == "session.update" else 1)
    await ws.aclose()
    return server


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (UNKNOWN_FIELD, "bogus_field"),
        (APPROVAL_WITHOUT_ID, "id"),
    ],
    ids=["session_update_unknown_field", "mcp_approval_response_without_id"],
)
async def test_teardown_check_rejects_invalid_client_events(
    event: dict[str, Any], message: str
) -> None:
    server = await _server_that_received(event)
    with pytest.raises(AssertionError, match=message):
        await finish_servers([(server, True)])
    assert server.received() == []  # and the server was stopped all the same


async def test_teardown_check_passes_valid_traffic_and_respects_validate_false() -> None:
    valid = await _server_that_received(None)
    assert len(valid.received()) == 2  # something real is checked
    unchecked = await _server_that_received(UNKNOWN_FIELD)
    await finish_servers([(valid, True), (unchecked, False)])


INNER_TEST = """
from realtime_ws import OpenAIRealtimeWebSocket


async def test_sends_an_invalid_event(make_server):
    server = await make_server(respond=False)
    ws = OpenAIRealtimeWebSocket(api_key="sk-test", url=server.url + "?model=gpt-realtime")
    await ws.connect()
    ws.send_event({"type": "session.update",
                   "session": {"type": "realtime", "bogus_field": 1}})
    await server.wait_for("session.update", count=3)
    await ws.aclose()
"""


def test_make_server_fixture_fails_a_test_that_sends_an_invalid_event(tmp_path: Path) -> None:
    """End to end: a test using ``make_server`` that sends an event with an unknown field
    must end with an error at teardown naming the field."""
    for name in ("conftest.py", "helpers.py", "validators.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(
            """\
            [pytest]
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = function
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "REALTIME_WS_LOOP": "asyncio"},
    )
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert "1 passed, 1 error" in out, out
    assert "bogus_field" in out, out
