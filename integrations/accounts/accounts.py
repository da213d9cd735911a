"""Connecting chat users to their Microsoft and Google accounts: start, finish, disconnect, and the clients
their tools use. Starlette routes `/oauth/{provider}/start` and `/oauth/{provider}/callback` for the server."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Awaitable, Callable

from msgraph import GraphServiceClient
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from integrations.accounts.providers import GoogleOAuth, MicrosoftOAuth, SignInError
from integrations.google.client import GoogleServices
from integrations.microsoft.client import GRAPH_BASE_URL, make_graph_client
from skills_db.connections import ConnectionStore
from skills_db.owner import Owner

STATE_LIFETIME = timedelta(minutes=10)


class AccountError(Exception):
    """A connect or disconnect that cannot go on; the message is fit for the user."""


@dataclass(frozen=True)
class ConnectedAccount:
    """A user's connection: e.g. provider "microsoft", account "alex@contoso.com"."""

    owner: Owner
    provider: str
    account: str
    display_name: str
    scopes: tuple[str, ...]


class Accounts:
    """OAuth connections per chat user, stored encrypted in `store`.

    `graph_url` / `google_endpoint` / `ca_certs` point the clients at the emulator in tests; leave them
    default for the real services. `gmail_mcp_url` sends Gmail through that Gmail MCP server instead of the
    Gmail API. `on_connected` is awaited after a successful callback (e.g. to DM).
    """

    def __init__(self, store: ConnectionStore, *, microsoft: MicrosoftOAuth | None = None, google: GoogleOAuth | None = None,
                 graph_url: str = GRAPH_BASE_URL, google_endpoint: str | None = None, ca_certs: str | Path | None = None,
                 gmail_mcp_url: str | None = None, on_connected: Callable[[ConnectedAccount], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.providers: dict[str, MicrosoftOAuth | GoogleOAuth] = {p.name: p for p in (microsoft, google) if p is not None}
        self.graph_url, self.google_endpoint, self.ca_certs = graph_url, google_endpoint, ca_certs
        self.gmail_mcp_url = gmail_mcp_url
        self.on_connected = on_connected

    def start_connect(self, owner: Owner, provider: str) -> str:
        """The URL to open in a browser to connect `owner`'s `provider` account (valid 10 minutes, once)."""
        oauth = self._provider(provider)
        state = secrets.token_urlsafe(32)
        url, secret = oauth.start(state)
        self.store.add_state(state, owner, provider, {**secret, "authorize_url": url}, STATE_LIFETIME)
        return url

    def finish(self, provider: str, state: str, code: str) -> ConnectedAccount:
        """Complete a sign-in from the provider's redirect; AccountError if the state is unknown, used or expired."""
        oauth = self._provider(provider)
        pending = self.store.take_state(state, provider)
        if pending is None:
            raise AccountError("this sign-in link has expired or was already used: run /connect " + provider + " again")
        try:
            signed = oauth.finish(pending.secret, {"code": code, "state": state})
        except SignInError as error:
            raise AccountError(f"{error}; run /connect {provider} again") from error
        self.store.save(pending.owner, provider, signed.account, signed.display_name, signed.scopes, signed.secret)
        return ConnectedAccount(pending.owner, provider, signed.account, signed.display_name, signed.scopes)

    def disconnect(self, owner: Owner, provider: str) -> bool:
        """Forget `owner`'s `provider` tokens; False if there were none."""
        self._provider(provider)
        return self.store.delete(owner, provider)

    def connections(self, owner: Owner) -> list[ConnectedAccount]:
        return [ConnectedAccount(c.owner, c.provider, c.account, c.display_name, c.scopes) for c in self.store.list_for(owner)]

    def graph_client(self, owner: Owner) -> GraphServiceClient | None:
        """A Graph client acting as `owner` (tokens refreshed by MSAL), or None if not connected."""
        oauth = self.providers.get("microsoft")
        stored = self.store.get(owner, "microsoft")
        if not isinstance(oauth, MicrosoftOAuth) or stored is None:
            return None
        token = oauth.token_source(stored.secret, lambda secret: self.store.update_secret(owner, "microsoft", secret))
        return make_graph_client(self.graph_url, token, ca_certs=self.ca_certs)

    def google_services(self, owner: Owner) -> GoogleServices | None:
        """Gmail and Sheets acting as `owner` (refreshed on 401), or None if not connected."""
        oauth = self.providers.get("google")
        stored = self.store.get(owner, "google")
        if not isinstance(oauth, GoogleOAuth) or stored is None:
            return None
        return GoogleServices(oauth.credentials(stored.secret), api_endpoint=self.google_endpoint, ca_certs=self.ca_certs,
                              gmail_mcp_url=self.gmail_mcp_url)

    def routes(self) -> list[Route]:
        """`GET /oauth/{provider}/start?state=...` (redirects to the sign-in page) and `GET /oauth/{provider}/callback`."""
        return [Route("/oauth/{provider}/start", self._start_route), Route("/oauth/{provider}/callback", self._callback_route)]

    async def _start_route(self, request: Request) -> Response:
        return HTMLResponse(html_page("Use the Connect button in chat", "Sign-in links are made by /connect in chat; open the button it gives you."), status_code=400)

    async def _callback_route(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        params = request.query_params
        if "error" in params:
            return HTMLResponse(html_page("Not connected", f"{params.get('error_description') or params['error']}. Run /connect {provider} in chat to try again."), status_code=400)
        if not params.get("state") or not params.get("code"):
            return HTMLResponse(html_page("Not connected", "The sign-in answer had no code or state. Run /connect again."), status_code=400)
        try:
            account = await asyncio.to_thread(self.finish, provider, params["state"], params["code"])
        except AccountError as error:
            return HTMLResponse(html_page("Not connected", str(error)), status_code=400)
        if self.on_connected is not None:
            await self.on_connected(account)
        return HTMLResponse(html_page("Connected", f"{account.display_name} ({account.account}) is connected to CodeMem. You can close this tab."))

    def _provider(self, provider: str) -> MicrosoftOAuth | GoogleOAuth:
        oauth = self.providers.get(provider)
        if oauth is None:
            known = " or ".join(sorted(self.providers)) or "none is configured"
            raise AccountError(f"cannot connect {provider!r}: choose {known}")
        return oauth


def html_page(title: str, text: str) -> str:
    """A minimal HTML page (title and one paragraph) for the browser at the end of a sign-in."""
    return f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(text)}</p>"
