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

from bot import extras
from bot.app import open_codemem
from bot.observability import configure_tracing, metrics_payload
from bot.settings import Settings
from bot.surfaces.mcp_server import skill_endpoints
from bot.surfaces.slack import build_slack_app, http_routes
from bot.surfaces.slack_ack import AfterAck
from bot.surfaces.slack_install import SlackInstallSettings
from bot.surfaces.teams_settings import TeamsSettings

log = logging.getLogger(__name__)

Problems = Callable[[], Awaitable[list[str]]]


def http_app(routes: list[BaseRoute], problems: Problems | None = None) -> Starlette:
    """`routes`, plus /healthz (the process is up), /readyz (503 with the `problems` while it cannot serve)
    and /metrics (Prometheus)."""
    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def ready(request: Request) -> Response:
        found = await problems() if problems is not None else []
        return JSONResponse({"ready": not found, "problems": found}, status_code=503 if found else 200)

    async def metrics(request: Request) -> Response:
        body, content_type = metrics_payload()
        return Response(body, media_type=content_type)

    return Starlette(routes=[Route("/healthz", health), Route("/readyz", ready), Route("/metrics", metrics),
                             *routes])


async def serve(settings: Settings, teams_settings: TeamsSettings) -> None:
    """Run until stopped, on CODEMEM_HOST:CODEMEM_PORT: Slack in Socket Mode when SLACK_APP_TOKEN is set,
    else over HTTP when SLACK_BOT_TOKEN is; Teams on TEAMS_ENDPOINT when TEAMS_APP_ID is set; the OAuth
    callbacks under /oauth/ when accounts are configured."""
    if teams_settings.enabled:
        extras.require("teams", "Teams (TEAMS_APP_ID)")
    log.info(configure_tracing())
    async with open_codemem(settings) as codemem, contextlib.AsyncExitStack() as stack:
        if settings.jobs == "inprocess":
            codemem.scheduler.start()   # this process runs the jobs, so it also fires the schedules
        routes: list[BaseRoute] = []
        install = SlackInstallSettings()
        if settings.slack_bot_token or install.enabled:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            after_ack = AfterAck()
            stack.push_async_callback(after_ack.drain)   # before the session closes: the work may call Slack
            slack = build_slack_app(codemem, settings, install, session=session, after_ack=after_ack)
            if settings.slack_app_token:
                socket_mode = AsyncSocketModeHandler(slack, settings.slack_app_token)
                await socket_mode.connect_async()
                stack.push_async_callback(socket_mode.close_async)
            else:
                routes += http_routes(slack, install)
        if teams_settings.enabled:
            from bot.surfaces.teams import build_teams_app   # the `teams` extra, checked above
            from bot.surfaces.teams_package import policy_routes

            routes += (await build_teams_app(codemem, teams_settings)).routes + policy_routes(teams_settings)
        if codemem.connections.accounts is not None:
            routes += codemem.connections.accounts.routes()
        if codemem.connections.mcp is not None:
            routes += codemem.connections.mcp.routes()
        routes += await stack.enter_async_context(skill_endpoints(codemem, settings.public_url))   # /mcp, /api
        config = uvicorn.Config(http_app(routes, codemem.problems), host=settings.host, port=settings.port,
                                log_level="info", log_config=None)
        freeze_startup_objects()
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
