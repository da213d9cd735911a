"""The spine, end to end: the CodeMem paper's case study from a Slack thread to a skill rerun by slash command.

Everything is real but the outside world: `codemem serve` runs as its own process (bolt in HTTP mode),
receives requests signed as Slack signs them, talks to a loopback fake of the Slack Web API, runs the
replay model's code in the sandbox, and that code calls the real msgraph-sdk against the emulator.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from integrations.emulator.server import EmulatorServer
from skills_db.db import make_engine
from skills_db.models import Owner
from skills_db.store import SkillStore
from tests.e2e.harness import BotProcess
from tests.fakes.slack_api import FakeMessage, FakeSlack
from tests.fakes.slack_signing import signed_block_action, signed_command, signed_event

SECRET = "e2e-signing-secret"
TEAM, CHANNEL, ALICE, MALLORY = "T0FAKE", "C0GENERAL", "U0ALICE", "U0MALLORY"
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "save_attachments.yaml"
REQUEST = ("<@U0BOT> save the PDF and XLSX attachments from the last 15 days of my Outlook mail to OneDrive, "
           "in Email Attachments/<company>, and ignore mail from our own domain")


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


def expected_files(emulator: EmulatorServer, days: int) -> set[str]:
    """What the user asked for, computed from the mailbox itself: one folder per sender's company."""
    mailbox = httpx.get(f"{emulator.url}/_emulator/mailbox", trust_env=False).json()["messages"]
    since = datetime.now().astimezone() - timedelta(days=days)
    paths = set()
    for message in mailbox:
        domain = message["from"]["address"].rsplit("@", 1)[1].lower()
        if domain == "contoso.com" or datetime.fromisoformat(message["receivedDateTime"]) < since:
            continue
        company = domain.split(".")[0].replace("-", " ").title()
        paths |= {f"Email Attachments/{company}/{a['name']}" for a in message["attachments"]
                  if a["name"].lower().endswith((".pdf", ".xlsx"))}
    return paths


def drive_files(emulator: EmulatorServer) -> set[str]:
    """The files under "Email Attachments/" (the demo drive has other files of its own)."""
    files = httpx.get(f"{emulator.url}/_emulator/drive", trust_env=False).json()["files"]
    return {f["path"] for f in files if f["path"].startswith("Email Attachments/")}


def texts(message: FakeMessage) -> str:
    return message.text + " ".join(str(block) for block in message.blocks)


def buttons(message: FakeMessage) -> list[dict]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def thread_message(slack: FakeSlack, thread_ts: str, needle: str, timeout: float = 60) -> FakeMessage:
    return slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL, thread_ts) if needle in texts(m)), None),
                          timeout=timeout, description=f"a message with {needle!r} in the thread")


def ask_and_answer(slack: FakeSlack, bot: BotProcess, *, restart_before_answer: bool) -> tuple[str, FakeMessage]:
    thread_ts = "1763700000.000100"
    response = bot.post(signed_event(SECRET, {"type": "app_mention", "user": ALICE, "text": REQUEST,
                                              "channel": CHANNEL, "ts": thread_ts}, TEAM))
    assert response.status_code == 200
    question = thread_message(slack, thread_ts, "Shall I go ahead?")
    assert [b["text"]["text"] for b in buttons(question)] == ["Yes, go ahead", "No, cancel"]
    if restart_before_answer:   # and answer by clicking the choice rather than replying
        bot.restart()
        yes = buttons(question)[0]
        assert bot.post(signed_block_action(SECRET, ALICE, CHANNEL, TEAM, question.ts, yes["action_id"],
                                            yes["value"], thread_ts=thread_ts)).status_code == 200
    else:
        reply = {"type": "message", "channel_type": "channel", "user": ALICE, "text": "Yes, go ahead",
                 "channel": CHANNEL, "ts": "1763700050.000200", "thread_ts": thread_ts}
        assert bot.post(signed_event(SECRET, reply, TEAM)).status_code == 200
    return thread_ts, thread_message(slack, thread_ts, "Save as skill", timeout=90)


@pytest.mark.parametrize("restart_before_answer", [False, True], ids=["reply-in-thread", "restart-then-click-choice"])
def test_case_study_from_thread_to_skill_rerun(world, restart_before_answer: bool) -> None:
    emulator, slack, bot, data_dir = world
    thread_ts, answer = ask_and_answer(slack, bot, restart_before_answer=restart_before_answer)

    # The work itself: exactly the PDF and XLSX files of the last 15 days, from other companies.
    wanted = expected_files(emulator, 15)
    assert wanted, "the demo mailbox should have qualifying attachments"
    assert drive_files(emulator) == wanted
    assert not any("Contoso" in path for path in drive_files(emulator))

    # One progress message, posted once and edited in place, ending with the checklist done.
    progress = [m for m in slack.messages(CHANNEL, thread_ts) if "Upload PDF and XLSX files" in texts(m)]
    assert len(progress) == 1 and progress[0].edits >= 2
    assert "Done" in texts(progress[0]) and texts(progress[0]).count("✅") >= 5
    assert "Saved the PDF and XLSX attachments" in answer.text
    assert f"'saved': {len(wanted)}" in texts(answer) or f'"saved": {len(wanted)}' in texts(answer)
    assert not [m for m in slack.messages(CHANNEL) if "⚠️" in texts(m)], "no error was shown"

    # Someone else cannot save Alice's skill, even with the right button value.
    save = next(b for b in buttons(answer) if b["action_id"] == "codemem_save_skill")
    assert bot.post(signed_block_action(SECRET, MALLORY, CHANNEL, TEAM, answer.ts, "codemem_save_skill",
                                        save["value"], thread_ts=thread_ts)).status_code == 200
    thread_message(slack, thread_ts, "Only the person who asked")

    # Alice saves it: version 1 with typed parameters lifted from the code.
    assert bot.post(signed_block_action(SECRET, ALICE, CHANNEL, TEAM, answer.ts, "codemem_save_skill",
                                        save["value"], thread_ts=thread_ts)).status_code == 200
    saved = thread_message(slack, thread_ts, "Saved skill")
    assert "`save_email_attachments` (version 1)" in saved.text and "days_back: int = 15" in saved.text

    listing = bot.post(signed_command(SECRET, "/skill", "list", ALICE, CHANNEL, TEAM))
    assert listing.status_code == 200 and "save_email_attachments" in listing.text

    # Rerun by slash command with another window: an ack at once, then the result, and no model.
    started = time.monotonic()
    ack = bot.post(signed_command(SECRET, "/skill", "run save_email_attachments days_back=30", ALICE, CHANNEL, TEAM))
    assert time.monotonic() - started < 3, "Slack needs the ack within 3 seconds"
    assert ack.status_code == 200 and "Running `save_email_attachments`" in ack.json()["text"]
    report = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if "finished in" in m.text), None),
                            timeout=60, description="the skill run's report")
    assert "save_email_attachments" in report.text
    assert drive_files(emulator) == expected_files(emulator, 30) > wanted

    store = SkillStore(make_engine(f"sqlite:///{data_dir / 'codemem.db'}"))
    skill, version = store.find_active(Owner("slack", TEAM, ALICE), "save_email_attachments")
    assert version.version == 1 and [p["name"] for p in version.parameters] == [
        "days_back", "own_domain", "extensions", "root_folder"]
    assert sorted(version.tools) == ["onedrive_upload_file", "outlook_get_attachment", "outlook_list_attachments",
                                     "outlook_list_messages"]
    runs = store.runs(skill.id)
    assert [(r.status, r.parameters["days_back"], r.trigger) for r in runs] == [("succeeded", 30, "command")]
    assert runs[0].tool_calls and "ReplayExhausted" not in bot.log()


def test_bad_command_input_gets_a_clear_message(world) -> None:
    _, slack, bot, _ = world
    unknown = bot.post(signed_command(SECRET, "/skill", "run no_such_skill", ALICE, CHANNEL, TEAM)).json()
    assert "no saved skill named `no_such_skill`" in unknown["text"]
    usage = bot.post(signed_command(SECRET, "/skill", "frobnicate", ALICE, CHANNEL, TEAM)).json()
    assert "Usage:" in usage["text"]
    forged = signed_command("not-the-secret", "/skill", "list", ALICE, CHANNEL, TEAM)
    assert bot.post(forged).status_code == 401
