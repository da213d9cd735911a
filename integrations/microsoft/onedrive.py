"""OneDrive tools: make sure a folder exists, upload a file from the blob store."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from kiota_abstractions.api_error import APIError
from msgraph import GraphServiceClient
from msgraph.generated.models.drive_item import DriveItem as GraphDriveItem
from msgraph.generated.models.folder import Folder

from integrations.blobs import FileRef
from integrations.context import current_context
from integrations.declaration import tool
from integrations.errors import ToolError
from integrations.microsoft.graph_errors import graph_errors_as_tool_errors, is_not_found
from integrations.microsoft.models import DriveItem

SIMPLE_UPLOAD_LIMIT = 250 * 1024 * 1024
CONFLICT_BEHAVIOR = "@microsoft.graph.conflictBehavior"
_CONFLICT_HINTS = {409: "a file with that name already exists there: pass conflict='replace' or conflict='rename'"}


@tool(provider="microsoft", scopes=("Files.ReadWrite",), effect="write", retry_safe=True)
async def onedrive_ensure_folder(path: str) -> DriveItem:
    """Make sure a folder exists in the user's OneDrive, creating any missing parent folders; returns the folder.

    path: folder path from the OneDrive root, e.g. 'Email Attachments/Fabrikam'. Safe to call repeatedly.
    In a dry run nothing is created; a folder that does not exist yet comes back with an empty id.
    """
    segments = _folder_segments(path)
    ctx = current_context()
    async with graph_errors_as_tool_errors(f"creating OneDrive folder {'/'.join(segments)!r}"):
        drive_id = await _drive_id(ctx.require_graph())
        existing = await _find(ctx.require_graph(), drive_id, segments)
        if existing is not None:
            return _folder_item(existing, segments)
        if ctx.dry_run:
            return _would_be(segments, size=None, is_folder=True)
        folder = await _create_folders(ctx.require_graph(), drive_id, segments)
    return _folder_item(folder, segments)


@tool(provider="microsoft", scopes=("Files.ReadWrite",), effect="write", retry_safe=False)
async def onedrive_upload_file(
    folder_path: str,
    name: str,
    file: FileRef,
    conflict: Literal["replace", "rename", "fail"] = "replace",
) -> DriveItem:
    """Upload a file (a FileRef returned by another tool) into a OneDrive folder, creating the folder if needed.

    file: the FileRef exactly as returned, e.g. by outlook_get_attachment.
    folder_path: folder path from the OneDrive root, e.g. 'Email Attachments/Fabrikam' ('' for the root).
    name: file name to save as, e.g. 'invoice.pdf'.
    conflict: when a file with that name exists: 'replace' it, 'rename' the new one ('invoice 1.pdf'), or 'fail'.
    Returns the uploaded file. In a dry run nothing is written and the result shows what would be uploaded.
    """
    segments = _folder_segments(folder_path)
    _check_file_name(name)
    ctx = current_context()
    data = ctx.blobs.get(file.handle)
    if len(data) > SIMPLE_UPLOAD_LIMIT:
        raise ToolError(
            f"uploading {name!r} failed: it is {len(data)} bytes and files over {SIMPLE_UPLOAD_LIMIT} bytes are not supported yet; skip it or split it"
        )
    target = [*segments, name]
    action = f"uploading {'/'.join(target)!r} to OneDrive"
    async with graph_errors_as_tool_errors(action, _CONFLICT_HINTS):
        drive_id = await _drive_id(ctx.require_graph())
        if ctx.dry_run:
            return await _preview_upload(ctx.require_graph(), drive_id, target, len(data), conflict)
        folder = await _find(ctx.require_graph(), drive_id, segments)
        if folder is None:
            folder = await _create_folders(ctx.require_graph(), drive_id, segments)
        _require_folder(folder, segments)
        content = ctx.require_graph().drives.by_drive_id(drive_id).items.by_drive_item_id(f"{folder.id}:/{name}:").content
        url = content.to_put_request_information(data).url + f"?{quote(CONFLICT_BEHAVIOR)}={conflict}"
        uploaded = await content.with_url(url).put(data)
    if uploaded is None:
        raise ToolError(f"{action} failed: Microsoft Graph returned no item; check the folder in OneDrive and try again")
    return _drive_item(uploaded, segments)


async def _drive_id(graph: GraphServiceClient) -> str:
    drive = await graph.me.drive.get()
    if drive is None or not drive.id:
        raise ToolError("the user has no OneDrive (Graph returned no drive): ask them to open OneDrive once to set it up")
    return drive.id


async def _find(graph: GraphServiceClient, drive_id: str, segments: list[str]) -> GraphDriveItem | None:
    """The item at `segments` from the root, or None when it does not exist."""
    item_id = f"root:/{'/'.join(segments)}:" if segments else "root"
    try:
        return await graph.drives.by_drive_id(drive_id).items.by_drive_item_id(item_id).get()
    except APIError as error:
        if is_not_found(error):
            return None
        raise


async def _create_folders(graph: GraphServiceClient, drive_id: str, segments: list[str]) -> GraphDriveItem:
    """Create each missing folder along `segments`; tolerates a folder created concurrently."""
    items = graph.drives.by_drive_id(drive_id).items
    parent = await _find(graph, drive_id, [])
    if parent is None or not parent.id:
        raise ToolError("could not open the OneDrive root folder; try again later")
    for depth in range(1, len(segments) + 1):
        existing = await _find(graph, drive_id, segments[:depth])
        if existing is None:
            request = GraphDriveItem(name=segments[depth - 1], folder=Folder(), additional_data={CONFLICT_BEHAVIOR: "fail"})
            try:
                existing = await items.by_drive_item_id(parent.id).children.post(request)
            except APIError as error:
                if error.response_status_code != 409:
                    raise
                existing = await _find(graph, drive_id, segments[:depth])
        if existing is None or not existing.id:
            raise ToolError(f"could not create OneDrive folder {'/'.join(segments[:depth])!r}; try again")
        _require_folder(existing, segments[:depth])
        parent = existing
    return parent


async def _preview_upload(
    graph: GraphServiceClient, drive_id: str, target: list[str], size: int, conflict: str
) -> DriveItem:
    """What an upload would produce, checking the same conflict rule, without writing."""
    existing = await _find(graph, drive_id, target)
    if existing is not None:
        if existing.folder is not None:
            raise ToolError(f"uploading {'/'.join(target)!r} would fail: a folder has that name; choose another file name")
        if conflict == "fail":
            raise ToolError(
                f"uploading {'/'.join(target)!r} would fail: the file already exists; pass conflict='replace' or conflict='rename'"
            )
        if conflict == "replace":
            return DriveItem(
                id=existing.id or "", name=existing.name or target[-1], path="/".join(target),
                web_url=existing.web_url or "", size=size, is_folder=False,
            )
    return _would_be(target, size=size, is_folder=False)


def _folder_segments(path: str) -> list[str]:
    segments = [s.strip() for s in path.replace("\\", "/").split("/") if s.strip()]
    if any(s in (".", "..") for s in segments):
        raise ToolError(f"folder path {path!r} must not contain '.' or '..': give the full path from the OneDrive root")
    return segments


def _check_file_name(name: str) -> None:
    if not name.strip() or "/" in name or "\\" in name:
        raise ToolError(f"file name {name!r} is not valid: give a plain name such as 'invoice.pdf' and the folder in folder_path")


def _require_folder(item: GraphDriveItem, segments: list[str]) -> None:
    if item.folder is None:
        raise ToolError(f"OneDrive path {'/'.join(segments)!r} is a file, not a folder: choose another folder path")


def _folder_item(item: GraphDriveItem, segments: list[str]) -> DriveItem:
    _require_folder(item, segments)
    return _drive_item(item, segments[:-1])


def _drive_item(item: GraphDriveItem, parent_segments: list[str]) -> DriveItem:
    name = item.name or ""
    is_root = item.root is not None
    return DriveItem(
        id=item.id or "",
        name=name,
        path="" if is_root else "/".join([*parent_segments, name]),
        web_url=item.web_url or "",
        size=item.size,
        is_folder=item.folder is not None,
    )


def _would_be(segments: list[str], *, size: int | None, is_folder: bool) -> DriveItem:
    return DriveItem(id="", name=segments[-1] if segments else "", path="/".join(segments), web_url="", size=size, is_folder=is_folder)


TOOLS = (onedrive_ensure_folder, onedrive_upload_file)
"""The tools this module registers, in order."""
