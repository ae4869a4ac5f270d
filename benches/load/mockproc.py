"""The mock server in its own process, for the benchmarks (``benches/load`` and
``benches/session_basics.py``): it must never compete with the client for the GIL."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any


class MockProcess:
    """``python -m realtime_ws mock`` in its own process, on a free loopback port."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.stats_url = ""

    def __enter__(self) -> MockProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_ws", "mock", "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        for word in line.split():
            word = word.rstrip(".,)")
            if word.startswith("ws://"):
                self.url = word
            elif word.startswith("http://"):
                self.stats_url = word
        if not self.url or not self.stats_url:
            self.proc.kill()
            raise RuntimeError(f"mock server did not start: {line!r}")
        return self

    @property
    def base_url(self) -> str:
        """``ws://HOST:PORT/v1``."""
        return self.url.rsplit("/realtime", 1)[0]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.stats_url, timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
