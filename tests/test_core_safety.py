"""A panic anywhere in the core becomes an error and a closed connection, never a
hang; the wake-up path the loop is on is the one asked for.

The panics are hooks compiled only into test builds (the ``test-hooks`` feature,
which the test command enables): a server event of type
``realtime_ws.test.panic`` panics inside the session on a tokio thread, and
``Transport._panic_in_core()`` panics inside a call from Python.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from helpers import until
from realtime_ws import InternalError, OpenAIRealtimeWebSocket, _core
from realtime_ws._hub import hub_for_running_loop
from realtime_ws.errors import ConnectionClosedError

needs_hooks = pytest.mark.skipif(
    not _core.TEST_HOOKS, reason="build without the test-hooks feature (see scripts/test)"
)


async def _connected(make_server: Any) -> tuple[Any, OpenAIRealtimeWebSocket, list[Any]]:
    server = await make_server(validate=False, respond=False)
    ws = OpenAIRealtimeWebSocket(api_key="sk-test-123456", base_url=server.url)
    seen: list[Any] = []
    ws.on("error", lambda e: seen.append(("error", e)))
    ws.on("disconnected", lambda info: seen.append(("disconnected", info)))
    await ws.connect()
    return server, ws, seen


@needs_hooks
async def test_a_panic_on_the_socket_thread_is_an_error_and_a_disconnect(make_server) -> None:
    server, ws, seen = await _connected(make_server)
    server.send(json.dumps({"type": "realtime_ws.test.panic"}))
    await until(lambda: any(k == "disconnected" for k, _ in seen), timeout=5)
    errors = [e for k, e in seen if k == "error"]
    assert len(errors) == 1
    assert isinstance(errors[0].error, ConnectionClosedError)
    assert "internal error" in str(errors[0].error)
    assert "deliberate test panic" in str(errors[0].error)
    assert ws.status == "disconnected"
    assert ws.last_close is not None
    assert ws.last_close.error is not None
    # The transport is usable again.
    await ws.connect()
    assert ws.status == "connected"
    await ws.aclose()


@needs_hooks
async def test_a_panic_inside_a_call_raises_internal_error_and_closes(make_server) -> None:
    _server, ws, seen = await _connected(make_server)
    with pytest.raises(InternalError, match="deliberate test panic"):
        ws._core._panic_in_core()
    # The socket was failed (close 1011): the session ends, it does not linger.
    await until(lambda: any(k == "disconnected" for k, _ in seen), timeout=5)
    assert ws.status == "disconnected"


async def test_the_wake_up_path_is_the_one_asked_for() -> None:
    hub = hub_for_running_loop()
    want = "pipe" if os.environ.get("REALTIME_WS_WAKE") == "pipe" else "eventfd"
    assert hub.core.wake == want
    await asyncio.sleep(0)
