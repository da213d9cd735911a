"""Skill memory (a small key-value store per skill) and the pruning of old runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from skills_db import MemoryLimitExceeded, Owner, RetentionPolicy, SkillStore

from .conftest import FakeClock

CODE = "async def run() -> dict:\n    return {}\n"


@pytest.fixture
def skill_id(store: SkillStore, alice: Owner) -> int:
    skill = store.create_draft(alice, "bridge", "", CODE, [])
    store.approve(skill.id, alice, 1)
    return skill.id


def test_memory_keeps_values_between_runs(store: SkillStore, alice: Owner, skill_id: int) -> None:
    store.memory.apply(skill_id, {"seen": ["m1", "m2"], "last": {"at": "2026-11-21"}})
    store.memory.apply(skill_id, {"seen": ["m1", "m2", "m3"], "count": 3}, removed=["last"])
    assert store.memory.snapshot(skill_id) == {"seen": ["m1", "m2", "m3"], "count": 3}
    assert store.memory.items(skill_id, alice) == {"seen": ["m1", "m2", "m3"], "count": 3}
    assert store.memory.clear(skill_id, alice, keys=["count"]) == 1
    assert store.memory.clear(skill_id, alice) == 1
    assert store.memory.snapshot(skill_id) == {}


def test_memory_is_per_skill(store: SkillStore, alice: Owner, skill_id: int) -> None:
    other = store.create_draft(alice, "other", "", CODE, [])
    store.memory.apply(skill_id, {"k": 1})
    assert store.memory.snapshot(other.id) == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"": 1}, "a memory key is text of 1-200 characters"),
        ({"k" * 201: 1}, "a memory key is text of 1-200 characters"),
        ({"big": "x" * 70_000}, "keep each value under 64,000 bytes"),
        ({"odd": {1, 2}.__class__}, "is not JSON"),
    ],
)
def test_memory_limits(store: SkillStore, skill_id: int, changes: dict, message: str) -> None:
    with pytest.raises(MemoryLimitExceeded, match=message):
        store.memory.apply(skill_id, changes)
    assert store.memory.snapshot(skill_id) == {}


def test_too_many_keys_changes_nothing(store: SkillStore, skill_id: int) -> None:
    store.memory.apply(skill_id, {f"id-{n}": n for n in range(990)})
    with pytest.raises(MemoryLimitExceeded, match="would hold 1,010 keys; the limit is 1,000"):
        store.memory.apply(skill_id, {f"new-{n}": n for n in range(20)})
    assert len(store.memory.snapshot(skill_id)) == 990


def test_old_runs_are_pruned_and_the_latest_kept(store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock) -> None:
    started = []
    for _ in range(6):
        run = store.start_run(skill_id, 1, alice.user_ref, "command", {})
        store.finish_run(run.id, "succeeded")
        started.append(run.id)
        clock.advance(days=30)
    running = store.start_run(skill_id, 1, alice.user_ref, "command", {})
    clock.now -= timedelta(days=1)
    # Finished runs are 179, 149, 119, 89, 59 and 29 days old, and one still runs.
    deleted = store.prune_runs(RetentionPolicy(max_age=timedelta(days=80), keep_latest=1, max_runs=100))

    assert deleted == 4
    assert {run.id for run in store.runs(skill_id, limit=50)} == {*started[4:], running.id}
    # keep_latest wins over max_age: the newest finished run stays however old it is.
    clock.advance(days=365)
    assert store.prune_runs(RetentionPolicy(max_age=timedelta(days=80), keep_latest=1, max_runs=100)) == 1
    assert {run.id for run in store.runs(skill_id, limit=50)} == {started[5], running.id}
    assert store.get(skill_id, alice).name == "bridge"  # nothing but runs is pruned


def test_max_runs_caps_even_recent_runs(store: SkillStore, alice: Owner, skill_id: int, clock: FakeClock) -> None:
    for _ in range(5):
        store.finish_run(store.start_run(skill_id, 1, alice.user_ref, "command", {}).id, "failed")
        clock.advance(minutes=1)
    assert store.prune_runs(RetentionPolicy(keep_latest=1, max_runs=2)) == 3
    assert len(store.runs(skill_id)) == 2


def test_retention_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="keep_latest <= max_runs"):
        RetentionPolicy(keep_latest=10, max_runs=5)
