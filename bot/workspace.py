"""Which workspace accounts a chat user's tools act on."""

from __future__ import annotations

from pathlib import Path

from google.oauth2.credentials import Credentials

from integrations.accounts import Accounts
from integrations.blobs import BlobStore
from integrations.context import ToolContext
from integrations.emulator.seed import DEMO_TOKEN
from integrations.google.client import GoogleServices
from integrations.microsoft.client import make_graph_client
from skills_db.owner import Owner


class DemoWorkspace:
    """Demo mode: every chat user works in the emulator's demo accounts (Microsoft and Google), with no OAuth."""

    def __init__(self, emulator_url: str, *, ca_certs: str | Path | None = None) -> None:
        self.emulator_url = emulator_url.rstrip("/")
        self._graph = make_graph_client(f"{self.emulator_url}/v1.0", DEMO_TOKEN)
        self._google = GoogleServices(Credentials(DEMO_TOKEN), api_endpoint=self.emulator_url + "/", ca_certs=ca_certs)

    def context_for(self, owner: Owner, *, dry_run: bool = False) -> ToolContext:
        """A fresh tool context (its own blob store) acting for `owner`."""
        return ToolContext(graph=self._graph, google=self._google, blobs=BlobStore(), dry_run=dry_run)


class AccountWorkspace:
    """Each chat user's own connected accounts; tools of a provider that is not connected say how to connect."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    def context_for(self, owner: Owner, *, dry_run: bool = False) -> ToolContext:
        """A fresh tool context (its own blob store) with `owner`'s Graph client and Google services."""
        return ToolContext(graph=self.accounts.graph_client(owner), google=self.accounts.google_services(owner),
                           blobs=BlobStore(), dry_run=dry_run)
