"""The suite really runs on both loops (see conftest.pytest_asyncio_loop_factories)."""

from __future__ import annotations

import asyncio

import pytest


async def test_the_running_loop_is_the_one_in_the_test_id(request: pytest.FixtureRequest) -> None:
    loop = asyncio.get_running_loop()
    module = type(loop).__module__
    name = request.node.callspec.id if hasattr(request.node, "callspec") else "asyncio"
    if "uvloop" in name:
        assert module.startswith("uvloop"), module
    else:
        assert module.startswith("asyncio"), module
