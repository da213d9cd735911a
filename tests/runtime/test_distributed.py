"""The distributed engine on the machine's PostgreSQL, with real `codemem worker` processes posting to a
loopback fake of Slack: per-thread ordering, no duplicate under redelivery, one firing per schedule slot,
and recovery after a worker is killed with SIGKILL in the middle of a skill run or of an agent turn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from sqlalchemy import text

from bot.app import CodeMem, open_codemem
from bot.core.conversations import TURN_JOB
from bot.core.skills import RUN_JOB
from bot.core.views import ThreadRef
from bot.runtime.procrastinate_jobs import ProcrastinateJobs
from bot.runtime.recovery import INTERRUPTED
from bot.settings import Settings
from bot.surfaces.slack import build_slack_app
from skills_db.models import Owner, RunStatus
from skills_db.timestamps import utc_now
from tests.e2e.harness import ANY_PORT, REPO, wait_until, wait_until_listening
from tests.fakes.slack_api import FakeSlack
from tests.skills_db.conftest import _postgres_schema_url

ALICE = Owner("slack", "T1", "UALICE")
BOB = Owner("slack", "T1", "UBOB")
CHANNEL = "C1"

COUNT_CODE = '''
import asyncio

async def run(n: int, pause: float = 0.05) -> int:
    """Wait a little, then give back n."""
    await asyncio.sleep(pause)
    print(f"counted {n}")
    return n
'''


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from _postgres_schema_url()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def worker_env(database_url: str, slack: FakeSlack, data_dir: Path) -> dict[str, str]:
    return {"CODEMEM_JOBS": "procrastinate", "CODEMEM_DATABASE_URL": database_url,
            "CODEMEM_DATA_DIR": str(data_dir), "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_API_URL": slack.api_url,
            "CODEMEM_WORKER_HEARTBEAT": "0.5", "CODEMEM_WORKER_STALLED_AFTER": "2", "CODEMEM_SCHEDULE_POLL": "0.3",
            "CODEMEM_WORKER_CONCURRENCY": "4", "CODEMEM_WORKER_POLL": "0.2", "CODEMEM_LOG_FORMAT": "json"}


class Worker:
    """`python -m bot worker` as a real process; ready once /readyz says so."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env, "CODEMEM_HOST": "127.0.0.1", "CODEMEM_PORT": ANY_PORT}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> Worker:
        self.process = subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=REPO, env=self.env,
                                        stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)

        def ready(url: str) -> bool:
            return httpx.get(f"{url}/readyz", trust_env=False, timeout=5).status_code == 200

        self.url = wait_until_listening(self.process, ready, 60, self.log)
        return self

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", trust_env=False).text

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@pytest.fixture
def workers(database_url: str, slack: FakeSlack, tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    env = worker_env(database_url, slack, tmp_path / "data")
    (tmp_path / "data").mkdir()

    def spawn(count: int, **extra: str) -> list[Worker]:
        for _ in range(count):
            started.append(Worker({**env, **extra}, tmp_path / f"worker{len(started)}.log").start())
        return started

    yield spawn  # type: ignore[misc]
    for worker in started:
        worker.stop()


@contextlib.asynccontextmanager
async def bot(database_url: str, slack: FakeSlack, tmp_path: Path, model: str | None = None) -> AsyncIterator[CodeMem]:
    """The submitting side, as `codemem serve` is with CODEMEM_JOBS=procrastinate (it runs no jobs)."""
    settings = Settings(jobs="procrastinate", database_url=database_url, data_dir=tmp_path / "bot",
                        slack_bot_token=slack.bot_token, slack_api_url=slack.api_url, worker_stalled_after=2,
                        model=model)
    async with open_codemem(settings) as codemem:
        build_slack_app(codemem, settings)   # attaches the Slack surface, as `codemem serve` does
        yield codemem


def save_skill(codemem: CodeMem, owner: Owner, name: str = "count", code: str = COUNT_CODE) -> int:
    skill = codemem.store.create_draft(owner, name, "Counts.", code, [])
    codemem.store.activate(skill.id, owner)
    return skill.id


def reports(slack: FakeSlack, channel: str) -> list[str]:
    """What the bot posted in `channel`, as text (fallback text and blocks), in order."""
    return [message.text + json.dumps(message.blocks) for message in slack.messages(channel=channel)]


async def test_two_workers_keep_each_threads_jobs_in_order_and_never_overlap(database_url, slack, workers, tmp_path):
    workers(2)
    async with bot(database_url, slack, tmp_path) as codemem:
        skills = {user: save_skill(codemem, user) for user in (ALICE, BOB)}
        for n in range(6):
            for user in (ALICE, BOB):
                where = ThreadRef("slack", user.team, f"D{user.user}", "")
                await codemem.skills.command(where, user, f"run count n={n} pause={0.02 * (6 - n)}")
        for user in (ALICE, BOB):
            await wait_until(lambda u=user: len(codemem.store.runs(skills[u])) == 6
                             and all(r.status == RunStatus.SUCCEEDED for r in codemem.store.runs(skills[u])),
                             what=f"six runs of {user.user}")
            runs = sorted(codemem.store.runs(skills[user]), key=lambda r: r.started_at)
            assert [run.result for run in runs] == list(range(6))   # in the order they were asked for
            for earlier, later in zip(runs, runs[1:]):
                assert earlier.finished_at <= later.started_at       # one at a time
            await wait_until(lambda u=user: len(reports(slack, f"D{u.user}")) >= 6, what=f"six reports to {user.user}")
            posted = reports(slack, f"D{user.user}")
            assert [next(n for n in range(6) if f"```{n}```" in text) for text in posted] == list(range(6))
        ran_on = {row[0] for row in await codemem.jobs._all("SELECT DISTINCT worker FROM codemem_jobs")}
        assert len(ran_on) >= 1 and ran_on <= set(await codemem.jobs.live_workers())


async def test_a_job_submitted_twice_or_delivered_again_runs_once(database_url, slack, workers, tmp_path):
    spawned = workers(2)
    async with bot(database_url, slack, tmp_path) as codemem:
        jobs = codemem.jobs
        assert isinstance(jobs, ProcrastinateJobs)
        skill_id = save_skill(codemem, ALICE)
        submitted = []
        submit = jobs.submit

        async def recording(kind, payload, *, key, dedupe=None):
            submitted.append((kind, payload, key))
            return await submit(kind, payload, key=key, dedupe=dedupe)

        jobs.submit = recording   # the payload exactly as the /skill command queues it
        await codemem.skills.command(ThreadRef("slack", "T1", "DUP", ""), ALICE, "run count n=7")
        ((kind, payload, key),) = submitted
        (dedupe,) = await jobs._one("SELECT dedupe FROM codemem_jobs WHERE kind = %s", (kind,))
        assert await submit(kind, payload, key=key, dedupe=dedupe) is False   # submitted again: dropped
        await wait_until(lambda: len(reports(slack, "DUP")) == 1, what="the first report")
        # The queue delivers the same job again (as after a lost acknowledgement): it must be a no-op.
        from procrastinate.jobs import Job
        await jobs.app.job_manager.defer_job_async(Job(
            queue="codemem", lock=key, queueing_lock=None, task_name="codemem.job",
            task_kwargs={"kind": kind, "key": key, "dedupe": dedupe, "payload": payload}))
        await wait_until(lambda: _consumed(jobs), what="the redelivery to be consumed")
        assert len(codemem.store.runs(skill_id)) == 1
        assert len(reports(slack, "DUP")) == 1
        metrics = "".join(worker.metrics() for worker in spawned)
        assert 'codemem_jobs_total{kind="skill_run",outcome="duplicate"} 1.0' in metrics


async def _consumed(jobs: ProcrastinateJobs) -> bool:
    return not await jobs._one("SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")


async def test_a_schedule_slot_fires_once_across_workers(database_url, slack, workers, tmp_path):
    workers(2)
    async with bot(database_url, slack, tmp_path) as codemem:
        skill_id = save_skill(codemem, ALICE)
        # Yearly, so that no real slot falls due while the test runs (a minute boundary would add one).
        schedule = codemem.store.schedules.set(skill_id, ALICE, "0 0 1 1 *", "UTC", {"n": "3"},
                                               notify={"channel": "CSCHED"})
        due = utc_now() - timedelta(seconds=1)
        with codemem.engine.begin() as connection:
            connection.execute(text("UPDATE schedules SET next_run_at = :at WHERE id = :id"),
                               {"at": due, "id": schedule.id})
        await wait_until(lambda: len(reports(slack, "CSCHED")) >= 1, what="the scheduled report")
        # Make the same slot due again: it was claimed, so nobody fires it twice.
        with codemem.engine.begin() as connection:
            connection.execute(text("UPDATE schedules SET next_run_at = :at WHERE id = :id"),
                               {"at": due, "id": schedule.id})
        await asyncio.sleep(2)
        assert len(codemem.store.schedules.slots(schedule.id)) == 1
        assert len(codemem.store.runs(skill_id)) == 1
        assert len(reports(slack, "CSCHED")) == 1
        assert "```3```" in reports(slack, "CSCHED")[0]


async def test_a_run_cut_by_sigkill_is_marked_interrupted_and_reported_with_its_id(database_url, slack, workers,
                                                                                  tmp_path):
    spawned = workers(2)
    async with bot(database_url, slack, tmp_path) as codemem:
        jobs = codemem.jobs
        assert isinstance(jobs, ProcrastinateJobs)
        skill_id = save_skill(codemem, ALICE)
        where = ThreadRef("slack", "T1", "DCRASH", "")
        await codemem.skills.command(where, ALICE, "run count n=1 pause=60")
        await wait_until(lambda: any(r.status == RunStatus.RUNNING for r in codemem.store.runs(skill_id)),
                         what="the run to start")
        (holder,) = await jobs._one("SELECT worker FROM codemem_jobs WHERE kind = %s", (RUN_JOB,))
        victim = next(w for w in spawned if str(w.process.pid) in holder)
        victim.kill()
        await wait_until(lambda: len(reports(slack, "DCRASH")) == 1, timeout=60, what="the interruption report")
        (run,) = codemem.store.runs(skill_id)
        assert run.status == RunStatus.FAILED and run.error == INTERRUPTED
        (message,) = slack.messages(channel="DCRASH")
        assert "interrupted" in json.dumps(message.blocks)
        retry = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if e["text"]["text"] == "Retry"]
        assert retry and retry[0]["value"] == str(run.id)   # the user can Retry exactly that run
        assert codemem.store.get(skill_id, viewer=ALICE).status == "active"   # nothing of the skill is lost
        # After a restart the queue works as before, and the Retry of that run is possible.
        workers(1)
        prepared = codemem.skills.runner.prepare_retry(ALICE, run.id)
        assert prepared.arguments["n"] == 1
        await codemem.skills.command(where, ALICE, "run count n=2")
        await wait_until(lambda: len(reports(slack, "DCRASH")) == 2, what="a run after the restart")
        assert "```2```" in reports(slack, "DCRASH")[1]


async def test_an_agent_turn_cut_by_sigkill_resumes_from_its_checkpoint_on_another_worker(database_url, slack, workers,
                                                                                        tmp_path):
    replay = tmp_path / "turn.yaml"
    replay.write_text(yaml.safe_dump({"turns": [
        {"tool_calls": [{"name": "execute_code", "args": {"code": "total = 41\nprint(total)"}}]},
        {"tool_calls": [{"name": "execute_code", "args": {"code": "import asyncio\nawait asyncio.sleep(30)"}}]},
        {"tool_calls": [{"name": "execute_code", "args": {"code": "print(total + 1)"}}]},
        {"content": "My variables were lost in the restart; 41 + 1 is 42."},
    ]}))
    spawned = workers(2, CODEMEM_MODEL=f"replay:{replay}")
    thread = ThreadRef("slack", "T1", "CTURN", "1700000000.000100")
    async with bot(database_url, slack, tmp_path, model=f"replay:{replay}") as codemem:
        jobs, graph = codemem.jobs, codemem.conversations.graph
        assert isinstance(jobs, ProcrastinateJobs)
        config = {"configurable": {"thread_id": thread.thread_id}}

        async def long_step_started() -> bool:
            messages = (await graph.aget_state(config)).values.get("messages", [])
            return any("asyncio.sleep" in call["args"]["code"] for m in messages if isinstance(m, AIMessage)
                       for call in m.tool_calls)

        await codemem.conversations.on_message(codemem.surfaces.get("slack"), thread, ALICE, "add one to 41")
        await wait_until(long_step_started, what="the model to ask for the long code step")
        await asyncio.sleep(0.5)   # let the sandbox start on it (a kill a moment earlier cuts the same call)
        (holder,) = await jobs._one("SELECT worker FROM codemem_jobs WHERE kind = %s", (TURN_JOB,))
        victim = next(w for w in spawned if str(w.process.pid) in holder)
        victim.kill()

        await wait_until(lambda: any("is 42" in m.text for m in slack.messages("CTURN")), timeout=60,
                         what="the final answer after the crash")
        await jobs.drain()
        posted = slack.messages("CTURN")
        assert all(m.thread_ts == thread.thread for m in posted)
        # One progress message (edited, never posted again), then the notice of the interruption, then the answer.
        progress, notice, answer = posted
        conversation = codemem.store.get_conversation(thread.thread_id)
        assert progress.ts == conversation.progress_message_id and progress.text == "Done"
        assert notice.text.startswith("I was interrupted")
        assert answer.text == "My variables were lost in the restart; 41 + 1 is 42."
        assert conversation.requester_user == ALICE.user
        # The graph went on from its checkpoint: the cut-short call is answered as interrupted, nothing is
        # repeated, and the next code block learns the new worker's sandbox started afresh.
        messages = (await graph.aget_state(config)).values["messages"]
        assert [type(m) for m in messages] == [HumanMessage, AIMessage, ToolMessage, AIMessage, ToolMessage,
                                               AIMessage, ToolMessage, AIMessage]
        first, cut, after = (m.text for m in messages if isinstance(m, ToolMessage))
        assert "41" in first
        assert cut.startswith("Interrupted: the worker running this stopped")
        assert "started afresh" in after and "NameError" in after
        # The same job was delivered twice, the second time to the surviving worker, and is done.
        state, deliveries, worker = await jobs._one(
            "SELECT state, deliveries, worker FROM codemem_jobs WHERE kind = %s", (TURN_JOB,))
        assert (state, deliveries) == ("done", 2) and worker != holder
