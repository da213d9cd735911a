"""`codemem serve`: the Slack app in Socket Mode or behind HTTP, plus health endpoints."""

from __future__ import annotations

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import open_codemem
from bot.settings import Settings
from bot.surfaces.slack import build_slack_app


def http_app(slack: AsyncApp, *, slack_events: bool) -> Starlette:
    """/healthz, and Slack's Events API, interactivity and slash commands on /slack/events in HTTP mode."""
    handler = AsyncSlackRequestHandler(slack)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [Route("/healthz", health)]
    if slack_events:
        routes.append(Route("/slack/events", events, methods=["POST"]))
    return Starlette(routes=routes)


async def serve(settings: Settings) -> None:
    """Run until stopped: Socket Mode when SLACK_APP_TOKEN is set, else Slack over HTTP; HTTP serves
    /healthz either way, on CODEMEM_HOST:CODEMEM_PORT."""
    async with open_codemem(settings) as codemem:
        slack = build_slack_app(codemem, settings)
        socket_mode = AsyncSocketModeHandler(slack, settings.slack_app_token) if settings.slack_app_token else None
        config = uvicorn.Config(http_app(slack, slack_events=socket_mode is None), host=settings.host,
                                port=settings.port, log_level="info")
        if socket_mode is not None:
            await socket_mode.connect_async()
        try:
            await uvicorn.Server(config).serve()
        finally:
            if socket_mode is not None:
                await socket_mode.close_async()
