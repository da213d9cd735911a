"""Schedules on the job engine: the loop claims due slots in the database and queues each one as a job.

`ScheduleStore.claim_due` lets one loop win each (schedule, slot time), however many processes poll, so a
slot fires once; the `scheduled_run` job (dedupe key: the slot) then runs on any worker. Its result goes
to the schedule's notify target (a thread, a channel, or else the owner's direct messages); a failure is
an alert with Retry; a schedule paused by failures says so. A worker that dies mid-run leaves the job to
be delivered again: the run is marked interrupted and reported, and the slot counts as failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from bot.core.surface import Surfaces
from bot.core.views import Notice, SkillRunReport, ThreadRef
from bot.observability import bind
from bot.runtime.jobs import Interruption, Jobs
from bot.runtime.recovery import interrupted_report, mark_interrupted
from bot.runtime.scheduler import ScheduledResult, Scheduler
from bot.runtime.skill_runner import SkillRunner
from skills_db.errors import SkillStoreError
from skills_db.models import Owner, RunTrigger, Schedule
from skills_db.schedules import DueRun
from skills_db.store import SCHEDULE_TRIGGER_PREFIX, SkillStore
from skills_db.timestamps import utc_now

log = logging.getLogger(__name__)

SCHEDULED_JOB = "scheduled_run"


def notify_target(schedule: Schedule, owner: Owner) -> ThreadRef:
    """Where a schedule's results go: its `notify` (a ThreadRef as a dict, or just `{"channel": …}`), else
    the owner's direct messages (on Slack, posting to a user id opens the DM)."""
    notify = schedule.notify or {}
    return ThreadRef(notify.get("platform", owner.platform), notify.get("team", owner.team),
                     notify.get("channel", owner.user), notify.get("thread", ""))


class QueuedScheduler(Scheduler):
    """A `Scheduler` whose claimed slots run as `scheduled_run` jobs, reported through the surfaces."""

    def __init__(self, store: SkillStore, runner: SkillRunner, jobs: Jobs, surfaces: Surfaces, *,
                 poll_seconds: float = 15.0, clock: Callable[[], datetime] = utc_now,
                 worker_id: str | None = None) -> None:
        super().__init__(store, runner, on_result=self.report, poll_seconds=poll_seconds, clock=clock,
                         worker_id=worker_id)
        self.jobs = jobs
        self.surfaces = surfaces
        jobs.handle(SCHEDULED_JOB, self._run_job)
        jobs.on_interrupted(SCHEDULED_JOB, self._interrupted)

    async def tick(self) -> list[ScheduledResult]:
        """Claim what is due now and queue each slot as a job; the results come later, from the jobs (so: [])."""
        due = await asyncio.to_thread(self.store.schedules.claim_due, self.worker_id, self._clock())
        for slot in due:
            payload = {"slot_id": slot.slot_id, "slot_at": slot.slot_at.isoformat(), "missed": slot.missed,
                       "skill_id": slot.skill.id, "owner": asdict(slot.skill.owner)}
            await self.jobs.submit(SCHEDULED_JOB, payload, key=f"schedule:{slot.schedule.id}",
                                   dedupe=f"slot:{slot.slot_id}")
        return []

    async def report(self, result: ScheduledResult) -> None:
        """Post a slot's outcome to the schedule's target: the run's report (a failure offers Retry), why it
        could not start, and that the schedule is now paused."""
        schedule = result.schedule or result.due.schedule
        owner = result.due.skill.owner
        where = notify_target(schedule, owner)
        surface = self.surfaces.get(where.platform)
        name = result.due.skill.name
        with bind(schedule_id=schedule.id, run_id=result.outcome.run.id if result.outcome else None):
            if result.outcome is not None:
                run = result.outcome.run
                await surface.post(where, SkillRunReport(name, run.version, result.succeeded, run.result, run.logs,
                                                         result.outcome.failure, float(run.duration_ms or 0), run.id))
            else:
                await surface.post(where, Notice(f"Scheduled run: {result.error}", error=True))
            if result.paused_now:
                await surface.post(where, _paused(name, schedule))

    async def _due(self, payload: dict[str, Any]) -> DueRun | None:
        owner = Owner(**payload["owner"])
        try:
            skill = await asyncio.to_thread(self.store.get, payload["skill_id"], owner)
            schedule = await asyncio.to_thread(self.store.schedules.get, payload["skill_id"], owner)
        except SkillStoreError as problem:
            log.info("slot %s has no skill any more: %s", payload["slot_id"], problem)
            return None
        if schedule is None:
            log.info("slot %s: the skill was unscheduled before it ran", payload["slot_id"])
            return None
        return DueRun(payload["slot_id"], datetime.fromisoformat(payload["slot_at"]), payload["missed"],
                      schedule, skill)

    async def _run_job(self, payload: dict[str, Any]) -> None:
        due = await self._due(payload)
        if due is not None:
            with bind(schedule_id=due.schedule.id, slot_id=due.slot_id):
                await self._run_slot(due)

    async def _interrupted(self, payload: dict[str, Any], interruption: Interruption) -> bool:
        due = await self._due(payload)
        if due is None:
            return True
        runs = await asyncio.to_thread(mark_interrupted, self.store, due.skill.id,
                                       f"{SCHEDULE_TRIGGER_PREFIX}{due.schedule.id}", interruption,
                                       (RunTrigger.SCHEDULE.value,))
        if not runs:
            return False   # it died before the run began: run the slot now
        policy = self.store.run_policy(due.skill)
        try:
            finished = await asyncio.to_thread(self.store.schedules.finish_slot, due.slot_id, runs[-1].id, False,
                                               policy.pause_after)
            schedule, paused_now = finished.schedule, finished.paused_now
        except SkillStoreError:
            schedule, paused_now = None, False
        where = notify_target(schedule or due.schedule, due.skill.owner)
        surface = self.surfaces.get(where.platform)
        await surface.post(where, await asyncio.to_thread(interrupted_report, self.store, due.skill.owner, runs[-1]))
        if paused_now and schedule is not None:
            await surface.post(where, _paused(due.skill.name, schedule))
        return True


def _paused(name: str, schedule: Schedule) -> Notice:
    return Notice(f"The schedule of `{name}` is paused: {schedule.paused_reason}. Fix the cause, then resume it.",
                  error=True)
