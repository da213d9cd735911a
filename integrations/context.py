"""The per-call context that tools read their clients from, so their signatures stay clean."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from msgraph import GraphServiceClient

from integrations.blobs import BlobStore
from integrations.errors import ToolError

if TYPE_CHECKING:
    from integrations.google.client import GoogleServices


@dataclass
class McpCallScope:
    """Who MCP tool calls act for (the Owner's "platform:team:user" key: that user's token is used), and the
    person's answers to the questions servers asked in this conversation, keyed by call (see input_required)."""

    user_key: str
    answers: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(kw_only=True)
class ToolContext:
    """What a tool call may use: the user's Graph client and Google services (None when that account is
    not connected), the blob store, whether to only preview writes, and for MCP tools whom they act for."""

    graph: GraphServiceClient | None
    blobs: BlobStore
    dry_run: bool = False
    google: GoogleServices | None = None
    mcp: McpCallScope | None = None

    def require_graph(self) -> GraphServiceClient:
        """The Graph client; a ToolError that says how to connect when there is none."""
        if self.graph is None:
            raise ToolError("the Microsoft account is not connected: ask the user to run /connect microsoft", code="reconnect:microsoft")
        return self.graph

    def require_google(self) -> GoogleServices:
        """The Google services; a ToolError that says how to connect when there are none."""
        if self.google is None:
            raise ToolError("the Google account is not connected: ask the user to run /connect google", code="reconnect:google")
        return self.google


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
