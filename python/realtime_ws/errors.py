"""The exception hierarchy of realtime_ws.

Every exception the package raises derives from :class:`RealtimeError` and,
where one exists, from the matching built-in type, so ordinary
``except ConnectionError`` / ``except ValueError`` / ``except TypeError``
clauses work. The Rust core imports this module once and raises these classes
directly (``src/bindings/errors.rs``). No message ever contains an API key.
"""

from __future__ import annotations


class RealtimeError(Exception):
    """Base class of every error raised by realtime_ws."""


class UserError(RealtimeError):
    """The API was used the wrong way (the reference SDK's ``UserError``)."""


class InvalidArgumentError(RealtimeError, ValueError):
    """An argument or event has the right type but a value that cannot be used."""


class ArgumentTypeError(RealtimeError, TypeError):
    """An argument or event has the wrong type (e.g. ``send_event([...])``)."""


class ConnectionFailedError(RealtimeError, ConnectionError):
    """The socket could not be opened (DNS, refused, TLS, HTTP status, proxy)."""

    def __init__(self, message: str, *, kind: str = "io", status: int | None = None) -> None:
        super().__init__(message)
        #: ``"invalid_url" | "invalid_header" | "timeout" | "io" | "tls" | "proxy" |
        #: "http_status" | "handshake" | "closed_before_ready" | "insecure"``
        self.kind = kind
        #: HTTP status of a refused upgrade, else ``None``.
        self.status = status


class ConnectTimeoutError(ConnectionFailedError, TimeoutError):
    """Connecting took longer than ``connect_timeout``."""


class NotConnectedError(RealtimeError, ConnectionError):
    """An event was sent while there is no socket."""


class ConnectionClosedError(RealtimeError, ConnectionError):
    """The socket closed or failed while it was in use (including keepalive timeouts)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ProtocolError(RealtimeError, ValueError):
    """The server sent a frame the client cannot use (malformed JSON, bad base64, binary)."""


class InvalidAudioError(InvalidArgumentError):
    """Audio given to the client has the wrong type, dtype or length."""


class UnsupportedOperationError(RealtimeError, NotImplementedError):
    """The operation is not supported by this transport (e.g. ``mute``)."""


class InternalError(RealtimeError, RuntimeError):
    """Something broke inside the core; the connection it affected was closed."""


class ServerError(RealtimeError):
    """An ``error`` event from the server, wrapped for the ``error`` listeners."""

    def __init__(self, event: dict[str, object]) -> None:
        err = event.get("error") if isinstance(event, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
        super().__init__(str(message) if message else "server error")
        self.event = event


__all__ = [
    "ArgumentTypeError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ConnectionFailedError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidAudioError",
    "NotConnectedError",
    "ProtocolError",
    "RealtimeError",
    "ServerError",
    "UnsupportedOperationError",
    "UserError",
]
