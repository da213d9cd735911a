"""Alembic migrations: the same schema on SQLite and PostgreSQL, matching the models, and in-place upgrades."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlmodel import SQLModel

import skills_db
from skills_db import Owner, SkillStore, init_db, make_engine, schema_revision
from skills_db.connections import metadata as connections_metadata
from skills_db.db import migration_config

HEAD = "0005"
CODE = "async def run(days_back: int = 15) -> dict:\n    return {}\n"


def test_migrations_build_exactly_the_models_schema(engine) -> None:
    assert schema_revision(engine) == HEAD
    with engine.connect() as connection:
        every_table = MetaData()
        for table in [*SQLModel.metadata.tables.values(), *connections_metadata.tables.values()]:
            table.to_metadata(every_table)
        assert compare_metadata(MigrationContext.configure(connection), every_table) == []


def test_a_spine_database_is_upgraded_in_place_keeping_its_data(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(migration_config(connection), "0001")
        connection.execute(text(
            "INSERT INTO skills (owner_platform, owner_team, owner_user, name, description, status, current_version,"
            " created_at, updated_at) VALUES ('slack', 'T1', 'U1', 'old', '', 'active', 1, CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"))
        connection.execute(text(
            "INSERT INTO skill_versions (skill_id, version, code, parameters, tools, created_at)"
            f" VALUES (1, 1, '{CODE}', '[]', '[]', CURRENT_TIMESTAMP)"))
        connection.execute(text(
            "INSERT INTO skill_runs (skill_id, version, triggered_by, trigger, parameters, status, logs,"
            " tool_calls, started_at) VALUES (1, 1, 'slack:U1', 'command', '{}', 'succeeded', '', '[]',"
            " CURRENT_TIMESTAMP)"))
        connection.execute(text("DROP TABLE alembic_version"))  # as made by the spine's create_all

    init_db(engine)

    store = SkillStore(engine)
    owner = Owner("slack", "T1", "U1")
    skill = store.get(1, owner)
    assert (skill.name, skill.run_policy) == ("old", {})
    [run] = store.runs(1)
    assert (run.attempt, run.retry_of) == (1, None)
    assert schema_revision(engine) == HEAD
    engine.dispose()


def test_migrations_are_shipped_inside_the_package() -> None:
    folder = skills_db.db.MIGRATIONS
    assert folder.parent.name == "skills_db"
    assert sorted(path.name for path in (folder / "versions").glob("0*.py")) == [
        "0001_spine.py",
        "0002_procedural_memory.py",
        "0003_workspace_connections.py",
        "0004_mcp_servers.py",
        "0005_personal_tokens.py",
    ]


def test_init_db_from_several_threads_at_once(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    engine = make_engine(f"sqlite:///{tmp_path / 'racy.db'}")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: init_db(engine), range(4)))
    assert schema_revision(engine) == HEAD
    engine.dispose()
