"""The tool registry: search, descriptions for the model and the sandbox, and validated calls."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pytest

from integrations.blobs import BlobStore
from integrations.context import ToolContext
from integrations.errors import ToolError
from integrations.registry import Registry
from tests.integrations.conftest import NOW, Inspector

ALL_TOOLS = [
    "outlook_list_messages",
    "outlook_search_messages",
    "outlook_get_message",
    "outlook_list_attachments",
    "outlook_get_attachment",
    "outlook_send",
    "outlook_reply",
    "outlook_create_draft",
    "outlook_move_message",
    "outlook_mark_read",
    "onedrive_list_folder",
    "onedrive_ensure_folder",
    "onedrive_upload_file",
    "onedrive_download",
    "onedrive_search",
    "onedrive_create_link",
    "gmail_search",
    "gmail_get_message",
    "gmail_get_attachment",
    "gmail_send",
    "gmail_create_draft",
    "gmail_list_labels",
    "gmail_change_labels",
    "sheets_create",
    "sheets_read_rows",
    "sheets_read_records",
    "sheets_append_rows",
    "sheets_update_range",
    "sheets_find_rows",
]


def test_default_registry_holds_the_workspace_tools_with_their_declarations(registry: Registry) -> None:
    specs = {s.name: s for s in registry.specs()}
    assert list(specs) == ALL_TOOLS
    assert {s.provider for s in specs.values()} == {"microsoft", "google"}
    assert (specs["gmail_send"].effect, specs["gmail_send"].retry_safe) == ("send", False)
    assert (specs["sheets_append_rows"].effect, specs["sheets_append_rows"].retry_safe) == ("write", False)
    assert specs["outlook_list_messages"].scopes == ("Mail.Read",)
    assert (specs["outlook_list_messages"].effect, specs["outlook_list_messages"].retry_safe) == ("read", True)
    assert specs["onedrive_upload_file"].scopes == ("Files.ReadWrite",)
    assert (specs["onedrive_upload_file"].effect, specs["onedrive_upload_file"].retry_safe) == ("write", False)
    assert specs["outlook_list_messages"].signature == (
        "async def outlook_list_messages(received_after: datetime | None = None, received_before: datetime | None = None, "
        "has_attachments: bool | None = None, limit: int = 100) -> list[MailMessage]"
    )
    assert specs["onedrive_upload_file"].signature == (
        'async def onedrive_upload_file(folder_path: str, name: str, file: FileRef, '
        'conflict: Literal["replace", "rename", "fail"] = "replace") -> DriveItem'
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("upload a file to onedrive", "onedrive_upload_file"),
        ("emails received in the last 15 days", "outlook_list_messages"),
        ("download an outlook attachment", "outlook_get_attachment"),
        ("create a folder", "onedrive_ensure_folder"),
        ("which files are attached to this message", "outlook_list_attachments"),
        ("search gmail for messages from a sender", "gmail_search"),
        ("send an email with gmail", "gmail_send"),
        ("search outlook emails from a sender domain", "outlook_search_messages"),
        ("read the body of an outlook email", "outlook_get_message"),
        ("reply to an outlook email", "outlook_reply"),
        ("find a file in onedrive", "onedrive_search"),
        ("share a onedrive file with a link", "onedrive_create_link"),
    ],
)
def test_search_ranks_the_obvious_tool_first(registry: Registry, query: str, expected: str) -> None:
    assert registry.search(query)[0].name == expected


def test_search_limits_results_and_finds_nothing_for_unrelated_words(registry: Registry) -> None:
    assert len(registry.search("outlook onedrive file email attachment folder", limit=2)) == 2
    assert registry.search("pivot chart calendar") == []


def test_get_of_an_unknown_name_points_to_search(registry: Registry) -> None:
    with pytest.raises(ToolError, match="no function named 'calendar_create_event'; use search_functions"):
        registry.get("calendar_create_event")


def test_describe_gives_the_types_then_signatures_with_docstrings(registry: Registry) -> None:
    text = registry.describe(["onedrive_upload_file"])

    assert "class FileRef:" in text and "class DriveItem:" in text
    assert "class MailMessage:" not in text
    assert text.index("class FileRef:") < text.index("async def onedrive_upload_file(")
    assert "    size: int | None  # size in bytes" in text
    assert "conflict: when a file with that name exists" in text
    with pytest.raises(ToolError, match="'nope'"):
        registry.describe(["onedrive_upload_file", "nope"])


def test_catalogue_types_exec_in_the_sandbox_namespace(registry: Registry) -> None:
    catalogue = registry.catalogue(ALL_TOOLS)
    namespace: dict[str, Any] = {}
    exec("from dataclasses import dataclass, field\nfrom datetime import datetime, date\nfrom typing import Any, Literal", namespace)
    exec(catalogue["types"], namespace)

    assert {"MailMessage", "AttachmentInfo", "FileRef", "DriveItem"} <= set(namespace)
    assert all(is_dataclass(namespace[n]) for n in ("MailMessage", "AttachmentInfo", "FileRef", "DriveItem"))
    assert [f.name for f in fields(namespace["MailMessage"])] == [
        "id", "subject", "sender_name", "sender_address", "received_at", "has_attachments", "is_read",
    ]
    message = namespace["MailMessage"](id="1", subject="s", sender_name="n", sender_address="a@b.c",
                                       received_at=datetime(2026, 1, 1), has_attachments=False)
    assert message.subject == "s"
    assert [f["name"] for f in catalogue["functions"]] == ALL_TOOLS
    assert all(set(f) == {"name", "signature", "doc"} for f in catalogue["functions"])
    assert "import" not in catalogue["types"]


async def test_call_rejects_a_wrong_argument_type_with_a_clear_message(registry: Registry, ctx: ToolContext, inspector: Inspector) -> None:
    with pytest.raises(ToolError) as raised:
        await registry.call("outlook_list_messages", {"limit": "many"}, ctx)

    message = str(raised.value)
    assert message.startswith("outlook_list_messages: argument 'limit': ")
    assert "integer" in message and "'many'" in message
    assert "expected async def outlook_list_messages(" in message
    assert inspector.requests() == []


async def test_call_reports_missing_and_unknown_arguments(registry: Registry, ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as raised:
        await registry.call("outlook_get_attachment", {"message_id": "m", "attachment": "a"}, ctx)

    assert "missing required argument 'attachment_id'" in str(raised.value)
    assert "unknown argument 'attachment'" in str(raised.value)
    with pytest.raises(ToolError, match="argument 'file'"):
        await registry.call("onedrive_upload_file", {"folder_path": "x", "name": "a.pdf", "file": "blob_123"}, ctx)
    with pytest.raises(ToolError, match="argument 'conflict'"):
        await registry.call("onedrive_upload_file", {"folder_path": "x", "name": "a.pdf",
                                                     "file": {"handle": "h", "name": "a", "content_type": "t", "size": 1},
                                                     "conflict": "overwrite"}, ctx)


async def test_call_accepts_sandbox_style_arguments_and_returns_json_data(
    registry: Registry, ctx: ToolContext, blobs: BlobStore, inspector: Inspector
) -> None:
    after = (NOW - timedelta(days=7)).isoformat()
    messages = await registry.call("outlook_list_messages", {"received_after": after, "has_attachments": True}, ctx)
    json.dumps(messages)
    assert messages and all(isinstance(m["received_at"], str) and m["has_attachments"] for m in messages)

    [first, *_] = await registry.call("outlook_list_attachments", {"message_id": messages[0]["id"]}, ctx)
    ref = await registry.call("outlook_get_attachment", {"message_id": messages[0]["id"], "attachment_id": first["id"]}, ctx)
    assert set(ref) == {"handle", "name", "content_type", "size"}
    uploaded = await registry.call("onedrive_upload_file", {"folder_path": "From registry", "name": ref["name"], "file": ref}, ctx)

    assert uploaded["path"] == f"From registry/{first['name']}"
    assert inspector.files()[uploaded["path"]]["size"] == ref["size"] == len(blobs.get(ref["handle"]))


async def test_call_wraps_unexpected_failures_in_a_tool_error() -> None:
    registry = Registry()

    async def explode(count: int) -> int:
        """Always fails."""
        return {}["missing"]

    registry.register(explode, provider="test", scopes=(), effect="read", retry_safe=True)
    ctx = ToolContext(graph=None, blobs=BlobStore())  # type: ignore[arg-type]
    with pytest.raises(ToolError, match="explode failed unexpectedly \\(KeyError"):
        await registry.call("explode", {"count": 1}, ctx)


def test_register_refuses_types_the_sandbox_cannot_represent() -> None:
    registry = Registry()

    async def takes_bytes(data: bytes) -> str:
        """Not describable."""
        return ""

    async def fine(day: date, kind: Literal["a", "b"] = "a", tags: dict[str, list[int]] | None = None) -> list[str]:
        """Describable."""
        return []

    with pytest.raises(TypeError, match="cannot be described to the sandbox"):
        registry.register(takes_bytes, provider="test", scopes=(), effect="read", retry_safe=True)
    spec = registry.register(fine, provider="test", scopes=(), effect="read", retry_safe=True)
    assert spec.signature == 'async def fine(day: date, kind: Literal["a", "b"] = "a", tags: dict[str, list[int]] | None = None) -> list[str]'
    assert spec.summary == "Describable."
