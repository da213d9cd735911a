"""Run the emulator with uvicorn: in a background thread for tests, or in the foreground for demos."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from integrations.emulator.app import GRAPH_PREFIX, create_app
from integrations.emulator.oauth import microsoft_authority
from integrations.emulator.seed import DEMO_TOKEN, DEMO_USER_EMAIL, build_demo_workspace
from integrations.emulator.state import EmulatorState
from integrations.emulator.tls import TlsFiles, make_tls_files

_log = logging.getLogger(__name__)
_STARTUP_TIMEOUT_SECONDS = 15.0


class EmulatorServer:
    """The emulator on 127.0.0.1 over HTTP (`url`) and HTTPS (`https_url`, trusted via `ca_path`), one state.

    Use `with EmulatorServer() as server:` (also fine inside async tests: the servers have their own
    threads and event loops) or `async with`. Without a `state`, a fresh demo workspace is built for
    the current time. The HTTPS certificate comes from a CA made at start and deleted at stop.
    """

    def __init__(self, state: EmulatorState | None = None, *, host: str = "127.0.0.1", port: int = 0, tls_port: int = 0) -> None:
        self.state = state if state is not None else build_demo_workspace(datetime.now(UTC))
        self._host = host
        self._ports = (port, tls_port)
        self._servers: list[tuple[uvicorn.Server, threading.Thread]] = []
        self._bound: list[int] = []
        self._tls_dir: Path | None = None
        self._tls: TlsFiles | None = None

    @property
    def url(self) -> str:
        """HTTP base URL, e.g. `http://127.0.0.1:54321`."""
        return f"http://{self._host}:{self._port(0)}"

    @property
    def https_url(self) -> str:
        """HTTPS base URL, e.g. `https://127.0.0.1:54322` (trust `ca_path`)."""
        return f"https://{self._host}:{self._port(1)}"

    @property
    def ca_path(self) -> Path:
        """PEM file of the CA that signed the HTTPS certificate."""
        if self._tls is None:
            raise RuntimeError("EmulatorServer is not running: call start() or use it as a context manager")
        return self._tls.ca

    @property
    def graph_url(self) -> str:
        """The Graph base URL to give to the SDK, e.g. `http://127.0.0.1:54321/v1.0`."""
        return self.url + GRAPH_PREFIX

    @property
    def microsoft_authority(self) -> str:
        """The MSAL authority (HTTPS) of the emulated Microsoft identity platform."""
        return microsoft_authority(self.https_url)

    def start(self) -> None:
        """Start serving on both ports and wait until they are bound."""
        if self._servers:
            raise RuntimeError("EmulatorServer is already running")
        self._tls_dir = Path(tempfile.mkdtemp(prefix="codemem-emulator-tls-"))
        self._tls = make_tls_files(self._tls_dir)
        app = create_app(self.state)
        try:
            self._bound = [self._serve(app, self._ports[0], None), self._serve(app, self._ports[1], self._tls)]
        except BaseException:
            self.stop()
            raise

    def _serve(self, app: ASGIApp, port: int, tls: TlsFiles | None) -> int:
        config = uvicorn.Config(
            app, host=self._host, port=port, log_level="warning", lifespan="off", access_log=False,
            log_config=None,   # uvicorn's own config would take over the host process's uvicorn loggers
            timeout_graceful_shutdown=1,   # clients keep connections alive: don't wait for them at stop
            ssl_certfile=str(tls.certificate) if tls else None, ssl_keyfile=str(tls.key) if tls else None,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"workspace-emulator-{'https' if tls else 'http'}", daemon=True)
        thread.start()
        self._servers.append((server, thread))
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the workspace emulator could not start on {self._host}:{port} (is the port in use?)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workspace emulator did not start within {_STARTUP_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.01)
        return server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving, join the threads and delete the TLS files."""
        for server, _ in self._servers:
            server.should_exit = True
        for _, thread in self._servers:
            thread.join()
        self._servers, self._bound = [], []
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
        self._tls_dir = self._tls = None

    def _port(self, which: int) -> int:
        if len(self._bound) < 2:
            raise RuntimeError("EmulatorServer is not running: call start() or use it as a context manager")
        return self._bound[which]

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
