"""Framing between the host and a sandbox worker.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (one object).
Frames travel on two dedicated pipes, never on the worker's stdout/stderr, so nothing user code
prints can be taken for a frame. The worker (``worker.py``) is stdlib-only and cannot import this
module: it carries a copy of the same few lines, and the tests check the two against each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import json
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024


class FrameError(Exception):
    """A frame could not be encoded or decoded (too large, not JSON, not an object)."""


def json_default(value: Any) -> Any:
    """``json.dumps`` default: dataclasses -> dicts, datetime/date/time -> ISO strings, sets -> lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):  # pydantic models, without importing pydantic here
        return model_dump(mode="json")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_frame(message: dict[str, Any]) -> bytes:
    """Encode one message as a length-prefixed frame; raises ``TypeError`` for values that are not JSON-able."""
    text = json.dumps(message, default=json_default, ensure_ascii=False)
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. undecodable file names): escape them as JSON does
        body = json.dumps(message, default=json_default).encode("ascii")
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(body):,} bytes exceeds the limit of {MAX_FRAME_BYTES:,} bytes")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """Decode the JSON body of one frame (JSON only: nothing from the worker is ever unpickled or evaluated)."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"frame is not UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError(f"frame must hold a JSON object, got {type(message).__name__}")
    return message


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """Read one frame; ``None`` at a clean end of stream (between frames)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise FrameError("stream ended inside a frame header") from None
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {length:,} bytes exceeds the limit of {MAX_FRAME_BYTES:,} bytes")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FrameError("stream ended inside a frame body") from None
    return decode_body(body)
