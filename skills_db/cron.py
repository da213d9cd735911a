"""Cron expressions in a time zone (with cronsim): validation, the next slots, and a sentence for people.

cronsim was chosen over croniter because it follows cron's own rules across daylight-saving changes with
``zoneinfo`` (a 02:30 job runs once on both change days), validates strictly with short messages, is small
and pure Python, and is maintained (it runs the schedules of healthchecks.io).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from skills_db.errors import InvalidSchedule

CRON_HELP = 'five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * MON" (9:00 every Monday)'


@dataclass(frozen=True)
class CronSpec:
    """A validated cron expression and the IANA time zone its times are read in."""

    expression: str
    timezone: str

    @classmethod
    def parse(cls, expression: str, timezone: str) -> CronSpec:
        """The spec, or ``InvalidSchedule`` saying what to fix."""
        normalised = " ".join(expression.split())
        if len(normalised.split(" ")) != 5:
            raise InvalidSchedule(f"{expression!r} is not a cron expression; write {CRON_HELP}")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidSchedule(
                f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris, America/New_York or UTC"
            ) from None
        try:
            CronSim(normalised.upper(), datetime.now(zone))
        except CronSimError as error:
            raise InvalidSchedule(f"{expression!r} is not a valid cron expression ({error}); write {CRON_HELP}") from None
        return cls(normalised, timezone)

    @property
    def zone(self) -> ZoneInfo:
        """The time zone."""
        return ZoneInfo(self.timezone)

    def slots_after(self, moment: datetime) -> Iterator[datetime]:
        """The slots strictly after ``moment`` (aware), in UTC, forever."""
        for slot in CronSim(self.expression.upper(), moment.astimezone(self.zone)):
            yield slot.astimezone(UTC)

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment``, in UTC."""
        return next(self.slots_after(moment))

    def describe(self) -> str:
        """A sentence such as ``At 09:00 on Monday (Europe/Paris)``."""
        try:
            text = CronSim(self.expression.upper(), datetime.now(self.zone)).explain()
        except Exception:  # explain() does not cover every expression; the expression itself always reads
            text = f"cron {self.expression}"
        return f"{text} ({self.timezone})"

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the spec's time zone, for showing the next run."""
        return moment.astimezone(self.zone)
