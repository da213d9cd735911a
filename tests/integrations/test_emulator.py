"""The workspace emulator over plain HTTP: Graph's rules, shapes and errors, the inspection API, the seed."""

from __future__ import annotations

import base64
import io
import socket
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timedelta
from typing import Iterator
from urllib.parse import quote

import httpx
import pytest

from integrations.emulator import (
    DEMO_OWN_DOMAIN,
    DEMO_TOKEN,
    DEMO_USER_EMAIL,
    EmulatorServer,
    EmulatorState,
    build_demo_workspace,
)
from tests.integrations.conftest import NOW, Inspector

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.graph_url, headers=AUTH, trust_env=False) as client:
        yield client


def _drive_path(http: httpx.Client, item: str) -> str:
    drive_id = http.get("/me/drive").json()["id"]
    return f"/drives/{drive_id}/items/{item}"


def test_graph_requires_a_bearer_token_but_inspection_does_not(emulator: EmulatorServer) -> None:
    with httpx.Client(base_url=emulator.url, trust_env=False) as client:
        response = client.get("/v1.0/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert client.get("/v1.0/me", headers={"Authorization": "Basic abc"}).status_code == 401
        assert client.get("/v1.0/me", headers=AUTH).json()["mail"] == DEMO_USER_EMAIL
        assert client.get("/_emulator/mailbox").status_code == 200


def test_orderby_must_lead_the_filter(http: httpx.Client) -> None:
    order = "receivedDateTime desc"
    rejected = http.get("/me/messages", params={"$filter": "hasAttachments eq true", "$orderby": order})
    accepted = http.get("/me/messages", params={
        "$filter": "receivedDateTime ge 2026-11-01T00:00:00Z and hasAttachments eq true", "$orderby": order,
    })
    assert rejected.status_code == 400
    assert rejected.json()["error"]["code"] == "InefficientFilter"
    assert accepted.status_code == 200
    assert all(m["hasAttachments"] for m in accepted.json()["value"])


def test_next_links_page_through_every_message_once(http: httpx.Client, inspector: Inspector) -> None:
    url: str | None = "/me/messages?$select=subject,receivedDateTime&$top=7"
    seen: list[str] = []
    while url:
        body = http.get(url).json()
        assert all(set(m) == {"@odata.etag", "id", "subject", "receivedDateTime"} for m in body["value"])
        seen.extend(m["id"] for m in body["value"])
        url = body.get("@odata.nextLink")
    assert seen == [m["id"] for m in inspector.mailbox()["messages"]]


def test_query_mistakes_are_graph_errors(http: httpx.Client) -> None:
    assert http.get("/me/messages", params={"$select": "subject,bogus"}).json()["error"]["message"] == (
        "Could not find a property named 'bogus' on type 'microsoft.graph.message'."
    )
    assert http.get("/me/messages", params={"$filter": "receivedDateTime ge yesterday"}).status_code == 400
    assert http.get("/me/messages", params={"$top": "5000"}).status_code == 400
    assert http.get("/me/messages", params={"$search": "invoice"}).status_code == 400
    assert http.get("/me/messages/nope").json()["error"]["code"] == "ErrorItemNotFound"
    assert http.get("/me/calendar").status_code == 400


def test_attachments_honour_select_and_carry_base64_content(http: httpx.Client, emulator: EmulatorServer) -> None:
    message = next(m for m in emulator.state.messages if m.attachments)
    original = message.attachments[0]
    path = f"/me/messages/{quote(message.id, safe='')}/attachments"

    selected = http.get(path, params={"$select": "name,size"}).json()["value"][0]
    full = http.get(f"{path}/{quote(original.id, safe='')}").json()

    assert selected == {"@odata.type": "#microsoft.graph.fileAttachment", "id": original.id, "name": original.name, "size": original.size}
    assert full["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert base64.b64decode(full["contentBytes"]) == original.content


def test_path_style_ids_arrive_percent_encoded_and_resolve(http: httpx.Client) -> None:
    encoded = quote("root:/Documents/Budget 2026.xlsx:", safe="")
    item = http.get(_drive_path(http, encoded)).json()

    assert item["name"] == "Budget 2026.xlsx"
    assert item["parentReference"]["path"] == "/drive/root:/Documents"
    assert item["file"]["mimeType"].endswith("spreadsheetml.sheet")
    children = http.get(_drive_path(http, item["parentReference"]["id"]) + "/children").json()["value"]
    assert {c["name"] for c in children} == {"Budget 2026.xlsx", "Onboarding.docx"}


def test_folder_creation_conflict_behaviours(http: httpx.Client, inspector: Inspector) -> None:
    children = _drive_path(http, "root") + "/children"

    def create(behavior: str) -> httpx.Response:
        return http.post(children, json={"name": "Documents", "folder": {}, "@microsoft.graph.conflictBehavior": behavior})

    failed = create("fail")
    renamed = create("rename")
    replaced = create("replace")

    assert (failed.status_code, failed.json()["error"]["code"]) == (409, "nameAlreadyExists")
    assert (renamed.status_code, renamed.json()["name"]) == (201, "Documents 1")
    assert replaced.status_code == 201 and replaced.json()["folder"]["childCount"] == 0
    assert not any(path.startswith("Documents/") for path in inspector.files())


def test_put_content_creates_parents_then_replaces(http: httpx.Client, inspector: Inspector) -> None:
    target = _drive_path(http, quote("root:/New/Sub/data.csv:", safe="")) + "/content"
    created = http.put(target, content=b"a,b\r\n1,2\r\n")
    replaced = http.put(target, content=b"a,b\r\n")
    failed = http.put(target, content=b"x", params={"@microsoft.graph.conflictBehavior": "fail"})

    assert created.status_code == 201 and replaced.status_code == 200
    assert created.json()["id"] == replaced.json()["id"]
    assert failed.status_code == 409
    stored = inspector.files()["New/Sub/data.csv"]
    assert (stored["size"], stored["contentType"]) == (len(b"a,b\r\n"), "text/csv")
    assert {"New", "New/Sub"} <= inspector.folders()


def test_reset_restores_the_seeded_workspace_and_clears_the_log(http: httpx.Client, inspector: Inspector) -> None:
    before = inspector.drive()
    http.put(_drive_path(http, quote("root:/x.txt:", safe="")) + "/content", content=b"x")
    assert inspector.drive() != before and inspector.requests()

    inspector.reset()

    assert inspector.drive() == before
    assert inspector.requests() == []


def test_seed_is_deterministic_and_varied() -> None:
    state = build_demo_workspace(NOW)
    again = build_demo_workspace(NOW)
    other = build_demo_workspace(NOW, seed=8)

    def fingerprint(s: EmulatorState) -> list[tuple[object, ...]]:
        return [(m.id, m.subject, m.received, [(a.name, a.content) for a in m.attachments]) for m in s.messages]

    assert fingerprint(state) == fingerprint(again) != fingerprint(other)
    assert len(state.messages) == 60 and len(build_demo_workspace(NOW, messages=12).messages) == 12
    domains = {m.sender.address.split("@")[1] for m in state.messages}
    assert DEMO_OWN_DOMAIN in domains and len(domains - {DEMO_OWN_DOMAIN}) >= 5
    extensions = {a.name.rsplit(".", 1)[1] for m in state.messages for a in m.attachments}
    assert {"pdf", "xlsx", "docx", "png", "csv"} <= extensions
    counts = {len(m.attachments) for m in state.messages}
    assert 0 in counts and max(counts) >= 2
    for message in state.messages:
        age = NOW - message.received
        assert timedelta(0) < age < timedelta(days=46)
        assert all(abs(age - timedelta(days=d)) >= timedelta(hours=6) for d in (7, 15, 30))


def test_seeded_files_are_real_documents() -> None:
    attachments = {a.name.rsplit(".", 1)[1]: a.content for m in build_demo_workspace(NOW).messages for a in m.attachments}

    assert attachments["pdf"].startswith(b"%PDF-1.4") and attachments["pdf"].rstrip().endswith(b"%%EOF")
    with zipfile.ZipFile(io.BytesIO(attachments["xlsx"])) as workbook:
        assert b"<sheetData><row" in workbook.read("xl/worksheets/sheet1.xml")
    with zipfile.ZipFile(io.BytesIO(attachments["docx"])) as document:
        assert b"<w:t" in document.read("word/document.xml")
    assert attachments["png"].startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in attachments["png"]
    assert attachments["csv"].decode().splitlines()[0] == "Order,Date,Quantity,Total"


async def test_server_works_with_async_with_and_a_fresh_workspace() -> None:
    async with EmulatorServer() as server:
        async with httpx.AsyncClient(trust_env=False) as client:
            mailbox = (await client.get(server.url + "/_emulator/mailbox")).json()
    newest = datetime.fromisoformat(mailbox["messages"][0]["receivedDateTime"].replace("Z", "+00:00"))
    assert len(mailbox["messages"]) == 60
    assert newest > NOW  # built for the current time, not the fixed test time
    with pytest.raises(RuntimeError, match="not running"):
        server.url


def test_serve_forever_serves_a_demo_workspace_on_the_given_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", f"from integrations.emulator import serve_forever; serve_forever(port={port}, messages=5)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        mailbox = None
        for _ in range(300):
            try:
                mailbox = httpx.get(f"http://127.0.0.1:{port}/_emulator/mailbox", trust_env=False).json()
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert mailbox is not None, "the emulator did not come up"
        assert len(mailbox["messages"]) == 5
    finally:
        process.terminate()
        process.wait()
