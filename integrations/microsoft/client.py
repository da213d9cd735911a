"""A real msgraph-sdk GraphServiceClient for any Graph base URL (graph.microsoft.com or the emulator)."""

from __future__ import annotations

import ipaddress
from typing import Any, Awaitable, Callable
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.graph_request_adapter import options as graph_default_middleware_options
from msgraph_core import GraphClientFactory

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"

TokenSource = Callable[[], Awaitable[str]]
"""An async callable returning a current access token (refreshing it when needed)."""

_REQUEST_TIMEOUT = httpx.Timeout(100.0, connect=30.0)


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


def make_graph_client(base_url: str, token: str | TokenSource) -> GraphServiceClient:
    """A GraphServiceClient that sends `Authorization: Bearer <token>` to `base_url`'s host.

    `base_url` is e.g. `https://graph.microsoft.com/v1.0` or an emulator's `http://127.0.0.1:PORT/v1.0`.
    An empty token sends no Authorization header (Graph then answers 401). Loopback hosts are
    reached without environment proxies or CA settings; other hosts honour the environment.
    """
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"Graph base URL {base_url!r} is not an http(s) URL: use e.g. {GRAPH_BASE_URL}")
    base_url = base_url.rstrip("/")
    http_client = httpx.AsyncClient(
        timeout=_REQUEST_TIMEOUT,
        http2=parsed.scheme == "https",
        trust_env=not _is_loopback(parsed.hostname),
    )
    http_client = GraphClientFactory.create_with_default_middleware(client=http_client, options=graph_default_middleware_options)
    auth = BaseBearerTokenAuthenticationProvider(BearerTokenProvider(token, parsed.hostname))
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
