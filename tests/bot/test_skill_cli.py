"""`codemem skill …` as an operator or a script uses it: real processes, the same core, authorization and
messages as `/skill` in chat, acting `--as` a chat user."""

from __future__ import annotations

from pathlib import Path

import pytest

from skills_db.transfer import SkillFile
from tests.bot.test_cli import codemem

ALICE = ["--as", "slack:T1:alice"]
BOB = ["--as", "slack:T1:bob"]
GREET = '''# /// codemem-skill
# name = "greet"
# description = "Say hello"
# version = 1
# tools = []
# ///

async def run(who: str = "world", times: int = 1) -> dict:
    """Greet someone.

    Args:
        who: whom to greet
        times: how often
    """
    return {"greeting": " ".join([f"hello {who}"] * times)}
'''


@pytest.fixture
def operator(tmp_path: Path):
    """`codemem skill ARGS…` on one database, in `tmp_path`."""
    data = str(tmp_path / "data")

    def skill(*args: str) -> tuple[int, str, str]:
        result = codemem(["skill", *args], tmp_path, CODEMEM_DATA_DIR=data, CODEMEM_SANDBOX="subprocess")
        assert "Traceback" not in result.stdout + result.stderr
        return result.returncode, result.stdout, result.stderr

    (tmp_path / "greet.py").write_text(GREET)
    return skill


def test_import_run_history_export_and_delete_a_skill(operator, tmp_path: Path) -> None:
    status, out, _ = operator("import", "greet.py", "--yes", *ALICE)
    assert status == 0 and out.startswith("Imported greet as version 1 with parameters who: str = 'world'")

    assert "greet (v1): Say hello [who: str = 'world', times: int = 1]" in operator("list", *ALICE)[1]
    assert operator("list", *BOB)[1].strip() == "No saved skills yet."

    status, out, _ = operator("run", "greet", "who=Ada", "times=2", *ALICE)
    assert status == 0, out
    assert "Running greet v1 (who=Ada, times=2)" in out and "greet v1 finished" in out
    assert "hello Ada hello Ada" in out
    status, out, _ = operator("run", "greet", "times=many", *ALICE)
    assert status == 1 and "times must be a whole number" in out

    # Bob acts through the same authorization as in chat: Alice's skill is not his to run or see.
    status, out, _ = operator("run", "greet", *BOB)
    assert status == 1 and "You have no saved skill named greet that you can run" in out
    assert operator("history", "greet", *BOB)[0] == 1

    status, out, _ = operator("history", "greet", *ALICE)
    assert status == 0 and "Runs of greet:" in out and "#1 v1 succeeded" in out

    status, out, _ = operator("export", "greet", "--out", "-", *ALICE)
    exported = SkillFile.parse(out)
    assert (exported.name, exported.version, exported.code) == ("greet", 1, SkillFile.parse(GREET).code)
    status, out, _ = operator("export", "greet", *ALICE)
    assert status == 0 and out.startswith("Wrote greet.py")
    assert operator("import", "greet.py", "--name", "greet_again", "--yes", *BOB)[0] == 0
    assert "greet_again (v1)" in operator("list", *BOB)[1]

    status, out, err = operator("delete", "greet", *ALICE)   # no terminal to ask on: nothing happens
    assert status == 2 and "1 version and 1 recorded run" in out and "confirm with --yes" in err
    assert "greet (v1)" in operator("list", *ALICE)[1]
    status, out, _ = operator("delete", "greet", "--yes", *ALICE)
    assert status == 0 and "Deleted greet with its versions, runs, schedule and shares." in out
    assert operator("list", *ALICE)[1].strip() == "No saved skills yet."


def test_bad_command_lines_get_one_clear_line(operator, tmp_path: Path) -> None:
    status, _, err = operator("list", "--as", "alice")
    assert status == 2 and err.strip() == "--as takes platform:team:user (for example slack:T0123:U0456), not 'alice'."
    (tmp_path / "notes.py").write_text("print('not a skill')\n")
    status, _, err = operator("import", "notes.py", "--yes")
    assert status == 2 and err.startswith("notes.py is not a skill file: found no '# /// codemem-skill' header")
    status, _, err = operator("import", "missing.py", "--yes")
    assert status == 2 and err.strip() == "Cannot read missing.py: No such file or directory."
    status, _, err = operator("import", "greet.py", *ALICE)
    assert status == 2 and "Nothing was imported: confirm with --yes" in err
    status, out, _ = operator("show", "nothing", *ALICE)
    assert status == 1 and "You have no skill named 'nothing'" in out


def test_an_operator_manages_the_approvers_of_a_channel(operator) -> None:
    ops = ["--as", "slack:T1:ops", "--channel", "C1"]
    status, out, _ = operator("approvers", "add", "channel", "U2", "U3", *ops)
    assert status == 0
    assert out.strip() == ("U2 now approves skills shared with channel C1. "
                           "U3 now approves skills shared with channel C1.")
    assert operator("approvers", "remove", "channel", "U3", *ops)[1].strip() == (
        "U3 no longer approves skills shared with channel C1.")
    assert operator("approvers", "list", "channel", *ops)[1].strip() == "Approvers of skills shared with channel C1: U2."
    assert "none yet" in operator("approvers", "list", "team", *ops)[1]
    status, _, err = operator("approvers", "add", "channel", "U4", "--as", "slack:T1:ops")
    assert status == 2 and "--channel" in err
