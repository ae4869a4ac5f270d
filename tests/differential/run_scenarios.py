"""Plays differential scenarios by hand and prints the comparison.

python tests/differential/run_scenarios.py                 # every scenario, one line each
python tests/differential/run_scenarios.py NAME [NAME...] -v   # the full report
python tests/differential/run_scenarios.py NAME --dump DIR     # also write both records
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diff_compare import Comparison, Options, compare
from diff_harness import run_python, run_reference
from diff_scenarios import BY_NAME, SCENARIOS


def options_of(scenario: dict[str, Any]) -> Options:
    opts = dict(scenario.get("options", {}))
    if "strict_absent" in opts:
        opts["strict_absent"] = frozenset(opts["strict_absent"])
    return Options(**opts)


async def play(scenario: dict[str, Any]) -> Comparison:
    ref = await run_reference(scenario)
    py = await run_python(scenario)
    return compare(scenario["name"], ref, py, options_of(scenario))


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("names", nargs="*")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--dump", type=Path, help="write <name>.ref.json / <name>.py.json here")
    args = p.parse_args(argv)
    chosen = [BY_NAME[n] for n in args.names] if args.names else SCENARIOS
    unexpected = 0
    for sc in chosen:
        ref = await run_reference(sc)
        py = await run_python(sc)
        result = compare(sc["name"], ref, py, options_of(sc))
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"{sc['name']}.ref.json").write_text(json.dumps(ref, indent=1))
            (args.dump / f"{sc['name']}.py.json").write_text(json.dumps(py, indent=1))
        expected = "xfail" if sc.get("xfail") else "match"
        got = "match" if result.ok else f"{len(result.differences)} diff"
        flag = "" if (result.ok == (expected == "match")) else "   <-- UNEXPECTED"
        unexpected += bool(flag)
        print(f"{sc['name']:40} expected {expected:6} got {got}{flag}")
        if args.verbose and not result.ok:
            print(result.report(limit=40))
            print()
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
