"""Microsoft Graph v1.0 JSON shapes for the emulator's users, messages, attachments and drive items."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from integrations.emulator.state import Drive, DriveNode, EmulatorState, Person, StoredAttachment, StoredMessage

MESSAGE_PROPERTIES = [
    "id", "createdDateTime", "lastModifiedDateTime", "receivedDateTime", "sentDateTime", "hasAttachments",
    "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId", "conversationId",
    "isRead", "isDraft", "webLink", "body", "sender", "from", "toRecipients", "ccRecipients",
]
ATTACHMENT_PROPERTIES = ["id", "lastModifiedDateTime", "name", "contentType", "size", "isInline", "contentBytes"]
INBOX_FOLDER_ID = "AAMkADNlYjE0MzAuAAAAAAEMAAA="
FOLDER_IDS = {
    "inbox": INBOX_FOLDER_ID,
    "sentitems": "AAMkADNlYjE0MzAuAAAAAAEJAAA=",
    "drafts": "AAMkADNlYjE0MzAuAAAAAAEPAAA=",
    "archive": "AAMkADNlYjE0MzAuAAAAAAFSAAA=",
    "deleteditems": "AAMkADNlYjE0MzAuAAAAAAEKAAA=",
    "junkemail": "AAMkADNlYjE0MzAuAAAAAAEiAAA=",
}
"""Well-known mail folder names and the ids the emulator gives them."""


def iso(moment: datetime) -> str:
    """Graph's timestamp format: UTC with a trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _recipient(person: Person) -> dict[str, Any]:
    return {"emailAddress": {"name": person.name, "address": person.address}}


def user_json(state: EmulatorState, base_url: str) -> dict[str, Any]:
    given, _, surname = state.user.name.partition(" ")
    return {
        "@odata.context": f"{base_url}/$metadata#users/$entity",
        "id": state.user_id,
        "displayName": state.user.name,
        "givenName": given,
        "surname": surname,
        "mail": state.user.address,
        "userPrincipalName": state.user.address,
        "jobTitle": "Operations Manager",
        "officeLocation": "Redmond",
        "preferredLanguage": "en-US",
        "businessPhones": ["+1 425 555 0109"],
        "mobilePhone": None,
    }


def message_json(message: StoredMessage, select: list[str] | None) -> dict[str, Any]:
    full: dict[str, Any] = {
        "id": message.id,
        "createdDateTime": iso(message.received),
        "lastModifiedDateTime": iso(message.received),
        "receivedDateTime": iso(message.received),
        "sentDateTime": iso(message.received),
        "hasAttachments": message.has_attachments,
        "internetMessageId": message.internet_message_id,
        "subject": message.subject,
        "bodyPreview": message.body_text[:255].replace("\n", " "),
        "importance": "normal",
        "parentFolderId": FOLDER_IDS.get(message.folder, INBOX_FOLDER_ID),
        "conversationId": message.conversation_id,
        "isRead": message.is_read,
        "isDraft": message.is_draft,
        "webLink": f"https://outlook.office365.com/owa/?ItemID={quote(message.id, safe='')}&exvsurl=1&viewmodel=ReadMessageItem",
        "body": {"contentType": message.body_type, "content": message.body_text},
        "sender": _recipient(message.sender),
        "from": _recipient(message.sender),
        "toRecipients": [_recipient(p) for p in message.to],
        "ccRecipients": [_recipient(p) for p in message.cc],
    }
    shaped = {"@odata.etag": f'W/"CQAAABYAAAD{hashlib.md5(message.id.encode()).hexdigest()[:12]}"'}
    shaped.update(full if select is None else {k: full[k] for k in ["id", *select]})
    return shaped


def attachment_json(attachment: StoredAttachment, select: list[str] | None) -> dict[str, Any]:
    full: dict[str, Any] = {
        "@odata.mediaContentType": attachment.content_type,
        "id": attachment.id,
        "lastModifiedDateTime": iso(attachment.last_modified),
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "isInline": False,
        "contentId": None,
        "contentLocation": None,
        "contentBytes": base64.b64encode(attachment.content).decode(),
    }
    shaped = {"@odata.type": "#microsoft.graph.fileAttachment"}
    shaped.update(full if select is None else {k: full[k] for k in ["id", *select]})
    return shaped


def web_url(drive: Drive, node: DriveNode) -> str:
    owner = drive.owner.address.replace("@", "_").replace(".", "_")
    path = drive.path_of(node)
    suffix = "/" + quote(path) if path else ""
    return f"https://contoso-my.sharepoint.com/personal/{owner}/Documents{suffix}"


def drive_json(drive: Drive, base_url: str) -> dict[str, Any]:
    owner = {"user": {"displayName": drive.owner.name}}
    root = drive.node("root")
    used = drive.size_of(root)
    return {
        "@odata.context": f"{base_url}/$metadata#drives/$entity",
        "id": drive.id,
        "driveType": "business",
        "name": "OneDrive",
        "createdDateTime": iso(root.created),
        "lastModifiedDateTime": iso(root.modified),
        "webUrl": web_url(drive, root),
        "owner": owner,
        "createdBy": owner,
        "quota": {"deleted": 0, "remaining": 1099511627776 - used, "state": "normal", "total": 1099511627776, "used": used},
    }


def drive_item_json(drive: Drive, node: DriveNode, *, with_path: bool = True) -> dict[str, Any]:
    creator = {"user": {"displayName": drive.owner.name}}
    item: dict[str, Any] = {
        "id": node.id,
        "name": node.name,
        "createdDateTime": iso(node.created),
        "lastModifiedDateTime": iso(node.modified),
        "eTag": f'"{{{node.id[2:10]}-0000-0000-0000-{node.id[10:22]}}},1"',
        "webUrl": web_url(drive, node),
        "size": drive.size_of(node),
        "createdBy": creator,
        "lastModifiedBy": creator,
        "fileSystemInfo": {"createdDateTime": iso(node.created), "lastModifiedDateTime": iso(node.modified)},
    }
    if node.parent_id is None:
        item["root"] = {}
        item["parentReference"] = {"driveId": drive.id, "driveType": "business"}
    else:
        parent = drive.node(node.parent_id)
        parent_path = drive.path_of(parent)
        item["parentReference"] = {
            "driveId": drive.id,
            "driveType": "business",
            "id": parent.id,
            "name": parent.name if parent.parent_id is not None else "root",
            "path": "/drive/root:" + ("/" + parent_path if parent_path else ""),
        }
        if not with_path:
            del item["parentReference"]["path"]
    if node.is_folder:
        item["folder"] = {"childCount": len(drive.children(node))}
    else:
        item["file"] = {"mimeType": node.content_type or "application/octet-stream"}
    return item
