"""Skills from the agent's side: recall instead of regeneration, and feedback that yields a new version."""

from __future__ import annotations

import httpx
import yaml

from bot import demo
from skills_db.models import Owner
from bot.core.views import Answer, Notice, ThreadRef
from tests.agent.conftest import ALICE, RecordingSurface, call, say, state_of, tool_outputs

CASE_STUDY = demo.SCENARIO


def case_study_code() -> str:
    turns = yaml.safe_load(CASE_STUDY.read_text())["turns"]
    return next(c["args"]["code"] for t in turns for c in t.get("tool_calls", []) if c["name"] == "execute_code")


async def saved_case_study(codemem, surface: RecordingSurface) -> None:
    """Alice runs the case study in the thread and saves the skill."""
    await say(codemem, surface, "save my attachments to OneDrive")
    await say(codemem, surface, "Yes, go ahead")
    offer = surface.shown(Answer)[-1].offer
    notice = await codemem.skills.save(ALICE, offer.button_value)
    assert "Saved skill `save_email_attachments` (version 1)" in notice.text


async def test_a_saved_skill_is_recalled_and_run_instead_of_written_again(start, scenario, emulator) -> None:
    surface = RecordingSurface()
    async with start(CASE_STUDY) as codemem:
        await saved_case_study(codemem, surface)
    recall = scenario([
        {"tool_calls": [call("search_functions", query="save email attachments to onedrive")]},
        {"tool_calls": [call("run_skill", name="skill:save_email_attachments", arguments={"days_back": 30})]},
        {"content": "I reran your saved skill for the last 30 days."},
    ], "recall.yaml")
    other_thread = ThreadRef("slack", "T1", "C1", "1700000999.000100")
    async with start(recall) as codemem:
        await say(codemem, surface, "do the attachments thing for the last month", thread=other_thread)
        state = await state_of(codemem, other_thread)
        store = codemem.skills.store
        skill, _ = store.find_active(ALICE, "save_email_attachments")
        runs = store.runs(skill.id)
    search = tool_outputs(state, "search_functions")[0]
    assert search.splitlines()[0].startswith("skill:save_email_attachments")
    assert "execute_code" not in [m.name for m in state["messages"] if m.type == "tool"], "no code was written"
    assert runs[0].trigger == "agent" and runs[0].status == "succeeded" and runs[0].parameters["days_back"] == 30
    answer = surface.shown(Answer)[-1]
    assert answer.text.startswith("I reran") and answer.data["saved"] == runs[0].result["saved"]
    drive = httpx.get(f"{emulator.url}/_emulator/drive", trust_env=False).json()
    saved = {f["path"] for f in drive["files"] if f["path"].startswith("Email Attachments/")}
    assert {row["file"] for row in runs[0].result["files"]} <= saved


async def test_feedback_yields_a_new_version_with_its_diff_and_the_old_one_is_kept(start, scenario) -> None:
    surface = RecordingSurface()
    improved = case_study_code().replace("days_back: int = 15", "days_back: int = 7")
    feedback = yaml.safe_load(CASE_STUDY.read_text())["turns"] + [
        {"tool_calls": [call("execute_code", code=improved),
                        call("propose_skill", name="save_email_attachments",
                             description="Save PDF and XLSX attachments of the last week")]},
        {"content": "Here is version 2, defaulting to one week."},
    ]
    replay = scenario(feedback, "feedback.yaml")
    async with start(replay) as codemem:
        await saved_case_study(codemem, surface)
        await say(codemem, surface, "make it default to one week instead")
        offer = surface.shown(Answer)[-1].offer
        assert offer.version == 2
        assert "-async def run(days_back: int = 15" in offer.diff and "+async def run(days_back: int = 7" in offer.diff
        store = codemem.skills.store
        skill, current = store.find_active(ALICE, "save_email_attachments")
        assert current.version == 1, "a new version waits for the owner's approval"
        mallory = Owner("slack", "T1", "U_MALLORY")
        refused = await codemem.skills.save(mallory, offer.button_value)
        assert refused.error
        saved = await codemem.skills.save(ALICE, offer.button_value)
        assert "(version 2)" in saved.text and "days_back: int = 7" in saved.text
        again = await codemem.skills.save(ALICE, offer.button_value)
        assert "already saved" in again.text
        assert store.get_version(skill.id, viewer=ALICE, version=1).code.count("days_back: int = 15") == 1
        assert store.find_active(ALICE, "save_email_attachments")[1].version == 2
    assert not [n for n in surface.shown(Notice) if n.error]


async def test_a_skill_that_fails_its_dry_run_is_not_offered(start, scenario) -> None:
    broken = "async def run(days_back: int = 15) -> dict:\n    return 1 / 0\n"
    replay = scenario([
        {"tool_calls": [call("propose_skill", name="broken_skill", description="never works", code=broken)]},
        {"content": "It failed its check."},
    ])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "save this as a skill")
        state = await state_of(codemem)
    assert "failed its dry run" in tool_outputs(state, "propose_skill")[0]
    assert surface.shown(Answer)[-1].offer is None
