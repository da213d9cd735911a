"""Per-user OAuth for an MCP server through the real flow: RFC 9728 discovery, dynamic client registration,
PKCE, the callback; tokens encrypted at rest, never one user's token for another's call; refresh; revocation."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from bot.core.accounts import owner_from_key
from integrations.emulator.faults import bearer_digest
from integrations.errors import ToolError
from integrations.mcp.oauth import McpOAuth, OAuthServer, provider_name
from tests.mcp_auth.conftest import ALICE, BOB, CODEMEM_URL, requests_to, sign_in, user_key


async def test_two_users_connect_two_accounts_and_never_share_a_token(emulator, oauth, store, mcp_client) -> None:
    page = await sign_in(oauth, ALICE)
    assert page.status_code == 200 and "gmail account is connected" in page.text
    page = await sign_in(oauth, BOB, login_hint="megan@contoso.com")
    assert page.status_code == 200

    async with mcp_client(ALICE) as alice:
        mine = (await alice.call_tool("search_messages", {"query": "", "max_results": 5})).structured_content
    async with mcp_client(BOB) as bob:
        theirs = (await bob.call_tool("search_messages", {"query": "", "max_results": 5})).structured_content
    assert {m["subject"] for m in theirs["messages"]} == {"Quarterly planning notes", "Northwind Traders contract renewal", "Team offsite agenda"}
    assert mine["result_size_estimate"] > 40 and all("Megan" not in m["snippet"] for m in mine["messages"]), "Alice reads Alex's mailbox"

    alice_token = store.get(ALICE, provider_name("gmail")).secret["token"]["access_token"]
    bob_token = store.get(BOB, provider_name("gmail")).secret["token"]["access_token"]
    assert alice_token != bob_token
    calls = [c for c in requests_to(emulator, "/mcp/gmail") if c["bearer"]]   # the others are the unauthenticated probes of discovery
    assert calls and {c["bearer"] for c in calls} == {bearer_digest(alice_token), bearer_digest(bob_token)}
    assert len([c for c in calls if c["bearer"] == bearer_digest(bob_token)]) >= 2, "Bob's calls carry Bob's token only"

    with store.engine.connect() as db:
        rows = db.exec_driver_sql("select secret from workspace_connections").scalars().all()
        states = db.exec_driver_sql("select secret from oauth_states").scalars().all()
    assert len(rows) == 2 and not any(t in row for row in rows for t in (alice_token, bob_token, "refresh_token", "emu-rt-"))
    assert states == [], "each sign-in state is used once and removed"


async def test_the_sign_in_link_works_once(oauth) -> None:
    url = await oauth.start_connect(ALICE, "gmail")
    async with httpx.AsyncClient(trust_env=False) as browser:
        callback = httpx.URL((await browser.get(url)).headers["location"])
    app = Starlette(routes=oauth.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codemem.test") as web:
        assert (await web.get(callback.raw_path.decode())).status_code == 200
        replay = await web.get(callback.raw_path.decode())
    assert replay.status_code == 400 and "expired or was already used" in replay.text


async def test_an_expired_token_is_refreshed_before_the_call_and_after_a_401(emulator, oauth, store, mcp_client) -> None:
    await sign_in(oauth, ALICE)
    provider = provider_name("gmail")
    first = store.get(ALICE, provider).secret
    # The server expires the token early: the call meets a 401, refreshes once and goes through.
    httpx.post(emulator.url + "/_emulator/oauth/expire?provider=mcp", trust_env=False)
    async with mcp_client(ALICE) as alice:
        result = await alice.call_tool("list_labels", {})
    assert not result.is_error
    second = store.get(ALICE, provider).secret
    assert second["token"]["access_token"] != first["token"]["access_token"]
    calls = requests_to(emulator, "/mcp/gmail")
    assert [c["status"] for c in calls if c["bearer"] == bearer_digest(first["token"]["access_token"])][-1] == 401
    assert {c["status"] for c in calls if c["bearer"] == bearer_digest(second["token"]["access_token"])} == {200}

    # CodeMem knows the token expired: it refreshes before calling, with no 401 at all.
    store.update_secret(ALICE, provider, {**second, "expires_at": 0})
    before = len(requests_to(emulator, "/oauth/token"))
    token = await oauth.bearer(user_key(ALICE), "gmail")
    assert token != second["token"]["access_token"] and len(requests_to(emulator, "/oauth/token")) == before + 1


async def test_a_revoked_grant_says_reconnect(emulator, oauth, store, mcp_client) -> None:
    await sign_in(oauth, ALICE)
    httpx.post(emulator.url + "/_emulator/oauth/revoke?provider=mcp", trust_env=False)
    with pytest.raises(ToolError) as refused:
        await oauth.refreshed(user_key(ALICE), "gmail")
    assert str(refused.value) == "reconnect gmail: run /connect gmail" and refused.value.code == "reconnect:gmail"
    assert await oauth.bearer(user_key(BOB), "gmail") is None, "a user who never connected has no token"


async def test_a_client_configured_for_the_server_is_used_instead_of_registering(emulator, store, gmail_url, mcp_client) -> None:
    redirect = f"{CODEMEM_URL}/oauth/mcp/gmail/callback"
    client = httpx.post(emulator.url + "/oauth/register", json={"redirect_uris": [redirect], "token_endpoint_auth_method": "client_secret_post"},
                        trust_env=False).json()   # what an admin does once at the authorization server
    configured = OAuthServer("gmail", gmail_url, client_id=client["client_id"], client_secret=client["client_secret"])
    oauth = McpOAuth(store, lambda: [configured], redirect_base=CODEMEM_URL, owner_of=owner_from_key)
    registrations = len(requests_to(emulator, "/oauth/register"))
    assert (await sign_in(oauth, ALICE)).status_code == 200
    assert len(requests_to(emulator, "/oauth/register")) == registrations, "no dynamic registration with a configured client"
    assert store.get(ALICE, provider_name("gmail")).secret["client"]["client_id"] == client["client_id"]
