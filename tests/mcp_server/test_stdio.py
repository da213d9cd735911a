"""`codemem mcp serve --stdio` as a real subprocess, with the real `mcp` client over stdio."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from skills_db import SkillStore, init_db, make_engine
from skills_db.personal_tokens import PersonalTokens
from tests.mcp_server.conftest import ALICE, BOB, GREET, PLAIN


def _database(data_dir: Path) -> PersonalTokens:
    data_dir.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{data_dir / 'codemem.db'}")
    init_db(engine)
    store = SkillStore(engine)
    for owner, name, code in ((ALICE, "greet", GREET), (BOB, "bobs_report", PLAIN)):
        skill = store.create_draft(owner, name, "", code, [])
        store.approve(skill.id, owner, 1)
    return PersonalTokens(engine)


def _server(data_dir: Path, emulator_url: str, args: list[str], token: str | None = None) -> StdioServerParameters:
    env = {"CODEMEM_DATA_DIR": str(data_dir), "CODEMEM_EMULATOR_URL": emulator_url, "CODEMEM_SANDBOX": "subprocess"}
    if token:
        env["CODEMEM_MCP_TOKEN"] = token
    return StdioServerParameters(command=sys.executable, args=["-m", "bot", "mcp", "serve", "--stdio", *args], env=env)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_serves_the_skills_of_the_user_it_acts_as(tmp_path: Path, emulator, mode: str) -> None:
    tokens = _database(tmp_path / "data")
    bobs_token = tokens.issue(BOB)[1]
    async with Client(stdio_client(_server(tmp_path / "data", emulator.url, ["--as", "slack:T1:UALICE"])),
                      mode=mode) as alice:
        alice_tools = [tool.name for tool in (await alice.list_tools()).tools]
        greeted = await alice.call_tool("greet", {"name": "Lena"})
    async with Client(stdio_client(_server(tmp_path / "data", emulator.url, [], bobs_token)), mode=mode) as bob:
        bob_tools = [tool.name for tool in (await bob.list_tools()).tools]
    assert alice_tools == ["greet", "get_run"] and bob_tools == ["bobs_report", "get_run"]
    assert greeted.structured_content["result"] == {"greeting": "hello Lena"}
