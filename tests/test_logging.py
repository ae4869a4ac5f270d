"""Rust log records reach Python ``logging`` under ``realtime_ws.core.*``, in batches
with the loop's events, filtered by the Python loggers' level, and never with a key."""

from __future__ import annotations

import logging

import pytest

from helpers import until
from realtime_ws import OpenAIRealtimeWebSocket, _core, _logbridge

KEY = "sk-test-logging-0123456789"


@pytest.fixture(autouse=True)
def _no_leftover_records(caplog: pytest.LogCaptureFixture) -> None:
    _logbridge.flush()  # nothing left over from earlier tests
    caplog.clear()


async def test_core_debug_records_reach_python_when_enabled(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server()
    with caplog.at_level(logging.DEBUG, logger="realtime_ws"):
        url = f"{server.url}?model=gpt-realtime&api-key={KEY}"
        ws = OpenAIRealtimeWebSocket(api_key=KEY, url=url)
        await ws.connect()
        await ws.aclose()

        def core() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name.startswith("realtime_ws.core.")]

        await until(lambda: any("closed" in r.getMessage() for r in core()))
    names = {r.name for r in core()}
    assert "realtime_ws.core.bindings.transport" in names, names
    opened = [r.getMessage() for r in core() if " open (" in r.getMessage()]
    assert opened, [r.getMessage() for r in core()]
    assert all(r.levelno == logging.DEBUG for r in core())
    # The URL is logged without its query string; the key is nowhere.
    assert all(KEY not in r.getMessage() for r in caplog.records)


async def test_core_records_below_the_python_level_are_not_even_formatted(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server()
    with caplog.at_level(logging.WARNING, logger="realtime_ws"):
        ws = OpenAIRealtimeWebSocket(api_key=KEY, url=server.url)
        await ws.connect()
        await ws.aclose()
        # The core's filter is at WARNING now: its debug records are dropped in Rust.
        assert _core.take_logs() == ([], 0)
    assert [r for r in caplog.records if r.name.startswith("realtime_ws.core.")] == []
