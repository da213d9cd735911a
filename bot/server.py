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


def http_app(slack: AsyncApp) -> Starlette:
    """Slack's Events API, interactivity and slash commands on /slack/events, and /healthz."""
    handler = AsyncSlackRequestHandler(slack)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", health)])


async def serve(settings: Settings) -> None:
    """Run until stopped: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on CODEMEM_HOST:CODEMEM_PORT."""
    async with open_codemem(settings) as codemem:
        slack = build_slack_app(codemem, settings)
        if settings.slack_app_token:
            await AsyncSocketModeHandler(slack, settings.slack_app_token).start_async()
        else:
            config = uvicorn.Config(http_app(slack), host=settings.host, port=settings.port, log_level="info")
            await uvicorn.Server(config).serve()
