"""How strongly a local worker can be isolated on this machine, and the report that says so.

Levels, weakest first: the host process itself (in-process backend); an own process with a clean
environment and resource limits; plus a dedicated unprivileged uid; plus a bubblewrap jail (no
network, own pid/ipc/uts namespaces, read-only system, a private size-limited workspace). The probe
picks the best level the machine offers, checks that it really works once, and says loudly what is
missing and how to fix it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import fcntl
import functools
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbox.cgroups import CgroupHost, CgroupUnavailable, probe as probe_cgroups
from sandbox.seccomp import filter_path

log = logging.getLogger(__name__)

UID_BASE = 910_000
UID_COUNT = 10_000
UID_LOCK_DIR = Path("/run/codemem-sandbox/uids") if Path("/run").is_dir() else Path("/tmp/codemem-sandbox-uids")
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
PROBE_TIMEOUT_SECONDS = 10.0
INSTALL_BWRAP = "install bubblewrap (Debian/Ubuntu: apt-get install -y bubblewrap)"


class IsolationLevel(enum.IntEnum):
    """How much of the host the sandboxed code can reach; higher is safer."""

    NONE = 0
    """In the host process: for tests and development only."""
    PROCESS = 1
    """Own process, host environment not passed, resource limits; same uid as the host."""
    UID = 2
    """Also a dedicated unprivileged uid: no /proc/<host>/environ, no private host files, a process limit."""
    JAIL = 3
    """Also bubblewrap: no network, own pid/ipc/uts namespaces, read-only system, private workspace."""


@dataclass(frozen=True)
class IsolationReport:
    """What a backend achieved: the level, what protects the host, what is missing and the fix."""

    backend: str
    level: IsolationLevel
    protections: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    fix: str | None = None

    @property
    def complete(self) -> bool:
        """True when nothing is missing."""
        return not self.missing

    def summary(self) -> str:
        """A few lines for ``codemem doctor`` and the log."""
        lines = [f"sandbox backend {self.backend}: isolation {self.level.name.lower()} ({self.level.value}/3)"]
        lines += [f"  + {item}" for item in self.protections]
        lines += [f"  - MISSING: {item}" for item in self.missing]
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


@dataclass(frozen=True)
class JailPlan:
    """How to launch local workers at a given level (built by ``plan_isolation``)."""

    report: IsolationReport
    bwrap: str | None = None
    setpriv: str | None = None
    dedicated_uid: bool = False
    python: str = sys.executable
    python_prefix: str | None = None
    cgroups: CgroupHost | None = None
    """Where workers get a control group each (None: the machine offers none to this host)."""
    seccomp: Path | None = None
    """The jail's seccomp filter for this architecture (None: none was built for it)."""
    hidden: tuple[str, ...] = ()
    """Folders of the interpreter hidden in the jail (its site-packages)."""


def _executable_by_others(path: str) -> bool:
    """True when every directory up to ``path`` can be traversed, and the file run, by any uid."""
    current = Path(path)
    if not os.stat(current).st_mode & 0o001:
        return False
    for parent in current.parents:
        if not os.stat(parent).st_mode & 0o001:
            return False
    return True


def _python_prefix(python: str) -> str:
    """The installation prefix of an interpreter (``<prefix>/bin/python3``), after symlinks."""
    return str(Path(os.path.realpath(python)).parent.parent)


@functools.lru_cache(maxsize=8)
def plan_isolation(python: str = sys.executable, ceiling: IsolationLevel = IsolationLevel.JAIL) -> JailPlan:
    """The best launch plan for ``python`` on this machine, at most ``ceiling``; probed once per process."""
    real_python = os.path.realpath(python)
    prefix = _python_prefix(python)
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    setpriv = shutil.which("setpriv")
    missing: list[str] = []
    fixes: list[str] = []
    if ceiling >= IsolationLevel.JAIL and bwrap:
        plan = JailPlan(
            report=IsolationReport("subprocess", IsolationLevel.JAIL),
            bwrap=bwrap,
            setpriv=setpriv if root else None,
            dedicated_uid=bool(root and setpriv),
            python=real_python,
            python_prefix=prefix,
            seccomp=filter_path(),
            hidden=_site_folders(real_python),
        )
        problem = _try_jail(plan)
        if problem is None:
            protections = [
                "bubblewrap jail: no network (loopback only), own pid/ipc/uts namespaces, no user namespaces",
                "read-only system with only the standard library (no site-packages), no host home/project/data "
                "folders, private size-limited /workspace and /tmp",
                "host environment not passed; resource limits (memory, CPU, file size, open files)",
            ]
            if plan.seccomp is not None:
                protections.append("seccomp filter: no mount, ptrace, keyctl, bpf, perf_event_open, userfaultfd, "
                                   "namespaces, kernel modules")
            else:
                missing.append(f"seccomp filter: none built for {platform.machine()} (python -m sandbox.seccomp.build)")
                fixes.append("build the seccomp filter for this architecture: python -m sandbox.seccomp.build")
            if plan.dedicated_uid:
                protections.append("dedicated unprivileged uid per worker, no capabilities, process-count limit")
            else:
                missing.append("dedicated uid: the host does not run as root, so the process-count limit is not set")
                fixes.append("run the bot as root inside its container (it drops to a dedicated uid per worker)")
            return _finish(plan, protections, missing, fixes)
        missing.append(f"bubblewrap is installed but cannot create a jail here ({problem})")
        fixes.append("allow user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run the container with --privileged / seccomp=unconfined")
    elif ceiling >= IsolationLevel.JAIL:
        missing.append("bubblewrap jail: the code can open network connections and read world-readable host files")
        fixes.append(INSTALL_BWRAP)
    if ceiling >= IsolationLevel.UID and root and _executable_by_others(real_python):
        plan = JailPlan(report=IsolationReport("subprocess", IsolationLevel.UID), dedicated_uid=True, python=real_python)
        protections = [
            "dedicated unprivileged uid per worker: host process memory/environ and mode-0600 files are out of reach",
            "host environment not passed; resource limits (memory, CPU, file size, open files, processes)",
        ]
        return _finish(plan, protections, missing, fixes)
    if ceiling >= IsolationLevel.UID:
        if not root:
            missing.append("dedicated uid: the host is not root, so the worker runs as the host's own user and can read /proc/<host pid>/environ (the host's secrets)")
            fixes.append("run the bot as root inside a container so each worker gets its own uid")
        else:
            missing.append(f"dedicated uid: the interpreter {real_python} is not readable by other users")
            fixes.append("use an interpreter installed for all users (e.g. python=/usr/bin/python3)")
    plan = JailPlan(report=IsolationReport("subprocess", IsolationLevel.PROCESS), python=python)
    protections = ["own process group; host environment not passed; resource limits (memory, CPU, file size, open files)"]
    return _finish(plan, protections, missing, fixes)


def _with_cgroups(plan: JailPlan, protections: list[str], missing: list[str], fixes: list[str]) -> JailPlan:
    """``plan`` with a control group per worker where the machine has them, and the report's line about it."""
    try:
        cgroups = probe_cgroups()
    except (CgroupUnavailable, OSError) as exc:
        missing.append(f"control groups ({exc}): memory (shared memory, memfd, tmpfs included), process count and "
                       "CPU are limited per process only, and processes the code leaves running are found by walking the tree")
        fixes.append("run the bot as root with /sys/fs/cgroup writable (cgroup v2 delegated to it, or v1)")
        return plan
    protections.append(f"control group per worker ({cgroups.describe()}); what the code leaves running is killed when each run ends")
    return dataclasses.replace(plan, cgroups=cgroups)


def _finish(plan: JailPlan, protections: list[str], missing: list[str], fixes: list[str]) -> JailPlan:
    plan = _with_cgroups(plan, protections, missing, fixes)
    report = IsolationReport(
        backend=plan.report.backend,
        level=plan.report.level,
        protections=tuple(protections),
        missing=tuple(missing),
        fix="; ".join(dict.fromkeys(fixes)) or None,
    )
    if report.missing:
        log.warning("SANDBOX IS NOT FULLY ISOLATED\n%s", report.summary())
    return dataclasses.replace(plan, report=report)


def _try_jail(plan: JailPlan) -> str | None:
    """Run a trivial command in the jail; None when it works, else what went wrong."""
    uid = UIDS.take() if plan.dedicated_uid else None
    try:
        return _run_in_jail(plan, uid)
    finally:
        if uid is not None:
            UIDS.give_back(uid)


def _run_in_jail(plan: JailPlan, uid: int | None) -> str | None:
    with JailFiles.open(plan) as files:
        command = jail_arguments(plan, workspace_bytes=1024 * 1024, uid=uid, files=files)
        command += [plan.python, "-I", "-S", "-c", "open('/codemem/worker.py').close(); print('ok')"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS, env={},
                                  pass_fds=files.fds)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
    if done.returncode != 0 or done.stdout.strip() != "ok":
        return (done.stderr.strip() or f"exit code {done.returncode}")[-300:]
    return None


@dataclass
class JailFiles:
    """Files the jail reads from descriptors, open for one launch: the worker script (copied in, so no host path
    of it shows inside) and the seccomp filter."""

    worker_fd: int
    seccomp_fd: int | None

    @classmethod
    @contextlib.contextmanager
    def open(cls, plan: JailPlan) -> Iterator[JailFiles]:
        worker_fd = os.open(WORKER_SCRIPT, os.O_RDONLY | os.O_CLOEXEC)
        seccomp_fd = os.open(plan.seccomp, os.O_RDONLY | os.O_CLOEXEC) if plan.seccomp else None
        try:
            yield cls(worker_fd, seccomp_fd)
        finally:
            for fd in (worker_fd, seccomp_fd):
                if fd is not None:
                    os.close(fd)

    @property
    def fds(self) -> tuple[int, ...]:
        return tuple(fd for fd in (self.worker_fd, self.seccomp_fd) if fd is not None)


def jail_arguments(plan: JailPlan, *, workspace_bytes: int, uid: int | None, files: JailFiles,
                   workspace: Path | None = None) -> list[str]:
    """The bubblewrap (and setpriv) prefix of a worker's command line; the worker script is at ``/codemem/worker.py``.

    ``/workspace`` is a private tmpfs of ``workspace_bytes``, or the host folder ``workspace`` when given. The
    system is read-only, with the interpreter's site-packages hidden (only the standard library is there).
    The code cannot make user namespaces (``--disable-userns``) and runs under the seccomp filter. As root,
    the outer bubblewrap sets the jail up, ``setpriv`` drops to the worker's uid, and an inner bubblewrap
    (a user namespace of that uid) applies both; unprivileged, one bubblewrap does it all.
    """
    assert plan.bwrap is not None
    namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    confined = ["--disable-userns", "--assert-userns-disabled"]
    if files.seccomp_fd is not None:
        confined += ["--seccomp", str(files.seccomp_fd)]
    if not plan.dedicated_uid:
        namespaces += ["--unshare-user", *confined]  # unprivileged: bwrap needs a user namespace
    arguments = [plan.bwrap, *namespaces, "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    arguments += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        host = Path("/") / name
        if host.is_symlink():
            arguments += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            arguments += ["--ro-bind", str(host), str(host)]
    for name in ("/etc/localtime", "/etc/ld.so.cache", "/etc/mime.types"):
        if Path(name).exists():
            arguments += ["--ro-bind", name, name]
    prefix = plan.python_prefix
    if prefix and not prefix.startswith("/usr/"):
        for parent in reversed(Path(prefix).parents[:-1]):  # world-traversable parents, whatever the host's modes
            arguments += ["--perms", "0755", "--dir", str(parent)]
        arguments += ["--ro-bind", prefix, prefix]
    for hidden in plan.hidden:
        arguments += ["--tmpfs", hidden]   # site-packages: pip, requests, boto3... of the host are not importable
    arguments += ["--perms", "0755", "--dir", "/codemem", "--perms", "0644", "--ro-bind-data", str(files.worker_fd),
                  "/codemem/worker.py"]
    arguments += ["--proc", "/proc", "--dev", "/dev"]
    arguments += ["--perms", "01777", "--size", str(workspace_bytes), "--tmpfs", "/tmp"]
    if workspace is None:
        arguments += ["--perms", "01777", "--size", str(workspace_bytes), "--tmpfs", "/workspace"]
    else:
        arguments += ["--bind", str(workspace), "/workspace"]
    arguments += ["--chdir", "/workspace"]
    arguments += ["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8", "--setenv", "HOME", "/workspace"]
    if plan.dedicated_uid and uid is not None:
        arguments += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]
        arguments += [plan.setpriv or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                      "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        arguments += [plan.bwrap, "--unshare-user", *confined, "--die-with-parent", "--bind", "/", "/",
                      "--chdir", "/workspace", "--"]
    else:
        arguments += ["--cap-drop", "ALL", "--"]
    return arguments


def _site_folders(python: str) -> tuple[str, ...]:
    """The folders of third-party packages of ``python`` (to hide in the jail): its site-packages/dist-packages."""
    code = ("import json, site, sysconfig\npaths = {sysconfig.get_path(k) for k in ('purelib', 'platlib')}\n"
            "paths.update(site.getsitepackages())\nprint(json.dumps(sorted(paths)))")
    try:
        done = subprocess.run([python, "-I", "-S", "-c", code], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_SECONDS, env={})
        found = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return ()
    extra = [str(path) for path in Path("/usr/lib/python3").glob("dist-packages")]   # Debian's for every version
    return tuple(sorted({os.path.realpath(path) for path in [*found, *extra] if os.path.isdir(path)}))


class UidAllocator:
    """Hands out unprivileged uids to live workers so that no two sandboxes on this machine share one, across
    processes (``codemem serve`` and ``codemem worker`` alike): a uid is leased with an ``flock`` on a file of
    its own in ``lock_dir``, which the kernel releases when the lease is given back or its process dies."""

    def __init__(self, base: int = UID_BASE, count: int = UID_COUNT, lock_dir: Path = UID_LOCK_DIR) -> None:
        self._uids = range(base, base + count)
        self._lock_dir = lock_dir
        self._held: dict[int, int] = {}   # uid -> the descriptor holding its lock
        self._start = os.getpid() % count  # processes start their search apart: fewer collisions
        self._lock = threading.Lock()

    def take(self) -> int:
        """A uid no live sandbox on this machine has; ``RuntimeError`` when all are leased."""
        with self._lock:
            self._lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for offset in range(len(self._uids)):
                uid = self._uids[(self._start + offset) % len(self._uids)]
                if uid not in self._held and self._lease(uid):
                    self._start = (self._start + offset + 1) % len(self._uids)
                    return uid
            raise RuntimeError(f"all {len(self._uids):,} sandbox uids are in use: close idle sessions")

    def _lease(self, uid: int) -> bool:
        fd = os.open(self._lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held[uid] = fd
        return True

    def give_back(self, uid: int) -> None:
        """End the lease of ``uid`` (its processes are gone)."""
        with self._lock:
            fd = self._held.pop(uid, None)
        if fd is not None:
            os.close(fd)


UIDS = UidAllocator()
