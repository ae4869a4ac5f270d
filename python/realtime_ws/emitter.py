"""A small event emitter with the reference SDK's semantics, for asyncio.

- ``on``/``off``/``once``; callbacks may be plain functions or coroutine
  functions (coroutines are scheduled as tasks on the running loop).
- A callback is called with as many of the event's arguments as it accepts,
  so ``ws.on("audio_interrupted", lambda: ...)`` and
  ``ws.on("audio_interrupted", lambda ev: ...)`` both work.
- ``_emit`` isolates listeners: an exception is logged and reported through the
  ``error`` event (the session keeps working). ``_emit_strict`` is used for the
  lifecycle events emitted inside ``connect()``/``close()``; as in the
  reference, a listener error there propagates to the caller (after every
  listener ran).
- ``events()`` iterators ("taps") get every emitted event. A bounded tap
  (``maxsize``) whose consumer falls behind drops its oldest events, counts
  them and reports the loss in the stream itself (an ``events_dropped`` item);
  the end of the stream is never dropped, so the iterator always ends.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

logger = logging.getLogger("realtime_ws")

Listener = Callable[..., Any]

_ANY = 1 << 30


def _arity(cb: Listener) -> int:
    """How many positional arguments ``cb`` accepts (``_ANY`` if unbounded/unknown)."""
    try:
        sig = inspect.signature(cb)
    except (TypeError, ValueError):
        return _ANY
    n = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return _ANY
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


class _Entry(NamedTuple):
    callback: Listener
    once: bool
    arity: int
    is_coro: bool


class EmittedEvent(NamedTuple):
    """An item of :meth:`EventEmitter.events`: the event name and its payload (or None)."""

    name: str
    data: Any


class _Tap:
    """The buffer behind one ``events()`` iterator.

    Unbounded by default. With ``maxsize`` the oldest events are dropped when
    the consumer falls behind; the count is reported as an
    ``EmittedEvent("events_dropped", n)`` before the next event it gets.
    """

    __slots__ = ("dropped", "ended", "items", "maxsize", "waiter")

    def __init__(self, maxsize: int) -> None:
        self.items: collections.deque[EmittedEvent] = collections.deque()
        self.maxsize = maxsize
        self.dropped = 0
        self.ended = False
        self.waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def put(self, item: EmittedEvent) -> None:
        if self.ended:
            return
        if self.maxsize and len(self.items) >= self.maxsize:
            self.items.popleft()
            self.dropped += 1
        self.items.append(item)
        self._wake()

    def end(self) -> None:
        self.ended = True
        self._wake()

    async def iterate(self) -> AsyncIterator[EmittedEvent]:
        while True:
            if self.dropped:
                n, self.dropped = self.dropped, 0
                yield EmittedEvent("events_dropped", n)
            if self.items:
                item = self.items.popleft()
                yield item
                if item.name == "disconnected":
                    return
                continue
            if self.ended:
                return
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None


#: The shared, always-empty tap list of emitters without ``events()`` iterators.
_NO_TAPS: list[_Tap] = []


class EventEmitter:
    """Listener registry and dispatch."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[_Entry]] = {}
        # Created on first use: most sessions never spawn a coroutine listener
        # or open an events() iterator, and every idle session pays for both.
        self._tasks: set[asyncio.Task[Any]] | None = None
        self._taps: list[_Tap] = _NO_TAPS

    # -- registration -------------------------------------------------------------------------

    def on(self, name: str, callback: Listener | None = None) -> Any:
        """Registers ``callback`` for ``name`` (``"*"`` for every server event).

        Without ``callback``, returns a decorator.
        """
        if callback is None:

            def deco(cb: Listener) -> Listener:
                self._add(name, cb, once=False)
                return cb

            return deco
        self._add(name, callback, once=False)
        return callback

    def once(self, name: str, callback: Listener) -> Listener:
        """Registers ``callback`` for the next ``name`` event only."""
        self._add(name, callback, once=True)
        return callback

    def off(self, name: str, callback: Listener | None = None) -> None:
        """Removes ``callback`` (or every listener of ``name`` when omitted)."""
        entries = self._listeners.get(name)
        if not entries:
            return
        if callback is None:
            del self._listeners[name]
        else:
            for i, e in enumerate(entries):
                if e.callback is callback or e.callback == callback:
                    del entries[i]
                    break
            if not entries:
                del self._listeners[name]
        self._listeners_changed(name)

    def _remove_entry(self, name: str, entry: _Entry) -> None:
        entries = self._listeners.get(name)
        if not entries:
            return
        for i, e in enumerate(entries):
            if e is entry:
                del entries[i]
                break
        if not entries:
            del self._listeners[name]
        self._listeners_changed(name)

    def listener_count(self, name: str) -> int:
        return len(self._listeners.get(name, ()))

    def _add(self, name: str, cb: Listener, *, once: bool) -> None:
        if not callable(cb):
            raise TypeError(f"listener for {name!r} must be callable, got {type(cb).__name__}")
        is_coro = inspect.iscoroutinefunction(cb) or inspect.iscoroutinefunction(
            getattr(cb, "__call__", None)  # noqa: B004
        )
        self._listeners.setdefault(name, []).append(_Entry(cb, once, _arity(cb), is_coro))
        self._listeners_changed(name)

    def _listeners_changed(self, name: str) -> None:
        """Hook for subclasses that tell the core which events are wanted."""

    def _sole_listener(self, name: str) -> Listener | None:
        """The callback of ``name`` when calling it is all ``_emit(name, arg)`` would do:
        exactly one listener, not ``once``, not a coroutine function, taking the one
        argument, and no ``events()`` iterator. A dispatcher may then call it directly
        (through :meth:`_call_sole`), which is what keeps the audio path short."""
        entries = self._listeners.get(name)
        if entries is None or len(entries) != 1 or self._taps:
            return None
        entry = entries[0]
        if entry.once or entry.is_coro or entry.arity < 1:
            return None
        return entry.callback

    def _call_sole(self, name: str, callback: Listener, arg: Any) -> None:
        """Calls a :meth:`_sole_listener` as ``_emit`` would (same error reporting,
        and an awaitable it returns is run as a task)."""
        try:
            result = callback(arg)
            if result is not None and inspect.isawaitable(result):
                self._spawn(name, result)
        except Exception as exc:
            self._report_listener_error(name, exc)

    # -- dispatch -------------------------------------------------------------------------------

    def _call(self, name: str, entry: _Entry, args: tuple[Any, ...]) -> None:
        if entry.once:
            self._remove_entry(name, entry)
        a = args if entry.arity >= len(args) else args[: entry.arity]
        result = entry.callback(*a)
        # Plain callbacks return None: skip the (slow) awaitable check for them.
        if result is not None and (entry.is_coro or inspect.isawaitable(result)):
            self._spawn(name, result)

    def _spawn(self, name: str, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            if self._tasks is not None:
                self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self._report_listener_error(name, t.exception())  # type: ignore[arg-type]

        task.add_done_callback(done)

    def _emit(self, name: str, *args: Any) -> None:
        """Calls every listener; a listener exception is reported, never raised."""
        entries = self._listeners.get(name)
        if entries:
            # Iterate over a snapshot: listeners may add or remove listeners (a `once`
            # listener removes itself). One listener, the common case, needs no copy.
            for entry in (entries[0],) if len(entries) == 1 else tuple(entries):
                try:
                    self._call(name, entry, args)
                except Exception as exc:
                    self._report_listener_error(name, exc)
        if self._taps:
            self._tap(name, args)

    def _emit_strict(self, name: str, *args: Any) -> None:
        """Calls every listener, then raises the first listener exception, if any."""
        first: BaseException | None = None
        entries = self._listeners.get(name)
        if entries:
            for entry in tuple(entries):
                try:
                    self._call(name, entry, args)
                except BaseException as exc:
                    if first is None:
                        first = exc
        if self._taps:
            self._tap(name, args)
        if first is not None:
            raise first

    def _tap(self, name: str, args: tuple[Any, ...]) -> None:
        item = EmittedEvent(name, args[0] if args else None)
        for t in self._taps:
            t.put(item)

    def _report_listener_error(self, name: str, exc: BaseException) -> None:
        logger.error("listener for %r raised", name, exc_info=exc)
        if name == "error":
            return  # never loop: an error listener's own failure is only logged
        from .events import ErrorEvent

        self._emit("error", ErrorEvent(error=exc, source="listener"))

    # -- iteration --------------------------------------------------------------------------------

    def events(self, maxsize: int = 0) -> AsyncIterator[EmittedEvent]:
        """Iterates over every emitted event as ``EmittedEvent(name, data)``.

        The iteration ends after ``disconnected``. Register it before
        ``connect()`` to see the connection events too. With ``maxsize`` > 0 a
        consumer that falls behind loses the oldest events; the loss is
        reported in the stream as ``EmittedEvent("events_dropped", count)``.
        """
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(f"maxsize must be an int >= 0, got {maxsize!r}")
        tap = _Tap(maxsize)
        if self._taps is _NO_TAPS:
            self._taps = []
        self._taps.append(tap)
        self._listeners_changed("")

        async def gen() -> AsyncIterator[EmittedEvent]:
            try:
                async for item in tap.iterate():
                    yield item
            finally:
                if tap in self._taps:
                    self._taps.remove(tap)
                    self._listeners_changed("")

        return gen()

    def _end_taps(self) -> None:
        for t in self._taps:
            t.end()
