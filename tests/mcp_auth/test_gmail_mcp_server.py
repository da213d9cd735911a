"""The emulator's Gmail MCP server as an OAuth 2.1 resource server: the 401 names its metadata, tokens are
audience-checked, and send asks for confirmation by elicitation."""

from __future__ import annotations

import base64
import hashlib
import secrets

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult

from integrations.emulator.seed import DEMO_TOKEN
from tests.mcp_auth.conftest import CODEMEM_URL


def test_without_a_token_the_401_points_at_the_protected_resource_metadata(emulator, gmail_url) -> None:
    refused = httpx.post(gmail_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, trust_env=False)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    metadata_url = f"{emulator.url}/.well-known/oauth-protected-resource/mcp/gmail"
    assert challenge.startswith("Bearer ") and f'resource_metadata="{metadata_url}"' in challenge
    metadata = httpx.get(metadata_url, trust_env=False).json()
    assert metadata["resource"] == gmail_url and metadata["authorization_servers"] == [emulator.url]
    server = httpx.get(emulator.url + "/.well-known/oauth-authorization-server", trust_env=False).json()
    assert server["issuer"] == emulator.url and server["code_challenge_methods_supported"] == ["S256"] and server["registration_endpoint"]


def _token_for(emulator, resource: str) -> str:
    """An access token of the emulator's MCP authorization server, asked for `resource` (by hand: DCR, PKCE, code)."""
    redirect = CODEMEM_URL + "/callback"
    with httpx.Client(base_url=emulator.url, trust_env=False) as http:
        client = http.post("/oauth/register", json={"redirect_uris": [redirect], "token_endpoint_auth_method": "none"}).json()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        consent = http.get("/oauth/authorize", params={"response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect,
                                                        "code_challenge": challenge, "code_challenge_method": "S256", "resource": resource})
        code = httpx.URL(consent.headers["location"]).params["code"]
        token = http.post("/oauth/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                                "client_id": client["client_id"], "code_verifier": verifier, "resource": resource})
    return token.json()["access_token"]


def test_a_token_for_another_audience_is_refused(emulator, gmail_url) -> None:
    ask = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    other = _token_for(emulator, emulator.url + "/mcp/tickets")
    refused = httpx.post(gmail_url, json=ask, headers={"Authorization": f"Bearer {other}"}, trust_env=False)
    assert refused.status_code == 401 and "issued for another resource" in refused.json()["error_description"]
    assert "resource_metadata=" in refused.headers["www-authenticate"]
    mine = _token_for(emulator, gmail_url)
    accepted = httpx.post(gmail_url, json=ask, headers={"Authorization": f"Bearer {mine}", "Accept": "application/json, text/event-stream",
                                                        "Mcp-Protocol-Version": "2025-11-25"}, trust_env=False)
    assert accepted.status_code != 401


async def test_sending_a_draft_asks_for_confirmation(emulator, gmail_url) -> None:
    asked: list[str] = []
    answer = {"confirm": False}

    async def confirm(context, params) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content=answer)

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {DEMO_TOKEN}"}, trust_env=False)
    async with Client(streamable_http_client(gmail_url, http_client=http), elicitation_callback=confirm) as gmail:
        draft = (await gmail.call_tool("create_draft", {"to": ["lena@fabrikam.com"], "subject": "Invoice 42", "body": "Attached."})).structured_content
        declined = (await gmail.call_tool("send_draft", {"draft_id": draft["draft_id"]})).structured_content
        answer["confirm"] = True
        sent = (await gmail.call_tool("send_draft", {"draft_id": draft["draft_id"]})).structured_content
    assert asked[0] == "Send the draft 'Invoice 42' to lena@fabrikam.com?" and len(asked) == 2
    assert declined == {"sent": False, "message_id": None, "reason": "the user did not confirm sending"}
    assert sent["sent"] is True
    mailbox = httpx.get(emulator.url + "/_emulator/mailbox", trust_env=False).json()["messages"]
    assert [m["labels"] for m in mailbox if m["subject"] == "Invoice 42"] == [["SENT"]]
