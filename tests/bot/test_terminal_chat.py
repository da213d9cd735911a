"""`codemem chat` on a real terminal (a pty), as a developer uses it: the banner, /help, line editing and
history, Ctrl-C and Ctrl-D, a conversation resumed with its pending question, tables cut to the terminal's
width, plain text without Slack markup."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.core.views import Answer, RunHistory
from bot.surfaces.terminal import TerminalSurface, plain
from tests.bot.terminal import Terminal
from tests.e2e.harness import REPO
from bot.demo import SCENARIO

TASK = "save the PDF and XLSX attachments of the last 15 days to OneDrive, one folder per company, ignore contoso.com"
PROMPT = "you>"   # prompt_toolkit draws the space after it by moving the cursor
LEFT, CTRL_A, CTRL_C, CTRL_D, UP = "\x1b[D", "\x01", "\x03", "\x04", "\x1b[A"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CODEMEM_MODEL": f"replay:{SCENARIO}", "CODEMEM_DATA_DIR": str(tmp_path / "data")}


def test_a_conversation_left_with_ctrl_c_resumes_at_its_question(tmp_path: Path, env: dict[str, str]) -> None:
    first = Terminal(["chat", "--thread", "invoices"], tmp_path, env, columns=60)
    try:
        banner = first.expect("/quit or Ctrl-D leaves.")
        assert "Model: replay of save_attachments.yaml (scripted turns, not a real model)" in banner
        assert "codemem chat --thread invoices" in banner
        first.expect(PROMPT)
        first.type("elp" + CTRL_A + "/h\r")   # edited at the start of the line: /help
        first.expect("Ctrl-R searches earlier lines.")
        first.type(UP + "\r")                  # the line before, from the history
        first.expect("Ctrl-R searches earlier lines.")
        first.type(TASK + "\r")
        question = first.expect("2. No, cancel")
        assert "? I'll save the PDF and XLSX attachments" in question and "1. Yes, go ahead" in question
        first.expect(PROMPT)
        first.type(CTRL_C)
        assert first.wait() == 0
    finally:
        first.close()

    again = Terminal(["chat", "--thread", "invoices"], tmp_path, env, columns=60)
    try:
        shown = again.expect("2. No, cancel")
        assert "? I'll save the PDF and XLSX attachments" in shown and "1. Yes, go ahead" in shown
        again.expect(PROMPT)
        again.type("1\r")
        answer = again.expect("tokens (estimated): ~")
        assert "Saved the PDF and XLSX attachments of the last 15 days" in answer
        assert "Type save to save this as the skill save_email_attachments (version 1)." in answer
        table = [line for line in answer.splitlines() if "Email Attachments/" in line]
        assert table and all(len(line) <= 60 for line in table) and any(line.endswith("…") or "… " in line
                                                                        for line in table)
        again.type("save\r")
        again.expect("Saved skill save_email_attachments (version 1)")
        again.type("/skill history save_email_attachments\r")
        again.expect("save_email_attachments has not run yet")
        again.type("/quit\r")
        assert again.wait() == 0
        assert "`" not in again.text and "Traceback" not in again.text
    finally:
        again.close()


def test_ctrl_d_leaves_at_once(tmp_path: Path, env: dict[str, str]) -> None:
    terminal = Terminal(["chat"], tmp_path, env)
    try:
        terminal.expect("/quit or Ctrl-D leaves.")
        terminal.expect(PROMPT)
        terminal.type(CTRL_D)
        assert terminal.wait() == 0
    finally:
        terminal.close()


def test_ctrl_c_during_a_task_stops_it_and_leaves(tmp_path: Path) -> None:
    replay = tmp_path / "slow.yaml"
    replay.write_text("turns:\n  - content: Working.\n    tool_calls:\n      - name: execute_code\n"
                      "        args: {code: \"import asyncio\\nawait asyncio.sleep(600)\"}\n")
    terminal = Terminal(["chat"], tmp_path, {"CODEMEM_MODEL": f"replay:{replay}",
                                             "CODEMEM_DATA_DIR": str(tmp_path / "data")})
    try:
        terminal.expect("/quit or Ctrl-D leaves.")
        terminal.expect(PROMPT)
        terminal.type("wait a long time\r")
        terminal.expect("Running code…")
        terminal.type(CTRL_C)
        assert terminal.wait(timeout=60) == 130   # long before the code's ten minutes
        assert "Traceback" not in terminal.text
    finally:
        terminal.close()


def test_tables_fit_the_width_and_text_has_no_slack_markup() -> None:
    out = io.StringIO()
    surface = TerminalSurface(out, width=40)
    records = [{"file": "Email Attachments/Fabrikam/" + "q" * 40 + ".pdf", "from": "ana@fabrikam.com"}] * 3
    surface._print(Answer(text="Saved *3 files* to `Email Attachments`: <https://x.example/f|open>.",
                          data={"files": records}, usage={"input_tokens": 1200, "output_tokens": 30}))
    lines = out.getvalue().splitlines()
    assert lines[1] == "Saved 3 files to Email Attachments: open (https://x.example/f)."
    rows = [line for line in lines if line.startswith("Email Attachments/")]
    assert len(rows) == 3 and all(len(row) <= 40 and "…" in row for row in rows)
    assert lines[-1] == "tokens: 1.2k in, 30 out"
    assert plain("**kwargs and a * b stay") == "**kwargs and a * b stay"


def test_the_history_of_a_skill_that_never_ran_says_so() -> None:
    out = io.StringIO()
    TerminalSurface(out)._print(RunHistory("weekly_report", []))
    assert out.getvalue() == "weekly_report has not run yet: /skill run weekly_report runs it.\n"
