"""What CodeMem says about itself when it starts: the surfaces it serves, the model, the sandbox's isolation
and the database, in one short line (never a secret)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.surfaces.slack_install import SlackInstallSettings
    from bot.surfaces.teams_settings import TeamsSettings


def model_summary(model: str | None) -> str:
    """The model CODEMEM_MODEL names, saying when it is a scripted replay or missing."""
    if not model:
        return "none (saved skills run; set CODEMEM_MODEL for new tasks)"
    provider, _, rest = model.partition(":")
    if provider == "replay":
        return f"replay of {Path(rest).name} (scripted turns, not a real model)"
    return model


def sandbox_summary(backend: str) -> str:
    """The sandbox backend and the isolation it achieves on this machine."""
    if backend == "e2b":
        return "e2b (hosted microVMs)"
    if backend == "inprocess":
        return "inprocess (no isolation: tests only)"
    from sandbox.isolation import plan_isolation

    report = plan_isolation().report
    return f"{backend}, isolation {report.level.name.lower()} ({report.level.value}/3)" + (
        "" if report.complete else "; incomplete: see codemem doctor")


def serve_banner(settings: Settings, teams: TeamsSettings, install: SlackInstallSettings, tracing: str) -> str:
    """`codemem serve`'s start line: where it listens and what it serves with (`tracing`: what
    `configure_tracing` said)."""
    public = settings.public_url.rstrip("/")
    if settings.slack_app_token:
        slack = "Socket Mode"
    elif settings.slack_bot_token or install.enabled:
        slack = f"HTTP, POST {public}/slack/events" + (f", installs at {public}{install.install_path}"
                                                       if install.enabled else "")
    else:
        slack = "off"
    teams_line = f"{(teams.public_url or public).rstrip('/')}{teams.endpoint}" if teams.enabled else "off"
    return (f"CodeMem serving on http://{settings.host}:{settings.port}; Slack: {slack}; Teams: {teams_line}; "
            f"model: {model_summary(settings.model)}; sandbox: {sandbox_summary(settings.sandbox)}; "
            f"database: {settings.shown_database_url}; jobs: {settings.jobs}; {tracing}")
