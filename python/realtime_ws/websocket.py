"""``OpenAIRealtimeWebSocket``: the OpenAI Realtime API over one WebSocket.

The Python equivalent of ``OpenAIRealtimeWebSocket`` in ``@openai/agents-realtime``
(see SEED_BEHAVIOUR.md): same connection state machine, rollback and error
rules, same events, snake_case names. The socket, JSON parsing of hot events,
base64, interruption bookkeeping and the response.create sequencer live in
the Rust core (``_core.Transport``); this class is the state machine around
``connect``/``close`` and the event surface.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import platform
import secrets
import sys
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from . import _core
from ._hub import LoopHub, hub_for_running_loop
from .audio import AudioSpec
from .config import ResponseOverride, SessionConfig
from .emitter import EmittedEvent, EventEmitter
from .errors import (
    ConnectionClosedError,
    ConnectionFailedError,
    ConnectTimeoutError,
    NotConnectedError,
    ProtocolError,
    UnsupportedOperationError,
    UserError,
)
from .events import (
    AudioDoneEvent,
    AudioEvent,
    AudioInterruptedEvent,
    CloseInfo,
    ConnectionStatus,
    ErrorEvent,
    ItemDeletedEvent,
    OutputTextDeltaEvent,
    TranscriptDeltaEvent,
    TurnDoneEvent,
    TurnDoneResponse,
    TurnStartedEvent,
    usage_from_response,
)
from .items import (
    FunctionCallEvent,
    FunctionCallItem,
    McpToolsListedEvent,
    approval_request_item,
    diff_history,
    field,
    item_id_of,
    mcp_call_item,
    message_item,
)
from .session_config import build_session_payload, to_beta_response, to_beta_session

logger = logging.getLogger("realtime_ws")

__version__: str = _core.__version__

DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_BASE_URL = "wss://api.openai.com/v1/realtime"

ApiKey = str | Callable[[], str | Awaitable[str]]
AuthMode = Literal["bearer", "subprotocol", "azure"]
Protocol = Literal["ga", "beta"]

CANCELLED_SETUP_MESSAGE = "WebSocket connection was closed before setup completed."
CLOSED_BEFORE_READY_MESSAGE = "WebSocket closed before the connection was ready."
MUTE_MESSAGE = (
    "Mute is not supported for the WebSocket transport. You have to mute the audio input yourself."
)


@dataclass(frozen=True, slots=True)
class WebSocketHandle:
    """What the transport knows about its current socket."""

    conn_id: int
    #: The URL without query string or credentials (safe to log).
    url: str
    #: The subprotocol the server selected, if any.
    subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class WebSocketState:
    """``connection_state``: the status and the socket behind it (``None`` when disconnected)."""

    status: ConnectionStatus
    websocket: WebSocketHandle | None


def _redact(url: str) -> str:
    try:
        p = urllib.parse.urlsplit(url)
        host = p.hostname or "?"
        port = f":{p.port}" if p.port else ""
        return f"{p.scheme}://{host}{port}{p.path}"
    except ValueError:
        return "<invalid url>"


class _Attempt:
    """One ``connect()`` call: what to restore on failure, and its first error."""

    __slots__ = ("config", "conn_id", "default_url", "error", "key", "model", "opened", "url")

    def __init__(self, ws: OpenAIRealtimeWebSocket) -> None:
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

    def restore(self, ws: OpenAIRealtimeWebSocket) -> None:
        ws._current_model = self.model
        ws._api_key = self.key
        ws._url = self.url
        ws._default_url = self.default_url


class OpenAIRealtimeWebSocket(EventEmitter):
    """A Realtime API session over WebSocket, with a Rust core.

    Example::

        ws = OpenAIRealtimeWebSocket(api_key=os.environ["OPENAI_API_KEY"])
        ws.on("audio", lambda ev: speaker.write(ev.data))
        await ws.connect(initial_session_config={"instructions": "Be brief."})
        ws.send_audio(pcm16_chunk)

    Options:
        model: the starting model (``current_model``), ``"gpt-realtime-2.1"`` by default.
        api_key: a key, or a sync/async callable returning one, resolved on every connect.
        url: a fixed socket URL (the stored default URL; Azure, proxies, local servers).
        base_url: the endpoint the ``?model=`` and ``?call_id=`` URLs are built on when no
            ``url`` is given (default ``wss://api.openai.com/v1/realtime``; for Azure GA,
            ``wss://<resource>.openai.azure.com/openai/v1/realtime``).
        headers: extra handshake headers (e.g. ``OpenAI-Organization``; Azure's ``api-key``).
        auth: ``"bearer"`` (``Authorization: Bearer <key>``, default), ``"subprotocol"``
            (the browser form: subprotocols ``realtime`` and ``openai-insecure-api-key.<key>``;
            needs an ephemeral ``ek_`` key unless ``use_insecure_api_key``), or ``"azure"``
            (an ``api-key`` header).
        use_insecure_api_key: allow a regular key with ``auth="subprotocol"``.
        subprotocols: extra subprotocols to offer.
        skip_open_event_listeners: count the socket as connected as soon as it is
            created; ``connect()`` then returns without waiting for the handshake, and
            frames are queued until it completes (a handshake failure is reported
            through ``error`` and ``disconnected``).
        connect_timeout: seconds for DNS + TCP + TLS + upgrade.
        proxy: ``http://[user:pass@]host:port`` of an HTTP CONNECT proxy.
        ca_file: a PEM file of extra trusted roots (TLS verification is always on).
        ping_interval / ping_timeout: keepalive; after ``ping_interval`` s of silence the
            client pings, after a further ``ping_timeout`` s the peer is declared dead
            (``error`` + ``disconnected``). ``ping_interval=None`` disables it.
        close_timeout: seconds to wait for the server's close frame.
        max_message_size: largest accepted server message in bytes (``None``: no limit).
        input_audio: the format you pass to ``send_audio`` when it is not the session's
            (e.g. ``AudioSpec(rate=16000)``, ``AudioSpec(rate=48000, encoding="f32")``,
            ``AudioSpec(encoding="ulaw")``). Converted in Rust to the session's input format.
        output_audio: the format ``audio`` events deliver (e.g. ``AudioSpec(rate=48000)``);
            converted in Rust from the session's output format. Interruption arithmetic
            (``audio_end_ms``) always counts the audio as the server sent it.
        audio_quality: resampling quality, ``"hq"`` (default; at least libsoxr HQ) or
            ``"low_latency"`` (about a third of the delay).
        protocol: ``"ga"`` (default) or ``"beta"``: the beta API for servers that still
            speak it (e.g. older Azure deployments). Beta sends ``OpenAI-Beta: realtime=v1``,
            sends session updates in the flat beta shape, and maps the beta event names
            (``response.audio.delta``, ``response.text.delta``, ``conversation.item.created``
            ...) to the same emitted events.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        api_key: ApiKey | None = None,
        url: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        headers: Mapping[str, str] | None = None,
        auth: AuthMode = "bearer",
        use_insecure_api_key: bool = False,
        subprotocols: Sequence[str] = (),
        skip_open_event_listeners: bool = False,
        connect_timeout: float = 10.0,
        proxy: str | None = None,
        ca_file: str | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        close_timeout: float = 5.0,
        max_message_size: int | None = 64 * 1024 * 1024,
        protocol: Protocol = "ga",
        input_audio: AudioSpec | None = None,
        output_audio: AudioSpec | None = None,
        audio_quality: Literal["hq", "low_latency"] = "hq",
    ) -> None:
        super().__init__()
        if auth not in ("bearer", "subprotocol", "azure"):
            raise ValueError(f"auth must be 'bearer', 'subprotocol' or 'azure', got {auth!r}")
        if protocol not in ("ga", "beta"):
            raise ValueError(f"protocol must be 'ga' or 'beta', got {protocol!r}")
        self._core = _core.Transport()
        self._core.set_dialect(protocol)
        self._beta = protocol == "beta"
        self._core.set_audio_formats(
            _spec_tuple(input_audio, "input_audio"),
            _spec_tuple(output_audio, "output_audio"),
            audio_quality,
        )
        self._current_model = model
        self._api_key_option: ApiKey | None = api_key
        self._api_key: str | None = None
        self._url: str | None = None
        self._default_url: str | None = url
        self._base_url = base_url
        self._headers = dict(headers or {})
        self._auth: AuthMode = auth
        self._use_insecure_api_key = use_insecure_api_key
        self._extra_subprotocols = list(subprotocols)
        self._skip_open_event_listeners = skip_open_event_listeners
        self._ca_pem: bytes | None = None
        if ca_file is not None:
            with open(ca_file, "rb") as f:
                self._ca_pem = f.read()
        self._open_options: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "proxy": proxy,
            "ca_pem": self._ca_pem,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_message_size": max_message_size,
        }
        self._state = WebSocketState("disconnected", None)
        self._attempt: _Attempt | None = None
        self._conn_id: int | None = None
        self._hub: LoopHub | None = None
        self._initial_config: dict[str, Any] = {}
        self._server_tracing: Any = None
        self._last_close: CloseInfo | None = None
        self._closed_waiters: dict[int, asyncio.Future[None]] = {}
        cls = type(self)
        base = OpenAIRealtimeWebSocket
        self._py_interrupts = not (
            cls.interrupt is base.interrupt
            and cls._interrupt is base._interrupt
            and cls._cancel_response is base._cancel_response
        )
        self._py_audio_done_reset = cls._after_audio_done_event is not base._after_audio_done_event
        self._core.set_hooks(
            core_interrupts=not self._py_interrupts,
            core_resets_on_audio_done=not self._py_audio_done_reset,
        )
        self._listeners_changed("")  # nothing listens yet: the core can skip deltas

    def __repr__(self) -> str:
        # Never the key.
        return (
            f"<{type(self).__name__} status={self.status!r} model={self._current_model!r} "
            f"url={_redact(self._url) if self._url else None!r}>"
        )

    # -- state -----------------------------------------------------------------------------------

    @property
    def status(self) -> ConnectionStatus:
        """``"disconnected"``, ``"connecting"`` or ``"connected"``."""
        return self._state.status

    @property
    def connection_state(self) -> WebSocketState:
        return self._state

    @property
    def muted(self) -> None:
        """Always ``None``: this transport does not mute; stop calling ``send_audio`` instead."""
        return None

    @property
    def current_model(self) -> str:
        return self._current_model

    @current_model.setter
    def current_model(self, model: str) -> None:
        self._current_model = model

    @property
    def current_item_id(self) -> str | None:
        """The item id of the response audio being tracked for interruption."""
        return self._core.current_item_id

    @property
    def _first_audio_timestamp(self) -> float | None:
        """When the current item's first audio arrived (:func:`realtime_ws.monotonic_ms` units)."""
        return self._core.first_audio_timestamp

    @property
    def _audio_length_ms(self) -> float:
        return self._core.audio_length_ms

    @property
    def _raw_session_config(self) -> dict[str, Any] | None:
        """The last ``session.updated.session`` from the server."""
        return self._core.raw_session()

    @property
    def last_close(self) -> CloseInfo | None:
        """How the last socket ended."""
        return self._last_close

    def _set_state(self, status: ConnectionStatus, handle: WebSocketHandle | None) -> None:
        self._state = WebSocketState(status, handle)

    def _listeners_changed(self, name: str) -> None:
        if name in _RAW_AUDIO_LISTENERS:
            self._core.set_wants_raw_audio(
                any(self.listener_count(n) > 0 for n in _RAW_AUDIO_LISTENERS)
            )
        if name in _TRANSCRIPT_LISTENERS or name in _TEXT_LISTENERS or name == "":
            # Deltas nobody listens to are dropped in the core (half of the
            # events of a voice session are transcript deltas).
            self._core.set_wants_deltas(
                bool(self._taps) or any(n in self._listeners for n in _TRANSCRIPT_LISTENERS),
                bool(self._taps) or any(n in self._listeners for n in _TEXT_LISTENERS),
            )

    # -- connect ---------------------------------------------------------------------------------

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
        user = {k.lower() for k in self._headers}
        headers = [(k, v) for k, v in headers if k.lower() not in user]
        headers.extend(self._headers.items())
        return headers, subprotocols

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
        if self._attempt is not None or self._state.status != "disconnected":
            raise UserError("WebSocket is already connected or connecting.")
        attempt = _Attempt(self)
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
                target = _with_query(self._base_url, "call_id", call_id)
            elif self._default_url:
                target = self._default_url
            else:
                target = _with_query(self._base_url, "model", self._current_model)
            self._url = target
            config = {**(initial_session_config or {}), "model": self._current_model}
            self._initial_config = config
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

    async def _setup_websocket(self, attempt: _Attempt, key: str | None, url: str) -> None:
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
        headers, subprotocols = self._handshake(key)
        hub = hub_for_running_loop()
        self._hub = hub
        loop = hub.loop
        conn_id: int = self._core.open(hub.core, url, headers, subprotocols, **self._open_options)
        hub.register(conn_id, self)
        self._conn_id = conn_id
        attempt.conn_id = conn_id
        if not self._skip_open_event_listeners:
            attempt.opened = loop.create_future()
        self._set_state("connecting", WebSocketHandle(conn_id, _redact(url)))
        self._emit_strict("connection_change", "connecting")
        if self._skip_open_event_listeners:
            self._socket_opened(conn_id, None, attempt)
        else:
            assert attempt.opened is not None
            await attempt.opened
        if attempt.error is not None:
            raise attempt.error

    def _socket_opened(
        self, conn_id: int, subprotocol: str | None, attempt: _Attempt | None
    ) -> None:
        """The handshake completed (or, with skip_open_event_listeners, the socket exists).

        The initial ``session.update`` is sent right here, before any later event
        of this socket is dispatched, and only then does ``connect()`` resolve.
        """
        if conn_id != self._conn_id:
            return
        handle = self._state.websocket
        url = handle.url if handle else ""
        self._set_state("connected", WebSocketHandle(conn_id, url, subprotocol))
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
                if self._attempt is not attempt or self._state.status != "connected":
                    raise ConnectionClosedError(CANCELLED_SETUP_MESSAGE)
                self.update_session_config(attempt.config)
                if self._attempt is not attempt or self._state.status != "connected":
                    raise ConnectionClosedError(CANCELLED_SETUP_MESSAGE)
            except BaseException as exc:
                failure = exc
        if failure is not None:
            attempt.fail(failure)
            if self._skip_open_event_listeners:
                raise failure
        elif attempt.opened is not None and not attempt.opened.done():
            attempt.opened.set_result(None)

    def _close_after_failure(self, attempt: _Attempt) -> None:
        if attempt.conn_id is not None and attempt.conn_id == self._conn_id:
            first: BaseException | None = None
            try:
                self._disconnect(attempt.conn_id, raise_errors=True, by_client=True)
            except BaseException as exc:
                first = exc
            self._core.close(1000, "")
            if first is not None:
                raise first

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
        first: BaseException | None = None
        try:
            self._disconnect(self._conn_id, raise_errors=True, by_client=True)
        except BaseException as exc:
            first = exc
        try:
            self._core.close(1000, "")
        except BaseException as exc:
            if first is None:
                first = exc
        if first is not None:
            raise first

    async def aclose(self, timeout: float | None = None) -> None:
        """``close()``, then wait for the close handshake (at most ``close_timeout`` + 1 s)."""
        conn_id = self._conn_id
        waiter: asyncio.Future[None] | None = None
        if conn_id is not None and self._hub is not None:
            waiter = self._hub.loop.create_future()
            self._closed_waiters[conn_id] = waiter
        self.close()
        if waiter is not None:
            limit = timeout if timeout is not None else self._open_options["close_timeout"] + 1.0
            try:
                await asyncio.wait_for(asyncio.shield(waiter), limit)
            except asyncio.TimeoutError:
                pass
            finally:
                self._closed_waiters.pop(conn_id, None)  # type: ignore[arg-type]

    async def __aenter__(self) -> OpenAIRealtimeWebSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _disconnect(
        self,
        conn_id: int | None,
        *,
        raise_errors: bool,
        by_client: bool = False,
        info: CloseInfo | None = None,
    ) -> None:
        """The shared disconnect transition (close() and the socket's own end)."""
        if conn_id is not None and conn_id != self._conn_id:
            return  # a stale socket
        self._core.reset()
        if conn_id is not None:
            self._core.forget(conn_id)
        self._conn_id = None
        if self._state.status == "disconnected":
            return
        self._last_close = info or CloseInfo(code=1000, by_client=by_client)
        self._set_state("disconnected", None)
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

    # -- overridable hooks -------------------------------------------------------------------------

    def _on_open(self) -> None:
        self._emit_strict("connected")

    def _on_close(self) -> None:
        self._emit_strict("disconnected", self._last_close)
        self._end_taps()

    def _on_error(self, error: BaseException | dict[str, Any], source: str = "transport") -> None:
        """Emits ``error``; never raises. With no ``error`` listener the error is logged."""
        try:
            if self.listener_count("error") == 0:
                logger.warning("realtime error (no 'error' listener): %s", _describe(error))
            self._emit("error", ErrorEvent(error=error, source=source))
        except Exception:  # pragma: no cover - _emit already isolates listeners
            logger.exception("error listener failed")

    def _on_audio(self, event: AudioEvent) -> None:
        """Emits ``audio``. Override to route audio elsewhere (e.g. a telephony bridge)."""
        self._emit("audio", event)

    def _after_audio_done_event(self) -> None:
        """Resets the playback tracking after ``audio_done``."""
        self._core.reset_playback()

    # -- sending -----------------------------------------------------------------------------------

    def send_event(self, event: Mapping[str, Any]) -> None:
        """Sends one client event as a JSON text frame (serialised in Rust).

        Works while connecting (frames are queued until the socket opens).
        ``response.create`` goes through the sequencer; ``response.cancel`` marks
        the cancel. Raises :class:`NotConnectedError` without a socket.
        """
        if self._conn_id is None:
            raise NotConnectedError(
                "WebSocket is not connected. Make sure you call `connect()` before sending events."
            )
        if event.get("type") == "session.update":
            self._note_session_formats(event.get("session"))
        self._core.send_event(event if isinstance(event, dict) else dict(event))

    def _note_session_formats(self, session: Any) -> None:
        """Tells the core which API-side audio formats this session update asks for,
        so ``send_audio``/``audio`` conversions match from the next frame on."""
        if not isinstance(session, Mapping):
            return
        if self._beta:
            fin, fout = session.get("input_audio_format"), session.get("output_audio_format")
        else:
            audio = session.get("audio")
            if not isinstance(audio, Mapping):
                return
            fin = (audio.get("input") or {}).get("format")
            fout = (audio.get("output") or {}).get("format")
        if fin is not None or fout is not None:
            self._core.set_api_formats(fin, fout)

    def send_audio(self, audio: Any, *, commit: bool = False) -> None:
        """Appends PCM16 audio (bytes, bytearray, memoryview or a numpy int16 array).

        Ignored unless connected, as in the reference; the audio is still checked
        (odd byte length or a wrong dtype raise :class:`InvalidAudioError`).
        Base64 and the JSON frame are built in Rust straight from the buffer.
        """
        if self._state.status != "connected":
            self._core.check_audio(audio)
            return
        self._core.send_audio(audio, commit)

    def mute(self, muted: bool) -> None:
        """Not supported on this transport: stop calling ``send_audio`` instead."""
        raise UnsupportedOperationError(MUTE_MESSAGE)

    def update_session_config(self, config: SessionConfig | Mapping[str, Any]) -> None:
        """Sends ``session.update`` with the whole payload for ``config`` (defaults included)."""
        self.send_event({"type": "session.update", "session": self.build_session_payload(config)})

    def build_session_payload(self, config: SessionConfig | Mapping[str, Any]) -> dict[str, Any]:
        """The ``session`` object for ``config`` (see :mod:`realtime_ws.session_config`).

        GA shape, or the flat beta shape with ``protocol="beta"``.
        """
        payload = build_session_payload(config, self._current_model)
        return to_beta_session(payload) if self._beta else payload

    def request_response(
        self, response: ResponseOverride | Mapping[str, Any] | None = None
    ) -> None:
        """Asks for a response through the sequencer (manual only with an override)."""
        if self._conn_id is None:
            raise NotConnectedError(
                "WebSocket is not connected. Make sure you call `connect()` before sending events."
            )
        if response is not None and self._beta:
            response = to_beta_response(response)
        self._core.request_response(None if response is None else dict(response))

    # -- conversation ------------------------------------------------------------------------------

    def send_message(
        self,
        message: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        other_event_data: Mapping[str, Any] | None = None,
        *,
        trigger_response: bool = True,
    ) -> None:
        """Adds a user message, then (by default) asks for a response.

        ``message`` is a string, a list of content parts, or a message
        ``{"type": "message", "role": "user", "content": [...]}``. Image parts may
        be given as ``{"type": "input_image", "image": url, "provider_data": {...}}``
        (sent as ``image_url``). ``other_event_data`` is merged into the
        ``conversation.item.create`` event (e.g. ``previous_item_id``).
        """
        if isinstance(message, str):
            content: list[dict[str, Any]] = [{"type": "input_text", "text": message}]
        else:
            parts = message.get("content", []) if isinstance(message, Mapping) else message
            content = [_content_part(p) for p in parts]
        event: dict[str, Any] = {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": content},
        }
        if other_event_data:
            event.update(other_event_data)
        self.send_event(event)
        if trigger_response:
            self.request_response()

    def add_image(self, image: str, *, trigger_response: bool = True) -> None:
        """Adds an image (a URL or ``data:`` URI) as a user message."""
        self.send_message(
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_image", "image": image}],
            },
            trigger_response=trigger_response,
        )

    def send_function_call_output(
        self,
        tool_call: FunctionCallEvent | Mapping[str, Any],
        output: str,
        start_response: bool = True,
    ) -> None:
        """Sends a tool's output for ``tool_call``, emits its completed ``item_update``,
        and (by default) asks for the next response."""
        call_id = field(tool_call, "call_id", "callId", default="")
        self.send_event(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "output": output, "call_id": call_id},
            }
        )
        try:
            item = FunctionCallItem(
                item_id=str(field(tool_call, "id", "item_id", "itemId", default="")),
                previous_item_id=field(tool_call, "previous_item_id", "previousItemId"),
                status="completed",
                arguments=str(field(tool_call, "arguments", default="")),
                name=str(field(tool_call, "name", default="")),
                output=output,
                call_id=call_id,
            )
            self._emit("item_update", item)
        except Exception:  # the reference only logs a bad tool-call description
            logger.exception("could not build the item_update for a function call output")
        if start_response:
            self.request_response()

    def send_mcp_response(
        self, approval_request: Any, approved: bool, reason: str | None = None
    ) -> None:
        """Answers an ``mcp_approval_request``."""
        item_id = item_id_of(approval_request)
        item: dict[str, Any] = {
            # The SDK's item model requires an id; the API accepts client-chosen ids.
            "id": f"mcpr_{secrets.token_hex(12)}",
            "type": "mcp_approval_response",
            "approval_request_id": item_id,
            "approve": approved,
        }
        if reason is not None:
            item["reason"] = reason
        self.send_event(
            {"type": "conversation.item.create", "previous_item_id": item_id, "item": item}
        )

    def reset_history(self, old_history: Sequence[Any], new_history: Sequence[Any]) -> None:
        """Makes the server's conversation match ``new_history``.

        Items are diffed by id: removed and changed items are deleted
        (``conversation.item.delete``), added and changed messages are created
        again. Function calls cannot be recreated (a warning); assistant audio
        cannot be created by a client (:class:`UserError`).
        """
        removals, additions, updates = diff_history(list(old_history), list(new_history))
        for item in [*additions, *updates]:
            if field(item, "type") == "message" and field(item, "role") == "assistant":
                for part in field(item, "content", default=[]) or []:
                    if isinstance(part, Mapping) and part.get("type") in ("output_audio", "audio"):
                        raise UserError(
                            "An assistant message with audio content cannot be added to the "
                            "conversation; use its transcript as output_text instead."
                        )
        to_delete: list[str] = []
        for item in [*removals, *updates]:
            iid = item_id_of(item)
            if iid not in to_delete:
                to_delete.append(iid)
        for iid in to_delete:
            self.send_event({"type": "conversation.item.delete", "item_id": iid})
        for item in [*additions, *updates]:
            kind = field(item, "type")
            if kind == "message":
                role = field(item, "role")
                entry: dict[str, Any] = {
                    "type": "message",
                    "role": role,
                    "content": list(field(item, "content", default=[]) or []),
                    "id": item_id_of(item),
                }
                status = field(item, "status")
                if role != "system" and status:
                    entry["status"] = status
                self.send_event({"type": "conversation.item.create", "item": entry})
            elif kind == "function_call":
                logger.warning(
                    "Function calls cannot be manually added or updated at the moment. Ignoring."
                )

    # -- interruption ------------------------------------------------------------------------------

    def _cancel_response(self) -> None:
        """Sends ``response.cancel`` if a response is ongoing and no cancel is pending."""
        if self._conn_id is not None:
            self._core.cancel_response()

    def _interrupt(self, elapsed_time: float, cancel_ongoing_response: bool = True) -> None:
        """Cancels (optionally) and truncates the current item at ``elapsed_time`` ms.

        Do not call directly; call :meth:`interrupt`. Override it to change what
        an interruption sends (e.g. a telephony bridge with played-audio marks).
        """
        if elapsed_time < 0:
            return
        if cancel_ongoing_response:
            self._cancel_response()
        item_id = self._core.current_item_id
        content_index = self._core.current_content_index
        audio_end_ms = self._core.audio_end_ms(elapsed_time)
        self._emit(
            "audio_interrupted",
            AudioInterruptedEvent(
                item_id or "", content_index, audio_end_ms, elapsed_time, cancel_ongoing_response
            ),
        )
        self.send_event(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    def interrupt(self, cancel_ongoing_response: bool = True) -> None:
        """Interrupts the response being played: optional cancel, truncate, reset.

        A no-op (nothing sent, no ``audio_interrupted``) when no audio has
        arrived for the current response or it already finished.
        """
        elapsed = self._core.playback_elapsed()
        if elapsed is None:
            return
        if elapsed >= 0:
            self._interrupt(elapsed, cancel_ongoing_response)
        self._core.reset_playback()

    # -- receiving ---------------------------------------------------------------------------------

    def events(self, maxsize: int = 0) -> AsyncIterator[EmittedEvent]:
        """Iterates over every emitted event as ``EmittedEvent(name, data)``.

        The iteration ends after ``disconnected``. Register it before
        ``connect()`` to see the connection events too.
        """
        queue = self._open_tap(maxsize)

        async def gen() -> AsyncIterator[EmittedEvent]:
            try:
                while True:
                    item = await queue.get()
                    if item is None:
                        return
                    yield item
                    if item.name == "disconnected":
                        return
            finally:
                self._close_tap(queue)

        return gen()

    def _on_core_event(self, conn_id: int, code: int, payload: Any) -> None:
        """Dispatch of one core event (called from the hub's drain)."""
        if code == _core.EV_AUDIO:
            if conn_id == self._conn_id:
                audio, raw = payload
                if raw is not None:
                    self._emit_server_dict(raw)
                self._on_audio(audio)
        elif code == _core.EV_SERVER:
            if conn_id == self._conn_id:
                self._on_server_event(payload)
        elif code == _core.EV_INTERRUPTED:
            if conn_id == self._conn_id:
                self._emit("audio_interrupted", payload)
        elif code == _core.EV_FRAME_ERROR:
            if conn_id == self._conn_id:
                self._on_error(ProtocolError(payload), source="protocol")
        elif code == _core.EV_OPENED:
            if not self._skip_open_event_listeners:
                self._socket_opened(conn_id, payload, self._attempt)
            elif conn_id == self._conn_id and self._state.websocket is not None:
                # Already counted as connected; just record the negotiated subprotocol.
                h = self._state.websocket
                self._state = WebSocketState(
                    self._state.status, WebSocketHandle(h.conn_id, h.url, payload)
                )
        elif code == _core.EV_CONNECT_FAILED:
            self._on_connect_failed(conn_id, payload)
        elif code == _core.EV_CLOSED:
            self._on_socket_closed(conn_id, payload)

    def _emit_server_dict(self, ev: Any) -> None:
        """``*`` (a fresh dict per listener) and the typed event named after ``type``."""
        entries = self._listeners.get("*")
        if entries:
            for entry in tuple(entries):
                try:
                    self._call("*", entry, (ev.to_dict(),))
                except Exception as exc:
                    self._report_listener_error("*", exc)
        if ev.known and ev.type != "error" and ev.type in self._listeners:
            self._emit(ev.type, ev.to_dict())

    def _on_server_event(self, ev: Any) -> None:
        self._emit_server_dict(ev)
        if not ev.known:
            return
        t: str = ev.type
        if self._beta:
            t = _BETA_NAMES.get(t, t)
        if t == "response.output_audio_transcript.delta":
            if "audio_transcript_delta" in self._listeners or self._taps:
                rid, iid, _, delta = ev.delta_fields() or _delta_from(ev)
                self._emit("audio_transcript_delta", TranscriptDeltaEvent(delta, iid, rid))
            return
        if t == "response.output_text.delta":
            if "output_text_delta" in self._listeners or self._taps:
                rid, iid, _, delta = ev.delta_fields() or _delta_from(ev)
                self._emit("output_text_delta", OutputTextDeltaEvent(delta, iid, rid))
            return
        if t == "error":
            self._on_error(ev.to_dict(), source="server")
            return
        if t == "response.created":
            event = ev.to_dict()
            self._emit("turn_started", TurnStartedEvent(provider_data=event))
        elif t == "response.done":
            response = ev.to_dict().get("response") or {}
            usage = usage_from_response(response)
            self._emit("usage_update", usage)
            self._emit(
                "turn_done",
                TurnDoneEvent(
                    TurnDoneResponse(
                        id=response.get("id") or "",
                        output=response.get("output") or [],
                        usage=usage,
                    )
                ),
            )
        elif t == "response.output_audio.done":
            event = ev.to_dict()
            self._emit(
                "audio_done",
                AudioDoneEvent(
                    item_id=event.get("item_id", ""),
                    response_id=event.get("response_id", ""),
                    content_index=event.get("content_index", 0),
                ),
            )
            if self._py_audio_done_reset:
                self._after_audio_done_event()
        elif t == "conversation.item.deleted":
            self._emit("item_deleted", ItemDeletedEvent(ev.to_dict().get("item_id", "")))
        elif t in (
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.retrieved",
            "conversation.item.created",
        ):
            self._on_conversation_item(t, ev.to_dict())
        elif t in ("response.output_item.added", "response.output_item.done"):
            self._on_output_item(t, ev.to_dict())
        elif t == "input_audio_buffer.speech_started":
            if self._py_interrupts:
                self.interrupt(not bool(self._core.interrupt_response))
        elif t == "session.created":
            event = ev.to_dict()
            session = event.get("session") or {}
            self._server_tracing = session.get("tracing")
            self._update_tracing_config(self._initial_config.get("tracing", "auto"))

    def _on_conversation_item(self, t: str, event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        kind = item.get("type")
        done = t == "conversation.item.done"
        if kind == "mcp_list_tools":
            if done:  # not a history item: a side channel
                self._emit(
                    "mcp_tools_listed",
                    McpToolsListedEvent(
                        item.get("server_label") or "", list(item.get("tools") or [])
                    ),
                )
            return
        if kind == "message":
            previous = None if t == "conversation.item.retrieved" else event.get("previous_item_id")
            status: Any = item.get("status") or (
                "in_progress" if t == "conversation.item.added" else "completed"
            )
            self._emit("item_update", message_item(item, status=status, previous_item_id=previous))
        elif kind == "mcp_approval_request":
            if done:
                req = approval_request_item(item)
                self._emit("item_update", req)
                self._emit("mcp_approval_request", req)
        elif kind in ("mcp_call", "mcp_tool_call"):
            call = mcp_call_item(item, "completed" if done else "in_progress")
            self._emit("item_update", call)
            if done:
                self._emit("mcp_tool_call_completed", call)

    def _on_output_item(self, t: str, event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        kind = item.get("type")
        done = t == "response.output_item.done"
        if kind == "function_call":
            if item.get("status") != "completed":
                return
            self._emit(
                "item_update",
                FunctionCallItem(
                    item_id=item.get("id") or "",
                    name=item.get("name") or "",
                    arguments=item.get("arguments") or "",
                    status="in_progress",  # completed only once the output is sent
                    output=None,
                    call_id=item.get("call_id"),
                ),
            )
            self._emit(
                "function_call",
                FunctionCallEvent(
                    id=item.get("id") or "",
                    call_id=item.get("call_id") or "",
                    name=item.get("name") or "",
                    arguments=item.get("arguments") or "",
                    response_id=event.get("response_id") or "",
                ),
            )
        elif kind in ("mcp_call", "mcp_tool_call"):
            self._emit("item_update", mcp_call_item(item, "completed" if done else "in_progress"))
        elif kind == "message":
            status: Any = item.get("status") or ("completed" if done else "in_progress")
            self._emit("item_update", message_item(item, status=status, previous_item_id=None))

    def _update_tracing_config(self, tracing: Any) -> None:
        """Sends the tracing config separately, with the reference's rules."""
        if self._conn_id is None or self._beta:
            return
        if tracing == "auto":
            value: Any = "auto"
        elif isinstance(self._server_tracing, dict) and (
            tracing is None or isinstance(tracing, dict)
        ):
            logger.warning(
                "tracing is already configured on the server for this session; "
                "it cannot be changed or disabled now"
            )
            return
        else:
            value = tracing
        self.send_event(
            {"type": "session.update", "session": {"type": "realtime", "tracing": value}}
        )

    def _on_connect_failed(self, conn_id: int, payload: tuple[str, str, int | None]) -> None:
        if conn_id != self._conn_id:
            return
        kind, message, status = payload
        err: ConnectionFailedError
        if kind == "timeout":
            err = ConnectTimeoutError(message, kind=kind, status=status)
        else:
            err = ConnectionFailedError(message, kind=kind, status=status)
        attempt = self._attempt
        if attempt is not None and attempt.conn_id == conn_id:
            attempt.fail(err)
        self._on_error(err)
        self._disconnect(conn_id, raise_errors=False, info=CloseInfo(error=message))

    def _on_socket_closed(self, conn_id: int, payload: tuple[int | None, str, str | None]) -> None:
        code, reason, error = payload
        waiter = self._closed_waiters.pop(conn_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if conn_id != self._conn_id:
            return
        info = CloseInfo(code=code, reason=reason, error=error)
        if error is not None:
            self._on_error(ConnectionClosedError(error, code=code, reason=reason))
        attempt = self._attempt
        if (
            attempt is not None
            and attempt.conn_id == conn_id
            and self._state.status == "connecting"
        ):
            attempt.fail(
                ConnectionClosedError(CLOSED_BEFORE_READY_MESSAGE, code=code, reason=reason)
            )
        self._disconnect(conn_id, raise_errors=False, info=info)


# Listeners that need the raw frame of each audio delta (else the core skips it).
_RAW_AUDIO_LISTENERS = ("*", "response.output_audio.delta", "response.audio.delta")
# Listeners that need transcript / text deltas (else the core drops them).
_TRANSCRIPT_LISTENERS = (
    "*",
    "audio_transcript_delta",
    "response.output_audio_transcript.delta",
    "response.audio_transcript.delta",
)
_TEXT_LISTENERS = ("*", "output_text_delta", "response.output_text.delta", "response.text.delta")

# Beta event names -> the GA names whose mapping they share.
_BETA_NAMES = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
}


def _content_part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part.get("type") == "input_image" and "image" in part:
        out: dict[str, Any] = {"type": "input_image", "image_url": part["image"]}
        extra = part.get("provider_data") or part.get("providerData") or {}
        out.update(extra)
        return out
    return dict(part)


def _spec_tuple(spec: AudioSpec | None, name: str) -> tuple[int, str] | None:
    if spec is None:
        return None
    if not isinstance(spec, AudioSpec):
        raise TypeError(f"{name} must be an AudioSpec, got {type(spec).__name__}")
    if spec.channels != 1:
        raise ValueError(
            f"{name}: the Realtime API is mono; downmix before send_audio (channels=1)"
        )
    return (spec.rate, spec.encoding)


def _with_query(base: str, key: str, value: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{key}={urllib.parse.quote(value, safe='')}"


def _delta_from(ev: Any) -> tuple[str, str, int, str]:
    d = ev.to_dict()
    return (
        d.get("response_id", ""),
        d.get("item_id", ""),
        d.get("content_index", 0),
        d.get("delta", ""),
    )


def _describe(error: Any) -> str:
    if isinstance(error, dict):
        inner = error.get("error")
        if isinstance(inner, dict):
            return f"{inner.get('type')}/{inner.get('code')}: {inner.get('message')}"
    return repr(error)


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "OpenAIRealtimeWebSocket",
    "WebSocketHandle",
    "WebSocketState",
]
