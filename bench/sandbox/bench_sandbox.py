"""Sandbox benchmarks against a Jupyter kernel measured in the same run. Prints figures and ratios.

Run: ``python bench/sandbox/bench_sandbox.py [--quick]`` (quick: a few repetitions, no Jupyter baseline). Goals (issue 4): warm-pool first exec <= 5 ms; exec and
tool-call round trips <= 1 ms; 5 MB through the bridge <= 30 ms; idle memory <= 15 MB per session.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

from sandbox import SubprocessSession, WorkerPool, plan_isolation

PAYLOAD = os.urandom(5 * 1024 * 1024)
CATALOGUE = {
    "types": "",
    "functions": [
        {"name": "ping", "signature": "async def ping(n: int) -> int", "doc": ""},
        {"name": "file_read", "signature": "async def file_read(handle: str) -> bytes", "doc": ""},
    ],
}


async def dispatch(name: str, args: dict) -> Any:
    return args["n"] if name == "ping" else PAYLOAD


def pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            pass
    return found


def ms(seconds: float) -> float:
    return seconds * 1000


async def bench_sandbox(repeat: int = 1) -> dict[str, float]:
    """The figures; `repeat` scales the repetitions (1: the full run)."""
    figures: dict[str, float] = {}
    cold = []
    for _ in range(max(1, 5 // repeat)):
        started = time.perf_counter()
        async with SubprocessSession(dispatch) as session:
            await session.exec("1")
            cold.append(time.perf_counter() - started)
    figures["first exec, cold"] = ms(statistics.median(cold))

    pool = WorkerPool(warm=1, max_sessions=64)
    await pool.start()
    warm = []
    for index in range(max(1, 10 // repeat)):
        while not pool._spares:  # let the refill finish, as between two conversations
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        session = pool.session(f"conversation-{index}", dispatch)
        await session.exec("1")
        warm.append(time.perf_counter() - started)
        await session.close()
    figures["first exec, warm pool"] = ms(statistics.median(warm))
    await pool.close()

    async with SubprocessSession(dispatch) as session:
        await session.define_tools(CATALOGUE)
        rounds = []
        for _ in range(300 // repeat):
            started = time.perf_counter()
            await session.exec("1")
            rounds.append(time.perf_counter() - started)
        figures["exec round trip"] = ms(statistics.median(rounds))
        calls = 500 // repeat
        result = await session.exec(f"for i in range({calls}):\n    await ping(i)")
        empty = await session.exec(f"for i in range({calls}):\n    pass")
        figures["tool call round trip"] = (result.duration_ms - empty.duration_ms) / calls
        blob = []
        for _ in range(max(1, 10 // repeat)):
            started = time.perf_counter()
            await session.exec("data = await file_read('x')\nlen(data)")
            blob.append(time.perf_counter() - started)
        figures["5 MB through the bridge"] = ms(statistics.median(blob)) - figures["exec round trip"]
    async with SubprocessSession(dispatch) as idle:  # a session with tools, idle after a first exec
        await idle.define_tools(CATALOGUE)
        await idle.exec("x = 1")
        await asyncio.sleep(0.3)
        assert idle._worker is not None
        figures["idle memory per session (MB PSS)"] = pss_mb(tree(idle._worker.pid))
    return figures


def bench_jupyter() -> dict[str, float]:
    from jupyter_client import KernelManager

    figures: dict[str, float] = {}
    started = time.perf_counter()
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    client.execute_interactive("1", timeout=60)
    figures["first exec, cold"] = ms(time.perf_counter() - started)
    rounds = []
    for _ in range(100):
        started = time.perf_counter()
        client.execute_interactive("1", timeout=60, output_hook=lambda message: None)
        rounds.append(time.perf_counter() - started)
    figures["exec round trip"] = ms(statistics.median(rounds))
    started = time.perf_counter()
    client.execute_interactive("import os\ndata = os.urandom(5 * 1024 * 1024)\nprint(len(data.hex()))", timeout=60, output_hook=lambda m: None)
    time.sleep(0.5)
    assert manager.provisioner is not None
    figures["idle memory per session (MB PSS)"] = pss_mb(tree(manager.provisioner.process.pid))
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    return figures


def main(quick: bool) -> None:
    print(plan_isolation().report.summary())
    ours = asyncio.run(bench_sandbox(repeat=20 if quick else 1))
    jupyter: dict[str, float] = {}
    if quick:
        print("Jupyter baseline skipped in --quick mode")
    else:
        try:
            jupyter = bench_jupyter()
        except Exception as exc:  # the baseline is optional: say why it is missing
            print(f"Jupyter baseline unavailable ({exc}); install the dev extra (jupyter_client, ipykernel)")
    goals = {"first exec, warm pool": 5, "exec round trip": 1, "tool call round trip": 1, "5 MB through the bridge": 30,
             "idle memory per session (MB PSS)": 15}
    print(f"\n{'measure':36} {'codemem':>10} {'jupyter':>10} {'ratio':>8} {'goal':>8}")
    for name, value in ours.items():
        base = jupyter.get(name) or jupyter.get(name.replace(", warm pool", ", cold")) if "warm" in name else jupyter.get(name)
        ratio = f"{base / value:6.1f}x" if base else "-"
        goal = goals.get(name)
        verdict = "" if goal is None else ("ok" if value <= goal else "MISSED")
        print(f"{name:36} {value:10.2f} {(f'{base:10.2f}' if base else '-'.rjust(10))} {ratio:>8} {(f'<={goal} {verdict}' if goal else ''):>8}")
    print("\n(ms unless noted; ratio = jupyter / codemem, higher is better; warm pool is compared with Jupyter's cold start)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few repetitions and no baseline, for the smoke test")
    main(parser.parse_args().quick)
