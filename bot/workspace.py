"""Which workspace accounts a chat user's tools act on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from google.oauth2.credentials import Credentials

from integrations.accounts import Accounts, ConnectedAccount
from integrations.accounts.providers import GoogleOAuth, MicrosoftOAuth
from integrations.blobs import BlobStore
from integrations.context import ToolContext
from integrations.emulator.seed import DEMO_TOKEN
from integrations.google.client import GoogleServices
from integrations.microsoft.client import make_graph_client
from bot.settings import Settings
from skills_db.connections import ConnectionStore
from skills_db.owner import Owner


class DemoWorkspace:
    """Demo mode: every chat user works in the emulator's demo accounts (Microsoft and Google), with no OAuth."""

    def __init__(self, emulator_url: str, *, ca_certs: str | Path | None = None, gmail_mcp_url: str | None = None) -> None:
        self.emulator_url = emulator_url.rstrip("/")
        self._graph = make_graph_client(f"{self.emulator_url}/v1.0", DEMO_TOKEN)
        self._google = GoogleServices(Credentials(DEMO_TOKEN), api_endpoint=self.emulator_url + "/", ca_certs=ca_certs,
                                      gmail_mcp_url=gmail_mcp_url)

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


def connect_accounts(settings: Settings, connections: ConnectionStore,
                     on_connected: Callable[[ConnectedAccount], Awaitable[None]]) -> Accounts:
    """Accounts for the OAuth clients configured in `settings` (Microsoft, Google or both)."""
    microsoft = google = None
    if settings.microsoft_client_id:
        microsoft = MicrosoftOAuth(settings.microsoft_client_id, settings.microsoft_client_secret or "",
                                   settings.redirect_uri("microsoft"), authority=settings.microsoft_authority,
                                   ca_certs=settings.ca_certs)
    if settings.google_client_id:
        google = GoogleOAuth(settings.google_client_id, settings.google_client_secret or "",
                             settings.redirect_uri("google"), auth_uri=settings.google_auth_uri,
                             token_uri=settings.google_token_uri, ca_certs=settings.ca_certs)
    return Accounts(connections, microsoft=microsoft, google=google, graph_url=settings.graph_url,
                    google_endpoint=settings.google_api_url, gmail_mcp_url=settings.gmail_mcp_endpoint(),
                    ca_certs=settings.ca_certs, on_connected=on_connected)
