"""After a crash: skill runs a dead worker left "running" are marked interrupted and their owner is told.

A run is never repeated by itself after a crash (its writes may already have happened): the report
carries the run's id, so the user gets a Retry button. When a job died before its run began, nothing
happened yet and the job simply runs again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from bot.core.surface import Surfaces
from bot.core.views import SkillRunReport, ThreadRef
from bot.runtime.jobs import Interruption
from skills_db.errors import SkillStoreError
from skills_db.models import Owner, RunStatus, RunTrigger, SkillRun
from skills_db.store import SkillStore

log = logging.getLogger(__name__)

INTERRUPTED = ("interrupted: the worker running it stopped (a crash or a restart) before it finished. "
               "What it did before that is not undone; check, then Retry.")
# The database and the worker may disagree a little on the time.
CLOCK_SLACK = timedelta(seconds=5)


def mark_interrupted(store: SkillStore, skill_id: int, triggered_by: str, interruption: Interruption,
                     triggers: tuple[str, ...]) -> list[SkillRun]:
    """Finish as failed (interrupted) the runs of `skill_id` by `triggered_by` still "running" since the
    interrupted delivery began; those runs, oldest first."""
    since = interruption.started_at - CLOCK_SLACK
    left = [run for run in store.runs(skill_id, limit=50)
            if run.status == RunStatus.RUNNING and run.triggered_by == triggered_by
            and run.trigger in triggers and run.started_at >= since]
    marked = []
    for run in reversed(left):
        marked.append(store.finish_run(run.id, RunStatus.FAILED.value, logs=run.logs, error=INTERRUPTED))
        log.warning("run %s of skill %s was interrupted on %s", run.id, skill_id, interruption.worker)
    return marked


def interrupted_report(store: SkillStore, viewer: Owner, run: SkillRun) -> SkillRunReport:
    """The failed report of an interrupted run (with its id: the surface offers Retry)."""
    try:
        name = store.get(run.skill_id, viewer=viewer).name
    except SkillStoreError:
        name = f"skill {run.skill_id}"
    return SkillRunReport(name, run.version, False, None, run.logs, run.error, float(run.duration_ms or 0), run.id)


class SkillRunRecovery:
    """The `on_interrupted` hook of `skill_run` jobs (payload: where, user, skill_id, version, arguments)."""

    def __init__(self, store: SkillStore, surfaces: Surfaces) -> None:
        self.store = store
        self.surfaces = surfaces

    async def __call__(self, payload: dict[str, Any], interruption: Interruption) -> bool:
        where, user = ThreadRef(**payload["where"]), Owner(**payload["user"])
        runs = await asyncio.to_thread(mark_interrupted, self.store, payload["skill_id"], user.user_ref, interruption,
                                       (RunTrigger.COMMAND.value, RunTrigger.BUTTON.value))
        if not runs:
            return False
        report = await asyncio.to_thread(interrupted_report, self.store, user, runs[-1])
        await self.surfaces.get(where.platform).post(where, report)
        return True
