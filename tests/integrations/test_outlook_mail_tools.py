"""The Outlook search, read and write tools through the real msgraph-sdk against the emulator, over HTTP and TLS."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.context import ToolContext, use_context
from integrations.emulator import EmulatorServer
from integrations.emulator.state import StoredMessage
from integrations.errors import ToolError
from integrations.microsoft import outlook
from tests.integrations.conftest import NOW, Inspector


def _mailbox(inspector: Inspector) -> list[dict]:
    return inspector.mailbox()["messages"]


async def test_search_by_sender_domain_window_and_attachments(graph_ctx: ToolContext, inspector: Inspector) -> None:
    after = NOW - timedelta(days=30)
    with use_context(graph_ctx):
        found = await outlook.outlook_search_messages(sender="fabrikam.com", received_after=after, has_attachments=True, limit=1000)
    expected = [m["id"] for m in _mailbox(inspector) if m["from"]["address"].endswith("@fabrikam.com") and m["hasAttachments"]
                and m["receivedDateTime"] >= after.strftime("%Y-%m-%dT%H:%M:%SZ") and m["folder"] != "drafts"]
    assert expected and [m.id for m in found] == expected


async def test_search_by_exact_sender_and_unread_in_a_folder(graph_ctx: ToolContext, inspector: Inspector) -> None:
    sender = next(m["from"]["address"] for m in _mailbox(inspector) if not m["isRead"])
    with use_context(graph_ctx):
        found = await outlook.outlook_search_messages(sender=sender.upper(), unread=True, folder="Inbox")
    expected = {m["id"] for m in _mailbox(inspector) if m["from"]["address"] == sender and not m["isRead"] and m["folder"] == "inbox"}
    assert expected and {m.id for m in found} == expected and not any(m.is_read for m in found)
    assert any("/mailFolders/inbox/messages" in r["path"] and "from/emailAddress/address eq" in r["query"] for r in inspector.requests())


async def test_free_text_search_goes_through_search_and_keeps_the_exact_filters(graph_ctx: ToolContext, inspector: Inspector) -> None:
    with use_context(graph_ctx):
        found = await outlook.outlook_search_messages(text="invoice", has_attachments=True, received_after=NOW - timedelta(days=20))
    assert found and all("invoice" in m.subject.lower() and m.has_attachments and m.received_at >= NOW - timedelta(days=20) for m in found)
    assert all("$search=" in r["query"] and "$filter" not in r["query"] for r in inspector.requests() if r["path"].endswith("/messages"))


async def test_get_message_gives_clean_text_for_html_bodies(graph_ctx: ToolContext, emulator: EmulatorServer) -> None:
    seeded = emulator.state.messages[0]
    html = StoredMessage(
        id="AAMkADhtml=", subject="Prices", sender=seeded.sender, to=[emulator.state.user], received=NOW, conversation_id="c",
        internet_message_id="<h@x>", is_read=False, body_type="html",
        body_text="<html><head><style>p{color:red}</style></head><body><p>Hi Alex,</p><p>New <b>prices</b> &amp; terms:</p>"
                  "<ul><li>Widgets</li><li>Gadgets</li></ul></body></html>",
    )
    emulator.state.add_message(html)
    with use_context(graph_ctx):
        detail = await outlook.outlook_get_message(html.id)
    assert detail.body.splitlines()[0] == "Hi Alex,"
    assert "New prices & terms:" in detail.body and "Widgets" in detail.body and "<" not in detail.body and "color" not in detail.body
    assert detail.to == [emulator.state.user.address] and detail.web_link.startswith("https://outlook.office365.com/")


async def test_send_reply_draft_move_and_mark_read_change_the_mailbox(graph_ctx: ToolContext, inspector: Inspector, blobs) -> None:
    unread = next(m for m in _mailbox(inspector) if not m["isRead"] and m["folder"] == "inbox")
    ref = blobs.put(b"col\n1\n", "numbers.csv", "text/csv")
    with use_context(graph_ctx):
        sent = await outlook.outlook_send(["lena@fabrikam.com"], "Numbers", "See attached.", cc=["tomas@fabrikam.com"], attachments=[ref])
        replied = await outlook.outlook_reply(unread["id"], "Thanks, got it.")
        draft = await outlook.outlook_create_draft(["lena@fabrikam.com"], "Later", "Draft text")
        read = await outlook.outlook_mark_read(unread["id"])
        moved = await outlook.outlook_move_message(unread["id"], "Archive")
        detail = await outlook.outlook_get_message(draft.id)

    mailbox = {m["subject"]: m for m in _mailbox(inspector)}
    assert sent.to == ["lena@fabrikam.com"] and not sent.dry_run
    assert mailbox["Numbers"]["folder"] == "sentitems" and mailbox["Numbers"]["attachments"][0]["name"] == "numbers.csv"
    assert replied.to == [unread["from"]["address"]] and mailbox[replied.subject]["to"] == [unread["from"]["address"]]
    assert mailbox["Later"]["folder"] == "drafts" and detail.body == "Draft text" and detail.to == ["lena@fabrikam.com"]
    assert read.is_read and moved.subject == unread["subject"]
    original = next(m for m in _mailbox(inspector) if m["id"] == unread["id"])
    assert original["isRead"] and original["folder"] == "archive"


async def test_writes_in_a_dry_run_change_nothing(graph, blobs, inspector: Inspector) -> None:
    before = inspector.mailbox()
    message = before["messages"][0]
    with use_context(ToolContext(graph=graph, blobs=blobs, dry_run=True)):
        assert (await outlook.outlook_send(["a@b.com"], "x", "y")).dry_run
        assert (await outlook.outlook_reply(message["id"], "ok")).to == [message["from"]["address"]]
        assert (await outlook.outlook_mark_read(message["id"], read=False)).is_read is False
        assert (await outlook.outlook_move_message(message["id"], "archive")).id == message["id"]
    assert inspector.mailbox() == before
    assert {r["method"] for r in inspector.requests()} == {"GET"}


async def test_bad_arguments_are_refused_before_calling_graph(ctx: ToolContext, inspector: Inspector, blobs) -> None:
    huge = blobs.put(b"x" * (outlook.MAX_ATTACHMENT_BYTES + 1), "big.bin", "application/octet-stream")
    with use_context(ctx):
        with pytest.raises(ToolError, match="not an email address"):
            await outlook.outlook_send(["lena at fabrikam"], "x", "y")
        with pytest.raises(ToolError, match="onedrive_create_link"):
            await outlook.outlook_send(["lena@fabrikam.com"], "x", "y", attachments=[huge])
        with pytest.raises(ToolError, match="limit must be between"):
            await outlook.outlook_search_messages(limit=0)
    assert inspector.requests() == []


async def test_an_unknown_folder_says_which_names_work(ctx: ToolContext) -> None:
    with use_context(ctx), pytest.raises(ToolError, match="inbox, sentitems") as raised:
        await outlook.outlook_search_messages(folder="Receipts")
    assert raised.value.status == 404
