"""Benchmark: the case-study skill rerun through the runner vs. the same code as a plain script.

Both run the same `run(...)` against the same workspace emulator, in one run:
- plain: the code is exec'd in this process with the tools as ordinary async functions (no sandbox, no
  store, no run record);
- pool (the default, CODEMEM_SANDBOX=pool): `SkillRunner.start` — authorization, argument typing, a
  pre-warmed jailed sandbox worker, tool calls over the bridge, skill memory, and the run recorded in SQLite;
- subprocess (CODEMEM_SANDBOX=subprocess): the same with a worker started for the run;
- floor: the plain script with one round trip to another process before each tool call (a child that echoes
  a byte): the least that any design keeping the code in one process and the tokens in another adds per
  tool call on this machine, since each call is then a request and a reply between processes.
Rounds alternate (plain, floor, pool, subprocess, plain, ...) after a warm-up of each, and the medians are
compared. Goal: runner / plain <= 1.15.

The emulator runs in a process of its own, as Graph is a server of its own. In a thread of this process
it would share the GIL with the runner's event loop, and the tools' own HTTP work would then take ~3.5 ms
longer per run under the runner than in the plain script (measured: per-tool medians equal when the
emulator has its own process), a cost the product does not have against Microsoft's servers.

On loopback a Graph request takes about 2 ms, so the product's fixed cost per run weighs far more than it
would against Microsoft's servers; `--graph-latency MS` delays every Graph request by MS milliseconds in the
emulator (the same delay for both sides) to show the ratio when the work itself takes longer.

    python bench/skills/bench_rerun.py [--rounds 21] [--messages 60] [--graph-latency 0] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bot import demo  # noqa: E402
from bot.agent.skill_code import skill_source  # noqa: E402
from bot.runtime.bridge import ToolBridge  # noqa: E402
from bot.runtime.skill_runner import SkillRunner  # noqa: E402
from bot.workspace import DemoWorkspace  # noqa: E402
from integrations.context import use_context  # noqa: E402
from integrations.emulator import EmulatorServer, build_demo_workspace  # noqa: E402
from integrations.emulator.faults import Fault  # noqa: E402
from integrations.registry import Registry, default_registry  # noqa: E402
from sandbox.pool import WorkerPool  # noqa: E402
from skills_db import Owner, SkillStore, init_db, make_engine  # noqa: E402

SCENARIO = demo.SCENARIO
TOOLS = ["outlook_list_messages", "outlook_list_attachments", "outlook_get_attachment", "onedrive_upload_file"]
OWNER = Owner("slack", "T1", "U1")
GOAL = 1.15
ECHO = "import os\nwhile os.write(1, os.read(0, 64)):\n    pass\n"   # echoes until its input ends


def case_study_code() -> str:
    turns = yaml.safe_load(SCENARIO.read_text())["turns"]
    code = next(c["args"]["code"] for t in turns for c in t.get("tool_calls", []) if c["name"] == "execute_code")
    return skill_source(code)


async def plain_script(code: str, registry: Registry, workspace: DemoWorkspace,
                       before_each_call: Callable[[], Awaitable[None]] | None = None) -> dict[str, Any]:
    """The code as a plain script: the tools are the registry's functions, called directly with a context
    (after `before_each_call`, when given)."""
    context = workspace.context_for(OWNER)
    scope: dict[str, Any] = {spec.name: spec.fn for spec in registry.specs()}
    if before_each_call is not None:
        scope = {name: _preceded(fn, before_each_call) for name, fn in scope.items()}
    exec(compile(code, "case_study.py", "exec"), scope)
    with use_context(context):
        return await scope["run"](days_back=15)


def _preceded(fn: Callable[..., Awaitable[Any]], before: Callable[[], Awaitable[None]]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        await before()
        return await fn(*args, **kwargs)
    return call


@contextlib.asynccontextmanager
async def round_trip_to_child() -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A function that sends a byte to a child process and waits for it to come back."""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", ECHO, stdin=asyncio.subprocess.PIPE,
                                                 stdout=asyncio.subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    stdin, stdout = child.stdin, child.stdout

    async def round_trip() -> None:
        stdin.write(b"x")
        await stdout.readexactly(1)

    try:
        yield round_trip
    finally:
        stdin.close()
        await child.wait()


def serve_emulator(messages: int, graph_latency_ms: float, urls: Any, stop: Any) -> None:
    """In the emulator's own process: serve a demo workspace of `messages` mails until `stop` is set."""
    state = build_demo_workspace(datetime.now(UTC), messages=messages)
    if graph_latency_ms:
        state.faults.append(Fault(path="/v1.0/", status=None, latency=graph_latency_ms / 1000, times=10**9))
    with EmulatorServer(state) as emulator:
        urls.put(emulator.url)
        stop.wait()


@contextlib.contextmanager
def emulator_process(messages: int, graph_latency_ms: float) -> Iterator[str]:
    """The URL of an emulator serving in a process of its own, for the duration of the block."""
    spawn = multiprocessing.get_context("spawn")
    urls, stop = spawn.Queue(), spawn.Event()
    process = spawn.Process(target=serve_emulator, args=(messages, graph_latency_ms, urls, stop), daemon=True)
    process.start()
    try:
        yield _first_url(urls, process)
    finally:
        stop.set()
        process.join(10)


def _first_url(urls: Any, process: Any) -> str:
    while True:
        try:
            return urls.get(timeout=0.5)
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(f"the emulator process ended with exit code {process.exitcode} before serving") from None


async def main(rounds: int, messages: int, graph_latency_ms: float) -> None:
    code = case_study_code()
    async with contextlib.AsyncExitStack() as stack:
        emulator_url = stack.enter_context(emulator_process(messages, graph_latency_ms))
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        round_trip = await stack.enter_async_context(round_trip_to_child())
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        stack.callback(engine.dispose)
        init_db(engine)
        store = SkillStore(engine)
        registry = default_registry()
        workspace = DemoWorkspace(emulator_url)
        pool = WorkerPool()
        await pool.start()
        stack.push_async_callback(pool.close)
        pooled = SkillRunner(store, ToolBridge(registry, workspace, backend="pool", pool=pool))
        fresh = SkillRunner(store, ToolBridge(registry, workspace, backend="subprocess"))
        skill = store.create_draft(OWNER, "save_email_attachments", "", code, TOOLS)
        store.approve(skill.id, OWNER, 1)

        async def via(chosen: SkillRunner) -> dict[str, Any]:
            prepared = chosen.prepare(OWNER, name="save_email_attachments", arguments="days_back=15")
            outcome = await chosen.start(prepared)
            if not outcome.succeeded:
                raise RuntimeError(outcome.run.error)
            return outcome.run.result

        jobs = {
            "plain": lambda: plain_script(code, registry, workspace),
            "floor": lambda: plain_script(code, registry, workspace, before_each_call=round_trip),
            "pool": lambda: via(pooled),
            "subprocess": lambda: via(fresh),
        }
        results = {}
        for name, job in jobs.items():  # warm-up: first Graph calls, imports
            results[name] = await job()
        assert len({result["saved"] for result in results.values()}) == 1, results
        timings: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(rounds):
            for name, job in jobs.items():
                await asyncio.sleep(0.1)   # the pool refills its spare worker between runs, as between real runs
                started = time.perf_counter()
                await job()
                timings[name].append((time.perf_counter() - started) * 1000)

    medians = {name: statistics.median(values) for name, values in timings.items()}
    latency = f", every Graph request delayed {graph_latency_ms:g} ms" if graph_latency_ms else ", loopback"
    print(f"case study: {results['plain']['saved']} files from {messages} messages, {rounds} rounds each{latency}")
    for name, values in timings.items():
        print(f"  {name:10s} median {medians[name]:8.1f} ms   min {min(values):8.1f} ms   max {max(values):8.1f} ms")
    for name in ("pool", "subprocess"):
        ratio = medians[name] / medians["plain"]
        verdict = "met" if ratio <= GOAL else "NOT met"
        fastest = min(timings[name]) / min(timings["plain"])   # noise only adds time: the least disturbed runs
        print(f"  ratio {name}/plain = {ratio:.3f} (goal <= {GOAL}: {verdict}), "
              f"overhead {medians[name] - medians['plain']:.1f} ms per run; fastest runs' ratio {fastest:.3f}")
    floor = medians["floor"] - medians["plain"]
    print(f"  ratio floor/plain = {medians['floor'] / medians['plain']:.3f}: one round trip between processes per "
          f"tool call adds {floor:.1f} ms per run here; the runner adds {medians['pool'] - medians['floor']:.1f} ms more")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--graph-latency", type=float, default=0.0, metavar="MS")
    parser.add_argument("--quick", action="store_true", help="2 rounds over 5 messages, for the smoke test")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.rounds, arguments.messages = 2, 5
    asyncio.run(main(arguments.rounds, arguments.messages, arguments.graph_latency))
