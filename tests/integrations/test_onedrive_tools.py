"""OneDrive tools through the real msgraph-sdk against the emulator."""

from __future__ import annotations

import pytest

from integrations.blobs import BlobStore
from integrations.context import ToolContext, use_context
from integrations.emulator.sample_files import pdf_document
from integrations.errors import ToolError
from integrations.microsoft.onedrive import onedrive_ensure_folder, onedrive_upload_file
from tests.integrations.conftest import Inspector

PDF_BYTES = pdf_document(["Fabrikam - Invoice INV-2026-0001", "Amount due: USD 1,234.00"])


async def test_ensure_folder_creates_missing_parents_and_is_idempotent(ctx: ToolContext, inspector: Inspector) -> None:
    with use_context(ctx):
        first = await onedrive_ensure_folder("Email Attachments/Fabrikam")
        second = await onedrive_ensure_folder("/Email Attachments/Fabrikam/")

    assert first == second
    assert (first.name, first.path, first.is_folder) == ("Fabrikam", "Email Attachments/Fabrikam", True)
    assert first.id and first.web_url.endswith("/Email%20Attachments/Fabrikam")
    assert {"Email Attachments", "Email Attachments/Fabrikam"} <= inspector.folders()
    creations = [r for r in inspector.requests() if r["method"] == "POST"]
    assert len(creations) == 2


async def test_ensure_folder_returns_an_existing_folder_without_writing(ctx: ToolContext, inspector: Inspector) -> None:
    with use_context(ctx):
        documents = await onedrive_ensure_folder("Documents")

    assert documents.path == "Documents" and documents.is_folder
    assert documents.size == sum(f["size"] for p, f in inspector.files().items() if p.startswith("Documents/"))
    assert all(r["method"] == "GET" for r in inspector.requests())


async def test_ensure_folder_refuses_a_path_that_is_a_file(ctx: ToolContext) -> None:
    with use_context(ctx), pytest.raises(ToolError, match="is a file, not a folder"):
        await onedrive_ensure_folder("Documents/Budget 2026.xlsx")


async def test_upload_puts_the_file_at_the_right_path_with_the_right_size(
    ctx: ToolContext, blobs: BlobStore, inspector: Inspector
) -> None:
    ref = blobs.put(PDF_BYTES, "INV-2026-0001.pdf", "application/pdf")
    with use_context(ctx):
        item = await onedrive_upload_file("Email Attachments/Fabrikam", "INV-2026-0001.pdf", ref)

    assert (item.path, item.name, item.size, item.is_folder) == (
        "Email Attachments/Fabrikam/INV-2026-0001.pdf", "INV-2026-0001.pdf", len(PDF_BYTES), False,
    )
    stored = inspector.files()["Email Attachments/Fabrikam/INV-2026-0001.pdf"]
    assert (stored["size"], stored["contentType"], stored["id"]) == (len(PDF_BYTES), "application/pdf", item.id)


async def test_upload_conflicts_replace_rename_and_fail(ctx: ToolContext, blobs: BlobStore, inspector: Inspector) -> None:
    first = blobs.put(b"version one", "notes.csv", "text/csv")
    second = blobs.put(b"version two, longer", "notes.csv", "text/csv")
    with use_context(ctx):
        original = await onedrive_upload_file("Reports", "notes.csv", first)
        replaced = await onedrive_upload_file("Reports", "notes.csv", second)
        renamed = await onedrive_upload_file("Reports", "notes.csv", first, conflict="rename")
        with pytest.raises(ToolError, match="conflict='replace' or conflict='rename'") as raised:
            await onedrive_upload_file("Reports", "notes.csv", first, conflict="fail")

    assert raised.value.status == 409
    assert replaced.id == original.id and replaced.size == len(b"version two, longer")
    assert renamed.path == "Reports/notes 1.csv"
    files = inspector.files()
    assert files["Reports/notes.csv"]["size"] == len(b"version two, longer")
    assert files["Reports/notes 1.csv"]["size"] == len(b"version one")


async def test_dry_run_writes_nothing_but_reports_the_outcome(graph, blobs: BlobStore, inspector: Inspector) -> None:
    before = inspector.drive()
    ref = blobs.put(PDF_BYTES, "q3.pdf", "application/pdf")
    with use_context(ToolContext(graph=graph, blobs=blobs, dry_run=True)):
        folder = await onedrive_ensure_folder("Email Attachments/Northwind Traders")
        item = await onedrive_upload_file("Email Attachments/Northwind Traders", "q3.pdf", ref)
        existing = await onedrive_upload_file("Documents", "Budget 2026.xlsx", ref)
        with pytest.raises(ToolError, match="already exists"):
            await onedrive_upload_file("Documents", "Budget 2026.xlsx", ref, conflict="fail")

    assert inspector.drive() == before
    assert {r["method"] for r in inspector.requests()} == {"GET"}
    assert (folder.id, folder.path, folder.is_folder) == ("", "Email Attachments/Northwind Traders", True)
    assert (item.id, item.path, item.size) == ("", "Email Attachments/Northwind Traders/q3.pdf", len(PDF_BYTES))
    assert existing.id == inspector.files()["Documents/Budget 2026.xlsx"]["id"]


async def test_upload_of_an_unknown_handle_is_refused_before_any_request(ctx: ToolContext, inspector: Inspector) -> None:
    foreign = BlobStore().put(b"elsewhere", "x.pdf", "application/pdf")
    with use_context(ctx), pytest.raises(ToolError, match="no file with handle"):
        await onedrive_upload_file("Somewhere", "x.pdf", foreign)
    assert inspector.requests() == []


async def test_invalid_names_and_paths_are_tool_errors(ctx: ToolContext, blobs: BlobStore) -> None:
    ref = blobs.put(b"data", "a.txt", "text/plain")
    with use_context(ctx):
        with pytest.raises(ToolError, match="plain name"):
            await onedrive_upload_file("Reports", "sub/a.txt", ref)
        with pytest.raises(ToolError, match=r"'\.\.'"):
            await onedrive_ensure_folder("Reports/../Secrets")
        with pytest.raises(ToolError, match="not valid") as raised:
            await onedrive_upload_file("Reports", "what?.txt", ref)
    assert raised.value.status == 400
