"""Engine creation and schema migrations (Alembic) for SQLite (the default) and PostgreSQL, from one URL."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).with_name("migrations")
# The revision whose schema databases made before migrations have (by the spine's ``create_all``).
BASELINE_REVISION = "0001"
# Any constant: PostgreSQL processes migrating the same database at once take turns on this lock.
MIGRATION_LOCK_KEY = 0x636F_6465_6D65_6D


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(
        f"cannot store a {type(value).__name__} as JSON; convert it to str, number, bool, list or dict first"
    )


def dumps_json(value: Any) -> str:
    """JSON encoding used for every JSON column: dates and datetimes become ISO 8601 strings."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def as_stored_json(value: Any) -> Any:
    """``value`` as it will read back from a JSON column (dates become strings, tuples lists)."""
    return json.loads(dumps_json(value))


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path.db``, ``sqlite://`` in memory, ``postgresql+psycopg://...``).

    The engine is safe to share between threads.

    SQLite gets WAL mode, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` transactions, so several
    threads (or processes) writing at once wait for each other instead of failing with "database is locked".
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, json_serializer=dumps_json, pool_pre_ping=True)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "json_serializer": dumps_json,
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    }
    if in_memory:
        # An in-memory database lives and dies with its connection: keep exactly one, lent to one thread
        # at a time, so every thread sees the same data (for tests and demos; files are for real use).
        options.update(poolclass=QueuePool, pool_size=1, max_overflow=0)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads, then writes, fails at once
        # with SQLITE_BUSY when another writer got in between, whatever the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def init_db(engine: Engine) -> None:
    """Create the schema, or upgrade it, to the newest migration; safe to call at every start, from many processes.

    SQLite and PostgreSQL go through the same Alembic migrations (shipped in ``skills_db/migrations``), in
    one transaction that holds a lock, so concurrent starts take turns. A database made before migrations
    existed is recognised and upgraded in place.
    """
    with engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE, i.e. the write lock
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config = migration_config(connection)
        if _made_before_migrations(connection):
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, "head")


def migration_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations, migrating ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _made_before_migrations(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return "skills" in tables and "alembic_version" not in tables
