"""Background jobs, in process: the chat surfaces ack at once and the work runs here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class JobRunner:
    """Runs jobs as asyncio tasks; jobs with the same key (a thread) run one after another."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._running: dict[str, asyncio.Task] = {}

    def submit(self, key: str, job: Callable[[], Awaitable[None]]) -> asyncio.Task:
        """Start `job` in the background, after any earlier job with the same key."""
        lock = self._locks.setdefault(key, asyncio.Lock())

        async def run() -> None:
            async with lock:
                self._running[key] = asyncio.current_task()
                try:
                    await job()
                except Exception:   # a job's failure must never take the worker down
                    log.exception("job %s failed", key)
                finally:
                    self._running.pop(key, None)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self, key: str) -> bool:
        """Cancel the job running now for `key`; False when none is running."""
        task = self._running.get(key)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def drain(self) -> None:
        """Wait for every job started so far (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
