"""MCP servers for the benchmarks, served from a process of their own (in a thread of the measuring process
they would share its GIL, and the server's own work would be counted against the client)."""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOUNS = ["invoice", "ticket", "contact", "deal", "meeting", "task", "lead", "order", "shipment", "survey"]
VERBS = ["list", "get", "create", "update", "archive", "search", "export", "assign", "close", "tag"]


def _serve(tools: int, ports: multiprocessing.Queue) -> None:
    sys.path.insert(0, str(REPO))
    import logging

    import uvicorn
    from mcp.server import MCPServer
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from integrations.emulator.mcp_tickets import TicketBook, build_tickets_server, mcp_endpoint

    logging.disable(logging.WARNING)
    many = MCPServer("many")

    async def records(query: str, limit: int = 20) -> list[str]:
        return []

    for n in range(tools):
        noun, verb = NOUNS[n % 10], VERBS[(n // 10) % 10]
        many.add_tool(records, name=f"app{n // 100}_{verb}_{noun}_{n}",
                      description=f"{verb.title()} {noun} records in app {n // 100} that match `query`.")
    app = Starlette(routes=[Mount("/tickets", app=mcp_endpoint(build_tickets_server(TicketBook.seeded()))),
                            Mount("/many", app=mcp_endpoint(many))])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="error"))

    async def announce() -> None:
        import asyncio

        while not server.started:
            await asyncio.sleep(0.01)
        ports.put(server.servers[0].sockets[0].getsockname()[1])

    async def main() -> None:
        import asyncio

        await asyncio.gather(server.serve(), announce())

    import asyncio

    asyncio.run(main())


@contextlib.contextmanager
def mcp_servers(many_tools: int = 0) -> Iterator[str]:
    """A child process serving the tickets server at BASE/tickets/ and one with `many_tools` tools at
    BASE/many/; yields BASE."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(many_tools, ports), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=60)}"
    finally:
        process.terminate()
        process.join(10)
