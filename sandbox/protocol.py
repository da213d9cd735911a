"""Framing between the host and a sandbox worker.

A frame is a 4-byte big-endian header followed by its body. A *message* frame has a clear top bit and
holds UTF-8 JSON (one object). Raw bytes (``bytes`` values anywhere in a message) travel without
base64: each becomes ``{"$blob": N}`` in the JSON, the message gets ``"$blobs": COUNT``, and COUNT
*blob* frames (top bit of the header set, then the raw bytes) follow it at once.

Frames travel on two dedicated pipes (or, for E2B, the worker's private copy of its stdio), never on
the stdout/stderr that user code and its children write to, so nothing printed can be taken for a
frame. The worker (``worker.py``) is stdlib-only and cannot import this module: it carries a copy of
the same few lines, and the tests check the two against each other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import struct
from typing import Any

HEADER = struct.Struct(">I")
BLOB_FLAG = 0x8000_0000
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
"""What one message may make a reader hold: its JSON frame and all its blob frames together."""
MAX_BLOBS = 1_024
"""Blob frames one message may declare."""
MAX_NESTING = 64
"""Levels of lists and objects one message may nest (deeper JSON is a protocol error, not a ``RecursionError``)."""
BLOB_KEY = "$blob"
BLOB_COUNT_KEY = "$blobs"


class FrameError(Exception):
    """A frame could not be encoded or decoded (too large, not JSON, not an object, blobs missing)."""


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
    """Encode one message (and its ``bytes`` values as blob frames); ``TypeError`` for values that are not JSON-able."""
    blobs: list[bytes] = []

    def default(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray, memoryview)):
            blobs.append(bytes(value))
            return {BLOB_KEY: len(blobs) - 1}
        return json_default(value)

    text = json.dumps(message, default=default, ensure_ascii=False)
    if blobs:
        text = text[:-1] + f', "{BLOB_COUNT_KEY}": {len(blobs)}}}'  # a message with blobs is never ``{}``
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. undecodable file names): escape them as JSON does
        body = json.dumps(json.loads(text)).encode("ascii")
    parts = [_header(len(body), 0), body]
    for blob in blobs:
        parts += [_header(len(blob), BLOB_FLAG), blob]
    return b"".join(parts)


def _header(length: int, flag: int) -> bytes:
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {length:,} bytes exceeds the limit of {MAX_FRAME_BYTES:,} bytes")
    return HEADER.pack(length | flag)


def decode_body(body: bytes) -> dict[str, Any]:
    """Decode the JSON body of one frame (JSON only: nothing from the worker is ever unpickled or evaluated);
    ``FrameError`` for anything but a UTF-8 JSON object nested at most ``MAX_NESTING`` levels."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"frame is not UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise FrameError(f"frame nests deeper than {MAX_NESTING} levels") from None
    if not isinstance(message, dict):
        raise FrameError(f"frame must hold a JSON object, got {type(message).__name__}")
    if _nests_deeper(message, MAX_NESTING):
        raise FrameError(f"frame nests deeper than {MAX_NESTING} levels")
    return message


def _nests_deeper(value: Any, limit: int) -> bool:
    """True when ``value`` has lists or objects more than ``limit`` levels deep (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        children = current.values() if isinstance(current, dict) else current
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return True
                pending.append((child, depth + 1))
    return False


def blob_count(message: dict[str, Any]) -> int:
    """How many blob frames follow ``message``; ``FrameError`` for a count that is not a natural number up to
    ``MAX_BLOBS``."""
    count = message.pop(BLOB_COUNT_KEY, 0)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_BLOBS:
        raise FrameError(f"bad blob count {count!r} (at most {MAX_BLOBS:,} blob frames per message)")
    return count


def attach_blobs(value: Any, blobs: list[bytes]) -> Any:
    """Replace every ``{"$blob": N}`` in ``value`` by the N-th blob; ``FrameError`` for a bad index."""
    if isinstance(value, dict):
        if len(value) == 1 and BLOB_KEY in value:
            index = value[BLOB_KEY]
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(blobs):
                raise FrameError(f"blob reference {index!r} has no blob frame")
            return blobs[index]
        return {key: attach_blobs(item, blobs) for key, item in value.items()}
    if isinstance(value, list):
        return [attach_blobs(item, blobs) for item in value]
    return value


class FrameParser:
    """Turns a byte stream, fed in chunks of any size, into messages with their blob frames attached.

    A message may make it hold at most ``MAX_MESSAGE_BYTES`` (its frame and its blob frames): a header that
    would go past that is refused before its body is read.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._message: dict[str, Any] | None = None   # a message whose blob frames are still coming
        self._blobs: list[bytes] = []
        self._blob_count = 0
        self._message_bytes = 0   # the frames of the message being read so far
        self.last_sizes: list[int] = []
        """The size on the wire of each message the last ``feed`` returned (frame and blob frames)."""

    @property
    def inside_frame(self) -> bool:
        """True when the stream so far ends inside a frame, or before the blob frames of a message."""
        return bool(self._buffer) or self._message is not None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The messages that ``data`` completes (none, one or many); ``FrameError`` for a malformed stream."""
        buffer = self._buffer
        buffer += data
        messages = []
        self.last_sizes = sizes = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (word,) = HEADER.unpack_from(buffer, start)
            if bool(word & BLOB_FLAG) != (self._message is not None):
                raise FrameError("a blob frame where a message was expected" if self._message is None
                                 else "a message where a blob frame was expected")
            length = word & ~BLOB_FLAG
            if length > MAX_FRAME_BYTES:
                raise FrameError(f"frame of {length:,} bytes exceeds the limit of {MAX_FRAME_BYTES:,} bytes")
            if self._message_bytes + HEADER.size + length > MAX_MESSAGE_BYTES:
                raise FrameError(f"a message of more than {MAX_MESSAGE_BYTES:,} bytes with its blob frames")
            end = start + HEADER.size + length
            if len(buffer) < end:
                break
            with memoryview(buffer) as view:
                body = bytes(view[start + HEADER.size:end])
            start = end
            self._message_bytes += HEADER.size + length
            if self._message is None:
                message = decode_body(body)
                count = blob_count(message)
                if count:
                    self._message, self._blob_count = message, count
                    continue
            else:
                self._blobs.append(body)
                if len(self._blobs) < self._blob_count:
                    continue
                message = attach_blobs(self._message, self._blobs)
                self._message, self._blobs = None, []
            messages.append(message)
            sizes.append(self._message_bytes)
            self._message_bytes = 0
        del buffer[:start]
        return messages


def decode_frame(data: bytes) -> dict[str, Any]:
    """Decode one whole encoded message (with its blob frames) held in memory, as ``encode_frame`` made it."""
    parser = FrameParser()
    messages = parser.feed(data)
    if parser.inside_frame:
        raise FrameError("the data ends inside a frame")
    if len(messages) != 1:
        raise FrameError(f"expected one message in the data, found {len(messages)}")
    return messages[0]
