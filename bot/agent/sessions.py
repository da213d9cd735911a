"""One persistent sandbox session per conversation thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.runtime.bridge import BridgedSession, ToolBridge
from skills_db.models import Owner


class ThreadSessions:
    """Keeps each thread's sandbox session alive between code blocks (its variables persist)."""

    def __init__(self, bridge: ToolBridge) -> None:
        self.bridge = bridge
        self._sessions: dict[str, BridgedSession] = {}
        self._lock = asyncio.Lock()

    async def get(self, thread_id: str, owner: Owner, tools: Iterable[str],
                  granted: Iterable[str]) -> tuple[BridgedSession, bool]:
        """The thread's session with `tools` callable and `granted` effects, and whether it was just started
        (so earlier variables are gone)."""
        async with self._lock:
            session = self._sessions.get(thread_id)
            fresh = session is None or not session.session.alive
            if fresh:
                session = await self.bridge.open(owner, granted=())
                self._sessions[thread_id] = session
        session.granted = set(granted)
        await session.allow(tools)
        return session, fresh

    async def close_all(self) -> None:
        """Stop every session (at shutdown)."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(session.close() for session in sessions))
