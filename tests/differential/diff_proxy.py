"""A loopback TCP proxy for the differential runs (see ``HandshakeProxy``)."""

from __future__ import annotations

import asyncio
import contextlib

MODEL = "gpt-realtime"  # the ?model= of the URL both clients connect to


class HandshakeProxy:
    """A loopback TCP proxy in front of the mock that holds back what the server sends after
    the handshake response (its ``session.created``) until the client has sent its first
    frame, or for at most ``hold_s``.

    Why: the mock writes ``session.created`` right behind the 101 response, so the reference
    often reads both in one go and handles ``session.created`` (sending its tracing
    ``session.update``) before ``connect()`` gets to send the initial ``session.update``; how
    often depends on the machine's load. A real server's ``session.created`` comes later.
    Both clients send their initial update as soon as the socket is open, so with the proxy
    both runs see the same, realistic order."""

    def __init__(self, upstream_port: int, *, hold_s: float = 1.0) -> None:
        self.upstream_port = upstream_port
        self.hold_s = hold_s
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime?model={MODEL}"

    async def __aenter__(self) -> HandshakeProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(creader, cwriter))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        sreader, swriter = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        client_spoke = asyncio.Event()

        async def head(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
            buf = b""
            while b"\r\n\r\n" not in buf and len(buf) < 65536:
                chunk = await reader.read(65536)
                if not chunk:
                    return buf, b""
                buf += chunk
            first, sep, rest = buf.partition(b"\r\n\r\n")
            return first + sep, rest

        async def upstream() -> None:
            request, rest = await head(creader)
            swriter.write(request + rest)
            if rest:
                client_spoke.set()
            while chunk := await creader.read(65536):
                client_spoke.set()
                swriter.write(chunk)
                await swriter.drain()

        async def downstream() -> None:
            response, rest = await head(sreader)
            cwriter.write(response)
            await cwriter.drain()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(client_spoke.wait(), self.hold_s)
            cwriter.write(rest)
            while chunk := await sreader.read(65536):
                cwriter.write(chunk)
                await cwriter.drain()

        pumps = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for w in (cwriter, swriter):
                with contextlib.suppress(Exception):
                    w.close()
