"""The programs in ``examples/``, each run as a user runs it: a subprocess, no API key.

Each example is pointed either at a mock server this test runs and inspects (``--url``:
what reached the server is what proves the claim) or, with no flags, at its own embedded
mock server (the command its docstring gives). Every run is bounded in time and checked
for its exit status and output; every server's traffic is validated against the openai
SDK's event models before it stops.

``voice_chat.py`` runs in its WAV mode with a ``sounddevice`` module on the path that
raises when imported: the WAV mode must not import it (no PortAudio in CI), and without a
sound stack the device mode must exit with a hint, not a traceback. Its device mode runs on
a fake duplex sound card (``FAKE_SOUNDDEVICE``: a thread calling the stream callback in real
time, as PortAudio does). The barge-in tests compare the ``conversation.item.truncate`` the
server received with what the speaker wrote to its output (sample counts).

``scripts/check_readme_examples.py`` is tested here too (block extraction, error lines).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib.util
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import check_traffic
from realtime_ws.testing import MockRealtimeServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# -- running an example ----------------------------------------------------------------------


@pytest.fixture
def no_sound_stack(tmp_path: Path) -> Path:
    """A directory whose ``sounddevice`` module fails to import like it does on a machine
    without PortAudio (``OSError``)."""
    fake = tmp_path / "fake_sounddevice"
    fake.mkdir()
    (fake / "sounddevice.py").write_text(
        'raise OSError("PortAudio library not found (fake sounddevice of test_examples)")\n'
    )
    return fake


def example_env(*path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | extra
    env["PYTHONFAULTHANDLER"] = "1"  # a hang that gets aborted shows where each thread was
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), env.get("PYTHONPATH", "")])
    return env


def run_example(
    name: str, *args: str, cwd: Path, path: tuple[Path, ...] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=example_env(*path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Running:
    """An example running in the background; its output lines are collected as they come."""

    def __init__(
        self,
        name: str,
        *args: str,
        cwd: Path,
        path: tuple[Path, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *args],
            cwd=cwd,
            env=example_env(*path, **(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def wait_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"no line {text!r} in {timeout} s: {self.stdout}") from None
            self.stdout.append(line)
            if text in line:
                return

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Waits for the exit; returns (status, all of stdout, stderr). A process that does
        not exit in time is aborted: its threads' stacks (faulthandler) are in the failure."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(timeout=10)
            for t in self._readers:
                t.join(timeout=5)
            raise AssertionError(
                f"no exit within {timeout} s; stdout: {self.stdout}\n" + "".join(self.stderr)
            ) from None
        for t in self._readers:
            t.join(timeout=5)
        while not self.lines.empty():
            self.stdout.append(self.lines.get())
        return status, "\n".join(self.stdout), "".join(self.stderr)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def mock_server() -> Iterator[Any]:
    """Starts mock servers for a test (``start(**options)``); validates their traffic, then
    stops them. The server runs on the core's runtime threads, not on an event loop, so a
    synchronous test can inspect it while an example talks to it."""
    servers: list[MockRealtimeServer] = []

    def start(**options: Any) -> MockRealtimeServer:
        server = MockRealtimeServer(**options)
        asyncio.run(server.start())
        servers.append(server)
        return server

    yield start
    try:
        for server in servers:
            check_traffic(server)
    finally:
        for server in servers:
            asyncio.run(server.stop())


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)


# -- voice_chat.py ---------------------------------------------------------------------------

MIC_RATE = 16000
SPEAKER_RATE = 24000
BARGE_IN_S = 2.2  # where the user starts speaking over the first reply


def write_conversation_wav(
    path: Path, rate: int = MIC_RATE, speak_again_at: float | None = None
) -> None:
    """The microphone: a question (a loud tone), a pause long enough for the server's VAD to
    end the turn (the reply starts), speech again over the reply (a barge-in), then
    quiet while the second reply plays; and optionally speech again at ``speak_again_at``."""

    def tone(s: float) -> np.ndarray:
        t = np.arange(int(s * rate)) / rate
        return (8000 * np.sin(2 * np.pi * 300 * t)).astype("<i2")

    def quiet(s: float) -> np.ndarray:
        return np.zeros(int(s * rate), dtype="<i2")

    parts = [quiet(0.2), tone(0.5), quiet(BARGE_IN_S - 0.7), tone(0.5), quiet(0.3)]
    if speak_again_at is not None:
        parts += [quiet(speak_again_at - BARGE_IN_S - 0.8), tone(0.5), quiet(0.3)]
    pcm = np.concatenate(parts)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


@dataclasses.dataclass(frozen=True)
class Played:
    """What the speaker played (the output WAV), before and after ``split_s``: the first
    reply, which the barge-in stopped, and the second, which played to its end."""

    first_ms: float
    first_end_s: float  # when the first reply's sound stopped
    second_ms: float


def played(
    path: Path,
    rate: int = SPEAKER_RATE,
    split_s: float = BARGE_IN_S + 0.5,
    end_s: float | None = None,
) -> Played:
    """Sound is counted sample by sample (see ``reply_audio``), so gaps from underruns do
    not matter."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, rate)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    cut = int(split_s * rate)
    end = len(pcm) if end_s is None else int(end_s * rate)
    first, second = np.flatnonzero(pcm[:cut]), np.flatnonzero(pcm[cut:end])
    first_end = (first[-1] + 1) / rate if len(first) else 0.0
    return Played(1000 * len(first) / rate, first_end, 1000 * len(second) / rate)


def reply_audio(ms: int) -> bytes:
    """A reply for the mock to speak (24 kHz PCM16): a tone above 0, so that every sample
    of it that the speaker plays is a non-zero sample in the output file."""
    t = np.arange(24 * ms) / 24000
    return (2000 + 1000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


REPLIES = [{"audio": reply_audio(3000)}, {"audio": reply_audio(1200)}]

# The mock's reply audio as the real API sends it (as fast as it can: the whole reply is
# queued when the user barges in) and paced in 20 ms deltas (the speaker's 100 ms jitter
# buffer then makes what it played differ from the time since the first audio arrived).
DELIVERY = {"burst": {}, "paced": {"realtime": True, "chunk_ms": 20}}


@pytest.mark.parametrize("delivery", DELIVERY)
def test_voice_chat_barge_in_stops_playback_and_truncates_at_the_played_position(
    tmp_path: Path, mock_server: Any, no_sound_stack: Path, delivery: str
) -> None:
    server = mock_server(responses=REPLIES, **DELIVERY[delivery])
    write_conversation_wav(tmp_path / "in.wav")
    run = Running(
        "voice_chat.py",
        *("--url", server.url, "--input-wav", "in.wav", "--output-wav", "out.wav"),
        cwd=tmp_path,
        path=(no_sound_stack,),
    )
    try:
        wait_until(lambda: server.received(type="conversation.item.truncate"), 20, "the barge-in")
        # Audio of the interrupted reply still arriving after the barge-in (deltas that were
        # in flight): it must not be played.
        late = [e for e in server.sent() if e["type"] == "response.output_audio.delta"][-1]
        late_pcm = np.full(SPEAKER_RATE // 2, 5000, dtype="<i2").tobytes()
        server.send(late | {"event_id": "evt_late", "delta": base64.b64encode(late_pcm).decode()})
        status, stdout, stderr = run.finish(timeout=30)
    finally:
        run.kill()
    assert status == 0, stdout + stderr
    out = played(tmp_path / "out.wav")
    # Playback of the first reply stopped at once when the user spoke over it: the server's
    # VAD needs 60 ms of speech, then the delivery and one 20 ms block.
    assert BARGE_IN_S < out.first_end_s < BARGE_IN_S + 0.3, out
    assert abs(out.second_ms - 1200) <= 1, out  # the second reply played whole

    (truncate,) = server.received(type="conversation.item.truncate")
    first_item = next(
        ev["item"]["id"] for ev in server.sent() if ev["type"] == "response.output_item.added"
    )
    assert truncate["item_id"] == first_item
    # Truncated where the speaker stopped: what it played of the first reply (to the ms).
    assert abs(truncate["audio_end_ms"] - out.first_ms) <= 2, (truncate, out)
    # The session's server VAD cancels a reply in progress itself (interrupt_response), so
    # the client sends no response.cancel of its own.
    statuses = [ev["response"]["status"] for ev in server.sent() if ev["type"] == "response.done"]
    assert statuses == ["cancelled" if delivery == "paced" else "completed", "completed"]
    assert f"cut at {truncate['audio_end_ms']} ms" in stdout
    assert stdout.count("[you]") == 2


def test_voice_chat_runs_on_its_embedded_mock_without_a_key(
    tmp_path: Path, no_sound_stack: Path
) -> None:
    write_conversation_wav(tmp_path / "in.wav")
    out = run_example(
        "voice_chat.py",
        *("--input-wav", "in.wav", "--output-wav", "out.wav"),
        cwd=tmp_path,
        path=(no_sound_stack,),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "embedded mock server" in out.stdout
    assert "[barge-in]" in out.stdout
    assert "assistant: Hello from the mock." in out.stdout
    sound = played(tmp_path / "out.wav")
    assert BARGE_IN_S < sound.first_end_s < BARGE_IN_S + 0.3, sound
    # Its 4 s reply, whole (the mock's 440 Hz tone has a sample at 0 every 300 samples).
    assert abs(sound.second_ms - 4000 * 299 / 300) <= 1, sound


FAKE_SOUNDDEVICE = '''
"""A sound card for test_examples.py, in place of sounddevice: one duplex stream whose
callback a thread calls in real time, block by block. The microphone plays $FAKE_SD_INPUT
(then silence); what the callback puts in ``outdata`` is written to $FAKE_SD_OUTPUT when the
stream closes."""
import os, threading, time, wave
import numpy as np

RATE = 48000

def query_devices(kind=None):
    return {"name": "fake", "default_samplerate": float(RATE)}

class Stream:
    def __init__(self, *, samplerate, blocksize, channels, dtype, latency, callback):
        assert (samplerate, channels, dtype) == (RATE, 1, "int16"), (samplerate, channels, dtype)
        self.block, self.callback, self.played, self.running = blocksize, callback, [], False
        with wave.open(os.environ["FAKE_SD_INPUT"], "rb") as w:
            assert w.getframerate() == RATE
            self.mic = np.frombuffer(w.readframes(w.getnframes()), "<i2")

    def __enter__(self):
        self.running = True
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        return self

    def run(self):
        start, k = time.monotonic(), 0
        while self.running:
            indata = np.zeros((self.block, 1), np.int16)
            chunk = self.mic[k * self.block : (k + 1) * self.block]
            indata[: len(chunk), 0] = chunk
            outdata = np.full((self.block, 1), 12345, np.int16)  # not zeroed, as in PortAudio
            self.callback(indata, outdata, self.block, None, None)
            self.played.append(outdata[:, 0].copy())
            k += 1
            time.sleep(max(0.0, start + k * self.block / RATE - time.monotonic()))

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        with wave.open(os.environ["FAKE_SD_OUTPUT"], "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(np.concatenate(self.played).tobytes())
'''


def test_voice_chat_on_a_sound_card_barges_in_and_stops_on_ctrl_c(
    tmp_path: Path, mock_server: Any
) -> None:
    """The device mode, on a fake duplex sound card at 48 kHz (the transport resamples both
    ways): the same barge-in, then Ctrl-C closes the stream and the session, status 0."""
    fake = tmp_path / "fake_sound_card"
    fake.mkdir()
    (fake / "sounddevice.py").write_text(FAKE_SOUNDDEVICE)
    # The third utterance comes after the second reply finished playing: nothing to cut.
    write_conversation_wav(tmp_path / "mic.wav", rate=48000, speak_again_at=6.0)
    server = mock_server(responses=REPLIES, **DELIVERY["paced"])
    run = Running(
        "voice_chat.py",
        *("--url", server.url),
        cwd=tmp_path,
        path=(fake,),
        env={
            "FAKE_SD_INPUT": str(tmp_path / "mic.wav"),
            "FAKE_SD_OUTPUT": str(tmp_path / "played.wav"),
        },
    )

    def done() -> list[dict[str, Any]]:
        return [e for e in server.sent() if e["type"] == "response.done"]

    try:
        run.wait_line("Listening", timeout=20)
        wait_until(lambda: len(done()) == 3, 20, "three responses")
        time.sleep(1.0)  # the third reply's 0.6 s play out
        run.proc.send_signal(signal.SIGINT)
        status, stdout, stderr = run.finish(timeout=20)
    finally:
        run.kill()
    assert status == 0, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert [e["response"]["status"] for e in done()] == ["cancelled", "completed", "completed"]
    sound = played(tmp_path / "played.wav", rate=48000, end_s=6.0)
    assert BARGE_IN_S < sound.first_end_s < BARGE_IN_S + 0.3, sound
    assert abs(sound.second_ms - 1200) <= 15, sound
    (truncate,) = server.received(type="conversation.item.truncate")
    # Counted in played 48 kHz samples; the resampler's start (a few samples that round to
    # 0) is the only difference from the sound in the file.
    assert abs(truncate["audio_end_ms"] - sound.first_ms) <= 15, (truncate, sound)
    assert stdout.count("[barge-in]") == 1, stdout
    assert [(c.open, c.closed_by) for c in server.connections] == [(False, "client")]


def test_voice_chat_without_a_sound_stack_says_what_to_install(
    tmp_path: Path, no_sound_stack: Path
) -> None:
    out = run_example("voice_chat.py", "--mock", cwd=tmp_path, path=(no_sound_stack,))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "cannot load PortAudio" in out.stderr
    assert "--input-wav" in out.stderr
    assert "Traceback" not in out.stderr


# -- agents_tool.py --------------------------------------------------------------------------


def test_agents_tool_runs_the_tool_and_its_output_reaches_the_server(
    tmp_path: Path, mock_server: Any
) -> None:
    server = mock_server(
        responses=[
            {"function_call": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
            {"text": "Oslo is sunny."},
        ]
    )
    out = run_example(
        "agents_tool.py", "--url", server.url, "Weather in Oslo?", cwd=tmp_path, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-3:] == [
        'tool call: get_weather({"city":"Oslo"})',
        "tool output: Oslo: sunny, 21 °C",
        "assistant: Oslo is sunny.",
    ], out.stdout
    call = next(
        ev["item"]
        for ev in server.sent()
        if ev["type"] == "response.output_item.done" and ev["item"]["type"] == "function_call"
    )
    outputs = [
        ev["item"]
        for ev in server.received(type="conversation.item.create")
        if ev["item"]["type"] == "function_call_output"
    ]
    assert outputs == [
        {"type": "function_call_output", "call_id": call["call_id"], "output": "Oslo: sunny, 21 °C"}
    ]
    first_message = server.received(type="conversation.item.create")[0]["item"]
    assert first_message["content"] == [{"type": "input_text", "text": "Weather in Oslo?"}]
    # One response for the question, one after the tool output.
    assert len(server.received(type="response.create")) == 2


def test_agents_tool_runs_on_its_embedded_mock_without_a_key(tmp_path: Path) -> None:
    out = run_example("agents_tool.py", cwd=tmp_path, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "tool output: Paris: sunny, 21 °C" in out.stdout
    assert "assistant: It is sunny and 21 degrees in Paris." in out.stdout


# -- many_sessions.py ------------------------------------------------------------------------


def max_in_flight(server: MockRealtimeServer, handshake_s: float) -> int:
    """The most handshakes the server had pending at once (each takes ``handshake_s``)."""
    arrivals = sorted(c.connected_at for c in server.connections)
    return max(sum(1 for b in arrivals if a - handshake_s + 0.02 < b <= a) for a in arrivals)


def test_many_sessions_per_session_config_bounded_connects_and_sigterm(
    tmp_path: Path, mock_server: Any
) -> None:
    n, connects, delay_ms = 30, 5, 150
    server = mock_server(handshake_delay_ms=delay_ms)
    run = Running(
        "many_sessions.py",
        *("--url", server.url, "--sessions", str(n), "--connects", str(connects)),
        cwd=tmp_path,
    )
    try:
        run.wait_line(f"all {n} sessions replied", timeout=30)
        assert all(c.open for c in server.connections)
        run.proc.send_signal(signal.SIGTERM)
        status, stdout, stderr = run.finish(timeout=20)
    finally:
        run.kill()
    assert status == 0, stdout + stderr
    assert f"closed {n}/{n} sessions ({n} had connected, {n} replied, 0 failed)" in stdout
    conns = server.connections
    assert len(conns) == n
    assert [(c.open, c.closed_by, c.close_code) for c in conns] == [(False, "client", 1000)] * n
    # Each session had its own configuration.
    sessions = [server.received(i, type="session.update")[0]["session"] for i in range(n)]
    assert sorted(s["instructions"] for s in sessions) == sorted(
        f"You are the assistant of customer #{i}. Greet them in a few words." for i in range(n)
    )
    voices = {
        int(s["instructions"].split("#")[1].split(".")[0]): s["audio"]["output"]["voice"]
        for s in sessions
    }
    assert len(set(voices.values())) == 10
    assert all(voices[i] == voices[i % 10] for i in range(n))  # ten voices, in turn
    # At most `connects` handshakes in flight, and they did run side by side.
    assert 2 <= max_in_flight(server, delay_ms / 1000) <= connects


def test_many_sessions_sigint_while_connecting_closes_everything(
    tmp_path: Path, mock_server: Any
) -> None:
    n, delay_ms = 40, 300
    server = mock_server(handshake_delay_ms=delay_ms)
    run = Running(
        "many_sessions.py",
        *("--url", server.url, "--sessions", str(n), "--connects", "2"),
        cwd=tmp_path,
    )
    try:
        wait_until(lambda: len(server.connections) >= 5, 20, "five connects")
        run.proc.send_signal(signal.SIGINT)
        status, stdout, stderr = run.finish(timeout=20)
    finally:
        run.kill()
    assert status == 0, stdout + stderr
    assert f"closed {n}/{n} sessions" in stdout
    assert "all 40 sessions connected" not in stdout
    wait_until(lambda: not any(c.open for c in server.connections), 5, "every socket closed")
    assert len(server.connections) < n


def test_many_sessions_runs_on_its_embedded_mock_without_a_key(tmp_path: Path) -> None:
    out = run_example(
        "many_sessions.py", *("--sessions", "5", "--duration", "1"), cwd=tmp_path, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all 5 sessions replied" in out.stdout
    assert "closed 5/5 sessions (5 had connected, 5 replied, 0 failed)" in out.stdout


# -- scripts/check_readme_examples.py --------------------------------------------------------

CHECKER = EXAMPLES.parent / "scripts" / "check_readme_examples.py"


def load_checker() -> Any:
    spec = importlib.util.spec_from_file_location("check_readme_examples", CHECKER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


checker = load_checker()

_line = st.text(alphabet=st.sampled_from("ab =()#:'\"`~\t"), max_size=12).filter(
    lambda s: not s.lstrip().startswith(("```", "~~~"))
)
_block = st.tuples(
    st.sampled_from(["python", "py", "python3", "Python", "sh", "", "json", "pycon"]),
    st.sampled_from(["```", "````", "~~~"]),
    st.sampled_from(["", "  ", "    "]),
    st.lists(_line, max_size=5),
)


@given(st.lists(st.tuples(st.lists(_line, max_size=3), _block), max_size=6))
def test_checker_extracts_exactly_the_python_blocks_and_their_readme_lines(
    parts: list[tuple[list[str], tuple[str, str, str, list[str]]]],
) -> None:
    lines: list[str] = []
    expected: list[tuple[int, str]] = []
    for prose, (info, fence, indent, code) in parts:
        lines.extend(prose)
        lines.append(f"{indent}{fence}{info}")
        if info.lower() in ("python", "py", "python3"):
            expected.append((len(lines) + 1, textwrap.dedent("\n".join(code)) + "\n"))
        lines.extend(indent + c for c in code)
        lines.append(indent + fence)
    blocks = checker.python_blocks("\n".join(lines) + "\n")
    assert [(b.first_line, b.code) for b in blocks] == expected
    assert [b.index for b in blocks] == list(range(1, len(expected) + 1))


def test_checker_a_longer_fence_holds_a_shorter_one() -> None:
    md = "````python\nx = '''\n```\n'''\n````\n```python\ny = 1\n```\n"
    blocks = checker.python_blocks(md)
    assert [(b.first_line, b.code) for b in blocks] == [(2, "x = '''\n```\n'''\n"), (7, "y = 1\n")]


def run_checker(tmp_path: Path, markdown: str) -> subprocess.CompletedProcess[str]:
    readme = tmp_path / "README.md"
    readme.write_text(markdown)
    return subprocess.run(
        [sys.executable, str(CHECKER), str(readme)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


GOOD_BLOCK = """```python
import asyncio
from realtime_ws import OpenAIRealtimeWebSocket

ws = OpenAIRealtimeWebSocket(api_key="sk-test")
await ws.connect()
async with ws:
    await asyncio.sleep(0)
```
"""


def test_checker_reports_a_type_error_at_its_readme_line(tmp_path: Path) -> None:
    bad = "Some text.\n\n```python\nfrom realtime_ws import OpenAIRealtimeWebSocket\n\n" + (
        "ws = OpenAIRealtimeWebSocket(api_key=3)\nawait ws.connect()\n```\n"
    )
    out = run_checker(tmp_path, GOOD_BLOCK + "\n" + bad)
    assert out.returncode == 1, out.stdout + out.stderr
    errors = [line for line in out.stdout.splitlines() if "] error: " in line]
    bad_line = (
        (GOOD_BLOCK + "\n" + bad).splitlines().index("ws = OpenAIRealtimeWebSocket(api_key=3)")
    )
    assert len(errors) == 1, out.stdout
    assert errors[0].startswith(f"README.md:{bad_line + 1}: [block 2] error: Argument"), errors


def test_checker_passes_clean_blocks_and_skips_marked_ones(tmp_path: Path) -> None:
    skipped = "```python\n# not-checked\nws.send_audio(chunk)  # a fragment\n```\n"
    out = run_checker(tmp_path, GOOD_BLOCK + skipped + "```sh\nnot python\n```\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "block 2 at README.md:11: skipped (# not-checked)" in out.stdout
    assert "Success: no issues found in 1 source file" in out.stdout


def test_checker_fails_when_there_is_nothing_to_check(tmp_path: Path) -> None:
    out = run_checker(tmp_path, "# Title\n\n```sh\npip install .\n```\n")
    assert out.returncode == 2
    assert "no Python block to check" in out.stderr


def test_many_sessions_exits_by_itself_when_every_session_fails(
    tmp_path: Path, mock_server: Any
) -> None:
    """A wrong key: the server accepts the upgrade, sends ``invalid_api_key`` and closes
    (as the real API does). Every session fails, and the program ends instead of waiting
    for a signal."""
    server = mock_server(api_key="sk-the-right-one")
    out = run_example(
        "many_sessions.py", *("--url", server.url, "--sessions", "4"), cwd=tmp_path, timeout=30
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "closed 4/4 sessions (4 had connected, 0 replied, 4 failed)" in out.stdout
    assert out.stderr.count("invalid_api_key") >= 4, out.stderr
    # Each ends as "the server ended the session", or, when the close came before the task
    # resumed after connect(), with the NotConnectedError of its send_message().
    assert out.stderr.count(" failed: ") == 4, out.stderr
    assert not any(c.open for c in server.connections)


def test_many_sessions_notices_sessions_the_server_ends(tmp_path: Path, mock_server: Any) -> None:
    server = mock_server()
    run = Running("many_sessions.py", *("--url", server.url, "--sessions", "3"), cwd=tmp_path)
    try:
        run.wait_line("all 3 sessions replied", timeout=20)
        for conn in range(3):
            server.close_connection(1001, "going away", conn=conn)
        status, stdout, stderr = run.finish(timeout=20)
    finally:
        run.kill()
    assert status == 1, stdout + stderr
    assert "closed 3/3 sessions (3 had connected, 3 replied, 3 failed)" in stdout
    assert stderr.count("the server ended the session") == 3, stderr
    assert "code=1001" in stderr
