"""The host's framing (sandbox.protocol) and the worker's copy agree, over real pipes."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import threading

import pytest

from sandbox import protocol
from sandbox import worker as worker_side

BIG = {"type": "tool_result", "value": "é" * 2_500_000 + "end", "items": list(range(1000))}


async def _host_reader(read_fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0))
    return reader


def _write_in_thread(write_fd: int, data: bytes) -> threading.Thread:
    def write() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


async def test_worker_frames_are_read_by_the_host() -> None:
    read_fd, write_fd = os.pipe()
    messages = [{"type": "ready", "pid": 1}, BIG, {"type": "reply", "id": 7, "text": "line\nbreak \x00 ☃"}]
    writer = _write_in_thread(write_fd, b"".join(worker_side.encode_frame(m) for m in messages))
    reader = await _host_reader(read_fd)
    received = [await protocol.read_frame(reader) for _ in messages]
    assert received == messages
    assert await protocol.read_frame(reader) is None
    writer.join()


def test_host_frames_are_read_by_the_worker() -> None:
    read_fd, write_fd = os.pipe()
    messages = [{"type": "exec", "id": 1, "code": "print('hi')"}, BIG]
    writer = _write_in_thread(write_fd, b"".join(protocol.encode_frame(m) for m in messages))
    with os.fdopen(read_fd, "rb", buffering=1 << 16) as stream:
        received = [worker_side.read_frame(stream) for _ in messages]
        assert worker_side.read_frame(stream) is None
    assert received == messages
    writer.join()


async def test_a_frame_cut_short_is_an_error_not_a_message() -> None:
    read_fd, write_fd = os.pipe()
    frame = protocol.encode_frame({"type": "reply", "id": 1})
    writer = _write_in_thread(write_fd, frame[:-3])
    reader = await _host_reader(read_fd)
    with pytest.raises(protocol.FrameError, match="inside a frame body"):
        await protocol.read_frame(reader)
    writer.join()


async def test_a_frame_that_is_not_a_json_object_is_rejected() -> None:
    read_fd, write_fd = os.pipe()
    body = b"[1, 2]"
    writer = _write_in_thread(write_fd, protocol.HEADER.pack(len(body)) + body)
    reader = await _host_reader(read_fd)
    with pytest.raises(protocol.FrameError, match="JSON object"):
        await protocol.read_frame(reader)
    writer.join()


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
