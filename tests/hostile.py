"""A raw, hostile WebSocket server for tests: any bytes, any timing.

Nothing here is a WebSocket library: the HTTP upgrade is written by hand (or
refused, or left half-written), frames are built byte by byte (masked frames, reserved bits
and opcodes, non-minimal and 64-bit lengths, lies about the length, invalid close codes and
reasons are all allowed), and the client's frames are parsed and recorded as they arrive.

The server runs its own asyncio loop in a thread, so it keeps sending (or stalling) while the
client's loop is blocked, which the backpressure and stalled-consumer tests need. A test gives
a *handler* ``async def handler(conn: Conn) -> None``; it runs on the server's loop once per
accepted TCP connection. From the test's loop, ``await server.do(coro)`` runs a coroutine on the
server's loop (e.g. ``await server.do(conn.send(text("hi")))``).

Frame helpers (all return ``bytes``): :func:`encode_frame`, :func:`text`, :func:`binary`,
:func:`continuation`, :func:`fragments`, :func:`ping`, :func:`pong`, :func:`close_frame`.
:class:`FrameParser` parses a byte stream (any chunking) into :class:`Frame` objects;
:class:`MessageAssembler` reassembles fragmented messages with control frames interleaved.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
CONTROL_OPS = frozenset({OP_CLOSE, OP_PING, OP_PONG})

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- frames ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame as it was on the wire (payload unmasked)."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    #: The three reserved bits, RSV1 as 0b100, RSV2 as 0b010, RSV3 as 0b001.
    rsv: int = 0
    #: The 4-byte masking key, or None for an unmasked frame.
    mask: bytes | None = None


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XORs ``data`` with the repeating 4-byte ``key`` (masking and unmasking are the same)."""
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length_bytes: int | None = None,
    declared_length: int | None = None,
) -> bytes:
    """Builds one frame, legal or not.

    ``opcode`` may be any 4-bit value (reserved ones included), ``rsv`` any 3-bit value.
    ``mask``: a 4-byte key masks the payload (illegal from a server). ``length_bytes``:
    force the length encoding (0: 7-bit, 2: 16-bit, 8: 64-bit) even when not minimal.
    ``declared_length``: the length written in the header, if it should lie about the
    payload that follows (e.g. announce 2**40 bytes and send 10).
    """
    if not 0 <= opcode <= 0xF or not 0 <= rsv <= 0b111:
        raise ValueError("opcode is 4 bits, rsv 3 bits")
    n = len(payload) if declared_length is None else declared_length
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 1 << 16 else 8
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    m = 0x80 if mask is not None else 0
    if length_bytes == 0:
        if n > 125:
            raise ValueError("a 7-bit length holds at most 125")
        head.append(m | n)
    elif length_bytes == 2:
        if n >= 1 << 16:
            raise ValueError("a 16-bit length holds at most 65535")
        head.append(m | 126)
        head += struct.pack("!H", n)
    elif length_bytes == 8:
        head.append(m | 127)
        head += struct.pack("!Q", n)
    else:
        raise ValueError("length_bytes is 0, 2 or 8")
    if mask is not None:
        if len(mask) != 4:
            raise ValueError("a masking key is 4 bytes")
        head += mask
        payload = apply_mask(payload, mask)
    return bytes(head) + payload


def _b(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def text(data: str | bytes | dict[str, Any], **kw: Any) -> bytes:
    """A text frame (a dict is sent as compact JSON). ``data`` may be invalid UTF-8 bytes."""
    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":"))
    return encode_frame(OP_TEXT, _b(data), **kw)


def binary(data: bytes, **kw: Any) -> bytes:
    return encode_frame(OP_BINARY, data, **kw)


def continuation(data: str | bytes, *, fin: bool = True, **kw: Any) -> bytes:
    return encode_frame(OP_CONT, _b(data), fin=fin, **kw)


def fragments(opcode: int, data: str | bytes, sizes: Sequence[int]) -> list[bytes]:
    """``data`` as one message in fragments of ``sizes`` bytes (the rest in a last fragment)."""
    payload = _b(data)
    parts: list[bytes] = []
    pos = 0
    for s in sizes:
        parts.append(payload[pos : pos + s])
        pos += s
    if pos < len(payload) or not parts:
        parts.append(payload[pos:])
    out = []
    for i, part in enumerate(parts):
        op = opcode if i == 0 else OP_CONT
        out.append(encode_frame(op, part, fin=i == len(parts) - 1))
    return out


def ping(data: bytes = b"", **kw: Any) -> bytes:
    return encode_frame(OP_PING, data, **kw)


def pong(data: bytes = b"", **kw: Any) -> bytes:
    return encode_frame(OP_PONG, data, **kw)


def close_payload(code: int | None, reason: str | bytes = b"") -> bytes:
    """The payload of a close frame: any 16-bit code (invalid ones included), any reason bytes."""
    if code is None:
        return b""
    return struct.pack("!H", code) + _b(reason)


def parse_close(payload: bytes) -> tuple[int | None, bytes]:
    """(code, reason bytes) of a close frame payload; (None, b"") for an empty one."""
    if len(payload) < 2:
        return None, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def close_frame(code: int | None = 1000, reason: str | bytes = b"", **kw: Any) -> bytes:
    return encode_frame(OP_CLOSE, close_payload(code, reason), **kw)


class FrameError(ValueError):
    """The byte stream is not a sequence of frames (e.g. a length too large to hold)."""


class FrameParser:
    """Parses frames from a byte stream fed in any chunks."""

    def __init__(self, max_payload: int = 1 << 30) -> None:
        self._buf = bytearray()
        self.max_payload = max_payload

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while True:
            frame = self._one()
            if frame is None:
                return out
            out.append(frame)

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still held."""
        return len(self._buf)

    def _one(self) -> Frame | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
        if n > self.max_payload:
            raise FrameError(f"frame of {n} bytes is over the parser's limit")
        key = None
        if masked:
            if len(buf) < pos + 4:
                return None
            key = bytes(buf[pos : pos + 4])
            pos += 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos : pos + n])
        del buf[: pos + n]
        if key is not None:
            payload = apply_mask(payload, key)
        return Frame(
            opcode=b0 & 0x0F, payload=payload, fin=bool(b0 & 0x80), rsv=(b0 >> 4) & 0b111, mask=key
        )


@dataclass(frozen=True)
class Message:
    """A whole data message: ``opcode`` of its first frame, the joined payload, frame count."""

    opcode: int
    data: bytes
    frames: int = 1


class MessageAssembler:
    """Reassembles data messages from frames; control frames pass through between fragments."""

    def __init__(self) -> None:
        self._op: int | None = None
        self._parts: list[bytes] = []

    def feed(self, frame: Frame) -> Message | Frame | None:
        """A finished :class:`Message`, a control :class:`Frame`, or None (a fragment)."""
        if frame.opcode in CONTROL_OPS:
            return frame
        if frame.opcode == OP_CONT:
            if self._op is None:
                raise FrameError("continuation frame without a message to continue")
        else:
            if self._op is not None:
                raise FrameError("a new data frame inside a fragmented message")
            self._op = frame.opcode
            self._parts = []
        self._parts.append(frame.payload)
        if not frame.fin:
            return None
        msg = Message(self._op, b"".join(self._parts), len(self._parts))
        self._op = None
        self._parts = []
        return msg


# -- the HTTP upgrade ------------------------------------------------------------------------------


def accept_value(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


@dataclass
class Request:
    """The client's upgrade request, as received."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    raw: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def parse_request(raw: bytes) -> Request:
    head = raw.decode("latin-1").split("\r\n")
    method, target, _ = head[0].split(" ", 2)
    headers = []
    for line in head[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return Request(method, target, headers, raw)


def http_response(
    status: int | str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    reason: str = "",
    content_length: bool = True,
) -> bytes:
    """Any HTTP response; ``status`` may be a whole status line's code part (e.g. ``"101"``)."""
    lines = [f"HTTP/1.1 {status} {reason}".rstrip()]
    lines += [f"{k}: {v}" for k, v in headers]
    if content_length and body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def upgrade_response(
    request: Request,
    *,
    accept: str | None = None,
    omit: Iterable[str] = (),
    extra: Iterable[tuple[str, str]] = (),
    subprotocol: str | None = None,
) -> bytes:
    """A 101 for ``request``: the right accept value unless ``accept`` is given; headers
    named in ``omit`` (lower case) are left out."""
    skip = {o.lower() for o in omit}
    key = request.header("sec-websocket-key") or ""
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept if accept is not None else accept_value(key)),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    headers = [(k, v) for k, v in headers if k.lower() not in skip]
    headers += list(extra)
    return http_response(101, headers, reason="Switching Protocols")


# -- a connection ----------------------------------------------------------------------------------


class Conn:
    """One accepted TCP connection, on the server's loop."""

    def __init__(
        self, server: HostileServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.request: Request | None = None
        self.parser = FrameParser()
        self.assembler = MessageAssembler()
        #: Everything the client sent after the upgrade, frame by frame.
        self.frames: list[Frame] = []
        #: Reassembled data messages, and each control frame kind.
        self.messages: list[Message] = []
        self.pings: list[bytes] = []
        self.pongs: list[tuple[float, bytes]] = []
        self.closes: list[tuple[int | None, bytes]] = []
        #: Why the client's frames could not be parsed, if they could not.
        self.protocol_errors: list[str] = []
        #: Answer the client's pings with pongs (turn off to play a dead peer).
        self.answer_pings = True
        #: Answer a close frame the client starts with a close frame (a close the client
        #: sends after the server sent one is its reply, and is not answered).
        self.answer_close = True
        #: The server wrote a close frame (a chunk passed to ``send`` after the upgrade that
        #: starts with one).
        self.sent_close = False
        #: Bytes of the client's frames read after the upgrade.
        self.bytes_received = 0
        #: Bytes written by the server so far (counted after each drain).
        self.bytes_sent = 0
        #: ``time.monotonic()`` when the client's side of TCP ended (EOF or reset), else None.
        self.client_eof_at: float | None = None
        self.client_reset = False
        self._reading = asyncio.Event()
        self._reading.set()
        self._pump: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # -- the upgrade

    async def read_request(self, timeout: float = 5.0) -> Request:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        self.request = parse_request(raw)
        return self.request

    async def handshake(self, *, record: bool = True, **upgrade: Any) -> Request:
        """Reads the request, answers 101 (see :func:`upgrade_response`), then starts
        recording the client's frames (``record=False``: only counts and discards them,
        for floods a Python parser could not keep up with)."""
        req = self.request or await self.read_request()
        await self.send(upgrade_response(req, **upgrade))
        if record:
            self.start_pump()
        else:
            self._pump = asyncio.ensure_future(self._discard())
            self.server._track(self._pump)
        return req

    async def _discard(self) -> None:
        try:
            while data := await self.reader.read(1 << 20):
                self.bytes_received += len(data)
        except (ConnectionError, OSError):
            self.client_reset = True
        self.client_eof_at = time.monotonic()

    # -- sending

    async def send(self, *chunks: bytes, drain: bool = True) -> None:
        """Writes raw bytes (frames or anything else)."""
        async with self._lock:
            for c in chunks:
                if self._pump is not None and c[:1] and c[0] & 0x0F == OP_CLOSE:
                    self.sent_close = True
                self.writer.write(c)
            if drain:
                await self.writer.drain()
            self.bytes_sent += sum(len(c) for c in chunks)

    async def send_json(self, *events: dict[str, Any]) -> None:
        await self.send(*(text(e) for e in events))

    async def trickle(self, data: bytes, chunk: int, delay: float) -> None:
        """Writes ``data`` ``chunk`` bytes at a time, ``delay`` seconds apart."""
        for i in range(0, len(data), chunk):
            await self.send(data[i : i + chunk])
            await asyncio.sleep(delay)

    # -- ending the TCP connection

    async def fin(self) -> None:
        """Half-closes TCP (FIN) after what was written; keeps reading."""
        with contextlib.suppress(OSError, RuntimeError):
            await self.writer.drain()
            self.writer.write_eof()

    def reset(self) -> None:
        """Aborts with a TCP RST (SO_LINGER 0), dropping anything unsent."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close_tcp(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)

    # -- receiving

    def stop_reading(self) -> None:
        """Stops reading the client's bytes, so its sends back up (TCP flow control)."""
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def start_pump(self) -> None:
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._read_frames())
            self.server._track(self._pump)

    async def _read_frames(self) -> None:
        try:
            while True:
                await self._reading.wait()
                data = await self.reader.read(65536)
                self.bytes_received += len(data)
                if not data:
                    self.client_eof_at = time.monotonic()
                    return
                try:
                    frames = self.parser.feed(data)
                except FrameError as exc:
                    self.protocol_errors.append(str(exc))
                    return
                for f in frames:
                    await self._on_frame(f)
        except (ConnectionError, OSError):
            self.client_reset = True
            self.client_eof_at = time.monotonic()

    async def _on_frame(self, f: Frame) -> None:
        self.frames.append(f)
        if f.mask is None:
            self.protocol_errors.append("client frame without a mask")
        try:
            out = self.assembler.feed(f)
        except FrameError as exc:
            self.protocol_errors.append(str(exc))
            return
        if isinstance(out, Message):
            self.messages.append(out)
        elif isinstance(out, Frame):
            if out.opcode == OP_PING:
                self.pings.append(out.payload)
                if self.answer_pings:
                    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                        await self.send(pong(out.payload))
            elif out.opcode == OP_PONG:
                self.pongs.append((time.monotonic(), out.payload))
            elif out.opcode == OP_CLOSE:
                code, reason = parse_close(out.payload)
                self.closes.append((code, reason))
                if self.answer_close and not self.sent_close:
                    # A well-behaved server: echo the close, then end TCP first (RFC 6455 7.1.1).
                    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                        await self.send(encode_frame(OP_CLOSE, out.payload))
                    await self.close_tcp()

    def texts(self) -> list[str]:
        return [m.data.decode() for m in self.messages if m.opcode == OP_TEXT]

    def events(self) -> list[dict[str, Any]]:
        """The client's text messages, parsed as JSON."""
        return [json.loads(t) for t in self.texts()]

    def event_types(self) -> list[str]:
        return [e.get("type", "?") for e in self.events()]

    async def drain_until_eof(self, timeout: float) -> bool:
        """Before the upgrade (no frame pump): reads and discards until the client's EOF.

        True if the client closed its side within ``timeout`` (sets ``client_eof_at``).
        """

        async def drain() -> None:
            while await self.reader.read(65536):
                pass

        try:
            await asyncio.wait_for(drain(), timeout)
        except asyncio.TimeoutError:
            return False
        except (ConnectionError, OSError):
            self.client_reset = True
        self.client_eof_at = time.monotonic()
        return True

    async def wait_messages(self, n: int, timeout: float = 5.0) -> list[Message]:
        """Waits until the client sent ``n`` data messages (after the upgrade)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"the client sent {len(self.messages)} of {n} messages")
            await asyncio.sleep(0.005)
        return self.messages

    async def hold(self, seconds: float = 60.0) -> None:
        """Keeps the connection open (and recording) until the test ends it."""
        await asyncio.sleep(seconds)

    async def wait_closed_by_client(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.client_eof_at is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return self.client_eof_at is not None


Handler = Callable[[Conn], Awaitable[None]]


class HostileServer:
    """Accepts TCP connections on 127.0.0.1 and runs ``handler`` for each, in its own thread.

    Use ``async with HostileServer(handler) as srv:``. Handler exceptions other than the
    connection ending are collected and raised when the server stops, so a broken script
    fails its test.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        sndbuf: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.sndbuf = sndbuf
        self.host = host
        self.port = 0
        self.conns: list[Conn] = []
        self.errors: list[BaseException] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="hostile-server", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._ready = threading.Event()

    # -- lifecycle

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> HostileServer:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._listen(), self.loop)
        fut.result(5)
        return self

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.sndbuf is not None:
            # Inherited by accepted sockets: bounds what the kernel buffers on our side.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        sock.bind((self.host, 0))
        sock.listen(128)
        sock.setblocking(False)
        self._server = await asyncio.start_server(self._accept, sock=sock, ssl=self.ssl_context)
        self.port = sock.getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(self, reader, writer)
        if self.sndbuf is not None:
            # Keep the write buffer of asyncio small too: a stall shows up at once.
            writer.transport.set_write_buffer_limits(high=self.sndbuf)
        self.conns.append(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except BaseException as exc:  # collected, re-raised by stop()
            self.errors.append(exc)

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in self.conns:
            c.writer.transport.abort()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current and not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(concurrent.futures.TimeoutError):
                asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        if not self.loop.is_running():
            self.loop.close()
        if self.errors:
            raise AssertionError(f"hostile server handler failed: {self.errors[0]!r}") from (
                self.errors[0]
            )

    async def __aenter__(self) -> HostileServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- from the test's loop

    def url(self, path: str = "/v1/realtime?model=m", scheme: str | None = None) -> str:
        scheme = scheme or ("wss" if self.ssl_context else "ws")
        host = "localhost" if self.ssl_context else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Runs ``coro`` on the server's loop; returns a concurrent future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def do(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Runs ``coro`` on the server's loop and awaits its result from the caller's loop."""
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(coro)), timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Runs a plain function on the server's loop (e.g. ``conn.reset``) and waits."""

        async def run() -> T:
            return fn()

        return self.submit(run()).result(5)

    async def wait_conn(self, index: int = 0, timeout: float = 5.0) -> Conn:
        deadline = time.monotonic() + timeout
        while len(self.conns) <= index:
            if time.monotonic() > deadline:
                raise AssertionError(f"no connection #{index} within {timeout} s")
            await asyncio.sleep(0.005)
        return self.conns[index]


async def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    """Polls ``pred`` on the caller's loop; True if it held before ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def random_mask() -> bytes:
    return os.urandom(4)


__all__ = [
    "CONTROL_OPS",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Conn",
    "Frame",
    "FrameError",
    "FrameParser",
    "HostileServer",
    "Message",
    "MessageAssembler",
    "Request",
    "accept_value",
    "apply_mask",
    "binary",
    "close_frame",
    "close_payload",
    "continuation",
    "encode_frame",
    "fragments",
    "http_response",
    "parse_close",
    "parse_request",
    "ping",
    "pong",
    "random_mask",
    "text",
    "upgrade_response",
    "wait_until",
]
