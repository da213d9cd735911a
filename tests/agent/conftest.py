"""An in-process CodeMem driven by a replay model, with a surface that records what a user would see."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import CodeMem, open_codemem
from bot.core.views import ThreadRef, View
from bot.settings import Settings
from integrations.emulator.server import EmulatorServer
from skills_db.models import Owner

ALICE = Owner("slack", "T1", "U_ALICE")
THREAD = ThreadRef("slack", "T1", "C1", "1700000000.000100")


class RecordingSurface:
    """Keeps every message posted and its edits, like a chat client would show them."""

    def __init__(self) -> None:
        self.messages: dict[str, list[View]] = {}

    async def post(self, thread: ThreadRef, view: View) -> str:
        message_id = str(len(self.messages) + 1)
        self.messages[message_id] = [view]
        return message_id

    async def update(self, thread: ThreadRef, message_id: str, view: View) -> None:
        self.messages[message_id].append(view)

    def shown(self, kind: type | None = None) -> list[Any]:
        """The current state of each message, optionally only views of one kind."""
        current = [versions[-1] for versions in self.messages.values()]
        return [v for v in current if kind is None or isinstance(v, kind)]


@pytest.fixture(scope="module")
def emulator():
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def scenario(tmp_path: Path):
    """Write a replay file from a list of turns and return its path."""
    def write(turns: list[dict], name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"turns": turns}, sort_keys=False))
        return path
    return write


@pytest.fixture
def start(tmp_path: Path, emulator: EmulatorServer):
    """`async with start(replay_file) as codemem:` — the whole app in this process; enter it again to
    simulate a restart (same data directory)."""
    @contextlib.asynccontextmanager
    async def run(replay: Path | None) -> AsyncIterator[CodeMem]:
        settings = Settings(model=f"replay:{replay}" if replay else None, data_dir=tmp_path / "data",
                            emulator_url=emulator.url, exec_timeout=20)
        async with open_codemem(settings) as codemem:
            yield codemem
    return run


async def say(codemem: CodeMem, surface: RecordingSurface, text: str, thread: ThreadRef = THREAD,
              user: Owner = ALICE) -> None:
    """The user writes in the thread; returns when the bot has answered."""
    codemem.surfaces.attach(thread.platform, surface)
    await codemem.conversations.on_message(surface, thread, user, text)
    await codemem.jobs.drain()


async def state_of(codemem: CodeMem, thread: ThreadRef = THREAD) -> dict:
    snapshot = await codemem.conversations.graph.aget_state({"configurable": {"thread_id": thread.thread_id}})
    return snapshot.values


def tool_outputs(state: dict, name: str) -> list[str]:
    return [m.text for m in state["messages"] if getattr(m, "name", None) == name and m.type == "tool"]


def call(tool: str, **args: Any) -> dict:
    """A scripted tool call of the assistant."""
    return {"name": tool, "args": args}
