"""One persistent sandbox session per conversation thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bot.runtime.bridge import BridgedSession, HostFunction, ToolBridge
from skills_db.models import Owner

HostFunctions = Callable[[str, Owner, Callable[[], list[str]]], list[HostFunction]]


class ThreadSessions:
    """Keeps each thread's sandbox session alive between code blocks (its variables persist).

    `host_functions(thread_id, owner, current_grants)` gives the functions besides the workspace tools
    that a new session offers (spawn_agent, llm)."""

    def __init__(self, bridge: ToolBridge, host_functions: HostFunctions | None = None) -> None:
        self.bridge = bridge
        self.host_functions = host_functions
        self._sessions: dict[str, BridgedSession] = {}
        self._lock = asyncio.Lock()

    async def get(self, thread_id: str, owner: Owner, tools: Iterable[str], granted: Iterable[str],
                  answers: Mapping[str, dict[str, Any]] | None = None) -> tuple[BridgedSession, bool]:
        """The thread's session with `tools` callable, `granted` effects and the person's `answers` to the
        questions of earlier calls, and whether it was just started (so earlier variables are gone)."""
        async with self._lock:
            session = self._sessions.get(thread_id)
            fresh = session is None or not session.session.alive
            if fresh:
                opened: list[BridgedSession] = []   # the host functions read the session's grants when called
                extra = (self.host_functions(thread_id, owner, lambda: sorted(opened[0].granted))
                         if self.host_functions else [])
                session = await self.bridge.open(owner, granted=(), host_functions=extra, key=thread_id,
                                                 interactive=True)
                opened.append(session)
                self._sessions[thread_id] = session
        session.granted = set(granted)
        session.answers.clear()     # in place: the session's tool context reads this very dict
        session.answers.update(answers or {})
        await session.allow(tools)
        return session, fresh

    async def close(self, thread_id: str) -> None:
        """Stop the thread's session, if it has one (a finished sub-agent's, say)."""
        session = self._sessions.pop(thread_id, None)
        if session is not None:
            await session.close()

    async def close_all(self) -> None:
        """Stop every session (at shutdown)."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(session.close() for session in sessions))
