"""Multi-session load benchmark: K concurrent full-duplex voice sessions per client process.

For each client kind and each K, in a fresh client process against a fresh mock server
process (``python -m realtime_ws mock --stream-audio-s ...``): K sessions each receive
24 kHz PCM16 audio deltas paced in real time (``--delta-ms``, 50 by default, with
transcript deltas interleaved) and send 20 ms of audio every 20 ms. Measured per point:
client CPU per session-second, delivery latency (server send time to the user callback),
RSS, connect time, and lost bytes (the client's count against the server's /stats).
The floor kinds (``rust_floor``, ``rust_floor_2w``) are a pure-Rust client doing the same
traffic (benches/load/floor, built here on demand); every client's CPU is also shown as a
multiple of ``rust_floor``'s at the same K. See benches/load/README.md.

Run:  python benches/load/run.py                 full sweep (K = 10..2000), writes
                                                 benches/load/results/latest.{json,md,png}
      python benches/load/run.py --quick         CI smoke: K = 10, 50; 5 s windows;
                                                 results/quick.{json,md}; asserts only
                                                 hard facts (zero lost bytes, every
                                                 point completed)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import clients  # noqa: E402
import report  # noqa: E402
import rustfloor  # noqa: E402
from harness import PointConfig  # noqa: E402
from mockproc import MockProcess  # noqa: E402

RESULTS = HERE / "results"
FULL_KS = [10, 100, 500, 1000, 2000]
QUICK_KS = [10, 50]
QUICK_CLIENTS = ["rust_floor", "realtime_ws", "lean_websockets", "openai_sdk"]
#: Saturation rule: stop increasing K for a client past either.
CPU_LIMIT_CORES = 0.95
P99_LIMIT_MS = 50.0


# -- one point --------------------------------------------------------------------------------


def run_child(
    cfg: PointConfig, idle: bool, timeout: float, floor_bin: Path | None = None
) -> dict[str, Any]:
    """Runs one point in a fresh process; returns its JSON (or ``{"error": ...}``). A
    floor kind's process is the Rust binary itself (``floor_bin``), not a Python child."""
    native = cfg.client in clients.NATIVE
    if native:
        if floor_bin is None:
            return {"error": "the floor binary was not built"}
        cmd = rustfloor.command(floor_bin, cfg, idle)
    else:
        cmd = [sys.executable, __file__, "--child", json.dumps(asdict(cfg))]
        if idle:
            cmd.append("--child-idle")
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=HERE
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit code {out.returncode}"}
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return rustfloor.normalize(res, cfg.client) if native else res


def load_point(
    client: str, k: int, args: argparse.Namespace, connect_s_per_session: float
) -> dict[str, Any]:
    """One load point: a fresh server streaming long enough to cover connect + warm-up +
    window for the first-connected session, then the client process."""
    connect_budget = 1.0 + 3.0 * connect_s_per_session * k
    for _attempt in range(2):
        stream_s = connect_budget + args.warmup + args.duration + 2.0
        cfg = PointConfig(
            client=client,
            k=k,
            base_url="",
            delta_ms=args.delta_ms,
            duration_s=args.duration,
            warmup_s=args.warmup,
            concurrency=args.concurrency,
            stream_s=stream_s,
        )
        server_args = ["--stream-audio-s", f"{stream_s:.1f}", "--chunk-ms", str(args.delta_ms)]
        server_args += ["--text", "The quick brown fox jumps over the lazy dog."]
        with MockProcess(*server_args) as server:
            assert server.proc is not None
            cfg = PointConfig(
                **{**asdict(cfg), "base_url": server.base_url, "server_pid": server.proc.pid}
            )
            res = run_child(
                cfg, idle=False, timeout=stream_s + 180 + k * 0.1, floor_bin=args.floor_bin
            )
            stats = _settled_stats(server, res)
        if "error" in res:
            res.update(client=client, k=k)
            return res
        if res["streams_done_before_window_end"] == 0:
            break
        # A stream ended inside the window: the connect phase took longer than budgeted.
        connect_budget = 2.0 + 3.0 * res["connect_s"]
    else:
        res["error"] = "streams ended inside the window twice (connect phase too slow)"
    sent = int(stats.get("audio_bytes_sent", 0))
    appended = int(stats.get("audio_bytes_received", 0))
    res["server"] = {
        "audio_bytes_sent": sent,
        "audio_deltas_sent": stats.get("audio_deltas_sent"),
        "audio_bytes_received": appended,
        "connections_total": stats.get("connections_total"),
    }
    res["lost_bytes"] = sent - res["audio_bytes_received"]
    res["lost_input_bytes"] = res["audio_bytes_appended"] - appended
    if res["streams_done"] < k and "error" not in res:
        # Not a loss: the client was still behind when the wait for the end ran out.
        res["error"] = f"only {res['streams_done']}/{k} streams had ended after the wait"
    return res


def _settled_stats(server: MockProcess, res: dict[str, Any]) -> dict[str, Any]:
    """The server's counters once every connection has closed (the client process has
    exited, but the server may still be reading the last appends)."""
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


def idle_point(client: str, k: int, args: argparse.Namespace) -> dict[str, Any]:
    with MockProcess() as server:
        cfg = PointConfig(
            client=client,
            k=k,
            base_url=server.base_url,
            delta_ms=args.delta_ms,
            concurrency=args.concurrency,
        )
        res = run_child(cfg, idle=True, timeout=120 + k * 0.1, floor_bin=args.floor_bin)
    res.setdefault("client", client)
    res.setdefault("k", k)
    return res


def stop_reason(row: dict[str, Any]) -> str | None:
    """Why K should not grow further for this client, or None."""
    if "error" in row:
        return f"error: {row['error']}"
    if row["cpu_cores"] >= CPU_LIMIT_CORES:
        return f"client CPU {row['cpu_cores']:.2f} ≥ {CPU_LIMIT_CORES} core"
    if row["latency_ms"]["p99"] > P99_LIMIT_MS:
        return f"p99 {row['latency_ms']['p99']:.0f} ms > {P99_LIMIT_MS:.0f} ms"
    return None


# -- the sweep ----------------------------------------------------------------------------------


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    names: list[str] = []
    skipped: dict[str, str] = {}
    for name in args.clients:
        why = clients.available(name)
        if why is None:
            names.append(name)
        else:
            skipped[name] = why
            print(f"skipping {name}: {why}", flush=True)
    floor: dict[str, Any] = {}
    if any(n in clients.NATIVE for n in names):
        # Built before any point (a no-op when up to date), never inside a measurement.
        args.floor_bin, build_s = rustfloor.build(args.floor_profile)
        floor = {"profile": args.floor_profile, "build_s": build_s, "binary": str(args.floor_bin)}
        print(f"rust floor: {args.floor_bin} ({args.floor_profile}) in {build_s:.1f} s", flush=True)
    runs: list[dict[str, Any]] = []
    stopped: dict[str, str] = {}
    would_stop: dict[str, str] = {}  # with --no-stop: where the rule would have stopped
    # Connect seconds per session, for the stream length; refined from each measured point
    # (a stream that ends inside the window makes the point rerun with a longer one).
    connect_est = dict.fromkeys(names, 0.01)
    for k in args.ks:
        active = [n for n in names if n not in stopped]
        if not active:
            break
        for rep in range(args.repeat):
            # Rotate the order each repeat so machine drift hits every client alike.
            order = active[rep % len(active) :] + active[: rep % len(active)]
            for name in order:
                t0 = time.monotonic()
                res = load_point(name, k, args, connect_est[name])
                res["repeat"] = rep
                runs.append(res)
                if "error" not in res:
                    connect_est[name] = max(res["connect_s"] / k, 0.002)
                print(report.progress_line(res, time.monotonic() - t0), flush=True)
        for name in active:
            row = report.aggregate([r for r in runs if r["client"] == name and r["k"] == k])
            why = stop_reason(row)
            if why is not None and args.no_stop and "error" not in row:
                print(f"  {name}: would stop at K={k} ({why}); --no-stop", flush=True)
                would_stop.setdefault(name, f"K={k}: {why}")
            elif why is not None:
                stopped[name] = f"K={k}: {why}"
                print(f"  {name}: stop at K={k} ({why})", flush=True)
    idle: list[dict[str, Any]] = []
    if args.idle_k > 0:
        for rep in range(args.repeat):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for name in order:
                res = idle_point(name, args.idle_k, args)
                res["repeat"] = rep
                idle.append(res)
                print(report.idle_line(res), flush=True)
    return {
        "command": "python benches/load/run.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "config": {
            "ks": args.ks,
            "clients": names,
            "skipped": skipped,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "delta_ms": args.delta_ms,
            "input_chunk_ms": 20,
            "connect_concurrency": args.concurrency,
            "repeat": args.repeat,
            "idle_k": args.idle_k,
            "cpu_limit_cores": CPU_LIMIT_CORES,
            "p99_limit_ms": P99_LIMIT_MS,
            "no_stop": args.no_stop,
            "floor": floor,
        },
        "runs": runs,
        "idle": idle,
        "stopped": stopped,
        "would_stop": would_stop,
    }


def _raise_fd_limit() -> None:
    """K sessions need K sockets in the client and K in the server (children inherit this
    limit); a soft limit of 1024 would cap K far below the sweep."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _strict(obj: Any) -> Any:
    """NaN (a metric with no sample) as null, so the result file is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strict(v) for v in obj]
    return obj


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), "
        f"Python {platform.python_version()}"
    )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="CI smoke run (see above)")
    p.add_argument(
        "--clients",
        type=lambda s: s.split(","),
        help=f"comma-separated, from {','.join(clients.KINDS)} (default: all; quick: "
        f"{','.join(QUICK_CLIENTS)})",
    )
    p.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], help="session counts")
    p.add_argument("--duration", type=float, help="measurement window, s (default 10; quick 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="s before the window (default 1)")
    p.add_argument("--idle-k", type=int, help="idle sessions (default 500; quick 50; 0: skip)")
    p.add_argument("--delta-ms", type=int, default=50, help="audio per server delta (default 50)")
    p.add_argument("--repeat", type=int, default=1, help="runs per (client, K) (default 1)")
    p.add_argument("--concurrency", type=int, default=50, help="connects in flight (default 50)")
    p.add_argument(
        "--no-stop",
        action="store_true",
        help="run every K for every client even past the saturation rule (not past errors)",
    )
    p.add_argument(
        "--floor-profile",
        default=rustfloor.DEFAULT_PROFILE,
        help="cargo profile of the Rust floor client (default: ci, the profile the test "
        "command builds the package with; release: fat LTO, as a wheel)",
    )
    p.add_argument("--out", type=Path, help="results stem (default results/latest|quick)")
    p.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only re-render the .md/.png of an existing result JSON (no measurement)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-idle", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        from harness import child_main

        cfg = PointConfig(**json.loads(args.child))
        print(json.dumps(child_main(cfg, args.child_idle)))
        return 0

    if args.render:
        result = json.loads(args.render.read_text())
        result["summary"] = report.summary(result)
        args.render.write_text(json.dumps(_strict(result), indent=2) + "\n")
        args.render.with_suffix(".md").write_text(report.markdown(result))
        if "--quick" not in result["command"]:
            report.plot(result, args.render.with_suffix(".png"))
        print(report.markdown(result))
        return 0

    args.clients = args.clients or (QUICK_CLIENTS if args.quick else list(clients.KINDS))
    unknown = [c for c in args.clients if c not in clients.KINDS]
    if unknown:
        p.error(f"unknown client(s) {unknown}; known: {clients.KINDS}")
    args.ks = args.ks or (QUICK_KS if args.quick else FULL_KS)
    args.duration = args.duration or (5.0 if args.quick else 10.0)
    if args.idle_k is None:
        args.idle_k = 50 if args.quick else 500
    stem = args.out or RESULTS / ("quick" if args.quick else "latest")

    _raise_fd_limit()
    args.floor_bin = None
    t0 = time.monotonic()
    try:
        result = sweep(args)
    except rustfloor.BuildError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    result["summary"] = report.summary(result)
    result["elapsed_s"] = time.monotonic() - t0
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(_strict(result), indent=2) + "\n")
    md = report.markdown(result)
    stem.with_suffix(".md").write_text(md)
    if not args.quick:
        report.plot(result, stem.with_suffix(".png"))
    print()
    print(md)
    print(f"wrote {stem}.json/.md{'' if args.quick else '/.png'} in {result['elapsed_s']:.0f} s")
    failures = report.hard_failures(result)
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    # Quick mode (CI) fails only on hard facts; the full sweep reports and exits 0 unless
    # bytes were lost, which is a bug whatever the load.
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
