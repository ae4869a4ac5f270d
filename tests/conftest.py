"""Shared fixtures: mock servers on loopback, checked for protocol validity.

Every server started through ``make_server`` is validated at teardown, before it
is stopped (stopping drops its records): each client event it received must
validate against the openai SDK's client-event union (and its strict schema), and
each event it sent against the server-event union.

Event loops: every async test runs twice, on the default asyncio loop and on
uvloop (test ids end in ``[asyncio]`` / ``[uvloop]``). ``REALTIME_WS_LOOP=asyncio``
or ``=uvloop`` runs only one of them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from helpers import finish_servers
from realtime_ws.testing import MockRealtimeServer

MakeServer = Callable[..., Awaitable[MockRealtimeServer]]

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    only = os.environ.get("REALTIME_WS_LOOP")
    if only is None:
        return LOOPS
    if only not in LOOPS:
        raise pytest.UsageError(f"REALTIME_WS_LOOP must be one of {sorted(LOOPS)}, not {only!r}")
    return {only: LOOPS[only]}


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    servers: list[tuple[MockRealtimeServer, bool]] = []

    async def make(*, validate: bool = True, **options: Any) -> MockRealtimeServer:
        server = MockRealtimeServer(**options)
        await server.start()
        servers.append((server, validate))
        return server

    yield make
    await finish_servers(servers)
