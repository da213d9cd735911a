"""Fault injection and the request log: an ASGI middleware in front of every service route."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Fault:
    """Answer matching requests with `status` (and `Retry-After`), after `latency` seconds, `times` times.

    `path` matches as a prefix of the request path (e.g. "/v1.0/me/messages"); `method` None matches any.
    `status` None only delays the request. The error body is in the dialect of the service addressed.
    """

    path: str
    status: int | None = 503
    method: str | None = None
    retry_after: float | None = None
    latency: float = 0.0
    times: int = 1
    code: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and path.startswith(self.path) and (self.method is None or self.method.upper() == method)


@dataclass
class RequestRecord:
    """One request the emulator answered (`faulted` when an injected fault answered it). `bearer` is the
    `bearer_digest` of the request's bearer token ("" without one), so tests can tell whose token came;
    `raw_path` is the path exactly as it came on the wire, still percent-encoded."""

    method: str
    path: str
    query: str
    status: int
    faulted: bool = False
    bearer: str = ""
    raw_path: str = ""


def bearer_digest(token: str) -> str:
    """A short SHA-256 digest of a bearer token: what the request log keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _bearer_of(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return bearer_digest(token.strip()) if kind.lower() == "bearer" and token.strip() else ""
    return ""


class FaultsAndLog:
    """Applies the first matching fault, then records method, path, query and status in `requests`."""

    def __init__(self, app: ASGIApp, faults: list[Fault], requests: list[RequestRecord]) -> None:
        self.app = app
        self.faults = faults
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        raw_path = (scope.get("raw_path") or path.encode()).decode("latin-1")
        query = unquote(scope.get("query_string", b"").decode("latin-1"))
        bearer = _bearer_of(scope)
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.times -= 1
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.status is not None:
                await _drain(receive)
                await _send_fault(send, fault, path)
                self.requests.append(RequestRecord(method, path, query, fault.status, True, bearer, raw_path))
                return
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.requests.append(RequestRecord(method, path, query, status, bearer=bearer, raw_path=raw_path))


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _send_fault(send: Send, fault: Fault, path: str) -> None:
    status = fault.status or 500
    text = fault.message or f"Injected fault: {status}."
    body: dict[str, Any]
    if path.startswith("/v1.0"):
        body = {"error": {"code": fault.code or _GRAPH_CODES.get(status, "generalException"), "message": text}}
    elif "/oauth2/" in path or path.startswith("/o/oauth2") or path.endswith("/token"):
        body = {"error": fault.code or "temporarily_unavailable", "error_description": text}
    else:
        reason = fault.code or _GOOGLE_REASONS.get(status, "backendError")
        body = {"error": {"code": status, "message": text, "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
                          "errors": [{"message": text, "domain": "global", "reason": reason}]}}
    headers = [(b"content-type", b"application/json")]
    if fault.retry_after is not None:
        headers.append((b"retry-after", str(int(fault.retry_after) if float(fault.retry_after).is_integer() else fault.retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


_GRAPH_CODES = {401: "InvalidAuthenticationToken", 403: "ErrorAccessDenied", 429: "TooManyRequests", 500: "generalException",
                503: "serviceNotAvailable", 504: "gatewayTimeout"}
_GOOGLE_REASONS = {401: "authError", 403: "insufficientPermissions", 429: "rateLimitExceeded", 503: "backendError"}
_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
