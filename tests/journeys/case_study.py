"""The case study journey written once, run against any chat surface through a driver ("one scenario, two
renderers"): ask in a thread → question → click the choice → the answer → Save as skill (refused to someone
else) → list the skills → rerun by command with another window → the report, and the files in OneDrive.

A driver speaks one platform's wire format to the real app and reads what its fake platform API received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from bot import demo

SCENARIO = demo.SCENARIO
REQUEST = ("save the PDF and XLSX attachments from the last 15 days of my Outlook mail to OneDrive, "
           "in Email Attachments/<company>, and ignore mail from our own domain")
SKILL = "save_email_attachments"


@dataclass
class Shown:
    """A message as the thread shows it now: its text (cards or blocks flattened), buttons and edit count."""

    id: str
    text: str
    buttons: list[str] = field(default_factory=list)
    edits: int = 0


class ChatDriver(Protocol):
    """What the journey needs from a surface. `owner` asked; `other` is someone else in the same place."""

    owner: str
    other: str

    async def ask(self, user: str, text: str) -> None:
        """Mention the bot with `text`, starting a new thread."""

    async def wait_for(self, needle: str, timeout: float = 60) -> Shown:
        """The first message in the thread whose text holds `needle`."""

    async def thread(self) -> list[Shown]:
        """Every message the bot posted in the thread so far."""

    async def click(self, user: str, message: Shown, button: str) -> str:
        """`user` clicks `button` on `message`; return what the clicker is told at once (may be empty)."""

    async def command(self, user: str, text: str) -> str:
        """`user` runs the skill command `text` (e.g. `list`); return the immediate answer's text."""

    async def wait_anywhere(self, needle: str, timeout: float = 60) -> Shown:
        """The first message anywhere in the conversation whose text holds `needle`."""


def expected_files(emulator_url: str, days: int) -> set[str]:
    """What the user asked for, computed from the mailbox itself: one folder per sender's company."""
    mailbox = httpx.get(f"{emulator_url}/_emulator/mailbox", trust_env=False).json()["messages"]
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


def drive_files(emulator_url: str) -> set[str]:
    """The files under "Email Attachments/" (the demo drive has other files of its own)."""
    files = httpx.get(f"{emulator_url}/_emulator/drive", trust_env=False).json()["files"]
    return {f["path"] for f in files if f["path"].startswith("Email Attachments/")}


async def case_study(driver: ChatDriver, emulator_url: str) -> None:
    """The whole journey; raises AssertionError at the first thing a user would see go wrong."""
    await driver.ask(driver.owner, REQUEST)
    question = await driver.wait_for("Shall I go ahead?")
    assert question.buttons == ["Yes, go ahead", "No, cancel"], question.buttons

    await driver.click(driver.owner, question, "Yes, go ahead")
    answer = await driver.wait_for("Save as skill", timeout=90)

    # The work itself: exactly the PDF and XLSX files of the last 15 days, from other companies.
    wanted = expected_files(emulator_url, 15)
    assert wanted, "the demo mailbox should have qualifying attachments"
    assert drive_files(emulator_url) == wanted

    # One progress message, posted once and edited in place, ending with the checklist done.
    progress = [m for m in await driver.thread() if "Upload PDF and XLSX files" in m.text]
    assert len(progress) == 1 and progress[0].edits >= 2, progress
    assert "Done" in progress[0].text and progress[0].text.count("✅") >= 5, progress[0].text
    assert "Saved the PDF and XLSX attachments" in answer.text
    assert "saved" in answer.text and str(len(wanted)) in answer.text   # the result's data, as a table or JSON
    assert not [m for m in await driver.thread() if "⚠️" in m.text], "no error was shown"

    # Someone else cannot save the owner's skill; the owner can, and gets version 1 with typed parameters.
    save = next(b for b in answer.buttons if b.startswith("Save as skill"))
    told = await driver.click(driver.other, answer, save)
    assert "Only the person who asked" in told, told
    await driver.click(driver.owner, answer, save)
    saved = await driver.wait_for("Saved skill")
    assert f"`{SKILL}` (version 1)" in saved.text and "days_back: int = 15" in saved.text, saved.text

    assert SKILL in await driver.command(driver.owner, "list")

    # Rerun by command with another window: an ack at once, then the report, and no model.
    ack = await driver.command(driver.owner, f"run {SKILL} days_back=30")
    assert f"Running `{SKILL}`" in ack, ack
    report = await driver.wait_anywhere("finished in")
    assert SKILL in report.text
    assert drive_files(emulator_url) == expected_files(emulator_url, 30) > wanted
