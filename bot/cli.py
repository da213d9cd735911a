"""The `codemem` command."""

from __future__ import annotations

import asyncio
import logging
import secrets

import typer

from bot.settings import Settings

app = typer.Typer(help="CodeMem: a Slack and Teams bot that turns requests into code and code into skills.",
                  no_args_is_help=True, add_completion=False)


def configure_logging(level: int) -> None:
    """Log at `level`, keeping per-request chatter of the HTTP and search libraries out."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "bm25s"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@app.command()
def serve() -> None:
    """Run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on CODEMEM_PORT)."""
    from bot.agent.model import ModelConfigError
    from bot.server import serve as run_server

    settings = Settings()
    missing = settings.missing_for_slack()
    if missing:
        typer.echo("CodeMem cannot connect to Slack yet. Set:\n" + "\n".join(f"  - {name}" for name in missing)
                   + "\nin the environment or in a .env file (see README.md, 'Slack setup'). "
                   "To try CodeMem without Slack, run `codemem chat`.", err=True)
        raise typer.Exit(2)
    configure_logging(logging.INFO)
    try:
        asyncio.run(run_server(settings))
    except ModelConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error


@app.command()
def chat(thread: str = typer.Option(None, help="Continue a conversation by its name.")) -> None:
    """Talk to CodeMem in the terminal, against the built-in demo workspace."""
    from bot.agent.model import ModelConfigError
    from bot.app import open_codemem
    from bot.surfaces.terminal import chat as run_chat

    async def main() -> None:
        async with open_codemem(Settings()) as codemem:
            await run_chat(codemem, thread or f"chat-{secrets.token_hex(4)}")

    configure_logging(logging.WARNING)
    try:
        asyncio.run(main())
    except ModelConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error


@app.command()
def emulator(host: str = "127.0.0.1", port: int = 8765,
             messages: int = typer.Option(60, min=10, max=100_000, help="Mailbox size.")) -> None:
    """Serve the demo workspace (Microsoft Graph mail and OneDrive) for the bot, tests and demos."""
    from integrations.emulator.server import serve_forever

    serve_forever(host, port, messages)
