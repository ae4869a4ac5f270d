"""One module per client kind, each with a ``Client`` class of the same shape
(see :mod:`clients.base`). Imported lazily: each point runs in its own process and
imports only the client it measures."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from typing import Any

#: Command-line name -> module, for the Python clients.
MODULES = {
    "realtime_ws": "clients.realtime_ws",
    "openai_sdk": "clients.openai_sdk",
    "openai_agents": "clients.openai_agents",
    "lean_websockets": "clients.lean_websockets",
    "picows": "clients.picows_client",
}

#: Client kinds that are not Python: the pure-Rust floor (benches/load/floor, run by
#: rustfloor.py), by its tokio worker count. ``rust_floor`` is the reference every
#: client's "× floor" is computed against.
NATIVE = {"rust_floor": 1, "rust_floor_2w": 2}

#: Every client kind; the order is the order of the tables and plots (the floor first).
KINDS = [*NATIVE, *MODULES]

#: Labels for tables and plots.
LABELS = {
    "rust_floor": "Rust floor (1 worker)",
    "rust_floor_2w": "Rust floor (2 workers)",
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
    """None if ``name``'s packages are installed here (for the floor: cargo, to build
    it), else what is missing."""
    if name in NATIVE:
        return None if shutil.which("cargo") else "cargo not found (the floor is built with it)"
    missing = [m for m in REQUIRES[name] if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)}" if missing else None
