"""Gmail tools: search with Gmail query syntax, read messages and attachments, send, draft, labels.

They call the Gmail API, or Google's Gmail MCP server when the deployment chose it
(`CODEMEM_GOOGLE_TRANSPORT=mcp`: `GoogleServices.gmail_mcp`); signatures and results are the same either way.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from html import unescape
from typing import Any

from integrations.blobs import FileRef
from integrations.context import current_context
from integrations.declaration import tool
from integrations.errors import ToolError
from integrations.google.models import GmailAttachmentInfo, GmailLabel, GmailMessage, GmailMessageDetail, SentMessage

READ = "https://www.googleapis.com/auth/gmail.readonly"
SEND = "https://www.googleapis.com/auth/gmail.send"
COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
MAX_LIMIT = 500
_CONCURRENT_GETS = 8
_HEADERS = ["From", "To", "Cc", "Subject", "Date"]


@tool(provider="google", scopes=(READ,), effect="read", retry_safe=True)
async def gmail_search(query: str = "", limit: int = 50) -> list[GmailMessage]:
    """Search Gmail messages by sender, words, subject, label, attachment or date (Gmail search syntax), newest first.

    query: e.g. 'from:fabrikam.com has:attachment newer_than:15d', 'is:unread label:invoices',
    'subject:(price list) after:2026/11/01 filename:pdf'. '' lists everything but drafts, spam and trash.
    limit: the most messages to return (1-500).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ToolError(f"gmail_search: limit must be between 1 and {MAX_LIMIT}, got {limit}")
    google = current_context().require_google()
    if google.gmail_mcp is not None:
        return await google.gmail_mcp.search(query, limit)
    ids: list[str] = []
    token: str | None = None
    while len(ids) < limit:
        request = google.gmail_messages.list(userId="me", q=query or None, maxResults=min(limit - len(ids), 100), pageToken=token)
        page = await google.execute(request, action=f"searching Gmail for {query!r}", retry_safe=True, provider_scope=READ)
        ids.extend(m["id"] for m in page.get("messages", []))
        token = page.get("nextPageToken")
        if not token:
            break
    gate = asyncio.Semaphore(_CONCURRENT_GETS)

    async def metadata(message_id: str) -> dict[str, Any]:
        async with gate:
            request = google.gmail_messages.get(userId="me", id=message_id, format="metadata", metadataHeaders=_HEADERS)
            return await google.execute(request, action=f"reading Gmail message {message_id!r}", retry_safe=True, provider_scope=READ)

    resources = await asyncio.gather(*(metadata(i) for i in ids[:limit]))
    return [_message(r) for r in resources]


@tool(provider="google", scopes=(READ,), effect="read", retry_safe=True)
async def gmail_get_message(message_id: str) -> GmailMessageDetail:
    """Read one Gmail message: headers, recipients, the body as plain text, and its attachment list.

    message_id: an id from gmail_search.
    """
    google = current_context().require_google()
    if google.gmail_mcp is not None:
        return await google.gmail_mcp.get_message(message_id)
    request = google.gmail_messages.get(userId="me", id=message_id, format="full")
    resource = await google.execute(request, action=f"reading Gmail message {message_id!r}", retry_safe=True, provider_scope=READ)
    headers = _headers(resource)
    parts = list(_parts(resource.get("payload") or {}))
    return GmailMessageDetail(
        **_message(resource).model_dump(),
        to=_addresses(headers.get("to", "")),
        cc=_addresses(headers.get("cc", "")),
        body=_body_text(parts),
        attachments=[
            GmailAttachmentInfo(id=p["body"]["attachmentId"], name=p.get("filename") or "attachment",
                                content_type=p.get("mimeType") or "application/octet-stream", size=int(p["body"].get("size", 0)))
            for p in parts if p.get("filename") and (p.get("body") or {}).get("attachmentId")
        ],
    )


@tool(provider="google", scopes=(READ,), effect="read", retry_safe=True)
async def gmail_get_attachment(message_id: str, attachment_id: str) -> FileRef:
    """Download one attachment of a Gmail message and return a FileRef that other tools accept (the bytes stay on the host).

    message_id: an id from gmail_search; attachment_id: an id from gmail_get_message's attachments.
    """
    ctx = current_context()
    google = ctx.require_google()
    if google.gmail_mcp is not None:
        raise not_offered("download attachments", "read the message with gmail_get_message and ask the user for the file")
    action = f"downloading attachment of Gmail message {message_id!r}"
    message = await google.execute(google.gmail_messages.get(userId="me", id=message_id, format="full"), action=action, retry_safe=True, provider_scope=READ)
    part = next((p for p in _parts(message.get("payload") or {}) if (p.get("body") or {}).get("attachmentId") == attachment_id), None)
    if part is None:
        raise ToolError(f"{action} failed: message has no attachment {attachment_id!r}; use the ids gmail_get_message lists")
    body = await google.execute(google.gmail_attachments.get(userId="me", messageId=message_id, id=attachment_id), action=action, retry_safe=True, provider_scope=READ)
    data = base64.urlsafe_b64decode(body.get("data", "") + "=" * (-len(body.get("data", "")) % 4))
    return ctx.blobs.put(data, part.get("filename") or "attachment", part.get("mimeType") or "application/octet-stream")


@tool(provider="google", scopes=(SEND,), effect="send", retry_safe=False)
async def gmail_send(to: list[str], subject: str, body: str, cc: list[str] | None = None, attachments: list[FileRef] | None = None) -> SentMessage:
    """Send an email from the user's Gmail.

    Not retried after an uncertain failure, so it is never sent twice.
    to / cc: email addresses; body: plain text; attachments: FileRefs returned by other tools.
    In a dry run nothing is sent and the result shows what would be.
    """
    ctx = current_context()
    if ctx.google is not None and ctx.google.gmail_mcp is not None:
        raise not_offered("send mail", "save it with gmail_create_draft for the user to review and send")
    raw = _compose(to, subject, body, cc or [], attachments or [])
    if ctx.dry_run:
        return SentMessage(id="", draft_id="", to=to, subject=subject, dry_run=True)
    google = ctx.require_google()
    sent = await google.execute(google.gmail_messages.send(userId="me", body={"raw": raw}), action=f"sending {subject!r}", retry_safe=False, provider_scope=SEND)
    return SentMessage(id=sent["id"], draft_id="", to=to, subject=subject, dry_run=False)


@tool(provider="google", scopes=(COMPOSE,), effect="write", retry_safe=False)
async def gmail_create_draft(to: list[str], subject: str, body: str, cc: list[str] | None = None, attachments: list[FileRef] | None = None) -> SentMessage:
    """Save a Gmail draft for the user to review before sending.

    to / cc: email addresses; body: plain text; attachments: FileRefs returned by other tools.
    """
    ctx = current_context()
    raw = _compose(to, subject, body, cc or [], attachments or [])
    over_mcp = ctx.google is not None and ctx.google.gmail_mcp is not None
    if over_mcp and attachments:
        raise not_offered("attach files to a draft", "save the draft without attachments and say where the files are")
    if ctx.dry_run:
        return SentMessage(id="", draft_id="", to=to, subject=subject, dry_run=True)
    google = ctx.require_google()
    if google.gmail_mcp is not None:
        return await google.gmail_mcp.create_draft(to, subject, body, cc or [])
    draft = await google.execute(google.gmail_drafts.create(userId="me", body={"message": {"raw": raw}}),
                                 action=f"saving draft {subject!r}", retry_safe=False, provider_scope=COMPOSE)
    return SentMessage(id=draft["message"]["id"], draft_id=draft["id"], to=to, subject=subject, dry_run=False)


@tool(provider="google", scopes=(READ,), effect="read", retry_safe=True)
async def gmail_list_labels() -> list[GmailLabel]:
    """List the user's Gmail labels (system ones such as INBOX and UNREAD, and their own)."""
    google = current_context().require_google()
    if google.gmail_mcp is not None:
        return await google.gmail_mcp.list_labels()
    result = await google.execute(google.gmail_labels.list(userId="me"), action="listing Gmail labels", retry_safe=True, provider_scope=READ)
    return [GmailLabel(id=l["id"], name=l["name"], type=l.get("type", "user")) for l in result.get("labels", [])]


@tool(provider="google", scopes=(MODIFY,), effect="write", retry_safe=True)
async def gmail_change_labels(message_id: str, add: list[str] | None = None, remove: list[str] | None = None) -> list[str]:
    """Add and remove labels on a Gmail message (e.g. remove 'UNREAD' to mark it read); returns its labels after.

    add / remove: label names or ids, e.g. 'Invoices', 'STARRED', 'UNREAD'. Safe to repeat.
    """
    ctx = current_context()
    google = ctx.require_google()
    labels = await gmail_list_labels()
    by_name = {l.name.lower(): l.id for l in labels} | {l.id.lower(): l.id for l in labels}
    unknown = [n for n in [*(add or []), *(remove or [])] if n.lower() not in by_name]
    if unknown:
        raise ToolError(f"gmail_change_labels: unknown label {', '.join(map(repr, unknown))}; see gmail_list_labels for the names")
    body = {"addLabelIds": [by_name[n.lower()] for n in add or []], "removeLabelIds": [by_name[n.lower()] for n in remove or []]}
    if google.gmail_mcp is not None:
        if ctx.dry_run:
            current = set(await google.gmail_mcp.labels_of(message_id))
            return sorted((current | set(body["addLabelIds"])) - set(body["removeLabelIds"]))
        return await google.gmail_mcp.change_labels(message_id, body["addLabelIds"], body["removeLabelIds"])
    if ctx.dry_run:
        current = await google.execute(google.gmail_messages.get(userId="me", id=message_id, format="minimal"), action="reading labels", retry_safe=True, provider_scope=READ)
        return sorted((set(current.get("labelIds", [])) | set(body["addLabelIds"])) - set(body["removeLabelIds"]))
    result = await google.execute(google.gmail_messages.modify(userId="me", id=message_id, body=body),
                                  action=f"changing labels of Gmail message {message_id!r}", retry_safe=True, provider_scope=MODIFY)
    return sorted(result.get("labelIds", []))


def not_offered(what: str, instead: str) -> ToolError:
    """The error for what the Gmail MCP server does not do, with what to do instead."""
    return ToolError(f"the Gmail MCP server (CODEMEM_GOOGLE_TRANSPORT=mcp) cannot {what}: {instead}, "
                     "or set CODEMEM_GOOGLE_TRANSPORT=rest to use the Gmail API", code="not_offered_over_mcp")


def _message(resource: dict[str, Any]) -> GmailMessage:
    headers = _headers(resource)
    name, address = email.utils.parseaddr(headers.get("from", ""))
    payload = resource.get("payload") or {}
    return GmailMessage(
        id=resource["id"], thread_id=resource.get("threadId", ""), subject=headers.get("subject", ""),
        sender_name=name or address, sender_address=address,
        received_at=datetime.fromtimestamp(int(resource.get("internalDate", "0")) / 1000, UTC),
        snippet=unescape(resource.get("snippet", "")), labels=resource.get("labelIds", []),
        has_attachments=payload.get("mimeType", "").startswith("multipart/mixed") or any(p.get("filename") for p in _parts(payload)),
    )


def _headers(resource: dict[str, Any]) -> dict[str, str]:
    return {h["name"].lower(): h["value"] for h in (resource.get("payload") or {}).get("headers", [])}


def _parts(part: dict[str, Any]) -> Any:
    yield part
    for child in part.get("parts", []) or []:
        yield from _parts(child)


def _body_text(parts: list[dict[str, Any]]) -> str:
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            data = (part.get("body") or {}).get("data")
            if part.get("mimeType") == wanted and data and not part.get("filename"):
                text = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", "replace")
                return html_to_text(text) if wanted == "text/html" else text
    return ""


def html_to_text(html: str) -> str:
    """The readable text of an HTML mail body."""
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", text)
    return unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _addresses(value: str) -> list[str]:
    return [a for _, a in email.utils.getaddresses([value]) if a]


def _compose(to: list[str], subject: str, body: str, cc: list[str], attachments: list[FileRef]) -> str:
    if not to:
        raise ToolError("an email needs at least one recipient in `to`")
    bad = [a for a in [*to, *cc] if "@" not in a]
    if bad:
        raise ToolError(f"not an email address: {', '.join(map(repr, bad))}; give addresses such as 'lena@fabrikam.com'")
    blobs = current_context().blobs
    message = EmailMessage()
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message.set_content(body)
    for ref in attachments:
        main, _, sub = ref.content_type.partition("/")
        message.add_attachment(blobs.get(ref.handle), maintype=main or "application", subtype=sub or "octet-stream", filename=ref.name)
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


TOOLS = (gmail_search, gmail_get_message, gmail_get_attachment, gmail_send, gmail_create_draft, gmail_list_labels, gmail_change_labels)
"""The tools this module registers, in order."""
