"""Soak: session churn with full-duplex audio, watched for leaks and lost bytes.

K slots run until the time is up. Each slot opens a session, sends 20 ms of PCM16 every 20 ms
while the mock server (its own process, ``--stream-audio-s S``) streams S seconds of audio back
in real time, closes the session once that response is done, and starts over. Every third cycle
of a slot also sends one invalid client event, which the server answers with an ``error`` event
that must reach the ``error`` listener. Sessions end three ways in turn: ``await aclose()``,
``close()`` (synchronous) and leaving ``async with``.

Checked (the run fails if one does not hold):
- audio bytes received in callbacks == the server's count of audio bytes sent (every session
  closes only after its response is done, so nothing is legitimately in flight);
- every invalid event produced exactly one ``error`` event;
- after every session is closed: open file descriptors back to the baseline, the server sees
  no open connection, and no ``OpenAIRealtimeWebSocket`` object is left alive;
- RSS growth from the end of warm-up (the first quarter of the run) to the end stays under
  ``--slack-mib`` (allocator and arena steps that do not scale with sessions) plus
  ``--max-bytes-per-session`` for every session cycled after warm-up. A leak of 1 KiB per
  session fails the full run (~18,000 sessions after warm-up: 18 MiB); the quick run catches
  leaks of a session's worth of buffers (~15 KiB per session) and, through the object count,
  any leaked Python object.

Run:  python benches/soak.py            K=200 slots, 10 minutes, 5 s per session
      python benches/soak.py --quick    K=30, 30 s, 1 s per session (what CI runs)
Writes benches/results/soak.json (quick: soak_quick.json) and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import sys
import time
import weakref
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE / "load"))
from mockproc import MockProcess  # noqa: E402
from procstats import open_fds, os_threads, rss_bytes  # noqa: E402

from realtime_ws import OpenAIRealtimeWebSocket  # noqa: E402

CHUNK = bytes(960)  # 20 ms of 24 kHz PCM16 silence (turn detection is off)
CONNECTS_IN_FLIGHT = 50


class Totals:
    def __init__(self) -> None:
        self.cycles = 0
        self.audio_bytes = 0
        self.bad_events_sent = 0
        self.error_events = 0
        self.unexpected_errors: list[str] = []
        self.alive: weakref.WeakSet[OpenAIRealtimeWebSocket] = weakref.WeakSet()


async def one_session(
    url: str, totals: Totals, gate: asyncio.Semaphore, cycle: int, timeout_s: float
) -> None:
    ws = OpenAIRealtimeWebSocket(api_key="sk-soak", base_url=url, model="gpt-realtime")
    totals.alive.add(ws)
    done = asyncio.Event()
    received = [0]
    expect_error = cycle % 3 == 2

    def on_audio(ev: Any) -> None:
        received[0] += len(ev.data)

    def on_error(ev: Any) -> None:
        text = str(ev.error)
        if expect_error and "soak.not_an_event" in text:
            totals.error_events += 1
        else:
            totals.unexpected_errors.append(text[:200])

    ws.on("audio", on_audio)
    ws.on("error", on_error)
    ws.on("turn_done", lambda _ev: done.set())
    ws.on("disconnected", lambda: done.set())

    async def stream_until_done() -> None:
        async with gate:
            await ws.connect(initial_session_config={"audio": {"input": {"turn_detection": None}}})
        if expect_error:
            ws.send_event({"type": "soak.not_an_event"})
            totals.bad_events_sent += 1
        start = time.monotonic()
        n = 0
        while not done.is_set():
            ws.send_audio(CHUNK)
            n += 1
            delay = start + n * 0.02 - time.monotonic()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(done.wait(), delay)

    ending = cycle % 3
    if ending == 2:
        async with ws:
            await asyncio.wait_for(stream_until_done(), timeout_s)
    else:
        try:
            await asyncio.wait_for(stream_until_done(), timeout_s)
        finally:
            if ending == 0:
                await ws.aclose()
            else:
                ws.close()
    totals.audio_bytes += received[0]
    totals.cycles += 1


async def soak(server: MockProcess, slots: int, seconds: float, stream_s: float) -> dict[str, Any]:
    url = server.url
    totals = Totals()
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
    # Start the runtime once so the baselines include its threads and eventfd.
    warm = OpenAIRealtimeWebSocket(api_key="sk-soak", base_url=url, model="gpt-realtime")
    await warm.connect()
    await warm.aclose()
    del warm
    await asyncio.sleep(0.5)
    gc.collect()
    base_fds, base_threads = open_fds(), os_threads()
    # The warm-up session got part of a stream before it closed: count from here.
    base_stats = server.stats()

    samples: list[tuple[float, int, int]] = []  # (t, rss, cycles)
    t0 = time.monotonic()
    deadline = t0 + seconds

    async def slot(i: int) -> None:
        cycle = i  # staggers the close styles and error cycles across slots
        while time.monotonic() < deadline:
            await one_session(url, totals, gate, cycle, timeout_s=stream_s * 4 + 10)
            cycle += 1

    async def sampler() -> None:
        while time.monotonic() < deadline:
            samples.append((time.monotonic() - t0, rss_bytes(), totals.cycles))
            await asyncio.sleep(1.0)

    await asyncio.gather(sampler(), *(slot(i) for i in range(slots)))
    elapsed = time.monotonic() - t0
    await asyncio.sleep(0.5)  # let closing sockets finish their handshakes
    gc.collect()
    samples.append((time.monotonic() - t0, rss_bytes(), totals.cycles))

    warm_end = next((s for s in samples if s[0] >= seconds / 4), samples[0])
    end = samples[-1]
    cycles_after_warmup = max(end[2] - warm_end[2], 1)
    return {
        "slots": slots,
        "seconds": elapsed,
        "stream_s": stream_s,
        "cycles": totals.cycles,
        "audio_bytes_received": totals.audio_bytes,
        "bad_events_sent": totals.bad_events_sent,
        "error_events": totals.error_events,
        "unexpected_errors": totals.unexpected_errors[:5],
        "unexpected_error_count": len(totals.unexpected_errors),
        "fds": {"baseline": base_fds, "end": open_fds()},
        "threads": {"baseline": base_threads, "end": os_threads()},
        "alive_objects": len(totals.alive),
        "rss_mib": {
            "after_warmup": warm_end[1] / 2**20,
            "end": end[1] / 2**20,
            "peak": max(s[1] for s in samples) / 2**20,
        },
        "rss_growth_bytes": end[1] - warm_end[1],
        "cycles_after_warmup": cycles_after_warmup,
        "rss_growth_kib_per_1000_sessions": (end[1] - warm_end[1])
        / 1024
        / cycles_after_warmup
        * 1000,
        "server_baseline": {
            "audio_bytes_sent": base_stats.get("audio_bytes_sent") or 0,
            "connections_total": base_stats.get("connections_total") or 0,
        },
        "samples": samples,
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--slots", type=int, help="concurrent sessions (default 200; quick 20)")
    p.add_argument("--seconds", type=float, help="run time (default 600; quick 30)")
    p.add_argument("--stream-s", type=float, help="audio per session (default 5; quick 2)")
    p.add_argument(
        "--slack-mib", type=float, default=2.0, help="RSS growth allowed regardless (default 2)"
    )
    p.add_argument(
        "--max-bytes-per-session",
        type=float,
        default=256.0,
        help="RSS growth allowed per session cycled after warm-up (default 256)",
    )
    args = p.parse_args()
    slots = args.slots or (30 if args.quick else 200)
    seconds = args.seconds or (30.0 if args.quick else 600.0)
    stream_s = args.stream_s or (1.0 if args.quick else 5.0)

    with MockProcess("--stream-audio-s", str(stream_s), "--chunk-ms", "50") as server:
        result = asyncio.run(soak(server, slots, seconds, stream_s))
        stats = server.stats()
    base = result.pop("server_baseline")
    result["server"] = {
        "audio_bytes_sent": (stats.get("audio_bytes_sent") or 0) - base["audio_bytes_sent"],
        "connections_total": (stats.get("connections_total") or 0) - base["connections_total"],
        "connections_open": stats.get("connections_open"),
    }
    result["lost_bytes"] = result["server"]["audio_bytes_sent"] - result["audio_bytes_received"]
    result["machine"] = (
        f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("soak_quick.json" if args.quick else "soak.json")
    out.write_text(json.dumps(result, indent=1) + "\n")

    growth = result["rss_growth_kib_per_1000_sessions"]
    print(
        f"{result['cycles']} sessions in {result['seconds']:.0f} s over {slots} slots "
        f"({stream_s:g} s of audio each); "
        f"server connections {result['server']['connections_total']}"
    )
    print(
        f"audio bytes: received {result['audio_bytes_received']:,}, server sent "
        f"{result['server']['audio_bytes_sent']:,}, lost {result['lost_bytes']:,}"
    )
    print(
        f"error events {result['error_events']} for {result['bad_events_sent']} invalid events; "
        f"unexpected errors {result['unexpected_error_count']}"
    )
    print(
        f"fds {result['fds']['baseline']} -> {result['fds']['end']}, threads "
        f"{result['threads']['baseline']} -> {result['threads']['end']}, objects alive "
        f"{result['alive_objects']}, server connections open {result['server']['connections_open']}"
    )
    print(
        f"RSS {result['rss_mib']['after_warmup']:.1f} MiB after warm-up -> "
        f"{result['rss_mib']['end']:.1f} MiB at the end (peak {result['rss_mib']['peak']:.1f}): "
        f"{growth:+.1f} KiB per 1,000 sessions"
    )
    print(f"wrote {out}")

    failures = []
    if result["cycles"] < slots:
        failures.append(f"only {result['cycles']} sessions completed for {slots} slots")
    if result["lost_bytes"] != 0:
        failures.append(f"lost {result['lost_bytes']} audio bytes")
    if result["error_events"] != result["bad_events_sent"]:
        failures.append("error events do not match invalid events sent")
    if result["unexpected_error_count"]:
        failures.append(f"unexpected errors: {result['unexpected_errors']}")
    if result["threads"]["end"] > result["threads"]["baseline"]:
        failures.append(f"threads left running: {result['threads']}")
    if result["fds"]["end"] > result["fds"]["baseline"]:
        failures.append(f"file descriptors leaked: {result['fds']}")
    if result["server"]["connections_open"]:
        failures.append(f"server still has {result['server']['connections_open']} open")
    if result["alive_objects"]:
        failures.append(f"{result['alive_objects']} OpenAIRealtimeWebSocket objects still alive")
    allowed = args.slack_mib * 2**20 + args.max_bytes_per_session * result["cycles_after_warmup"]
    if result["rss_growth_bytes"] > allowed:
        failures.append(
            f"RSS grew {result['rss_growth_bytes'] / 2**20:.1f} MiB over "
            f"{result['cycles_after_warmup']} sessions after warm-up (allowed "
            f"{allowed / 2**20:.1f} MiB)"
        )
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
