"""Which workspace account a chat user's tools act on."""

from __future__ import annotations

from integrations.blobs import BlobStore
from integrations.context import ToolContext
from integrations.emulator.seed import DEMO_TOKEN
from integrations.microsoft.client import make_graph_client
from skills_db.models import Owner


class DemoWorkspace:
    """Demo mode: every chat user works in the emulator's demo account, with no OAuth."""

    def __init__(self, emulator_url: str) -> None:
        self.emulator_url = emulator_url.rstrip("/")
        self._graph = make_graph_client(f"{self.emulator_url}/v1.0", DEMO_TOKEN)

    def context_for(self, owner: Owner, *, dry_run: bool = False) -> ToolContext:
        """A fresh tool context (its own blob store) acting for `owner`."""
        return ToolContext(graph=self._graph, blobs=BlobStore(), dry_run=dry_run)
