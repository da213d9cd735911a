"""The `codemem` command."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import typer

from bot.db_cli import db_cli
from bot.extras import MissingExtra
from bot.mcp_cli import mcp_cli
from bot.mcp_stdio_cli import mcp_serve
from bot.settings import Settings
from bot.skill_cli import skill_cli

app = typer.Typer(help="CodeMem: a Slack and Teams bot that turns requests into code and code into skills.",
                  no_args_is_help=True)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"codemem {importlib.metadata.version('codemem')}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """CodeMem: a Slack and Teams bot that turns requests into code and code into skills."""


def configure_logging(level: int, settings: Settings | None = None) -> None:
    """Log at `level` as CODEMEM_LOG_FORMAT says (by default readable lines on a terminal, else JSON lines),
    with thread and run ids."""
    from bot.observability import configure_logging as configure

    log_format = (settings or Settings()).log_format
    configure(level, json=None if log_format is None else log_format == "json")


@contextlib.contextmanager
def explained_errors(*also: type[Exception]) -> Iterator[None]:
    """Misconfiguration found while starting (and the errors in `also`): one line on stderr per problem,
    naming the setting and the fix, and exit status 2; never a traceback."""
    try:
        yield
    except Exception as error:
        from pydantic import ValidationError

        from bot.agent.model import ModelConfigError
        from bot.app import SettingsError
        from bot.settings import settings_problem
        from skills_db.connections import SecretKeyError

        if isinstance(error, ValidationError) and error.title.endswith("Settings"):   # Settings, TeamsSettings…
            typer.echo(settings_problem(error), err=True)
        elif isinstance(error, (ModelConfigError, SecretKeyError, SettingsError, MissingExtra, *also)):
            typer.echo(str(error), err=True)
        else:
            raise
        raise typer.Exit(2) from None


@app.command()
def serve(host: str = typer.Option(None, help="The address to listen on (default: CODEMEM_HOST, else 0.0.0.0)."),
          port: int = typer.Option(None, min=0, max=65535,
                                   help="The port; 0 picks a free one (default: CODEMEM_PORT, else 3000)."),
          keep_running: bool = typer.Option(False, "--keep-running",
                                            help="Without Slack or Teams settings, keep serving /healthz and /readyz "
                                                 "(not ready: it says what to set) instead of exiting; for containers "
                                                 "under a restart policy.")) -> None:
    """Run the bot for Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP) and Teams, on CODEMEM_HOST:CODEMEM_PORT."""
    from bot.surfaces.slack_install import SlackInstallSettings
    from bot.surfaces.teams_settings import TeamsSettings

    with explained_errors():
        settings, teams, install = Settings(), TeamsSettings(), SlackInstallSettings()
    settings = settings.model_copy(update={name: value for name, value in (("host", host), ("port", port))
                                           if value is not None})
    slack_missing = settings.missing_for_slack(oauth_install=install.enabled)
    teams_missing = teams.missing_for_teams() if teams.app_id else []
    if (slack_missing and not teams.enabled) or teams_missing:
        lines = ([f"  - {name}" for name in slack_missing] if not teams.enabled else []) + [
            f"  - {name} (Teams)" for name in teams_missing]
        message = ("CodeMem cannot connect to Slack or Teams yet. Set:\n" + "\n".join(lines)
                   + "\nin the environment or in a .env file (see README.md, 'Slack setup' and 'Teams setup'). "
                   "To try CodeMem without either, run `codemem chat`.")
        typer.echo(message, err=True)
        if not keep_running:
            raise typer.Exit(2)
        from bot.server import serve_unconfigured

        configure_logging(logging.INFO, settings)
        asyncio.run(serve_unconfigured(settings, " ".join(message.split())))
        return
    configure_logging(logging.INFO, settings)
    from bot.server import serve as run_server

    with explained_errors():
        asyncio.run(run_server(settings, teams))


@app.command()
def worker() -> None:
    """Run queued jobs (agent turns, skill runs) and the schedules: CODEMEM_JOBS=procrastinate, PostgreSQL."""
    from bot.runtime.worker import WorkerConfigError, run_worker
    from bot.surfaces.teams_settings import TeamsSettings

    with explained_errors(WorkerConfigError):
        settings, teams = Settings(), TeamsSettings()
        configure_logging(logging.INFO, settings)
        asyncio.run(run_worker(settings, teams))


@app.command()
def doctor() -> None:
    """Check the configuration, the database and job queue, the sandbox's isolation and each connected
    service; say what to fix (exit code 1 when something must be)."""
    from pydantic import ValidationError

    from bot.runtime.doctor import Finding, diagnose
    from bot.settings import settings_problem
    from bot.surfaces.teams_settings import TeamsSettings

    try:
        settings, teams = Settings(), TeamsSettings()
    except ValidationError as error:   # the checks need valid settings: these come first
        findings = [Finding("settings", False, line) for line in settings_problem(error).splitlines()]
    else:
        findings = asyncio.run(diagnose(settings, teams))
    for finding in findings:
        typer.echo(finding.line())
    if not all(finding.ok for finding in findings):
        raise typer.Exit(1)


@app.command()
def chat(thread: str = typer.Option(None, help="Continue a conversation by its name.")) -> None:
    """Talk to CodeMem in the terminal, against the built-in demo workspace."""
    from bot.app import open_codemem
    from bot.surfaces.terminal import chat as run_chat

    async def main(settings: Settings) -> None:
        async with open_codemem(settings) as codemem:
            await run_chat(codemem, thread or f"chat-{secrets.token_hex(4)}", model=settings.model,
                           history=settings.data_dir / "chat_history")

    with explained_errors():
        settings = Settings()
        configure_logging(logging.WARNING, settings)
        try:
            asyncio.run(main(settings))
        except KeyboardInterrupt:   # Ctrl-C while a task ran: it was stopped, the conversation is kept
            raise typer.Exit(130) from None


app.add_typer(db_cli, name="db")
app.add_typer(skill_cli, name="skill")
mcp_cli.command("serve")(mcp_serve)   # the skills MCP server over stdio (bot/mcp_stdio_cli.py)
app.add_typer(mcp_cli, name="mcp")

teams_cli = typer.Typer(help="Microsoft Teams: the app package.", no_args_is_help=True)
app.add_typer(teams_cli, name="teams")


@teams_cli.command("package")
def teams_package(out: Path = typer.Option(Path("codemem-teams.zip"), help="Where to write the zip.")) -> None:
    """Build the Teams app package (manifest.json and icons, zipped) to upload in Teams."""
    from bot.surfaces.teams_package import TeamsPackageError, write_package
    from bot.surfaces.teams_settings import TeamsSettings

    with explained_errors(TeamsPackageError):
        path = write_package(TeamsSettings(), out)
    typer.echo(f"Wrote {path}: upload it in Teams (Apps → Manage your apps → Upload an app).")


@app.command()
def emulator(host: str = "127.0.0.1", port: int = 8765,
             messages: int = typer.Option(60, min=10, max=100_000, help="Mailbox size.")) -> None:
    """Serve the demo workspace (Microsoft Graph mail and OneDrive) for the bot, tests and demos."""
    from integrations.emulator.server import serve_forever

    serve_forever(host, port, messages)
