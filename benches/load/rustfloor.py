"""The floor client kinds (``rust_floor``, ``rust_floor_2w``): the pure-Rust client of
``benches/load/floor`` (tokio + tokio-tungstenite, no Python) doing the harness's traffic.

It is built by the benchmark on demand (``cargo build`` into the root's target directory,
so the dependencies the package's own build compiled are reused) and runs as the client
process of a load point in place of ``run.py --child``; it measures itself the way
``harness.run_load`` does and prints the same JSON keys. See benches/load/README.md,
"The floor".
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from clients import NATIVE
from harness import PointConfig

HERE = Path(__file__).resolve().parent
CRATE = HERE / "floor"
REPO = HERE.parents[1]
BINARY = "load-floor"
#: The profile the test command builds the package with (``maturin develop --profile ci``):
#: the floor is compiled the same way as the package it is compared with, and reuses its
#: compiled dependencies. ``release`` matches a wheel build (fat LTO).
DEFAULT_PROFILE = "ci"


class BuildError(RuntimeError):
    """The floor binary could not be built."""


def target_dir() -> Path:
    """The root crate's target directory (``CARGO_TARGET_DIR`` if set, as cargo does)."""
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else REPO / "target"


def build(profile: str = DEFAULT_PROFILE) -> tuple[Path, float]:
    """Builds the floor binary (a no-op when it is up to date); returns its path and the
    seconds the build took. Raises BuildError with cargo's last lines on failure."""
    cmd = [
        "cargo",
        "build",
        "--quiet",
        "--locked",
        "--profile",
        profile,
        "--manifest-path",
        str(CRATE / "Cargo.toml"),
    ]
    env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir())}
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - t0
    if out.returncode != 0:
        tail = " | ".join(out.stderr.strip().splitlines()[-5:])
        raise BuildError(f"building the floor failed ({' '.join(cmd)}): {tail}")
    subdir = {"dev": "debug", "test": "debug", "bench": "release"}.get(profile, profile)
    binary = target_dir() / subdir / BINARY
    if not binary.is_file():
        raise BuildError(f"cargo built the floor but {binary} is missing")
    return binary, elapsed


def command(binary: Path, cfg: PointConfig, idle: bool) -> list[str]:
    """The floor's command line for one point of client kind ``cfg.client``."""
    cmd = [
        str(binary),
        "--url",
        cfg.base_url + "/realtime?model=gpt-realtime",
        "--k",
        str(cfg.k),
        "--workers",
        str(NATIVE[cfg.client]),
        "--duration",
        repr(cfg.duration_s),
        "--warmup",
        repr(cfg.warmup_s),
        "--concurrency",
        str(cfg.concurrency),
        "--stream-s",
        repr(cfg.stream_s),
        "--server-pid",
        str(cfg.server_pid),
    ]
    if idle:
        cmd.append("--idle")
    return cmd


def normalize(res: dict[str, Any], client: str) -> dict[str, Any]:
    """The floor's JSON as a Python child's: its client name, and NaN where it has no
    value (JSON null; e.g. no event-loop thread, no latency sample)."""

    def nan(v: Any) -> Any:
        if v is None:
            return math.nan
        if isinstance(v, dict):
            return {k: nan(x) for k, x in v.items()}
        return v

    out: dict[str, Any] = nan(res)
    out["client"] = client
    return out
