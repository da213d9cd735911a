"""The progress message keeps the task's checklist across a question and its answer."""

from __future__ import annotations

from bot.core.views import Answer, Progress
from tests.agent.conftest import RecordingSurface, call, say

TODOS = [{"content": "Count recent mail", "status": "in_progress"}, {"content": "Report the count", "status": "pending"}]


async def test_after_the_user_answers_the_progress_message_still_shows_the_checklist(start, scenario) -> None:
    replay = scenario([
        {"tool_calls": [call("write_todos", todos=TODOS),
                        call("ask_user", question="Count only unread mail?", choices=["Yes", "No"])]},
        {"tool_calls": [call("execute_code", code="print(41 + 1)")]},
        {"content": "Counted."},
    ])
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "how many mails did I get?")
        progress_id = next(i for i, versions in surface.messages.items() if isinstance(versions[-1], Progress))
        asked = len(surface.messages[progress_id])
        await say(codemem, surface, "Yes")
    assert surface.shown(Answer)[-1].text == "Counted."
    after_answer = surface.messages[progress_id][asked:]
    assert [v.status for v in after_answer][-1] == "Done"
    shown = [[todo["content"] for todo in v.todos] for v in after_answer]
    assert shown == [["Count recent mail", "Report the count"]] * len(after_answer)
