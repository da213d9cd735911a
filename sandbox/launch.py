"""How a worker process is launched: its command line, environment, resource limits and jail.

This is the one place that builds the worker's command line: a bubblewrap jail and a dedicated
unprivileged uid (see ``isolation``) wrap it here, without the session knowing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.cgroups import CgroupLimits, WorkerCgroup
from sandbox.isolation import JailFiles, JailPlan, jail_arguments

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
JAILED_WORKER_SCRIPT = "/codemem/worker.py"
WORKER_PATH_VARIABLE = "/usr/local/bin:/usr/bin:/bin"
WORKSPACE_PREFIX = "codemem-"
WORKSPACE_KINDS = ("pool", "sandbox")


def new_workspace(kind: str) -> Path:
    """A fresh private folder for a worker (``kind``: pool or sandbox), named after this process so that one
    left by a process that died can be recognised and removed (``remove_stale_workspaces``)."""
    return Path(tempfile.mkdtemp(prefix=f"{WORKSPACE_PREFIX}{kind}-{os.getpid()}-"))


@functools.lru_cache(maxsize=1)
def remove_stale_workspaces() -> int:
    """Remove the worker folders left in the temporary folder by CodeMem processes that are gone (once per
    process); how many were removed."""
    removed = 0
    for kind in WORKSPACE_KINDS:
        for folder in Path(tempfile.gettempdir()).glob(f"{WORKSPACE_PREFIX}{kind}-*"):
            owner = folder.name[len(f"{WORKSPACE_PREFIX}{kind}-"):].split("-", 1)[0]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists() and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed


@dataclass(frozen=True)
class ResourceLimits:
    """Per-worker limits: ``setrlimit`` ones, which the worker sets on itself before it serves any request, and
    the control group's, which bind the worker and everything it starts together.

    ``processes`` is the group's process limit, and the uid's where the worker has a dedicated one;
    ``memory_bytes`` (swap included: SysV shared memory, memfd and tmpfs pages count too) and ``cpus`` (a
    quota in cores) bind where the host can make control groups; ``workspace_bytes`` sizes the jail's
    private /workspace and /tmp.
    """

    cpu_seconds: int = 600
    address_space_bytes: int = 1024**3
    file_size_bytes: int = 256 * 1024**2
    open_files: int = 256
    processes: int = 64
    workspace_bytes: int = 256 * 1024**2
    memory_bytes: int = 1024**3
    cpus: float = 1.0

    def cgroup(self) -> CgroupLimits:
        """The limits of the worker's control group."""
        return CgroupLimits(self.memory_bytes, self.processes, self.cpus)

    def argument(self, *, processes: bool = False) -> str:
        """The limits as the worker's ``--limits`` argument: ``NAME=SOFT:HARD`` pairs of ``resource.RLIMIT_*``."""
        limits = {"CPU": (self.cpu_seconds, self.cpu_seconds + 5),
                  "AS": (self.address_space_bytes,) * 2,
                  "FSIZE": (self.file_size_bytes,) * 2,
                  "NOFILE": (self.open_files,) * 2}
        if processes:
            limits["NPROC"] = (self.processes,) * 2
        return ",".join(f"{name}={soft}:{hard}" for name, (soft, hard) in limits.items())


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

    def command(self, request_fd: int, reply_fd: int, files: JailFiles | None = None) -> list[str]:
        """The worker's command line: isolated mode, no ``site``, the frame pipes given by fd number, its limits
        (jailed: with the jail's ``files`` open)."""
        arguments = [str(request_fd), str(reply_fd), "--limits", self.limits.argument(processes=self.uid is not None)]
        if self.jailed:
            assert self.plan is not None and files is not None
            shared = self.workspace if self.share_workspace else None
            prefix = jail_arguments(self.plan, workspace_bytes=self.limits.workspace_bytes, uid=self.uid,
                                    files=files, workspace=shared)
            return [*prefix, self.plan.python, "-I", "-S", JAILED_WORKER_SCRIPT, *arguments]
        return [self.python, "-I", "-S", str(WORKER_SCRIPT), *arguments]

    def environment(self) -> dict[str, str]:
        """A fresh environment built from scratch: nothing of the host's (no secrets) reaches the worker."""
        return {"PATH": WORKER_PATH_VARIABLE, "LANG": "C.UTF-8", "HOME": str(self.workspace)}

    def jail_files(self) -> contextlib.AbstractContextManager[JailFiles | None]:
        """The files the jail reads from descriptors, open while the worker is being started (None unjailed)."""
        if not self.jailed:
            return contextlib.nullcontext()
        assert self.plan is not None
        return JailFiles.open(self.plan)

    def make_cgroup(self) -> WorkerCgroup | None:
        """The worker's control group with its limits, where the plan has control groups (else None)."""
        if self.plan is None or self.plan.cgroups is None:
            return None
        return WorkerCgroup.create(self.plan.cgroups, self.limits.cgroup())

    def prepare(self) -> None:
        """Host-side setup before the spawn: give a dedicated uid the workspace it will write to."""
        if self.uid is not None and (self.share_workspace or not self.jailed):
            os.chown(self.workspace, self.uid, self.uid)
            os.chmod(self.workspace, 0o711 if self.jailed else 0o700)  # bubblewrap, without capabilities, must enter it

    @property
    def preexec(self) -> Callable[[], None] | None:
        """What the child does between fork and exec: unjailed with a dedicated uid, switch to it (the jail
        switches itself). None otherwise, which lets the spawn use vfork: the host's loop is not held ~15 ms."""
        if self.uid is None or self.jailed:
            return None
        uid = self.uid

        def switch_uid() -> None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)

        return switch_uid
