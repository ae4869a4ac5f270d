"""Connection state machine of OpenAIRealtimeWebSocket (SEED_BEHAVIOUR.md sections 2 and 7).

Every test talks to the package's mock server (or a purpose-built raw socket
server) over real loopback sockets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from helpers import until
from realtime_ws import (
    CloseInfo,
    ConnectionClosedError,
    ConnectionFailedError,
    ConnectTimeoutError,
    ErrorEvent,
    NotConnectedError,
    OpenAIRealtimeWebSocket,
    UnsupportedOperationError,
    UserError,
)
from realtime_ws._lifecycle import CANCELLED_SETUP_MESSAGE, CLOSED_BEFORE_READY_MESSAGE

KEY = "sk-test-0123456789abcdef"


def client(server: Any, **kw: Any) -> OpenAIRealtimeWebSocket:
    kw.setdefault("api_key", KEY)
    kw.setdefault("base_url", server.url)
    return OpenAIRealtimeWebSocket(**kw)


def record(ws: OpenAIRealtimeWebSocket, *names: str) -> list[tuple[str, Any]]:
    log: list[tuple[str, Any]] = []
    for name in names:
        ws.on(name, lambda *a, _n=name: log.append((_n, a[0] if a else None)))
    return log


async def test_muted_is_none_and_mute_raises() -> None:
    ws = OpenAIRealtimeWebSocket()
    assert ws.muted is None
    with pytest.raises(UnsupportedOperationError, match="Mute is not supported"):
        ws.mute(True)
    with pytest.raises(NotImplementedError):
        ws.mute(False)


async def test_connect_emits_connecting_then_connected_and_sends_session_update(
    make_server,
) -> None:
    server = await make_server()
    ws = client(server)
    log = record(ws, "connection_change", "connected")
    await ws.connect()
    assert ws.status == "connected"
    assert log == [
        ("connection_change", "connecting"),
        ("connection_change", "connected"),
        ("connected", None),
    ]
    ev = await server.wait_for("session.update")
    assert ev["session"]["type"] == "realtime"
    assert ev["session"]["model"] == "gpt-realtime-2.1"
    state = ws.connection_state
    assert state.status == "connected"
    assert state.websocket is not None
    assert "?" not in state.websocket.url
    await ws.aclose()
    assert ws.status == "disconnected"
    assert ws.connection_state.websocket is None


async def test_handshake_headers_and_default_url(make_server) -> None:
    server = await make_server()
    ws = client(server, headers={"OpenAI-Project": "proj_1"})
    await ws.connect(model="gpt-realtime")
    info = server.connections[-1]
    assert info.path.startswith("/v1/realtime")
    assert info.query.get("model") == "gpt-realtime"
    assert info.headers["authorization"] == f"Bearer {KEY}"
    assert info.headers["user-agent"].startswith("realtime-ws/")
    assert info.headers["openai-project"] == "proj_1"
    assert "openai-beta" not in info.headers
    assert info.subprotocols == []
    await ws.aclose()


async def test_constructor_url_is_used_and_connect_url_becomes_default(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(api_key=KEY, url=server.url + "?model=from-ctor")
    await ws.connect()
    assert server.connections[-1].query["model"] == "from-ctor"
    await ws.aclose()
    await ws.connect(url=server.url + "?model=from-connect")
    assert server.connections[-1].query["model"] == "from-connect"
    await ws.aclose()
    await ws.connect()  # the connect() url is now the default
    assert server.connections[-1].query["model"] == "from-connect"
    await ws.aclose()


async def test_call_id_url_and_reconnect(make_server) -> None:
    server = await make_server()
    ws = client(server)
    await ws.connect(call_id="rtc_1")
    assert server.connections[-1].query == {"call_id": "rtc_1"}
    await ws.aclose()
    await ws.connect(call_id="rtc_2")
    assert server.connections[-1].query == {"call_id": "rtc_2"}
    await ws.aclose()
    await ws.connect()
    assert server.connections[-1].query == {"model": "gpt-realtime-2.1"}
    await ws.aclose()


async def test_api_key_callables_are_resolved_on_each_connect(make_server) -> None:
    server = await make_server()
    keys = iter(["sk-one", "sk-two"])

    async def async_key() -> str:
        await asyncio.sleep(0)
        return next(keys)

    ws = client(server, api_key=async_key)
    await ws.connect()
    await ws.aclose()
    await ws.connect()
    await ws.aclose()
    assert [c.headers["authorization"] for c in server.connections] == [
        "Bearer sk-one",
        "Bearer sk-two",
    ]
    ws2 = client(server, api_key=lambda: "sk-sync")
    await ws2.connect()
    assert server.connections[-1].headers["authorization"] == "Bearer sk-sync"
    await ws2.aclose()
    # A key given to connect() wins over the constructor's.
    await ws2.connect(api_key="sk-explicit")
    assert server.connections[-1].headers["authorization"] == "Bearer sk-explicit"
    await ws2.aclose()


async def test_missing_api_key_is_a_user_error(make_server) -> None:
    server = await make_server()
    ws = OpenAIRealtimeWebSocket(base_url=server.url)
    with pytest.raises(UserError, match="API key is not set"):
        await ws.connect()
    assert ws.status == "disconnected"
    assert server.connections == []


async def test_subprotocol_auth_needs_an_ephemeral_key(make_server) -> None:
    server = await make_server()
    ws = client(server, auth="subprotocol")
    with pytest.raises(UserError, match="ephemeral"):
        await ws.connect()
    assert server.connections == []
    ws = client(server, auth="subprotocol", api_key="ek_abc")
    await ws.connect()
    info = server.connections[-1]
    assert info.subprotocols[:2] == ["realtime", "openai-insecure-api-key.ek_abc"]
    assert "authorization" not in info.headers
    assert ws.connection_state.websocket is not None
    assert ws.connection_state.websocket.subprotocol == "realtime"
    await ws.aclose()
    ws = client(server, auth="subprotocol", use_insecure_api_key=True)
    await ws.connect()
    assert server.connections[-1].subprotocols[1] == f"openai-insecure-api-key.{KEY}"
    await ws.aclose()


async def test_azure_auth_sends_api_key_header(make_server) -> None:
    server = await make_server()
    ws = client(server, auth="azure")
    await ws.connect()
    info = server.connections[-1]
    assert info.headers["api-key"] == KEY
    assert "authorization" not in info.headers
    await ws.aclose()


async def test_throwing_connected_observer_rejects_connect_and_retry_works(make_server) -> None:
    server = await make_server()
    ws = client(server)
    boom = RuntimeError("observer failed")

    def observer(status: str) -> None:
        if status == "connected":
            raise boom

    ws.on("connection_change", observer)
    with pytest.raises(RuntimeError) as info:
        await ws.connect()
    assert info.value is boom
    assert ws.status == "disconnected"
    await until(lambda: len(server.connections) == 1 and not server.connections[0].open)
    ws.off("connection_change", observer)
    await ws.connect()
    assert ws.status == "connected"
    assert len(server.connections) == 2
    await ws.aclose()


async def test_connected_observer_calling_close_cancels_setup(make_server) -> None:
    server = await make_server()
    ws = client(server)
    calls = 0

    def on_connected() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            ws.close()

    ws.on("connected", on_connected)
    with pytest.raises(ConnectionClosedError, match="closed before setup completed"):
        await ws.connect()
    assert ws.status == "disconnected"
    await ws.connect()
    assert ws.status == "connected"
    await ws.aclose()


async def test_close_emits_disconnected_even_if_connection_change_listener_throws(
    make_server,
) -> None:
    server = await make_server()
    ws = client(server)
    await ws.connect()
    boom = ValueError("listener")
    seen: list[str] = []

    def cc(status: str) -> None:
        if status == "disconnected":
            raise boom

    ws.on("connection_change", cc)
    ws.on("disconnected", lambda: seen.append("disconnected"))
    with pytest.raises(ValueError, match="listener") as info:
        ws.close()
    assert info.value is boom
    assert seen == ["disconnected"]
    assert ws.status == "disconnected"
    await until(lambda: not server.connections[0].open)
    assert len(server.connections) == 1


class FailingUpdate(OpenAIRealtimeWebSocket):
    fail_next = True

    def update_session_config(self, config: Any) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("session.update failed")
        super().update_session_config(config)


async def test_failed_initial_session_update_rolls_back(make_server) -> None:
    server = await make_server()
    ws = FailingUpdate(api_key=KEY, base_url=server.url)
    with pytest.raises(RuntimeError, match=r"session\.update failed"):
        await ws.connect(model="gpt-other")
    assert ws.status == "disconnected"
    assert ws.current_model == "gpt-realtime-2.1"
    await until(lambda: len(server.connections) == 1 and not server.connections[0].open)
    await ws.connect()
    assert server.connections[-1].query == {"model": "gpt-realtime-2.1"}
    await ws.aclose()


async def test_cleanup_error_goes_to_error_listeners_while_setup_error_wins(make_server) -> None:
    server = await make_server()
    ws = FailingUpdate(api_key=KEY, base_url=server.url)
    cleanup = KeyError("cleanup")
    errors: list[ErrorEvent] = []
    ws.on("error", errors.append)

    def on_disconnected() -> None:
        raise cleanup

    ws.on("disconnected", on_disconnected)
    with pytest.raises(RuntimeError, match=r"session\.update failed"):
        await ws.connect()
    assert any(e.error is cleanup for e in errors)


@pytest.mark.parametrize("first", [ValueError("original"), None])
async def test_reentrant_close_from_disconnect_observer_keeps_original_error(
    make_server, first: Exception | None
) -> None:
    server = await make_server()

    class Fails(OpenAIRealtimeWebSocket):
        def update_session_config(self, config: Any) -> None:
            raise first if first is not None else LookupError("no detail")

    ws = Fails(api_key=KEY, base_url=server.url)
    ws.on("disconnected", lambda: ws.close())
    with pytest.raises((ValueError, LookupError)) as info:
        await ws.connect()
    if first is not None:
        assert info.value is first
    else:
        assert isinstance(info.value, LookupError)
    assert ws.status == "disconnected"


async def test_retry_inside_disconnect_observer_is_not_rolled_back(make_server) -> None:
    server = await make_server()
    ws = FailingUpdate(api_key=KEY, base_url=server.url)
    retry: list[asyncio.Task[None]] = []

    def on_disconnected() -> None:
        if not retry:
            retry.append(asyncio.ensure_future(ws.connect(model="gpt-retry")))

    ws.on("disconnected", on_disconnected)
    with pytest.raises(RuntimeError):
        await ws.connect(model="gpt-first")
    await retry[0]
    assert ws.status == "connected"
    assert ws.current_model == "gpt-retry"
    assert server.connections[-1].query == {"model": "gpt-retry"}
    await ws.aclose()
    # A retry without a model uses the restored defaults.
    await ws.connect()
    assert server.connections[-1].query == {"model": "gpt-retry"}
    await ws.aclose()


async def test_overlapping_connect_is_rejected_without_a_socket(make_server) -> None:
    server = await make_server()
    gate = asyncio.Event()

    async def slow_key() -> str:
        await gate.wait()
        return KEY

    ws = client(server, api_key=slow_key)
    first = asyncio.ensure_future(ws.connect())
    await asyncio.sleep(0.01)
    with pytest.raises(UserError, match="already connected or connecting"):
        await ws.connect()
    gate.set()
    await first
    with pytest.raises(UserError, match="already connected or connecting"):
        await ws.connect()
    assert len(server.connections) == 1
    await ws.aclose()


async def test_close_during_key_await_rejects_restores_model_and_creates_no_socket(
    make_server,
) -> None:
    server = await make_server()
    gate = asyncio.Event()

    async def slow_key() -> str:
        await gate.wait()
        return KEY

    ws = client(server, api_key=slow_key)
    task = asyncio.ensure_future(ws.connect(model="gpt-pending"))
    await asyncio.sleep(0.01)
    assert ws.current_model == "gpt-pending"
    ws.close()
    assert ws.current_model == "gpt-realtime-2.1"
    gate.set()
    with pytest.raises(ConnectionClosedError, match="closed before setup completed"):
        await task
    await asyncio.sleep(0.05)
    assert server.connections == []
    assert ws.status == "disconnected"


async def test_close_during_open_wait_rejects_and_closes_the_socket_once(make_server) -> None:
    server = await make_server(handshake_delay_ms=300)
    ws = client(server)
    log = record(ws, "connection_change", "disconnected")
    task = asyncio.ensure_future(ws.connect())
    await until(lambda: ws.status == "connecting")
    ws.close()
    assert ws.status == "disconnected"
    with pytest.raises(ConnectionClosedError, match=CANCELLED_SETUP_MESSAGE[:30]):
        await task
    assert [n for n, _ in log] == ["connection_change", "connection_change", "disconnected"]
    await asyncio.sleep(0.5)
    assert len(server.connections) <= 1
    assert all(not c.open for c in server.connections)


async def test_pre_open_close_rejects_closed_before_ready() -> None:
    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)
        writer.close()

    srv = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    ws = OpenAIRealtimeWebSocket(api_key=KEY, url=f"ws://127.0.0.1:{port}/v1/realtime?model=x")
    errors: list[ErrorEvent] = []
    ws.on("error", errors.append)
    with pytest.raises(ConnectionFailedError, match=CLOSED_BEFORE_READY_MESSAGE[:20]) as info:
        await ws.connect()
    assert info.value.kind == "closed_before_ready"
    assert errors
    assert errors[0].error is info.value
    assert ws.status == "disconnected"
    srv.close()
    await srv.wait_closed()


async def test_connection_refused_rejects_and_is_reported_without_listener(caplog) -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    ws = OpenAIRealtimeWebSocket(api_key=KEY, url=f"ws://127.0.0.1:{port}/v1/realtime")
    with (
        caplog.at_level(logging.WARNING, logger="realtime_ws"),
        pytest.raises(ConnectionFailedError) as info,
    ):
        await ws.connect()
    assert isinstance(info.value, ConnectionError)
    assert info.value.kind == "io"
    assert "no 'error' listener" in caplog.text
    assert KEY not in caplog.text
    assert ws.status == "disconnected"


async def test_connect_timeout(make_server) -> None:
    server = await make_server(handshake_delay_ms=2000)
    ws = client(server, connect_timeout=0.2)
    with pytest.raises(ConnectTimeoutError) as info:
        await ws.connect()
    assert isinstance(info.value, TimeoutError)
    assert ws.status == "disconnected"


async def test_http_rejection_reports_the_status(make_server) -> None:
    server = await make_server(reject_status=401)
    ws = client(server)
    with pytest.raises(ConnectionFailedError) as info:
        await ws.connect()
    assert info.value.status == 401
    assert "401" in str(info.value)
    assert KEY not in str(info.value)


async def test_socket_without_close_reply_still_disconnects_and_stale_close_is_ignored(
    make_server,
) -> None:
    server = await make_server()
    ws = client(server, close_timeout=0.3)
    await ws.connect()
    await server.wait_for("session.update")
    server.freeze()  # the server stops reading: our close frame is never answered
    ws.close()
    assert ws.status == "disconnected"
    await ws.connect()
    assert ws.status == "connected"
    await asyncio.sleep(0.6)  # the old socket's close timeout fires now
    assert ws.status == "connected"
    ws.send_event({"type": "input_audio_buffer.clear"})
    await server.wait_for("input_audio_buffer.clear")
    await ws.aclose()


async def test_server_close_code_reaches_disconnected(make_server) -> None:
    server = await make_server(api_key="sk-right")
    ws = client(server, api_key="sk-wrong")
    errors: list[ErrorEvent] = []
    closes: list[CloseInfo] = []
    ws.on("error", errors.append)
    ws.on("disconnected", closes.append)
    await ws.connect()  # the real server also accepts the upgrade, then errors and closes
    await until(lambda: ws.status == "disconnected")
    assert closes[0].code == 3000
    assert closes[0].reason == "invalid_request_error.invalid_api_key"
    assert ws.last_close == closes[0]
    server_errors = [e for e in errors if e.source == "server"]
    assert server_errors[0].error["error"]["code"] == "invalid_api_key"


async def test_send_event_without_socket_raises_and_send_audio_is_ignored(make_server) -> None:
    ws = OpenAIRealtimeWebSocket(api_key=KEY)
    with pytest.raises(NotConnectedError, match="not connected"):
        ws.send_event({"type": "input_audio_buffer.clear"})
    with pytest.raises(ConnectionError):
        ws.request_response()
    ws.send_audio(b"\x00\x00" * 10)  # ignored, no error
    server = await make_server(handshake_delay_ms=200)
    ws = client(server)
    task = asyncio.ensure_future(ws.connect())
    await until(lambda: ws.status == "connecting")
    ws.send_audio(b"\x01\x00" * 10)  # still ignored while connecting
    ws.send_event({"type": "input_audio_buffer.clear"})  # allowed while connecting (queued)
    await task
    await server.wait_for("input_audio_buffer.clear")
    assert not [e for e in server.received() if e["type"] == "input_audio_buffer.append"]
    await ws.aclose()


async def test_async_with_and_reuse(make_server) -> None:
    server = await make_server()
    async with client(server) as ws:
        await ws.connect()
        assert ws.status == "connected"
    assert ws.status == "disconnected"
    await until(lambda: not server.connections[0].open)
    await ws.connect()
    await ws.aclose()
    assert len(server.connections) == 2


async def test_skip_open_event_listeners_connects_without_waiting(make_server) -> None:
    server = await make_server(handshake_delay_ms=200)
    ws = client(server, skip_open_event_listeners=True)
    log = record(ws, "connection_change")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await ws.connect()
    assert loop.time() - t0 < 0.15
    assert ws.status == "connected"
    assert [s for _, s in log] == ["connecting", "connected"]
    ev = await server.wait_for("session.update")  # queued frames flow once the socket opens
    assert ev["session"]["type"] == "realtime"
    await ws.aclose()


async def test_repr_and_errors_never_contain_the_key(make_server, caplog) -> None:
    server = await make_server(reject_status=403)
    ws = client(server)
    assert KEY not in repr(ws)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConnectionFailedError) as info:
        await ws.connect()
    assert KEY not in repr(info.value)
    assert KEY not in str(info.value)
    assert KEY not in caplog.text
    assert KEY not in repr(ws.connection_state)
