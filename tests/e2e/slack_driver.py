"""The case-study journey's driver for Slack: signed requests to `codemem serve`, reads from the fake Web API."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.harness import BotProcess
from tests.fakes.slack_api import FakeMessage, FakeSlack
from tests.fakes.slack_signing import signed_block_action, signed_command, signed_event
from tests.journeys.case_study import Shown

SECRET = "e2e-signing-secret"
TEAM, CHANNEL, ALICE, MALLORY = "T0FAKE", "C0GENERAL", "U0ALICE", "U0MALLORY"


def flatten(message: FakeMessage) -> str:
    """A message's text as a reader sees it: the fallback text and every text in its blocks."""
    texts = [message.text]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.blocks)
    return "\n".join(texts).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def buttons(message: FakeMessage) -> list[dict]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def shown(message: FakeMessage) -> Shown:
    return Shown(message.ts, flatten(message), [b["text"]["text"] for b in buttons(message)], message.edits)


class SlackDriver:
    """One channel thread, started by a mention at a fixed ts."""

    owner, other = ALICE, MALLORY

    def __init__(self, slack: FakeSlack, bot: BotProcess, thread_ts: str = "1763700000.000100") -> None:
        self.slack, self.bot, self.thread_ts = slack, bot, thread_ts

    async def ask(self, user: str, text: str) -> None:
        event = {"type": "app_mention", "user": user, "text": f"<@U0BOT> {text}", "channel": CHANNEL,
                 "ts": self.thread_ts}
        assert (await asyncio.to_thread(self.bot.post, signed_event(SECRET, event, TEAM))).status_code == 200

    async def wait_for(self, needle: str, timeout: float = 60) -> Shown:
        return await self._first(lambda: self.slack.messages(CHANNEL, self.thread_ts), needle, timeout)

    async def wait_anywhere(self, needle: str, timeout: float = 60) -> Shown:
        return await self._first(lambda: self.slack.messages(CHANNEL), needle, timeout)

    async def thread(self) -> list[Shown]:
        return [shown(m) for m in self.slack.messages(CHANNEL, self.thread_ts)]

    async def click(self, user: str, message: Shown, button: str) -> str:
        posted = self.slack.message(CHANNEL, message.id)
        target = next(b for b in buttons(posted) if b["text"]["text"] == button)
        before = {m.ts for m in self.slack.messages(CHANNEL)} | {m.ts for m in self.slack.ephemerals()}
        signed = signed_block_action(SECRET, user, CHANNEL, TEAM, message.id, target["action_id"], target["value"],
                                     thread_ts=self.thread_ts)
        assert (await asyncio.to_thread(self.bot.post, signed)).status_code == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:   # what the clicker is told at once, if anything
            told = [m for m in self.slack.messages(CHANNEL) + self.slack.ephemerals() if m.ts not in before
                    and (m.ephemeral_to in (None, user))]
            if told:
                return flatten(told[0])
            await asyncio.sleep(0.05)
        return ""

    async def command(self, user: str, text: str) -> str:
        response = await asyncio.to_thread(self.bot.post, signed_command(SECRET, "/skill", text, user, CHANNEL, TEAM))
        assert response.status_code == 200
        return response.json().get("text", "")

    async def _first(self, messages, needle: str, timeout: float) -> Shown:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((m for m in messages() if needle in flatten(m)), None)
            if found is not None:
                return shown(found)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no message with {needle!r} within {timeout} s; calls: "
                             f"{[c.method for c in self.slack.calls]}")
