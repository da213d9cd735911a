"""Benchmark: an MCP tool call through the sandbox bridge vs the same call made directly with the `mcp` client.

Both call the tickets server's `get_ticket` (served from a process of its own), in one run:
- direct: one `mcp.Client` kept open, `await client.call_tool("get_ticket", ...)` in a loop;
- bridge: sandbox code calling `await tickets__get_ticket(ticket_id=2)` in a loop, each call going from the
  sandbox worker to the host, through the registry (schema validation, grants), the MCP client (the user's
  kept connection) to the server, and the typed result back into the sandbox.
Rounds alternate (direct, bridge, direct, ...) after a warm-up; the medians per call are compared, and the
fastest rounds too (on a busy machine noise only adds time). Goal: bridge / direct <= 1.3.

    python bench/mcp/bench_call.py [--rounds 15] [--calls 50] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.mcp.servers import mcp_servers  # noqa: E402
from bot.runtime.bridge import ToolBridge  # noqa: E402
from bot.workspace import DemoWorkspace  # noqa: E402
from integrations.mcp.catalog import McpTools  # noqa: E402
from integrations.mcp.client import McpServerConfig  # noqa: E402
from integrations.registry import Registry  # noqa: E402
from mcp import Client  # noqa: E402
from skills_db import Owner  # noqa: E402

GOAL = 1.3
USER = Owner("bench", "T", "U")


async def measure(rounds: int, calls: int) -> dict[str, float]:
    with mcp_servers() as base:
        url = base + "/tickets/"
        registry = Registry()
        mcp = McpTools(registry, [McpServerConfig("tickets", url, trusted=True)])
        await mcp.refresh()
        bridge = ToolBridge(registry, DemoWorkspace("http://127.0.0.1:9"), backend="subprocess", mcp=mcp)
        session = await bridge.open(USER, ["tickets__get_ticket"])
        loop = f"for _ in range({calls}):\n    ticket = await tickets__get_ticket(ticket_id=2)\nprint(ticket.title)"
        per_call: dict[str, list[float]] = {"direct": [], "bridge": []}
        async with Client(url) as direct:
            async def run_direct() -> None:
                for _ in range(calls):
                    result = await direct.call_tool("get_ticket", {"ticket_id": 2})
                    assert not result.is_error

            async def run_bridge() -> None:
                result = await session.session.exec(loop, timeout=120)
                assert result.error is None, result.error

            for warm in (run_direct, run_bridge):
                await warm()
            for _ in range(rounds):
                for name, run in (("direct", run_direct), ("bridge", run_bridge)):
                    started = time.perf_counter()
                    await run()
                    per_call[name].append((time.perf_counter() - started) / calls)
        await session.close()
        await mcp.aclose()
    return {**{name: statistics.median(values) for name, values in per_call.items()},
            **{f"{name} fastest": min(values) for name, values in per_call.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 10 calls (a smoke test)")
    args = parser.parse_args()
    rounds, calls = (3, 10) if args.quick else (args.rounds, args.calls)
    logging.disable(logging.WARNING)
    medians = asyncio.run(measure(rounds, calls))
    ratio = medians["bridge"] / medians["direct"]
    fastest = medians["bridge fastest"] / medians["direct fastest"]
    print(f"MCP call, median per call over {rounds} rounds of {calls}: direct {medians['direct'] * 1000:.2f} ms, "
          f"through the bridge {medians['bridge'] * 1000:.2f} ms")
    print(f"ratio bridge/direct: {ratio:.2f}x (goal <= {GOAL}x) {'ok' if ratio <= GOAL else 'OVER GOAL'}; "
          f"of the fastest rounds (noise only adds time): {fastest:.2f}x")


if __name__ == "__main__":
    main()
