"""Benchmark: the agent's context and search with many MCP tools registered.

- Prompt tokens of one MCP conversation (search, load, grant, call, answer the server's question, propose a
  skill: the tests' journey) with 20 vs 2,000 MCP tools registered from two real servers (the tickets server
  and one with many look-alike tools). Goal: ratio <= 1.05 — the prompt must not grow with the catalogue.
- search_functions and load_functions latency with 2,000 MCP tools registered: the registry's search and
  describe (what those meta-tools call), after the kept listing is checked for freshness. Goal: p95 <= 2 ms.

Tokens are counted as the replay model reports them (LangChain's `count_tokens_approximately` over the
messages and tool schemas sent).

    python bench/mcp/bench_catalog.py [--tools 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.mcp.servers import mcp_servers  # noqa: E402
from bot.app import open_codemem  # noqa: E402
from bot.core.views import ThreadRef  # noqa: E402
from bot.settings import Settings  # noqa: E402
from integrations.emulator.server import EmulatorServer  # noqa: E402
from integrations.mcp.catalog import McpTools  # noqa: E402
from integrations.mcp.client import McpServerConfig  # noqa: E402
from integrations.registry import default_registry  # noqa: E402
from skills_db.models import Owner  # noqa: E402

TOKEN_GOAL, LATENCY_GOAL_MS = 1.05, 2.0
USER = Owner("bench", "T", "U")
CODE = ('async def run(title: str = "Laptop battery swells", priority: str | None = None) -> dict:\n'
        '    ticket = await tickets__create_ticket(title=title, priority=priority)\n'
        '    return {"id": ticket.id, "priority": ticket.priority}\n\nprint(await run())\n')
TURNS = [
    {"tool_calls": [{"name": "search_functions", "args": {"query": "open a support ticket"}}]},
    {"tool_calls": [{"name": "load_functions", "args": {"names": ["tickets__create_ticket"]}}]},
    {"tool_calls": [{"name": "ask_user", "args": {"question": "Open the ticket?", "choices": ["Yes", "No"],
                                                   "grant_writes": True}}]},
    {"tool_calls": [{"name": "execute_code", "args": {"code": CODE}}]},
    {"tool_calls": [{"name": "execute_code", "args": {"code": CODE}}]},
    {"tool_calls": [{"name": "propose_skill", "args": {"name": "open_ticket", "description": "Open a ticket"}}]},
    {"content": "Opened."},
]
QUERIES = ["open a support ticket", "close a ticket", "list open tickets", "export invoice records",
           "assign a lead", "comment on a ticket", "search meeting records", "tag a shipment"]


class Silent:
    async def post(self, thread, view) -> str:
        return "1"

    async def update(self, thread, message_id, view) -> None:
        pass


async def conversation_tokens(base: str, many: bool, tag: str) -> tuple[int, int]:
    """Prompt tokens of the conversation, and how many messages it has."""
    servers = {"tickets": {"url": base + "/tickets/", "trusted": True}}
    if many:
        servers["many"] = {"url": base + "/many/"}
    with tempfile.TemporaryDirectory() as data, EmulatorServer() as emulator:
        replay = Path(data) / "replay.yaml"
        replay.write_text(yaml.safe_dump({"turns": TURNS}, sort_keys=False))
        settings = Settings(model=f"replay:{replay}", data_dir=Path(data), emulator_url=emulator.url,
                            sandbox="subprocess", mcp_servers=json.dumps(servers))
        async with open_codemem(settings) as codemem:
            thread = ThreadRef("bench", "T", "C", tag)
            codemem.surfaces.attach("bench", Silent())
            for text in ("open a ticket: my laptop battery swells", "Yes", "high"):
                await codemem.conversations.on_message(Silent(), thread, USER, text)
                await codemem.jobs.drain()
            snapshot = await codemem.conversations.graph.aget_state({"configurable": {"thread_id": thread.thread_id}})
            state = snapshot.values
            assert state.get("proposal"), "the conversation did not reach its skill proposal"
            return state["usage"]["input_tokens"], len(state["messages"])


async def latency(base: str, rounds: int) -> tuple[int, list[float], list[float]]:
    registry = default_registry()
    mcp = McpTools(registry, [McpServerConfig("tickets", base + "/tickets/", trusted=True),
                              McpServerConfig("many", base + "/many/")])
    await mcp.refresh()
    names = [s.name for s in registry.specs() if s.provider.startswith("mcp:")]
    registry.search("warm up")
    search, load = [], []
    for n in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            await mcp.refresh("bench:T:U")
            registry.search(query)
            search.append(time.perf_counter() - started)
        chosen = [names[(n * 7 + k) % len(names)] for k in range(3)]
        started = time.perf_counter()
        await mcp.refresh("bench:T:U")
        registry.describe(chosen)
        load.append(time.perf_counter() - started)
    await mcp.aclose()
    return len(names), search, load


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", type=int, default=2000, help="MCP tools registered in the big case")
    parser.add_argument("--quick", action="store_true", help="200 tools and a few rounds (a smoke test)")
    args = parser.parse_args()
    tools, rounds = (200, 5) if args.quick else (args.tools, 50)
    logging.disable(logging.WARNING)
    with mcp_servers(many_tools=tools - 5) as base:   # the tickets server has 5 tools
        (few, _), (lots, _) = (asyncio.run(conversation_tokens(base, many, f"t{many}")) for many in (False, True))
        registered, search, load = asyncio.run(latency(base, rounds))
    ratio = lots / few
    print(f"prompt tokens of the MCP conversation: 5 MCP tools {few}, {registered} MCP tools {lots}; ratio "
          f"{ratio:.3f} (goal <= {TOKEN_GOAL}) {'ok' if ratio <= TOKEN_GOAL else 'OVER GOAL'}")
    for what, values in (("search", search), ("load", load)):
        print(f"{what} with {registered} MCP tools: p50 {statistics.median(values) * 1000:.3f} ms, p95 "
              f"{p95(values):.3f} ms (goal p95 <= {LATENCY_GOAL_MS} ms) "
              f"{'ok' if p95(values) <= LATENCY_GOAL_MS else 'OVER GOAL'}")


if __name__ == "__main__":
    main()
