"""One measurement point, run inside a fresh child process: K sessions of one client kind
against a mock server that runs in another process.

Load point (``run_load``)
    1. Connect K sessions, at most ``concurrency`` handshakes in flight (the same bound for
       every client). Each connect includes the client's ``session.update``; the mock starts
       streaming to a connection as soon as it gets it.
    2. Start the ticker: ONE task for the whole process sends every session its 20 ms
       chunk every 20 ms, on an absolute schedule (a late tick is caught up at once, so the
       audio sent is exactly real time). One shared ticker, not a task per session, for
       every client: the harness costs the same whatever is measured.
    3. Warm up, then the window: client CPU (``getrusage`` user+sys, all threads) and wall
       time are read at its edges; the user callback takes a latency sample per audio
       delta only while it is open.
    4. Stop the ticker, wait for every session's ``response.done`` (the end of its stream),
       so that the bytes received can be compared with what the server says it sent.

Idle point (``run_idle``): K sessions connected with no audio either way; the RSS growth
per session after one warm-up session (imports, runtimes and pools already paid for).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import clients
from clients.base import ClientOptions, Meter, Session, Window
from procstats import cpu_times, proc_status

#: 24 kHz PCM16 mono.
BYTES_PER_S = 48_000
TICK_S = 0.020


@dataclass(frozen=True)
class PointConfig:
    client: str
    k: int
    base_url: str
    delta_ms: int
    duration_s: float = 10.0
    warmup_s: float = 1.0
    concurrency: int = 50
    #: The mock's stream length (so the wait for the end of streams has a bound).
    stream_s: float = 0.0
    #: The mock server's pid, to report its CPU over the same window (0: unknown).
    server_pid: int = 0


def stat_cpu_seconds(path: str) -> float:
    """User+sys CPU from a ``/proc/.../stat`` file (clock-tick resolution, 10 ms)."""
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    # utime and stime are fields 14 and 15 of proc(5); index 11 and 12 after the comm.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_thread_cpu_seconds() -> float:
    """CPU of the main thread (the one running the asyncio loop and every Python
    callback); the rest of the process CPU is other threads (e.g. a Rust runtime)."""
    return stat_cpu_seconds(f"/proc/self/task/{os.getpid()}/stat")


def quiet_pcm(ms: int = 20) -> bytes:
    """Low-level noise (RMS ~60 on the int16 scale, far under the mock's VAD threshold of
    500): real-looking input that never starts a turn, even with turn detection on."""
    n = 24 * ms
    x = 12345
    out = bytearray()
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out += ((x >> 16) % 201 - 100).to_bytes(2, "little", signed=True)
    return bytes(out)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (``nan`` if empty)."""
    if not sorted_values:
        return math.nan
    i = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


class GcPauses:
    """Time the interpreter spent in garbage collections while ``on`` (collections stop
    every callback in the process, so they show in the latency tail)."""

    def __init__(self) -> None:
        self.on = False
        self.count = 0
        self.total_s = 0.0
        self.max_s = 0.0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self.on:
            dt = time.perf_counter() - self._t0
            self.count += 1
            self.total_s += dt
            self.max_s = max(self.max_s, dt)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


class Ticker:
    """The single sender of the process (see the module docstring)."""

    def __init__(self, sessions: Sequence[Session], pcm: bytes, async_send: bool) -> None:
        self.sessions = list(sessions)
        self.pcm = pcm
        self.async_send = async_send
        self.running = True
        self.measuring = False
        #: Seconds each tick started after its due time, inside the window.
        self.lags: list[float] = []
        self.chunks_sent = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        pcm = self.pcm
        while self.running:
            n += 1
            due = start + n * TICK_S
            # Always suspend at least once per tick: when sends complete without suspending
            # and the ticker is behind, it would otherwise never let the readers run.
            await asyncio.sleep(max(0.0, due - loop.time()))
            if self.measuring:
                self.lags.append(loop.time() - due)
            if self.async_send:
                for s in self.sessions:
                    await s.send_audio(pcm)  # type: ignore[misc]
            else:
                for s in self.sessions:
                    s.send_audio(pcm)
            self.chunks_sent += len(self.sessions)


async def _connect_all(
    client: Any, meters: Sequence[Meter], concurrency: int
) -> tuple[list[Session], float]:
    """Connects one session per meter, ``concurrency`` at a time; returns them and the
    wall time it took."""
    sem = asyncio.Semaphore(concurrency)
    sessions: list[Session | None] = [None] * len(meters)

    async def one(i: int) -> None:
        async with sem:
            sessions[i] = await client.connect(meters[i])

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(len(meters))), return_exceptions=True)
    elapsed = time.perf_counter() - t0
    errors = [r for r in results if isinstance(r, BaseException)]
    opened = [s for s in sessions if s is not None]
    if errors:
        await _close_all(opened, concurrency)
        raise RuntimeError(
            f"{len(errors)} of {len(meters)} connects failed; first: {errors[0]!r}"
        ) from errors[0]
    return opened, elapsed


async def _close_all(sessions: Sequence[Session], concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(s: Session) -> None:
        async with sem:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.close(), 15)

    await asyncio.gather(*(one(s) for s in sessions))


def log(msg: str) -> None:
    """Phase markers on stderr (the driver shows the last lines when a point fails)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _new_client(cfg: PointConfig) -> Any:
    return clients.load(cfg.client)(ClientOptions(base_url=cfg.base_url, delta_ms=cfg.delta_ms))


async def run_load(cfg: PointConfig) -> dict[str, Any]:
    client = _new_client(cfg)
    window = Window(done_target=cfg.k)
    all_done = asyncio.Event()
    window.all_done = all_done.set
    meters = [Meter(window) for _ in range(cfg.k)]
    rss0 = proc_status("VmRSS")
    t_start = time.perf_counter()

    log(f"{cfg.client}: connecting {cfg.k} sessions")
    sessions, connect_s = await _connect_all(client, meters, cfg.concurrency)
    log(f"connected in {connect_s:.2f} s; warm-up")
    # Collect the garbage of imports and connects now, before the warm-up: a full
    # collection of a large heap stops the loop for 100+ ms, and its backlog must not
    # fall into the window.
    gc.collect()
    ticker = Ticker(sessions, quiet_pcm(), client.async_send)
    ticker_task = asyncio.create_task(ticker.run())
    await asyncio.sleep(cfg.warmup_s)
    started_early_done = window.done

    # -- the window ---------------------------------------------------------------------
    pauses = GcPauses().__enter__()
    bytes0 = sum(m.bytes for m in meters)
    chunks0 = ticker.chunks_sent
    wall0 = time.perf_counter()
    user0, sys0 = cpu_times()
    main0 = main_thread_cpu_seconds()
    server0 = stat_cpu_seconds(f"/proc/{cfg.server_pid}/stat") if cfg.server_pid else math.nan
    window.on = True
    ticker.measuring = True
    pauses.on = True
    await asyncio.sleep(cfg.duration_s)
    pauses.on = False
    window.on = False
    ticker.measuring = False
    pauses.__exit__()
    user1, sys1 = cpu_times()
    main1 = main_thread_cpu_seconds()
    server1 = stat_cpu_seconds(f"/proc/{cfg.server_pid}/stat") if cfg.server_pid else math.nan
    wall1 = time.perf_counter()
    bytes1 = sum(m.bytes for m in meters)
    chunks1 = ticker.chunks_sent
    done_in_window = window.done
    cpu0, cpu1 = user0 + sys0, user1 + sys1
    rss1 = proc_status("VmRSS")
    hwm = proc_status("VmHWM")
    # ------------------------------------------------------------------------------------

    ticker.running = False
    await ticker_task
    log(f"window done ({cpu1 - cpu0:.2f} CPU s in {wall1 - wall0:.2f} s); waiting for the streams")
    # Every stream ends by itself; wait for all of them (bounded) before counting bytes.
    budget = max(5.0, cfg.stream_s - (time.perf_counter() - t_start) + 30.0)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_done.wait(), budget)
    received = sum(m.bytes for m in meters)
    deltas = sum(m.deltas for m in meters)
    streams_done = window.done
    log(f"{streams_done}/{cfg.k} streams done; closing")
    await _close_all(sessions, cfg.concurrency)
    await client.aclose()

    wall = wall1 - wall0
    cpu = cpu1 - cpu0
    lat = sorted(v / 1e6 for v in window.latencies_ns)
    lags = sorted(v * 1e3 for v in ticker.lags)
    return {
        "client": cfg.client,
        "version": client.version(),
        "k": cfg.k,
        "window_s": wall,
        "cpu_s": cpu,
        "cpu_ms_per_session_s": cpu / (cfg.k * wall) * 1e3,
        "cpu_cores": cpu / wall,
        # The kernel's part (system time: syscalls, wake-ups, the socket stack).
        "cpu_sys_share": (sys1 - sys0) / cpu if cpu > 0 else math.nan,
        # The asyncio thread's share (clock-tick resolution, 10 ms).
        "cpu_main_thread_cores": (main1 - main0) / wall,
        # The mock server process over the same window (it shares the machine).
        "server_cpu_cores": (server1 - server0) / wall,
        "latency_ms": {
            "p50": percentile(lat, 50),
            "p99": percentile(lat, 99),
            "max": lat[-1] if lat else math.nan,
            "samples": len(lat),
        },
        "gc_pauses": {
            "count": pauses.count,
            "total_ms": pauses.total_s * 1e3,
            "max_ms": pauses.max_s * 1e3,
        },
        "ticker_lag_ms": {"p99": percentile(lags, 99), "max": lags[-1] if lags else math.nan},
        # Received audio in the window over real time: < 1 means the client fell behind.
        "rx_realtime_ratio": (bytes1 - bytes0) / (cfg.k * BYTES_PER_S * wall),
        "tx_realtime_ratio": (chunks1 - chunks0) * TICK_S / (cfg.k * wall),
        "rss_start_bytes": rss0,
        "rss_window_end_bytes": rss1,
        "rss_peak_bytes": hwm,
        "rss_per_session_bytes": (rss1 - rss0) / cfg.k,
        "connect_s": connect_s,
        "connect_ms_per_session": connect_s / cfg.k * 1e3,
        "audio_bytes_received": received,
        "audio_deltas_received": deltas,
        "audio_bytes_appended": ticker.chunks_sent * len(ticker.pcm),
        "streams_done": streams_done,
        "streams_done_before_window_end": done_in_window,
        "streams_done_before_window": started_early_done,
    }


async def run_idle(cfg: PointConfig) -> dict[str, Any]:
    client = _new_client(cfg)
    window = Window(done_target=cfg.k + 1)
    # One session first and closed again: imports, runtime threads and pools are then
    # already in the baseline, for every client alike.
    warm = await client.connect(Meter(window))
    await asyncio.sleep(0.2)
    await warm.close()
    await asyncio.sleep(0.2)
    gc.collect()
    rss0 = proc_status("VmRSS")
    meters = [Meter(window) for _ in range(cfg.k)]
    sessions, connect_s = await _connect_all(client, meters, cfg.concurrency)
    await asyncio.sleep(1.0)  # let every session.updated / session.created arrive
    gc.collect()
    rss1 = proc_status("VmRSS")
    hwm = proc_status("VmHWM")
    await _close_all(sessions, cfg.concurrency)
    await client.aclose()
    return {
        "client": cfg.client,
        "version": client.version(),
        "k": cfg.k,
        "rss_before_bytes": rss0,
        "rss_open_bytes": rss1,
        "rss_peak_bytes": hwm,
        "rss_per_session_bytes": (rss1 - rss0) / cfg.k,
        "connect_ms_per_session": connect_s / cfg.k * 1e3,
    }


def child_main(cfg: PointConfig, idle: bool) -> dict[str, Any]:
    fn: Callable[[PointConfig], Awaitable[dict[str, Any]]] = run_idle if idle else run_load
    return asyncio.run(fn(cfg))  # type: ignore[arg-type]
