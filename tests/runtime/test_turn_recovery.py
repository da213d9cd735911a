"""An agent turn left in the embedded engine's ledger by a dead process, delivered again by `recover`: what
the hook does depends on what the turn had saved (the real graph, the replay model, the SQLite checkpoints).
A turn that reached its question is asked again (the crash may have come before the post), not resumed with
its own request as the answer; a reply cut short before anything was saved answers the question."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from bot.app import open_codemem
from bot.core.conversations import TURN_JOB
from bot.core.views import Answer, Question
from bot.runtime.job_ledger import LedgerEntry
from bot.settings import Settings
from integrations.emulator.server import EmulatorServer
from tests.agent.conftest import ALICE, THREAD, RecordingSurface
from tests.e2e.harness import REPO

TURNS = [
    {"tool_calls": [{"name": "ask_user", "args": {"question": "Shall I go ahead?", "choices": ["Yes", "No"]}}]},
    {"content": "Done as you said."},
]


@pytest.fixture
def emulator():
    with EmulatorServer() as server:
        yield server


def leave_behind(root: Path, text: str) -> None:
    """What a process that began the turn for `text` now, then died, leaves in the ledger (a real process,
    gone before this returns: its lease ended with it)."""
    payload = {"thread": asdict(THREAD), "user": asdict(ALICE), "text": text}
    script = ("import json, sys; from pathlib import Path; from bot.runtime.job_ledger import JobLedger, LedgerEntry; "
              "journal = JobLedger(Path(sys.argv[1]), 'dead'); "
              "journal.started(journal.queued(LedgerEntry(**json.loads(sys.argv[2]))))")
    entry = LedgerEntry(TURN_JOB, THREAD.thread_id, payload)
    subprocess.run([sys.executable, "-c", script, str(root), json.dumps(asdict(entry))], cwd=REPO, check=True)


async def test_a_turn_cut_after_its_question_asks_again_and_a_cut_reply_answers_it(tmp_path, emulator) -> None:
    replay = tmp_path / "turns.yaml"
    replay.write_text(yaml.safe_dump({"turns": TURNS}))
    settings = Settings(model=f"replay:{replay}", data_dir=tmp_path / "data", emulator_url=emulator.url)
    ledger = tmp_path / "jobs"
    async with open_codemem(settings) as codemem:
        surface = RecordingSurface()
        codemem.surfaces.attach("slack", surface)
        leave_behind(ledger, "do the thing")   # its job began; it then saved the question below, and died
        await codemem.conversations.on_message(surface, THREAD, ALICE, "do the thing")
        await codemem.jobs.drain()
        assert [q.text for q in surface.shown(Question)] == ["Shall I go ahead?"]

        # Killed after the question was saved, before its job ended: asked again, the graph not advanced.
        assert await codemem.jobs.recover(ledger) == 1
        await codemem.jobs.drain()
        assert [q.text for q in surface.shown(Question)] == ["Shall I go ahead?"] * 2
        assert surface.shown(Answer) == []

        # Killed as the reply began, before anything of it was saved: the reply answers the question.
        leave_behind(ledger, "Yes")
        assert await codemem.jobs.recover(ledger) == 1
        await codemem.jobs.drain()
        assert [a.text for a in surface.shown(Answer)] == ["Done as you said."]
