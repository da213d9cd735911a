"""Outlook tools through the real msgraph-sdk against the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from integrations.blobs import BlobStore
from integrations.context import ToolContext, use_context
from integrations.emulator import DEMO_OWN_DOMAIN, EmulatorServer
from integrations.errors import ToolError
from integrations.microsoft.client import make_graph_client
from integrations.microsoft.outlook import PAGE_SIZE, outlook_get_attachment, outlook_list_attachments, outlook_list_messages
from tests.integrations.conftest import NOW, Inspector


def _received(message: dict) -> datetime:
    return datetime.fromisoformat(message["receivedDateTime"].replace("Z", "+00:00"))


async def test_received_window_and_has_attachments_match_the_mailbox(ctx: ToolContext, inspector: Inspector) -> None:
    after = NOW - timedelta(days=15)
    expected = [
        m["id"] for m in inspector.mailbox()["messages"] if _received(m) >= after and m["hasAttachments"]
    ]
    with use_context(ctx):
        found = await outlook_list_messages(received_after=after, has_attachments=True)

    assert [m.id for m in found] == expected  # the mailbox view is newest first too
    assert 0 < len(found) < len(inspector.mailbox()["messages"])
    assert all(m.has_attachments and m.received_at >= after for m in found)
    assert [m.received_at for m in found] == sorted((m.received_at for m in found), reverse=True)


async def test_received_before_bounds_the_window_and_senders_are_filled_in(ctx: ToolContext, inspector: Inspector) -> None:
    after, before = NOW - timedelta(days=30), NOW - timedelta(days=7)
    expected = {m["id"] for m in inspector.mailbox()["messages"] if after <= _received(m) < before}
    with use_context(ctx):
        found = await outlook_list_messages(received_after=after, received_before=before, limit=1000)

    assert {m.id for m in found} == expected
    domains = {m.sender_address.split("@")[1] for m in found}
    assert DEMO_OWN_DOMAIN in domains and len(domains) > 2
    assert all(m.sender_name and m.subject for m in found)


async def test_all_messages_are_collected_across_pages(ctx: ToolContext, inspector: Inspector) -> None:
    total = len(inspector.mailbox()["messages"])
    assert total > PAGE_SIZE * 2
    with use_context(ctx):
        found = await outlook_list_messages(limit=1000)

    assert len({m.id for m in found}) == total
    message_requests = [r for r in inspector.requests() if r["path"] == "/v1.0/me/messages"]
    assert len(message_requests) == -(-total // PAGE_SIZE)
    assert all("$select=" in r["query"] for r in message_requests)
    assert sum("$skiptoken=" in r["query"] for r in message_requests) == len(message_requests) - 1


async def test_limit_stops_paging_early(ctx: ToolContext, inspector: Inspector) -> None:
    with use_context(ctx):
        found = await outlook_list_messages(limit=PAGE_SIZE + 3)

    assert len(found) == PAGE_SIZE + 3
    assert len([r for r in inspector.requests() if r["path"] == "/v1.0/me/messages"]) == 2


async def test_has_attachments_false_alone_passes_graphs_orderby_rule(ctx: ToolContext, inspector: Inspector) -> None:
    expected = {m["id"] for m in inspector.mailbox()["messages"] if not m["hasAttachments"]}
    with use_context(ctx):
        found = await outlook_list_messages(has_attachments=False)

    assert {m.id for m in found} == expected
    assert all(r["status"] == 200 for r in inspector.requests())


async def test_an_inverted_window_is_refused_before_calling_graph(ctx: ToolContext, inspector: Inspector) -> None:
    with use_context(ctx), pytest.raises(ToolError, match="must be earlier than received_before"):
        await outlook_list_messages(received_after=NOW, received_before=NOW - timedelta(days=1))
    assert inspector.requests() == []


async def test_attachments_are_listed_and_their_bytes_round_trip_through_the_blob_store(
    ctx: ToolContext, blobs: BlobStore, emulator: EmulatorServer
) -> None:
    stored = next(m for m in emulator.state.messages if len(m.attachments) >= 2)
    with use_context(ctx):
        listed = await outlook_list_attachments(stored.id)
        refs = [await outlook_get_attachment(stored.id, a.id) for a in listed]

    assert [(a.id, a.name, a.content_type, a.size) for a in listed] == [
        (a.id, a.name, a.content_type, a.size) for a in stored.attachments
    ]
    for ref, original in zip(refs, stored.attachments):
        assert (ref.name, ref.content_type, ref.size) == (original.name, original.content_type, len(original.content))
        assert blobs.get(ref.handle) == original.content
    assert len({ref.handle for ref in refs}) == len(refs)


async def test_attachment_listing_does_not_download_content(ctx: ToolContext, emulator: EmulatorServer, inspector: Inspector) -> None:
    stored = next(m for m in emulator.state.messages if m.attachments)
    with use_context(ctx):
        await outlook_list_attachments(stored.id)

    [request] = inspector.requests()
    assert "$select=id,name,contentType,size" in request["query"]


async def test_unknown_message_id_is_a_tool_error_that_says_what_to_do(ctx: ToolContext) -> None:
    with use_context(ctx), pytest.raises(ToolError) as raised:
        await outlook_list_attachments("AAMkAD-no-such-message=")

    assert raised.value.status == 404
    assert "outlook_list_messages" in str(raised.value)
    assert "\n" not in str(raised.value)


async def test_missing_token_is_a_401_tool_error_asking_to_connect(emulator: EmulatorServer, inspector: Inspector) -> None:
    ctx = ToolContext(graph=make_graph_client(emulator.graph_url, ""), blobs=BlobStore())
    with use_context(ctx), pytest.raises(ToolError) as raised:
        await outlook_list_messages()

    assert raised.value.status == 401
    assert raised.value.code == "InvalidAuthenticationToken"
    assert "/connect microsoft" in str(raised.value)
    assert [r["status"] for r in inspector.requests()] == [401]


async def test_a_token_source_is_asked_for_each_request(emulator: EmulatorServer) -> None:
    calls = 0

    async def token() -> str:
        nonlocal calls
        calls += 1
        return f"token-{calls}"

    ctx = ToolContext(graph=make_graph_client(emulator.graph_url, token), blobs=BlobStore())
    with use_context(ctx):
        found = await outlook_list_messages(limit=PAGE_SIZE + 1)

    assert len(found) == PAGE_SIZE + 1
    assert calls == 2
