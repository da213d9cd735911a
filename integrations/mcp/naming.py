"""Names of MCP tools as Python functions: `SERVER__tool`, at most 64 characters, never two alike."""

from __future__ import annotations

import hashlib
import re

MAX_FUNCTION_NAME = 64          # OpenAI's cap on tool names; the strictest of the model providers
SERVER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")


def server_name_problem(name: str) -> str | None:
    """Why `name` cannot name an MCP server, or None when it can."""
    if not SERVER_NAME.match(name) or "__" in name or name.endswith("_"):
        return (f"MCP server name {name!r} is not allowed: use 1-32 lower-case letters, digits and single "
                "underscores, starting with a letter (e.g. tickets, google_drive)")
    return None


def function_name(server: str, tool: str) -> str:
    """The function a tool of `server` is offered as.

    A tool name that is already a Python identifier and fits is kept: `tickets__close_ticket`. Any other
    (characters such as `-` or `.`, or too long) is mapped (`_` for each such character, cut to fit) and
    suffixed with a hash of the original name, so two tools never map to the same function.
    """
    plain = f"{server}__{tool}"
    if plain.isidentifier() and len(plain) <= MAX_FUNCTION_NAME:
        return plain
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
    mapped = f"{server}__{_NOT_IDENTIFIER.sub('_', tool)}"
    return f"{mapped[:MAX_FUNCTION_NAME - 10]}_h{digest}"


def server_of(function: str) -> str | None:
    """The server part of an MCP function name (`tickets` of `tickets__close_ticket`), or None."""
    server, separator, _ = function.partition("__")
    return server if separator and SERVER_NAME.match(server) else None
