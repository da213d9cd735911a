"""Which MCP servers CodeMem uses: those an admin registered (`codemem mcp add`, kept in the database) and those
in the CODEMEM_MCP_SERVERS configuration, and the McpTools that index their tools.

CODEMEM_MCP_SERVERS is inline JSON or the path of a .json or .toml file, mapping names to servers:

    {"tickets": {"url": "https://tickets.example.com/mcp", "auth": "bearer", "token_env": "TICKETS_TOKEN",
                 "trusted": true}}

`auth` is none (default), bearer (the token is read from the environment variable `token_env`) or oauth; a
name in both places is taken from the configuration.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from integrations.mcp.catalog import McpTools
from integrations.mcp.client import McpServerConfig
from integrations.mcp.credentials import McpCredentials, StaticBearer
from integrations.mcp.naming import server_name_problem
from integrations.registry import Registry
from skills_db.connections import SecretKeyError, TokenCipher
from skills_db.mcp_servers import AUTH_KINDS, McpServerStore


class McpConfigError(ValueError):
    """CODEMEM_MCP_SERVERS (or a server given to `codemem mcp add`) is not usable; the message says why."""


@dataclass(frozen=True)
class ServerEntry:
    """A server and where it came from ("database" or "configuration"), with its bearer token if it has one."""

    server: McpServerConfig
    token: str | None
    source: str


def parse_servers(value: str | None, environ: dict[str, str] | None = None) -> list[ServerEntry]:
    """The servers of a CODEMEM_MCP_SERVERS value (see the module docstring)."""
    if not value or not value.strip():
        return []
    env = os.environ if environ is None else environ
    text = value.strip()
    if text.startswith("{"):
        data = _loads(json.loads, text, "CODEMEM_MCP_SERVERS (inline JSON)")
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise McpConfigError(f"CODEMEM_MCP_SERVERS names {path}, which is not a file: give inline JSON or the "
                                 "path of a .json or .toml file")
        parse = tomllib.loads if path.suffix == ".toml" else json.loads
        data = _loads(parse, path.read_text(encoding="utf-8"), str(path))
    if not isinstance(data, dict):
        raise McpConfigError("CODEMEM_MCP_SERVERS must map server names to {\"url\": …} objects")
    entries = []
    for name, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
            raise McpConfigError(f"CODEMEM_MCP_SERVERS: server {name!r} needs a \"url\" (text)")
        unknown = set(spec) - {"url", "auth", "trusted", "token_env"}
        if unknown:
            raise McpConfigError(f"CODEMEM_MCP_SERVERS: server {name!r} has unknown keys {', '.join(sorted(unknown))}"
                                 " (allowed: url, auth, trusted, token_env)")
        auth, token = spec.get("auth", "none"), None
        if auth == "bearer":
            variable = spec.get("token_env")
            token = env.get(variable) if isinstance(variable, str) else None
            if not token:
                raise McpConfigError(f"CODEMEM_MCP_SERVERS: server {name!r} uses bearer auth: set \"token_env\" to "
                                     "the name of an environment variable holding its token, and that variable")
        entries.append(ServerEntry(server_config(name, spec["url"], auth, bool(spec.get("trusted", False))), token,
                                   "configuration"))
    return entries


def server_config(name: str, url: str, auth: str, trusted: bool) -> McpServerConfig:
    """A checked server: McpConfigError saying what is wrong with the name, URL or auth kind."""
    problem = server_name_problem(name)
    if problem:
        raise McpConfigError(problem)
    if not url.startswith(("http://", "https://")):
        raise McpConfigError(f"the URL of MCP server {name} must start with http:// or https://, not {url!r}")
    if auth not in AUTH_KINDS:
        raise McpConfigError(f"MCP server {name}: --auth must be one of {', '.join(AUTH_KINDS)}, not {auth!r}")
    return McpServerConfig(name, url, auth, trusted)   # type: ignore[arg-type]


def all_servers(configured: str | None, engine: Engine, cipher: TokenCipher | None) -> list[ServerEntry]:
    """The registered servers, then the configured ones (a configured name replaces a registered one)."""
    entries = {r.name: ServerEntry(McpServerConfig(r.name, r.url, r.auth, r.trusted), r.token, "database")   # type: ignore[arg-type]
               for r in McpServerStore(engine, cipher).list()}
    entries.update({e.server.name: e for e in parse_servers(configured)})
    return list(entries.values())


def build_mcp_tools(entries: list[ServerEntry], registry: Registry, *, oauth: McpCredentials | None = None,
                    timeout: float = 30.0) -> McpTools:
    """McpTools for `entries`: bearer servers send their own token, oauth servers each user's (from `oauth`)."""
    sources: dict[str, McpCredentials] = {"bearer": StaticBearer({e.server.name: e.token for e in entries if e.token})}
    if oauth is not None:
        sources["oauth"] = oauth
    return McpTools(registry, [e.server for e in entries], sources, timeout=timeout)


def cipher_or_none() -> TokenCipher | None:
    """The secret keys' cipher when CODEMEM_SECRET_KEYS (or CODEMEM_SECRET_KEY) is set."""
    try:
        return TokenCipher.from_environment()
    except SecretKeyError:   # no keys: servers without stored tokens still work
        return None


def _loads(parse: Any, text: str, where: str) -> Any:
    try:
        return parse(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise McpConfigError(f"{where} is not valid: {error}") from None
