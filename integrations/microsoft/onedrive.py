"""OneDrive tools: list a folder, ensure a folder path, upload (large files through an upload session with
our own chunk loop), download, search, and create a sharing link."""

from __future__ import annotations

import asyncio
import random
import re
from contextlib import asynccontextmanager
from typing import AsyncIterator, Literal
from urllib.parse import quote

import httpx
from kiota_abstractions.api_error import APIError
from msgraph import GraphServiceClient
from msgraph.generated.drives.item.items.item.create_link.create_link_post_request_body import CreateLinkPostRequestBody
from msgraph.generated.drives.item.items.item.create_upload_session.create_upload_session_post_request_body import (
    CreateUploadSessionPostRequestBody,
)
from msgraph.generated.models.drive_item import DriveItem as GraphDriveItem
from msgraph.generated.models.drive_item_uploadable_properties import DriveItemUploadableProperties
from msgraph.generated.models.folder import Folder

from integrations.blobs import FileRef
from integrations.context import current_context
from integrations.declaration import tool
from integrations.errors import ToolError
from integrations.microsoft import wire
from integrations.microsoft.client import WorkspaceGraphClient
from integrations.microsoft.graph_errors import graph_errors_as_tool_errors, is_not_found
from integrations.microsoft.models import DriveItem, SharingLink
from integrations.microsoft.transport import fetch, fix_url, send

SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024
"""Files up to this size go in one PUT; larger ones through an upload session."""
UPLOAD_FRAGMENT_UNIT = 320 * 1024
UPLOAD_CHUNK = 10 * UPLOAD_FRAGMENT_UNIT
"""Bytes per upload-session PUT: a multiple of 320 KiB, as Graph requires of every chunk but the last."""
CHUNK_ATTEMPTS = 4
CONFLICT_BEHAVIOR = "@microsoft.graph.conflictBehavior"
MAX_LIST = 5000
_CONCURRENT_LOOKUPS = 4  # Graph allows 4 concurrent requests per mailbox/drive user
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
_CONFLICT_HINTS = {409: "a file with that name already exists there: pass conflict='replace' or conflict='rename'"}
_PATH_HINTS = {404: "nothing exists at that path: check it with onedrive_list_folder or onedrive_search"}

Children = wire.Page[wire.DriveItem]


@tool(provider="microsoft", scopes=("Files.Read",), effect="read", retry_safe=True)
async def onedrive_list_folder(path: str = "", limit: int = 500) -> list[DriveItem]:
    """List the files and subfolders in a OneDrive folder, by name.

    path: folder path from the OneDrive root, e.g. 'Email Attachments/Fabrikam' ('' for the root).
    limit: the most items to return (1-5000).
    """
    if not 1 <= limit <= MAX_LIST:
        raise ToolError(f"onedrive_list_folder: limit must be between 1 and {MAX_LIST}, got {limit}")
    segments = _folder_segments(path)
    graph = current_context().require_graph()
    found: list[DriveItem] = []
    async with graph_errors_as_tool_errors(f"listing OneDrive folder {'/'.join(segments) or '(root)'!r}", _PATH_HINTS):
        children = graph.drives.by_drive_id(await _drive_id(graph)).items.by_drive_item_id(_item_path(segments)).children
        request = children.to_get_request_information()
        while True:
            page = await fetch(graph, request, Children)
            found.extend(_drive_item(item, segments) for item in page.value)
            if len(found) >= limit or not page.next_link:
                break
            request = children.with_url(page.next_link).to_get_request_information()
    return found[:limit]


@tool(provider="microsoft", scopes=("Files.ReadWrite",), effect="write", retry_safe=True)
async def onedrive_ensure_folder(path: str) -> DriveItem:
    """Create a folder in the user's OneDrive unless it exists, with any missing parent folders; returns the folder.

    path: folder path from the OneDrive root, e.g. 'Email Attachments/Fabrikam'. Safe to call repeatedly.
    In a dry run nothing is created; a folder that does not exist yet comes back with an empty id.
    """
    segments = _folder_segments(path)
    ctx = current_context()
    graph = ctx.require_graph()
    async with graph_errors_as_tool_errors(f"creating OneDrive folder {'/'.join(segments)!r}"):
        drive_id = await _drive_id(graph)
        existing = await _find(graph, drive_id, segments)
        if existing is not None:
            return _folder_item(existing, segments)
        if ctx.dry_run:
            return _would_be(segments, size=None, is_folder=True)
        folder = await _create_folders(graph, drive_id, segments)
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
    Returns the uploaded file. Large files are sent in chunks. In a dry run nothing is written and the
    result shows what would be uploaded.
    """
    segments = _folder_segments(folder_path)
    _check_file_name(name)
    ctx = current_context()
    data = ctx.blobs.get(file.handle)
    graph = ctx.require_graph()
    target = [*segments, name]
    action = f"uploading {'/'.join(target)!r} to OneDrive"
    async with graph_errors_as_tool_errors(action, _CONFLICT_HINTS):
        drive_id = await _drive_id(graph)
        if ctx.dry_run:
            return await _preview_upload(graph, drive_id, target, len(data), conflict)
        folder = await _find(graph, drive_id, segments)
        if folder is None:
            folder = await _create_folders(graph, drive_id, segments)
        _require_folder(folder, segments)
        item = graph.drives.by_drive_id(drive_id).items.by_drive_item_id(f"{folder.id}:/{name}:")
        if len(data) <= SIMPLE_UPLOAD_LIMIT:
            request = item.content.to_put_request_information(data)
            request.url = fix_url(graph, request) + f"?{quote(CONFLICT_BEHAVIOR)}={conflict}"
            uploaded = await fetch(graph, request, wire.DriveItem, retry_safe=False)
        else:
            properties = DriveItemUploadableProperties(additional_data={CONFLICT_BEHAVIOR: conflict})
            request = item.create_upload_session.to_post_request_information(CreateUploadSessionPostRequestBody(item=properties))
            session = await fetch(graph, request, wire.UploadSession)  # a session changes nothing until its last chunk
            uploaded = await _upload_chunks(graph, session, data, action)
    return _drive_item(uploaded, segments)


@tool(provider="microsoft", scopes=("Files.Read",), effect="read", retry_safe=True)
async def onedrive_download(path: str) -> FileRef:
    """Download a OneDrive file and return a FileRef that other tools accept (the bytes stay on the host).

    path: file path from the OneDrive root, e.g. 'Documents/Budget 2026.xlsx' (as onedrive_list_folder or onedrive_search give it).
    """
    segments = _folder_segments(path)
    if not segments:
        raise ToolError("onedrive_download: give the path of a file, e.g. 'Documents/Budget 2026.xlsx'")
    ctx = current_context()
    graph = ctx.require_graph()
    async with graph_errors_as_tool_errors(f"downloading {'/'.join(segments)!r} from OneDrive", _PATH_HINTS):
        item = graph.drives.by_drive_id(await _drive_id(graph)).items.by_drive_item_id(_item_path(segments))
        found = await fetch(graph, item.to_get_request_information(), wire.DriveItem)
        if found.folder is not None:
            raise ToolError(f"{'/'.join(segments)!r} is a folder, not a file: list it with onedrive_list_folder and download its files")
        content = await send(graph, item.content.to_get_request_information()) or b""
    mime = found.file.mime_type if found.file and found.file.mime_type else "application/octet-stream"
    return ctx.blobs.put(content, found.name or segments[-1], mime)


@tool(provider="microsoft", scopes=("Files.Read",), effect="read", retry_safe=True)
async def onedrive_search(query: str, limit: int = 25) -> list[DriveItem]:
    """Find files and folders in the user's OneDrive by words in their name or content, newest first.

    query: words to look for, e.g. 'invoice fabrikam'. limit: the most items to return (1-200).
    Returns each item with its full path (for onedrive_download or onedrive_create_link).
    """
    if not query.strip():
        raise ToolError("onedrive_search: give some words to search for; use onedrive_list_folder to list a folder")
    if not 1 <= limit <= 200:
        raise ToolError(f"onedrive_search: limit must be between 1 and 200, got {limit}")
    graph = current_context().require_graph()
    async with graph_errors_as_tool_errors(f"searching OneDrive for {query!r}"):
        items = graph.drives.by_drive_id(await _drive_id(graph)).items
        search = items.by_drive_item_id("root").search_with_q(query.replace("'", "''"))
        request = search.to_get_request_information()
        found: list[wire.DriveItem] = []
        while True:
            page = await fetch(graph, request, Children)
            found.extend(page.value)
            if len(found) >= limit or not page.next_link:
                break
            request = search.with_url(page.next_link).to_get_request_information()
        gate = asyncio.Semaphore(_CONCURRENT_LOOKUPS)

        async def with_path(item: wire.DriveItem) -> wire.DriveItem:
            if item.parent_reference is not None and item.parent_reference.path is not None:
                return item
            async with gate:  # search results may leave out the parent path: ask for the item itself
                return await fetch(graph, items.by_drive_item_id(item.id).to_get_request_information(), wire.DriveItem)

        complete = await asyncio.gather(*(with_path(item) for item in found[:limit]))
    return [_drive_item(item, _parent_segments(item)) for item in complete]


@tool(provider="microsoft", scopes=("Files.ReadWrite",), effect="send", retry_safe=True)
async def onedrive_create_link(path: str, kind: Literal["view", "edit"] = "view", scope: Literal["organization", "anonymous"] = "organization") -> SharingLink:
    """Share a OneDrive file or folder: make (or reuse) a view or edit link to put in an email or chat message.

    path: path from the OneDrive root, e.g. 'Reports/Q3.pdf'. kind: 'view' (read-only) or 'edit'.
    scope: 'organization' (people in the user's organization) or 'anonymous' (anyone who has the link).
    Safe to repeat: the same link comes back. In a dry run no link is made and the url is ''.
    """
    segments = _folder_segments(path)
    ctx = current_context()
    graph = ctx.require_graph()
    async with graph_errors_as_tool_errors(f"sharing {'/'.join(segments) or 'the OneDrive root'!r}", _PATH_HINTS):
        item = graph.drives.by_drive_id(await _drive_id(graph)).items.by_drive_item_id(_item_path(segments))
        if ctx.dry_run:
            await fetch(graph, item.to_get_request_information(), wire.DriveItem)
            return SharingLink(url="", kind=kind, scope=scope, path="/".join(segments))
        request = item.create_link.to_post_request_information(CreateLinkPostRequestBody(type=kind, scope=scope))
        permission = await fetch(graph, request, wire.Permission)
    return SharingLink(url=permission.link.web_url, kind=permission.link.type or kind, scope=permission.link.scope or scope, path="/".join(segments))


async def _upload_chunks(graph: GraphServiceClient, session: wire.UploadSession, data: bytes, action: str) -> wire.DriveItem:
    """PUT `data` to the session's pre-authenticated URL in UPLOAD_CHUNK pieces (no Authorization header).

    A chunk that fails with 429/5xx or a network error is retried after asking the session which bytes it
    still expects; that cannot duplicate anything, since the file exists only after the last byte.
    """
    if not session.upload_url:
        raise ToolError(f"{action} failed: Microsoft Graph gave no upload URL; try again")
    url, total = session.upload_url, len(data)
    offset = _range_start(session.next_expected_ranges)
    failures = 0
    async with _transfer_client(graph) as client:
        while True:
            end = min(offset + UPLOAD_CHUNK, total)
            headers = {"Content-Range": f"bytes {offset}-{end - 1}/{total}", "Content-Length": str(end - offset)}
            try:
                response = await client.put(url, content=data[offset:end], headers=headers)
            except httpx.HTTPError as error:
                response, problem = None, f"{type(error).__name__}: {error}"
            else:
                problem = f"{response.status_code} {_error_text(response)}"
                if response.status_code in (200, 201):
                    return wire.DriveItem.model_validate_json(response.content)
                if response.status_code == 202:
                    offset, failures = _range_start(wire.UploadSession.model_validate_json(response.content).next_expected_ranges), 0
                    continue
                if response.status_code == 404:
                    raise ToolError(f"{action} failed: the upload session expired or was cancelled; upload the file again", status=404)
                if response.status_code not in _RETRYABLE and response.status_code != 416:
                    raise ToolError(f"{action} failed: the upload URL answered {problem}; try again", status=response.status_code)
            failures += 1
            if failures >= CHUNK_ATTEMPTS:
                raise ToolError(f"{action} failed after {failures} attempts at bytes {offset}-{end - 1} ({problem}); try again later")
            await asyncio.sleep(_chunk_delay(response, failures))
            status = await client.get(url)
            if status.status_code == 404:
                raise ToolError(f"{action}: the upload session ended while a chunk was in doubt; check the folder in OneDrive before trying again")
            if status.status_code == 200:
                offset = _range_start(wire.UploadSession.model_validate_json(status.content).next_expected_ranges)


@asynccontextmanager
async def _transfer_client(graph: GraphServiceClient) -> AsyncIterator[httpx.AsyncClient]:
    if isinstance(graph, WorkspaceGraphClient):
        yield graph.transfer_client
        return
    async with httpx.AsyncClient(timeout=100.0) as client:
        yield client


def _range_start(ranges: list[str]) -> int:
    """Start of the first expected range, e.g. '3276800-' or '0-1048575' → 3276800 / 0."""
    match = re.match(r"(\d+)-", ranges[0]) if ranges else None
    if match is None:
        raise ToolError(f"Microsoft Graph answered an upload chunk with unreadable nextExpectedRanges {ranges!r}; upload the file again")
    return int(match[1])


def _chunk_delay(response: httpx.Response | None, failures: int) -> float:
    retry_after = response.headers.get("retry-after") if response is not None else None
    if retry_after is not None:
        try:
            return min(float(retry_after), 60.0)
        except ValueError:
            pass
    return min(8.0, 0.5 * 2 ** (failures - 1)) * (0.5 + random.random() / 2)


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{error.get('code', '')}: {error.get('message', '')}"
    except ValueError:
        return response.reason_phrase


async def _drive_id(graph: GraphServiceClient) -> str:
    drive = await fetch(graph, graph.me.drive.to_get_request_information(), wire.Drive)
    if not drive.id:
        raise ToolError("the user has no OneDrive (Graph returned no drive): ask them to open OneDrive once to set it up")
    return drive.id


def _item_path(segments: list[str]) -> str:
    return f"root:/{'/'.join(segments)}:" if segments else "root"


async def _find(graph: GraphServiceClient, drive_id: str, segments: list[str]) -> wire.DriveItem | None:
    """The item at `segments` from the root, or None when it does not exist."""
    request = graph.drives.by_drive_id(drive_id).items.by_drive_item_id(_item_path(segments)).to_get_request_information()
    try:
        return await fetch(graph, request, wire.DriveItem)
    except APIError as error:
        if is_not_found(error):
            return None
        raise


async def _create_folders(graph: GraphServiceClient, drive_id: str, segments: list[str]) -> wire.DriveItem:
    """Create each missing folder along `segments`; tolerates a folder created concurrently."""
    items = graph.drives.by_drive_id(drive_id).items
    parent = await _find(graph, drive_id, [])
    if parent is None:
        raise ToolError("could not open the OneDrive root folder; try again later")
    for depth in range(1, len(segments) + 1):
        existing = await _find(graph, drive_id, segments[:depth])
        if existing is None:
            folder = GraphDriveItem(name=segments[depth - 1], folder=Folder(), additional_data={CONFLICT_BEHAVIOR: "fail"})
            try:
                existing = await fetch(graph, items.by_drive_item_id(parent.id).children.to_post_request_information(folder), wire.DriveItem)
            except APIError as error:
                if error.response_status_code != 409:
                    raise
                existing = await _find(graph, drive_id, segments[:depth])
        if existing is None:
            raise ToolError(f"could not create OneDrive folder {'/'.join(segments[:depth])!r}; try again")
        _require_folder(existing, segments[:depth])
        parent = existing
    return parent


async def _preview_upload(graph: GraphServiceClient, drive_id: str, target: list[str], size: int, conflict: str) -> DriveItem:
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
                id=existing.id, name=existing.name or target[-1], path="/".join(target),
                web_url=existing.web_url or "", size=size, is_folder=False,
            )
    return _would_be(target, size=size, is_folder=False)


def _folder_segments(path: str) -> list[str]:
    segments = [s.strip() for s in path.replace("\\", "/").split("/") if s.strip()]
    if any(s in (".", "..") for s in segments):
        raise ToolError(f"folder path {path!r} must not contain '.' or '..': give the full path from the OneDrive root")
    return segments


def _parent_segments(item: wire.DriveItem) -> list[str]:
    """Folder segments from the item's parentReference.path, e.g. '/drive/root:/Documents/2026'."""
    path = (item.parent_reference.path if item.parent_reference else None) or ""
    return [s for s in path.partition(":")[2].split("/") if s]


def _check_file_name(name: str) -> None:
    if not name.strip() or "/" in name or "\\" in name:
        raise ToolError(f"file name {name!r} is not valid: give a plain name such as 'invoice.pdf' and the folder in folder_path")


def _require_folder(item: wire.DriveItem, segments: list[str]) -> None:
    if item.folder is None:
        raise ToolError(f"OneDrive path {'/'.join(segments)!r} is a file, not a folder: choose another folder path")


def _folder_item(item: wire.DriveItem, segments: list[str]) -> DriveItem:
    _require_folder(item, segments)
    return _drive_item(item, segments[:-1])


def _drive_item(item: wire.DriveItem, parent_segments: list[str]) -> DriveItem:
    name = item.name or ""
    return DriveItem(
        id=item.id,
        name=name,
        path="" if item.root is not None else "/".join([*parent_segments, name]),
        web_url=item.web_url or "",
        size=item.size,
        is_folder=item.folder is not None,
    )


def _would_be(segments: list[str], *, size: int | None, is_folder: bool) -> DriveItem:
    return DriveItem(id="", name=segments[-1] if segments else "", path="/".join(segments), web_url="", size=size, is_folder=is_folder)


TOOLS = (onedrive_list_folder, onedrive_ensure_folder, onedrive_upload_file, onedrive_download, onedrive_search, onedrive_create_link)
"""The tools this module registers, in order."""
