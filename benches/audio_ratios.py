"""Ratio tables from one pytest-benchmark JSON run of benches/test_bench_audio.py.

    pytest benches/test_bench_audio.py --benchmark-json=/tmp/audio.json
    python benches/audio_ratios.py /tmp/audio.json [/tmp/audio2.json ...]

With several JSON files (back-to-back runs), each figure is the best over all of them.

For every group, each implementation's time per call: the mean over one round of
consecutive calls (a multiple of soxr.ResampleStream's 2-4-call output bursts, so
bursty work is fully counted), the fastest of the rounds (the one least disturbed by
other load on a shared machine; ``--stat=mean`` for the mean over all rounds); and its speed
relative to the group's reference (binascii, soxr-stream of the same dtype,
audioop): ratio = reference mean / implementation mean (> 1: ours is faster);
and, when the run has ``before-*`` implementations (``AUDIO_BENCH_BEFORE``), the
speed-up of each ``ours-*`` over its ``before-*`` counterpart.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def reference(group: str, impl: str) -> str | None:
    if group.startswith("b64"):
        return "binascii"
    if group.startswith("resample"):
        # bytes input is PCM16, like soxr's int16 stream.
        return "soxr-stream-f32" if impl.endswith("f32") else "soxr-stream-i16"
    if group.startswith("g711"):
        return "audioop"
    return None


def main(paths: list[str], stat: str = "min") -> None:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data["benchmarks"]:
            impl, t = b["params"]["impl"], b["stats"][stat]
            g = groups[b["group"]]
            g[impl] = min(g.get(impl, t), t)
    print(f"| group | impl | {stat} µs | vs reference | vs before |")
    print("|---|---|---|---|---|")
    for group in sorted(groups, key=lambda g: (g.split("-")[0], g)):
        impls = groups[group]
        for impl, t in sorted(impls.items(), key=lambda kv: kv[1]):
            ref = reference(group, impl)
            ratio = ""
            if ref and ref in impls and ref != impl:
                ratio = f"{impls[ref] / t:.2f}x {ref}"
            prior = None
            if impl.startswith("ours"):
                prior = impls.get(impl.replace("ours", "before", 1))
            gain = f"{prior / t:.2f}x" if prior else ""
            print(f"| {group} | {impl} | {t * 1e6:.2f} | {ratio} | {gain} |")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--stat")]
    stats = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--stat=")]
    main(args or ["/tmp/audio.json"], stats[0] if stats else "min")
