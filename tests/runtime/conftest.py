"""Runtime fixtures: a real store (SQLite and PostgreSQL), real sandbox sessions, and tools we can make fail."""

from __future__ import annotations

from collections.abc import Iterator
import pytest
from sqlalchemy import Engine

from bot.runtime.bridge import ToolBridge
from bot.runtime.skill_runner import SkillRunner
from integrations.blobs import BlobStore
from integrations.context import ToolContext, current_context
from integrations.declaration import tool
from integrations.errors import ToolError
from integrations.registry import Registry
from skills_db import Owner, SkillStore, init_db, make_engine
from tests.skills_db.conftest import FakeClock, _postgres_schema_url

ALICE = Owner("slack", "T123", "U456")
BOB = Owner("slack", "T123", "U789")


class Ledger:
    """What the test tools did: rows appended for real, and failures still to serve."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.failures: dict[str, list[ToolError]] = {}
        self.calls: list[str] = []

    def fail(self, name: str, times: int, message: str) -> None:
        self.failures[name] = [ToolError(message) for _ in range(times)]

    def maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        pending = self.failures.get(name)
        if pending:
            raise pending.pop()


LEDGER = Ledger()


@tool(provider="test", scopes=(), effect="read", retry_safe=True)
async def fetch_count(source: str) -> int:
    """Read how many items `source` has."""
    LEDGER.maybe_fail("fetch_count")
    return len(source)


@tool(provider="test", scopes=(), effect="write", retry_safe=False)
async def append_row(text: str) -> int:
    """Append one row (not safe to repeat); returns the number of rows."""
    LEDGER.maybe_fail("append_row")
    if not current_context().dry_run:
        LEDGER.rows.append(text)
    return len(LEDGER.rows)


@tool(provider="test", scopes=(), effect="write", retry_safe=True)
async def set_flag(name: str) -> bool:
    """Set a flag (safe to repeat)."""
    LEDGER.maybe_fail("set_flag")
    return True


class TestWorkspace:
    """Tool contexts without any account: the test tools need none."""

    def context_for(self, owner: Owner, *, dry_run: bool = False) -> ToolContext:
        return ToolContext(graph=None, blobs=BlobStore(), dry_run=dry_run)  # type: ignore[arg-type]


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    LEDGER.__init__()
    yield LEDGER
    LEDGER.__init__()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'codemem.db'}"
        engine = make_engine(url)
        init_db(engine)
        yield engine
        engine.dispose()
    else:
        for url in _postgres_schema_url():
            engine = make_engine(url)
            init_db(engine)
            yield engine
            engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(engine: Engine, clock: FakeClock) -> SkillStore:
    return SkillStore(engine, clock=clock)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def runner(store: SkillStore, sleeps: list[float]) -> SkillRunner:
    registry = Registry()
    for fn in (fetch_count, append_row, set_flag):
        registry.register_declared(fn)

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return SkillRunner(store, ToolBridge(registry, TestWorkspace()), timeout=30, sleep=record_sleep)  # type: ignore[arg-type]
