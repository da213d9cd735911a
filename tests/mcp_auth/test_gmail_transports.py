"""The typed Gmail functions over both transports, against the same emulator state: the Gmail API (rest)
and the Gmail MCP server (mcp) give the same results; what the MCP server cannot do is said clearly."""

from __future__ import annotations

import ssl

import httpx
import pytest
from google.oauth2.credentials import Credentials

from integrations.accounts import GoogleOAuth

from integrations.blobs import BlobStore
from integrations.context import ToolContext, use_context
from integrations.emulator.faults import bearer_digest
from integrations.emulator.seed import DEMO_TOKEN
from integrations.errors import ToolError
from integrations.google.client import GoogleServices
from integrations.google.gmail import (gmail_change_labels, gmail_create_draft, gmail_get_attachment, gmail_get_message,
                                       gmail_list_labels, gmail_search, gmail_send)
from tests.mcp_auth.conftest import requests_to


def _context(emulator, transport: str) -> ToolContext:
    mcp_url = emulator.url + "/mcp/gmail" if transport == "mcp" else None
    google = GoogleServices(Credentials(DEMO_TOKEN), api_endpoint=emulator.url + "/", gmail_mcp_url=mcp_url)
    return ToolContext(graph=None, google=google, blobs=BlobStore())


async def _session(emulator, transport: str) -> dict:
    """A little of everything a skill does with Gmail, with the typed results it gets."""
    with use_context(_context(emulator, transport)):
        found = await gmail_search("has:attachment newer_than:30d", limit=7)
        detail = await gmail_get_message(found[0].id)
        labels = await gmail_list_labels()
        added = await gmail_change_labels(found[1].id, add=["Invoices"], remove=["UNREAD"])
        restored = await gmail_change_labels(found[1].id, add=["UNREAD"] if "UNREAD" in found[1].labels else [], remove=["Invoices"])
        draft = await gmail_create_draft(["lena@fabrikam.com"], f"Draft over {transport}", "See you Monday.")
        drafts = await gmail_search(f'in:drafts subject:"Draft over {transport}"', limit=5)
    return {"found": found, "detail": detail, "labels": labels, "added": added, "restored": restored,
            "draft": draft.model_dump(exclude={"id", "draft_id", "subject"}), "drafts": [d.subject for d in drafts]}


async def test_gmail_over_mcp_and_over_rest_give_the_same_typed_results(emulator) -> None:
    rest = await _session(emulator, "rest")
    rest_calls = len(requests_to(emulator, "/mcp/gmail"))
    mcp = await _session(emulator, "mcp")
    assert rest_calls == 0 and len(requests_to(emulator, "/mcp/gmail")) > 6, "each transport used its own server"
    assert len(rest["found"]) == 7 and rest["detail"].attachments and rest["detail"].body
    assert mcp["found"] == rest["found"]
    assert mcp["detail"] == rest["detail"]
    assert mcp["labels"] == rest["labels"]
    assert mcp["added"] == rest["added"] and "Label_1" in rest["added"] and "UNREAD" not in rest["added"]
    assert mcp["restored"] == rest["restored"]
    assert mcp["draft"] == rest["draft"] and mcp["drafts"] == ["Draft over mcp"] and rest["drafts"] == ["Draft over rest"]


async def test_what_the_gmail_mcp_server_cannot_do_is_said_with_what_to_do_instead(emulator) -> None:
    with use_context(_context(emulator, "mcp")):
        message = (await gmail_search("has:attachment", limit=1))[0]
        attachment = (await gmail_get_message(message.id)).attachments[0]
        with pytest.raises(ToolError) as no_send:
            await gmail_send(["lena@fabrikam.com"], "Hello", "Hi Lena")
        with pytest.raises(ToolError) as no_download:
            await gmail_get_attachment(message.id, attachment.id)
        with pytest.raises(ToolError) as bad_query:
            await gmail_search("has:spreadsheet", limit=1)
    assert str(no_send.value) == ("the Gmail MCP server (CODEMEM_GOOGLE_TRANSPORT=mcp) cannot send mail: save it with gmail_create_draft "
                                  "for the user to review and send, or set CODEMEM_GOOGLE_TRANSPORT=rest to use the Gmail API")
    assert "cannot download attachments" in str(no_download.value)
    assert str(bad_query.value).startswith("searching Gmail for 'has:spreadsheet' failed: the Gmail MCP server said: ")
    assert "has:attachment" in str(bad_query.value)


async def test_over_mcp_the_users_google_token_is_refreshed_after_a_401_and_a_revoked_one_says_reconnect(emulator) -> None:
    oauth = GoogleOAuth("google-client", "google-secret", "http://codemem.test/oauth/google/callback",
                        auth_uri=emulator.https_url + "/o/oauth2/v2/auth", token_uri=emulator.https_url + "/o/oauth2/token",
                        ca_certs=emulator.ca_path)
    url, secret = oauth.start("state-1")
    async with httpx.AsyncClient(trust_env=False, verify=ssl.create_default_context(cafile=str(emulator.ca_path))) as browser:
        code = httpx.URL((await browser.get(url)).headers["location"]).params["code"]
    signed = oauth.finish(secret, {"code": code, "state": "state-1"})
    credentials = oauth.credentials(signed.secret)
    google = GoogleServices(credentials, gmail_mcp_url=emulator.url + "/mcp/gmail", ca_certs=emulator.ca_path)
    first = credentials.token
    httpx.post(emulator.url + "/_emulator/oauth/expire?provider=google", trust_env=False)
    with use_context(ToolContext(graph=None, google=google, blobs=BlobStore())):
        assert len(await gmail_search("", limit=3)) == 3
        assert credentials.token != first, "the expired token was refreshed after the 401"
        httpx.post(emulator.url + "/_emulator/oauth/revoke?provider=google", trust_env=False)
        with pytest.raises(ToolError) as revoked:
            await gmail_list_labels()
    assert revoked.value.code == "reconnect:google" and "/connect google" in str(revoked.value)
    tokens = {c["bearer"] for c in requests_to(emulator, "/mcp/gmail")}
    assert tokens == {bearer_digest(first), bearer_digest(credentials.token)}, "only the user's own Google tokens went to the server"
