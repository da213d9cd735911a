"""Gmail and Sheets tools through google-api-python-client over HTTP and TLS, faults and retries,
and the OAuth connect flow with real MSAL and google-auth-oauthlib against the emulator."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from cryptography.fernet import Fernet
from google.oauth2.credentials import Credentials
from sqlalchemy import create_engine

from integrations.accounts import AccountError, Accounts, GoogleOAuth, MicrosoftOAuth
from integrations.blobs import BlobStore
from integrations.context import ToolContext, use_context
from integrations.emulator import DEMO_TOKEN, EmulatorServer
from integrations.errors import ToolError
from integrations.google import gmail, sheets
from integrations.google.client import GoogleServices
from integrations.microsoft.outlook import outlook_list_messages
from skills_db.connections import ConnectionStore, TokenCipher
from skills_db.owner import Owner
from tests.integrations.conftest import Inspector

OWNER = Owner("slack", "T1", "U1")


@pytest.fixture(params=["http", "https"])
def google_ctx(request: pytest.FixtureRequest, emulator: EmulatorServer) -> Iterator[ToolContext]:
    base, ca = (emulator.url, None) if request.param == "http" else (emulator.https_url, emulator.ca_path)
    services = GoogleServices(Credentials(DEMO_TOKEN), api_endpoint=base + "/", ca_certs=ca)
    with use_context(ToolContext(graph=None, google=services, blobs=BlobStore())) as ctx:
        yield ctx


async def test_gmail_search_get_attachment_and_send(google_ctx: ToolContext, inspector: Inspector) -> None:
    found = await gmail.gmail_search("from:fabrikam.com has:attachment", limit=3)
    assert found and all(m.sender_address.endswith("@fabrikam.com") and m.has_attachments for m in found)
    detail = await gmail.gmail_get_message(found[0].id)
    assert detail.body.startswith("Hi Alex") and detail.attachments
    ref = await gmail.gmail_get_attachment(found[0].id, detail.attachments[0].id)
    assert google_ctx.blobs.get(ref.handle)[:4] in (b"%PDF", b"PK\x03\x04", b"\x89PNG") or ref.name.endswith(".csv")
    await gmail.gmail_send(["lena@fabrikam.com"], "Your invoice", "Attached.", attachments=[ref])
    sent = [m for m in inspector.mailbox()["messages"] if m["subject"] == "Your invoice"]
    assert len(sent) == 1 and sent[0]["folder"] == "sentitems" and sent[0]["attachments"][0]["name"] == ref.name


async def test_sheets_create_append_find_update(google_ctx: ToolContext) -> None:
    info = await sheets.sheets_create("Invoices 2026", ["Invoices"], ["Company", "Amount"])
    await sheets.sheets_append_rows(info.id, "Invoices", [["Fabrikam", 1200.5], ["Northwind", 80]])
    await sheets.sheets_update_range(info.id, "Invoices!B3", [[90]])
    rows = await sheets.sheets_find_rows(info.id, "Invoices", "Company", "northwind")
    assert [(r.row_number, r.values) for r in rows] == [(3, {"Company": "Northwind", "Amount": "90"})]
    assert await sheets.sheets_read_rows(info.id, "Invoices!A1:A2") == [["Company"], ["Fabrikam"]]


async def test_retries_honour_retry_after_and_never_duplicate_an_append(google_ctx: ToolContext, inspector: Inspector, emulator: EmulatorServer) -> None:
    info = await sheets.sheets_create("Log", ["Log"], ["When"])
    faults = httpx.Client(base_url=emulator.url, trust_env=False)
    faults.post("/_emulator/faults", json={"path": "/gmail/v1/users/me/labels", "status": 429, "retry_after": 0, "times": 2}).raise_for_status()
    assert await gmail.gmail_list_labels()
    faults.post("/_emulator/faults", json={"path": f"/v4/spreadsheets/{info.id}/values", "method": "POST", "status": 503, "times": 1}).raise_for_status()
    with pytest.raises(ToolError) as raised:
        await sheets.sheets_append_rows(info.id, "Log", [["now"]])
    assert raised.value.status == 503 and "try again" in str(raised.value)
    appends = [r for r in inspector.requests() if r["method"] == "POST" and r["path"].endswith(":append")]
    assert len(appends) == 1
    assert await sheets.sheets_read_rows(info.id, "Log") == [["When"]]


def _accounts(server: EmulatorServer) -> Accounts:
    store = ConnectionStore(create_engine("sqlite://"), TokenCipher([Fernet.generate_key().decode()]))
    microsoft = MicrosoftOAuth("ms-client", "ms-secret", "http://127.0.0.1:9/oauth/microsoft/callback",
                               authority=server.microsoft_authority, ca_certs=server.ca_path)
    google = GoogleOAuth("g-client", "g-secret", "http://127.0.0.1:9/oauth/google/callback",
                         auth_uri=server.https_url + "/o/oauth2/v2/auth", token_uri=server.https_url + "/o/oauth2/token", ca_certs=server.ca_path)
    return Accounts(store, microsoft=microsoft, google=google, graph_url=server.graph_url,
                    google_endpoint=server.https_url + "/", ca_certs=server.ca_path)


def _sign_in(accounts: Accounts, server: EmulatorServer, provider: str) -> tuple[str, str]:
    answer = httpx.get(accounts.start_connect(OWNER, provider), verify=str(server.ca_path), trust_env=False)
    location = httpx.URL(answer.headers["location"])
    return location.params["state"], location.params["code"]


async def test_connect_refresh_and_revoke_with_real_msal_and_google_auth(emulator: EmulatorServer) -> None:
    accounts = _accounts(emulator)
    for provider in ("microsoft", "google"):
        state, code = _sign_in(accounts, emulator, provider)
        connected = accounts.finish(provider, state, code)
        assert (connected.provider, connected.account) == (provider, "alex@contoso.com")
        with pytest.raises(AccountError, match="expired or was already used"):
            accounts.finish(provider, state, code)
    with accounts.store.engine.connect() as connection:  # closed at once: an abandoned one can take the in-memory database with it
        stored = connection.exec_driver_sql("select secret from workspace_connections").scalars().all()
    assert stored and not any("refresh" in s or "emu-" in s for s in stored)

    ctx = ToolContext(graph=accounts.graph_client(OWNER), google=accounts.google_services(OWNER), blobs=BlobStore())
    inspect = httpx.Client(base_url=emulator.url, trust_env=False)
    with use_context(ctx):
        assert len(await outlook_list_messages(limit=3)) == 3
        inspect.post("/_emulator/oauth/expire", params={"provider": "google"})
        assert len(await gmail.gmail_search("", limit=2)) == 2  # 401, refreshed once, retried
        inspect.post("/_emulator/oauth/revoke")
        with pytest.raises(ToolError, match="reconnect your Google account") as raised:
            await gmail.gmail_search("", limit=2)
    assert raised.value.code == "reconnect:google"
    assert accounts.disconnect(OWNER, "google") and accounts.google_services(OWNER) is None


def test_key_rotation_keeps_connections_readable(emulator: EmulatorServer) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    engine = create_engine("sqlite://")
    ConnectionStore(engine, TokenCipher([old])).save(OWNER, "google", "a@b.c", "A", ["s"], {"refresh_token": "r1"})
    rotated = ConnectionStore(engine, TokenCipher([new, old]))
    assert rotated.rotate_keys() == 1
    connection = ConnectionStore(engine, TokenCipher([new])).get(OWNER, "google")
    assert connection is not None and connection.secret == {"refresh_token": "r1"}
