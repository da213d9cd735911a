"""The scheduler loop on a controllable clock: scheduled runs, pausing after failures, one run per slot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.runtime.scheduler import ScheduledResult, Scheduler
from bot.runtime.skill_runner import SkillRunner
from skills_db import RunPolicy, SkillStore
from tests.skills_db.conftest import FakeClock

from .conftest import ALICE, Ledger

CODE = "async def run(source: str = 'abc') -> int:\n    return await fetch_count(source)\n"


def scheduled(store: SkillStore, cron: str = "0 10 * * *", **arguments: str) -> int:
    skill = store.create_draft(ALICE, "counter", "", CODE, ["fetch_count"])
    store.approve(skill.id, ALICE, 1)
    store.schedules.set(skill.id, ALICE, cron, "UTC", arguments, notify={"channel": "C1"})
    return skill.id


async def test_a_due_slot_runs_once_as_the_owner(store: SkillStore, runner: SkillRunner, clock: FakeClock, ledger: Ledger) -> None:
    skill_id = scheduled(store, source="hello")
    posted: list[ScheduledResult] = []

    async def post(result: ScheduledResult) -> None:
        posted.append(result)

    scheduler = Scheduler(store, runner, on_result=post, clock=clock)
    assert await scheduler.tick() == []  # 09:00: not due
    clock.now = datetime(2026, 11, 21, 10, 0, 3, tzinfo=UTC)

    [result] = await scheduler.tick()

    assert result.succeeded and result.outcome.run.result == 5
    run = result.outcome.run
    assert (run.trigger, run.triggered_by, run.parameters) == ("schedule", f"schedule:{result.due.schedule.id}", {"source": "hello"})
    assert result.schedule.notify == {"channel": "C1"}
    assert posted == [result]
    assert await scheduler.tick() == []
    [slot] = store.schedules.slots(result.due.schedule.id)
    assert (slot.run_id, slot.outcome) == (run.id, "succeeded")
    assert [r.id for r in store.history(skill_id, ALICE)] == [run.id]


async def test_failures_in_a_row_pause_the_schedule_and_say_so(
    store: SkillStore, runner: SkillRunner, clock: FakeClock, ledger: Ledger
) -> None:
    skill_id = scheduled(store, cron="0 * * * *")
    store.set_run_policy(skill_id, ALICE, RunPolicy(max_attempts=1, pause_after=2))
    ledger.fail("fetch_count", 10, "reading failed: Microsoft Graph answered 401; ask the user to run /connect microsoft")
    scheduler = Scheduler(store, runner, clock=clock)
    results = []
    for hour in (10, 11, 12):
        clock.now = datetime(2026, 11, 21, hour, 0, 1, tzinfo=UTC)
        results += await scheduler.tick()

    assert [(r.succeeded, r.paused_now) for r in results] == [(False, False), (False, True)]
    assert "401" in results[-1].outcome.failure
    assert results[-1].schedule.paused_reason == "paused after 2 failed runs in a row"


async def test_arguments_a_new_version_no_longer_takes_are_reported(
    store: SkillStore, runner: SkillRunner, clock: FakeClock
) -> None:
    skill_id = scheduled(store, source="hello")
    store.add_version(skill_id, ALICE, "async def run() -> int:\n    return 1\n", [])
    store.approve(skill_id, ALICE, 2)
    clock.now = datetime(2026, 11, 21, 10, 0, 1, tzinfo=UTC)
    [result] = await Scheduler(store, runner, clock=clock).tick()
    assert result.outcome is None
    assert "could not start: unknown parameter 'source'" in result.error
    assert result.schedule.consecutive_failures == 1


async def test_two_schedulers_share_the_work_without_doubles(
    store: SkillStore, runner: SkillRunner, clock: FakeClock, ledger: Ledger
) -> None:
    scheduled(store, cron="*/10 * * * *")
    first, second = Scheduler(store, runner, clock=clock), Scheduler(store, runner, clock=clock)
    results = []
    for minute in (0, 10, 20):
        clock.now = datetime(2026, 11, 21, 10, minute, 1, tzinfo=UTC)
        batches = await asyncio.gather(first.tick(), second.tick())
        results += [r for batch in batches for r in batch]
    assert sorted(r.due.slot_at.minute for r in results) == [0, 10, 20]
    assert len(ledger.calls) == 3


async def test_the_background_loop_runs_until_stopped(store: SkillStore, runner: SkillRunner, clock: FakeClock, ledger: Ledger) -> None:
    scheduled(store)
    clock.now = datetime(2026, 11, 21, 10, 0, 1, tzinfo=UTC)
    done = asyncio.Event()

    async def post(result: ScheduledResult) -> None:
        done.set()

    scheduler = Scheduler(store, runner, on_result=post, clock=clock, poll_seconds=0.05)
    scheduler.start()
    await asyncio.wait_for(done.wait(), 60)
    await scheduler.stop()
    assert len(ledger.calls) == 1
