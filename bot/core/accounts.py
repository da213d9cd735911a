"""The Connect journey: `/connect microsoft|google|<MCP server>` → sign in in the browser → tokens stored encrypted."""

from __future__ import annotations

import asyncio
import logging

from bot.core.surface import Surfaces
from bot.core.views import ConnectLink, Notice, ThreadRef, View
from integrations.accounts import AccountError, Accounts, ConnectedAccount
from integrations.mcp.oauth import PROVIDER_PREFIX, McpOAuth
from skills_db.owner import Owner

log = logging.getLogger(__name__)
PROVIDERS = {"microsoft": "Microsoft (Outlook, OneDrive)", "google": "Google (Gmail, Sheets)"}
USAGE = "Usage: `/connect NAME` and `/disconnect NAME`."


def owner_from_key(key: str) -> Owner:
    """The user of a bridge's user key `platform:team:user` (a Teams user id keeps its own colons)."""
    platform, team, user = key.split(":", 2)
    return Owner(platform, team, user)


class Connections:
    """Connecting and disconnecting a user's workspace accounts and their accounts on OAuth-protected MCP
    servers (`mcp`). Without OAuth clients configured, the bot runs on the demo workspace and says so."""

    def __init__(self, surfaces: Surfaces, accounts: Accounts | None = None, mcp: McpOAuth | None = None) -> None:
        self.surfaces = surfaces
        self.accounts = accounts
        self.mcp = mcp

    async def connect(self, user: Owner, provider: str) -> View:
        """A sign-in link for `provider` — microsoft, google or an MCP server's name — (valid ten minutes,
        once), or what is wrong."""
        server = self._mcp_server(provider)
        if server is not None:
            try:
                url = await self.mcp.start_connect(user, server)
            except AccountError as error:
                return Notice(str(error), error=True)
            return ConnectLink(_label(PROVIDER_PREFIX + server), url)
        problem = self._problem(provider)
        if problem:
            return problem
        try:
            url = await asyncio.to_thread(self.accounts.start_connect, user, provider)
        except AccountError as error:
            return Notice(str(error), error=True)
        return ConnectLink(PROVIDERS[provider], url)

    async def disconnect(self, user: Owner, provider: str) -> View:
        """Forget the user's `provider` tokens."""
        server = self._mcp_server(provider)
        if server is not None:
            removed = await self.mcp.disconnect(user, server)
            return Notice(f"Disconnected your {server} account." if removed else f"No {server} account was connected.")
        problem = self._problem(provider)
        if problem:
            return problem
        removed = await asyncio.to_thread(self.accounts.disconnect, user, provider)
        return Notice(f"Disconnected your {PROVIDERS[provider]} account." if removed
                      else f"No {PROVIDERS[provider]} account was connected.")

    async def confirm(self, account: ConnectedAccount) -> None:
        """After the browser comes back: tell the user, by direct message, which account was connected."""
        if account.provider.startswith(PROVIDER_PREFIX):
            text = f"Connected your {_label(account.provider)} account."
        else:
            text = f"Connected your {PROVIDERS[account.provider]} account {account.account} ({account.display_name})."
        owner = account.owner
        try:
            await self.surfaces.get(owner.platform).post(ThreadRef(owner.platform, owner.team, owner.user, ""),
                                                         Notice(text))
        except Exception:   # the browser already says it; a failed DM must not fail the sign-in
            log.exception("could not confirm the connection to %s", owner)

    def connectable(self) -> list[str]:
        """What a user can connect here: the configured providers and the OAuth-protected MCP servers."""
        configured = sorted(self.accounts.providers) if self.accounts is not None else []
        return configured + (self.mcp.names() if self.mcp is not None else [])

    def _mcp_server(self, name: str) -> str | None:
        """The MCP server `name` names (its registered spelling), if it is one a user connects."""
        found = self.mcp.server(name) if self.mcp is not None and name not in PROVIDERS else None
        return found.name if found is not None else None

    def _problem(self, provider: str) -> Notice | None:
        if provider not in PROVIDERS:
            choices = ", ".join(f"`{name}`" for name in self.connectable())
            can = f"You can connect {choices}." if choices else "Nothing can be connected on this server: everyone works in the demo workspace."
            return Notice(f"I don't know the provider `{provider or '(none)'}`. {can} {USAGE}", error=True)
        if self.accounts is None or provider not in self.accounts.providers:
            return Notice(f"Connecting {PROVIDERS[provider]} accounts is not set up on this server (see README, "
                          "'Accounts'); everyone works in the demo workspace.", error=True)
        return None


def _label(provider: str) -> str:
    """How a provider is named to users: e.g. "Google (Gmail, Sheets)", or "gmail (MCP server)"."""
    if provider.startswith(PROVIDER_PREFIX):
        return f"{provider.removeprefix(PROVIDER_PREFIX)} (MCP server)"
    return PROVIDERS[provider]
