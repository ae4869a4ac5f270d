"""Voice chat: your microphone to the model, its reply to your speaker, with barge-in.

Speak over the reply and playback stops at once; the reply is then truncated where your
speaker actually stopped (not where the audio had got to when it arrived), so what the model
remembers saying is what you heard.

Run it (with headphones: through open speakers the model hears itself and stops itself):

    pip install "realtime-ws[examples]"            # sounddevice; Linux also needs libportaudio2
    OPENAI_API_KEY=sk-... python examples/voice_chat.py
    python examples/voice_chat.py --mock           # the embedded mock server, no key needed

Without a sound card (CI, a server): a WAV file is the microphone and another one the
speaker. The output file is what the speaker played, on the same timeline as the input:

    python examples/voice_chat.py --input-wav question.wav --output-wav played.wav

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
import threading
import wave
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from realtime_ws import (
    DEFAULT_BASE_URL,
    AudioDoneEvent,
    AudioEvent,
    AudioInterruptedEvent,
    AudioSpec,
    OpenAIRealtimeWebSocket,
    SessionConfig,
)
from realtime_ws.testing import MockRealtimeServer

Pcm = npt.NDArray[np.int16]

BLOCK_MS = 20  # the audio device's block: one microphone chunk and one speaker chunk
WAV_SPEAKER_RATE = 24000  # the output file's rate in WAV mode
PREBUFFER_MS = 100  # jitter buffer: a reply starts playing once this much of it is queued

SESSION: SessionConfig = {
    "instructions": "You are a friendly voice assistant. Keep your answers short.",
    "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}},
}


class Speaker:
    """The reply audio waiting to be played, and how much of each item was played.

    ``write`` runs on the event loop (``audio`` events), ``read`` on the audio device's
    thread, one block at a time, in real time.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.played: dict[str, int] = {}  # item id -> samples played
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, Pcm]] = deque()
        self._queued = 0
        self._playing = False
        self._complete: set[str] = set()  # items whose audio has all arrived
        self._dropped: set[str] = set()  # interrupted items: their late audio is discarded

    def write(self, item_id: str, pcm: bytes) -> None:
        with self._lock:
            if item_id not in self._dropped:
                self._queue.append((item_id, np.frombuffer(pcm, dtype=np.int16)))
                self._queued += len(pcm) // 2

    def end(self, item_id: str) -> None:
        """All of ``item_id`` arrived: its tail plays even if shorter than the jitter buffer."""
        with self._lock:
            self._complete.add(item_id)

    def read(self, frames: int) -> Pcm:
        """The next ``frames`` samples to play (silence when there is nothing to play)."""
        out = np.zeros(frames, dtype=np.int16)
        with self._lock:
            if not self._playing and self._queue:
                head = self._queue[0][0]
                prebuffer = self.rate * PREBUFFER_MS // 1000
                self._playing = self._queued >= prebuffer or head in self._complete
            filled = 0
            while self._playing and filled < frames and self._queue:
                item_id, chunk = self._queue[0]
                n = min(frames - filled, len(chunk))
                out[filled : filled + n] = chunk[:n]
                filled += n
                self._queued -= n
                self.played[item_id] = self.played.get(item_id, 0) + n
                if n == len(chunk):
                    self._queue.popleft()
                else:
                    self._queue[0] = (item_id, chunk[n:])
            if not self._queue:
                self._playing = False  # an underrun or the end: buffer again before playing
        return out

    def stop(self, item_id: str | None) -> float:
        """Barge-in: drops everything not played yet; returns the ms of ``item_id`` played."""
        with self._lock:
            self._queue.clear()
            self._queued = 0
            self._playing = False
            if item_id is None:
                return 0.0
            self._dropped.add(item_id)
            return 1000 * self.played.get(item_id, 0) / self.rate

    def idle(self) -> bool:
        with self._lock:
            return not self._queue


class VoiceChat(OpenAIRealtimeWebSocket):
    """A session that truncates an interrupted reply where the speaker stopped playing it."""

    def __init__(self, speaker: Speaker, **options: Any) -> None:
        super().__init__(**options)
        self.speaker = speaker

    # The documented hook for where an interruption truncates (README, "Subclass hooks"):
    # ``elapsed_time`` is the transport's estimate, the time since the reply's first audio
    # arrived; the speaker knows what it played (its jitter buffer, underruns).
    def _interrupt(self, elapsed_time: float, cancel_ongoing_response: bool = True) -> None:
        played_ms = self.speaker.stop(self.current_item_id)
        super()._interrupt(played_ms, cancel_ongoing_response)


def read_wav(path: str) -> tuple[Pcm, int]:
    """A 16-bit WAV file as mono int16 samples, and its rate."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit PCM WAV files are supported")
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return pcm.astype(np.int16), rate


async def run_wav_device(
    ws: VoiceChat, speaker: Speaker, mic: Pcm, mic_rate: int, output_wav: str, max_s: float
) -> None:
    """The sound card, simulated in real time: the input file is the microphone (then
    silence), the output file records what the speaker plays. Ends once the input is over
    and the last reply has been played (or after ``max_s``)."""
    responding = False

    def on_turn(started: bool) -> None:
        nonlocal responding
        responding = started

    ws.on("turn_started", lambda: on_turn(True))
    ws.on("turn_done", lambda: on_turn(False))
    in_block, out_block = mic_rate * BLOCK_MS // 1000, speaker.rate * BLOCK_MS // 1000
    tail_blocks = 2000 // BLOCK_MS  # after the input: 2 s of quiet room for the reply to start
    loop = asyncio.get_running_loop()
    with wave.open(output_wav, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speaker.rate)
        start = loop.time()
        block = 0
        while block * BLOCK_MS < max_s * 1000:
            chunk = mic[block * in_block : (block + 1) * in_block]
            if len(chunk) < in_block:
                input_over = block * in_block >= len(mic) + tail_blocks * in_block
                if input_over and not responding and speaker.idle():
                    break
                chunk = np.concatenate([chunk, np.zeros(in_block - len(chunk), np.int16)])
            ws.send_audio(chunk)
            out.writeframes(speaker.read(out_block).tobytes())
            block += 1
            await asyncio.sleep(max(0.0, start + block * BLOCK_MS / 1000 - loop.time()))


async def run_sound_card(ws: VoiceChat, speaker: Speaker) -> None:
    """Microphone and speaker through one duplex sounddevice stream, until Ctrl-C/SIGTERM."""
    import sounddevice as sd  # only here: the WAV mode needs neither it nor PortAudio

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)

    def callback(indata: Pcm, outdata: Pcm, frames: int, time: Any, status: Any) -> None:
        ws.send_audio(indata)  # copied and converted to the session's format in Rust
        outdata[:, 0] = speaker.read(frames)

    block = speaker.rate * BLOCK_MS // 1000
    with sd.Stream(
        samplerate=speaker.rate,
        blocksize=block,
        channels=1,
        dtype="int16",
        latency="low",
        callback=callback,
    ):
        print("Listening: speak (Ctrl-C to quit).", flush=True)
        await stop.wait()


def sound_card_rate() -> int:
    """The default output device's rate (SystemExit with a hint if there is no sound stack)."""
    try:
        import sounddevice as sd
    except ImportError:
        raise SystemExit(
            "voice_chat needs sounddevice: pip install 'realtime-ws[examples]' "
            "(or run without a sound card: --input-wav IN.wav --output-wav OUT.wav)"
        ) from None
    except OSError as exc:  # sounddevice loads the PortAudio library when imported
        raise SystemExit(
            f"sounddevice cannot load PortAudio ({exc}): install it (Debian/Ubuntu: "
            "apt install libportaudio2) or use --input-wav IN.wav --output-wav OUT.wav"
        ) from None
    return int(sd.query_devices(kind="output")["default_samplerate"])


async def main(args: argparse.Namespace) -> int:
    if args.input_wav:
        mic, mic_rate = read_wav(args.input_wav)
        speaker = Speaker(WAV_SPEAKER_RATE)
    else:
        mic, mic_rate = np.zeros(0, np.int16), sound_card_rate()
        speaker = Speaker(mic_rate)
    async with contextlib.AsyncExitStack() as stack:
        key = os.environ.get("OPENAI_API_KEY")
        url = args.url or DEFAULT_BASE_URL
        if not args.url and (args.mock or not key):
            mock = MockRealtimeServer(realtime=True, audio_ms=4000, text="Hello from the mock.")
            url = (await stack.enter_async_context(mock)).url
            print(f"Using the embedded mock server at {url}.", flush=True)
        ws = VoiceChat(
            speaker,
            api_key=key or "sk-local",
            base_url=url,
            input_audio=AudioSpec(rate=mic_rate),  # what the microphone gives
            output_audio=AudioSpec(rate=speaker.rate),  # what the speaker takes
        )
        await stack.enter_async_context(ws)

        def on_audio(ev: AudioEvent) -> None:
            speaker.write(ev.item_id, ev.data)

        def on_audio_done(ev: AudioDoneEvent) -> None:
            speaker.end(ev.item_id)

        def on_interrupted(ev: AudioInterruptedEvent) -> None:
            if ev.truncated:  # (not when the reply had played to its end)
                print(f"[barge-in] reply {ev.item_id} cut at {ev.audio_end_ms} ms", flush=True)

        def on_transcript(ev: dict[str, Any]) -> None:
            print(f"assistant: {ev['transcript']}", flush=True)

        ws.on("audio", on_audio)
        ws.on("audio_done", on_audio_done)
        ws.on("audio_interrupted", on_interrupted)
        ws.on("response.output_audio_transcript.done", on_transcript)
        ws.on("input_audio_buffer.speech_started", lambda: print("[you]", flush=True))
        ws.on("error", lambda ev: print(f"error ({ev.source}): {ev.error}", file=sys.stderr))
        await ws.connect(initial_session_config=SESSION)

        if not args.input_wav:
            await run_sound_card(ws, speaker)
            return 0
        await run_wav_device(ws, speaker, mic, mic_rate, args.output_wav, args.max_seconds)
    played_s = sum(speaker.played.values()) / speaker.rate
    print(f"Played {played_s:.2f} s of reply audio into {args.output_wav}.")
    return 0 if played_s > 0 else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mock", action="store_true", help="use the embedded mock server")
    p.add_argument("--url", help="a Realtime server URL (default: the OpenAI API)")
    p.add_argument("--input-wav", help="16-bit WAV to use as the microphone (no sound card)")
    p.add_argument("--output-wav", help="where to write what the speaker played")
    p.add_argument("--max-seconds", type=float, default=120.0, help="WAV mode: stop after this")
    args = p.parse_args(argv)
    if bool(args.input_wav) != bool(args.output_wav):
        p.error("--input-wav and --output-wav go together")
    return args


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))
