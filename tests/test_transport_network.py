"""TLS, HTTP CONNECT proxies, Azure URL/header forms and the beta dialect, on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import typing
from typing import Any

import pydantic
import pytest
import trustme
import websockets
from openai.types.beta.realtime import RealtimeClientEvent as BetaClientEvent

from helpers import until
from realtime_ws import ConnectionFailedError, OpenAIRealtimeWebSocket

KEY = "sk-test-network"


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def tls_echo_server(ca: trustme.CA) -> tuple[Any, int, list[Any]]:
    """A real TLS WebSocket server (the ``websockets`` package) with a cert from a test CA."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    got: list[Any] = []

    async def handler(conn: Any) -> None:
        async for msg in conn:
            got.append(json.loads(msg))

    server = await websockets.serve(handler, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    return server, port, got


async def test_tls_verification_is_on_by_default(ca: trustme.CA) -> None:
    server, port, _ = await tls_echo_server(ca)
    ws = OpenAIRealtimeWebSocket(api_key=KEY, url=f"wss://localhost:{port}/v1/realtime?model=m")
    with pytest.raises(ConnectionFailedError) as info:
        await ws.connect()
    assert info.value.kind == "tls"
    assert "certificate" in str(info.value).lower() or "unknown" in str(info.value).lower()
    assert KEY not in str(info.value)
    server.close()
    await server.wait_closed()


async def test_tls_with_an_extra_trusted_ca(ca: trustme.CA, tmp_path: Any) -> None:
    server, port, got = await tls_echo_server(ca)
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, url=f"wss://localhost:{port}/v1/realtime?model=m", ca_file=str(pem)
    )
    await ws.connect()
    await until(lambda: bool(got))
    assert got[0]["type"] == "session.update"
    await ws.aclose()
    server.close()
    await server.wait_closed()


# -- HTTP CONNECT proxy ------------------------------------------------------------------------


class ConnectProxy:
    """A minimal HTTP CONNECT proxy (real sockets), recording the targets and credentials."""

    def __init__(self, require_auth: str | None = None) -> None:
        self.require_auth = require_auth
        self.targets: list[str] = []
        self.auth: list[str | None] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        self.targets.append(target)
        self.auth.append(headers.get("Proxy-Authorization"))
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        if self.require_auth and headers.get("Proxy-Authorization") != self.require_auth:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        up_r, up_w = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


async def test_http_connect_proxy(make_server) -> None:
    server = await make_server()
    proxy = ConnectProxy(require_auth="Basic " + base64.b64encode(b"user:pa ss").decode())
    srv = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    pport = srv.sockets[0].getsockname()[1]
    ws = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, proxy=f"http://user:pa%20ss@127.0.0.1:{pport}"
    )
    await ws.connect()
    await server.wait_for("session.update")
    assert proxy.targets == [f"127.0.0.1:{server.port}"]
    await ws.aclose()
    bad = OpenAIRealtimeWebSocket(
        api_key=KEY, base_url=server.url, proxy=f"http://user:wrong@127.0.0.1:{pport}"
    )
    with pytest.raises(ConnectionFailedError) as info:
        await bad.connect()
    assert info.value.kind == "proxy"
    assert "407" in str(info.value)
    assert "wrong" not in str(info.value)
    srv.close()
    await srv.wait_closed()


# -- Azure ----------------------------------------------------------------------------------------


async def test_azure_ga_url_and_api_key_header(make_server) -> None:
    server = await make_server()
    base = server.url.replace("/v1/realtime", "/openai/v1/realtime")
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=base, model="my-deployment", auth="azure")
    await ws.connect()
    info = server.connections[-1]
    assert info.path.startswith("/openai/v1/realtime")
    assert info.query == {"model": "my-deployment"}
    assert info.headers["api-key"] == KEY
    assert "authorization" not in info.headers
    assert "openai-beta" not in info.headers
    await ws.aclose()


async def test_azure_preview_url_with_beta_dialect(make_server) -> None:
    server = await make_server(require_model=False, reject_beta=False, validate=False)
    url = server.url.replace("/v1/realtime", "/openai/realtime") + (
        "?api-version=2025-04-01-preview&deployment=gpt-4o-realtime-preview"
    )
    ws = OpenAIRealtimeWebSocket(api_key=KEY, url=url, auth="azure", protocol="beta")
    await ws.connect(initial_session_config={"instructions": "hi", "voice": "alloy"})
    info = server.connections[-1]
    assert info.path.startswith("/openai/realtime")
    assert info.query == {
        "api-version": "2025-04-01-preview",
        "deployment": "gpt-4o-realtime-preview",
    }
    assert info.headers["api-key"] == KEY
    assert info.headers["openai-beta"] == "realtime=v1"
    update = await server.wait_for("session.update")
    assert "type" not in update["session"]
    assert update["session"]["input_audio_format"] == "pcm16"
    await ws.aclose()


# -- beta dialect ---------------------------------------------------------------------------------

_BETA = pydantic.TypeAdapter(
    typing.Annotated[typing.get_args(BetaClientEvent)[0], pydantic.Field(discriminator="type")]
)


def beta_event(t: str, **fields: Any) -> dict[str, Any]:
    return {"type": t, "event_id": f"evt_beta_{t}", **fields}


async def test_beta_dialect_maps_beta_events(make_server) -> None:
    server = await make_server(reject_beta=False, validate=False, respond=False)
    ws = OpenAIRealtimeWebSocket(api_key=KEY, base_url=server.url, protocol="beta")
    got: list[tuple[str, Any]] = []
    for name in (
        "audio",
        "audio_done",
        "output_text_delta",
        "audio_transcript_delta",
        "item_update",
    ):
        ws.on(name, lambda *a, _n=name: got.append((_n, a[0] if a else None)))
    typed: list[dict[str, Any]] = []
    ws.on("response.audio.delta", typed.append)
    await ws.connect()
    assert server.connections[-1].headers["openai-beta"] == "realtime=v1"
    n = len(server.received())
    ids = {"response_id": "r1", "item_id": "i1", "output_index": 0, "content_index": 0}
    server.send(
        beta_event(
            "session.updated", session={"output_audio_format": "g711_ulaw", "turn_detection": None}
        )
    )
    server.send(
        beta_event(
            "conversation.item.created",
            previous_item_id=None,
            item={
                "id": "u1",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        )
    )
    server.send(beta_event("response.created", response={"id": "r1"}))
    server.send(
        beta_event("response.audio.delta", delta=base64.b64encode(b"\xff" * 800).decode(), **ids)
    )
    server.send(beta_event("response.audio_transcript.delta", delta="Hel", **ids))
    server.send(beta_event("response.text.delta", delta="lo", **ids))
    await until(lambda: len(got) >= 4)
    assert ws._audio_length_ms == pytest.approx(100.0)  # 800 bytes of 8 kHz G.711
    server.send(beta_event("response.audio.done", **ids))
    # Neither the GA name nor garbage reach the typed channel in beta mode.
    server.send(beta_event("response.output_audio.delta", delta="AAAA", **ids))
    await until(lambda: any(n == "audio_done" for n, _ in got))
    names = [n for n, _ in got]
    assert names == [
        "item_update",
        "audio",
        "audio_transcript_delta",
        "output_text_delta",
        "audio_done",
    ]
    assert got[1][1].data == b"\xff" * 800
    assert got[0][1].item_id == "u1"
    assert len(typed) == 1
    server.send(beta_event("response.done", response={"id": "r1", "status": "completed"}))
    await until(lambda: not ws._core.response_ongoing)
    n = len(server.received())
    ws.send_message("hello")
    ws.request_response({"output_modalities": ["text"], "instructions": "short"})
    await until(lambda: len(server.received()) >= n + 2)
    for ev in server.received():
        if "__raw__" in ev:
            continue
        _BETA.validate_python({k: v for k, v in ev.items() if k != "__invalid__"})
    creates = [e for e in server.received() if e["type"] == "response.create"]
    assert all("output_modalities" not in (e.get("response") or {}) for e in creates)
    await ws.aclose()
