"""Malformed activities at the Teams endpoint, signed or not: a 400 with one log line, never a 500 with a
traceback, and nothing reaches the bot."""

from __future__ import annotations

import json
import logging

import pytest

from integrations.emulator.server import EmulatorServer
from tests.teams.driver import ALICE, APP_ID, teams_world
from tests.teams.fake_connector import FakeBotConnector


@pytest.fixture
async def world(tmp_path):
    with EmulatorServer() as emulator, FakeBotConnector(app_id=APP_ID) as connector:
        async with teams_world(tmp_path / "data", emulator.url, connector, model=None) as world:
            yield world


def _without(body: dict, *path: str) -> dict:
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    target.pop(path[-1], None)
    return body


def _cases(good: dict) -> dict[str, bytes]:
    invoke = {**good, "type": "invoke", "name": "adaptiveCard/action"}
    return {
        "not JSON": b"{nope",
        "not UTF-8": b'{"type": "message", "text": "\xff"}',
        "100,000-deep JSON": b"[" * 100_000 + b"]" * 100_000,
        "a JSON array": b"[1, 2]",
        "a JSON string": b'"message"',
        "no type": json.dumps(_without(good, "type")).encode(),
        "no from": json.dumps(_without(good, "from")).encode(),
        "no conversation": json.dumps(_without(good, "conversation")).encode(),
        "no tenant": json.dumps(_without(_without(good, "conversation", "tenantId"), "channelData")).encode(),
        "no Azure AD user": json.dumps(_without(good, "from", "aadObjectId")).encode(),
        "an invoke without its value": json.dumps(invoke).encode(),
        "an invoke with a malformed value": json.dumps({**invoke, "value": {"action": 3}}).encode(),
    }


CASES = list(_cases({"type": "message", "from": {}, "conversation": {}}))


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("case", CASES)
async def test_a_malformed_activity_is_a_400_with_one_log_line(world, caplog, case: str, signed: bool) -> None:
    good = world.message(ALICE, "skill list", kind="personal", mention=False)
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["Authorization"] = f"Bearer {world.connector.sign_inbound(service_url=good['serviceUrl'])}"
    with caplog.at_level(logging.INFO):
        response = await world.http.post("/api/messages", content=_cases(good)[case], headers=headers)
    assert response.status_code == 400, response.text
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    refusals = [r.getMessage() for r in caplog.records if "refused a Teams request" in r.getMessage()]
    assert len(refusals) == 1 and "\n" not in refusals[0]
    assert world.connector.activities == []
