"""The connection state machine: ``connect``, ``close`` and the disconnect
transition, with the reference's rollback and first-error rules
(SEED_BEHAVIOUR.md section 2).

States: ``disconnected`` -> ``connecting`` -> ``connected`` -> ``disconnected``.
A connect attempt remembers the model, key and URLs to restore on failure and
keeps its first failure exactly as it was raised. ``close()`` is synchronous:
the status is ``disconnected`` when it returns, whatever the socket does next.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import platform
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from . import _core, _logbridge
from ._base import AuthMode, TransportBase, logger
from ._hub import hub_for_running_loop
from .config_types import SessionConfig
from .errors import (
    ConnectionClosedError,
    ConnectionFailedError,
    ConnectTimeoutError,
    UserError,
)
from .events import CloseInfo

__version__: str = _core.__version__

ApiKey = str | Callable[[], str | Awaitable[str]]

_Self = TypeVar("_Self", bound="ConnectionLifecycle")

CANCELLED_SETUP_MESSAGE = "WebSocket connection was closed before setup completed."
CLOSED_BEFORE_READY_MESSAGE = "WebSocket closed before the connection was ready."


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path``: no query string, no credentials."""
    try:
        p = urllib.parse.urlsplit(url)
        host = p.hostname or "?"
        port = f":{p.port}" if p.port else ""
        return f"{p.scheme}://{host}{port}{p.path}"
    except ValueError:
        return "<invalid url>"


def with_query(base: str, key: str, value: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{key}={urllib.parse.quote(value, safe='')}"


def is_loopback_host(url: str) -> bool:
    """True for ``localhost`` and literal loopback addresses (127.0.0.0/8, ::1)."""
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return False
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class OpenOptions:
    """The socket options of a transport (one shared object for equal options)."""

    connect_timeout: float
    proxy: str | None
    ca_pem: bytes | None
    ping_interval: float | None
    ping_timeout: float
    close_timeout: float
    max_message_size: int | None

    _interned: ClassVar[dict[OpenOptions, OpenOptions]] = {}

    def intern(self) -> OpenOptions:
        """An equal instance shared with other transports (thousands of sessions
        usually have the same options); at most 64 distinct ones are kept."""
        known = OpenOptions._interned.get(self)
        if known is not None:
            return known
        if len(OpenOptions._interned) < 64:
            OpenOptions._interned[self] = self
        return self


class Attempt:
    """One ``connect()`` call: what to restore on failure, and its first error."""

    __slots__ = ("config", "conn_id", "default_url", "error", "key", "model", "opened", "url")

    def __init__(self, ws: ConnectionLifecycle) -> None:
        self.model = ws._current_model
        self.key = ws._api_key
        self.url = ws._url
        self.default_url = ws._default_url
        self.error: BaseException | None = None
        self.conn_id: int | None = None
        self.opened: asyncio.Future[None] | None = None
        self.config: dict[str, Any] = {}

    def fail(self, exc: BaseException) -> None:
        """Records ``exc`` if it is the first failure, and wakes the waiting connect."""
        if self.error is None:
            self.error = exc
        fut = self.opened
        if fut is not None and not fut.done():
            fut.set_exception(self.error)
            # Mark it retrieved: connect() may already have stopped waiting.
            fut.exception()

    def restore(self, ws: ConnectionLifecycle) -> None:
        ws._current_model = self.model
        ws._api_key = self.key
        ws._url = self.url
        ws._default_url = self.default_url


class ConnectionLifecycle(TransportBase):
    """``connect``/``close``/``aclose`` and the transitions between states."""

    _api_key_option: ApiKey | None
    _api_key: str | None
    _url: str | None
    _default_url: str | None
    _base_url: str
    _headers: dict[str, str] | None
    _auth: AuthMode
    _use_insecure_api_key: bool
    _allow_insecure_transport: bool
    _extra_subprotocols: tuple[str, ...]
    _open_options: OpenOptions

    def get_common_request_headers(self) -> dict[str, str]:
        """Headers every handshake carries (before authentication and user headers)."""
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        return {"User-Agent": f"realtime-ws/{__version__} (Python {py}; {platform.system()})"}

    async def _resolve_api_key(self, key: ApiKey | None) -> str | None:
        if key is None:
            return None
        if callable(key):
            value: Any = key()
            if inspect.isawaitable(value):
                value = await value
            return value  # type: ignore[no-any-return]
        return key

    def _handshake(self, key: str) -> tuple[list[tuple[str, str]], list[str]]:
        headers = list(self.get_common_request_headers().items())
        subprotocols: list[str] = []
        if self._auth == "bearer":
            headers.append(("Authorization", f"Bearer {key}"))
        elif self._auth == "azure":
            headers.append(("api-key", key))
        else:
            subprotocols = ["realtime", f"openai-insecure-api-key.{key}"]
        if self._beta:
            if self._auth == "subprotocol":
                subprotocols.append("openai-beta.realtime-v1")
            else:
                headers.append(("OpenAI-Beta", "realtime=v1"))
        subprotocols.extend(self._extra_subprotocols)
        if self._headers:
            user = {k.lower() for k in self._headers}
            headers = [(k, v) for k, v in headers if k.lower() not in user]
            headers.extend(self._headers.items())
        return headers, subprotocols

    def _secrets(self, key: str) -> list[str]:
        """What must never come back from the server in clear: the key and every
        credential header value this handshake sends."""
        out = [key]  # also covers "Bearer <key>"
        for k, v in (self._headers or {}).items():
            if k.lower() in ("authorization", "api-key", "openai-api-key"):
                out.append(v[7:] if v.lower().startswith("bearer ") else v)
        return out

    async def connect(
        self,
        *,
        api_key: ApiKey | None = None,
        model: str | None = None,
        url: str | None = None,
        call_id: str | None = None,
        initial_session_config: SessionConfig | Mapping[str, Any] | None = None,
    ) -> None:
        """Opens the socket and sends the initial ``session.update``.

        Resolves right after that ``session.update`` is sent (it does not wait
        for ``session.created``/``session.updated``). URL priority: ``url`` >
        ``call_id`` > the stored default URL > the public endpoint with
        ``?model=<current_model>``; a ``url`` given here becomes the default.
        On failure the model, key and URLs are restored and the first error is
        raised exactly as it was thrown.
        """
        if self._attempt is not None or self._status != "disconnected":
            raise UserError("WebSocket is already connected or connecting.")
        attempt = Attempt(self)
        self._attempt = attempt
        try:
            if model is not None:
                self._current_model = model
            key = await self._resolve_api_key(
                api_key if api_key is not None else self._api_key_option
            )
            if attempt.error is not None:
                raise attempt.error
            self._api_key = key
            if url:
                target = url
                self._default_url = url
            elif call_id:
                target = with_query(self._base_url, "call_id", call_id)
            elif self._default_url:
                target = self._default_url
            else:
                target = with_query(self._base_url, "model", self._current_model)
            self._url = target
            config = {**(initial_session_config or {}), "model": self._current_model}
            self._tracing = config.get("tracing", "auto")
            attempt.config = config
            await self._setup_websocket(attempt, key, target)
        except BaseException as exc:
            attempt.fail(exc)
            if self._attempt is attempt:
                self._attempt = None
                attempt.restore(self)
                try:
                    self._close_after_failure(attempt)
                except Exception as cleanup:
                    self._on_error(cleanup)
            assert attempt.error is not None
            # The first failure, exactly as it was raised (it may not be `exc`).
            raise attempt.error  # noqa: B904
        if self._attempt is attempt:
            self._attempt = None

    async def _setup_websocket(self, attempt: Attempt, key: str | None, url: str) -> None:
        if self._conn_id is not None:
            raise UserError("WebSocket is already connected or connecting.")
        if not key:
            raise UserError("API key is not set. Please call `connect()` with an API key first.")
        if (
            self._auth == "subprotocol"
            and not key.startswith("ek_")
            and not self._use_insecure_api_key
        ):
            raise UserError(
                "Subprotocol authentication requires an ephemeral client key (ek_...); "
                "pass use_insecure_api_key=True to send a regular API key this way."
            )
        if (
            url.lower().startswith("ws://")
            and not self._allow_insecure_transport
            and not is_loopback_host(url)
        ):
            raise UserError(
                f"Refusing to send an API key in clear text over ws:// to {redact_url(url)}: "
                "use wss://, or pass allow_insecure_transport=True to OpenAIRealtimeWebSocket "
                "if the network path is trusted (e.g. a TLS-terminating sidecar)."
            )
        headers, subprotocols = self._handshake(key)
        hub = hub_for_running_loop()
        _logbridge.sync_level()
        self._hub = hub
        loop = hub.loop
        o = self._open_options
        conn_id: int = self._core.open(
            hub.core,
            url,
            headers,
            subprotocols,
            connect_timeout=o.connect_timeout,
            proxy=o.proxy,
            ca_pem=o.ca_pem,
            ping_interval=o.ping_interval,
            ping_timeout=o.ping_timeout,
            close_timeout=o.close_timeout,
            max_message_size=o.max_message_size,
            secrets=self._secrets(key),
        )
        hub.register(conn_id, self)
        self._conn_id = conn_id
        attempt.conn_id = conn_id
        if not self._skip_open_event_listeners:
            attempt.opened = loop.create_future()
        self._subprotocol = None
        self._set_status("connecting")
        self._emit_strict("connection_change", "connecting")
        if self._skip_open_event_listeners:
            self._socket_opened(conn_id, None, attempt)
        else:
            assert attempt.opened is not None
            await attempt.opened
        if attempt.error is not None:
            raise attempt.error

    def _socket_opened(
        self, conn_id: int, subprotocol: str | None, attempt: Attempt | None
    ) -> None:
        """The handshake completed (or, with skip_open_event_listeners, the socket exists).

        The initial ``session.update`` is sent right here, before any later event
        of this socket is dispatched, and only then does ``connect()`` resolve.
        """
        if conn_id != self._conn_id:
            return
        if subprotocol is not None:
            self._subprotocol = subprotocol
        self._set_status("connected")
        self._core.set_connected(conn_id)
        failure: BaseException | None = None
        try:
            self._emit_strict("connection_change", "connected")
        except BaseException as exc:
            failure = exc
        if failure is None:
            try:
                self._on_open()
            except BaseException as exc:
                failure = exc
        if attempt is None or attempt.conn_id != conn_id:
            if failure is not None:
                self._report_listener_error("connected", failure)
            return
        if failure is None and attempt.error is None:
            try:
                if self._attempt is not attempt or self._status != "connected":
                    raise ConnectionClosedError(CANCELLED_SETUP_MESSAGE)
                self.update_session_config(attempt.config)
                if self._attempt is not attempt or self._status != "connected":
                    raise ConnectionClosedError(CANCELLED_SETUP_MESSAGE)
            except BaseException as exc:
                failure = exc
        if failure is not None:
            attempt.fail(failure)
            if self._skip_open_event_listeners:
                raise failure
        elif attempt.opened is not None and not attempt.opened.done():
            attempt.opened.set_result(None)

    def _close_after_failure(self, attempt: Attempt) -> None:
        if attempt.conn_id is not None and attempt.conn_id == self._conn_id:
            self._disconnect(attempt.conn_id, raise_errors=True, by_client=True)

    # -- close -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the socket. The state change (and its events) is synchronous.

        A pending ``connect()`` is rejected; the sequencer and the playback state
        are reset. A listener error raised while emitting ``connection_change`` or
        ``disconnected`` is re-raised after both ran.
        """
        attempt = self._attempt
        if attempt is not None:
            self._attempt = None
            attempt.restore(self)
            attempt.fail(ConnectionClosedError(CANCELLED_SETUP_MESSAGE))
        self._disconnect(self._conn_id, raise_errors=True, by_client=True)

    async def aclose(self, timeout: float | None = None) -> None:
        """``close()``, then wait for the close handshake (at most ``close_timeout`` + 1 s)."""
        conn_id = self._conn_id
        waiter: asyncio.Future[None] | None = None
        if conn_id is not None and self._hub is not None:
            waiter = self._hub.loop.create_future()
            if self._closed_waiters is None:
                self._closed_waiters = {}
            self._closed_waiters[conn_id] = waiter
        self.close()
        if waiter is not None:
            assert conn_id is not None
            limit = timeout if timeout is not None else self._open_options.close_timeout + 1.0
            try:
                await asyncio.wait_for(asyncio.shield(waiter), limit)
            except asyncio.TimeoutError:
                pass
            finally:
                if self._closed_waiters is not None:
                    self._closed_waiters.pop(conn_id, None)

    def _disconnect(
        self,
        conn_id: int | None,
        *,
        raise_errors: bool,
        by_client: bool = False,
        info: CloseInfo | None = None,
    ) -> None:
        """The shared disconnect transition (close() and the socket's own end).

        The core detaches the socket first (closing it if it is still open and
        resetting the sequencer, playback and audio state), so a listener that
        connects again from ``disconnected`` starts on a clean transport.
        """
        if conn_id is not None and conn_id != self._conn_id:
            return  # a stale socket
        dropped = self._core.detach(conn_id)
        if dropped is not None:
            logger.warning("%s", dropped)
        self._conn_id = None
        if self._status == "disconnected":
            return
        self._last_close = info or CloseInfo(code=1000, by_client=by_client)
        self._set_status("disconnected")
        first: BaseException | None = None
        try:
            self._emit_strict("connection_change", "disconnected")
        except BaseException as exc:
            first = exc
        try:
            self._on_close()
        except BaseException as exc:
            if first is None:
                first = exc
        if first is not None:
            if raise_errors:
                raise first
            self._report_listener_error("disconnected", first)

    # -- socket lifecycle events from the core ----------------------------------------------------

    def _on_socket_opened(self, conn_id: int, ev: _core.SocketOpened) -> None:
        if not self._skip_open_event_listeners:
            self._socket_opened(conn_id, ev.subprotocol, self._attempt)
        elif conn_id == self._conn_id:
            # Already counted as connected; just record the negotiated subprotocol.
            self._subprotocol = ev.subprotocol

    def _on_connect_failed(self, conn_id: int, ev: _core.ConnectFailed) -> None:
        if conn_id != self._conn_id:
            return
        err: ConnectionFailedError
        if ev.kind == "timeout":
            err = ConnectTimeoutError(ev.message, kind=ev.kind, status=ev.status)
        else:
            err = ConnectionFailedError(ev.message, kind=ev.kind, status=ev.status)
        attempt = self._attempt
        if attempt is not None and attempt.conn_id == conn_id:
            attempt.fail(err)
        self._on_error(err)
        self._disconnect(conn_id, raise_errors=False, info=CloseInfo(error=ev.message))

    def _on_socket_closed(self, conn_id: int, ev: _core.SocketClosed) -> None:
        waiter = self._closed_waiters.pop(conn_id, None) if self._closed_waiters else None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if conn_id != self._conn_id:
            return
        info = CloseInfo(code=ev.code, reason=ev.reason, error=ev.error)
        if ev.error is not None:
            self._on_error(ConnectionClosedError(ev.error, code=ev.code, reason=ev.reason))
        attempt = self._attempt
        if attempt is not None and attempt.conn_id == conn_id and self._status == "connecting":
            attempt.fail(
                ConnectionClosedError(CLOSED_BEFORE_READY_MESSAGE, code=ev.code, reason=ev.reason)
            )
        self._disconnect(conn_id, raise_errors=False, info=info)

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
