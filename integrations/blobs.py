"""Host-side storage for binary content, referenced by opaque handles.

Tools put file bytes here and return a `FileRef`; code passes the ref to other tools. The bytes
never have to travel through the model or the sandbox.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from pydantic import BaseModel, Field

from integrations.errors import ToolError


class FileRef(BaseModel):
    """A file held by the host: pass it to tools that take a file (e.g. onedrive_upload_file)."""

    handle: str = Field(description="opaque handle of the stored bytes")
    name: str = Field(description="file name, e.g. 'invoice.pdf'")
    content_type: str = Field(description="MIME type, e.g. 'application/pdf'")
    size: int = Field(description="size in bytes")


@dataclass(frozen=True)
class _Blob:
    data: bytes
    ref: FileRef


class BlobStore:
    """In-memory, thread-safe map from random handles to bytes."""

    def __init__(self) -> None:
        self._blobs: dict[str, _Blob] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes, name: str, content_type: str) -> FileRef:
        """Store `data` and return a reference to it."""
        ref = FileRef(handle="blob_" + secrets.token_urlsafe(18), name=name, content_type=content_type, size=len(data))
        with self._lock:
            self._blobs[ref.handle] = _Blob(bytes(data), ref)
        return ref

    def get(self, handle: str) -> bytes:
        """The bytes stored under `handle`; ToolError if there are none."""
        return self._lookup(handle).data

    def ref(self, handle: str) -> FileRef:
        """The FileRef that `put` returned for `handle`; ToolError if there is none."""
        return self._lookup(handle).ref

    def __contains__(self, handle: object) -> bool:
        with self._lock:
            return handle in self._blobs

    def __len__(self) -> int:
        with self._lock:
            return len(self._blobs)

    def _lookup(self, handle: str) -> _Blob:
        with self._lock:
            blob = self._blobs.get(handle)
        if blob is None:
            raise ToolError(
                f"no file with handle {handle!r}: pass a FileRef exactly as a tool returned it "
                "(e.g. from outlook_get_attachment) in this same conversation"
            )
        return blob
