"""With authentication on, the real Teams app accepts only activities signed as the Bot Framework signs them."""

from __future__ import annotations

import time

import pytest

from integrations.emulator.server import EmulatorServer
from tests.teams.driver import ALICE, APP_ID, PERSONAL, teams_world
from tests.teams.fake_connector import FakeBotConnector, new_key


@pytest.fixture
async def world(tmp_path):
    with EmulatorServer() as emulator, FakeBotConnector(app_id=APP_ID) as connector:
        async with teams_world(tmp_path / "data", emulator.url, connector, model=None) as world:
            yield world


async def test_a_signed_activity_is_answered(world) -> None:
    response = await world.post(world.message(ALICE, "skill list", kind="personal", mention=False))
    assert response.status_code == 200
    listing = world.connector.find(PERSONAL, "no saved skills")
    assert listing is not None, world.connector.activities
    assert world.connector.unauthorized_calls == 0 and world.connector.card_errors == []


@pytest.mark.parametrize("forgery", ["unsigned", "other-key", "wrong-audience", "wrong-issuer", "expired",
                                     "other-service-url", "garbage"])
async def test_a_forged_activity_is_rejected_and_never_reaches_the_bot(world, forgery: str) -> None:
    body = world.message(ALICE, "skill list", kind="personal", mention=False)
    sign = world.connector.sign_inbound
    token = {
        "unsigned": None,
        "other-key": sign(key=new_key()),
        "wrong-audience": sign(aud="someone-elses-bot"),
        "wrong-issuer": sign(iss="https://evil.example.com"),
        "expired": sign(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200),
        "other-service-url": sign(service_url="https://smba.trafficmanager.net/amer/"),
        "garbage": "not.a.jwt",
    }[forgery]
    response = await world.post(body, token=token)
    assert response.status_code == 401
    assert world.connector.activities == []
