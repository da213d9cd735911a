"""The real bolt app over real HTTP on loopback, the loopback fake Slack Web API, and CodeMem in process.

Requests are signed as Slack signs them; every payload the bot sends to the fake, and every ack it answers
with, is checked against Block Kit's limits (`tests.fakes.block_kit`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from bot.app import CodeMem, open_codemem
from bot.server import http_app
from bot.settings import Settings
from bot.surfaces.slack import build_slack_app
from bot.surfaces.slack_http import http_routes
from bot.surfaces.slack_install import SlackInstallSettings
from integrations.emulator.server import EmulatorServer
from skills_db.models import Owner, Skill
from skills_db.store import SkillStore
from tests.fakes.block_kit import problems
from tests.fakes.slack_api import FakeMessage, FakeSlack
from tests.fakes.slack_signing import (signed_block_action, signed_command, signed_interaction, view_submission)

SECRET = "slack-test-signing-secret"
QUIET_SECONDS = 0.1
TEAM, CHANNEL, ALICE, BOB, MALLORY = "T0FAKE", "C0GENERAL", "U0ALICE", "U0BOB", "U0MALLORY"

ECHO = '''
async def run(days_back: int = 15, folder: str = "Inbox", rows: int = 0) -> dict:
    """Report the window.

    Args:
        days_back: how many days to look back
    """
    print("looking back", days_back)
    if rows:
        return {"count": rows, "items": [{"n": i, "text": "x" * 60} for i in range(rows)]}
    return {"days_back": days_back, "folder": folder}
'''
NEEDS_CUSTOMER = '''
async def run(customer: str, days_back: int = 7) -> dict:
    return {"customer": customer, "days_back": days_back}
'''
FLAKY = '''
async def run() -> dict:
    tries = memory_get("tries", 0) + 1
    memory_set("tries", tries)
    if tries == 1:
        raise RuntimeError("the mailbox is unreachable")
    return {"tries": tries}
'''


def owner(user: str) -> Owner:
    return Owner("slack", TEAM, user)


class SlackWorld:
    """One bot, its fake Slack and its store; helpers speak Slack's wire format to the bot."""

    def __init__(self, slack: FakeSlack, codemem: CodeMem, url: str) -> None:
        self.slack = slack
        self.codemem = codemem
        self.store: SkillStore = codemem.conversations.store
        self.http = httpx.AsyncClient(base_url=url, timeout=30, trust_env=False)
        self.acks: list[dict[str, Any]] = []

    async def post(self, signed: tuple[str, dict[str, str]], path: str = "/slack/events") -> httpx.Response:
        body, headers = signed
        response = await self.http.post(path, content=body, headers=headers)
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            payload = response.json()
            self.acks.append(payload)
            if "response_action" not in payload:
                assert problems(payload) == [], f"the ack breaks Block Kit limits: {problems(payload)}"
        return response

    async def command(self, user: str, text: str, channel: str = CHANNEL, command: str = "/skill") -> dict[str, Any]:
        response = await self.post(signed_command(SECRET, command, text, user, channel, TEAM))
        assert response.status_code == 200, response.text
        await self.settle()
        return response.json() if response.content else {}

    async def click(self, user: str, message: FakeMessage, action_id: str, value: str | None = None) -> None:
        button = next(b for b in buttons(message) if b["action_id"] == action_id)
        response = await self.post(signed_block_action(
            SECRET, user, message.channel, TEAM, message.ts, action_id, value if value is not None else button["value"],
            thread_ts=message.thread_ts, message_text=message.text, message_blocks=message.blocks))
        assert response.status_code == 200, response.text
        await self.settle()

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        response = await self.post(signed_interaction(SECRET, payload))
        assert response.status_code == 200, response.text
        await self.settle()
        return response

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        """Submit the modal `view` (as opened) with `values` by block id; the ack's body ({} when it closed)."""
        typed = {**current_values(view), **values}
        response = await self.interact(view_submission(user, TEAM, view, typed))
        return response.json() if response.content else {}

    async def settle(self) -> None:
        """Wait for the background jobs (runs, previews, proposals) and for the listeners' work after their
        acks (bolt answers Slack first): until no job runs and no Web API call came for a moment."""
        while True:
            await self.codemem.jobs.drain()
            seen = len(self.slack.calls)
            await asyncio.sleep(QUIET_SECONDS)
            if len(self.slack.calls) == seen:
                await self.codemem.jobs.drain()
                return

    def skill(self, user: str, name: str, code: str, description: str = "", active: bool = True) -> Skill:
        skill = self.store.create_draft(owner(user), name, description or f"the {name} skill", code, [])
        return self.store.approve(skill.id, owner(user), 1) if active else skill

    def last_view(self) -> dict[str, Any]:
        opened = [c.params["view"] for c in self.slack.calls if c.method in ("views.open", "views.push")]
        assert opened, "no modal was opened"
        return opened[-1]

    def find(self, needle: str, channel: str | None = None) -> FakeMessage:
        found = [m for m in self.slack.messages(channel) if needle in texts(m)]
        assert found, f"no message with {needle!r}; messages: {[m.text for m in self.slack.messages()]}"
        return found[-1]

    def whispers(self, user: str) -> list[str]:
        """What `user` alone was shown: ephemeral messages and DMs."""
        shown = [texts(m) for m in self.slack.ephemerals() if m.ephemeral_to == user]
        return shown + [texts(m) for m in self.slack.messages(user)]


def texts(message: FakeMessage) -> str:
    return message.text + " " + json.dumps(message.blocks, ensure_ascii=False)


def buttons(message: FakeMessage | dict) -> list[dict]:
    blocks = message.blocks if isinstance(message, FakeMessage) else message.get("blocks", [])
    found = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    return found + [b["accessory"] for b in blocks if b.get("accessory")]


def current_values(view: dict[str, Any]) -> dict[str, str]:
    """The values a modal's inputs start with, by block id."""
    return {b["block_id"]: b["element"].get("initial_value", "") for b in view.get("blocks", [])
            if b["type"] == "input"}


async def serve(app: ASGIApp) -> tuple[uvicorn.Server, asyncio.Task, str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


def settings_for(tmp_path: Path, slack: FakeSlack, emulator: EmulatorServer, **extra: Any) -> Settings:
    values = {"data_dir": tmp_path / "data", "emulator_url": emulator.url, "slack_bot_token": slack.bot_token,
              "slack_signing_secret": SECRET, "slack_api_url": slack.api_url}
    return Settings(**{**values, **extra})


@pytest.fixture(scope="session")
def emulator() -> EmulatorServer:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def fake_slack() -> FakeSlack:
    with FakeSlack(team_id=TEAM) as slack:
        yield slack


@pytest.fixture
async def world(tmp_path: Path, fake_slack: FakeSlack, emulator: EmulatorServer) -> AsyncIterator[SlackWorld]:
    settings = settings_for(tmp_path, fake_slack, emulator)
    async with open_codemem(settings) as codemem:
        app = build_slack_app(codemem, settings, SlackInstallSettings(SLACK_CLIENT_ID=None, SLACK_CLIENT_SECRET=None))
        server, task, url = await serve(http_app(http_routes(app, signing_secret=SECRET)))
        world = SlackWorld(fake_slack, codemem, url)
        try:
            yield world
        finally:
            await world.settle()
            await world.http.aclose()
            server.should_exit = True
            await task
    assert fake_slack.violations == [], f"payloads over Block Kit's limits: {fake_slack.violations}"
