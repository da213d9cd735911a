"""Graph retries: reads retried honouring Retry-After, writes that are not retry-safe sent exactly once,
and a 401 for a token the cache still trusts answered by one forced refresh (real MSAL)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from integrations.accounts import Accounts
from integrations.blobs import BlobStore
from integrations.context import ToolContext, use_context
from integrations.emulator import EmulatorServer
from integrations.errors import ToolError
from integrations.microsoft import onedrive, outlook
from skills_db.connections import ConnectionStore
from tests.integrations.conftest import Inspector, add_fault
from tests.integrations.test_workspace_services import OWNER, _accounts, _sign_in


def _accounts_on_file(server: EmulatorServer, path: Path) -> Accounts:
    """Accounts whose store is a SQLite file, so MSAL's cache can be saved from worker threads."""
    accounts = _accounts(server)
    accounts.store = ConnectionStore(create_engine(f"sqlite:///{path}"), accounts.store.cipher)
    return accounts


async def test_reads_are_retried_honouring_retry_after(ctx: ToolContext, inspector: Inspector, emulator: EmulatorServer) -> None:
    add_fault(emulator, path="/v1.0/me/messages", method="GET", status=429, retry_after=1, times=1)
    with use_context(ctx):
        found = await outlook.outlook_list_messages(limit=3)
    assert len(found) == 3
    assert [r["status"] for r in inspector.requests()] == [429, 200]


@pytest.mark.parametrize("status", [503, 504, 429])
async def test_a_send_that_failed_is_never_sent_twice(ctx: ToolContext, inspector: Inspector, emulator: EmulatorServer, status: int) -> None:
    add_fault(emulator, path="/v1.0/me/sendMail", method="POST", status=status, retry_after=1, times=1)
    with use_context(ctx), pytest.raises(ToolError, match="try again") as raised:
        await outlook.outlook_send(["lena@fabrikam.com"], "Once only", "Hello")
    assert raised.value.status == status
    assert [r["status"] for r in inspector.requests() if r["path"] == "/v1.0/me/sendMail"] == [status]
    assert not [m for m in inspector.mailbox()["messages"] if m["subject"] == "Once only"]


async def test_drafts_replies_and_moves_are_sent_once(ctx: ToolContext, inspector: Inspector, emulator: EmulatorServer) -> None:
    message = inspector.mailbox()["messages"][0]
    add_fault(emulator, path="/v1.0/me/messages", method="POST", status=503, retry_after=1, times=3)
    with use_context(ctx):
        for write in (outlook.outlook_create_draft(["a@b.com"], "d", "x"), outlook.outlook_reply(message["id"], "ok"),
                      outlook.outlook_move_message(message["id"], "archive")):
            with pytest.raises(ToolError):
                await write
    assert [r["status"] for r in inspector.requests() if r["method"] == "POST"] == [503, 503, 503]


async def test_a_simple_upload_that_failed_is_not_repeated(ctx: ToolContext, inspector: Inspector, emulator: EmulatorServer, blobs: BlobStore) -> None:
    add_fault(emulator, path="/v1.0/drives/", method="PUT", status=503, retry_after=1, times=1)
    with use_context(ctx), pytest.raises(ToolError):
        await onedrive.onedrive_upload_file("Reports", "a.csv", blobs.put(b"a,b\n", "a.csv", "text/csv"), conflict="rename")
    assert [r["status"] for r in inspector.requests() if r["method"] == "PUT"] == [503]
    assert "Reports/a.csv" not in inspector.files()


async def test_a_401_forces_one_token_refresh_then_revocation_asks_to_reconnect(
    emulator: EmulatorServer, inspector: Inspector, tmp_path: Path
) -> None:
    accounts = _accounts_on_file(emulator, tmp_path / "connections.db")
    state, code = _sign_in(accounts, emulator, "microsoft")
    accounts.finish("microsoft", state, code)
    graph = accounts.graph_client(OWNER)
    ctx = ToolContext(graph=graph, blobs=BlobStore())
    control = httpx.Client(base_url=emulator.url, trust_env=False)
    with use_context(ctx):
        await outlook.outlook_list_messages(limit=1)
        control.post("/_emulator/oauth/expire", params={"provider": "microsoft"})  # the server says expired; MSAL's cache disagrees
        sent_before = len(inspector.requests())
        assert len(await outlook.outlook_list_messages(limit=2)) == 2
        after = inspector.requests()[sent_before:]
        assert [(r["method"], r["status"]) for r in after if r["path"] == "/v1.0/me/messages"] == [("GET", 401), ("GET", 200)]
        assert sum(r["path"].endswith("/oauth2/v2.0/token") for r in after) == 1
        control.post("/_emulator/oauth/revoke")
        with pytest.raises(ToolError, match="reconnect your Microsoft account") as raised:
            await outlook.outlook_list_messages(limit=1)
    assert raised.value.code == "reconnect:microsoft"
