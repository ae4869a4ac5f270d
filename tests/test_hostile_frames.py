"""Property tests of the hostile server's own frame builder, parser and reassembler.

The fault matrix trusts these to put exactly the intended bytes on the wire and to read back
exactly what the client sent, so they are checked against each other (round trips under any
chunking) and against fixed vectors from RFC 6455, section 5.7.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostile import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    FrameError,
    FrameParser,
    Message,
    MessageAssembler,
    accept_value,
    apply_mask,
    close_frame,
    close_payload,
    encode_frame,
    fragments,
    parse_close,
)

#: Long mode (``FAULTS_LONG=1``) runs 20 times as many examples.
SCALE = 20 if os.environ.get("FAULTS_LONG") == "1" else 1

masks = st.none() | st.binary(min_size=4, max_size=4)


@st.composite
def frames(draw: st.DrawFn, max_size: int = 300) -> tuple[Frame, int | None]:
    payload = draw(st.binary(max_size=max_size))
    n = len(payload)
    choices = [None, 8] + ([0] if n <= 125 else []) + ([2] if n < 1 << 16 else [])
    length_bytes = draw(st.sampled_from(choices))
    frame = Frame(
        opcode=draw(st.integers(0, 15)),
        payload=payload,
        fin=draw(st.booleans()),
        rsv=draw(st.integers(0, 7)),
        mask=draw(masks),
    )
    return frame, length_bytes


def encode(f: Frame, length_bytes: int | None = None) -> bytes:
    return encode_frame(
        f.opcode, f.payload, fin=f.fin, rsv=f.rsv, mask=f.mask, length_bytes=length_bytes
    )


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in [*points, len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


@settings(max_examples=300 * SCALE, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=8), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_frames_round_trip_under_any_chunking(
    items: list[tuple[Frame, int | None]], cuts: list[int]
) -> None:
    wire = b"".join(encode(f, lb) for f, lb in items)
    parser = FrameParser()
    got: list[Frame] = []
    for chunk in chunked(wire, cuts):
        got += parser.feed(chunk)
    assert got == [f for f, _ in items]
    assert parser.pending == 0


@settings(max_examples=100 * SCALE, deadline=None)
@given(st.binary(max_size=70_000), masks)
def test_length_encodings_are_minimal_by_default(payload: bytes, mask: bytes | None) -> None:
    wire = encode_frame(OP_BINARY, payload, mask=mask)
    n = len(payload)
    header = 2 + (0 if n < 126 else 2 if n < 1 << 16 else 8) + (4 if mask else 0)
    assert len(wire) == header + n
    assert FrameParser().feed(wire) == [Frame(OP_BINARY, payload, mask=mask)]


@settings(max_examples=200 * SCALE, deadline=None)
@given(st.binary(max_size=200), st.binary(min_size=4, max_size=4))
def test_masking_is_an_involution(data: bytes, key: bytes) -> None:
    assert apply_mask(apply_mask(data, key), key) == data
    if data:
        assert apply_mask(data, key)[0] == data[0] ^ key[0]


@settings(max_examples=200 * SCALE, deadline=None)
@given(st.integers(0, 0xFFFF), st.binary(max_size=123))
def test_close_payload_round_trips_any_code_and_reason(code: int, reason: bytes) -> None:
    assert parse_close(close_payload(code, reason)) == (code, reason)
    frame = FrameParser().feed(close_frame(code, reason))[0]
    assert frame.opcode == OP_CLOSE
    assert parse_close(frame.payload) == (code, reason)


control = st.builds(
    lambda op, data: Frame(op, data), st.sampled_from([OP_PING, OP_PONG]), st.binary(max_size=20)
)


@settings(max_examples=200 * SCALE, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([OP_TEXT, OP_BINARY]),
            st.binary(max_size=200),
            st.lists(st.integers(0, 60), max_size=5),
        ),
        min_size=1,
        max_size=5,
    ),
    st.lists(control, max_size=6),
    st.randoms(use_true_random=False),
)
def test_fragmented_messages_reassemble_with_control_frames_interleaved(
    messages: list[tuple[int, bytes, list[int]]], controls: list[Frame], rnd: object
) -> None:
    wire_frames: list[Frame] = []
    for op, data, sizes in messages:
        for raw in fragments(op, data, sizes):
            wire_frames += FrameParser().feed(raw)
    # Control frames may come between any two fragments (RFC 6455 5.4), in their own order.
    spots = sorted(rnd.randint(0, len(wire_frames)) for _ in controls)  # type: ignore[attr-defined]
    for shift, (spot, c) in enumerate(zip(spots, controls, strict=True)):
        wire_frames.insert(spot + shift, c)
    assembler = MessageAssembler()
    got_messages: list[Message] = []
    got_controls: list[Frame] = []
    for f in wire_frames:
        out = assembler.feed(f)
        if isinstance(out, Message):
            got_messages.append(out)
        elif isinstance(out, Frame):
            got_controls.append(out)
    assert [(m.opcode, m.data) for m in got_messages] == [(op, d) for op, d, _ in messages]
    assert got_controls == controls


def test_rfc6455_examples() -> None:
    # Section 5.7: a single-frame unmasked text message, and the masked one.
    assert encode_frame(OP_TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")
    masked = bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame(OP_TEXT, b"Hello", mask=bytes.fromhex("37fa213d")) == masked
    assert FrameParser().feed(masked) == [Frame(OP_TEXT, b"Hello", mask=bytes.fromhex("37fa213d"))]
    # A fragmented unmasked text message.
    assert fragments(OP_TEXT, b"Hello", [3]) == [
        bytes.fromhex("010348656c"),
        bytes.fromhex("80026c6f"),
    ]
    # 256 bytes in one unmasked binary frame: 16-bit length.
    assert encode_frame(OP_BINARY, b"\0" * 256)[:4] == bytes.fromhex("827e0100")
    # 64 KiB: 64-bit length.
    assert encode_frame(OP_BINARY, b"\0" * 65536)[:10] == bytes.fromhex("827f0000000000010000")
    # Section 1.3: the accept value for the sample key.
    assert accept_value("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_illegal_shapes_are_still_buildable() -> None:
    # A lie about the length (announce 2**40 bytes, send 3), reserved bits and opcodes.
    lie = encode_frame(OP_BINARY, b"abc", declared_length=1 << 40)
    assert lie[1] == 127
    assert struct.unpack("!Q", lie[2:10])[0] == 1 << 40
    assert encode_frame(0x3, b"", rsv=0b111)[0] == 0x80 | 0x70 | 0x3
    assert encode_frame(OP_CONT, b"x", fin=False)[0] == 0x00
    with pytest.raises(FrameError):
        FrameParser(max_payload=1 << 20).feed(lie)
    with pytest.raises(ValueError, match="7-bit"):
        encode_frame(OP_TEXT, b"x" * 200, length_bytes=0)


def test_continuation_without_a_start_is_rejected_by_the_assembler() -> None:
    with pytest.raises(FrameError):
        MessageAssembler().feed(Frame(OP_CONT, b"x"))
    a = MessageAssembler()
    assert a.feed(Frame(OP_TEXT, b"a", fin=False)) is None
    with pytest.raises(FrameError):
        a.feed(Frame(OP_BINARY, b"b"))
