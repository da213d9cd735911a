"""The sandbox worker: a persistent Python scope driven by the host over two frame pipes.

Run as ``python -I -S worker.py REQUEST_FD REPLY_FD [--limits NAME=SOFT:HARD,...]`` (or ``--stdio``: frames as base64 lines on the
private copies of stdin/stdout, for E2B). Stdlib only: it must not import the
``sandbox`` package or anything of the project. Frames (4-byte big-endian length + UTF-8 JSON
object) come in on REQUEST_FD and go out on REPLY_FD; the real stdout/stderr are not used for the
protocol. The main thread runs an asyncio loop that executes cells one at a time and reads the request
pipe itself (so several tool calls can be in flight at once; with ``--stdio``, which carries no signals,
a reader thread does, so that an ``interrupt`` frame gets through while user code blocks the loop);
frames go out whole, with a SIGINT held while one is written (so an interrupt can never cut one in half).

Requests from the host:
  {"type": "define_tools", "id", "catalogue": {"types": str, "functions": [{"name", "signature", "doc"}]}}
  {"type": "exec", "id", "code": str, "output_limit": int}
  {"type": "tool_result", "call_id", "ok": bool, "value" | "error"}
  {"type": "interrupt"}            (like SIGINT, for channels that carry no signals)
Messages to the host:
  {"type": "ready"}
  {"type": "reply", "id", ...}     (the answer to define_tools / exec)
  {"type": "tool_call", "call_id", "name", "args"}
"""

import ast
import asyncio
import base64
import collections
import collections.abc
import dataclasses
import datetime as dt
import enum
import functools
import inspect
import io
import itertools
import json
import linecache
import os
import signal
import struct
import sys
import threading
import traceback
import types
import typing
from typing import Any

HEADER = struct.Struct(">I")
BLOB_FLAG = 0x8000_0000
BLOB_KEY = "$blob"
BLOB_COUNT_KEY = "$blobs"
MAX_FRAME_BYTES = 64 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024  # a pipe's buffer; a larger read buffer costs an mmap per read
CELL_PREFIX = "<cell-"
TOOLS_MODULE = "tools"
VALUE_JSON_LIMIT = 1_000_000
REPR_LIMIT = 5_000
WORKER_FILE = __file__
PR_SET_PDEATHSIG = 1
TYPES_PRELUDE = (
    "from dataclasses import dataclass, field\n"
    "from datetime import datetime, date, timedelta, timezone\n"
    "from typing import Any, Literal\n"
)


# ---------------------------------------------------------------- framing (mirrors sandbox/protocol.py)


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
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_frame(message: dict) -> bytes:
    """Encode one message (and its ``bytes`` values as blob frames); ``TypeError`` if it is not JSON-able."""
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
        raise ValueError(f"message of {length:,} bytes exceeds the limit of {MAX_FRAME_BYTES:,} bytes")
    return HEADER.pack(length | flag)


class FrameParser:
    """Turns a byte stream, fed in chunks of any size, into messages (each with its blob frames attached)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._message: dict | None = None  # a message whose blob frames are still coming
        self._blobs: list[bytes] = []
        self._blob_count = 0

    @property
    def inside_frame(self) -> bool:
        """True when the stream so far ends inside a frame, or before the blob frames of a message."""
        return bool(self._buffer) or self._message is not None

    def feed(self, data: bytes) -> list[dict]:
        """The messages that ``data`` completes (none, one or many); ``ValueError`` for a malformed stream."""
        self._buffer += data
        messages = []
        while (body := self._next_body()) is not None:
            if self._message is None:
                message = _decode_message(body)
                count = message.pop(BLOB_COUNT_KEY, 0)
                if not count:
                    messages.append(message)
                    continue
                if not isinstance(count, int) or count < 0:
                    raise ValueError(f"bad blob count {count!r}")
                self._message, self._blob_count = message, count
            else:
                self._blobs.append(bytes(body))
                if len(self._blobs) < self._blob_count:
                    continue
                messages.append(_attach_blobs(self._message, self._blobs))
                self._message, self._blobs = None, []
        return messages

    def _next_body(self) -> bytearray | None:
        """Take the body of the next frame out of the buffer, or None while it is not all there."""
        buffer = self._buffer
        if len(buffer) < HEADER.size:
            return None
        (word,) = HEADER.unpack_from(buffer)
        if bool(word & BLOB_FLAG) != (self._message is not None):
            raise ValueError("a blob frame out of place")
        length = word & ~BLOB_FLAG
        if length > MAX_FRAME_BYTES:
            raise ValueError(f"frame of {length:,} bytes exceeds the limit of {MAX_FRAME_BYTES:,} bytes")
        end = HEADER.size + length
        if len(buffer) < end:
            return None
        body = buffer[HEADER.size:end]
        del buffer[:end]
        return body


def _decode_message(body: bytearray) -> dict:
    message = json.loads(body.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a frame must hold a JSON object")
    return message


def _attach_blobs(value: Any, blobs: list[bytes]) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and BLOB_KEY in value:
            return blobs[value[BLOB_KEY]]
        return {key: _attach_blobs(item, blobs) for key, item in value.items()}
    if isinstance(value, list):
        return [_attach_blobs(item, blobs) for item in value]
    return value


class PipeFrames:
    """Frames on two pipes (a local worker): the loop reads requests from ``request_fd`` itself, since the host
    interrupts with signals; replies go out with ``os.write``."""

    def __init__(self, request_fd: int, reply_fd: int) -> None:
        self.request_fd = request_fd
        self._reply_fd = reply_fd

    def write(self, frame: bytes) -> None:
        """Write ``frame`` whole (one larger than the pipe buffer takes several writes)."""
        view = memoryview(frame)
        while view:
            view = view[os.write(self._reply_fd, view):]


class LineFrames:
    """Frames as base64 text lines over stdio (the E2B channel, whose SDK hands stdout over as text). It carries
    no signals, so a thread reads it: an ``interrupt`` frame must get through while user code blocks the loop."""

    def __init__(self, reader: Any, writer: Any) -> None:
        self._reader = reader
        self._writer = writer

    def read_some(self) -> bytes:
        """The bytes of the next line that holds any; ``b""`` at the end of the stream."""
        for line in self._reader:
            data = base64.b64decode(line.strip())
            if data:
                return data
        return b""

    def write(self, frame: bytes) -> None:
        """Write ``frame`` as one line, at once."""
        self._writer.write(base64.b64encode(frame) + b"\n")
        self._writer.flush()


# ---------------------------------------------------------------- output capture


def cap_text(text: str, limit: int) -> str:
    """Keep the head and tail of ``text`` within ``limit`` characters (note included), saying how much was cut."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(f"\n... [{len(text):,} characters cut] ...\n"), 0)
    head, tail = keep - keep // 2, keep // 2
    cut = len(text) - head - tail
    return f"{text[:head]}\n... [{cut:,} characters cut] ...\n{text[len(text) - tail:] if tail else ''}"


class CappedOutput(io.TextIOBase):
    """A text stream that keeps the head and the tail of what is written, and counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head: list[str] = []
        self._head_size = 0
        self._tail: collections.deque[str] = collections.deque()
        self._tail_size = 0
        self._total = 0

    @property
    def encoding(self) -> str:
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._total += len(text)
        rest = text
        room = self._head_limit - self._head_size
        if room > 0:
            self._head.append(rest[:room])
            self._head_size += len(rest[:room])
            rest = rest[room:]
        if rest:
            self._tail.append(rest)
            self._tail_size += len(rest)
            while self._tail_size > self._tail_limit:
                excess = self._tail_size - self._tail_limit
                first = self._tail[0]
                if len(first) <= excess:
                    self._tail.popleft()
                    self._tail_size -= len(first)
                else:
                    self._tail[0] = first[excess:]
                    self._tail_size -= excess
        return len(text)

    def getvalue(self) -> str:
        head, tail = "".join(self._head), "".join(self._tail)
        cut = self._total - len(head) - len(tail)
        if cut <= 0:
            return head + tail
        return f"{head}\n... [{cut:,} characters cut] ...\n{tail}"


# ---------------------------------------------------------------- tracebacks


def format_user_error(error: BaseException, interrupted: bool = False) -> str:
    """A traceback trimmed to the user's cells (no worker frames), with chained exceptions."""
    lines: list[str] = []
    seen: set[int] = set()

    def add(exc: BaseException) -> None:
        seen.add(id(exc))
        if exc.__cause__ is not None and id(exc.__cause__) not in seen:
            add(exc.__cause__)
            lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
        elif (
            exc.__context__ is not None
            and not exc.__suppress_context__
            and id(exc.__context__) not in seen
        ):
            add(exc.__context__)
            lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
        entries = []
        tb = exc.__traceback__
        reached_user_code = False
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            reached_user_code = reached_user_code or filename.startswith(CELL_PREFIX)
            if reached_user_code and filename != WORKER_FILE:
                entries.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        if entries:
            lines.append("Traceback (most recent call last):\n")
            lines.extend(traceback.StackSummary.extract(entries).format())
        if interrupted and isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            lines.append("KeyboardInterrupt: the code was interrupted (time limit reached)\n")
        else:
            lines.extend(traceback.format_exception_only(type(exc), exc))

    add(error)
    return "".join(lines)


# ---------------------------------------------------------------- tool results -> annotated types


class ToolError(Exception):
    """A host tool failed; the message says why."""


class ResultConverter:
    """Turns JSON results into the annotated return type of a tool.

    Each annotation is compiled once into a converter function (tools return the same types call after
    call); the path of a mismatch ("result[3].size") is put together only when there is one.
    """

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace
        self._compiled: dict[Any, Any] = {}

    def convert(self, value: Any, annotation: Any) -> Any:
        """``value`` as ``annotation``; ``TypeError``/``ValueError`` naming where it does not match."""
        try:
            return self._converter(annotation)(value)
        except _Mismatch as mismatch:
            raise mismatch.error_class(f"result{mismatch.path}: {mismatch.problem}") from None

    def _converter(self, annotation: Any) -> Any:
        if isinstance(annotation, str):
            annotation = eval(annotation, self._namespace)  # a quoted name from the trusted catalogue
        if annotation in self._compiled:
            return self._compiled[annotation]
        self._compiled[annotation] = pending = _Deferred()  # a dataclass may refer to itself
        compiled = pending.target = self._compile(annotation)
        self._compiled[annotation] = compiled
        return compiled

    def _compile(self, annotation: Any) -> Any:
        if annotation in (Any, inspect.Parameter.empty, inspect.Signature.empty, object):
            return _same
        if annotation is None or annotation is type(None):
            return _none
        origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Union or origin is types.UnionType:
            return _union(type(None) in arguments, [self._converter(a) for a in arguments if a is not type(None)])
        if origin is typing.Literal:
            return _literal(arguments)
        if origin is typing.Annotated:
            return self._converter(arguments[0])
        if origin is tuple and arguments and arguments[-1] is not Ellipsis:
            return _fixed_tuple([self._converter(a) for a in arguments])
        if origin in (list, collections.abc.Sequence, set, frozenset, tuple):
            return _sequence(self._converter(arguments[0] if arguments else Any),
                             None if origin in (list, collections.abc.Sequence) else origin)
        if origin in (dict, collections.abc.Mapping):
            return _mapping(self._converter(arguments[1] if len(arguments) == 2 else Any))
        if isinstance(annotation, type):
            if dataclasses.is_dataclass(annotation):
                hints = typing.get_type_hints(annotation, globalns=self._namespace)
                fields = [(f.name, self._converter(hints.get(f.name, Any))) for f in dataclasses.fields(annotation) if f.init]
                return _dataclass(annotation, fields)
            return _scalar(annotation)
        return _same


class _Mismatch(Exception):
    """A result does not match its type at ``path`` (built from the innermost mismatch outwards)."""

    def __init__(self, problem: str, error_class: type[Exception] = TypeError) -> None:
        self.problem, self.error_class, self.path = problem, error_class, ""

    def under(self, step: str) -> "_Mismatch":
        self.path = step + self.path
        return self


class _Deferred:
    """Stands for a converter still being compiled (a type that refers to itself)."""

    target: Any = None

    def __call__(self, value: Any) -> Any:
        return self.target(value)


def _same(value: Any) -> Any:
    return value


def _none(value: Any) -> None:
    if value is not None:
        raise _Mismatch(f"expected None, got {type(value).__name__}")
    return None


def _union(optional: bool, options: list[Any]) -> Any:
    def convert(value: Any) -> Any:
        if value is None and optional:
            return None
        if len(options) == 1:
            return options[0](value)
        problems = []
        for option in options:
            try:
                return option(value)
            except _Mismatch as mismatch:
                problems.append(f"{mismatch.path.lstrip('.')}: {mismatch.problem}" if mismatch.path else mismatch.problem)
            except (TypeError, ValueError) as exc:
                problems.append(str(exc))
        raise _Mismatch("; ".join(problems) or "no type matches")
    return convert


def _literal(allowed: tuple) -> Any:
    def convert(value: Any) -> Any:
        if value not in allowed:
            raise _Mismatch(f"expected one of {list(allowed)!r}, got {value!r}", ValueError)
        return value
    return convert


def _fixed_tuple(items: list[Any]) -> Any:
    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            raise _Mismatch(f"expected a list, got {type(value).__name__}")
        if len(items) != len(value):
            raise _Mismatch(f"expected {len(items)} items, got {len(value)}")
        return tuple(_item(item, v, index) for index, (item, v) in enumerate(zip(items, value)))
    return convert


def _sequence(item: Any, container: Any) -> Any:
    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            raise _Mismatch(f"expected a list, got {type(value).__name__}")
        items = [_item(item, v, index) for index, v in enumerate(value)]
        return items if container is None else container(items)
    return convert


def _item(convert: Any, value: Any, index: int) -> Any:
    try:
        return convert(value)
    except _Mismatch as mismatch:
        raise mismatch.under(f"[{index}]") from None


def _mapping(item: Any) -> Any:
    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _Mismatch(f"expected an object, got {type(value).__name__}")
        converted = {}
        for key, v in value.items():
            try:
                converted[key] = item(v)
            except _Mismatch as mismatch:
                raise mismatch.under(f"[{key!r}]") from None
        return converted
    return convert


def _dataclass(cls: type, fields: list[tuple[str, Any]]) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise _Mismatch(f"expected an object for {cls.__name__}, got {type(value).__name__}")
        arguments = {}
        for name, field in fields:
            if name in value:
                try:
                    arguments[name] = field(value[name])
                except _Mismatch as mismatch:
                    raise mismatch.under(f".{name}") from None
        try:
            return cls(**arguments)
        except TypeError as exc:
            raise _Mismatch(str(exc)) from None
    return convert


def _scalar(cls: type) -> Any:
    def convert(value: Any) -> Any:
        if cls is dt.datetime:
            if isinstance(value, str):
                return _parsed(dt.datetime.fromisoformat, value)
        elif cls is dt.date:
            if isinstance(value, str):
                try:
                    return dt.date.fromisoformat(value)
                except ValueError:
                    return _parsed(dt.datetime.fromisoformat, value).date()
        elif cls is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif cls is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise _Mismatch(f"expected int, got {type(value).__name__}")
        elif issubclass(cls, enum.Enum):
            return _parsed(cls, value)
        if isinstance(value, cls):
            return value
        raise _Mismatch(f"expected {cls.__name__}, got {type(value).__name__}")
    return convert


def _parsed(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise _Mismatch(str(exc), ValueError) from None


# ---------------------------------------------------------------- the worker


class Worker:
    """One persistent scope, the tool stubs in it, and the loop that runs cells.

    ``send_frame`` carries encoded frames to the host. ``serve`` runs the worker as its own process
    over a frame stream; the in-process backend instead calls ``answer`` and ``resolve_tool_call``
    from the host's loop (``own_process=False`` leaves ``sys.modules`` alone).
    """

    def __init__(self, send_frame: Any, *, own_process: bool = True) -> None:
        self._send_frame = send_frame
        self._own_process = own_process
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending_calls: dict[int, asyncio.Future] = {}
        self._call_ids = itertools.count(1)
        self._cell_numbers = itertools.count(1)
        self._cell_task: asyncio.Task | None = None
        self._interrupted = False
        self._submission: tuple[bool, Any] = (False, None)
        self._tool_names: dict[str, Any] = {}
        self._scope = self._new_scope()

    def _new_scope(self) -> dict[str, Any]:
        module = types.ModuleType("__main__", "The sandbox scope.")
        if self._own_process:
            sys.modules["__main__"] = module  # so classes defined in cells resolve their module to this scope
        scope = module.__dict__
        scope.update(ToolError=ToolError, submit=self._submit, help=_help)
        return scope

    # -- threads and the main loop

    @classmethod
    def serve(cls, channel: PipeFrames | LineFrames) -> None:
        """Run as a process: requests in and frames out on ``channel``, until the host closes it."""
        writer = _FrameWriter(channel.write)
        worker = cls(writer.write)
        loop = worker._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        work: asyncio.Queue[dict] = asyncio.Queue()
        signal.signal(signal.SIGINT, writer.holding_interrupts(worker._on_interrupt))
        if isinstance(channel, PipeFrames):
            worker._read_in_loop(channel.request_fd, work)
        else:
            threading.Thread(target=worker._read_in_thread, args=(channel.read_some, work), name="frame-reader", daemon=True).start()
        loop.create_task(worker._serve(work))
        worker._send({"type": "ready", "pid": os.getpid()})
        while True:
            try:
                loop.run_forever()
            except (KeyboardInterrupt, SystemExit):
                continue  # raised by user code inside a task: the task holds the error; keep serving

    def _read_in_loop(self, fd: int, work: asyncio.Queue) -> None:
        """Read requests from the pipe ``fd`` in the loop itself: no thread to hop through for each tool result."""
        assert self._loop is not None
        parser = FrameParser()
        read = functools.partial(os.read, fd, READ_CHUNK_BYTES)
        os.set_blocking(fd, False)

        def on_readable() -> None:
            try:
                messages = _next_messages(parser, read)
            except BlockingIOError:
                return  # woken with nothing to read
            for message in messages:
                self._take(message, work)

        self._loop.add_reader(fd, on_readable)

    def _read_in_thread(self, read_some: collections.abc.Callable[[], bytes], work: asyncio.Queue) -> None:
        """Read requests with ``read_some`` in this thread, handing them to the loop; interrupts act at once."""
        assert self._loop is not None
        parser = FrameParser()
        while True:
            for message in _next_messages(parser, read_some):
                if message.get("type") == "interrupt":
                    self._take(message, work)  # now: user code may be blocking the loop
                else:
                    self._loop.call_soon_threadsafe(self._take, message, work)

    def _take(self, message: dict, work: asyncio.Queue) -> None:
        """Act on one request: a tool result goes to its stub, an interrupt is a SIGINT, the rest waits its turn."""
        kind = message.get("type")
        if kind == "tool_result":
            self.resolve_tool_call(message)
        elif kind == "interrupt":  # channels without signals (E2B): the same as SIGINT
            os.kill(os.getpid(), signal.SIGINT)
        else:
            work.put_nowait(message)

    def _send(self, message: dict) -> None:
        self._send_frame(encode_frame(message))

    async def _serve(self, work: asyncio.Queue) -> None:
        """Answer requests one at a time, in the order they came."""
        while True:
            request = await work.get()
            try:
                reply = await self.answer(request)
                self._send({"type": "reply", "id": request.get("id"), **reply})
            except Exception as exc:  # a malformed request or an unsendable result: say so, keep serving
                self._send({"type": "reply", "id": request.get("id"), "error": f"the worker could not answer: {exc!r}"})

    async def answer(self, request: dict) -> dict:
        """The reply (without type and id) to one ``exec`` or ``define_tools`` request."""
        kind = request.get("type")
        if kind == "exec":
            return await self._exec(str(request["code"]), int(request.get("output_limit", 20_000)))
        if kind == "define_tools":
            return self._define_tools(request.get("catalogue") or {})
        return {"error": f"unknown request type {kind!r}"}

    def _on_interrupt(self, signum: int, frame: types.FrameType | None) -> None:
        """SIGINT: a KeyboardInterrupt in running user code, or a cancel of the awaiting cell."""
        task = self._cell_task
        if task is None:
            return
        self._interrupted = True
        caller = frame
        while caller is not None:
            if caller.f_code.co_filename.startswith(CELL_PREFIX):
                raise KeyboardInterrupt
            caller = caller.f_back
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.cancel_cell, task)

    def cancel_cell(self, task: asyncio.Task | None = None) -> None:
        """Cancel the running cell (``task``, when given, must still be it): an interrupt at its current ``await``."""
        task = task or self._cell_task
        if task is None:
            return
        self._interrupted = True
        if self._cell_task is task:
            task.cancel()

    # -- cells

    async def _exec(self, code: str, output_limit: int) -> dict:
        filename = f"{CELL_PREFIX}{next(self._cell_numbers)}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        stdout, stderr = CappedOutput(output_limit), CappedOutput(output_limit)
        reply: dict[str, Any] = {"value": None, "value_repr": None, "error": None}
        self._interrupted = False
        self._submission = (False, None)
        saved_streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        task = self._cell_task = asyncio.current_task()
        assert task is not None
        try:
            value = await self._run_cell(code, filename)
            if value is not None:
                reply.update(_describe_value(value))
        except BaseException as exc:
            reply["error"] = format_user_error(exc, interrupted=self._interrupted)
        finally:
            self._cell_task = None
            sys.stdout, sys.stderr = saved_streams
            while task.cancelling():  # an interrupt's cancel is spent: later cells start clean
                task.uncancel()
        has_submission, submitted = self._submission
        reply.update(
            stdout=stdout.getvalue(),
            stderr=stderr.getvalue(),
            interrupted=self._interrupted,
            has_submission=has_submission,
            submitted=submitted,
        )
        return reply

    async def _run_cell(self, code: str, filename: str) -> Any:
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        tree = ast.parse(code, filename)
        last_expression = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last_expression = compile(ast.Expression(tree.body.pop().value), filename, "eval", flags=flags, dont_inherit=True)
        statements = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
        await _run_code(statements, self._scope)
        if last_expression is None:
            return None
        return await _run_code(last_expression, self._scope)

    def _submit(self, value: Any) -> None:
        """Record ``value`` (JSON-able) as the final answer of the task."""
        try:
            text = json.dumps(value, default=json_default, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"submit() needs a JSON-able value (dicts, lists, str, numbers, dataclasses, dates): {exc}") from None
        self._submission = (True, json.loads(text))

    # -- tools

    def _define_tools(self, catalogue: dict) -> dict:
        module = types.ModuleType(TOOLS_MODULE, "Types and functions of the tool catalogue.")
        namespace = module.__dict__
        try:
            exec(compile(TYPES_PRELUDE, "<tool-types-prelude>", "exec", dont_inherit=True), namespace)
            prelude_names = set(namespace)
            source = catalogue.get("types") or ""
            linecache.cache["<tool-types>"] = (len(source), None, source.splitlines(True), "<tool-types>")
            exec(compile(source, "<tool-types>", "exec", dont_inherit=True), namespace)
        except Exception as exc:
            frames = [(f, line) for f, line in traceback.walk_tb(exc.__traceback__) if f.f_code.co_filename == "<tool-types>"]
            where = "".join(traceback.StackSummary.extract(frames).format())
            return {"error": "the catalogue's types source failed:\n" + where + "".join(traceback.format_exception_only(type(exc), exc))}
        converter = ResultConverter(namespace)
        stubs: dict[str, Any] = {}
        for entry in catalogue.get("functions") or []:
            try:
                stubs[entry["name"]] = self._make_stub(entry, namespace, converter)
            except Exception as exc:
                return {"error": f"tool {entry.get('name')!r} has an unusable signature ({type(exc).__name__}: {exc})"}
        namespace.update(stubs)
        if self._own_process:
            sys.modules[TOOLS_MODULE] = module
        for name, stub in self._tool_names.items():
            if name not in stubs and self._scope.get(name) is stub:
                del self._scope[name]
        self._scope.update({k: v for k, v in namespace.items() if k not in prelude_names and not k.startswith("_")})
        self._tool_names = stubs
        return {"error": None}

    def _make_stub(self, entry: dict, namespace: dict[str, Any], converter: ResultConverter) -> Any:
        name, signature, doc = entry["name"], entry["signature"].strip(), entry.get("doc") or ""
        tree = ast.parse(signature.rstrip(":") + ":\n    pass\n", f"<signature of {name}>")
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.AsyncFunctionDef):
            raise ValueError(f"expected one 'async def {name}(...) -> ...', got {signature!r}")
        if tree.body[0].name != name:
            raise ValueError(f"the signature defines {tree.body[0].name!r}, not {name!r}")
        scratch = dict(namespace)
        exec(compile(tree, f"<signature of {name}>", "exec", dont_inherit=True), scratch)
        template = scratch[name]
        parameters = inspect.signature(template)
        returns = parameters.return_annotation
        bind = _compile_binder(tree.body[0], template, scratch)
        call_tool = self._call_tool

        async def stub(*args: Any, **kwargs: Any) -> Any:
            try:
                arguments = bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}(): {_binding_error(parameters, args, kwargs, exc)}") from None
            result = await call_tool(name, arguments)
            try:
                return converter.convert(result, returns)
            except (TypeError, ValueError) as exc:
                raise ToolError(f"{name} returned data that does not match its return type: {exc}") from None

        stub.__name__ = stub.__qualname__ = name
        stub.__doc__ = doc
        stub.__signature__ = parameters  # type: ignore[attr-defined]
        stub.__annotations__ = dict(template.__annotations__)
        stub.__module__ = TOOLS_MODULE
        return stub

    async def _call_tool(self, name: str, args: dict) -> Any:
        call_id = next(self._call_ids)
        try:
            frame = encode_frame({"type": "tool_call", "call_id": call_id, "name": name, "args": args})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}(): the arguments must be JSON-able (str, numbers, lists, dicts, dataclasses, dates): {exc}") from None
        future = asyncio.get_running_loop().create_future()
        self._pending_calls[call_id] = future
        try:
            self._send_frame(frame)
            reply = await future
        finally:
            self._pending_calls.pop(call_id, None)
        if reply.get("ok"):
            return reply.get("value")
        raise ToolError(reply.get("error") or f"{name} failed")

    def resolve_tool_call(self, message: dict) -> None:
        """Hand a ``tool_result`` from the host to the stub waiting for it."""
        future = self._pending_calls.get(message.get("call_id"))
        if future is not None and not future.done():
            future.set_result(message)


def _compile_binder(function: ast.AsyncFunctionDef, template: Any, namespace: dict[str, Any]) -> Any:
    """A function with the parameters of ``function`` that returns its arguments by name, defaults filled in:
    ``Signature.bind`` and ``apply_defaults`` compiled (0.1 us a call instead of 2 to 4)."""
    parameters = function.args
    names = [parameter.arg for parameter in (*parameters.posonlyargs, *parameters.args, parameters.vararg,
                                             *parameters.kwonlyargs, parameters.kwarg) if parameter is not None]
    returned = ", ".join(f"{name!r}: {name}" for name in names)
    source = f"def {function.name}({ast.unparse(parameters)}):\n    return {{{returned}}}\n"
    exec(compile(source, f"<arguments of {function.name}>", "exec", dont_inherit=True), namespace)
    binder = namespace[function.name]
    binder.__defaults__, binder.__kwdefaults__ = template.__defaults__, template.__kwdefaults__  # the same objects
    return binder


def _binding_error(parameters: inspect.Signature, args: tuple, kwargs: dict, error: TypeError) -> str:
    """Why ``args`` and ``kwargs`` do not fit ``parameters``, in the words of ``Signature.bind`` (which users have
    seen so far); the binder's own ``error`` should ``bind`` ever disagree."""
    try:
        parameters.bind(*args, **kwargs)
    except TypeError as exc:
        return str(exc)
    return str(error)


def _next_messages(parser: FrameParser, read: collections.abc.Callable[[], bytes]) -> list[dict]:
    """The requests completed by the next chunk that ``read()`` returns. The process ends at the end of the
    stream (the host is gone) or at a broken one (the host is confused), saying what broke on stderr."""
    try:
        data = read()
        if data:
            return parser.feed(data)
        problem = "the requests ended inside a frame" if parser.inside_frame else ""
    except BlockingIOError:
        raise  # not an end: nothing to read yet
    except Exception as exc:
        problem = f"cannot read requests: {exc!r}"
    if problem:
        print(f"sandbox worker: {problem}", file=sys.__stderr__, flush=True)
    os._exit(0)


async def _run_code(code: types.CodeType, scope: dict[str, Any]) -> Any:
    result = eval(code, scope)
    if code.co_flags & inspect.CO_COROUTINE:
        result = await result
    return result


def _describe_value(value: Any) -> dict[str, Any]:
    """The JSON form (when JSON-able and not huge) and a capped repr of a cell's last value."""
    described: dict[str, Any] = {"value": None}
    try:
        text = json.dumps(value, default=json_default, ensure_ascii=False)
        if len(text) <= VALUE_JSON_LIMIT:
            described["value"] = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        described["value_repr"] = cap_text(repr(value), REPR_LIMIT)
    except Exception as exc:
        described["value_repr"] = f"<repr() failed: {exc!r}>"
    return described


def _help(*args: Any) -> None:
    """Show the documentation of an object, like the builtin ``help`` (``site`` is not loaded here)."""
    import pydoc

    pydoc.help(*args)


class _FrameWriter:
    """Writes whole frames to the host, one at a time, and never cut by an interrupt of the user's code: a
    SIGINT that comes while the main thread writes is held, and handled right after the frame is out."""

    def __init__(self, write: collections.abc.Callable[[bytes], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._main_thread = threading.get_ident()
        self._writing = False  # the main thread is writing a frame
        self._held = False  # and a SIGINT came meanwhile
        self._handler: Any = None

    def holding_interrupts(self, handler: Any) -> Any:
        """``handler`` as the SIGINT handler to install: it runs at once, or right after the frame being written."""
        self._handler = handler
        return self._on_signal

    def _on_signal(self, signum: int, frame: types.FrameType | None) -> None:
        if self._writing:
            self._held = True  # returning lets the write go on (PEP 475); raising would cut the frame
        else:
            self._handler(signum, frame)

    def write(self, frame: bytes) -> None:
        in_main_thread = threading.get_ident() == self._main_thread  # the one where Python runs signal handlers
        with self._lock:
            self._writing = in_main_thread
            try:
                self._write(frame)
            finally:
                self._writing = False
        if in_main_thread and self._held:
            self._held = False
            self._handler(signal.SIGINT, sys._getframe())


def _private_stdio() -> LineFrames:
    """Take stdin/stdout for the frame channel and point fds 0 and 1 elsewhere, so that user code and
    its children print to stderr (drained by the host, never parsed) and cannot write frames."""
    request_fd, reply_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return LineFrames(os.fdopen(request_fd, "rb"), os.fdopen(reply_fd, "wb"))


def _lower_limits(spec: str) -> None:
    """Lower this process's resource limits to ``spec`` (``NAME=SOFT:HARD,...``, names of ``resource.RLIMIT_*``),
    never above a hard limit already set; before any request, so no user code runs without them."""
    import resource

    for item in spec.split(","):
        name, _, values = item.partition("=")
        soft, hard = (int(value) for value in values.split(":"))
        kind = getattr(resource, f"RLIMIT_{name}")
        _, current_hard = resource.getrlimit(kind)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(kind, (soft, hard))


def _end_with_parent() -> None:
    """Be killed when the process that started this worker ends (the host, or bubblewrap), even while a cell
    keeps the loop busy: the requests pipe closing is only noticed between cells. Linux; elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (ImportError, OSError, AttributeError):
        pass


def main(argv: list[str]) -> None:
    channel: PipeFrames | LineFrames
    if argv[1:] == ["--stdio"]:
        channel = _private_stdio()
    elif len(argv) in (3, 5) and (len(argv) == 3 or argv[3] == "--limits"):
        if len(argv) == 5:
            _lower_limits(argv[4])
        request_fd, reply_fd = int(argv[1]), int(argv[2])
        for fd in (request_fd, reply_fd):
            os.set_inheritable(fd, False)  # children started by user code must not get the frame pipes
        _end_with_parent()
        channel = PipeFrames(request_fd, reply_fd)
    else:
        raise SystemExit("usage: worker.py REQUEST_FD REPLY_FD [--limits NAME=SOFT:HARD,...] | worker.py --stdio")
    Worker.serve(channel)


if __name__ == "__main__":
    main(sys.argv)
