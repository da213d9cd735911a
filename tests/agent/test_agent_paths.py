"""Every path of the agent, driven by replayed model turns through the real graph, sandbox and emulator."""

from __future__ import annotations

import asyncio

import httpx

from bot.core.views import Answer, Notice, Progress, Question
from skills_db.models import Owner
from tests.agent.conftest import ALICE, THREAD, RecordingSurface, call, say, state_of, tool_outputs

LOAD_MAIL = call("load_functions", names=["outlook_list_messages"])
UPLOAD_CODE = """
from datetime import datetime, timezone
item = await onedrive_ensure_folder("Reports")
print(item.path)
"""


async def test_a_code_error_is_shown_to_the_model_with_the_plan_and_then_fixed(start, scenario) -> None:
    replay = scenario([
        {"tool_calls": [call("write_todos", todos=[{"content": "Count recent mail", "status": "in_progress"}]),
                        LOAD_MAIL, call("execute_code", code="messages = await outlook_list_mesages(limit=5)")]},
        {"tool_calls": [call("execute_code", code="messages = await outlook_list_messages(limit=5)\n"
                                                  "submit({'count': len(messages)})")]},
        {"content": "There are 5 recent messages."},
    ])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "how many mails did I get?")
        first, second = tool_outputs(await state_of(codemem), "execute_code")
    assert "NameError" in first and "outlook_list_mesages" in first
    assert "Your current plan:" in first and "Count recent mail" in first
    assert "Error" not in second
    answer = surface.shown(Answer)[-1]
    assert answer.text == "There are 5 recent messages." and answer.data == {"count": 5}


async def test_writes_need_the_users_go_ahead_and_code_cannot_grant_itself(start, scenario, emulator) -> None:
    replay = scenario([
        {"tool_calls": [call("load_functions", names=["onedrive_ensure_folder"]),
                        call("execute_code", code=UPLOAD_CODE)]},
        {"tool_calls": [call("ask_user", question="May I create the folder Reports?", grant_writes=True)]},
        {"tool_calls": [call("execute_code", code=UPLOAD_CODE)]},
        {"content": "Created."},
    ])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "make a Reports folder in my OneDrive")
        question = surface.shown(Question)[-1]
        assert question.choices == ["Allow", "Deny"], "a grant question offers Allow and Deny"
        drive = httpx.get(f"{emulator.url}/_emulator/drive", trust_env=False).json()
        assert "Reports" not in [f["path"] for f in drive["folders"]], "nothing was written before the go-ahead"
        await say(codemem, surface, "Allow")
        denied, allowed = tool_outputs(await state_of(codemem), "execute_code")
    assert "needs their go-ahead" in denied
    assert "Reports" in allowed
    drive = httpx.get(f"{emulator.url}/_emulator/drive", trust_env=False).json()
    assert "Reports" in [f["path"] for f in drive["folders"]]


async def test_a_sandbox_that_dies_mid_task_is_restarted_and_the_model_is_told(start, scenario) -> None:
    replay = scenario([
        {"tool_calls": [call("execute_code", code="total = 41")]},
        {"tool_calls": [call("execute_code", code="import os\nos._exit(3)")]},
        {"tool_calls": [call("execute_code", code="total = 41\ntotal + 1")]},
        {"content": "42"},
    ])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "what is 41 + 1, the hard way?")
        _, died, again = tool_outputs(await state_of(codemem), "execute_code")
    assert "restarted" in died and "variables" in died
    assert "42" in again
    assert surface.shown(Answer)[-1].text == "42"


async def test_after_a_bot_restart_the_model_learns_its_variables_are_gone(start, scenario) -> None:
    replay = scenario([
        {"tool_calls": [call("execute_code", code="total = 41")]},
        {"tool_calls": [call("ask_user", question="Add one?", choices=["Yes", "No"])]},
        {"tool_calls": [call("execute_code", code="total + 1")]},
        {"content": "The variable was lost; I will recompute."},
    ])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "add one to 41")
    async with start(replay) as codemem:   # a new process: the thread resumes from its checkpoint
        await say(codemem, surface, "Yes")
        outputs = tool_outputs(await state_of(codemem), "execute_code")
    assert "started afresh" in outputs[-1] and "NameError" in outputs[-1]


async def test_stop_interrupts_the_sandbox_keeps_the_conversation_and_a_reply_continues(start, scenario) -> None:
    replay = scenario([
        {"tool_calls": [call("execute_code", code="import asyncio\nawait asyncio.sleep(60)")]},
        {"content": "Continuing after the stop."},
    ])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        codemem.surfaces.attach(THREAD.platform, surface)
        await codemem.conversations.on_message(surface, THREAD, ALICE, "wait a minute")
        async def code_running() -> None:
            while not any(isinstance(v, Progress) and v.status == "Running code…"
                          for versions in surface.messages.values() for v in versions):
                await asyncio.sleep(0.05)
        await asyncio.wait_for(code_running(), timeout=30)
        await codemem.conversations.stop(surface, THREAD, Owner("slack", "T1", "U_MALLORY"))
        assert "Only the person who asked" in surface.shown(Notice)[-1].text
        await codemem.conversations.stop(surface, THREAD, ALICE)
        await codemem.jobs.drain()
        assert surface.shown(Notice)[-1].text.startswith("Stopped.")
        assert surface.shown(Progress)[-1].status == "Stopped"
        assert "Stopped by the user" in tool_outputs(await state_of(codemem), "execute_code")[-1]
    async with start(replay) as codemem:   # a restart after the stop: the reply still continues
        await say(codemem, surface, "go on")
    assert surface.shown(Answer)[-1].text == "Continuing after the stop."


async def test_a_transient_model_error_is_retried(start, scenario) -> None:
    replay = scenario([{"content": "Hello!", "error": {"status": 529, "message": "overloaded", "times": 2}}])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "hi")
    assert surface.shown(Answer)[-1].text == "Hello!"
    assert not surface.shown(Notice)


async def test_a_model_that_keeps_failing_is_explained_and_a_reply_retries(start, scenario) -> None:
    replay = scenario([{"content": "Back again.", "error": {"status": 503, "message": "unavailable", "times": 3}}])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "hi")
        notice = surface.shown(Notice)[-1]
        assert notice.error and "unavailable" in notice.text and "Reply here to try again" in notice.text
        await say(codemem, surface, "try again")
    assert surface.shown(Answer)[-1].text == "Back again."


async def test_someone_else_cannot_drive_or_answer_a_conversation(start, scenario) -> None:
    replay = scenario([{"tool_calls": [call("ask_user", question="Which folder?")]}, {"content": "ok"}])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "file my invoices")
        await say(codemem, surface, "put them in /tmp", user=Owner("slack", "T1", "U_MALLORY"))
        assert "belongs to the person who started it" in surface.shown(Notice)[-1].text
        assert (await codemem.conversations.graph.aget_state(
            {"configurable": {"thread_id": THREAD.thread_id}})).interrupts, "the question is still open"
