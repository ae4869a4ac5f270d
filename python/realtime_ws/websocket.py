"""``OpenAIRealtimeWebSocket``: the OpenAI Realtime API over one WebSocket.

The Python equivalent of ``OpenAIRealtimeWebSocket`` in ``@openai/agents-realtime``
0.20 (see SEED_BEHAVIOUR.md): same connection state machine, rollback and error
rules, same events, snake_case names. The socket, every per-frame rule
(classification, base64, audio conversion, interruption, the response.create
sequencer) and the event queue live in the Rust core (``_core.Transport``).
This class is the public surface; its parts live in modules of their own:

- ``_lifecycle``: connect, close and the transitions between states;
- ``_dispatch``: core events turned into the emitted events;
- ``_conversation``: messages, tool outputs, MCP approvals, history edits;
- ``_base``: the shared state and the documented subclass hooks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from . import _core
from ._base import AuthMode, Protocol, WebSocketHandle, WebSocketState
from ._conversation import ConversationMethods
from ._dispatch import CoreEventDispatch
from ._lifecycle import ApiKey, ConnectionLifecycle, OpenOptions, redact_url
from .audio import AudioSpec
from .config_types import ResponseOverride, SessionConfig
from .errors import ArgumentTypeError, InvalidArgumentError, UnsupportedOperationError
from .events import CloseInfo, ConnectionStatus, SessionStats, response_timing
from .session_config import build_session_payload, to_beta_response, to_beta_session

__version__: str = _core.__version__

DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_BASE_URL = "wss://api.openai.com/v1/realtime"

MUTE_MESSAGE = (
    "Mute is not supported for the WebSocket transport. You have to mute the audio input yourself."
)


class OpenAIRealtimeWebSocket(ConversationMethods, CoreEventDispatch, ConnectionLifecycle):
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
        allow_insecure_transport: allow sending the key over plain ``ws://`` to a host
            that is not loopback (refused by default).
        subprotocols: extra subprotocols to offer.
        skip_open_event_listeners: count the socket as connected as soon as it is
            created; ``connect()`` then returns without waiting for the handshake, and
            frames are queued until it completes (a handshake failure is reported
            through ``error`` and ``disconnected``).
        connect_timeout: seconds for DNS + TCP + TLS + upgrade.
        proxy: ``http://[user:pass@]host:port`` of an HTTP CONNECT proxy.
        ca_file: a PEM file of extra trusted roots (TLS verification is always on).
            A server certificate that is itself in the file (a self-signed one) is
            trusted as pinned, still checked for host name and validity period.
        ping_interval / ping_timeout: keepalive; after ``ping_interval`` s of silence the
            client pings, after a further ``ping_timeout`` s the peer is declared dead
            (``error`` + ``disconnected``). ``ping_interval=None`` disables it.
        close_timeout: seconds to wait for the server's close frame (and, after the
            server's close, for it to end TCP).
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
            (``response.audio.delta``, ``response.text.delta`` ...) to the same emitted events.
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
        allow_insecure_transport: bool = False,
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
            raise InvalidArgumentError(
                f"auth must be 'bearer', 'subprotocol' or 'azure', got {auth!r}"
            )
        self._core = _core.Transport(protocol)
        self._beta = protocol == "beta"
        self._core.set_audio_formats(
            _spec_tuple(input_audio, "input_audio"),
            _spec_tuple(output_audio, "output_audio"),
            audio_quality,
        )
        self._current_model = model
        self._api_key_option = api_key
        self._api_key = None
        self._url = None
        self._default_url = url
        self._base_url = base_url
        self._headers = dict(headers) if headers else None
        self._auth = auth
        self._use_insecure_api_key = use_insecure_api_key
        self._allow_insecure_transport = allow_insecure_transport
        self._extra_subprotocols = tuple(subprotocols)
        self._skip_open_event_listeners = skip_open_event_listeners
        ca_pem: bytes | None = None
        if ca_file is not None:
            with open(ca_file, "rb") as f:
                ca_pem = f.read()
        self._open_options = OpenOptions(
            connect_timeout=connect_timeout,
            proxy=proxy,
            ca_pem=ca_pem,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_message_size=max_message_size,
        ).intern()
        self._status = "disconnected"
        self._subprotocol = None
        self._attempt = None
        self._conn_id = None
        self._hub = None
        self._tracing = "auto"
        self._history_requests = {}
        self._history_seq = 0
        self._server_tracing = None
        self._last_close = None
        self._closed_waiters = None
        cls = type(self)
        base = OpenAIRealtimeWebSocket
        self._py_interrupts = not (
            cls.interrupt is base.interrupt
            and cls._interrupt is base._interrupt
            and cls._cancel_response is base._cancel_response
        )
        self._py_audio_done = cls._after_audio_done_event is not base._after_audio_done_event
        self._core.set_hooks(
            core_interrupts=not self._py_interrupts,
            core_marks_audio_done=not self._py_audio_done,
        )
        self._listeners_changed("")  # nothing listens yet: the core can skip deltas

    def __repr__(self) -> str:
        # Never the key.
        return (
            f"<{type(self).__name__} status={self.status!r} model={self._current_model!r} "
            f"url={redact_url(self._url) if self._url else None!r}>"
        )

    def __del__(self) -> None:
        # Dropped while connected: the core closes the socket when it is freed;
        # say so, as asyncio transports do.
        if getattr(self, "_conn_id", None) is not None:
            warnings.warn(
                f"unclosed {type(self).__name__} (call close() or use `async with`)",
                ResourceWarning,
                stacklevel=1,
            )

    # -- state -----------------------------------------------------------------------------------

    @property
    def status(self) -> ConnectionStatus:
        """``"disconnected"``, ``"connecting"`` or ``"connected"``."""
        return self._status

    @property
    def connection_state(self) -> WebSocketState:
        """The status and the socket behind it (``None`` when disconnected)."""
        conn_id = self._conn_id
        if conn_id is None or self._status == "disconnected":
            return WebSocketState(self._status, None)
        url = redact_url(self._url) if self._url else ""
        return WebSocketState(self._status, WebSocketHandle(conn_id, url, self._subprotocol))

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

    def stats(self) -> SessionStats:
        """Counters of the current connection (or the last one), read from the core
        without waiting for anything: wire frames and bytes both ways, events
        delivered and still queued, time the socket was not read because the loop
        fell behind, and the latency of the last finished response."""
        raw = self._core.stats()
        last = response_timing(raw.pop("last_response"))
        return SessionStats(**raw, last_response=last)

    # -- core events -----------------------------------------------------------------------------

    def _on_core_event(self, conn_id: int, event: object) -> None:
        """One event from the core (called by the loop's hub)."""
        handler = _CORE_HANDLERS.get(type(event))
        if handler is not None:
            handler(self, conn_id, event)

    # -- sending -----------------------------------------------------------------------------------

    def send_event(self, event: Mapping[str, Any]) -> None:
        """Sends one client event as a JSON text frame (serialised in Rust).

        Works while connecting (frames are queued until the socket opens).
        ``response.create`` goes through the sequencer; ``response.cancel`` marks
        the cancel; ``session.update`` sets the input format of later
        ``send_audio`` calls. Raises :class:`NotConnectedError` without a socket,
        :class:`ArgumentTypeError` for anything but a mapping.
        """
        if not isinstance(event, dict):
            if not isinstance(event, Mapping):
                raise ArgumentTypeError(
                    f"send_event expects a dict with a string 'type', got {type(event).__name__}"
                )
            event = dict(event)
        self._core.send_event(event)

    def send_audio(self, audio: Any, *, commit: bool = False) -> None:
        """Appends audio (bytes, bytearray, memoryview, a numpy int16 array, or your
        ``input_audio`` format).

        Never blocks; may be called from any thread. Ignored unless connected, as in
        the reference, but always validated (a wrong dtype raises
        :class:`InvalidAudioError`). A trailing partial sample (an odd byte of
        PCM16) is kept for the next call; a commit or close that leaves it
        dangling reports it. Base64 and the JSON frame are built in Rust.
        """
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
        if response is not None and self._beta:
            response = to_beta_response(response)
        self._core.request_response(None if response is None else dict(response))

    # -- interruption (the reference's hooks) ---------------------------------------------------

    def _cancel_response(self) -> None:
        """Sends ``response.cancel`` if a response is ongoing and no cancel is pending."""
        self._core.cancel_response()

    def _interrupt(self, elapsed_time: float, cancel_ongoing_response: bool = True) -> None:
        """Cancels (optionally) and truncates the current item at ``elapsed_time`` ms.

        Do not call directly; call :meth:`interrupt`. Override it to change what
        an interruption sends (e.g. a telephony bridge with played-audio marks).
        The rule itself (when to cancel, ``audio_end_ms``, whether to truncate)
        runs in the core.
        """
        cancel_in_core = cancel_ongoing_response
        if cancel_ongoing_response and type(self)._cancel_response is not (
            OpenAIRealtimeWebSocket._cancel_response
        ):
            self._cancel_response()
            cancel_in_core = False
        ev = self._core.interrupt_at(elapsed_time, cancel_in_core)
        if ev is not None:
            self._emit("audio_interrupted", ev)

    def interrupt(self, cancel_ongoing_response: bool = True) -> None:
        """Interrupts the response being played: optional cancel, truncate, reset.

        A no-op (nothing sent, no ``audio_interrupted``) when no audio is being
        tracked (none arrived yet, or it was already interrupted).
        """
        if not self._py_interrupts:
            ev = self._core.interrupt(cancel_ongoing_response)
            if ev is not None:
                self._emit("audio_interrupted", ev)
            return
        elapsed = self._core.playback_elapsed()
        if elapsed is None:
            return
        if elapsed >= 0:
            self._interrupt(elapsed, cancel_ongoing_response)
        self._core.reset_playback()

    def report_playback(self, item_id: str, played_ms: float, *, content_index: int = 0) -> bool:
        """Tells the transport how much of ``item_id`` your player has actually played.

        Without it, an interruption truncates at the reference's estimate: the time
        since the item's first audio arrived, which runs ahead of what was heard by
        whatever your player buffers. Report from the player (any thread; it only
        takes a lock in the core) and ``speech_started`` / :meth:`interrupt` truncate
        at the reported position instead. Only the item being tracked (the one whose
        audio arrived last) takes a report; returns whether this one was taken.
        """
        if isinstance(played_ms, bool) or not isinstance(played_ms, (int, float)):
            raise ArgumentTypeError(f"played_ms must be a number, got {type(played_ms).__name__}")
        return self._core.report_playback(item_id, float(played_ms), content_index)


def _spec_tuple(spec: AudioSpec | None, name: str) -> tuple[int, str] | None:
    if spec is None:
        return None
    if not isinstance(spec, AudioSpec):
        raise ArgumentTypeError(f"{name} must be an AudioSpec, got {type(spec).__name__}")
    if spec.channels != 1:
        raise InvalidArgumentError(
            f"{name}: the Realtime API is mono; downmix before send_audio (channels=1)"
        )
    return (spec.rate, spec.encoding)


_CoreHandler = Callable[[OpenAIRealtimeWebSocket, int, Any], None]

#: Each kind of core event and the method that handles it.
_CORE_HANDLERS: dict[type, _CoreHandler] = {
    _core.ServerEvent: CoreEventDispatch._on_core_server,
    _core.AudioEvent: CoreEventDispatch._on_core_audio,
    _core.AudioInterruptedEvent: CoreEventDispatch._on_core_interrupted,
    _core.CoreNotice: CoreEventDispatch._on_core_notice,
    _core.SocketOpened: ConnectionLifecycle._on_socket_opened,
    _core.ConnectFailed: ConnectionLifecycle._on_connect_failed,
    _core.SocketClosed: ConnectionLifecycle._on_socket_closed,
}


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "OpenAIRealtimeWebSocket",
    "WebSocketHandle",
    "WebSocketState",
]
