"""`codemem serve`: Slack (Socket Mode or HTTP) and Microsoft Teams over one core, plus /healthz, /readyz
and /metrics. With the embedded job engine it also runs the jobs and the schedules; with procrastinate it
only queues them for `codemem worker`."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import extras
from bot.app import open_codemem
from bot.banner import serve_banner
from bot.observability import configure_tracing, metrics_payload
from bot.runtime.jobs import InProcessJobs
from bot.settings import Settings
from bot.surfaces.mcp_server import skill_endpoints
from bot.surfaces.slack import build_slack_app
from bot.surfaces.slack_http import http_routes
from bot.surfaces.slack_ack import AfterAck
from bot.surfaces.slack_install import SlackInstallSettings
from bot.surfaces.teams_settings import TeamsSettings

log = logging.getLogger(__name__)

Problems = Callable[[], Awaitable[list[str]]]
JOB_LEDGER = "jobs"   # under CODEMEM_DATA_DIR: the embedded engine's jobs while they are queued or running
MAX_BODY_BYTES = 1024 * 1024
"""The largest request body served: Slack's largest payloads (a modal's submission: up to 100 blocks and their
inputs) and Teams' activities are a few hundred KB at most."""


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 and never reaches the app — by its
    Content-Length before a byte of it is read, else (chunked) as soon as what was read passes the limit.
    The app gets the body it would have read, replayed from the bytes read here."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)   # no body (a GET)
            return
        if declared is not None and not (declared.isdigit() and int(declared) <= self.limit):
            await self._refuse(scope, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return   # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, send)
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        log.warning("refused a request body over %d bytes: %s %s", self.limit, scope["method"], scope["path"])
        response = JSONResponse({"error": f"the request body is over {self.limit} bytes"}, status_code=413,
                                headers={"Connection": "close"})
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def http_app(routes: list[BaseRoute], problems: Problems | None = None, *,
             max_body_bytes: int = MAX_BODY_BYTES) -> ASGIApp:
    """`routes`, plus /healthz (the process is up), /readyz (503 with the `problems` while it cannot serve)
    and /metrics (Prometheus); request bodies over `max_body_bytes` are refused (`BodyLimit`)."""
    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def ready(request: Request) -> Response:
        found = await problems() if problems is not None else []
        return JSONResponse({"ready": not found, "problems": found}, status_code=503 if found else 200)

    async def metrics(request: Request) -> Response:
        body, content_type = metrics_payload()
        return Response(body, media_type=content_type)

    app = Starlette(routes=[Route("/healthz", health), Route("/readyz", ready), Route("/metrics", metrics), *routes])
    return BodyLimit(app, max_body_bytes)


async def serve(settings: Settings, teams_settings: TeamsSettings) -> None:
    """Run until stopped, on CODEMEM_HOST:CODEMEM_PORT: Slack in Socket Mode when SLACK_APP_TOKEN is set,
    else over HTTP when SLACK_BOT_TOKEN is; Teams on TEAMS_ENDPOINT when TEAMS_APP_ID is set; the OAuth
    callbacks under /oauth/ when accounts are configured."""
    if teams_settings.enabled:
        extras.require("teams", "Teams (TEAMS_APP_ID)")
    tracing = configure_tracing()
    async with open_codemem(settings) as codemem, contextlib.AsyncExitStack() as stack:
        routes: list[BaseRoute] = []
        socket_mode: AsyncSocketModeHandler | None = None
        install = SlackInstallSettings()
        if settings.slack_bot_token or install.enabled:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            after_ack = AfterAck()
            stack.push_async_callback(after_ack.drain)   # before the session closes: the work may call Slack
            slack = build_slack_app(codemem, settings, install, session=session, after_ack=after_ack)
            if settings.slack_app_token:
                socket_mode = AsyncSocketModeHandler(slack, settings.slack_app_token)
            else:
                routes += http_routes(slack, install, signing_secret=settings.slack_signing_secret or "")
        if teams_settings.enabled:
            from bot.surfaces.teams import build_teams_app   # the `teams` extra, checked above
            from bot.surfaces.teams_package import policy_routes

            routes += (await build_teams_app(codemem, teams_settings)).routes + policy_routes(teams_settings)
        if codemem.connections.accounts is not None:
            routes += codemem.connections.accounts.routes()
        if codemem.connections.mcp is not None:
            routes += codemem.connections.mcp.routes()
        routes += await stack.enter_async_context(skill_endpoints(codemem, settings.public_url))   # /mcp, /api
        if isinstance(codemem.jobs, InProcessJobs):   # this process runs the jobs: it recovers them, fires schedules
            await codemem.jobs.recover(settings.data_dir / JOB_LEDGER)   # the surfaces the hooks post to exist now
            codemem.scheduler.start()
        if socket_mode is not None:   # events come once the jobs they queue are kept in the ledger
            await socket_mode.connect_async()
            stack.push_async_callback(socket_mode.close_async)
        config = uvicorn.Config(http_app(routes, codemem.problems), host=settings.host, port=settings.port,
                                log_level="info", log_config=None)
        freeze_startup_objects()
        log.info(serve_banner(settings, teams_settings, install, tracing))
        await uvicorn.Server(config).serve()


async def serve_unconfigured(settings: Settings, problem: str) -> None:
    """Serve only /healthz, /readyz (503, saying `problem`) and /metrics until stopped: a bot whose chat settings
    are missing waits for its operator (in a container under a restart policy) instead of exiting in a loop."""
    async def problems() -> list[str]:
        return [problem]

    config = uvicorn.Config(http_app([], problems), host=settings.host, port=settings.port, log_level="info",
                            log_config=None)
    await uvicorn.Server(config).serve()


def freeze_startup_objects() -> None:
    """Keep what startup built (modules, the app, the catalogue: hundreds of thousands of objects) out of the
    garbage collector's full passes, which would otherwise stop the event loop for about 200 ms each."""
    gc.collect()
    gc.freeze()
