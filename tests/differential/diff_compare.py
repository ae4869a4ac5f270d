"""Compares the records of one scenario played by the reference and by this package.

Normalisation removes what legitimately differs between two runs (the mock's random ids and
timestamps) and what differs on purpose between the two clients: the ``ALLOWED`` list below,
each entry with its reason. Everything else is a difference, reported with the first
differing event of both sides.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from diff_harness import bytes_view


@dataclasses.dataclass(frozen=True)
class Allowed:
    key: str
    what: str
    reason: str


# The allowed differences. Each is applied by the normalisation or the comparison below
# (search for its key); nothing else is tolerated.
ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        "event-id-prefix",
        "generated event ids: `agents_js_response_create_N` (reference) vs "
        "`realtime_ws_response_create_N`; `agents_create_N`/`agents_delete_N` vs "
        "`realtime_ws_create_N`/`realtime_ws_delete_N` for reset_history requests",
        "the prefix names the client (README 'Differences from the reference'); the counter "
        "and which events carry an id are still compared",
    ),
    Allowed(
        "mcp-response-id",
        "this package gives the `mcp_approval_response` item an `id` (`mcpr_<24 hex>`)",
        "the openai SDK's item model requires one (README 'Differences from the reference')",
    ),
    Allowed(
        "protocol-error-events",
        "extra `error` events with source `protocol` (malformed text frames, binary frames, "
        "undecodable audio)",
        "README 'Differences from the reference': reported instead of dropped silently; the "
        "events the reference does emit for such frames are still compared",
    ),
    Allowed(
        "payloadless-events",
        "`audio_interrupted`, `audio_done` and `disconnected` carry no payload in the "
        "reference; here a dataclass (AudioInterruptedEvent, AudioDoneEvent, CloseInfo)",
        "extra information for Python users (README Events table); the common fields are "
        "none, so only the event and its position are compared",
    ),
    Allowed(
        "extra-payload-fields",
        "extra fields in transport payloads: `audio` (event_id, item_id, content_index), "
        "`error` (source), usage (requests), turn_done (timing), item_update (call_id), "
        "function_call "
        "(previous_item_id), `type` in item_deleted and mcp_tools_listed",
        "documented extensions (README Events table); every field the reference has is compared",
    ),
    Allowed(
        "none-is-absent",
        "a payload field the reference leaves undefined is None in this package's dataclass",
        "a dataclass has every field; only where the absent/null distinction carries meaning "
        "(previous_item_id, issue 12 #12) do scenarios compare it strictly",
    ),
    Allowed(
        "zod-stripped",
        "events emitted under a server event's own name, and message content parts, are "
        "zod-parsed in the reference (unknown keys stripped); here the dict as received",
        "the reference's payload must be a subset of this package's (every key it has, equal)",
    ),
    Allowed(
        "usage-details",
        "`usage_update`: the reference's Usage holds `inputTokensDetails`/`outputTokensDetails` "
        "as a list with one entry per request; here one dict",
        "this package's Usage follows the Python agents SDK (one details object); for one "
        "response the list has exactly one entry, which is what is compared",
    ),
    Allowed(
        "zod-rejected",
        "frames of a type the reference knows but whose content its zod schema rejects (e.g. "
        "a conversation item with an `input_image` part) reach only `*` there; here they are "
        "emitted by name and produce their transport events (item_update ...)",
        "valid GA events the reference's narrower schema does not admit; listed as a "
        "reference limitation. Only the events this package derives from such a frame are "
        "skipped; the frame's `*` event is compared",
    ),
    Allowed(
        "prompt-id",
        "a `prompt` given with the API's own `id` (snake_case) is sent with that id; the "
        "reference reads only `promptId` and drops `id` (sending `prompt: {version}`)",
        "issue 12 #5: both spellings are accepted and the API shape `{id, version, "
        "variables}` is sent; `promptId` behaves exactly as in the reference",
    ),
    Allowed(
        "mcp-camel-keys",
        "an MCP tool's camelCase keys (`requireApproval`, `allowedTools`, `serverLabel` ...) "
        "are converted to the API's snake_case; the reference reads only snake_case keys "
        "and drops the others",
        "a Python user porting a TS config keeps the tool's policy (README, Session "
        "configuration); snake_case keys behave exactly as in the reference",
    ),
    Allowed(
        "audio-partial-sample",
        "`send_audio` with a byte count that is not a whole number of PCM16 samples: the "
        "trailing byte is carried to the next call (3 + 1 bytes go out as 2 + 2); the "
        "reference sends each buffer as given",
        "issue 12 #14: PCM16 on the wire stays aligned and nothing is lost; a byte left "
        "dangling at commit or close is reported (README, Sending)",
    ),
)
ALLOWED_KEYS = frozenset(a.key for a in ALLOWED)

PAYLOADLESS = frozenset({"audio_interrupted", "audio_done", "disconnected"})
EXTRA_FIELDS: dict[str, frozenset[str]] = {
    "audio": frozenset({"event_id", "item_id", "content_index"}),
    "error": frozenset({"source"}),
    "usage_update": frozenset({"requests"}),
    "turn_done": frozenset({"requests", "timing"}),
    "function_call": frozenset({"previous_item_id"}),
    "item_update": frozenset({"call_id"}),
    "mcp_tools_listed": frozenset({"type"}),
    "item_deleted": frozenset({"type"}),
}
# Subtrees of transport payloads that hold API data (snake_case already, or user data):
# their keys are not converted from camelCase.
RAW_SUBTREES = frozenset({"provider_data", "arguments", "tools", "content", "output", "error"})
ID_KEYS = frozenset(
    {
        "id",
        "event_id",
        "item_id",
        "response_id",
        "previous_item_id",
        "conversation_id",
        "call_id",
        "approval_request_id",
    }
)
_RANDOM_ID = re.compile(r"^(?:[a-z]+_[A-Za-z0-9]{12,}|evt_\d+_\d+)$")
_RESPONSE_CREATE_ID = re.compile(r"^(?:agents_js|realtime_ws)_response_create_(\d+)$")
_HISTORY_ID = re.compile(r"^(?:agents|realtime_ws)_(create|delete)_(\d+)$")
_MCP_RESPONSE_ID = re.compile(r"^mcpr_[0-9a-f]{24}$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(key: str) -> str:
    return key if key.startswith("__") else _CAMEL.sub("_", key).lower()


def snake_keys(value: Any) -> Any:
    """camelCase keys to snake_case, recursively, except inside ``RAW_SUBTREES``."""
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        sk = snake(k)
        out[sk] = v if sk in RAW_SUBTREES else snake_keys(v)
    return out


# -- normalisation -------------------------------------------------------------------------------


def _walk_strings(value: Any, key: str | None, visit: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk_strings(v, k, visit)
    elif isinstance(value, list):
        for v in value:
            _walk_strings(v, key, visit)
    elif isinstance(value, str):
        visit(key, value)


def id_map(sent: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The mock's random ids (in the order it generated them) to stable names."""
    mapping: dict[str, str] = {}
    counters: dict[str, int] = {}

    def visit(key: str | None, s: str) -> None:
        if key in ID_KEYS and _RANDOM_ID.match(s) and s not in mapping:
            prefix = s.split("_", 1)[0]
            counters[prefix] = counters.get(prefix, 0) + 1
            mapping[s] = f"<{prefix}#{counters[prefix]}>"

    for ev in sent:
        _walk_strings(ev, None, visit)
    return mapping


def _rename(value: Any, mapping: Mapping[str, str], key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _rename(v, mapping, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, mapping, key) for v in value]
    if isinstance(value, str):
        value = mapping.get(value, value)
        if key == "event_id" or key is None:
            m = _RESPONSE_CREATE_ID.match(value)
            if m:
                return f"<response_create_{m.group(1)}>"  # ALLOWED event-id-prefix
            m = _HISTORY_ID.match(value)
            if m:
                return f"<history_{m.group(1)}_{m.group(2)}>"  # ALLOWED event-id-prefix
        return value
    if key == "expires_at" and isinstance(value, (int, float)):
        return "<timestamp>"
    return value


def _wire_event(ev: dict[str, Any]) -> dict[str, Any]:
    ev = dict(ev)
    if ev.get("type") == "input_audio_buffer.append" and isinstance(ev.get("audio"), str):
        with contextlib.suppress(binascii.Error, ValueError):  # not base64: compared as is
            ev["audio"] = bytes_view(base64.b64decode(ev["audio"], validate=True))
    item = ev.get("item")
    if (
        ev.get("type") == "conversation.item.create"
        and isinstance(item, dict)
        and item.get("type") == "mcp_approval_response"
        and isinstance(item.get("id"), str)
        and _MCP_RESPONSE_ID.match(item["id"])
    ):
        ev["item"] = {k: v for k, v in item.items() if k != "id"}  # ALLOWED mcp-response-id
    return ev


def _one_request_usage(usage: Any) -> Any:
    """The reference's ``Usage`` keeps token details per request, as a list; one response
    is one request, so its single entry is compared with this package's dict."""
    if not isinstance(usage, dict):
        return usage
    out = dict(usage)
    for key in ("input_tokens_details", "output_tokens_details"):
        value = out.get(key)
        if isinstance(value, list) and len(value) == 1:
            out[key] = value[0]
        elif isinstance(value, list) and not value:
            out[key] = {}
    return out


def _is_protocol_error(ev: Mapping[str, Any]) -> bool:
    if ev["name"] != "error" or not ev["args"]:
        return False
    payload = ev["args"][0]
    return isinstance(payload, dict) and payload.get("source") == "protocol"


def normalise(record: Mapping[str, Any], side: str) -> dict[str, Any]:
    """``side`` is ``"ref"`` or ``"py"``."""
    mapping = id_map(record.get("sent", []))
    step_t0 = {s["i"]: s["t0"] for s in record.get("steps", [])}
    wire_t0 = {int(k): v for k, v in record.get("wire_steps", {}).items()}
    events: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for ev in record["events"]:
        name = ev["name"]
        if side == "py" and _is_protocol_error(ev):
            dropped.append(ev)  # ALLOWED protocol-error-events
            continue
        args = _rename(ev["args"], mapping)
        if name in PAYLOADLESS:
            args = []  # ALLOWED payloadless-events
        elif side == "ref" and "." not in name and name != "*":
            args = [snake_keys(a) for a in args]
            if name == "usage_update":
                args = [_one_request_usage(a) for a in args]  # ALLOWED usage-details
        events.append(
            {
                "name": name,
                "args": args,
                "t": ev["t"],
                "step": ev["step"],
                "dt": ev["t"] - step_t0.get(ev["step"], 0.0),
            }
        )
    wire = [
        {
            "event": _wire_event(_rename(w["event"], mapping)),
            "t": w["t"],
            "step": w["step"],
            "dt": w["t"] - wire_t0.get(w["step"], 0.0),
        }
        for w in record.get("wire", [])
    ]
    steps = [
        {"i": s["i"], "op": s["op"], "outcome": s["outcome"], "error": s.get("error")}
        for s in record.get("steps", [])
    ]
    return {
        "events": events,
        "wire": wire,
        "steps": steps,
        "dropped": dropped,
        "uncaught": record.get("uncaught", []),
    }


# -- comparison ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Options:
    timing_tol_ms: float = 300.0
    audio_tol_ms: float = 60.0
    #: payload keys compared strictly (absent is not None), e.g. previous_item_id.
    strict_absent: frozenset[str] = frozenset()


_MISSING = object()


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def deep_diff(
    ref: Any, py: Any, mode: str, opts: Options, path: str = "", extra: frozenset[str] = frozenset()
) -> list[tuple[str, Any, Any]]:
    """Differences as ``(path, ref, py)``. ``mode``: ``exact``, ``subset`` (the reference's
    keys only) or ``transport`` (reference keys required; this package's extra keys allowed
    when None or listed in ``extra``)."""
    if isinstance(ref, dict) and isinstance(py, dict):
        out: list[tuple[str, Any, Any]] = []
        sub_mode = mode
        for k, rv in ref.items():
            p = f"{path}.{k}"
            if k not in py:
                if mode == "transport" and rv is None and k not in opts.strict_absent:
                    continue  # ALLOWED none-is-absent (null on the reference side)
                out.append((p, rv, "<absent>"))
                continue
            child = "subset" if (mode == "transport" and k == "content") else sub_mode
            out.extend(deep_diff(rv, py[k], child, opts, p, extra))  # ALLOWED zod-stripped
        if mode != "subset":
            for k, pv in py.items():
                if k in ref:
                    continue
                if mode == "transport" and (
                    k in extra or (pv is None and k not in opts.strict_absent)
                ):
                    continue  # ALLOWED extra-payload-fields / none-is-absent
                out.append((f"{path}.{k}", "<absent>", pv))
        return out
    if isinstance(ref, list) and isinstance(py, list):
        out = []
        if len(ref) != len(py):
            out.append((f"{path}.length", len(ref), len(py)))
        for i, (rv, pv) in enumerate(zip(ref, py, strict=False)):  # length reported above
            out.extend(deep_diff(rv, pv, mode, opts, f"{path}[{i}]", extra))
        return out
    if path.endswith(".audio_end_ms") and _num(ref) and _num(py):
        return [] if abs(ref - py) <= opts.audio_tol_ms else [(path, ref, py)]
    if _num(ref) and _num(py):
        return [] if ref == py else [(path, ref, py)]
    if type(ref) is not type(py) or ref != py:
        return [(path, ref, py)]
    return []


def _event_mode(name: str) -> str:
    if name == "*":
        return "exact"
    if "." in name:
        return "subset"  # ALLOWED zod-stripped
    return "transport"


def _event_sig(ev: Mapping[str, Any]) -> str:
    name: str = ev["name"]
    a = ev["args"][0] if ev["args"] else None
    if isinstance(a, dict):
        if name == "*" or "." in name:
            return f"{name}:{a.get('type')}:{a.get('event_id')}"
        for key in ("response_id",) if name == "audio" else ("item_id", "id", "response_id"):
            if isinstance(a.get(key), str):
                return f"{name}:{a[key]}"
        if name == "error" and isinstance(a.get("error"), dict):
            inner = a["error"]
            return f"{name}:{inner.get('event_id', inner.get('__exception__'))}"
    if isinstance(a, str):
        return f"{name}:{a}"
    return name


def _wire_sig(w: Mapping[str, Any]) -> str:
    ev = w["event"]
    if not isinstance(ev, dict):
        return repr(ev)[:60]
    return str(ev.get("type", "<raw>" if "__raw__" in ev else "<binary>"))


def short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@dataclasses.dataclass
class Difference:
    where: str  # "wire", "events", "steps"
    summary: str
    ref: Any = None
    py: Any = None
    index: int = -1

    def line(self) -> str:
        return f"[{self.where}] {self.summary}"

    def render(self) -> str:
        lines = [f"[{self.where}] {self.summary}"]
        if self.ref is not None or self.py is not None:
            lines.append(f"    reference: {short(self.ref)}")
            lines.append(f"    realtime_ws: {short(self.py)}")
        return "\n".join(lines)


def _late(r: Mapping[str, Any], p: Mapping[str, Any], opts: Options) -> bool:
    """Timing check: within the same step, the time since the step started (no drift from
    earlier steps); across a step boundary, the time since the first step."""
    if r["step"] == p["step"]:
        return bool(abs(r["dt"] - p["dt"]) > opts.timing_tol_ms)
    return bool(abs(r["t"] - p["t"]) > opts.timing_tol_ms)


def _sigs(items: list[dict[str, Any]], sig: Any, limit: int = 10) -> str:
    names = [sig(x) for x in items]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _compare_seq(
    where: str,
    ref: list[dict[str, Any]],
    py: list[dict[str, Any]],
    sig: Any,
    body: Any,
    opts: Options,
) -> list[Difference]:
    out: list[Difference] = []
    sm = difflib.SequenceMatcher(a=[sig(x) for x in ref], b=[sig(x) for x in py], autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                r, p = ref[i1 + k], py[j1 + k]
                diffs = body(r, p)
                if diffs:
                    details = "; ".join(
                        f"{pth or '<payload>'}: {short(rv, 160)} != {short(pv, 160)}"
                        for pth, rv, pv in diffs[:4]
                    )
                    out.append(
                        Difference(where, f"#{i1 + k}/{j1 + k} {sig(r)}: {details}", r, p, i1 + k)
                    )
                elif _late(r, p, opts):
                    out.append(
                        Difference(
                            where,
                            f"#{i1 + k}/{j1 + k} {sig(r)}: at {r['t']:.0f} ms (reference) vs "
                            f"{p['t']:.0f} ms (realtime_ws) (steps {r['step']}/{p['step']}), "
                            f"tolerance {opts.timing_tol_ms:.0f} ms",
                            index=i1 + k,
                        )
                    )
            continue
        rs, ps = ref[i1:i2], py[j1:j2]
        label = {
            "delete": "only in the reference",
            "insert": "only in realtime_ws",
            "replace": "different",
        }[tag]
        out.append(
            Difference(
                where,
                f"#{i1}/{j1} {label}: reference [{_sigs(rs, sig)}] vs "
                f"realtime_ws [{_sigs(ps, sig)}]",
                rs[0] if rs else None,
                ps[0] if ps else None,
                i1,
            )
        )
    return out


@dataclasses.dataclass
class Comparison:
    scenario: str
    differences: list[Difference]
    ref: dict[str, Any]
    py: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.differences

    def report(self, limit: int = 12) -> str:
        if self.ok:
            return f"{self.scenario}: no difference"
        lines = [f"{self.scenario}: {len(self.differences)} difference(s)"]
        for d in self.differences[:limit]:
            lines.append(d.render())
        if len(self.differences) > limit:
            lines.append(f"... and {len(self.differences) - limit} more")
        for side, rec in (("reference", self.ref), ("realtime_ws", self.py)):
            lines.append(f"--- {side}: wire " + ", ".join(_wire_sig(w) for w in rec["wire"]))
            lines.append(
                f"--- {side}: events "
                + ", ".join(_event_sig(e) for e in rec["events"] if e["name"] != "*")
            )
        if self.ref["uncaught"]:
            lines.append(
                f"--- the reference threw from its socket handler: "
                f"{short(self.ref['uncaught'], 400)}"
            )
        return "\n".join(lines)


def _frame_key(ev: Mapping[str, Any]) -> str:
    return json.dumps(ev["args"], sort_keys=True)


def _generic_in_reference(events: list[dict[str, Any]]) -> set[str]:
    """The frames (keyed by their ``*`` payload) of a type the reference knows that it
    passed to ``*`` only: its zod schema rejected them."""
    keys: set[str] = set()
    for i, ev in enumerate(events):
        if ev["name"] != "*" or not ev["args"] or not isinstance(ev["args"][0], dict):
            continue
        type_ = ev["args"][0].get("type")
        if not isinstance(type_, str):
            continue
        nxt = events[i + 1] if i + 1 < len(events) else None
        if nxt is None or nxt["name"] != type_:
            keys.add(_frame_key(ev))
    return keys


def _drop_derived(
    events: list[dict[str, Any]], frames: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Removes the events emitted right after (same step, before the next ``*``) each frame
    in ``frames``; returns (kept, dropped)."""
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    skipping_step: int | None = None
    for ev in events:
        if ev["name"] == "*":
            skipping_step = ev["step"] if _frame_key(ev) in frames else None
            kept.append(ev)
        elif skipping_step is not None and ev["step"] == skipping_step:
            dropped.append(ev)  # ALLOWED zod-rejected
        else:
            skipping_step = None
            kept.append(ev)
    return kept, dropped


def compare(
    name: str, ref_record: Mapping[str, Any], py_record: Mapping[str, Any], opts: Options
) -> Comparison:
    ref = normalise(ref_record, "ref")
    py = normalise(py_record, "py")
    py["events"], dropped = _drop_derived(py["events"], _generic_in_reference(ref["events"]))
    py["dropped"].extend(dropped)
    diffs: list[Difference] = []
    if len(ref["steps"]) != len(py["steps"]):
        diffs.append(
            Difference(
                "steps",
                f"{len(ref['steps'])} steps ran (reference) vs {len(py['steps'])} (realtime_ws)",
            )
        )
    for rs, ps in zip(ref["steps"], py["steps"], strict=False):
        if rs["outcome"] != ps["outcome"]:
            diffs.append(
                Difference(
                    "steps",
                    f"step {rs['i']} ({rs['op']}): {rs['outcome']} (reference) vs "
                    f"{ps['outcome']} (realtime_ws)",
                    rs.get("error"),
                    ps.get("error"),
                    rs["i"],
                )
            )
    diffs.extend(
        _compare_seq(
            "wire",
            ref["wire"],
            py["wire"],
            _wire_sig,
            lambda r, p: deep_diff(r["event"], p["event"], "exact", opts),
            opts,
        )
    )
    diffs.extend(
        _compare_seq(
            "events",
            ref["events"],
            py["events"],
            _event_sig,
            lambda r, p: deep_diff(
                r["args"],
                p["args"],
                _event_mode(r["name"]),
                opts,
                extra=EXTRA_FIELDS.get(r["name"], frozenset()),
            ),
            opts,
        )
    )
    return Comparison(name, diffs, ref, py)
