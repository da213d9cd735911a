"""LangGraph Studio's entry point (see langgraph.json): the agent graph over the configured workspace."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bot.app import open_codemem
from bot.settings import Settings


@contextlib.asynccontextmanager
async def make_graph(config: Any) -> AsyncIterator[Any]:
    """The same graph `codemem serve` runs, built from the same settings (CODEMEM_MODEL is required)."""
    settings = Settings()
    if not settings.model:
        raise RuntimeError("set CODEMEM_MODEL (e.g. replay:bot/demo/save_attachments.yaml) to open the graph")
    async with open_codemem(settings) as codemem:
        yield codemem.conversations.graph
