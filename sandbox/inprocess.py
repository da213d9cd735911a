"""The in-process backend: the worker's scope and cells run in the host's own event loop.

For tests and development only: there is no isolation at all (the code can read everything the
host can), a CPU-bound loop blocks the host until it ends, and ``print`` from other host tasks
during a cell lands in the cell's output. Tool calls still travel as encoded frames, so values
arrive exactly as they would from a real worker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sandbox import worker as worker_module
from sandbox.isolation import IsolationLevel, IsolationReport
from sandbox.protocol import FrameError, decode_frame, encode_frame
from sandbox.result import ExecResult, ToolCallRecord
from sandbox.session import INTERRUPT_GRACE_SECONDS, Dispatcher

REPORT = IsolationReport(
    backend="inprocess",
    level=IsolationLevel.NONE,
    protections=(),
    missing=("any isolation: the code runs inside the bot's own process, with its secrets and files",),
    fix="use CODEMEM_SANDBOX=subprocess (the default) or pool outside tests",
)


class InProcessSession:
    """A persistent scope in the host process, with tools bridged to ``dispatcher`` (no isolation)."""

    def __init__(self, dispatcher: Dispatcher, *, output_limit: int = 20_000) -> None:
        self._dispatcher = dispatcher
        self._output_limit = output_limit
        self._worker: worker_module.Worker | None = None
        self._catalogue: dict | None = None
        self._tool_names: frozenset[str] = frozenset()
        self._calls: list[ToolCallRecord] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> InProcessSession:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def alive(self) -> bool:
        return not self._closed and self._worker is not None

    @property
    def isolation(self) -> IsolationReport:
        return REPORT

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("this sandbox session is closed; open a new one")
        if self._worker is None:
            self._worker = worker_module.Worker(self._on_frame, own_process=False)
            if self._catalogue is not None:
                await self._apply(self._catalogue)

    async def define_tools(self, catalogue: dict) -> None:
        async with self._lock:
            await self.start()
            await self._apply(catalogue)
            self._catalogue = catalogue
            self._tool_names = frozenset(entry["name"] for entry in catalogue.get("functions") or [])

    async def exec(self, code: str, timeout: float = 60.0) -> ExecResult:
        async with self._lock:
            restarted = self._worker is None and self._catalogue is not None
            await self.start()
            worker = self._worker
            assert worker is not None
            self._calls = calls = []
            started = time.monotonic()
            task = asyncio.ensure_future(worker.answer({"type": "exec", "code": code, "output_limit": self._output_limit}))
            timed_out = False
            try:
                reply = await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                timed_out = True
                worker.cancel_cell()
                try:
                    reply = await asyncio.wait_for(asyncio.shield(task), INTERRUPT_GRACE_SECONDS)
                except TimeoutError:
                    self._worker = None  # the stuck cell keeps running in the background: nothing can kill it here
                    return ExecResult("", "", None, None, f"TimeoutError: the code ran longer than {timeout:g} s and did not stop when interrupted; the scope was replaced.",
                                      _elapsed_ms(started), list(calls), timed_out=True, restarted=True)
            return ExecResult(
                stdout=reply.get("stdout", ""), stderr=reply.get("stderr", ""), value=reply.get("value"),
                value_repr=reply.get("value_repr"), error=reply.get("error"), duration_ms=_elapsed_ms(started),
                tool_calls=list(calls), submitted=reply.get("submitted"), has_submission=bool(reply.get("has_submission")),
                timed_out=timed_out, restarted=restarted,
            )

    async def close(self) -> None:
        self._closed = True
        self._worker = None
        for task in list(self._tasks):
            task.cancel()

    async def _apply(self, catalogue: dict) -> None:
        assert self._worker is not None
        reply = await self._worker.answer({"type": "define_tools", "catalogue": catalogue})
        if reply.get("error"):
            raise ValueError(f"the sandbox rejected the tool catalogue: {reply['error']}")

    def _on_frame(self, frame: bytes) -> None:
        message = decode_frame(frame)
        if message.get("type") == "tool_call" and self._worker is not None:
            task = asyncio.get_running_loop().create_task(self._call(self._worker, message, self._calls))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _call(self, worker: worker_module.Worker, message: dict[str, Any], calls: list[ToolCallRecord]) -> None:
        name, args, call_id = str(message.get("name")), message.get("args") or {}, message.get("call_id")
        started = time.monotonic()
        reply: dict[str, Any]
        if name not in self._tool_names:
            reply = {"ok": False, "error": f"{name} is not a function of this session: load it first (call load_functions)."}
        else:
            try:
                reply = {"ok": True, "value": await self._dispatcher(name, args)}
                reply = decode_frame(encode_frame(reply))  # the same JSON round trip as a real worker's
            except (TypeError, ValueError, FrameError) as exc:
                reply = {"ok": False, "error": f"{name} returned a value that cannot be sent to the sandbox: {exc}"}
            except Exception as exc:
                reply = {"ok": False, "error": str(exc) or type(exc).__name__}
        calls.append(ToolCallRecord.made(name, args, reply["ok"], _elapsed_ms(started), reply.get("error")))
        worker.resolve_tool_call({"type": "tool_result", "call_id": call_id, **reply})


def _elapsed_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
