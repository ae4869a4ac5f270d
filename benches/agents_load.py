"""K concurrent openai-agents RealtimeSessions: openai-agents' own model against
``realtime_ws.agents.OpenAIRealtimeWebSocketModel``, in one run.

Each point is the load benchmark's (``benches/load``, same harness and mock server, each
in its own process): K full-duplex sessions, the mock streaming 50 ms audio deltas (with a
transcript delta before each) to every session in real time while one ticker sends every
session 20 ms of audio every 20 ms. The difference from ``benches/load`` is the user code:
here each session is a ``RealtimeSession`` from ``RealtimeRunner`` (the only change between
the two clients is the model passed to the runner), iterated by one task per session
(``benches/load/clients/agents_session.py``). Measured per point: client CPU per
session-second (all threads) and the delivery latency of each audio delta, server send
time to the ``RealtimeAudio`` event in the user's loop.

For each K the two clients run alternately (``--repeat`` times, the order swapped each
time); a client's figure is its best run (lowest CPU, and that run's latency), and the
ratio is original ÷ realtime-ws within this one invocation.

Run:  python benches/agents_load.py                  K = 10, 50, 100; 10 s windows; best of 2
      python benches/agents_load.py --quick          CI smoke (~25 s): K = 10, one run each,
                                                     3 s windows; asserts only hard facts
                                                     (every point completed, no byte lost)
Writes benches/results/agents_load.json (--quick: agents_load_quick.json, not committed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOAD = HERE / "load"
if str(LOAD) not in sys.path:
    sys.path.insert(0, str(LOAD))

import clients  # noqa: E402
from harness import PointConfig  # noqa: E402
from mockproc import MockProcess  # noqa: E402

RESULTS = HERE / "results"
ORIGINAL = "agents_original"
OURS = "agents_realtime_ws"
#: The same sessions and user loop on a model with no transport and no work: what
#: RealtimeSession and the user's loop cost by themselves, the floor under any model.
FLOOR = "agents_session_floor"
NAMES = [ORIGINAL, OURS, FLOOR]


def _use_agents_clients() -> None:
    """Points the load harness at the two RealtimeSession clients."""
    from clients.agents_session import CLIENTS

    clients.load = CLIENTS.__getitem__  # type: ignore[assignment]


def run_child(cfg: PointConfig, timeout: float, stream_s: float = 0.0) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(asdict(cfg))]
    # Agents' trace export would try to reach the network; the sessions here are local.
    env = {**os.environ, "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    env["AGENTS_FLOOR_STREAM_S"] = f"{stream_s:.1f}"
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=LOAD
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit code {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def point(name: str, k: int, args: argparse.Namespace) -> dict[str, Any]:
    """One (client, K) point against a fresh mock server process."""
    # Long enough for the connects (RealtimeSession setup included), the warm-up and the
    # window; every stream then ends by itself and the harness waits for all of them.
    stream_s = 2.0 + 0.03 * k + args.warmup + args.duration + 2.0
    if name == FLOOR:
        cfg = PointConfig(
            client=name,
            k=k,
            base_url="ws://127.0.0.1:9/v1",  # never connected to
            delta_ms=50,
            duration_s=args.duration,
            warmup_s=args.warmup,
            stream_s=stream_s,
        )
        res = run_child(cfg, timeout=stream_s + 120 + k * 0.2, stream_s=stream_s)
        res.setdefault("client", name)
        res.setdefault("k", k)
        if "error" not in res:
            res["lost_bytes"] = res["lost_input_bytes"] = 0  # nothing crosses a socket
        return res
    server_args = ["--stream-audio-s", f"{stream_s:.1f}", "--chunk-ms", "50"]
    server_args += ["--text", "The quick brown fox jumps over the lazy dog."]
    with MockProcess(*server_args) as server:
        assert server.proc is not None
        cfg = PointConfig(
            client=name,
            k=k,
            base_url=server.base_url,
            delta_ms=50,
            duration_s=args.duration,
            warmup_s=args.warmup,
            concurrency=50,
            stream_s=stream_s,
            server_pid=server.proc.pid,
        )
        res = run_child(cfg, timeout=stream_s + 120 + k * 0.2)
        stats = _settled(server)
    res.setdefault("client", name)
    res.setdefault("k", k)
    if "error" in res:
        return res
    res["lost_bytes"] = int(stats.get("audio_bytes_sent", 0)) - res["audio_bytes_received"]
    res["lost_input_bytes"] = res["audio_bytes_appended"] - int(
        stats.get("audio_bytes_received", 0)
    )
    if res["streams_done_before_window_end"]:
        res["error"] = "a stream ended inside the window (connects slower than budgeted)"
    elif res["streams_done"] < k:
        res["error"] = f"only {res['streams_done']}/{k} streams ended"
    return res


def _settled(server: MockProcess) -> dict[str, Any]:
    """The server's counters once every connection is closed."""
    stats: dict[str, Any] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            stats = server.stats()
        except OSError:
            return stats
        if stats.get("connections_open", 0) == 0:
            break
        time.sleep(0.1)
    return stats


def best(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [r for r in runs if "error" not in r]
    return min(ok, key=lambda r: r["cpu_ms_per_session_s"]) if ok else None


def progress(r: dict[str, Any], elapsed: float) -> str:
    head = f"{r['client']:>20} K={r['k']:<4}"
    if "error" in r:
        return f"{head} ERROR {r['error']} ({elapsed:.0f} s)"
    lat = r["latency_ms"]
    return (
        f"{head} cpu {r['cpu_ms_per_session_s']:6.2f} ms/session-s ({r['cpu_cores']:.2f} cores,"
        f" server {r['server_cpu_cores']:.2f})  p50/p99 {lat['p50']:6.1f}/{lat['p99']:6.1f} ms"
        f"  rx {r['rx_realtime_ratio']:.3f}x tx {r['tx_realtime_ratio']:.3f}x"
        f"  lost {r['lost_bytes']}/{r['lost_input_bytes']}  ({elapsed:.0f} s)"
    )


def table(result: dict[str, Any]) -> str:
    lines = [
        "| K | openai-agents model: CPU / p99 | realtime_ws.agents: CPU / p99 | CPU ratio "
        "| session floor: CPU / p99 | ratio ceiling |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        o, r, f = row.get(ORIGINAL), row.get(OURS), row.get(FLOOR)
        cells = []
        for b in (o, r, f):
            cells.append(
                "failed"
                if b is None
                else f"{b['cpu_ms_per_session_s']:.2f} ms / {b['latency_ms']['p99']:.0f} ms"
                + (" ⚠" if b["cpu_cores"] >= 0.95 or b["rx_realtime_ratio"] < 0.98 else "")
            )
        ratio, ceiling = row.get("cpu_ratio"), row.get("ceiling")
        lines.append(
            f"| {row['k']} | {cells[0]} | {cells[1]} | "
            f"{'—' if ratio is None else f'{ratio:.2f}x less'} | {cells[2]} | "
            f"{'—' if ceiling is None else f'{ceiling:.2f}x'} |"
        )
    lines.append("")
    lines.append(
        "CPU: ms per session-second, all client threads; p99: audio delta delivery, server "
        "send to the user's loop. ⚠: the client saturated a core or fell behind real time "
        "(its CPU is then a lower bound). Session floor: the same RealtimeSessions and user "
        "loop on a model with no transport that emits what realtime_ws.agents emits; ratio "
        "ceiling: openai-agents model ÷ floor, the most any model could save."
    )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="CI smoke run (see above)")
    p.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], help="session counts")
    p.add_argument("--duration", type=float, help="window, s (default 10; quick 3)")
    p.add_argument("--warmup", type=float, default=1.0, help="s before the window (default 1)")
    p.add_argument("--repeat", type=int, help="alternating runs per K (default 2; quick 1)")
    p.add_argument("--out", type=Path, help="result JSON path")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        _use_agents_clients()
        from harness import child_main

        print(json.dumps(child_main(PointConfig(**json.loads(args.child)), False)))
        return 0

    ks = args.ks or ([10] if args.quick else [10, 50, 100])
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    repeat = args.repeat or (1 if args.quick else 2)
    out = args.out or RESULTS / ("agents_load_quick.json" if args.quick else "agents_load.json")
    t0 = time.monotonic()
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for k in ks:
        for rep in range(repeat):
            for name in NAMES[rep % 3 :] + NAMES[: rep % 3] if rep % 2 == 0 else NAMES[::-1]:
                t1 = time.monotonic()
                res = point(name, k, args)
                res["repeat"] = rep
                runs.append(res)
                print(progress(res, time.monotonic() - t1), flush=True)
        row: dict[str, Any] = {"k": k}
        for name in NAMES:
            row[name] = best([r for r in runs if r["client"] == name and r["k"] == k])
        o, r, f = row[ORIGINAL], row[OURS], row[FLOOR]
        row["cpu_ratio"] = (
            o["cpu_ms_per_session_s"] / r["cpu_ms_per_session_s"] if o and r else None
        )
        row["ceiling"] = o["cpu_ms_per_session_s"] / f["cpu_ms_per_session_s"] if o and f else None
        rows.append(row)
    result = {
        "command": "python benches/agents_load.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "config": {
            "ks": ks,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeat": repeat,
            "delta_ms": 50,
            "input_chunk_ms": 20,
        },
        "rows": rows,
        "runs": runs,
        "elapsed_s": time.monotonic() - t0,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_strict(result), indent=2) + "\n")
    print()
    print(table(result))
    print(f"\nwrote {out} in {result['elapsed_s']:.0f} s")
    failures = [f"{r['client']} K={r['k']}: {r['error']}" for r in runs if "error" in r] + [
        f"{r['client']} K={r['k']}: lost {r['lost_bytes']} bytes out, {r['lost_input_bytes']} in"
        for r in runs
        if "error" not in r and (r["lost_bytes"] or r["lost_input_bytes"])
    ]
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


def _strict(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strict(v) for v in obj]
    return obj


if __name__ == "__main__":
    sys.exit(main())
