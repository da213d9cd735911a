"""The MCP client against real servers (the emulator's tickets server, and small ones made here), both eras."""

from __future__ import annotations

import anyio
import pytest
from mcp.server import MCPServer

from integrations.errors import ToolError
from integrations.mcp.client import McpClient, McpServerConfig
from integrations.mcp.input_required import InputRequired
from integrations.mcp.naming import MAX_FUNCTION_NAME, function_name
from tests.mcp.conftest import serve_mcp, tickets_state, tickets_url


async def call(client: McpClient, tool: str, arguments: dict, answer: dict | None = None, wrapped: bool = False):
    return await client.call(f"x__{tool}", tool, arguments, user_key="slack:T1:U1", call_key=f"x__{tool}:k",
                             answer=answer, wrapped_result=wrapped)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_both_protocol_eras_list_call_and_ask(emulator, mode: str) -> None:
    client = McpClient(McpServerConfig("tickets", tickets_url(emulator)), mode=mode)
    try:
        tools = await client.list_tools()
        listed = await call(client, "list_tickets", {}, wrapped=True)
        with pytest.raises(InputRequired) as asked:
            await call(client, "close_ticket", {"ticket_id": 1})
        question = asked.value.questions[0]
        answer = {"responses": {question.key: question.response("Yes")}, "request_state": asked.value.request_state}
        closed = await call(client, "close_ticket", {"ticket_id": 1}, answer)
    finally:
        await client.aclose()
    assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25 or older")
    assert [t.name for t in tools] == ["list_tickets", "get_ticket", "create_ticket", "comment", "close_ticket"]
    assert [t["id"] for t in listed] == [3, 2, 1]
    assert question.message == 'Close ticket 1 "VPN drops every hour"? This cannot be undone.'
    assert question.choices == ("Yes", "No")
    assert closed["status"] == "closed" and tickets_state(emulator)["tickets"][0]["status"] == "closed"


async def test_errors_name_the_server_and_say_what_happened(emulator) -> None:
    server = MCPServer("slow")

    @server.tool(structured_output=False)
    async def echo(text: str) -> str:
        """Say it back, as text only."""
        return text

    @server.tool()
    async def hang() -> str:
        """Never answers."""
        await anyio.Event().wait()
        return ""

    tickets = McpClient(McpServerConfig("tickets", tickets_url(emulator)))
    down = McpClient(McpServerConfig("gone", "http://127.0.0.1:9/mcp"), timeout=5)
    with serve_mcp(server) as url:
        slow = McpClient(McpServerConfig("slow", url), timeout=1)
        try:
            assert await call(slow, "echo", {"text": "plain text"}) == "plain text"
            with pytest.raises(ToolError, match="the MCP server slow did not answer within 1 s"):
                await call(slow, "hang", {})
            assert await call(slow, "echo", {"text": "again"}) == "again"   # reconnected after the timeout
        finally:
            await slow.aclose()
    with pytest.raises(ToolError, match="x__get_ticket: the tickets server says: .*there is no ticket 99"):
        await call(tickets, "get_ticket", {"ticket_id": 99})
    with pytest.raises(ToolError, match="could not reach the MCP server gone to list its tools"):
        await down.list_tools()
    await tickets.aclose()


async def test_a_kept_listing_is_reused_until_its_ttl_passes(emulator) -> None:
    now = [0.0]
    client = McpClient(McpServerConfig("tickets", tickets_url(emulator)), clock=lambda: now[0])
    try:
        first = await client.list_tools()
        assert await client.list_tools() is first          # fresh: no request
        now[0] += 61                                      # the tickets server says ttlMs=60000
        assert await client.list_tools() is not first
    finally:
        await client.aclose()


def test_function_names_fit_64_characters_and_never_collide() -> None:
    assert function_name("tickets", "close_ticket") == "tickets__close_ticket"
    names = {function_name("github", tool) for tool in ("get-issue", "get_issue", "get.issue", "x" * 100, "x" * 101)}
    assert len(names) == 5
    assert all(len(n) <= MAX_FUNCTION_NAME and n.isidentifier() for n in names)
    assert function_name("github", "get_issue") == "github__get_issue"
    assert function_name("github", "get-issue").startswith("github__get_issue_h")


async def test_a_server_that_does_not_answer_is_not_asked_again_at_every_search() -> None:
    from integrations.mcp.catalog import RETRY_LISTING_AFTER, McpTools
    from integrations.registry import Registry

    now = [0.0]
    tools = McpTools(Registry(), [McpServerConfig("gone", "http://127.0.0.1:9/mcp")], timeout=5,
                     clock=lambda: now[0])
    await tools.refresh()
    assert "could not reach the MCP server gone" in tools.problems["gone"]
    tools.problems.clear()
    await tools.refresh()                      # within the back-off: not asked
    assert tools.problems == {}
    now[0] += RETRY_LISTING_AFTER
    await tools.refresh()                      # asked again
    assert "gone" in tools.problems
    await tools.aclose()


def test_a_url_elicitation_becomes_a_link_button_and_a_form_one_buttons_from_its_schema() -> None:
    from bot.core.views import Question
    from bot.surfaces.slack_blocks import render
    from integrations.mcp.input_required import question_for

    link = question_for("k", "Connect your account", None, url="https://example.com/connect")
    assert link.choices == ("Done", "Cancel") and link.response("Done") == {"action": "accept"}
    blocks = render(Question(link.message, list(link.choices), link.url))["blocks"]
    assert blocks[1]["elements"][0]["url"] == "https://example.com/connect"
    form = question_for("k", "Priority?", {"properties": {"p": {"type": "string", "enum": ["low", "high"]}}})
    assert form.choices == ("low", "high", "Cancel")
    assert form.response("high") == {"action": "accept", "content": {"p": "high"}}
    assert form.response("Cancel") == {"action": "decline"}
