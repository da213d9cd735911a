"""Where the bearer token of a user's call to an MCP server comes from.

A server registered with `--auth none` gets no Authorization header, `bearer` gets the token the admin gave
(the same for every user), `oauth` gets the user's own token (integrations/mcp/oauth.py). CodeMem's own
tokens and the chat platforms' tokens are never sent: they are not in any of these sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from integrations.errors import ToolError


class McpCredentials(Protocol):
    """A token source: the bearer token of `user_key` ("platform:team:user") for `server`, or None when that
    user has not connected to it."""

    async def bearer(self, user_key: str, server: str) -> str | None: ...


class StaticBearer:
    """Admin-given tokens, one per server (decrypted from the server registry), the same for every user."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = dict(tokens)

    async def bearer(self, user_key: str, server: str) -> str | None:
        return self._tokens.get(server)


async def token_for(credentials: McpCredentials | None, auth: str, user_key: str, server: str) -> str | None:
    """The token to send for this call: None for a `none` server; a ToolError saying how to connect when the
    user has no token for a server that needs one."""
    if auth == "none":
        return None
    token = await credentials.bearer(user_key, server) if credentials is not None else None
    if not token:
        if auth == "bearer":
            raise ToolError(f"the MCP server {server} has no token configured: an admin must run "
                            f"`codemem mcp add {server} URL --auth bearer --token-env VAR` again",
                            code=f"reconnect:{server}")
        raise ToolError(f"the MCP server {server} is not connected: run /connect {server}", code=f"reconnect:{server}")
    return token
