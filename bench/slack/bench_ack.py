"""Ack latency of the Slack surface under load: 50 concurrent `/skill run` commands and 50 concurrent button
clicks (Run on the App Home, which acks then opens a modal), against the real bolt app over HTTP on loopback,
with the fake Slack Web API. The baseline is `/skill help` (an ack with no store work), measured in the same run.

    python bench/slack/bench_ack.py [--concurrency 50] [--rounds 3]

Goal: p99 ≤ 100 ms on loopback. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.app import open_codemem  # noqa: E402
from bot.surfaces.slack import build_slack_app, http_routes  # noqa: E402
from bot.surfaces.slack_install import SlackInstallSettings  # noqa: E402
from integrations.emulator.server import EmulatorServer  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.fakes.slack_signing import home_block_action, signed_command, signed_interaction  # noqa: E402
from tests.slack.conftest import ALICE, CHANNEL, ECHO, SECRET, TEAM, owner, serve, settings_for  # noqa: E402


async def timed(http: httpx.AsyncClient, signed: tuple[str, dict[str, str]]) -> float:
    body, headers = signed
    started = time.perf_counter()
    response = await http.post("/slack/events", content=body, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


async def burst(http: httpx.AsyncClient, make, concurrency: int) -> list[float]:
    requests = [make(n) for n in range(concurrency)]   # signed before the clock starts
    return list(await asyncio.gather(*(timed(http, request) for request in requests)))


def line(name: str, samples: list[float], baseline: list[float] | None = None) -> str:
    ordered = sorted(samples)
    p50, p99 = statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    text = f"{name:<28} n={len(samples):<4} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {ordered[-1]:7.1f} ms"
    if baseline:
        text += f"   p99 ×{p99 / sorted(baseline)[min(len(baseline) - 1, int(len(baseline) * 0.99))]:.2f} of baseline"
    return text


async def main(concurrency: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer() as emulator, FakeSlack(team_id=TEAM) as slack:
        settings = settings_for(Path(tmp), slack, emulator)
        async with open_codemem(settings) as codemem:
            app = build_slack_app(codemem, settings, SlackInstallSettings(SLACK_CLIENT_ID=None))
            server, task, url = await serve(Starlette(routes=http_routes(app)))
            store = codemem.conversations.store
            skill = store.approve(store.create_draft(owner(ALICE), "echo", "", ECHO, []).id, owner(ALICE), 1)
            limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
            async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False, limits=limits) as http:
                await timed(http, signed_command(SECRET, "/skill", "help", ALICE, CHANNEL, TEAM))   # warm up
                help_, runs, clicks = [], [], []
                for _ in range(rounds):
                    help_ += await burst(http, lambda n: signed_command(SECRET, "/skill", "help", ALICE, CHANNEL,
                                                                        TEAM), concurrency)
                    runs += await burst(http, lambda n: signed_command(
                        SECRET, "/skill", f"run echo days_back={n}", f"U{n:04d}" if n % 2 else ALICE, CHANNEL,
                        TEAM), concurrency)
                    clicks += await burst(http, lambda n: signed_interaction(SECRET, home_block_action(
                        ALICE, TEAM, "codemem_run", str(skill.id))), concurrency)
                    await codemem.jobs.drain()
            server.should_exit = True
            await task
    print(f"Slack ack latency, {concurrency} concurrent requests × {rounds} rounds (loopback, SQLite):")
    print(line("/skill help (baseline)", help_))
    print(line("/skill run", runs, help_))
    print(line("Run button (App Home)", clicks, help_))
    print("goal: p99 ≤ 100 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.concurrency, arguments.rounds))
