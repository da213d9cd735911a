"""`codemem …` as a real process on a pseudo-terminal, the way a person runs it: type keys, wait for text."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.e2e.harness import REPO

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>]|\r")


def _controlling_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, so Ctrl-C sends SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A `codemem` process whose stdin, stdout and stderr are one pty of `columns` × `rows`."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], columns: int = 100, rows: int = 40) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CODEMEM_"))}
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=cwd, stdin=slave, stdout=slave,
                                        stderr=slave, start_new_session=True, preexec_fn=_controlling_terminal,
                                        env={**clean, "PYTHONPATH": str(REPO), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", **env})
        os.close(slave)
        self.raw = b""
        self.seen = 0   # how much of the screen text `expect` has consumed

    @property
    def text(self) -> str:
        """Everything written so far, without terminal control sequences."""
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:   # the process closed the terminal
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, wanted: str, timeout: float = 60.0) -> str:
        """Wait until `wanted` appears after what earlier calls consumed; return the text up to its end."""
        deadline = time.monotonic() + timeout
        while (at := self.text.find(wanted, self.seen)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(0.2, remaining)):
                raise AssertionError(f"{wanted!r} did not appear; the terminal shows:\n{self.text[self.seen:]}")
        start, self.seen = self.seen, at + len(wanted)
        return self.text[start:self.seen]

    def type(self, keys: str) -> None:
        """Type `keys` (use "\\r" for Enter, "\\x03" for Ctrl-C, "\\x04" for Ctrl-D)."""
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the process to end, reading what it writes meanwhile; its exit status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        return self.process.wait(max(deadline - time.monotonic(), 0.1))

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        os.close(self.master)
