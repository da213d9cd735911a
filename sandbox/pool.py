"""The pool backend: pre-warmed local workers, sticky per conversation, evicted when idle, bounded.

``WorkerPool.session(key, dispatcher)`` returns the conversation's session (the same scope on every
turn while it lives). ``close()`` on a pooled session only releases it: its worker stays warm for the
next turn until it has been idle for ``idle_seconds`` or room is needed for another conversation.
New sessions take a pre-started worker, so their first ``exec`` costs no process start.

Starting a worker costs a core for tens of milliseconds, so the pool starts replacements when a session
ends (a skill run, a turn), not while it runs; only when its last warm worker is taken does it start
one at once, so that the next session does not wait either. Replacements come with the tool catalogue
asked for last already defined (signatures and types only, the same for every user), so a skill run
again, or on a schedule, skips that step too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable

from sandbox.isolation import UIDS, IsolationLevel, IsolationReport, JailPlan, plan_isolation
from sandbox.launch import ResourceLimits, WorkerLaunch, new_workspace, remove_stale_workspaces
from sandbox.process import WorkerExited, WorkerProcess
from sandbox.session import Dispatcher, SubprocessSession


REFILL_DELAY_SECONDS = 0.05


class PoolFull(RuntimeError):
    """Every pooled session is busy; the message says how to make room."""


class PooledSession(SubprocessSession):
    """A ``SubprocessSession`` whose workers come from a ``WorkerPool`` and whose ``close`` releases it."""

    def __init__(self, pool: WorkerPool, key: str, dispatcher: Dispatcher, *, disposable: bool = False,
                 **options: object) -> None:
        super().__init__(dispatcher, **options)  # type: ignore[arg-type]
        self._pool = pool
        self.key = key
        self.disposable = disposable
        self.last_used = time.monotonic()
        self.in_use = False

    @property
    def isolation(self) -> IsolationReport:
        report = super().isolation
        return IsolationReport("pool", report.level, report.protections, report.missing, report.fix)

    async def _spawn(self) -> WorkerProcess:
        worker = await self._pool.take(self._wanted_catalogue)
        worker.attach(self._on_worker_message)
        return worker

    async def close(self) -> None:
        """Release the session to the pool (the scope stays for the conversation's next turn); a
        disposable session (no conversation: a skill run, a dry run) really closes: it is closed at once
        and its worker is killed in the background, off the path of whoever waits for the run."""
        if self.disposable:
            if not self._closed:
                self._pool.end_in_background(self._end(self._detach()))
            return
        self.in_use = False
        self.last_used = time.monotonic()
        self._pool.replenish()

    async def shutdown(self) -> None:
        """Really close: kill the worker and forget the scope."""
        await SubprocessSession.close(self)


class WorkerPool:
    """Keeps ``warm`` workers started ahead and at most ``max_sessions`` conversations alive."""

    def __init__(
        self,
        *,
        warm: int = 2,
        max_sessions: int = 32,
        idle_seconds: float = 600.0,
        python: str = sys.executable,
        limits: ResourceLimits | None = None,
        isolation: IsolationLevel = IsolationLevel.JAIL,
        output_limit: int = 20_000,
    ) -> None:
        self.warm = warm
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self._python = python
        self._limits = limits or ResourceLimits()
        self._ceiling = isolation
        self._output_limit = output_limit
        self._spares: list[WorkerProcess] = []
        self._sessions: dict[str, PooledSession] = {}
        self._refill: asyncio.Task[None] | None = None
        self._recent_catalogue: dict | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._plan: JailPlan | None = None
        self._endings: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def isolation(self) -> IsolationReport:
        report = plan_isolation(self._python, self._ceiling).report
        return IsolationReport("pool", report.level, report.protections, report.missing, report.fix)

    async def start(self) -> None:
        """Start the warm workers (waits for them) and the idle reaper."""
        await self._fill()
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap())

    def session(self, key: str | None, dispatcher: Dispatcher) -> PooledSession:
        """The live session of conversation ``key`` (its dispatcher replaced by this turn's), or a new one.
        ``key=None``: a one-off session on a warm worker, ended (not kept) by ``close``."""
        if self._closed:
            raise RuntimeError("this worker pool is closed")
        if key is None:
            return PooledSession(self, f"one-off-{id(dispatcher):x}-{time.monotonic_ns()}", dispatcher,
                                 disposable=True, output_limit=self._output_limit, python=self._python,
                                 limits=self._limits, isolation=self._ceiling)
        existing = self._sessions.get(key)
        if existing is not None and not existing._closed:
            existing._dispatcher = dispatcher
            existing.in_use = True
            existing.last_used = time.monotonic()
            return existing
        if len(self._sessions) >= self.max_sessions:
            idle = [s for s in self._sessions.values() if not s.in_use]
            if not idle:
                raise PoolFull(f"all {self.max_sessions} pooled sandbox sessions are busy: raise max_sessions or wait")
            oldest = min(idle, key=lambda s: s.last_used)
            self._forget(oldest)
        created = PooledSession(self, key, dispatcher, output_limit=self._output_limit, python=self._python,
                                limits=self._limits, isolation=self._ceiling)
        created.in_use = True
        self._sessions[key] = created
        return created

    @property
    def warm_workers(self) -> int:
        """How many started workers wait for a session."""
        return sum(1 for worker in self._spares if worker.alive)

    async def take(self, catalogue: dict | None = None) -> WorkerProcess:
        """A started worker (with `catalogue` defined already, when a warm one has it), else one started now."""
        if catalogue is not None:
            self._recent_catalogue = catalogue
        self._spares[:] = [worker for worker in self._spares if worker.alive]   # in place: a refill appends to it
        if self._spares:
            primed = [worker for worker in self._spares if catalogue is not None and worker.catalogue == catalogue]
            worker = primed[-1] if primed else self._spares[-1]
            self._spares.remove(worker)
            if not self._spares:
                self._schedule_refill()  # the last one: the next taker must not wait
            return worker
        self._schedule_refill()
        return await self._start_worker()

    def replenish(self) -> None:
        """Start the warm workers that are missing, shortly: a session has ended, and what follows it (its
        run recorded, its result sent) should not wait behind a process start that stalls the loop."""
        self._schedule_refill()

    def end_in_background(self, ending: Awaitable[None]) -> None:
        """Run `ending` (a session's worker being killed) as a task that `close` waits for, then replenish."""
        task = asyncio.ensure_future(ending)
        self._endings.add(task)
        task.add_done_callback(self._endings.discard)
        task.add_done_callback(lambda _: self.replenish())

    async def close(self) -> None:
        """Kill every worker, pooled or warm."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self._refill is not None:  # let a worker being started finish starting, so that it is killed below
            with contextlib.suppress(Exception):
                await self._refill
        await asyncio.gather(*self._endings, return_exceptions=True)
        for session in list(self._sessions.values()):
            await session.shutdown()
        self._sessions.clear()
        spares, self._spares = self._spares, []
        for worker in spares:
            await worker.kill()

    def __len__(self) -> int:
        return len(self._sessions)

    async def _start_worker(self, *, primed: bool = False) -> WorkerProcess:
        if self._plan is None:
            self._plan = await asyncio.to_thread(plan_isolation, self._python, self._ceiling)
        plan = self._plan
        await asyncio.to_thread(remove_stale_workspaces)
        workspace = new_workspace("pool")
        uid = UIDS.take() if plan.dedicated_uid else None
        launch = WorkerLaunch(python=plan.python, workspace=workspace, limits=self._limits, plan=plan, uid=uid, owns_workspace=True)
        worker = await WorkerProcess.start(launch, lambda worker, message, size: None)
        if primed and self._recent_catalogue is not None:
            with contextlib.suppress(ValueError, WorkerExited):  # then the session defines it itself
                await worker.define_tools(self._recent_catalogue)
        return worker

    async def _fill(self, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)  # starting a process stalls the loop for a few ms: not during the taker's first exec
        while not self._closed and len(self._spares) < self.warm:
            worker = await self._start_worker(primed=True)
            self._spares.append(worker)

    def _schedule_refill(self) -> None:
        if not self._closed and (self._refill is None or self._refill.done()):
            self._refill = asyncio.create_task(self._fill(delay=REFILL_DELAY_SECONDS))

    def _forget(self, session: PooledSession) -> None:
        self._sessions.pop(session.key, None)
        self.end_in_background(session.shutdown())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(max(self.idle_seconds / 4, 0.05))
            now = time.monotonic()
            for session in list(self._sessions.values()):
                if not session.in_use and now - session.last_used >= self.idle_seconds:
                    self._forget(session)
