"""Refuses platforms the core cannot run on, at import, with one clear sentence.

The Rust core wakes the asyncio loop by writing to an eventfd (Linux) or a pipe (macOS and
other POSIX systems) that the loop watches with ``loop.add_reader``. Windows has neither a
loop that can do that (the default ``ProactorEventLoop`` has no ``add_reader``; the
``SelectorEventLoop``'s ``select()`` watches sockets only, not pipes) nor a wheel of this
package, so importing it there raises :class:`UnsupportedPlatformError` instead of failing
later with a less helpful error.

Importing this module runs the check, so ``realtime_ws/__init__.py`` needs one line, before
anything that loads ``_core``: ``from . import _platform``.
"""

from __future__ import annotations

import sys

#: ``sys.platform`` values refused, with the reason shown to the user.
UNSUPPORTED = {
    "win32": (
        "realtime-ws supports Linux and macOS only, not Windows: its Rust core wakes the "
        "asyncio event loop through loop.add_reader() on an eventfd/pipe, which Windows "
        "event loops cannot watch (the default ProactorEventLoop has no add_reader, and the "
        "SelectorEventLoop watches sockets only). On Windows, run it under WSL2."
    ),
}


class UnsupportedPlatformError(ImportError):
    """``import realtime_ws`` on a platform the core cannot run on (Windows)."""


def check_platform() -> None:
    """Raises :class:`UnsupportedPlatformError` on Windows; returns on every other platform.

    Reads ``sys.platform`` at call time (so tests can patch it).
    """
    reason = UNSUPPORTED.get(sys.platform)
    if reason is not None:
        raise UnsupportedPlatformError(reason, name="realtime_ws")


check_platform()
