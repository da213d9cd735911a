"""Retention: which finished runs are pruned. Runs are the only thing deleted without the owner asking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from skills_db.models import RunStatus, ScheduleSlot, SkillRun


@dataclass(frozen=True)
class RetentionPolicy:
    """Per skill, keep the newest ``keep_latest`` runs always, drop runs older than ``max_age``, and never keep
    more than ``max_runs``. Runs still running are never pruned. Claimed schedule slots older than
    ``max_age`` go too (they only matter for slots still to come).
    """

    max_age: timedelta = timedelta(days=90)
    keep_latest: int = 20
    max_runs: int = 1_000

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0):
            raise ValueError(f"RetentionPolicy.max_age must be positive, got {self.max_age}")
        if self.keep_latest < 0 or self.max_runs < 1 or self.keep_latest > self.max_runs:
            raise ValueError(
                f"RetentionPolicy needs 0 <= keep_latest <= max_runs and max_runs >= 1, "
                f"got keep_latest={self.keep_latest}, max_runs={self.max_runs}"
            )


def prune_runs(session: Session, policy: RetentionPolicy, now: datetime) -> int:
    """Delete (in ``session``, uncommitted) the runs ``policy`` does not keep; the number deleted."""
    cutoff = now - policy.max_age
    skill_ids = session.exec(select(SkillRun.skill_id).distinct()).all()
    doomed: list[int] = []
    for skill_id in skill_ids:
        rows = session.exec(
            select(SkillRun.id, SkillRun.started_at)
            .where(SkillRun.skill_id == skill_id, SkillRun.status != RunStatus.RUNNING.value)
            .order_by(col(SkillRun.started_at).desc(), col(SkillRun.id).desc())
        ).all()
        for rank, (run_id, started_at) in enumerate(rows):
            if rank >= policy.max_runs or (rank >= policy.keep_latest and started_at < cutoff):
                doomed.append(run_id)
    for start in range(0, len(doomed), 500):
        session.execute(delete(SkillRun).where(col(SkillRun.id).in_(doomed[start : start + 500])))
    session.execute(delete(ScheduleSlot).where(col(ScheduleSlot.slot_at) < cutoff))
    return len(doomed)
