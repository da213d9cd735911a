"""CodeMem with MCP servers: the emulator's tickets server (and servers made by the tests), the real `mcp` SDK on
both ends, the real graph with a replay model."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.app import CodeMem, open_codemem
from bot.settings import Settings
from integrations.emulator.mcp_tickets import mcp_endpoint
from integrations.emulator.server import EmulatorServer
from mcp.server import MCPServer
from tests.agent.conftest import RecordingSurface, call, say, scenario, state_of, tool_outputs  # noqa: F401


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_tickets(emulator: EmulatorServer) -> None:
    httpx.post(emulator.url + "/_emulator/reset", trust_env=False).raise_for_status()


def tickets_url(emulator: EmulatorServer) -> str:
    return emulator.url + "/mcp/tickets/"


def tickets_state(emulator: EmulatorServer) -> dict[str, Any]:
    return httpx.get(emulator.url + "/_emulator/tickets", trust_env=False).json()


@pytest.fixture
def start(tmp_path: Path, emulator: EmulatorServer):
    """`async with start(replay_file, servers) as codemem:` — the app in this process with `servers`
    (CODEMEM_MCP_SERVERS as a dict); enter it again for a restart with the same data directory."""
    @contextlib.asynccontextmanager
    async def run(replay: Path | None, servers: dict[str, Any] | None = None) -> AsyncIterator[CodeMem]:
        settings = Settings(model=f"replay:{replay}" if replay else None, data_dir=tmp_path / "data",
                            emulator_url=emulator.url, exec_timeout=20, sandbox="subprocess",
                            mcp_servers=json.dumps(servers) if servers else None, mcp_timeout=10)
        async with open_codemem(settings) as codemem:
            yield codemem
    return run


@contextlib.contextmanager
def serve_mcp(server: MCPServer) -> Iterator[str]:
    """`server` over Streamable HTTP on a free loopback port, in a thread; yields its URL."""
    app = Starlette(routes=[Mount("/mcp", app=mcp_endpoint(server))])
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test MCP server did not start"
        time.sleep(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp/"
    finally:
        uv.should_exit = True
        thread.join()
