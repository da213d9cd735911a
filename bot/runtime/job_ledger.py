"""The embedded engine's record of its jobs on disk, so that a process killed mid-run leaves a trace.

While a job is queued or running, it is a small JSON file in the process's own directory under the ledger
root (`CODEMEM_DATA_DIR/jobs/<worker>/`); it is removed when the job ends. The process holds an exclusive
lock on `<worker>.lock` beside that directory for as long as it lives — a lease the kernel ends when the
process dies, however it dies. So another process that can take the lock knows its owner is gone, and takes
over what it left: `left_behind`.

No file is synced to disk: a killed process loses nothing the kernel has not written (a power cut may).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

QUEUED, RUNNING = "queued", "running"


@dataclass(frozen=True)
class LedgerEntry:
    """One job as the ledger keeps it: `started_at` is set once it runs; `cut_short` says where and when an
    earlier delivery of it began and died (a job taken over from a dead process, not yet recovered)."""

    kind: str
    key: str
    payload: dict[str, Any]
    state: str = QUEUED
    started_at: str | None = None
    cut_short: tuple[str, str] | None = None   # (worker, started_at)
    queued_ns: int = 0   # the order jobs were queued in (a thread's jobs keep it)

    def interrupted(self, worker: str) -> tuple[str, datetime] | None:
        """Where and when the first delivery cut short began, when this entry was left by the dead `worker`."""
        if self.cut_short:
            return self.cut_short[0], datetime.fromisoformat(self.cut_short[1])
        if self.state == RUNNING and self.started_at:
            return worker, datetime.fromisoformat(self.started_at)
        return None


class JobLedger:
    """The jobs of the process called `worker`, under `root`. A clean stop leaves nothing to recover (every
    job ran to its end, its record removed); the next start clears the empty directory."""

    def __init__(self, root: Path, worker: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.directory = root / worker
        self._lease = _take_lease(root / f"{worker}.lock")
        if self._lease is None:
            raise RuntimeError(f"another process holds the job ledger of {worker} in {root}")
        self.directory.mkdir(exist_ok=True)
        self._entries: dict[str, LedgerEntry] = {}

    def queued(self, entry: LedgerEntry) -> str:
        """Record a job just queued; its id in the ledger."""
        entry_id = uuid.uuid4().hex
        self._write(entry_id, replace(entry, queued_ns=time.time_ns()))
        return entry_id

    def started(self, entry_id: str) -> None:
        self._write(entry_id, replace(self._entries[entry_id], state=RUNNING, started_at=datetime.now(UTC).isoformat()))

    def finished(self, entry_id: str) -> None:
        self._entries.pop(entry_id, None)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / f"{entry_id}.json").unlink()

    def _write(self, entry_id: str, entry: LedgerEntry) -> None:
        self._entries[entry_id] = entry
        temporary = self.directory / f".{entry_id}.tmp"
        temporary.write_text(json.dumps(asdict(entry)))
        os.replace(temporary, self.directory / f"{entry_id}.json")   # a reader sees the old entry or the new


def left_behind(root: Path) -> Iterator[tuple[str, list[LedgerEntry]]]:
    """For each process whose lease under `root` has ended (it died): its name and the jobs it left, oldest
    first. Its records are removed once the caller has taken them (the next item is asked for); a process
    still alive is left alone."""
    if not root.is_dir():
        return
    for lock_path in sorted(root.glob("*.lock")):
        worker = lock_path.stem
        lease = _take_lease(lock_path)
        if lease is None:
            continue   # alive
        with lease:
            directory = root / worker
            entries = []
            for path in directory.glob("*.json"):
                try:
                    fields = json.loads(path.read_text())
                    fields["cut_short"] = tuple(fields["cut_short"]) if fields.get("cut_short") else None
                    entries.append(LedgerEntry(**fields))
                except (ValueError, TypeError) as error:
                    log.warning("a job record of %s is unreadable and is dropped: %s (%s)", worker, path.name, error)
            yield worker, sorted(entries, key=lambda entry: entry.queued_ns)
            shutil.rmtree(directory, ignore_errors=True)
            lock_path.unlink(missing_ok=True)


def _take_lease(path: Path) -> Any | None:
    """The open lock file at `path`, locked by this process; None when another process holds it."""
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
