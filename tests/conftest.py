"""Shared fixtures: mock servers on loopback, checked for protocol validity.

Every server started through ``make_server`` is validated at teardown, before it
is stopped (stopping drops its records): each client event it received must
validate against the openai SDK's client-event union (and its strict schema), and
each event it sent against the server-event union.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from helpers import finish_servers
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
    await finish_servers(servers)
