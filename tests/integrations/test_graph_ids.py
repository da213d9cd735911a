"""Graph ids through the real msgraph-sdk against the emulator: an id is one path segment, sent encoded exactly,
and an id that is a dot segment (which an HTTP client resolves into the parent resource: `..` on a message
would read or PATCH `/me`) is refused before any request is made."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pytest

from integrations.context import ToolContext, use_context
from integrations.errors import ToolError
from integrations.microsoft.outlook import (outlook_get_attachment, outlook_get_message, outlook_list_attachments,
                                            outlook_mark_read, outlook_move_message, outlook_reply,
                                            outlook_search_messages)
from tests.integrations.conftest import Inspector

ToolCall = Callable[[str], Awaitable[object]]
TOOLS: dict[str, ToolCall] = {
    "get_message": lambda id_: outlook_get_message(id_),
    "mark_read": lambda id_: outlook_mark_read(id_),
    "list_attachments": lambda id_: outlook_list_attachments(id_),
    "get_attachment (message id)": lambda id_: outlook_get_attachment(id_, "att-1"),
    "get_attachment (attachment id)": lambda id_: outlook_get_attachment("msg-1", id_),
    "move_message": lambda id_: outlook_move_message(id_, "archive"),
    "search_messages (folder id)": lambda id_: outlook_search_messages(folder=id_),
    "reply": lambda id_: outlook_reply(id_, "thanks"),
}


@pytest.mark.parametrize("dots", [".", ".."])
@pytest.mark.parametrize("call", TOOLS.values(), ids=TOOLS.keys())
async def test_a_dot_segment_id_is_refused_before_any_request(call: ToolCall, dots: str, ctx: ToolContext,
                                                              inspector: Inspector) -> None:
    with use_context(ctx), pytest.raises(ToolError, match=r"is not an id: '\.' and '\.\.' never are"):
        await call(dots)
    assert inspector.requests() == [], "nothing reached Graph: not /me, not the message collection"


@pytest.mark.parametrize("odd_id", ["a/../b", "../..", "...", "%2e%2E", "x y/é?#&=+;", ".hidden", "AAMk-_=="])
async def test_every_id_is_sent_as_one_segment_encoded_exactly(odd_id: str, ctx: ToolContext,
                                                               inspector: Inspector) -> None:
    with use_context(ctx), pytest.raises(ToolError, match="reading Outlook message"):   # no such message
        await outlook_get_message(odd_id)
    (request,) = inspector.requests()
    assert request["raw_path"] == f"/v1.0/me/messages/{quote(odd_id, safe='')}"
    assert request["path"] == f"/v1.0/me/messages/{odd_id}"


async def test_real_ids_still_work(ctx: ToolContext, inspector: Inspector) -> None:
    message = inspector.mailbox()["messages"][0]
    with use_context(ctx):
        read = await outlook_mark_read(message["id"])
    assert read.id == message["id"] and read.is_read
    assert [r["method"] for r in inspector.requests()] == ["PATCH"]
