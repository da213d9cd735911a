"""The journeys through the real Teams app: signed Activity JSON in, the fake Bot Connector out, the replay
model's code run in the sandbox against the emulator. Every card the bot sends is checked against the
Adaptive Card 1.5 schema by the fake connector."""

from __future__ import annotations

import pytest

from integrations.emulator.server import EmulatorServer
from skills_db.models import Owner
from tests.journeys.case_study import REQUEST, SKILL, Shown, case_study, drive_files, expected_files
from tests.teams.driver import (ALICE, APP_ID, CHANNEL, GROUP_CHAT, MALLORY, PERSONAL, TENANT, TeamsWorld, invoke_text,
                                shown, teams_world)
from tests.teams.fake_connector import FakeBotConnector, PostedActivity

ROOT = "1763700000100"


@pytest.fixture
async def world(tmp_path):
    with EmulatorServer() as emulator, FakeBotConnector(app_id=APP_ID) as connector:
        async with teams_world(tmp_path / "data", emulator.url, connector) as world:
            world.emulator_url = emulator.url
            yield world
            assert connector.card_errors == [], "every card must follow the Adaptive Card 1.5 schema"
            assert connector.unauthorized_calls == 0


class TeamsDriver:
    """The case study's driver for Teams: a channel thread rooted at ROOT."""

    owner, other = ALICE, MALLORY

    def __init__(self, world: TeamsWorld) -> None:
        self.world = world
        self.conversation = f"{CHANNEL};messageid={ROOT}"

    async def ask(self, user: str, text: str) -> None:
        response = await self.world.post(self.world.message(user, text, id=ROOT))
        assert response.status_code == 200, response.text

    async def wait_for(self, needle: str, timeout: float = 60) -> Shown:
        found = await self.world.until(lambda: self.world.connector.find(self.conversation, needle), timeout, needle)
        return shown(found)

    async def thread(self) -> list[Shown]:
        return [shown(a) for a in self.world.connector.in_conversation(self.conversation)]

    async def click(self, user: str, message: Shown, button: str) -> str:
        posted = self._posted(message)
        return invoke_text(await self.world.post(self.world.click(user, posted, button)))

    async def command(self, user: str, text: str) -> str:
        before = len(self.world.connector.in_conversation(self.conversation))
        response = await self.world.post(self.world.message(user, f"skill {text}", root=ROOT))
        assert response.status_code == 200
        posted = await self.world.until(lambda: self.world.connector.in_conversation(self.conversation)[before:])
        return posted[0].text

    async def wait_anywhere(self, needle: str, timeout: float = 60) -> Shown:
        found = await self.world.until(lambda: next((a for a in self.world.connector.activities if needle in a.text),
                                                    None), timeout, needle)
        return shown(found)

    def _posted(self, message: Shown) -> PostedActivity:
        return next(a for a in self.world.connector.activities if a.id == message.id)


async def test_case_study_in_a_channel_thread(world) -> None:
    await case_study(TeamsDriver(world), world.emulator_url)
    store = world.codemem.skills.store
    skill, version = store.find_active(Owner("teams", TENANT, ALICE), SKILL)
    assert version.version == 1
    assert [(r.status, r.parameters["days_back"], r.trigger) for r in store.runs(skill.id)] == [
        ("succeeded", 30, "command")]


async def test_choices_belong_to_the_requester_and_count_once(world) -> None:
    connector, conversation = world.connector, f"{CHANNEL};messageid={ROOT}"
    assert (await world.post(world.message(ALICE, REQUEST, id=ROOT))).status_code == 200
    question = await world.until(lambda: connector.find(conversation, "Shall I go ahead?"))

    told = invoke_text(await world.post(world.click(MALLORY, question, "Yes, go ahead")))
    assert "Only the person who asked" in told

    first = invoke_text(await world.post(world.click(ALICE, question, "Yes, go ahead")))
    again = invoke_text(await world.post(world.click(ALICE, question, "Yes, go ahead")))
    assert "Yes, go ahead" in first and "Action.Execute" not in first   # the card shows the answer, no buttons
    assert "already answered" in again   # a second click is told so, privately, and does nothing
    await world.until(lambda: connector.find(conversation, "Save as skill"), 90)
    await world.codemem.jobs.drain()
    assert len([a for a in connector.in_conversation(conversation) if "Save as skill" in a.text]) == 1
    assert drive_files(world.emulator_url) == expected_files(world.emulator_url, 15)


async def test_a_redelivered_message_runs_once(world) -> None:
    body = world.message(ALICE, "skill list", kind="personal", mention=False)
    assert (await world.post(body)).status_code == 200
    assert (await world.post(body)).status_code == 200
    assert len(world.connector.in_conversation(PERSONAL)) == 1


async def test_group_chat_members_each_get_their_own_task(world) -> None:
    connector = world.connector
    assert (await world.post(world.message(ALICE, REQUEST, kind="groupChat"))).status_code == 200
    alice_question = await world.until(lambda: connector.find(GROUP_CHAT, "Shall I go ahead?"))
    assert (await world.post(world.message(MALLORY, "skill list", kind="groupChat"))).status_code == 200
    await world.until(lambda: connector.find(GROUP_CHAT, "no saved skills"))
    # Mallory cannot answer Alice's question, even from the same chat; Alice can.
    assert "Only the person who asked" in invoke_text(await world.post(world.click(MALLORY, alice_question,
                                                                                   "Yes, go ahead")))
    invoke_text(await world.post(world.click(ALICE, alice_question, "Yes, go ahead")))
    await world.until(lambda: connector.find(GROUP_CHAT, "Save as skill"), 90)
    assert all(a.conversation_id == GROUP_CHAT for a in connector.activities)   # group chats have no threads


async def test_run_button_opens_a_form_and_the_form_runs_the_skill(world) -> None:
    connector, conversation = world.connector, f"{CHANNEL};messageid={ROOT}"
    assert (await world.post(world.message(ALICE, REQUEST, id=ROOT))).status_code == 200
    question = await world.until(lambda: connector.find(conversation, "Shall I go ahead?"))
    invoke_text(await world.post(world.click(ALICE, question, "Yes, go ahead")))
    answer = await world.until(lambda: connector.find(conversation, "Save as skill"), 90)
    invoke_text(await world.post(world.click(ALICE, answer, f"Save as skill: {SKILL}")))

    assert (await world.post(world.message(ALICE, "skill list", kind="personal", mention=False))).status_code == 200
    listing = await world.until(lambda: connector.find(PERSONAL, SKILL))
    told = invoke_text(await world.post(world.click(ALICE, listing, "Run")))
    assert "Fill in the parameters" in told
    form = await world.until(lambda: connector.find(PERSONAL, "Input.Number"))
    inputs = {e["id"]: e.get("value") for e in _elements(form.cards[0]) if e["type"].startswith("Input.")}
    assert inputs["param_days_back"] == 15 and inputs["param_extensions"] == "pdf,xlsx"

    submit = world.click(ALICE, form, "Run")
    submit["value"]["action"]["data"] |= {"param_days_back": "30", "param_extensions": "pdf,xlsx",
                                          "param_own_domain": "contoso.com", "param_root_folder": ""}
    told = invoke_text(await world.post(submit))
    assert f"Running `{SKILL}`" in told and "days_back=30" in told
    await world.until(lambda: connector.find(PERSONAL, "finished in"), 60)
    assert drive_files(world.emulator_url) == expected_files(world.emulator_url, 30)


def _elements(card: dict) -> list[dict]:
    return list(card.get("body", []))


async def test_delete_asks_with_a_button_that_only_the_owner_can_use(world) -> None:
    store, alice = world.codemem.store, Owner("teams", TENANT, ALICE)
    draft = store.create_draft(alice, "echo", "the echo skill", "async def run() -> dict:\n    return {}\n", [])
    store.approve(draft.id, alice, 1)
    command = world.message(ALICE, "skill delete echo", kind="personal", mention=False)
    assert (await world.post(command)).status_code == 200
    asked = await world.until(lambda: world.connector.find(PERSONAL, "Delete `echo`?"))
    assert "This also deletes 1 version and 0 recorded runs. It cannot be undone." in asked.text
    assert store.list_skills(alice) != [], "nothing is deleted before the click"
    assert "That is not yours to use" in invoke_text(await world.post(world.click(MALLORY, asked, "Delete")))
    assert store.list_skills(alice) != []
    told = invoke_text(await world.post(world.click(ALICE, asked, "Delete")))
    assert told == "Deleted `echo` with its versions, runs, schedule and shares." and store.list_skills(alice) == []
    assert invoke_text(await world.post(world.click(ALICE, asked, "Delete"))) == "`echo` is already deleted."
