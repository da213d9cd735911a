"""Emulated Gmail API v1 (the subset the tools use) over the shared mailbox: search with Gmail's query
syntax, get, attachments, send, drafts, labels and label changes. JSON follows the discovery document."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.emulator.state import EmulatorState, Person, StoredAttachment, StoredMessage

GMAIL_PREFIX = "/gmail/v1/users/{user_id}"
DEFAULT_PAGE = 100
MAX_PAGE = 500
USER_LABELS = (
    {"id": "Label_1", "name": "Invoices", "type": "user", "messageListVisibility": "show", "labelListVisibility": "labelShow"},
    {"id": "Label_2", "name": "Vendors", "type": "user", "messageListVisibility": "show", "labelListVisibility": "labelShow"},
)
SYSTEM_LABELS = ("INBOX", "SENT", "DRAFT", "UNREAD", "STARRED", "IMPORTANT", "SPAM", "TRASH",
                 "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS")


class GoogleError(Exception):
    """An error rendered in Google's JSON error shape."""

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}
    REASON = {400: "badRequest", 401: "authError", 403: "insufficientPermissions", 404: "notFound", 409: "conflict"}

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"code": self.status, "message": self.message, "status": self.STATUS.get(self.status, "UNKNOWN"),
                                       "errors": [{"message": self.message, "domain": "global", "reason": self.REASON.get(self.status, "unknown")}]}},
                            status_code=self.status)


def gmail_attachment_id(attachment: StoredAttachment) -> str:
    return "ANGjdJ" + base64.urlsafe_b64encode(hashlib.sha256(attachment.id.encode()).digest()).decode().rstrip("=")


def internal_date(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def message_resource(message: StoredMessage, format: str = "full", metadata_headers: list[str] | None = None) -> dict[str, Any]:
    """A Gmail `Message` resource in the requested format (minimal, metadata, full or raw)."""
    resource: dict[str, Any] = {
        "id": message.gmail_id, "threadId": thread_id(message), "labelIds": sorted(message.labels),
        "snippet": " ".join(message.body_text.split())[:200], "historyId": str(10_000 + int(message.received.timestamp()) % 100_000),
        "internalDate": internal_date(message.received), "sizeEstimate": 1_200 + len(message.body_text) + sum(a.size for a in message.attachments),
    }
    if format == "minimal":
        return resource
    if format == "raw":
        resource["raw"] = base64.urlsafe_b64encode(_rfc822(message)).decode()
        return resource
    headers = _headers(message)
    if format == "metadata":
        wanted = {h.lower() for h in metadata_headers or []}
        shown = [h for h in headers if not wanted or h["name"].lower() in wanted]
        resource["payload"] = {"partId": "", "mimeType": "multipart/mixed" if message.attachments else "text/plain", "filename": "", "headers": shown, "body": {"size": 0}}
        return resource
    body = message.body_text.encode()
    text_part = {"partId": "0", "mimeType": f"text/{'html' if message.body_type == 'html' else 'plain'}", "filename": "",
                 "headers": [{"name": "Content-Type", "value": f"text/{'html' if message.body_type == 'html' else 'plain'}; charset=\"UTF-8\""}],
                 "body": {"size": len(body), "data": _b64(body)}}
    if not message.attachments:
        text_part.update({"partId": "", "headers": headers})
        resource["payload"] = text_part
        return resource
    parts = [text_part]
    for position, attachment in enumerate(message.attachments, start=1):
        parts.append({
            "partId": str(position), "mimeType": attachment.content_type, "filename": attachment.name,
            "headers": [{"name": "Content-Type", "value": f"{attachment.content_type}; name=\"{attachment.name}\""},
                        {"name": "Content-Disposition", "value": f"attachment; filename=\"{attachment.name}\""},
                        {"name": "Content-Transfer-Encoding", "value": "base64"}],
            "body": {"attachmentId": gmail_attachment_id(attachment), "size": attachment.size},
        })
    resource["payload"] = {"partId": "", "mimeType": "multipart/mixed", "filename": "", "headers": headers, "body": {"size": 0}, "parts": parts}
    return resource


class GmailApi:
    """Handlers for the Gmail routes, bound to one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        p = GMAIL_PREFIX
        return [
            Route(f"{p}/profile", self.profile),
            Route(f"{p}/messages", self.list_messages),
            Route(f"{p}/messages/send", self.send, methods=["POST"]),
            Route(f"/upload{p}/messages/send", self.send, methods=["POST"]),
            Route(f"{p}/messages/{{message_id}}", self.get_message),
            Route(f"{p}/messages/{{message_id}}/modify", self.modify, methods=["POST"]),
            Route(f"{p}/messages/{{message_id}}/attachments/{{attachment_id}}", self.get_attachment),
            Route(f"{p}/drafts", self.create_draft, methods=["POST"]),
            Route(f"/upload{p}/drafts", self.create_draft, methods=["POST"]),
            Route(f"{p}/labels", self.list_labels),
        ]

    async def profile(self, request: Request) -> Response:
        self._user(request)
        return JSONResponse({"emailAddress": self.state.user.address, "messagesTotal": len(self.state.messages),
                             "threadsTotal": len(self.state.messages), "historyId": "123456"})

    async def list_messages(self, request: Request) -> Response:
        self._user(request)
        params = request.query_params
        size = _int_param(params.get("maxResults"), DEFAULT_PAGE, "maxResults")
        if not 1 <= size <= MAX_PAGE:
            raise GoogleError(400, f"Invalid maxResults: {size} (allowed 1 to {MAX_PAGE}).")
        offset = _int_param(params.get("pageToken"), 0, "pageToken")
        test = parse_query(params.get("q", ""), self.state.now())
        label_ids = params.getlist("labelIds")
        include_hidden = params.get("includeSpamTrash", "false") == "true"
        matched = [
            m for m in self.state.messages
            if (include_hidden or not m.labels & {"SPAM", "TRASH"}) and all(l in m.labels for l in label_ids) and test(m)
        ]
        page = matched[offset:offset + size]
        body: dict[str, Any] = {"resultSizeEstimate": len(matched)}
        if page:
            body["messages"] = [{"id": m.gmail_id, "threadId": thread_id(m)} for m in page]
        if offset + size < len(matched):
            body["nextPageToken"] = str(offset + size)
        return JSONResponse(body)

    async def get_message(self, request: Request) -> Response:
        message = self._message(request)
        form = request.query_params.get("format", "full")
        if form not in ("minimal", "metadata", "full", "raw"):
            raise GoogleError(400, f"Invalid value for \"format\": {form!r}.")
        return JSONResponse(message_resource(message, form, request.query_params.getlist("metadataHeaders")))

    async def get_attachment(self, request: Request) -> Response:
        message = self._message(request)
        wanted = request.path_params["attachment_id"]
        attachment = next((a for a in message.attachments if gmail_attachment_id(a) == wanted), None)
        if attachment is None:
            raise GoogleError(400, "Invalid attachment token")
        return JSONResponse({"attachmentId": wanted, "size": attachment.size, "data": _b64(attachment.content)})

    async def modify(self, request: Request) -> Response:
        message = self._message(request)
        body = await _json(request)
        known = set(SYSTEM_LABELS) | {label["id"] for label in self._user_labels()}
        for label in [*body.get("addLabelIds", []), *body.get("removeLabelIds", [])]:
            if label not in known:
                raise GoogleError(400, f"Invalid label: {label}")
        message.labels |= set(body.get("addLabelIds", []))
        message.labels -= set(body.get("removeLabelIds", []))
        message.is_read = "UNREAD" not in message.labels
        return JSONResponse(message_resource(message, "minimal"))

    async def send(self, request: Request) -> Response:
        self._user(request)
        message = self.parse_raw(await _raw_message(request), labels={"SENT"}, folder="sentitems")
        return JSONResponse(message_resource(self.state.add_message(message), "minimal"))

    async def create_draft(self, request: Request) -> Response:
        self._user(request)
        if request.url.path.startswith("/upload"):
            raw = await _raw_message(request)
        else:
            body = await _json(request)
            raw = _decode_raw((body.get("message") or {}).get("raw"))
        message = self.state.add_message(self.parse_raw(raw, labels={"DRAFT"}, folder="drafts", draft=True))
        return JSONResponse({"id": "r" + message.gmail_id, "message": message_resource(message, "minimal")})

    async def list_labels(self, request: Request) -> Response:
        self._user(request)
        system = [{"id": l, "name": l, "type": "system", "messageListVisibility": "hide", "labelListVisibility": "labelHide"} if l.startswith("CATEGORY_")
                  else {"id": l, "name": l, "type": "system"} for l in SYSTEM_LABELS]
        return JSONResponse({"labels": system + self._user_labels()})

    def _user_labels(self) -> list[dict[str, Any]]:
        return [dict(label) for label in USER_LABELS]

    def _user(self, request: Request) -> None:
        user = request.path_params["user_id"]
        if user not in ("me", self.state.user.address):
            raise GoogleError(403, "Delegation denied for " + self.state.user.address)

    def _message(self, request: Request) -> StoredMessage:
        self._user(request)
        message = self.state.gmail_message(request.path_params["message_id"])
        if message is None:
            raise GoogleError(404, "Requested entity was not found.")
        return message

    def parse_raw(self, raw: bytes, *, labels: set[str], folder: str, draft: bool = False) -> StoredMessage:
        """A message of this mailbox (not stored yet) from an RFC 822 `raw` message, sent by its user."""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        recipients = [_person(a) for a in (parsed.get_all("To") or [])]
        if not recipients and not draft:
            raise GoogleError(400, "Invalid To header")
        body = parsed.get_body(preferencelist=("plain", "html"))
        now = self.state.now()
        number = len(self.state.messages) + len(self.state.requests)
        message_id = f"AAMkADNlYjE0MzSENT{hashlib.sha256(f'{now}:{number}:{raw[:64]!r}'.encode()).hexdigest()[:40]}="
        attachments = [
            StoredAttachment(id=f"{message_id[:-1]}AT{i}=", name=part.get_filename() or f"attachment-{i}",
                             content_type=part.get_content_type(), last_modified=now, content=part.get_payload(decode=True) or b"")
            for i, part in enumerate(parsed.iter_attachments())
        ]
        return StoredMessage(
            id=message_id, subject=str(parsed.get("Subject", "")), sender=self.state.user, to=recipients,
            received=now, body_text=body.get_content() if body is not None else "", conversation_id=f"AAQkAD{message_id[14:40]}=",
            internet_message_id=f"<{message_id[18:34]}@contoso.com>", is_read=True, attachments=attachments,
            folder=folder, labels=labels, is_draft=draft, cc=[_person(a) for a in (parsed.get_all("Cc") or [])],
        )


# --- query syntax ---------------------------------------------------------------------------------

Test = Callable[[StoredMessage], bool]


@dataclass(frozen=True)
class _Term:
    negated: bool
    test: Test


def parse_query(query: str, now: datetime) -> Test:
    """A predicate for Gmail's search syntax: from: to: subject: has:attachment is:unread/read/starred
    label: in: after: before: newer_than: older_than: filename: "phrases" and free words; `-` negates."""
    try:
        words = shlex.split(query)
    except ValueError as error:
        raise GoogleError(400, f"Invalid query: {error}") from error
    terms = [_term(word, now) for word in words if word.upper() not in ("AND",)]
    in_scope = _default_scope(words)
    return lambda m: in_scope(m) and all(t.test(m) != t.negated for t in terms)


def _default_scope(words: list[str]) -> Test:
    if any(w.lower().startswith(("in:", "label:")) for w in words):
        return lambda m: True
    return lambda m: "DRAFT" not in m.labels


def _term(word: str, now: datetime) -> _Term:
    negated = word.startswith("-") and len(word) > 1
    word = word[1:] if negated else word
    key, colon, value = word.partition(":")
    key, value = key.lower(), value.lower()
    if not colon or not value:
        text = word.lower()
        return _Term(negated, lambda m: text in m.subject.lower() or text in m.body_text.lower() or text in m.sender.address.lower() or text in m.sender.name.lower())
    if key == "from":
        return _Term(negated, lambda m: value in m.sender.address.lower() or value in m.sender.name.lower())
    if key in ("to", "cc"):
        return _Term(negated, lambda m: any(value in p.address.lower() or value in p.name.lower() for p in (m.to if key == "to" else m.cc)))
    if key == "subject":
        return _Term(negated, lambda m: value.strip("()") in m.subject.lower())
    if key == "has":
        if value != "attachment":
            raise GoogleError(400, f"Unsupported has: value {value!r}; the emulator knows has:attachment.")
        return _Term(negated, lambda m: m.has_attachments)
    if key == "is":
        flags = {"unread": "UNREAD", "read": None, "starred": "STARRED", "important": "IMPORTANT"}
        if value not in flags:
            raise GoogleError(400, f"Unsupported is: value {value!r}; use unread, read, starred or important.")
        flag = flags[value]
        return _Term(negated, (lambda m: "UNREAD" not in m.labels) if flag is None else (lambda m: flag in m.labels))
    if key in ("label", "in"):
        wanted = {"sent": "SENT", "drafts": "DRAFT", "draft": "DRAFT", "inbox": "INBOX", "spam": "SPAM", "trash": "TRASH",
                  "starred": "STARRED", "invoices": "Label_1", "vendors": "Label_2"}.get(value, value.upper())
        if value == "anywhere":
            return _Term(negated, lambda m: True)
        return _Term(negated, lambda m: wanted in m.labels)
    if key == "filename":
        return _Term(negated, lambda m: any(a.name.lower().endswith("." + value) or value in a.name.lower() for a in m.attachments))
    if key in ("after", "before"):
        moment = _date_value(value)
        return _Term(negated, (lambda m: m.received >= moment) if key == "after" else (lambda m: m.received < moment))
    if key in ("newer_than", "older_than"):
        match = re.fullmatch(r"(\d+)([dmy])", value)
        if not match:
            raise GoogleError(400, f"Invalid {key} value {value!r}: use e.g. 15d, 2m or 1y.")
        days = int(match[1]) * {"d": 1, "m": 30, "y": 365}[match[2]]
        moment = now - timedelta(days=days)
        return _Term(negated, (lambda m: m.received >= moment) if key == "newer_than" else (lambda m: m.received < moment))
    text = word.lower()
    return _Term(negated, lambda m: text in m.subject.lower() or text in m.body_text.lower())


def _date_value(value: str) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    try:
        return datetime.strptime(value.replace("-", "/"), "%Y/%m/%d").replace(tzinfo=UTC)
    except ValueError as error:
        raise GoogleError(400, f"Invalid date {value!r}: use YYYY/MM/DD or seconds since the epoch.") from error


# --- helpers -------------------------------------------------------------------------------------

def thread_id(message: StoredMessage) -> str:
    """The id Gmail shows for the message's conversation."""
    return hashlib.sha1(message.conversation_id.encode()).hexdigest()[:16]


def _headers(message: StoredMessage) -> list[dict[str, str]]:
    headers = [
        {"name": "From", "value": f"{message.sender.name} <{message.sender.address}>"},
        {"name": "To", "value": ", ".join(f"{p.name} <{p.address}>" for p in message.to)},
        {"name": "Subject", "value": message.subject},
        {"name": "Date", "value": email.utils.format_datetime(message.received)},
        {"name": "Message-ID", "value": message.internet_message_id},
    ]
    if message.cc:
        headers.insert(2, {"name": "Cc", "value": ", ".join(f"{p.name} <{p.address}>" for p in message.cc)})
    return headers


def _rfc822(message: StoredMessage) -> bytes:
    composed = EmailMessage()
    for header in _headers(message):
        composed[header["name"]] = header["value"]
    composed.set_content(message.body_text)
    for attachment in message.attachments:
        main, _, sub = attachment.content_type.partition("/")
        composed.add_attachment(attachment.content, maintype=main, subtype=sub or "octet-stream", filename=attachment.name)
    return composed.as_bytes()


def _person(address: str) -> Person:
    name, parsed = email.utils.parseaddr(str(address))
    return Person(name or parsed.split("@")[0], parsed)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode_raw(raw: object) -> bytes:
    if not isinstance(raw, str) or not raw:
        raise GoogleError(400, "Missing message 'raw' (base64url RFC 822).")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError as error:
        raise GoogleError(400, "'raw' is not valid base64url.") from error


async def _raw_message(request: Request) -> bytes:
    if request.url.path.startswith("/upload"):
        kind = request.query_params.get("uploadType", "media")
        data = await request.body()
        if kind == "multipart":
            boundary = request.headers.get("content-type", "").partition("boundary=")[2].strip('"')
            parts = data.split(b"--" + boundary.encode())
            media = parts[2] if len(parts) > 2 else b""
            return media.partition(b"\r\n\r\n")[2].rstrip(b"\r\n") if b"\r\n\r\n" in media else media.partition(b"\n\n")[2]
        return data
    body = await _json(request)
    return _decode_raw(body.get("raw"))


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise GoogleError(400, "Invalid JSON payload received.") from error
    if not isinstance(body, dict):
        raise GoogleError(400, "Invalid JSON payload received: expected an object.")
    return body


def _int_param(text: str | None, default: int, name: str) -> int:
    if text is None:
        return default
    if not text.isdigit():
        raise GoogleError(400, f"Invalid value for {name}: {text!r}.")
    return int(text)
