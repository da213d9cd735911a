"""A real msgraph-sdk GraphServiceClient for any Graph base URL (graph.microsoft.com or the emulator).

The SDK's default middleware (retries honouring Retry-After, redirects, URL replacement, user agent,
telemetry) is kept, less the two inspection handlers, which act only for a request that asks them to
capture headers or bodies (none of ours does) and cost a pass over every request. One handler is added
after it: a 401 on a request that carried a token forces one token refresh and resends, for a token
cache that still believes its token is valid.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol, runtime_checkable
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import BodyInspectionHandler, HeadersInspectionHandler
from kiota_http.middleware.middleware import BaseMiddleware
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.graph_request_adapter import options as graph_default_middleware_options
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

from integrations.network import is_loopback

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"

TokenSource = Callable[[], Awaitable[str]]
"""An async callable returning a current access token (refreshing it when needed)."""

_REQUEST_TIMEOUT = httpx.Timeout(100.0, connect=30.0)


@runtime_checkable
class RefreshableTokenSource(Protocol):
    """A TokenSource that can also be told its cached token was refused, to get a fresh one."""

    async def __call__(self) -> str: ...

    async def force_refresh(self) -> str:
        """A new access token obtained with the refresh token, ignoring the cached one."""
        ...


class BearerTokenProvider(AccessTokenProvider):
    """Gives a fixed token or one from a TokenSource, only to the Graph host (plain http allowed)."""

    def __init__(self, token: str | TokenSource, graph_host: str) -> None:
        self._token = token
        self._hosts = AllowedHostsValidator([graph_host])

    async def get_authorization_token(self, uri: str, additional_authentication_context: dict[str, Any] | None = None) -> str:
        if not self._hosts.is_url_host_valid(uri):
            return ""
        if isinstance(self._token, str):
            return self._token
        return await self._token()

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts

    @property
    def can_refresh(self) -> bool:
        """True when the token source can be forced to refresh."""
        return isinstance(self._token, RefreshableTokenSource)

    async def refreshed_token(self) -> str:
        """A freshly refreshed token (only when `can_refresh`)."""
        assert isinstance(self._token, RefreshableTokenSource)
        return await self._token.force_refresh()


class RefreshOnUnauthorized(BaseMiddleware):
    """On a 401 to a request that carried a bearer token, refresh the token once and resend.

    A 401 means the request was not processed, so resending cannot duplicate a write.
    """

    def __init__(self, tokens: BearerTokenProvider) -> None:
        super().__init__()
        self._tokens = tokens

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        response = await super().send(request, transport)
        if response.status_code != 401 or not request.headers.get("authorization") or not self._tokens.can_refresh:
            return response
        token = await self._tokens.refreshed_token()
        await response.aclose()
        request.headers["Authorization"] = f"Bearer {token}"
        return await super().send(request, transport)


class WorkspaceGraphClient(GraphServiceClient):
    """A GraphServiceClient plus `transfer_client`: a plain httpx client with the same network settings,
    for pre-authenticated URLs (upload sessions) that must not receive the Authorization header."""

    def __init__(self, request_adapter: GraphRequestAdapter, transfer_client: httpx.AsyncClient) -> None:
        super().__init__(request_adapter=request_adapter)
        self.transfer_client = transfer_client


def make_graph_client(base_url: str, token: str | TokenSource, *, ca_certs: str | Path | None = None) -> WorkspaceGraphClient:
    """A GraphServiceClient that sends `Authorization: Bearer <token>` to `base_url`'s host.

    `base_url` is e.g. `https://graph.microsoft.com/v1.0` or an emulator's `http://127.0.0.1:PORT/v1.0`.
    An empty token sends no Authorization header (Graph then answers 401). Loopback hosts are
    reached without environment proxies or CA settings; other hosts honour the environment.
    `ca_certs` (a PEM file) is the CA to trust instead, e.g. the emulator's over HTTPS.
    """
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"Graph base URL {base_url!r} is not an http(s) URL: use e.g. {GRAPH_BASE_URL}")
    base_url = base_url.rstrip("/")
    network: dict[str, Any] = {"timeout": _REQUEST_TIMEOUT, "trust_env": not is_loopback(parsed.hostname)}
    if ca_certs is not None:
        network["verify"] = ssl.create_default_context(cafile=str(ca_certs))
    tokens = BearerTokenProvider(token, parsed.hostname)
    middleware = [handler for handler in KiotaClientFactory.get_default_middleware(graph_default_middleware_options)
                  if not isinstance(handler, (HeadersInspectionHandler, BodyInspectionHandler))]
    telemetry = graph_default_middleware_options.get(GraphTelemetryHandlerOption().get_key())
    middleware += [GraphTelemetryHandler(options=telemetry) if telemetry else GraphTelemetryHandler(), RefreshOnUnauthorized(tokens)]
    http_client = GraphClientFactory.create_with_custom_middleware(
        middleware, client=httpx.AsyncClient(http2=parsed.scheme == "https", **network)
    )
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(tokens), client=http_client)
    adapter.base_url = base_url
    return WorkspaceGraphClient(adapter, httpx.AsyncClient(**network))
