"""Run the emulator with uvicorn: in a background thread for tests, or in the foreground for demos."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime
from types import TracebackType

import uvicorn

from integrations.emulator.app import GRAPH_PREFIX, create_app
from integrations.emulator.seed import DEMO_TOKEN, DEMO_USER_EMAIL, build_demo_workspace
from integrations.emulator.state import EmulatorState

_log = logging.getLogger(__name__)
_STARTUP_TIMEOUT_SECONDS = 15.0


class EmulatorServer:
    """The emulator on 127.0.0.1, served from a background thread.

    Use `with EmulatorServer() as server:` (also fine inside async tests: the server has its own
    thread and event loop) or `async with`. Without a `state`, a fresh demo workspace is built
    for the current time.
    """

    def __init__(self, state: EmulatorState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state if state is not None else build_demo_workspace(datetime.now(UTC))
        self._host = host
        self._requested_port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321`."""
        if self._port is None:
            raise RuntimeError("EmulatorServer is not running: call start() or use it as a context manager")
        return f"http://{self._host}:{self._port}"

    @property
    def graph_url(self) -> str:
        """The Graph base URL to give to the SDK, e.g. `http://127.0.0.1:54321/v1.0`."""
        return self.url + GRAPH_PREFIX

    def start(self) -> None:
        """Start serving and wait until the port is bound."""
        if self._server is not None:
            raise RuntimeError("EmulatorServer is already running")
        config = uvicorn.Config(
            create_app(self.state), host=self._host, port=self._requested_port,
            log_level="warning", lifespan="off", access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="workspace-emulator", daemon=True)
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the workspace emulator could not start on {self._host}:{self._requested_port} (is the port in use?)")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"the workspace emulator did not start within {_STARTUP_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self._port = server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join()
        self._server = self._thread = None
        self._port = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> EmulatorServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)


def serve_forever(host: str = "127.0.0.1", port: int = 8765, messages: int = 60) -> None:
    """Serve a fresh demo workspace in the foreground until interrupted (the `codemem emulator` command)."""
    state = build_demo_workspace(datetime.now(UTC), messages=messages)
    _log.warning(
        "workspace emulator: Graph at http://%s:%d%s (user %s, token %r); inspect at http://%s:%d/_emulator/mailbox",
        host, port, GRAPH_PREFIX, DEMO_USER_EMAIL, DEMO_TOKEN, host, port,
    )
    uvicorn.run(create_app(state), host=host, port=port, log_level="info", lifespan="off")
