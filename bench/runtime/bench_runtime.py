"""Skill runs on the distributed engine: throughput with 1 and 2 `codemem worker` processes, p95 latency
of 50 runs submitted at once, and memory per worker. Needs the machine's PostgreSQL.

    python bench/runtime/bench_runtime.py [--runs 50] [--quick]

Each run is a real skill run (sandbox session, records, a report posted to a loopback fake of Slack);
runs belong to different users, so they may run side by side. Latency = from submit to the run's record
finishing. The in-process engine (one process, same machine) is measured as the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.app import open_codemem  # noqa: E402
from bot.core.views import ThreadRef  # noqa: E402
from bot.runtime.worker import attach_surfaces  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.surfaces.teams_settings import TeamsSettings  # noqa: E402
from skills_db.models import Owner, RunStatus  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.runtime.test_distributed import COUNT_CODE, Worker, worker_env  # noqa: E402
from tests.skills_db.conftest import _postgres_schema_url  # noqa: E402


def memory_mb(pid: int) -> float:
    """Proportional set size of a process and its children (sandbox workers included), in MB."""
    total = 0
    pids = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(p) for p in child.read_text().split()]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


async def measure(engine: str, workers: int, runs: int, slack: FakeSlack, tmp: Path) -> dict:
    url_iter = _postgres_schema_url()
    url = next(url_iter)
    started = []
    try:
        data = tmp / f"{engine}-{workers}"
        data.mkdir()
        if engine == "procrastinate":
            env = {**worker_env(url, slack, data / "w"), "CODEMEM_WORKER_CONCURRENCY": "10"}
            started = [Worker(env, data / f"w{i}.log").start() for i in range(workers)]
        settings = Settings(jobs=engine, database_url=url, data_dir=data / "bot", slack_bot_token=slack.bot_token,
                            slack_api_url=slack.api_url)
        async with open_codemem(settings) as codemem:
            if engine == "inprocess":   # this process runs the jobs, so it posts the reports too
                await attach_surfaces(codemem, settings, TeamsSettings())
            users = [Owner("slack", "TB", f"U{i}") for i in range(runs)]
            skills = []
            for user in users:
                skill = codemem.store.create_draft(user, "count", "Counts.", COUNT_CODE, [])
                codemem.store.activate(skill.id, user)
                skills.append(skill.id)
            begin = time.perf_counter()
            submitted = {}
            for user, skill_id in zip(users, skills):
                submitted[skill_id] = time.time()
                await codemem.skills.command(ThreadRef("slack", "TB", f"D{user.user}", ""), user, "run count n=1")
            peak = 0.0
            while True:
                done = [codemem.store.runs(s, limit=1) for s in skills]
                if all(r and r[0].status != RunStatus.RUNNING for r in done):
                    break
                if started:
                    peak = max(peak, *(memory_mb(w.process.pid) for w in started))
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - begin
            latencies = sorted(done[i][0].finished_at.timestamp() - submitted[s] for i, s in enumerate(skills))
            await codemem.jobs.drain()
        return {"engine": engine, "workers": workers, "runs": runs, "seconds": elapsed,
                "throughput": runs / elapsed, "p50": statistics.median(latencies),
                "p95": latencies[int(0.95 * (len(latencies) - 1))],
                "memory_mb": peak if started else None,
                "failed": sum(1 for d in done if d[0].status != RunStatus.SUCCEEDED)}
    finally:
        for worker in started:
            worker.stop()
        for _ in url_iter:
            pass


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="4 runs, for the smoke test")
    arguments = parser.parse_args()
    runs = 4 if arguments.quick else arguments.runs
    with FakeSlack() as slack, tempfile.TemporaryDirectory() as tmp:
        results = [await measure("inprocess", 1, runs, slack, Path(tmp)),
                   await measure("procrastinate", 1, runs, slack, Path(tmp)),
                   await measure("procrastinate", 2, runs, slack, Path(tmp))]
    base = results[0]["throughput"]
    print(f"{runs} skill runs submitted at once (each: sandbox session, run records, a Slack report)")
    print(f"{'engine':<14}{'workers':>8}{'runs/s':>9}{'x base':>8}{'p50 s':>8}{'p95 s':>8}{'MB/worker':>11}{'failed':>8}")
    for r in results:
        memory = f"{r['memory_mb']:.0f}" if r["memory_mb"] else "-"
        print(f"{r['engine']:<14}{r['workers']:>8}{r['throughput']:>9.1f}{r['throughput'] / base:>8.2f}"
              f"{r['p50']:>8.2f}{r['p95']:>8.2f}{memory:>11}{r['failed']:>8}")


if __name__ == "__main__":
    asyncio.run(main())
