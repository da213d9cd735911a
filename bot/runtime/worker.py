"""`codemem worker`: runs the jobs queued in PostgreSQL and fires the schedules, as many processes as you like.

A worker posts results itself, so it attaches the chat surfaces it can build from settings alone: Slack
from SLACK_BOT_TOKEN; Teams from TEAMS_APP_ID/TEAMS_APP_PASSWORD (replies go to TEAMS_SERVICE_URL, or the
SDK's default, since the Bot Connector URL a tenant last used is only known to the process that received
its activity). It serves /healthz, /readyz and /metrics on CODEMEM_HOST:CODEMEM_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from bot import extras
from bot.app import CodeMem, open_codemem
from bot.observability import configure_tracing
from bot.settings import Settings
from bot.surfaces.slack import SlackSurface, web_client
from bot.surfaces.slack_install import SlackInstallSettings, oauth_settings
from bot.surfaces.teams_settings import TeamsSettings
from skills_db.db import make_engine

log = logging.getLogger(__name__)


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the worker's handlers stop the jobs first, then this."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WorkerConfigError(ValueError):
    """A worker cannot run with these settings; the message says what to set."""


async def attach_surfaces(codemem: CodeMem, settings: Settings, teams: TeamsSettings) -> list[str]:
    """Attach the surfaces the settings allow (for posting only); their platform names."""
    attached = []
    install = SlackInstallSettings()
    if settings.slack_bot_token or install.enabled:
        tokens = (oauth_settings(install, make_engine(settings.resolved_database_url)).installation_store.bot_token
                  if install.enabled else None)   # OAuth installs: each workspace's own bot token
        codemem.surfaces.attach("slack", SlackSurface(web_client(settings), tokens))
        attached.append("slack")
    if teams.enabled:
        from bot.surfaces.teams import build_teams_app

        await build_teams_app(codemem, teams)
        attached.append("teams")
    return attached


async def run_worker(settings: Settings, teams: TeamsSettings) -> None:
    """Run jobs and schedules until SIGINT or SIGTERM; running jobs finish first."""
    if settings.jobs != "procrastinate":
        raise WorkerConfigError(
            "codemem worker runs jobs queued in PostgreSQL: set CODEMEM_JOBS=procrastinate and "
            "CODEMEM_DATABASE_URL=postgresql+psycopg://… for the bot and every worker. With the embedded "
            "engine (CODEMEM_JOBS=inprocess) `codemem serve` runs the jobs itself.")
    extras.require("postgres", "codemem worker")
    if teams.enabled:
        extras.require("teams", "Teams (TEAMS_APP_ID)")
    from bot.runtime.procrastinate_jobs import ProcrastinateJobs

    log.info(configure_tracing())
    async with open_codemem(settings) as codemem:
        jobs = codemem.jobs
        assert isinstance(jobs, ProcrastinateJobs)
        surfaces = await attach_surfaces(codemem, settings, teams)
        if not surfaces:
            log.warning("no chat surface configured (SLACK_BOT_TOKEN, TEAMS_APP_ID): results cannot be posted")
        from bot.server import http_app

        server = _HttpServer(uvicorn.Config(http_app([], codemem.problems), host=settings.host,
                                            port=settings.port, log_level="warning", log_config=None))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, jobs.stop)
        http = asyncio.create_task(server.serve())
        codemem.scheduler.start()
        log.info("worker %s running jobs of queues codemem and %s; posting to %s", jobs.name, jobs.queue,
                 ", ".join(surfaces) or "nothing")
        try:
            await jobs.run_worker(concurrency=settings.worker_concurrency)
        finally:
            server.should_exit = True
            await http
