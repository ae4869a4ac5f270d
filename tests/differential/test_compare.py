"""The comparator itself: it finds differences it must find, on generated values and on a
real pair of records, and tolerates only what ``ALLOWED`` lists."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from typing import Any

import pytest
from diff_compare import Options, compare, deep_diff, normalise, snake, snake_keys
from diff_harness import bytes_view, require_reference, run_python, run_reference
from diff_scenarios import BY_NAME
from hypothesis import given
from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_a_value_equals_itself(value: Any) -> None:
    assert deep_diff(value, value, "exact", Options()) == []
    assert deep_diff(value, copy.deepcopy(value), "transport", Options()) == []


@given(json_values, json_values)
def test_exact_mode_finds_every_change(a: Any, b: Any) -> None:
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (deep_diff(a, b, "exact", Options()) == []) == same


@given(st.lists(st.from_regex(r"[a-z][a-z0-9]{1,7}", fullmatch=True), min_size=1, max_size=4))
def test_camel_case_keys_become_snake_case(parts: list[str]) -> None:
    camel = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    assert snake(camel) == "_".join(parts)
    assert snake("_".join(parts)) == "_".join(parts)  # snake_case stays as it is
    assert snake_keys({camel: {"innerKey": 1}}) == {snake(camel): {"inner_key": 1}}
    assert snake_keys({"content": [{"keepMe": 1}]}) == {"content": [{"keepMe": 1}]}


def test_subset_and_transport_modes() -> None:
    opts = Options()
    # zod strips unknown keys: the reference's payload only has to be contained
    assert deep_diff({"a": 1}, {"a": 1, "b": 2}, "subset", opts) == []
    assert deep_diff({"a": 1}, {"a": 2, "b": 2}, "subset", opts) != []
    assert deep_diff({"a": 1, "c": 3}, {"a": 1}, "subset", opts) != []
    # a dataclass field that is None stands for an absent one, except where strict
    assert deep_diff({"a": 1}, {"a": 1, "b": None}, "transport", opts) == []
    assert deep_diff({"a": 1}, {"a": 1, "b": 0}, "transport", opts) != []
    strict = Options(strict_absent=frozenset({"b"}))
    assert deep_diff({"a": 1}, {"a": 1, "b": None}, "transport", strict) != []
    # audio_end_ms within the tolerance only
    assert deep_diff({"audio_end_ms": 100}, {"audio_end_ms": 150}, "exact", opts) == []
    assert deep_diff({"audio_end_ms": 100}, {"audio_end_ms": 200}, "exact", opts) != []


def _record(wire: list[dict[str, Any]], events: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    return {
        "events": [{"name": n, "args": a, "t": 0.0, "step": 0} for n, a in events],
        "steps": [{"i": 0, "op": "sleep", "t0": 0.0, "outcome": "ok"}],
        "wire": [{"event": e, "t": 0.0, "step": 0} for e in wire],
        "wire_steps": {0: 0.0},
        "sent": [],
    }


def test_allowed_normalisations() -> None:
    audio = base64.b64encode(b"\x01\x02\x03\x04").decode()
    ref = _record(
        [
            {"type": "response.create", "event_id": "agents_js_response_create_3"},
            {"type": "conversation.item.delete", "item_id": "x", "event_id": "agents_delete_1"},
            {"type": "input_audio_buffer.append", "audio": audio},
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "mcp_approval_response",
                    "approval_request_id": "r",
                    "approve": True,
                },
            },
        ],
        [
            ("audio_interrupted", []),
            ("usage_update", [{"inputTokens": 1, "inputTokensDetails": [{"a": 1}]}]),
        ],
    )
    py = _record(
        [
            {"type": "response.create", "event_id": "realtime_ws_response_create_3"},
            {
                "type": "conversation.item.delete",
                "item_id": "x",
                "event_id": "realtime_ws_delete_1",
            },
            {"type": "input_audio_buffer.append", "audio": audio},
            {
                "type": "conversation.item.create",
                "item": {
                    "id": "mcpr_" + "ab" * 12,
                    "type": "mcp_approval_response",
                    "approval_request_id": "r",
                    "approve": True,
                },
            },
        ],
        [
            ("audio_interrupted", [{"item_id": "i", "audio_end_ms": 3}]),
            ("error", [{"error": {"__exception__": "ProtocolError"}, "source": "protocol"}]),
            (
                "usage_update",
                [{"input_tokens": 1, "input_tokens_details": {"a": 1}, "requests": 1}],
            ),
        ],
    )
    assert compare("allowed", ref, py, Options()).ok
    assert normalise(py, "py")["wire"][2]["event"]["audio"] == bytes_view(b"\x01\x02\x03\x04")
    # ... and nothing more: another counter, another id, a server error are differences
    for mutate in (
        lambda r: r["wire"][0]["event"].update(event_id="realtime_ws_response_create_4"),
        lambda r: r["wire"][3]["event"]["item"].update(id="mcpr_other"),
        lambda r: r["events"][1]["args"][0].update(source="server"),
        lambda r: r["events"][2]["args"][0].update(input_tokens_details={"a": 2}),
    ):
        changed = copy.deepcopy(py)
        mutate(changed)
        assert not compare("mutated", ref, changed, Options()).ok


@pytest.fixture(scope="module")
def real_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    """One real run of a scenario that matches, played once for all the mutations (in its
    own event loop: a module-scoped fixture outlives the tests' loops)."""
    require_reference()
    scenario = BY_NAME["interrupt_manual"]

    async def play() -> tuple[dict[str, Any], dict[str, Any]]:
        return await run_reference(scenario), await run_python(scenario)

    return asyncio.run(play())


def _find(record: dict[str, Any], where: str, pred: Any) -> dict[str, Any]:
    return next(x for x in record[where] if pred(x))


@pytest.mark.parametrize(
    "mutation",
    [
        "truncate_later",
        "drop_audio_interrupted",
        "extra_wire_event",
        "star_payload",
        "late_event",
        "step_raised",
    ],
)
def test_a_real_record_pair_matches_and_every_mutation_is_caught(
    real_pair: tuple[dict[str, Any], dict[str, Any]], mutation: str
) -> None:
    ref, py = real_pair
    assert compare("real", ref, py, Options()).ok, compare("real", ref, py, Options()).report()
    py = copy.deepcopy(py)
    if mutation == "truncate_later":
        ev = _find(py, "wire", lambda w: w["event"]["type"] == "conversation.item.truncate")
        ev["event"]["audio_end_ms"] += 100
    elif mutation == "drop_audio_interrupted":
        py["events"] = [e for e in py["events"] if e["name"] != "audio_interrupted"]
    elif mutation == "extra_wire_event":
        py["wire"].append({"event": {"type": "response.cancel"}, "t": 1.0, "step": 0})
    elif mutation == "star_payload":
        _find(py, "events", lambda e: e["name"] == "*")["args"][0]["extra"] = 1
    elif mutation == "late_event":
        _find(py, "events", lambda e: e["name"] == "audio_interrupted")["t"] += 1000
    elif mutation == "step_raised":
        py["steps"][2]["outcome"] = "raised"
    assert not compare("mutated", ref, py, Options()).ok
