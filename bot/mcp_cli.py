"""`codemem mcp add|list|remove`: the MCP servers whose tools the agent may use (kept in the database)."""

from __future__ import annotations

import asyncio
import getpass
import os
from typing import TYPE_CHECKING

import typer

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.mcp_servers import ServerEntry

mcp_cli = typer.Typer(help="MCP servers: their tools become functions the agent can find, load and call.",
                      no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


def _engine(settings: Settings):   # noqa: ANN202 - an Engine; imported late to keep `codemem --help` fast
    from skills_db.db import init_db, make_engine

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    return engine


@mcp_cli.command("add")
def add(name: str = typer.Argument(..., help="Lower-case name; its tools are offered as NAME__tool."),
        url: str = typer.Argument(..., help="The server's Streamable HTTP endpoint, e.g. https://host/mcp"),
        auth: str = typer.Option("none", help="none, bearer (an admin's token, for everyone) or oauth "
                                              "(each user runs /connect NAME)."),
        trusted: bool = typer.Option(False, "--trusted", help="Believe the tools' readOnlyHint/destructiveHint "
                                                              "(else every tool counts as a write)."),
        token_env: str = typer.Option(None, help="For --auth bearer: the environment variable holding the token.")) -> None:
    """Register an MCP server (or replace the one of that name)."""
    from bot.mcp_servers import McpConfigError, cipher_or_none, server_config
    from skills_db.mcp_servers import McpServerStore

    try:
        server = server_config(name, url, auth, trusted)
    except McpConfigError as error:
        raise _fail(str(error)) from None
    token = None
    if auth == "bearer":
        token = os.environ.get(token_env) if token_env else None
        if not token:
            raise _fail(f"--auth bearer needs the token in an environment variable: --token-env VAR "
                        f"({'VAR ' + token_env + ' is empty' if token_env else 'none given'})")
    elif token_env:
        raise _fail("--token-env is only for --auth bearer")
    cipher = cipher_or_none()
    if token is not None and cipher is None:
        raise _fail("storing a bearer token needs CODEMEM_SECRET_KEYS (make a key with: python -c 'from "
                    "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')")
    McpServerStore(_engine(Settings()), cipher).add(server.name, server.url, auth=auth, trusted=trusted, token=token,
                                                    added_by=f"cli:{getpass.getuser()}")
    typer.echo(f"Registered the MCP server {name} at {url} (auth {auth}, {'trusted' if trusted else 'untrusted'})."
               + (f" Each user connects with /connect {name}." if auth == "oauth" else ""))


@mcp_cli.command("list")
def list_servers() -> None:
    """The MCP servers, whether each answers, and how many tools it offers."""
    from bot.mcp_servers import McpConfigError, all_servers, cipher_or_none

    settings = Settings()
    try:
        entries = all_servers(settings.mcp_servers, _engine(settings), cipher_or_none())
    except (McpConfigError, ValueError) as error:
        raise _fail(str(error)) from None
    if not entries:
        typer.echo("No MCP servers. Add one with `codemem mcp add NAME URL`.")
        return
    for entry, status in zip(entries, asyncio.run(probe_all(entries, settings.mcp_timeout))):
        server = entry.server
        typer.echo(f"{server.name}  {server.url}  auth={server.auth}  "
                   f"{'trusted' if server.trusted else 'untrusted'}  ({entry.source})  {status}")


@mcp_cli.command("remove")
def remove(name: str = typer.Argument(..., help="The server's name.")) -> None:
    """Forget a registered MCP server; skills that use its tools then fail, saying so."""
    from skills_db.mcp_servers import McpServerStore

    if not McpServerStore(_engine(Settings())).remove(name):
        raise _fail(f"there is no registered MCP server named {name!r}; `codemem mcp list` shows them")
    typer.echo(f"Removed the MCP server {name}.")


async def probe(entry: ServerEntry, timeout: float) -> tuple[bool, str]:
    """Whether the server answers a tools/list, and what to say about it."""
    from integrations.errors import ToolError
    from integrations.mcp.client import McpClient
    from integrations.mcp.credentials import StaticBearer

    if entry.server.auth == "oauth":
        return True, "oauth: listed with each user's token once they connect"
    credentials = StaticBearer({entry.server.name: entry.token}) if entry.token else None
    client = McpClient(entry.server, credentials, timeout=timeout)
    try:
        tools = await client.list_tools()
    except ToolError as error:
        return False, f"does not answer: {error}"
    finally:
        await client.aclose()
    return True, f"answers ({client.protocol_version}), {len(tools)} tools"


async def probe_all(entries: list[ServerEntry], timeout: float) -> list[str]:
    results = await asyncio.gather(*(probe(entry, timeout) for entry in entries))
    return [text for _, text in results]
