"""Schedules: a skill on a cron in a time zone, and the claim that makes each slot run exactly once.

What is due and who runs it is decided here, in the database, so any number of scheduler loops (threads,
processes, machines) can poll the same database: ``claim_due`` inserts one ``ScheduleSlot`` row per slot,
and the unique (schedule, slot time) constraint lets only one of them win. The loop that won runs the skill
and reports with ``finish_slot``. A later move to a distributed job engine keeps these two calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from skills_db.access import owned_by, owned_skill
from skills_db.cron import CronSpec
from skills_db.errors import InvalidSchedule, ScheduleNotFound, SkillNotRunnable, VersionNotFound
from skills_db.models import MissedRuns, Schedule, ScheduleSlot, ScheduleStatus, Skill, SkillStatus, SkillVersion
from skills_db.owner import Owner
from skills_db.params import SkillParameter, coerce_arguments
from skills_db.timestamps import utc_now

# A slot this late or later counts as missed (the process was down): the missed-run policy decides.
DEFAULT_GRACE = timedelta(minutes=5)
# How many missed slots are counted at most when catching up (a minutely cron down for a year).
MAX_SLOTS_COUNTED = 10_000


@dataclass(frozen=True)
class DueRun:
    """A slot this worker claimed: run ``skill`` (as its owner) for ``slot_at``, then call ``finish_slot``."""

    slot_id: int
    slot_at: datetime
    missed: int
    schedule: Schedule
    skill: Skill


@dataclass(frozen=True)
class SlotOutcome:
    """The schedule after a slot finished; ``paused_now`` when this failure paused it."""

    schedule: Schedule
    paused_now: bool


class ScheduleStore:
    """Schedules and slot claims (reached as ``SkillStore.schedules``)."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = utc_now, grace: timedelta = DEFAULT_GRACE
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._grace = grace

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    # -------------------------------------------------------------------------------------- the owner

    def set(
        self,
        skill_id: int,
        by: Owner,
        cron: str,
        timezone: str,
        arguments: dict[str, str] | None = None,
        *,
        missed: str = MissedRuns.SKIP.value,
        notify: dict[str, Any] | None = None,
    ) -> Schedule:
        """Schedule the owner's active skill (replacing its schedule). ``arguments`` are ``key=value`` texts.

        Raises ``InvalidSchedule`` (cron, time zone, missed policy), ``ArgumentError`` (arguments that the
        current version does not take) or ``SkillNotRunnable`` (a draft, disabled or archived skill).
        """
        spec = CronSpec.parse(cron, timezone)
        policies = [member.value for member in MissedRuns]
        if missed not in policies:
            raise InvalidSchedule(f"missed runs are handled by one of {', '.join(policies)}, not {missed!r}")
        arguments = dict(arguments or {})
        now = self._clock()
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action="schedule")
            if skill.status != SkillStatus.ACTIVE:
                raise SkillNotRunnable(f"skill '{skill.name}' is {skill.status}; approve or activate it before scheduling it")
            version = session.exec(
                select(SkillVersion).where(SkillVersion.skill_id == skill_id, SkillVersion.version == skill.current_version)
            ).first()
            if version is None:
                raise VersionNotFound(f"skill '{skill.name}' has no current version")
            coerce_arguments([SkillParameter.from_dict(p) for p in version.parameters], arguments)
            schedule = session.exec(select(Schedule).where(Schedule.skill_id == skill_id)).first()
            if schedule is None:
                schedule = Schedule(skill_id=skill_id, cron=spec.expression, timezone=spec.timezone,
                                    next_run_at=now, created_at=now)
            schedule.cron, schedule.timezone = spec.expression, spec.timezone
            schedule.arguments = arguments
            schedule.missed = missed
            schedule.notify = notify
            schedule.status = ScheduleStatus.ACTIVE.value
            schedule.paused_reason = None
            schedule.consecutive_failures = 0
            schedule.next_run_at = spec.next_after(now)
            schedule.updated_at = now
            session.add(schedule)
            session.commit()
            return schedule

    def remove(self, skill_id: int, by: Owner) -> bool:
        """Unschedule the skill; False when it had no schedule."""
        with self._session() as session:
            owned_skill(session, skill_id, by, action="unschedule")
            schedule = session.exec(select(Schedule).where(Schedule.skill_id == skill_id)).first()
            if schedule is None:
                return False
            session.delete(schedule)
            session.commit()
            return True

    def get(self, skill_id: int, by: Owner) -> Schedule | None:
        """The skill's schedule, for its owner; None when it has none."""
        with self._session() as session:
            owned_skill(session, skill_id, by, action="see the schedule of")
            return session.exec(select(Schedule).where(Schedule.skill_id == skill_id)).first()

    def of_owner(self, owner: Owner) -> list[tuple[Skill, Schedule]]:
        """The owner's scheduled skills with their schedules, by next run."""
        with self._session() as session:
            rows = session.exec(
                select(Skill, Schedule)
                .join(Schedule, col(Schedule.skill_id) == col(Skill.id))
                .where(*owned_by(owner))
                .order_by(col(Schedule.next_run_at))
            ).all()
            return [(skill, schedule) for skill, schedule in rows]

    def pause(self, skill_id: int, by: Owner, reason: str = "paused by its owner") -> Schedule:
        """Stop firing until ``resume``."""
        return self._update(skill_id, by, "pause", lambda s, now: _pause(s, reason, now))

    def resume(self, skill_id: int, by: Owner) -> Schedule:
        """Fire again from the next slot after now (slots during the pause are not run); failures reset."""

        def resume(schedule: Schedule, now: datetime) -> None:
            schedule.status = ScheduleStatus.ACTIVE.value
            schedule.paused_reason = None
            schedule.consecutive_failures = 0
            schedule.next_run_at = CronSpec(schedule.cron, schedule.timezone).next_after(now)

        return self._update(skill_id, by, "resume", resume)

    def _update(self, skill_id: int, by: Owner, action: str, change: Callable[[Schedule, datetime], None]) -> Schedule:
        now = self._clock()
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action=f"{action} the schedule of")
            schedule = session.exec(select(Schedule).where(Schedule.skill_id == skill_id)).first()
            if schedule is None:
                raise ScheduleNotFound(f"skill '{skill.name}' has no schedule; add one with /skill schedule")
            change(schedule, now)
            schedule.updated_at = now
            session.add(schedule)
            session.commit()
            return schedule

    # -------------------------------------------------------------------------------------- the loops

    def claim_due(self, worker: str, now: datetime | None = None, limit: int = 100) -> list[DueRun]:
        """Claim the slots due at ``now`` (default: the clock) for ``worker``; each slot is claimed once, ever.

        A schedule whose due slots are older than the grace period missed them: with ``skip`` they are
        dropped (a slot still within the grace period runs); with ``run_once`` the latest runs, once, for
        all of them. Either way the schedule moves on to its first slot after ``now``.
        """
        now = now or self._clock()
        with self._session() as session:
            due_ids = session.exec(
                select(Schedule.id)
                .join(Skill, col(Skill.id) == col(Schedule.skill_id))
                .where(
                    Schedule.status == ScheduleStatus.ACTIVE.value,
                    col(Schedule.next_run_at) <= now,
                    Skill.status == SkillStatus.ACTIVE.value,
                )
                .order_by(col(Schedule.next_run_at))
                .limit(limit)
            ).all()
        claimed = []
        for schedule_id in due_ids:
            due = self._claim_one(schedule_id, worker, now)
            if due is not None:
                claimed.append(due)
        return claimed

    def _claim_one(self, schedule_id: int, worker: str, now: datetime) -> DueRun | None:
        with self._session() as session:
            # Another loop holding this row is claiming it: skip it rather than wait (PostgreSQL).
            schedule = session.exec(
                select(Schedule).where(Schedule.id == schedule_id).with_for_update(skip_locked=True)
            ).first()
            if schedule is None or schedule.status != ScheduleStatus.ACTIVE or schedule.next_run_at > now:
                return None  # claimed or changed by someone else since we looked
            skill = session.get(Skill, schedule.skill_id)
            if skill is None or skill.status != SkillStatus.ACTIVE:
                return None
            spec = CronSpec(schedule.cron, schedule.timezone)
            slots = [schedule.next_run_at]
            for slot in spec.slots_after(schedule.next_run_at):
                if slot > now or len(slots) >= MAX_SLOTS_COUNTED:
                    break
                slots.append(slot)
            latest = slots[-1]
            on_time = now - latest <= self._grace
            run_slot = latest if on_time or schedule.missed == MissedRuns.RUN_ONCE else None
            schedule.next_run_at = spec.next_after(now)
            schedule.updated_at = now
            session.add(schedule)
            slot_row = None
            if run_slot is not None:
                slot_row = ScheduleSlot(
                    schedule_id=schedule_id,
                    slot_at=run_slot,
                    missed=len(slots) - 1,
                    claimed_by=worker,
                    claimed_at=now,
                )
                schedule.last_slot_at = run_slot
                session.add(slot_row)
            try:
                session.commit()
            except IntegrityError:
                return None  # another loop claimed this very slot first
            if slot_row is None:
                return None
            assert slot_row.id is not None
            return DueRun(slot_row.id, run_slot, len(slots) - 1, schedule, skill)

    def finish_slot(self, slot_id: int, run_id: int | None, succeeded: bool, pause_after: int) -> SlotOutcome:
        """Record a claimed slot's outcome; the ``pause_after``-th failure in a row pauses the schedule."""
        now = self._clock()
        with self._session() as session:
            slot = session.get(ScheduleSlot, slot_id)
            if slot is None:
                raise ScheduleNotFound(f"no claimed slot {slot_id}; claim slots with claim_due")
            slot.run_id = run_id
            slot.outcome = "succeeded" if succeeded else "failed"
            session.add(slot)
            schedule = session.get(Schedule, slot.schedule_id, with_for_update=True)
            if schedule is None:
                session.commit()  # unscheduled while it ran: only the slot is left to record
                raise ScheduleNotFound(f"the schedule of slot {slot_id} was removed while the slot ran")
            paused_now = False
            if succeeded:
                schedule.consecutive_failures = 0
            else:
                schedule.consecutive_failures += 1
                if schedule.status == ScheduleStatus.ACTIVE and schedule.consecutive_failures >= pause_after:
                    _pause(schedule, f"paused after {schedule.consecutive_failures} failed runs in a row", now)
                    paused_now = True
            schedule.updated_at = now
            session.add(schedule)
            session.commit()
            return SlotOutcome(schedule, paused_now)

    def slots(self, schedule_id: int, limit: int = 50) -> list[ScheduleSlot]:
        """The schedule's claimed slots, newest first (for the runtime and tests)."""
        with self._session() as session:
            return list(
                session.exec(
                    select(ScheduleSlot)
                    .where(ScheduleSlot.schedule_id == schedule_id)
                    .order_by(col(ScheduleSlot.slot_at).desc())
                    .limit(limit)
                ).all()
            )


def _pause(schedule: Schedule, reason: str, now: datetime) -> None:
    schedule.status = ScheduleStatus.PAUSED.value
    schedule.paused_reason = reason
    schedule.updated_at = now


def describe(schedule: Schedule) -> str:
    """For people: ``At 09:00 on Monday (Europe/Paris); next run Mon 2026-11-23 09:00 CET``, or why it is paused."""
    spec = CronSpec(schedule.cron, schedule.timezone)
    if schedule.status == ScheduleStatus.PAUSED:
        return f"{spec.describe()}; paused: {schedule.paused_reason}"
    local = spec.local(schedule.next_run_at)
    return f"{spec.describe()}; next run {local:%a %Y-%m-%d %H:%M %Z}"
