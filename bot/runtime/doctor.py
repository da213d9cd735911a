"""`codemem doctor`: checks the configuration, the database and job queue, the sandbox's isolation and
each connected service, and says what to fix."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import text

from bot import extras
from bot.settings import Settings
from bot.surfaces.teams_settings import TeamsSettings


@dataclass(frozen=True)
class Finding:
    """One check: its area, whether it passed (`ok`), a warning (`ok` and `warn`), and what to do."""

    area: str
    ok: bool
    message: str
    warn: bool = False

    def line(self) -> str:
        mark = "ok  " if self.ok and not self.warn else "warn" if self.ok else "FIX "
        return f"[{mark}] {self.area}: {self.message}"


async def diagnose(settings: Settings, teams: TeamsSettings) -> list[Finding]:
    """Every check, in the order a newcomer should fix things."""
    findings = _configuration(settings, teams)
    findings += await asyncio.to_thread(_database, settings)
    if settings.jobs == "procrastinate" and settings.uses_postgres:
        findings += await _job_queue(settings)
    findings += await asyncio.to_thread(_sandbox, settings)
    findings += await _services(settings, teams)
    findings += await _mcp_servers(settings)
    return findings


async def _mcp_servers(settings: Settings) -> list[Finding]:
    """Each MCP server, and whether it answers."""
    from bot.mcp_cli import probe
    from bot.mcp_servers import McpConfigError, all_servers, cipher_or_none
    from skills_db.db import make_engine

    try:
        entries = await asyncio.to_thread(all_servers, settings.mcp_servers,
                                          make_engine(settings.resolved_database_url), cipher_or_none())
    except (McpConfigError, ValueError) as error:
        return [Finding("mcp", False, str(error))]
    except Exception:   # no database yet: the database line above says what to fix
        return []
    results = await asyncio.gather(*(probe(entry, settings.mcp_timeout) for entry in entries))
    return [Finding(f"mcp {entry.server.name}", ok, f"{entry.server.url}: {text}"
                    + ("" if ok else " (check the URL and that the server runs; `codemem mcp list` shows them)"))
            for entry, (ok, text) in zip(entries, results)]


def _configuration(settings: Settings, teams: TeamsSettings) -> list[Finding]:
    found = []
    problem = settings.jobs_problem()
    found.append(Finding("jobs", problem is None, problem or f"engine {settings.jobs}"
                         + (" (start `codemem worker` processes to run them)" if settings.jobs == "procrastinate" else "")))
    slack_missing = settings.missing_for_slack()
    teams_missing = teams.missing_for_teams() if teams.app_id else []
    if slack_missing and not teams.enabled:
        found.append(Finding("chat", False, "no Slack or Teams configured: set " + "; ".join(slack_missing)
                             + " (README: Slack setup), or TEAMS_APP_ID and TEAMS_APP_PASSWORD"))
    else:
        platforms = [name for name, on in (("Slack", not slack_missing), ("Teams", teams.enabled)) if on]
        found.append(Finding("chat", not teams_missing, "Teams needs " + ", ".join(teams_missing) if teams_missing
                             else "configured: " + ", ".join(platforms)))
    if settings.model:
        try:
            from bot.agent.model import load_model

            load_model(settings.model)
            found.append(Finding("model", True, settings.model))
        except Exception as error:
            found.append(Finding("model", False, str(error)))
    else:
        found.append(Finding("model", True, "CODEMEM_MODEL is not set: saved skills run, new tasks are declined "
                             "(set e.g. CODEMEM_MODEL=anthropic:claude-sonnet-4-5)", warn=True))
    found += _extras(settings, teams)
    if settings.uses_accounts and not os.environ.get("CODEMEM_SECRET_KEYS"):
        found.append(Finding("accounts", False, "OAuth clients are set but CODEMEM_SECRET_KEYS is not: generate one "
                             "with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"))
    return found


def _extras(settings: Settings, teams: TeamsSettings) -> list[Finding]:
    needed = [("postgres", "CODEMEM_DATABASE_URL=postgresql…", settings.uses_postgres),
              ("teams", "Teams (TEAMS_APP_ID)", teams.enabled),
              ("otlp", "OTEL_EXPORTER_OTLP_ENDPOINT", bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")))]
    return [Finding("install", False, extras.missing_message(extra, needed_by))
            for extra, needed_by, wanted in needed if wanted and not extras.installed(extra)]


def _database(settings: Settings) -> list[Finding]:
    from skills_db.db import make_engine

    shown = settings.shown_database_url
    try:
        engine = make_engine(settings.resolved_database_url)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as error:
        return [Finding("database", False, settings.database_unreachable(error))]
    note = "" if settings.uses_postgres else " (SQLite: one machine; set a PostgreSQL URL to scale out)"
    return [Finding("database", True, f"connected to {shown}{note}")]


async def _job_queue(settings: Settings) -> list[Finding]:
    from bot.runtime.procrastinate_jobs import ProcrastinateJobs

    jobs = ProcrastinateJobs(settings.postgres_dsn, stalled_after=settings.worker_stalled_after)
    try:
        await jobs.open()
    except Exception as error:
        return [Finding("job queue", False, f"cannot open the queue in PostgreSQL: {type(error).__name__}: {error}")]
    try:
        workers = await jobs.live_workers()
        stats = await jobs.stats()
    finally:
        await jobs.close()
    depth = ", ".join(f"{s.queue}: {s.waiting} waiting (oldest {s.oldest_wait_seconds:.0f} s), {s.running} running"
                      for s in stats) or "empty"
    found = [Finding("job queue", True, depth)]
    found.append(Finding("workers", bool(workers), f"{len(workers)} alive: {', '.join(workers)}" if workers
                         else "none alive: start `codemem worker` (jobs wait in the queue until one runs)"))
    return found


def _sandbox(settings: Settings) -> list[Finding]:
    if settings.sandbox == "e2b":
        has_key = bool(os.environ.get("E2B_API_KEY"))
        return [Finding("sandbox", has_key, "E2B" if has_key else "CODEMEM_SANDBOX=e2b needs E2B_API_KEY")]
    if settings.sandbox == "inprocess":
        return [Finding("sandbox", True, "in-process backend: no isolation at all; for tests only "
                        "(set CODEMEM_SANDBOX=subprocess)", warn=True)]
    from sandbox.isolation import plan_isolation

    plan = plan_isolation()
    report = plan.report
    summary = report.summary()
    if plan.cgroups is not None:
        summary += (f"\n  limits per worker: {settings.sandbox_memory_mb} MB of memory (swap included), "
                    f"{settings.sandbox_processes} processes, {settings.sandbox_cpus:g} CPU")
    return [Finding("sandbox", True, summary.replace("\n", "\n      "), warn=not report.complete)]


async def _services(settings: Settings, teams: TeamsSettings) -> list[Finding]:
    checks: list[tuple[str, Callable[[], Awaitable[str]]]] = []
    ca = str(settings.ca_certs) if settings.ca_certs else None
    if settings.slack_bot_token:
        checks.append(("Slack", lambda: _slack(settings)))
    if settings.emulator_url:
        checks.append(("demo workspace", lambda: _reachable(f"{settings.emulator_url.rstrip('/')}/_emulator/mailbox")))
    if settings.microsoft_client_id:
        checks.append(("Microsoft Graph", lambda: _reachable(settings.graph_url, any_status=True, ca_certs=ca)))
    if settings.google_client_id:
        checks.append(("Google", lambda: _reachable(settings.google_token_uri, any_status=True, ca_certs=ca)))
    if teams.enabled and teams.service_url:
        checks.append(("Teams Bot Connector", lambda: _reachable(teams.service_url, any_status=True)))
    found = []
    for area, check in checks:
        try:
            found.append(Finding(area, True, await check()))
        except Exception as error:
            found.append(Finding(area, False, f"{type(error).__name__}: {error}"))
    return found


async def _slack(settings: Settings) -> str:
    from bot.surfaces.slack import web_client

    response = await web_client(settings).auth_test()
    return f"token works: bot {response.get('user')} in {response.get('team')}"


async def _reachable(url: str, *, any_status: bool = False, ca_certs: str | None = None) -> str:
    async with httpx.AsyncClient(timeout=5, verify=ca_certs or True) as client:
        response = await client.get(url)
    if not any_status and response.status_code >= 400:
        raise ConnectionError(f"{url} answered {response.status_code}")
    return f"reachable at {url}"
