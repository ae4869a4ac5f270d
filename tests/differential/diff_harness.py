"""Plays one differential scenario with the reference (node, ``driver.mjs``) or with this
package, each against its own fresh ``MockRealtimeServer`` with the same options, and
returns a JSON-safe record of what happened:

``{"events": [...], "steps": [...], "wire": [...], "sent": [...], "uncaught": [...]}``

- ``events``: every event the client emitted, in order, ``{"name", "args", "t", "step"}``
  (``t`` in ms since the first step started, on the client's own monotonic clock);
- ``steps``: per step ``{"i", "op", "outcome": "ok" | "raised" | "timeout" | ..., "error"}``;
- ``wire``: the client events the mock received (``server.received()``), each
  ``{"event", "t", "step"}`` with ``t`` taken by this process when it first saw the event
  (same observer, same clock, for both clients);
- ``sent``: the events the mock generated itself (to canonicalise its random ids).

A scenario is ``{"name", "server": {mock options}, "steps": [...], ...}``; steps use the
reference's method names (see ``driver.mjs``); ``step["py"]`` overrides arguments for this
package (e.g. a snake_case config). Server steps (``inject``, ``injectBinary``,
``serverWait``, ``setResponses``, ``serverClose``, ``serverDrop``) are run here for both
clients, through the mock's public API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import enum
import hashlib
import json
import os
import shutil
import time
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from diff_proxy import HandshakeProxy

from realtime_ws import OpenAIRealtimeWebSocket
from realtime_ws.items import ABSENT
from realtime_ws.testing import MockRealtimeServer

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.mjs"
API_KEY = "sk-differential-test"


SERVER_OPS = frozenset(
    {"inject", "injectBinary", "serverWait", "setResponses", "serverClose", "serverDrop"}
)

# Events this package may emit that are not server event types (the reference's transport
# events; a Python-only name would show up as a difference only if listed here).
TRANSPORT_EVENTS = (
    "audio",
    "audio_done",
    "audio_interrupted",
    "audio_transcript_delta",
    "connected",
    "connection_change",
    "disconnected",
    "error",
    "function_call",
    "item_deleted",
    "item_update",
    "mcp_approval_request",
    "mcp_tool_call_completed",
    "mcp_tools_listed",
    "output_text_delta",
    "turn_done",
    "turn_started",
    "usage_update",
    "*",
)


def _server_event_types() -> tuple[str, ...]:
    """Every GA server event type of the openai SDK's union (both clients may emit each
    under its own name)."""
    from openai.types.realtime import RealtimeServerEvent

    union = typing.get_args(RealtimeServerEvent)[0]
    names: list[str] = []
    for model in typing.get_args(union):
        names.extend(typing.get_args(model.model_fields["type"].annotation))
    return tuple(sorted(set(names)))


RECORDED_EVENTS = tuple(dict.fromkeys(TRANSPORT_EVENTS + _server_event_types()))


class DriverUnavailable(RuntimeError):
    """node or the installed reference package is missing."""


def node_status() -> str | None:
    """None when the reference can run, else why not."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (HERE / "node_modules" / "@openai" / "agents-realtime" / "package.json").is_file():
        return "the reference is not installed: run `npm ci` in tests/differential"
    return None


def require_reference() -> None:
    """Skips the calling test (with the reason) when the reference cannot run; fails it
    instead in CI, where the differential suite must run."""
    import pytest

    why = node_status()
    if why is None:
        return
    if env_is_ci():
        pytest.fail(f"the differential suite cannot run in CI: {why}", pytrace=False)
    pytest.skip(f"differential suite SKIPPED: {why}")


def now_ms() -> float:
    return time.monotonic() * 1000.0


# -- JSON-safe view of Python payloads -----------------------------------------------------------


def bytes_view(data: bytes) -> dict[str, Any]:
    return {"__bytes__": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def to_json_safe(value: Any, depth: int = 0) -> Any:
    """Dataclasses and the core's payload objects become dicts of their fields; audio
    becomes its length and sha256; exceptions their class name and message."""
    if depth > 64:
        return "<too deep>"
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes_view(bytes(value))
    if type(value).__module__ == "numpy" or hasattr(value, "__array_interface__"):
        return bytes_view(bytes(memoryview(value).cast("B")))
    if isinstance(value, BaseException):
        return {"__exception__": type(value).__name__, "message": str(value)}
    if isinstance(value, enum.Enum):
        return to_json_safe(value.value, depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # realtime_ws.items.ABSENT is the reference's `undefined`: the field is left out.
        return {
            f.name: to_json_safe(getattr(value, f.name), depth + 1)
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not ABSENT
        }
    if isinstance(value, Mapping):
        return {str(k): to_json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v, depth + 1) for v in value]
    # The core's payload objects (AudioEvent, AudioInterruptedEvent): their public data
    # attributes.
    out: dict[str, Any] = {}
    for name in dir(value):
        if name.startswith("_"):
            continue
        with contextlib.suppress(Exception):
            attr = getattr(value, name)
            if not callable(attr):
                out[name] = to_json_safe(attr, depth + 1)
    return out


# -- the mock server's side (shared by both runs) ----------------------------------------------


class Observer:
    """Tracks the current step and timestamps client events as the mock receives them."""

    def __init__(self, server: MockRealtimeServer) -> None:
        self.server = server
        self.t0: float | None = None
        self.step = -1
        self.wire: list[dict[str, Any]] = []
        #: step index -> when it started (ms since the first step), on this observer's clock
        self.step_t0: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    def step_started(self, i: int) -> None:
        if self.t0 is None:
            self.t0 = now_ms()
        self.step = i
        self.step_t0[i] = round(now_ms() - self.t0, 1)

    def _poll(self) -> None:
        events = self.server.received()
        t = 0.0 if self.t0 is None else now_ms() - self.t0
        for ev in events[len(self.wire) :]:
            self.wire.append({"event": ev, "t": round(t, 1), "step": self.step})

    async def _run(self) -> None:
        while True:
            self._poll()
            await asyncio.sleep(0.004)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def finish(self) -> list[dict[str, Any]]:
        """The final list; must run before the server stops (stopping drops the records)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._poll()
        return self.wire


def _substitute(server: MockRealtimeServer, value: Any) -> Any:
    """``"$received:TYPE"`` (or ``"$received:TYPE:FIELD"``) in a frame to inject becomes that
    field (default ``event_id``) of the last client event of TYPE the mock received: an
    error can then name the ``response.create`` each client actually sent."""
    if isinstance(value, dict):
        return {k: _substitute(server, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(server, v) for v in value]
    if isinstance(value, str) and value.startswith("$received:"):
        _, type_, *rest = value.split(":")
        got = server.received(type=type_)
        if not got:
            raise LookupError(f"no {type_!r} client event received to take {value!r} from")
        return got[-1].get(rest[0] if rest else "event_id")
    return value


async def run_server_step(server: MockRealtimeServer, step: Mapping[str, Any]) -> dict[str, Any]:
    """Runs one server step; returns ``{"ok": bool, "timeout": bool, "error": str}``."""
    op = step["op"]
    try:
        if op == "inject":
            server.send(_substitute(server, step["frame"]))
        elif op == "injectBinary":
            server.send_binary(base64.b64decode(step["data"]))
        elif op == "serverWait":
            await server.wait_for(
                step["type"], count=step.get("count", 1), timeout=step.get("timeout", 3000) / 1000
            )
        elif op == "setResponses":
            server.set_responses(step["responses"])
        elif op == "serverClose":
            server.close_connection(step.get("code", 1000), step.get("reason", ""))
        elif op == "serverDrop":
            server.drop_connection()
        else:
            raise ValueError(f"unknown server op {op!r}")
    except TimeoutError as exc:
        return {"ok": False, "timeout": True, "error": str(exc)}
    except Exception as exc:  # a broken scenario step: reported, compared, never hangs
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True}


# -- the reference ---------------------------------------------------------------------------------


async def run_reference(scenario: Mapping[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """Plays ``scenario`` with the reference (a node subprocess running ``driver.mjs``)."""
    why = node_status()
    if why is not None:
        raise DriverUnavailable(why)
    return await _run_reference_once(scenario, timeout)


async def _run_reference_once(scenario: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    async with (
        MockRealtimeServer(**scenario.get("server", {})) as server,
        HandshakeProxy(server.port) as proxy,
    ):
        observer = Observer(server)
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            cwd=str(HERE),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        steps = scenario["steps"]
        init = {
            "url": proxy.url,
            "apiKey": API_KEY,
            "steps": steps,
            "settleMs": scenario.get("settle_ms", 150),
        }
        proc.stdin.write((json.dumps(init) + "\n").encode())
        await proc.stdin.drain()
        observer.start()
        record: dict[str, Any] | None = None

        async def converse() -> None:
            nonlocal record
            assert proc.stdin is not None
            assert proc.stdout is not None
            while record is None:
                line = await proc.stdout.readline()
                if not line:
                    return
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # something else printed to stdout: not ours
                kind = msg.get("__driver__") if isinstance(msg, dict) else None
                if kind == "step":
                    observer.step_started(msg["i"])
                elif kind == "server":
                    i = msg["i"]
                    ack = {"ack": i, **await run_server_step(server, steps[i])}
                    proc.stdin.write((json.dumps(ack) + "\n").encode())
                    await proc.stdin.drain()
                elif kind == "record":
                    record = msg["record"]

        try:
            await asyncio.wait_for(converse(), timeout)
        finally:
            wire = await observer.finish()
            sent = server.sent()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.stdin.close()
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
        stderr = (await proc.stderr.read()).decode(errors="replace")
        if record is None:
            raise RuntimeError(
                f"the node driver gave no record (exit {proc.returncode}):\n{stderr}"
            )
        record["wire"] = wire
        record["wire_steps"] = observer.step_t0
        record["sent"] = sent
        record["stderr"] = stderr[-4000:]
        return record


# -- this package ---------------------------------------------------------------------------------


def _py_args(step: Mapping[str, Any]) -> dict[str, Any]:
    args = dict(step)
    args.update(step.get("py", {}))
    return args


_CAMEL_ITEM_KEYS = {
    "itemId": "item_id",
    "previousItemId": "previous_item_id",
    "serverLabel": "server_label",
    "callId": "call_id",
    "responseId": "response_id",
}


def py_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The snake_case spelling of one reference history item (top-level keys only:
    content parts are API shapes already)."""
    return {_CAMEL_ITEM_KEYS.get(k, k): v for k, v in item.items()}


async def run_python(scenario: Mapping[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """Plays ``scenario`` with ``realtime_ws.OpenAIRealtimeWebSocket``."""
    async with (
        MockRealtimeServer(**scenario.get("server", {})) as server,
        HandshakeProxy(server.port) as proxy,
    ):
        observer = Observer(server)
        events: list[dict[str, Any]] = []
        steps_out: list[dict[str, Any]] = []
        last: dict[str, Any] = {}
        counts: dict[str, int] = {}
        state: dict[str, Any] = {"t0": None, "step": -1, "recording": True}

        def t_now() -> float:
            t0 = state["t0"]
            return 0.0 if t0 is None else round(now_ms() - t0, 1)

        ws = OpenAIRealtimeWebSocket(api_key=API_KEY)

        def recorder(name: str) -> Callable[..., None]:
            def cb(*args: Any) -> None:
                if not state["recording"]:
                    return
                events.append(
                    {
                        "name": name,
                        "args": [to_json_safe(a) for a in args],
                        "t": t_now(),
                        "step": state["step"],
                    }
                )
                if args:
                    last[name] = args[0]
                counts[name] = counts.get(name, 0) + 1

            return cb

        for name in RECORDED_EVENTS:
            ws.on(name, recorder(name))

        def resolve(v: Any) -> Any:
            if isinstance(v, str) and v.startswith("$last:"):
                name = v[len("$last:") :]
                if name not in last:
                    raise LookupError(f"no {name} event to take the argument from")
                return last[name]
            return v

        async def wait_for(name: str, count: int, timeout_ms: float) -> bool:
            deadline = now_ms() + timeout_ms
            while counts.get(name, 0) < count:
                if now_ms() >= deadline:
                    return False
                await asyncio.sleep(0.002)
            return True

        async def play() -> None:
            for i, step in enumerate(scenario["steps"]):
                if i == 0:
                    state["t0"] = now_ms()
                state["step"] = i
                observer.step_started(i)
                if i == 0:
                    observer.start()
                entry: dict[str, Any] = {"i": i, "op": step["op"], "t0": t_now(), "outcome": "ok"}
                a = _py_args(step)
                op = step["op"]
                try:
                    if op in SERVER_OPS:
                        res = await run_server_step(server, step)
                        if not res["ok"]:
                            entry["outcome"] = "timeout" if res.get("timeout") else "server_error"
                            entry["error"] = res.get("error")
                    elif op == "connect":
                        kwargs: dict[str, Any] = {"url": proxy.url}
                        if "model" in a:
                            kwargs["model"] = a["model"]
                        if "config" in a:
                            kwargs["initial_session_config"] = a["config"]
                        await ws.connect(**kwargs)
                    elif op == "sendMessage":
                        ws.send_message(
                            a["message"],
                            a.get("otherEventData") or None,
                            trigger_response=a.get("triggerResponse", True),
                        )
                    elif op == "addImage":
                        ws.add_image(a["image"], trigger_response=a.get("triggerResponse", True))
                    elif op == "requestResponse":
                        ws.request_response(a.get("response"))
                    elif op == "sendEvent":
                        ws.send_event(a["event"])
                    elif op == "sendAudio":
                        ws.send_audio(base64.b64decode(a["audio"]), commit=a.get("commit", False))
                    elif op == "updateSessionConfig":
                        ws.update_session_config(a["config"])
                    elif op == "resetHistory":
                        ws.reset_history(
                            [py_item(x) for x in a["old"]], [py_item(x) for x in a["new"]]
                        )
                    elif op == "sendFunctionCallOutput":
                        tool_call = resolve(a["toolCall"])
                        if isinstance(tool_call, Mapping):
                            tool_call = py_item(tool_call)
                        ws.send_function_call_output(
                            tool_call, a["output"], a.get("startResponse", True)
                        )
                    elif op == "sendMcpResponse":
                        request = resolve(a["approvalRequest"])
                        if isinstance(request, Mapping):
                            request = py_item(request)
                        ws.send_mcp_response(request, a["approved"], a.get("reason"))
                    elif op == "interrupt":
                        ws.interrupt(a.get("cancel", True))
                    elif op == "close":
                        ws.close()
                    elif op == "sleep":
                        await asyncio.sleep(a["ms"] / 1000)
                    elif op == "waitFor":
                        if not await wait_for(
                            a["event"], a.get("count", 1), a.get("timeout", 3000)
                        ):
                            entry["outcome"] = "timeout"
                    else:
                        raise ValueError(f"unknown step op {op!r}")
                except Exception as exc:
                    entry["outcome"] = "raised"
                    entry["error"] = to_json_safe(exc)
                entry["t1"] = t_now()
                steps_out.append(entry)
            await asyncio.sleep(scenario.get("settle_ms", 150) / 1000)

        try:
            await asyncio.wait_for(play(), timeout)
        finally:
            state["recording"] = False
            wire = await observer.finish()
            sent = server.sent()
            with contextlib.suppress(Exception):
                await ws.aclose()
        return {
            "events": events,
            "steps": steps_out,
            "wire": wire,
            "wire_steps": observer.step_t0,
            "sent": sent,
            "uncaught": [],
        }


def env_is_ci() -> bool:
    """CI runs (``CI`` set, or ``.ci/run`` which exports ``REALTIME_WS_CI``) must not skip."""
    return bool(os.environ.get("CI") or os.environ.get("REALTIME_WS_CI"))
