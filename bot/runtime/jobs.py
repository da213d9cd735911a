"""Background jobs: the chat surfaces ack at once and the work runs here.

A job is a kind and a JSON payload, so any engine can carry it: this in-process one (the embedded
default) or the distributed one on PostgreSQL (`bot.runtime.procrastinate_jobs`). Jobs with the same key
(a thread) run one after another; a dedupe key makes a second submission, or a redelivery, a no-op. A
job whose worker died while running it is delivered again, to its kind's `interrupted` hook — by the
distributed engine's other workers, or by the embedded engine itself when it starts again (`recover`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bot.observability import ERRORS, JOB_DURATION, JOB_WAIT, JOBS, bind, tracer
from bot.runtime.job_ledger import JobLedger, LedgerEntry, left_behind

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Interruption:
    """An earlier delivery of a job started on `worker` at `started_at` and never finished (the worker died)."""

    kind: str
    key: str
    started_at: datetime
    worker: str


# True when the hook dealt with the job; False runs the job's handler again (nothing of it had started).
OnInterrupted = Callable[[dict[str, Any], Interruption], Awaitable[bool]]


def worker_name() -> str:
    """A name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Jobs(Protocol):
    """What the core needs from a job engine."""

    name: str   # this process as a worker (schedule slots are claimed under it)

    def handle(self, kind: str, handler: Handler) -> None:
        """Run `handler(payload)` for jobs of `kind`."""

    def on_interrupted(self, kind: str, hook: OnInterrupted) -> None:
        """A job of `kind` delivered again after its worker died goes to `hook(payload, interruption)` first:
        it marks what was cut short and tells the user; when it returns False, the handler runs again."""

    async def submit(self, kind: str, payload: dict[str, Any], *, key: str, dedupe: str | None = None) -> bool:
        """Queue a job; jobs with the same `key` never run at the same time and keep their order. A job
        whose `dedupe` key was submitted before is dropped: False."""

    async def cancel(self, key: str) -> bool:
        """Stop the job running now for `key`; False when there is none."""

    async def drain(self) -> None:
        """Wait until every job queued so far has run (tests, shutdown)."""

    async def problems(self) -> list[str]:
        """What keeps the engine from taking jobs (for /readyz); empty when it can."""


async def run_job(kind: str, key: str, handler: Handler, payload: dict[str, Any], *, waited: float) -> bool:
    """Run one job as every engine does: ids bound to its logs, a span, metrics; a failure is logged, never
    raised (it must not take the worker down). True when it finished without an error."""
    JOB_WAIT.labels(kind).observe(max(waited, 0.0))
    thread = payload.get("thread") or payload.get("where") or {}
    thread_id = ":".join(str(thread[k]) for k in ("platform", "team", "channel", "thread")) if thread else None
    started = time.perf_counter()
    with bind(job_kind=kind, job_key=key, thread_id=thread_id), \
            tracer.start_as_current_span(f"job {kind}", attributes={"codemem.job.key": key}):
        try:
            await handler(payload)
            JOBS.labels(kind, "done").inc()
            return True
        except Exception:
            log.exception("%s job for %s failed", kind, key)
            JOBS.labels(kind, "failed").inc()
            ERRORS.labels(f"job:{kind}").inc()
            return False
        finally:
            JOB_DURATION.labels(kind).observe(time.perf_counter() - started)


def recovering(handler: Handler, hook: OnInterrupted, interruption: Interruption) -> Handler:
    """The handler of a job delivered again after an interruption: the hook first; the handler too when the
    hook says nothing of the job had started."""
    async def recover(payload: dict[str, Any]) -> None:
        if not await hook(payload, interruption):
            await handler(payload)
    return recover


class InProcessJobs:
    """The embedded engine: jobs are asyncio tasks of this process, serialized per key.

    Jobs live in memory; once `recover` has given the engine a ledger, each step of each job (queued,
    started, finished) is also journaled on disk (`bot.runtime.job_ledger`), so that after a crash the next
    start delivers again what was left: queued jobs run, jobs cut short go to their kind's `on_interrupted`
    hook first.
    """

    def __init__(self) -> None:
        self.name = worker_name()
        self._handlers: dict[str, Handler] = {}
        self._interrupted: dict[str, OnInterrupted] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._running: dict[str, asyncio.Task] = {}
        self._dedupe: set[str] = set()
        self._ledger: JobLedger | None = None

    def handle(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def on_interrupted(self, kind: str, hook: OnInterrupted) -> None:
        self._interrupted[kind] = hook

    async def recover(self, root: Path) -> int:
        """Keep this process's jobs in a journal under `root` from now on, and deliver again the jobs that
        processes which died (their lease on their journal ended) left there: a queued job runs; a job cut short
        mid-run goes to its kind's interrupted hook first, as the distributed engine does. Returns how many
        jobs were delivered again. Call it at start, after the surfaces the hooks post to exist."""
        if self._ledger is None:
            self._ledger = JobLedger(root, self.name)
        delivered = 0
        for worker, entries in left_behind(root):
            for entry in entries:
                cut_short = entry.interrupted(worker)
                interruption = Interruption(entry.kind, entry.key, cut_short[1], cut_short[0]) if cut_short else None
                if entry.kind not in self._handlers:
                    log.warning("a %s job left by %s has no handler here and is dropped", entry.kind, worker)
                    continue
                self._enqueue(entry.kind, entry.payload, entry.key, interruption)
                delivered += 1
            if entries:
                log.warning("%d jobs left by %s, which stopped, are delivered again", len(entries), worker)
        return delivered

    async def submit(self, kind: str, payload: dict[str, Any], *, key: str, dedupe: str | None = None) -> bool:
        if dedupe is not None:
            if dedupe in self._dedupe:
                JOBS.labels(kind, "duplicate").inc()
                return False
            self._dedupe.add(dedupe)
        self._enqueue(kind, payload, key)
        return True

    def _enqueue(self, kind: str, payload: dict[str, Any], key: str, interruption: Interruption | None = None) -> None:
        handler = self._handlers[kind]
        hook = self._interrupted.get(kind)
        if interruption is not None and hook is not None:
            JOBS.labels(kind, "interrupted").inc()
            log.warning("a %s job for %s was interrupted on %s: recovering it", kind, key, interruption.worker)
            handler = recovering(handler, hook, interruption)
        lock = self._locks.setdefault(key, asyncio.Lock())
        ledger = self._ledger
        cut_short = (interruption.worker, interruption.started_at.isoformat()) if interruption else None
        entry_id = ledger.queued(LedgerEntry(kind, key, payload, cut_short=cut_short)) if ledger is not None else None
        submitted = time.monotonic()

        async def run() -> None:
            async with lock:
                self._running[key] = asyncio.current_task()
                if entry_id is not None:
                    ledger.started(entry_id)
                try:
                    await run_job(kind, key, handler, payload, waited=time.monotonic() - submitted)
                finally:
                    self._running.pop(key, None)
                    if entry_id is not None:
                        ledger.finished(entry_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self, key: str) -> bool:
        task = self._running.get(key)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def problems(self) -> list[str]:
        return []
