"""The E2B backend: the worker runs in an E2B sandbox (a Firecracker microVM) built from our template.

The tool channel runs over the worker command's stdin and stdout (``worker.py --stdio``: frames as
base64 lines), so nothing inside needs to reach the host and no secret goes in: the sandbox is
created with no environment variables and internet access off. Between turns the sandbox is paused;
``E2BSession(..., resume=session.resume_token)`` reconnects by id on the next turn with the scope
intact. Interrupts travel as an ``interrupt`` frame (the channel carries no signals).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from typing import Any

from sandbox.isolation import IsolationLevel, IsolationReport
from sandbox.protocol import FrameError, decode_frame, encode_frame
from sandbox.result import ExecResult, ToolCallRecord
from sandbox.session import INTERRUPT_GRACE_SECONDS, Dispatcher

TEMPLATE = "codemem-worker"
WORKER_COMMAND = "python3 -I -S /opt/codemem/worker.py --stdio"
SANDBOX_TIMEOUT_SECONDS = 3600
READY_TIMEOUT_SECONDS = 60.0

REPORT = IsolationReport(
    backend="e2b",
    level=IsolationLevel.JAIL,
    protections=(
        "an E2B Firecracker microVM per conversation",
        "internet access off; no environment variables; tool calls over the worker's stdin/stdout",
    ),
)


class LineFrameReader:
    """Turns the worker's stdout text (base64 lines, in any chunking) into decoded messages."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, text: str) -> list[dict[str, Any]]:
        """Messages completed by ``text``; ``FrameError`` for a line that is not a frame."""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        messages = []
        for line in lines:
            if line.strip():
                try:
                    data = base64.b64decode(line.strip(), validate=True)
                except ValueError as exc:
                    raise FrameError(f"a line on the worker's channel is not base64: {exc}") from None
                messages.append(decode_frame(data))
        return messages


def encode_line(message: dict[str, Any]) -> str:
    """One message as a base64 line for the worker's stdin."""
    return base64.b64encode(encode_frame(message)).decode("ascii") + "\n"


class E2BSession:
    """A persistent scope in an E2B sandbox, with tools bridged to ``dispatcher`` over stdio.

    ``sandbox_class`` is ``e2b.AsyncSandbox`` (injectable for offline tests); ``api_key`` and other
    connection options go to it unchanged, never into the sandbox.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        output_limit: int = 20_000,
        template: str = TEMPLATE,
        resume: str | None = None,
        sandbox_class: Any = None,
        **connection: Any,
    ) -> None:
        if sandbox_class is None:
            from e2b import AsyncSandbox

            sandbox_class = AsyncSandbox
        self._dispatcher = dispatcher
        self._output_limit = output_limit
        self._template = template
        self._resume = resume
        self._sandbox_class = sandbox_class
        self._connection = connection
        self._sandbox: Any = None
        self._pid: int | None = None
        self._input: Any = None
        self._reader = LineFrameReader()
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._ready: asyncio.Future[None] | None = None
        self._catalogue: dict | None = None
        self._tool_names: frozenset[str] = frozenset()
        self._calls: list[ToolCallRecord] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stderr_tail = ""
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def alive(self) -> bool:
        return not self._closed and self._pid is not None

    @property
    def isolation(self) -> IsolationReport:
        return REPORT

    @property
    def resume_token(self) -> str | None:
        """``"<sandbox id>:<worker pid>"``: pass it as ``resume=`` on the next turn to reconnect to this scope."""
        if self._sandbox is None or self._pid is None:
            return None
        return f"{self._sandbox.sandbox_id}:{self._pid}"

    async def start(self) -> None:
        """Reconnect to the paused sandbox given as ``resume``, or create one and start the worker."""
        if self._closed:
            raise RuntimeError("this sandbox session is closed; open a new one")
        if self._sandbox is not None:
            return
        if self._resume:
            sandbox_id, pid = self._resume.rsplit(":", 1)
            self._sandbox = await self._sandbox_class.connect(sandbox_id, **self._connection)
            self._pid = int(pid)
            await self._sandbox.commands.connect(self._pid, timeout=0, on_stdout=self._on_stdout, on_stderr=self._on_stderr)
            self._input = self._sandbox.commands.stream_input(self._pid, timeout=0)
            return
        self._sandbox = await self._sandbox_class.create(
            self._template, timeout=SANDBOX_TIMEOUT_SECONDS, envs={}, allow_internet_access=False,
            metadata={"app": "codemem"}, **self._connection,
        )
        await self._start_worker()

    async def define_tools(self, catalogue: dict) -> None:
        async with self._lock:
            await self.start()
            reply = await self._request({"type": "define_tools", "catalogue": catalogue})
            if reply.get("error"):
                raise ValueError(f"the sandbox rejected the tool catalogue: {reply['error']}")
            self._catalogue = catalogue
            self._tool_names = frozenset(entry["name"] for entry in catalogue.get("functions") or [])

    async def exec(self, code: str, timeout: float = 60.0) -> ExecResult:
        async with self._lock:
            await self.start()
            self._calls = calls = []
            started = time.monotonic()
            request = asyncio.ensure_future(self._request({"type": "exec", "code": code, "output_limit": self._output_limit}))
            timed_out = False
            try:
                reply = await asyncio.wait_for(asyncio.shield(request), timeout)
            except TimeoutError:
                timed_out = True
                await self._send({"type": "interrupt"})
                try:
                    reply = await asyncio.wait_for(asyncio.shield(request), INTERRUPT_GRACE_SECONDS)
                except TimeoutError:
                    request.cancel()
                    await self._restart_worker()
                    error = f"TimeoutError: the code ran longer than {timeout:g} s and did not stop when interrupted, so the sandbox worker was restarted."
                    return ExecResult("", "", None, None, error, _elapsed_ms(started), list(calls), timed_out=True, restarted=True)
            return ExecResult(
                stdout=reply.get("stdout", ""), stderr=reply.get("stderr", ""), value=reply.get("value"),
                value_repr=reply.get("value_repr"), error=reply.get("error"), duration_ms=_elapsed_ms(started),
                tool_calls=list(calls), submitted=reply.get("submitted"), has_submission=bool(reply.get("has_submission")),
                timed_out=timed_out,
            )

    async def pause(self) -> str | None:
        """Pause the sandbox (memory kept) and return the ``resume_token`` for the next turn."""
        token = self.resume_token
        if self._sandbox is not None:
            await self._sandbox.pause()
            self._sandbox = None
        return token

    async def close(self) -> None:
        """Kill the sandbox. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._sandbox is not None:
            await self._sandbox.kill()
            self._sandbox = None
        self._pid = None

    # -- the channel

    async def _start_worker(self) -> None:
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = LineFrameReader()
        handle = await self._sandbox.commands.run(
            WORKER_COMMAND, background=True, stdin=True, timeout=0, envs={},
            on_stdout=self._on_stdout, on_stderr=self._on_stderr,
        )
        self._pid = handle.pid
        self._input = self._sandbox.commands.stream_input(handle.pid, timeout=0)
        try:
            await asyncio.wait_for(self._ready, READY_TIMEOUT_SECONDS)
        except TimeoutError:
            raise RuntimeError(f"the E2B worker did not start: {self._stderr_tail.strip() or 'no output'}") from None
        if self._catalogue is not None:
            await self._request({"type": "define_tools", "catalogue": self._catalogue})

    async def _restart_worker(self) -> None:
        if self._pid is not None:
            await self._sandbox.commands.kill(self._pid)
        for reply in self._replies.values():
            if not reply.done():
                reply.cancel()
        await self._start_worker()

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        reply = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        try:
            await self._send({**message, "id": request_id})
            return await reply
        finally:
            self._replies.pop(request_id, None)

    async def _send(self, message: dict[str, Any]) -> None:
        await self._input.send(encode_line(message))

    def _on_stderr(self, text: str) -> None:
        self._stderr_tail = (self._stderr_tail + text)[-2000:]

    def _on_stdout(self, text: str) -> None:
        for message in self._reader.feed(text):
            kind = message.get("type")
            if kind == "ready" and self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            elif kind == "reply":
                reply = self._replies.get(message.get("id"))
                if reply is not None and not reply.done():
                    reply.set_result(message)
            elif kind == "tool_call":
                task = asyncio.get_running_loop().create_task(self._call(message, self._calls))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _call(self, message: dict[str, Any], calls: list[ToolCallRecord]) -> None:
        name, args, call_id = str(message.get("name")), message.get("args") or {}, message.get("call_id")
        started = time.monotonic()
        result: dict[str, Any]
        if name not in self._tool_names:
            result = {"ok": False, "error": f"{name} is not a function of this session: load it first (call load_functions)."}
        else:
            try:
                result = {"ok": True, "value": await self._dispatcher(name, args)}
            except Exception as exc:
                result = {"ok": False, "error": str(exc) or type(exc).__name__}
        try:
            await self._send({"type": "tool_result", "call_id": call_id, **result})
        except (TypeError, ValueError, FrameError) as exc:
            result = {"ok": False, "error": f"{name} returned a value that cannot be sent to the sandbox: {exc}"}
            await self._send({"type": "tool_result", "call_id": call_id, **result})
        calls.append(ToolCallRecord.made(name, args, result["ok"], _elapsed_ms(started), result.get("error")))


def _elapsed_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
