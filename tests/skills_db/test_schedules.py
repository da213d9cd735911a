"""Schedules: cron in a time zone, the next run, missed-run policies, pausing, and one run per slot across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skills_db import (
    ArgumentError,
    InvalidSchedule,
    Owner,
    ScheduleNotFound,
    SkillNotRunnable,
    SkillStore,
    describe,
)

from .conftest import FakeClock

CODE = "async def run(days_back: int = 15) -> dict:\n    return {}\n"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def skill_id(store: SkillStore, alice: Owner) -> int:
    skill = store.create_draft(alice, "bridge", "", CODE, [])
    store.approve(skill.id, alice, 1)
    return skill.id


def test_cron_with_a_time_zone_shows_the_next_run(store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock) -> None:
    # The clock starts on Saturday 2026-11-21 09:00 UTC.
    schedule = store.schedules.set(skill_id, alice, "0 9 * * MON", "Europe/Paris", {"days_back": "7"})

    assert schedule.next_run_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Paris (CET)
    assert describe(schedule) == "At 09:00 on Monday (Europe/Paris); next run Mon 2026-11-23 09:00 CET"
    assert store.schedules.get(skill_id, alice).arguments == {"days_back": "7"}
    assert [s.id for _, s in store.schedules.of_owner(alice)] == [schedule.id]


def test_summer_time_is_followed(store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Saturday before the spring change
    schedule = store.schedules.set(skill_id, alice, "0 9 * * *", "Europe/Paris")
    assert schedule.next_run_at == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST


@pytest.mark.parametrize(
    ("cron", "timezone", "message"),
    [
        ("0 9 * *", "UTC", "is not a cron expression; write five fields"),
        ("0 9 * * FUNDAY", "UTC", "is not a valid cron expression (Bad day-of-week)"),
        ("61 9 * * *", "UTC", "(Bad minute)"),
        ("0 9 * * MON", "Paris", "unknown time zone 'Paris'; use an IANA name"),
    ],
)
def test_bad_schedules_say_what_to_fix(
    store: SkillStore, alice: Owner, skill_id: int, cron: str, timezone: str, message: str
) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        store.schedules.set(skill_id, alice, cron, timezone)
    assert message in str(raised.value)


def test_arguments_and_state_are_checked_when_scheduling(store: SkillStore, alice: Owner, skill_id: int) -> None:
    with pytest.raises(ArgumentError, match="days_back must be a whole number"):
        store.schedules.set(skill_id, alice, "0 9 * * *", "UTC", {"days_back": "soon"})
    with pytest.raises(InvalidSchedule, match="skip, run_once"):
        store.schedules.set(skill_id, alice, "0 9 * * *", "UTC", missed="always")
    draft = store.create_draft(alice, "draft", "", CODE, [])
    with pytest.raises(SkillNotRunnable, match="approve or activate it before scheduling"):
        store.schedules.set(draft.id, alice, "0 9 * * *", "UTC")


def test_a_slot_is_claimed_once_and_the_schedule_moves_on(
    store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock
) -> None:
    schedule = store.schedules.set(skill_id, alice, "0 10 * * *", "UTC")
    assert store.schedules.claim_due("w1") == []  # 09:00: not yet

    clock.now = datetime(2026, 11, 21, 10, 0, 20, tzinfo=UTC)
    [due] = store.schedules.claim_due("w1")
    assert (due.slot_at, due.missed, due.skill.id) == (datetime(2026, 11, 21, 10, 0, tzinfo=UTC), 0, skill_id)
    assert store.schedules.claim_due("w2") == []  # same slot, another worker
    assert store.schedules.get(skill_id, alice).next_run_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    [slot] = store.schedules.slots(schedule.id)
    assert (slot.claimed_by, slot.outcome) == ("w1", None)


@pytest.mark.parametrize(("policy", "runs"), [("skip", 0), ("run_once", 1)])
def test_slots_missed_while_down_follow_the_policy(
    store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock, policy: str, runs: int
) -> None:
    store.schedules.set(skill_id, alice, "0 10 * * *", "UTC", missed=policy)
    clock.now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # down through four slots: 21st-24th at 10:00

    claimed = store.schedules.claim_due("w1")

    assert len(claimed) == runs
    if claimed:
        assert (claimed[0].slot_at, claimed[0].missed) == (datetime(2026, 11, 24, 10, 0, tzinfo=UTC), 3)
    assert store.schedules.get(skill_id, alice).next_run_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert store.schedules.claim_due("w1") == []


def test_a_slot_within_the_grace_period_runs_even_when_skipping(
    store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock
) -> None:
    store.schedules.set(skill_id, alice, "0 10 * * *", "UTC", missed="skip")
    clock.now = datetime(2026, 11, 21, 10, 4, tzinfo=UTC)
    assert len(store.schedules.claim_due("w1")) == 1


def test_failures_in_a_row_pause_the_schedule(store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock) -> None:
    store.schedules.set(skill_id, alice, "0 * * * *", "UTC")
    outcomes = []
    for hour, succeeded in [(10, False), (11, True), (12, False), (13, False)]:
        clock.now = datetime(2026, 11, 21, hour, 0, 5, tzinfo=UTC)
        [due] = store.schedules.claim_due("w1")
        outcomes.append(store.schedules.finish_slot(due.slot_id, None, succeeded, pause_after=2))
    assert [(o.schedule.consecutive_failures, o.paused_now) for o in outcomes] == [
        (1, False), (0, False), (1, False), (2, True)
    ]
    paused = store.schedules.get(skill_id, alice)
    assert (paused.status, paused.paused_reason) == ("paused", "paused after 2 failed runs in a row")
    assert describe(paused).endswith("paused: paused after 2 failed runs in a row")
    clock.now = datetime(2026, 11, 21, 14, 0, 5, tzinfo=UTC)
    assert store.schedules.claim_due("w1") == []

    clock.now = datetime(2026, 11, 21, 14, 30, tzinfo=UTC)
    resumed = store.schedules.resume(skill_id, alice)
    assert (resumed.status, resumed.consecutive_failures) == ("active", 0)
    assert resumed.next_run_at == datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def test_a_disabled_skill_does_not_fire(store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock) -> None:
    store.schedules.set(skill_id, alice, "0 10 * * *", "UTC")
    store.disable(skill_id, alice)
    clock.now = datetime(2026, 11, 21, 10, 0, 5, tzinfo=UTC)
    assert store.schedules.claim_due("w1") == []


def test_unschedule(store: SkillStore, alice: Owner, skill_id: int) -> None:
    store.schedules.set(skill_id, alice, "0 10 * * *", "UTC")
    assert store.schedules.remove(skill_id, alice) is True
    assert store.schedules.remove(skill_id, alice) is False
    assert store.schedules.get(skill_id, alice) is None
    with pytest.raises(ScheduleNotFound, match="has no schedule"):
        store.schedules.pause(skill_id, alice)


def test_threads_racing_for_due_slots_run_each_once(
    store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock
) -> None:
    ids = [skill_id]
    for index in range(5):
        skill = store.create_draft(alice, f"extra-{index}", "", CODE, [])
        store.approve(skill.id, alice, 1)
        ids.append(skill.id)
    for sid in ids:
        store.schedules.set(sid, alice, "0 10 * * *", "UTC")
    now = datetime(2026, 11, 21, 10, 0, 5, tzinfo=UTC)
    with ThreadPoolExecutor(max_workers=6) as pool:
        claims = list(pool.map(lambda w: store.schedules.claim_due(f"w{w}", now), range(12)))
    slots = [(due.schedule.id, due.slot_at) for batch in claims for due in batch]
    assert len(slots) == len(ids) == len(set(slots))


CLAIMER = """
import json, sys
from datetime import datetime
from skills_db import SkillStore, make_engine
engine = make_engine(sys.argv[1])
store = SkillStore(engine)
claimed = []
for now in sys.argv[3:]:
    claimed += [[d.schedule.id, d.slot_at.isoformat()] for d in store.schedules.claim_due(sys.argv[2], datetime.fromisoformat(now))]
print(json.dumps(claimed))
"""


def test_processes_racing_for_due_slots_run_each_once(
    store: SkillStore, database_url: str, alice: Owner, skill_id: int
) -> None:
    ids = [skill_id]
    for index in range(3):
        skill = store.create_draft(alice, f"extra-{index}", "", CODE, [])
        store.approve(skill.id, alice, 1)
        ids.append(skill.id)
    for sid in ids:
        store.schedules.set(sid, alice, "*/5 * * * *", "UTC")
    # Each process polls through the same six 5-minute slots, as restarted or parallel workers would.
    start = datetime(2026, 11, 21, 9, 5, 1, tzinfo=UTC)
    polls = [(start + timedelta(minutes=5 * step)).isoformat() for step in range(6)]
    processes = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, database_url, f"p{n}", *polls], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]
    claimed = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        claimed += [tuple(item) for item in json.loads(out)]
    # No slot ever runs twice. Processes polling at different simulated times may legitimately skip a slot
    # one of them already saw as missed (the skip policy), so the count is not fixed, but every schedule's
    # latest slot runs, and nothing outside the polled slots does.
    every = {(sid, (start - timedelta(seconds=1) + timedelta(minutes=5 * step)).isoformat())
             for sid in ids for step in range(6)}
    latest = {(sid, (start - timedelta(seconds=1) + timedelta(minutes=25)).isoformat()) for sid in ids}
    assert len(claimed) == len(set(claimed))
    assert latest <= set(claimed) <= every
