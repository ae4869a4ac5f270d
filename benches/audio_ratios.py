"""Ratio tables from one pytest-benchmark JSON run of benches/test_bench_audio.py.

    pytest benches/test_bench_audio.py --benchmark-json=/tmp/audio.json
    python benches/audio_ratios.py /tmp/audio.json

For every group, each implementation's mean time per call (the mean, not the median or
min: soxr.ResampleStream works in bursts, emitting output on only some calls, so
only the mean is its cost per chunk) and its speed
relative to the group's reference (binascii, soxr-stream of the same dtype,
audioop): ratio = reference mean / implementation mean (> 1: ours is faster).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def reference(group: str, impl: str) -> str | None:
    if group.startswith("b64"):
        return "binascii"
    if group.startswith("resample"):
        return "soxr-stream-f32" if impl.endswith("f32") else "soxr-stream-i16"
    if group.startswith("g711"):
        return "audioop"
    return None


def main(path: str) -> None:
    with open(path) as f:
        data = json.load(f)
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for b in data["benchmarks"]:
        impl = b["params"]["impl"]
        groups[b["group"]][impl] = b["stats"]["mean"]
    print("| group | impl | mean µs | vs reference |")
    print("|---|---|---|---|")
    for group in sorted(groups, key=lambda g: (g.split("-")[0], g)):
        impls = groups[group]
        for impl, t in sorted(impls.items(), key=lambda kv: kv[1]):
            ref = reference(group, impl)
            ratio = ""
            if ref and ref in impls and ref != impl:
                ratio = f"{impls[ref] / t:.2f}x {ref}"
            print(f"| {group} | {impl} | {t * 1e6:.2f} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/audio.json")
