"""Slack over HTTP: POST /slack/events, verified on its raw bytes before anything parses them.

bolt parses a request's body before its middleware checks the signature, so an unsigned body would be
parsed (and a broken one would end in a 500 with a traceback). Here the signature is checked first, with
slack_sdk's SignatureVerifier, on the body as it came (the server's `BodyLimit` has bounded it; a body that
is not UTF-8 is refused first, as no Slack payload is); only then does bolt parse it, once, and a body that
is not a Slack payload is a 400. Each refusal is one log
line. bolt's own check runs again after this one (it costs microseconds).
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler, to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.surfaces.slack_install import SlackInstallSettings

log = logging.getLogger(__name__)

TIMESTAMP_DIGITS = 12   # Unix seconds for the next 30,000 years
NOT_A_PAYLOAD = "the body is not a Slack payload (JSON, a form, or a form with a JSON payload)"


def http_routes(slack: AsyncApp, install: SlackInstallSettings | None = None, *,
                signing_secret: str) -> list[BaseRoute]:
    """HTTP mode: events, interactivity and commands on POST /slack/events, signed with `signing_secret`;
    with OAuth, the install page and its redirect (GET) as well."""
    endpoint = SignedEndpoint(slack, signing_secret)
    routes: list[BaseRoute] = [Route("/slack/events", endpoint.post, methods=["POST"])]
    if install is not None and install.enabled:
        oauth = AsyncSlackRequestHandler(slack)
        routes += [Route(install.install_path, oauth.handle, methods=["GET"]),
                   Route(install.redirect_path, oauth.handle, methods=["GET"])]
    return routes


class SignedEndpoint:
    """POST /slack/events: the signature first, then bolt."""

    def __init__(self, slack: AsyncApp, signing_secret: str) -> None:
        self.slack = slack
        self.verifier = SignatureVerifier(signing_secret)

    async def post(self, request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not signature or not timestamp:
            return refuse(401, "the request is not signed", level=logging.INFO)
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= TIMESTAMP_DIGITS):
            return refuse(400, "X-Slack-Request-Timestamp must be the request's time in Unix seconds")
        try:
            text = body.decode("utf-8")   # what Slack signs and sends is UTF-8
        except UnicodeDecodeError:
            return refuse(400, "the body is not UTF-8")
        if not self.verifier.is_valid(text, timestamp, signature):
            return refuse(401, "the signature is wrong or older than five minutes", level=logging.INFO)
        try:
            parsed = AsyncBoltRequest(body=text, query=request.query_params,  # type: ignore[arg-type]
                                      headers=request.headers)  # type: ignore[arg-type]
        except RecursionError:
            return refuse(400, "the body's JSON is nested too deeply")
        except (ValueError, AttributeError, TypeError):   # bolt's parse: bad JSON, or JSON that is not an object
            return refuse(400, NOT_A_PAYLOAD)
        if not isinstance(parsed.body, dict):
            return refuse(400, NOT_A_PAYLOAD)
        return to_starlette_response(await self.slack.async_dispatch(parsed))


def refuse(status: int, reason: str, *, level: int = logging.WARNING) -> Response:
    """A refused Slack request: `status` with `reason`, and one log line saying so."""
    log.log(level, "refused a Slack request (%d): %s", status, reason)
    return JSONResponse({"error": reason}, status_code=status)
