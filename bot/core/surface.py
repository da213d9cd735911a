"""The interface every chat surface (Slack, Teams, terminal) implements for the core."""

from __future__ import annotations

from typing import Protocol

from bot.core.views import ThreadRef, View


class Surface(Protocol):
    """Posts and edits views in a thread. Message ids are opaque to the core."""

    async def post(self, thread: ThreadRef, view: View) -> str:
        """Post `view` in `thread`; return the new message's id."""

    async def update(self, thread: ThreadRef, message_id: str, view: View) -> None:
        """Replace the message `message_id` with `view`."""
