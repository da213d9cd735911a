"""An OAuth-protected Gmail MCP server at `/mcp/gmail`, modelled on Google's hosted Gmail MCP server and
backed by the same mailboxes as the emulator's Gmail REST API. (No `from __future__ import annotations`: the
SDK evaluates the tools' annotations, and `send_draft`'s names a local resolver.)

It is an OAuth 2.1 resource server: RFC 9728 metadata at `/.well-known/oauth-protected-resource/mcp/gmail`,
401 with `WWW-Authenticate: Bearer resource_metadata=…` without a usable token, and only tokens issued for
this resource (or by the emulated Google sign-in, as Google's server takes Google tokens). Each call acts on
the mailbox of the demo account the token belongs to.

Tools: search, read, labels, drafts — and `send_draft`, which asks for confirmation by elicitation before it
sends, as Google's server does for consequential actions. Whether Google's hosted server sends mail at all is
not settled (it may only draft): CodeMem's typed `gmail_send` therefore never relies on this tool.
"""

import email.utils
from datetime import datetime
from email.message import EmailMessage
from typing import Annotated

from mcp.server import MCPServer
from mcp.types import ToolAnnotations
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import BaseModel, Field
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from integrations.emulator.gmail import SYSTEM_LABELS, USER_LABELS, GmailApi, GoogleError, gmail_attachment_id, parse_query, thread_id
from integrations.emulator.mcp_http import McpHttpApp
from integrations.emulator.oauth import MCP_SCOPES, mcp_token_account
from integrations.emulator.state import EmulatorState, StoredMessage

GMAIL_MCP_PATH = "/mcp/gmail"
METADATA_PATH = "/.well-known/oauth-protected-resource" + GMAIL_MCP_PATH
MAX_RESULTS = 500


class MessageSummary(BaseModel):
    """A message as search lists it."""

    id: str = Field(description="message id")
    thread_id: str = Field(description="conversation id")
    subject: str
    sender: str = Field(description="the From header, e.g. 'Lena Fischer <lena@fabrikam.com>'")
    received: datetime = Field(description="when Gmail received it (UTC)")
    snippet: str = Field(description="the first words of the body")
    label_ids: list[str]
    has_attachments: bool


class SearchResult(BaseModel):
    """One page of messages matching a Gmail query, newest first."""

    messages: list[MessageSummary]
    next_page_token: str | None = Field(None, description="pass as page_token for the next page")
    result_size_estimate: int


class AttachmentSummary(BaseModel):
    """A file attached to a message."""

    attachment_id: str
    filename: str
    mime_type: str
    size: int


class MessageDetail(MessageSummary):
    """A whole message: recipients, body and attachments."""

    to: list[str] = Field(description="recipient addresses")
    cc: list[str] = Field(description="cc addresses")
    body: str
    body_mime_type: str = Field(description="text/plain or text/html")
    attachments: list[AttachmentSummary]


class Label(BaseModel):
    id: str
    name: str
    type: str = Field(description="system or user")


class LabelList(BaseModel):
    labels: list[Label]


class LabelChange(BaseModel):
    id: str = Field(description="message id")
    label_ids: list[str] = Field(description="the message's labels after the change")


class Draft(BaseModel):
    draft_id: str
    message_id: str


class SendOutcome(BaseModel):
    sent: bool
    message_id: str | None = Field(None, description="the sent message's id when sent")
    reason: str | None = Field(None, description="why nothing was sent")


class SendConfirmation(BaseModel):
    confirm: bool = Field(description="true to send the draft now")


def build_gmail_server(state: EmulatorState) -> MCPServer:
    """The Gmail MCP server's tools over `state` (each call acts on its token's demo account)."""
    server = MCPServer("gmail", log_level="WARNING", instructions="Search, read, label and draft Gmail messages of the signed-in account.")

    @server.tool()
    def search_messages(query: str = "", max_results: int = 20, page_token: str | None = None) -> SearchResult:
        """Search messages with Gmail search syntax (from:, subject:, has:attachment, newer_than:15d, label:…), newest first."""
        account = _mailbox(state)
        if not 1 <= max_results <= MAX_RESULTS:
            raise ToolError(f"max_results must be between 1 and {MAX_RESULTS}")
        offset = int(page_token) if page_token and page_token.isdigit() else 0
        try:
            test = parse_query(query, account.now())
        except GoogleError as error:
            raise ToolError(error.message) from error
        matched = [m for m in account.messages if not m.labels & {"SPAM", "TRASH"} and test(m)]
        page = matched[offset:offset + max_results]
        more = offset + max_results < len(matched)
        return SearchResult(messages=[_summary(m) for m in page], next_page_token=str(offset + max_results) if more else None,
                            result_size_estimate=len(matched))

    @server.tool()
    def get_message(message_id: str) -> MessageDetail:
        """Read one message: headers, recipients, body and the list of its attachments."""
        message = _message(_mailbox(state), message_id)
        return MessageDetail(
            **_summary(message).model_dump(), to=[p.address for p in message.to], cc=[p.address for p in message.cc],
            body=message.body_text, body_mime_type=f"text/{'html' if message.body_type == 'html' else 'plain'}",
            attachments=[AttachmentSummary(attachment_id=gmail_attachment_id(a), filename=a.name, mime_type=a.content_type, size=a.size)
                         for a in message.attachments])

    @server.tool()
    def list_labels() -> LabelList:
        """List the account's labels, system (INBOX, UNREAD…) and the user's own."""
        _mailbox(state)
        return LabelList(labels=[Label(id=l, name=l, type="system") for l in SYSTEM_LABELS]
                         + [Label(id=l["id"], name=l["name"], type="user") for l in USER_LABELS])

    @server.tool()
    def modify_message_labels(message_id: str, add_label_ids: list[str] | None = None,
                              remove_label_ids: list[str] | None = None) -> LabelChange:
        """Add and remove label ids on a message (remove UNREAD to mark it read)."""
        message = _message(_mailbox(state), message_id)
        known = set(SYSTEM_LABELS) | {l["id"] for l in USER_LABELS}
        unknown = [l for l in [*(add_label_ids or []), *(remove_label_ids or [])] if l not in known]
        if unknown:
            raise ToolError(f"unknown label id {', '.join(unknown)}: see list_labels")
        message.labels = (message.labels | set(add_label_ids or [])) - set(remove_label_ids or [])
        message.is_read = "UNREAD" not in message.labels
        return LabelChange(id=message.gmail_id, label_ids=sorted(message.labels))

    @server.tool()
    def create_draft(to: list[str], subject: str, body: str, cc: list[str] | None = None) -> Draft:
        """Save a draft (plain text) for the user to review and send."""
        account = _mailbox(state)
        composed = EmailMessage()
        composed["To"], composed["Subject"] = ", ".join(to), subject
        if cc:
            composed["Cc"] = ", ".join(cc)
        composed.set_content(body)
        try:
            draft = GmailApi(account).parse_raw(composed.as_bytes(), labels={"DRAFT"}, folder="drafts", draft=True)
        except GoogleError as error:
            raise ToolError(error.message) from error
        account.add_message(draft)
        return Draft(draft_id="r" + draft.gmail_id, message_id=draft.gmail_id)

    def confirm_send(draft_id: str) -> Elicit[SendConfirmation]:
        draft = _draft(_mailbox(state), draft_id)
        recipients = ", ".join(p.address for p in draft.to) or "nobody"
        return Elicit(f"Send the draft {draft.subject!r} to {recipients}?", SendConfirmation)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    def send_draft(draft_id: str,
                   confirmation: Annotated[ElicitationResult[SendConfirmation], Resolve(confirm_send)]) -> SendOutcome:
        """Send a saved draft; asks the user to confirm first."""
        draft = _draft(_mailbox(state), draft_id)
        if confirmation.action != "accept" or not confirmation.data.confirm:
            return SendOutcome(sent=False, reason="the user did not confirm sending")
        draft.labels, draft.folder, draft.is_draft = {"SENT"}, "sentitems", False
        return SendOutcome(sent=True, message_id=draft.gmail_id)

    return server


class GmailMcpEndpoint:
    """The routes of the Gmail MCP server: its protected-resource metadata and the guarded endpoint."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._mcp = AuthContextMiddleware(McpHttpApp(build_gmail_server(state)))

    def routes(self) -> list[BaseRoute]:
        return [Route(METADATA_PATH, self.metadata), Route(GMAIL_MCP_PATH, self)]

    async def metadata(self, request: Request) -> Response:
        origin = _origin(request)
        document = ProtectedResourceMetadata(resource=origin + GMAIL_MCP_PATH, authorization_servers=[origin],
                                             scopes_supported=list(MCP_SCOPES), resource_name="Gmail (emulated)")
        return Response(document.model_dump_json(exclude_none=True), media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let a request through only with a token for this resource, as the token's account."""
        request = Request(scope)
        origin = _origin(request)
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        account, problem = (None, "Authentication required")
        if kind.lower() == "bearer" and token.strip():
            account, problem = mcp_token_account(self.state, token.strip(), origin + GMAIL_MCP_PATH)
        if account is None:
            await _unauthorized(origin, problem)(scope, receive, send)
            return
        issued = self.state.oauth.access_tokens.get(token.strip())
        scopes = issued.scope.split() if issued else list(MCP_SCOPES)
        scope["user"] = AuthenticatedUser(AccessToken(token=token.strip(), client_id=issued.client_id if issued else "demo",
                                                      scopes=scopes, subject=account, resource=origin + GMAIL_MCP_PATH))
        scope["auth"] = AuthCredentials(scopes)
        await self._mcp(scope, receive, send)


def _unauthorized(origin: str, description: str) -> JSONResponse:
    challenge = (f'Bearer error="invalid_token", error_description="{description.replace(chr(34), chr(39))}", '
                 f'resource_metadata="{origin}{METADATA_PATH}"')
    return JSONResponse({"error": "invalid_token", "error_description": description}, status_code=401,
                        headers={"WWW-Authenticate": challenge})


def _mailbox(state: EmulatorState) -> EmulatorState:
    token = get_access_token()
    account = state.account(token.subject or "") if token is not None else None
    if account is None:
        raise ToolError("no signed-in account")
    return account


def _message(account: EmulatorState, message_id: str) -> StoredMessage:
    message = account.gmail_message(message_id)
    if message is None:
        raise ToolError(f"message {message_id!r} not found")
    return message


def _draft(account: EmulatorState, draft_id: str) -> StoredMessage:
    message = account.gmail_message(draft_id.removeprefix("r"))
    if message is None or not message.is_draft:
        raise ToolError(f"draft {draft_id!r} not found")
    return message


def _summary(message: StoredMessage) -> MessageSummary:
    return MessageSummary(
        id=message.gmail_id, thread_id=thread_id(message), subject=message.subject,
        sender=email.utils.formataddr((message.sender.name, message.sender.address)), received=message.received,
        snippet=" ".join(message.body_text.split())[:200], label_ids=sorted(message.labels), has_attachments=message.has_attachments)


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")

