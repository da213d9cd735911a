"""How a worker process is launched: its command line, environment, resource limits and jail.

This is the one place that builds the worker's command line: a bubblewrap jail and a dedicated
unprivileged uid (see ``isolation``) wrap it here, without the session knowing.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.isolation import JailPlan, jail_arguments

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
JAILED_WORKER_SCRIPT = "/codemem/worker.py"
WORKER_PATH_VARIABLE = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class ResourceLimits:
    """Per-worker limits applied with ``setrlimit`` in the child before it runs Python.

    ``processes`` binds only with a dedicated uid (it counts every process of the uid);
    ``workspace_bytes`` sizes the jail's private /workspace and /tmp.
    """

    cpu_seconds: int = 600
    address_space_bytes: int = 1024**3
    file_size_bytes: int = 256 * 1024**2
    open_files: int = 256
    processes: int = 64
    workspace_bytes: int = 256 * 1024**2

    def apply(self, *, processes: bool = False) -> None:
        """Set the limits on the current process (called in the child between fork and exec)."""
        _lower(resource.RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 5)
        _lower(resource.RLIMIT_AS, self.address_space_bytes, self.address_space_bytes)
        _lower(resource.RLIMIT_FSIZE, self.file_size_bytes, self.file_size_bytes)
        _lower(resource.RLIMIT_NOFILE, self.open_files, self.open_files)
        if processes:
            _lower(resource.RLIMIT_NPROC, self.processes, self.processes)


def _lower(kind: int, soft: int, hard: int) -> None:
    """Lower a limit, never asking for more than the current hard limit allows."""
    _, current_hard = resource.getrlimit(kind)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


@dataclass(frozen=True)
class WorkerLaunch:
    """Everything needed to start one worker: interpreter, private workspace, limits, jail and uid.

    Without a ``plan`` the worker runs as an own process of the host's uid (``IsolationLevel.PROCESS``).
    """

    python: str
    workspace: Path
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    plan: JailPlan | None = None
    uid: int | None = None
    share_workspace: bool = False
    owns_workspace: bool = False
    """Remove ``workspace`` when the worker ends (pre-started pool workers have no session to do it)."""
    """Jailed: bind ``workspace`` as /workspace (else the jail has its own tmpfs and the host folder is only the cwd)."""

    @property
    def jailed(self) -> bool:
        return self.plan is not None and self.plan.bwrap is not None

    def command(self, request_fd: int, reply_fd: int) -> list[str]:
        """The worker's command line: isolated mode, no ``site``, the frame pipes given by fd number."""
        if self.jailed:
            assert self.plan is not None
            shared = self.workspace if self.share_workspace else None
            prefix = jail_arguments(self.plan, workspace_bytes=self.limits.workspace_bytes, uid=self.uid, workspace=shared)
            return [*prefix, self.plan.python, "-I", "-S", JAILED_WORKER_SCRIPT, str(request_fd), str(reply_fd)]
        return [self.python, "-I", "-S", str(WORKER_SCRIPT), str(request_fd), str(reply_fd)]

    def environment(self) -> dict[str, str]:
        """A fresh environment built from scratch: nothing of the host's (no secrets) reaches the worker."""
        return {"PATH": WORKER_PATH_VARIABLE, "LANG": "C.UTF-8", "HOME": str(self.workspace)}

    def prepare(self) -> None:
        """Host-side setup before the spawn: give a dedicated uid the workspace it will write to."""
        if self.uid is not None and (self.share_workspace or not self.jailed):
            os.chown(self.workspace, self.uid, self.uid)
            os.chmod(self.workspace, 0o711 if self.jailed else 0o700)  # bubblewrap, without capabilities, must enter it

    def preexec(self) -> None:
        """In the child between fork and exec: limits, then (unjailed) the switch to the dedicated uid."""
        self.limits.apply(processes=self.uid is not None)
        if self.uid is not None and not self.jailed:
            os.setgroups([])
            os.setresgid(self.uid, self.uid, self.uid)
            os.setresuid(self.uid, self.uid, self.uid)
