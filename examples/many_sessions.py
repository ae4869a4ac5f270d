"""Many Realtime sessions in one process: per-session configuration, a bound on the
connects in flight, and a graceful shutdown.

Each session stands for one conversation (a customer, a phone call) with its own
instructions and voice. At most --connects handshakes run at once: a burst of thousands
would spike memory and CPU and run into the API's rate limits. Each session says hello,
waits for its reply and then stays open. On SIGINT (Ctrl-C) or SIGTERM every session is
closed with a normal close (code 1000), connects still in flight are cancelled, and the
process exits with status 0.

Run it:

    OPENAI_API_KEY=sk-... python examples/many_sessions.py --sessions 10
    python examples/many_sessions.py --sessions 500 --mock    # the embedded mock server
    kill -TERM <pid>                                           # or Ctrl-C

Without OPENAI_API_KEY (or with --mock) it talks to realtime_ws.testing.MockRealtimeServer;
--url ws://HOST:PORT/v1/realtime talks to any other Realtime-compatible server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from realtime_ws import DEFAULT_BASE_URL, OpenAIRealtimeWebSocket, SessionConfig
from realtime_ws.testing import MockRealtimeServer

VOICES = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"]


def session_config(i: int) -> SessionConfig:
    """Session ``i``'s own configuration (in a real server: from the customer's record)."""
    return {
        "instructions": f"You are the assistant of customer #{i}. Greet them in a few words.",
        "output_modalities": ["text"],
        "audio": {"output": {"voice": VOICES[i % len(VOICES)]}},
    }


@dataclass
class Counts:
    sessions: int
    connected: int = 0
    replied: int = 0
    closed: int = 0
    failed: int = 0

    def reply(self) -> None:
        self.replied += 1
        if self.replied == self.sessions:
            print(f"all {self.sessions} sessions replied", flush=True)


async def hold_session(
    i: int, url: str, api_key: str, connects: asyncio.Semaphore, counts: Counts
) -> None:
    """Opens session ``i``, says hello, then holds it open until cancelled (the shutdown)
    or until the server ends it (a failure)."""
    try:
        async with OpenAIRealtimeWebSocket(api_key=api_key, base_url=url) as ws:
            ended = asyncio.Event()
            ws.on("disconnected", ended.set)
            ws.on("turn_done", counts.reply)
            ws.on("error", lambda ev: print(f"session {i}: {ev.error}", file=sys.stderr))
            async with connects:  # the handshake is what is bounded, not the session
                await ws.connect(initial_session_config=session_config(i))
            counts.connected += 1
            if counts.connected == counts.sessions:
                print(f"all {counts.sessions} sessions connected", flush=True)
            ws.send_message("Hello!")
            await ended.wait()
            raise ConnectionError(f"the server ended the session: {ws.last_close}")
    except asyncio.CancelledError:
        raise  # the shutdown: `async with` has closed the session on the way out
    except Exception as exc:
        counts.failed += 1
        print(f"session {i} failed: {exc}", file=sys.stderr)
    finally:
        counts.closed += 1  # closed (or never opened): nothing of it is left


async def main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        key = os.environ.get("OPENAI_API_KEY")
        url = args.url or DEFAULT_BASE_URL
        if not args.url and (args.mock or not key):
            url = (await stack.enter_async_context(MockRealtimeServer())).url
            print(f"Using the embedded mock server at {url}.", flush=True)

        counts = Counts(args.sessions)
        connects = asyncio.Semaphore(args.connects)
        tasks = [
            asyncio.create_task(hold_session(i, url, key or "sk-local", connects, counts))
            for i in range(args.sessions)
        ]
        # Until a signal, --duration, or every session has failed (a session task only ends
        # by itself when it fails).
        stopped = asyncio.ensure_future(stop.wait())
        ended = asyncio.gather(*tasks, return_exceptions=True)
        waiters: list[asyncio.Future[Any]] = [stopped, ended]
        await asyncio.wait(waiters, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        print(f"shutting down: closing {args.sessions} sessions", flush=True)
        for task in tasks:
            task.cancel()
        await ended
    print(
        f"closed {counts.closed}/{args.sessions} sessions "
        f"({counts.connected} had connected, {counts.replied} replied, {counts.failed} failed)",
        flush=True,
    )
    return 1 if counts.failed else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=100, help="how many sessions to hold")
    p.add_argument("--connects", type=int, default=20, help="handshakes in flight at most")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--mock", action="store_true", help="use the embedded mock server")
    p.add_argument("--url", help="a Realtime server URL (default: the OpenAI API)")
    sys.exit(asyncio.run(main(p.parse_args())))
