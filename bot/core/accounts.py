"""The Connect journey: `/connect microsoft|google` → sign in in the browser → tokens stored encrypted."""

from __future__ import annotations

import asyncio
import logging

from bot.core.surface import Surfaces
from bot.core.views import ConnectLink, Notice, ThreadRef, View
from integrations.accounts import AccountError, Accounts, ConnectedAccount
from skills_db.owner import Owner

log = logging.getLogger(__name__)
PROVIDERS = {"microsoft": "Microsoft (Outlook, OneDrive)", "google": "Google (Gmail, Sheets)"}
USAGE = "Usage: `/connect microsoft` or `/connect google`; `/disconnect microsoft` or `/disconnect google`."


class Connections:
    """Connecting and disconnecting a user's workspace accounts. Without OAuth clients configured, the bot
    runs on the demo workspace and says so."""

    def __init__(self, surfaces: Surfaces, accounts: Accounts | None = None) -> None:
        self.surfaces = surfaces
        self.accounts = accounts

    async def connect(self, user: Owner, provider: str) -> View:
        """A sign-in link for `provider` (valid ten minutes, once), or what is wrong."""
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
        problem = self._problem(provider)
        if problem:
            return problem
        removed = await asyncio.to_thread(self.accounts.disconnect, user, provider)
        return Notice(f"Disconnected your {PROVIDERS[provider]} account." if removed
                      else f"No {PROVIDERS[provider]} account was connected.")

    async def confirm(self, account: ConnectedAccount) -> None:
        """After the browser comes back: tell the user, by direct message, which account was connected."""
        text = f"Connected your {PROVIDERS[account.provider]} account {account.account} ({account.display_name})."
        owner = account.owner
        try:
            await self.surfaces.get(owner.platform).post(ThreadRef(owner.platform, owner.team, owner.user, ""),
                                                         Notice(text))
        except Exception:   # the browser already says it; a failed DM must not fail the sign-in
            log.exception("could not confirm the connection to %s", owner)

    def _problem(self, provider: str) -> Notice | None:
        if provider not in PROVIDERS:
            return Notice(f"I don't know the provider `{provider}`. {USAGE}", error=True)
        if self.accounts is None or provider not in self.accounts.providers:
            return Notice(f"Connecting {PROVIDERS[provider]} accounts is not set up on this server (see README, "
                          "'Accounts'); everyone works in the demo workspace.", error=True)
        return None
