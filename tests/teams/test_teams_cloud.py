"""TEAMS_CLOUD: a bot in a sovereign cloud takes that cloud's tokens and asks for that cloud's scope."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.surfaces.teams import cloud_for
from bot.surfaces.teams_settings import TeamsSettings
from integrations.emulator.server import EmulatorServer
from tests.teams.driver import ALICE, APP_ID, PERSONAL, teams_world
from tests.teams.fake_connector import FakeBotConnector

US_GOV_ISSUER = "https://api.botframework.us"
US_GOV_SCOPE = "https://api.botframework.us/.default"


def test_the_us_government_cloud_has_its_own_login_host_issuer_and_scope() -> None:
    cloud = cloud_for(TeamsSettings(TEAMS_CLOUD="usgov"))
    assert cloud.login_endpoint == "https://login.microsoftonline.us"
    assert cloud.token_issuer == US_GOV_ISSUER
    assert cloud.bot_scope == US_GOV_SCOPE
    assert cloud.openid_metadata_url == "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"
    assert cloud_for(TeamsSettings()).login_endpoint == "https://login.microsoftonline.com"


def test_an_unknown_cloud_is_refused_with_the_names_to_use() -> None:
    with pytest.raises(ValidationError, match="TEAMS_CLOUD must be one of Public, USGov, USGovDoD, China"):
        TeamsSettings(TEAMS_CLOUD="gov")


@pytest.mark.parametrize(("issuer", "accepted"), [(US_GOV_ISSUER, True), ("https://api.botframework.com", False)])
async def test_a_us_government_bot_takes_only_us_government_tokens_and_asks_for_its_scope(
        tmp_path, issuer: str, accepted: bool) -> None:
    scopes: list[str] = []
    with EmulatorServer() as emulator, FakeBotConnector(app_id=APP_ID, issuer=issuer) as connector:
        def token(scope, tenant_id=None) -> str:
            scopes.append(str(scope))
            return connector.token_provider(scope, tenant_id)

        async with teams_world(tmp_path / "data", emulator.url, connector, model=None, cloud="USGov",
                               token=token) as world:
            response = await world.post(world.message(ALICE, "skill list", kind="personal", mention=False))
            if accepted:
                assert response.status_code == 200
                await world.until(lambda: world.connector.find(PERSONAL, "no saved skills"),
                                  description="the skill list in the personal chat")
                assert scopes and set(scopes) == {US_GOV_SCOPE}
            else:
                assert response.status_code == 401
                assert world.connector.activities == []
