"""The host-side blob store."""

from __future__ import annotations

import pytest

from integrations.blobs import BlobStore
from integrations.errors import ToolError


def test_put_then_get_round_trips_bytes_under_an_opaque_handle() -> None:
    store = BlobStore()
    first = store.put(b"%PDF-1.4 one", "one.pdf", "application/pdf")
    second = store.put(b"%PDF-1.4 one", "one.pdf", "application/pdf")

    assert (first.name, first.content_type, first.size) == ("one.pdf", "application/pdf", 12)
    assert first.handle != second.handle and "one" not in first.handle
    assert store.get(first.handle) == b"%PDF-1.4 one"
    assert store.ref(second.handle) == second
    assert len(store) == 2 and first.handle in store


def test_unknown_handle_is_a_clear_tool_error() -> None:
    with pytest.raises(ToolError, match="no file with handle 'blob_nope'.*as a tool returned it"):
        BlobStore().get("blob_nope")
