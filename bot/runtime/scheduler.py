"""The in-process scheduler: a thin loop that claims due schedule slots in the store and runs them.

Which slots are due, and who runs each one, is decided by ``ScheduleStore.claim_due`` in the database,
so several processes can run this loop against one database and every slot still runs exactly once.
A distributed job engine can later replace this loop and keep those store calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.runtime.skill_runner import RunOutcome, SkillRunner
from skills_db.errors import SkillStoreError
from skills_db.models import Schedule
from skills_db.params import ArgumentError
from skills_db.schedules import DueRun
from skills_db.store import SkillStore
from skills_db.timestamps import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledResult:
    """One slot handled: the run's outcome (None when it could not start, see ``error``) and the schedule after it."""

    due: DueRun
    outcome: RunOutcome | None
    error: str | None
    schedule: Schedule | None
    paused_now: bool

    @property
    def succeeded(self) -> bool:
        """True when the slot's run succeeded."""
        return self.outcome is not None and self.outcome.succeeded


OnResult = Callable[[ScheduledResult], Awaitable[None]]


class Scheduler:
    """Polls for due slots every ``poll_seconds`` and runs them; ``on_result`` posts results and alerts."""

    def __init__(
        self,
        store: SkillStore,
        runner: SkillRunner,
        *,
        on_result: OnResult | None = None,
        poll_seconds: float = 15.0,
        clock: Callable[[], datetime] = utc_now,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.on_result = on_result
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> list[ScheduledResult]:
        """Claim what is due now and run it, the slots side by side; their results."""
        due = await asyncio.to_thread(self.store.schedules.claim_due, self.worker_id, self._clock())
        return list(await asyncio.gather(*(self._run_slot(slot) for slot in due)))

    def start(self) -> asyncio.Task[None]:
        """Run the loop in the background until ``stop``."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._loop())
        return self._task

    async def stop(self) -> None:
        """Stop polling and wait for the slots being run to finish."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:  # a database hiccup must not end the schedules; the next poll tries again
                log.exception("scheduler tick failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    async def _run_slot(self, due: DueRun) -> ScheduledResult:
        outcome: RunOutcome | None = None
        error: str | None = None
        try:
            prepared = await asyncio.to_thread(self.runner.prepare_scheduled, due)
            outcome = await self.runner.start(prepared)
        except (SkillStoreError, ArgumentError) as problem:  # e.g. a new version no longer takes the arguments
            error = f"the scheduled run of '{due.skill.name}' could not start: {problem}"
        except Exception as problem:  # never lose the slot's bookkeeping
            log.exception("scheduled run of skill %s failed to run", due.skill.id)
            error = f"the scheduled run of '{due.skill.name}' crashed: {type(problem).__name__}: {problem}"
        succeeded = outcome is not None and outcome.succeeded
        policy = self.store.run_policy(due.skill)
        schedule: Schedule | None = None
        paused_now = False
        try:
            finished = await asyncio.to_thread(
                self.store.schedules.finish_slot,
                due.slot_id,
                outcome.run.id if outcome is not None else None,
                succeeded,
                policy.pause_after,
            )
            schedule, paused_now = finished.schedule, finished.paused_now
        except SkillStoreError as problem:  # unscheduled or deleted while it ran
            log.info("slot %s finished without its schedule: %s", due.slot_id, problem)
        result = ScheduledResult(due, outcome, error, schedule, paused_now)
        if self.on_result is not None:
            try:
                await self.on_result(result)
            except Exception:
                log.exception("posting the result of slot %s failed", due.slot_id)
        return result
