"""The one progress message of a task, edited in place and coalesced to about one edit a second."""

from __future__ import annotations

import asyncio
import time

from bot.core.surface import Surface
from bot.core.views import Progress, ThreadRef


class ProgressMessage:
    """Posts the progress view once, then edits that message. Views that arrive faster than
    `min_interval` are coalesced: the latest one is shown when the interval has passed."""

    def __init__(self, surface: Surface, thread: ThreadRef, message_id: str | None,
                 min_interval: float = 1.0, todos: list[dict[str, str]] | None = None) -> None:
        """`todos`: the checklist the message shows already, when it continues a task (after an answer)."""
        self.surface = surface
        self.thread = thread
        self.message_id = message_id
        self.min_interval = min_interval
        self.view = Progress(status="Working…", todos=list(todos or []))
        self._shown: Progress | None = None
        self._last_edit = 0.0
        self._pending: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def show(self, view: Progress, *, force: bool = False) -> None:
        """Show `view` now if the last edit is old enough (or `force`), else as soon as it is."""
        self.view = view
        wait = self._last_edit + self.min_interval - time.monotonic()
        if force or self.message_id is None or wait <= 0:
            await self.flush()
        elif self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._flush_after(wait))

    async def flush(self) -> None:
        """Make the message show the latest view."""
        async with self._lock:
            if self.view == self._shown:
                return
            view = self.view
            if self.message_id is None:
                self.message_id = await self.surface.post(self.thread, view)
            else:
                await self.surface.update(self.thread, self.message_id, view)
            self._shown = view
            self._last_edit = time.monotonic()

    async def _flush_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.flush()
