"""One module per client kind, each with a ``Client`` class of the same shape
(see :mod:`clients.base`). Imported lazily: each point runs in its own process and
imports only the client it measures."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

#: Command-line name -> module. The order is the order of the tables and plots.
MODULES = {
    "realtime_ws": "clients.realtime_ws",
    "openai_sdk": "clients.openai_sdk",
    "openai_agents": "clients.openai_agents",
    "lean_websockets": "clients.lean_websockets",
    "picows": "clients.picows_client",
}

#: Labels for tables and plots.
LABELS = {
    "realtime_ws": "realtime-ws",
    "openai_sdk": "openai SDK",
    "openai_agents": "openai-agents",
    "lean_websockets": "websockets+orjson",
    "picows": "picows+orjson",
}


def load(name: str) -> Any:
    """The ``Client`` class of ``name`` (ImportError if its package is missing)."""
    return importlib.import_module(MODULES[name]).Client


#: The packages each client needs (checked without importing them: the driver process
#: stays light, and each point imports only its own client).
REQUIRES = {
    "realtime_ws": ("realtime_ws",),
    "openai_sdk": ("openai", "websockets"),
    "openai_agents": ("agents", "websockets"),
    "lean_websockets": ("websockets", "orjson"),
    "picows": ("picows", "orjson"),
}


def available(name: str) -> str | None:
    """None if ``name``'s packages are installed here, else what is missing."""
    missing = [m for m in REQUIRES[name] if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)}" if missing else None
