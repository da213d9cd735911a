"""The one progress message of a task, edited in place and coalesced to about one edit a second."""

from __future__ import annotations

import time

from bot.core.surface import Surface
from bot.core.views import Progress, ThreadRef


class ProgressMessage:
    """Posts the progress view once, then edits that message; intermediate edits are coalesced."""

    def __init__(self, surface: Surface, thread: ThreadRef, message_id: str | None,
                 min_interval: float = 1.0) -> None:
        self.surface = surface
        self.thread = thread
        self.message_id = message_id
        self.min_interval = min_interval
        self.view = Progress(status="Working…")
        self._shown: Progress | None = None
        self._last_edit = 0.0

    async def show(self, view: Progress, *, force: bool = False) -> None:
        """Show `view`: now if the last edit is old enough (or `force`), else at the next flush."""
        self.view = view
        if force or self.message_id is None or time.monotonic() - self._last_edit >= self.min_interval:
            await self.flush()

    async def flush(self) -> None:
        """Make the message show the latest view."""
        if self.view == self._shown:
            return
        if self.message_id is None:
            self.message_id = await self.surface.post(self.thread, self.view)
        else:
            await self.surface.update(self.thread, self.message_id, self.view)
        self._shown = self.view
        self._last_edit = time.monotonic()
