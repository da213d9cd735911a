"""Shared pieces for the sandbox tests: a recording dispatcher, a small tool catalogue, a session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.session import SubprocessSession

TYPES_SOURCE = '''
@dataclass
class Attachment:
    name: str
    size: int

@dataclass
class MailMessage:
    id: str
    subject: str
    received: datetime
    sender: str | None = None
    attachments: list[Attachment] = field(default_factory=list)

@dataclass
class Row:
    day: date
    amount: float
    note: str = ""
'''

CATALOGUE: dict[str, Any] = {
    "types": TYPES_SOURCE,
    "functions": [
        {
            "name": "outlook_list_messages",
            "signature": "async def outlook_list_messages(received_after: datetime | None = None, limit: int = 100) -> list[MailMessage]",
            "doc": "List messages in the inbox, newest first.",
        },
        {
            "name": "sheets_append_row",
            "signature": "async def sheets_append_row(sheet: str, row: Row) -> dict[str, int]",
            "doc": "Append one row to a sheet.",
        },
        {
            "name": "outlook_send",
            "signature": "async def outlook_send(to: str, subject: str) -> None",
            "doc": "Send a message.",
        },
    ],
}

MESSAGES = [
    {
        "id": "m1",
        "subject": "Invoice March",
        "received": "2024-05-01T10:30:00+00:00",
        "sender": "billing@acme.example",
        "attachments": [{"name": "invoice.pdf", "size": 1200}, {"name": "sheet.xlsx", "size": 800}],
        "extra_field_from_a_newer_api": True,
    },
    {"id": "m2", "subject": "Hello", "received": "2024-05-02T08:00:00+00:00", "sender": None, "attachments": []},
]


class RecordingDispatcher:
    """A dispatcher that records every call and answers from a table of handlers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.handlers: dict[str, Callable[[dict], Awaitable[Any]]] = {
            "outlook_list_messages": self._list_messages,
            "sheets_append_row": self._append_row,
            "outlook_send": self._refuse_send,
        }

    async def __call__(self, name: str, args: dict) -> Any:
        self.calls.append((name, args))
        return await self.handlers[name](args)

    async def _list_messages(self, args: dict) -> Any:
        return MESSAGES[: args["limit"]]

    async def _append_row(self, args: dict) -> Any:
        return {"rows": 1}

    async def _refuse_send(self, args: dict) -> Any:
        raise PermissionError("outlook_send needs a write grant for this thread; ask the user first")


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture
async def session(dispatcher: RecordingDispatcher) -> AsyncIterator[SubprocessSession]:
    async with SubprocessSession(dispatcher) as running:
        yield running


@pytest.fixture
async def tool_session(session: SubprocessSession) -> SubprocessSession:
    await session.define_tools(CATALOGUE)
    return session


async def wait_until(condition: Callable[[], bool], attempts: int = 200) -> bool:
    """Poll ``condition`` (for effects outside our control, like a process disappearing)."""
    for _ in range(attempts):
        if condition():
            return True
        await asyncio.sleep(0.025)
    return condition()


def host_pid(session: SubprocessSession, inner_pid: int) -> int:
    """The host pid of a process that code in ``session`` saw as ``inner_pid`` (they differ in a jail)."""
    assert session._worker is not None
    found = session._worker.host_pid(inner_pid)
    assert found is not None, f"no process {inner_pid} in the session's jail"
    return found


def process_is_running(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
