"""The case-study skill (Outlook attachments to OneDrive) through the runner, against the workspace emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import yaml

from bot import demo
from bot.agent.skill_code import skill_source
from bot.runtime.bridge import ToolBridge
from bot.runtime.skill_runner import PreparedRun, SkillRunner
from bot.workspace import DemoWorkspace
from integrations.emulator import EmulatorServer, build_demo_workspace
from integrations.registry import default_registry
from skills_db import SkillStore
from tests.integrations.conftest import Inspector

from .conftest import ALICE

SCENARIO = demo.SCENARIO
TOOLS = ["outlook_list_messages", "outlook_list_attachments", "outlook_get_attachment", "onedrive_upload_file"]


def case_study_code() -> str:
    """The `run` the replayed model wrote in the case study (its execute_code block, trial calls dropped)."""
    turns = yaml.safe_load(SCENARIO.read_text())["turns"]
    code = next(call["args"]["code"] for turn in turns for call in turn.get("tool_calls", []) if call["name"] == "execute_code")
    return skill_source(code)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(build_demo_workspace(datetime.now(UTC))) as server:
        yield server


async def test_preview_then_approved_run_of_the_case_study(store: SkillStore, emulator: EmulatorServer) -> None:
    inspector = Inspector(emulator)
    runner = SkillRunner(store, ToolBridge(default_registry(), DemoWorkspace(emulator.url)), timeout=120)
    skill = store.create_draft(ALICE, "save_email_attachments", "", case_study_code(), TOOLS)
    before = set(inspector.files())

    draft = PreparedRun(skill, store.get_version(skill.id, ALICE), {"days_back": 15}, ALICE, ALICE.user_ref, "command")
    preview = await runner.preview(draft)  # shown to the owner before they approve

    assert preview.error is None, preview.error
    uploads = [w for w in preview.writes if w["name"] == "onedrive_upload_file"]
    assert uploads and preview.result["saved"] == len(uploads)
    assert set(inspector.files()) == before  # nothing written

    store.approve(skill.id, ALICE, 1)
    outcome = await runner.start(runner.prepare(ALICE, name="save_email_attachments", arguments="days_back=15"))

    assert outcome.succeeded, outcome.run.error
    written = set(inspector.files()) - before
    assert len(written) == outcome.run.result["saved"] == len(uploads)
    assert all(path.startswith("Email Attachments/") for path in written)
    inspector.close()
