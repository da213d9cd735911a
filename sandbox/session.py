"""The host side of a sandbox session: runs code in a worker subprocess and serves its tool calls.

The sandbox knows nothing about chat or workspace APIs: it gets a catalogue of signatures (plain
strings) and a dispatcher that performs a call by name. Timeouts interrupt the code and keep the
scope; code that will not stop, or a worker that dies, costs a restart (a fresh scope, the same tools).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sandbox.isolation import UIDS, IsolationLevel, IsolationReport, JailPlan, plan_isolation
from sandbox.launch import ResourceLimits, WorkerLaunch, new_workspace, remove_stale_workspaces
from sandbox.process import WorkerExited, WorkerProcess, WorkerStartError
from sandbox.protocol import FrameError, encode_frame
from sandbox.result import ExecResult, ToolCallRecord, cap_text

__all__ = ["Dispatcher", "ExecResult", "SubprocessSession", "ToolCallRecord"]

Dispatcher = Callable[[str, dict], Awaitable[Any]]
"""Performs one tool call by name; raises an exception whose ``str()`` is the message shown in the sandbox."""

INTERRUPT_GRACE_SECONDS = 2.0
DEFAULT_TOOL_CALL_BUDGET = 1_000
MAX_CALL_BYTES_IN_FLIGHT = 256 * 1024 * 1024
"""Bytes of tool-call messages (arguments) the host holds for one session at once; a worker that sends more
is cut off (a restart with a clear error), so forged calls cannot fill the host."""
REFUSED_RECORDS = 100
"""Refused calls recorded per ``exec`` past the budget (the rest are only counted)."""
LATE_CALL = "no code of this session is running: tool calls are served only while an exec runs"


class SubprocessSession:
    """A persistent Python scope in a local worker subprocess, with tools bridged to ``dispatcher``.

    The worker runs at the best isolation the machine offers, up to ``isolation`` (see ``isolation``
    for what was achieved). Only functions of the current catalogue reach the dispatcher, at most
    ``tool_call_budget`` per ``exec``.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        output_limit: int = 20_000,
        python: str = sys.executable,
        workdir: Path | None = None,
        limits: ResourceLimits | None = None,
        isolation: IsolationLevel = IsolationLevel.JAIL,
        tool_call_budget: int = DEFAULT_TOOL_CALL_BUDGET,
    ) -> None:
        self._dispatcher = dispatcher
        self._output_limit = output_limit
        self._python = python
        self._workdir = Path(workdir) if workdir is not None else None
        self._owns_workdir = workdir is None
        self._limits = limits or ResourceLimits()
        self._ceiling = isolation
        self._budget = tool_call_budget
        self._plan: JailPlan | None = None
        self._tool_names: frozenset[str] = frozenset()
        self._calls_started = 0
        self._worker: WorkerProcess | None = None
        self._catalogue: dict | None = None
        self._wanted_catalogue: dict | None = None   # the catalogue being defined (a pool may have a worker with it)
        self._lock = asyncio.Lock()
        self._tool_tasks: dict[asyncio.Task[None], WorkerProcess] = {}
        self._tool_calls: list[ToolCallRecord] = []
        self._running_on: WorkerProcess | None = None   # the worker while an exec of ours runs on it: the tool gate
        self._bytes_in_flight = 0
        self._late_calls = 0        # refused since the last exec ended, for the next result's notes
        self._unrecorded_calls = 0  # refused in this exec past what is recorded
        self._settling: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> SubprocessSession:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def alive(self) -> bool:
        """True while a worker is running for this session."""
        return not self._closed and self._worker is not None and self._worker.alive

    @property
    def isolation(self) -> IsolationReport:
        """The isolation this session's workers get on this machine (probed once per process)."""
        return self._jail_plan().report

    def _jail_plan(self) -> JailPlan:
        if self._plan is None:
            self._plan = plan_isolation(self._python, self._ceiling)
        return self._plan

    async def start(self) -> None:
        """Start the worker (a no-op when it already runs)."""
        async with self._lock:
            await self._ensure_worker()

    async def define_tools(self, catalogue: dict) -> None:
        """(Re)define the tool stubs and types in the scope; re-applied automatically after a restart.

        ``catalogue`` is ``{"types": "<python source of @dataclass types>", "functions": [{"name", "signature", "doc"}]}``.
        Raises ``ValueError`` when the worker rejects it (bad types source or signature).
        """
        async with self._lock:
            await self._await_settling()
            self._wanted_catalogue = catalogue
            await self._ensure_worker()
            assert self._worker is not None
            await self._worker.define_tools(catalogue)
            self._catalogue = catalogue
            self._tool_names = frozenset(entry["name"] for entry in catalogue.get("functions") or [])

    async def exec(self, code: str, timeout: float = 60.0) -> ExecResult:
        """Run ``code`` in the persistent scope; never raises for problems of the code or the worker.

        The host alone decides when the exec ends (its reply, the time limit, the worker's end): tool calls
        are served only until then, and every process the code started is killed then (the worker stays).
        """
        async with self._lock:
            await self._await_settling()
            try:
                restarted = await self._ensure_worker()
            except (WorkerStartError, WorkerExited, ValueError, OSError) as exc:
                return _failed_start(f"The sandbox worker could not be started ({exc}); the next run will try again.")
            worker = self._worker
            assert worker is not None
            self._tool_calls = calls = []
            self._calls_started = self._unrecorded_calls = 0
            notes = self._take_notes()
            self._running_on = worker   # the gate opens when the exec is sent
            try:
                result = await self._run(worker, code, timeout, calls, restarted=restarted)
            finally:
                self._close_gate(worker)
            await worker.end_turn()
            if self._unrecorded_calls:
                notes.append(f"{self._unrecorded_calls} more tool calls were refused and not recorded.")
            return dataclasses.replace(result, notes=tuple(notes)) if notes else result

    async def _run(
        self, worker: WorkerProcess, code: str, timeout: float, calls: list[ToolCallRecord], *, restarted: bool
    ) -> ExecResult:
        started = time.monotonic()
        request = asyncio.ensure_future(
            worker.request({"type": "exec", "code": code, "output_limit": self._output_limit})
        )
        request.add_done_callback(_consume_outcome)
        interrupted = False
        try:
            try:
                reply = await asyncio.wait_for(asyncio.shield(request), timeout)
                return self._result(reply, calls, started, timed_out=False, restarted=restarted)
            except TimeoutError:
                worker.interrupt()
                interrupted = True
            try:
                reply = await asyncio.wait_for(asyncio.shield(request), INTERRUPT_GRACE_SECONDS)
                return self._result(reply, calls, started, timed_out=True, restarted=restarted)
            except TimeoutError:
                error = (
                    f"TimeoutError: the code ran longer than {timeout:g} s and did not stop when "
                    "interrupted, so the sandbox worker was killed."
                )
                return await self._restart_after(worker, error, calls, started, timed_out=True)
        except WorkerExited as exc:
            error = f"The sandbox worker stopped while running this code ({exc})."
            return await self._restart_after(worker, error, calls, started, timed_out=interrupted)
        except (TypeError, ValueError, FrameError) as exc:  # e.g. code too large for one frame: nothing was sent
            return _failed_send(f"The code could not be sent to the sandbox: {exc}", started)
        except asyncio.CancelledError:
            self._settling = asyncio.create_task(self._settle_abandoned(worker, request))
            raise

    def _close_gate(self, worker: WorkerProcess) -> None:
        """The exec is over: serve no more tool calls, and cancel those still running."""
        self._running_on = None
        for task, owner in list(self._tool_tasks.items()):
            if owner is worker:
                task.cancel()

    def _take_notes(self) -> list[str]:
        """Notes about what happened since the last exec ended, for the result of the one starting."""
        notes = []
        if self._late_calls:
            notes.append(f"{self._late_calls} tool calls made after the previous run had ended were refused: "
                         "calls are served only while code runs, so await every call before the cell ends.")
            self._late_calls = 0
        return notes

    async def close(self) -> None:
        """Kill the worker and its children, and remove the private workspace. Idempotent."""
        if not self._closed:
            await self._end(self._detach())

    def _detach(self) -> WorkerProcess | None:
        """Mark the session closed (no more exec) and take its worker out: the part of closing that cannot wait."""
        self._closed = True
        if self._settling is not None:
            self._settling.cancel()
        worker, self._worker = self._worker, None
        return worker

    async def _end(self, worker: WorkerProcess | None) -> None:
        """Kill a detached worker, cancel its tool calls and remove the private workspace."""
        if worker is not None:
            await self._discard(worker)
        for task in list(self._tool_tasks):
            task.cancel()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    # -- worker lifecycle

    async def _ensure_worker(self) -> bool:
        """Make sure a worker runs; True when a previous worker (and its scope) had to be replaced."""
        if self._closed:
            raise RuntimeError("this sandbox session is closed; create a new SubprocessSession")
        if self._worker is not None and self._worker.alive:
            return False
        replaced = self._worker is not None
        if self._worker is not None:
            await self._discard(self._worker)
            self._worker = None
        worker = await self._spawn()
        try:
            if self._catalogue is not None:
                await worker.define_tools(self._catalogue)
        except BaseException:
            await worker.kill()
            raise
        self._worker = worker
        return replaced

    async def _spawn(self) -> WorkerProcess:
        """Start a worker for this session (the pool overrides this to hand out a pre-started one)."""
        if self._plan is None:
            self._plan = await asyncio.to_thread(plan_isolation, self._python, self._ceiling)
        plan = self._plan
        if self._workdir is None:
            await asyncio.to_thread(remove_stale_workspaces)
            self._workdir = new_workspace("sandbox")
        self._workdir.mkdir(parents=True, exist_ok=True)
        uid = UIDS.take() if plan.dedicated_uid else None
        launch = WorkerLaunch(
            python=plan.python, workspace=self._workdir, limits=self._limits, plan=plan, uid=uid,
            share_workspace=not self._owns_workdir,
        )
        return await WorkerProcess.start(launch, self._on_worker_message)

    async def _discard(self, worker: WorkerProcess) -> None:
        """Kill a worker and cancel the tool calls it was waiting for."""
        await worker.kill()
        for task, owner in list(self._tool_tasks.items()):
            if owner is worker:
                task.cancel()

    async def _restart_after(
        self, worker: WorkerProcess, error: str, calls: list[ToolCallRecord], started: float, *, timed_out: bool
    ) -> ExecResult:
        """Replace a lost worker with a fresh one (tools re-defined) and describe what happened."""
        await self._discard(worker)
        if self._worker is worker:
            self._worker = None
        if not self._closed:
            try:
                await self._ensure_worker()
            except Exception as exc:  # reported, and retried by the next exec
                error += f" A new sandbox worker could not be started ({exc}); the next run will try again."
        return ExecResult(
            stdout="",
            stderr="",
            value=None,
            value_repr=None,
            error=error,
            duration_ms=_elapsed_ms(started),
            tool_calls=list(calls),
            timed_out=timed_out,
            restarted=True,
        )

    async def _await_settling(self) -> None:
        if self._settling is not None:
            await self._settling
            self._settling = None

    async def _settle_abandoned(self, worker: WorkerProcess, request: asyncio.Future[dict]) -> None:
        """After the caller gave up on an exec: interrupt it, and kill the worker if it will not stop."""
        worker.interrupt()
        try:
            await asyncio.wait_for(asyncio.shield(request), INTERRUPT_GRACE_SECONDS)
        except (TimeoutError, WorkerExited):
            await self._discard(worker)

    # -- tool calls

    def _on_worker_message(self, worker: WorkerProcess, message: dict[str, Any], size: int) -> None:
        if message.get("type") != "tool_call":
            return
        if worker is not self._running_on:   # no exec of ours runs: a call from code left running
            self._late_calls += 1
            refusal = {"type": "tool_result", "call_id": message.get("call_id"), "ok": False, "error": LATE_CALL}
            self._track(asyncio.create_task(_send_quietly(worker, refusal)), worker)
            return
        if self._bytes_in_flight + size > MAX_CALL_BYTES_IN_FLIGHT:
            worker.end_stream(f"its tool calls held more than {MAX_CALL_BYTES_IN_FLIGHT:,} bytes of arguments at once")
            return
        self._bytes_in_flight += size
        task = asyncio.create_task(self._run_tool_call(worker, message, self._tool_calls))
        task.add_done_callback(lambda _: self._release(size))
        self._track(task, worker)

    def _track(self, task: asyncio.Task[None], worker: WorkerProcess) -> None:
        self._tool_tasks[task] = worker
        task.add_done_callback(lambda done: self._tool_tasks.pop(done, None))

    def _release(self, size: int) -> None:
        self._bytes_in_flight -= size

    async def _run_tool_call(
        self, worker: WorkerProcess, message: dict[str, Any], calls: list[ToolCallRecord]
    ) -> None:
        name = str(message.get("name"))
        args = message.get("args") if isinstance(message.get("args"), dict) else {}
        call_id = message.get("call_id")
        del message
        started = time.monotonic()
        refusal = None
        if name not in self._tool_names:
            refusal = f"{cap_text(name, 200)} is not a function of this session: load it first (call load_functions)."
        elif self._calls_started >= self._budget:
            refusal = f"the budget of {self._budget} tool calls per run is spent: do fewer calls per run, e.g. batch them."
        self._calls_started += 1
        if refusal is not None:
            if len(calls) < self._budget + REFUSED_RECORDS:
                calls.append(ToolCallRecord.made(name, args, False, 0.0, refusal))
            else:
                self._unrecorded_calls += 1
            del args
            await _send_quietly(worker, {"type": "tool_result", "call_id": call_id, "ok": False, "error": refusal})
            return
        try:
            value = await self._dispatcher(name, args)
        except asyncio.CancelledError:
            calls.append(ToolCallRecord.made(name, args, False, _elapsed_ms(started), "cancelled: the run ended"))
            raise
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            calls.append(ToolCallRecord.made(name, args, False, _elapsed_ms(started), error))
            await _send_quietly(worker, {"type": "tool_result", "call_id": call_id, "ok": False, "error": error})
            return
        try:
            frame = encode_frame({"type": "tool_result", "call_id": call_id, "ok": True, "value": value})
        except (TypeError, ValueError, FrameError) as exc:
            error = f"{name} returned a value that cannot be sent to the sandbox: {exc}"
            calls.append(ToolCallRecord.made(name, args, False, _elapsed_ms(started), error))
            await _send_quietly(worker, {"type": "tool_result", "call_id": call_id, "ok": False, "error": error})
            return
        calls.append(ToolCallRecord.made(name, args, True, _elapsed_ms(started), None))
        del args, value
        try:
            await worker.send_frame(frame)
        except WorkerExited:
            pass

    def _result(
        self, reply: dict[str, Any], calls: list[ToolCallRecord], started: float, *, timed_out: bool, restarted: bool
    ) -> ExecResult:
        return ExecResult(
            stdout=reply.get("stdout", ""),
            stderr=reply.get("stderr", ""),
            value=reply.get("value"),
            value_repr=reply.get("value_repr"),
            error=reply.get("error"),
            duration_ms=_elapsed_ms(started),
            tool_calls=list(calls),
            submitted=reply.get("submitted"),
            has_submission=bool(reply.get("has_submission")),
            timed_out=timed_out,
            restarted=restarted,
        )


def _failed_start(error: str) -> ExecResult:
    return ExecResult(
        stdout="", stderr="", value=None, value_repr=None, error=error, duration_ms=0.0, tool_calls=[], restarted=True
    )


def _failed_send(error: str, started: float) -> ExecResult:
    return ExecResult(
        stdout="", stderr="", value=None, value_repr=None, error=error, duration_ms=_elapsed_ms(started), tool_calls=[]
    )


async def _send_quietly(worker: WorkerProcess, message: dict[str, Any]) -> None:
    try:
        await worker.send(message)
    except WorkerExited:
        pass


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned request's exception as retrieved (it is reported another way)."""
    if not future.cancelled():
        future.exception()


def _elapsed_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
