"""The MCP client the bridge uses, on an OAuth server: each user's own token, refreshed once after a 401."""

from __future__ import annotations

import httpx
import pytest

from integrations.emulator.faults import bearer_digest
from integrations.errors import ToolError
from integrations.mcp.client import McpClient, McpServerConfig
from integrations.mcp.oauth import McpOAuth, provider_name
from skills_db.connections import ConnectionStore
from tests.mcp_auth.conftest import ALICE, BOB, requests_to, sign_in, user_key


async def list_labels(client: McpClient, owner) -> object:
    return await client.call("gmail__list_labels", "list_labels", {}, user_key=user_key(owner),
                             call_key="gmail__list_labels:-", answer=None, wrapped_result=False)


async def test_a_token_the_server_expired_early_is_refreshed_once_and_the_call_goes_through(
        emulator, oauth: McpOAuth, store: ConnectionStore, gmail_url: str) -> None:
    await sign_in(oauth, ALICE)
    client = McpClient(McpServerConfig("gmail", gmail_url, auth="oauth"), oauth)
    try:
        assert await list_labels(client, ALICE)
        first = store.get(ALICE, provider_name("gmail")).secret["token"]["access_token"]
        httpx.post(emulator.url + "/_emulator/oauth/expire?provider=mcp", trust_env=False)
        assert await list_labels(client, ALICE), "the call after the server's 401 went through with a new token"
        second = store.get(ALICE, provider_name("gmail")).secret["token"]["access_token"]
    finally:
        await client.aclose()
    assert second != first
    statuses = [(c["bearer"], c["status"]) for c in requests_to(emulator, "/mcp/gmail")]
    assert (bearer_digest(first), 401) in statuses and (bearer_digest(second), 200) in statuses


async def test_a_user_who_never_connected_is_told_to_connect_and_never_gets_anothers_token(
        emulator, oauth: McpOAuth, gmail_url: str) -> None:
    await sign_in(oauth, ALICE)
    client = McpClient(McpServerConfig("gmail", gmail_url, auth="oauth"), oauth)
    try:
        await list_labels(client, ALICE)
        with pytest.raises(ToolError) as refused:
            await list_labels(client, BOB)
    finally:
        await client.aclose()
    assert refused.value.code == "reconnect:gmail" and "/connect gmail" in str(refused.value)
