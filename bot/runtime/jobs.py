"""Background jobs: the chat surfaces ack at once and the work runs here.

A job is a kind and a JSON payload, so any engine can carry it: this in-process one (the embedded
default) or a distributed one on a database-backed queue. Jobs with the same key (a thread) run one
after another; a dedupe key makes a redelivered job a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Jobs(Protocol):
    """What the core needs from a job engine."""

    def handle(self, kind: str, handler: Handler) -> None:
        """Run `handler(payload)` for jobs of `kind`."""

    async def submit(self, kind: str, payload: dict[str, Any], *, key: str) -> None:
        """Queue a job; jobs with the same `key` never run at the same time and keep their order."""

    def cancel(self, key: str) -> bool:
        """Stop the job running now for `key` (in this process); False when there is none."""

    async def drain(self) -> None:
        """Wait until every job queued so far has run (tests, shutdown)."""


class InProcessJobs:
    """The embedded engine: jobs are asyncio tasks of this process, serialized per key."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._running: dict[str, asyncio.Task] = {}

    def handle(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    async def submit(self, kind: str, payload: dict[str, Any], *, key: str) -> None:
        handler = self._handlers[kind]
        lock = self._locks.setdefault(key, asyncio.Lock())

        async def run() -> None:
            async with lock:
                self._running[key] = asyncio.current_task()
                try:
                    await handler(payload)
                except Exception:   # a job's failure must never take the worker down
                    log.exception("%s job for %s failed", kind, key)
                finally:
                    self._running.pop(key, None)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self, key: str) -> bool:
        task = self._running.get(key)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
