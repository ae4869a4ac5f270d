"""Where an idle session's memory goes: Rust heap, Python heap and RSS per open session.

Needs a build with the counting allocator (off in normal builds: an atomic per allocation):

    maturin develop --profile ci --features alloc-stats
    python benches/memory_breakdown.py            # K=500, bounded and burst connects
    python benches/memory_breakdown.py --k 200

For each connect style, in a fresh process against the mock server (its own process): K
sessions connect (``bounded``: at most 50 handshakes in flight, as the benchmarks do;
``burst``: all at once) and sit idle for 1 s. Printed per session: Rust heap live at the end
and at its peak during the connects (``_core.rust_heap_bytes``), Python heap live and peak
(``tracemalloc``), and RSS growth. Rebuild without the feature afterwards
(``maturin develop --profile ci``) before timing anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "load"))
from mockproc import MockProcess  # noqa: E402
from procstats import rss_bytes  # noqa: E402

IN_FLIGHT = {"bounded": 50, "burst": 0}  # 0: no limit


async def measure(url: str, k: int, in_flight: int) -> dict[str, float]:
    from realtime_ws import OpenAIRealtimeWebSocket, _core

    warm = OpenAIRealtimeWebSocket(api_key="sk-mem", base_url=url)
    await warm.connect()
    await warm.aclose()
    await asyncio.sleep(0.2)
    tracemalloc.start()
    heap0, rss0 = _core.rust_heap_bytes(), rss_bytes()
    _core.rust_heap_bytes(peak=True)  # starts the peak window here
    sessions = [OpenAIRealtimeWebSocket(api_key="sk-mem", base_url=url) for _ in range(k)]
    gate = asyncio.Semaphore(in_flight or k)

    async def connect(ws: OpenAIRealtimeWebSocket) -> None:
        async with gate:
            await ws.connect()

    await asyncio.gather(*(connect(s) for s in sessions))
    await asyncio.sleep(1.0)
    heap_peak = _core.rust_heap_bytes(peak=True)
    heap1, rss1 = _core.rust_heap_bytes(), rss_bytes()
    py_live, py_peak = tracemalloc.get_traced_memory()
    await asyncio.gather(*(s.aclose() for s in sessions))
    return {
        "rust_live": (heap1 - heap0) / k,
        "rust_peak": (heap_peak - heap0) / k,
        "python_live": py_live / k,
        "python_peak": py_peak / k,
        "rss": (rss1 - rss0) / k,
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--k", type=int, default=500, help="sessions (default 500)")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        url, k, in_flight = args.child
        print(json.dumps(asyncio.run(measure(url, int(k), int(in_flight)))))
        return 0
    from realtime_ws import _core

    if _core.rust_heap_bytes() < 0:
        print("needs a build with --features alloc-stats (see --help)", file=sys.stderr)
        return 2
    rows: dict[str, dict[str, Any]] = {}
    with MockProcess() as server:
        for style, in_flight in IN_FLIGHT.items():
            out = subprocess.run(
                [sys.executable, __file__, "--child", server.url, str(args.k), str(in_flight)],
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            rows[style] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.k} idle sessions; bytes per session")
    print("| connects | Rust heap live | Rust heap peak | Python heap live | Python peak | RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for style, r in rows.items():
        print(
            f"| {style} | {r['rust_live']:,.0f} | {r['rust_peak']:,.0f} | "
            f"{r['python_live']:,.0f} | {r['python_peak']:,.0f} | {r['rss']:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
