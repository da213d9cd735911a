"""What MCP tools may do: grants by trust, destructive calls asked each time, each user's own token, and skills
whose MCP tools changed or whose server is gone."""

from __future__ import annotations

import hashlib

from mcp.server import MCPServer
from mcp.server.caching import CacheHint

from bot.core.views import Answer, Question, SkillRunReport
from skills_db.mcp_servers import McpServerStore
from tests.agent.conftest import ALICE, THREAD
from tests.mcp.conftest import (RecordingSurface, call, say, serve_mcp, state_of, tickets_state, tickets_url,
                                tool_outputs)

BOTH_LISTS = '''
for name, list_tickets in (("untrusted", tickets__list_tickets), ("trusted", trusted__list_tickets)):
    try:
        print(name, len(await list_tickets()))
    except Exception as error:
        print(name, "refused:", error)
'''


async def test_an_untrusted_servers_read_only_tool_needs_a_grant_and_a_trusted_ones_does_not(
        start, scenario, emulator) -> None:
    replay = scenario([
        {"tool_calls": [call("load_functions", names=["tickets__list_tickets", "trusted__list_tickets"]),
                        call("execute_code", code=BOTH_LISTS)]},
        {"content": "Listed."},
    ])
    servers = {"tickets": {"url": tickets_url(emulator)}, "trusted": {"url": tickets_url(emulator), "trusted": True}}
    async with start(replay, servers) as codemem:
        await say(codemem, RecordingSurface(), "how many open tickets are there?")
        output = tool_outputs(await state_of(codemem), "execute_code")[0]
    assert "untrusted refused: tickets__list_tickets would write in the user's workspace and needs their go-ahead" \
        in output
    assert "trusted 3" in output
    assert [c["tool"] for c in tickets_state(emulator)["calls"]] == ["list_tickets"]   # only the trusted call


async def test_a_destructive_call_is_asked_each_time_then_the_servers_own_question(start, scenario, emulator) -> None:
    close = "ticket = await tickets__close_ticket(ticket_id=1)\nprint(ticket.status)"
    replay = scenario([
        {"tool_calls": [call("load_functions", names=["tickets__close_ticket"]), call("execute_code", code=close)]},
        {"tool_calls": [call("execute_code", code=close)]},
        {"tool_calls": [call("execute_code", code=close)]},
        {"content": "Closed."},
    ])
    surface = RecordingSurface()
    async with start(replay, {"tickets": {"url": tickets_url(emulator), "trusted": True}}) as codemem:
        await say(codemem, surface, "close the VPN ticket")
        host_question = surface.shown(Question)[-1]
        await say(codemem, surface, "Yes")
        server_question = surface.shown(Question)[-1]
        await say(codemem, surface, "Yes")
        outputs = tool_outputs(await state_of(codemem), "execute_code")
    assert host_question.text == "Before this destructive call: Allow tickets__close_ticket(ticket_id=1)? It cannot be undone."
    assert host_question.choices == ["Yes", "No"]
    assert server_question.text == 'The tickets server asks: Close ticket 1 "VPN drops every hour"? This cannot be undone.'
    assert outputs[-1].strip().startswith("closed")
    assert [t["status"] for t in tickets_state(emulator)["tickets"] if t["id"] == 1] == ["closed"]


async def test_calls_carry_the_servers_bearer_token_and_no_other(start, scenario, emulator, monkeypatch) -> None:
    monkeypatch.setenv("TICKETS_TOKEN", "tickets-secret-1")
    replay = scenario([
        {"tool_calls": [call("load_functions", names=["tickets__get_ticket"]),
                        call("execute_code", code="print((await tickets__get_ticket(ticket_id=2)).title)")]},
        {"content": "Done."},
    ])
    servers = {"tickets": {"url": tickets_url(emulator), "auth": "bearer", "token_env": "TICKETS_TOKEN",
                           "trusted": True}}
    async with start(replay, servers) as codemem:
        await say(codemem, RecordingSurface(), "what is ticket 2?")
        output = tool_outputs(await state_of(codemem), "execute_code")[0]
    assert "Printer on floor 2 jams" in output
    expected = hashlib.sha256(b"Bearer tickets-secret-1").hexdigest()[:16]
    assert {c["authorization"] for c in tickets_state(emulator)["calls"]} == {expected}


def notes_server(*, tagged: bool) -> MCPServer:
    server = MCPServer("notes", cache_hints={"tools/list": CacheHint(ttl_ms=1, scope="public")})
    server.notes = []   # type: ignore[attr-defined]

    if tagged:
        @server.tool()
        async def add_note(text: str, tag: str) -> str:
            """Keep a note under a tag."""
            server.notes.append(text)   # type: ignore[attr-defined]
            return "kept"
    else:
        @server.tool()
        async def add_note(text: str) -> str:
            """Keep a note."""
            server.notes.append(text)   # type: ignore[attr-defined]
            return "kept"
    return server


NOTE_SKILL = '''
async def run(text: str = "buy milk") -> str:
    return await notes__add_note(text=text)

print(await run())
'''


async def saved_note_skill(codemem, surface) -> None:
    await say(codemem, surface, "keep a note: buy milk")
    await say(codemem, surface, "Yes")
    offer = surface.shown(Answer)[-1].offer
    assert offer is not None, surface.shown()
    await codemem.skills.save(ALICE, offer.button_value)


def note_replay(scenario):
    return scenario([
        {"tool_calls": [call("load_functions", names=["notes__add_note"]),
                        call("ask_user", question="Keep the note?", choices=["Yes", "No"], grant_writes=True)]},
        {"tool_calls": [call("execute_code", code=NOTE_SKILL)]},
        {"tool_calls": [call("propose_skill", name="keep_note", description="Keep a note")]},
        {"content": "Kept."},
    ])


async def test_a_skill_whose_mcp_tool_changed_fails_its_rerun_naming_server_tool_and_change(
        start, scenario, tmp_path) -> None:
    server = notes_server(tagged=False)
    surface = RecordingSurface()
    with serve_mcp(server) as url:
        async with start(note_replay(scenario)) as codemem:
            McpServerStore(codemem.engine).add("notes", url, trusted=True, added_by="test")
        async with start(note_replay(scenario)) as codemem:   # the app started again: it lists the new server
            await saved_note_skill(codemem, surface)
            assert server.notes == ["buy milk"]
            # The server changes its tool: `tag` is now required.
            server.remove_tool("add_note")

            @server.tool()
            async def add_note(text: str, tag: str) -> str:
                """Keep a note under a tag."""
                return "kept"

            await codemem.skills.command(THREAD, ALICE, "run keep_note text=eggs")
            await codemem.jobs.drain()
            report = surface.shown(SkillRunReport)[-1]
    assert not report.succeeded
    assert "the MCP server notes changed the tool 'add_note' (notes__add_note)" in report.error
    assert "new parameter 'tag' (required)" in report.error
    assert server.notes == ["buy milk"]


async def test_a_skill_whose_mcp_server_was_removed_fails_its_rerun_saying_so(start, scenario) -> None:
    server = notes_server(tagged=False)
    surface = RecordingSurface()
    with serve_mcp(server) as url:
        async with start(note_replay(scenario)) as codemem:
            McpServerStore(codemem.engine).add("notes", url, trusted=True, added_by="test")
        async with start(note_replay(scenario)) as codemem:
            await saved_note_skill(codemem, surface)
            McpServerStore(codemem.engine).remove("notes")
        async with start(None) as codemem:    # restarted without the server
            codemem.surfaces.attach(THREAD.platform, surface)
            await codemem.skills.command(THREAD, ALICE, "run keep_note text=eggs")
            await codemem.jobs.drain()
            report = surface.shown(SkillRunReport)[-1]
    assert not report.succeeded
    assert "notes__add_note" in report.error and "the MCP server notes is no longer registered" in report.error
    assert server.notes == ["buy milk"]
