"""The MCP server with the real `mcp` client over Streamable HTTP, in both protocol eras."""

from __future__ import annotations

import json

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult

from bot.core.views import ThreadRef
from tests.mcp_server.conftest import ALICE

MODES = ["auto", "legacy"]


@pytest.mark.parametrize("mode", MODES)
async def test_each_user_lists_exactly_the_skills_they_may_run(serve, mode: str) -> None:
    async with serve() as served:
        async with served.client(served.tokens["UALICE"], mode) as alice:
            alice_tools = {tool.name: tool for tool in (await alice.list_tools()).tools}
        async with served.client(served.tokens["UBOB"], mode) as bob:
            bob_tools = [tool.name for tool in (await bob.list_tools()).tools]
    assert list(alice_tools) == ["greet", "mail_boss", "team_tool", "get_run"]
    assert bob_tools == ["bobs_report", "team_tool", "get_run"]
    greet = alice_tools["greet"]
    assert greet.description == "Say hello to someone."
    assert greet.input_schema == {
        "type": "object", "additionalProperties": False, "required": ["name"],
        "properties": {"name": {"type": "string", "description": "who to greet"},
                       "times": {"type": "integer", "description": "how many times", "default": 1}}}
    assert (greet.annotations.read_only_hint, greet.annotations.destructive_hint,
            greet.annotations.open_world_hint) == (True, False, False)
    mail = alice_tools["mail_boss"].annotations
    assert (mail.read_only_hint, mail.destructive_hint, mail.open_world_hint) == (False, True, True)


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_runs_the_skill_and_records_it_where_chat_shows_history(serve, mode: str) -> None:
    async with serve() as served:
        async with served.client(served.tokens["UALICE"], mode) as alice:
            result = await alice.call_tool("greet", {"name": "Lena", "times": 2})
            again = await alice.call_tool("get_run", {"run_id": result.structured_content["run_id"]})
        history = await served.codemem.skills.command(ThreadRef("slack", "T1", "C1", ""), ALICE, "history greet")
    assert not result.is_error
    assert result.structured_content["result"] == {"greeting": "hello Lena hello Lena"}
    assert result.structured_content["trigger"] == "mcp" and "greeting Lena" in result.structured_content["logs"]
    assert result.content[0].text.startswith("greet v1 succeeded")
    assert again.structured_content == result.structured_content
    [line] = history.runs
    assert (line.run_id, line.trigger, line.status) == (result.structured_content["run_id"], "mcp", "succeeded")


@pytest.mark.parametrize("mode", MODES)
async def test_another_users_private_skill_is_refused_exactly_like_a_missing_tool(serve, mode: str) -> None:
    async with serve() as served:
        async with served.client(served.tokens["UALICE"], mode) as alice:
            with pytest.raises(MCPError) as private:
                await alice.call_tool("bobs_report", {})
            with pytest.raises(MCPError) as missing:
                await alice.call_tool("no_such_skill", {})
            shared = await alice.call_tool("team_tool", {"label": "from alice"})
        async with served.client(served.tokens["UBOB"], mode) as bob:
            bobs_run = await bob.call_tool("bobs_report", {})
            with pytest.raises(MCPError):
                await bob.call_tool("greet", {"name": "x"})
            peek = await bob.call_tool("get_run", {"run_id": shared.structured_content["run_id"]})
    assert (private.value.error.code, private.value.error.message.replace("bobs_report", "X")) == \
           (missing.value.error.code, missing.value.error.message.replace("no_such_skill", "X"))
    assert shared.structured_content["result"] == {"ok": True, "label": "from alice"}
    assert not bobs_run.is_error
    assert peek.is_error and peek.content[0].text == f"you have no run with id {shared.structured_content['run_id']}."


@pytest.mark.parametrize("mode", MODES)
async def test_bad_arguments_name_the_parameter_as_chat_does(serve, mode: str) -> None:
    async with serve() as served:
        async with served.client(served.tokens["UALICE"], mode) as alice:
            wrong = await alice.call_tool("greet", {"name": "Lena", "times": "often"})
            missing = await alice.call_tool("greet", {"nmae": "Lena"})
        runs = served.codemem.store.runs(1)
    assert wrong.is_error and wrong.content[0].text.startswith("times must be a whole number, got 'often'")
    assert missing.is_error
    assert "unknown parameter 'nmae' (did you mean name?)" in missing.content[0].text
    assert "name is required (text)" in missing.content[0].text
    assert runs == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_skill_that_sends_asks_for_confirmation_before_it_runs(serve, mode: str) -> None:
    asked: list[str] = []
    answers = iter([{"confirm": False}, {"confirm": True}])

    async def confirm(context, params) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content=next(answers))

    async with serve() as served:
        async with served.client(served.tokens["UALICE"], mode, elicitation_callback=confirm) as alice:
            declined = await alice.call_tool("mail_boss", {"to": "boss@contoso.com"})
            runs_after_no = len(served.codemem.store.runs(2))
            confirmed = await alice.call_tool("mail_boss", {"to": "boss@contoso.com"})
    assert asked[0] == "Run mail_boss (v1) with to='boss@contoso.com'? It can send or delete data for you."
    assert len(asked) == 2
    assert declined.is_error and declined.content[0].text == "mail_boss did not run: it was not confirmed."
    assert runs_after_no == 0
    assert confirmed.structured_content["result"] == {"sent_to": "boss@contoso.com"}


async def test_missing_unknown_and_revoked_tokens_get_401_pointing_at_the_resource_metadata(serve) -> None:
    async with serve("https://codemem.example.com") as served:
        tokens = served.codemem.skills.tokens.tokens
        info = tokens.list(ALICE)[0]
        async with served.api(None) as web:
            metadata = await web.get("/.well-known/oauth-protected-resource/mcp")
            ok = await web.post("/mcp", json={}, headers={"Authorization": f"Bearer {served.tokens['UALICE']}"})
            tokens.revoke(ALICE, info.id)
            answers = [await web.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                      headers=headers)
                       for headers in ({}, {"Authorization": "Bearer cm_forged"},
                                       {"Authorization": f"Bearer {served.tokens['UALICE']}"})]
    assert metadata.json()["resource"] == "https://codemem.example.com/mcp"
    assert ok.status_code != 401
    for answer in answers:
        assert answer.status_code == 401
        assert 'resource_metadata="https://codemem.example.com/.well-known/oauth-protected-resource/mcp"' in \
            answer.headers["www-authenticate"]


async def test_a_browser_page_of_another_site_is_refused(serve) -> None:
    async with serve("https://codemem.example.com") as served:
        token = served.tokens["UALICE"]
        async with served.api(token) as web:
            forged = await web.post("/mcp", json={}, headers={"Origin": "https://evil.example"})
            api = await web.get("/api/skills", headers={"Origin": "https://evil.example"})
            own = await web.post("/mcp", json={}, headers={"Origin": "https://codemem.example.com"})
            local = await web.post("/mcp", json={}, headers={"Origin": "http://localhost:6274"})
    assert (forged.status_code, api.status_code) == (403, 403)
    assert "https://evil.example" in forged.json()["error_description"]
    assert own.status_code not in (401, 403) and local.status_code not in (401, 403)


@pytest.mark.parametrize("mode", MODES)
async def test_skills_and_runs_are_resources_of_their_user_only(serve, mode: str) -> None:
    async with serve() as served:
        async with served.client(served.tokens["UALICE"], mode) as alice:
            listed = [resource.uri for resource in (await alice.list_resources()).resources]
            greet = json.loads((await alice.read_resource("codemem://skills/greet")).contents[0].text)
            run_id = (await alice.call_tool("greet", {"name": "Lena"})).structured_content["run_id"]
            run = json.loads((await alice.read_resource(f"codemem://runs/{run_id}")).contents[0].text)
            with pytest.raises(MCPError) as private:
                await alice.read_resource("codemem://skills/bobs_report")
            with pytest.raises(MCPError) as missing:
                await alice.read_resource("codemem://skills/nothing")
        async with served.client(served.tokens["UBOB"], mode) as bob:
            with pytest.raises(MCPError):
                await bob.read_resource(f"codemem://runs/{run_id}")
    assert listed == ["codemem://skills/greet", "codemem://skills/mail_boss", "codemem://skills/team_tool"]
    assert greet["source"].strip().startswith("async def run(name: str, times: int = 1)")
    assert [v["version"] for v in greet["versions"]] == [1]
    assert run["result"] == {"greeting": "hello Lena"} and "greeting Lena" in run["logs"]
    assert private.value.error.message.replace("bobs_report", "X") == missing.value.error.message.replace("nothing", "X")


async def test_the_prompts_explain_a_run_of_the_caller_only(serve) -> None:
    async with serve() as served:
        async with served.client(served.tokens["UALICE"]) as alice:
            names = [prompt.name for prompt in (await alice.list_prompts()).prompts]
            run_id = (await alice.call_tool("greet", {"name": "Lena"})).structured_content["run_id"]
            explained = await alice.get_prompt("explain_run", {"run_id": str(run_id)})
            made = await alice.get_prompt("make_this_a_skill", {"task": "the weekly report"})
        async with served.client(served.tokens["UBOB"]) as bob:
            with pytest.raises(MCPError) as refused:
                await bob.get_prompt("explain_run", {"run_id": str(run_id)})
    assert names == ["make_this_a_skill", "explain_run"]
    assert "hello Lena" in explained.messages[0].content.text
    assert "the weekly report" in made.messages[0].content.text and "async def run" in made.messages[0].content.text
    assert refused.value.error.message == f"you have no run with id {run_id}"


async def test_a_legacy_session_cannot_be_used_with_another_users_token(serve) -> None:
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    async with serve() as served:
        async with served.api(served.tokens["UALICE"]) as alice:
            session = (await alice.post("/mcp", headers=headers, json=initialize)).headers["mcp-session-id"]
            await alice.post("/mcp", headers={**headers, "mcp-session-id": session},
                             json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        async with served.api(served.tokens["UBOB"]) as bob:
            taken = await bob.post("/mcp", headers={**headers, "mcp-session-id": session},
                                   json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    assert taken.status_code == 404 and "greet" not in taken.text
