"""The two OAuth providers: Microsoft through MSAL (auth-code flow with PKCE, one serializable token cache
per user) and Google through google-auth-oauthlib (offline access, PKCE verifier kept with the state)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import msal
import requests
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow

from integrations.errors import ToolError

MICROSOFT_SCOPES = ("User.Read", "Mail.ReadWrite", "Mail.Send", "Files.ReadWrite")
GOOGLE_SCOPES = ("openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/gmail.modify",
                 "https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/spreadsheets")
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class SignInError(Exception):
    """The provider refused the sign-in; the message says why."""


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, and the secret to store for them."""

    account: str
    display_name: str
    scopes: tuple[str, ...]
    secret: dict[str, Any]


def _session(ca_certs: str | Path | None) -> requests.Session:
    session = requests.Session()
    if ca_certs:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override our CA
        session.verify = str(ca_certs)
    return session


class MicrosoftOAuth:
    """Microsoft identity platform v2.0 via MSAL. `authority` e.g. https://login.microsoftonline.com/common."""

    name = "microsoft"

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str, *, authority: str = "https://login.microsoftonline.com/common",
                 scopes: tuple[str, ...] = MICROSOFT_SCOPES, ca_certs: str | Path | None = None) -> None:
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.authority, self.scopes, self.ca_certs = authority, scopes, ca_certs
        self._lock = threading.Lock()

    def _app(self, cache: msal.SerializableTokenCache | None = None) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            self.client_id, client_credential=self.client_secret, authority=self.authority, token_cache=cache,
            http_client=_session(self.ca_certs), instance_discovery=False if self.ca_certs else None,
        )

    def start(self, state: str) -> tuple[str, dict[str, Any]]:
        """(authorize URL, secret to keep with the state: MSAL's flow with PKCE verifier and nonce)."""
        flow = self._app().initiate_auth_code_flow(list(self.scopes), redirect_uri=self.redirect_uri, state=state)
        return flow["auth_uri"], {"flow": flow}

    def finish(self, secret: dict[str, Any], params: dict[str, str]) -> SignedIn:
        cache = msal.SerializableTokenCache()
        result = self._app(cache).acquire_token_by_auth_code_flow(secret["flow"], params)
        if "error" in result:
            raise SignInError(f"Microsoft refused the sign-in: {result.get('error')}: {result.get('error_description', '')}".strip())
        claims = result.get("id_token_claims") or {}
        account = claims.get("preferred_username") or claims.get("email") or ""
        return SignedIn(account, claims.get("name") or account, tuple(str(result.get("scope", "")).split()), {"cache": cache.serialize()})

    def token_source(self, secret: dict[str, Any], save: Callable[[dict[str, Any]], None]) -> MicrosoftTokenSource:
        """An async callable giving a current access token (MSAL refreshes it), saving a changed cache."""
        cache = msal.SerializableTokenCache()
        cache.deserialize(secret["cache"])
        return MicrosoftTokenSource(self._app(cache), cache, list(self.scopes), self._lock, save)


class MicrosoftTokenSource:
    """One user's Microsoft access tokens from their MSAL cache: `await source()` for the current token,
    `await source.force_refresh()` when Graph refused a token the cache still believes valid."""

    def __init__(self, app: msal.ConfidentialClientApplication, cache: msal.SerializableTokenCache, scopes: list[str],
                 lock: threading.Lock, save: Callable[[dict[str, Any]], None]) -> None:
        self._app, self._cache, self._scopes, self._lock, self._save = app, cache, scopes, lock, save

    async def __call__(self) -> str:
        return await asyncio.to_thread(self._acquire, False)

    async def force_refresh(self) -> str:
        return await asyncio.to_thread(self._acquire, True)

    def _acquire(self, force_refresh: bool) -> str:
        with self._lock:
            accounts = self._app.get_accounts()
            result = (self._app.acquire_token_silent_with_error(self._scopes, account=accounts[0], force_refresh=force_refresh)
                      if accounts else None)
            if self._cache.has_state_changed:
                self._save({"cache": self._cache.serialize()})
        if not result or "access_token" not in result:
            reason = (result or {}).get("error_description") or (result or {}).get("error") or "no usable token"
            raise ToolError(f"the Microsoft connection was revoked or expired ({reason.splitlines()[0]}); reconnect your Microsoft account with /connect microsoft",
                            status=401, code="reconnect:microsoft")
        return result["access_token"]


class GoogleOAuth:
    """Google OAuth 2.0 via google-auth-oauthlib with offline access (a refresh token)."""

    name = "google"

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str, *, auth_uri: str = GOOGLE_AUTH_URI, token_uri: str = GOOGLE_TOKEN_URI,
                 scopes: tuple[str, ...] = GOOGLE_SCOPES, ca_certs: str | Path | None = None) -> None:
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.auth_uri, self.token_uri, self.scopes, self.ca_certs = auth_uri, token_uri, scopes, ca_certs

    def _flow(self, code_verifier: str | None = None) -> Flow:
        config = {"web": {"client_id": self.client_id, "client_secret": self.client_secret, "auth_uri": self.auth_uri,
                          "token_uri": self.token_uri, "redirect_uris": [self.redirect_uri]}}
        flow = Flow.from_client_config(config, scopes=list(self.scopes), redirect_uri=self.redirect_uri,
                                       code_verifier=code_verifier, autogenerate_code_verifier=code_verifier is None)
        if self.ca_certs:
            flow.oauth2session.trust_env = False
            flow.oauth2session.verify = str(self.ca_certs)
        return flow

    def start(self, state: str) -> tuple[str, dict[str, Any]]:
        flow = self._flow()
        url, _ = flow.authorization_url(state=state, access_type="offline", prompt="consent", include_granted_scopes="true")
        return url, {"code_verifier": flow.code_verifier}

    def finish(self, secret: dict[str, Any], params: dict[str, str]) -> SignedIn:
        flow = self._flow(secret["code_verifier"])
        try:
            flow.fetch_token(code=params["code"])
        except Exception as error:  # oauthlib raises a family of errors; all mean the sign-in failed
            raise SignInError(f"Google refused the sign-in: {error}") from error
        credentials = flow.credentials
        claims = _jwt_claims(getattr(credentials, "id_token", None) or "")
        account = claims.get("email", "")
        return SignedIn(account, claims.get("name") or account, tuple(credentials.scopes or self.scopes),
                        {"token": credentials.token, "refresh_token": credentials.refresh_token,
                         "expiry": credentials.expiry.isoformat() if credentials.expiry else None})

    def credentials(self, secret: dict[str, Any]) -> Credentials:
        """google-auth Credentials built by hand (from_authorized_user_info would force Google's token URI)."""
        return Credentials(token=secret.get("token"), refresh_token=secret.get("refresh_token"), token_uri=self.token_uri,
                           client_id=self.client_id, client_secret=self.client_secret, scopes=list(self.scopes))


def _jwt_claims(token: str) -> dict[str, Any]:
    """Claims of an ID token received directly from the token endpoint over TLS (OIDC allows skipping the signature check)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
