"""Two figures for one session, next to the official ``openai`` SDK measured in the same run.

1. Events per second through the Python callback path: the mock server (its own
   process) sends one response of N audio deltas (20 ms each) as fast as it can;
   the client counts them in a user callback that touches the data. Reported:
   events/s and client CPU µs per event (user+sys of the client process).
2. Idle memory per open session: K sessions connected and idle in a fresh process;
   (RSS after - RSS before) / K. Both clients connect with at most CONNECTS_IN_FLIGHT
   handshakes at once (as the load benchmark does): RSS keeps the high-water mark of the
   connect phase, so an unbounded burst measures handshake transients, not sessions.

Run:  python benches/session_basics.py            (N=5000 events, K=200 sessions)
      python benches/session_basics.py --quick    (N=1000, K=40; what CI runs)
Writes benches/results/session_basics.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE / "load"))
from mockproc import MockProcess  # noqa: E402
from procstats import cpu_seconds, rss_bytes  # noqa: E402

CONNECTS_IN_FLIGHT = 50


async def bounded(coros: list[Any]) -> list[Any]:
    """Awaits ``coros`` with at most CONNECTS_IN_FLIGHT running at once."""
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def one(c: Any) -> Any:
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


def rates(count: int, nbytes: int, seconds: float, cpu: float) -> dict[str, float]:
    """One throughput result: ``count`` audio events of ``nbytes`` in total."""
    return {
        "events": count,
        "bytes": nbytes,
        "seconds": seconds,
        "events_per_s": count / seconds,
        "cpu_us_per_event": cpu / count * 1e6,
    }


# -- the server -----------------------------------------------------------------------------------


# -- clients ---------------------------------------------------------------------------------------


async def throughput_realtime_ws(url: str, n: int) -> dict[str, float]:
    from realtime_ws import OpenAIRealtimeWebSocket

    ws = OpenAIRealtimeWebSocket(api_key="sk-bench", base_url=url, ping_interval=None)
    count = 0
    nbytes = 0
    t_first = 0.0
    cpu_first = 0.0
    done = asyncio.Event()

    def on_audio(ev: Any) -> None:
        nonlocal count, nbytes, t_first, cpu_first
        if count == 0:
            t_first = time.perf_counter()
            cpu_first = cpu_seconds()
        count += 1
        nbytes += len(ev.data)

    ws.on("audio", on_audio)
    ws.on("turn_done", lambda _e: done.set())
    await ws.connect(initial_session_config={"audio": {"input": {"turn_detection": None}}})
    ws.request_response()
    await asyncio.wait_for(done.wait(), 120)
    dt = time.perf_counter() - t_first
    cpu = cpu_seconds() - cpu_first
    await ws.aclose()
    assert count == n, (count, n)
    return rates(count, nbytes, dt, cpu)


async def throughput_openai_sdk(base_url: str, n: int) -> dict[str, float]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-bench", websocket_base_url=base_url)
    count = 0
    nbytes = 0
    t_first = 0.0
    cpu_first = 0.0
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.output_audio.delta":
                if count == 0:
                    t_first = time.perf_counter()
                    cpu_first = cpu_seconds()
                count += 1
                nbytes += len(base64.b64decode(event.delta))
            elif event.type == "response.done":
                break
    dt = time.perf_counter() - t_first
    cpu = cpu_seconds() - cpu_first
    assert count == n, (count, n)
    return rates(count, nbytes, dt, cpu)


async def idle_realtime_ws(url: str, k: int) -> float:
    from realtime_ws import OpenAIRealtimeWebSocket

    # Warm up the runtime and imports before the baseline.
    warm = OpenAIRealtimeWebSocket(api_key="sk-bench", base_url=url)
    await warm.connect()
    await warm.aclose()
    await asyncio.sleep(0.2)
    before = rss_bytes()
    sessions = [OpenAIRealtimeWebSocket(api_key="sk-bench", base_url=url) for _ in range(k)]
    await bounded([s.connect() for s in sessions])
    await asyncio.sleep(1.0)
    after = rss_bytes()
    await asyncio.gather(*(s.aclose() for s in sessions))
    return (after - before) / k


async def idle_openai_sdk(base_url: str, k: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-bench", websocket_base_url=base_url)
    warm = await client.realtime.connect(model="gpt-realtime").enter()
    await warm.close()
    await asyncio.sleep(0.2)
    before = rss_bytes()
    managers = [client.realtime.connect(model="gpt-realtime") for _ in range(k)]
    conns = await bounded([m.enter() for m in managers])
    for c in conns:
        await c.session.update(session={"type": "realtime"})
    await asyncio.sleep(1.0)
    after = rss_bytes()
    await asyncio.gather(*(c.close() for c in conns))
    return (after - before) / k


# -- driver ----------------------------------------------------------------------------------------


def child(kind: str, what: str, url: str, n: int) -> None:
    """Runs one measurement in this (fresh) process and prints JSON."""
    if what == "throughput":
        fn = throughput_realtime_ws if kind == "realtime_ws" else throughput_openai_sdk
        target = url if kind == "realtime_ws" else url.rsplit("/realtime", 1)[0]
        print(json.dumps(asyncio.run(fn(target, n))))
    else:
        fn2 = idle_realtime_ws if kind == "realtime_ws" else idle_openai_sdk
        target = url if kind == "realtime_ws" else url.rsplit("/realtime", 1)[0]
        print(json.dumps({"bytes_per_session": asyncio.run(fn2(target, n))}))


def run_child(kind: str, what: str, url: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, what, url, str(n)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} {what} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--events", type=int)
    p.add_argument("--sessions", type=int)
    p.add_argument("--repeat", type=int, help="alternating runs per client (default 3, quick 1)")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, what, url, n = args.child
        child(kind, what, url, int(n))
        return 0
    n = args.events or (1000 if args.quick else 5000)
    k = args.sessions or (40 if args.quick else 200)
    repeat = args.repeat or (1 if args.quick else 3)
    clients = ["realtime_ws", "openai_sdk"]
    tp: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    mem: dict[str, list[float]] = {c: [] for c in clients}
    with MockProcess("--audio-ms", str(n * 20), "--chunk-ms", "20", "--text", "bench") as server:
        for _ in range(repeat):  # alternate so machine drift hits both alike
            for c in clients:
                tp[c].append(run_child(c, "throughput", server.url, n))
        for _ in range(repeat):
            for c in clients:
                mem[c].append(run_child(c, "idle", server.url, k)["bytes_per_session"])

    def best(rows: list[dict[str, Any]], key: str, low: bool) -> float:
        vals = [r[key] for r in rows]
        return min(vals) if low else max(vals)

    ours_eps = best(tp["realtime_ws"], "events_per_s", False)
    sdk_eps = best(tp["openai_sdk"], "events_per_s", False)
    ours_cpu = best(tp["realtime_ws"], "cpu_us_per_event", True)
    sdk_cpu = best(tp["openai_sdk"], "cpu_us_per_event", True)
    ours_mem = min(mem["realtime_ws"])
    sdk_mem = min(mem["openai_sdk"])
    result = {
        "machine": machine(),
        "events": n,
        "sessions": k,
        "repeat": repeat,
        "throughput": tp,
        "idle_bytes_per_session": mem,
        "summary": {
            "realtime_ws_events_per_s": ours_eps,
            "openai_sdk_events_per_s": sdk_eps,
            "realtime_ws_cpu_us_per_event": ours_cpu,
            "openai_sdk_cpu_us_per_event": sdk_cpu,
            "realtime_ws_idle_kib_per_session": ours_mem / 1024,
            "openai_sdk_idle_kib_per_session": sdk_mem / 1024,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    name = "session_basics_quick.json" if args.quick else "session_basics.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    print(
        f"\n{n} audio deltas (20 ms, 960 bytes) in one response; "
        f"{k} idle sessions; best of {repeat}\n"
    )
    print("| client | events/s | client CPU µs/event | idle RSS KiB/session |")
    print("|---|---:|---:|---:|")
    print(f"| realtime-ws | {ours_eps:,.0f} | {ours_cpu:.1f} | {ours_mem / 1024:.1f} |")
    print(
        f"| openai SDK {_version('openai')} | {sdk_eps:,.0f} | {sdk_cpu:.1f} "
        f"| {sdk_mem / 1024:.1f} |"
    )
    print(
        f"| ratio | {ours_eps / sdk_eps:.1f}x | {sdk_cpu / ours_cpu:.1f}x less | "
        f"{sdk_mem / max(ours_mem, 1):.1f}x less |"
    )
    return 0


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}"


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
