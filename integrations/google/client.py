"""Gmail and Sheets service objects built once, executed with one authorized httplib2.Http per thread,
under our own retry policy (google-api-python-client's ignores Retry-After and retries POSTs)."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from integrations.errors import ToolError
from integrations.google.gmail_mcp import GmailMcp
from integrations.network import is_loopback

_log = logging.getLogger(__name__)
GOOGLE_API_ENDPOINTS = {"gmail": "https://gmail.googleapis.com/", "sheets": "https://sheets.googleapis.com/"}
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER_SECONDS = 60.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_TIMEOUT_SECONDS = 60

_HINTS_BY_STATUS: dict[int, str] = {
    400: "Google rejected the request: check the arguments",
    401: "the Google sign-in is no longer valid: ask the user to run /connect google",
    404: "it does not exist (any more): check the id",
    429: "Google is rate-limiting requests: wait a minute and try again",
    500: "Google had an internal error: try again in a minute",
    503: "the Google service is temporarily unavailable: wait a minute and try again",
}


class GoogleServices:
    """The user's Gmail and Sheets services. `api_endpoint` None means Google itself; the emulator's
    base URL otherwise (`ca_certs` to trust its HTTPS certificate). With `gmail_mcp_url`, Gmail goes through
    that Gmail MCP server instead of the Gmail API (`gmail_mcp`)."""

    def __init__(self, credentials: Credentials, *, api_endpoint: str | None = None, ca_certs: str | Path | None = None,
                 gmail_mcp_url: str | None = None) -> None:
        self.credentials = credentials
        self.gmail_mcp = GmailMcp(credentials, gmail_mcp_url, ca_certs=ca_certs) if gmail_mcp_url else None
        self._ca_certs = str(ca_certs) if ca_certs else None
        self._loopback = api_endpoint is not None and is_loopback(urlparse(api_endpoint).hostname or "")
        self._local = threading.local()
        placeholder = httplib2.Http()
        self.gmail = _build("gmail", "v1", api_endpoint, placeholder)
        self.sheets = _build("sheets", "v4", api_endpoint, placeholder)
        self.gmail_users = self.gmail.users()
        self.gmail_messages = self.gmail_users.messages()
        self.gmail_attachments = self.gmail_messages.attachments()
        self.gmail_drafts = self.gmail_users.drafts()
        self.gmail_labels = self.gmail_users.labels()
        self.spreadsheets = self.sheets.spreadsheets()
        self.sheet_values = self.spreadsheets.values()

    def http(self) -> google_auth_httplib2.AuthorizedHttp:
        """This thread's authorized Http (httplib2 is not thread-safe); it refreshes the token once on 401."""
        http = getattr(self._local, "http", None)
        if http is None:
            base = httplib2.Http(timeout=_TIMEOUT_SECONDS, ca_certs=self._ca_certs, proxy_info=None if self._loopback else httplib2.proxy_info_from_environment)
            http = google_auth_httplib2.AuthorizedHttp(self.credentials, http=base)
            self._local.http = http
        return http

    async def execute(self, request: HttpRequest, *, action: str, retry_safe: bool, provider_scope: str = "") -> Any:
        """Run `request` off the event loop. Retries 429/5xx honouring Retry-After when `retry_safe`;
        a write that is not retry-safe is retried only after 429 (Google did not process it). Failures
        become one-line ToolErrors naming what to do next."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await asyncio.to_thread(lambda: request.execute(http=self.http()))
            except HttpError as error:
                status = error.resp.status
                retryable = status in RETRYABLE_STATUSES and (retry_safe or status == 429)
                delay = _retry_delay(error, attempt)
                if not retryable or attempt == MAX_ATTEMPTS or delay is None:
                    raise _tool_error(action, error, provider_scope, delay) from error
                _log.info("%s: Google answered %s, retrying in %.1f s (attempt %d)", action, status, delay, attempt)
                await asyncio.sleep(delay)
            except google.auth.exceptions.RefreshError as error:
                raise ToolError(
                    f"{action} failed: the Google connection was revoked or expired ({_first_line(error)}); "
                    "reconnect your Google account with /connect google",
                    status=401, code="reconnect:google",
                ) from error
            except (OSError, httplib2.HttpLib2Error) as error:
                if not retry_safe or attempt == MAX_ATTEMPTS:
                    raise ToolError(f"{action} failed: could not reach Google ({type(error).__name__}: {error}); check the network and try again") from error
                await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")


def _build(name: str, version: str, api_endpoint: str | None, http: httplib2.Http) -> Any:
    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    return build(name, version, http=http, static_discovery=True, cache_discovery=False, client_options=options)


def _retry_delay(error: HttpError, attempt: int) -> float | None:
    """Seconds to wait before the next attempt (None: the service asked for longer than we wait)."""
    header = error.resp.get("retry-after")
    if header is None:
        return _backoff(attempt)
    try:
        seconds = float(header)
    except ValueError:
        return _backoff(attempt)
    return seconds if seconds <= MAX_RETRY_AFTER_SECONDS else None


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


def _tool_error(action: str, error: HttpError, scope: str, delay: float | None) -> ToolError:
    status = error.resp.status
    reason = ""
    try:
        details = error.error_details
        if isinstance(details, list) and details and isinstance(details[0], dict):
            reason = str(details[0].get("reason", ""))
    except AttributeError:
        pass
    message = " ".join(str(error.reason or "").split()) or "no details"
    if status == 403 and reason in ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", ""):
        hint = f"the Google connection lacks the permission {scope or 'this call needs'}: ask the user to reconnect with /connect google and accept it"
    elif status in (429, 503) and delay is None:
        hint = f"Google asked to wait {error.resp.get('retry-after')} s: try again later"
    else:
        hint = _HINTS_BY_STATUS.get(status, "try again later; if it keeps failing, report it")
    return ToolError(f"{action} failed: Google answered {status} ({message}); {hint}", status=status, code=reason or None)


def _first_line(error: Exception) -> str:
    text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
    return text.splitlines()[0] if text else type(error).__name__
