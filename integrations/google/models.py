"""Typed results of the Google tools."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class GmailMessage(BaseModel):
    """An email in the user's Gmail (headers only)."""

    id: str = Field(description="message id, for gmail_get_message / gmail_get_attachment / gmail_change_labels")
    thread_id: str = Field(description="conversation id")
    subject: str = Field(description="subject line ('' when empty)")
    sender_name: str = Field(description="display name of the sender")
    sender_address: str = Field(description="email address of the sender")
    received_at: datetime = Field(description="when Gmail received it (UTC)")
    snippet: str = Field(description="the first words of the body")
    labels: list[str] = Field(description="label ids, e.g. INBOX, UNREAD, Label_1")
    has_attachments: bool = Field(description="true when the message has file attachments")


class GmailAttachmentInfo(BaseModel):
    """An attachment of a Gmail message, without its content."""

    id: str = Field(description="attachment id, for gmail_get_attachment")
    name: str = Field(description="file name")
    content_type: str = Field(description="MIME type")
    size: int = Field(description="size in bytes")


class GmailMessageDetail(GmailMessage):
    """A Gmail message with its plain-text body, recipients and attachment list."""

    to: list[str] = Field(description="recipient addresses")
    cc: list[str] = Field(description="cc addresses")
    body: str = Field(description="the body as plain text (HTML converted to text)")
    attachments: list[GmailAttachmentInfo] = Field(description="file attachments (fetch with gmail_get_attachment)")


class GmailLabel(BaseModel):
    """A Gmail label."""

    id: str = Field(description="label id used by the API, e.g. 'INBOX' or 'Label_3'")
    name: str = Field(description="label name shown to the user")
    type: str = Field(description="'system' or 'user'")


class SentMessage(BaseModel):
    """A message that was sent or saved as a draft."""

    id: str = Field(description="message id ('' in a dry run)")
    draft_id: str = Field(description="draft id for drafts, '' otherwise")
    to: list[str] = Field(description="recipients")
    subject: str = Field(description="subject line")
    dry_run: bool = Field(description="true when nothing was sent because this was a dry run")


class SpreadsheetInfo(BaseModel):
    """A Google spreadsheet."""

    id: str = Field(description="spreadsheet id, for the other sheets_* tools ('' in a dry run)")
    title: str = Field(description="spreadsheet title")
    url: str = Field(description="link that opens it in a browser")
    sheets: list[str] = Field(description="sheet (tab) titles, in order")


class RangeUpdate(BaseModel):
    """What a write to a spreadsheet changed."""

    range: str = Field(description="the A1 range written, e.g. 'Sheet1!A5:C7'")
    rows: int = Field(description="number of rows written")
    cells: int = Field(description="number of cells written")
    dry_run: bool = Field(description="true when nothing was written because this was a dry run")


class SheetRow(BaseModel):
    """One row of a sheet as a record keyed by the header row."""

    row_number: int = Field(description="1-based row number in the sheet (the header is row 1)")
    values: dict[str, str] = Field(description="cell text by column header")
