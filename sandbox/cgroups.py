"""A control group per worker: a memory limit (swap included), a process limit and a CPU quota for the worker
and everything it starts, and the exact list of its processes.

cgroup v2 where the machine has it (one unified hierarchy), else v1 (the memory, pids and cpu hierarchies).
Groups are made under the host's own group, named ``codemem-<host pid>-<n>``, and removed when their worker
ends; groups left by host processes that died are removed by ``probe`` (once per process).
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000
PREFIX = "codemem-"
KILL_ROUNDS = 50
REMOVE_WAIT_SECONDS = 5.0


class CgroupUnavailable(RuntimeError):
    """This machine gives the host no control groups it can manage; the message says why and what to do."""


@dataclass(frozen=True)
class CgroupLimits:
    """The limits of one worker's group."""

    memory_bytes: int
    processes: int
    cpus: float

    def __post_init__(self) -> None:
        if self.memory_bytes < 16 * 1024**2 or self.processes < 1 or self.cpus <= 0:
            raise ValueError(f"unusable sandbox limits {self}: memory >= 16 MB, processes >= 1, cpus > 0")


@dataclass(frozen=True)
class CgroupHost:
    """Where this host makes its workers' groups: ``version`` 1 or 2, and the parent folder per controller."""

    version: int
    parents: dict[str, Path]
    swap_limited: bool
    """True when the memory limit covers swap as well (or there is no swap to cover)."""

    def describe(self) -> str:
        swap = "" if self.swap_limited else " (swap NOT limited: this kernel does not account it)"
        return f"cgroup v{self.version}: memory{swap}, process count and CPU quota per worker"


@functools.lru_cache(maxsize=1)
def probe() -> CgroupHost:
    """The control groups this host can make, checked by making one; ``CgroupUnavailable`` when there are none."""
    if os.geteuid() != 0:
        raise CgroupUnavailable("the host does not run as root, so it cannot create control groups")
    if (ROOT / "cgroup.controllers").exists():
        host = _probe_v2()
    elif all((ROOT / name).is_dir() for name in V1_CONTROLLERS):
        host = _probe_v1()
    else:
        raise CgroupUnavailable(f"no cgroup v2 and no v1 memory/pids/cpu hierarchies under {ROOT}")
    _remove_stale(host)
    trial = WorkerCgroup.create(host, CgroupLimits(64 * 1024**2, 8, 0.5), name=f"{PREFIX}{os.getpid()}-probe")
    trial.remove()
    return host


def _own_path(controller: str) -> str:
    """The host's own group in a hierarchy (``""`` for v2's unified one), from /proc/self/cgroup."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (controller == "" and names == ""):
            return path.lstrip("/")
    return ""


def _probe_v1() -> CgroupHost:
    parents = {name: ROOT / name / _own_path(name) for name in V1_CONTROLLERS}
    for name, parent in parents.items():
        if not os.access(parent, os.W_OK):
            raise CgroupUnavailable(f"the v1 {name} group {parent} is not writable (mount /sys/fs/cgroup read-write)")
    swap = (parents["memory"] / "memory.memsw.limit_in_bytes").exists() or _no_swap()
    return CgroupHost(1, parents, swap)


def _probe_v2() -> CgroupHost:
    parent = ROOT / _own_path("")
    wanted = {"memory", "pids", "cpu"}
    available = set((parent / "cgroup.controllers").read_text().split())
    if not wanted <= available:
        raise CgroupUnavailable(f"the host's cgroup {parent} lacks the controllers {sorted(wanted - available)}")
    enabled = set((parent / "cgroup.subtree_control").read_text().split())
    if not wanted <= enabled:
        try:
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{name}" for name in sorted(wanted - enabled)))
        except OSError as exc:
            raise CgroupUnavailable(
                f"cannot enable {sorted(wanted - enabled)} for groups under {parent} ({exc.strerror}): run the bot in a "
                "delegated cgroup of its own (systemd: Delegate=yes; docker: --cgroupns=private with the bot "
                "moved out of the container's root group)") from None
    return CgroupHost(2, {"": parent}, True)


def _no_swap() -> bool:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("SwapTotal:"):
            return int(line.split()[1]) == 0
    return False


def _remove_stale(host: CgroupHost) -> None:
    """Remove the groups of host processes that are gone (a crash leaves them behind)."""
    for parent in host.parents.values():
        for group in parent.glob(f"{PREFIX}*"):
            owner = group.name[len(PREFIX):].split("-", 1)[0]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                _kill_and_remove(group)


_names = itertools.count(1)


class WorkerCgroup:
    """The group of one worker: its processes, their limits, and the kill of all of them."""

    def __init__(self, host: CgroupHost, folders: list[Path]) -> None:
        self._host = host
        self._folders = folders

    @classmethod
    def create(cls, host: CgroupHost, limits: CgroupLimits, *, name: str | None = None) -> WorkerCgroup:
        """Make a group with ``limits``; ``OSError`` when the kernel refuses."""
        name = name or f"{PREFIX}{os.getpid()}-{next(_names)}"
        folders = [parent / name for parent in host.parents.values()]
        group = cls(host, folders)
        try:
            for folder in folders:
                folder.mkdir(exist_ok=True)
            group._limit(limits)
        except OSError:
            group.remove()
            raise
        return group

    def _limit(self, limits: CgroupLimits) -> None:
        quota = max(int(limits.cpus * CPU_PERIOD_US), 1000)
        if self._host.version == 2:
            (folder,) = self._folders
            _write(folder / "memory.max", limits.memory_bytes)
            _write(folder / "memory.swap.max", 0, optional=True)  # the limit is all the memory there is
            _write(folder / "pids.max", limits.processes)
            _write(folder / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        memory, pids, cpu = self._folders
        _write(memory / "memory.limit_in_bytes", limits.memory_bytes)
        _write(memory / "memory.memsw.limit_in_bytes", limits.memory_bytes, optional=True)  # swap included
        _write(pids / "pids.max", limits.processes)
        _write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
        _write(cpu / "cpu.cfs_quota_us", quota)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (with its threads) into the group; what it starts later is in it too."""
        for folder in self._folders:
            _write(folder / "cgroup.procs", pid)

    def pids(self) -> list[int]:
        """Every process in the group now."""
        try:
            return [int(pid) for pid in (self._folders[0] / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def peak_memory(self) -> int | None:
        """The most memory the group has used, in bytes (None where the kernel does not say)."""
        name = "memory.peak" if self._host.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self._folders[0] / name).read_text())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Kill what is left in the group and remove it. Idempotent."""
        for folder in self._folders:
            _kill_and_remove(folder)


def _kill_and_remove(folder: Path) -> None:
    """Kill the processes of a group and remove it once they have left (they leave as they exit)."""
    deadline = time.monotonic() + REMOVE_WAIT_SECONDS
    while True:
        try:
            pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            return  # gone already
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            folder.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                return  # left for the stale-group sweep of the next start
            time.sleep(0.002)


def _write(path: Path, value: object, *, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except FileNotFoundError:
        if not optional:
            raise
