"""Engines from ``make_engine``: SQLite settings, sharing between threads, reopening a file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from skills_db import Owner, SkillNameTaken, SkillStore, init_db, make_engine

CODE = "async def run(days_back: int = 15) -> dict:\n    return {}\n"


def test_sqlite_file_gets_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'codemem.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    assert (tmp_path / "nested" / "dir" / "codemem.db").exists()
    engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    store = SkillStore(engine)
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO skill_runs (skill_id, version, triggered_by, trigger, parameters, status, logs,"
                " tool_calls, started_at) VALUES (999, 1, 'x', 'command', '{}', 'running', '', '[]',"
                " CURRENT_TIMESTAMP)"
            )
        )
    assert store.runs(999) == []


def test_a_skill_survives_reopening_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'codemem.db'}"
    owner = Owner("slack", "T1", "U1")
    first = make_engine(url)
    init_db(first)
    skill_id = SkillStore(first).create_draft(owner, "keeper", "", CODE, [], None).id
    first.dispose()

    second = make_engine(url)
    init_db(second)  # a no-op on an existing schema
    assert SkillStore(second).get(skill_id, owner).name == "keeper"
    second.dispose()


def test_an_in_memory_database_is_shared_by_threads() -> None:
    engine = make_engine("sqlite://")
    init_db(engine)
    store = SkillStore(engine)
    owner = Owner("slack", "T1", "U1")
    skill_id = store.create_draft(owner, "shared", "", CODE, [], None).id
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(store.mark_event_processed, ["a", "b", "a", "b"]))
        seen_elsewhere = pool.submit(store.get, skill_id, owner).result()
    assert sorted(results) == [False, False, True, True]
    assert seen_elsewhere.name == "shared"


def test_concurrent_redeliveries_are_accepted_exactly_once(engine: Engine) -> None:
    store = SkillStore(engine)
    keys = [f"Ev{index:03d}" for index in range(25)] * 6
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(store.mark_event_processed, keys))
    accepted = [key for key, first in zip(keys, results, strict=True) if first]
    assert sorted(accepted) == sorted(set(keys))


def test_concurrent_new_versions_get_consecutive_numbers(engine: Engine) -> None:
    store = SkillStore(engine)
    owner = Owner("slack", "T1", "U1")
    skill_id = store.create_draft(owner, "busy", "", CODE, [], None).id
    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(pool.map(lambda _: store.add_version(skill_id, owner, CODE, []).version, range(12)))
    assert sorted(versions) == list(range(2, 14))


def test_concurrent_drafts_with_one_name_leave_exactly_one_skill(engine: Engine) -> None:
    store = SkillStore(engine)
    owner = Owner("slack", "T1", "U1")

    def attempt(_: int) -> str:
        try:
            store.create_draft(owner, "same-name", "", CODE, [], None)
        except SkillNameTaken:
            return "taken"
        return "created"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count("created") == 1
    assert outcomes.count("taken") == 11
    assert [skill.name for skill in store.list_skills(owner)] == ["same-name"]
