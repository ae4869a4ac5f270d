"""The fault matrix (issue 13): the client against a hostile server (``hostile.py``: raw
sockets, any bytes, any timing), each case asserting exactly what the public API reports:
``status``, ``connection_change``/``disconnected`` with ``CloseInfo(code, reason, error)``,
``error`` events with their ``source``, ``last_close`` and what ``connect()`` raises.

The cases named after a numbered item of issue 13 were written against the bug first (as
strict xfails, proven red on the old code) and then fixed; every case is behaviour that
holds now and must not regress.

Long mode: ``FAULTS_LONG=1 pytest -m slow tests/test_faults.py`` runs the ``slow`` cases
(more threads and cycles); the default run keeps every case small.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import logging
import os
import re
import ssl
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hostile import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    Conn,
    HostileServer,
    binary,
    close_frame,
    continuation,
    encode_frame,
    fragments,
    http_response,
    ping,
    text,
    upgrade_response,
    wait_until,
)
from realtime_ws import (
    AudioSpec,
    CloseInfo,
    ConnectionClosedError,
    ConnectionFailedError,
    ConnectTimeoutError,
    ErrorEvent,
    NotConnectedError,
    OpenAIRealtimeWebSocket,
    ProtocolError,
)

KEY = "sk-faults-5ecret-0123456789abcdef"
LONG = os.environ.get("FAULTS_LONG") == "1"


def slow(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A long case: marked ``slow`` and run only in long mode (``FAULTS_LONG=1``)."""
    skip = pytest.mark.skipif(not LONG, reason="long mode only: FAULTS_LONG=1")
    return pytest.mark.slow(skip(fn))


Handler = Callable[[Conn], Awaitable[None]]


# -- helpers ---------------------------------------------------------------------------------------


class Seen:
    """Everything the public API reports, in order."""

    def __init__(self, ws: OpenAIRealtimeWebSocket) -> None:
        self.log: list[tuple[str, Any]] = []
        self.errors: list[ErrorEvent] = []
        self.closes: list[CloseInfo] = []
        self.statuses: list[str] = []
        self.audio: list[bytes] = []
        ws.on("connection_change", self._status)
        ws.on("disconnected", self._closed)
        ws.on("error", self._error)
        ws.on("connected", lambda: self.log.append(("connected", None)))

    def _status(self, status: str) -> None:
        self.statuses.append(status)
        self.log.append(("connection_change", status))

    def _closed(self, info: CloseInfo) -> None:
        self.closes.append(info)
        self.log.append(("disconnected", info))

    def _error(self, ev: ErrorEvent) -> None:
        self.errors.append(ev)
        self.log.append(("error", ev))

    def track_audio(self, ws: OpenAIRealtimeWebSocket) -> None:
        ws.on("audio", lambda ev: self.audio.append(ev.data))


def client(srv: HostileServer, **kw: Any) -> OpenAIRealtimeWebSocket:
    kw.setdefault("api_key", KEY)
    kw.setdefault("url", srv.url())
    kw.setdefault("connect_timeout", 2.0)
    kw.setdefault("close_timeout", 0.5)
    return OpenAIRealtimeWebSocket(**kw)


@contextlib.asynccontextmanager
async def hostile(handler: Handler, **kw: Any) -> Any:
    srv = HostileServer(handler, **kw).start()
    try:
        yield srv
    finally:
        srv.stop()


def upgraded(*chunks: bytes, after: Callable[[Conn], Any] | None = None) -> Handler:
    """Upgrades, waits for the client's session.update (connect() has resolved), sends
    ``chunks``, runs ``after`` (e.g. a reset), then keeps the connection open."""

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        if chunks:
            await conn.send(*chunks)
        if after is not None:
            r = after(conn)
            if asyncio.iscoroutine(r):
                await r
        await conn.hold()

    return handler


def audio_delta(data: bytes, seq: int = 0, item: str = "item_1") -> dict[str, Any]:
    return {
        "type": "response.output_audio.delta",
        "event_id": f"evt_{seq}",
        "response_id": "resp_1",
        "item_id": item,
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(data).decode(),
    }


def audio_done(item: str = "item_1") -> dict[str, Any]:
    return {
        "type": "response.output_audio.done",
        "event_id": "evt_done",
        "response_id": "resp_1",
        "item_id": item,
        "output_index": 0,
        "content_index": 0,
    }


def marker(n: int = 0) -> dict[str, Any]:
    """An event only ``*`` receives (its type is unknown): proof the session still reads."""
    return {"type": "x.faults.marker", "n": n}


def star(ws: OpenAIRealtimeWebSocket) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    ws.on("*", got.append)
    return got


def error_text(ev: ErrorEvent) -> str:
    return f"{ev.error!s} {ev.error!r} {ev!r}"


async def disconnected(ws: OpenAIRealtimeWebSocket, timeout: float) -> bool:
    return await wait_until(lambda: ws.status == "disconnected", timeout)


# -- handshake failures and timeouts ---------------------------------------------------------------


async def _refuse(conn: Conn, response: bytes) -> None:
    await conn.read_request()
    await conn.send(response)
    await conn.drain_until_eof(3)


def _refusal(status: int, reason: str, body: bytes, ctype: str = "text/plain") -> Handler:
    return lambda conn: _refuse(
        conn, http_response(status, [("Content-Type", ctype)], body, reason=reason)
    )


async def _bad_upgrade(conn: Conn, **upgrade: Any) -> None:
    req = await conn.read_request()
    await conn.send(upgrade_response(req, **upgrade))
    await conn.drain_until_eof(3)


async def _silent(conn: Conn) -> None:
    await conn.read_request()
    await conn.drain_until_eof(3)


async def _partial(conn: Conn) -> None:
    await conn.read_request()
    await conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
    await conn.drain_until_eof(3)


async def _trickle(conn: Conn) -> None:
    # A whole, valid 101, one byte every 50 ms: complete only after ~5 s.
    req = await conn.read_request()

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await conn.trickle(upgrade_response(req), 1, 0.05)

    task = asyncio.ensure_future(trickle())
    await conn.drain_until_eof(3)
    task.cancel()


async def _reset(conn: Conn) -> None:
    await conn.read_request()
    conn.reset()


async def _reset_mid_response(conn: Conn) -> None:
    await conn.read_request()
    await conn.send(b"HTTP/1.1 101 Switch")
    await asyncio.sleep(0.05)
    conn.reset()


async def _fin(conn: Conn) -> None:
    await conn.read_request()
    await conn.fin()
    await conn.drain_until_eof(3)


async def _garbage(conn: Conn) -> None:
    await conn.read_request()
    await conn.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    await conn.drain_until_eof(3)


HANDSHAKE_CASES: dict[str, tuple[Handler, type[Exception], str, int | None, str]] = {
    # name: (handler, exception type, kind, status, message regex)
    "500_with_body": (
        _refusal(500, "Internal Server Error", b"upstream exploded"),
        ConnectionFailedError,
        "http_status",
        500,
        r"^server refused the WebSocket upgrade: HTTP 500 Internal Server Error: "
        r"upstream exploded$",
    ),
    "403_json_body": (
        _refusal(403, "Forbidden", b'{"error":{"code":"forbidden"}}', "application/json"),
        ConnectionFailedError,
        "http_status",
        403,
        r"HTTP 403 Forbidden: \{\"error\":\{\"code\":\"forbidden\"\}\}$",
    ),
    "200_instead_of_101": (
        _refusal(200, "OK", b"<html>hello</html>", "text/html"),
        ConnectionFailedError,
        "http_status",
        200,
        r"HTTP 200 OK: <html>hello</html>$",
    ),
    "bad_accept": (
        lambda c: _bad_upgrade(c, accept="dGhpcyBpcyB3cm9uZw=="),
        ConnectionFailedError,
        "handshake",
        None,
        r"Sec-WebSocket-Accept",
    ),
    "no_accept_header": (
        lambda c: _bad_upgrade(c, omit=["sec-websocket-accept"]),
        ConnectionFailedError,
        "handshake",
        None,
        r"Sec-WebSocket-Accept",
    ),
    "no_upgrade_header": (
        lambda c: _bad_upgrade(c, omit=["upgrade"]),
        ConnectionFailedError,
        "handshake",
        None,
        r"Upgrade: websocket",
    ),
    "no_connection_header": (
        lambda c: _bad_upgrade(c, omit=["connection"]),
        ConnectionFailedError,
        "handshake",
        None,
        r"Connection: Upgrade",
    ),
    "garbage_status_line": (
        _garbage,
        ConnectionFailedError,
        "handshake",
        None,
        r"invalid HTTP version",
    ),
    "silent_past_timeout": (
        _silent,
        ConnectTimeoutError,
        "timeout",
        None,
        r"^connecting to ws://127\.0\.0\.1:\d+/v1/realtime timed out after 0\.3 s$",
    ),
    "partial_response_past_timeout": (
        _partial,
        ConnectTimeoutError,
        "timeout",
        None,
        r"timed out after 0\.3 s$",
    ),
    "trickled_response_past_timeout": (
        _trickle,
        ConnectTimeoutError,
        "timeout",
        None,
        r"timed out after 0\.3 s$",
    ),
    "reset_after_request": (
        _reset,
        ConnectionFailedError,
        "closed_before_ready",
        None,
        r"^WebSocket closed before the connection was ready\. .*reset",
    ),
    "reset_mid_response": (
        _reset_mid_response,
        ConnectionFailedError,
        "closed_before_ready",
        None,
        r"^WebSocket closed before the connection was ready\. .*reset",
    ),
    "fin_after_request": (
        _fin,
        ConnectionFailedError,
        "closed_before_ready",
        None,
        r"^WebSocket closed before the connection was ready\.",
    ),
}


@pytest.mark.parametrize("case", list(HANDSHAKE_CASES))
async def test_handshake_failure(case: str) -> None:
    handler, exc_type, kind, status, pattern = HANDSHAKE_CASES[case]
    async with hostile(handler) as srv:
        ws = client(srv, connect_timeout=0.3)
        seen = Seen(ws)
        t0 = time.monotonic()
        with pytest.raises(exc_type) as info:
            await ws.connect()
        elapsed = time.monotonic() - t0
        exc = info.value
        assert type(exc) is exc_type
        assert exc.kind == kind
        assert exc.status == status
        assert re.search(pattern, str(exc)), str(exc)
        assert KEY not in str(exc)
        if kind == "timeout":
            assert isinstance(exc, TimeoutError)
            assert 0.29 <= elapsed < 1.0
        else:
            assert elapsed < 1.0
        assert ws.status == "disconnected"
        expected_close = CloseInfo(code=None, reason="", error=str(exc), by_client=False)
        assert seen.log == [
            ("connection_change", "connecting"),
            ("error", ErrorEvent(error=exc, source="transport")),
            ("connection_change", "disconnected"),
            ("disconnected", expected_close),
        ]
        assert seen.errors[0].error is exc
        assert ws.last_close == expected_close
        if not case.startswith("reset"):
            # The client never leaves its half-open socket behind.
            conn = await srv.wait_conn()
            assert await wait_until(lambda: conn.client_eof_at is not None, 3.0)


async def test_connection_refused() -> None:
    srv = HostileServer(lambda c: c.hold()).start()
    url = srv.url()
    srv.stop()  # the port is closed now
    ws = OpenAIRealtimeWebSocket(api_key=KEY, url=url, connect_timeout=1.0)
    seen = Seen(ws)
    with pytest.raises(ConnectionFailedError) as info:
        await ws.connect()
    exc = info.value
    assert exc.kind == "io"
    assert exc.status is None
    assert re.fullmatch(
        r"cannot connect to ws://127\.0\.0\.1:\d+/v1/realtime: Connection refused.*", str(exc)
    ), str(exc)
    assert [n for n, _ in seen.log] == [
        "connection_change",
        "error",
        "connection_change",
        "disconnected",
    ]
    assert seen.errors[0].error is exc
    assert seen.errors[0].source == "transport"
    assert ws.last_close == CloseInfo(error=str(exc))


async def test_a_failed_handshake_can_be_retried() -> None:
    attempts = 0

    async def handler(conn: Conn) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await _refuse(conn, http_response(503, body=b"busy", reason="Service Unavailable"))
        else:
            await conn.handshake()
            await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv)
        with pytest.raises(ConnectionFailedError) as info:
            await ws.connect()
        assert info.value.status == 503
        await ws.connect()
        assert ws.status == "connected"
        conn = await srv.wait_conn(1)
        await conn.wait_messages(1)
        assert conn.events()[0]["type"] == "session.update"
        await ws.aclose()


# -- close codes -----------------------------------------------------------------------------------


def server_closes(code: int | None, reason: str | bytes) -> Handler:
    """A well-behaved server close: close frame, wait for the reply, then end TCP first."""

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        await conn.send(close_frame(code, reason))
        await wait_until(lambda: bool(conn.closes), 3.0)
        await conn.close_tcp()

    return handler


CLOSE_CASES = [
    (1000, "bye"),
    (1001, "going away"),
    (1011, "internal server error"),
    (3000, "invalid_request_error.invalid_api_key"),
    (4000, "custom ✓ reason"),
    (4999, ""),
]


@pytest.mark.parametrize(("code", "reason"), CLOSE_CASES)
async def test_server_close_code_and_reason(code: int, reason: str) -> None:
    async with hostile(server_closes(code, reason)) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        expected = CloseInfo(code=code, reason=reason, error=None, by_client=False)
        assert seen.closes == [expected]
        assert ws.last_close == expected
        assert seen.statuses == ["connecting", "connected", "disconnected"]
        assert seen.errors == []
        conn = srv.conns[0]
        # The client answered with the same code and reason (RFC 6455 5.5.1). `disconnected`
        # is reported when the server's close frame arrives, so the reply may still be in flight.
        await wait_until(lambda: bool(conn.closes), 2.0)
        assert conn.closes == [(code, reason.encode())]
        with pytest.raises(NotConnectedError):
            ws.send_event({"type": "input_audio_buffer.clear"})


async def test_server_close_without_a_code_is_1005() -> None:
    async with hostile(server_closes(None, b"")) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert seen.closes == [CloseInfo(code=1005, reason="", error=None)]
        assert seen.errors == []
        await wait_until(lambda: bool(srv.conns[0].closes), 2.0)
        assert srv.conns[0].closes == [(None, b"")]


@pytest.mark.parametrize("code", [999, 1005, 1006, 5000])
async def test_invalid_close_code_reports_what_the_server_sent(code: int) -> None:
    async with hostile(server_closes(code, "bad")) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        info = seen.closes[0]
        # The server's own code is what is reported, as a protocol fault of the server.
        assert info.code == code or str(code) in (info.error or ""), info
        assert [e for e in seen.errors if str(code) in error_text(e)], seen.errors


async def test_invalid_close_code_still_ends_the_session() -> None:
    async with hostile(server_closes(999, "bad")) as srv:
        ws = client(srv)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        # The reply is 1002, as RFC 6455 7.4 asks for a close frame with an invalid code.
        await wait_until(lambda: bool(srv.conns[0].closes), 2.0)
        assert srv.conns[0].closes[0][0] == 1002


async def test_close_reason_with_invalid_utf8_fails_the_socket() -> None:
    async with hostile(server_closes(1000, b"\xff\xfe")) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        info = seen.closes[0]
        # What the server sent (its code, its reason as far as it decodes), and why that
        # broke the protocol.
        assert info.code == 1000
        assert info.error is not None
        assert "UTF-8" in info.error
        assert isinstance(seen.errors[0].error, ConnectionClosedError)
        assert seen.errors[0].source == "transport"
        assert str(seen.errors[0].error) == info.error


async def test_invalid_utf8_close_reason_is_described_as_a_close_reason() -> None:
    async with hostile(server_closes(1000, b"\xff\xfe")) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        message = seen.closes[0].error or ""
        assert "close" in message.lower(), message
        assert "text frame" not in message, message


# -- half-close, reset and FIN ---------------------------------------------------------------------


async def test_half_close_ends_within_close_timeout() -> None:
    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        await conn.send(close_frame(4000, "half"))
        await conn.hold()  # TCP stays open; the client's close reply is not answered

    close_timeout = 0.5
    async with hostile(handler) as srv:
        ws = client(srv, close_timeout=close_timeout, ping_interval=0.5, ping_timeout=0.5)
        seen = Seen(ws)
        await ws.connect()
        conn = srv.conns[0]
        assert await wait_until(lambda: bool(conn.closes), 2.0)  # the client replied
        t_reply = time.monotonic()
        try:
            ws.send_event({"type": "input_audio_buffer.clear"})
            raised = False
        except NotConnectedError:
            raised = True
        ended = await disconnected(ws, close_timeout + 1.0)
        assert ended, f"still {ws.status!r} {time.monotonic() - t_reply:.1f} s after the close"
        assert seen.closes[0].code == 4000
        assert seen.closes[0].reason == "half"
        # The send after the close was refused or reported, never silently dropped.
        assert raised or seen.errors, "send_event after the server's close vanished"
        assert await conn.wait_closed_by_client(1.0)


async def test_half_closed_tcp_from_the_server_fin_without_close_frame() -> None:
    # FIN after whole frames: every frame before it is delivered, then an abnormal end.
    deltas = [text(audio_delta(bytes([i]) * 480, i)) for i in range(5)]
    async with hostile(upgraded(*deltas, after=lambda c: c.fin())) as srv:
        ws = client(srv)
        seen = Seen(ws)
        seen.track_audio(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert seen.audio == [bytes([i]) * 480 for i in range(5)]
        assert seen.closes == [
            CloseInfo(
                code=None,
                reason="",
                error="the server closed the connection without a close frame",
            )
        ]
        assert [type(e.error) for e in seen.errors] == [ConnectionClosedError]
        assert seen.errors[0].source == "transport"
        assert await srv.conns[0].wait_closed_by_client(1.0)


@pytest.mark.parametrize("end", ["fin", "reset"])
async def test_tcp_end_mid_frame(end: str) -> None:
    frame = text(audio_delta(b"\x01\x00" * 400))
    after = (lambda c: c.fin()) if end == "fin" else (lambda c: c.reset())
    async with hostile(upgraded(frame[:37], after=after)) as srv:
        ws = client(srv)
        seen = Seen(ws)
        seen.track_audio(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert seen.audio == []  # the partial frame is never delivered
        info = seen.closes[0]
        assert info.code is None
        assert info.by_client is False
        if end == "fin":
            assert info.error == ("the server closed the connection without a close frame")
        else:
            assert info.error is not None
            assert re.fullmatch(r"socket I/O error: Connection reset by peer.*", info.error)
        assert len(seen.errors) == 1
        err = seen.errors[0]
        assert isinstance(err.error, ConnectionClosedError)
        assert err.source == "transport"
        assert str(err.error) == info.error
        assert err.error.code is None
        assert ws.last_close == info


# -- dead peer and keepalive -----------------------------------------------------------------------


async def test_dead_peer_is_detected_by_keepalive() -> None:
    async def handler(conn: Conn) -> None:
        conn.answer_pings = False
        await conn.handshake()
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv, ping_interval=0.2, ping_timeout=0.2)
        seen = Seen(ws)
        await ws.connect()
        t0 = time.monotonic()
        assert await disconnected(ws, 2.0)
        elapsed = time.monotonic() - t0
        assert 0.35 <= elapsed <= 1.0, elapsed
        info = seen.closes[0]
        assert info.code is None
        assert info.error is not None
        assert re.fullmatch(r"keepalive timeout: nothing received from the server for 0\.\d s",
                            info.error), info.error  # fmt: skip
        assert [type(e.error) for e in seen.errors] == [ConnectionClosedError]
        assert seen.errors[0].source == "transport"
        conn = srv.conns[0]
        assert len(conn.pings) >= 1  # it asked before giving up
        assert await conn.wait_closed_by_client(1.0)


async def test_a_peer_that_only_answers_pings_stays_alive() -> None:
    async def handler(conn: Conn) -> None:
        await conn.handshake()  # answers pings, sends nothing else
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv, ping_interval=0.2, ping_timeout=0.2)
        seen = Seen(ws)
        await ws.connect()
        await asyncio.sleep(1.2)  # three times interval + timeout
        assert ws.status == "connected"
        assert seen.errors == []
        assert len(srv.conns[0].pings) >= 3
        await ws.aclose()


async def test_stalled_consumer_is_not_a_dead_peer() -> None:
    n = 60_000  # ~13 MiB of queued events: well past the 8 MiB limit
    chunk = b"\x02\x00" * 80
    frames = b"".join(text(audio_delta(chunk, i)) for i in range(n))
    sent = threading.Event()

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.wait_messages(1)
        await conn.send(frames)
        sent.set()
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv, ping_interval=0.5, ping_timeout=0.5)
        seen = Seen(ws)
        count = 0

        def on_audio(ev: Any) -> None:
            nonlocal count
            count += 1

        ws.on("audio", on_audio)
        await ws.connect()
        time.sleep(3.0)  # noqa: ASYNC251 - the point: the loop is blocked, a stalled consumer
        await wait_until(lambda: count >= n or ws.status != "connected", 10.0)
        assert seen.errors == []
        assert ws.status == "connected"
        assert count == n
        await ws.aclose()


# -- events(maxsize) -------------------------------------------------------------------------------


async def test_events_maxsize_with_a_slow_consumer(caplog: pytest.LogCaptureFixture) -> None:
    n = 20
    deltas = [text(audio_delta(b"\x03\x00" * 240, i)) for i in range(n)]
    async with hostile(upgraded(*deltas)) as srv:
        ws = client(srv)
        reported: list[ErrorEvent] = []
        ws.on("error", reported.append)
        it = ws.events(maxsize=5)
        everything = ws.events()  # unbounded: the count of what was emitted
        got: list[Any] = []

        async def consume() -> None:
            async for item in it:
                got.append(item)
                await asyncio.sleep(0.1)  # much slower than the server

        with caplog.at_level(logging.DEBUG, logger="realtime_ws"):
            consumer = asyncio.ensure_future(consume())
            await ws.connect()
            await wait_until(lambda: len(srv.conns[0].frames) >= 1, 2.0)
            await asyncio.sleep(0.15)  # all 20 deltas have arrived; the queue is full
            close_error: BaseException | None = None
            try:
                ws.close()
            except BaseException as exc:  # any exception is the bug
                close_error = exc
            assert close_error is None, f"close() raised {close_error!r}"
            done, _ = await asyncio.wait({consumer}, timeout=6.0)
        assert consumer in done, "the events() iterator did not end after close()"
        emitted = [e async for e in everything]
        audio = [e for e in got if e.name == "audio"]
        lost = n - len(audio)
        assert [r.levelname for r in caplog.records if r.levelno >= logging.ERROR] == []
        # Drop policy: the oldest events go, and the loss is counted and reported in the
        # stream itself (an `events_dropped` item before the next event the consumer gets).
        assert lost > 0, "the consumer was meant to fall behind"
        reported_lost = sum(e.data for e in got if e.name == "events_dropped")
        events_seen = sum(1 for e in got if e.name != "events_dropped")
        # Everything emitted was either seen or counted as dropped.
        assert sum(1 for e in emitted if e.name == "audio") == n
        assert events_seen + reported_lost == len(emitted), (events_seen, reported_lost)
        assert got[-1].name == "disconnected"


# -- sizes, fragmentation, encodings ---------------------------------------------------------------


def json_of_size(size: int) -> bytes:
    head = b'{"type":"x.faults.pad","pad":"'
    tail = b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize("size", [1024, 1025])
async def test_max_message_size_boundary(size: int) -> None:
    async with hostile(upgraded(text(json_of_size(size)), text(marker()))) as srv:
        ws = client(srv, max_message_size=1024)
        seen = Seen(ws)
        got = star(ws)
        await ws.connect()
        if size <= 1024:
            assert await wait_until(lambda: len(got) == 2, 2.0)
            assert len(got[0]["pad"]) == size - 32
            assert ws.status == "connected"
            assert seen.errors == []
            await ws.aclose()
            return
        assert await disconnected(ws, 2.0)
        assert got == []
        assert seen.closes[0].error == (
            "server message of 1025 bytes is larger than max_message_size (1024 bytes)"
        )
        assert isinstance(seen.errors[0].error, ConnectionClosedError)
        assert seen.errors[0].source == "transport"


async def test_declared_64_bit_length_fails_before_the_payload() -> None:
    lie = encode_frame(OP_TEXT, b"abc", declared_length=1 << 40)
    async with hostile(upgraded(lie)) as srv:
        ws = client(srv, max_message_size=1 << 20)
        seen = Seen(ws)
        await ws.connect()
        t0 = time.monotonic()
        assert await disconnected(ws, 2.0)
        assert time.monotonic() - t0 < 1.0  # it did not wait for 1 TiB
        too_long = (
            f"server message of {1 << 40} bytes is larger than max_message_size ({1 << 20} bytes)"
        )
        assert seen.closes[0].error == too_long


async def test_fragmented_message_over_the_limit() -> None:
    body = json_of_size(1500)
    async with hostile(upgraded(*fragments(OP_TEXT, body, [500, 500]))) as srv:
        ws = client(srv, max_message_size=1024)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert seen.closes[0].error == (
            "server message of 1500 bytes is larger than max_message_size (1024 bytes)"
        )


async def test_non_minimal_64_bit_length_is_accepted() -> None:
    frame = text(json.dumps(marker(7)).encode(), length_bytes=8)
    async with hostile(upgraded(frame)) as srv:
        ws = client(srv)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: bool(got), 2.0)
        assert got == [marker(7)]


async def test_fragmented_text_with_control_frames_between_fragments() -> None:
    pcm = bytes(range(256)) * 8  # 2 KiB of audio
    body = json.dumps(audio_delta(pcm)).encode()
    parts = fragments(OP_TEXT, body, [1, 100, 7, 500, 3])
    wire = [parts[0], ping(b"p-1"), parts[1], parts[2], encode_frame(0xA, b"unsolicited")]
    wire += [parts[3], ping(b"p-2"), *parts[4:]]
    async with hostile(upgraded(*wire, text(marker(1)))) as srv:
        ws = client(srv)
        seen = Seen(ws)
        seen.track_audio(ws)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: len(got) == 2, 2.0)
        assert seen.audio == [pcm]
        assert got[0]["delta"] == base64.b64encode(pcm).decode()
        assert got[1] == marker(1)
        conn = srv.conns[0]
        assert await wait_until(lambda: len(conn.pongs) == 2, 2.0)
        assert [p for _, p in conn.pongs] == [b"p-1", b"p-2"]
        assert seen.errors == []


async def test_fragmented_binary_json_message() -> None:
    body = json.dumps(marker(3)).encode()
    parts = fragments(OP_BINARY, body, [2, 2, 2])
    async with hostile(upgraded(*parts)) as srv:
        ws = client(srv)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: bool(got), 2.0)
        assert got == [marker(3)]


async def test_utf8_character_split_across_fragments_is_valid() -> None:
    body = json.dumps({"type": "x.faults.utf8", "s": "é✓𝄞"}, ensure_ascii=False).encode()
    cut = body.index("✓".encode()) + 1  # inside the 3-byte character
    wire = [encode_frame(OP_TEXT, body[:cut], fin=False), continuation(body[cut:])]
    async with hostile(upgraded(*wire)) as srv:
        ws = client(srv)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: bool(got), 2.0)
        assert got[0]["s"] == "é✓𝄞"


@pytest.mark.parametrize("where", ["single_frame", "last_fragment"])
async def test_invalid_utf8_in_a_text_frame(where: str) -> None:
    bad = b'{"type":"x.faults.bad","s":"\xff\xfe"}'
    wire = [text(bad)] if where == "single_frame" else fragments(OP_TEXT, bad, [10])
    async with hostile(upgraded(text(marker(1)), *wire, text(marker(2)))) as srv:
        ws = client(srv)
        seen = Seen(ws)
        got = star(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert got == [marker(1)]  # what came before is delivered, nothing after
        assert seen.closes[0].error == "server sent a text message that is not valid UTF-8"
        assert len(seen.errors) == 1
        assert isinstance(seen.errors[0].error, ConnectionClosedError)


async def test_binary_frames_json_and_not_json() -> None:
    pcm = b"\x05\x00" * 100
    wire = [
        binary(json.dumps(audio_delta(pcm)).encode()),  # UTF-8 JSON: parsed like text
        binary(b"\xff\x00\x01"),  # not UTF-8
        binary(b"hello"),  # UTF-8, not JSON
        text(b"not json either"),
        text(marker(9)),
    ]
    async with hostile(upgraded(*wire)) as srv:
        ws = client(srv)
        seen = Seen(ws)
        seen.track_audio(ws)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: marker(9) in got, 2.0)
        assert seen.audio == [pcm]
        assert ws.status == "connected"
        assert [e.source for e in seen.errors] == ["protocol"] * 3
        assert all(isinstance(e.error, ProtocolError) for e in seen.errors)
        messages = [str(e.error) for e in seen.errors]
        assert messages[0] == "server sent a binary frame that is not UTF-8 JSON; it was dropped"
        assert messages[1].startswith("malformed server frame:")
        assert 'frame starts "hello"' in messages[1]
        assert 'frame starts "not json either"' in messages[2]
        await ws.aclose()


@pytest.mark.parametrize("shape", ["arrays", "in_an_event"])
async def test_deep_nesting(shape: str) -> None:
    depth = 10_000
    nested = b"[" * depth + b"]" * depth
    body = nested if shape == "arrays" else b'{"type":"session.updated","x":' + nested + b"}"
    async with hostile(upgraded(text(body), text(marker(5)))) as srv:
        ws = client(srv)
        seen = Seen(ws)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: bool(got), 2.0)
        assert got == [marker(5)]  # the session survives and keeps reading
        assert [e.source for e in seen.errors] == ["protocol"]
        assert "recursion limit exceeded" in str(seen.errors[0].error)
        assert ws.status == "connected"
        await ws.aclose()


PROTOCOL_VIOLATIONS = {
    "masked_frame": (text(marker(), mask=b"abcd"), "the server sent a masked frame"),
    "rsv1_without_extension": (text(marker(), rsv=0b100), "reserved bits set"),
    "reserved_data_opcode": (encode_frame(0x3, b"x"), "reserved opcode 0x3"),
    "reserved_control_opcode": (encode_frame(0xB, b"x"), "reserved opcode 0xb"),
    "fragmented_ping": (encode_frame(OP_PING, b"x", fin=False), "fragmented control frame"),
    "control_frame_over_125": (
        encode_frame(OP_PING, b"x" * 126),
        "control frame with a 126-byte payload",
    ),
    "continuation_without_start": (
        continuation(b"x"),
        "continuation frame without a message to continue",
    ),
    "one_byte_close_payload": (
        encode_frame(OP_CLOSE, b"\x03"),
        "close frame with a 1-byte payload",
    ),
}


@pytest.mark.parametrize("case", list(PROTOCOL_VIOLATIONS))
async def test_protocol_violation_fails_the_socket(case: str) -> None:
    frame, message = PROTOCOL_VIOLATIONS[case]
    async with hostile(upgraded(text(marker(1)), frame, text(marker(2)))) as srv:
        ws = client(srv)
        seen = Seen(ws)
        got = star(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert got == [marker(1)]
        info = seen.closes[0]
        assert info.code is None
        assert info.error is not None
        assert info.error.startswith("WebSocket protocol error: ")
        assert message in info.error
        assert [e.source for e in seen.errors] == ["transport"]
        assert isinstance(seen.errors[0].error, ConnectionClosedError)
        assert await srv.conns[0].wait_closed_by_client(1.0)


async def test_new_message_inside_a_fragmented_one() -> None:
    wire = [encode_frame(OP_TEXT, b"{", fin=False), text(marker())]
    async with hostile(upgraded(*wire)) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert seen.closes[0].error == (
            "WebSocket protocol error: new data frame while a fragmented message is incomplete"
        )


# -- floods ----------------------------------------------------------------------------------------


async def test_event_flood_arrives_complete_and_in_order() -> None:
    n = 20_000
    wire = b"".join(text(marker(i)) for i in range(n))
    async with hostile(upgraded(wire)) as srv:
        ws = client(srv)
        seen = Seen(ws)
        got: list[int] = []
        ws.on("*", lambda ev: got.append(ev["n"]))
        await ws.connect()
        assert await wait_until(lambda: len(got) >= n, 20.0)
        await asyncio.sleep(0.05)
        assert got == list(range(n))
        assert seen.errors == []
        await ws.aclose()


async def test_ping_flood_is_answered_and_the_session_keeps_working() -> None:
    n = 3000
    wire = b"".join(ping(i.to_bytes(4, "big")) for i in range(n))
    async with hostile(upgraded(wire, text(marker(1)))) as srv:
        ws = client(srv)
        seen = Seen(ws)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: bool(got), 5.0)
        conn = srv.conns[0]
        # tungstenite keeps one pending pong (a newer ping replaces an unsent answer), so
        # not every ping gets its pong, but the last one does and they come in order.
        last = (n - 1).to_bytes(4, "big")
        assert await wait_until(lambda: any(p == last for _, p in conn.pongs), 2.0)
        payloads = [int.from_bytes(p, "big") for _, p in conn.pongs]
        assert payloads == sorted(payloads)
        assert ws.status == "connected"
        assert seen.errors == []
        await ws.aclose()


async def test_error_event_flood_is_reported_one_by_one() -> None:
    n = 2000
    errs = [
        {"type": "error", "event_id": f"e{i}", "error": {"type": "invalid_request_error",
                                                         "code": "c", "message": f"m{i}"}}
        for i in range(n)
    ]  # fmt: skip
    async with hostile(upgraded(b"".join(text(e) for e in errs))) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await wait_until(lambda: len(seen.errors) >= n, 10.0)
        assert [e.error["error"]["message"] for e in seen.errors] == [f"m{i}" for i in range(n)]
        assert {e.source for e in seen.errors} == {"server"}
        await ws.aclose()


# -- misuse from other threads ---------------------------------------------------------------------


async def race_send_audio_against_close(
    srv: HostileServer,
    *,
    max_cycles: int,
    max_seconds: float,
    stop_at_first: bool,
    n_threads: int = 4,
) -> tuple[list[BaseException], int]:
    """Connects, starts threads calling ``send_audio`` in a loop, calls ``close()``; again.

    Returns the exceptions the threads got and the number of cycles run. When the race is
    lost, the main thread is usually preempted between the core dropping its socket and the
    status turning "disconnected", and the threads then raise many times in that cycle.
    """
    chunk = b"\x00\x00" * 160
    raised: list[BaseException] = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # many GIL hand-offs: the race needs a preemption
    deadline = time.monotonic() + max_seconds
    cycles = 0
    try:
        while cycles < max_cycles and time.monotonic() < deadline:
            cycles += 1
            ws = client(srv)
            await ws.connect()
            stop = threading.Event()

            def pump(ws: OpenAIRealtimeWebSocket = ws, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    try:
                        ws.send_audio(chunk)
                    except BaseException as exc:  # any exception is the bug
                        raised.append(exc)

            threads = [threading.Thread(target=pump) for _ in range(n_threads)]
            for t in threads:
                t.start()
            await asyncio.sleep(0.005)
            ws.close()
            stop.set()
            for t in threads:
                t.join(5)
            if raised and stop_at_first:
                break
    finally:
        sys.setswitchinterval(old)
    return raised, cycles


async def test_send_audio_from_threads_during_close_never_raises() -> None:
    async def handler(conn: Conn) -> None:
        await conn.handshake(record=False)  # millions of frames: count, don't parse
        await conn.hold()

    async with hostile(handler) as srv:
        # No warm-up error first: the core loads its exception classes when it is imported,
        # never under a lock (see the slow test below).
        raised, cycles = await race_send_audio_against_close(
            srv, max_cycles=1000 if LONG else 80, max_seconds=60 if LONG else 5,
            stop_at_first=True,
        )  # fmt: skip
    assert raised == [], f"{len(raised)} exceptions in {cycles} cycles, first {raised[0]!r}"


RACE_SCRIPT = Path(__file__).with_name("race_send_audio.py")


@slow
def test_send_audio_race_never_deadlocks_a_fresh_process() -> None:
    """The deadlock found with gdb on the old core: the first exception a process raised
    initialised the exception table with the GIL released while ``send_audio`` held the
    socket's mutex, and another thread holding the GIL waited for that mutex (about one
    fresh process in four hung, 8 threads). The core now loads its exception classes at
    import and decides ``send_audio`` under one lock without raising for a closed socket;
    this runs 24 fresh processes of the race to prove no hang comes back."""
    import subprocess

    for i in range(24):
        try:
            out = subprocess.run(
                [sys.executable, str(RACE_SCRIPT), "8"],  # 8 threads: the most hangs
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
                cwd=RACE_SCRIPT.parent,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"process {i + 1} deadlocked (send_audio from threads during close)")
        assert out.returncode == 0, out.stderr[-2000:]


# -- key redaction ---------------------------------------------------------------------------------


def leaks(text_: str) -> list[str]:
    """The secret, or the Authorization value carrying it, if ``text_`` contains it."""
    return [s for s in (KEY, f"Bearer {KEY}", KEY[8:]) if s in text_]


@pytest.mark.parametrize("echo", ["key", "authorization"])
async def test_key_reflected_in_a_401_body_is_redacted(
    echo: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = KEY if echo == "key" else f"Bearer {KEY}"
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}"}}).encode()
    async with hostile(_refusal(401, "Unauthorized", body, "application/json")) as srv:
        with caplog.at_level(logging.DEBUG):
            ws = client(srv)  # no error listener: the error is logged
            with pytest.raises(ConnectionFailedError) as info:
                await ws.connect()
            ws2 = client(srv)
            seen = Seen(ws2)
            with pytest.raises(ConnectionFailedError):
                await ws2.connect()
        assert info.value.status == 401
        assert "401" in str(info.value)
        assert leaks(str(info.value)) == []
        assert leaks(repr(info.value)) == []
        assert leaks(repr(seen.errors)) == []
        assert leaks(repr(ws.last_close)) == []
        assert leaks(caplog.text) == []
        assert all(leaks(str(r.args)) == [] for r in caplog.records)


async def test_key_reflected_in_a_server_error_event_is_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    err = {
        "type": "error",
        "event_id": "evt_1",
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "message": f"Incorrect API key provided: {KEY}. Header was 'Bearer {KEY}'",
        },
    }
    async with hostile(upgraded(text(err), text(marker()))) as srv:
        with caplog.at_level(logging.DEBUG):
            quiet = client(srv)  # no error listener: logged
            got_quiet = star(quiet)
            await quiet.connect()
            ws = client(srv)
            seen = Seen(ws)
            await ws.connect()
            assert await wait_until(lambda: len(seen.errors) >= 1 and len(got_quiet) >= 2, 3.0)
        assert seen.errors[0].source == "server"
        assert leaks(repr(seen.errors[0])) == []
        assert leaks(caplog.text) == []
        await ws.aclose()
        await quiet.aclose()


async def test_key_reflected_in_a_close_reason_is_redacted() -> None:
    async with hostile(server_closes(4001, f"bad key {KEY}")) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        assert await disconnected(ws, 2.0)
        assert seen.closes[0].code == 4001
        assert leaks(repr(seen.closes[0])) == []
        assert leaks(repr(ws.last_close)) == []


@pytest.mark.parametrize("auth", ["bearer", "azure", "subprotocol"])
async def test_key_never_in_reprs_or_logs_across_a_session(
    auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = "ek_" + KEY if auth == "subprotocol" else KEY

    async def handler(conn: Conn) -> None:
        req = await conn.read_request()
        await asyncio.sleep(0.2)  # hold the client in "connecting" for a while
        await conn.handshake(subprotocol="realtime" if auth == "subprotocol" else None)
        assert req is conn.request
        await conn.wait_messages(1)
        await conn.send(text(audio_delta(b"\x00\x00" * 10)))
        await conn.hold()

    async with hostile(handler) as srv:
        with caplog.at_level(logging.DEBUG):
            ws = client(srv, api_key=key, auth=auth)
            reprs = [repr(ws)]
            task = asyncio.ensure_future(ws.connect())
            await wait_until(lambda: ws.status == "connecting", 2.0)
            reprs += [repr(ws), repr(ws.connection_state)]
            await task
            reprs += [repr(ws), repr(ws.connection_state), str(ws.connection_state)]
            await asyncio.sleep(0.05)
            await ws.aclose()
            reprs += [repr(ws), repr(ws.last_close), repr(ws.connection_state)]
        # The key did travel (so the check is not vacuous) ...
        assert any(key in v for _, v in srv.conns[0].request.headers)  # type: ignore[union-attr]
        # ... and shows up nowhere the user or a log can see.
        for r in reprs:
            assert key not in r, r
            assert key[8:] not in r, r
        assert key[8:] not in caplog.text


# -- header injection ------------------------------------------------------------------------------


INJECTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "header_value_crlf": ({"headers": {"X-Evil": "a\r\nInjected: 1"}},
                          'invalid value for header "X-Evil" (control characters or non-ASCII)'),
    "header_value_lf": ({"headers": {"X-Evil": "a\nInjected: 1"}},
                        'invalid value for header "X-Evil" (control characters or non-ASCII)'),
    "header_name_crlf": ({"headers": {"X-Evil\r\nInjected": "1"}},
                         'invalid header name "X-Evil\\r\\nInjected"'),
    "subprotocol_crlf": ({"subprotocols": ["realtime\r\nX-Injected: 1"]},
                         "invalid subprotocol (it must be an HTTP token: no spaces, commas or "
                         "control characters)"),
    "api_key_crlf_bearer": ({"api_key": KEY + "\r\nX-Injected: 1"},
                            'invalid value for header "Authorization" '
                            "(control characters or non-ASCII)"),
    "api_key_crlf_azure": ({"api_key": KEY + "\r\nX-Injected: 1", "auth": "azure"},
                           'invalid value for header "api-key" (control characters or non-ASCII)'),
    "api_key_crlf_subprotocol": ({"api_key": "ek_" + KEY + "\r\nX: 1", "auth": "subprotocol"},
                                 "invalid subprotocol (it must be an HTTP token: no spaces, "
                                 "commas or control characters)"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INJECTIONS))
async def test_header_injection_is_refused_before_anything_is_sent(case: str) -> None:
    options, message = INJECTIONS[case]
    async with hostile(lambda c: c.hold()) as srv:
        ws = client(srv, **options)
        seen = Seen(ws)
        with pytest.raises(ConnectionFailedError) as info:
            await ws.connect()
        assert info.value.kind == "invalid_header"
        assert str(info.value) == message
        assert leaks(str(info.value)) == []
        assert seen.closes == [CloseInfo(error=message)]
        await asyncio.sleep(0.1)
        assert srv.conns == []  # not even a TCP connection


# -- plaintext keys --------------------------------------------------------------------------------


class _ConnectProxy:
    """A local HTTP CONNECT proxy that records each target and never connects anywhere."""

    def __init__(self) -> None:
        self.targets: list[bytes] = []

    async def handler(self, conn: Conn) -> None:
        req = await conn.read_request()
        self.targets.append(req.target.encode())
        await conn.send(http_response(502, body=b"no", reason="Bad Gateway"))
        await conn.close_tcp()


async def test_plaintext_key_to_a_remote_host_is_refused_before_connecting() -> None:
    proxy = _ConnectProxy()
    async with hostile(proxy.handler) as psrv:
        # TEST-NET-1 (RFC 5737): never routed. Through the local proxy, an attempt shows up
        # as a CONNECT at the proxy instead of leaving the machine.
        for extra in ({}, {"proxy": f"http://127.0.0.1:{psrv.port}"}):
            ws = OpenAIRealtimeWebSocket(
                api_key=KEY, url="ws://192.0.2.1/v1/realtime?model=m", connect_timeout=0.2, **extra
            )
            seen = Seen(ws)
            with pytest.raises(Exception) as info:  # noqa: PT011 - the type is the fix's choice
                await ws.connect()
            exc = info.value
            message = str(exc)
            assert not isinstance(exc, TimeoutError), message
            assert getattr(exc, "kind", None) not in ("io", "timeout", "proxy"), message
            # The error says what is wrong and names the explicit opt-in.
            assert "wss://" in message or "plaintext" in message.lower(), message
            assert re.search(r"allow\w*|insecure\w*", message, re.IGNORECASE), message
            assert leaks(message) == []
            assert "connecting" not in seen.statuses
        assert proxy.targets == []


async def test_plaintext_key_to_loopback_is_allowed() -> None:
    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.hold()

    async with hostile(handler) as srv:
        for host in ("127.0.0.1", "localhost"):
            ws = OpenAIRealtimeWebSocket(
                api_key=KEY, url=f"ws://{host}:{srv.port}/v1/realtime?model=m"
            )
            await ws.connect()
            assert ws.status == "connected"
            await ws.aclose()
        assert all(c.request is not None and c.request.header("authorization") == f"Bearer {KEY}"
                   for c in srv.conns)  # fmt: skip


# -- audio with a partial sample -------------------------------------------------------------------


def _partial_sample_outcome(audio: list[bytes], errors: list[ErrorEvent], width: int) -> str:
    """One of "broken" (a partial sample delivered), "carried" (2 whole samples delivered in all),
    "reported" (an error event names the odd size), or "lost" (silently dropped)."""
    if any(len(a) % width for a in audio):
        return "broken"
    total = sum(len(a) for a in audio) // width
    if total == 2:
        return "carried"
    if any(e.source == "protocol" and re.search(r"\b[13]\b", str(e.error)) for e in errors):
        return "reported"
    return "lost"


async def _three_then_one(output: AudioSpec | None) -> tuple[list[bytes], list[ErrorEvent]]:
    wire = [
        text(audio_delta(b"\x01\x02\x03", 1)),
        text(audio_delta(b"\x04", 2)),
        text(audio_done()),
        text(marker()),
    ]
    async with hostile(upgraded(*wire)) as srv:
        ws = client(srv, output_audio=output)
        seen = Seen(ws)
        seen.track_audio(ws)
        got = star(ws)
        await ws.connect()
        assert await wait_until(lambda: marker() in got, 2.0)
        await ws.aclose()
        return seen.audio, seen.errors


@pytest.mark.parametrize(
    "output",
    [
        pytest.param(None, id="pcm16"),
        pytest.param(AudioSpec(rate=24000, encoding="f32"), id="f32"),
    ],
)
async def test_partial_pcm16_sample_is_carried_or_reported(output: AudioSpec | None) -> None:
    width = 2 if output is None else 4
    audio, errors = await _three_then_one(output)
    assert _partial_sample_outcome(audio, errors, width) in ("carried", "reported"), (
        audio,
        errors,
    )


async def test_partial_sample_rule_is_the_same_with_and_without_conversion() -> None:
    plain = _partial_sample_outcome(*await _three_then_one(None), 2)
    converted = _partial_sample_outcome(
        *await _three_then_one(AudioSpec(rate=24000, encoding="f32")), 4
    )
    assert plain == converted, (plain, converted)


# -- TLS with a self-signed certificate ------------------------------------------------------------


def _openssl_style_self_signed(
    tmp: Path, *, expired: bool = False, dns_name: str = "localhost"
) -> tuple[Path, Path]:
    """What ``openssl req -x509 -newkey ec -nodes -subj /CN=localhost
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1`` writes: a self-signed certificate
    with OpenSSL's default v3_ca extensions (basicConstraints CA:TRUE, key identifiers)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        now -= datetime.timedelta(days=2)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(dns_name)]
                + (
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                    if dns_name == "localhost"
                    else []
                )
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_self_signed_certificate_given_as_ca_file(tmp_path: Path) -> None:
    # What curl --cacert, Python's ssl and Node accept: the server's own self-signed
    # certificate (CA:TRUE, as openssl writes it) named as the trusted one.
    cert, key = _openssl_style_self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.hold()

    async with hostile(handler, ssl_context=ctx) as srv:
        ws = client(srv, ca_file=str(cert))
        await ws.connect()
        assert ws.status == "connected"
        await ws.aclose()


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("expired", "it has expired"),
        ("other-name", "not valid for the name"),
        ("not-given", "CA certificate used as the server's own"),
    ],
)
async def test_a_pinned_certificate_is_still_checked(tmp_path: Path, case: str, why: str) -> None:
    cert, key = _openssl_style_self_signed(
        tmp_path,
        expired=case == "expired",
        dns_name="elsewhere.test" if case == "other-name" else "localhost",
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))

    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.hold()

    async with hostile(handler, ssl_context=ctx) as srv:
        ws = client(srv, ca_file=None if case == "not-given" else str(cert))
        with pytest.raises(ConnectionFailedError) as refused:
            await ws.connect()
        # A refusal that says what is wrong and what to do, not the verifier's debug dump.
        assert refused.value.kind == "tls"
        assert why in str(refused.value), str(refused.value)
        assert "ca_file" in str(refused.value), str(refused.value)
        assert "OtherError" not in str(refused.value), str(refused.value)
        assert ws.status == "disconnected"


# -- send_event with the wrong type ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [[{"type": "x"}], None, "input_audio_buffer.clear", 5])
async def test_send_event_with_a_non_mapping_is_a_type_error(bad: Any) -> None:
    async with hostile(upgraded()) as srv:
        ws = client(srv)
        await ws.connect()
        with pytest.raises(TypeError, match=r"dict|[Mm]apping"):
            ws.send_event(bad)
        assert ws.status == "connected"
        await ws.aclose()


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"no": "type"}, "a client event needs a 'type'"), ({"type": 5}, "'type' must be a str")],
)
async def test_send_event_without_a_string_type_is_a_value_error(bad: Any, message: str) -> None:
    async with hostile(upgraded()) as srv:
        ws = client(srv)
        await ws.connect()
        with pytest.raises(ValueError, match=re.escape(message)):
            ws.send_event(bad)
        assert ws.status == "connected"
        await ws.aclose()


# -- a transport dropped without close() -----------------------------------------------------------


async def test_dropped_transport_closes_its_socket_with_a_resource_warning() -> None:
    async def handler(conn: Conn) -> None:
        await conn.handshake()
        await conn.hold()

    async with hostile(handler) as srv:
        ws = client(srv)
        await ws.connect()
        ref = weakref.ref(ws)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del ws
            gc.collect()
            for i in range(20):
                await asyncio.sleep(0.05)
                if ref() is None:
                    break
                if i % 5 == 4:
                    gc.collect()
        assert ref() is None, "the transport object is still alive"
        assert any(issubclass(w.category, ResourceWarning) for w in caught), caught
        assert await srv.conns[0].wait_closed_by_client(2.0)


# -- the hostile server's own bookkeeping ----------------------------------------------------------


async def test_client_close_is_recorded_with_its_code() -> None:
    async with hostile(upgraded()) as srv:
        ws = client(srv)
        seen = Seen(ws)
        await ws.connect()
        await ws.aclose()
        conn = srv.conns[0]
        assert conn.closes == [(1000, b"")]
        assert all(f.mask is not None for f in conn.frames)  # every client frame is masked
        assert conn.protocol_errors == []
        assert seen.closes == [CloseInfo(code=1000, by_client=True)]


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    extra = [
        t for t in threading.enumerate() if t.ident not in before and t.name == "hostile-server"
    ]
    assert extra == [], "a hostile server thread was left running"
