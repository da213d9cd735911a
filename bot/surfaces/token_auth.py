"""CodeMem as an OAuth 2.1 resource server for its MCP endpoint and HTTP API: bearer tokens checked before
anything is parsed, RFC 9728 protected-resource metadata, `401` with `WWW-Authenticate: Bearer
resource_metadata=…`, and `Origin` checked so that a web page on another site cannot drive the endpoints
from a browser (no Origin, loopback and the public URL's own origin are accepted).

The tokens are personal tokens (`/skill mcp-token`); each is issued for this resource only, so the audience
check compares the token's resource with the endpoint it is presented to.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse

from mcp.server.auth.middleware.bearer_auth import (
    AuthenticatedUser,
    BearerAuthBackend,
    RequireAuthMiddleware,
)
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import (
    build_resource_metadata_url,
    create_protected_resource_routes,
)
from pydantic import AnyHttpUrl
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from skills_db.owner import Owner
from skills_db.personal_tokens import PersonalTokens

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CLIENT_ID = "codemem-personal-token"


class PersonalAccessToken(AccessToken):
    """A verified personal token and the user it acts as."""

    owner_platform: str
    owner_team: str
    owner_user: str

    @property
    def owner(self) -> Owner:
        """The chat user behind the token."""
        return Owner(self.owner_platform, self.owner_team, self.owner_user)


class PersonalTokenVerifier(TokenVerifier):
    """Looks a presented token up by its hash; unknown and revoked tokens are the same `None`."""

    def __init__(self, tokens: PersonalTokens, resource: str) -> None:
        self.tokens = tokens
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        owner = await asyncio.to_thread(self.tokens.resolve, token)
        if owner is None:
            return None
        return PersonalAccessToken(token=token, client_id=CLIENT_ID, scopes=[], resource=self.resource,
                                   subject=f"{owner.platform}:{owner.team}:{owner.user}",
                                   owner_platform=owner.platform, owner_team=owner.team, owner_user=owner.user)


class ResourceServer:
    """The auth of one public URL: wraps an endpoint so it needs a token, and serves the resource metadata."""

    def __init__(self, tokens: PersonalTokens, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.resource = AnyHttpUrl(self.public_url + "/mcp")
        self.metadata_url = build_resource_metadata_url(self.resource)
        self.verifier = PersonalTokenVerifier(tokens, str(self.resource))
        self._backend = BearerAuthBackend(self.verifier, resource_server_url=self.resource)
        self._public_origin = _origin(self.public_url)

    def protect(self, app: ASGIApp) -> ASGIApp:
        """`app` behind the Origin check and a required bearer token (`scope["user"]` is then authenticated)."""
        return self.check_origin(AuthenticationMiddleware(RequireAuthMiddleware(app, [], self.metadata_url),
                                                          backend=self._backend))

    def check_origin(self, app: ASGIApp) -> ASGIApp:
        """`app` refusing requests a browser sends from another site (403)."""
        return _OriginGuard(app, self)

    def allows_origin(self, origin: str) -> bool:
        """No browser page of another site: loopback pages and the public URL's own origin only."""
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return False
        return parsed.hostname in LOOPBACK_HOSTS or _origin(origin) == self._public_origin

    def metadata_routes(self) -> list[Route]:
        """RFC 9728 protected-resource metadata at `/.well-known/oauth-protected-resource/mcp`."""
        return create_protected_resource_routes(resource_url=self.resource,
                                                authorization_servers=[AnyHttpUrl(self.public_url)],
                                                resource_name="CodeMem skills")


class _OriginGuard:
    """An ASGI app (an object, so that a Starlette `Route` passes it the raw scope) checking `Origin` first."""

    def __init__(self, app: ASGIApp, server: ResourceServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = next((value.decode("latin-1") for key, value in scope.get("headers", []) if key == b"origin"), None)
        if scope["type"] == "http" and origin is not None and not self.server.allows_origin(origin):
            await _send_json(send, 403, {"error": "forbidden_origin",
                                         "error_description": f"requests from {origin} are not accepted; call "
                                         f"from a local client, or from {self.server.public_url}"})
            return
        await self.app(scope, receive, send)


def caller_of(scope: Scope) -> Owner | None:
    """The user a protected request acts as (None outside `ResourceServer.protect`)."""
    user = scope.get("user")
    if isinstance(user, AuthenticatedUser) and isinstance(user.access_token, PersonalAccessToken):
        return user.access_token.owner
    return None


def _origin(url: str) -> str:
    parsed = urlparse(url)
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return f"{parsed.scheme}://{(parsed.hostname or '').lower()}:{port}"


async def _send_json(send: Send, status: int, body: dict[str, str]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})

