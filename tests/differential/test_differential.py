"""The differential suite: every scenario of ``diff_scenarios`` is played with the reference
(``@openai/agents-realtime``, pinned in ``package-lock.json``, run by ``driver.mjs``) and
with this package, each against its own mock server, and the records must match up to the
``ALLOWED`` differences of ``diff_compare``.

Scenarios that differ today are ``xfail(strict=True)`` with the issue item they belong to:
they turn red (XPASS) once the behaviour is fixed, so the mark must then be removed. A
scenario that differs on purpose names its ``ALLOWED`` entry (``deliberate``): it passes
only while it differs exactly as its ``known`` patterns say, so a difference that has
gone away must be dropped from the list too.

Needs node and ``npm ci`` in this directory (``scripts/test`` does it). Without them the
tests are skipped with a message in the terminal summary, except in CI (``CI`` or
``REALTIME_WS_CI`` set, as ``.ci/run`` does), where that is a failure.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from diff_compare import ALLOWED, ALLOWED_KEYS, Options, compare
from diff_harness import require_reference, run_python, run_reference
from diff_scenarios import SCENARIOS


def _options(scenario: dict[str, Any]) -> Options:
    opts = dict(scenario.get("options", {}))
    if "strict_absent" in opts:
        opts["strict_absent"] = frozenset(opts["strict_absent"])
    return Options(**opts)


class KnownDifferences(Exception):
    """The scenario differs from the reference exactly in the ways its ``known`` patterns
    describe (the issue item of its xfail reason). Any other difference is a plain failure,
    which the xfail mark does not cover."""


def _params() -> list[Any]:
    params = []
    for sc in SCENARIOS:
        marks = []
        if sc.get("xfail"):
            marks.append(
                pytest.mark.xfail(strict=True, raises=KnownDifferences, reason=sc["xfail"])
            )
        params.append(pytest.param(sc, id=sc["name"], marks=marks))
    return params


@pytest.fixture(scope="module")
def reference() -> None:
    require_reference()


@pytest.mark.parametrize("scenario", _params())
async def test_scenario_matches_the_reference(scenario: dict[str, Any], reference: None) -> None:
    ref = await run_reference(scenario)
    py = await run_python(scenario)
    result = compare(scenario["name"], ref, py, _options(scenario))
    deliberate = scenario.get("deliberate")
    if result.ok:
        if deliberate:
            pytest.fail(f"the deliberate difference {deliberate!r} no longer happens: drop it")
        return
    known = [re.compile(p) for p in scenario["known"]]
    unexplained = [d for d in result.differences if not any(k.search(d.line()) for k in known)]
    report = f"{scenario['doc']}\n{result.report()}"
    if unexplained:
        lines = "\n".join(d.line()[:300] for d in unexplained[:10])
        pytest.fail(
            f"{report}\nnot explained by the scenario's known differences:\n{lines}", pytrace=False
        )
    if deliberate:
        assert deliberate in ALLOWED_KEYS, deliberate
        return
    raise KnownDifferences(report)


def test_scenario_names_are_unique_and_reasons_name_an_issue_item() -> None:
    names = [sc["name"] for sc in SCENARIOS]
    assert len(names) == len(set(names))
    for sc in SCENARIOS:
        reason = sc.get("xfail")
        assert reason is None or reason.startswith(("issue 12 #", "new")), sc["name"]


def test_allowed_list_is_short_and_explained() -> None:
    assert len(ALLOWED) <= 14
    for allowed in ALLOWED:
        assert allowed.what, allowed.key
        assert allowed.reason, allowed.key
