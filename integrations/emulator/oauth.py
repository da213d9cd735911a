"""Emulated Microsoft identity platform (v2.0) and Google OAuth 2.0 endpoints, and an OAuth 2.1
authorization server for the emulator's MCP servers (RFC 8414 metadata, RFC 7591 dynamic client
registration, PKCE S256 required, RFC 8707 audience-bound tokens).

Authorization auto-consents (as the demo user, or for the MCP servers as the demo account named by
`login_hint`) and redirects straight back with a code. The token endpoints check the client, the
redirect URI and the PKCE verifier, issue access and refresh tokens (the ledger decides later whether a
bearer token is still valid) and answer `invalid_grant` for a revoked or unknown refresh token, as the
real services do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from integrations.emulator.seed import DEMO_TOKEN
from integrations.emulator.state import EmulatorState, IssuedToken

MICROSOFT_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
ACCESS_TOKEN_SECONDS = 3600
ACCESS_TOKEN_PREFIX = "emu-at-"
GOOGLE_USER_ID = "108234567890123456789"
MCP_PROVIDER = "mcp"
MCP_SCOPES = ("gmail.readonly", "gmail.compose", "gmail.modify")


def microsoft_authority(base_url: str) -> str:
    """The authority URL to give MSAL for an emulator at `base_url` (which must be https)."""
    return f"{base_url.rstrip('/')}/{MICROSOFT_TENANT}"


def google_client_config(base_url: str, client_id: str, client_secret: str, redirect_uri: str) -> dict[str, Any]:
    """A google-auth-oauthlib "web" client configuration pointing at the emulator at `base_url`."""
    base = base_url.rstrip("/")
    return {"web": {"client_id": client_id, "client_secret": client_secret, "auth_uri": f"{base}/o/oauth2/v2/auth",
                    "token_uri": f"{base}/o/oauth2/token", "redirect_uris": [redirect_uri]}}


def mcp_token_account(state: EmulatorState, token: str, resource: str) -> tuple[str | None, str]:
    """(the demo account a bearer token acts for, or None; why it is refused) for the MCP server at `resource`.

    Accepted: a token of the MCP authorization server issued for exactly `resource` (RFC 8707 audience), a
    token of the emulated Google sign-in (Google's own Gmail MCP server takes Google tokens), and the demo token.
    """
    if token == DEMO_TOKEN:
        return state.user.address, ""
    issued = state.oauth.access_tokens.get(token)
    if issued is None or issued.provider not in (MCP_PROVIDER, "google"):
        return None, "The access token was not issued by this server's authorization server."
    if issued.provider == MCP_PROVIDER and issued.resource.rstrip("/") != resource.rstrip("/"):
        return None, f"The access token was issued for another resource ({issued.resource or 'none'}), not {resource}."
    problem = token_status(state, token)
    if problem is not None:
        return None, problem
    return issued.account or state.user.address, ""


def token_status(state: EmulatorState, token: str) -> str | None:
    """Why a bearer token is refused (None when it is accepted). Tokens not issued here are accepted as they are."""
    if not token.startswith(ACCESS_TOKEN_PREFIX):
        return None
    issued = state.oauth.access_tokens.get(token)
    if issued is None or issued.revoked:
        return "The access token has been revoked or is not known."
    if issued.expires < time.time():
        return "Lifetime validation failed, the token is expired."
    return None


class OAuthApi:
    """The Microsoft and Google sign-in endpoints, bound to one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        tenant = "/{tenant}"
        return [
            Route(f"{tenant}/v2.0/.well-known/openid-configuration", self.microsoft_configuration),
            Route(f"{tenant}/oauth2/v2.0/authorize", self.authorize_microsoft),
            Route(f"{tenant}/oauth2/v2.0/token", self.token_microsoft, methods=["POST"]),
            Route("/o/oauth2/v2/auth", self.authorize_google),
            Route("/o/oauth2/token", self.token_google, methods=["POST"]),
            Route("/o/oauth2/revoke", self.revoke_google, methods=["POST"]),
            Route("/.well-known/oauth-authorization-server", self.mcp_metadata),
            Route("/oauth/register", self.register_mcp_client, methods=["POST"]),
            Route("/oauth/authorize", self.authorize_mcp),
            Route("/oauth/token", self.token_mcp, methods=["POST"]),
        ]

    # --- Microsoft ----------------------------------------------------------------------------

    async def microsoft_configuration(self, request: Request) -> Response:
        issuer = f"{_origin(request)}/{request.path_params['tenant']}/v2.0"
        prefix = f"{_origin(request)}/{request.path_params['tenant']}/oauth2/v2.0"
        return JSONResponse({
            "issuer": issuer, "authorization_endpoint": f"{prefix}/authorize", "token_endpoint": f"{prefix}/token",
            "device_authorization_endpoint": f"{prefix}/devicecode", "end_session_endpoint": f"{prefix}/logout",
            "jwks_uri": f"{_origin(request)}/{request.path_params['tenant']}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "tenant_region_scope": "NA", "cloud_instance_name": "microsoftonline.com",
        })

    async def authorize_microsoft(self, request: Request) -> Response:
        return self._authorize(request, "microsoft")

    async def token_microsoft(self, request: Request) -> Response:
        fields = await _form(request)
        issued = self._exchange(fields, "microsoft")
        if isinstance(issued, Response):
            return issued
        grant, access, refresh = issued
        base = f"{_origin(request)}/{request.path_params['tenant']}/v2.0"
        claims = {
            "aud": fields.get("client_id", ""), "iss": base, "iat": int(time.time()), "nbf": int(time.time()),
            "exp": int(time.time()) + ACCESS_TOKEN_SECONDS, "name": self.state.user.name, "oid": self.state.user_id,
            "preferred_username": self.state.user.address, "sub": self.state.user_id, "tid": MICROSOFT_TENANT, "ver": "2.0",
        }
        if grant.get("nonce"):
            claims["nonce"] = grant["nonce"]
        client_info = {"uid": self.state.user_id, "utid": MICROSOFT_TENANT}
        return JSONResponse({
            "token_type": "Bearer", "scope": grant["scope"], "expires_in": ACCESS_TOKEN_SECONDS, "ext_expires_in": ACCESS_TOKEN_SECONDS,
            "access_token": access, "refresh_token": refresh, "id_token": _unsigned_jwt(claims),
            "client_info": _b64url(json.dumps(client_info).encode()),
        })

    # --- Google -------------------------------------------------------------------------------

    async def authorize_google(self, request: Request) -> Response:
        return self._authorize(request, "google")

    async def token_google(self, request: Request) -> Response:
        fields = await _form(request)
        issued = self._exchange(fields, "google")
        if isinstance(issued, Response):
            return issued
        grant, access, refresh = issued
        body: dict[str, Any] = {"access_token": access, "expires_in": ACCESS_TOKEN_SECONDS, "scope": grant["scope"], "token_type": "Bearer"}
        if fields.get("grant_type") == "authorization_code":
            body["refresh_token"] = refresh
        if "openid" in grant["scope"].split() or "email" in grant["scope"].split():
            body["id_token"] = _unsigned_jwt({
                "iss": "https://accounts.google.com", "aud": fields.get("client_id", ""), "sub": GOOGLE_USER_ID,
                "email": self.state.user.address, "email_verified": True, "name": self.state.user.name,
                "iat": int(time.time()), "exp": int(time.time()) + ACCESS_TOKEN_SECONDS,
            })
        return JSONResponse(body)

    async def revoke_google(self, request: Request) -> Response:
        form = await _form(request)
        token = form.get("token") or request.query_params.get("token") or ""
        issued = self.state.oauth.refresh_tokens.get(token) or self.state.oauth.access_tokens.get(token)
        if issued is None:
            return JSONResponse({"error": "invalid_token", "error_description": "Token expired or revoked"}, status_code=400)
        issued.revoked = True
        return Response(status_code=200)

    # --- the MCP servers' authorization server ---------------------------------------------------

    async def mcp_metadata(self, request: Request) -> Response:
        origin = _origin(request)
        return JSONResponse({
            "issuer": origin, "authorization_endpoint": f"{origin}/oauth/authorize", "token_endpoint": f"{origin}/oauth/token",
            "registration_endpoint": f"{origin}/oauth/register", "scopes_supported": list(MCP_SCOPES),
            "response_types_supported": ["code"], "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "code_challenge_methods_supported": ["S256"],
        })

    async def register_mcp_client(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        uris = body.get("redirect_uris") if isinstance(body, dict) else None
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
            return JSONResponse({"error": "invalid_redirect_uri", "error_description": "redirect_uris must list at least one URI."}, status_code=400)
        method = body.get("token_endpoint_auth_method") or "client_secret_basic"
        if method not in ("client_secret_post", "client_secret_basic", "none"):
            return JSONResponse({"error": "invalid_client_metadata", "error_description": f"token_endpoint_auth_method {method!r} is not supported."}, status_code=400)
        client = {**body, "client_id": "emu-client-" + secrets.token_urlsafe(12), "client_id_issued_at": int(time.time()),
                  "token_endpoint_auth_method": method, "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}
        if method != "none":
            client["client_secret"] = "emu-secret-" + secrets.token_urlsafe(24)
        self.state.oauth.clients[client["client_id"]] = client
        return JSONResponse(client, status_code=201)

    async def authorize_mcp(self, request: Request) -> Response:
        params = request.query_params
        client = self.state.oauth.clients.get(params.get("client_id", ""))
        if client is None or params.get("redirect_uri") not in client["redirect_uris"]:
            return JSONResponse({"error": "invalid_request", "error_description": "Unknown client, or a redirect_uri it did not register."}, status_code=400)
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return _redirect_error(params, "invalid_request", "PKCE with code_challenge_method=S256 is required.")
        if not params.get("resource"):
            return _redirect_error(params, "invalid_target", "The resource parameter (RFC 8707) is required.")
        hint = params.get("login_hint") or self.state.user.address
        account = self.state.account(hint)
        if account is None:
            known = ", ".join([self.state.user.address, *self.state.accounts])
            return _redirect_error(params, "access_denied", f"No demo account {hint!r}; the emulator has {known}.")
        return self._authorize(request, MCP_PROVIDER, account=account.user.address, resource=params["resource"])

    async def token_mcp(self, request: Request) -> Response:
        fields = await _form(request)
        client = self.state.oauth.clients.get(fields.get("client_id", ""))
        if client is None or not _client_authenticated(client, fields, request):
            return JSONResponse({"error": "invalid_client", "error_description": "Client authentication failed."}, status_code=401)
        issued = self._exchange(fields, MCP_PROVIDER)
        if isinstance(issued, Response):
            return issued
        grant, access, refresh = issued
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                             "scope": grant["scope"], "refresh_token": refresh})

    # --- shared -------------------------------------------------------------------------------

    def _authorize(self, request: Request, provider: str, *, account: str = "", resource: str = "") -> Response:
        params = request.query_params
        redirect_uri, client_id = params.get("redirect_uri"), params.get("client_id")
        if not redirect_uri or not client_id or params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request", "error_description": "client_id, redirect_uri and response_type=code are required."}, status_code=400)
        code = "emu-code-" + secrets.token_urlsafe(24)
        self.state.oauth.codes[code] = {
            "provider": provider, "client_id": client_id, "redirect_uri": redirect_uri, "scope": params.get("scope", ""),
            "nonce": params.get("nonce", ""), "code_challenge": params.get("code_challenge", ""),
            "code_challenge_method": params.get("code_challenge_method", "plain"),
            "account": account or self.state.user.address, "resource": resource,
        }
        answer = {"code": code}
        if params.get("state"):
            answer["state"] = params["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(answer)}", status_code=302)

    def _exchange(self, fields: dict[str, str], provider: str) -> Response | tuple[dict[str, str], str, str]:
        """Check a code or refresh-token grant; return (grant, new access token, refresh token) or an error response."""
        ledger = self.state.oauth
        kind = fields.get("grant_type")
        if kind == "authorization_code":
            grant = ledger.codes.pop(fields.get("code", ""), None)
            if grant is None or grant["provider"] != provider:
                return _invalid_grant("The authorization code is invalid or has already been used.")
            if grant["redirect_uri"] != fields.get("redirect_uri") or grant["client_id"] != fields.get("client_id"):
                return _invalid_grant("The redirect URI or client does not match the authorization request.")
            if grant["code_challenge"] and not _pkce_ok(grant, fields.get("code_verifier", "")):
                return _invalid_grant("The code_verifier does not match the code_challenge supplied in the authorization request.")
            if grant["resource"] and fields.get("resource") != grant["resource"]:
                return JSONResponse({"error": "invalid_target", "error_description": "The resource does not match the authorization request."}, status_code=400)
            refresh = "emu-rt-" + secrets.token_urlsafe(32)
            scope = _granted_scope(grant["scope"], provider)
            ledger.refresh_tokens[refresh] = IssuedToken(provider, grant["client_id"], scope, float("inf"),
                                                         account=grant["account"], resource=grant["resource"])
        elif kind == "refresh_token":
            refresh = fields.get("refresh_token", "")
            known = ledger.refresh_tokens.get(refresh)
            if known is None or known.revoked or known.provider != provider or known.client_id != fields.get("client_id", known.client_id):
                return _invalid_grant("The refresh token has been revoked or has expired; the user must sign in again.")
            if known.resource and fields.get("resource", known.resource) != known.resource:
                return JSONResponse({"error": "invalid_target", "error_description": "The resource does not match the grant."}, status_code=400)
            grant = {"scope": known.scope, "client_id": known.client_id, "nonce": "", "account": known.account, "resource": known.resource}
        else:
            return JSONResponse({"error": "unsupported_grant_type", "error_description": f"grant_type {kind!r} is not supported."}, status_code=400)
        access = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
        ledger.access_tokens[access] = IssuedToken(provider, grant["client_id"], grant["scope"], time.time() + ACCESS_TOKEN_SECONDS,
                                                   account=grant["account"], resource=grant["resource"])
        return grant, access, refresh


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (client_secret_basic credentials are read from the header)."""
    fields = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and "client_id" not in fields:
        client_id, _, _ = base64.b64decode(value).decode().partition(":")
        fields["client_id"] = unquote(client_id)
    return fields


def _client_authenticated(client: dict[str, Any], fields: dict[str, str], request: Request) -> bool:
    """Whether the token request proves `client` (its secret in the body or the Basic header; none for public clients)."""
    if client["token_endpoint_auth_method"] == "none":
        return True
    secret = fields.get("client_secret")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        secret = unquote(base64.b64decode(value).decode().partition(":")[2])
    return secret is not None and secrets.compare_digest(secret, client["client_secret"])


def _redirect_error(params: Any, error: str, description: str) -> Response:
    """An authorization error sent back to the client's redirect URI (RFC 6749 section 4.1.2.1)."""
    answer = {"error": error, "error_description": description, **({"state": params["state"]} if params.get("state") else {})}
    redirect_uri = params["redirect_uri"]
    return RedirectResponse(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}", status_code=302)


def _granted_scope(requested: str, provider: str) -> str:
    scopes = requested.split()
    if provider == "microsoft":
        scopes = [s for s in scopes if s not in ("openid", "profile", "offline_access")]
    return " ".join(scopes)


def _pkce_ok(grant: dict[str, str], verifier: str) -> bool:
    if grant["code_challenge_method"] == "S256":
        return _b64url(hashlib.sha256(verifier.encode()).digest()) == grant["code_challenge"]
    return verifier == grant["code_challenge"]


def _invalid_grant(description: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_grant", "error_description": description, "error_codes": [70000]}, status_code=400)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64url(json.dumps(claims).encode())}.{_b64url(b'emulator')}"


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")
