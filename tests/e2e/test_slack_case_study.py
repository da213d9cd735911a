"""The spine, end to end on Slack: the CodeMem paper's case study from a thread to a skill rerun by slash command.

Everything is real but the outside world: `codemem serve` runs as its own process (bolt in HTTP mode),
receives requests signed as Slack signs them, talks to a loopback fake of the Slack Web API, runs the
replay model's code in the sandbox, and that code calls the real msgraph-sdk against the emulator. The
journey itself is written once (tests/journeys/case_study.py) and runs on Teams too.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from integrations.emulator.server import EmulatorServer
from skills_db.db import make_engine
from skills_db.models import Owner
from skills_db.store import SkillStore
from tests.e2e.harness import BotProcess
from tests.e2e.slack_driver import ALICE, CHANNEL, SECRET, TEAM, SlackDriver
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import signed_command, signed_event
from tests.journeys.case_study import REQUEST, SCENARIO, SKILL, case_study, drive_files, expected_files


@pytest.fixture
def world(tmp_path: Path):
    with EmulatorServer() as emulator, FakeSlack(team_id=TEAM) as slack:
        bot = BotProcess({
            "CODEMEM_MODEL": f"replay:{SCENARIO}",
            "CODEMEM_DATA_DIR": str(tmp_path / "data"),
            "CODEMEM_EMULATOR_URL": emulator.url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
        }, tmp_path / "bot.log")
        bot.start()
        try:
            yield emulator, slack, bot, tmp_path / "data"
        finally:
            bot.stop()
            print(bot.log())   # shown by pytest when the test fails


async def test_case_study_on_slack(world) -> None:
    emulator, slack, bot, data_dir = world
    await case_study(SlackDriver(slack, bot), emulator.url)

    store = SkillStore(make_engine(f"sqlite:///{data_dir / 'codemem.db'}"))
    skill, version = store.find_active(Owner("slack", TEAM, ALICE), SKILL)
    assert version.version == 1 and [p["name"] for p in version.parameters] == [
        "days_back", "own_domain", "extensions", "root_folder"]
    assert sorted(version.tools) == ["onedrive_upload_file", "outlook_get_attachment", "outlook_list_attachments",
                                     "outlook_list_messages"]
    runs = store.runs(skill.id)
    assert [(r.status, r.parameters["days_back"], r.trigger) for r in runs] == [("succeeded", 30, "command")]
    assert runs[0].tool_calls and "ReplayExhausted" not in bot.log(), "the rerun never reached the model"


async def test_the_question_survives_a_restart_and_the_rerun_acks_at_once(world) -> None:
    emulator, slack, bot, _ = world
    driver = SlackDriver(slack, bot)
    await driver.ask(ALICE, REQUEST)
    await driver.wait_for("Shall I go ahead?")
    bot.restart()   # SIGKILL, then a new process: the question waits in the checkpoint
    reply = {"type": "message", "channel_type": "channel", "user": ALICE, "text": "Yes, go ahead",
             "channel": CHANNEL, "ts": "1763700050.000200", "thread_ts": driver.thread_ts}
    assert bot.post(signed_event(SECRET, reply, TEAM)).status_code == 200
    answer = await driver.wait_for("Save as skill", timeout=90)
    assert drive_files(emulator.url) == expected_files(emulator.url, 15)
    await driver.click(ALICE, answer, next(b for b in answer.buttons if b.startswith("Save as skill")))
    await driver.wait_for("Saved skill")

    started = time.monotonic()
    ack = bot.post(signed_command(SECRET, "/skill", f"run {SKILL} days_back=30", ALICE, CHANNEL, TEAM))
    assert time.monotonic() - started < 3, "Slack drops an ack that comes after 3 seconds"
    assert f"Running `{SKILL}`" in ack.json()["text"]
    await driver.wait_anywhere("finished in")
    assert drive_files(emulator.url) == expected_files(emulator.url, 30)


def test_bad_command_input_gets_a_clear_message(world) -> None:
    _, slack, bot, _ = world
    unknown = bot.post(signed_command(SECRET, "/skill", "run no_such_skill", ALICE, CHANNEL, TEAM)).json()
    assert "no_such_skill" in unknown["text"] and "/skill list" in unknown["text"]
    usage = bot.post(signed_command(SECRET, "/skill", "frobnicate", ALICE, CHANNEL, TEAM)).json()
    assert "Usage" in usage["text"] or "usage" in usage["text"]
    forged = signed_command("not-the-secret", "/skill", "list", ALICE, CHANNEL, TEAM)
    assert bot.post(forged).status_code == 401
