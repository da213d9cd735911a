"""Outlook mail tools: list and search messages, read one, attachments as FileRefs, send, reply, draft,
move and mark read. Requests are built and sent by msgraph-sdk; responses are parsed by `wire` models."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from inscriptis import get_text
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.attachments.attachments_request_builder import AttachmentsRequestBuilder
from msgraph.generated.users.item.messages.item.message_item_request_builder import MessageItemRequestBuilder
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.messages.item.reply.reply_post_request_body import ReplyPostRequestBody
from msgraph.generated.users.item.messages.item.reply_all.reply_all_post_request_body import ReplyAllPostRequestBody
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from integrations.blobs import FileRef
from integrations.context import current_context
from integrations.declaration import tool
from integrations.errors import ToolError
from integrations.microsoft import wire
from integrations.microsoft.graph_errors import graph_errors_as_tool_errors
from integrations.microsoft.models import AttachmentInfo, MailMessage, MailMessageDetail, SentMail
from integrations.microsoft.transport import fetch, send

PAGE_SIZE = 25
MAX_LIMIT = 1000
MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024
_MESSAGE_FIELDS = ["id", "subject", "from", "receivedDateTime", "hasAttachments", "isRead"]
_DETAIL_FIELDS = [*_MESSAGE_FIELDS, "toRecipients", "ccRecipients", "body", "webLink"]
_ATTACHMENT_FIELDS = ["id", "name", "contentType", "size"]
# Graph requires the $orderby property to lead $filter; this bound is always true.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_MESSAGE_HINTS = {404: "the message or attachment id is unknown: use ids returned by outlook_list_messages / outlook_list_attachments"}
_WELL_KNOWN_FOLDERS = {
    "inbox": "inbox", "sentitems": "sentitems", "sent": "sentitems", "drafts": "drafts", "draft": "drafts",
    "archive": "archive", "deleteditems": "deleteditems", "deleted": "deleteditems", "trash": "deleteditems",
    "junkemail": "junkemail", "junk": "junkemail", "spam": "junkemail",
}
_FOLDER_HINTS = {404: "no mail folder has that name or id: use inbox, sentitems, drafts, archive, deleteditems or junkemail"}

Page = wire.Page[wire.Message]
AttachmentPage = wire.Page[wire.Attachment]


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
    return await _list_messages("outlook_list_messages", received_after=received_after, received_before=received_before,
                                has_attachments=has_attachments, limit=limit)


@tool(provider="microsoft", scopes=("Mail.Read",), effect="read", retry_safe=True)
async def outlook_search_messages(
    text: str = "",
    sender: str = "",
    received_after: datetime | None = None,
    received_before: datetime | None = None,
    has_attachments: bool | None = None,
    unread: bool | None = None,
    folder: str = "",
    limit: int = 100,
) -> list[MailMessage]:
    """Search Outlook emails by words, sender or sender domain, folder, unread state, attachments and received time, newest first.

    text: words to find in the subject, body or sender, e.g. 'price list' ('' for no word search).
    sender: an address ('lena@fabrikam.com') or a whole domain ('fabrikam.com').
    received_after / received_before: the received-time window (datetimes without a time zone are UTC).
    has_attachments: True only emails with file attachments, False only those without.
    unread: True only unread emails, False only read ones.
    folder: 'inbox', 'sentitems', 'drafts', 'archive', 'deleteditems', 'junkemail' or a folder id ('' searches all but drafts).
    limit: the most messages to return (1-1000).
    """
    return await _list_messages("outlook_search_messages", text=text, sender=sender, received_after=received_after,
                                received_before=received_before, has_attachments=has_attachments, unread=unread,
                                folder=folder, limit=limit)


@tool(provider="microsoft", scopes=("Mail.Read",), effect="read", retry_safe=True)
async def outlook_get_message(message_id: str) -> MailMessageDetail:
    """Read an Outlook email's full text: body, sender and recipients.

    The body comes as clean plain text (HTML converted).
    message_id: an id from outlook_list_messages or outlook_search_messages.
    """
    graph = current_context().require_graph()
    query = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(select=_DETAIL_FIELDS)
    request = graph.me.messages.by_message_id(message_id).to_get_request_information(RequestConfiguration(query_parameters=query))
    async with graph_errors_as_tool_errors(f"reading Outlook message {message_id!r}", _MESSAGE_HINTS):
        message = await fetch(graph, request, wire.Message)
    body = message.body or wire.ItemBody()
    text = get_text(body.content).strip() if body.content_type.lower() == "html" else body.content.strip()
    return MailMessageDetail(
        **_mail_message(message).model_dump(),
        to=[a for a in (_address(r) for r in message.to_recipients) if a],
        cc=[a for a in (_address(r) for r in message.cc_recipients) if a],
        body=text,
        web_link=message.web_link or "",
    )


@tool(provider="microsoft", scopes=("Mail.Read",), effect="read", retry_safe=True)
async def outlook_list_attachments(message_id: str) -> list[AttachmentInfo]:
    """List the files attached to one message: attachment id, file name, MIME type and size (no content).

    message_id: an id from outlook_list_messages.
    Use outlook_get_attachment to fetch a file you need.
    """
    graph = current_context().require_graph()
    query = AttachmentsRequestBuilder.AttachmentsRequestBuilderGetQueryParameters(select=_ATTACHMENT_FIELDS)
    request = graph.me.messages.by_message_id(message_id).attachments.to_get_request_information(RequestConfiguration(query_parameters=query))
    async with graph_errors_as_tool_errors(f"listing the attachments of message {message_id!r}", _MESSAGE_HINTS):
        page = await fetch(graph, request, AttachmentPage)
    return [
        AttachmentInfo(id=a.id, name=a.name or "", content_type=a.content_type or "application/octet-stream", size=a.size or 0)
        for a in page.value
    ]


@tool(provider="microsoft", scopes=("Mail.Read",), effect="read", retry_safe=True)
async def outlook_get_attachment(message_id: str, attachment_id: str) -> FileRef:
    """Download one attachment of a message and return a FileRef that other tools accept (the bytes stay on the host).

    message_id: an id from outlook_list_messages; attachment_id: an id from outlook_list_attachments.
    Pass the returned FileRef to tools such as onedrive_upload_file.
    """
    ctx = current_context()
    graph = ctx.require_graph()
    request = graph.me.messages.by_message_id(message_id).attachments.by_attachment_id(attachment_id).to_get_request_information()
    async with graph_errors_as_tool_errors(f"downloading attachment {attachment_id!r} of message {message_id!r}", _MESSAGE_HINTS):
        attachment = await fetch(graph, request, wire.Attachment)
    if (attachment.odata_type or "").lower() != "#microsoft.graph.fileattachment":
        kind = (attachment.odata_type or "#unknown").rpartition(".")[2]
        raise ToolError(
            f"attachment {attachment_id!r} of message {message_id!r} is a {kind}, not a file: only file attachments can be downloaded; skip it"
        )
    return ctx.blobs.put(attachment.content_bytes or b"", attachment.name or "attachment", attachment.content_type or "application/octet-stream")


@tool(provider="microsoft", scopes=("Mail.Send",), effect="send", retry_safe=False)
async def outlook_send(to: list[str], subject: str, body: str, cc: list[str] | None = None, attachments: list[FileRef] | None = None) -> SentMail:
    """Send an email from the user's Outlook (kept in Sent Items). Sent at most once, never twice.

    to / cc: email addresses; body: plain text; attachments: FileRefs returned by other tools (3 MB in all at most).
    In a dry run nothing is sent and the result shows what would be.
    """
    ctx = current_context()
    message = _compose(to, subject, body, cc or [], attachments or [])
    if ctx.dry_run:
        return SentMail(id="", to=to, subject=subject, dry_run=True)
    graph = ctx.require_graph()
    request = graph.me.send_mail.to_post_request_information(SendMailPostRequestBody(message=message, save_to_sent_items=True))
    async with graph_errors_as_tool_errors(f"sending {subject!r}"):
        await send(graph, request, retry_safe=False)
    return SentMail(id="", to=to, subject=subject, dry_run=False)


@tool(provider="microsoft", scopes=("Mail.Send",), effect="send", retry_safe=False)
async def outlook_reply(message_id: str, body: str, reply_all: bool = False) -> SentMail:
    """Reply to an Outlook email (to its sender, or to everyone with reply_all=True). Sent at most once, never twice.

    message_id: an id from outlook_list_messages / outlook_search_messages; body: the reply as plain text.
    In a dry run nothing is sent and the result shows who would receive it.
    """
    ctx = current_context()
    graph = ctx.require_graph()
    original = await _message_for_reply(message_id)
    recipients = [a for a in [_address(original.from_) if original.from_ else ""] if a]
    if reply_all:
        own = await _own_address()
        recipients += [a for a in (_address(r) for r in [*original.to_recipients, *original.cc_recipients]) if a and a.lower() != own]
    subject = "RE: " + (original.subject or "")
    if ctx.dry_run:
        return SentMail(id="", to=list(dict.fromkeys(recipients)), subject=subject, dry_run=True)
    item = graph.me.messages.by_message_id(message_id)
    request = (item.reply_all.to_post_request_information(ReplyAllPostRequestBody(comment=body)) if reply_all
               else item.reply.to_post_request_information(ReplyPostRequestBody(comment=body)))
    async with graph_errors_as_tool_errors(f"replying to message {message_id!r}", _MESSAGE_HINTS):
        await send(graph, request, retry_safe=False)
    return SentMail(id="", to=list(dict.fromkeys(recipients)), subject=subject, dry_run=False)


@tool(provider="microsoft", scopes=("Mail.ReadWrite",), effect="write", retry_safe=False)
async def outlook_create_draft(to: list[str], subject: str, body: str, cc: list[str] | None = None, attachments: list[FileRef] | None = None) -> SentMail:
    """Save an email as an Outlook draft for the user to review and send; returns the draft's message id.

    to / cc: email addresses; body: plain text; attachments: FileRefs returned by other tools (3 MB in all at most).
    """
    ctx = current_context()
    message = _compose(to, subject, body, cc or [], attachments or [])
    if ctx.dry_run:
        return SentMail(id="", to=to, subject=subject, dry_run=True)
    graph = ctx.require_graph()
    async with graph_errors_as_tool_errors(f"saving draft {subject!r}"):
        draft = await fetch(graph, graph.me.messages.to_post_request_information(message), wire.Message, retry_safe=False)
    return SentMail(id=draft.id, to=to, subject=subject, dry_run=False)


@tool(provider="microsoft", scopes=("Mail.ReadWrite",), effect="write", retry_safe=False)
async def outlook_move_message(message_id: str, folder: str) -> MailMessage:
    """Move an Outlook email to another mail folder; returns the moved message (its id changes).

    folder: 'inbox', 'archive', 'deleteditems', 'junkemail', 'drafts', 'sentitems' or a folder id.
    In a dry run nothing moves and the message comes back unchanged.
    """
    ctx = current_context()
    graph = ctx.require_graph()
    destination = _folder_id(folder)
    if ctx.dry_run:
        return _mail_message(await _message_for_reply(message_id))
    request = graph.me.messages.by_message_id(message_id).move.to_post_request_information(MovePostRequestBody(destination_id=destination))
    async with graph_errors_as_tool_errors(f"moving message {message_id!r} to {folder!r}", {**_FOLDER_HINTS, **_MESSAGE_HINTS}):
        moved = await fetch(graph, request, wire.Message, retry_safe=False)
    return _mail_message(moved)


@tool(provider="microsoft", scopes=("Mail.ReadWrite",), effect="write", retry_safe=True)
async def outlook_mark_read(message_id: str, read: bool = True) -> MailMessage:
    """Mark an Outlook email as seen, or as unseen with read=False; returns the message.

    Safe to repeat.
    """
    ctx = current_context()
    graph = ctx.require_graph()
    if ctx.dry_run:
        return _mail_message(await _message_for_reply(message_id)).model_copy(update={"is_read": read})
    request = graph.me.messages.by_message_id(message_id).to_patch_request_information(Message(is_read=read))
    async with graph_errors_as_tool_errors(f"marking message {message_id!r} as {'read' if read else 'unread'}", _MESSAGE_HINTS):
        updated = await fetch(graph, request, wire.Message)
    return _mail_message(updated)


async def _list_messages(
    tool_name: str, *, text: str = "", sender: str = "", received_after: datetime | None, received_before: datetime | None,
    has_attachments: bool | None, unread: bool | None = None, folder: str = "", limit: int,
) -> list[MailMessage]:
    if not 1 <= limit <= MAX_LIMIT:
        raise ToolError(f"{tool_name}: limit must be between 1 and {MAX_LIMIT}, got {limit}")
    after, before = _as_utc(received_after), _as_utc(received_before)
    if after is not None and before is not None and after >= before:
        raise ToolError(f"{tool_name}: received_after ({after.isoformat()}) must be earlier than received_before ({before.isoformat()})")
    sender = sender.strip().lower().lstrip("@")
    domain = sender if sender and "@" not in sender else ""

    def wanted(m: MailMessage) -> bool:
        """The exact criteria, also checked here because $search and sender domains are matched loosely by Graph."""
        address = m.sender_address.lower()
        return ((not domain or address.endswith("@" + domain) or address.endswith("." + domain))
                and (not sender or domain or address == sender)
                and (after is None or m.received_at >= after) and (before is None or m.received_at < before)
                and (has_attachments is None or m.has_attachments == has_attachments)
                and (unread is None or m.is_read != unread))

    query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(select=_MESSAGE_FIELDS, top=PAGE_SIZE if domain or text else min(limit, PAGE_SIZE))
    if text.strip():
        query.search = _kql(text, sender, after, before, has_attachments, unread)
    else:
        query.filter = _odata_filter("" if domain else sender, after, before, has_attachments, unread)
        query.orderby = ["receivedDateTime desc"]
    graph = current_context().require_graph()
    builder: Any = graph.me.mail_folders.by_mail_folder_id(_folder_id(folder)).messages if folder.strip() else graph.me.messages
    request = builder.to_get_request_information(RequestConfiguration(query_parameters=query))
    found: list[MailMessage] = []
    async with graph_errors_as_tool_errors("searching Outlook messages" if tool_name != "outlook_list_messages" else "listing Outlook messages", _FOLDER_HINTS):
        while True:
            page = await fetch(graph, request, Page)
            found.extend(m for m in map(_mail_message, page.value) if wanted(m))
            if len(found) >= limit or not page.next_link:
                break
            request = builder.with_url(page.next_link).to_get_request_information()
    return found[:limit]


def _odata_filter(sender: str, after: datetime | None, before: datetime | None, has_attachments: bool | None, unread: bool | None) -> str | None:
    """A $filter whose first clause is on receivedDateTime whenever there is one (Graph's $orderby rule)."""
    others = []
    if before is not None:
        others.append(f"receivedDateTime lt {_odata_time(before)}")
    if has_attachments is not None:
        others.append(f"hasAttachments eq {'true' if has_attachments else 'false'}")
    if unread is not None:
        others.append(f"isRead eq {'false' if unread else 'true'}")
    if sender:
        others.append(f"from/emailAddress/address eq '{sender.replace(chr(39), chr(39) * 2)}'")
    if after is None and not others:
        return None
    first = f"receivedDateTime ge {_odata_time(after or _EARLIEST)}"
    return " and ".join([first, *others])


def _kql(text: str, sender: str, after: datetime | None, before: datetime | None, has_attachments: bool | None, unread: bool | None) -> str:
    """A $search expression; date bounds are whole days, widened so the exact check afterwards sees every match."""
    terms = re.findall(r'[^\s"]+', text)
    if sender:
        terms.append(f"from:{sender}")
    if after is not None:
        terms.append(f"received>={after.date().isoformat()}")
    if before is not None:
        terms.append(f"received<{(before + timedelta(days=1)).date().isoformat()}")
    if has_attachments is not None:
        terms.append(f"hasAttachments:{'true' if has_attachments else 'false'}")
    if unread is not None:
        terms.append(f"isRead:{'false' if unread else 'true'}")
    return '"' + " ".join(terms) + '"'


async def _message_for_reply(message_id: str) -> wire.Message:
    graph = current_context().require_graph()
    query = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(select=_DETAIL_FIELDS)
    request = graph.me.messages.by_message_id(message_id).to_get_request_information(RequestConfiguration(query_parameters=query))
    async with graph_errors_as_tool_errors(f"reading Outlook message {message_id!r}", _MESSAGE_HINTS):
        return await fetch(graph, request, wire.Message)


async def _own_address() -> str:
    graph = current_context().require_graph()
    async with graph_errors_as_tool_errors("reading the signed-in user's address"):
        me = await fetch(graph, graph.me.to_get_request_information(), _Me)
    return (me.mail or me.user_principal_name or "").lower()


class _Me(wire.GraphModel):
    mail: str | None = None
    user_principal_name: str | None = None


def _compose(to: list[str], subject: str, body: str, cc: list[str], attachments: list[FileRef]) -> Message:
    if not to:
        raise ToolError("an email needs at least one recipient in `to`")
    bad = [a for a in [*to, *cc] if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", a)]
    if bad:
        raise ToolError(f"not an email address: {', '.join(map(repr, bad))}; give addresses such as 'lena@fabrikam.com'")
    blobs = current_context().blobs
    files = [(ref, blobs.get(ref.handle)) for ref in attachments]
    total = sum(len(data) for _, data in files)
    if total > MAX_ATTACHMENT_BYTES:
        raise ToolError(f"the attachments add up to {total} bytes, over Outlook's {MAX_ATTACHMENT_BYTES} for one request: "
                        "upload them with onedrive_upload_file and send a link from onedrive_create_link instead")
    return Message(
        subject=subject,
        body=ItemBody(content_type=BodyType.Text, content=body),
        to_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in to],
        cc_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in cc],
        attachments=[FileAttachment(name=ref.name, content_type=ref.content_type, content_bytes=data) for ref, data in files] or None,
    )


def _folder_id(folder: str) -> str:
    """A well-known folder name for friendly names ('Sent Items', 'Junk'), else the text as a folder id."""
    return _WELL_KNOWN_FOLDERS.get(re.sub(r"[\s_-]", "", folder.lower()), folder.strip())


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _odata_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _address(recipient: wire.Recipient | None) -> str:
    return ((recipient.email_address.address if recipient and recipient.email_address else None) or "").strip()


def _mail_message(message: wire.Message) -> MailMessage:
    if message.received_date_time is None:
        raise ToolError(f"reading Outlook messages failed: message {message.id!r} came back without receivedDateTime; report this")
    sender = message.from_.email_address if message.from_ else None
    return MailMessage(
        id=message.id,
        subject=message.subject or "",
        sender_name=(sender.name if sender else None) or "",
        sender_address=(sender.address if sender else None) or "",
        received_at=message.received_date_time,
        has_attachments=bool(message.has_attachments),
        is_read=bool(message.is_read),
    )


TOOLS = (
    outlook_list_messages, outlook_search_messages, outlook_get_message, outlook_list_attachments, outlook_get_attachment,
    outlook_send, outlook_reply, outlook_create_draft, outlook_move_message, outlook_mark_read,
)
"""The tools this module registers, in order."""
