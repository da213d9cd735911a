"""The host's framing (sandbox.protocol) and the worker's copy agree, over real pipes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading

import pytest

from sandbox import protocol
from sandbox import worker as worker_side

BIG = {"type": "tool_result", "value": "é" * 2_500_000 + "end", "items": list(range(1000))}


def _host_read(read_fd: int) -> tuple[list[dict], protocol.FrameParser]:
    """Everything the host parses from the pipe until it closes, read in pipe-sized chunks as they come."""
    parser = protocol.FrameParser()
    messages = []
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            messages += parser.feed(chunk)
    return messages, parser


def _write_in_thread(write_fd: int, data: bytes) -> threading.Thread:
    def write() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_worker_frames_are_read_by_the_host() -> None:
    read_fd, write_fd = os.pipe()
    messages = [{"type": "ready", "pid": 1}, BIG, {"type": "reply", "id": 7, "text": "line\nbreak \x00 ☃"}]
    writer = _write_in_thread(write_fd, b"".join(worker_side.encode_frame(m) for m in messages))
    received, parser = _host_read(read_fd)
    assert received == messages
    assert not parser.inside_frame
    writer.join()


def test_host_frames_are_read_by_the_worker() -> None:
    read_fd, write_fd = os.pipe()
    messages = [{"type": "exec", "id": 1, "code": "print('hi')"}, BIG]
    writer = _write_in_thread(write_fd, b"".join(protocol.encode_frame(m) for m in messages))
    parser = worker_side.FrameParser()
    received = []
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(worker_side.READ_CHUNK_BYTES):
            received += parser.feed(chunk)
    assert received == messages
    assert not parser.inside_frame
    writer.join()


def test_a_frame_cut_short_is_not_a_message() -> None:
    read_fd, write_fd = os.pipe()
    frame = protocol.encode_frame({"type": "reply", "id": 1})
    writer = _write_in_thread(write_fd, frame + frame[:-3])
    received, parser = _host_read(read_fd)
    assert received == [{"type": "reply", "id": 1}]
    assert parser.inside_frame   # the host reports a stream that ended inside a frame
    with pytest.raises(protocol.FrameError, match="ends inside a frame"):
        protocol.decode_frame(frame[:-3])
    writer.join()


def test_a_frame_that_is_not_a_json_object_is_rejected() -> None:
    read_fd, write_fd = os.pipe()
    body = b"[1, 2]"
    writer = _write_in_thread(write_fd, protocol.HEADER.pack(len(body)) + body)
    with pytest.raises(protocol.FrameError, match="JSON object"):
        _host_read(read_fd)
    writer.join()


def test_frames_split_anywhere_or_sent_together_come_out_whole() -> None:
    messages = [{"type": "tool_result", "call_id": n, "ok": True, "value": {"data": b"\x00\xff" * n, "n": n}}
                for n in range(1, 6)]
    stream = b"".join(protocol.encode_frame(m) for m in messages)
    for chunk_size in (1, 3, 4, 7, 64, len(stream)):
        parser = protocol.FrameParser()
        received = []
        for start in range(0, len(stream), chunk_size):
            received += parser.feed(stream[start:start + chunk_size])
        assert received == messages, chunk_size
        assert not parser.inside_frame


def test_both_sides_encode_dataclasses_and_dates_the_same_way() -> None:
    @dataclasses.dataclass
    class Item:
        when: dt.datetime
        day: dt.date
        tags: frozenset[str]

    message = {"item": Item(dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.timezone.utc), dt.date(2024, 5, 2), frozenset({"a"}))}
    assert protocol.encode_frame(message) == worker_side.encode_frame(message)
    assert b'"when": "2024-05-01T10:30:00+00:00"' in protocol.encode_frame(message)


def test_values_that_are_not_json_are_refused_when_encoding() -> None:
    with pytest.raises(TypeError, match="object"):
        protocol.encode_frame({"value": object()})


def test_a_message_may_not_declare_more_blobs_or_bytes_than_the_limits() -> None:
    body = b'{"type": "tool_call", "$blobs": 10000}'
    with pytest.raises(protocol.FrameError, match="bad blob count 10000"):
        protocol.FrameParser().feed(protocol.HEADER.pack(len(body)) + body)
    body = b'{"type": "tool_call", "$blobs": 3}'
    parser = protocol.FrameParser()
    parser.feed(protocol.HEADER.pack(len(body)) + body)
    blob_header = protocol.HEADER.pack(protocol.MAX_FRAME_BYTES | protocol.BLOB_FLAG)
    parser.feed(blob_header + bytes(protocol.MAX_FRAME_BYTES))
    with pytest.raises(protocol.FrameError, match="more than"):   # refused at the header, before the body comes
        parser.feed(blob_header)


def test_nesting_is_bounded_and_too_deep_json_is_a_frame_error() -> None:
    nested = {"v": [[[[1]]]]}
    assert protocol.decode_frame(protocol.encode_frame(nested)) == nested
    for depth in (protocol.MAX_NESTING + 1, 100_000):
        body = b'{"v": ' + b"[" * depth + b"]" * depth + b"}"
        with pytest.raises(protocol.FrameError, match="nests deeper"):
            protocol.FrameParser().feed(protocol.HEADER.pack(len(body)) + body)


def test_the_parser_says_how_large_each_message_was_on_the_wire() -> None:
    frames = [protocol.encode_frame({"n": 1}), protocol.encode_frame({"data": b"x" * 1000})]
    parser = protocol.FrameParser()
    assert len(parser.feed(b"".join(frames))) == 2
    assert parser.last_sizes == [len(frame) for frame in frames]
