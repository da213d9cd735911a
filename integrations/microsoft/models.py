"""Typed results of the Microsoft tools."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MailMessage(BaseModel):
    """An email in the user's Outlook mailbox (no body, no attachment content)."""

    id: str = Field(description="message id, for outlook_list_attachments / outlook_get_attachment")
    subject: str = Field(description="subject line ('' when empty)")
    sender_name: str = Field(description="display name of the sender")
    sender_address: str = Field(description="email address of the sender, e.g. 'lena@fabrikam.com'")
    received_at: datetime = Field(description="when the message was received (UTC)")
    has_attachments: bool = Field(description="true when the message has file attachments")
    is_read: bool = Field(default=False, description="true when the message has been read")


class MailMessageDetail(MailMessage):
    """An email with its recipients and its body as clean plain text."""

    to: list[str] = Field(description="recipient addresses")
    cc: list[str] = Field(description="cc addresses")
    body: str = Field(description="the body as plain text (HTML converted to text)")
    web_link: str = Field(description="link that opens the message in Outlook on the web")


class SentMail(BaseModel):
    """An email that was sent, replied or saved as a draft."""

    id: str = Field(description="message id of the draft ('' when sent directly or in a dry run)")
    to: list[str] = Field(description="recipients")
    subject: str = Field(description="subject line")
    dry_run: bool = Field(description="true when nothing was sent or saved because this was a dry run")


class AttachmentInfo(BaseModel):
    """An attachment of an email, without its content."""

    id: str = Field(description="attachment id, for outlook_get_attachment")
    name: str = Field(description="file name, e.g. 'invoice.pdf'")
    content_type: str = Field(description="MIME type, e.g. 'application/pdf'")
    size: int = Field(description="size in bytes as reported by Outlook")


class DriveItem(BaseModel):
    """A file or folder in the user's OneDrive."""

    id: str = Field(description="drive item id ('' in a dry run when the item does not exist yet)")
    name: str = Field(description="file or folder name")
    path: str = Field(description="path from the OneDrive root, e.g. 'Email Attachments/Fabrikam/q3.pdf'")
    web_url: str = Field(description="link that opens the item in a browser ('' in a dry run when it does not exist yet)")
    size: int | None = Field(description="size in bytes (for a folder: of its contents)")
    is_folder: bool = Field(description="true for a folder, false for a file")


class SharingLink(BaseModel):
    """A link that opens a OneDrive file or folder."""

    url: str = Field(description="the link to share")
    kind: str = Field(description="'view' (read-only) or 'edit'")
    scope: str = Field(description="'organization' (people in the user's organization) or 'anonymous' (anyone with the link)")
    path: str = Field(description="path of the shared item from the OneDrive root")
