"""CodeMem's MCP server and HTTP API as `codemem serve` mounts them, on loopback with uvicorn, with two users'
skills; the real `mcp` client over Streamable HTTP (both eras) and plain httpx for the API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bot.app import CodeMem, open_codemem
from bot.server import http_app
from bot.settings import Settings
from bot.surfaces.mcp_server import skill_endpoints
from integrations.emulator.server import EmulatorServer
from skills_db.access import ShareScope
from skills_db.models import Owner
from skills_db.personal_tokens import PersonalTokens

ALICE = Owner("slack", "T1", "UALICE")
BOB = Owner("slack", "T1", "UBOB")
APPROVER = Owner("slack", "T1", "UAPPROVER")
GREET = '''
async def run(name: str, times: int = 1) -> dict:
    """Greet someone.

    Args:
        name: who to greet
        times: how many times
    """
    print("greeting", name)
    return {"greeting": " ".join(["hello " + name] * times)}
'''
PLAIN = 'async def run(label: str = "x") -> dict:\n    return {"ok": True, "label": label}\n'
SEND = '''
async def run(to: str) -> dict:
    return {"sent_to": to}
'''


@dataclass
class Served:
    """The running app: its URL, the CodeMem inside, and a token per user."""

    url: str
    codemem: CodeMem
    tokens: dict[str, str]

    def client(self, token: str | None, mode: str = "auto", **kwargs) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = httpx2.AsyncClient(headers=headers, trust_env=False, timeout=30)
        return Client(streamable_http_client(self.url + "/mcp", http_client=http), mode=mode, **kwargs)

    def api(self, token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, trust_env=False, timeout=30)


def make_skill(codemem: CodeMem, owner: Owner, name: str, code: str, description: str = "", tools: list[str] = ()):
    store = codemem.store
    skill = store.create_draft(owner, name, description, code, list(tools))
    return store.approve(skill.id, owner, 1)


def share_with_team(codemem: CodeMem, skill_id: int, owner: Owner) -> None:
    sharing = codemem.store.sharing
    scope = ShareScope.of_team(owner.platform, owner.team)
    share = sharing.share(skill_id, owner, scope)
    sharing.add_approver(scope, APPROVER.user, "operator")
    sharing.approve(share.id, APPROVER, 1)


@pytest.fixture(scope="module")
def emulator():
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def serve(tmp_path: Path, emulator: EmulatorServer):
    """`async with serve() as served:` CodeMem with Alice's skills (greet, mail_boss: sends), Bob's (bobs_report)
    and a team-shared one of Bob's (team_tool), served on a loopback port."""
    @contextlib.asynccontextmanager
    async def run(public_url: str | None = None) -> AsyncIterator[Served]:
        settings = Settings(data_dir=tmp_path / "data", emulator_url=emulator.url, exec_timeout=20,
                            sandbox="subprocess")
        async with open_codemem(settings) as codemem, contextlib.AsyncExitStack() as stack:
            make_skill(codemem, ALICE, "greet", GREET, "Say hello to someone.")
            make_skill(codemem, ALICE, "mail_boss", SEND, "Mail the boss.", ["outlook_send"])
            make_skill(codemem, BOB, "bobs_report", PLAIN, "Bob's private report.", ["outlook_list_messages"])
            shared = make_skill(codemem, BOB, "team_tool", PLAIN, "Shared with the team.")
            share_with_team(codemem, shared.id, BOB)
            tokens = PersonalTokens(codemem.engine)
            issued = {who.user: tokens.issue(who)[1] for who in (ALICE, BOB)}
            routes = await stack.enter_async_context(skill_endpoints(codemem, public_url or "http://127.0.0.1:9"))
            server = uvicorn.Server(uvicorn.Config(http_app(routes), host="127.0.0.1", port=0, lifespan="off",
                                                   log_level="warning"))
            task = asyncio.create_task(server.serve())
            while not server.started:
                assert not task.done(), "the app did not start"
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            try:
                yield Served(f"http://127.0.0.1:{port}", codemem, issued)
            finally:
                server.should_exit = True
                await task
    return run
