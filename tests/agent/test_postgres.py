"""The scale-out store: a question waits in PostgreSQL checkpoints and survives a restart."""

from __future__ import annotations

import secrets

import pytest

from bot.app import open_codemem
from bot.core.views import Answer, Question, ThreadRef
from bot.settings import Settings
from skills_db.models import Owner
from tests.agent.conftest import RecordingSurface, call, say

POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("postgresql://root@127.0.0.1:5432/test", connect_timeout=2):
            return True
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not postgres_available(),
                                reason="PostgreSQL is not reachable at 127.0.0.1:5432 (database test, user root)")


async def test_a_question_waits_in_postgres_across_a_restart(tmp_path, scenario, emulator) -> None:
    replay = scenario([{"tool_calls": [call("ask_user", question="Which year?", choices=["2025", "2026"])]},
                       {"content": "Filed under 2026."}])
    settings = Settings(model=f"replay:{replay}", data_dir=tmp_path, database_url=POSTGRES_URL,
                        emulator_url=emulator.url)
    suffix = secrets.token_hex(4)
    thread, user = ThreadRef("slack", "T1", "C1", f"pg-{suffix}"), Owner("slack", "T1", f"U{suffix}")
    surface = RecordingSurface()
    async with open_codemem(settings) as codemem:
        await say(codemem, surface, "file my receipts", thread=thread, user=user)
        assert surface.shown(Question)[-1].choices == ["2025", "2026"]
    assert not (tmp_path / "checkpoints.db").exists(), "nothing was checkpointed in SQLite"
    async with open_codemem(settings) as codemem:
        await say(codemem, surface, "2026", thread=thread, user=user)
    assert surface.shown(Answer)[-1].text == "Filed under 2026."
