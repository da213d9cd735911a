"""The `codemem` command as a newcomer meets it: serve without Slack, chat in the terminal, no model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot import demo
from tests.e2e.harness import REPO

SCENARIO = demo.SCENARIO
TASK = "save the PDF and XLSX attachments of the last 15 days to OneDrive, one folder per company, ignore contoso.com"


def codemem(args: list[str], cwd: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CODEMEM_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=180, env={**clean, "PYTHONPATH": str(REPO), **env})


def test_serve_without_slack_tokens_says_what_to_set(tmp_path: Path) -> None:
    result = codemem(["serve"], tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "SLACK_APP_TOKEN" in result.stderr
    assert "codemem chat" in result.stderr and "Traceback" not in result.stderr


def test_chat_runs_the_case_study_then_reruns_the_skill_without_a_model(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = codemem(["chat"], tmp_path, f"{TASK}\n1\nsave\n/skill list\n",
                    CODEMEM_MODEL=f"replay:{SCENARIO}", CODEMEM_DATA_DIR=data)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "? I'll save the PDF and XLSX attachments" in out and "1. Yes, go ahead" in out
    assert "Saved the PDF and XLSX attachments" in out and "Type save to save this as the skill save_email_attachments" in out
    assert "Saved skill save_email_attachments (version 1)" in out and "`" not in out and "days_back: int = 15" in out
    assert "save_email_attachments (v1)" in out

    # No model configured: the bot still starts, explains how to configure one, and runs saved skills.
    second = codemem(["chat"], tmp_path, f"{TASK}\n/skill run save_email_attachments days_back=30\n"
                     "/skill run save_email_attachments days_back=many\n", CODEMEM_DATA_DIR=data)
    assert second.returncode == 0, second.stderr
    assert "No model is configured" in second.stdout and "CODEMEM_MODEL" in second.stdout
    assert "save_email_attachments v1 finished" in second.stdout
    assert "days_back must be a whole number" in second.stdout
    assert "Traceback" not in second.stdout + second.stderr


def test_a_model_name_that_cannot_load_is_explained(tmp_path: Path) -> None:
    result = codemem(["chat"], tmp_path, "", CODEMEM_MODEL="replay:/no/such/file.yaml")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
