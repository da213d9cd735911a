"""The emulator's HTTP API: a Microsoft Graph v1.0 subset plus an inspection API under `/_emulator/`.

Graph routes need `Authorization: Bearer <any non-empty token>` and answer with Graph's JSON shapes
and error format, so the real msgraph-sdk can be pointed at this app instead of graph.microsoft.com.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, cast
from urllib.parse import quote, unquote, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from integrations.emulator import odata
from integrations.emulator.faults import Fault, FaultsAndLog
from integrations.emulator.gmail import GmailApi, GoogleError
from integrations.emulator.graph_error import GraphError, message_not_found
from integrations.emulator.graph_json import (
    ATTACHMENT_PROPERTIES,
    FOLDER_IDS,
    MESSAGE_PROPERTIES,
    attachment_json,
    drive_item_json,
    drive_json,
    iso,
    message_json,
    user_json,
)
from integrations.emulator.mcp_tickets import MOUNT_PATH as TICKETS_PATH, tickets_app
from integrations.emulator.mcp_gmail import GmailMcpEndpoint
from integrations.emulator.oauth import OAuthApi, token_status
from integrations.emulator.sheets import SheetsApi
from integrations.emulator.state import ConflictBehavior, DriveNode, EmulatorState, Person, StoredAttachment, StoredMessage

GRAPH_PREFIX = "/v1.0"
DEFAULT_MESSAGE_PAGE = 10
CONFLICT_PARAMETER = "@microsoft.graph.conflictBehavior"
UPLOAD_CHUNK_MULTIPLE = 320 * 1024
_MESSAGE_QUERY_OPTIONS = {"$filter", "$select", "$top", "$orderby", "$skiptoken", "$search"}
_MESSAGE_FILTERABLE: dict[str, type] = {"receivedDateTime": datetime, "hasAttachments": bool, "isRead": bool, "from/emailAddress/address": str}
_MESSAGE_FIELD: dict[str, Callable[[StoredMessage], Any]] = {
    "receivedDateTime": lambda m: m.received,
    "hasAttachments": lambda m: m.has_attachments,
    "isRead": lambda m: m.is_read,
    "from/emailAddress/address": lambda m: m.sender.address.lower(),
}

Handler = Callable[[Request], Awaitable[Response]]


def graph_error_response(error: GraphError) -> JSONResponse:
    return JSONResponse({"error": {"code": error.code, "message": error.message}}, status_code=error.status)


@dataclass
class _UploadSession:
    base_id: str
    path: str
    conflict: ConflictBehavior
    data: bytearray
    expires: datetime


class GraphApi:
    """Handlers for the Graph routes, bound to one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.uploads: dict[str, _UploadSession] = {}
        self.downloads: dict[str, str] = {}
        self.links: dict[tuple[str, str, str], str] = {}

    def routes(self) -> list[Route]:
        graph = GRAPH_PREFIX
        return [
            Route(f"{graph}/me", self._guard(self.get_me)),
            Route(f"{graph}/me/messages", self._guard(self.messages), methods=["GET", "POST"]),
            Route(f"{graph}/me/mailFolders/{{folder}}/messages", self._guard(self.list_messages)),
            Route(f"{graph}/me/sendMail", self._guard(self.send_mail), methods=["POST"]),
            Route(f"{graph}/me/messages/{{message_id}}", self._guard(self.message_item), methods=["GET", "PATCH"]),
            Route(f"{graph}/me/messages/{{message_id}}/{{verb:str}}", self._guard(self.message_action), methods=["POST"]),
            Route(f"{graph}/me/messages/{{message_id}}/attachments", self._guard(self.list_attachments)),
            Route(f"{graph}/me/messages/{{message_id}}/attachments/{{attachment_id}}", self._guard(self.get_attachment)),
            Route(f"{graph}/me/drive", self._guard(self.get_drive)),
            Route(f"{graph}/drives/{{rest:path}}", self._guard(self.drive_items), methods=["GET", "POST", "PUT"]),
            Route(f"{graph}/{{rest:path}}", self._guard(self.unknown_segment), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/_upload/{token}", self.upload_chunk, methods=["GET", "PUT", "DELETE"]),
            Route("/_download/{token}", self.download),
        ]

    def _guard(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                _require_bearer(request, self.state)
                return await handler(request)
            except GraphError as error:
                return graph_error_response(error)

        return endpoint

    # --- user -------------------------------------------------------------------------------

    async def get_me(self, request: Request) -> Response:
        return JSONResponse(user_json(self.state, _base(request)))

    # --- mail -------------------------------------------------------------------------------

    async def list_messages(self, request: Request) -> Response:
        params = request.query_params
        unsupported = sorted(k for k in params if k.startswith("$") and k not in _MESSAGE_QUERY_OPTIONS)
        if unsupported:
            raise odata.bad_request(f"The emulator does not support {', '.join(unsupported)} on messages; supported: {', '.join(sorted(_MESSAGE_QUERY_OPTIONS))}.")
        select = odata.parse_select(params.get("$select"), MESSAGE_PROPERTIES, "microsoft.graph.message")
        if "$search" in params and ("$filter" in params or "$orderby" in params):
            raise odata.bad_request("$search cannot be combined with $filter or $orderby on messages.", "ErrorInvalidUrlQuery")
        clauses = odata.parse_filter(params["$filter"], _MESSAGE_FILTERABLE) if "$filter" in params else []
        order = [("receivedDateTime", True)]
        if "$orderby" in params:
            order = odata.parse_orderby(params["$orderby"], _MESSAGE_FILTERABLE)
            odata.check_orderby_leads_filter(order, clauses)
        top = odata.parse_top(params.get("$top"), DEFAULT_MESSAGE_PAGE)
        offset = odata.decode_skiptoken(params.get("$skiptoken"))
        folder = _folder_name(request.path_params.get("folder"))
        search = odata.parse_search(params["$search"], self.state.now()) if "$search" in params else None

        matched = [
            m for m in self.state.messages
            if (m.folder == folder if folder else m.folder != "drafts" or "$search" in params)
            and all(c.matches(_MESSAGE_FIELD[c.prop](m)) for c in clauses)
            and (search is None or search(m))
        ]
        if order != [("receivedDateTime", True)]:
            for prop, descending in reversed(order):
                matched.sort(key=_MESSAGE_FIELD[prop], reverse=descending)
        page = matched[offset : offset + top]
        context = f"{_base(request)}/$metadata#users('{self.state.user_id}')/messages"
        if select is not None:
            context += f"({','.join(select)})"
        body: dict[str, Any] = {"@odata.context": context, "value": [message_json(m, select) for m in page]}
        if offset + top < len(matched):
            body["@odata.nextLink"] = _with_skiptoken(request, odata.encode_skiptoken(offset + top))
        return JSONResponse(body)

    async def messages(self, request: Request) -> Response:
        if request.method == "GET":
            return await self.list_messages(request)
        message = self._compose(await _graph_body(request), folder="drafts")
        message.is_draft = True
        self.state.add_message(message)
        return self._message_response(request, message, status=201)

    async def message_item(self, request: Request) -> Response:
        if request.method == "GET":
            return await self.get_message(request)
        message = self._message(request)
        body = await _graph_body(request)
        for key, value in body.items():
            if key.startswith("@odata."):
                continue
            if key == "isRead" and isinstance(value, bool):
                message.is_read = value
                message.labels.discard("UNREAD") if value else message.labels.add("UNREAD")
            elif key == "subject" and message.is_draft:
                message.subject = str(value)
            else:
                raise odata.bad_request(f"The emulator cannot update '{key}' on a message (supported: isRead; subject on drafts).", "ErrorInvalidProperty")
        return self._message_response(request, message)

    async def send_mail(self, request: Request) -> Response:
        body = {k[:1].lower() + k[1:]: v for k, v in (await _graph_body(request)).items()}
        if not isinstance(body.get("message"), dict):
            raise odata.bad_request("sendMail needs a 'message'.", "ErrorInvalidRequest")
        message = self._compose(body["message"], folder="sentitems")
        if not message.to:
            raise odata.bad_request("At least one recipient is required, but none were found.", "ErrorInvalidRecipients")
        if body.get("saveToSentItems", True) is not False:
            self.state.add_message(message)
        return Response(status_code=202)

    async def message_action(self, request: Request) -> Response:
        verb = request.path_params["verb"]
        message = self._message(request)
        body = {k[:1].lower() + k[1:]: v for k, v in (await _graph_body(request)).items()}
        if verb == "move":
            destination = _folder_name(str(body.get("destinationId") or ""))
            if not destination:
                raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
            message.folder = destination
            return self._message_response(request, message, status=201)
        if verb == "send":
            if not message.is_draft:
                raise GraphError(400, "ErrorInvalidRequest", "Only drafts can be sent.")
            if not message.to:
                raise odata.bad_request("At least one recipient is required, but none were found.", "ErrorInvalidRecipients")
            message.is_draft, message.folder = False, "sentitems"
            message.labels = {"SENT"}
            return Response(status_code=202)
        if verb in ("reply", "replyAll"):
            reply = self._compose(body.get("message") or {}, folder="sentitems")
            reply.subject = reply.subject or f"RE: {message.subject}"
            reply.body_text = str(body.get("comment") or "") + (("\n\n" + reply.body_text) if reply.body_text else "")
            reply.to = reply.to or [message.sender]
            reply.conversation_id = message.conversation_id
            self.state.add_message(reply)
            return Response(status_code=202)
        raise odata.bad_request(f"Resource not found for the segment '{verb}'.")

    def _compose(self, body: dict[str, Any], *, folder: str) -> StoredMessage:
        def people(key: str) -> list[Person]:
            found = []
            for entry in body.get(key) or []:
                address = ((entry or {}).get("emailAddress") or {})
                if not address.get("address"):
                    raise odata.bad_request(f"A recipient in '{key}' has no address.", "ErrorInvalidRecipients")
                found.append(Person(address.get("name") or address["address"], address["address"]))
            return found

        now = self.state.now()
        content = body.get("body") or {}
        serial = hashlib.sha256(f"{now.isoformat()}:{len(self.state.messages)}:{secrets.token_hex(4)}".encode()).hexdigest()
        message_id = f"AAMkADNlYjE0MzNEW{serial[:48]}="
        attachments = []
        for index, item in enumerate(body.get("attachments") or []):
            if (item.get("@odata.type") or "").lower() != "#microsoft.graph.fileattachment":
                raise odata.bad_request("Only #microsoft.graph.fileAttachment attachments are supported by the emulator.", "ErrorInvalidRequest")
            attachments.append(StoredAttachment(
                id=f"{message_id[:-1]}AT{index}=", name=str(item.get("name") or "attachment"),
                content_type=str(item.get("contentType") or "application/octet-stream"), last_modified=now,
                content=base64.b64decode(item.get("contentBytes") or ""),
            ))
        return StoredMessage(
            id=message_id, subject=str(body.get("subject") or ""), sender=self.state.user, to=people("toRecipients"),
            received=now, body_text=str(content.get("content") or ""), conversation_id=f"AAQkADNlYjE0MzNEW{serial[:40]}=",
            internet_message_id=f"<{serial[:32]}@contoso.com>", is_read=True, attachments=attachments, folder=folder,
            labels={"SENT"} if folder == "sentitems" else {"DRAFT"}, cc=people("ccRecipients"),
            body_type="html" if str(content.get("contentType", "text")).lower() == "html" else "text",
        )

    def _message_response(self, request: Request, message: StoredMessage, status: int = 200) -> JSONResponse:
        body = {"@odata.context": f"{_base(request)}/$metadata#users('{self.state.user_id}')/messages/$entity"}
        body.update(message_json(message, None))
        return JSONResponse(body, status_code=status)

    async def get_message(self, request: Request) -> Response:
        message = self._message(request)
        select = odata.parse_select(request.query_params.get("$select"), MESSAGE_PROPERTIES, "microsoft.graph.message")
        body = {"@odata.context": f"{_base(request)}/$metadata#users('{self.state.user_id}')/messages/$entity"}
        body.update(message_json(message, select))
        return JSONResponse(body)

    async def list_attachments(self, request: Request) -> Response:
        message = self._message(request)
        select = odata.parse_select(request.query_params.get("$select"), ATTACHMENT_PROPERTIES, "microsoft.graph.attachment")
        context = f"{_base(request)}/$metadata#users('{self.state.user_id}')/messages('{message.id}')/attachments"
        return JSONResponse({"@odata.context": context, "value": [attachment_json(a, select) for a in message.attachments]})

    async def get_attachment(self, request: Request) -> Response:
        message = self._message(request)
        attachment = message.attachment(request.path_params["attachment_id"])
        if attachment is None:
            raise message_not_found()
        select = odata.parse_select(request.query_params.get("$select"), ATTACHMENT_PROPERTIES, "microsoft.graph.attachment")
        context = f"{_base(request)}/$metadata#users('{self.state.user_id}')/messages('{message.id}')/attachments/$entity"
        body = {"@odata.context": context}
        body.update(attachment_json(attachment, select))
        return JSONResponse(body)

    def _message(self, request: Request) -> StoredMessage:
        message = self.state.message(request.path_params["message_id"])
        if message is None:
            raise message_not_found()
        return message

    # --- drive ------------------------------------------------------------------------------

    async def get_drive(self, request: Request) -> Response:
        return JSONResponse(drive_json(self.state.drive, _base(request)))

    async def drive_items(self, request: Request) -> Response:
        drive = self.state.drive
        drive_id, _, remainder = request.path_params["rest"].partition("/")
        if drive_id != drive.id:
            raise GraphError(404, "itemNotFound", f"Drive '{drive_id}' was not found.")
        if not remainder:
            if request.method != "GET":
                raise GraphError(405, "invalidRequest", f"{request.method} is not supported on a drive.")
            return JSONResponse(drive_json(drive, _base(request)))
        collection, _, reference = remainder.partition("/")
        search = re.fullmatch(r"(?:items/)?(?:root/)?search\(q='(?P<q>(?:[^']|'')*)'\)", remainder)
        if search and request.method == "GET":
            return self._search(request, unquote(search["q"]).replace("''", "'"))
        if collection != "items" or not reference:
            raise odata.bad_request(f"Resource not found for the segment '{collection}'.")
        base_id, relative_path, suffix = _parse_item_reference(reference)
        base = drive.node(base_id)
        action = (request.method, suffix)
        if action == ("GET", ""):
            node = drive.resolve(base, relative_path or "")
            return self._item_response(request, node)
        if action == ("GET", "/children"):
            folder = drive.resolve(base, relative_path or "")
            context = f"{_base(request)}/$metadata#drives('{drive.id}')/items('{folder.id}')/children"
            return JSONResponse({"@odata.context": context, "value": [drive_item_json(drive, n) for n in drive.children(folder)]})
        if action == ("POST", "/children"):
            folder = drive.resolve(base, relative_path or "")
            return await self._create_folder(request, folder)
        if action == ("PUT", "/content"):
            return await self._put_content(request, base, relative_path)
        if action == ("GET", "/content"):
            node = drive.resolve(base, relative_path or "")
            if node.is_folder:
                raise odata.bad_request(f"'{node.name}' is a folder: only files have content.", "invalidRequest")
            token = secrets.token_urlsafe(16)
            self.downloads[token] = node.id
            return RedirectResponse(f"{str(request.base_url).rstrip('/')}/_download/{token}", status_code=302)
        if action == ("POST", "/createLink"):
            node = drive.resolve(base, relative_path or "")
            return await self._create_link(request, node)
        if action == ("POST", "/createUploadSession"):
            return await self._create_upload_session(request, base, relative_path)
        raise GraphError(405, "invalidRequest", f"{request.method} {suffix or 'on an item'} is not supported by the emulator.")

    def _search(self, request: Request, text: str) -> Response:
        drive = self.state.drive
        words = text.lower().split()
        found = [n for n in drive.nodes.values() if n.parent_id is not None and all(w in n.name.lower() for w in words)]
        found.sort(key=lambda n: n.modified, reverse=True)
        context = f"{_base(request)}/$metadata#Collection(driveItem)"
        return JSONResponse({"@odata.context": context, "value": [drive_item_json(drive, n, with_path=False) for n in found[:200]]})

    async def _create_link(self, request: Request, node: DriveNode) -> Response:
        body = await _graph_body(request)
        kind, scope = str(body.get("type", "")), str(body.get("scope", "anonymous"))
        if kind not in ("view", "edit", "embed"):
            raise odata.bad_request("The link type must be view, edit or embed.", "invalidRequest")
        if scope not in ("anonymous", "organization", "users"):
            raise odata.bad_request("The link scope must be anonymous, organization or users.", "invalidRequest")
        key = (node.id, kind, scope)
        created = key not in self.links
        link_id = self.links.setdefault(key, hashlib.sha1(repr(key).encode()).hexdigest()[:24])
        web_url = f"https://contoso-my.sharepoint.com/:{'x' if node.name.endswith('.xlsx') else 'b'}:/g/personal/{link_id}"
        permission = {
            "@odata.context": f"{_base(request)}/$metadata#permission", "id": link_id, "roles": ["write" if kind == "edit" else "read"],
            "shareId": "u!" + base64.urlsafe_b64encode(web_url.encode()).decode().rstrip("="), "hasPassword": False,
            "link": {"scope": scope, "type": kind, "webUrl": web_url, "preventsDownload": False},
        }
        return JSONResponse(permission, status_code=201 if created else 200)

    async def _create_upload_session(self, request: Request, base: DriveNode, relative_path: str | None) -> Response:
        if not relative_path:
            raise odata.bad_request("Create an upload session on '{parent-id}:/file-name:/createUploadSession'.", "invalidRequest")
        body = await _graph_body(request)
        item = body.get("item") or {}
        conflict = _conflict_behavior(item.get(CONFLICT_PARAMETER) or request.query_params.get(CONFLICT_PARAMETER), "replace")
        folder_path, _, name = relative_path.rstrip("/").rpartition("/")
        if self.state.drive.child_named(self.state.drive.resolve(base, folder_path), name) is not None and conflict == "fail":
            raise GraphError(409, "nameAlreadyExists", f"An item named '{name}' already exists.")
        token = secrets.token_urlsafe(24)
        expires = self.state.now() + timedelta(days=1)
        self.uploads[token] = _UploadSession(base.id, relative_path, conflict, bytearray(), expires)
        url = f"{str(request.base_url).rstrip('/')}/_upload/{token}"
        return JSONResponse({"@odata.context": f"{_base(request)}/$metadata#microsoft.graph.uploadSession",
                             "uploadUrl": url, "expirationDateTime": iso(expires), "nextExpectedRanges": ["0-"]})

    async def upload_chunk(self, request: Request) -> Response:
        """An upload URL: PUT the next byte range (Content-Range), a multiple of 320 KiB unless it is the last;
        GET the session's status (nextExpectedRanges); DELETE to cancel."""
        try:
            session = self.uploads.get(request.path_params["token"])
            if session is None:
                raise GraphError(404, "itemNotFound", "The upload session was not found or has expired.")
            if request.method == "DELETE":
                del self.uploads[request.path_params["token"]]
                return Response(status_code=204)
            if request.method == "GET":
                return JSONResponse({"expirationDateTime": iso(session.expires), "nextExpectedRanges": [f"{len(session.data)}-"]})
            if "authorization" in request.headers:
                raise GraphError(401, "InvalidAuthenticationToken", "Upload URLs are pre-authenticated: do not send an Authorization header.")
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers.get("content-range", ""))
            if not match:
                raise odata.bad_request("A Content-Range header 'bytes start-end/total' is required.", "invalidRequest")
            start, end, total = int(match[1]), int(match[2]), int(match[3])
            chunk = await request.body()
            if start != len(session.data):
                raise GraphError(416, "invalidRange", f"The uploaded fragment is out of order: expected bytes {len(session.data)}-.")
            if end - start + 1 != len(chunk) or end >= total:
                raise odata.bad_request("The Content-Range does not match the body length.", "invalidRange")
            last = end + 1 == total
            if not last and len(chunk) % UPLOAD_CHUNK_MULTIPLE:
                raise odata.bad_request(f"Fragments must be multiples of {UPLOAD_CHUNK_MULTIPLE} bytes (320 KiB) except the last.", "invalidRange")
            session.data.extend(chunk)
            if not last:
                return JSONResponse({"expirationDateTime": iso(session.expires), "nextExpectedRanges": [f"{len(session.data)}-"]}, status_code=202)
            del self.uploads[request.path_params["token"]]
            drive = self.state.drive
            folder_path, _, name = session.path.rstrip("/").rpartition("/")
            parent = drive.ensure_folders(drive.node(session.base_id), folder_path, self.state.now())
            node, created = drive.put_file(parent, name, bytes(session.data), session.conflict, self.state.now())
            return self._item_response(request, node, status=201 if created else 200)
        except GraphError as error:
            return graph_error_response(error)

    async def download(self, request: Request) -> Response:
        """The pre-authenticated URL a content GET redirects to."""
        node_id = self.downloads.get(request.path_params["token"])
        node = self.state.drive.nodes.get(node_id or "")
        if node is None:
            return graph_error_response(GraphError(404, "itemNotFound", "The download URL has expired."))
        return Response(node.content, media_type=node.content_type or "application/octet-stream")

    async def _create_folder(self, request: Request, parent: DriveNode) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise odata.bad_request("The request body is not valid JSON.", "invalidRequest") from exc
        if not isinstance(body, dict) or "name" not in body:
            raise odata.bad_request("A driveItem with a 'name' is required.", "invalidRequest")
        if "folder" not in body:
            raise odata.bad_request("Only folders can be created here: include a 'folder' facet, and upload files with PUT .../content.", "invalidRequest")
        conflict = _conflict_behavior(body.get(CONFLICT_PARAMETER) or request.query_params.get(CONFLICT_PARAMETER), "fail")
        node = self.state.drive.create_folder(parent, str(body["name"]), conflict, self.state.now())
        return self._item_response(request, node, status=201)

    async def _put_content(self, request: Request, base: DriveNode, relative_path: str | None) -> Response:
        drive = self.state.drive
        content = await request.body()
        conflict = _conflict_behavior(request.query_params.get(CONFLICT_PARAMETER), "replace")
        now = self.state.now()
        if relative_path is None:
            if base.is_folder:
                raise odata.bad_request(f"'{base.name}' is a folder: upload to '{{folder-id}}:/file-name:/content'.", "invalidRequest")
            base.content, base.modified = content, now
            return self._item_response(request, base)
        folder_path, _, name = relative_path.rstrip("/").rpartition("/")
        if not name:
            raise odata.bad_request("The upload path must end with a file name, e.g. root:/folder/file.pdf:/content.", "invalidRequest")
        parent = drive.ensure_folders(base, folder_path, now)
        node, created = drive.put_file(parent, name, content, conflict, now)
        return self._item_response(request, node, status=201 if created else 200)

    def _item_response(self, request: Request, node: DriveNode, status: int = 200) -> JSONResponse:
        body = {"@odata.context": f"{_base(request)}/$metadata#drives('{self.state.drive.id}')/items/$entity"}
        body.update(drive_item_json(self.state.drive, node))
        return JSONResponse(body, status_code=status)

    async def unknown_segment(self, request: Request) -> Response:
        segment = request.path_params["rest"].split("/")[0]
        raise odata.bad_request(f"Resource not found for the segment '{segment}'.")


class InspectionApi:
    """Read-only views and a reset for tests and demos; no authentication."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/_emulator/mailbox", self.mailbox),
            Route("/_emulator/drive", self.drive),
            Route("/_emulator/requests", self.requests),
            Route("/_emulator/reset", self.reset, methods=["POST"]),
            Route("/_emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/sheets", self.sheets),
            Route("/_emulator/oauth/revoke", self.revoke, methods=["POST"]),
            Route("/_emulator/oauth/expire", self.expire, methods=["POST"]),
            Route("/_emulator/tickets", self.tickets),
        ]

    async def mailbox(self, request: Request) -> Response:
        user = {"name": self.state.user.name, "address": self.state.user.address}
        messages = [
            {
                "id": m.id,
                "subject": m.subject,
                "from": {"name": m.sender.name, "address": m.sender.address},
                "receivedDateTime": iso(m.received),
                "hasAttachments": m.has_attachments,
                "folder": m.folder,
                "isRead": m.is_read,
                "labels": sorted(m.labels),
                "to": [p.address for p in m.to],
                "attachments": [{"id": a.id, "name": a.name, "contentType": a.content_type, "size": a.size} for a in m.attachments],
            }
            for m in self.state.messages
        ]
        return JSONResponse({"user": user, "messages": messages})

    async def drive(self, request: Request) -> Response:
        drive = self.state.drive
        files = [
            {
                "id": n.id,
                "path": drive.path_of(n),
                "size": len(n.content),
                "contentType": n.content_type,
                "lastModifiedDateTime": iso(n.modified),
            }
            for n in drive.files()
        ]
        folders = [{"id": n.id, "path": drive.path_of(n)} for n in drive.folders()]
        return JSONResponse(
            {
                "id": drive.id,
                "files": sorted(files, key=lambda f: f["path"]),
                "folders": sorted(folders, key=lambda f: f["path"]),
            }
        )

    async def requests(self, request: Request) -> Response:
        return JSONResponse({"requests": [vars(r) for r in self.state.requests]})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})

    async def faults(self, request: Request) -> Response:
        """GET lists pending faults; POST adds one (the Fault fields as JSON); DELETE clears them."""
        if request.method == "POST":
            try:
                self.state.faults.append(Fault(**await request.json()))
            except (TypeError, ValueError) as error:
                return JSONResponse({"error": f"not a fault: {error}; fields: path, status, method, retry_after, latency, times, code, message"}, status_code=400)
        elif request.method == "DELETE":
            self.state.faults.clear()
        return JSONResponse({"faults": [vars(f) for f in self.state.faults if f.times > 0]})

    async def sheets(self, request: Request) -> Response:
        return JSONResponse({"spreadsheets": [{"id": s.id, "title": s.title, "sheets": s.sheets} for s in self.state.spreadsheets.values()]})

    async def tickets(self, request: Request) -> Response:
        return JSONResponse(self.state.tickets.snapshot())

    async def revoke(self, request: Request) -> Response:
        provider = request.query_params.get("provider")
        return JSONResponse({"revoked": self.state.oauth.revoke(provider)})

    async def expire(self, request: Request) -> Response:
        self.state.oauth.expire_access_tokens(request.query_params.get("provider"))
        return JSONResponse({"expired": True})


def create_app(state: EmulatorState) -> Starlette:
    """The emulator as an ASGI app serving `state`: Graph, Gmail, Sheets, OAuth, MCP servers and the inspection API."""
    google = [_google_guarded(route, state) for route in (*GmailApi(state).routes(), *SheetsApi(state).routes())]
    mcp = [Mount(TICKETS_PATH, app=tickets_app(state.tickets)),   # the tickets MCP server
           *GmailMcpEndpoint(state).routes()]   # the OAuth-protected Gmail MCP server at /mcp/gmail
    return Starlette(
        routes=[*InspectionApi(state).routes(), *OAuthApi(state).routes(), *mcp, *google, *GraphApi(state).routes()],
        middleware=[Middleware(FaultsAndLog, faults=state.faults, requests=state.requests)],
    )


def _google_guarded(route: Route, state: EmulatorState) -> Route:
    handler = cast(Handler, route.endpoint)

    async def endpoint(request: Request) -> Response:
        try:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise GoogleError(401, "Request is missing required authentication credential. Expected OAuth 2 access token.")
            problem = token_status(state, token.strip())
            if problem is not None:
                raise GoogleError(401, "Request had invalid authentication credentials. " + problem)
            return await handler(request)
        except GoogleError as error:
            return error.response()

    return Route(route.path, endpoint, methods=sorted(route.methods or ["GET"]))


def _require_bearer(request: Request, state: EmulatorState) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    problem = token_status(state, token.strip())
    if problem is not None:
        raise GraphError(401, "InvalidAuthenticationToken", problem)


def _folder_name(folder: str | None) -> str | None:
    """The well-known name of a mail folder given by name or id (None for no folder)."""
    if not folder:
        return None
    lowered = folder.lower()
    if lowered in FOLDER_IDS:
        return lowered
    for name, folder_id in FOLDER_IDS.items():
        if folder_id == folder:
            return name
    raise GraphError(404, "ErrorItemNotFound", "The specified folder could not be found in the store.")


async def _graph_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise odata.bad_request("The request body is not valid JSON.", "invalidRequest") from exc
    if not isinstance(body, dict):
        raise odata.bad_request("The request body must be a JSON object.", "invalidRequest")
    return body


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + GRAPH_PREFIX


def _with_skiptoken(request: Request, token: str) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "$skiptoken"]
    items.append(("$skiptoken", token))
    query = urlencode(items, quote_via=quote, safe="$")
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"


def _parse_item_reference(reference: str) -> tuple[str, str | None, str]:
    """Split `id`, `id/children`, `root:/a/b:` or `id:/a/b.pdf:/content` into (id, path, suffix)."""
    if ":" in reference:
        base_id, _, after = reference.partition(":")
        relative_path, _, suffix = after.rpartition(":") if ":" in after else (after, "", "")
    else:
        base_id, slash, rest = reference.partition("/")
        relative_path, suffix = None, slash + rest
    if suffix not in ("", "/children", "/content", "/createLink", "/createUploadSession"):
        raise odata.bad_request(f"Resource not found for the segment '{suffix.strip('/')}'.")
    if relative_path is not None and not relative_path.startswith("/"):
        raise odata.bad_request(f"A path-style item id must look like '{base_id}:/folder/name:'.", "invalidRequest")
    return base_id, relative_path, suffix


def _conflict_behavior(value: str | None, default: ConflictBehavior) -> ConflictBehavior:
    behavior = (value or default).lower()
    if behavior not in ("fail", "rename", "replace"):
        raise odata.bad_request(f"Invalid {CONFLICT_PARAMETER} '{value}': use fail, rename or replace.", "invalidRequest")
    return cast(ConflictBehavior, behavior)
