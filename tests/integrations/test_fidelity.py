"""Fidelity of the emulator against what no one here wrote:
- every Gmail and Sheets JSON response validates against the response schema of its method in the discovery
  documents shipped with google-api-python-client (unknown keys are errors);
- every Graph response parses into msgraph-sdk's models with no unknown keys left in `additional_data`."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Iterator

import googleapiclient
import httplib2
import httpx
import jsonschema
import pytest
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.attachment_collection_response import AttachmentCollectionResponse
from msgraph.generated.models.drive import Drive
from msgraph.generated.models.drive_item import DriveItem
from msgraph.generated.models.drive_item_collection_response import DriveItemCollectionResponse
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.message import Message
from msgraph.generated.models.message_collection_response import MessageCollectionResponse
from msgraph.generated.models.permission import Permission
from msgraph.generated.models.upload_session import UploadSession
from msgraph.generated.models.user import User

from integrations.emulator import DEMO_TOKEN, EmulatorServer
from integrations.emulator.sample_files import pdf_document
from integrations.google.client import GoogleServices

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
ANNOTATIONS = re.compile(r"^@(odata|microsoft\.graph)\.")


# --- Google: discovery response schemas ---------------------------------------------------------


class _RecordingHttp(httplib2.Http):
    def __init__(self, log: list[tuple[str, str, int, bytes]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log = log

    def request(self, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        response, content = super().request(uri, method, *args, **kwargs)
        self.log.append((method, uri, response.status, content))
        return response, content


class _RecordingServices(GoogleServices):
    """GoogleServices whose requests and responses are recorded as they cross the wire."""

    def __init__(self, log: list[tuple[str, str, int, bytes]], **kwargs: Any) -> None:
        super().__init__(Credentials(DEMO_TOKEN), **kwargs)
        self._log = log

    def http(self) -> AuthorizedHttp:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = AuthorizedHttp(self.credentials, http=_RecordingHttp(self._log, ca_certs=self._ca_certs))
        return http


def _methods(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _methods(child)


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A discovery-document schema as JSON Schema; objects with declared properties allow no other keys."""
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    kind = schema.get("type")
    out: dict[str, Any] = {}
    if kind == "object":
        out["type"] = "object"
        out["properties"] = {name: _json_schema(s) for name, s in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        out["additionalProperties"] = _json_schema(extra) if extra else not schema.get("properties")
    elif kind == "array":
        out = {"type": "array", "items": _json_schema(schema.get("items", {}))}
    elif kind in ("string", "integer", "number", "boolean"):
        out["type"] = kind
        if "enum" in schema:
            out["enum"] = schema["enum"]
    return out


class _Discovery:
    """Response schemas of one discovery document, looked up by HTTP method and request path."""

    def __init__(self, name: str) -> None:
        document = json.loads((DISCOVERY / name).read_text())
        self.definitions = {key: _json_schema(s) for key, s in document["schemas"].items()}
        self.routes = []
        for method in _methods(document):
            if "response" not in method:
                continue
            for template in {method.get("flatPath", method["path"]), method["path"]}:
                literal = len(re.sub(r"\{[^}]+\}", "", template))
                pattern = re.sub(r"\\\{\\\+[^}]+\\\}", ".+", re.escape(template))
                pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
                self.routes.append((method["httpMethod"], re.compile(pattern + "$"), literal, method["id"], method["response"]["$ref"]))

    def schema_for(self, method: str, path: str) -> tuple[str, str]:
        matches = [(literal, ident, ref) for verb, regex, literal, ident, ref in self.routes if verb == method and regex.search(path)]
        assert matches, f"no discovery method for {method} {path}"
        _, ident, ref = max(matches)
        return ident, ref

    def validate(self, ref: str, body: Any) -> None:
        jsonschema.validate(body, {"$ref": f"#/definitions/{ref}", "definitions": self.definitions})


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_every_gmail_and_sheets_response_matches_the_discovery_schemas(emulator: EmulatorServer, scheme: str) -> None:
    log: list[tuple[str, str, int, bytes]] = []
    base, ca = (emulator.url, None) if scheme == "http" else (emulator.https_url, emulator.ca_path)
    google = _RecordingServices(log, api_endpoint=base + "/", ca_certs=ca)

    def run(request: Any) -> Any:
        return request.execute(http=google.http())

    run(google.gmail_users.getProfile(userId="me"))
    listed = run(google.gmail_messages.list(userId="me", q="has:attachment", maxResults=5))
    run(google.gmail_messages.list(userId="me", maxResults=2, pageToken=listed.get("nextPageToken")))
    message_id = listed["messages"][0]["id"]
    full = run(google.gmail_messages.get(userId="me", id=message_id, format="full"))
    for message_format in ("metadata", "minimal", "raw"):
        run(google.gmail_messages.get(userId="me", id=message_id, format=message_format))
    attachment = next(p for p in full["payload"]["parts"] if p.get("filename"))
    run(google.gmail_attachments.get(userId="me", messageId=message_id, id=attachment["body"]["attachmentId"]))
    raw = base64.urlsafe_b64encode(b"To: lena@fabrikam.com\r\nSubject: Hi\r\n\r\nHello").decode()
    run(google.gmail_messages.send(userId="me", body={"raw": raw}))
    run(google.gmail_drafts.create(userId="me", body={"message": {"raw": raw}}))
    run(google.gmail_labels.list(userId="me"))
    run(google.gmail_messages.modify(userId="me", id=message_id, body={"addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD"]}))

    created = run(google.spreadsheets.create(body={"properties": {"title": "Fidelity"}, "sheets": [{"properties": {"title": "Data"}}]}))
    sheet = created["spreadsheetId"]
    run(google.spreadsheets.get(spreadsheetId=sheet))
    run(google.sheet_values.update(spreadsheetId=sheet, range="Data!A1", valueInputOption="RAW", body={"values": [["Company", "Amount"]]}))
    run(google.sheet_values.append(spreadsheetId=sheet, range="Data", valueInputOption="USER_ENTERED", insertDataOption="INSERT_ROWS",
                                   body={"values": [["Fabrikam", 12.5], ["Northwind", 3]]}))
    run(google.sheet_values.get(spreadsheetId=sheet, range="Data!A1:B3"))
    run(google.sheet_values.get(spreadsheetId=sheet, range="Data", valueRenderOption="UNFORMATTED_VALUE", majorDimension="COLUMNS"))

    documents = {"gmail": _Discovery("gmail.v1.json"), "sheets": _Discovery("sheets.v4.json")}
    checked: set[str] = set()
    for method, uri, status, content in log:
        assert status < 300, f"{method} {uri} answered {status}: {content[:200]!r}"
        path = httpx.URL(uri).path.lstrip("/")
        document = documents["gmail" if "gmail/v1" in path else "sheets"]
        ident, ref = document.schema_for(method, path)
        document.validate(ref, json.loads(content))
        checked.add(ident)
    assert {"gmail.users.getProfile", "gmail.users.messages.list", "gmail.users.messages.get", "gmail.users.messages.attachments.get",
            "gmail.users.messages.send", "gmail.users.drafts.create", "gmail.users.labels.list", "gmail.users.messages.modify",
            "sheets.spreadsheets.create", "sheets.spreadsheets.get", "sheets.spreadsheets.values.update",
            "sheets.spreadsheets.values.append", "sheets.spreadsheets.values.get"} <= checked


def test_the_schema_check_catches_an_unknown_key() -> None:
    gmail = _Discovery("gmail.v1.json")
    gmail.validate("Label", {"id": "INBOX", "name": "INBOX", "type": "system"})
    with pytest.raises(jsonschema.ValidationError, match="unexpected"):
        gmail.validate("Label", {"id": "INBOX", "name": "INBOX", "colour": "red"})


# --- Graph: msgraph-sdk models ------------------------------------------------------------------


def _leftovers(value: Any, where: str = "$") -> list[str]:
    """Every key that a parsed SDK model kept in additional_data (instance annotations aside)."""
    found: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += _leftovers(item, f"{where}[{index}]")
    elif isinstance(value, Parsable):
        extra = getattr(value, "additional_data", None) or {}
        found += [f"{where}.{key}" for key in extra if not ANNOTATIONS.match(key)]
        for name, field in vars(value).items():
            if name != "additional_data" and not name.startswith("_"):
                found += _leftovers(field, f"{where}.{name}")
    return found


def _parse(body: bytes, factory: type[Parsable]) -> Parsable:
    node = JsonParseNodeFactory().get_root_parse_node("application/json", body)
    parsed = node.get_object_value(factory)
    assert parsed is not None
    return parsed


def test_every_graph_response_parses_into_sdk_models_with_nothing_left_over(emulator: EmulatorServer) -> None:
    http = httpx.Client(base_url=emulator.graph_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}, trust_env=False)
    responses: list[tuple[str, httpx.Response, type[Parsable]]] = []

    def check(factory: type[Parsable], method: str, url: str, **kwargs: Any) -> Any:
        response = http.request(method, url, **kwargs)
        assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text[:200]}"
        responses.append((f"{method} {url}", response, factory))
        return response.json()

    message = Message
    check(User, "GET", "/me")
    listed = check(MessageCollectionResponse, "GET", "/me/messages", params={"$top": "5"})
    check(MessageCollectionResponse, "GET", listed["@odata.nextLink"])
    check(MessageCollectionResponse, "GET", "/me/messages",
          params={"$select": "id,subject,from,receivedDateTime,hasAttachments,isRead", "$filter": "receivedDateTime ge 2026-01-01T00:00:00Z and hasAttachments eq true",
                  "$orderby": "receivedDateTime desc", "$top": "3"})
    check(MessageCollectionResponse, "GET", "/me/mailFolders/inbox/messages", params={"$search": '"invoice"'})
    with_files = next(m for m in emulator.state.messages if m.attachments)
    check(message, "GET", f"/me/messages/{with_files.id}")
    check(AttachmentCollectionResponse, "GET", f"/me/messages/{with_files.id}/attachments")
    check(FileAttachment, "GET", f"/me/messages/{with_files.id}/attachments/{with_files.attachments[0].id}")
    draft = check(message, "POST", "/me/messages", json={"subject": "Draft", "body": {"contentType": "text", "content": "x"},
                                                          "toRecipients": [{"emailAddress": {"address": "lena@fabrikam.com"}}]})
    check(message, "PATCH", f"/me/messages/{draft['id']}", json={"isRead": False})
    check(message, "POST", f"/me/messages/{draft['id']}/move", json={"destinationId": "archive"})

    drive = check(Drive, "GET", "/me/drive")
    items = f"/drives/{drive['id']}/items"
    check(DriveItem, "GET", f"{items}/root")
    check(DriveItemCollectionResponse, "GET", f"{items}/root/children")
    check(DriveItemCollectionResponse, "GET", f"{items}/root/search(q='budget')")
    folder = check(DriveItem, "POST", f"{items}/root/children", json={"name": "Fidelity", "folder": {}})
    check(DriveItem, "PUT", f"{items}/{folder['id']}:/a.pdf:/content", content=pdf_document(["a"]))
    check(Permission, "POST", f"{items}/root:/Fidelity/a.pdf:/createLink", json={"type": "view", "scope": "organization"})
    session = check(UploadSession, "POST", f"{items}/{folder['id']}:/b.bin:/createUploadSession", json={"item": {}})
    with httpx.Client(trust_env=False) as plain:
        chunk = plain.put(session["uploadUrl"], content=b"x" * 10, headers={"Content-Range": "bytes 0-9/10"})
        responses.append(("PUT uploadUrl", chunk, DriveItem))

    for what, response, factory in responses:
        parsed = _parse(response.content, factory)
        assert _leftovers(parsed) == [], f"{what}: keys msgraph-sdk does not know"
    assert len(responses) == 20


def test_the_leftover_check_catches_an_unknown_key() -> None:
    parsed = _parse(b'{"id": "1", "subject": "s", "from": {"emailAddress": {"address": "a@b.c", "colour": "red"}}}',
                    Message)
    assert _leftovers(parsed) == ["$.from_.email_address.colour"]
