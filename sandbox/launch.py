"""How a worker process is launched: its command line, environment and resource limits.

This is the one place that builds the worker's command line, so a jail (bubblewrap, an unprivileged
uid) can later wrap it without touching the session.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
WORKER_PATH_VARIABLE = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class ResourceLimits:
    """Per-worker limits applied with ``setrlimit`` in the child before it runs Python."""

    cpu_seconds: int = 600
    address_space_bytes: int = 1024**3
    file_size_bytes: int = 256 * 1024**2
    open_files: int = 256

    def apply(self) -> None:
        """Set the limits on the current process (called in the child between fork and exec)."""
        _lower(resource.RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 5)
        _lower(resource.RLIMIT_AS, self.address_space_bytes, self.address_space_bytes)
        _lower(resource.RLIMIT_FSIZE, self.file_size_bytes, self.file_size_bytes)
        _lower(resource.RLIMIT_NOFILE, self.open_files, self.open_files)


def _lower(kind: int, soft: int, hard: int) -> None:
    """Lower a limit, never asking for more than the current hard limit allows."""
    _, current_hard = resource.getrlimit(kind)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


@dataclass(frozen=True)
class WorkerLaunch:
    """Everything needed to start one worker: interpreter, private workspace, limits."""

    python: str
    workspace: Path
    limits: ResourceLimits = field(default_factory=ResourceLimits)

    def command(self, request_fd: int, reply_fd: int) -> list[str]:
        """The worker's command line: isolated mode, no ``site``, the frame pipes given by fd number."""
        return [self.python, "-I", "-S", str(WORKER_SCRIPT), str(request_fd), str(reply_fd)]

    def environment(self) -> dict[str, str]:
        """A fresh environment built from scratch: nothing of the host's (no secrets) reaches the worker."""
        return {"PATH": WORKER_PATH_VARIABLE, "LANG": "C.UTF-8", "HOME": str(self.workspace)}
