"""Audio conversion in the Rust core: resampling, G.711 and base64.

Everything here runs in Rust, without Python-level loops, and accepts
``bytes``, ``bytearray``, ``memoryview`` and numpy arrays without copying them:

- **bytes-like** input is read as 16-bit little-endian PCM and gives ``bytes``;
- an **int16** or **float32** numpy array gives a numpy array of the same dtype
  (a ``(frames, channels)`` array when ``channels > 1``).

Example: 8 kHz µ-law from a phone line to the Realtime API's 24 kHz PCM16::

    from realtime_ws.audio import Resampler, ulaw_decode, b64encode

    up = Resampler(8000, 24000)
    pcm24 = up.process(ulaw_decode(payload))     # int16 numpy array
    text = b64encode(pcm24)                      # for input_audio_buffer.append

:class:`Resampler` is streaming and stateful: any chunk sizes give exactly
(bit for bit) the output of one call over the whole signal, and ``flush()``
ends the stream. Its only latency is the filter's group delay, ``delay_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from ._core import (
    Resampler,
    alaw_decode,
    alaw_encode,
    b64decode,
    b64encode,
    ulaw_decode,
    ulaw_encode,
)
from .errors import InvalidArgumentError

#: Sample encodings an :class:`AudioSpec` may name.
Encoding = Literal["pcm16", "ulaw", "alaw", "f32"]
#: Resampler quality settings: ``"hq"`` (default; at least libsoxr HQ on every
#: measure of ``benches/audio_quality.py``) or ``"low_latency"`` (about a third
#: of the delay, 100 dB stopband).
Quality = Literal["hq", "low_latency"]

_ENCODINGS: tuple[str, ...] = get_args(Encoding)
_G711 = ("ulaw", "alaw")


@dataclass(frozen=True)
class AudioSpec:
    """A mono (or multi-channel) audio format on the user's side of a session.

    ``rate`` defaults to 24000 Hz, or to 8000 Hz for ``"ulaw"`` / ``"alaw"``
    (G.711 is defined at 8 kHz, but another rate may be given explicitly).
    """

    rate: int = field(default=0)
    encoding: Encoding = "pcm16"
    channels: int = 1

    def __post_init__(self) -> None:
        if self.encoding not in _ENCODINGS:
            raise InvalidArgumentError(
                f"AudioSpec.encoding must be one of {', '.join(map(repr, _ENCODINGS))}, "
                f"got {self.encoding!r}"
            )
        rate = self.rate
        if rate == 0:
            rate = 8000 if self.encoding in _G711 else 24000
            object.__setattr__(self, "rate", rate)
        if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 1_000_000:
            raise InvalidArgumentError(
                f"AudioSpec.rate must be an int in 1..1000000 Hz, got {rate!r}"
            )
        ch = self.channels
        if isinstance(ch, bool) or not isinstance(ch, int) or ch < 1:
            raise InvalidArgumentError(f"AudioSpec.channels must be a positive int, got {ch!r}")

    @property
    def bytes_per_sample(self) -> int:
        return {"pcm16": 2, "f32": 4, "ulaw": 1, "alaw": 1}[self.encoding]

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.channels * self.bytes_per_sample

    def bytes_to_ms(self, n: int) -> float:
        """Duration in milliseconds of ``n`` bytes of this format."""
        return n * 1000.0 / self.bytes_per_second


__all__ = [
    "AudioSpec",
    "Encoding",
    "Quality",
    "Resampler",
    "alaw_decode",
    "alaw_encode",
    "b64decode",
    "b64encode",
    "ulaw_decode",
    "ulaw_encode",
]
