"""The per-call context that tools read their clients from, so their signatures stay clean."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

from msgraph import GraphServiceClient

from integrations.blobs import BlobStore


@dataclass
class ToolContext:
    """What a tool call may use: the user's Graph client, the blob store, and whether to only preview writes."""

    graph: GraphServiceClient
    blobs: BlobStore
    dry_run: bool = False


_current: ContextVar[ToolContext] = ContextVar("codemem_tool_context")


def current_context() -> ToolContext:
    """The ToolContext of the running tool call."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError(
            "no ToolContext is active: call tools through Registry.call(...) or inside `with use_context(ctx):`"
        ) from None


@contextmanager
def use_context(ctx: ToolContext) -> Iterator[ToolContext]:
    """Make `ctx` the current ToolContext for the enclosed code (and tasks it starts)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
