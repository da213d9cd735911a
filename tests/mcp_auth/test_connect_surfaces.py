"""`/connect NAME` for an MCP server in Slack, Teams and the terminal: a sign-in link to the server's
authorization server; an unknown name says what can be connected; `/disconnect NAME` forgets the tokens."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet

from bot.app import open_codemem
from bot.core.accounts import owner_from_key
from bot.core.views import ConnectLink, Notice, ThreadRef
from bot.settings import Settings
from bot.surfaces.terminal import TerminalSurface
from integrations.mcp.oauth import McpOAuth, OAuthServer
from skills_db.connections import ConnectionStore, TokenCipher
from skills_db.owner import Owner
from tests.agent.conftest import RecordingSurface
from tests.mcp_auth.conftest import CODEMEM_URL, sign_in
from tests.slack.conftest import ALICE as SLACK_ALICE
from tests.slack.conftest import SlackWorld, emulator, fake_slack, world  # noqa: F401  (the Slack world's fixtures)
from tests.teams.driver import ALICE as TEAMS_ALICE
from tests.teams.driver import APP_ID, PERSONAL, teams_world
from tests.teams.fake_connector import FakeBotConnector


def attach_mcp(codemem, emulator_url: str) -> McpOAuth:
    """What the lead's wiring does: the OAuth-protected MCP servers of the registry, here the emulator's Gmail one."""
    store = ConnectionStore(codemem.engine, TokenCipher([Fernet.generate_key().decode()]))
    codemem.connections.mcp = McpOAuth(store, lambda: [OAuthServer("gmail", emulator_url + "/mcp/gmail")],
                                       redirect_base=CODEMEM_URL, owner_of=owner_from_key, on_connected=codemem.connections.confirm)
    return codemem.connections.mcp


async def test_slack_connect_renders_a_link_and_unknown_names_list_the_choices(world: SlackWorld, emulator) -> None:  # noqa: F811
    attach_mcp(world.codemem, emulator.url)
    ack = await world.command(SLACK_ALICE, "gmail", command="/connect")
    button = next(e for b in ack["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert button["text"]["text"] == "Connect gmail" and button["url"].startswith(emulator.url + "/oauth/authorize?")
    assert "resource=" in button["url"] and "code_challenge_method=S256" in button["url"]
    unknown = await world.command(SLACK_ALICE, "dropbox", command="/connect")
    assert "I don't know the provider `dropbox`. You can connect `gmail`." in json.dumps(unknown)
    bye = await world.command(SLACK_ALICE, "gmail", command="/disconnect")
    assert "No gmail account was connected." in json.dumps(bye)


@pytest.fixture
async def teams(tmp_path, emulator):  # noqa: F811
    with FakeBotConnector(app_id=APP_ID) as connector:
        async with teams_world(tmp_path / "data", emulator.url, connector, model=None) as teams:
            yield teams


async def test_teams_connect_renders_a_link_and_unknown_names_list_the_choices(teams, emulator) -> None:  # noqa: F811
    attach_mcp(teams.codemem, emulator.url)
    assert (await teams.post(teams.message(TEAMS_ALICE, "connect gmail", kind="personal", mention=False))).status_code == 200
    card = await teams.until(lambda: teams.connector.find(PERSONAL, "Connect gmail"))
    assert emulator.url + "/oauth/authorize?" in card.text and "Connect your gmail (MCP server) account" in card.text
    assert (await teams.post(teams.message(TEAMS_ALICE, "connect dropbox", kind="personal", mention=False))).status_code == 200
    notice = await teams.until(lambda: teams.connector.find(PERSONAL, "dropbox"))
    assert "You can connect `gmail`" in notice.text


async def test_terminal_connect_renders_a_link_and_the_callback_confirms(tmp_path, emulator) -> None:  # noqa: F811
    async with open_codemem(Settings(data_dir=tmp_path, emulator_url=emulator.url)) as codemem:
        oauth = attach_mcp(codemem, emulator.url)
        dms = RecordingSurface()
        codemem.surfaces.attach("terminal", dms)
        me = Owner("terminal", "local", "me")
        out = io.StringIO()
        surface = TerminalSurface(out)
        await surface.post(ThreadRef("terminal", "local", "me", "t"), await codemem.connections.connect(me, "GMail"))
        assert out.getvalue().startswith(f"Open this link to connect your gmail (MCP server) account: {emulator.url}/oauth/authorize?")
        unknown = await codemem.connections.connect(me, "tickets")
        assert isinstance(unknown, Notice) and unknown.error and "You can connect `gmail`" in unknown.text
        page = await sign_in(oauth, me)
        assert page.status_code == 200
        assert dms.shown(Notice)[-1].text == "Connected your gmail (MCP server) account."
        assert isinstance(await codemem.connections.connect(me, "gmail"), ConnectLink), "connecting again gives a new link"
        assert (await codemem.connections.disconnect(me, "gmail")).text == "Disconnected your gmail account."
