"""A faithful, scriptable OpenAI Realtime server for tests, demos and load tests.

``MockRealtimeServer`` runs in Rust (tokio) on the package's shared runtime and speaks the
GA Realtime protocol over WebSocket: every event it sends validates against the ``openai``
SDK's ``RealtimeServerEvent`` union, and the official SDK client can hold a session with it::

    from realtime_ws.testing import MockRealtimeServer

    async with MockRealtimeServer(text="Hi there!", audio_ms=400) as server:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.base_url)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            ...

The command line runs one too: ``python -m realtime_ws mock --port 8765``.

Options: keyword arguments of the constructor, listed below (generated from the core's
option table, ``src/mock_server/config.rs``, the one place they are described). An unknown
name or a wrong type is an ``ArgumentTypeError`` (a ``TypeError``), a bad value an
``InvalidArgumentError`` (a ``ValueError``). ``GET /stats`` on the same port (or
:meth:`MockRealtimeServer.stats`) returns the counters as JSON: the totals at the top level
(``audio_bytes_sent`` (decoded bytes), ``audio_deltas_sent``, ``audio_bytes_received``,
``events_sent``, ``events_received``, ``responses_created``, ``responses_cancelled``,
``errors_sent``, ``pings_sent``, ``pongs_received``), ``connections_total``,
``connections_open``, ``uptime_s``, ``time_unix_ns`` (a string), and the same counters per
connection under ``connections``.

Client events the server rejected (answered with an ``error``) appear in :meth:`received` with
an extra ``"__invalid__": True`` key; text frames that are not a JSON object as
``{"__raw__": text}``; binary frames as ``{"__binary__": base64, "__invalid__": True}``.
API keys are test data here, but they are still never logged, echoed or shown in a repr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _core, _logbridge
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["ConnectionInfo", "MockRealtimeServer", "main_mock"]

_BytesLike = (bytes, bytearray, memoryview)

#: The core's option table: name, type, nullable, group, doc, default.
_OPTIONS: list[dict[str, Any]] = json.loads(_core.MockServer.options_json())
_OPTION_BY_NAME: dict[str, dict[str, Any]] = {o["name"]: o for o in _OPTIONS}

# The Python values each option type accepts (bool is never an int here).
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bytes": (bytes, bytearray, memoryview),
    "list": (list, tuple),
    "dict": (dict,),
    "close": (dict, tuple),
}

_SECRET_HEADERS = frozenset({"authorization", "api-key", "openai-api-key"})
_SECRET_SUBPROTOCOL = "openai-insecure-api-key."


def _type_ok(value: Any, option: dict[str, Any]) -> bool:
    if value is None:
        return bool(option["nullable"])
    accepted = _ACCEPTS[option["type"]]
    if isinstance(value, bool):
        return bool in accepted
    return any(t is not bool and isinstance(value, t) for t in accepted)


def _options_doc() -> str:
    """The options section of the module documentation, from the core's table."""
    lines: list[str] = []
    group = None
    for o in _OPTIONS:
        if o["group"] != group:
            group = o["group"]
            lines.append(f"\n{group}")
        kind = o["type"] + (" | None" if o["nullable"] else "")
        default = "" if o["default"] is None else f", default ``{json.dumps(o['default'])}``"
        doc = o["doc"].replace("`", "``")
        lines.append(f"    ``{o['name']}`` ({kind}{default}): {doc}")
    return "\n".join(lines) + "\n"


__doc__ = (__doc__ or "") + _options_doc()


def _b64(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _script_to_json(script: Mapping[str, Any], index: int) -> dict[str, Any]:
    if not isinstance(script, Mapping):
        raise ArgumentTypeError(f"responses[{index}] must be a dict, not {type(script).__name__}")
    out = dict(script)
    if isinstance(out.get("audio"), _BytesLike):
        out["audio"] = _b64(out["audio"])
    return out


def _options_to_json(options: Mapping[str, Any]) -> str:
    payload: dict[str, Any] = {}
    for name, value in options.items():
        option = _OPTION_BY_NAME.get(name)
        if option is None:
            known = ", ".join(sorted(_OPTION_BY_NAME))
            raise ArgumentTypeError(
                f"MockRealtimeServer got an unknown option {name!r} (known: {known})"
            )
        if not _type_ok(value, option):
            names = option["type"] + (" or None" if option["nullable"] else "")
            raise ArgumentTypeError(f"option {name!r} must be {names}, not {type(value).__name__}")
        if value is None:
            continue
        if name == "audio":
            value = _b64(value)
        elif name == "responses":
            value = [_script_to_json(s, i) for i, s in enumerate(value)]
        elif name == "close_after_open" and isinstance(value, tuple):
            code, reason, *_ = (*value, "")  # (code,) or (code, reason)
            value = {"code": code, "reason": reason}
        payload[name] = value
    return json.dumps(payload, separators=(",", ":"))


def _mask(value: str) -> str:
    return value[:7] + "…" if len(value) > 7 else "…"


def _mask_protocol(protocol: str) -> str:
    if protocol.startswith(_SECRET_SUBPROTOCOL):
        return _SECRET_SUBPROTOCOL + "…"
    return protocol


@dataclasses.dataclass(frozen=True)
class ConnectionInfo:
    """One WebSocket handshake the server received (in arrival order; ``id`` is the index).

    ``open`` is True while the WebSocket is open. ``http_status`` is 101 for an accepted
    upgrade, the ``reject_status`` for a refused one, None while the handshake is pending.
    ``closed_by`` is ``"client"``, ``"server"``, ``"dropped"`` or ``"error"`` once closed, with
    the close frame's ``close_code`` / ``close_reason`` when there was one.
    """

    id: int
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    subprotocols: list[str]
    open: bool
    selected_subprotocol: str | None = None
    http_status: int | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: str | None = None
    peer: str = ""
    connected_at: float = 0.0

    def __repr__(self) -> str:
        # Credentials are masked: reprs end up in test logs.
        headers = {k: _mask(v) if k in _SECRET_HEADERS else v for k, v in self.headers.items()}
        if "sec-websocket-protocol" in headers:
            offered = headers["sec-websocket-protocol"].split(",")
            headers["sec-websocket-protocol"] = ", ".join(
                _mask_protocol(p.strip()) for p in offered
            )
        protos = [_mask_protocol(p) for p in self.subprotocols]
        return (
            f"ConnectionInfo(id={self.id}, path={self.path!r}, query={self.query!r}, "
            f"headers={headers!r}, subprotocols={protos!r}, open={self.open}, "
            f"http_status={self.http_status}, close_code={self.close_code}, "
            f"closed_by={self.closed_by!r})"
        )


class MockRealtimeServer:
    """A Realtime API server on loopback; see the module docstring for the options."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        if not isinstance(host, str):
            raise ArgumentTypeError("host must be a str")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgumentError(f"port must be an int in 0..65535, got {port!r}")
        self._host = host
        self._core = _core.MockServer(host, port, _options_to_json(options))
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> MockRealtimeServer:
        """Binds and starts accepting connections."""
        self._port = int(await self._core.start())
        return self

    async def stop(self) -> None:
        """Closes every connection (code 1001) and the listener. Idempotent."""
        # In an executor thread rather than through the core's awaitable `stop()`: see
        # `MockServer.stop_blocking` (a script that exits right after this must not abort).
        await asyncio.get_running_loop().run_in_executor(None, self._core.stop_blocking)

    async def __aenter__(self) -> MockRealtimeServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the mock server is not started; await start() first")
        return self._port

    @property
    def _authority(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/v1/realtime`` (no query)."""
        return f"ws://{self._authority}/v1/realtime"

    @property
    def base_url(self) -> str:
        """``ws://HOST:PORT/v1``: the ``websocket_base_url`` of the openai SDK client."""
        return f"ws://{self._authority}/v1"

    @property
    def stats_url(self) -> str:
        """``http://HOST:PORT/stats``."""
        return f"http://{self._authority}/stats"

    # -- inspection --------------------------------------------------------------------------

    @property
    def connections(self) -> list[ConnectionInfo]:
        """Every handshake received so far, in order."""
        return [ConnectionInfo(**c) for c in json.loads(self._core.connections_json())]

    def received(self, conn: int | None = None, *, type: str | None = None) -> list[dict[str, Any]]:
        """Client events received, parsed, in order (``conn=None``: all connections, one after
        the other); ``type`` keeps one event type only."""
        events: list[dict[str, Any]] = json.loads(self._core.received_json(conn, type))
        return events

    def sent(self, conn: int | None = None) -> list[dict[str, Any]]:
        """Server events the mock generated, in order (frames injected with :meth:`send` or
        :meth:`send_binary` are not included)."""
        events: list[dict[str, Any]] = json.loads(self._core.sent_json(conn))
        return events

    async def wait_for(
        self, type: str, *, conn: int | None = None, timeout: float = 5.0, count: int = 1
    ) -> dict[str, Any]:
        """Waits until ``count`` client events of ``type`` were received; returns the
        ``count``-th. Raises ``TimeoutError``."""
        if count < 1:
            raise InvalidArgumentError("count must be at least 1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._core.received_count(conn, type) < count:
            if loop.time() >= deadline:
                got = self._core.received_count(conn, type)
                raise TimeoutError(
                    f"received {got} {type!r} event(s) in {timeout}s, expected {count}"
                )
            await asyncio.sleep(0.005)
        return self.received(conn, type=type)[count - 1]

    def stats(self) -> dict[str, Any]:
        """The counters served at ``GET /stats`` (see the module docstring)."""
        stats: dict[str, Any] = json.loads(self._core.stats_json())
        return stats

    # -- control -----------------------------------------------------------------------------

    def send(self, event: Mapping[str, Any] | str, conn: int | None = None) -> None:
        """Sends a text frame as is (``conn=None``: the latest connection). A dict is
        serialised to JSON; a str is sent verbatim (it may be invalid on purpose)."""
        text = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
        self._core.send_text(text, conn)

    def send_binary(self, data: bytes, conn: int | None = None) -> None:
        """Sends a binary frame (which a real server never does)."""
        self._core.send_binary(bytes(data), conn)

    def close_connection(self, code: int = 1000, reason: str = "", conn: int | None = None) -> None:
        """Starts a clean close (close frame ``code``/``reason``) of a connection."""
        self._core.close_connection(code, reason, conn)

    def drop_connection(self, conn: int | None = None) -> None:
        """Closes the TCP connection without a close frame (the client sees 1006)."""
        self._core.drop_connection(conn)

    def freeze(self, conn: int | None = None) -> None:
        """Stops reading (no pongs, no replies, no more deltas): a dead peer. The connection
        still obeys :meth:`close_connection` and :meth:`drop_connection`."""
        self._core.freeze(conn)

    def set_responses(self, responses: Sequence[Mapping[str, Any]]) -> None:
        """Replaces the queue of scripted responses (same shapes as the ``responses`` option)."""
        scripts = [_script_to_json(s, i) for i, s in enumerate(responses)]
        self._core.set_responses_json(json.dumps(scripts))

    def __repr__(self) -> str:
        where = self.url if self._port is not None else f"{self._host} (not started)"
        return f"<MockRealtimeServer {where}>"


# -- command line ----------------------------------------------------------------------------


def _json_arg(value: str) -> Any:
    """Inline JSON, or ``@path`` / a path to a JSON file."""
    path = Path(value[1:] if value.startswith("@") else value)
    if value.startswith("@") or (not value.lstrip().startswith(("{", "[")) and path.is_file()):
        return json.loads(path.read_text(encoding="utf-8"))
    return json.loads(value)


# Options with a command-line form of their own (a file path for the bytes of `audio`).
_CLI_SPECIAL = {"audio"}


def _mock_parser() -> argparse.ArgumentParser:
    """The command line, generated from the core's option table: ``--name-with-dashes``
    for a value, ``--name`` for a false-by-default switch, ``--no-name`` for a true one."""
    p = argparse.ArgumentParser(
        prog="python -m realtime_ws mock",
        description="Run the mock OpenAI Realtime server (GA protocol) until interrupted.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free port; default 8765)")
    p.add_argument("--duration-s", type=float, help="stop after this many seconds")
    p.add_argument("--audio-file", type=Path, help="raw PCM16 24 kHz mono file to play (audio)")
    for o in _OPTIONS:
        name, kind = o["name"], o["type"]
        if name in _CLI_SPECIAL:
            continue
        flag = "--" + name.replace("_", "-")
        doc = o["doc"].split(". ")[0].replace("`", "")
        if kind == "bool":
            # The command line keeps no event records unless asked (long runs).
            default = False if name == "record" else bool(o["default"])
            if default:
                p.add_argument(
                    "--no-" + name.replace("_", "-"),
                    dest=name,
                    action="store_false",
                    default=True,
                    help=f"turn off: {doc}",
                )
            else:
                p.add_argument(flag, dest=name, action="store_true", default=False, help=doc)
            continue
        convert: Callable[[str], Any] = {
            "int": int,
            "float": float,
            "str": str,
        }.get(kind, _json_arg)
        shown = "" if o["default"] in (None, "", []) else f" (default {o['default']})"
        p.add_argument(flag, dest=name, type=convert, default=None, help=doc + shown)
    # Kept for scripts written against the earlier command line.
    p.add_argument("--allow-beta", dest="reject_beta", action="store_false", help=argparse.SUPPRESS)
    return p


def _cli_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for o in _OPTIONS:
        name = o["name"]
        if name in _CLI_SPECIAL:
            continue
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    if args.audio_file is not None:
        options["audio"] = args.audio_file.read_bytes()
    return options


async def _serve(host: str, port: int, options: dict[str, Any], duration: float | None) -> None:
    # The handlers go in before the URL is printed: whoever reads that line may
    # send SIGTERM at once, and it must stop the server cleanly (exit 0).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    server = MockRealtimeServer(host=host, port=port, **options)
    await server.start()
    print(
        f"realtime-ws mock server listening on {server.url} (stats: {server.stats_url})",
        flush=True,
    )
    _logbridge.sync_level()
    deadline = None if duration is None else loop.time() + duration
    try:
        while not stop.is_set():
            # No transport runs in this process: the core's log records are
            # flushed here, once a second.
            wait = 1.0 if deadline is None else min(1.0, deadline - loop.time())
            if wait <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            _logbridge.flush()
    finally:
        await server.stop()
        _logbridge.flush()


def main_mock(argv: list[str] | None = None) -> int:
    """``python -m realtime_ws mock``: runs the server until SIGINT/SIGTERM (or
    ``--duration-s``). Prints one line with the URL once listening."""
    args = _mock_parser().parse_args(argv)
    try:
        options = _cli_options(args)
        asyncio.run(_serve(args.host, args.port, options, args.duration_s))
    except (TypeError, ValueError, OSError) as exc:  # bad options are both RealtimeErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
