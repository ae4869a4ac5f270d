"""The load benchmark's floor figures (benches/load/report.py, rustfloor.py): each client's
CPU as a multiple of the pure-Rust floor's at the same K, the issue-14 goal against it, and
the floor's command line. The floor itself runs end to end in ``run.py --quick``."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

LOAD = Path(__file__).resolve().parent / "load"
if str(LOAD) not in sys.path:
    sys.path.insert(0, str(LOAD))

import report  # noqa: E402
import rustfloor  # noqa: E402
from harness import PointConfig  # noqa: E402


def run(client: str, k: int, cpu: float, *, rx: float = 1.0, error: str = "") -> dict[str, Any]:
    """One point's result as a child reports it (only what the report reads)."""
    if error:
        return {"client": client, "k": k, "error": error}
    return {
        "client": client,
        "k": k,
        "cpu_ms_per_session_s": cpu,
        "cpu_cores": cpu * k / 1e3,
        "cpu_main_thread_cores": math.nan,
        "server_cpu_cores": 0.1,
        "latency_ms": {"p50": 1.0, "p99": 5.0, "max": 9.0, "samples": 100},
        "ticker_lag_ms": {"p99": 0.5, "max": 1.0},
        "rx_realtime_ratio": rx,
        "tx_realtime_ratio": 1.0,
        "rss_per_session_bytes": 30_000.0,
        "rss_peak_bytes": 50 * 2**20,
        "connect_ms_per_session": 0.5,
        "lost_bytes": 0,
        "lost_input_bytes": 0,
    }


def result(*runs: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": "python benches/load/run.py",
        "machine": "test",
        "date": "today",
        "config": {"duration_s": 10, "warmup_s": 1, "delta_ms": 50, "repeat": 1},
        "runs": list(runs),
        "idle": [],
        "stopped": {},
        "would_stop": {},
    }


def x_floor(res: dict[str, Any]) -> dict[tuple[str, int], float]:
    return {(r["client"], r["k"]): r["x_floor"] for r in report.rows(res)}


def test_multiple_of_the_floor_at_the_same_k() -> None:
    res = result(
        run("rust_floor", 100, 1.25),
        run("rust_floor", 500, 1.0),
        run("rust_floor_2w", 100, 1.5),
        run("realtime_ws", 100, 2.5),
        run("realtime_ws", 500, 3.0),
        run("lean_websockets", 100, 5.0),
        run("lean_websockets", 1000, 9.0),  # no floor at K=1000
    )
    x = x_floor(res)
    assert x[("rust_floor", 100)] == 1.0
    assert x[("rust_floor_2w", 100)] == pytest.approx(1.2)
    assert x[("realtime_ws", 100)] == pytest.approx(2.0)
    assert x[("realtime_ws", 500)] == pytest.approx(3.0)
    assert x[("lean_websockets", 100)] == pytest.approx(4.0)
    assert math.isnan(x[("lean_websockets", 1000)])
    s = report.summary(res)
    assert s["floor"] == "rust_floor"
    assert s["cpu_x_floor"]["realtime_ws"] == {"100": pytest.approx(2.0), "500": 3.0}
    assert "1000" not in s["cpu_x_floor"]["lean_websockets"]
    md = report.markdown({**res, "summary": s})
    assert "| CPU ms / session-s | × floor |" in md
    assert "| realtime-ws | 100 | 2.50 | 2.00 |" in md
    assert "| websockets+orjson | 1000 | 9.00 | – |" in md
    assert "realtime-ws 2.50 (2.00× floor)" in md
    # The floor's rows come first (the reference), then the Python clients.
    clients = [r["client"] for r in report.rows(res)]
    assert clients.index("rust_floor_2w") < clients.index("realtime_ws")


def test_failed_floor_point_gives_no_multiple() -> None:
    res = result(run("rust_floor", 100, 0.0, error="boom"), run("realtime_ws", 100, 2.5))
    assert math.isnan(x_floor(res)[("realtime_ws", 100)])
    md = report.markdown(res)
    assert "| Rust floor (1 worker) | 100 | – | – |" in md


def test_two_worker_floor_is_the_reference_only_without_the_one_worker_floor() -> None:
    res = result(run("rust_floor_2w", 100, 2.0), run("realtime_ws", 100, 3.0))
    assert report.floor_client(res) == "rust_floor_2w"
    assert x_floor(res)[("realtime_ws", 100)] == pytest.approx(1.5)
    assert report.floor_client(result(run("realtime_ws", 100, 3.0))) is None
    assert math.isnan(x_floor(result(run("realtime_ws", 100, 3.0)))[("realtime_ws", 100)])


def floor_goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in report.summary(res)["goals"] if "÷ Rust floor" in g["goal"]]


def test_goal_within_1_3x_of_the_floor() -> None:
    met = floor_goals(result(run("rust_floor", 100, 1.0), run("realtime_ws", 100, 1.29)))
    assert [(g["met"], g["at_most"]) for g in met] == [(True, True)]
    missed = floor_goals(
        result(
            run("rust_floor", 100, 1.0),
            run("realtime_ws", 100, 2.0),
            run("rust_floor", 500, 1.0),
            run("realtime_ws", 500, 1.1),
        )
    )
    assert [(g["goal"].split(":")[0], g["met"]) for g in missed] == [
        ("CPU/session-s at K=100", False),
        ("CPU/session-s at K=500", True),
    ]
    md = report.markdown(
        result(run("rust_floor", 100, 1.0), run("realtime_ws", 100, 2.0)),
    )
    assert "| ≤ 1.3x | 2.00x | no |" in md


def test_goal_when_the_package_fell_behind_is_a_lower_bound() -> None:
    # Behind real time, its CPU is a lower bound: under the target decides nothing ...
    under = floor_goals(result(run("rust_floor", 100, 1.0), run("realtime_ws", 100, 1.2, rx=0.5)))
    assert under[0]["met"] is None
    assert "lower bound" in under[0]["note"]
    # ... over it, the goal is missed whatever the real figure.
    over = floor_goals(result(run("rust_floor", 100, 1.0), run("realtime_ws", 100, 1.5, rx=0.5)))
    assert over[0]["met"] is False


def test_at_least_goals_unchanged() -> None:
    # The "≥" goals keep their meaning next to the new "≤" one.
    s = report.summary(
        result(
            run("rust_floor", 100, 1.0), run("realtime_ws", 100, 1.0), run("openai_sdk", 100, 12)
        )
    )
    sdk = next(g for g in s["goals"] if "openai SDK ÷" in g["goal"])
    assert (sdk["met"], sdk["at_most"]) == (True, False)

    def sdk_goal(cpu: float) -> Any:
        behind = run("openai_sdk", 100, cpu, rx=0.5)  # a lower bound
        s = report.summary(result(run("realtime_ws", 100, 1.0), behind))
        return next(g["met"] for g in s["goals"] if "openai SDK ÷" in g["goal"])

    # A lower bound at or over an "at least" target meets it; under it, decides nothing.
    assert sdk_goal(12.0) is True
    assert sdk_goal(8.0) is None


def test_legend_gives_the_multiple() -> None:
    res = result(run("rust_floor", 100, 1.0), run("realtime_ws", 100, 2.25))
    s = report.summary(res)
    assert report.legend_label("realtime_ws", s) == "realtime-ws (2.25× floor at K=100)"
    assert report.legend_label("openai_sdk", s) == "openai SDK"


def test_floor_command_line() -> None:
    cfg = PointConfig(
        client="rust_floor_2w",
        k=100,
        base_url="ws://127.0.0.1:5000/v1",
        delta_ms=50,
        duration_s=10.0,
        warmup_s=1.0,
        concurrency=50,
        stream_s=14.5,
        server_pid=77,
    )
    cmd = rustfloor.command(Path("/x/load-floor"), cfg, idle=False)
    opts = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert cmd[0] == "/x/load-floor"
    assert opts["--url"] == "ws://127.0.0.1:5000/v1/realtime?model=gpt-realtime"
    assert (opts["--k"], opts["--workers"], opts["--server-pid"]) == ("100", "2", "77")
    assert (opts["--duration"], opts["--stream-s"]) == ("10.0", "14.5")
    assert rustfloor.command(Path("b"), cfg, idle=True)[-1] == "--idle"
    one = rustfloor.command(
        Path("b"), PointConfig(**{**cfg.__dict__, "client": "rust_floor"}), False
    )
    assert one[one.index("--workers") + 1] == "1"


def test_floor_output_normalised() -> None:
    out = rustfloor.normalize(
        {"k": 3, "cpu_main_thread_cores": None, "latency_ms": {"p50": None, "samples": 0}},
        "rust_floor",
    )
    assert out["client"] == "rust_floor"
    assert math.isnan(out["cpu_main_thread_cores"])
    assert math.isnan(out["latency_ms"]["p50"])
    assert out["latency_ms"]["samples"] == 0
