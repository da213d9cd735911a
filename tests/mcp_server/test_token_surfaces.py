"""`/skill mcp-token` on Teams (the real Teams app, signed activities): a personal chat shows the token, a channel
never does."""

from __future__ import annotations

import re

import pytest

from integrations.emulator.server import EmulatorServer
from tests.teams.driver import ALICE, APP_ID, CHANNEL, PERSONAL, teams_world
from tests.teams.fake_connector import FakeBotConnector


@pytest.fixture
async def world(tmp_path):
    with EmulatorServer() as emulator, FakeBotConnector(app_id=APP_ID) as connector:
        async with teams_world(tmp_path / "data", emulator.url, connector) as world:
            yield world


async def test_teams_shows_a_new_token_in_a_personal_chat_only(world) -> None:
    connector = world.connector
    assert (await world.post(world.message(ALICE, "skill mcp-token", kind="channel"))).status_code == 200
    refused = await world.until(lambda: next((a for a in connector.activities if a.conversation_id.startswith(CHANNEL)
                                              and "direct message" in a.text), None))
    assert (await world.post(world.message(ALICE, "skill mcp-token", kind="personal", mention=False))).status_code == 200
    shown = await world.until(lambda: connector.find(PERSONAL, "shown once"))
    assert "cm_" not in refused.text
    assert re.search(r"cm_[\w-]{20,}", shown.text)
