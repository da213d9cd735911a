"""Gmail's second transport: Google's Gmail MCP server (`CODEMEM_GOOGLE_TRANSPORT=mcp`), called with the
user's own Google token through the official `mcp` client, its results turned into the same typed models
as the REST transport gives.

The tool names and result fields follow the emulator's Gmail MCP server (integrations/emulator/mcp_gmail.py),
which models Google's; they are to be checked against the tool list of Google's hosted server. What the MCP
server does not offer (sending mail, downloading attachments) the tools refuse with a ToolError saying what to
do instead (`integrations.google.gmail.not_offered`).
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import google.auth.exceptions
import google.auth.transport.requests
import httpx2
import requests
from google.auth.credentials import Credentials
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from integrations.bearer_auth import BearerAuth
from integrations.errors import ToolError
from integrations.google.gmail import html_to_text
from integrations.google.models import GmailAttachmentInfo, GmailLabel, GmailMessage, GmailMessageDetail, SentMessage
from integrations.mcp.client import root_cause
from integrations.network import is_loopback

GMAIL_MCP_URL = "https://gmailmcp.googleapis.com/mcp/v1"
SWITCH = "or set CODEMEM_GOOGLE_TRANSPORT=rest to use the Gmail API"
_PAGE = 100


class GmailMcp:
    """The user's Gmail through the Gmail MCP server at `url`, authenticated with `credentials` (refreshed
    before they expire and once after a 401)."""

    def __init__(self, credentials: Credentials, url: str = GMAIL_MCP_URL, *, ca_certs: str | Path | None = None) -> None:
        self.credentials, self.url = credentials, url
        self._ca_certs = str(ca_certs) if ca_certs else None
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_certs)) if ca_certs else True
        self._trust_env = not is_loopback(urlparse(url).hostname or "")
        self._auth = BearerAuth(self._token, self._refresh)

    async def search(self, query: str, limit: int) -> list[GmailMessage]:
        found: list[GmailMessage] = []
        page_token: str | None = None
        while len(found) < limit:
            page = await self._call("search_messages", {"query": query, "max_results": min(limit - len(found), _PAGE),
                                                        **({"page_token": page_token} if page_token else {})},
                                    action=f"searching Gmail for {query!r}")
            found += [_message(m) for m in page["messages"]]
            page_token = page.get("next_page_token")
            if not page_token:
                break
        return found[:limit]

    async def get_message(self, message_id: str) -> GmailMessageDetail:
        detail = await self._call("get_message", {"message_id": message_id}, action=f"reading Gmail message {message_id!r}")
        body = detail["body"]
        return GmailMessageDetail(
            **_message(detail).model_dump(), to=detail["to"], cc=detail["cc"],
            body=html_to_text(body) if detail["body_mime_type"] == "text/html" else body,
            attachments=[GmailAttachmentInfo(id=a["attachment_id"], name=a["filename"], content_type=a["mime_type"], size=a["size"])
                         for a in detail["attachments"]])

    async def create_draft(self, to: list[str], subject: str, body: str, cc: list[str]) -> SentMessage:
        draft = await self._call("create_draft", {"to": to, "subject": subject, "body": body, **({"cc": cc} if cc else {})},
                                 action=f"saving draft {subject!r}")
        return SentMessage(id=draft["message_id"], draft_id=draft["draft_id"], to=to, subject=subject, dry_run=False)

    async def list_labels(self) -> list[GmailLabel]:
        labels = await self._call("list_labels", {}, action="listing Gmail labels")
        return [GmailLabel(id=l["id"], name=l["name"], type=l["type"]) for l in labels["labels"]]

    async def labels_of(self, message_id: str) -> list[str]:
        detail = await self._call("get_message", {"message_id": message_id}, action="reading labels")
        return detail["label_ids"]

    async def change_labels(self, message_id: str, add: list[str], remove: list[str]) -> list[str]:
        changed = await self._call("modify_message_labels", {"message_id": message_id, "add_label_ids": add, "remove_label_ids": remove},
                                   action=f"changing labels of Gmail message {message_id!r}")
        return sorted(changed["label_ids"])

    async def _call(self, tool: str, arguments: dict[str, Any], *, action: str) -> dict[str, Any]:
        """Call `tool`; its structured result, or a ToolError naming the action and the server's reason."""
        http = httpx2.AsyncClient(auth=self._auth, verify=self._verify, trust_env=self._trust_env, timeout=httpx2.Timeout(60.0))
        try:
            async with http, Client(streamable_http_client(self.url, http_client=http)) as client:
                result = await client.call_tool(tool, arguments)
        except Exception as raised:   # the transport runs in a task group: errors may come wrapped in groups
            error = root_cause(raised)
            if isinstance(error, ToolError):
                raise error from None
            if isinstance(error, (httpx2.HTTPError, OSError)):
                raise ToolError(f"{action} failed: could not reach the Gmail MCP server at {self.url} ({type(error).__name__}); "
                                f"check CODEMEM_GMAIL_MCP_URL and the network") from error
            raise ToolError(f"{action} failed: the Gmail MCP server at {self.url} answered with an error "
                            f"({type(error).__name__}: {error}); try again later, {SWITCH}") from error
        if result.is_error or result.structured_content is None:
            text = " ".join(getattr(c, "text", "") for c in result.content).strip() or "no details"
            raise ToolError(f"{action} failed: the Gmail MCP server said: {text}")
        return result.structured_content

    async def _token(self) -> str:
        if not self.credentials.valid:
            await self._refresh()
        return self.credentials.token

    async def _refresh(self) -> str:
        try:
            await asyncio.to_thread(self.credentials.refresh, google.auth.transport.requests.Request(self._session()))
        except (google.auth.exceptions.RefreshError, google.auth.exceptions.TransportError, NotImplementedError) as error:
            raise ToolError("the Google connection was revoked or expired; reconnect your Google account with /connect google",
                            status=401, code="reconnect:google") from error
        return self.credentials.token

    def _session(self) -> requests.Session:
        """For the token refresh: trusting `ca_certs` when given (REQUESTS_CA_BUNDLE would override it)."""
        session = requests.Session()
        if self._ca_certs:
            session.trust_env, session.verify = False, self._ca_certs
        return session


def _message(summary: dict[str, Any]) -> GmailMessage:
    name, address = email.utils.parseaddr(summary["sender"])
    return GmailMessage(
        id=summary["id"], thread_id=summary["thread_id"], subject=summary["subject"], sender_name=name or address,
        sender_address=address, received_at=datetime.fromisoformat(summary["received"]), snippet=summary["snippet"],
        labels=summary["label_ids"], has_attachments=summary["has_attachments"])
