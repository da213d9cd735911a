"""Driving the real Teams app as Microsoft Teams does: Activity JSON with a signed Bot Framework JWT, posted to
the messaging endpoint (through an ASGI transport), with the fake Bot Connector as `serviceUrl`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette

from bot.app import CodeMem, open_codemem
from bot.settings import Settings
from bot.surfaces.teams import TeamsBot, build_teams_app
from bot.surfaces.teams_settings import TeamsSettings
from tests.journeys.case_study import SCENARIO, Shown
from tests.teams.fake_connector import FakeBotConnector, PostedActivity, activity

T = TypeVar("T")

APP_ID = "00000000-0000-4000-8000-00000000b07a"
TENANT = "72f988bf-0000-4000-8000-000000000001"
ALICE = "aad-alice-0001"
MALLORY = "aad-mallory-0002"
CHANNEL = "19:general0123456789@thread.tacv2"
GROUP_CHAT = "19:groupchat0123456789@thread.v2"
PERSONAL = "a:1personal-chat-with-alice"
MENTION = "<at>CodeMem</at>"


@dataclass
class TeamsWorld:
    """The Teams app on CodeMem, its HTTP client, and the fake Bot Connector it talks to."""

    codemem: CodeMem
    bot: TeamsBot
    connector: FakeBotConnector
    http: httpx.AsyncClient

    async def post(self, body: dict[str, Any], *, token: str | None = "valid") -> httpx.Response:
        """POST an activity; `token="valid"` signs it as the Bot Framework does, None sends no Authorization."""
        headers = {}
        if token == "valid":
            token = self.connector.sign_inbound(service_url=body["serviceUrl"])
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.post("/api/messages", content=json.dumps(body), headers={
            "Content-Type": "application/json", **headers})

    # --- activities as Teams sends them ----------------------------------------------------------------
    def message(self, user: str, text: str, *, kind: str = "channel", root: str | None = None,
                mention: bool = True, **fields: Any) -> dict[str, Any]:
        message_id = fields.pop("id", str(uuid.uuid4().int)[:13])
        if kind == "channel":
            conversation = {"id": f"{CHANNEL};messageid={root or message_id}", "conversationType": "channel",
                            "tenantId": TENANT, "isGroup": True}
        elif kind == "groupChat":
            conversation = {"id": GROUP_CHAT, "conversationType": "groupChat", "tenantId": TENANT, "isGroup": True}
        else:
            conversation = {"id": PERSONAL, "conversationType": "personal", "tenantId": TENANT}
        entities = []
        if mention:
            text = f"{MENTION} {text}"
            entities = [{"type": "mention", "text": MENTION, "mentioned": {"id": f"28:{APP_ID}", "name": "CodeMem"}}]
        return activity("message", id=message_id, conversation=conversation, sender=_sender(user),
                        service_url=self.connector.url, bot_id=APP_ID, text=text, textFormat="plain",
                        entities=entities, channelData={"tenant": {"id": TENANT}}, **fields)

    def click(self, user: str, posted: PostedActivity, title: str) -> dict[str, Any]:
        """The `adaptiveCard/action` invoke Teams sends when `user` clicks the button `title` on `posted`."""
        button = next(b for b in posted.actions() if b["title"] == title)
        conversation_id = posted.conversation_id
        kind = "channel" if ";messageid=" in conversation_id else (
            "groupChat" if conversation_id == GROUP_CHAT else "personal")
        conversation = {"id": conversation_id, "conversationType": kind, "tenantId": TENANT}
        return activity("invoke", conversation=conversation, sender=_sender(user), service_url=self.connector.url,
                        bot_id=APP_ID, name="adaptiveCard/action", replyToId=posted.id,
                        channelData={"tenant": {"id": TENANT}},
                        value={"action": {"type": "Action.Execute", "verb": button["verb"],
                                          "data": dict(button.get("data") or {})}, "trigger": "manual"})

    async def until(self, probe: Callable[[], T | None], timeout: float = 30, description: str = "") -> T:
        """Wait, letting the bot's background jobs run, until `probe` returns something truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = probe()
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {description or probe}; sent so far:\n" + "\n".join(
            f"{a.conversation_id} {a.id}: {a.text[:400]}" for a in self.connector.activities))


def shown(posted: PostedActivity) -> Shown:
    return Shown(posted.id, posted.text, [b["title"] for b in posted.actions()], posted.edits)


def invoke_text(response: httpx.Response) -> str:
    """What Teams shows the clicker for an `adaptiveCard/action` answer: the message, or the new card's text."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["statusCode"] == 200, body
    return body["value"] if isinstance(body["value"], str) else json.dumps(body["value"], ensure_ascii=False)


def _sender(user: str) -> dict[str, Any]:
    return {"id": f"29:{user}", "aadObjectId": user, "name": user.split("-")[1].title()}


@contextlib.asynccontextmanager
async def teams_world(data_dir: Path, emulator_url: str, connector: FakeBotConnector, *,
                      model: str | None = f"replay:{SCENARIO}", cloud: str = "Public",
                      token: Callable[..., str] | None = None) -> AsyncIterator[TeamsWorld]:
    """CodeMem with the replay model and the Teams app, authentication on, against `connector` (in
    `cloud`, a TEAMS_CLOUD value; `token` replaces the connector's token provider for outbound calls)."""
    settings = Settings(CODEMEM_MODEL=model, CODEMEM_DATA_DIR=data_dir, CODEMEM_EMULATOR_URL=emulator_url)
    teams = TeamsSettings(TEAMS_APP_ID=APP_ID, TEAMS_OPENID_METADATA_URL=connector.openid_metadata_url,
                          TEAMS_CLOUD=cloud)
    async with open_codemem(settings) as codemem:
        bot = await build_teams_app(codemem, teams, token=token or connector.token_provider)
        transport = httpx.ASGITransport(app=Starlette(routes=bot.routes))
        async with httpx.AsyncClient(transport=transport, base_url="http://codemem.test") as http:
            yield TeamsWorld(codemem, bot, connector, http)
