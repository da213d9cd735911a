"""OneDrive listing, download, search, sharing links and upload sessions through the real msgraph-sdk, over HTTP and TLS."""

from __future__ import annotations

import os

import pytest

from integrations.blobs import BlobStore
from integrations.context import ToolContext, use_context
from integrations.emulator import EmulatorServer
from integrations.errors import ToolError
from integrations.microsoft import onedrive
from tests.integrations.conftest import Inspector, add_fault

TEN_MB = os.urandom(10 * 1024 * 1024 + 12345)


async def test_list_folder_download_search_and_link(graph_ctx: ToolContext, blobs: BlobStore, inspector: Inspector) -> None:
    files = inspector.files()
    with use_context(graph_ctx):
        listed = await onedrive.onedrive_list_folder("Documents")
        root = await onedrive.onedrive_list_folder()
        ref = await onedrive.onedrive_download("Documents/Budget 2026.xlsx")
        found = await onedrive.onedrive_search("budget")
        link = await onedrive.onedrive_create_link("Documents/Budget 2026.xlsx", kind="edit")
        again = await onedrive.onedrive_create_link("Documents/Budget 2026.xlsx", kind="edit")

    assert sorted(i.path for i in listed if not i.is_folder) == sorted(p for p in files if p.startswith("Documents/") and p.count("/") == 1)
    assert any(i.is_folder and i.path == "Documents" for i in root)
    assert (ref.name, ref.size) == ("Budget 2026.xlsx", files["Documents/Budget 2026.xlsx"]["size"])
    assert blobs.get(ref.handle)[:2] == b"PK" and ref.content_type.endswith("spreadsheetml.sheet")
    assert [i.path for i in found] == ["Documents/Budget 2026.xlsx"]
    assert link.url.startswith("https://") and link == again and (link.kind, link.scope) == ("edit", "organization")


async def test_a_10_mb_upload_goes_through_an_upload_session_in_320_kib_multiples(
    graph_ctx: ToolContext, blobs: BlobStore, inspector: Inspector
) -> None:
    ref = blobs.put(TEN_MB, "scan.bin", "application/octet-stream")
    with use_context(graph_ctx):
        item = await onedrive.onedrive_upload_file("Scans/2026", "scan.bin", ref)
        back = await onedrive.onedrive_download("Scans/2026/scan.bin")

    assert (item.path, item.size) == ("Scans/2026/scan.bin", len(TEN_MB))
    assert blobs.get(back.handle) == TEN_MB
    chunks = [r for r in inspector.requests() if r["path"].startswith("/_upload/") and r["method"] == "PUT"]
    assert len(chunks) == -(-len(TEN_MB) // onedrive.UPLOAD_CHUNK) and all(r["status"] in (201, 202) for r in chunks)
    assert onedrive.UPLOAD_CHUNK % onedrive.UPLOAD_FRAGMENT_UNIT == 0
    assert not any(r["path"].endswith("/content") and r["method"] == "PUT" for r in inspector.requests())


async def test_a_failed_chunk_resumes_from_the_range_the_session_expects(
    ctx: ToolContext, blobs: BlobStore, inspector: Inspector, emulator: EmulatorServer
) -> None:
    data = TEN_MB[: 3 * onedrive.UPLOAD_CHUNK + 99]
    add_fault(emulator, path="/_upload/", method="PUT", status=503, retry_after=0, times=2)
    with use_context(ctx):
        item = await onedrive.onedrive_upload_file("Scans", "resumed.bin", blobs.put(data, "resumed.bin", "application/octet-stream"))
        back = await onedrive.onedrive_download(item.path)

    assert blobs.get(back.handle) == data
    uploads = [r for r in inspector.requests() if r["path"].startswith("/_upload/")]
    assert [r["status"] for r in uploads if r["method"] == "PUT"] == [503, 503, 202, 202, 202, 201]
    assert [r["method"] for r in uploads].count("GET") == 2
    assert list(inspector.files()).count("Scans/resumed.bin") == 1


async def test_upload_session_conflicts_follow_the_conflict_argument(ctx: ToolContext, blobs: BlobStore, inspector: Inspector) -> None:
    ref = blobs.put(TEN_MB[: onedrive.SIMPLE_UPLOAD_LIMIT + 1], "big.bin", "application/octet-stream")
    with use_context(ctx):
        await onedrive.onedrive_upload_file("Big", "big.bin", ref)
        renamed = await onedrive.onedrive_upload_file("Big", "big.bin", ref, conflict="rename")
        with pytest.raises(ToolError, match="conflict='replace'") as raised:
            await onedrive.onedrive_upload_file("Big", "big.bin", ref, conflict="fail")
    assert renamed.path == "Big/big 1.bin" and raised.value.status == 409
    assert {"Big/big.bin", "Big/big 1.bin"} <= set(inspector.files())


async def test_missing_paths_and_folders_are_tool_errors_that_say_what_to_do(ctx: ToolContext) -> None:
    with use_context(ctx):
        with pytest.raises(ToolError, match="onedrive_list_folder or onedrive_search") as raised:
            await onedrive.onedrive_download("Documents/nope.pdf")
        with pytest.raises(ToolError, match="is a folder, not a file"):
            await onedrive.onedrive_download("Documents")
        with pytest.raises(ToolError, match="give some words"):
            await onedrive.onedrive_search("  ")
    assert raised.value.status == 404


async def test_create_link_in_a_dry_run_makes_no_link(graph, blobs: BlobStore, inspector: Inspector) -> None:
    with use_context(ToolContext(graph=graph, blobs=blobs, dry_run=True)):
        link = await onedrive.onedrive_create_link("Documents/Budget 2026.xlsx", scope="anonymous")
    assert (link.url, link.scope) == ("", "anonymous")
    assert {r["method"] for r in inspector.requests()} == {"GET"}
