"""Tables, summary ratios and the plot of a load-benchmark result (see run.py)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from clients import KINDS, LABELS, NATIVE

#: The issue's goals, checked in the summary (ratios measured in one run).
GOAL_CPU_VS_SDK = 10.0
GOAL_CPU_VS_LEAN = 4.0
GOAL_MAXK_VS_SDK = 10.0
GOAL_IDLE_VS_SDK = 4.0
#: Issue 14: this package's CPU per session-second within 1.3x of the floor's, same run.
GOAL_CPU_VS_FLOOR = 1.3
GOAL_VS_FLOOR_KS = (100, 500)
HELD_P99_MS = 20.0
HELD_CPU_CORES = 1.0
#: Received audio over real time at or above this counts as "held real time".
HELD_RX_RATIO = 0.98


_MET = {True: "yes", False: "no", None: "undecided"}


def _label(name: str) -> str:
    return LABELS.get(name, name)


def _order(name: str) -> int:
    return KINDS.index(name) if name in KINDS else len(KINDS)


def floor_client(result: dict[str, Any]) -> str | None:
    """The reference of the "× floor" figures: ``rust_floor`` (1 tokio worker, the
    cheaper), else the 2-worker floor, whichever this run has (None: no floor ran)."""
    ran = {r["client"] for r in result["runs"]}
    return next((c for c in NATIVE if c in ran), None)


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per (client, K) from its repeats: medians of the measurements, the worst
    lost-byte counts, and the first error if any repeat failed."""
    if not runs:
        return {"error": "no run"}
    first = runs[0]
    errors = [r for r in runs if "error" in r]
    ok = [r for r in runs if "error" not in r]
    row: dict[str, Any] = {"client": first["client"], "k": first["k"], "repeats": len(runs)}
    if errors:
        row["error"] = errors[0]["error"]
    if not ok:
        return row

    def med(get: Any) -> float:
        vals = [get(r) for r in ok]
        vals = [v for v in vals if v is not None and not math.isnan(v)]
        return statistics.median(vals) if vals else math.nan

    row.update(
        version=ok[0].get("version", ""),
        cpu_ms_per_session_s=med(lambda r: r["cpu_ms_per_session_s"]),
        cpu_cores=med(lambda r: r["cpu_cores"]),
        cpu_main_thread_cores=med(lambda r: r.get("cpu_main_thread_cores", math.nan)),
        server_cpu_cores=med(lambda r: r.get("server_cpu_cores", math.nan)),
        latency_ms={q: med(lambda r, q=q: r["latency_ms"][q]) for q in ("p50", "p99", "max")},
        rx_realtime_ratio=med(lambda r: r["rx_realtime_ratio"]),
        tx_realtime_ratio=med(lambda r: r["tx_realtime_ratio"]),
        ticker_lag_p99_ms=med(lambda r: r["ticker_lag_ms"]["p99"]),
        rss_per_session_bytes=med(lambda r: r["rss_per_session_bytes"]),
        rss_peak_bytes=med(lambda r: r["rss_peak_bytes"]),
        connect_ms_per_session=med(lambda r: r["connect_ms_per_session"]),
        lost_bytes=max((abs(r.get("lost_bytes", 0)) for r in ok), default=0),
        lost_input_bytes=max((abs(r.get("lost_input_bytes", 0)) for r in ok), default=0),
    )
    return row


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One aggregated row per (client, K), in table order. ``x_floor``: the row's CPU per
    session-second ÷ the floor's at the same K (NaN where the floor has no figure)."""
    keys = sorted(
        {(r["client"], r["k"]) for r in result["runs"]}, key=lambda c: (_order(c[0]), c[1])
    )
    out = []
    for client, k in keys:
        row = aggregate([r for r in result["runs"] if r["client"] == client and r["k"] == k])
        stop = result.get("stopped", {}).get(client, "")
        row["stop"] = stop.split(": ", 1)[1] if stop.startswith(f"K={k}:") else ""
        would = result.get("would_stop", {}).get(client, "")
        if would.startswith(f"K={k}:"):
            row["stop"] = f"(would stop: {would.split(': ', 1)[1]})"
        out.append(row)
    floor = floor_client(result)
    floor_cpu = {
        r["k"]: r["cpu_ms_per_session_s"]
        for r in out
        if r["client"] == floor and "cpu_ms_per_session_s" in r
    }
    for r in out:
        ref = floor_cpu.get(r["k"], math.nan)
        cpu = r.get("cpu_ms_per_session_s", math.nan)
        r["x_floor"] = cpu / ref if ref > 0 else math.nan
    return out


def idle_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for client in sorted({r["client"] for r in result.get("idle", [])}, key=_order):
        runs = [r for r in result["idle"] if r["client"] == client]
        ok = [r for r in runs if "error" not in r]
        row: dict[str, Any] = {"client": client, "k": runs[0]["k"]}
        if ok:
            row["rss_per_session_bytes"] = statistics.median(r["rss_per_session_bytes"] for r in ok)
            row["connect_ms_per_session"] = statistics.median(
                r["connect_ms_per_session"] for r in ok
            )
        else:
            row["error"] = runs[0].get("error", "failed")
        out.append(row)
    return out


# -- summary ----------------------------------------------------------------------------------


def kept_up(row: dict[str, Any]) -> bool:
    """Received and sent (at least) real time in the window."""
    return (
        "error" not in row
        and row["rx_realtime_ratio"] >= HELD_RX_RATIO
        and row["tx_realtime_ratio"] >= HELD_RX_RATIO
    )


def held(row: dict[str, Any]) -> bool:
    """Held at real time with p99 < 20 ms on one client core, losing nothing."""
    return (
        kept_up(row)
        and row["latency_ms"]["p99"] < HELD_P99_MS
        and row["cpu_cores"] <= HELD_CPU_CORES
        and row["lost_bytes"] == 0
        and row["lost_input_bytes"] == 0
    )


def summary(result: dict[str, Any]) -> dict[str, Any]:
    table = rows(result)
    ks = sorted({r["k"] for r in table})
    by = {(r["client"], r["k"]): r for r in table}
    clients = sorted({r["client"] for r in table}, key=_order)
    out: dict[str, Any] = {}

    # CPU per session-second at K=100 (or the largest K every client completed below it).
    common = [k for k in ks if all("error" not in by.get((c, k), {"error": 1}) for c in clients)]
    ref_k = 100 if 100 in common else max((k for k in common if k <= 100), default=None)
    if ref_k is not None:
        out["cpu_ref_k"] = ref_k
        cpu = {c: by[(c, ref_k)]["cpu_ms_per_session_s"] for c in clients}
        out["cpu_ms_per_session_s"] = cpu
        if "realtime_ws" in cpu:
            ours = cpu["realtime_ws"]
            out["cpu_ratio_vs_realtime_ws"] = {
                c: v / ours for c, v in cpu.items() if c != "realtime_ws" and ours > 0
            }

    # Each client's CPU per session-second as a multiple of the floor's, at every K.
    floor = floor_client(result)
    out["floor"] = floor
    out["cpu_x_floor"] = {
        c: {
            str(r["k"]): r["x_floor"]
            for r in table
            if r["client"] == c and not math.isnan(r["x_floor"])
        }
        for c in clients
    }

    # Largest K held at real time with p99 < 20 ms on one core.
    max_k: dict[str, int] = {}
    capped: dict[str, bool] = {}
    for c in clients:
        good = [k for k in ks if (c, k) in by and held(by[(c, k)])]
        max_k[c] = max(good, default=0)
        capped[c] = bool(good) and max(good) == max(ks) and c not in result.get("stopped", {})
    out["max_k_held"] = max_k
    out["max_k_held_is_sweep_limit"] = capped

    idle = {r["client"]: r.get("rss_per_session_bytes") for r in idle_rows(result)}
    out["idle_kib_per_session"] = {c: v / 1024 for c, v in idle.items() if v is not None}

    out["lost_bytes_total"] = sum(
        r.get("lost_bytes", 0) + r.get("lost_input_bytes", 0) for r in table if "error" not in r
    )

    goals: list[dict[str, Any]] = []

    def goal(
        text: str, target: float, measured: float, note: str = "", at_most: bool = False
    ) -> None:
        ok = measured <= target if at_most else measured >= target
        # ``note``: the measure is a lower bound, which decides in one direction only (at
        # or over an "at least" target: met; over an "at most" target: not met).
        met: bool | None = ok
        if note and ok == at_most:
            met = None
        goals.append(
            {
                "goal": text,
                "target": target,
                "at_most": at_most,
                "measured": measured,
                "met": met,
                "note": note,
            }
        )

    ratios = out.get("cpu_ratio_vs_realtime_ws", {})
    for peer, target in (("openai_sdk", GOAL_CPU_VS_SDK), ("lean_websockets", GOAL_CPU_VS_LEAN)):
        if peer not in ratios:
            continue
        row = by[(peer, ref_k)]
        note = ""
        if not kept_up(row):
            # It did less than the real-time work with the CPU it had, so what it would
            # need is more than what it used: the ratio is a lower bound.
            done = min(row["rx_realtime_ratio"], row["tx_realtime_ratio"])
            note = f"lower bound: {_label(peer)} kept up with only {done:.0%} of real time"
        goal(
            f"CPU/session-s at K={ref_k}: {_label(peer)} ÷ realtime-ws",
            target,
            ratios[peer],
            note,
        )
    if "openai_sdk" in max_k and max_k.get("realtime_ws"):
        text = "max K held (p99 < 20 ms, ≤ 1 core): realtime-ws ÷ openai SDK"
        if max_k["openai_sdk"]:
            note = ""
            if capped.get("realtime_ws"):
                note = f"lower bound: realtime-ws held the largest K swept ({max(ks)})"
            goal(text, GOAL_MAXK_VS_SDK, max_k["realtime_ws"] / max_k["openai_sdk"], note)
        else:
            # The SDK held none of the swept K, so its largest is below the smallest one.
            goal(
                text,
                GOAL_MAXK_VS_SDK,
                max_k["realtime_ws"] / min(ks),
                f"lower bound: the SDK held none of K ≥ {min(ks)}",
            )
    if floor is not None:
        for k in GOAL_VS_FLOOR_KS:
            ours_k = by.get(("realtime_ws", k))
            x = ours_k.get("x_floor", math.nan) if ours_k else math.nan
            if ours_k is None or math.isnan(x):
                continue
            note = ""
            if not kept_up(ours_k):
                done = min(ours_k["rx_realtime_ratio"], ours_k["tx_realtime_ratio"])
                note = f"lower bound: realtime-ws kept up with only {done:.0%} of real time"
            goal(
                f"CPU/session-s at K={k}: realtime-ws ÷ {_label(floor)}",
                GOAL_CPU_VS_FLOOR,
                x,
                note,
                at_most=True,
            )
    kib = out["idle_kib_per_session"]
    if kib.get("realtime_ws") and "openai_sdk" in kib:
        goal(
            "idle memory/session: openai SDK ÷ realtime-ws",
            GOAL_IDLE_VS_SDK,
            kib["openai_sdk"] / kib["realtime_ws"],
        )
    out["goals"] = goals
    return out


def hard_failures(result: dict[str, Any]) -> list[str]:
    """Facts that are bugs whatever the machine: lost bytes on a point that completed,
    and (in quick mode, where the load is small) any point that did not complete."""
    quick = "--quick" in result.get("command", "")
    out = []
    for r in result["runs"]:
        where = f"{r['client']} K={r['k']}"
        if "error" in r:
            if quick:
                out.append(f"{where}: {r['error']}")
            continue
        if r.get("lost_bytes", 0) != 0:
            out.append(f"{where}: {r['lost_bytes']} output audio bytes lost")
        if r.get("lost_input_bytes", 0) != 0:
            out.append(f"{where}: {r['lost_input_bytes']} input audio bytes lost")
    if quick:
        out += [f"{r['client']} idle: {r['error']}" for r in result.get("idle", []) if "error" in r]
    return out


# -- text -------------------------------------------------------------------------------------


def progress_line(r: dict[str, Any], elapsed: float) -> str:
    head = f"{r['client']:>16} K={r['k']:<5}"
    if "error" in r:
        return f"{head} ERROR {r['error']}  ({elapsed:.0f} s)"
    lat = r["latency_ms"]
    return (
        f"{head} cpu {r['cpu_ms_per_session_s']:7.2f} ms/session-s ({r['cpu_cores']:.2f} cores,"
        f" loop {r.get('cpu_main_thread_cores', math.nan):.2f}; server"
        f" {r.get('server_cpu_cores', math.nan):.2f})"
        f"  p50/p99/max {lat['p50']:6.1f}/{lat['p99']:6.1f}/{lat['max']:6.1f} ms"
        f"  rx {r['rx_realtime_ratio']:.3f}x  rss/session {r['rss_per_session_bytes'] / 1024:7.1f}"
        f" KiB  connect {r['connect_ms_per_session']:.2f} ms/session"
        f"  lost {r.get('lost_bytes')}/{r.get('lost_input_bytes')}  ({elapsed:.0f} s)"
    )


def idle_line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['client']:>16} idle K={r['k']}: ERROR {r['error']}"
    return (
        f"{r['client']:>16} idle K={r['k']}: {r['rss_per_session_bytes'] / 1024:.1f} KiB/session,"
        f" connect {r['connect_ms_per_session']:.2f} ms/session"
    )


def _f(v: Any, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return format(v, fmt)


def markdown(result: dict[str, Any]) -> str:
    cfg = result["config"]
    lines = [
        f"Command: `{result['command'].strip()}`  ",
        f"Machine: {result['machine']}  ",
        f"Date: {result['date']}; window {cfg['duration_s']:g} s after {cfg['warmup_s']:g} s"
        f" warm-up; server deltas {cfg['delta_ms']} ms; client sends 20 ms every 20 ms;"
        f" {cfg['repeat']} run(s) per point (medians).",
        "",
        "| client | K | CPU ms / session-s | × floor | client cores (loop thread) | p50 ms "
        "| p99 ms | max ms | rx / tx ÷ real time | RSS KiB / session | peak RSS MiB "
        "| connect ms / session | lost bytes (out/in) | server cores | stop |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows(result):
        label = _label(r["client"])
        if "error" in r and "cpu_ms_per_session_s" not in r:
            lines.append(
                f"| {label} | {r['k']} | – | – | – | – | – | – | – | – | – | – | – | – "
                f"| {r.get('stop') or 'error'}: {r['error'][:80]} |"
            )
            continue
        lat = r["latency_ms"]
        lines.append(
            f"| {label} | {r['k']} | {_f(r['cpu_ms_per_session_s'], '.2f')} "
            f"| {_f(r['x_floor'], '.2f')} "
            f"| {_f(r['cpu_cores'], '.2f')} ({_f(r['cpu_main_thread_cores'], '.2f')}) "
            f"| {_f(lat['p50'], '.1f')} | {_f(lat['p99'], '.1f')} "
            f"| {_f(lat['max'], '.1f')} "
            f"| {_f(r['rx_realtime_ratio'], '.2f')} / {_f(r['tx_realtime_ratio'], '.2f')} "
            f"| {_f(r['rss_per_session_bytes'] / 1024, '.1f')} "
            f"| {_f(r['rss_peak_bytes'] / 2**20, '.0f')} "
            f"| {_f(r['connect_ms_per_session'], '.2f')} "
            f"| {r['lost_bytes']}/{r['lost_input_bytes']} | {_f(r['server_cpu_cores'], '.2f')} "
            f"| {r.get('stop', '')} |"
        )
    floor = floor_client(result)
    if floor is not None:
        lines += [
            "",
            f"× floor: the row's CPU per session-second ÷ that of {_label(floor)} at the same"
            " K in this run (the same traffic in pure Rust: tokio + tokio-tungstenite, every"
            " frame parsed with serde_json and every delta base64-decoded; no Python).",
        ]
    idle = idle_rows(result)
    if idle:
        lines += [
            "",
            f"Idle sessions (K={idle[0]['k']} open, no audio):",
            "",
            "| client | RSS KiB / session | connect ms / session |",
            "|---|---:|---:|",
        ]
        for r in idle:
            if "error" in r:
                lines.append(f"| {_label(r['client'])} | error: {r['error'][:80]} | – |")
            else:
                lines.append(
                    f"| {_label(r['client'])} | {r['rss_per_session_bytes'] / 1024:.1f} "
                    f"| {r['connect_ms_per_session']:.2f} |"
                )
    s = result.get("summary") or summary(result)
    lines += ["", "Summary:", ""]
    if "cpu_ref_k" in s:
        x_floor = s.get("cpu_x_floor", {})
        parts = []
        for c, v in sorted(s["cpu_ms_per_session_s"].items(), key=lambda x: _order(x[0])):
            x = x_floor.get(c, {}).get(str(s["cpu_ref_k"]))
            parts.append(f"{_label(c)} {v:.2f}" + (f" ({x:.2f}× floor)" if x else ""))
        lines.append(f"- CPU ms per session-second at K={s['cpu_ref_k']}: " + ", ".join(parts))
    held_parts = []
    for c, k in sorted(s["max_k_held"].items(), key=lambda x: _order(x[0])):
        more = " (sweep limit)" if s["max_k_held_is_sweep_limit"].get(c) else ""
        held_parts.append(f"{_label(c)} {k or 'none'}{more}")
    lines.append(
        "- Largest K held at real time with p99 < 20 ms on ≤ 1 client core: "
        + ", ".join(held_parts)
    )
    if s["idle_kib_per_session"]:
        parts = [
            f"{_label(c)} {v:.1f} KiB"
            for c, v in sorted(s["idle_kib_per_session"].items(), key=lambda x: _order(x[0]))
        ]
        lines.append("- Idle memory per open session: " + ", ".join(parts))
    lines.append(f"- Lost bytes over every completed point: {s['lost_bytes_total']}")
    stopped = result.get("stopped", {})
    if stopped:
        lines.append(
            "- Stopped: " + "; ".join(f"{_label(c)} at {why}" for c, why in stopped.items())
        )
    if result["config"].get("skipped"):
        lines.append(
            "- Not run: "
            + "; ".join(f"{_label(c)} ({why})" for c, why in result["config"]["skipped"].items())
        )
    if s["goals"]:
        lines += [
            "",
            "| goal (ratio in this run) | target | measured | met |",
            "|---|---:|---:|:---:|",
        ]
        for g in s["goals"]:
            bound = "≥ " if g["note"] else ""
            note = f" ({g['note']})" if g["note"] else ""
            op = "≤" if g.get("at_most") else "≥"
            lines.append(
                f"| {g['goal']}{note} | {op} {g['target']:g}x | {bound}{g['measured']:.2f}x "
                f"| {_MET[g['met']]} |"
            )
    return "\n".join(lines) + "\n"


def legend_label(client: str, s: dict[str, Any]) -> str:
    """A client's name in the plot, with its multiple of the floor at the summary's K."""
    ref_k = s.get("cpu_ref_k")
    x = s.get("cpu_x_floor", {}).get(client, {}).get(str(ref_k))
    return _label(client) + (f" ({x:.2f}× floor at K={ref_k})" if x is not None else "")


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    table = [r for r in rows(result) if "cpu_ms_per_session_s" in r]
    s = result.get("summary") or summary(result)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for client in sorted({r["client"] for r in table}, key=_order):
        pts = sorted((r for r in table if r["client"] == client), key=lambda r: r["k"])
        ks = [r["k"] for r in pts]
        width = 2.4 if client == "realtime_ws" else 1.4
        style = "--" if client in NATIVE else "-"
        label = legend_label(client, s)
        for ax, ys in (
            (ax1, [r["cpu_ms_per_session_s"] for r in pts]),
            (ax2, [r["latency_ms"]["p99"] for r in pts]),
        ):
            (line,) = ax.plot(ks, ys, style, label=label, linewidth=width)
            # Filled: kept up with real time; hollow: fell behind (its CPU is a lower bound).
            for r, y in zip(pts, ys, strict=True):
                ax.plot(
                    r["k"],
                    y,
                    marker="o",
                    color=line.get_color(),
                    markerfacecolor=line.get_color() if kept_up(r) else "white",
                )
    ks_all = sorted({r["k"] for r in table})
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent sessions K",
        ylabel="client CPU ms per session-second",
        title="CPU per session (lower is better)",
    )
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent sessions K",
        ylabel="p99 delivery latency, ms",
        title="p99 latency, server send → callback",
    )
    ax2.axhline(HELD_P99_MS, color="grey", linestyle=":", linewidth=1)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks(ks_all, [str(k) for k in ks_all])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax1.legend(fontsize=8, title="hollow: fell behind real time", title_fontsize=7)
    fig.suptitle(
        f"{result['config']['delta_ms']} ms server deltas + 20 ms input every 20 ms per session;"
        f" {result['machine']}",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
