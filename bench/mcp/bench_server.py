"""Benchmark: CodeMem's skills MCP server, with the real `mcp` client over Streamable HTTP on loopback.

Three measures, each against a baseline measured in the same run:
- list: `tools/list` for a user with 1,000 skills (goal: median <= 50 ms), against `tools/list` of a user with
  one skill (the protocol's own cost);
- call: `tools/call` of a trivial skill against what `/skill run` does for it (prepare + the runner, in the
  server's process, no HTTP) — goal: ratio of medians <= 1.1;
- concurrent: 50 `tools/call` at once: p50 and p99 latency, against one call alone.

CodeMem and uvicorn run on an event loop in a thread of their own, the client on the main one, so that the
client's work does not sit on the server's loop (in production they are different machines).

    python bench/mcp/bench_server.py [--quick] [--skills 1000] [--rounds 30] [--sandbox pool]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bot.app import open_codemem
from bot.server import http_app
from bot.settings import Settings
from bot.surfaces.mcp_server import skill_endpoints
from integrations.emulator.server import EmulatorServer
from skills_db.access import Caller
from skills_db.models import Owner, RunTrigger
from skills_db.personal_tokens import PersonalTokens

MANY = Owner("slack", "T1", "UMANY")
ONE = Owner("slack", "T1", "UONE")
TRIVIAL = 'async def run(n: int = 1) -> dict:\n    """Add one."""\n    return {"n": n + 1}\n'


class ServerThread:
    """CodeMem with the two users' skills and its HTTP app, on an event loop in a thread."""

    def __init__(self, data_dir: Path, emulator_url: str, skills: int, sandbox: str) -> None:
        self.settings = Settings(data_dir=data_dir, emulator_url=emulator_url, sandbox=sandbox)
        self.skills = skills
        self.loop = asyncio.new_event_loop()
        self.ready = concurrent.futures.Future[tuple[str, dict[str, str]]]()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.url, self.tokens = self.ready.result(timeout=300)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)

    def run(self, coro: Any) -> Any:
        """Run `coro` on the server's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _main(self) -> None:
        try:
            async with open_codemem(self.settings) as codemem:
                self.codemem = codemem
                store = codemem.store
                for i in range(self.skills):
                    skill = store.create_draft(MANY, f"skill_{i:04d}", f"Skill number {i}.", TRIVIAL, [])
                    store.approve(skill.id, MANY, 1)
                store.approve(store.create_draft(ONE, "trivial", "Add one.", TRIVIAL, []).id, ONE, 1)
                tokens = PersonalTokens(codemem.engine)
                issued = {"many": tokens.issue(MANY)[1], "one": tokens.issue(ONE)[1]}
                async with skill_endpoints(codemem, "http://127.0.0.1") as routes:
                    server = uvicorn.Server(uvicorn.Config(http_app(routes), host="127.0.0.1", port=0,
                                                           lifespan="off", log_level="warning"))
                    task = asyncio.create_task(server.serve())
                    while not server.started:
                        await asyncio.sleep(0.01)
                    port = server.servers[0].sockets[0].getsockname()[1]
                    self.ready.set_result((f"http://127.0.0.1:{port}", issued))
                    await asyncio.to_thread(self.stop.wait)
                    server.should_exit = True
                    await task
        except BaseException as error:
            if not self.ready.done():
                self.ready.set_exception(error)
            raise

    async def skill_run(self) -> float:
        """What the `/skill run trivial n=1` job does, timed in ms: prepare, then the runner."""
        started = time.perf_counter()
        runner = self.codemem.skills.runner
        prepared = runner.prepare(Caller(ONE), name="trivial", arguments="n=1", trigger=RunTrigger.COMMAND.value)
        outcome = await runner.start(prepared)
        assert outcome.succeeded, outcome.run.error
        return (time.perf_counter() - started) * 1000


def client(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=120)
    return Client(streamable_http_client(url + "/mcp", http_client=http))


async def timed(work: Any) -> float:
    started = time.perf_counter()
    await work
    return (time.perf_counter() - started) * 1000


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(server: ServerThread, rounds: int, concurrent_calls: int) -> dict[str, float]:
    async with client(server.url, server.tokens["many"]) as many, client(server.url, server.tokens["one"]) as one:
        assert len((await many.list_tools()).tools) == server.skills + 1
        big, small, calls, direct = [], [], [], []
        for _ in range(2):   # warm-up
            await one.call_tool("trivial", {"n": 1})
            await asyncio.to_thread(server.run, server.skill_run())
        for _ in range(rounds):   # alternate, so drift hits both sides
            big.append(await timed(many.list_tools()))
            small.append(await timed(one.list_tools()))
            calls.append(await timed(one.call_tool("trivial", {"n": 1})))
            direct.append(await asyncio.to_thread(server.run, server.skill_run()))
        alone = statistics.median(calls)
        together = await asyncio.gather(*(timed(one.call_tool("trivial", {"n": i})) for i in range(concurrent_calls)))
    return {"list_ms": statistics.median(big), "list_one_ms": statistics.median(small),
            "call_ms": alone, "skill_run_ms": statistics.median(direct),
            "concurrent_p50_ms": p(list(together), 0.5), "concurrent_p99_ms": p(list(together), 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds, 100 skills, 10 concurrent calls")
    parser.add_argument("--skills", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--sandbox", default="pool", choices=["pool", "subprocess"])
    args = parser.parse_args()
    logging.disable(logging.INFO)   # only the results on the terminal
    if args.quick:
        args.skills, args.rounds, args.concurrent, args.sandbox = 100, 3, 10, "subprocess"
    with tempfile.TemporaryDirectory() as folder, EmulatorServer() as emulator, \
            ServerThread(Path(folder), emulator.url, args.skills, args.sandbox) as server:
        found = asyncio.run(measure(server, args.rounds, args.concurrent))
    print(f"tools/list, {args.skills} skills: {found['list_ms']:.1f} ms median (goal <= 50 ms); "
          f"one skill: {found['list_one_ms']:.1f} ms; ratio {found['list_ms'] / found['list_one_ms']:.2f}x")
    print(f"tools/call of a trivial skill: {found['call_ms']:.1f} ms; /skill run's work: "
          f"{found['skill_run_ms']:.1f} ms; ratio {found['call_ms'] / found['skill_run_ms']:.2f}x (goal <= 1.1x)")
    print(f"{args.concurrent} concurrent calls: p50 {found['concurrent_p50_ms']:.1f} ms, "
          f"p99 {found['concurrent_p99_ms']:.1f} ms; p99 / one call alone "
          f"{found['concurrent_p99_ms'] / found['call_ms']:.2f}x")


if __name__ == "__main__":
    main()
