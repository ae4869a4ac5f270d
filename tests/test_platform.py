"""Windows is refused at import with a clear message (python/realtime_ws/_platform.py).

The core wakes the asyncio loop with ``loop.add_reader`` on an eventfd/pipe, which no Windows
event loop can watch; importing the package there must say so before anything else fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from realtime_ws import _platform
from realtime_ws._platform import UnsupportedPlatformError, check_platform


def test_windows_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(UnsupportedPlatformError) as info:
        check_platform()
    err = info.value
    assert isinstance(err, ImportError)  # what `import` callers expect to catch
    assert err.name == "realtime_ws"
    message = str(err)
    for needle in ("Windows", "Linux and macOS", "add_reader", "ProactorEventLoop", "WSL"):
        assert needle in message, (needle, message)


@pytest.mark.parametrize("platform", ["linux", "darwin", "freebsd14", "cygwin"])
def test_posix_platforms_pass(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    check_platform()  # no exception


def test_only_windows_is_on_the_refusal_list() -> None:
    assert set(_platform.UNSUPPORTED) == {"win32"}


def test_import_on_windows_fails_before_the_native_core_loads(tmp_path: Path) -> None:
    """`import realtime_ws` itself refuses (the check runs first in __init__), in a fresh
    interpreter that believes it is on Windows; `_core` has not been loaded by then."""
    code = textwrap.dedent(
        """
        import json, sys
        sys.platform = "win32"
        try:
            import realtime_ws
        except ImportError as exc:
            result = {"type": type(exc).__name__, "message": str(exc)}
        else:
            result = {"type": None, "message": ""}
        result["core_loaded"] = "realtime_ws._core" in sys.modules
        print(json.dumps(result))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "UnsupportedPlatformError", result
    assert "Linux and macOS" in result["message"]
    assert result["core_loaded"] is False, "the native core was imported before the check"


def test_import_on_this_platform_is_unaffected() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import realtime_ws; print(realtime_ws.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip()
