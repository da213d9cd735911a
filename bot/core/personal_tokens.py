"""`/skill mcp-token`: personal tokens for MCP clients (Claude, Cursor, VS Code) and scripts using the HTTP API.

A new token is shown once, and only where no one else can read it; it is stored hashed, acts as the user
who made it and sees exactly the skills they could run in chat. `list` shows the user's live tokens (never
the tokens themselves), `revoke ID` ends one at once.
"""

from __future__ import annotations

from bot.core.views import Notice
from skills_db.owner import Owner
from skills_db.personal_tokens import PersonalTokens, TokenLimitReached

USAGE = ("Usage: `/skill mcp-token [label]` (a new token, shown once) · `/skill mcp-token list` · "
         "`/skill mcp-token revoke ID`")
NOT_PRIVATE = ("I only show a new token where no one else can read it: ask me with `/skill mcp-token` in a "
               "direct message with me.")


class TokenCommands:
    """The `/skill mcp-token …` verbs of one user."""

    def __init__(self, tokens: PersonalTokens, public_url: str) -> None:
        self.tokens = tokens
        self.public_url = public_url.rstrip("/")

    def command(self, user: Owner, args: list[str], *, private: bool) -> Notice:
        """Issue (when the answer is `private`: seen by `user` only), list or revoke the user's tokens."""
        action = args[0].lower() if args else ""
        if action == "list":
            return self._list(user)
        if action == "revoke":
            return self._revoke(user, args[1:])
        if action == "help":
            return Notice(USAGE)
        if not private:
            return Notice(NOT_PRIVATE, error=True)
        try:
            info, token = self.tokens.issue(user, " ".join(args))
        except TokenLimitReached as error:
            return Notice(f"{str(error).capitalize()}: `/skill mcp-token list`, then `/skill mcp-token revoke ID`.",
                          error=True)
        return Notice(f"Your personal token {info.id} (shown once, keep it secret — it runs your skills as you):\n"
                      f"`{token}`\nMCP endpoint: {self.public_url}/mcp · HTTP API: {self.public_url}/api "
                      f"(header `Authorization: Bearer <token>`). Revoke it with `/skill mcp-token revoke {info.id}`.")

    def _list(self, user: Owner) -> Notice:
        found = self.tokens.list(user)
        if not found:
            return Notice("You have no personal tokens. `/skill mcp-token` makes one.")
        lines = [f"• {info.id}{f' ({info.label})' if info.label else ''}: made "
                 f"{info.created_at.isoformat(timespec='minutes')}, "
                 + (f"last used {info.last_used_at.isoformat(timespec='minutes')}" if info.last_used_at else "never used")
                 for info in found]
        return Notice("Your personal tokens:\n" + "\n".join(lines) + "\nRevoke one with `/skill mcp-token revoke ID`.")

    def _revoke(self, user: Owner, args: list[str]) -> Notice:
        if len(args) != 1 or not args[0].isdigit():
            return Notice(f"Name the token to revoke by its id (`/skill mcp-token list` shows them). {USAGE}",
                          error=True)
        if not self.tokens.revoke(user, int(args[0])):
            return Notice(f"You have no live token {args[0]}; `/skill mcp-token list` shows yours.", error=True)
        return Notice(f"Revoked token {args[0]}: it no longer works anywhere.")
