"""The emulator's HTTP API: a Microsoft Graph v1.0 subset plus an inspection API under `/_emulator/`.

Graph routes need `Authorization: Bearer <any non-empty token>` and answer with Graph's JSON shapes
and error format, so the real msgraph-sdk can be pointed at this app instead of graph.microsoft.com.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Awaitable, Callable, cast
from urllib.parse import quote, unquote, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrations.emulator import odata
from integrations.emulator.graph_error import GraphError, message_not_found
from integrations.emulator.graph_json import (
    ATTACHMENT_PROPERTIES,
    MESSAGE_PROPERTIES,
    attachment_json,
    drive_item_json,
    drive_json,
    iso,
    message_json,
    user_json,
)
from integrations.emulator.state import ConflictBehavior, DriveNode, EmulatorState, RequestRecord, StoredMessage

GRAPH_PREFIX = "/v1.0"
DEFAULT_MESSAGE_PAGE = 10
CONFLICT_PARAMETER = "@microsoft.graph.conflictBehavior"
_MESSAGE_QUERY_OPTIONS = {"$filter", "$select", "$top", "$orderby", "$skiptoken"}
_MESSAGE_FILTERABLE: dict[str, type] = {"receivedDateTime": datetime, "hasAttachments": bool}
_MESSAGE_FIELD: dict[str, Callable[[StoredMessage], Any]] = {
    "receivedDateTime": lambda m: m.received,
    "hasAttachments": lambda m: m.has_attachments,
}

Handler = Callable[[Request], Awaitable[Response]]


def graph_error_response(error: GraphError) -> JSONResponse:
    return JSONResponse({"error": {"code": error.code, "message": error.message}}, status_code=error.status)


class RequestLogMiddleware:
    """Records method, path, query and status of every Graph request in `state.requests`."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            query = unquote(scope.get("query_string", b"").decode("latin-1"))
            self.state.requests.append(RequestRecord(scope["method"], scope["path"], query, status))


class GraphApi:
    """Handlers for the Graph routes, bound to one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        graph = GRAPH_PREFIX
        return [
            Route(f"{graph}/me", self._guard(self.get_me)),
            Route(f"{graph}/me/messages", self._guard(self.list_messages)),
            Route(f"{graph}/me/messages/{{message_id}}", self._guard(self.get_message)),
            Route(f"{graph}/me/messages/{{message_id}}/attachments", self._guard(self.list_attachments)),
            Route(f"{graph}/me/messages/{{message_id}}/attachments/{{attachment_id}}", self._guard(self.get_attachment)),
            Route(f"{graph}/me/drive", self._guard(self.get_drive)),
            Route(f"{graph}/drives/{{rest:path}}", self._guard(self.drive_items), methods=["GET", "POST", "PUT"]),
            Route(f"{graph}/{{rest:path}}", self._guard(self.unknown_segment), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]

    def _guard(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                _require_bearer(request)
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
        clauses = odata.parse_filter(params["$filter"], _MESSAGE_FILTERABLE) if "$filter" in params else []
        order = [("receivedDateTime", True)]
        if "$orderby" in params:
            order = odata.parse_orderby(params["$orderby"], _MESSAGE_FILTERABLE)
            odata.check_orderby_leads_filter(order, clauses)
        top = odata.parse_top(params.get("$top"), DEFAULT_MESSAGE_PAGE)
        offset = odata.decode_skiptoken(params.get("$skiptoken"))

        matched = [m for m in self.state.messages if all(c.matches(_MESSAGE_FIELD[c.prop](m)) for c in clauses)]
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
        raise GraphError(405, "invalidRequest", f"{request.method} {suffix or 'on an item'} is not supported by the emulator.")

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


def create_app(state: EmulatorState) -> Starlette:
    """The emulator as an ASGI app serving `state`."""
    return Starlette(
        routes=[*InspectionApi(state).routes(), *GraphApi(state).routes()],
        middleware=[Middleware(RequestLogMiddleware, state=state)],
    )


def _require_bearer(request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")


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
    if suffix not in ("", "/children", "/content"):
        raise odata.bad_request(f"Resource not found for the segment '{suffix.strip('/')}'.")
    if relative_path is not None and not relative_path.startswith("/"):
        raise odata.bad_request(f"A path-style item id must look like '{base_id}:/folder/name:'.", "invalidRequest")
    return base_id, relative_path, suffix


def _conflict_behavior(value: str | None, default: ConflictBehavior) -> ConflictBehavior:
    behavior = (value or default).lower()
    if behavior not in ("fail", "rename", "replace"):
        raise odata.bad_request(f"Invalid {CONFLICT_PARAMETER} '{value}': use fail, rename or replace.", "invalidRequest")
    return cast(ConflictBehavior, behavior)
