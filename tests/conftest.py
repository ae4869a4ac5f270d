"""Shared fixtures: mock servers on loopback, checked for protocol validity.

Every server started through ``make_server`` is validated at teardown: each
client event it received must validate against the openai SDK's client-event
union (and its strict schema), and each event it sent against the server-event
union.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from helpers import check_traffic
from realtime_ws.testing import MockRealtimeServer

MakeServer = Callable[..., Awaitable[MockRealtimeServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    servers: list[tuple[MockRealtimeServer, bool]] = []

    async def make(*, validate: bool = True, **options: Any) -> MockRealtimeServer:
        server = MockRealtimeServer(**options)
        await server.start()
        servers.append((server, validate))
        return server

    yield make
    for server, _ in servers:
        with contextlib.suppress(Exception):
            await server.stop()
    for server, validate in servers:
        if validate:
            check_traffic(server)
