"""An agent turn left in the embedded engine's ledger by a dead process, delivered again by `recover`: what
the hook does depends on what the turn had saved (the real graph, the replay model, the SQLite checkpoints).
A turn that reached its question is asked again (the crash may have come before the post), not resumed with
its own request as the answer; a reply cut short before anything was saved answers the question."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.app import open_codemem
from bot.core.conversations import TURN_JOB
from bot.core.views import Answer, Question
from bot.runtime.job_ledger import RUNNING, LedgerEntry
from bot.settings import Settings
from integrations.emulator.server import EmulatorServer
from tests.agent.conftest import ALICE, THREAD, RecordingSurface

TURNS = [
    {"tool_calls": [{"name": "ask_user", "args": {"question": "Shall I go ahead?", "choices": ["Yes", "No"]}}]},
    {"content": "Done as you said."},
]


@pytest.fixture
def emulator():
    with EmulatorServer() as server:
        yield server


def leave_behind(root: Path, text: str, started_at: datetime) -> None:
    """What a process killed while running the turn for `text` leaves in the ledger (its lock is free)."""
    (root / "dead").mkdir(parents=True)
    (root / "dead.lock").touch()
    payload = {"thread": asdict(THREAD), "user": asdict(ALICE), "text": text}
    entry = LedgerEntry(TURN_JOB, THREAD.thread_id, payload, RUNNING, started_at.isoformat())
    (root / "dead" / "entry.json").write_text(json.dumps(asdict(entry)))


async def test_a_turn_cut_after_its_question_asks_again_and_a_cut_reply_answers_it(tmp_path, emulator) -> None:
    replay = tmp_path / "turns.yaml"
    replay.write_text(yaml.safe_dump({"turns": TURNS}))
    settings = Settings(model=f"replay:{replay}", data_dir=tmp_path / "data", emulator_url=emulator.url)
    ledger = tmp_path / "jobs"
    async with open_codemem(settings) as codemem:
        surface = RecordingSurface()
        codemem.surfaces.attach("slack", surface)
        began = datetime.now(UTC)
        await codemem.conversations.on_message(surface, THREAD, ALICE, "do the thing")
        await codemem.jobs.drain()
        assert [q.text for q in surface.shown(Question)] == ["Shall I go ahead?"]

        # Killed after the question was saved, before its job ended: asked again, the graph not advanced.
        leave_behind(ledger, "do the thing", began)
        assert await codemem.jobs.recover(ledger) == 1
        await codemem.jobs.drain()
        assert [q.text for q in surface.shown(Question)] == ["Shall I go ahead?"] * 2
        assert surface.shown(Answer) == []

        # Killed as the reply began, before anything of it was saved: the reply answers the question.
        leave_behind(ledger, "Yes", datetime.now(UTC))
        assert await codemem.jobs.recover(ledger) == 1
        await codemem.jobs.drain()
        assert [a.text for a in surface.shown(Answer)] == ["Done as you said."]
