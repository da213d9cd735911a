"""A skill's memory: a small key-value store (ids already processed, say) that its runs read and write.

Runs see it as ``memory_get(key, default=None)``, ``memory_set(key, value)`` and ``memory_delete(key)``;
the runner loads a snapshot before a run and saves the changes after it, even when the run failed, so a
rerun does not redo what was recorded as done. Values are JSON (numbers, text, lists, dicts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from skills_db.access import owned_skill
from skills_db.db import as_stored_json, dumps_json
from skills_db.errors import MemoryLimitExceeded
from skills_db.models import SkillMemoryEntry
from skills_db.owner import Owner
from skills_db.timestamps import utc_now

MAX_KEYS = 1_000
MAX_KEY_CHARS = 200
MAX_VALUE_BYTES = 64_000


def check_entry(key: Any, value: Any) -> None:
    """``MemoryLimitExceeded`` unless ``key`` is short text and ``value`` is JSON within the size limit."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise MemoryLimitExceeded(f"a memory key is text of 1-{MAX_KEY_CHARS} characters, got {key!r:.60}")
    try:
        size = len(dumps_json(value).encode("utf-8"))
    except (TypeError, ValueError) as error:
        raise MemoryLimitExceeded(f"memory value for {key!r} is not JSON: {error}") from None
    if size > MAX_VALUE_BYTES:
        raise MemoryLimitExceeded(
            f"memory value for {key!r} is {size:,} bytes; keep each value under {MAX_VALUE_BYTES:,} bytes "
            "(store ids, not documents)"
        )


class MemoryStore:
    """Skill memory (reached as ``SkillStore.memory``)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def snapshot(self, skill_id: int) -> dict[str, Any]:
        """Every key and value, for the runner (after it authorized the run)."""
        with self._session() as session:
            rows = session.exec(select(SkillMemoryEntry).where(SkillMemoryEntry.skill_id == skill_id)).all()
            return {row.key: row.value for row in rows}

    def apply(self, skill_id: int, changes: dict[str, Any], removed: Iterable[str] = ()) -> None:
        """Save a run's changes, for the runner: upsert ``changes``, delete ``removed``; all or nothing."""
        removed = list(removed)
        for key, value in changes.items():
            check_entry(key, value)
        if not changes and not removed:
            return
        now = self._clock()
        with self._session() as session:
            if removed:
                session.execute(
                    delete(SkillMemoryEntry).where(
                        col(SkillMemoryEntry.skill_id) == skill_id, col(SkillMemoryEntry.key).in_(removed)
                    )
                )
            if changes:
                insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
                statement = insert(SkillMemoryEntry).values(
                    [
                        {"skill_id": skill_id, "key": key, "value": as_stored_json(value), "updated_at": now}
                        for key, value in changes.items()
                    ]
                )
                statement = statement.on_conflict_do_update(
                    index_elements=["skill_id", "key"],
                    set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
                )
                session.execute(statement)
            count = session.exec(
                select(func.count()).select_from(SkillMemoryEntry).where(SkillMemoryEntry.skill_id == skill_id)
            ).one()
            if count > MAX_KEYS:
                session.rollback()
                raise MemoryLimitExceeded(
                    f"skill memory would hold {count:,} keys; the limit is {MAX_KEYS:,}: delete keys you no "
                    "longer need (memory_delete) or keep a list under one key"
                )
            session.commit()

    def items(self, skill_id: int, by: Owner) -> dict[str, Any]:
        """The memory, for its owner to look at."""
        with self._session() as session:
            owned_skill(session, skill_id, by, action="see the memory of")
        return self.snapshot(skill_id)

    def clear(self, skill_id: int, by: Owner, keys: Iterable[str] | None = None) -> int:
        """The owner forgets ``keys`` (default: everything); the number of keys removed."""
        with self._session() as session:
            owned_skill(session, skill_id, by, action="clear the memory of")
            query = delete(SkillMemoryEntry).where(col(SkillMemoryEntry.skill_id) == skill_id)
            if keys is not None:
                query = query.where(col(SkillMemoryEntry.key).in_(list(keys)))
            result = session.execute(query)
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

