"""Journey 7 (Extend): an MCP server's tools found, loaded and called from code by the agent, a server's
question answered in the thread, the result saved as a skill and rerun without the model."""

from __future__ import annotations

from prometheus_client import REGISTRY

from bot.core.views import Answer, Question, SkillRunReport
from tests.agent.conftest import ALICE, THREAD
from tests.mcp.conftest import RecordingSurface, call, say, state_of, tickets_state, tickets_url, tool_outputs

OPEN_TICKET = '''
async def run(title: str = "Laptop battery swells", priority: str | None = None) -> dict:
    """Open a support ticket."""
    ticket = await tickets__create_ticket(title=title, priority=priority)
    return {"id": ticket.id, "title": ticket.title, "priority": ticket.priority}

result = await run()
print(result)
submit(result)
'''


def journey(scenario):
    return scenario([
        {"tool_calls": [call("search_functions", query="open a support ticket")]},
        {"tool_calls": [call("load_functions", names=["tickets__create_ticket"])]},
        {"tool_calls": [call("ask_user", question="Shall I open a ticket 'Laptop battery swells'?",
                             choices=["Yes", "No"], grant_writes=True)]},
        {"tool_calls": [call("execute_code", code=OPEN_TICKET)]},
        {"tool_calls": [call("execute_code", code=OPEN_TICKET)]},   # the same call, now with the answer
        {"tool_calls": [call("propose_skill", name="open_ticket", description="Open a support ticket")]},
        {"content": "I opened the ticket; you can save this as a skill."},
    ])


def mcp_calls(outcome: str) -> float:
    labels = {"server": "tickets", "tool": "create_ticket", "outcome": outcome}
    return REGISTRY.get_sample_value("codemem_mcp_calls_total", labels) or 0.0


async def test_the_agent_uses_an_mcp_tool_answers_its_question_in_the_thread_and_the_skill_reruns(
        start, scenario, emulator) -> None:
    before = {outcome: mcp_calls(outcome) for outcome in ("ok", "input_required")}
    surface = RecordingSurface()
    servers = {"tickets": {"url": tickets_url(emulator), "trusted": True}}
    async with start(journey(scenario), servers) as codemem:
        await say(codemem, surface, "open a ticket: my laptop battery swells")
        await say(codemem, surface, "Yes")              # the grant to write
        question = surface.shown(Question)[-1]
        await say(codemem, surface, "high")             # the server's own question, put by the host
        state = await state_of(codemem)
        search = tool_outputs(state, "search_functions")[0]
        loaded = tool_outputs(state, "load_functions")[0]
        print("search_functions:\n" + search)
        print("load_functions:\n" + loaded)
        first, second = tool_outputs(state, "execute_code")
        offer = surface.shown(Answer)[-1].offer
        assert offer is not None and offer.name == "open_ticket"
        assert "Saved skill `open_ticket` (version 1)" in (await codemem.skills.save(ALICE, offer.button_value)).text

        # The rerun: a command, no model (the replay is used up: a model call would fail the run).
        await codemem.skills.command(THREAD, ALICE, 'run open_ticket title="Printer toner empty" priority=low')
        await codemem.jobs.drain()
        report = surface.shown(SkillRunReport)[-1]

    assert any(line.startswith("tickets__create_ticket:") for line in search.splitlines()[:3]), search
    assert "async def tickets__create_ticket(title: str" in loaded and "-> Ticket" in loaded
    assert "class Ticket:" in loaded
    assert question.text == "The tickets server asks: Which priority should the new ticket get?"
    assert question.choices == ["low", "normal", "high", "Cancel"]
    assert "needs an answer from the person" in first and "same call again" in first
    assert "'priority': 'high'" in second and "Error" not in second
    assert report.succeeded, report.error
    assert report.result["priority"] == "low" and report.result["title"] == "Printer toner empty"
    created = {t["title"]: t["priority"] for t in tickets_state(emulator)["tickets"] if t["id"] > 3}
    assert created == {"Laptop battery swells": "high", "Printer toner empty": "low"}
    # Counted by server and tool: the question, the agent's call, the rerun's (the dry run calls nothing).
    assert mcp_calls("input_required") - before["input_required"] == 1
    assert mcp_calls("ok") - before["ok"] == 2


async def test_a_skill_run_cannot_answer_a_servers_question_and_says_which(start, scenario, emulator) -> None:
    surface = RecordingSurface()
    servers = {"tickets": {"url": tickets_url(emulator), "trusted": True}}
    async with start(journey(scenario), servers) as codemem:
        await say(codemem, surface, "open a ticket: my laptop battery swells")
        await say(codemem, surface, "Yes")
        await say(codemem, surface, "high")
        offer = surface.shown(Answer)[-1].offer
        await codemem.skills.save(ALICE, offer.button_value)
        await codemem.skills.command(THREAD, ALICE, "run open_ticket")   # no priority: the server asks
        await codemem.jobs.drain()
        report = surface.shown(SkillRunReport)[-1]
    assert not report.succeeded
    assert "tickets__create_ticket" in report.error and "the tickets server" in report.error
    assert '"Which priority should the new ticket get?"' in report.error
    assert "Nobody can answer it during this run" in report.error
    assert len(tickets_state(emulator)["tickets"]) == 4    # the seeded three and the agent's one
