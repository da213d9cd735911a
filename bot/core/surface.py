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


class Surfaces:
    """The surfaces of this process by platform, for messages that do not answer a request (a
    confirmation DM, a scheduled result)."""

    def __init__(self) -> None:
        self._by_platform: dict[str, Surface] = {}

    def attach(self, platform: str, surface: Surface) -> None:
        self._by_platform[platform] = surface

    def get(self, platform: str) -> Surface:
        try:
            return self._by_platform[platform]
        except KeyError:
            raise LookupError(f"no {platform} surface is running in this process") from None
