"""`codemem mcp serve --stdio`: the skills MCP server for a local client (Claude Desktop, Cursor, VS Code) that
starts CodeMem as a subprocess. It acts as one user: the owner of the personal token in CODEMEM_MCP_TOKEN, or,
for the operator of this machine, `--as platform:team:user`."""

from __future__ import annotations

import asyncio
import logging
import os

import typer

from bot.settings import Settings

TOKEN_ENV = "CODEMEM_MCP_TOKEN"


def mcp_serve(stdio: bool = typer.Option(False, "--stdio", help="Speak MCP over stdin/stdout (the only transport "
                                                                "here; `codemem serve` serves /mcp over HTTP)."),
              as_user: str = typer.Option(None, "--as", help="Act as this chat user, platform:team:user "
                                                              f"(else the owner of the token in {TOKEN_ENV}).")) -> None:
    """Serve your skills as MCP tools over stdio."""
    if not stdio:
        typer.echo("Add --stdio: `codemem mcp serve --stdio` (over HTTP, `codemem serve` serves /mcp).", err=True)
        raise typer.Exit(2)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if (as_user is None) == (not token):
        typer.echo(f"Say who the tools act as: set {TOKEN_ENV} to a personal token (`/skill mcp-token` in chat), "
                   "or pass --as platform:team:user — one of the two.", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.WARNING)   # stderr: stdout carries the protocol
    from bot.agent.model import ModelConfigError
    from bot.app import SettingsError
    from skills_db.connections import SecretKeyError

    try:
        asyncio.run(_serve(Settings(), as_user, token))
    except (ValueError, ModelConfigError, SecretKeyError, SettingsError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


async def _serve(settings: Settings, as_user: str | None, token: str) -> None:
    from mcp.server.stdio import stdio_server

    from bot.app import open_codemem
    from bot.core.skill_tools import SkillTools
    from bot.surfaces.mcp_server import build_mcp_server
    from skills_db.models import Owner
    from skills_db.personal_tokens import PersonalTokens

    async with open_codemem(settings.model_copy(update={"model": None})) as codemem:
        if as_user is not None:
            platform, _, rest = as_user.partition(":")
            team, _, user = rest.partition(":")
            if not (platform and team and user):
                raise ValueError(f"--as takes platform:team:user, like slack:T0123:U0456, not {as_user!r}")
            owner = Owner(platform, team, user)
        else:
            found = await asyncio.to_thread(PersonalTokens(codemem.engine).resolve, token)
            if found is None:
                raise ValueError(f"{TOKEN_ENV} is not a live personal token: make one with `/skill mcp-token` in chat")
            owner = found
        server = build_mcp_server(SkillTools(codemem.store, codemem.skills.runner), owner)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
