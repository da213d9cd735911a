"""Running `codemem serve` as a real process against the emulator and the fake Slack Web API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


# A child process is started with CODEMEM_PORT=0: it binds a port the system picks, and that port is read
# from its listening socket. A port chosen beforehand (bind 0, close, hand the number over) could be taken
# by another process in between.
ANY_PORT = "0"


def listening_ports(pid: int) -> list[int]:
    """The TCP ports process `pid` listens on (read from Linux's /proc); none while it listens on none."""
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:   # the process is gone, or a descriptor closed while listing
        return []
    inodes = {link[len("socket:["):-1] for link in links if link.startswith("socket:[")}
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:   # 0A: LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_until_listening(process: subprocess.Popen, ready: Callable[[str], bool], timeout: float,
                         log: Callable[[], str]) -> str:
    """The base URL on which `process` listens and `ready(url)` holds (it may listen on others too, such as a
    built-in emulator's); AssertionError if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{' '.join(process.args[1:])} exited with {process.returncode}:\n{log()}")
        for port in listening_ports(process.pid):
            url = f"http://127.0.0.1:{port}"
            with contextlib.suppress(httpx.TransportError):
                if ready(url):
                    return url
        time.sleep(0.1)
    raise AssertionError(f"{' '.join(process.args[1:])} did not become ready in {timeout}s:\n{log()}")


class BotProcess:
    """`python -m bot serve` in HTTP mode; `restart()` kills it with SIGKILL and starts it again (on a new port)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env, "CODEMEM_HOST": "127.0.0.1", "CODEMEM_PORT": ANY_PORT}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.http = httpx.Client(timeout=10, trust_env=False)

    def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=REPO, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)

        def healthy(url: str) -> bool:
            return self.http.get(f"{url}/healthz").status_code == 200

        self.http.base_url = wait_until_listening(self.process, healthy, timeout, self.log)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def post(self, signed: tuple[str, dict[str, str]]) -> httpx.Response:
        body, headers = signed
        return self.http.post("/slack/events", content=body, headers=headers)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def wait_until(condition: Callable[[], object], what: str = "", timeout: float = 90.0) -> None:
    """Poll `condition` (a function, or an async one) every 0.1 s until it is true; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
