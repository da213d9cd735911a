"""Fixtures: the emulator (its OAuth-protected Gmail MCP server), an encrypted connection store, the
per-user OAuth of MCP servers, and a browser that follows the sign-in to CodeMem's callback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import httpx2
import pytest
from cryptography.fernet import Fernet
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import create_engine
from starlette.applications import Starlette

from bot.core.accounts import owner_from_key
from integrations.emulator import EmulatorServer, build_demo_workspace
from integrations.mcp.oauth import McpOAuth, OAuthServer
from skills_db.connections import ConnectionStore, TokenCipher
from skills_db.owner import Owner

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CODEMEM_URL = "http://codemem.test"
ALICE = Owner("slack", "T1", "U_ALICE")
BOB = Owner("teams", "tenant-1", "29:bob")


def user_key(owner: Owner) -> str:
    """The bridge's key for a user: platform:team:user."""
    return f"{owner.platform}:{owner.team}:{owner.user}"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(build_demo_workspace(NOW)) as server:
        yield server


@pytest.fixture
def store(tmp_path) -> ConnectionStore:
    return ConnectionStore(create_engine(f"sqlite:///{tmp_path / 'codemem.db'}"), TokenCipher([Fernet.generate_key().decode()]))


@pytest.fixture
def gmail_url(emulator: EmulatorServer) -> str:
    return emulator.url + "/mcp/gmail"


@pytest.fixture
def oauth(store: ConnectionStore, gmail_url: str) -> McpOAuth:
    return McpOAuth(store, lambda: [OAuthServer("gmail", gmail_url)], redirect_base=CODEMEM_URL, owner_of=owner_from_key)


async def sign_in(oauth: McpOAuth, owner: Owner, server: str = "gmail", login_hint: str | None = None) -> httpx.Response:
    """What a browser does with the link /connect gives: the authorization server (which consents at once,
    as the account `login_hint` names) redirects to CodeMem's callback, which answers with a page."""
    url = await oauth.start_connect(owner, server)
    if login_hint:
        url += "&" + httpx.QueryParams({"login_hint": login_hint}).__str__()
    async with httpx.AsyncClient(trust_env=False) as browser:
        consent = await browser.get(url)
    assert consent.status_code == 302, consent.text
    callback = httpx.URL(consent.headers["location"])
    assert str(callback).startswith(f"{CODEMEM_URL}/oauth/mcp/{server}/callback")
    app = Starlette(routes=oauth.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=CODEMEM_URL) as web:
        return await web.get(callback.raw_path.decode())


@pytest.fixture
def mcp_client(oauth: McpOAuth, gmail_url: str):
    """`async with mcp_client(owner) as client:` the real MCP client calling the Gmail MCP server as `owner`."""
    def connect(owner: Owner) -> Client:
        http = httpx2.AsyncClient(auth=oauth.auth(user_key(owner), "gmail"), trust_env=False)
        return Client(streamable_http_client(gmail_url, http_client=http))
    return connect


def requests_to(emulator: EmulatorServer, path: str) -> list[dict]:
    return [r for r in httpx.get(emulator.url + "/_emulator/requests", trust_env=False).json()["requests"] if r["path"] == path]
