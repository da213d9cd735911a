"""Ack latency of the Slack surface under load: bursts of concurrent `/skill run` commands and button clicks
(Run on the App Home, which acks then opens a modal), against a real `codemem serve` process over HTTP on
loopback, with the fake Slack Web API and the demo workspace. The baseline is `/skill help` (an ack with no
store work), measured in the same run; ratios are of its p99.

The load comes from a separate client process (this file with `--client`) that writes prepared requests on
open keep-alive connections, so the client's own work neither shares the server's event loop nor delays the
burst it sends. The runs the commands queue really run (sandbox workers, the fake Slack) while the next
bursts arrive, as they would in production; each round ends when all its runs are reported.

    python bench/slack/bench_ack.py [--concurrency 50] [--rounds 3] [--sandbox pool|subprocess] [--quick]

Goal: p99 ≤ 100 ms on loopback. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.app import open_codemem  # noqa: E402
from integrations.emulator.server import EmulatorServer  # noqa: E402
from tests.e2e.harness import ANY_PORT, wait_until_listening  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.fakes.slack_signing import home_block_action, signed_command, signed_interaction  # noqa: E402
from tests.slack.conftest import ALICE, CHANNEL, ECHO, SECRET, TEAM, owner, settings_for  # noqa: E402

KINDS = ("help", "run", "click")


# ------------------------------------------------------------------------------------------- the client

def signed(kind: str, n: int, skill_id: int) -> tuple[str, dict[str, str]]:
    if kind == "help":
        return signed_command(SECRET, "/skill", "help", ALICE, CHANNEL, TEAM)
    if kind == "run":
        return signed_command(SECRET, "/skill", f"run echo days_back={n}", f"U{n:04d}" if n % 2 else ALICE,
                              CHANNEL, TEAM)
    return signed_interaction(SECRET, home_block_action(ALICE, TEAM, "codemem_run", str(skill_id)))


def wire(url: str, request: tuple[str, dict[str, str]]) -> bytes:
    """The request as it goes over the connection: HTTP/1.1, kept alive."""
    body, headers = request
    data = body.encode()
    lines = ["POST /slack/events HTTP/1.1", f"Host: {urlsplit(url).netloc}", f"Content-Length: {len(data)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + data


async def timed(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> float:
    """Milliseconds from sending `request` to having read the whole response (which must be a 200)."""
    reader, writer = connection
    started = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    body = await reader.readexactly(length)
    elapsed = (time.perf_counter() - started) * 1000
    assert head.startswith(b"HTTP/1.1 200 "), head + body
    return elapsed


async def client(url: str, skill_id: int, concurrency: int) -> dict[str, list[float]]:
    """One round: a burst of each kind, one after the other, on connections opened before the clock starts.

    The requests are written as bytes on raw connections (one request at a time on each, as Slack sends
    them): an HTTP client library would spend milliseconds of this process's CPU on each request, and 50 of
    them in a burst would be measured as the server's latency."""
    address = urlsplit(url)
    connections = [await asyncio.open_connection(address.hostname, address.port) for _ in range(concurrency)]
    try:
        samples: dict[str, list[float]] = {}
        for kind in KINDS:
            requests = [wire(url, signed(kind, n, skill_id)) for n in range(concurrency)]   # signed beforehand
            samples[kind] = list(await asyncio.gather(*(timed(c, r) for c, r in zip(connections, requests))))
        return samples
    finally:
        for _, writer in connections:
            writer.close()


# ------------------------------------------------------------------------------------------- the server

def start_server(data_dir: Path, slack: FakeSlack, emulator: EmulatorServer, sandbox: str) -> tuple[subprocess.Popen, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "CODEMEM_", "TEAMS_"))}
    env.update(CODEMEM_DATA_DIR=str(data_dir), CODEMEM_EMULATOR_URL=emulator.url, CODEMEM_HOST="127.0.0.1",
               CODEMEM_PORT=ANY_PORT, CODEMEM_SANDBOX=sandbox, CODEMEM_LOG_FORMAT="text",
               SLACK_BOT_TOKEN=slack.bot_token, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.api_url)
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(data_dir / "serve.log", "w"))

    def ready(url: str) -> bool:
        return httpx.get(f"{url}/readyz", trust_env=False, timeout=1).status_code == 200

    try:
        return server, wait_until_listening(server, ready, 60, lambda: (data_dir / "serve.log").read_text()[-2000:])
    except AssertionError as error:
        server.kill()
        raise SystemExit(f"`codemem serve` did not become ready: {error}") from None


async def seed(settings) -> int:
    async with open_codemem(settings) as codemem:
        store = codemem.conversations.store
        return store.approve(store.create_draft(owner(ALICE), "echo", "", ECHO, []).id, owner(ALICE), 1).id


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def line(name: str, samples: list[float], baseline: list[float] | None = None) -> str:
    p50, p99 = statistics.median(samples), percentile(samples, 0.99)
    text = f"{name:<28} n={len(samples):<4} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {max(samples):7.1f} ms"
    if baseline:
        text += f"   p99 ×{p99 / percentile(baseline, 0.99):.2f} of baseline"
    return text


def main(concurrency: int, rounds: int, sandbox: str) -> None:
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer() as emulator, FakeSlack(team_id=TEAM) as slack:
        settings = settings_for(Path(tmp), slack, emulator)
        skill_id = asyncio.run(seed(settings))
        server, url = start_server(settings.data_dir, slack, emulator, sandbox)
        reported = (concurrency + 1) // 2   # the runs of the skill's owner; the others are refused in the ack
        try:
            command = [sys.executable, __file__, "--client", url, "--skill-id", str(skill_id),
                       "--concurrency", str(concurrency)]
            subprocess.run(command, check=True, capture_output=True)   # warm up (imports, first runs)
            slack.wait_for(lambda: len(slack.messages(CHANNEL)) >= reported, timeout=120, description="warm-up runs")
            for round_ in range(rounds):
                done = subprocess.run(command, check=True, capture_output=True, text=True)
                for kind, values in json.loads(done.stdout).items():
                    samples[kind] += values
                slack.wait_for(lambda: len(slack.messages(CHANNEL)) >= reported * (round_ + 2), timeout=120,
                               description="the round's runs")
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"Slack ack latency, {concurrency} concurrent requests × {rounds} rounds "
          f"(`codemem serve` in its own process, client in another; loopback, SQLite, sandbox={sandbox}):")
    print(line("/skill help (baseline)", samples["help"]))
    print(line("/skill run", samples["run"], samples["help"]))
    print(line("Run button (App Home)", samples["click"], samples["help"]))
    print("goal: p99 ≤ 100 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sandbox", default="pool", help="CODEMEM_SANDBOX of the server (the product default: pool)")
    parser.add_argument("--quick", action="store_true", help="one round of 3, for the smoke test")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--skill-id", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.concurrency, arguments.rounds = 3, 1
    if arguments.client:
        print(json.dumps(asyncio.run(client(arguments.client, arguments.skill_id, arguments.concurrency))))
    else:
        main(arguments.concurrency, arguments.rounds, arguments.sandbox)
