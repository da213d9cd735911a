"""Crash recovery with the embedded job engine (CODEMEM_JOBS=inprocess, the default): `codemem serve` is killed
with SIGKILL in the middle of a skill run and of an agent turn, then started again. The run left "running" is
marked interrupted and its owner told, with Retry; the turn resumes from its checkpoint — as the distributed
engine does (tests/runtime/test_distributed.py). Real processes, the fake Slack Web API, the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from langchain_core.messages import AIMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from bot.runtime.recovery import INTERRUPTED
from integrations.emulator.server import EmulatorServer
from skills_db.db import init_db, make_engine
from skills_db.models import Owner, RunStatus
from skills_db.store import SkillStore
from tests.e2e.harness import BotProcess, wait_until
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import signed_command, signed_event

SECRET = "slack-test-signing-secret"
TEAM, ALICE = "T0FAKE", "U0ALICE"
RUN_CHANNEL, TURN_CHANNEL, TURN_TS = "C0RUNS", "C0TURN", "1763700000.000100"
COUNT_CODE = '''
import asyncio

async def run(n: int, pause: float = 0.0) -> int:
    """Wait `pause` seconds, then give back n."""
    await asyncio.sleep(pause)
    return n
'''
TURNS = {"turns": [
    {"tool_calls": [{"name": "execute_code", "args": {"code": "total = 41\nprint(total)"}}]},
    {"tool_calls": [{"name": "execute_code", "args": {"code": "import asyncio\nawait asyncio.sleep(60)"}}]},
    {"tool_calls": [{"name": "execute_code", "args": {"code": "print(total + 1)"}}]},
    {"content": "My variables were lost in the restart; 41 + 1 is 42."},
]}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[BotProcess, FakeSlack, SkillStore, Path]]:
    replay = tmp_path / "turn.yaml"
    replay.write_text(yaml.safe_dump(TURNS))
    data = tmp_path / "data"
    data.mkdir()
    engine = make_engine(f"sqlite:///{data / 'codemem.db'}")
    init_db(engine)
    store = SkillStore(engine)
    with EmulatorServer() as emulator, FakeSlack(team_id=TEAM) as slack:
        bot = BotProcess({"CODEMEM_MODEL": f"replay:{replay}", "CODEMEM_DATA_DIR": str(data),
                          "CODEMEM_EMULATOR_URL": emulator.url, "CODEMEM_SANDBOX": "subprocess",
                          "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET,
                          "SLACK_API_URL": slack.api_url, "CODEMEM_LOG_FORMAT": "text"}, tmp_path / "bot.log")
        bot.env.pop("CODEMEM_JOBS", None)   # the default: the embedded engine
        bot.start()
        try:
            yield bot, slack, store, data
        finally:
            bot.stop()
            print(bot.log()[-6000:])   # shown by pytest when the test fails


async def long_step_started(checkpoints: Path) -> bool:
    """The model asked for the long code step (it is in the thread's last checkpoint)."""
    async with AsyncSqliteSaver.from_conn_string(str(checkpoints)) as saver:
        saved = await saver.aget_tuple({"configurable": {"thread_id": f"slack:{TEAM}:{TURN_CHANNEL}:{TURN_TS}"}})
    messages = saved.checkpoint["channel_values"].get("messages", []) if saved else []
    return any("asyncio.sleep" in call["args"]["code"] for m in messages if isinstance(m, AIMessage)
               for call in m.tool_calls)


async def test_a_run_and_a_turn_cut_by_sigkill_are_recovered_when_serve_starts_again(world) -> None:
    bot, slack, store, data = world
    alice = Owner("slack", TEAM, ALICE)
    skill = store.activate(store.create_draft(alice, "count", "Counts.", COUNT_CODE, []).id, alice)

    ack = bot.post(signed_command(SECRET, "/skill", "run count n=1 pause=60", ALICE, RUN_CHANNEL, TEAM))
    assert "Running `count`" in ack.json()["text"]
    mention = {"type": "app_mention", "user": ALICE, "text": "<@U0BOT> add one to 41", "channel": TURN_CHANNEL,
               "ts": TURN_TS}
    assert bot.post(signed_event(SECRET, mention, TEAM)).status_code == 200
    await wait_until(lambda: any(r.status == RunStatus.RUNNING for r in store.runs(skill.id)), "the run to start")
    await wait_until(lambda: long_step_started(data / "checkpoints.db"), "the turn's long code step")

    bot.restart()   # SIGKILL mid-run and mid-turn, then `codemem serve` again on the same data

    await wait_until(lambda: slack.messages(RUN_CHANNEL), "the report of the interrupted run")
    (run,) = store.runs(skill.id)
    assert run.status == RunStatus.FAILED and run.error == INTERRUPTED
    (report,) = slack.messages(RUN_CHANNEL)
    assert "interrupted" in json.dumps(report.blocks)
    retry = [e for b in report.blocks if b["type"] == "actions" for e in b["elements"] if e["text"]["text"] == "Retry"]
    assert retry and retry[0]["value"] == str(run.id), "the owner can Retry exactly that run"

    await wait_until(lambda: any("is 42" in m.text for m in slack.messages(TURN_CHANNEL)), "the turn's answer")
    texts = [m.text for m in slack.messages(TURN_CHANNEL)]
    assert any(text.startswith("I was interrupted") for text in texts), texts
    assert all(m.thread_ts == TURN_TS for m in slack.messages(TURN_CHANNEL))
    assert "jobs left by" in bot.log()

    # Nothing is recovered twice: a second restart finds nothing left behind, and the queue works as before.
    bot.restart()
    ack = bot.post(signed_command(SECRET, "/skill", "run count n=2 pause=0", ALICE, RUN_CHANNEL, TEAM))
    assert "Running `count`" in ack.json()["text"]
    await wait_until(lambda: len(slack.messages(RUN_CHANNEL)) == 2, "the run after the restarts")
    assert "```2```" in json.dumps(slack.messages(RUN_CHANNEL)[1].blocks) + slack.messages(RUN_CHANNEL)[1].text
    assert len(store.runs(skill.id)) == 2
