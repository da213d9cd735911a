"""Outlook mail tools: list messages, list attachments, fetch one attachment into the blob store."""

from __future__ import annotations

from datetime import UTC, datetime

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.message import Message
from msgraph.generated.users.item.messages.item.attachments.attachments_request_builder import AttachmentsRequestBuilder
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder

from integrations.blobs import FileRef
from integrations.context import current_context
from integrations.declaration import tool
from integrations.errors import ToolError
from integrations.microsoft.graph_errors import graph_errors_as_tool_errors
from integrations.microsoft.models import AttachmentInfo, MailMessage

PAGE_SIZE = 25
MAX_LIMIT = 1000
_MESSAGE_FIELDS = ["id", "subject", "from", "receivedDateTime", "hasAttachments"]
_ATTACHMENT_FIELDS = ["id", "name", "contentType", "size"]
# Graph requires the $orderby property to lead $filter; this bound is always true.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_MESSAGE_HINTS = {404: "the message or attachment id is unknown: use ids returned by outlook_list_messages / outlook_list_attachments"}


@tool(provider="microsoft", scopes=("Mail.Read",), effect="read", retry_safe=True)
async def outlook_list_messages(
    received_after: datetime | None = None,
    received_before: datetime | None = None,
    has_attachments: bool | None = None,
    limit: int = 100,
) -> list[MailMessage]:
    """List emails in the user's Outlook mailbox received in a time window, newest first; optionally only emails with attachments.

    received_after: keep messages received at or after this time (e.g. now - 15 days).
    received_before: keep messages received strictly before this time.
    Datetimes without a time zone are taken as UTC.
    has_attachments: True keeps only emails with file attachments, False only those without.
    limit: the most messages to return (1-1000); raise it when you need a long period.
    Returns subject, sender and received time; use outlook_list_attachments for the files.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ToolError(f"outlook_list_messages: limit must be between 1 and {MAX_LIMIT}, got {limit}")
    after, before = _as_utc(received_after), _as_utc(received_before)
    if after is not None and before is not None and after >= before:
        raise ToolError(
            f"outlook_list_messages: received_after ({after.isoformat()}) must be earlier than received_before ({before.isoformat()})"
        )
    clauses = []
    if after is not None or has_attachments is not None:
        clauses.append(f"receivedDateTime ge {_odata_time(after or _EARLIEST)}")
    if before is not None:
        clauses.append(f"receivedDateTime lt {_odata_time(before)}")
    if has_attachments is not None:
        clauses.append(f"hasAttachments eq {'true' if has_attachments else 'false'}")
    query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
        select=_MESSAGE_FIELDS,
        filter=" and ".join(clauses) or None,
        orderby=["receivedDateTime desc"],
        top=min(limit, PAGE_SIZE),
    )
    messages = current_context().require_graph().me.messages
    found: list[MailMessage] = []
    async with graph_errors_as_tool_errors("listing Outlook messages"):
        page = await messages.get(RequestConfiguration(query_parameters=query))
        while page is not None:
            found.extend(_mail_message(m) for m in page.value or [])
            if len(found) >= limit or not page.odata_next_link:
                break
            page = await messages.with_url(page.odata_next_link).get()
    return found[:limit]


@tool(provider="microsoft", scopes=("Mail.Read",), effect="read", retry_safe=True)
async def outlook_list_attachments(message_id: str) -> list[AttachmentInfo]:
    """List the files attached to one message: attachment id, file name, MIME type and size (no content).

    message_id: an id from outlook_list_messages.
    Use outlook_get_attachment to fetch a file you need.
    """
    query = AttachmentsRequestBuilder.AttachmentsRequestBuilderGetQueryParameters(select=_ATTACHMENT_FIELDS)
    builder = current_context().require_graph().me.messages.by_message_id(message_id).attachments
    async with graph_errors_as_tool_errors(f"listing the attachments of message {message_id!r}", _MESSAGE_HINTS):
        result = await builder.get(RequestConfiguration(query_parameters=query))
    return [
        AttachmentInfo(
            id=a.id or "",
            name=a.name or "",
            content_type=a.content_type or "application/octet-stream",
            size=a.size or 0,
        )
        for a in (result.value if result else None) or []
    ]


@tool(provider="microsoft", scopes=("Mail.Read",), effect="read", retry_safe=True)
async def outlook_get_attachment(message_id: str, attachment_id: str) -> FileRef:
    """Download one attachment of a message and return a FileRef that other tools accept (the bytes stay on the host).

    message_id: an id from outlook_list_messages; attachment_id: an id from outlook_list_attachments.
    Pass the returned FileRef to tools such as onedrive_upload_file.
    """
    ctx = current_context()
    builder = ctx.require_graph().me.messages.by_message_id(message_id).attachments.by_attachment_id(attachment_id)
    async with graph_errors_as_tool_errors(f"downloading attachment {attachment_id!r} of message {message_id!r}", _MESSAGE_HINTS):
        attachment = await builder.get()
    if not isinstance(attachment, FileAttachment):
        kind = type(attachment).__name__ if attachment is not None else "nothing"
        raise ToolError(
            f"attachment {attachment_id!r} of message {message_id!r} is a {kind}, not a file: only file attachments can be downloaded; skip it"
        )
    content = attachment.content_bytes or b""
    return ctx.blobs.put(content, attachment.name or "attachment", attachment.content_type or "application/octet-stream")


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _odata_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _mail_message(message: Message) -> MailMessage:
    if message.received_date_time is None:
        raise ToolError(f"listing Outlook messages failed: message {message.id!r} came back without receivedDateTime; report this")
    sender = message.from_.email_address if message.from_ else None
    return MailMessage(
        id=message.id or "",
        subject=message.subject or "",
        sender_name=(sender.name if sender else None) or "",
        sender_address=(sender.address if sender else None) or "",
        received_at=message.received_date_time,
        has_attachments=bool(message.has_attachments),
    )


TOOLS = (outlook_list_messages, outlook_list_attachments, outlook_get_attachment)
"""The tools this module registers, in order."""
