"""This process's resource use from the OS (Linux ``/proc``), shared by the benchmarks."""

from __future__ import annotations

import os
import resource


def cpu_seconds() -> float:
    """User + system CPU of this process, every thread included."""
    user, sys = cpu_times()
    return user + sys


def cpu_times() -> tuple[float, float]:
    """User and system CPU of this process, every thread included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def status_field(field: str) -> int:
    """A numeric ``/proc/self/status`` field as written (``Threads``; kB for memory)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def proc_status(field: str) -> int:
    """A ``/proc/self/status`` memory field in bytes (``VmRSS``, ``VmHWM``)."""
    return status_field(field) * 1024


def rss_bytes() -> int:
    return proc_status("VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    """Threads of this process, a Rust runtime's included (Python's count misses them)."""
    return status_field("Threads")
