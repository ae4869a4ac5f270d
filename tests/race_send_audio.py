"""Runs the send_audio-vs-close() thread race once in a fresh process (used by the slow
test ``test_send_audio_race_never_deadlocks_a_fresh_process``); exits 0 when it finishes.

    python tests/race_send_audio.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from hostile import Conn, HostileServer
from test_faults import race_send_audio_against_close


async def main() -> None:
    async def handler(conn: Conn) -> None:
        await conn.handshake(record=False)
        await conn.hold()

    srv = HostileServer(handler).start()
    try:
        raised, cycles = await race_send_audio_against_close(
            srv,
            max_cycles=40,
            max_seconds=10,
            stop_at_first=False,
            n_threads=int(sys.argv[1]) if len(sys.argv) > 1 else 4,
        )
    finally:
        srv.stop()
    print(f"{len(raised)} exceptions in {cycles} cycles")


if __name__ == "__main__":
    asyncio.run(main())
