"""Background jobs: the chat surfaces ack at once and the work runs here.

A job is a kind and a JSON payload, so any engine can carry it: this in-process one (the embedded
default) or the distributed one on PostgreSQL (`bot.runtime.procrastinate_jobs`). Jobs with the same key
(a thread) run one after another; a dedupe key makes a second submission, or a redelivery, a no-op. A
job whose worker died while running it is delivered again, to its kind's `interrupted` hook.
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
from typing import Any, Protocol

from bot.observability import ERRORS, JOB_DURATION, JOB_WAIT, JOBS, bind, tracer

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


class InProcessJobs:
    """The embedded engine: jobs are asyncio tasks of this process, serialized per key.

    Jobs live in memory, so a crash loses the queued ones and none is ever delivered again: the
    `on_interrupted` hooks are only used by the distributed engine.
    """

    def __init__(self) -> None:
        self.name = worker_name()
        self._handlers: dict[str, Handler] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._running: dict[str, asyncio.Task] = {}
        self._dedupe: set[str] = set()

    def handle(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def on_interrupted(self, kind: str, hook: OnInterrupted) -> None:
        """Kept for the interface: in-process jobs die with the process and are never delivered again."""

    async def submit(self, kind: str, payload: dict[str, Any], *, key: str, dedupe: str | None = None) -> bool:
        handler = self._handlers[kind]
        if dedupe is not None:
            if dedupe in self._dedupe:
                JOBS.labels(kind, "duplicate").inc()
                return False
            self._dedupe.add(dedupe)
        lock = self._locks.setdefault(key, asyncio.Lock())
        submitted = time.monotonic()

        async def run() -> None:
            async with lock:
                self._running[key] = asyncio.current_task()
                try:
                    await run_job(kind, key, handler, payload, waited=time.monotonic() - submitted)
                finally:
                    self._running.pop(key, None)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

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
