"""Makes a skipped differential suite impossible to miss in the terminal summary."""

from __future__ import annotations

from typing import Any

from diff_harness import node_status


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if "differential" in str(getattr(r, "nodeid", ""))
    ]
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"differential suite SKIPPED ({len(skipped)} tests): {node_status()}; "
            "install node and run `npm ci` in tests/differential",
            red=True,
            bold=True,
        )
