"""Per-user OAuth 2.1 for MCP servers: `/connect NAME` → the server's authorization server, found through its
protected-resource metadata (RFC 9728) and the authorization server's metadata (RFC 8414 / OIDC discovery)
→ a client (dynamic client registration, RFC 7591, or the one configured for the server) → authorization
code with PKCE (S256) and `resource` = the server's URL (RFC 8707) → CodeMem's callback → tokens kept
encrypted per user (provider `mcp:NAME`), refreshed when they expire and once after a 401.

Built from the SDK's auth blocks (`mcp.client.auth.utils` discovery and registration helpers, `PKCEParameters`,
the `mcp.shared.auth` models): its `OAuthClientProvider` runs the whole flow inside one request, waiting for
the browser, while a chat bot starts the sign-in in one request and finishes it in another (perhaps in
another process), with the state kept in the database in between.

Only tokens this module obtained for a server are ever sent to it: never a CodeMem, chat or other
provider's token.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlparse

import httpx2
from mcp.client.auth import OAuthFlowError, OAuthRegistrationError, OAuthTokenError, PKCEParameters
from mcp.client.auth.oauth2 import OAuthContext, check_registration_usable
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
    create_client_registration_request,
    create_oauth_metadata_request,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    get_client_metadata_scopes,
    handle_auth_metadata_response,
    handle_protected_resource_response,
    handle_registration_response,
    handle_token_response_scopes,
    validate_authorization_response_iss,
    validate_metadata_issuer,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthMetadata, OAuthToken, ProtectedResourceMetadata
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from integrations.accounts.accounts import AccountError, ConnectedAccount, html_page
from integrations.bearer_auth import BearerAuth
from integrations.errors import ToolError
from integrations.network import is_loopback

log = logging.getLogger(__name__)
PROVIDER_PREFIX = "mcp:"
STATE_LIFETIME = timedelta(minutes=10)
EXPIRY_MARGIN_SECONDS = 60
MAX_NAME_LENGTH = 28   # the connection's provider column holds 32 characters: "mcp:" + the name
_TIMEOUT = httpx2.Timeout(30.0)


@dataclass(frozen=True)
class OAuthServer:
    """What connecting needs to know of an MCP server registered with `auth=oauth`: its name, its URL and,
    when its authorization server offers no dynamic client registration, the client registered there."""

    name: str
    url: str
    client_id: str | None = None
    client_secret: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.name) <= MAX_NAME_LENGTH:
            raise ValueError(f"an OAuth MCP server's name has 1 to {MAX_NAME_LENGTH} characters, got {self.name!r}")


class SecretStore(Protocol):
    """Where connections and pending sign-ins are kept, encrypted (skills_db.connections.ConnectionStore)."""

    def add_state(self, state: str, owner: Any, provider: str, secret: dict[str, Any], ttl: timedelta) -> None: ...
    def take_state(self, state: str, provider: str) -> Any: ...
    def save(self, owner: Any, provider: str, account: str, display_name: str, scopes: tuple[str, ...], secret: dict[str, Any]) -> None: ...
    def get(self, owner: Any, provider: str) -> Any: ...
    def update_secret(self, owner: Any, provider: str, secret: dict[str, Any]) -> None: ...
    def delete(self, owner: Any, provider: str) -> bool: ...


def provider_name(server: str) -> str:
    """The connection's provider for MCP server `server`: `mcp:NAME`."""
    return PROVIDER_PREFIX + server


def reconnect_error(server: str, why: str) -> ToolError:
    """The error a call meets when the user's grant for `server` is gone (revoked, expired, refused); `why` is logged."""
    log.info("the grant for MCP server %s is gone: %s", server, why)
    return ToolError(f"reconnect {server}: run /connect {server}", status=401, code=f"reconnect:{server}")


class McpOAuth:
    """Connections of chat users to OAuth-protected MCP servers.

    `servers()` gives the servers registered with `auth=oauth` (read on each use: the registry can change);
    `owner_of` turns a bridge's user key ("platform:team:user") into the store's owner; `redirect_base` is
    CodeMem's public URL (callbacks land on `/oauth/mcp/NAME/callback`); `ca_certs` trusts an extra CA (the
    emulator's); `on_connected` is awaited after a successful callback.
    """

    def __init__(self, store: SecretStore, servers: Callable[[], Iterable[OAuthServer]], *, redirect_base: str,
                 owner_of: Callable[[str], Any], ca_certs: str | Path | None = None, client_name: str = "CodeMem",
                 on_connected: Callable[[ConnectedAccount], Awaitable[None]] | None = None) -> None:
        self.store, self.servers, self.owner_of = store, servers, owner_of
        self.redirect_base = redirect_base.rstrip("/")
        self.client_name, self.on_connected = client_name, on_connected
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_certs)) if ca_certs else True
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def names(self) -> list[str]:
        """The names of the servers a user can connect, sorted."""
        return sorted(s.name for s in self.servers())

    def server(self, name: str) -> OAuthServer | None:
        wanted = name.lower()
        return next((s for s in self.servers() if s.name.lower() == wanted), None)

    def redirect_uri(self, name: str) -> str:
        return f"{self.redirect_base}/oauth/mcp/{name}/callback"

    # --- connecting -------------------------------------------------------------------------------

    async def start_connect(self, owner: Any, name: str) -> str:
        """The authorization URL for `owner` to open in a browser (its state valid ten minutes, once)."""
        server = self._require(name)
        async with self._http(server.url) as http:
            prm, auth_server, metadata, challenged_scope = await self._discover(http, server)
            client = await self._client(http, server, metadata)
        scope = get_client_metadata_scopes(challenged_scope, prm, metadata, client.grant_types)
        pkce, state = PKCEParameters.generate(), secrets.token_urlsafe(32)
        resource = resource_url_from_server_url(server.url)   # RFC 8707: tokens bound to this server only
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": self.redirect_uri(server.name),
                  "state": state, "code_challenge": pkce.code_challenge, "code_challenge_method": "S256", "resource": resource}
        if scope:
            params["scope"] = scope
        endpoint = str(metadata.authorization_endpoint)
        secret = {"code_verifier": pkce.code_verifier, "client": client.model_dump(mode="json", exclude_none=True),
                  "metadata": metadata.model_dump(mode="json", exclude_none=True), "resource": resource, "issuer": auth_server}
        await asyncio.to_thread(self.store.add_state, state, owner, provider_name(server.name), secret, STATE_LIFETIME)
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    async def finish(self, name: str, state: str, code: str, iss: str | None = None) -> ConnectedAccount:
        """Complete the sign-in the authorization server redirected back; AccountError if it cannot be."""
        server = self._require(name)
        pending = await asyncio.to_thread(self.store.take_state, state, provider_name(server.name))
        if pending is None:
            raise AccountError(f"this sign-in link has expired or was already used: run /connect {server.name} again")
        secret = pending.secret
        metadata = OAuthMetadata.model_validate(secret["metadata"])
        client = OAuthClientInformationFull.model_validate(secret["client"])
        try:
            validate_authorization_response_iss(iss, metadata)
        except OAuthFlowError as error:
            raise AccountError(f"the sign-in answer did not come from {server.name}'s authorization server ({error}); run /connect {server.name} again") from None
        fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri(server.name),
                  "client_id": client.client_id, "code_verifier": secret["code_verifier"], "resource": secret["resource"]}
        async with self._http(server.url) as http:
            response = await http.send(_token_request(metadata, client, fields, server.url))
            if response.status_code not in (200, 201):
                raise AccountError(f"{server.name}'s authorization server refused the sign-in ({_oauth_error(response)}); run /connect {server.name} again")
            try:
                token = await handle_token_response_scopes(response)
            except OAuthTokenError as error:
                raise AccountError(f"{server.name}'s authorization server sent an unusable token ({error})") from None
        stored = _stored(token, client, metadata, secret["resource"])
        scopes = tuple((token.scope or "").split())
        await asyncio.to_thread(self.store.save, pending.owner, provider_name(server.name), server.name, server.name, scopes, stored)
        return ConnectedAccount(pending.owner, provider_name(server.name), server.name, server.name, scopes)

    async def disconnect(self, owner: Any, name: str) -> bool:
        """Forget `owner`'s tokens for server `name`; False if there were none."""
        server = self._require(name)
        return await asyncio.to_thread(self.store.delete, owner, provider_name(server.name))

    def routes(self) -> list[Route]:
        """`GET /oauth/mcp/{name}/callback`, where authorization servers send the browser back."""
        return [Route("/oauth/mcp/{name}/callback", self._callback_route)]

    async def _callback_route(self, request: Request) -> Response:
        name, params = request.path_params["name"], request.query_params
        if "error" in params:
            return HTMLResponse(html_page("Not connected", f"{params.get('error_description') or params['error']}. Run /connect {name} in chat to try again."), status_code=400)
        if not params.get("state") or not params.get("code"):
            return HTMLResponse(html_page("Not connected", f"The sign-in answer had no code or state. Run /connect {name} again."), status_code=400)
        try:
            account = await self.finish(name, params["state"], params["code"], params.get("iss"))
        except AccountError as error:
            return HTMLResponse(html_page("Not connected", str(error)), status_code=400)
        if self.on_connected is not None:
            await self.on_connected(account)
        return HTMLResponse(html_page("Connected", f"Your {name} account is connected to CodeMem. You can close this tab."))

    # --- tokens for calls --------------------------------------------------------------------------

    async def bearer(self, user_key: str, server: str) -> str | None:
        """The user's current access token for `server` (refreshed when it expired), or None when the user
        has not connected it. A refused refresh raises the `reconnect:NAME` ToolError."""
        return await self._token(user_key, server, force_refresh=False)

    async def refreshed(self, user_key: str, server: str) -> str | None:
        """A new access token after the server answered 401 to the current one (call once per 401)."""
        return await self._token(user_key, server, force_refresh=True)

    def auth(self, user_key: str, server: str) -> BearerAuth:
        """httpx2 auth for the user's calls to `server` (the bridge's client): bearer, and one refresh on 401."""
        async def token() -> str:
            found = await self.bearer(user_key, server)
            if found is None:
                raise ToolError(f"{server} is not connected: run /connect {server}", code=f"reconnect:{server}")
            return found

        async def refresh() -> str:
            return await self.refreshed(user_key, server) or await token()

        return BearerAuth(token, refresh)

    async def _token(self, user_key: str, name: str, *, force_refresh: bool) -> str | None:
        server = self.server(name)
        if server is None:
            return None
        owner, provider = self.owner_of(user_key), provider_name(server.name)
        async with self._locks.setdefault((user_key, provider), asyncio.Lock()):   # one refresh at a time (tokens rotate)
            stored = await asyncio.to_thread(self.store.get, owner, provider)
            if stored is None:
                return None
            secret = stored.secret
            if not force_refresh and secret.get("expires_at", float("inf")) - EXPIRY_MARGIN_SECONDS > time.time():
                return secret["token"]["access_token"]
            secret = await self._refresh(server, secret)
            await asyncio.to_thread(self.store.update_secret, owner, provider, secret)
            return secret["token"]["access_token"]

    async def _refresh(self, server: OAuthServer, secret: dict[str, Any]) -> dict[str, Any]:
        current = OAuthToken.model_validate(secret["token"])
        if not current.refresh_token:
            raise reconnect_error(server.name, "the access token expired and there is no refresh token")
        metadata = OAuthMetadata.model_validate(secret["metadata"])
        client = OAuthClientInformationFull.model_validate(secret["client"])
        fields = {"grant_type": "refresh_token", "refresh_token": current.refresh_token, "client_id": client.client_id,
                  "resource": secret["resource"]}
        async with self._http(server.url) as http:
            try:
                response = await http.send(_token_request(metadata, client, fields, server.url))
            except httpx2.HTTPError as error:
                raise ToolError(f"could not reach {server.name}'s authorization server to refresh the token ({type(error).__name__}); try again") from error
            if response.status_code in (400, 401):
                raise reconnect_error(server.name, _oauth_error(response))
            if response.status_code != 200:
                raise ToolError(f"{server.name}'s authorization server answered {response.status_code} to a token refresh; try again later")
            token = await handle_token_response_scopes(response)
        token.refresh_token = token.refresh_token or current.refresh_token   # RFC 6749 section 6: it may not rotate
        token.scope = token.scope or current.scope
        return _stored(token, client, metadata, secret["resource"])

    # --- discovery and registration ------------------------------------------------------------------

    async def _discover(self, http: httpx2.AsyncClient, server: OAuthServer) -> tuple[ProtectedResourceMetadata, str, OAuthMetadata, str | None]:
        """(protected-resource metadata, authorization server, its metadata, the scope a 401 asked for)."""
        try:
            probe = await http.post(server.url, json={"jsonrpc": "2.0", "id": 0, "method": "server/discover"},
                                    headers={"Accept": "application/json, text/event-stream"})
        except httpx2.HTTPError as error:
            raise AccountError(f"cannot reach the MCP server {server.name} at {server.url} ({type(error).__name__}); check its URL with `codemem mcp list`") from None
        header_url = extract_resource_metadata_from_www_auth(probe) if probe.status_code in (401, 403) else None
        prm = None
        for url in build_protected_resource_metadata_discovery_urls(header_url, server.url):
            prm = await handle_protected_resource_response(await http.send(create_oauth_metadata_request(url)))
            if prm is not None:
                break
        if prm is None:
            raise AccountError(f"{server.name} publishes no OAuth protected-resource metadata (RFC 9728), so CodeMem cannot "
                               f"find where to sign in; register it with --auth bearer or none if it does not use OAuth")
        if not check_resource_allowed(resource_url_from_server_url(server.url), str(prm.resource)):
            raise AccountError(f"{server.name}'s metadata names another resource ({prm.resource}) than {server.url}: refusing to sign in")
        auth_server = str(prm.authorization_servers[0])
        for url in build_oauth_authorization_server_metadata_discovery_urls(auth_server, server.url):
            found, metadata = await handle_auth_metadata_response(await http.send(create_oauth_metadata_request(url)))
            if metadata is not None:
                try:
                    validate_metadata_issuer(metadata, auth_server)
                except OAuthFlowError as error:
                    raise AccountError(f"{server.name}'s authorization server metadata is inconsistent ({error})") from None
                return prm, auth_server, metadata, extract_scope_from_www_auth(probe)
            if not found:
                break
        raise AccountError(f"the authorization server of {server.name} ({auth_server}) publishes no metadata (RFC 8414 or OpenID discovery)")

    async def _client(self, http: httpx2.AsyncClient, server: OAuthServer, metadata: OAuthMetadata) -> OAuthClientInformationFull:
        """The configured client of `server`, else one registered dynamically for this sign-in (kept with the
        connection, so a refresh uses it; registering each time never meets a registration the server forgot)."""
        if server.client_id:
            method = "client_secret_post" if server.client_secret else "none"
            return OAuthClientInformationFull(client_id=server.client_id, client_secret=server.client_secret,
                                              token_endpoint_auth_method=method, redirect_uris=[self.redirect_uri(server.name)])
        if metadata.registration_endpoint is None:
            raise AccountError(f"{server.name}'s authorization server offers no dynamic client registration: register CodeMem there "
                               f"(redirect URI {self.redirect_uri(server.name)}) and give the MCP server its client id and secret")
        wanted = OAuthClientMetadata(redirect_uris=[self.redirect_uri(server.name)], client_name=self.client_name,
                                     token_endpoint_auth_method="client_secret_basic", application_type="web")
        try:
            response = await http.send(create_client_registration_request(metadata, wanted, server.url))
            client = await handle_registration_response(response)
            check_registration_usable(client)
        except OAuthRegistrationError as error:
            raise AccountError(f"{server.name}'s authorization server refused to register CodeMem ({error})") from None
        return client

    def _require(self, name: str) -> OAuthServer:
        server = self.server(name)
        if server is None:
            raise AccountError(f"no MCP server named {name!r} uses OAuth; connectable: {', '.join(self.names()) or 'none'}")
        return server

    def _http(self, url: str) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(verify=self._verify, trust_env=not is_loopback(urlparse(url).hostname or ""), timeout=_TIMEOUT)


def _token_request(metadata: OAuthMetadata, client: OAuthClientInformationFull, fields: dict[str, str], server_url: str) -> httpx2.Request:
    """A token endpoint request with the client's authentication (the SDK's `prepare_token_auth`)."""
    context = OAuthContext(server_url=server_url, client_metadata=OAuthClientMetadata(redirect_uris=client.redirect_uris or None),
                           storage=None, redirect_handler=None, callback_handler=None, client_info=client)  # type: ignore[arg-type]
    data, headers = context.prepare_token_auth(dict(fields), {"Content-Type": "application/x-www-form-urlencoded"})
    return httpx2.Request("POST", str(metadata.token_endpoint), data=data, headers=headers)


def _stored(token: OAuthToken, client: OAuthClientInformationFull, metadata: OAuthMetadata, resource: str) -> dict[str, Any]:
    """The encrypted payload of a connection: tokens and expiry, plus what refreshing needs."""
    expires_at = time.time() + token.expires_in if token.expires_in else None
    stored = {"token": token.model_dump(mode="json", exclude_none=True), "client": client.model_dump(mode="json", exclude_none=True),
              "metadata": metadata.model_dump(mode="json", exclude_none=True), "resource": resource}
    if expires_at is not None:
        stored["expires_at"] = expires_at
    return stored


def _oauth_error(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and body.get("error"):
        return f"{body['error']}: {body.get('error_description', '')}".strip(": ")
    return f"HTTP {response.status_code}"
